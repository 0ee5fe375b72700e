//! Synthetic campaign feeds of any size, and the repository's sample feed,
//! for tests, benches, examples and load tests; the server itself never
//! calls this.
//!
//! Generated feeds are deterministic for a given seed: realistic codes (a
//! couple of hundred countries, a few dozen ISO 639-2 languages), random
//! hour windows of every kind (plain, wrapping, all day, ending at
//! midnight).
//!
//! The sample feed (`data/ads.json`, README "Set up on a fresh machine") is
//! read from the checkout that built the crate, so its helpers panic rather
//! than return errors: a missing or broken fixture is a broken checkout,
//! not a case a caller handles.

use std::fmt::Write;

use crate::catalog::Catalog;

/// The sample feed's path in the checkout that built this crate: what
/// `--feed` is given to serve the sample.
pub const SAMPLE_FEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/ads.json");

/// The sample feed's text.
///
/// # Panics
/// If [`SAMPLE_FEED`] cannot be read.
pub fn sample_json() -> String {
    std::fs::read_to_string(SAMPLE_FEED).unwrap_or_else(|e| panic!("{SAMPLE_FEED}: {e}"))
}

/// The sample feed with `extra` ads (each one object, as [`ad_json`] writes
/// it) after its own, as one feed document.
///
/// # Panics
/// As [`sample_json`], or if the sample has no `ads` array.
pub fn sample_json_with(extra: &[String]) -> String {
    let sample = sample_json();
    let end = sample
        .rfind(']')
        .expect("the sample feed ends its ads array");
    let mut out =
        String::with_capacity(sample.len() + extra.iter().map(|a| a.len() + 1).sum::<usize>());
    out.push_str(&sample[..end]);
    for ad in extra {
        out.push(',');
        out.push_str(ad);
    }
    out.push_str(&sample[end..]);
    out
}

/// The sample feed, parsed and compiled.
///
/// # Panics
/// As [`compile_json`].
pub fn sample_catalog() -> Catalog {
    compile_json(&sample_json())
}

/// A feed document parsed (invalid ads skipped, as the server does) and
/// compiled.
///
/// # Panics
/// If `json` is not a feed document at all.
pub fn compile_json(json: &str) -> Catalog {
    let feed = crate::feed::parse(json.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
    Catalog::compile(&feed)
}

/// One ad as feed JSON; `extra` goes inside the object verbatim
/// (`r#","weight":3"#`, `r#","timezone":"Asia/Tokyo""#`).
pub fn ad_json(id: &str, country: &str, lang: &str, start: u8, end: u8, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","video_url":"https://cdn.example.com/{id}.mp4","country":"{country}","lang":"{lang}","start_hour":{start},"end_hour":{end}{extra}}}"#
    )
}

/// ISO 639-2 codes, as the campaign feed writes them.
pub const LANGS: [&str; 32] = [
    "eng", "spa", "fre", "ger", "por", "ita", "rus", "jpn", "kor", "chi", "ara", "hin", "tur",
    "pol", "dut", "swe", "nor", "dan", "fin", "gre", "heb", "tha", "vie", "ind", "may", "ukr",
    "cze", "hun", "rum", "bul", "per", "ben",
];

/// Two-letter country codes: `aa` … in order, `count` of them (at most 676).
pub(crate) fn countries(count: usize) -> Vec<String> {
    (b'a'..=b'z')
        .flat_map(|a| (b'a'..=b'z').map(move |b| String::from_utf8(vec![a, b]).unwrap()))
        .take(count)
        .collect()
}

/// A feed document of `ads` ads as JSON text.
pub fn feed(ads: usize, seed: u64) -> String {
    let countries = countries(250);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = String::with_capacity(ads * 150 + 16);
    out.push_str("{\"ads\":[");
    for i in 0..ads {
        if i > 0 {
            out.push(',');
        }
        let country = &countries[rng.usize(..countries.len())];
        let lang = LANGS[rng.usize(..LANGS.len())];
        let (start, end) = (rng.u8(0..24), rng.u8(0..=24));
        let _ = write!(
            out,
            r#"{{"id":"{i:08x}","video_url":"https://cdn.example.com/ads/{i:08x}.mp4","country":"{country}","lang":"{lang}","start_hour":{start},"end_hour":{end}}}"#
        );
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feeds_parse_whole_and_repeat_by_seed() {
        let text = feed(500, 7);
        assert_eq!(text, feed(500, 7));
        assert_ne!(text, feed(500, 8));
        let parsed = crate::feed::parse(text.into_bytes()).unwrap();
        assert_eq!(parsed.ads.len(), 500);
        assert!(parsed.skipped.is_empty());
    }

    #[test]
    fn the_sample_compiles_and_takes_extra_ads() {
        let sample = crate::feed::parse(sample_json().into_bytes()).unwrap();
        assert!(!sample.ads.is_empty());
        assert_eq!(
            sample.skip_counts.total(),
            0,
            "the sample's ads are all valid"
        );
        let extra = [
            ad_json("extra1", "zz", "eng", 0, 0, ""),
            ad_json("extra2", "*", "*", 6, 12, r#","timezone":"Asia/Tokyo""#),
        ];
        let both = crate::feed::parse(sample_json_with(&extra).into_bytes()).unwrap();
        assert_eq!(both.ads.len(), sample.ads.len() + 2);
        assert_eq!(both.skip_counts.total(), 0, "the extra ads are valid too");
        let _ = sample_catalog();
    }
}
