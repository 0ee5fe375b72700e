//! The budget sync: every `--budget-sync-interval`, each fleet-capped ad of
//! the live catalog is judged on the fleet's impression counts (read from
//! the ledger's store) plus this replica's not yet flushed ones, and its
//! [`Gate`](super::Gate) set. Runs on its own thread: a store read blocks,
//! and nothing on the request path ever waits for it.
//!
//! This replica's unflushed counts are read before the store: a flush that
//! lands in between is then counted twice for one sync (an ad blocks a
//! moment early), never missed (an ad would serve past its cap).
//!
//! With a store that shares frequency caps (Redis), the same thread
//! exchanges servings [`EXCHANGES_PER_SYNC`] times per interval
//! ([`exchange_servings`]): this replica's go out, the others' are merged
//! into the per-player map.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use chrono::{DateTime, Utc};

use super::gate::{lock, FleetCounts};
use super::{pacing, OnStoreFailure, Pacing, Verdict, MAX_FREQUENCY_HOURS, STALE_AFTER_SYNCS};
use crate::background::Periodic;
use crate::catalog::{AdFacts, Catalog};
use crate::clock::Clock;
use crate::ledger::{Day, Event, Ledger};
use crate::state::State;

/// Judges every fleet-capped ad of `state`'s live catalog now. The loop
/// calls this every interval; tests call it to make a sync happen at once.
/// Blocks on the store: not for the request path.
pub fn sync_now(state: &State) {
    let catalog = state.catalog.load();
    exchange_servings(catalog.as_deref(), &state.delivery.ledger, &*state.clock);
    if let Some(catalog) = &*catalog {
        sync(catalog, &state.delivery.ledger, &*state.clock);
    }
}

/// Servings exchanges per `--budget-sync-interval`: a player's servings on
/// one replica reach the others within about a quarter of an interval
/// plus one.
pub const EXCHANGES_PER_SYNC: u32 = 4;

/// Sends (stream entries, table rows) read per store call while catching
/// up: at most 100 × 10,000 servings, 28 MB, held at once.
const SERVINGS_READ_BATCH: usize = 100;

/// Store calls one exchange makes at most while catching up (a replica
/// that starts reads a longer kept stream over several exchanges).
const SERVINGS_READS_PER_EXCHANGE: usize = 1_000;

