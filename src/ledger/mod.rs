//! The delivery ledger: per UTC day and ad, `served` and each player event,
//! counted in process and written in batches to a [`store`].
//!
//! - The request path calls [`AdTally::served`] on a tally the catalog got
//!   from [`Ledger::tally`] on the ad's first answer: atomics only, no
//!   lock, no allocation after that. A reloaded catalog asks again by ad
//!   id and gets the same tally, so no count is left behind in an old
//!   catalog, and an ad never answered has no tally at all.
//! - `/event` calls [`Ledger::record_event`]: local dedup in fixed memory
//!   ([`dedup`]), then a tally bump, or (Redis) a queued event that the
//!   store deduplicates fleet-wide when it is flushed.
//! - The [`Flusher`] thread calls [`Ledger::flush_now`] every interval: it
//!   drains the tallies into one [`Batch`] with a fresh random id and
//!   writes it. A batch that fails stays the one pending batch and is sent
//!   again, same id, before anything new is drained; stores apply an id at
//!   most once, so a retry never counts twice. New counts wait in the
//!   tallies meanwhile (fixed memory per ad); queued Redis events are capped
//!   at `max_pending`, oldest dropped and counted in [`Ledger::dropped`].
//! - `/stats` calls [`Ledger::stats`], which reads the store only: what was
//!   written, fleet-wide with Redis, so every replica answers the same.
//!   Counts still in this process (at most one interval, or an outage's
//!   worth) are not shown; [`Ledger::pending`] says how many there are.
//!
//! - The budget sync ([`crate::budget::sync`]) calls [`Ledger::unflushed`]
//!   (this process's counts not yet in the store, including the pending
//!   batch) and [`Ledger::budget_counts`] (the store's, fleet-wide with
//!   Redis); the gates it sets live in [`Ledger::budgets`].
//!
//! Nothing here touches the network on the request path or on `/event`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::budget::{BudgetSettings, Budgets};

pub mod dedup;
pub mod event;
mod flusher;
pub mod render;
pub mod spec;
pub mod store;
pub mod tally;

pub use dedup::DedupConfig;
pub use event::{AdCounts, Day, Event};
pub use flusher::Flusher;
pub use spec::LedgerSpec;
pub use store::{Batch, Store, StoreError};
pub use tally::AdTally;

/// Everything the ledger is built from; `main` fills it from the flags.
#[derive(Clone, Debug)]
pub struct LedgerConfig {
    /// `--ledger`.
    pub spec: LedgerSpec,
    /// `--ledger-flush-interval` (default 1 s).
    pub flush_interval: Duration,
    /// Dedup sizing; its `ttl` is `--event-ttl`.
    pub dedup: DedupConfig,
    /// The most events queued for a fleet-wide store while it is down (the
    /// pending batch may hold as many again).
    pub max_pending: usize,
    /// Budget sync and frequency-cap settings (README "Budgets").
    pub budget: BudgetSettings,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            spec: LedgerSpec::Memory,
            flush_interval: Duration::from_secs(1),
            dedup: DedupConfig::default(),
            max_pending: 1_000_000,
            budget: BudgetSettings::default(),
        }
    }
}

/// What `/event` did with an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    /// Counted here, or queued for the fleet-wide store to count once.
    Accepted,
    /// The same `(serving_id, event)` was seen within the TTL.
    Duplicate,
}

type QueuedEvent = (Day, Arc<str>, Event, [u8; 16]);

/// `(day, ad, event, n)`: one count of a batch, as the budget sync reads it.
pub type Count = (Day, Arc<str>, Event, u64);

