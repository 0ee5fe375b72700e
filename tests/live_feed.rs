//! Following a live feed (the live-campaigns issue): changes show up,
//! unchanged feeds rebuild nothing, every failure keeps the last good
//! catalog and is counted, swaps under load fail no request, and a
//! snapshot covers a cold start while the feed is down.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use adserver::background::Loops;
use adserver::clock::Clock;
use adserver::feed::{snapshot, FailureReason};
use adserver::fetch::{FetchLimits, Source};
use adserver::refresh::{RefreshError, RefreshSettings, Refreshed, Refresher};
use support::*;
use tokio::sync::Notify;

const DE: &str = "/ad_request?country=de&lang=ger";

fn settings(url: &str) -> RefreshSettings {
    RefreshSettings {
        limits: FetchLimits {
            timeout: Duration::from_secs(1),
            ..FetchLimits::default()
        },
        ..RefreshSettings::new(Source::Url(url.to_owned()))
    }
}

/// `n` all-day ads for de/ger named `{prefix}0`, `{prefix}1`, …
fn feed_of(prefix: &str, n: usize) -> String {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let rows: Vec<(&str, &str, &str, u8, u8)> = ids
        .iter()
        .map(|id| (id.as_str(), "de", "ger", 0, 0))
        .collect();
    feed_json(&rows)
}

async fn served_ids(server: &TestServer, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(server.get(DE).await.ad_id());
    }
    ids.sort();
    ids
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("adserver-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Signals the loops and waits for them: each must stop by itself.
async fn stop(loops: Loops) {
    let stuck = loops.stop(Duration::from_secs(5)).await;
    assert!(stuck.is_empty(), "did not stop when signalled: {stuck:?}");
}

#[tokio::test]
async fn the_run_loop_stops_when_signalled_waiting_or_mid_refresh() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_of("good", 1))).await;
    let server = TestServer::start(5).await;
    // Waiting: an hour until the next refresh.
    let mut refresher = Refresher::new(
        server.state.publisher(),
        RefreshSettings {
            interval: Duration::from_secs(3600),
            ..settings(&feed.url)
        },
    );
    refresher.start().await;
    let mut loops = Loops::new();
    loops.spawn(
        "feed refresh",
        refresher.run(Arc::new(Notify::new()), loops.shutdown()),
    );
    stop(loops).await;

    // Mid-refresh: woken at once, the feed then takes 30 s to answer,
    // within the fetch timeout.
    feed.set(FeedAnswer {
        delay: Duration::from_secs(30),
        ..FeedAnswer::ok(feed_of("slow", 1))
    });
    let mut slow = settings(&feed.url);
    slow.limits.timeout = Duration::from_secs(60);
    let refresher = Refresher::new(server.state.publisher(), slow);
    let wake = Arc::new(Notify::new());
    let mut loops = Loops::new();
    loops.spawn(
        "feed refresh",
        refresher.run(Arc::clone(&wake), loops.shutdown()),
    );
    let asked = feed.request_count();
    wake.notify_one();
    while feed.request_count() == asked {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    stop(loops).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited for the feed"
    );
    assert_eq!(server.get(DE).await.ad_id(), "good0");
}

#[tokio::test]
async fn the_catalog_follows_a_changed_feed() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_of("old", 2))).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(server.state.publisher(), settings(&feed.url));
    assert_eq!(
        refresher.refresh().await.unwrap(),
        Refreshed::Loaded { ads: 2, skipped: 0 }
    );
    assert_eq!(served_ids(&server, 2).await, ["old0", "old1"]);
    feed.set(FeedAnswer::ok(feed_of("new", 3)));
    refresher.refresh().await.unwrap();
    assert_eq!(served_ids(&server, 3).await, ["new0", "new1", "new2"]);
}

