//! Parsing the ad request's query string without allocating.
//!
//! Names and values are borrowed slices of the URI; a value is copied into a
//! small stack buffer only when it holds a `%` escape. Every error is a
//! fixed value naming the parameter, so the 400 body is a static string.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::catalog::{Exclude, Lookup, MAX_EXCLUDED};
use crate::clock::Zone;
use crate::codes::{Country, Lang};

/// A valid `/ad_request` query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdRequest {
    pub country: Country,
    pub lang: Lang,
    /// The player's clock, from `tz` (which wins) or `utc_offset`.
    pub player: Option<Zone>,
    pub exclude: Exclude,
    /// `format`: `json` (the default) or `vast` (README "Delivery").
    pub format: Format,
    /// `uid`, hashed ([`crate::budget::frequency::player_hash`]): the
    /// player frequency caps count (README "Budgets").
    pub uid: Option<u64>,
}

impl AdRequest {
    /// What the catalog is asked for this request at `hour` and `now`.
    pub fn lookup(&self, hour: u8, now: DateTime<Utc>) -> Lookup<'_> {
        Lookup {
            country: self.country,
            lang: self.lang,
            hour,
            now,
            exclude: &self.exclude,
        }
    }
}

/// How an ad answer is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Json,
    Vast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    Country,
    Lang,
    Tz,
    UtcOffset,
    Exclude,
    Format,
    Uid,
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
/// tag or IANA zone name (`America/Argentina/ComodRivadavia`).
const MAX_VALUE: usize = 64;

/// Room for a whole decoded `exclude` list: 16 ids of up to 64 bytes.
const MAX_EXCLUDE_VALUE: usize = MAX_EXCLUDED * (MAX_VALUE + 1);

/// The longest `uid`, in bytes.
pub const MAX_UID: usize = 128;

/// `utc_offset` bounds, in minutes: UTC-14:00 to UTC+14:00.
const MAX_OFFSET_MINUTES: i16 = 840;

/// Parses an ad request's query: `country` and `lang` (required), `tz`,
/// `utc_offset` and `exclude` (optional); other parameters are ignored.
pub fn parse_ad_request(query: Option<&str>) -> Result<AdRequest, QueryError> {
    let mut country: Option<Result<Country, Problem>> = None;
    let mut lang: Option<Result<Lang, Problem>> = None;
    let mut tz: Option<Result<Tz, Problem>> = None;
    let mut offset: Option<Result<Zone, Problem>> = None;
    let mut exclude: Option<Result<Exclude, Problem>> = None;
    let mut format: Option<Result<Format, Problem>> = None;
    let mut uid: Option<Result<u64, Problem>> = None;
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
            Some(b"tz") => (Param::Tz, tz.is_some()),
            Some(b"utc_offset") => (Param::UtcOffset, offset.is_some()),
            Some(b"exclude") => (Param::Exclude, exclude.is_some()),
            Some(b"format") => (Param::Format, format.is_some()),
            Some(b"uid") => (Param::Uid, uid.is_some()),
            _ => continue,
        };
        if slot_is_set {
            return Err(QueryError {
                param,
                problem: Problem::Repeated,
            });
        }
        match param {
            Param::Country => country = Some(check(decode(value, &mut value_buf), Country::parse)),
            Param::Lang => lang = Some(check(decode(value, &mut value_buf), Lang::parse)),
            Param::Tz => tz = Some(check(decode(value, &mut value_buf), parse_tz)),
            Param::UtcOffset => offset = Some(check(decode(value, &mut value_buf), parse_offset)),
            Param::Exclude => exclude = Some(parse_exclude(value)),
            Param::Format => format = Some(check(decode(value, &mut value_buf), parse_format)),
            Param::Uid => uid = Some(parse_uid(value)),
        }
    }
    let fail = |param| move |problem| QueryError { param, problem };
    let country = country
        .unwrap_or(Err(Problem::Missing))
        .map_err(fail(Param::Country))?;
    let lang = lang
        .unwrap_or(Err(Problem::Missing))
        .map_err(fail(Param::Lang))?;
    let tz = tz.transpose().map_err(fail(Param::Tz))?;
    let offset = offset.transpose().map_err(fail(Param::UtcOffset))?;
    let exclude = exclude
        .transpose()
        .map_err(fail(Param::Exclude))?
        .unwrap_or_default();
    let format = format
        .transpose()
        .map_err(fail(Param::Format))?
        .unwrap_or_default();
    let uid = uid.transpose().map_err(fail(Param::Uid))?;
    let player = tz.map(Zone::Iana).or(offset);
    Ok(AdRequest {
        country,
        lang,
        player,
        exclude,
        format,
        uid,
    })
}