/// Sends this replica's frequency-cap servings to the store and merges the
/// other replicas' into the per-player map. Does nothing unless the store
/// shares them (Redis). Blocks on the store; servings it could not send
/// are kept (within the outbox's bound) for the next exchange.
pub fn exchange_servings(catalog: Option<&Catalog>, ledger: &Ledger, clock: &dyn Clock) {
    let budgets = ledger.budgets();
    let caps = &budgets.frequency;
    if !caps.is_shared() {
        return;
    }
    let longest = catalog.and_then(Catalog::longest_frequency_window);
    let outgoing = caps.take_outbox();
    if longest.is_none() && outgoing.is_empty() {
        // No frequency cap to enforce: no store round trip. The cursor
        // stays where it is; a feed with caps catches up from there.
        return;
    }
    let keep_hours = longest.unwrap_or(MAX_FREQUENCY_HOURS);
    let now_hour = u32::try_from(clock.now().timestamp() / 3600).unwrap_or(0);
    let mut result = match outgoing.is_empty() {
        true => Ok(()),
        false => ledger.send_servings(&outgoing, keep_hours),
    };
    if result.is_err() {
        caps.requeue(outgoing);
    } else {
        let mut cursor = lock(&budgets.servings_cursor);
        for _ in 0..SERVINGS_READS_PER_EXCHANGE {
            let before = cursor.clone();
            match ledger.read_servings(&mut cursor, SERVINGS_READ_BATCH) {
                Ok(servings) => servings.into_iter().for_each(|s| caps.merge(s, now_hour)),
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            if *cursor == before {
                break; // caught up
            }
        }
    }
    let failing = &budgets.servings_failing;
    match result {
        Err(e) if !failing.swap(true, std::sync::atomic::Ordering::Relaxed) => {
            tracing::warn!(
                error = %e,
                "cannot exchange frequency-cap servings with the other replicas; \
                 each counts its own until the store answers"
            );
        }
        Ok(()) if failing.swap(false, std::sync::atomic::Ordering::Relaxed) => {
            tracing::info!("frequency-cap servings exchanged again");
        }
        _ => {}
    }
}

/// [`sync_now`] for one catalog.
pub fn sync(catalog: &Catalog, ledger: &Ledger, clock: &dyn Clock) {
    let capped: Vec<_> = catalog.fleet_capped().collect();
    if capped.is_empty() {
        return;
    }
    let _one_at_a_time = lock(&ledger.budgets().syncing);
    let now = clock.now();
    let today = Day::from_unix_secs(u64::try_from(now.timestamp()).unwrap_or(0));
    // Before the unflushed counts: an impression accepted in between is
    // then in both (blocks a moment early), never in neither.
    let taken: Vec<u64> = capped.iter().map(|(_, gate)| gate.since()).collect();
    let mut local: HashMap<Arc<str>, (u64, u64)> = HashMap::new();
    for (ad, day, n) in ledger.unflushed(Event::Impression) {
        let counts = local.entry(ad).or_default();
        if day == today {
            counts.0 += n;
        }
        counts.1 += n;
    }
    let ids: Vec<&str> = capped.iter().map(|(ad, _)| &*ad.id).collect();
    let read = ledger.budget_counts(today, &ids);
    let budgets = ledger.budgets();
    let mut fleet = lock(&budgets.fleet);
    match read {
        Ok(rows) => {
            for (id, (on_day, total)) in ids.iter().zip(rows) {
                let counts = FleetCounts {
                    day: today,
                    today: on_day,
                    total,
                };
                match fleet.counts.get_mut(*id) {
                    Some(known) => *known = counts,
                    None => {
                        fleet.counts.insert(Arc::from(*id), counts);
                    }
                }
            }
            fleet.last_read = Some(Instant::now());
            if std::mem::take(&mut fleet.failing) {
                tracing::info!("budget counts readable again; caps follow the fleet");
            }
        }
        Err(e) => {
            budgets
                .read_failures
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if !std::mem::replace(&mut fleet.failing, true) {
                tracing::warn!(
                    error = %e,
                    on_store_failure = %budgets.settings.on_store_failure,
                    "cannot read the fleet's budget counts; caps use the last known counts plus this replica's"
                );
            }
        }
    }
    let stale_after = budgets.settings.sync_interval * STALE_AFTER_SYNCS;
    let stale = budgets.settings.on_store_failure == OnStoreFailure::Closed
        && fleet
            .last_read
            .map_or(true, |at| at.elapsed() > stale_after);
    for ((ad, gate), taken) in capped.into_iter().zip(taken) {
        let known = fleet.counts.get(&*ad.id).copied().unwrap_or_default();
        let fleet_today = if known.day == today { known.today } else { 0 };
        let (local_today, local_total) = local.get(&*ad.id).copied().unwrap_or_default();
        let (on_day, total) = (fleet_today + local_today, known.total + local_total);
        let allowed = pacing_allowance(ad, clock, now);
        let budget = ad.budget;
        let verdict = if stale {
            Verdict::StoreStale
        } else if budget.total_cap.is_some_and(|cap| total >= cap) {
            Verdict::TotalCap
        } else if budget.daily_cap.is_some_and(|cap| on_day >= cap) {
            Verdict::DailyCap
        } else if allowed.is_some_and(|allowed| on_day >= allowed) {
            Verdict::Pacing
        } else {
            Verdict::Open
        };
        let left =
            |cap: Option<u64>, used: u64| cap.map_or(u64::MAX, |cap| cap.saturating_sub(used));
        let (room, full) = [
            (left(budget.total_cap, total), Verdict::TotalCap),
            (left(budget.daily_cap, on_day), Verdict::DailyCap),
            (left(allowed, on_day), Verdict::Pacing),
        ]
        .into_iter()
        .min_by_key(|(room, _)| *room)
        .expect("three candidates");
        gate.set(verdict, (on_day, total), allowed, (room, full, taken));
    }
}

/// What `even` pacing allows `ad` by `now`; `None` without it.
fn pacing_allowance(ad: &AdFacts, clock: &dyn Clock, now: DateTime<Utc>) -> Option<u64> {
    let cap = ad.budget.daily_cap?;
    if ad.budget.pacing != Pacing::Even {
        return None;
    }
    let share = pacing::elapsed_share(now, |t| {
        let hour = ad
            .zone
            .map_or_else(|| clock.hour_at(t), |zone| zone.hour_at(t));
        ad.window.contains(hour)
    });
    Some(pacing::allowed(cap, share))
}

/// Owns the sync thread; [`BudgetSync::shutdown`] (or dropping it) stops it.
pub struct BudgetSync(Periodic);

impl BudgetSync {
    /// Syncs at once, then every `--budget-sync-interval`, the catalog
    /// live in `catalog` at each run; exchanges servings
    /// [`EXCHANGES_PER_SYNC`] times as often.
    pub fn spawn(
        catalog: Arc<ArcSwapOption<Catalog>>,
        ledger: Arc<Ledger>,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<BudgetSync> {
        let tick = ledger.budgets().settings.sync_interval / EXCHANGES_PER_SYNC;
        Periodic::spawn("budget-sync", move |sleeper| {
            for ticks in 0u64.. {
                let live = catalog.load();
                exchange_servings(live.as_deref(), &ledger, &*clock);
                match &*live {
                    Some(catalog) if ticks % u64::from(EXCHANGES_PER_SYNC) == 0 => {
                        sync(catalog, &ledger, &*clock)
                    }
                    _ => {}
                }
                if sleeper.sleep(tick) {
                    // What was served since the last exchange reaches the
                    // other replicas before this one exits.
                    exchange_servings(catalog.load().as_deref(), &ledger, &*clock);
                    return;
                }
            }
        })
        .map(BudgetSync)
    }

    /// Stops the thread and waits for it (at most one store read and a
    /// last servings exchange).
    pub fn shutdown(self) {
        self.0.shutdown();
    }
}
