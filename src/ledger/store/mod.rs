//! Where flushed counts live, behind one trait: [`Store::apply`] writes a
//! [`Batch`] at most once per batch id, [`Store::read`] answers `/stats`.
//!
//! Backends: [`memory`] (this process), [`sqlite`] (a durable file),
//! [`redis`] (one server or a cluster; fleet-wide counts and dedup). All
//! calls block: they run on the flusher thread, or on a blocking task for
//! `/stats`, never on the request path.

use std::sync::Arc;

use super::event::{AdCounts, Day, Event};
use super::spec::LedgerSpec;
use crate::budget::frequency::Servings;

pub mod memory;
pub mod redis;
pub mod sqlite;

/// Counts drained from this process in one flush, under one id. A retry
/// sends the same batch (same id), so a store that already applied it
/// applies nothing.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// Random and unique per batch: the idempotency key.
    pub id: u128,
    /// `(day, ad, event, n)`: already deduplicated counts.
    pub counts: Vec<(Day, Arc<str>, Event, u64)>,
    /// `(day, ad, event, serving_id)`: events a fleet-wide store still has
    /// to deduplicate (Redis); empty for the other stores.
    pub events: Vec<(Day, Arc<str>, Event, [u8; 16])>,
}

impl Batch {
    /// How many counts this batch carries (each event counts as one).
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.3).sum::<u64>() + self.events.len() as u64
    }

    /// The id as 32 hex digits, as stores key it.
    pub(crate) fn id_hex(&self) -> String {
        format!("{:032x}", self.id)
    }

    /// `(day, ad, event, n)` with each event counted as one, for the
    /// budget sync's view of a batch being written.
    pub fn per_event(&self) -> Vec<super::Count> {
        self.counts
            .iter()
            .cloned()
            .chain(self.events.iter().map(|e| (e.0, e.1.clone(), e.2, 1)))
            .collect()
    }

    /// The distinct days in this batch, in order.
    pub fn days(&self) -> Vec<Day> {
        let mut days: Vec<Day> = self
            .counts
            .iter()
            .map(|c| c.0)
            .chain(self.events.iter().map(|e| e.0))
            .collect();
        days.sort_unstable();
        days.dedup();
        days
    }
}

/// A store that could not be reached or refused the write; the batch stays
/// pending and is retried.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite ledger: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("redis ledger: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("ledger store: {0}")]
    Corrupt(String),
}

/// A place flushed counts are written to and read from.
pub trait Store: Send + Sync {
    /// Adds the batch's counts unless a batch with this id was applied
    /// before (then succeeds doing nothing). All or nothing per day.
    fn apply(&self, batch: &Batch) -> Result<(), StoreError>;

    /// Every ad with a count on `day` (only `ad`, if given), sorted by id.
    fn read(&self, day: Day, ad: Option<&str>) -> Result<Vec<AdCounts>, StoreError>;

    /// Each of `ads`' `impression` counts: `(on today, over all days)`, in
    /// the order given (zeros for an ad with none). For the budget sync.
    fn budget_counts(&self, today: Day, ads: &[&str]) -> Result<Vec<(u64, u64)>, StoreError>;

    /// True when the store deduplicates events itself, fleet-wide (the
    /// ledger then sends serving ids in [`Batch::events`]).
    fn dedups_fleet_wide(&self) -> bool {
        false
    }

    /// True when frequency-cap servings are kept in this store (Redis,
    /// shared fleet-wide; SQLite, kept across restarts): the budget sync
    /// then calls [`Store::send_servings`] and
    /// [`Store::read_servings`].
    fn shares_servings(&self) -> bool {
        false
    }

    /// Appends what replica `from` served, kept for `keep_hours` (the
    /// longest frequency-cap window in use; older servings are trimmed).
    fn send_servings(
        &self,
        _from: u64,
        _servings: &[Servings],
        _keep_hours: u32,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// The servings the other replicas (all but `me`) sent after `cursor`.
    /// Reads at most `limit` sends and moves the cursor past each (this
    /// replica's own included), so an unchanged cursor means caught up; a
    /// fresh cursor ([`String::new`]) reads every serving still kept.
    fn read_servings(
        &self,
        _me: u64,
        _cursor: &mut String,
        _limit: usize,
    ) -> Result<Vec<Servings>, StoreError> {
        Ok(Vec::new())
    }
}

/// Servings per send (stream entry, table row): a large outbox (a store
/// outage's worth) goes as several sends of at most 280 KB.
pub(crate) const SERVINGS_PER_SEND: usize = 10_000;

/// How a store names replica `id` beside the servings it sent.
pub(crate) fn replica_name(id: u64) -> String {
    format!("{id:016x}")
}

/// The oldest send (Unix milliseconds) still worth keeping when the
/// longest frequency-cap window is `keep_hours`.
pub(crate) fn servings_kept_since_ms(keep_hours: u32) -> u64 {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    now_ms.saturating_sub(u64::from(keep_hours.max(1)) * 3_600_000)
}

/// Opens the store `spec` names. Redis is contacted lazily: a server that
/// is down at start leaves counts pending until it is up.
pub fn open(spec: &LedgerSpec, event_ttl_secs: u64) -> Result<Box<dyn Store>, StoreError> {
    Ok(match spec {
        LedgerSpec::Memory => Box::new(memory::MemoryStore::default()),
        LedgerSpec::Sqlite(path) => Box::new(sqlite::SqliteStore::open(path)?),
        LedgerSpec::Redis { url } => Box::new(redis::RedisStore::single(url, event_ttl_secs)?),
        LedgerSpec::RedisCluster { nodes } => {
            Box::new(redis::RedisStore::cluster(nodes, event_ttl_secs)?)
        }
    })
}

/// Rows from a map keyed by ad, filtered and sorted as `/stats` wants.
pub(crate) fn rows(
    map: std::collections::BTreeMap<String, AdCounts>,
    ad: Option<&str>,
) -> Vec<AdCounts> {
    map.into_values()
        .filter(|r| ad.map_or(true, |a| r.id == a) && r.counts.iter().any(|&n| n > 0))
        .collect()
}