#[tokio::test]
async fn the_run_loop_picks_up_a_change_within_the_interval_and_on_demand() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_of("old", 1))).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(
        server.state.publisher(),
        RefreshSettings {
            interval: Duration::from_secs(1),
            ..settings(&feed.url)
        },
    );
    refresher.start().await;
    let wake = Arc::new(Notify::new());
    let mut loops = Loops::new();
    loops.spawn(
        "feed refresh",
        refresher.run(wake.clone(), loops.shutdown()),
    );

    feed.set(FeedAnswer::ok(feed_of("new", 1)));
    let changed = Instant::now();
    while server.get(DE).await.ad_id() != "new0" {
        assert!(
            changed.elapsed() < Duration::from_secs(3),
            "change not served within the interval"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(changed.elapsed() <= Duration::from_millis(1100 + 500));
    stop(loops).await;

    // On demand: an hour-long interval, and a wake-up does it at once.
    let mut refresher = Refresher::new(
        server.state.publisher(),
        RefreshSettings {
            interval: Duration::from_secs(3600),
            ..settings(&feed.url)
        },
    );
    refresher.start().await;
    let mut loops = Loops::new();
    loops.spawn(
        "feed refresh",
        refresher.run(wake.clone(), loops.shutdown()),
    );
    feed.set(FeedAnswer::ok(feed_of("woken", 1)));
    wake.notify_one();
    let woken = Instant::now();
    while server.get(DE).await.ad_id() != "woken0" {
        assert!(
            woken.elapsed() < Duration::from_secs(3),
            "wake-up did not refresh"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop(loops).await;
}

#[tokio::test]
async fn not_modified_and_identical_bodies_rebuild_nothing() {
    let body = feed_of("a", 2);
    let feed = FeedServer::start(FeedAnswer::ok(body.clone()).with_header("ETag", "\"v1\"")).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(server.state.publisher(), settings(&feed.url));
    refresher.refresh().await.unwrap();
    let version = server.state.metrics.catalog_version();
    assert_eq!(version, 1);

    // The validator is sent back; the feed answers 304.
    feed.set(FeedAnswer::status(304));
    assert_eq!(refresher.refresh().await.unwrap(), Refreshed::Unchanged);
    let second = feed.requests.lock().unwrap()[1].to_ascii_lowercase();
    assert!(second.contains("if-none-match: \"v1\""), "{second}");

    // No validators honoured, same bytes: hashed, not rebuilt.
    feed.set(FeedAnswer::ok(body));
    assert_eq!(refresher.refresh().await.unwrap(), Refreshed::Unchanged);

    assert_eq!(
        server.state.metrics.catalog_version(),
        version,
        "nothing rebuilt"
    );
    assert_eq!(server.state.metrics.refresh_unchanged(), 2);
    assert_eq!(served_ids(&server, 2).await, ["a0", "a1"]);
}

#[tokio::test]
async fn last_modified_is_sent_back() {
    let date = "Wed, 21 Oct 2026 07:28:00 GMT";
    let feed =
        FeedServer::start(FeedAnswer::ok(feed_of("a", 1)).with_header("Last-Modified", date)).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(server.state.publisher(), settings(&feed.url));
    refresher.refresh().await.unwrap();
    feed.set(FeedAnswer::status(304));
    assert_eq!(refresher.refresh().await.unwrap(), Refreshed::Unchanged);
    let second = feed.requests.lock().unwrap()[1].to_ascii_lowercase();
    assert!(
        second.contains(&format!("if-modified-since: {}", date.to_ascii_lowercase())),
        "{second}"
    );
}

#[tokio::test]
async fn every_failure_keeps_the_old_catalog_and_is_counted() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_of("good", 10))).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(server.state.publisher(), settings(&feed.url));
    refresher.refresh().await.unwrap();

    let cases: Vec<(FailureReason, FeedAnswer)> = vec![
        (FailureReason::Status, FeedAnswer::status(500)),
        (FailureReason::Status, FeedAnswer::status(404)),
        (FailureReason::InvalidJson, FeedAnswer::ok("{\"ads\":[")),
        (
            FailureReason::NoAdsArray,
            FeedAnswer::ok("{\"campaigns\":[]}"),
        ),
        (FailureReason::Drop, FeedAnswer::ok(feed_of("few", 4))),
    ];
    for (reason, answer) in cases {
        feed.set(answer);
        let before = server.state.metrics.refresh_failures(reason);
        let err = refresher.refresh().await.unwrap_err();
        assert_eq!(err.reason(), reason, "{err}");
        assert_eq!(
            server.state.metrics.refresh_failures(reason),
            before + 1,
            "{reason} counted"
        );
        assert_eq!(
            served_ids(&server, 10).await.len(),
            10,
            "{reason}: old catalog serves"
        );
        assert!(server.get(DE).await.ad_id().starts_with("good"));
    }
    // Half the ads is still within the default guard of 50%.
    feed.set(FeedAnswer::ok(feed_of("half", 5)));
    refresher.refresh().await.unwrap();
    assert!(server.get(DE).await.ad_id().starts_with("half"));
}

