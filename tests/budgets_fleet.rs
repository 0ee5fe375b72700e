//! README "Budgets" for a fleet, over real HTTP with real Redis servers
//! started by the test: two replicas sharing one Redis (then a 3-master
//! Redis Cluster) hold one daily cap within the documented overshoot, and
//! a Redis outage leaves caps open on the last known counts plus local ones
//! (`open`) or blocks capped ads once the counts are stale (`closed`).
//! Frequency caps are shared the same way, and a SQLite ledger keeps them
//! across a restart.

#[path = "support/redis.rs"]
mod redis_support;
mod support;

use std::sync::Arc;
use std::time::Duration;

use adserver::budget::{sync_now, BudgetSettings, OnStoreFailure};
use adserver::clock::Clock;
use adserver::delivery::{Delivery, EventKey};
use adserver::ledger::{Ledger, LedgerConfig};
use redis_support::{RedisCluster, RedisServer};
use support::*;

const KEY: [u8; 32] = [5u8; 32];

fn feed(cap: &str) -> String {
    budgeted_and_house("a1", cap)
}

/// A replica on `spec` with no flusher thread: the test flushes and syncs
/// by hand, so each "interval" is a step it controls.
async fn replica(spec: &str, budget: BudgetSettings, feed: &str) -> TestServer {
    let config = LedgerConfig {
        spec: spec.parse().unwrap(),
        flush_interval: Duration::from_secs(3600),
        budget,
        ..LedgerConfig::default()
    };
    let store = adserver::ledger::store::open(&config.spec, 3600).unwrap();
    let delivery = Delivery {
        key: EventKey::from_bytes(KEY),
        ledger: Arc::new(Ledger::new(store, &config)),
        ..Delivery::in_memory()
    };
    let server = TestServer::start_with_delivery(12, delivery).await;
    load_json(&server, feed).await;
    server
}

/// One flush interval and one sync interval, as the threads would run them.
async fn tick(server: &TestServer) {
    let state = Arc::clone(&server.state);
    tokio::task::spawn_blocking(move || {
        let _ = state.delivery.ledger.flush_now();
        sync_now(&state);
    })
    .await
    .unwrap();
}

/// Asks `server` for an ad and fires its impression there; the ad's id.
async fn watch(server: &TestServer) -> String {
    let reply = server.get("/ad_request?country=us&lang=eng").await;
    let id = reply.ad_id();
    let beacon = server
        .get(&format!("{}&e=impression", reply.event_target()))
        .await;
    assert_eq!(beacon.status, 204, "{beacon:?}");
    id
}

