//! README "Budgets" over real HTTP on 127.0.0.1, one replica with an
//! in-memory ledger and a hand-set clock: daily and total caps stop an ad
//! after N impressions (beacons fired, one budget sync run), the next
//! eligible ad serves, none left is the usual no-ad; even pacing over a
//! simulated day; the daily reset at 00:00 UTC; frequency caps per `uid`;
//! `/explain` and `/stats` naming caps and counts.

mod support;

use std::sync::Arc;

use adserver::budget::sync_now;
use adserver::delivery::Delivery;
use chrono::{DateTime, Duration, Utc};
use support::*;

/// Runs one budget sync off the async workers (it may read a store).
pub async fn sync(server: &TestServer) {
    let state = Arc::clone(&server.state);
    tokio::task::spawn_blocking(move || sync_now(&state))
        .await
        .unwrap();
}

/// Asks for an ad; when one is served, fires its impression beacon as a
/// player would, and returns its id.
async fn watch(server: &TestServer, query: &str) -> Option<String> {
    let reply = server.get(&format!("/ad_request?{query}")).await;
    if reply.status == 404 {
        assert!(reply.body.contains("\"no_ad\""), "{reply:?}");
        return None;
    }
    let id = reply.ad_id();
    let beacon = server
        .get(&format!("{}&e=impression", reply.event_target()))
        .await;
    assert_eq!(beacon.status, 204, "{beacon:?}");
    Some(id)
}

async fn server_with(feed: &str) -> TestServer {
    let server = TestServer::start_with_delivery(12, Delivery::in_memory()).await;
    load_json(&server, feed).await;
    sync(&server).await;
    server
}