#[tokio::test]
async fn the_drop_guard_names_the_counts() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_of("a", 100))).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(server.state.publisher(), settings(&feed.url));
    refresher.refresh().await.unwrap();
    feed.set(FeedAnswer::ok(feed_of("b", 3)));
    match refresher.refresh().await {
        Err(RefreshError::Drop {
            ads: 3,
            previous: 100,
            ..
        }) => {}
        other => panic!("expected a drop refusal, got {other:?}"),
    }
}

/// Moves the server's clock to `minutes` after `t0`; the drop guard reads
/// time from it.
fn clock_at(server: &TestServer, t0: chrono::DateTime<chrono::Utc>, minutes: i64) {
    server
        .clock
        .set_instant(t0 + chrono::Duration::minutes(minutes));
}

fn expect_drop(result: Result<Refreshed, RefreshError>, ads: usize, previous: usize) {
    match result {
        Err(RefreshError::Drop {
            ads: a,
            previous: p,
            ..
        }) if a == ads && p == previous => {}
        other => panic!("expected {ads} refused against {previous}, got {other:?}"),
    }
}

#[tokio::test]
async fn the_drop_guard_cannot_be_walked_down_by_halves() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_of("a", 51))).await;
    let server = TestServer::start(5).await;
    let t0 = server.clock.now();
    // The default window: an hour.
    let mut refresher = Refresher::new(server.state.publisher(), settings(&feed.url));
    refresher.refresh().await.unwrap();

    // The first halving stays within half of 51 and goes live.
    clock_at(&server, t0, 1);
    feed.set(FeedAnswer::ok(feed_of("b", 26)));
    refresher.refresh().await.unwrap();
    // The next is half of the live 26, but under half of the 51 of the
    // last hour.
    clock_at(&server, t0, 2);
    feed.set(FeedAnswer::ok(feed_of("c", 13)));
    expect_drop(refresher.refresh().await, 13, 51);
    clock_at(&server, t0, 59);
    expect_drop(refresher.refresh().await, 13, 51);
    assert_eq!(
        server.state.metrics.refresh_failures(FailureReason::Drop),
        2
    );
    assert!(server.get(DE).await.ad_id().starts_with('b'));
    // An hour after the 51, the 26 (accepted at minute 1) is the largest.
    clock_at(&server, t0, 61);
    refresher.refresh().await.unwrap();
    assert!(server.get(DE).await.ad_id().starts_with('c'));
}

#[tokio::test]
async fn a_drop_is_refused_while_the_larger_catalog_is_within_the_window() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_of("a", 51))).await;
    let server = TestServer::start(5).await;
    let t0 = server.clock.now();
    let mut refresher = Refresher::new(
        server.state.publisher(),
        RefreshSettings {
            drop_window: Duration::from_secs(600),
            ..settings(&feed.url)
        },
    );
    refresher.refresh().await.unwrap();
    feed.set(FeedAnswer::ok(feed_of("b", 25)));
    for minute in [0, 1, 5, 9] {
        clock_at(&server, t0, minute);
        expect_drop(refresher.refresh().await, 25, 51);
    }
    clock_at(&server, t0, 10);
    refresher.refresh().await.unwrap();
    assert!(server.get(DE).await.ad_id().starts_with('b'));

    // A catalog the feed keeps serving unchanged is accepted again each
    // time, so it holds the guard up however old its first load is.
    feed.set(FeedAnswer::ok(feed_of("c", 40)));
    refresher.refresh().await.unwrap();
    for minute in [15, 20, 25] {
        clock_at(&server, t0, minute);
        assert_eq!(refresher.refresh().await.unwrap(), Refreshed::Unchanged);
    }
    clock_at(&server, t0, 34);
    feed.set(FeedAnswer::ok(feed_of("d", 19)));
    expect_drop(refresher.refresh().await, 19, 40);
}

#[tokio::test]
async fn a_refused_connection_keeps_the_catalog() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_of("a", 1))).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(server.state.publisher(), settings(&feed.url));
    refresher.refresh().await.unwrap();
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut dead = Refresher::new(
        server.state.publisher(),
        settings(&format!("http://{closed}/ads.json")),
    );
    let err = dead.refresh().await.unwrap_err();
    assert_eq!(err.reason(), FailureReason::Connect, "{err}");
    assert_eq!(
        server
            .state
            .metrics
            .refresh_failures(FailureReason::Connect),
        1
    );
    assert_eq!(server.get(DE).await.ad_id(), "a0");
}

