//! Counters for `/metrics`, kept in atomics and rendered by hand in the
//! Prometheus text format.
//!
//! Recording is a few relaxed atomic adds and never allocates; rendering
//! (one scrape) may. The set of label values is fixed here, so the request
//! path indexes arrays instead of looking labels up.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod render;

/// Which endpoint a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    AdRequest,
    Healthz,
    Readyz,
    Metrics,
    Explain,
    Unknown,
}

impl Route {
    const ALL: [Route; 6] = [
        Route::AdRequest,
        Route::Healthz,
        Route::Readyz,
        Route::Metrics,
        Route::Explain,
        Route::Unknown,
    ];

    fn label(self) -> &'static str {
        match self {
            Route::AdRequest => "ad_request",
            Route::Healthz => "healthz",
            Route::Readyz => "readyz",
            Route::Metrics => "metrics",
            Route::Explain => "explain",
            Route::Unknown => "unknown",
        }
    }
}

/// What a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ad,
    NoAd,
    InvalidRequest,
    Unavailable,
    MethodNotAllowed,
    NotFound,
    /// A probe or scrape answered 200.
    Ok,
    /// 401: authentication required or refused.
    Unauthorized,
    /// 429: over the client's rate.
    RateLimited,
    /// 414: the request target is over the limit.
    UriTooLong,
}

impl Outcome {
    const ALL: [Outcome; 10] = [
        Outcome::Ad,
        Outcome::NoAd,
        Outcome::InvalidRequest,
        Outcome::Unavailable,
        Outcome::MethodNotAllowed,
        Outcome::NotFound,
        Outcome::Ok,
        Outcome::Unauthorized,
        Outcome::RateLimited,
        Outcome::UriTooLong,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Ad => "ad",
            Outcome::NoAd => "no_ad",
            Outcome::InvalidRequest => "invalid_request",
            Outcome::Unavailable => "unavailable",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::NotFound => "not_found",
            Outcome::Ok => "ok",
            Outcome::Unauthorized => "unauthorized",
            Outcome::RateLimited => "rate_limited",
            Outcome::UriTooLong => "uri_too_long",
        }
    }
}

const COUNTERS: usize = Route::ALL.len() * Outcome::ALL.len();

/// One counter per (route, outcome); a newtype because std derives
/// `Default` for arrays of at most 32.
#[derive(Debug)]
struct Counters([AtomicU64; COUNTERS]);

impl Default for Counters {
    fn default() -> Self {
        Counters(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

fn counter(route: Route, outcome: Outcome) -> usize {
    route as usize * Outcome::ALL.len() + outcome as usize
}

/// Upper bounds of the latency buckets, in nanoseconds: microsecond
/// resolution where this server lives, up to a second for the pathological.
const BUCKETS_NS: [u64; 14] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    5_000_000,
    25_000_000,
    100_000_000,
    1_000_000_000,
];

/// Why a feed refresh failed; labels of `adserver_feed_refresh_failures_total`.
pub const REFRESH_FAILURE_REASONS: [&str; 11] = [
    "connect",
    "timeout",
    "request",
    "status",
    "too_large",
    "invalid_json",
    "no_ads_array",
    "drop",
    "file",
    "redirect",
    "transport",
];

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Counters,
    latency_buckets: [AtomicU64; BUCKETS_NS.len() + 1],
    latency_sum_ns: AtomicU64,
    catalog_ads: AtomicU64,
    catalog_skipped: AtomicU64,
    catalog_version: AtomicU64,
    last_refresh_unix_ms: AtomicU64,
    refresh_failures: [AtomicU64; REFRESH_FAILURE_REASONS.len()],
    refresh_unchanged: AtomicU64,
    stale: AtomicBool,
    open_connections: AtomicI64,
}

impl Metrics {
    /// Counts one finished request and its latency.
    #[inline]
    pub fn record(&self, route: Route, outcome: Outcome, elapsed: Duration) {
        self.requests.0[counter(route, outcome)].fetch_add(1, Relaxed);
        let ns = elapsed.as_nanos().min(u128::from(u64::MAX)) as u64;
        let bucket = BUCKETS_NS.partition_point(|&bound| bound < ns);
        self.latency_buckets[bucket].fetch_add(1, Relaxed);
        self.latency_sum_ns.fetch_add(ns, Relaxed);
    }