fn impressions(stats: &str, id: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(stats).unwrap();
    v["ads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id)
        .map_or(0, |r| r["impression"].as_u64().unwrap())
}

/// Two replicas, each answering `per_interval` requests between ticks:
/// the bound is the cap plus replicas × requests per interval (README
/// "Budgets", with every beacon fired at once).
async fn two_replicas_hold_one_cap(spec: &str) {
    const CAP: u64 = 20;
    let per_interval = 3;
    let feed = feed(&format!(r#","daily_cap":{CAP}"#));
    let replicas = [
        replica(spec, BudgetSettings::default(), &feed).await,
        replica(spec, BudgetSettings::default(), &feed).await,
    ];
    let mut a1 = 0u64;
    for _ in 0..40 {
        for server in &replicas {
            for _ in 0..per_interval {
                if watch(server).await == "a1" {
                    a1 += 1;
                }
            }
        }
        for server in &replicas {
            tick(server).await;
        }
        for server in &replicas {
            tick(server).await;
        }
    }
    let stats = replicas[0].admin_get("/stats?day=2026-01-15").await;
    let fleet = impressions(&stats.body, "a1");
    assert_eq!(fleet, a1, "every impression counted once: {}", stats.body);
    let bound = CAP + 2 * per_interval;
    assert!(
        (CAP..=bound).contains(&fleet),
        "{fleet} impressions for a cap of {CAP} (bound {bound})"
    );
    for server in &replicas {
        assert_eq!(watch(server).await, "house", "a1 is blocked everywhere");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_one_redis_hold_one_daily_cap() {
    let redis = RedisServer::start();
    two_replicas_hold_one_cap(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_a_redis_cluster_hold_one_daily_cap() {
    let cluster = RedisCluster::start();
    two_replicas_hold_one_cap(&cluster.spec()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fail_open_counts_last_known_plus_local() {
    let mut redis = RedisServer::start();
    let server = replica(
        &redis.url(),
        BudgetSettings::default(),
        &feed(r#","daily_cap":5"#),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(watch(&server).await, "a1");
    }
    tick(&server).await;
    redis.kill();
    // Still serving: the last known 3 plus what this replica counts now.
    assert_eq!(watch(&server).await, "a1");
    tick(&server).await;
    assert_eq!(watch(&server).await, "a1");
    tick(&server).await;
    assert_eq!(watch(&server).await, "house", "3 known + 2 local = the cap");
    let explain = server.admin_get("/explain?country=us&lang=eng").await;
    assert!(
        explain.body.contains("daily cap reached: 5 of 5"),
        "{}",
        explain.body
    );
    redis.restart();
    tick(&server).await;
    // The restarted Redis kept nothing (no persistence) but this replica's
    // retried counts: 2 of them, so the ad is open again, which is what an
    // operator running Redis without persistence signs up for.
    assert_eq!(watch(&server).await, "a1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_fail_closed_blocks_capped_ads_once_counts_are_stale() {
    let mut redis = RedisServer::start();
    let budget = BudgetSettings {
        sync_interval: Duration::from_millis(50),
        on_store_failure: OnStoreFailure::Closed,
        ..BudgetSettings::default()
    };
    let server = replica(&redis.url(), budget, &feed(r#","daily_cap":100"#)).await;
    tick(&server).await;
    assert_eq!(watch(&server).await, "a1");
    redis.kill();
    tick(&server).await;
    // Three sync intervals (150 ms) after the last good read: stale.
    tokio::time::sleep(Duration::from_millis(200)).await;
    tick(&server).await;
    assert_eq!(watch(&server).await, "house");
    let explain = server.admin_get("/explain?country=us&lang=eng").await;
    assert!(
        explain.body.contains("store_unreachable"),
        "{}",
        explain.body
    );
    redis.restart();
    tick(&server).await;
    assert_eq!(watch(&server).await, "a1", "open again once Redis answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_cap_in_redis_counts_every_day_old_ones_included() {
    let redis = RedisServer::start();
    let server = replica(
        &redis.url(),
        BudgetSettings::default(),
        &feed(r#","total_cap":4"#),
    )
    .await;
    tick(&server).await;
    assert_eq!(watch(&server).await, "a1");
    assert_eq!(watch(&server).await, "a1");
    tick(&server).await;
    // Three days later the first day is an "old" day, summed apart.
    server
        .clock
        .set_instant("2026-01-18T12:00:00Z".parse().unwrap());
    tick(&server).await;
    assert_eq!(watch(&server).await, "a1");
    tick(&server).await;
    // The next day is "yesterday" now: read every sync.
    server
        .clock
        .set_instant("2026-01-19T12:00:00Z".parse().unwrap());
    tick(&server).await;
    assert_eq!(watch(&server).await, "a1");
    tick(&server).await;
    assert_eq!(watch(&server).await, "house", "2 + 1 + 1 = the total cap");
    let explain = server.admin_get("/explain?country=us&lang=eng").await;
    assert!(
        explain.body.contains("total cap reached: 4 of 4"),
        "{}",
        explain.body
    );
}

/// Asks `server` for an ad as player `uid`; the ad's id.
async fn ask_as(server: &TestServer, uid: &str) -> String {
    server
        .get(&format!("/ad_request?country=us&lang=eng&uid={uid}"))
        .await
        .ad_id()
}

/// One frequency cap across two replicas and a third that starts late:
/// servings on one replica count on the others after an exchange, and a
/// replica that starts reads back every serving still in the window.
async fn replicas_share_one_frequency_cap(spec: &str) {
    let feed = feed(r#","frequency_cap":{"count":3,"hours":2}"#);
    let a = replica(spec, BudgetSettings::default(), &feed).await;
    let b = replica(spec, BudgetSettings::default(), &feed).await;
    assert_eq!(ask_as(&a, "p1").await, "a1");
    assert_eq!(ask_as(&a, "p1").await, "a1");
    tick(&a).await;
    tick(&b).await;
    assert_eq!(ask_as(&b, "p1").await, "a1", "2 of 3 seen on a");
    assert_eq!(ask_as(&b, "p1").await, "house", "3 of 3 fleet-wide");
    assert_eq!(ask_as(&b, "p2").await, "a1", "another player");
    tick(&b).await;
    tick(&a).await;
    assert_eq!(ask_as(&a, "p1").await, "house", "b's serving reached a");
    let explain = a
        .admin_get("/explain?country=us&lang=eng&uid=p1")
        .await
        .body;
    assert!(
        explain.contains("frequency cap reached for this player: 3 of 3 in 2 hours"),
        "{explain}"
    );
    // A replica started now (a restart, a scale-up) knows both players
    // before its first answer.
    let late = replica(spec, BudgetSettings::default(), &feed).await;
    tick(&late).await;
    assert_eq!(ask_as(&late, "p1").await, "house");
    assert_eq!(ask_as(&late, "p2").await, "a1", "p2 had 1 of 3");
    // Two hours on, the window has closed everywhere.
    for server in [&a, &b, &late] {
        server
            .clock
            .set_instant("2026-01-15T14:00:00Z".parse().unwrap());
        tick(server).await;
    }
    assert_eq!(ask_as(&b, "p1").await, "a1", "a new window");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_one_redis_hold_one_frequency_cap() {
    let redis = RedisServer::start();
    replicas_share_one_frequency_cap(&redis.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_a_redis_cluster_hold_one_frequency_cap() {
    let cluster = RedisCluster::start();
    replicas_share_one_frequency_cap(&cluster.spec()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frequency_servings_wait_out_a_redis_outage() {
    let mut redis = RedisServer::start();
    let feed = feed(r#","frequency_cap":{"count":2,"hours":1}"#);
    let a = replica(&redis.url(), BudgetSettings::default(), &feed).await;
    let b = replica(&redis.url(), BudgetSettings::default(), &feed).await;
    tick(&a).await;
    tick(&b).await;
    redis.kill();
    assert_eq!(ask_as(&a, "p1").await, "a1");
    tick(&a).await;
    tick(&b).await;
    // Each replica counts its own meanwhile (README "Budgets": R × count
    // at worst while Redis is down).
    assert_eq!(ask_as(&b, "p1").await, "a1");
    redis.restart();
    tick(&a).await;
    tick(&b).await;
    tick(&a).await;
    for server in [&a, &b] {
        assert_eq!(
            ask_as(server, "p1").await,
            "house",
            "kept and sent after the outage"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_ledger_keeps_frequency_caps_across_a_restart() {
    let dir = std::env::temp_dir().join(format!("adserver-freq-sqlite-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = format!("sqlite:{}", dir.join("ledger.db").display());
    let feed = feed(r#","frequency_cap":{"count":3,"hours":2}"#);
    let before = replica(&spec, BudgetSettings::default(), &feed).await;
    assert_eq!(ask_as(&before, "p1").await, "a1");
    assert_eq!(ask_as(&before, "p1").await, "a1");
    tick(&before).await;
    drop(before);
    let after = replica(&spec, BudgetSettings::default(), &feed).await;
    tick(&after).await;
    assert_eq!(
        ask_as(&after, "p1").await,
        "a1",
        "2 of 3 before the restart"
    );
    assert_eq!(ask_as(&after, "p1").await, "house");
    assert_eq!(ask_as(&after, "p2").await, "a1");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Whatever else writes to the servings stream: entries without our
/// fields, a torn record, and a record claiming a window of 2^32 hours.
/// The exchange reads past all of it and keeps working, and a window
/// lasts what the feed's cap says, whatever a record claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_in_the_servings_stream_is_read_past() {
    use adserver::budget::frequency::{player_hash, Servings};
    let redis = RedisServer::start();
    let feed = feed(r#","frequency_cap":{"count":2,"hours":1}"#);
    let a = replica(&redis.url(), BudgetSettings::default(), &feed).await;
    let b = replica(&redis.url(), BudgetSettings::default(), &feed).await;
    let hour = (a.clock.now().timestamp() / 3600) as u32;
    let forever = Servings {
        player: player_hash(b"p1"),
        ad: adserver::catalog::id_hash(b"a1"),
        opened: hour,
        hours: u32::MAX,
        n: 1000,
    };
    let mut conn = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut add = |fields: &[(&str, Vec<u8>)]| {
        let mut cmd = redis::cmd("XADD");
        cmd.arg("adserver:{servings}").arg("*");
        for (k, v) in fields {
            cmd.arg(*k).arg(v.as_slice());
        }
        cmd.query::<String>(&mut conn).unwrap();
    };
    add(&[("x", b"y".to_vec())]);
    add(&[("r", b"someone".to_vec()), ("s", vec![1, 2, 3])]);
    add(&[
        ("r", b"someone".to_vec()),
        ("s", Servings::encode_all(&[forever])),
    ]);
    tick(&a).await;
    assert_eq!(ask_as(&a, "p1").await, "house", "the record is merged");
    assert_eq!(ask_as(&a, "p2").await, "a1");
    // Real servings after the junk still arrive.
    assert_eq!(ask_as(&b, "p3").await, "a1");
    assert_eq!(ask_as(&b, "p3").await, "a1");
    tick(&b).await;
    tick(&a).await;
    assert_eq!(ask_as(&a, "p3").await, "house", "b's servings reached a");
    a.clock
        .set_instant(a.clock.now() + chrono::Duration::hours(1));
    tick(&a).await;
    assert_eq!(ask_as(&a, "p1").await, "a1", "the feed's one hour");
}
