//! The cost of the access gate, in process: `handle_from` on an ad request
//! with no authentication, and with a JWT that every request reuses (the
//! verified-token cache path). Batches of the two alternate and the fastest
//! batch of each counts, which keeps other load on the machine out of the
//! figure. Socket and HTTP parsing costs are left out, so the ratio here is
//! a lower bound on the end-to-end one.
//!
//! ```sh
//! cargo run --release --example gate_cost
//! ```

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::Request;
use serde_json::json;

use adserver::access::Access;
use adserver::auth::{Auth, JwtSettings, JwtVerifier};
use adserver::clock::ManualClock;
use adserver::fetch::Source;
use adserver::router::{handle_from, Listener};
use adserver::state::State;
use adserver::synthetic;

#[path = "../tests/support/es256.rs"]
mod es256;

const BATCH: u32 = 200_000;
const ROUNDS: u32 = 15;

fn state(access: Access) -> State {
    let state = State::new(ManualClock::new(12)).with_access(access);
    let _ = state.publish(synthetic::sample_catalog());
    state
}

fn batch(state: &State, req: &Request<()>, peer: IpAddr) -> Duration {
    let started = Instant::now();
    for _ in 0..BATCH {
        black_box(handle_from(state, Listener::Public, peer, black_box(req)));
    }
    started.elapsed() / BATCH
}

fn main() {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = json!({"sub":"game","iss":"https://id.example","aud":"games","exp":now + 3600});
    let (path, token) = es256::jwks_and_token("gate", &claims);
    let jwt = JwtVerifier::load(JwtSettings {
        source: Source::File(path.clone()),
        issuer: Some("https://id.example".into()),
        audience: Some("games".into()),
        allow_insecure: false,
    })
    .unwrap();
    let _ = std::fs::remove_file(path);

    let plain = state(Access::default());
    let authed = state(Access {
        auth: Auth {
            api_keys: None,
            jwt: Some(std::sync::Arc::new(jwt)),
        },
        ..Access::default()
    });
    let peer: IpAddr = "192.0.2.1".parse().unwrap();
    let url = "/ad_request?country=us&lang=eng";
    let plain_req = Request::get(url).body(()).unwrap();
    let authed_req = Request::get(url)
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap();
    assert_eq!(
        handle_from(&authed, Listener::Public, peer, &authed_req).status(),
        200
    );

    let (mut best_plain, mut best_authed) = (Duration::MAX, Duration::MAX);
    for _ in 0..ROUNDS {
        best_plain = best_plain.min(batch(&plain, &plain_req, peer));
        best_authed = best_authed.min(batch(&authed, &authed_req, peer));
    }
    let checks = authed.access.auth.jwt.as_ref().unwrap().signature_checks();
    println!("unauthenticated: {best_plain:?} per request");
    println!("reused JWT:      {best_authed:?} per request ({checks} signature check)");
    println!(
        "throughput ratio (reused JWT / unauthenticated): {:.2}",
        best_plain.as_secs_f64() / best_authed.as_secs_f64()
    );
}
