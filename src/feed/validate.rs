//! The rules one feed entry must follow to be served (README, "Live
//! campaigns"), checked on simd-json's tape.
//!
//! Pure and per entry: no document-level rules (repeats, flaws found by
//! the pre-scan) and no logging. Every value quoted in a rule's words is
//! cut ([`shown`]), so a huge value never makes a huge line.

use simd_json::prelude::*;
use simd_json::tape::Value as Json;

use super::skipped::{cut, shown, Broken, Rule, MAX_ID_BYTES, MAX_URL_BYTES};
use super::AdRef;
use crate::budget::{Budget, FrequencyCap, Pacing, MAX_FREQUENCY_HOURS};
use crate::clock::Zone;
use crate::codes::{Country, Lang};
use crate::delivery::{CreativeRef, Raw, RawCreative};
use crate::fetch::is_absolute_http_url;
use crate::window::Window;

/// The top-level fields the rules read, found in one pass over an entry's
/// keys (the first of a repeated key, as simd-json's `get` finds it)
/// rather than one scan of the keys per field: a third of the parse time
/// of a million-ad feed went to those scans.
struct Fields<'t, 'i> {
    values: [Option<Json<'t, 'i>>; 18],
}

impl<'t, 'i> Fields<'t, 'i> {
    fn of(entry: &Json<'t, 'i>) -> Fields<'t, 'i> {
        let mut values = [None; 18];
        if let Some(object) = entry.as_object() {
            for (key, value) in object.iter() {
                if let Some(at) = slot(key) {
                    values[at].get_or_insert(value);
                }
            }
        }
        Fields { values }
    }

    fn get(&self, field: &str) -> Option<Json<'t, 'i>> {
        self.values[slot(field).expect("a field the rules read")]
    }
}

/// Where [`Fields`] keeps `field`.
fn slot(field: &str) -> Option<usize> {
    Some(match field {
        "id" => 0,
        "video_url" => 1,
        "country" => 2,
        "lang" => 3,
        "start_hour" => 4,
        "end_hour" => 5,
        "weight" => 6,
        "timezone" => 7,
        "duration" => 8,
        "mime_type" => 9,
        "width" => 10,
        "height" => 11,
        "title" => 12,
        "click_url" => 13,
        "pacing" => 14,
        "frequency_cap" => 15,
        "daily_cap" => 16,
        "total_cap" => 17,
        _ => return None,
    })
}

/// Checks one entry against every rule, returning the first rule it breaks.
pub(super) fn validate<'i>(entry: &Json<'_, 'i>) -> Result<AdRef<'i>, Broken> {
    if !entry.is_object() {
        return Err(Broken::new(
            Rule::NotAnObject,
            "an ad must be a JSON object",
        ));
    }
    let entry = &Fields::of(entry);
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
    Ok(AdRef {
        id,
        video_url,
        country,
        lang,
        window: Window::new(start, end),
        weight: weight(entry)?,
        zone: zone(entry)?,
        creative: creative(entry, id, video_url)?,
        budget: budget(entry)?,
    })
}

/// The optional video fields (README "Delivery"), defaults applied.
fn creative<'i>(
    entry: &Fields<'_, 'i>,
    id: &'i str,
    video_url: &str,
) -> Result<CreativeRef<'i>, Broken> {
    let raw = RawCreative {
        duration: raw(entry, "duration"),
        mime_type: raw(entry, "mime_type"),
        width: raw(entry, "width"),
        height: raw(entry, "height"),
        title: raw(entry, "title"),
        click_url: raw(entry, "click_url"),
    };
    CreativeRef::check(id, video_url, raw)
        .map_err(|e| Broken::new(Rule::BadCreative, cut(&e.to_string(), 200).into_owned()))
}

