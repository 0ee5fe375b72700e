//! The optional per-ad feed fields a video player needs (README "Delivery"):
//! `duration`, `mime_type`, `width`, `height`, `title` and `click_url`, with
//! their defaults and rules.
//!
//! Pure: the feed parser extracts each raw value and hands it over as a
//! [`Raw`]; [`Creative::validate`] applies the rules and the defaults. It
//! reads no JSON and renders nothing — `vast` turns a `Creative` into XML.

use crate::fetch::is_absolute_http_url;

/// One optional field as the feed parser found it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Raw<'a> {
    /// The field is not in the ad.
    Absent,
    /// A JSON string.
    Text(&'a str),
    /// A JSON integer (a `u64` above `i64::MAX` may be passed as `i64::MAX`).
    Integer(i64),
    /// Anything else, named the way a rule message says it ("a fractional
    /// number", "null", "an array", …).
    Other(&'static str),
}

/// The raw optional fields of one ad.
#[derive(Clone, Copy, Debug)]
pub struct RawCreative<'a> {
    pub duration: Raw<'a>,
    pub mime_type: Raw<'a>,
    pub width: Raw<'a>,
    pub height: Raw<'a>,
    pub title: Raw<'a>,
    pub click_url: Raw<'a>,
}

impl Default for RawCreative<'_> {
    fn default() -> Self {
        Self {
            duration: Raw::Absent,
            mime_type: Raw::Absent,
            width: Raw::Absent,
            height: Raw::Absent,
            title: Raw::Absent,
            click_url: Raw::Absent,
        }
    }
}

/// What a player needs to know about an ad's video, defaults applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creative {
    /// Seconds, 1..=3600.
    pub duration: u32,
    pub mime_type: String,
    pub width: u32,
    pub height: u32,
    pub title: String,
    pub click_url: Option<String>,
}

pub(crate) const DEFAULT_DURATION: u32 = 30;
pub(crate) const MAX_DURATION: i64 = 3600;
pub(crate) const DEFAULT_WIDTH: u32 = 1920;
pub(crate) const DEFAULT_HEIGHT: u32 = 1080;
/// The largest width or height accepted: 16K video.
pub(crate) const MAX_DIMENSION: i64 = 16384;
pub(crate) const MAX_MIME_TYPE_LEN: usize = 100;
pub(crate) const MAX_TITLE_LEN: usize = 1024;
pub(crate) const MAX_CLICK_URL_LEN: usize = 2048;

/// The rule a field broke; its `Display` names the field and the rule, the
/// way the feed's skip log lines do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CreativeError {
    #[error("{field} must be {want}, not {got}")]
    WrongType {
        field: &'static str,
        want: &'static str,
        got: &'static str,
    },
    #[error("{field} {value} is outside {min}..={max}")]
    OutOfRange {
        field: &'static str,
        value: i64,
        min: i64,
        max: i64,
    },
    #[error("{field} is {len} bytes, more than {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
    #[error("title is empty")]
    EmptyTitle,
    #[error("mime_type {0:?} is not a type/subtype of letters, digits and .+-_")]
    NotMimeType(Box<str>),
    #[error("click_url {0:?} is not an absolute http(s) URL")]
    NotHttpUrl(Box<str>),
}

/// A [`Creative`] still borrowing its text from the feed document (or,
/// for defaults, from the id and a static MIME type): what the parser
/// hands the catalog, which keeps it compactly rather than as four
/// `String`s per ad.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreativeRef<'a> {
    pub duration: u32,
    pub mime_type: &'a str,
    pub width: u32,
    pub height: u32,
    pub title: &'a str,
    pub click_url: Option<&'a str>,
}

impl<'a> CreativeRef<'a> {
    /// Applies the rules and defaults to one ad's optional fields. `id` is
    /// the default title; `video_url` gives the default MIME type.
    pub fn check(
        id: &'a str,
        video_url: &str,
        raw: RawCreative<'a>,
    ) -> Result<Self, CreativeError> {
        let duration =
            integer(raw.duration, "duration", 1, MAX_DURATION)?.unwrap_or(DEFAULT_DURATION);
        let width = integer(raw.width, "width", 1, MAX_DIMENSION)?.unwrap_or(DEFAULT_WIDTH);
        let height = integer(raw.height, "height", 1, MAX_DIMENSION)?.unwrap_or(DEFAULT_HEIGHT);
        let mime_type = match text(raw.mime_type, "mime_type")? {
            None => mime_from_extension(video_url),
            Some(m) => {
                check_len("mime_type", m, MAX_MIME_TYPE_LEN)?;
                if !is_mime_type(m) {
                    return Err(CreativeError::NotMimeType(m.into()));
                }
                m
            }
        };
        let title = match text(raw.title, "title")? {
            None => id,
            Some("") => return Err(CreativeError::EmptyTitle),
            Some(t) => {
                check_len("title", t, MAX_TITLE_LEN)?;
                t
            }
        };
        let click_url = match text(raw.click_url, "click_url")? {
            None => None,
            Some(u) => {
                check_len("click_url", u, MAX_CLICK_URL_LEN)?;
                if !is_absolute_http_url(u) {
                    return Err(CreativeError::NotHttpUrl(u.into()));
                }
                Some(u)
            }
        };
        Ok(Self {
            duration,
            mime_type,
            width,
            height,
            title,
            click_url,
        })
    }

