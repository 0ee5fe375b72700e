//! Counters for `/metrics`, kept in atomics and rendered by hand in the
//! Prometheus text format.
//!
//! Recording is a few relaxed atomic adds and never allocates; rendering
//! (one scrape) may ([`render`]). The set of label values is fixed, so the
//! request path indexes arrays instead of looking labels up.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod render;

pub use render::header;

use crate::feed::FailureReason;

/// The routes requests are counted under. The router names them
/// ([`crate::router::Route`]); metrics only needs each one's label and
/// place, so this module imports nothing from the layers above it.
pub trait RouteLabel: Copy + 'static {
    /// Every route, in the order the page lists them.
    const ALL: &'static [Self];
    /// Its `route` label value.
    fn label(self) -> &'static str;
    /// Its position in [`RouteLabel::ALL`]; below [`MAX_ROUTES`].
    fn index(self) -> usize;
    /// Whether the page shows `outcome` for this route even at zero, so
    /// dashboards see the series before it first happens.
    fn always_shown(self, outcome: Outcome) -> bool;
}

/// The most routes a [`RouteLabel`] may name.
pub(crate) const MAX_ROUTES: usize = 16;

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
    /// 403: an event beacon whose token is missing, forged or expired.
    InvalidEvent,
}

impl Outcome {
    pub const ALL: [Outcome; 11] = [
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
        Outcome::InvalidEvent,
    ];

    pub(crate) fn label(self) -> &'static str {
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
            Outcome::InvalidEvent => "invalid_event",
        }
    }
}

const COUNTERS: usize = MAX_ROUTES * Outcome::ALL.len();

/// One counter per (route, outcome); a newtype because std derives
/// `Default` for arrays of at most 32.
#[derive(Debug)]
struct Counters([AtomicU64; COUNTERS]);

impl Default for Counters {
    fn default() -> Self {
        Counters(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

fn counter(route: impl RouteLabel, outcome: Outcome) -> usize {
    debug_assert!(route.index() < MAX_ROUTES);
    route.index() * Outcome::ALL.len() + outcome as usize
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

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Counters,
    latency_buckets: [AtomicU64; BUCKETS_NS.len() + 1],
    latency_sum_ns: AtomicU64,
    catalog_ads: AtomicU64,
    catalog_skipped: AtomicU64,
    catalog_version: AtomicU64,
    last_refresh_unix_ms: AtomicU64,
    /// Indexed by `FailureReason as usize`.
    refresh_failures: [AtomicU64; FailureReason::ALL.len()],
    refresh_unchanged: AtomicU64,
    stale: AtomicBool,
    open_connections: AtomicI64,
}

impl Metrics {
    /// Counts one finished request and its latency.
    #[inline]
    pub fn record(&self, route: impl RouteLabel, outcome: Outcome, elapsed: Duration) {
        self.requests.0[counter(route, outcome)].fetch_add(1, Relaxed);
        let ns = elapsed.as_nanos().min(u128::from(u64::MAX)) as u64;
        let bucket = BUCKETS_NS.partition_point(|&bound| bound < ns);
        self.latency_buckets[bucket].fetch_add(1, Relaxed);
        self.latency_sum_ns.fetch_add(ns, Relaxed);
    }

    pub fn requests(&self, route: impl RouteLabel, outcome: Outcome) -> u64 {
        self.requests.0[counter(route, outcome)].load(Relaxed)
    }

    /// A new catalog went live.
    pub(crate) fn catalog_loaded(&self, ads: usize, skipped: usize) {
        self.catalog_ads.store(ads as u64, Relaxed);
        self.catalog_skipped.store(skipped as u64, Relaxed);
        self.catalog_version.fetch_add(1, Relaxed);
    }

    /// The feed answered well: the live catalog is what it holds now.
    pub(crate) fn feed_succeeded(&self) {
        self.last_refresh_unix_ms.store(unix_ms(), Relaxed);
    }

    /// The feed answered 304 or the same bytes: nothing was rebuilt.
    pub(crate) fn feed_unchanged(&self) {
        self.refresh_unchanged.fetch_add(1, Relaxed);
    }

    pub fn refresh_unchanged(&self) -> u64 {
        self.refresh_unchanged.load(Relaxed)
    }

    /// Whether the live catalog came from the snapshot, not the feed.
    pub(crate) fn set_stale(&self, stale: bool) {
        self.stale.store(stale, Relaxed);
    }

    pub fn is_stale(&self) -> bool {
        self.stale.load(Relaxed)
    }

    /// A feed refresh failed for `reason`.
    pub(crate) fn refresh_failed(&self, reason: FailureReason) {
        self.refresh_failures[reason as usize].fetch_add(1, Relaxed);
    }

    pub fn refresh_failures(&self, reason: FailureReason) -> u64 {
        self.refresh_failures[reason as usize].load(Relaxed)
    }

    pub fn catalog_version(&self) -> u64 {
        self.catalog_version.load(Relaxed)
    }

    pub(crate) fn connection_opened(&self) {
        self.open_connections.fetch_add(1, Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.open_connections.fetch_sub(1, Relaxed);
    }
}

pub(crate) fn unix_ms() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    now.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::Route;

    #[test]
    fn latency_lands_in_the_right_bucket() {
        let m = Metrics::default();
        m.record(Route::AdRequest, Outcome::Ad, Duration::from_nanos(800));
        m.record(Route::AdRequest, Outcome::Ad, Duration::from_micros(3));
        m.record(Route::AdRequest, Outcome::NoAd, Duration::from_secs(5));
        let page = m.render::<Route>();
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
        assert!(!m.render::<Route>().contains("adserver_feed_age_seconds "));
        m.catalog_loaded(10, 2);
        assert!(
            !m.render::<Route>().contains("adserver_feed_age_seconds "),
            "a snapshot load is no feed answer"
        );
        m.feed_succeeded();
        let page = m.render::<Route>();
        assert!(page.contains("adserver_feed_age_seconds "));
        assert!(page.contains("adserver_catalog_ads 10\n"));
        assert!(page.contains("adserver_catalog_skipped_ads 2\n"));
        assert!(page.contains("adserver_catalog_version 1\n"));
    }

    #[test]
    fn refresh_failures_are_counted_by_reason() {
        let m = Metrics::default();
        m.refresh_failed(FailureReason::TooLarge);
        m.refresh_failed(FailureReason::TooLarge);
        assert_eq!(m.refresh_failures(FailureReason::TooLarge), 2);
        let page = m.render::<Route>();
        assert!(page.contains("adserver_feed_refresh_failures_total{reason=\"too_large\"} 2\n"));
        // Every feed reason is on the page, zeros included, in one fixed
        // order; the key set's own reason is not a feed's.
        let labels: Vec<&str> = page
            .lines()
            .filter_map(|l| l.strip_prefix("adserver_feed_refresh_failures_total{reason=\""))
            .filter_map(|l| l.split('"').next())
            .collect();
        assert_eq!(
            labels,
            [
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
                "transport"
            ]
        );
    }
}
