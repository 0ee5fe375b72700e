//! The campaign feed: where it comes from, fetching it within limits, and
//! what a parsed feed holds.
//!
//! This module owns every byte that crosses from the campaign service into
//! the server. It never touches the serving table: [`crate::catalog`]
//! compiles what [`load`] returns.

mod fetch;
mod hop;
mod parse;
mod reason;
mod scan;
pub mod skipped;
pub mod snapshot;
mod validate;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use fetch::{FetchLimits, Fetched, RedirectError, Validators};
pub use hop::TransportError;
pub use parse::parse;
pub use reason::FailureReason;
pub use skipped::{Rule, SkipCounts, Skipped};

use crate::budget::Budget;
use crate::clock::Zone;
use crate::codes::{Country, Lang};
use crate::delivery::Creative;
use crate::window::Window;

/// One valid ad, codes lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ad {
    pub id: String,
    pub video_url: String,
    /// A country, or [`Country::ANY`] for `"*"`.
    pub country: Country,
    /// A language, or [`Lang::ANY`] for `"*"`.
    pub lang: Lang,
    pub window: Window,
    /// Share of its bucket's rotation; 1 unless the feed says otherwise.
    pub weight: u32,
    /// The zone this ad's hours are read in, when the feed names one.
    pub zone: Option<Zone>,
    /// What a video player needs beyond the URL (README "Delivery").
    pub creative: Creative,
    /// Caps, pacing and frequency cap (README "Budgets"); none by default.
    pub budget: Budget,
}

/// A parsed feed: the ads to serve and the ones skipped.
#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub ads: Vec<Ad>,
    /// The skipped entries kept for the log and `/explain`: a bounded few
    /// ([`skipped`] says which), not all of them.
    pub skipped: Vec<Skipped>,
    /// Every skipped entry, counted per rule.
    pub skip_counts: SkipCounts,
}

impl Feed {
    /// Logs the skipped entries: a few by name per rule, then a count.
    pub fn log_skipped(&self) {
        skipped::log_skipped(&self.skipped, &self.skip_counts);
    }
}

/// Why a whole feed document was not used.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error("cannot read feed file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("feed request failed: {0}")]
    Request(#[from] minreq::Error),
    /// The configured URL itself breaks the transport rule.
    #[error("URL refused: {0}")]
    Transport(TransportError),
    /// A redirect led somewhere the transport rule forbids, round a loop
    /// or past the cap.
    #[error("redirect refused: {0}")]
    Redirect(#[from] RedirectError),
    #[error("feed answered HTTP {0}")]
    Status(u16),
    #[error("feed body is larger than the cap of {cap} bytes")]
    TooLarge { cap: u64 },
    #[error("feed is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("feed has no \"ads\" array")]
    NoAdsArray,
}

impl FeedError {
    /// Why, as the metrics count it.
    pub fn reason(&self) -> FailureReason {
        match self {
            FeedError::File { .. } => FailureReason::File,
            FeedError::Request(e) => FailureReason::of_request(e),
            FeedError::Transport(_) => FailureReason::Transport,
            FeedError::Redirect(_) => FailureReason::Redirect,
            FeedError::Status(_) => FailureReason::Status,
            FeedError::TooLarge { .. } => FailureReason::TooLarge,
            FeedError::InvalidJson(_) => FailureReason::InvalidJson,
            FeedError::NoAdsArray => FailureReason::NoAdsArray,
        }
    }
}

/// Where the feed is read from: `--feed` as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedSource {
    Url(String),
    File(PathBuf),
}

impl FeedSource {
    /// An `http://` or `https://` URL, or else a file path.
    pub fn parse(s: &str) -> FeedSource {
        let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            FeedSource::Url(s.to_owned())
        } else {
            FeedSource::File(PathBuf::from(s))
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
            FeedSource::Url(url) => hop::Hop::parse(url)?.permitted(allow_insecure),
            FeedSource::File(_) => Ok(()),
        }
    }

    /// The raw document, within `limits`. With the validators of the last
    /// good fetch, an HTTP feed may answer [`Fetched::NotModified`]; a file
    /// is always read whole.
    pub fn fetch(
        &self,
        limits: &FetchLimits,
        previous: Option<&Validators>,
    ) -> Result<Fetched, FeedError> {
        match self {
            FeedSource::Url(url) => fetch::http(url, limits, previous),
            FeedSource::File(path) => Ok(Fetched::Body {
                bytes: fetch::file(path, limits)?,
                validators: Validators::default(),
            }),
        }
    }
}

impl fmt::Display for FeedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedSource::Url(url) => f.write_str(url),
            FeedSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl std::str::FromStr for FeedSource {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(FeedSource::parse(s))
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

    #[test]
    fn source_is_a_url_only_with_an_http_scheme() {
        assert_eq!(
            FeedSource::parse("HTTPS://x.example/ads.json"),
            FeedSource::Url("HTTPS://x.example/ads.json".into())
        );
        assert_eq!(
            FeedSource::parse("http://127.0.0.1:1/a"),
            FeedSource::Url("http://127.0.0.1:1/a".into())
        );
        assert_eq!(
            FeedSource::parse("data/ads.json"),
            FeedSource::File("data/ads.json".into())
        );
        assert_eq!(FeedSource::parse("ftp"), FeedSource::File("ftp".into()));
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
            let source = FeedSource::parse(source);
            assert_eq!(source.check_transport(false).is_ok(), ok, "{source}");
            assert!(source.check_transport(true).is_ok(), "{source}");
        }
        // Userinfo hides the real host from a reader: refused even when
        // insecure feeds are allowed.
        for source in [
            "http://127.0.0.1@feeds.example/ads.json",
            "https://127.0.0.1@feeds.example/ads.json",
        ] {
            let source = FeedSource::parse(source);
            assert!(source.check_transport(true).is_err(), "{source}");
        }
    }
}
