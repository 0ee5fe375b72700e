//! The `/metrics` page in the Prometheus text format, one named step per
//! family: requests, latency, the catalog, the feed, connections.

use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

use super::{unix_ms, Metrics, Outcome, RouteLabel, BUCKETS_NS};
use crate::feed::FailureReason;

impl Metrics {
    /// The page for `GET /metrics`, with requests counted under the
    /// routes `R` names.
    pub fn render<R: RouteLabel>(&self) -> String {
        let mut out = String::with_capacity(4096);
        self.render_requests::<R>(&mut out);
        self.render_latency(&mut out);
        self.render_catalog(&mut out);
        self.render_feed(&mut out);
        header(
            &mut out,
            "adserver_open_connections",
            "gauge",
            "Client connections open now, both listeners.",
        );
        let open = self.open_connections.load(Relaxed);
        let _ = writeln!(out, "adserver_open_connections {open}");
        out
    }

    fn render_requests<R: RouteLabel>(&self, w: &mut String) {
        header(
            w,
            "adserver_requests_total",
            "counter",
            "Requests answered, by route and outcome.",
        );
        for &route in R::ALL {
            for outcome in Outcome::ALL {
                let n = self.requests(route, outcome);
                if n > 0 || route.always_shown(outcome) {
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

    fn render_feed(&self, w: &mut String) {
        header(
            w,
            "adserver_feed_unchanged_total",
            "counter",
            "Refreshes answered 304 or with identical bytes; nothing rebuilt.",
        );
        let unchanged = self.refresh_unchanged();
        let _ = writeln!(w, "adserver_feed_unchanged_total {unchanged}");

        let last_ms = self.last_refresh_unix_ms.load(Relaxed);
        if last_ms > 0 {
            header(
                w,
                "adserver_feed_last_success_timestamp_seconds",
                "gauge",
                "When the live catalog was loaded (Unix time).",
            );
            let at = last_ms as f64 / 1e3;
            let _ = writeln!(w, "adserver_feed_last_success_timestamp_seconds {at}");
            header(
                w,
                "adserver_feed_age_seconds",
                "gauge",
                "Seconds since the feed last answered well (new catalog, 304 or same bytes).",
            );
            let age = unix_ms().saturating_sub(last_ms) as f64 / 1e3;
            let _ = writeln!(w, "adserver_feed_age_seconds {age}");
        }

        header(
            w,
            "adserver_feed_refresh_failures_total",
            "counter",
            "Feed loads that failed and kept the previous catalog, by reason.",
        );
        for reason in FailureReason::ALL
            .into_iter()
            .filter(|r| r.ends_a_feed_refresh())
        {
            let n = self.refresh_failures(reason);
            let _ = writeln!(
                w,
                "adserver_feed_refresh_failures_total{{reason=\"{reason}\"}} {n}"
            );
        }
    }
}

/// A family's `# HELP` and `# TYPE` lines.
pub fn header(w: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(w: &mut String, name: &str, help: &str, value: u64) {
    header(w, name, "gauge", help);
    let _ = writeln!(w, "{name} {value}");
}