fn instant(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

const US: &str = "country=us&lang=eng";

#[tokio::test]
async fn caps_stop_an_ad_the_next_serves_and_daily_caps_reset_at_midnight() {
    let feed = feed_of_ads(&[
        ad_json("a1", "us", "eng", 0, 0, r#","daily_cap":3"#),
        ad_json("b2", "us", "eng", 0, 0, r#","total_cap":2"#),
        ad_json("house", "*", "*", 0, 0, ""),
    ]);
    let server = server_with(&feed).await;
    let mut seen = Vec::new();
    for _ in 0..12 {
        seen.push(watch(&server, US).await.unwrap());
        sync(&server).await;
    }
    let count = |id: &str| seen.iter().filter(|s| *s == id).count();
    assert_eq!((count("a1"), count("b2")), (3, 2), "{seen:?}");
    assert!(seen[5..].iter().all(|s| s == "house"), "{seen:?}");

    // The next UTC day: the daily cap starts again, the total cap holds.
    server.clock.set_instant(instant("2026-01-16T00:00:05Z"));
    sync(&server).await;
    let mut next_day = Vec::new();
    for _ in 0..6 {
        next_day.push(watch(&server, US).await.unwrap());
        sync(&server).await;
    }
    assert_eq!(next_day, ["a1", "a1", "a1", "house", "house", "house"]);
}

#[tokio::test]
async fn when_every_eligible_ad_is_capped_the_answer_is_no_ad() {
    let feed = feed_of_ads(&[ad_json("solo", "ca", "fre", 0, 0, r#","daily_cap":2"#)]);
    let server = server_with(&feed).await;
    let q = "country=ca&lang=fre";
    assert_eq!(watch(&server, q).await.as_deref(), Some("solo"));
    assert_eq!(watch(&server, q).await.as_deref(), Some("solo"));
    sync(&server).await;
    assert_eq!(watch(&server, q).await, None);
    // `exclude`'s "a repeat beats no ad" never brings a capped ad back.
    assert_eq!(
        watch(&server, "country=ca&lang=fre&exclude=solo").await,
        None
    );
    // VAST: an empty document, as for any no-ad answer.
    let vast = server
        .get("/ad_request?country=ca&lang=fre&format=vast")
        .await;
    assert_eq!(vast.status, 200);
    assert!(!vast.body.contains("<Ad "), "{}", vast.body);
}

#[tokio::test]
async fn explain_names_the_cap_and_stats_show_cap_and_remaining() {
    let feed = feed_of_ads(&[
        ad_json("a1", "us", "eng", 0, 0, r#","daily_cap":2,"total_cap":10"#),
        ad_json("b2", "us", "eng", 0, 0, ""),
    ]);
    let server = server_with(&feed).await;
    for _ in 0..4 {
        watch(&server, US).await.unwrap();
    }
    sync(&server).await;
    let explain = server.admin_get("/explain?country=us&lang=eng").await;
    let v: serde_json::Value = serde_json::from_str(&explain.body).unwrap();
    let a1 = &v["ads"][0];
    assert_eq!(a1["id"], "a1");
    assert_eq!(a1["eligible"], false);
    let reason = a1["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("daily cap reached: 2 of 2 impressions today"),
        "{reason}"
    );
    assert_eq!(a1["budget"]["impressions_today"], 2);
    assert_eq!(a1["budget"]["state"], "daily_cap");
    assert_eq!(v["ads"][1]["eligible"], true);
    assert!(v["ads"][1].get("budget").is_none(), "{}", explain.body);

    let stats = server.admin_get("/stats?day=2026-01-15").await;
    let v: serde_json::Value = serde_json::from_str(&stats.body).unwrap();
    let row = &v["ads"][0];
    assert_eq!(row["id"], "a1");
    assert_eq!(row["impression"], 2);
    assert_eq!(
        row["cap"],
        serde_json::json!({"daily":2,"total":10,"pacing":"asap"})
    );
    assert_eq!(row["remaining"], serde_json::json!({"daily":0,"total":8}));
    assert!(v["ads"][1].get("cap").is_none());
    // The SPEC fields keep their order: the budget fields come last.
    assert!(stats.body.find("\"error\"").unwrap() < stats.body.find("\"cap\"").unwrap());
    let csv = server.admin_get("/stats?day=2026-01-15&format=csv").await;
    assert!(!csv.body.contains("cap"), "CSV is unchanged: {}", csv.body);
}

#[tokio::test]
async fn even_pacing_spreads_the_day_within_its_margin() {
    // 96 a day over 24 hours: 1 per quarter hour, margin max(1, 2%) = 1.
    let feed = budgeted_and_house("paced", r#","daily_cap":96,"pacing":"even""#);
    let server = server_with(&feed).await;
    let midnight = instant("2026-01-15T00:00:00Z");
    let mut total = 0u64;
    for quarter in 0..96i64 {
        let now = midnight + Duration::minutes(quarter * 15 + 14);
        server.clock.set_instant(now);
        sync(&server).await;
        let mut this_quarter = 0;
        // Serve as much as pacing allows (bounded), syncing after each.
        for _ in 0..10 {
            if watch(&server, US).await.as_deref() != Some("paced") {
                break;
            }
            this_quarter += 1;
            sync(&server).await;
        }
        total += this_quarter;
        // By hh:mm+14 the share is (quarter + 14/15) / 96 of the day.
        let allowed = (96.0 * (quarter as f64 + 14.0 / 15.0) / 96.0).floor() as u64 + 1;
        assert!(
            total <= allowed.min(96),
            "quarter {quarter}: {total} > {allowed}"
        );
        assert!(
            total + 1 >= allowed.min(96),
            "quarter {quarter}: only {total} of {allowed}"
        );
        assert!(
            this_quarter <= 2,
            "quarter {quarter}: {this_quarter} at once"
        );
    }
    assert_eq!(total, 96, "the whole cap is spent by the end of the day");
}

#[tokio::test]
async fn frequency_caps_count_servings_per_uid_in_a_window() {
    let feed = budgeted_and_house("a1", r#","frequency_cap":{"count":2,"hours":1}"#);
    let server = server_with(&feed).await;
    let ask = |uid: &'static str| {
        let server = &server;
        async move {
            server
                .get(&format!("/ad_request?{US}&uid={uid}"))
                .await
                .ad_id()
        }
    };
    assert_eq!(ask("p1").await, "a1");
    assert_eq!(ask("p1").await, "a1");
    assert_eq!(ask("p1").await, "house", "p1 has had its two");
    assert_eq!(ask("p2").await, "a1", "another player");
    assert_eq!(server.get(&format!("/ad_request?{US}")).await.ad_id(), "a1");
    let explain = server
        .admin_get("/explain?country=us&lang=eng&uid=p1")
        .await;
    assert!(
        explain
            .body
            .contains("frequency cap reached for this player: 2 of 2 in 1 hours"),
        "{}",
        explain.body
    );
    // The window is an hour from the first serving.
    server.clock.set_instant(instant("2026-01-15T13:31:00Z"));
    assert_eq!(ask("p1").await, "a1");

    let bad = server.get(&format!("/ad_request?{US}&uid=a%20b")).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("'uid'"), "{}", bad.body);
}

/// A replica's own impressions block an ad at once, before any sync: on
/// one replica a cap is exact (README "Budgets", "Overshoot").
#[tokio::test]
async fn this_replicas_impressions_block_at_once_without_a_sync() {
    let feed = budgeted_and_house("a1", r#","daily_cap":3"#);
    let server = server_with(&feed).await;
    for _ in 0..3 {
        assert_eq!(watch(&server, US).await.as_deref(), Some("a1"));
    }
    assert_eq!(watch(&server, US).await.as_deref(), Some("house"));
    let explain = server.admin_get("/explain?country=us&lang=eng").await;
    assert!(
        explain.body.contains("daily cap reached: 3 of 3"),
        "named before any sync: {}",
        explain.body
    );
    // The sync that follows agrees, and its own count takes over.
    sync(&server).await;
    assert_eq!(watch(&server, US).await.as_deref(), Some("house"));
    let explain = server.admin_get("/explain?country=us&lang=eng").await;
    assert!(
        explain.body.contains("daily cap reached: 3 of 3"),
        "{}",
        explain.body
    );
}
