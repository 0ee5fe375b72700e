//! The Redis ledger against a real 3-master Redis Cluster started by the
//! test: each day's keys share a hash tag, so one script per day works in a
//! cluster; counts, retries and dedup behave as on one server (README
//! "Delivery ledger").

#[path = "support/ledger.rs"]
mod ledger_support;
#[path = "support/redis.rs"]
mod redis_support;

use std::sync::Arc;

use adserver::ledger::store::redis::RedisStore;
use adserver::ledger::{Batch, Day, Event, Ledger};
use redis_support::RedisCluster;

fn ledger(spec: &str) -> Ledger {
    ledger_support::open(spec.parse().unwrap())
}

#[test]
fn a_cluster_counts_many_days_once_each_and_dedups_across_replicas() {
    let cluster = RedisCluster::start();
    let (a, b) = (ledger(&cluster.spec()), ledger(&cluster.spec()));
    // Ten days land on different slots, so on different masters.
    let days: Vec<Day> = (0..10).map(|i| Day(20_780 + i)).collect();
    for (i, day) in days.iter().enumerate() {
        for _ in 0..=i {
            a.tally("ad").served(*day);
        }
        a.record_event([i as u8; 16], "ad", *day, Event::Skip);
        b.record_event([i as u8; 16], "ad", *day, Event::Skip);
        // A tally keeps two days apart; the flusher drains it every interval.
        a.flush_now().unwrap();
        b.flush_now().unwrap();
    }
    for (i, day) in days.iter().enumerate() {
        let rows = b.stats(*day, None).unwrap();
        assert_eq!(
            (rows[0].get(Event::Served), rows[0].get(Event::Skip)),
            (i as u64 + 1, 1),
            "{day}"
        );
    }

    // A retried batch in a cluster: applied once.
    let store = RedisStore::cluster(
        &cluster
            .spec()
            .trim_start_matches("redis-cluster://")
            .split(',')
            .map(|a| format!("redis://{a}"))
            .collect::<Vec<_>>(),
        3600,
    )
    .unwrap();
    let batch = Batch {
        id: 99,
        counts: days
            .iter()
            .map(|d| (*d, Arc::from("r"), Event::Served, 3))
            .collect(),
        events: vec![],
    };
    adserver::ledger::Store::apply(&store, &batch).unwrap();
    adserver::ledger::Store::apply(&store, &batch).unwrap();
    for day in &days {
        let rows = a.stats(*day, Some("r")).unwrap();
        assert_eq!(rows[0].get(Event::Served), 3, "{day}");
    }
}
