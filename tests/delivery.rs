//! README "Delivery" over real HTTP on 127.0.0.1: tracked JSON and VAST
//! answers, beacons that count once, forged and stale tokens refused, and
//! `/stats` in JSON and CSV.

mod support;

use std::time::Duration;

use adserver::delivery::{Delivery, Tracking};
use support::*;

const FEED: &str = r#"{"ads":[
  {"id":"a1","video_url":"https://cdn.example.com/a1.mp4","country":"us","lang":"eng","start_hour":0,"end_hour":0,
   "duration":15,"title":"First & <best>","click_url":"https://shop.example.com/?x=1&y=2"},
  {"id":"b2","video_url":"https://cdn.example.com/b2.webm","country":"us","lang":"eng","start_hour":0,"end_hour":0},
  {"id":"bad","video_url":"https://cdn.example.com/bad.mp4","country":"us","lang":"eng","start_hour":0,"end_hour":0,
   "duration":0}
]}"#;

async fn server(delivery: Delivery) -> TestServer {
    let server = TestServer::start_with_delivery(12, delivery).await;
    load_json(&server, FEED).await;
    server
}

fn field<'a>(body: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":\"");
    let start = body
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + key.len();
    &body[start..start + body[start..].find('"').unwrap()]
}

/// The path and query of an absolute event URL, to send to the server.
fn target(event_url: &str) -> &str {
    let rest = event_url
        .strip_prefix("http://")
        .expect("an http event URL");
    &rest[rest.find('/').unwrap()..]
}

fn stats_of(body: &str, id: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    v["ads"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no {id} in {body}"))
}

#[tokio::test]
async fn a_tracked_answer_counts_served_and_each_beacon_once() {
    let server = server(Delivery::in_memory()).await;
    let reply = server.get("/ad_request?country=us&lang=eng").await;
    assert_eq!(reply.status, 200);
    let id = reply.ad_id();
    let serving_id = field(&reply.body, "serving_id");
    assert_eq!(serving_id.len(), 32);
    let event_url = field(&reply.body, "event_url").to_owned();
    assert!(event_url.starts_with("http://test/event?t="), "{event_url}");

    for event in ["impression", "start", "firstQuartile", "impression"] {
        let beacon = server
            .get(&format!("{}&e={event}", target(&event_url)))
            .await;
        assert_eq!(beacon.status, 204, "{event}: {beacon:?}");
    }
    let post = request(
        server.public,
        "POST",
        &format!("{}&e=complete", target(&event_url)),
    )
    .await;
    assert_eq!(post.status, 204, "{post:?}");
    // A HEAD is not an answer a player saw.
    assert_eq!(
        request(server.public, "HEAD", "/ad_request?country=us&lang=eng")
            .await
            .status,
        200
    );

    let stats = server.admin_get("/stats?day=2026-01-15").await;
    assert_eq!(stats.status, 200, "{stats:?}");
    assert_eq!(stats.header("content-type"), Some("application/json"));
    let row = stats_of(&stats.body, &id);
    assert_eq!(row["served"], 1, "{}", stats.body);
    assert_eq!(
        row["impression"], 1,
        "a repeated beacon counted twice: {}",
        stats.body
    );
    assert_eq!(row["start"], 1);
    assert_eq!(row["firstQuartile"], 1);
    assert_eq!(row["complete"], 1);
    assert_eq!(row["midpoint"], 0);

    let metrics = server.admin_get("/metrics").await;
    assert!(metrics
        .body
        .contains("adserver_events_total{event=\"impression\"} 1"));
    assert!(metrics
        .body
        .contains("adserver_events_duplicate_total{event=\"impression\"} 1"));
}

#[tokio::test]
async fn forged_stale_and_malformed_beacons_are_403_and_not_counted() {
    let server = server(Delivery::in_memory()).await;
    let reply = server.get("/ad_request?country=us&lang=eng").await;
    let event_url = field(&reply.body, "event_url").to_owned();
    let url = target(&event_url).to_owned();

    // One character of the token changed.
    let t = url.find("t=").unwrap() + 2;
    let mut forged = url.clone().into_bytes();
    forged[t + 5] = if forged[t + 5] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    for bad in [
        format!("{forged}&e=impression"),
        "/event?t=not-a-token&e=impression".to_owned(),
        "/event?e=impression".to_owned(),
    ] {
        let beacon = server.get(&bad).await;
        assert_eq!(beacon.status, 403, "{bad}: {beacon:?}");
        assert!(
            beacon.body.contains("\"error\":\"invalid_event\""),
            "{beacon:?}"
        );
    }
    for bad in [format!("{url}&e=watched"), url.clone()] {
        let beacon = server.get(&bad).await;
        assert_eq!(beacon.status, 400, "{bad}: {beacon:?}");
        assert!(beacon.body.contains("'e'"), "{beacon:?}");
    }
    // A token signed by another replica's key is a forgery here.
    let other = server_url_from_another_key().await;
    assert_eq!(
        server.get(&format!("{other}&e=impression")).await.status,
        403
    );

    // Older than --event-ttl (3600 s): refused.
    server.clock.set(14);
    assert_eq!(server.get(&format!("{url}&e=impression")).await.status, 403);
    server.clock.set(12);
    assert_eq!(server.get(&format!("{url}&e=impression")).await.status, 204);

    let stats = server.admin_get("/stats?day=2026-01-15").await;
    let row = stats_of(&stats.body, &reply.ad_id());
    assert_eq!(row["impression"], 1, "{}", stats.body);
}

async fn server_url_from_another_key() -> String {
    let other = server(Delivery::in_memory()).await;
    let reply = other.get("/ad_request?country=us&lang=eng").await;
    target(field(&reply.body, "event_url")).to_owned()
}

#[tokio::test]
async fn tracking_off_answers_exactly_id_and_video_url() {
    let delivery = Delivery {
        tracking: Tracking::Off,
        ..Delivery::in_memory()
    };
    let server = server(delivery).await;
    let reply = server.get("/ad_request?country=us&lang=eng").await;
    assert_eq!(
        reply.body,
        r#"{"id":"a1","video_url":"https://cdn.example.com/a1.mp4"}"#
    );
    let vast = server
        .get("/ad_request?country=us&lang=eng&format=vast")
        .await;
    assert_eq!(vast.status, 200);
    assert!(vast.body.contains("<AdServingId>"), "{}", vast.body);
    assert!(!vast.body.contains("/event?"), "{}", vast.body);
    // Served is still counted.
    let stats = server.admin_get("/stats?day=2026-01-15").await;
    assert_eq!(stats_of(&stats.body, "a1")["served"], 1);
    assert_eq!(stats_of(&stats.body, "b2")["served"], 1);
}

#[tokio::test]
async fn vast_answers_follow_the_json_rotation() {
    let server = server(Delivery::in_memory()).await;
    let json = server.get("/ad_request?country=us&lang=eng").await.ad_id();
    let vast = server
        .get("/ad_request?country=us&lang=eng&format=VAST")
        .await;
    assert_eq!(vast.status, 200);
    assert_eq!(vast.header("content-type"), Some("application/xml"));
    assert_eq!(vast.header("cache-control"), Some("no-store"));
    let other = if json == "a1" { "b2" } else { "a1" };
    assert!(
        vast.body.contains(&format!("<Ad id=\"{other}\"")),
        "{}",
        vast.body
    );
    assert!(vast.body.contains("<VAST version=\"4.2\""));
    let a1 = server
        .get("/ad_request?country=us&lang=eng&format=vast")
        .await;
    assert!(
        a1.body.contains("<Duration>00:00:15</Duration>"),
        "{}",
        a1.body
    );
    assert!(a1.body.contains("First &amp; &lt;best&gt;"), "{}", a1.body);
    assert!(a1.body.contains("e=click"), "{}", a1.body);

    let none = server
        .get("/ad_request?country=fr&lang=fre&format=vast")
        .await;
    assert_eq!(none.status, 200);
    assert!(!none.body.contains("<Ad "), "{}", none.body);
    let bad = server
        .get("/ad_request?country=us&lang=eng&format=xml")
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("'format'"), "{bad:?}");
}

