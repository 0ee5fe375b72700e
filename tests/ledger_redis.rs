//! The Redis ledger against a real `redis-server` started by the test:
//! counts written and read back, a retried batch counted once, an outage
//! keeping counts pending then flushing them exactly once, fleet-wide dedup
//! between two ledgers, and the day boundary (README "Delivery ledger").

#[path = "support/ledger.rs"]
mod ledger_support;
#[path = "support/redis.rs"]
mod redis_support;

use std::sync::Arc;

use adserver::ledger::store::redis::RedisStore;
use adserver::ledger::{Batch, Day, Event, EventOutcome, Ledger, LedgerConfig, Store};
use redis_support::RedisServer;

const D: Day = Day(20_786); // 2026-11-29

fn ledger(spec: &str) -> Ledger {
    ledger_support::open(spec.parse().unwrap())
}

#[test]
fn counts_are_written_and_every_replica_reads_the_fleet_total() {
    let redis = RedisServer::start();
    let (a, b) = (ledger(&redis.url()), ledger(&format!("{}/0", redis.url())));
    a.tally("x").served(D);
    a.tally("x").served(D);
    b.tally("x").served(D);
    b.tally("y").served(D);
    a.record_event([1; 16], "x", D, Event::Midpoint);
    a.flush_now().unwrap();
    b.flush_now().unwrap();
    for replica in [&a, &b] {
        let rows = replica.stats(D, None).unwrap();
        assert_eq!(
            rows.iter()
                .map(|r| (r.id.as_str(), r.get(Event::Served)))
                .collect::<Vec<_>>(),
            [("x", 3), ("y", 1)]
        );
        assert_eq!(rows[0].get(Event::Midpoint), 1);
    }
    assert_eq!(a.stats(D, Some("y")).unwrap().len(), 1);
}

#[test]
fn a_batch_applied_twice_counts_once() {
    let redis = RedisServer::start();
    let store = RedisStore::single(&redis.url(), 3600).unwrap();
    let batch = Batch {
        id: 7,
        counts: vec![
            (D, Arc::from("a"), Event::Served, 5),
            (Day(D.0 + 1), Arc::from("a"), Event::Served, 2),
        ],
        events: vec![(D, Arc::from("a"), Event::Click, [3; 16])],
    };
    store.apply(&batch).unwrap();
    // The script ran but its answer was lost: the flusher sends it again.
    store.apply(&batch).unwrap();
    let rows = store.read(D, None).unwrap();
    assert_eq!(
        (rows[0].get(Event::Served), rows[0].get(Event::Click)),
        (5, 1)
    );
    assert_eq!(
        store.read(Day(D.0 + 1), None).unwrap()[0].get(Event::Served),
        2
    );
}

#[test]
fn an_outage_keeps_counts_pending_and_the_return_flushes_them_once() {
    let mut redis = RedisServer::start();
    let l = ledger(&redis.url());
    let t = l.tally("a");
    redis.kill();
    for _ in 0..10 {
        t.served(D);
    }
    l.record_event([5; 16], "a", D, Event::Impression);
    assert!(l.flush_now().is_err());
    t.served(D);
    assert!(l.flush_now().is_err());
    assert_eq!((l.pending(), l.flush_failures(), l.flush_ok()), (12, 2, 0));
    redis.restart();
    l.flush_now().unwrap();
    l.flush_now().unwrap();
    assert_eq!(l.pending(), 0);
    let rows = l.stats(D, None).unwrap();
    assert_eq!(
        (rows[0].get(Event::Served), rows[0].get(Event::Impression)),
        (11, 1)
    );
}

#[test]
fn the_same_event_on_two_replicas_counts_once() {
    let redis = RedisServer::start();
    let (a, b) = (ledger(&redis.url()), ledger(&redis.url()));
    assert_eq!(
        a.record_event([8; 16], "x", D, Event::Complete),
        EventOutcome::Accepted
    );
    assert_eq!(
        b.record_event([8; 16], "x", D, Event::Complete),
        EventOutcome::Accepted
    );
    b.record_event([8; 16], "x", D, Event::Start);
    a.flush_now().unwrap();
    b.flush_now().unwrap();
    let rows = a.stats(D, None).unwrap();
    assert_eq!(
        (rows[0].get(Event::Complete), rows[0].get(Event::Start)),
        (1, 1)
    );
}

#[test]
fn counts_each_side_of_midnight_land_on_their_own_day() {
    let redis = RedisServer::start();
    let l = ledger(&redis.url());
    l.tally("a").served(D);
    l.tally("a").served(Day(D.0 + 1));
    l.flush_now().unwrap();
    assert_eq!(l.stats(D, None).unwrap()[0].get(Event::Served), 1);
    assert_eq!(
        l.stats(Day(D.0 + 1), None).unwrap()[0].get(Event::Served),
        1
    );
}

/// Polls `done` every 10 ms for at most 10 s.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn the_flusher_thread_rides_out_a_redis_restart() {
    let mut redis = RedisServer::start();
    let config = LedgerConfig {
        spec: redis.url().parse().unwrap(),
        flush_interval: std::time::Duration::from_millis(50),
        ..LedgerConfig::default()
    };
    let (l, flusher) = Ledger::start(&config).unwrap();
    let t = l.tally("a");
    t.served(D);
    eventually("the first flush", || l.flush_ok() >= 1);
    assert_eq!(l.stats(D, None).unwrap()[0].get(Event::Served), 1);
    redis.kill(); // loses the 1: no persistence in the test server
    for _ in 0..20 {
        t.served(D);
    }
    eventually("a failed flush", || l.flush_failures() >= 1);
    assert_eq!(l.pending(), 20);
    redis.restart();
    eventually("the pending counts to be written", || l.pending() == 0);
    flusher.shutdown();
    assert_eq!(l.stats(D, None).unwrap()[0].get(Event::Served), 20);
}
