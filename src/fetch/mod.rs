//! Reading a document from a file or over HTTP(S) within limits: a byte
//! cap enforced while reading, one timeout for the whole fetch, and the
//! transport rule checked at every hop, redirects included (README "Live
//! campaigns", "Security"). The campaign feed and the JWKS both come
//! through here; neither knows how.

mod hop;
mod read;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use hop::TransportError;
pub use read::{FetchLimits, Fetched, RedirectError, Validators};

/// A URL the feed may name for a video or a click: `http://` or
/// `https://` (scheme in any case), a non-empty host, and no whitespace or
/// control characters anywhere. The feed's `video_url` and the VAST
/// `click_url` rules both use it.
///
/// Bytes and `memchr` throughout: this runs once per ad of every feed, and
/// the `str` splitting it was written with first was 6% of a million-ad
/// feed's parse.
pub(crate) fn is_absolute_http_url(url: &str) -> bool {
    let starts = |scheme: &[u8]| {
        url.len() >= scheme.len() && url.as_bytes()[..scheme.len()].eq_ignore_ascii_case(scheme)
    };
    let rest = if starts(b"http://") {
        &url.as_bytes()[7..]
    } else if starts(b"https://") {
        &url.as_bytes()[8..]
    } else {
        return false;
    };
    let authority = &rest[..memchr::memchr3(b'/', b'?', b'#', rest).unwrap_or(rest.len())];
    let host = &authority[memchr::memrchr(b'@', authority).map_or(0, |at| at + 1)..];
    let host = &host[..memchr::memrchr(b':', host).unwrap_or(host.len())];
    !host.is_empty() && !has_space_or_control(url)
}

/// Whether `text` holds whitespace or a control character. Bytes for ASCII
/// text (every ASCII space and control is at most 0x20, or 0x7f), which is
/// nearly every URL: decoding chars was 6% of a million-ad feed's parse.
fn has_space_or_control(text: &str) -> bool {
    if text.is_ascii() {
        return text.bytes().any(|b| b <= b' ' || b == 0x7f);
    }
    text.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot read file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("request failed: {0}")]
    Request(#[from] minreq::Error),
    /// The configured URL itself breaks the transport rule.
    #[error("URL refused: {0}")]
    Transport(TransportError),
    /// A redirect led somewhere the transport rule forbids, round a loop
    /// or past the cap.
    #[error("redirect refused: {0}")]
    Redirect(#[from] RedirectError),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("body is larger than the cap of {cap} bytes")]
    TooLarge { cap: u64 },
}

/// Where a document is read from: `--feed` or `--jwks` as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Url(String),
    File(PathBuf),
}

