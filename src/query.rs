//! Parsing the ad request's query string without allocating.
//!
//! Names and values are borrowed slices of the URI; a value is copied into a
//! small stack buffer only when it holds a `%` escape. Every error is a
//! fixed value naming the parameter, so the 400 body is a static string.

use crate::codes::{Country, Lang};

/// A valid `/ad_request` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdRequest {
    pub country: Country,
    pub lang: Lang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    Country,
    Lang,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    Missing,
    Empty,
    Repeated,
    Malformed,
}

/// Why a query was refused: which parameter, and what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryError {
    pub param: Param,
    pub problem: Problem,
}

/// Decoded values longer than this are refused: enough for any language
/// tag a game platform sends (`zh-Hant-TW`, `sr-Latn-RS`).
const MAX_VALUE: usize = 64;

/// Parses `country` and `lang` from a raw query string; other parameters
/// are ignored.
pub fn parse_ad_request(query: Option<&str>) -> Result<AdRequest, QueryError> {
    let mut country: Option<Result<Country, Problem>> = None;
    let mut lang: Option<Result<Lang, Problem>> = None;
    // One buffer each, reused: only values with `%` escapes are copied.
    let (mut name_buf, mut value_buf) = ([0u8; MAX_VALUE], [0u8; MAX_VALUE]);
    for pair in query.unwrap_or("").as_bytes().split(|&b| b == b'&') {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(eq) => (&pair[..eq], &pair[eq + 1..]),
            None => (pair, &b""[..]),
        };
        let (param, slot_is_set) = match decode(name, &mut name_buf) {
            Some(b"country") => (Param::Country, country.is_some()),
            Some(b"lang") => (Param::Lang, lang.is_some()),
            _ => continue,
        };
        if slot_is_set {
            return Err(QueryError {
                param,
                problem: Problem::Repeated,
            });
        }
        let value = decode(value, &mut value_buf);
        match param {
            Param::Country => country = Some(check(value, Country::parse)),
            Param::Lang => lang = Some(check(value, Lang::parse)),
        }
    }
    let fail = |param| move |problem| QueryError { param, problem };
    let country = country
        .unwrap_or(Err(Problem::Missing))
        .map_err(fail(Param::Country))?;
    let lang = lang
        .unwrap_or(Err(Problem::Missing))
        .map_err(fail(Param::Lang))?;
    Ok(AdRequest { country, lang })
}

fn check<T>(value: Option<&[u8]>, parse: fn(&[u8]) -> Option<T>) -> Result<T, Problem> {
    match value {
        Some([]) => Err(Problem::Empty),
        Some(v) => parse(v).ok_or(Problem::Malformed),
        None => Err(Problem::Malformed),
    }
}

/// Percent-decodes `raw` into `buf` when it has escapes, else borrows it.
/// `None` for a broken escape or a decoded value longer than `buf`.
fn decode<'a>(raw: &'a [u8], buf: &'a mut [u8; MAX_VALUE]) -> Option<&'a [u8]> {
    if !raw.contains(&b'%') {
        return Some(raw);
    }
    let mut len = 0;
    let mut i = 0;
    while i < raw.len() {
        let byte = if raw[i] == b'%' {
            let hi = hex(*raw.get(i + 1)?)?;
            let lo = hex(*raw.get(i + 2)?)?;
            i += 3;
            hi << 4 | lo
        } else {
            i += 1;
            raw[i - 1]
        };
        *buf.get_mut(len)? = byte;
        len += 1;
    }
    Some(&buf[..len])
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(query: &str) -> (String, String) {
        let r = parse_ad_request(Some(query)).unwrap_or_else(|e| panic!("{query}: {e:?}"));
        (r.country.as_str().to_owned(), r.lang.as_str().to_owned())
    }

    fn err(query: Option<&str>) -> (Param, Problem) {
        let e = parse_ad_request(query).expect_err(query.unwrap_or("<none>"));
        (e.param, e.problem)
    }

    #[test]
    fn accepts_valid_queries() {
        let cases = [
            ("country=us&lang=eng", ("us", "eng")),
            ("lang=eng&country=us", ("us", "eng")),
            ("country=US&lang=ENG", ("us", "eng")),
            ("country=us&lang=en", ("us", "eng")),
            ("country=us&lang=en-US", ("us", "eng")),
            ("country=ca&lang=fr_CA", ("ca", "fra")),
            ("country=tw&lang=zh%2DHant%2DTW", ("tw", "zho")),
            ("country=%75%53&lang=%65ng", ("us", "eng")),
            ("c%6Funtry=us&lang=eng", ("us", "eng")),
            ("country=us&lang=eng&sdk=3.1&x", ("us", "eng")),
            ("&&country=us&&lang=eng&", ("us", "eng")),
            ("foo=%zz&country=us&lang=eng", ("us", "eng")),
        ];
        for (query, (country, lang)) in cases {
            assert_eq!(ok(query), (country.to_owned(), lang.to_owned()), "{query}");
        }
    }

    #[test]
    fn refuses_bad_queries_naming_the_parameter() {
        use {Param::*, Problem::*};
        let cases = [
            (None, (Country, Missing)),
            (Some(""), (Country, Missing)),
            (Some("lang=eng"), (Country, Missing)),
            (Some("country=us"), (Lang, Missing)),
            (Some("country=&lang=eng"), (Country, Empty)),
            (Some("country&lang=eng"), (Country, Empty)),
            (Some("country=us&lang="), (Lang, Empty)),
            (Some("country=us&country=us&lang=eng"), (Country, Repeated)),
            (Some("country=us&lang=eng&lang=fre"), (Lang, Repeated)),
            (Some("country=usa&lang=eng"), (Country, Malformed)),
            (Some("country=u1&lang=eng"), (Country, Malformed)),
            (Some("country=us&lang=e"), (Lang, Malformed)),
            (Some("country=us&lang=engl"), (Lang, Malformed)),
            (Some("country=us&lang=e+n"), (Lang, Malformed)),
            (Some("country=us&lang=%zzg"), (Lang, Malformed)),
            (Some("country=us&lang=en%"), (Lang, Malformed)),
            (Some("country=%C3%BC&lang=eng"), (Country, Malformed)),
            (Some("country=us&lang=%20en"), (Lang, Malformed)),
        ];
        for (query, expected) in cases {
            assert_eq!(err(query), expected, "{query:?}");
        }
    }

    #[test]
    fn over_long_values_are_malformed_not_truncated() {
        let long = "u".repeat(10_000);
        assert_eq!(
            err(Some(&format!("country={long}&lang=eng"))),
            (Param::Country, Problem::Malformed)
        );
        let escaped = "%75".repeat(100);
        assert_eq!(
            err(Some(&format!("country=us&lang={escaped}"))),
            (Param::Lang, Problem::Malformed)
        );
    }
}
