//! Counters for beacons: events accepted and repeated, by name, and
//! refused, by reason; rendered after the main metrics with the ledger's
//! own gauges (README "Delivery").

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::token::Reject;
use crate::ledger::{Event, Ledger};
use crate::metrics::header;

/// Why `/event` refused a beacon, as metrics labels.
const REASONS: [&str; 5] = ["missing", "malformed", "forged", "expired", "unknown_event"];

#[derive(Debug, Default)]
pub struct EventCounters {
    accepted: [AtomicU64; Event::ALL.len()],
    duplicate: [AtomicU64; Event::ALL.len()],
    rejected: [AtomicU64; REASONS.len()],
}

/// A refused beacon, for [`EventCounters::rejected`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No `t`.
    Missing,
    Token(Reject),
    /// `e` missing or not an event name.
    UnknownEvent,
}

impl EventCounters {
    pub fn accepted(&self, event: Event) {
        self.accepted[event.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn duplicate(&self, event: Event) {
        self.duplicate[event.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn rejected(&self, why: Refusal) {
        let i = match why {
            Refusal::Missing => 0,
            Refusal::Token(Reject::Malformed) => 1,
            Refusal::Token(Reject::Forged) => 2,
            Refusal::Token(Reject::Expired) => 3,
            Refusal::UnknownEvent => 4,
        };
        self.rejected[i].fetch_add(1, Relaxed);
    }

    /// Appends the beacon counters and `ledger`'s gauges to a `/metrics` page.
    pub fn render(&self, ledger: &Ledger, out: &mut String) {
        header(
            out,
            "adserver_events_total",
            "counter",
            "Beacons counted, by event.",
        );
        for event in Event::ALL.into_iter().filter(|e| *e != Event::Served) {
            let n = self.accepted[event.index()].load(Relaxed);
            let _ = writeln!(out, "adserver_events_total{{event=\"{event}\"}} {n}");
        }
        header(
            out,
            "adserver_events_duplicate_total",
            "counter",
            "Beacons not counted again: the same (serving_id, event) was seen within --event-ttl.",
        );
        for event in Event::ALL.into_iter().filter(|e| *e != Event::Served) {
            let n = self.duplicate[event.index()].load(Relaxed);
            let _ = writeln!(
                out,
                "adserver_events_duplicate_total{{event=\"{event}\"}} {n}"
            );
        }
        header(
            out,
            "adserver_events_rejected_total",
            "counter",
            "Beacons refused (403 or 400), by reason.",
        );
        for (i, reason) in REASONS.iter().enumerate() {
            let n = self.rejected[i].load(Relaxed);
            let _ = writeln!(
                out,
                "adserver_events_rejected_total{{reason=\"{reason}\"}} {n}"
            );
        }
        let budgets = ledger.budgets();
        let gauges: [(&str, &str, &str, u64); 8] = [
            (
                "adserver_ledger_pending",
                "gauge",
                "Counts counted here and not yet written to the ledger's store.",
                ledger.pending(),
            ),
            (
                "adserver_ledger_dropped_total",
                "counter",
                "Queued events dropped because the store stayed unreachable past the pending cap.",
                ledger.dropped(),
            ),
            (
                "adserver_ledger_flush_failures_total",
                "counter",
                "Ledger writes that failed (the batch is kept and retried).",
                ledger.flush_failures(),
            ),
            (
                "adserver_events_dedup_early_rotations_total",
                "counter",
                "Times the dedup filter filled before --event-ttl passed, so the dedup window shrank (raise the capacity).",
                ledger.dedup_early_rotations(),
            ),
            (
                "adserver_ledger_flushes_total",
                "counter",
                "Ledger writes that succeeded.",
                ledger.flush_ok(),
            ),
            (
                "adserver_budget_read_failures_total",
                "counter",
                "Budget syncs that could not read the fleet's impression counts (caps then follow --budget-on-store-failure).",
                budgets.read_failures(),
            ),
            (
                "adserver_frequency_pairs",
                "gauge",
                "(player, ad) pairs the frequency caps hold now (at most --frequency-cap-entries).",
                budgets.frequency.len() as u64,
            ),
            (
                "adserver_frequency_unshared_total",
                "counter",
                "Frequency-cap servings never sent to the other replicas (the outbox was full while the store was unreachable).",
                budgets.frequency.unshared(),
            ),
        ];
        for (name, kind, help, value) in gauges {
            header(out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
    }
}
