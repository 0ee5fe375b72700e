//! Rate limiting over real HTTP: the burst is allowed, the excess gets 429
//! with Retry-After, and the client recovers once the window passes.
//! Clients are keyed exactly (a flood of identities leaves everyone else
//! alone) and IPv6 clients by their /64 (README "Security").

#[path = "support/pipeline.rs"]
mod pipeline;
mod support;

use std::time::Duration;

use adserver::access::Access;
use adserver::auth::{ApiKeys, Auth};
use adserver::rate_limit::RateLimiter;
use adserver::server::ServerOptions;
use support::{get_with, TestServer, AD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_then_429_then_recovery() {
    // 2 per second, burst 3: a token comes back every 500 ms.
    let access = Access {
        rate_limit: Some(RateLimiter::new(2, 3)),
        ..Access::default()
    };
    let server = TestServer::start_with_access(ServerOptions::default(), access).await;
    for i in 0..3 {
        assert_eq!(
            get_with(server.public, AD, &[]).await.status,
            200,
            "request {i} of the burst"
        );
    }
    let limited = get_with(server.public, AD, &[]).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.header("content-type"), Some("application/json"));
    assert!(limited.body.contains(r#""error":"rate_limited""#));
    use adserver::metrics::Outcome;
    use adserver::router::Route;
    assert_eq!(
        server
            .state
            .metrics
            .requests(Route::AdRequest, Outcome::RateLimited),
        1,
        "429s are counted"
    );
    // Probes are never limited.
    assert_eq!(get_with(server.public, "/healthz", &[]).await.status, 200);

    tokio::time::sleep(Duration::from_millis(650)).await;
    assert_eq!(
        get_with(server.public, AD, &[]).await.status,
        200,
        "recovered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authenticated_clients_are_limited_by_key_not_address() {
    let access = Access {
        auth: Auth {
            api_keys: Some(ApiKeys::parse("key-a\nkey-b\n")),
            jwt: None,
        },
        rate_limit: Some(RateLimiter::new(1, 1)),
        ..Access::default()
    };
    let server = TestServer::start_with_access(ServerOptions::default(), access).await;
    let a = [("Authorization", "Bearer key-a")];
    let b = [("Authorization", "Bearer key-b")];
    assert_eq!(get_with(server.public, AD, &a).await.status, 200);
    assert_eq!(get_with(server.public, AD, &a).await.status, 429);
    // Same address, other key: its own bucket.
    assert_eq!(get_with(server.public, AD, &b).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_the_client_only_when_trusted() {
    let limited = |trust| Access {
        rate_limit: Some(RateLimiter::new(1, 1)),
        trust_forwarded_for: trust,
        ..Access::default()
    };
    let trusting = TestServer::start_with_access(ServerOptions::default(), limited(true)).await;
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    assert_eq!(
        get_with(trusting.public, AD, &from("203.0.113.1"))
            .await
            .status,
        200
    );
    assert_eq!(
        get_with(trusting.public, AD, &from("203.0.113.1"))
            .await
            .status,
        429
    );
    assert_eq!(
        get_with(trusting.public, AD, &from("203.0.113.2"))
            .await
            .status,
        200
    );

    let wary = TestServer::start_with_access(ServerOptions::default(), limited(false)).await;
    assert_eq!(
        get_with(wary.public, AD, &from("203.0.113.1")).await.status,
        200
    );
    // A spoofed header does not buy a fresh bucket.
    assert_eq!(
        get_with(wary.public, AD, &from("203.0.113.2")).await.status,
        429
    );
}

/// A server at `--rate-limit 1` (burst 1) behind a trusted proxy.
async fn one_per_second_behind_a_proxy() -> TestServer {
    let access = Access {
        rate_limit: Some(RateLimiter::new(1, 1)),
        trust_forwarded_for: true,
        ..Access::default()
    };
    TestServer::start_with_access(ServerOptions::default(), access).await
}

fn from(ip: &str) -> String {
    pipeline::request(AD, &[("X-Forwarded-For", ip)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_identities_never_limits_an_innocent_client() {
    // 10 000 identities take their one token each (every tenth asks twice
    // and must be refused); between them, 1 000 clients never seen before
    // ask once each. With buckets hashed into 65 536 shared slots, an
    // innocent whose slot a flooder took in the last second got 429 (about
    // one in ten of them here).
    let server = one_per_second_behind_a_proxy().await;
    let mut requests = Vec::new();
    let mut expected = Vec::new();
    for n in 0..10_000u32 {
        let flooder = from(&format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255));
        requests.push(flooder.clone());
        expected.push(200);
        if n % 10 == 9 {
            requests.push(flooder);
            expected.push(429);
            requests.push(from(&format!("172.16.{}.{}", n >> 8, n & 255)));
            expected.push(200);
        }
    }
    let answers = pipeline::statuses(server.public, &requests).await;
    let wrong: Vec<_> = (0..answers.len())
        .filter(|&i| answers[i] != expected[i])
        .map(|i| (i, answers[i], expected[i]))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} answers wrong (index, got, wanted), first: {:?}",
        wrong.len(),
        answers.len(),
        &wrong[..wrong.len().min(5)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_clients_rotating_within_one_64_are_limited_together() {
    let server = one_per_second_behind_a_proxy().await;
    let same_64 = [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
        "2001:db8:1:2:abcd:ef01:2345:6789",
    ];
    let requests: Vec<String> = same_64.iter().map(|ip| from(ip)).collect();
    assert_eq!(
        pipeline::statuses(server.public, &requests).await,
        [200, 429, 429, 429],
        "one /64 is one client"
    );
    // Other /64s, even next door, are other clients.
    let others: Vec<String> = ["2001:db8:1:3::1", "2001:db8:1:1::1", "2001:db9:1:2::1"]
        .iter()
        .map(|ip| from(ip))
        .collect();
    assert_eq!(
        pipeline::statuses(server.public, &others).await,
        [200, 200, 200]
    );
    // An IPv4-mapped address is the IPv4 client it maps.
    let mapped: Vec<String> = ["::ffff:203.0.113.9", "203.0.113.9"]
        .iter()
        .map(|ip| from(ip))
        .collect();
    assert_eq!(pipeline::statuses(server.public, &mapped).await, [200, 429]);
}
