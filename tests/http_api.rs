//! README "Endpoints and statuses" over real HTTP on 127.0.0.1: every row of the status
//! table, rotation, readiness and graceful shutdown.

mod support;

use std::time::Duration;

use adserver::fetch::Source;
use adserver::refresh::{RefreshSettings, Refresher};
use adserver::synthetic::SAMPLE_FEED;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn server_with(feed: &str, hour: u8) -> TestServer {
    let server = TestServer::start(hour).await;
    load_json(&server, feed).await;
    server
}

async fn load(server: &TestServer, source: Source) {
    Refresher::new(server.state.publisher(), RefreshSettings::new(source))
        .refresh()
        .await
        .unwrap();
}

async fn sample_server(hour: u8) -> TestServer {
    let server = TestServer::start(hour).await;
    load(&server, Source::File(SAMPLE_FEED.into())).await;
    server
}

#[tokio::test]
async fn the_sample_feed_serves_us_eng_at_every_hour() {
    let server = sample_server(0).await;
    for hour in 0..24 {
        server.clock.set(hour);
        let reply = server.get("/ad_request?country=us&lang=eng").await;
        assert_eq!(reply.status, 200, "hour {hour}: {reply:?}");
        assert!(reply.body.contains("\"video_url\":\"http"), "{reply:?}");
    }
}