impl Source {
    /// An `http://` or `https://` URL, or else a file path.
    pub fn parse(s: &str) -> Source {
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Source::Url(s.to_owned())
        } else {
            Source::File(PathBuf::from(s))
        }
    }

    /// Refuses a URL that breaks the transport rule: plain `http://` to a
    /// host that is not loopback (unless `allow_insecure`,
    /// `--allow-insecure-feed`), or a URL the fetcher would not send as
    /// given (userinfo such as `http://127.0.0.1@evil.example/`, odd bytes).
    /// Files and `https://` pass. Checked at start so a bad flag stops the
    /// process; the fetcher checks again on every hop, redirects included.
    pub fn check_transport(&self, allow_insecure: bool) -> Result<(), TransportError> {
        match self {
            Source::Url(url) => hop::Hop::parse(url)?.permitted(allow_insecure),
            Source::File(_) => Ok(()),
        }
    }

    /// The raw document, within `limits`. With the validators of the last
    /// good fetch, an HTTP feed may answer [`Fetched::NotModified`]; a file
    /// is always read whole.
    pub fn fetch(
        &self,
        limits: &FetchLimits,
        previous: Option<&Validators>,
    ) -> Result<Fetched, FetchError> {
        self.fetch_into(limits, previous, &mut Vec::new())
    }

    /// [`Source::fetch`] into `buffer`'s allocation: the body takes it
    /// (hand it back for the next fetch); when there is no body, it stays.
    /// A large feed read again and again into one allocation keeps the
    /// allocator from scattering a fresh one each time (README "Catalog
    /// size").
    pub fn fetch_into(
        &self,
        limits: &FetchLimits,
        previous: Option<&Validators>,
        buffer: &mut Vec<u8>,
    ) -> Result<Fetched, FetchError> {
        match self {
            Source::Url(url) => read::http(url, limits, previous, buffer),
            Source::File(path) => Ok(Fetched::Body {
                bytes: read::file(path, limits, buffer)?,
                validators: Validators::default(),
            }),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Url(url) => f.write_str(url),
            Source::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl std::str::FromStr for Source {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Source::parse(s))
    }
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_bytes: 64 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            max_redirects: 5,
            allow_insecure: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rule as first written, with `str` splitting: the byte version
    /// must agree with it everywhere.
    fn url_rule_as_written(url: &str) -> bool {
        let Some((scheme, rest)) = url.split_once("://") else {
            return false;
        };
        let scheme_ok = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, _port)| h);
        scheme_ok && !host.is_empty() && !has_space_or_control(url)
    }

    #[test]
    fn video_urls_are_absolute_http() {
        let cases = [
            ("https://cdn.example/a.mp4", true),
            ("HTTP://cdn.example", true),
            ("hTTpS://u:p@cdn.example:8443/x?y#z", true),
            ("https://[::1]:8080/v", true),
            ("http://é.example/v", true),
            ("https://:8080/x", false),
            ("https:///x", false),
            ("https://user@/x", false),
            ("https://a b/x", false),
            ("https://cdn.example/\u{7f}", false),
            ("https://cdn.example/\u{a0}", false),
            ("ftp://cdn.example/x", false),
            ("https:/cdn.example", false),
            ("https", false),
            ("", false),
            ("httpx://a", false),
            ("xhttp://a", false),
            ("http://a://b", true),
        ];
        for (url, ok) in cases {
            assert_eq!(is_absolute_http_url(url), ok, "{url:?}");
            assert_eq!(url_rule_as_written(url), ok, "{url:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn the_byte_url_rule_agrees_with_the_rule_as_written(
            url in "(?i:https?|ftp|)(://|:/|)[a-z@:/?#. \u{0}\u{a0}é\\[\\]0-9]{0,24}"
        ) {
            proptest::prop_assert_eq!(is_absolute_http_url(&url), url_rule_as_written(&url));
        }
    }

    #[test]
    fn source_is_a_url_only_with_an_http_scheme() {
        assert_eq!(
            Source::parse("HTTPS://x.example/ads.json"),
            Source::Url("HTTPS://x.example/ads.json".into())
        );
        assert_eq!(
            Source::parse("http://127.0.0.1:1/a"),
            Source::Url("http://127.0.0.1:1/a".into())
        );
        assert_eq!(
            Source::parse("data/ads.json"),
            Source::File("data/ads.json".into())
        );
        assert_eq!(Source::parse("ftp"), Source::File("ftp".into()));
    }

    #[test]
    fn plain_http_only_on_loopback_or_when_allowed() {
        let cases = [
            ("https://feeds.example/ads.json", true),
            ("HTTPS://feeds.example/ads.json", true),
            ("data/ads.json", true),
            ("http://127.0.0.1:8000/ads.json", true),
            ("http://127.9.9.9/ads.json", true),
            ("http://localhost/ads.json", true),
            ("HTTP://LOCALHOST:80", true),
            ("http://[::1]:8000/x", true),
            ("http://feeds.example/ads.json", false),
            ("http://localhost.feeds.example/", false),
            ("http://10.0.0.1/ads.json", false),
            ("http://0.0.0.0:8000/ads.json", false),
            ("http://[::2]/x", false),
        ];
        for (source, ok) in cases {
            let source = Source::parse(source);
            assert_eq!(source.check_transport(false).is_ok(), ok, "{source}");
            assert!(source.check_transport(true).is_ok(), "{source}");
        }
        // Userinfo hides the real host from a reader: refused even when
        // insecure feeds are allowed.
        for source in [
            "http://127.0.0.1@feeds.example/ads.json",
            "https://127.0.0.1@feeds.example/ads.json",
        ] {
            let source = Source::parse(source);
            assert!(source.check_transport(true).is_err(), "{source}");
        }
    }
}