    pub fn to_owned(&self) -> Creative {
        Creative {
            duration: self.duration,
            mime_type: self.mime_type.to_owned(),
            width: self.width,
            height: self.height,
            title: self.title.to_owned(),
            click_url: self.click_url.map(str::to_owned),
        }
    }
}

impl Creative {
    /// Applies the rules and defaults to one ad's optional fields. `id` is
    /// the default title; `video_url` gives the default MIME type.
    pub fn validate(
        id: &str,
        video_url: &str,
        raw: RawCreative<'_>,
    ) -> Result<Self, CreativeError> {
        CreativeRef::check(id, video_url, raw).map(|c| c.to_owned())
    }

    /// The defaults for an ad that gives none of the optional fields.
    pub fn defaults(id: &str, video_url: &str) -> Self {
        Self::validate(id, video_url, RawCreative::default()).expect("defaults satisfy the rules")
    }

    /// The same fields, borrowed.
    pub fn borrowed(&self) -> CreativeRef<'_> {
        CreativeRef {
            duration: self.duration,
            mime_type: &self.mime_type,
            width: self.width,
            height: self.height,
            title: &self.title,
            click_url: self.click_url.as_deref(),
        }
    }
}

fn integer(
    raw: Raw<'_>,
    field: &'static str,
    min: i64,
    max: i64,
) -> Result<Option<u32>, CreativeError> {
    match raw {
        Raw::Absent => Ok(None),
        // `max` is at most 16384, so the value fits u32 once in range.
        Raw::Integer(n) if (min..=max).contains(&n) => Ok(Some(n as u32)),
        Raw::Integer(value) => Err(CreativeError::OutOfRange {
            field,
            value,
            min,
            max,
        }),
        Raw::Text(_) => Err(CreativeError::WrongType {
            field,
            want: "an integer",
            got: "a string",
        }),
        Raw::Other(got) => Err(CreativeError::WrongType {
            field,
            want: "an integer",
            got,
        }),
    }
}

fn text<'a>(raw: Raw<'a>, field: &'static str) -> Result<Option<&'a str>, CreativeError> {
    match raw {
        Raw::Absent => Ok(None),
        Raw::Text(s) => Ok(Some(s)),
        Raw::Integer(_) => Err(CreativeError::WrongType {
            field,
            want: "a string",
            got: "a number",
        }),
        Raw::Other(got) => Err(CreativeError::WrongType {
            field,
            want: "a string",
            got,
        }),
    }
}

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), CreativeError> {
    if s.len() > max {
        return Err(CreativeError::TooLong {
            field,
            len: s.len(),
            max,
        });
    }
    Ok(())
}

/// The MIME type a player expects for a video URL's file extension; the
/// query and fragment do not count, and unknown extensions get `video/mp4`.
pub(crate) fn mime_from_extension(url: &str) -> &'static str {
    // Bytes, not char patterns: this runs twice per ad of a million-ad feed.
    let url = url.as_bytes();
    let path = &url[..memchr::memchr2(b'?', b'#', url).unwrap_or(url.len())];
    let last = &path[memchr::memrchr(b'/', path).map_or(0, |i| i + 1)..];
    let ext = memchr::memrchr(b'.', last).map_or(&[][..], |i| &last[i + 1..]);
    const TABLE: [(&str, &str); 6] = [
        ("mp4", "video/mp4"),
        ("webm", "video/webm"),
        ("mov", "video/quicktime"),
        ("m3u8", "application/x-mpegURL"),
        ("ogv", "video/ogg"),
        ("ogg", "video/ogg"),
    ];
    TABLE
        .iter()
        .find(|(e, _)| e.as_bytes().eq_ignore_ascii_case(ext))
        .map_or("video/mp4", |(_, mime)| mime)
}