/// The ledger of one process. Shared as `Arc<Ledger>`.
pub struct Ledger {
    store: Box<dyn Store>,
    fleet_dedup: bool,
    max_pending: usize,
    tallies: Mutex<HashMap<Arc<str>, Arc<AdTally>>>,
    dedup: Mutex<dedup::Dedup>,
    queued: Mutex<VecDeque<QueuedEvent>>,
    /// The batch being written; held across the write so flushes are serial.
    pending: Mutex<Option<Batch>>,
    /// The pending batch's total, readable while a write holds `pending`
    /// (a metrics scrape must not wait on a slow store).
    pending_total: AtomicU64,
    /// The pending batch's counts of each event, readable while a write
    /// holds `pending` (the budget sync must not wait on a slow store).
    pending_view: Mutex<Vec<Count>>,
    budgets: Budgets,
    flush_ok: AtomicU64,
    /// Whether the last flush failed (so an outage logs twice, not per tick).
    failing: AtomicBool,
    flush_failures: AtomicU64,
    dropped: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Ledger {
    /// A ledger over `store`, without a flusher thread (tests, or a caller
    /// that flushes itself).
    pub fn new(store: Box<dyn Store>, config: &LedgerConfig) -> Ledger {
        Ledger {
            budgets: Budgets::new(config.budget, store.shares_servings()),
            fleet_dedup: store.dedups_fleet_wide(),
            store,
            max_pending: config.max_pending.max(1),
            tallies: Mutex::new(HashMap::new()),
            dedup: Mutex::new(dedup::Dedup::new(config.dedup)),
            queued: Mutex::new(VecDeque::new()),
            pending: Mutex::new(None),
            pending_total: AtomicU64::new(0),
            pending_view: Mutex::new(Vec::new()),
            flush_ok: AtomicU64::new(0),
            failing: AtomicBool::new(false),
            flush_failures: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    /// Opens the store `config.spec` names and starts the flusher thread.
    pub fn start(config: &LedgerConfig) -> Result<(Arc<Ledger>, Flusher), StoreError> {
        let store = store::open(&config.spec, config.dedup.ttl.as_secs())?;
        let ledger = Arc::new(Ledger::new(store, config));
        let flusher = Flusher::spawn(ledger.clone(), config.flush_interval)
            .map_err(|e| StoreError::Corrupt(format!("cannot start the flusher thread: {e}")))?;
        Ok((ledger, flusher))
    }

    /// The tally for ad `id`, created on first use. Called on an ad's
    /// first answer in a catalog (it takes a lock), never after.
    pub fn tally(&self, id: &str) -> Arc<AdTally> {
        let mut map = lock(&self.tallies);
        if let Some(t) = map.get(id) {
            return t.clone();
        }
        let t = Arc::new(AdTally::default());
        map.insert(Arc::from(id), t.clone());
        t
    }

    /// Counts a verified player event once per `(serving_id, event)`.
    /// `day` should be the serving's day (from the token) so that repeats
    /// around midnight meet the same dedup key in Redis.
    pub fn record_event(
        &self,
        serving_id: [u8; 16],
        ad: &str,
        day: Day,
        event: Event,
    ) -> EventOutcome {
        if !lock(&self.dedup).first_time(&serving_id, event, Instant::now()) {
            return EventOutcome::Duplicate;
        }
        if event == Event::Impression {
            self.budgets.impression(ad);
        }
        if self.fleet_dedup {
            let ad = self.ad_name(ad);
            let mut q = lock(&self.queued);
            if q.len() >= self.max_pending {
                q.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back((day, ad, event, serving_id));
        } else {
            self.tally(ad).bump(day, event);
        }
        EventOutcome::Accepted
    }

    /// The shared name of `ad`, so queued events do not each copy the id.
    fn ad_name(&self, ad: &str) -> Arc<str> {
        self.tally(ad);
        lock(&self.tallies)
            .get_key_value(ad)
            .map(|(k, _)| k.clone())
            .unwrap_or_else(|| Arc::from(ad))
    }

    /// Writes the pending batch if there is one, then drains and writes
    /// what was counted since. Errors leave the batch pending, same id.
    pub fn flush_now(&self) -> Result<(), StoreError> {
        let mut pending = lock(&self.pending);
        // A retried batch first, then at most one fresh one: counts made
        // during the write wait for the next interval.
        for _ in 0..2 {
            if pending.is_none() {
                let batch = self.drain();
                if batch.counts.is_empty() && batch.events.is_empty() {
                    return Ok(());
                }
                self.pending_total.store(batch.total(), Ordering::Relaxed);
                *lock(&self.pending_view) = batch.per_event();
                *pending = Some(batch);
            }
            let batch = pending.as_ref().expect("set above");
            match self.store.apply(batch) {
                Ok(()) => {
                    *pending = None;
                    self.pending_total.store(0, Ordering::Relaxed);
                    lock(&self.pending_view).clear();
                    self.flush_ok.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.flush_failures.fetch_add(1, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// [`Ledger::flush_now`] for the flusher thread: logs when writes start
    /// failing and when they recover, not once per interval of an outage.
    pub(crate) fn flush_logged(&self) {
        match self.flush_now() {
            Err(e) if !self.failing.swap(true, Ordering::Relaxed) => {
                tracing::warn!(error = %e, pending = self.pending(), "ledger flush failed; counts kept and retried every interval");
            }
            Ok(()) if self.failing.swap(false, Ordering::Relaxed) => {
                tracing::info!(
                    failures = self.flush_failures(),
                    "ledger flush recovered; pending counts written"
                );
            }
            _ => {}
        }
    }

    fn drain(&self) -> Batch {
        let mut batch = Batch {
            id: fastrand::u128(..),
            ..Batch::default()
        };
        for (ad, tally) in lock(&self.tallies).iter() {
            tally.drain(|day, event, n| batch.counts.push((day, ad.clone(), event, n)));
        }
        batch.events = lock(&self.queued).drain(..).collect();
        batch
    }

    /// Every ad with a count on `day` (only `ad`, if given), by id, as the
    /// store has it. Blocks on the store: call from a blocking task.
    pub fn stats(&self, day: Day, ad: Option<&str>) -> Result<Vec<AdCounts>, StoreError> {
        self.store.read(day, ad)
    }

    /// The budget gates, the fleet counts last read and the per-player
    /// counts (README "Budgets").
    pub fn budgets(&self) -> &Budgets {
        &self.budgets
    }

    /// `(ad, day, n)`: this process's counts of `event` not yet in the
    /// store: undrained tallies, queued events and the pending batch. An ad
    /// may appear more than once. Takes short locks, never the store's.
    pub fn unflushed(&self, event: Event) -> Vec<(Arc<str>, Day, u64)> {
        let mut out = Vec::new();
        for (ad, tally) in lock(&self.tallies).iter() {
            tally.undrained_of(event, |day, n| out.push((ad.clone(), day, n)));
        }
        out.extend(
            lock(&self.queued)
                .iter()
                .filter(|q| q.2 == event)
                .map(|q| (q.1.clone(), q.0, 1)),
        );
        out.extend(
            lock(&self.pending_view)
                .iter()
                .filter(|p| p.2 == event)
                .map(|p| (p.1.clone(), p.0, p.3)),
        );
        out
    }

    /// Each of `ads`' impressions in the store: `(on today, over all
    /// days)`, in the order given. Blocks on the store.
    pub fn budget_counts(&self, today: Day, ads: &[&str]) -> Result<Vec<(u64, u64)>, StoreError> {
        self.store.budget_counts(today, ads)
    }

    /// Sends this replica's frequency-cap servings (see
    /// [`Store::send_servings`]). Blocks on the store.
    pub fn send_servings(
        &self,
        servings: &[crate::budget::frequency::Servings],
        keep_hours: u32,
    ) -> Result<(), StoreError> {
        self.store
            .send_servings(self.budgets.replica, servings, keep_hours)
    }

    /// The other replicas' servings after `cursor` (see
    /// [`Store::read_servings`]). Blocks on the store.
    pub fn read_servings(
        &self,
        cursor: &mut String,
        limit: usize,
    ) -> Result<Vec<crate::budget::frequency::Servings>, StoreError> {
        self.store
            .read_servings(self.budgets.replica, cursor, limit)
    }

    /// Counts not yet written: the pending batch, queued events and the
    /// tallies' undrained counts.
    pub fn pending(&self) -> u64 {
        let batch = self.pending_total.load(Ordering::Relaxed);
        let queued = lock(&self.queued).len() as u64;
        let tallies: u64 = lock(&self.tallies).values().map(|t| t.undrained()).sum();
        batch + queued + tallies
    }

    /// Events dropped because the queue for a down store was full.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Writes that failed (each retried later).
    pub fn flush_failures(&self) -> u64 {
        self.flush_failures.load(Ordering::Relaxed)
    }

    /// Batches written.
    pub fn flush_ok(&self) -> u64 {
        self.flush_ok.load(Ordering::Relaxed)
    }

    /// Times a dedup filter filled before its TTL (the dedup window was
    /// shorter than the TTL then).
    pub(crate) fn dedup_early_rotations(&self) -> u64 {
        lock(&self.dedup).early_rotations()
    }
}

#[cfg(test)]
mod tests;
