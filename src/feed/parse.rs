//! Turning a feed document into typed, validated ads (SPEC §4).
//!
//! Pure: bytes in, [`Feed`] out. A broken ad is skipped with the rule it
//! broke; only a document that is not JSON or has no `ads` array is rejected
//! whole. No I/O, no logging: the caller decides what to tell the operator.

use std::cell::RefCell;

use simd_json::prelude::*;
use simd_json::tape::Value as Json;
use simd_json::{Buffers, Tape};

use super::{Ad, Feed, FeedError, Skipped};
use crate::clock::Zone;
use crate::codes::{Country, Lang};
use crate::window::Window;

/// Parses and validates a whole feed document.
///
/// simd-json parses in place, so the buffer is taken by value. The
/// document is read straight off simd-json's tape, without building a tree
/// of maps: about half the time on a million-ad feed.
pub fn parse(mut body: Vec<u8>) -> Result<Feed, FeedError> {
    SCRATCH.with_borrow_mut(|kept| {
        let (mut buffers, tape) = kept
            .take()
            .unwrap_or_else(|| (Buffers::new(body.len()), Tape::null()));
        let mut tape = tape.reset();
        let feed = match simd_json::fill_tape(&mut body, &mut buffers, &mut tape) {
            Ok(()) => read(&tape),
            Err(e) => Err(FeedError::InvalidJson(e.to_string())),
        };
        *kept = Some((buffers, tape.reset()));
        feed
    })
}

thread_local! {
    /// simd-json's working memory (a padded copy of the document, its
    /// strings, the structural index and the tape: several times the
    /// document's size), kept from one parse to the next on the thread that
    /// parses, which is the refresh thread. Allocated afresh for every
    /// rebuild, those buffers left the allocator holding ever more memory;
    /// reused, a rebuild of the same feed allocates none of it.
    static SCRATCH: RefCell<Option<(Buffers, Tape<'static>)>> = const { RefCell::new(None) };
}

/// The feed on a parsed tape.
fn read(tape: &Tape<'_>) -> Result<Feed, FeedError> {
    let root = tape.as_value();
    let entries = root
        .get("ads")
        .and_then(|ads| ads.as_array())
        .ok_or(FeedError::NoAdsArray)?;

    let mut feed = Feed::default();
    feed.ads.reserve(entries.len());
    // Ids borrow from the document, which outlives the loop.
    let mut seen = ahash::AHashSet::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let broken = match validate(&entry) {
            Ok(ad) if seen.insert(ad.id) => {
                feed.ads.push(ad.into_owned());
                continue;
            }
            Ok(_) => "id repeats an earlier ad; the first one is kept".to_owned(),
            Err(rule) => rule,
        };
        let text = |field| entry.get(field).and_then(|v| v.into_string());
        feed.skipped.push(Skipped {
            index,
            id: text("id").map(str::to_owned),
            country: text("country").map(|c| match Country::parse(c.as_bytes()) {
                Some(code) => code.as_str().to_owned(),
                None => c.to_ascii_lowercase(),
            }),
            lang: text("lang").map(|l| match Lang::parse(l.as_bytes()) {
                Some(code) => code.as_str().to_owned(),
                None => l.to_ascii_lowercase(),
            }),
            rule: broken,
        });
    }
    Ok(feed)
}

/// A valid ad still borrowing its strings from the document.
struct Valid<'v> {
    id: &'v str,
    video_url: &'v str,
    country: Country,
    lang: Lang,
    window: Window,
    weight: u32,
    zone: Option<Zone>,
}

