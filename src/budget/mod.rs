//! Budgets (README "Budgets"): an ad's `daily_cap`, `total_cap`, `pacing`
//! and `frequency_cap`, and what makes a capped ad leave the rotation.
//!
//! - [`Budget`] is what the feed says, validated in `feed` and kept per ad
//!   in the catalog.
//! - [`Gate`] is one ad's verdict, an atomic the request path reads
//!   ([`Catalog::select`](crate::catalog::Catalog::select) skips a blocked
//!   ad); [`Budgets`] shares one gate per ad id across catalog reloads, as the
//!   ledger shares tallies.
//! - [`sync`] is the loop that sets the gates every
//!   `--budget-sync-interval`: the fleet's impression counts from the
//!   ledger's store plus this replica's unflushed ones, judged by
//!   [`pacing`]. It is the only part that waits on the network.
//! - [`frequency`] counts what each player was served, in bounded memory
//!   on this replica.
//!
//! The request path reads atomics (and, for a request with a `uid` and a
//! frequency-capped ad, one bounded map); it never waits on a store.

pub mod frequency;
mod gate;
pub mod pacing;
pub mod sync;

use std::fmt;
use std::time::Duration;

pub use frequency::{FrequencyCaps, Player};
pub use gate::{Budgets, Gate, GateView, Verdict};
pub use sync::{sync_now, BudgetSync};

/// An ad's budget as the feed gives it; every part optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// Impressions per UTC day, fleet-wide.
    pub daily_cap: Option<u64>,
    /// Impressions ever, fleet-wide.
    pub total_cap: Option<u64>,
    pub pacing: Pacing,
    /// At most `count` impressions per player in `hours` hours.
    pub frequency_cap: Option<FrequencyCap>,
}

impl Budget {
    /// True when the fleet's impression counts decide this ad's fate.
    pub fn counts_fleet(&self) -> bool {
        self.daily_cap.is_some() || self.total_cap.is_some()
    }

    /// True when nothing limits this ad.
    pub fn is_unlimited(&self) -> bool {
        !self.counts_fleet() && self.frequency_cap.is_none()
    }
}

/// How a day's cap is spent: `asap` (as fast as requests come) or `even`
/// (spread over the ad's eligible hours of the UTC day).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Pacing {
    #[default]
    Asap,
    Even,
}

impl Pacing {
    pub fn name(self) -> &'static str {
        match self {
            Pacing::Asap => "asap",
            Pacing::Even => "even",
        }
    }
}

/// `{"count":N,"hours":H}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrequencyCap {
    pub count: u32,
    pub hours: u32,
}

/// The longest frequency-cap window: 30 days.
pub const MAX_FREQUENCY_HOURS: u32 = 720;

/// `--budget-on-store-failure`: what capped ads do while the fleet's
/// counts cannot be read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OnStoreFailure {
    /// Keep serving on the last known fleet counts plus this replica's.
    #[default]
    Open,
    /// Block every capped ad once the fleet counts are older than
    /// [`STALE_AFTER_SYNCS`] sync intervals.
    Closed,
}

impl fmt::Display for OnStoreFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OnStoreFailure::Open => "open",
            OnStoreFailure::Closed => "closed",
        })
    }
}

/// Fleet counts older than this many sync intervals are stale: under
/// `closed` every capped ad is blocked until a read succeeds again.
pub const STALE_AFTER_SYNCS: u32 = 3;

/// The budget settings `main` fills from the flags.
#[derive(Debug, Clone, Copy)]
pub struct BudgetSettings {
    /// `--budget-sync-interval` (default 1 s).
    pub sync_interval: Duration,
    /// `--budget-on-store-failure` (default open).
    pub on_store_failure: OnStoreFailure,
    /// `--frequency-cap-entries`: (player, ad) pairs remembered at most.
    pub frequency_entries: usize,
}

impl Default for BudgetSettings {
    fn default() -> Self {
        BudgetSettings {
            sync_interval: Duration::from_secs(1),
            on_store_failure: OnStoreFailure::Open,
            frequency_entries: frequency::DEFAULT_ENTRIES,
        }
    }
}