/// One optional field as [`Creative::validate`] takes it.
fn raw<'i>(entry: &Fields<'_, 'i>, field: &str) -> Raw<'i> {
    let Some(value) = entry.get(field) else {
        return Raw::Absent;
    };
    if value.as_str().is_some() {
        return value
            .into_string()
            .map_or(Raw::Other("a string"), Raw::Text);
    }
    if let Some(n) = value.as_i64() {
        return Raw::Integer(n);
    }
    if value.as_u64().is_some() {
        return Raw::Integer(i64::MAX);
    }
    Raw::Other(match () {
        () if value.is_f64() => "a fractional number",
        () if value.is_null() => "null",
        () if value.is_bool() => "a boolean",
        () if value.is_array() => "an array",
        () if value.is_object() => "an object",
        () => "not a number or a string",
    })
}

/// The optional budget fields (README "Budgets"); any bad one skips the ad
/// under [`Rule::BadBudget`].
fn budget(entry: &Fields<'_, '_>) -> Result<Budget, Broken> {
    let bad = |detail: String| Broken::new(Rule::BadBudget, detail);
    let pacing = match entry.get("pacing") {
        None => Pacing::Asap,
        Some(value) => match value.as_str() {
            Some("asap") => Pacing::Asap,
            Some("even") => Pacing::Even,
            Some(other) => {
                return Err(bad(format!(
                    "pacing {} is not \"asap\" or \"even\"",
                    shown(other)
                )))
            }
            None => {
                return Err(bad(format!(
                    "pacing must be a string, not {}",
                    kind(&value)
                )))
            }
        },
    };
    let frequency_cap = match entry.get("frequency_cap") {
        None => None,
        Some(value) if value.is_object() => Some(FrequencyCap {
            count: positive(value.get("count"), "frequency_cap.count", 1_000_000)?
                .ok_or_else(|| bad("frequency_cap.count is missing".into()))?
                as u32,
            hours: positive(
                value.get("hours"),
                "frequency_cap.hours",
                u64::from(MAX_FREQUENCY_HOURS),
            )?
            .ok_or_else(|| bad("frequency_cap.hours is missing".into()))? as u32,
        }),
        Some(value) => {
            return Err(bad(format!(
                "frequency_cap must be an object {{\"count\":N,\"hours\":H}}, not {}",
                kind(&value)
            )))
        }
    };
    Ok(Budget {
        daily_cap: positive(entry.get("daily_cap"), "daily_cap", i64::MAX as u64)?,
        total_cap: positive(entry.get("total_cap"), "total_cap", i64::MAX as u64)?,
        pacing,
        frequency_cap,
    })
}

