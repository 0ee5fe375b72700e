//! Synthetic campaign feeds of any size, for benches, the scale example and
//! load tests; the server itself never calls this.
//!
//! Deterministic for a given seed: realistic codes (a couple of hundred
//! countries, a few dozen ISO 639-2 languages), random hour windows of every
//! kind (plain, wrapping, all day, ending at midnight).

use std::fmt::Write;

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
}
