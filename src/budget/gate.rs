//! One ad's budget verdict ([`Gate`]), read by the request path with one
//! atomic load, and [`Budgets`], which hands out one gate per ad id (so a
//! reloaded catalog keeps its blocks) and remembers the fleet's counts as
//! last read from the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::frequency::FrequencyCaps;
use super::BudgetSettings;
use crate::ledger::Day;

/// Why an ad is or is not in the rotation, as of the last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Under every cap (or never judged yet).
    Open,
    /// `daily_cap` impressions today (UTC).
    DailyCap,
    /// `total_cap` impressions in all.
    TotalCap,
    /// `even` pacing: today's count is at the share of the day so far.
    Pacing,
    /// `--budget-on-store-failure closed` and the fleet counts are stale.
    StoreStale,
}

impl Verdict {
    const ALL: [Verdict; 5] = [
        Verdict::Open,
        Verdict::DailyCap,
        Verdict::TotalCap,
        Verdict::Pacing,
        Verdict::StoreStale,
    ];

    /// The name `/explain` and `/stats` use.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Open => "open",
            Verdict::DailyCap => "daily_cap",
            Verdict::TotalCap => "total_cap",
            Verdict::Pacing => "pacing",
            Verdict::StoreStale => "store_unreachable",
        }
    }
}

/// One ad's gate: blocked or not, and the counts it was judged on.
#[derive(Debug)]
pub struct Gate {
    blocked: AtomicBool,
    verdict: AtomicU8,
    today: AtomicU64,
    total: AtomicU64,
    /// The `even` pacing allowance at the last sync; `u64::MAX` for none.
    allowed: AtomicU64,
    /// Impressions the caps still allowed at the last sync (`u64::MAX`
    /// for no limit) ...
    room: AtomicU64,
    /// ... and impressions this replica accepted since: when they fill the
    /// room the ad blocks at once, without waiting for the next sync ...
    since: AtomicU64,
    /// ... for this reason (the cap that left the least room).
    full: AtomicU8,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            blocked: AtomicBool::new(false),
            verdict: AtomicU8::new(0),
            today: AtomicU64::new(0),
            total: AtomicU64::new(0),
            allowed: AtomicU64::new(u64::MAX),
            room: AtomicU64::new(u64::MAX),
            since: AtomicU64::new(0),
            full: AtomicU8::new(Verdict::Open as u8),
        }
    }
}

/// What a gate says, for `/explain` and `/stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GateView {
    pub verdict: Verdict,
    /// Fleet impressions today (UTC) plus this replica's unflushed ones.
    pub today: u64,
    /// The same over all days.
    pub total: u64,
    /// How many impressions `even` pacing allows by now, if it applies.
    pub allowed: Option<u64>,
}

impl Gate {
    /// Whether the ad is out of the rotation: the request path's one read.
    #[inline]
    pub fn is_blocked(&self) -> bool {
        // Relaxed: a verdict one request late is within the documented
        // overshoot; nothing else is published through these.
        self.blocked.load(Ordering::Relaxed)
            || self.since.load(Ordering::Relaxed) >= self.room.load(Ordering::Relaxed)
    }

    /// Counts an impression this replica accepted (README "Budgets": a
    /// replica's own impressions block an ad at once).
    pub fn impression(&self) {
        self.since.fetch_add(1, Ordering::Relaxed);
    }

    /// Impressions accepted here since the last sync, for the sync to
    /// take before it reads this replica's unflushed counts.
    pub(super) fn since(&self) -> u64 {
        self.since.load(Ordering::Relaxed)
    }