    pub fn requests(&self, route: Route, outcome: Outcome) -> u64 {
        self.requests.0[counter(route, outcome)].load(Relaxed)
    }

    /// A new catalog went live.
    pub fn catalog_loaded(&self, ads: usize, skipped: usize) {
        self.catalog_ads.store(ads as u64, Relaxed);
        self.catalog_skipped.store(skipped as u64, Relaxed);
        self.catalog_version.fetch_add(1, Relaxed);
    }

    /// The feed answered well: the live catalog is what it holds now.
    pub fn feed_succeeded(&self) {
        self.last_refresh_unix_ms.store(unix_ms(), Relaxed);
    }

    /// The feed answered 304 or the same bytes: nothing was rebuilt.
    pub fn feed_unchanged(&self) {
        self.refresh_unchanged.fetch_add(1, Relaxed);
    }

    pub fn refresh_unchanged(&self) -> u64 {
        self.refresh_unchanged.load(Relaxed)
    }

    /// Whether the live catalog came from the snapshot, not the feed.
    pub fn set_stale(&self, stale: bool) {
        self.stale.store(stale, Relaxed);
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(Relaxed)
    }

    /// A refresh failed for `reason` (one of [`REFRESH_FAILURE_REASONS`]).
    pub fn refresh_failed(&self, reason: &str) {
        if let Some(i) = REFRESH_FAILURE_REASONS.iter().position(|&r| r == reason) {
            self.refresh_failures[i].fetch_add(1, Relaxed);
        }
    }

    pub fn refresh_failures(&self, reason: &str) -> u64 {
        REFRESH_FAILURE_REASONS
            .iter()
            .position(|&r| r == reason)
            .map_or(0, |i| self.refresh_failures[i].load(Relaxed))
    }

    pub fn catalog_version(&self) -> u64 {
        self.catalog_version.load(Relaxed)
    }

    pub fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Relaxed);
    }

    pub fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Relaxed);
    }
}

/// Milliseconds since the Unix epoch; 0 if the clock is before it.
fn unix_ms() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_lands_in_the_right_bucket() {
        let m = Metrics::default();
        m.record(Route::AdRequest, Outcome::Ad, Duration::from_nanos(800));
        m.record(Route::AdRequest, Outcome::Ad, Duration::from_micros(3));
        m.record(Route::AdRequest, Outcome::NoAd, Duration::from_secs(5));
        let page = m.render();
        assert!(
            page.contains("adserver_request_duration_seconds_bucket{le=\"0.000001\"} 1\n"),
            "{page}"
        );
        assert!(
            page.contains("adserver_request_duration_seconds_bucket{le=\"0.000005\"} 2\n"),
            "{page}"
        );
        assert!(
            page.contains("adserver_request_duration_seconds_bucket{le=\"1\"} 2\n"),
            "{page}"
        );
        assert!(
            page.contains("adserver_request_duration_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{page}"
        );
        assert!(page.contains("adserver_requests_total{route=\"ad_request\",outcome=\"ad\"} 2\n"));
        assert!(
            page.contains("adserver_requests_total{route=\"ad_request\",outcome=\"no_ad\"} 1\n")
        );
    }

    #[test]
    fn feed_age_appears_after_the_first_load() {
        let m = Metrics::default();
        assert!(!m.render().contains("adserver_feed_age_seconds "));
        m.catalog_loaded(10, 2);
        assert!(
            !m.render().contains("adserver_feed_age_seconds "),
            "a snapshot load is no feed answer"
        );
        m.feed_succeeded();
        let page = m.render();
        assert!(page.contains("adserver_feed_age_seconds "));
        assert!(page.contains("adserver_catalog_ads 10\n"));
        assert!(page.contains("adserver_catalog_skipped_ads 2\n"));
        assert!(page.contains("adserver_catalog_version 1\n"));
    }

    #[test]
    fn refresh_failures_are_counted_by_reason() {
        let m = Metrics::default();
        m.refresh_failed("too_large");
        m.refresh_failed("too_large");
        assert_eq!(m.refresh_failures("too_large"), 2);
        assert!(m
            .render()
            .contains("adserver_feed_refresh_failures_total{reason=\"too_large\"} 2\n"));
    }
}