/// An optional integer field `1..=max`, `value` if present; `field` names
/// it in the words (`frequency_cap.count`).
fn positive(value: Option<Json<'_, '_>>, field: &str, max: u64) -> Result<Option<u64>, Broken> {
    let Some(value) = value else {
        return Ok(None);
    };
    let outside = |n: &dyn std::fmt::Display| {
        Broken::new(
            Rule::BadBudget,
            format!("{field} {n} is not an integer from 1 to {max}"),
        )
    };
    match (value.as_i64(), value.as_u64()) {
        (Some(n), _) if n >= 1 && n as u64 <= max => Ok(Some(n as u64)),
        (Some(n), _) => Err(outside(&n)),
        (None, Some(n)) => Err(outside(&n)),
        (None, None) => Err(Broken::new(
            Rule::BadBudget,
            format!("{field} must be a positive integer, not {}", kind(&value)),
        )),
    }
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
fn weight(entry: &Fields<'_, '_>) -> Result<u32, Broken> {
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
fn zone(entry: &Fields<'_, '_>) -> Result<Option<Zone>, Broken> {
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

fn string<'i>(entry: &Fields<'_, 'i>, field: &str) -> Result<&'i str, Broken> {
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

fn hour(entry: &Fields<'_, '_>, field: &str, max: i64) -> Result<u8, Broken> {
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

#[cfg(test)]
mod tests {
    use crate::feed::parse;
    use crate::feed::parse::tests::{feed_of, rule_of, with, GOOD};

    #[test]
    fn missing_fields_are_skipped() {
        for field in [
            "id",
            "video_url",
            "country",
            "lang",
            "start_hour",
            "end_hour",
        ] {
            assert_eq!(rule_of(&with(field, None)), format!("{field} is missing"));
        }
    }

    #[test]
    fn wrong_types_are_skipped() {
        let cases = [
            ("id", "12", "id must be a string, not a number"),
            ("video_url", "null", "video_url must be a string, not null"),
            (
                "country",
                r#"["us"]"#,
                "country must be a string, not an array",
            ),
            ("lang", "{}", "lang must be a string, not an object"),
            (
                "start_hour",
                r#""1""#,
                "start_hour must be an integer, not a string",
            ),
            (
                "end_hour",
                "14.5",
                "end_hour must be an integer, not a fractional number",
            ),
            (
                "end_hour",
                "true",
                "end_hour must be an integer, not a boolean",
            ),
        ];
        for (field, value, rule) in cases {
            assert_eq!(rule_of(&with(field, Some(value))), rule, "{field}={value}");
        }
    }

    #[test]
    fn hours_out_of_range_are_skipped() {
        let cases = [
            ("start_hour", "24", "start_hour 24 is outside 0..=23"),
            ("start_hour", "-1", "start_hour -1 is outside 0..=23"),
            ("end_hour", "25", "end_hour 25 is outside 0..=24"),
            (
                "end_hour",
                "18446744073709551615",
                "end_hour 18446744073709551615 is outside 0..=24",
            ),
        ];
        for (field, value, rule) in cases {
            assert_eq!(rule_of(&with(field, Some(value))), rule);
        }
        let feed = parse(feed_of(&[&with("end_hour", Some("24"))])).unwrap();
        assert_eq!(feed.ads.len(), 1, "end_hour 24 is the end of the day");
    }

    #[test]
    fn bad_urls_are_skipped() {
        for url in [
            "ftp://cdn.example.com/a.mp4",
            "/ads/a.mp4",
            "cdn.example.com/a.mp4",
            "https://",
            "https:///a.mp4",
            "https://cdn.example.com/a b.mp4",
            "javascript:alert(1)",
            "",
        ] {
            let rule = rule_of(&with("video_url", Some(&format!("{url:?}"))));
            assert!(
                rule.contains("not an absolute http(s) URL"),
                "{url}: {rule}"
            );
        }
        for url in [
            "http://cdn.example.com/a.mp4",
            "HTTPS://cdn.example.com:8443/a?x=1",
        ] {
            let feed = parse(feed_of(&[&with("video_url", Some(&format!("{url:?}")))])).unwrap();
            assert_eq!(feed.ads.len(), 1, "{url}");
        }
    }

    #[test]
    fn bad_codes_are_skipped() {
        for country in ["usa", "u", "", "u1", "ü"] {
            let rule = rule_of(&with("country", Some(&format!("{country:?}"))));
            assert!(
                rule.contains("is not two ASCII letters or"),
                "{country}: {rule}"
            );
        }
        for lang in ["e", "engl", "", "en1", "e n"] {
            let rule = rule_of(&with("lang", Some(&format!("{lang:?}"))));
            assert!(rule.contains("is not a language code or"), "{lang}: {rule}");
        }
    }

    #[test]
    fn weights_default_to_one_and_must_be_positive_integers() {
        let feed = parse(feed_of(&[GOOD])).unwrap();
        assert_eq!(feed.ads[0].weight, 1);
        let feed = parse(feed_of(&[&with("weight", Some("7"))])).unwrap();
        assert_eq!(feed.ads[0].weight, 7);
        let cases = [
            ("0", "weight 0 is not a positive integer up to 4294967295"),
            ("-2", "weight -2 is not a positive integer up to 4294967295"),
            (
                "4294967296",
                "weight 4294967296 is not a positive integer up to 4294967295",
            ),
            (
                "1.5",
                "weight must be a positive integer, not a fractional number",
            ),
            ("\"3\"", "weight must be a positive integer, not a string"),
            ("null", "weight must be a positive integer, not null"),
        ];
        for (value, rule) in cases {
            assert_eq!(rule_of(&with("weight", Some(value))), rule, "{value}");
        }
    }

    #[test]
    fn wildcards_and_zones_are_read() {
        let ad = with("country", Some("\"*\""))
            .replace(r#""lang":"eng""#, r#""lang":"*","timezone":"Asia/Kolkata""#);
        let feed = parse(feed_of(&[&ad])).unwrap();
        let ad = &feed.ads[0];
        assert!(ad.country.is_any() && ad.lang.is_any());
        assert_eq!(ad.zone, Some("Asia/Kolkata".parse().unwrap()));
        assert_eq!(
            rule_of(&with("timezone", Some("\"Mars/Base\""))),
            r#"timezone "Mars/Base" is not an IANA time zone"#
        );
        assert_eq!(
            rule_of(&with("timezone", Some("5"))),
            "timezone must be a string, not a number"
        );
    }

    #[test]
    fn budget_fields_are_read_and_bad_ones_skip_the_ad() {
        use crate::budget::{FrequencyCap, Pacing};
        let ad = with(
            "daily_cap",
            Some(r#"100,"total_cap":5000,"pacing":"even","frequency_cap":{"count":3,"hours":24}"#),
        );
        let feed = parse(feed_of(&[&ad])).unwrap();
        let budget = feed.ads[0].budget;
        assert_eq!(budget.daily_cap, Some(100));
        assert_eq!(budget.total_cap, Some(5000));
        assert_eq!(budget.pacing, Pacing::Even);
        assert_eq!(
            budget.frequency_cap,
            Some(FrequencyCap {
                count: 3,
                hours: 24
            })
        );
        let plain = parse(feed_of(&[GOOD])).unwrap();
        assert!(plain.ads[0].budget.is_unlimited());
        let cases = [
            (
                "daily_cap",
                "0",
                "daily_cap 0 is not an integer from 1 to 9223372036854775807",
            ),
            (
                "daily_cap",
                "-5",
                "daily_cap -5 is not an integer from 1 to 9223372036854775807",
            ),
            (
                "total_cap",
                "1.5",
                "total_cap must be a positive integer, not a fractional number",
            ),
            (
                "total_cap",
                r#""10""#,
                "total_cap must be a positive integer, not a string",
            ),
            (
                "pacing",
                r#""fast""#,
                r#"pacing "fast" is not "asap" or "even""#,
            ),
            ("pacing", "1", "pacing must be a string, not a number"),
            (
                "frequency_cap",
                "3",
                r#"frequency_cap must be an object {"count":N,"hours":H}, not a number"#,
            ),
            (
                "frequency_cap",
                r#"{"count":3}"#,
                "frequency_cap.hours is missing",
            ),
            (
                "frequency_cap",
                r#"{"hours":3}"#,
                "frequency_cap.count is missing",
            ),
            (
                "frequency_cap",
                r#"{"count":0,"hours":3}"#,
                "frequency_cap.count 0 is not an integer from 1 to 1000000",
            ),
            (
                "frequency_cap",
                r#"{"count":1,"hours":721}"#,
                "frequency_cap.hours 721 is not an integer from 1 to 720",
            ),
        ];
        for (field, value, rule) in cases {
            assert_eq!(rule_of(&with(field, Some(value))), rule, "{field}={value}");
        }
        let skipped = parse(feed_of(&[&with("daily_cap", Some("0"))])).unwrap();
        assert_eq!(skipped.skipped[0].rule.label(), "bad_budget");
    }

    #[test]
    fn empty_id_is_skipped() {
        assert_eq!(rule_of(&with("id", Some(r#""""#))), "id is empty");
    }
}