    /// A sync's judgement: `taken` is what [`Gate::since`] said before the
    /// counts were read (those are in `today` now), `room` what the caps
    /// still allow and `full` which cap blocks once it is used up.
    pub(super) fn set(
        &self,
        verdict: Verdict,
        (today, total): (u64, u64),
        allowed: Option<u64>,
        (room, full, taken): (u64, Verdict, u64),
    ) {
        self.full.store(full as u8, Ordering::Relaxed);
        let _ = self
            .since
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(taken))
            });
        self.room.store(room, Ordering::Relaxed);
        self.today.store(today, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        self.allowed
            .store(allowed.unwrap_or(u64::MAX), Ordering::Relaxed);
        self.verdict.store(verdict as u8, Ordering::Relaxed);
        self.blocked
            .store(verdict != Verdict::Open, Ordering::Relaxed);
    }

    /// The verdict and counts as of now: the last sync's, plus the
    /// impressions accepted here since (which may have filled the room).
    pub fn view(&self) -> GateView {
        let named = |v: &AtomicU8| {
            Verdict::ALL
                .get(usize::from(v.load(Ordering::Relaxed)))
                .copied()
                .unwrap_or(Verdict::Open)
        };
        let allowed = self.allowed.load(Ordering::Relaxed);
        let since = self.since.load(Ordering::Relaxed);
        let mut verdict = named(&self.verdict);
        if verdict == Verdict::Open && since >= self.room.load(Ordering::Relaxed) {
            verdict = named(&self.full);
        }
        GateView {
            verdict,
            today: self.today.load(Ordering::Relaxed) + since,
            total: self.total.load(Ordering::Relaxed) + since,
            allowed: (allowed != u64::MAX).then_some(allowed),
        }
    }
}

/// The fleet's impression counts of one ad, as last read from the store.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct FleetCounts {
    pub day: Day,
    pub today: u64,
    pub total: u64,
}

/// What the sync remembers between runs.
#[derive(Debug, Default)]
pub(super) struct FleetView {
    pub counts: HashMap<Arc<str>, FleetCounts>,
    /// When the store last answered; `None` before the first answer.
    pub last_read: Option<Instant>,
    /// Whether the last read failed (so an outage logs twice, not per sync).
    pub failing: bool,
}

/// Every ad's gate by id, the per-player counts, and the fleet view. One
/// per process, owned by the ledger (its counts are what decides).
pub struct Budgets {
    gates: Mutex<HashMap<Arc<str>, Arc<Gate>>>,
    pub frequency: FrequencyCaps,
    pub settings: BudgetSettings,
    pub(super) fleet: Mutex<FleetView>,
    pub(super) read_failures: AtomicU64,
    /// Held through a sync: the loop and `/stats` may both run one, and
    /// each takes [`Gate::since`] from the gates.
    pub(super) syncing: Mutex<()>,
    /// This process's id among the replicas sharing frequency caps.
    pub replica: u64,
    /// How far the other replicas' servings have been read.
    pub(super) servings_cursor: Mutex<String>,
    /// Whether the last servings exchange failed (to log twice per outage).
    pub(super) servings_failing: AtomicBool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Budgets {
    /// Gates and frequency caps; `shared`: the store shares frequency
    /// caps fleet-wide (Redis).
    pub fn new(settings: BudgetSettings, shared: bool) -> Budgets {
        let frequency = match shared {
            true => FrequencyCaps::shared(settings.frequency_entries),
            false => FrequencyCaps::new(settings.frequency_entries),
        };
        Budgets {
            gates: Mutex::new(HashMap::new()),
            frequency,
            settings,
            fleet: Mutex::new(FleetView::default()),
            read_failures: AtomicU64::new(0),
            syncing: Mutex::new(()),
            replica: fastrand::u64(..),
            servings_cursor: Mutex::new(String::new()),
            servings_failing: AtomicBool::new(false),
        }
    }

    /// The gate of ad `id`, created open on first use. Called when a
    /// catalog is bound, never per request.
    pub fn gate(&self, id: &str) -> Arc<Gate> {
        let mut gates = lock(&self.gates);
        if let Some(g) = gates.get(id) {
            return g.clone();
        }
        let g = Arc::new(Gate::default());
        gates.insert(Arc::from(id), g.clone());
        g
    }

    /// Counts an impression of `id` accepted here on its gate, if it has
    /// one (called by `/event`; a lock and a lookup, never per request).
    pub fn impression(&self, id: &str) {
        let gates = lock(&self.gates);
        if let Some(gate) = gates.get(id) {
            gate.impression();
        }
    }

    /// Store reads that failed during syncs.
    pub fn read_failures(&self) -> u64 {
        self.read_failures.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Budgets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budgets")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}
