//! The access gate adds no heap allocation to an ad request: with
//! everything off (the default), with a rate limit, with an API key, and
//! with a JWT already in the verified-token cache, each alone and with the
//! rate limit in front. Measured with a counting global allocator around
//! `handle_from`, against `handle` (no gate) on the same request.
//!
//! The client is already known in every case (the warm-up request): the
//! first request of a new client may allocate its rate-limit entry, and a
//! token's first request allocates its verified-token cache entry.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::Request;
use serde_json::json;

use adserver::access::Access;
use adserver::auth::{ApiKeys, Auth, JwtSettings, JwtVerifier};
use adserver::clock::ManualClock;
use adserver::fetch::Source;
use adserver::rate_limit::RateLimiter;
use adserver::router::{handle, handle_from, Listener};
use adserver::state::State;
use adserver::synthetic;

#[path = "support/es256.rs"]
mod es256;

#[path = "support/alloc.rs"]
mod alloc;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

fn state(access: Access) -> State {
    let state = State::new(ManualClock::new(12)).with_access(access);
    let _ = state.publish(synthetic::sample_catalog());
    state
}

/// A verifier for a fresh ES256 key and a token it signed.
fn jwt_verifier_and_token() -> (JwtVerifier, String) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (path, token) = es256::jwks_and_token("alloc", &json!({"sub":"g","exp":now + 600}));
    let verifier = JwtVerifier::load(JwtSettings {
        source: Source::File(path.clone()),
        issuer: None,
        audience: None,
        allow_insecure: false,
    })
    .unwrap();
    let _ = std::fs::remove_file(path);
    (verifier, token)
}

#[test]
fn the_access_gate_allocates_nothing() {
    let peer: IpAddr = "192.0.2.7".parse().unwrap();
    let (verifier, token) = jwt_verifier_and_token();
    let (limited_verifier, limited_token) = jwt_verifier_and_token();
    let limiter = || Some(RateLimiter::new(1_000_000, 1_000_000));
    let cases: Vec<(&str, Access, Option<String>)> = vec![
        ("default (all off)", Access::default(), None),
        (
            "rate limit",
            Access {
                rate_limit: limiter(),
                ..Access::default()
            },
            None,
        ),
        (
            "API key",
            Access {
                auth: Auth {
                    api_keys: Some(ApiKeys::parse("key-one\nkey-two\n")),
                    jwt: None,
                },
                ..Access::default()
            },
            Some("Bearer key-two".into()),
        ),
        (
            "cached JWT",
            Access {
                auth: Auth {
                    api_keys: None,
                    jwt: Some(std::sync::Arc::new(verifier)),
                },
                ..Access::default()
            },
            Some(format!("Bearer {token}")),
        ),
        (
            "rate limit + API key",
            Access {
                auth: Auth {
                    api_keys: Some(ApiKeys::parse("key-one\nkey-two\n")),
                    jwt: None,
                },
                rate_limit: limiter(),
                ..Access::default()
            },
            Some("Bearer key-one".into()),
        ),
        (
            "rate limit + cached JWT",
            Access {
                auth: Auth {
                    api_keys: None,
                    jwt: Some(std::sync::Arc::new(limited_verifier)),
                },
                rate_limit: limiter(),
                ..Access::default()
            },
            Some(format!("Bearer {limited_token}")),
        ),
        (
            "rate limit by IPv6 /64 behind a trusted proxy",
            Access {
                rate_limit: limiter(),
                trust_forwarded_for: true,
                ..Access::default()
            },
            None,
        ),
    ];
    for (case, access, authorization) in cases {
        let state = state(access);
        let mut req = Request::get("/ad_request?country=us&lang=eng");
        if let Some(value) = &authorization {
            req = req.header("authorization", value);
        }
        req = req.header("x-forwarded-for", "198.51.100.1, 2001:db8:7:7::1");
        let req = req.body(()).unwrap();
        // Warm up: the first JWT request is limited by address, verifies
        // and fills the cache; the second is the first the rate limit
        // counts against the token's subject, and makes its bucket. The
        // rest answer every ad of the pair once: an ad's first answer
        // takes its tally from the ledger (README "Delivery").
        for _ in 0..64 {
            assert_eq!(
                handle_from(&state, Listener::Public, peer, &req).status(),
                200,
                "{case}"
            );
        }
        let (ungated, ()) = alloc::allocations(|| drop(handle(&state, Listener::Public, &req)));
        let (gated, ()) = alloc::allocations(|| {
            let response = handle_from(&state, Listener::Public, peer, &req);
            assert_eq!(response.status(), 200, "{case}");
        });
        assert_eq!(gated, ungated, "{case}: the gate allocated");
    }
}