/// `/explain`'s `hour` was not one whole hour 0..=23.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadHour;

/// `/explain`'s optional `hour` (0..=23); an error for anything else, and
/// for a repeated one.
pub(crate) fn parse_hour(query: Option<&str>) -> Result<Option<u8>, BadHour> {
    let mut hour = None;
    for pair in query.unwrap_or("").split('&') {
        let Some(value) = pair.strip_prefix("hour=") else {
            continue;
        };
        let h: u8 = value.parse().map_err(|_| BadHour)?;
        if h > 23 || hour.replace(h).is_some() {
            return Err(BadHour);
        }
    }
    Ok(hour)
}

fn parse_format(value: &[u8]) -> Option<Format> {
    if value.eq_ignore_ascii_case(b"json") {
        Some(Format::Json)
    } else if value.eq_ignore_ascii_case(b"vast") {
        Some(Format::Vast)
    } else {
        None
    }
}

fn parse_tz(value: &[u8]) -> Option<Tz> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Minutes east of UTC: an optional sign and up to three digits, ±840.
fn parse_offset(value: &[u8]) -> Option<Zone> {
    let digits = value
        .strip_prefix(b"+")
        .or(value.strip_prefix(b"-"))
        .unwrap_or(value);
    if digits.is_empty() || digits.len() > 3 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: i16 = std::str::from_utf8(digits).ok()?.parse().ok()?;
    let n = if value[0] == b'-' { -n } else { n };
    if !(-MAX_OFFSET_MINUTES..=MAX_OFFSET_MINUTES).contains(&n) {
        return None;
    }
    Zone::from_offset_minutes(n)
}

/// `uid`: 1 to [`MAX_UID`] bytes of `A-Z a-z 0-9 . _ : -` (after
/// percent-decoding), hashed so nothing is kept of the text.
fn parse_uid(raw: &[u8]) -> Result<u64, Problem> {
    let mut buf = [0u8; MAX_UID];
    match decode_into(raw, &mut buf) {
        Some([]) => Err(Problem::Empty),
        Some(uid)
            if uid.len() <= MAX_UID
                && uid.iter().all(|&b| {
                    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')
                }) =>
        {
            Ok(crate::budget::frequency::player_hash(uid))
        }
        _ => Err(Problem::Malformed),
    }
}

/// `exclude`: ids separated by commas (literal or `%2C`), at most
/// [`MAX_EXCLUDED`] of them; empty items are ignored, so is an empty list.
fn parse_exclude(raw: &[u8]) -> Result<Exclude, Problem> {
    let mut buf = [0u8; MAX_EXCLUDE_VALUE];
    let value = decode_into(raw, &mut buf).ok_or(Problem::Malformed)?;
    let mut exclude = Exclude::default();
    for id in value.split(|&b| b == b',').filter(|id| !id.is_empty()) {
        if id.len() > MAX_VALUE || !exclude.push(id) {
            return Err(Problem::Malformed);
        }
    }
    Ok(exclude)
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
    decode_into(raw, buf)
}

