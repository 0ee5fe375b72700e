//! Properties of the two parsers that read untrusted bytes: the ad
//! request's query string and the campaign feed. The same functions are
//! the targets of `fuzz/`; here proptest runs them on random input in every
//! `cargo test`.

use proptest::prelude::*;

use adserver::feed;
use adserver::query::parse_ad_request;

/// A mix of the bytes that matter to the query parser.
fn query_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z=&%0-9;+ ._\\-~\\u{80}-\\u{10FFFF}]{0,80}").unwrap()
}

fn random_case(s: &str, flips: &[bool]) -> String {
    s.chars()
        .zip(flips.iter().cycle())
        .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
        .collect()
}

fn percent_encode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any query is answered, and an accepted one holds codes of the right
    /// shape, lower-cased.
    #[test]
    fn query_parser_never_panics_and_accepts_only_codes(query in query_text(), missing in any::<bool>()) {
        let query = if missing { None } else { Some(query.as_str()) };
        if let Ok(request) = parse_ad_request(query) {
            let country = request.country.as_str();
            let lang = request.lang.as_str();
            prop_assert_eq!(country.len(), 2);
            prop_assert!((2..=3).contains(&lang.len()));
            prop_assert!(country.bytes().chain(lang.bytes()).all(|b| b.is_ascii_lowercase()));
        }
    }

    /// Valid codes are found in any case, in any order, among any other
    /// parameters, and percent-encoded.
    #[test]
    fn valid_codes_are_found_among_noise(
        country in "[a-z]{2}",
        lang in "[a-z]{2,3}",
        flips in proptest::collection::vec(any::<bool>(), 1..4),
        noise in proptest::collection::vec(("[a-bd-kmz_]{1,8}", "[a-z0-9%]{0,8}"), 0..5),
        lang_first in any::<bool>(),
        encode in any::<bool>(),
    ) {
        let value = |code: &str| {
            let code = random_case(code, &flips);
            if encode { percent_encode(&code) } else { code }
        };
        let mut params: Vec<String> = noise.iter().map(|(n, v)| format!("{n}={v}")).collect();
        let (c, l) = (format!("country={}", value(&country)), format!("lang={}", value(&lang)));
        if lang_first { params.insert(0, l); params.push(c); } else { params.insert(0, c); params.push(l); }
        let query = params.join("&");
        let request = parse_ad_request(Some(&query)).map_err(|e| TestCaseError::fail(format!("{query}: {e:?}")))?;
        prop_assert_eq!(request.country.as_str(), country.as_str());
        // Languages come back canonical (`sc` → `srd`, `fre` → `fra`).
        let canonical = adserver::codes::Lang::parse(lang.as_bytes()).unwrap();
        prop_assert_eq!(request.lang, canonical);
    }

    /// Any bytes are either refused whole or parsed into ads and skips.
    #[test]
    fn feed_parser_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = feed::parse(body);
    }

    /// Every entry of an `ads` array ends up served or skipped, never lost;
    /// well-formed ads are all served, and bad hours are always skipped.
    #[test]
    fn every_feed_entry_is_served_or_skipped(
        ads in proptest::collection::vec(
            ("[a-z0-9]{1,8}", "[a-zA-Z]{2}", "[a-zA-Z]{2,3}", 0u32..30, 0u32..30, any::<bool>()),
            0..20,
        )
    ) {
        let entries: Vec<String> = ads.iter().enumerate().map(|(i, (id, country, lang, start, end, broken))| {
            let id = format!("{id}-{i}");
            if *broken {
                format!(r#"{{"id":"{id}","country":{country:?},"lang":"{lang}","start_hour":"{start}"}}"#)
            } else {
                format!(r#"{{"id":"{id}","video_url":"https://cdn.example/{id}.mp4","country":"{country}","lang":"{lang}","start_hour":{start},"end_hour":{end},"extra":[1,2]}}"#)
            }
        }).collect();
        let body = format!(r#"{{"ads":[{}]}}"#, entries.join(","));
        let parsed = feed::parse(body.into_bytes()).expect("a well-formed document");
        prop_assert_eq!(parsed.ads.len() + parsed.skipped.len(), ads.len());
        let should_serve = ads.iter().filter(|(_, _, _, s, e, broken)| !broken && *s <= 23 && *e <= 24).count();
        prop_assert_eq!(parsed.ads.len(), should_serve);
    }
}