/// `type/subtype`, each a non-empty run of letters, digits and `.+-_`: no
/// parameters, nothing that needs escaping in an XML attribute.
fn is_mime_type(m: &str) -> bool {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".+-_".contains(&b))
    };
    m.split_once('/').is_some_and(|(t, s)| token(t) && token(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://cdn.example.com/a1.webm?x=1";

    fn with<'a>(f: impl FnOnce(&mut RawCreative<'a>)) -> Result<Creative, String> {
        let mut raw = RawCreative::default();
        f(&mut raw);
        Creative::validate("a1", URL, raw).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_come_from_the_id_and_the_url() {
        let c = Creative::defaults("a1", URL);
        assert_eq!(
            c,
            Creative {
                duration: 30,
                mime_type: "video/webm".into(),
                width: 1920,
                height: 1080,
                title: "a1".into(),
                click_url: None,
            }
        );
    }

    #[test]
    fn mime_type_defaults_by_extension() {
        let cases = [
            ("https://a/x.mp4", "video/mp4"),
            ("https://a/x.WEBM", "video/webm"),
            ("https://a/x.mov#t=1", "video/quicktime"),
            ("https://a/x.m3u8?s=1", "application/x-mpegURL"),
            ("https://a/x.ogv", "video/ogg"),
            ("https://a/x.ogg", "video/ogg"),
            ("https://a/x.flv", "video/mp4"),
            ("https://a/x", "video/mp4"),
            ("https://a.mov/x", "video/mp4"),
            ("https://a/x.mp4/", "video/mp4"),
        ];
        for (url, mime) in cases {
            assert_eq!(mime_from_extension(url), mime, "{url}");
        }
    }

    #[test]
    fn given_values_are_kept() {
        let c = with(|r| {
            r.duration = Raw::Integer(3600);
            r.mime_type = Raw::Text("video/x-matroska");
            r.width = Raw::Integer(640);
            r.height = Raw::Integer(16384);
            r.title = Raw::Text("Summer <sale> & \"more\"");
            r.click_url = Raw::Text("https://shop.example.com/?a=1&b=2");
        })
        .unwrap();
        assert_eq!((c.duration, c.width, c.height), (3600, 640, 16384));
        assert_eq!(c.mime_type, "video/x-matroska");
        assert_eq!(c.title, "Summer <sale> & \"more\"");
        assert_eq!(
            c.click_url.as_deref(),
            Some("https://shop.example.com/?a=1&b=2")
        );
    }

    #[test]
    fn bad_values_name_the_field_and_the_rule() {
        let long_title = "t".repeat(1025);
        let long_url = format!("https://a/{}", "u".repeat(2048));
        let long_mime = format!("video/{}", "m".repeat(95));
        type Case<'a> = (Box<dyn FnOnce(&mut RawCreative<'a>) + 'a>, &'a str);
        let cases: Vec<Case<'_>> = vec![
            (Box::new(|r| r.duration = Raw::Integer(0)), "duration 0 is outside 1..=3600"),
            (Box::new(|r| r.duration = Raw::Integer(3601)), "duration 3601 is outside 1..=3600"),
            (Box::new(|r| r.duration = Raw::Integer(-5)), "duration -5 is outside 1..=3600"),
            (
                Box::new(|r| r.duration = Raw::Other("a fractional number")),
                "duration must be an integer, not a fractional number",
            ),
            (Box::new(|r| r.duration = Raw::Text("30")), "duration must be an integer, not a string"),
            (Box::new(|r| r.width = Raw::Integer(0)), "width 0 is outside 1..=16384"),
            (Box::new(|r| r.height = Raw::Integer(16385)), "height 16385 is outside 1..=16384"),
            (Box::new(|r| r.height = Raw::Other("null")), "height must be an integer, not null"),
            (Box::new(|r| r.title = Raw::Text("")), "title is empty"),
            (Box::new(|r| r.title = Raw::Integer(3)), "title must be a string, not a number"),
            (Box::new(|r| r.title = Raw::Text(&long_title)), "title is 1025 bytes, more than 1024"),
            (Box::new(|r| r.mime_type = Raw::Text("video")), "mime_type \"video\" is not a type/subtype of letters, digits and .+-_"),
            (
                Box::new(|r| r.mime_type = Raw::Text("video/mp4\" onload=\"x")),
                "mime_type \"video/mp4\\\" onload=\\\"x\" is not a type/subtype of letters, digits and .+-_",
            ),
            (
                Box::new(|r| r.mime_type = Raw::Text("video/mp4; codecs=avc1")),
                "mime_type \"video/mp4; codecs=avc1\" is not a type/subtype of letters, digits and .+-_",
            ),
            (Box::new(|r| r.mime_type = Raw::Text(&long_mime)), "mime_type is 101 bytes, more than 100"),
            (
                Box::new(|r| r.click_url = Raw::Text("javascript:alert(1)")),
                "click_url \"javascript:alert(1)\" is not an absolute http(s) URL",
            ),
            (
                Box::new(|r| r.click_url = Raw::Text("/relative")),
                "click_url \"/relative\" is not an absolute http(s) URL",
            ),
            (
                Box::new(|r| r.click_url = Raw::Text("https://a/b c")),
                "click_url \"https://a/b c\" is not an absolute http(s) URL",
            ),
            (Box::new(|r| r.click_url = Raw::Text(&long_url)), "click_url is 2058 bytes, more than 2048"),
            (Box::new(|r| r.click_url = Raw::Other("an object")), "click_url must be a string, not an object"),
        ];
        for (set, rule) in cases {
            assert_eq!(with(set).unwrap_err(), rule);
        }
    }
}
