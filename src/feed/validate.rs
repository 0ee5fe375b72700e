//! The rules one feed entry must follow to be served (README, "Live
//! campaigns"), checked on simd-json's tape.
//!
//! Pure and per entry: no document-level rules (repeats, flaws found by
//! the pre-scan) and no logging. Every value quoted in a rule's words is
//! cut ([`shown`]), so a huge value never makes a huge line.

use simd_json::prelude::*;
use simd_json::tape::Value as Json;

use super::skipped::{shown, Broken, Rule, MAX_ID_BYTES, MAX_URL_BYTES};
use super::Ad;
use crate::clock::Zone;
use crate::codes::{Country, Lang};
use crate::window::Window;

/// A valid ad still borrowing its strings from the document.
pub(super) struct Valid<'v> {
    pub id: &'v str,
    video_url: &'v str,
    country: Country,
    lang: Lang,
    window: Window,
    weight: u32,
    zone: Option<Zone>,
}

impl Valid<'_> {
    pub fn into_owned(self) -> Ad {
        Ad {
            id: self.id.to_owned(),
            video_url: self.video_url.to_owned(),
            country: self.country,
            lang: self.lang,
            window: self.window,
            weight: self.weight,
            zone: self.zone,
        }
    }
}

/// Checks one entry against every rule, returning the first rule it breaks.
pub(super) fn validate<'i>(entry: &Json<'_, 'i>) -> Result<Valid<'i>, Broken> {
    if !entry.is_object() {
        return Err(Broken::new(
            Rule::NotAnObject,
            "an ad must be a JSON object",
        ));
    }
    let id = string(entry, "id")?;
    if id.is_empty() {
        return Err(Broken::new(Rule::EmptyId, "id is empty"));
    }
    within(id, "id", MAX_ID_BYTES)?;
    let video_url = string(entry, "video_url")?;
    within(video_url, "video_url", MAX_URL_BYTES)?;
    if !is_absolute_http_url(video_url) {
        return Err(Broken::new(
            Rule::BadUrl,
            format!(
                "video_url {} is not an absolute http(s) URL",
                shown(video_url)
            ),
        ));
    }
    let country = match string(entry, "country")? {
        "*" => Country::ANY,
        country => Country::parse(country.as_bytes()).ok_or_else(|| {
            Broken::new(
                Rule::BadCountry,
                format!(
                    "country {} is not two ASCII letters or \"*\"",
                    shown(country)
                ),
            )
        })?,
    };
    let lang = match string(entry, "lang")? {
        "*" => Lang::ANY,
        lang => Lang::parse(lang.as_bytes()).ok_or_else(|| {
            Broken::new(
                Rule::BadLang,
                format!("lang {} is not a language code or \"*\"", shown(lang)),
            )
        })?,
    };
    let start = hour(entry, "start_hour", 23)?;
    let end = hour(entry, "end_hour", 24)?;
    Ok(Valid {
        id,
        video_url,
        country,
        lang,
        window: Window::new(start, end),
        weight: weight(entry)?,
        zone: zone(entry)?,
    })
}

/// `value` is at most `max` bytes.
fn within(value: &str, field: &str, max: usize) -> Result<(), Broken> {
    if value.len() <= max {
        return Ok(());
    }
    Err(Broken::new(
        Rule::TooLong,
        format!(
            "{field} is {} bytes, over the {}-byte limit",
            value.len(),
            max
        ),
    ))
}

/// `weight`: optional, a positive integer that fits 32 bits; default 1.
fn weight(entry: &Json<'_, '_>) -> Result<u32, Broken> {
    let Some(value) = entry.get("weight") else {
        return Ok(1);
    };
    let out_of_range = |n: &dyn std::fmt::Display| {
        Broken::new(
            Rule::BadWeight,
            format!("weight {n} is not a positive integer up to {}", u32::MAX),
        )
    };
    match (value.as_i64(), value.as_u64()) {
        (Some(n), _) if n >= 1 && n <= i64::from(u32::MAX) => Ok(n as u32),
        (Some(n), _) => Err(out_of_range(&n)),
        (None, Some(n)) => Err(out_of_range(&n)),
        (None, None) => Err(Broken::new(
            Rule::BadWeight,
            format!("weight must be a positive integer, not {}", kind(&value)),
        )),
    }
}

/// `timezone`: optional, an IANA zone name that the ad's hours are read in.
fn zone(entry: &Json<'_, '_>) -> Result<Option<Zone>, Broken> {
    let Some(value) = entry.get("timezone") else {
        return Ok(None);
    };
    let kind = kind(&value);
    let name = value.into_string().ok_or_else(|| {
        Broken::new(
            Rule::WrongType,
            format!("timezone must be a string, not {kind}"),
        )
    })?;
    name.parse::<chrono_tz::Tz>()
        .map(|tz| Some(Zone::Iana(tz)))
        .map_err(|_| {
            Broken::new(
                Rule::BadZone,
                format!("timezone {} is not an IANA time zone", shown(name)),
            )
        })
}

fn string<'i>(entry: &Json<'_, 'i>, field: &str) -> Result<&'i str, Broken> {
    let value = entry
        .get(field)
        .ok_or_else(|| Broken::new(Rule::Missing, format!("{field} is missing")))?;
    let kind = kind(&value);
    value.into_string().ok_or_else(|| {
        Broken::new(
            Rule::WrongType,
            format!("{field} must be a string, not {kind}"),
        )
    })
}

fn hour(entry: &Json<'_, '_>, field: &str, max: i64) -> Result<u8, Broken> {
    let value = entry
        .get(field)
        .ok_or_else(|| Broken::new(Rule::Missing, format!("{field} is missing")))?;
    let outside = |n: &dyn std::fmt::Display| {
        Broken::new(Rule::BadHour, format!("{field} {n} is outside 0..={max}"))
    };
    let n = match (value.as_i64(), value.as_u64()) {
        (Some(n), _) => n,
        (None, Some(n)) => return Err(outside(&n)),
        (None, None) => {
            return Err(Broken::new(
                Rule::WrongType,
                format!("{field} must be an integer, not {}", kind(&value)),
            ));
        }
    };
    if (0..=max).contains(&n) {
        Ok(n as u8)
    } else {
        Err(outside(&n))
    }
}

pub(super) fn kind(v: &Json<'_, '_>) -> &'static str {
    match v.value_type() {
        ValueType::Null => "null",
        ValueType::Bool => "a boolean",
        ValueType::String => "a string",
        ValueType::Array => "an array",
        ValueType::Object => "an object",
        ValueType::F64 => "a fractional number",
        _ => "a number",
    }
}

/// `http://` or `https://` (scheme in any case), a non-empty host, and no
/// whitespace or control characters anywhere.
fn is_absolute_http_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _port)| h);
    scheme_ok && !host.is_empty() && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}