#[tokio::test]
async fn a_bad_video_field_skips_only_its_ad() {
    let server = server(Delivery::in_memory()).await;
    let explain = server.admin_get("/explain?country=us&lang=eng").await;
    assert!(explain.body.contains("duration"), "{}", explain.body);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..4 {
        seen.insert(server.get("/ad_request?country=us&lang=eng").await.ad_id());
    }
    assert_eq!(seen, ["a1", "b2"].map(String::from).into_iter().collect());
}

#[tokio::test]
async fn stats_answer_csv_with_the_same_columns_and_filter_by_ad() {
    let server = server(Delivery::in_memory()).await;
    for _ in 0..3 {
        server.get("/ad_request?country=us&lang=eng").await;
    }
    let csv = server.admin_get("/stats?day=2026-01-15&format=csv").await;
    assert_eq!(csv.status, 200, "{csv:?}");
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let mut lines = csv.body.lines();
    assert_eq!(
        lines.next(),
        Some("id,served,impression,start,firstQuartile,midpoint,thirdQuartile,complete,skip,click,error")
    );
    assert_eq!(lines.next(), Some("a1,2,0,0,0,0,0,0,0,0,0"));
    assert_eq!(lines.next(), Some("b2,1,0,0,0,0,0,0,0,0,0"));

    let one = server.admin_get("/stats?day=2026-01-15&ad=b2").await;
    let v: serde_json::Value = serde_json::from_str(&one.body).unwrap();
    assert_eq!(v["day"], "2026-01-15");
    assert_eq!(v["ads"].as_array().unwrap().len(), 1);
    let other_day = server.admin_get("/stats?day=2026-01-14").await;
    assert_eq!(other_day.body, r#"{"day":"2026-01-14","ads":[]}"#);
    assert_eq!(server.admin_get("/stats?day=yesterday").await.status, 400);
    // Public listener: no such endpoint.
    assert_eq!(server.get("/stats").await.status, 404);
    tokio::time::sleep(Duration::from_millis(1)).await;
}
