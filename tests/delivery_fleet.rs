//! README "Delivery" for a fleet, over real HTTP: two replicas sharing one
//! event key and one real Redis (then a 3-master Redis Cluster), started by
//! the test. A beacon counts once whichever replica receives it, and every
//! replica's `/stats` shows the fleet's totals.

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::sync::Arc;
use std::time::Duration;

use adserver::delivery::{Delivery, EventKey};
use adserver::ledger::{Ledger, LedgerConfig, LedgerSpec};
use redis_support::{RedisCluster, RedisServer};
use support::*;

const FEED: &str = r#"{"ads":[
  {"id":"a1","video_url":"https://cdn.example.com/a1.mp4","country":"us","lang":"eng","start_hour":0,"end_hour":0},
  {"id":"b2","video_url":"https://cdn.example.com/b2.mp4","country":"us","lang":"eng","start_hour":0,"end_hour":0}
]}"#;

async fn replica(spec: &str, key: [u8; 32]) -> TestServer {
    let spec: LedgerSpec = spec.parse().unwrap();
    let config = LedgerConfig {
        spec,
        flush_interval: Duration::from_secs(3600),
        ..LedgerConfig::default()
    };
    // No flusher thread: `/stats` flushes this replica before reading,
    // which is all the test needs to see every count.
    let store = adserver::ledger::store::open(&config.spec, 3600).unwrap();
    let delivery = Delivery {
        key: EventKey::from_bytes(key),
        ledger: Arc::new(Ledger::new(store, &config)),
        ..Delivery::in_memory()
    };
    let server = TestServer::start_with_delivery(12, delivery).await;
    load_json(&server, FEED).await;
    server
}

fn totals(body: &str) -> Vec<(String, u64, u64, u64)> {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["ads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_owned(),
                r["served"].as_u64().unwrap(),
                r["impression"].as_u64().unwrap(),
                r["complete"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn fleet_counts_once(spec: &str) {
    let key = [7u8; 32];
    let (one, two) = (replica(spec, key).await, replica(spec, key).await);
    // Each replica serves 3 ads; every beacon goes to BOTH replicas (a
    // client retrying through a balancer), impressions twice.
    let mut answers = Vec::new();
    for server in [&one, &two] {
        for _ in 0..3 {
            let reply = server.get("/ad_request?country=us&lang=eng").await;
            answers.push((reply.ad_id(), reply.event_target()));
        }
    }
    for (_, target) in &answers {
        for server in [&one, &two] {
            for event in ["impression", "impression", "complete"] {
                let beacon = server.get(&format!("{target}&e={event}")).await;
                assert_eq!(beacon.status, 204, "{beacon:?}");
            }
        }
    }
    // Both replicas flush (each /stats flushes its own counts first).
    let _ = one.admin_get("/stats?day=2026-01-15").await;
    let _ = two.admin_get("/stats?day=2026-01-15").await;
    let seen_one = one.admin_get("/stats?day=2026-01-15").await;
    let seen_two = two.admin_get("/stats?day=2026-01-15").await;
    assert_eq!(seen_one.status, 200, "{seen_one:?}");
    assert_eq!(seen_one.body, seen_two.body, "replicas disagree");
    let expected: Vec<_> = ["a1", "b2"]
        .iter()
        .map(|id| {
            let n = answers.iter().filter(|(a, _)| a == id).count() as u64;
            (id.to_string(), n, n, n)
        })
        .collect();
    assert_eq!(totals(&seen_one.body), expected, "{}", seen_one.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_one_redis_count_each_beacon_once() {
    let redis = RedisServer::start();
    fleet_counts_once(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_a_redis_cluster_count_each_beacon_once() {
    let cluster = RedisCluster::start();
    let nodes: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    fleet_counts_once(&format!("redis-cluster://{}", nodes.join(","))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_answer_503_while_redis_is_down_and_nothing_is_lost() {
    let mut redis = RedisServer::start();
    let server = replica(&redis.url(), [9u8; 32]).await;
    redis.kill();
    for _ in 0..4 {
        assert_eq!(
            server.get("/ad_request?country=us&lang=eng").await.status,
            200
        );
    }
    assert_eq!(server.admin_get("/stats").await.status, 503);
    let metrics = server.admin_get("/metrics").await;
    assert!(
        metrics
            .body
            .contains("adserver_ledger_flush_failures_total 1")
            || metrics
                .body
                .contains("adserver_ledger_flush_failures_total 2"),
        "{}",
        metrics.body
    );
    redis.restart();
    let stats = server.admin_get("/stats?day=2026-01-15").await;
    assert_eq!(stats.status, 200, "{stats:?}");
    let served: u64 = totals(&stats.body).iter().map(|t| t.1).sum();
    assert_eq!(served, 4, "{}", stats.body);
}
