//! The ledger's flush rules against in-process stores: one pending batch
//! retried with its id, counts kept through an outage, the queue's bound.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::store::memory::MemoryStore;
use super::*;

/// A store that fails while `down`, records every batch id it is sent and
/// applies each id once (as the real stores do).
#[derive(Default)]
struct Flaky {
    down: AtomicBool,
    fleet: bool,
    inner: MemoryStore,
    seen: Mutex<Vec<u128>>,
    calls: AtomicUsize,
}

impl Store for Arc<Flaky> {
    fn apply(&self, batch: &Batch) -> Result<(), StoreError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.down.load(Ordering::Relaxed) {
            return Err(StoreError::Corrupt("down".into()));
        }
        let mut seen = self.seen.lock().unwrap();
        if !seen.contains(&batch.id) {
            seen.push(batch.id);
            self.inner.apply(batch)?;
        }
        Ok(())
    }
    fn read(&self, day: Day, ad: Option<&str>) -> Result<Vec<AdCounts>, StoreError> {
        self.inner.read(day, ad)
    }
    fn budget_counts(&self, today: Day, ads: &[&str]) -> Result<Vec<(u64, u64)>, StoreError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(StoreError::Corrupt("down".into()));
        }
        self.inner.budget_counts(today, ads)
    }
    fn dedups_fleet_wide(&self) -> bool {
        self.fleet
    }
}

fn ledger_over(flaky: &Arc<Flaky>, max_pending: usize) -> Ledger {
    Ledger::new(
        Box::new(flaky.clone()),
        &LedgerConfig {
            max_pending,
            ..LedgerConfig::default()
        },
    )
}

const D: Day = Day(20_000);

#[test]
fn served_and_events_are_flushed_and_read_back_by_ad() {
    let ledger = Ledger::new(Box::new(MemoryStore::default()), &LedgerConfig::default());
    let a = ledger.tally("a");
    a.served(D);
    a.served(D);
    ledger.tally("b").served(D);
    assert_eq!(
        ledger.record_event([1; 16], "a", D, Event::Impression),
        EventOutcome::Accepted
    );
    assert_eq!(
        ledger.record_event([1; 16], "a", D, Event::Impression),
        EventOutcome::Duplicate
    );
    assert_eq!(ledger.pending(), 4);
    assert!(
        ledger.stats(D, None).unwrap().is_empty(),
        "stats show written counts only"
    );
    ledger.flush_now().unwrap();
    assert_eq!(ledger.pending(), 0);
    let rows = ledger.stats(D, None).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(
        (rows[0].get(Event::Served), rows[0].get(Event::Impression)),
        (2, 1)
    );
    assert_eq!(ledger.stats(D, Some("b")).unwrap().len(), 1);
    assert!(ledger.stats(Day(20_001), None).unwrap().is_empty());
}

#[test]
fn a_reloaded_catalog_gets_the_same_tally() {
    let ledger = Ledger::new(Box::new(MemoryStore::default()), &LedgerConfig::default());
    assert!(Arc::ptr_eq(&ledger.tally("x"), &ledger.tally("x")));
}

#[test]
fn a_failed_batch_is_retried_with_its_id_before_new_counts() {
    let flaky = Arc::new(Flaky::default());
    let ledger = ledger_over(&flaky, 10);
    let t = ledger.tally("a");
    t.served(D);
    flaky.down.store(true, Ordering::Relaxed);
    assert!(ledger.flush_now().is_err());
    t.served(D); // counted during the outage: waits in the tally
    assert!(ledger.flush_now().is_err());
    assert_eq!((ledger.pending(), ledger.flush_failures()), (2, 2));
    flaky.down.store(false, Ordering::Relaxed);
    ledger.flush_now().unwrap();
    // Two batches written: the retried one (first id) and the one drained after.
    assert_eq!(flaky.seen.lock().unwrap().len(), 2);
    assert_eq!(ledger.flush_ok(), 2);
    assert_eq!(ledger.stats(D, None).unwrap()[0].get(Event::Served), 2);
    assert_eq!(ledger.pending(), 0);
}

#[test]
fn an_idle_ledger_writes_nothing() {
    let flaky = Arc::new(Flaky::default());
    let ledger = ledger_over(&flaky, 10);
    ledger.tally("a");
    ledger.flush_now().unwrap();
    assert_eq!(flaky.calls.load(Ordering::Relaxed), 0);
}

#[test]
fn queued_fleet_events_are_bounded_and_the_overflow_counted() {
    let flaky = Arc::new(Flaky {
        fleet: true,
        ..Flaky::default()
    });
    let ledger = ledger_over(&flaky, 3);
    flaky.down.store(true, Ordering::Relaxed);
    for i in 0..5u8 {
        ledger.record_event([i; 16], "a", D, Event::Start);
    }
    assert_eq!((ledger.pending(), ledger.dropped()), (3, 2));
    flaky.down.store(false, Ordering::Relaxed);
    ledger.flush_now().unwrap();
    assert_eq!(ledger.stats(D, None).unwrap()[0].get(Event::Start), 3);
}

#[test]
fn the_flusher_flushes_on_its_interval_and_at_shutdown() {
    let config = LedgerConfig {
        flush_interval: Duration::from_millis(20),
        ..LedgerConfig::default()
    };
    let (ledger, flusher) = Ledger::start(&config).unwrap();
    ledger.tally("a").served(D);
    let deadline = Instant::now() + Duration::from_secs(5);
    while ledger.flush_ok() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(ledger.flush_ok(), 1);
    let slow = LedgerConfig {
        flush_interval: Duration::from_secs(3600),
        ..LedgerConfig::default()
    };
    let (ledger, flusher2) = Ledger::start(&slow).unwrap();
    ledger.tally("a").served(D);
    let started = Instant::now();
    flusher2.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown does not wait out the interval"
    );
    assert_eq!(ledger.stats(D, None).unwrap()[0].get(Event::Served), 1);
    flusher.shutdown();
}

#[test]
fn a_queued_event_takes_40_bytes() {
    // The outage bound in docs/delivery-ledger.md: 40 MB per million events.
    assert_eq!(std::mem::size_of::<QueuedEvent>(), 40);
    assert_eq!(std::mem::size_of::<AdTally>(), 160);
}