#[tokio::test]
async fn a_feed_that_sleeps_past_the_timeout_is_abandoned_on_time() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_of("a", 1))).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(server.state.publisher(), settings(&feed.url));
    refresher.refresh().await.unwrap();
    feed.set(FeedAnswer {
        delay: Duration::from_secs(5),
        ..FeedAnswer::ok(feed_of("late", 1))
    });
    let started = Instant::now();
    let err = refresher.refresh().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.reason(), FailureReason::Timeout, "{err}");
    assert!(
        took < Duration::from_millis(2500),
        "gave up after {took:?}, timeout is 1 s"
    );
    assert_eq!(
        server
            .state
            .metrics
            .refresh_failures(FailureReason::Timeout),
        1
    );
    assert_eq!(server.get(DE).await.ad_id(), "a0");
}

#[tokio::test]
async fn a_body_over_the_cap_is_refused_without_reading_it_whole() {
    let feed = FeedServer::start(FeedAnswer::ok(feed_of("a", 1))).await;
    let server = TestServer::start(5).await;
    let limits = FetchLimits {
        max_bytes: 64 * 1024,
        timeout: Duration::from_secs(5),
        ..FetchLimits::default()
    };
    let mut refresher = Refresher::new(
        server.state.publisher(),
        RefreshSettings {
            limits,
            ..settings(&feed.url)
        },
    );
    refresher.refresh().await.unwrap();

    // Declared too large: refused from the header.
    feed.set(FeedAnswer::ok(vec![b' '; 200 * 1024]));
    assert_eq!(
        refresher.refresh().await.unwrap_err().reason(),
        FailureReason::TooLarge
    );

    // No length, never ending: reading stops just past the cap.
    let sent_before = feed.bytes_sent.load(Ordering::Relaxed);
    feed.set(FeedAnswer {
        endless: true,
        ..FeedAnswer::ok("")
    });
    let err = refresher.refresh().await.unwrap_err();
    assert_eq!(err.reason(), FailureReason::TooLarge, "{err}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = feed.bytes_sent.load(Ordering::Relaxed) - sent_before;
    assert!(
        sent < 32 * 1024 * 1024,
        "the feed pushed {sent} bytes before we hung up"
    );
    assert_eq!(
        server
            .state
            .metrics
            .refresh_failures(FailureReason::TooLarge),
        2
    );
    assert_eq!(server.get(DE).await.ad_id(), "a0");
}

#[tokio::test]
async fn swapping_catalogs_under_load_fails_no_request() {
    let old = feed_of("old", 3);
    let new = feed_of("new", 4);
    let feed = FeedServer::start(FeedAnswer::ok(old.clone())).await;
    let server = Arc::new(TestServer::start(5).await);
    let mut refresher = Refresher::new(server.state.publisher(), settings(&feed.url));
    refresher.refresh().await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop, answered) = (server.clone(), stop.clone(), answered.clone());
            tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(70);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let reply = server.get(DE).await;
                    assert_eq!(reply.status, 200, "{reply:?}");
                    let id = reply.ad_id();
                    let known = (id.starts_with("old") && id[3..].parse::<usize>().unwrap() < 3)
                        || (id.starts_with("new") && id[3..].parse::<usize>().unwrap() < 4);
                    assert!(known, "{id} belongs to neither catalog");
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // Ten swaps while the clients run. Bounded by a deadline, not timed:
    // rebuilds run on an idle-priority thread, so a busy machine slows them.
    let started = Instant::now();
    let mut swaps = 0;
    while swaps < 10 && started.elapsed() < Duration::from_secs(60) {
        feed.set(FeedAnswer::ok(if swaps % 2 == 0 {
            new.clone()
        } else {
            old.clone()
        }));
        refresher.refresh().await.unwrap();
        swaps += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.expect("no client saw a failure");
    }
    assert!(swaps >= 10, "only {swaps} swaps");
    assert!(
        answered.load(Ordering::Relaxed) > 100,
        "{} answers",
        answered.load(Ordering::Relaxed)
    );
    assert_eq!(server.state.metrics.catalog_version(), swaps + 1);
}

