//! Rate limiting over real HTTP: the burst is allowed, the excess gets 429
//! with Retry-After, and the client recovers once the window passes.

#[path = "guard/mod.rs"]
mod common;

use std::time::Duration;

use adserver::access::Access;
use adserver::auth::{ApiKeys, Auth};
use adserver::rate_limit::RateLimiter;
use adserver::server::ServerOptions;
use common::{get, start, AD};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_then_429_then_recovery() {
    // 2 per second, burst 3: a token comes back every 500 ms.
    let access = Access {
        rate_limit: Some(RateLimiter::new(2, 3)),
        ..Access::default()
    };
    let server = start(ServerOptions::default(), access).await;
    for i in 0..3 {
        assert_eq!(
            get(server.public, AD, &[]).await.status,
            200,
            "request {i} of the burst"
        );
    }
    let limited = get(server.public, AD, &[]).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.header("content-type"), Some("application/json"));
    assert!(limited.body.contains(r#""error":"rate_limited""#));
    use adserver::metrics::{Outcome, Route};
    assert_eq!(
        server
            .state
            .metrics
            .requests(Route::AdRequest, Outcome::RateLimited),
        1,
        "429s are counted"
    );
    // Probes are never limited.
    assert_eq!(get(server.public, "/healthz", &[]).await.status, 200);

    tokio::time::sleep(Duration::from_millis(650)).await;
    assert_eq!(get(server.public, AD, &[]).await.status, 200, "recovered");
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
    let server = start(ServerOptions::default(), access).await;
    let a = [("Authorization", "Bearer key-a")];
    let b = [("Authorization", "Bearer key-b")];
    assert_eq!(get(server.public, AD, &a).await.status, 200);
    assert_eq!(get(server.public, AD, &a).await.status, 429);
    // Same address, other key: its own bucket.
    assert_eq!(get(server.public, AD, &b).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_is_the_client_only_when_trusted() {
    let limited = |trust| Access {
        rate_limit: Some(RateLimiter::new(1, 1)),
        trust_forwarded_for: trust,
        ..Access::default()
    };
    let trusting = start(ServerOptions::default(), limited(true)).await;
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    assert_eq!(
        get(trusting.public, AD, &from("203.0.113.1")).await.status,
        200
    );
    assert_eq!(
        get(trusting.public, AD, &from("203.0.113.1")).await.status,
        429
    );
    assert_eq!(
        get(trusting.public, AD, &from("203.0.113.2")).await.status,
        200
    );

    let wary = start(ServerOptions::default(), limited(false)).await;
    assert_eq!(get(wary.public, AD, &from("203.0.113.1")).await.status, 200);
    // A spoofed header does not buy a fresh bucket.
    assert_eq!(get(wary.public, AD, &from("203.0.113.2")).await.status, 429);
}