#[tokio::test]
async fn an_eligible_ad_is_200_json_no_store() {
    let server = server_with(&feed_json(&[("59d4fb16", "us", "eng", 1, 14)]), 5).await;
    let reply = server.get("/ad_request?country=us&lang=eng").await;
    assert_eq!(reply.status, 200);
    // Tracking is on by default: the serving id and event URL follow
    // (tests/delivery.rs checks them, and the exact body with it off).
    assert!(
        reply.body.starts_with(
            r#"{"id":"59d4fb16","video_url":"https://cdn.example.com/59d4fb16.mp4","serving_id":""#
        ),
        "{reply:?}"
    );
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn case_and_percent_encoding_and_extra_params_do_not_matter() {
    let server = server_with(&feed_json(&[("a", "us", "eng", 0, 0)]), 5).await;
    for query in [
        "country=US&lang=ENG",
        "lang=eng&country=us",
        "country=%75%73&lang=%45ng",
        "country=us&lang=eng&player=42&sdk=unity",
    ] {
        let reply = server.get(&format!("/ad_request?{query}")).await;
        assert_eq!(reply.ad_id(), "a", "{query}");
    }
}

#[tokio::test]
async fn the_hour_window_is_whole_hours_in_the_clock() {
    let server = server_with(&feed_json(&[("a", "us", "eng", 1, 14)]), 0).await;
    for (hour, status) in [(0, 404), (1, 200), (13, 200), (14, 404), (23, 404)] {
        server.clock.set(hour);
        let reply = server.get("/ad_request?country=us&lang=eng").await;
        assert_eq!(reply.status, status, "hour {hour}");
    }
}

#[tokio::test]
async fn no_eligible_ad_is_404_no_ad() {
    let server = server_with(&feed_json(&[("a", "us", "eng", 1, 14)]), 20).await;
    for query in [
        "country=us&lang=eng",
        "country=zz&lang=eng",
        "country=us&lang=spa",
    ] {
        let reply = server.get(&format!("/ad_request?{query}")).await;
        assert_eq!(reply.status, 404, "{query}");
        assert!(
            reply.body.starts_with(r#"{"error":"no_ad","message":""#),
            "{reply:?}"
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn bad_queries_are_400_naming_the_parameter() {
    let server = sample_server(5).await;
    let cases = [
        ("/ad_request", "country"),
        ("/ad_request?lang=eng", "country"),
        ("/ad_request?country=us", "lang"),
        ("/ad_request?country=&lang=eng", "country"),
        ("/ad_request?country=us&lang=", "lang"),
        ("/ad_request?country=us&country=ca&lang=eng", "country"),
        ("/ad_request?country=us&lang=eng&lang=eng", "lang"),
        ("/ad_request?country=usa&lang=eng", "country"),
        ("/ad_request?country=u5&lang=eng", "country"),
        ("/ad_request?country=us&lang=e", "lang"),
        ("/ad_request?country=us&lang=english", "lang"),
        ("/ad_request?country=us&lang=%00ng", "lang"),
    ];
    for (path, param) in cases {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 400, "{path}");
        assert!(
            reply
                .body
                .starts_with(r#"{"error":"invalid_request","message":""#),
            "{path}: {}",
            reply.body
        );
        assert!(
            reply.body.contains(&format!("'{param}'")),
            "{path}: {}",
            reply.body
        );
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
    // Over-long but within the URI limit (longer URIs get 414, see tests/limits.rs).
    let long = format!("/ad_request?country=us&lang={}", "e".repeat(1000));
    assert_eq!(server.get(&long).await.status, 400);
}

#[tokio::test]
async fn before_any_catalog_ad_requests_and_readyz_are_503() {
    let server = TestServer::start(5).await;
    let reply = server.get("/ad_request?country=us&lang=eng").await;
    assert_eq!(reply.status, 503);
    assert!(reply
        .body
        .starts_with(r#"{"error":"unavailable","message":""#));
    assert!(reply.header("retry-after").is_some());
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(server.get("/readyz").await.status, 503);
    assert_eq!(get(server.admin, "/readyz").await.status, 503);
    assert_eq!(server.get("/healthz").await.status, 200);

    load(&server, Source::File(SAMPLE_FEED.into())).await;
    assert_eq!(server.get("/readyz").await.status, 200);
    assert_eq!(get(server.admin, "/readyz").await.status, 200);
    assert_eq!(
        server.get("/ad_request?country=us&lang=eng").await.status,
        200
    );
}

#[tokio::test]
async fn a_query_error_wins_over_unavailable() {
    // A malformed request is the client's fault whatever the server's state.
    let server = TestServer::start(5).await;
    assert_eq!(
        server.get("/ad_request?country=usa&lang=eng").await.status,
        400
    );
}

#[tokio::test]
async fn other_methods_are_405_with_allow() {
    let server = sample_server(5).await;
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let reply = request(server.public, method, "/ad_request?country=us&lang=eng").await;
        assert_eq!(reply.status, 405, "{method}");
        assert_eq!(reply.header("allow"), Some("GET, HEAD"));
        assert!(reply.body.starts_with(r#"{"error":"method_not_allowed""#));
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn head_answers_like_get_without_a_body() {
    let server = server_with(&feed_json(&[("a", "us", "eng", 0, 0)]), 5).await;
    let reply = request(server.public, "HEAD", "/ad_request?country=us&lang=eng").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let bad = request(server.public, "HEAD", "/ad_request?country=us").await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn unknown_paths_are_404_not_found() {
    let server = sample_server(5).await;
    for path in [
        "/",
        "/ad",
        "/ad_request/x",
        "/AD_REQUEST?country=us&lang=eng",
        "/metrics",
    ] {
        let reply = server.get(path).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.body.starts_with(r#"{"error":"not_found""#), "{path}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }
}

#[tokio::test]
async fn metrics_answer_on_the_admin_listener_only() {
    let server = sample_server(5).await;
    server.get("/ad_request?country=us&lang=eng").await;
    server.get("/ad_request?country=us").await;
    let reply = get(server.admin, "/metrics").await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert!(
        reply
            .body
            .contains("adserver_requests_total{route=\"ad_request\",outcome=\"ad\"} 1\n"),
        "{}",
        reply.body
    );
    assert!(reply
        .body
        .contains("adserver_requests_total{route=\"ad_request\",outcome=\"invalid_request\"} 1\n"));
    assert!(reply.body.contains("adserver_catalog_ads "));
    assert!(reply
        .body
        .contains("adserver_request_duration_seconds_bucket"));
    assert_eq!(get(server.admin, "/healthz").await.status, 200);
    assert_eq!(server.get("/metrics").await.status, 404);
}

#[tokio::test]
async fn k_requests_rotate_through_k_ads_in_a_fixed_order() {
    let server = server_with(
        &feed_json(&[
            ("a", "us", "eng", 0, 0),
            ("b", "us", "eng", 4, 6),
            ("c", "us", "eng", 22, 3),
            ("d", "us", "eng", 5, 6),
            ("other", "ca", "eng", 0, 0),
        ]),
        5,
    )
    .await;
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(server.get("/ad_request?country=us&lang=eng").await.ad_id());
    }
    assert_eq!(seen, ["a", "b", "d", "a", "b", "d", "a", "b", "d"]);

    server.clock.set(23);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(server.get("/ad_request?country=US&lang=eng").await.ad_id());
    }
    assert_eq!(seen, ["a", "c", "a", "c"]);
}

#[tokio::test]
async fn a_feed_over_http_is_served() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_json(&[("web1", "de", "ger", 0, 0)]))).await;
    let server = TestServer::start(5).await;
    load(&server, Source::Url(feed.url.clone())).await;
    assert_eq!(
        server.get("/ad_request?country=de&lang=ger").await.ad_id(),
        "web1"
    );
    assert_eq!(feed.request_count(), 1);
}

#[tokio::test]
async fn shutdown_finishes_an_in_flight_request() {
    let server = sample_server(5).await;
    let mut stream = TcpStream::connect(server.public).await.unwrap();
    // Half a request: the server has started reading it when the signal comes.
    stream
        .write_all(b"GET /ad_request?country=us&lang=eng HTTP/1.1\r\nHost: t")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let public = server.public;
    let shutdown = tokio::spawn(server.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    stream.write_all(b"\r\n\r\n").await.unwrap();
    let reply = read_reply(&mut stream).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert!(shutdown.await.unwrap(), "every connection drained");
    assert!(
        TcpStream::connect(public).await.is_err(),
        "no longer accepting"
    );
}