impl Valid<'_> {
    fn into_owned(self) -> Ad {
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
fn validate<'i>(entry: &Json<'_, 'i>) -> Result<Valid<'i>, String> {
    if !entry.is_object() {
        return Err("an ad must be a JSON object".into());
    }
    let id = string(entry, "id")?;
    if id.is_empty() {
        return Err("id is empty".into());
    }
    let video_url = string(entry, "video_url")?;
    if !is_absolute_http_url(video_url) {
        return Err(format!(
            "video_url {video_url:?} is not an absolute http(s) URL"
        ));
    }
    let country = match string(entry, "country")? {
        "*" => Country::ANY,
        country => Country::parse(country.as_bytes())
            .ok_or_else(|| format!("country {country:?} is not two ASCII letters or \"*\""))?,
    };
    let lang = match string(entry, "lang")? {
        "*" => Lang::ANY,
        lang => Lang::parse(lang.as_bytes())
            .ok_or_else(|| format!("lang {lang:?} is not a language code or \"*\""))?,
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

/// `weight`: optional, a positive integer that fits 32 bits; default 1.
fn weight(entry: &Json<'_, '_>) -> Result<u32, String> {
    let Some(value) = entry.get("weight") else {
        return Ok(1);
    };
    match (value.as_i64(), value.as_u64()) {
        (Some(n), _) if n >= 1 && n <= i64::from(u32::MAX) => Ok(n as u32),
        (Some(n), _) => Err(format!(
            "weight {n} is not a positive integer up to {}",
            u32::MAX
        )),
        (None, Some(n)) => Err(format!(
            "weight {n} is not a positive integer up to {}",
            u32::MAX
        )),
        (None, None) => Err(format!(
            "weight must be a positive integer, not {}",
            kind(&value)
        )),
    }
}

/// `timezone`: optional, an IANA zone name that the ad's hours are read in.
fn zone(entry: &Json<'_, '_>) -> Result<Option<Zone>, String> {
    let Some(value) = entry.get("timezone") else {
        return Ok(None);
    };
    let kind = kind(&value);
    let name = value
        .into_string()
        .ok_or_else(|| format!("timezone must be a string, not {kind}"))?;
    name.parse::<chrono_tz::Tz>()
        .map(|tz| Some(Zone::Iana(tz)))
        .map_err(|_| format!("timezone {name:?} is not an IANA time zone"))
}

fn string<'i>(entry: &Json<'_, 'i>, field: &str) -> Result<&'i str, String> {
    let value = entry
        .get(field)
        .ok_or_else(|| format!("{field} is missing"))?;
    let kind = kind(&value);
    value
        .into_string()
        .ok_or_else(|| format!("{field} must be a string, not {kind}"))
}

fn hour(entry: &Json<'_, '_>, field: &str, max: i64) -> Result<u8, String> {
    let value = entry
        .get(field)
        .ok_or_else(|| format!("{field} is missing"))?;
    let n = match (value.as_i64(), value.as_u64()) {
        (Some(n), _) => n,
        (None, Some(n)) => return Err(format!("{field} {n} is outside 0..={max}")),
        (None, None) => {
            return Err(format!("{field} must be an integer, not {}", kind(&value)));
        }
    };
    if (0..=max).contains(&n) {
        Ok(n as u8)
    } else {
        Err(format!("{field} {n} is outside 0..={max}"))
    }
}

fn kind(v: &Json<'_, '_>) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"id":"a1","video_url":"https://cdn.example.com/a1.mp4","country":"US","lang":"ENG","start_hour":1,"end_hour":14}"#;

    fn feed_of(ads: &[&str]) -> Vec<u8> {
        format!(r#"{{"ads":[{}]}}"#, ads.join(",")).into_bytes()
    }

    /// `GOOD` with one field's JSON text replaced (or removed, for `None`).
    fn with(field: &str, value: Option<&str>) -> String {
        let mut fields: Vec<(String, String)> = vec![
            ("id".into(), r#""a1""#.into()),
            (
                "video_url".into(),
                r#""https://cdn.example.com/a1.mp4""#.into(),
            ),
            ("country".into(), r#""us""#.into()),
            ("lang".into(), r#""eng""#.into()),
            ("start_hour".into(), "1".into()),
            ("end_hour".into(), "14".into()),
        ];
        fields.retain(|(k, _)| k != field);
        if let Some(v) = value {
            fields.push((field.into(), v.into()));
        }
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("{k:?}:{v}")).collect();
        format!("{{{}}}", body.join(","))
    }

    /// The one rule a single bad ad breaks.
    fn rule_of(ad: &str) -> String {
        let feed = parse(feed_of(&[ad])).unwrap();
        assert!(feed.ads.is_empty(), "{ad} should be skipped");
        assert_eq!(feed.skipped.len(), 1);
        feed.skipped[0].rule.clone()
    }

    #[test]
    fn a_good_ad_is_lower_cased_and_kept() {
        let feed = parse(feed_of(&[GOOD])).unwrap();
        assert!(feed.skipped.is_empty());
        let ad = &feed.ads[0];
        assert_eq!(
            (ad.id.as_str(), ad.country.as_str(), ad.lang.as_str()),
            ("a1", "us", "eng")
        );
        assert_eq!(ad.window, Window::new(1, 14));
    }

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
    fn empty_id_is_skipped() {
        assert_eq!(rule_of(&with("id", Some(r#""""#))), "id is empty");
    }

    #[test]
    fn repeated_id_keeps_the_first() {
        let second = GOOD.replace("a1.mp4", "other.mp4");
        let feed = parse(feed_of(&[GOOD, &second])).unwrap();
        assert_eq!(feed.ads.len(), 1);
        assert_eq!(feed.ads[0].video_url, "https://cdn.example.com/a1.mp4");
        assert_eq!(feed.skipped[0].index, 1);
        assert!(feed.skipped[0].rule.contains("repeats"));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let ad = GOOD.replace('}', r#","budget":{"daily":5},"tags":["x"]}"#);
        let feed = parse(feed_of(&[&ad])).unwrap();
        assert_eq!(feed.ads.len(), 1);
        assert!(feed.skipped.is_empty());
    }

    #[test]
    fn non_object_entries_are_skipped() {
        let feed = parse(feed_of(&["42", GOOD])).unwrap();
        assert_eq!(feed.ads.len(), 1);
        assert_eq!(feed.skipped[0].rule, "an ad must be a JSON object");
    }

    #[test]
    fn invalid_json_rejects_the_document() {
        for body in [&b"{\"ads\":["[..], b"", b"not json", b"{\"ads\":[]}}"] {
            assert!(
                matches!(parse(body.to_vec()), Err(FeedError::InvalidJson(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn missing_ads_array_rejects_the_document() {
        for body in [&b"{}"[..], b"{\"ads\":{}}", b"[]", b"{\"Ads\":[]}", b"null"] {
            assert!(
                matches!(parse(body.to_vec()), Err(FeedError::NoAdsArray)),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn the_sample_feed_parses() {
        let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/ads.json")).unwrap();
        let feed = parse(body).unwrap();
        assert!(feed.ads.len() >= 10, "{} ads", feed.ads.len());
    }

    /// The kept simd-json buffers must not carry anything from one parse
    /// to the next: a failed parse, a large and a small document in turn
    /// give what a fresh parser gives.
    #[test]
    fn reused_buffers_parse_each_document_afresh() {
        // Feed and FeedError have no equality; their Debug text is exact.
        let here = |body: &[u8]| format!("{:?}", parse(body.to_vec()));
        let fresh = |body: &[u8]| std::thread::scope(|s| s.spawn(|| here(body)).join().unwrap());
        let large = crate::synthetic::feed(2_000, 7);
        let small = br#"{"ads":[{"id":"a","video_url":"https://v/a.mp4","country":"us","lang":"eng","start_hour":0,"end_hour":24}]}"#;
        for body in [
            &b"{\"ads\": [tru"[..],
            large.as_bytes(),
            small,
            b"[]",
            large.as_bytes(),
            small,
        ] {
            assert_eq!(
                here(body),
                fresh(body),
                "{}",
                String::from_utf8_lossy(&body[..body.len().min(40)])
            );
        }
    }
}