fn decode_into<'a>(raw: &'a [u8], buf: &'a mut [u8]) -> Option<&'a [u8]> {
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
    fn player_zone_and_exclude_are_read() {
        let offset = |minutes| Some(Zone::from_offset_minutes(minutes).unwrap());
        let r = parse_ad_request(Some("country=in&lang=hin&utc_offset=330")).unwrap();
        assert_eq!(r.player, offset(330));
        let r = parse_ad_request(Some("country=us&lang=eng&utc_offset=-300")).unwrap();
        assert_eq!(r.player, offset(-300));
        let r = parse_ad_request(Some(
            "country=us&lang=eng&tz=America%2FNew_York&utc_offset=60",
        ))
        .unwrap();
        assert_eq!(
            r.player,
            Some(Zone::Iana(chrono_tz::America::New_York)),
            "tz wins"
        );
        let r = parse_ad_request(Some("country=us&lang=eng&exclude=a1,b2%2Cc3,,")).unwrap();
        assert_eq!(r.exclude.len(), 3);
        let r = parse_ad_request(Some("country=us&lang=eng&exclude=")).unwrap();
        assert!(r.exclude.is_empty());
        assert_eq!(
            parse_ad_request(Some("country=us&lang=eng"))
                .unwrap()
                .player,
            None
        );
    }

    #[test]
    fn bad_player_zones_and_excludes_name_their_parameter() {
        use {Param::*, Problem::*};
        let seventeen: Vec<String> = (0..17).map(|i| format!("id{i}")).collect();
        let too_many = format!("country=us&lang=eng&exclude={}", seventeen.join(","));
        let cases = [
            ("country=us&lang=eng&tz=Mars/Base", (Tz, Malformed)),
            ("country=us&lang=eng&tz=", (Tz, Empty)),
            ("country=us&lang=eng&tz=UTC&tz=UTC", (Tz, Repeated)),
            ("country=us&lang=eng&utc_offset=841", (UtcOffset, Malformed)),
            (
                "country=us&lang=eng&utc_offset=-841",
                (UtcOffset, Malformed),
            ),
            ("country=us&lang=eng&utc_offset=5.5", (UtcOffset, Malformed)),
            ("country=us&lang=eng&utc_offset=+", (UtcOffset, Malformed)),
            ("country=us&lang=eng&utc_offset=", (UtcOffset, Empty)),
            (
                "country=us&lang=eng&exclude=a&exclude=b",
                (Exclude, Repeated),
            ),
            (too_many.as_str(), (Exclude, Malformed)),
        ];
        for (query, expected) in cases {
            assert_eq!(err(Some(query)), expected, "{query}");
        }
    }

    #[test]
    fn uid_is_hashed_and_bad_ones_name_uid() {
        use {Param::*, Problem::*};
        let uid = |q: &str| parse_ad_request(Some(q)).unwrap().uid;
        assert_eq!(uid("country=us&lang=eng"), None);
        let a = uid("country=us&lang=eng&uid=Player_1:x.y-z");
        assert!(a.is_some());
        assert_eq!(
            a,
            uid("country=us&lang=eng&uid=Player_1%3Ax.y-z"),
            "decoded first"
        );
        assert_ne!(
            a,
            uid("country=us&lang=eng&uid=player_1:x.y-z"),
            "case matters"
        );
        let longest = format!("country=us&lang=eng&uid={}", "u".repeat(128));
        assert!(uid(&longest).is_some());
        let too_long = format!("country=us&lang=eng&uid={}", "u".repeat(129));
        for (query, expected) in [
            ("country=us&lang=eng&uid=", (Uid, Empty)),
            ("country=us&lang=eng&uid", (Uid, Empty)),
            ("country=us&lang=eng&uid=a%20b", (Uid, Malformed)),
            ("country=us&lang=eng&uid=a/b", (Uid, Malformed)),
            ("country=us&lang=eng&uid=%C3%A9", (Uid, Malformed)),
            ("country=us&lang=eng&uid=a%zz", (Uid, Malformed)),
            ("country=us&lang=eng&uid=a&uid=b", (Uid, Repeated)),
            (too_long.as_str(), (Uid, Malformed)),
        ] {
            assert_eq!(err(Some(query)), expected, "{query}");
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