#[tokio::test]
async fn a_good_load_writes_the_snapshot() {
    let dir = temp_dir("snapshot-write");
    let path = dir.join("feed.json");
    let body = feed_of("snap", 2);
    let feed = FeedServer::start(FeedAnswer::ok(body.clone())).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(
        server.state.publisher(),
        RefreshSettings {
            snapshot: Some(path.clone()),
            ..settings(&feed.url)
        },
    );
    refresher.refresh().await.unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), body);
    // A refused feed does not overwrite it.
    feed.set(FeedAnswer::ok("{\"ads\":"));
    assert!(refresher.refresh().await.is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), body);
}

#[tokio::test]
async fn a_cold_start_with_the_feed_down_serves_the_snapshot() {
    let dir = temp_dir("snapshot-cold");
    let path = dir.join("feed.json");
    snapshot::save(&path, feed_of("snap", 2).as_bytes()).unwrap();
    // A torn temp file from an earlier crash lies beside it.
    std::fs::write(snapshot::temp_path(&path), "{\"ads\":[{\"id\":\"torn").unwrap();

    let feed = FeedServer::start(FeedAnswer::status(503)).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(
        server.state.publisher(),
        RefreshSettings {
            snapshot: Some(path.clone()),
            interval: Duration::from_secs(1),
            ..settings(&feed.url)
        },
    );
    refresher.start().await;
    assert_eq!(server.get("/readyz").await.status, 200);
    assert_eq!(served_ids(&server, 2).await, ["snap0", "snap1"]);
    assert!(server.state.metrics.is_stale());

    // The feed comes back: the run loop moves on to it, no longer stale.
    feed.set(FeedAnswer::ok(feed_of("live", 1)));
    let mut loops = Loops::new();
    loops.spawn(
        "feed refresh",
        refresher.run(Arc::new(Notify::new()), loops.shutdown()),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.get(DE).await.ad_id() != "live0" {
        assert!(
            Instant::now() < deadline,
            "feed never took over from the snapshot"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(loops).await;
    assert!(!server.state.metrics.is_stale());
}

#[tokio::test]
async fn an_unconditional_304_leaves_a_snapshot_start_stale() {
    let dir = temp_dir("snapshot-304");
    let path = dir.join("feed.json");
    snapshot::save(&path, feed_of("snap", 2).as_bytes()).unwrap();
    let feed = FeedServer::start(FeedAnswer::status(503)).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(
        server.state.publisher(),
        RefreshSettings {
            snapshot: Some(path),
            interval: Duration::from_secs(1),
            ..settings(&feed.url)
        },
    );
    refresher.start().await;
    let stale = "adserver_catalog_stale 1";
    assert!(get(server.admin, "/metrics").await.body.contains(stale));

    // No validator was sent (the snapshot has none), so a 304 confirms
    // nothing: a failed fetch, and the snapshot stays stale.
    feed.set(FeedAnswer::status(304));
    let err = refresher.refresh().await.unwrap_err();
    assert_eq!(err.reason(), FailureReason::Status, "{err}");
    let sent = feed
        .requests
        .lock()
        .unwrap()
        .last()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        !sent.contains("if-none-match") && !sent.contains("if-modified-since"),
        "{sent}"
    );
    let asked = feed.request_count();
    let mut loops = Loops::new();
    loops.spawn(
        "feed refresh",
        refresher.run(Arc::new(Notify::new()), loops.shutdown()),
    );
    let deadline = Instant::now() + Duration::from_secs(8);
    while feed.request_count() < asked + 2 {
        assert!(Instant::now() < deadline, "the run loop stopped asking");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(loops).await;
    assert!(get(server.admin, "/metrics").await.body.contains(stale));
    assert!(server.state.metrics.refresh_unchanged() == 0);
    assert_eq!(served_ids(&server, 2).await, ["snap0", "snap1"]);
}

#[tokio::test]
async fn without_a_snapshot_a_cold_start_answers_503_and_keeps_trying() {
    let feed = FeedServer::start(FeedAnswer::status(500)).await;
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(server.state.publisher(), settings(&feed.url));
    refresher.start().await;
    assert_eq!(server.get("/readyz").await.status, 503);
    assert_eq!(server.get(DE).await.status, 503);

    let mut loops = Loops::new();
    loops.spawn(
        "feed refresh",
        refresher.run(Arc::new(Notify::new()), loops.shutdown()),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    feed.set(FeedAnswer::ok(feed_of("late", 1)));
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.get("/readyz").await.status != 200 {
        assert!(Instant::now() < deadline, "never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop(loops).await;
    assert_eq!(server.get(DE).await.ad_id(), "late0");
    assert!(feed.request_count() >= 2);
}
