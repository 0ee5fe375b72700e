//! The `/metrics` page: [`Metrics`] written out in the Prometheus text
//! format, one family after another. Runs once per scrape, so it may
//! allocate; it only reads the counters and never changes them.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::{unix_ms, Metrics, Outcome, Route, BUCKETS_NS, REFRESH_FAILURE_REASONS};

impl Metrics {
    /// The page for `GET /metrics`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let w = &mut out;
        self.render_requests(w);
        self.render_latency(w);
        self.render_catalog(w);
        self.render_feed_freshness(w);
        self.render_refresh_failures(w);
        self.render_connections(w);
        out
    }

    fn render_requests(&self, w: &mut String) {
        header(
            w,
            "adserver_requests_total",
            "counter",
            "Requests answered, by route and outcome.",
        );
        for route in Route::ALL {
            for outcome in Outcome::ALL {
                let n = self.requests(route, outcome);
                // Every ad_request outcome always, so dashboards see zeros;
                // the rest once they happen.
                if n > 0
                    || route == Route::AdRequest
                        && outcome != Outcome::Ok
                        && outcome != Outcome::NotFound
                {
                    let _ = writeln!(
                        w,
                        "adserver_requests_total{{route=\"{}\",outcome=\"{}\"}} {n}",
                        route.label(),
                        outcome.label()
                    );
                }
            }
        }
    }

    fn render_latency(&self, w: &mut String) {
        header(
            w,
            "adserver_request_duration_seconds",
            "histogram",
            "Time from request head parsed to response built.",
        );
        let mut cumulative = 0;
        for (i, bound) in BUCKETS_NS.iter().enumerate() {
            cumulative += self.latency_buckets[i].load(Relaxed);
            let le = *bound as f64 / 1e9;
            let _ = writeln!(
                w,
                "adserver_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.latency_buckets[BUCKETS_NS.len()].load(Relaxed);
        let _ = writeln!(
            w,
            "adserver_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let sum = self.latency_sum_ns.load(Relaxed) as f64 / 1e9;
        let _ = writeln!(w, "adserver_request_duration_seconds_sum {sum}");
        let _ = writeln!(w, "adserver_request_duration_seconds_count {cumulative}");
    }

    fn render_catalog(&self, w: &mut String) {
        gauge(
            w,
            "adserver_catalog_ads",
            "Valid ads in the live catalog.",
            self.catalog_ads.load(Relaxed),
        );
        gauge(
            w,
            "adserver_catalog_skipped_ads",
            "Feed entries skipped by validation in the live catalog's feed.",
            self.catalog_skipped.load(Relaxed),
        );
        gauge(
            w,
            "adserver_catalog_version",
            "Catalogs loaded since start; 0 until the first.",
            self.catalog_version(),
        );

        gauge(
            w,
            "adserver_catalog_stale",
            "1 while the live catalog comes from the snapshot because the feed is unreachable.",
            u64::from(self.is_stale()),
        );
    }

    /// When the feed last answered well; the timestamp and age only once
    /// it has.
    fn render_feed_freshness(&self, w: &mut String) {
        header(
            w,
            "adserver_feed_unchanged_total",
            "counter",
            "Refreshes answered 304 or with identical bytes; nothing rebuilt.",
        );
        let _ = writeln!(
            w,
            "adserver_feed_unchanged_total {}",
            self.refresh_unchanged()
        );

        let last_ms = self.last_refresh_unix_ms.load(Relaxed);
        if last_ms > 0 {
            header(
                w,
                "adserver_feed_last_success_timestamp_seconds",
                "gauge",
                "When the live catalog was loaded (Unix time).",
            );
            let _ = writeln!(
                w,
                "adserver_feed_last_success_timestamp_seconds {}",
                last_ms as f64 / 1e3
            );
            let now_ms = unix_ms();
            header(
                w,
                "adserver_feed_age_seconds",
                "gauge",
                "Seconds since the feed last answered well (new catalog, 304 or same bytes).",
            );
            let _ = writeln!(
                w,
                "adserver_feed_age_seconds {}",
                now_ms.saturating_sub(last_ms) as f64 / 1e3
            );
        }
    }

    fn render_refresh_failures(&self, w: &mut String) {
        header(
            w,
            "adserver_feed_refresh_failures_total",
            "counter",
            "Feed loads that failed and kept the previous catalog, by reason.",
        );
        for (i, reason) in REFRESH_FAILURE_REASONS.iter().enumerate() {
            let n = self.refresh_failures[i].load(Relaxed);
            let _ = writeln!(
                w,
                "adserver_feed_refresh_failures_total{{reason=\"{reason}\"}} {n}"
            );
        }
    }

    fn render_connections(&self, w: &mut String) {
        header(
            w,
            "adserver_open_connections",
            "gauge",
            "Client connections open now, both listeners.",
        );
        let _ = writeln!(
            w,
            "adserver_open_connections {}",
            self.open_connections.load(Relaxed)
        );
    }
}

fn header(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(w: &mut String, name: &str, help: &str, value: u64) {
    header(w, name, "gauge", help);
    let _ = writeln!(w, "{name} {value}");
}
