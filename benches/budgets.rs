//! What budgets cost a whole request through `router::handle` (no
//! sockets, tracking on): the sample feed as is, with a `daily_cap` on
//! every ad (gates read, none blocked), and with a `frequency_cap` on every
//! ad asked with a `uid` (one map read and one map update per request).
//!
//! `cargo bench --bench budgets` (README "Budgets").

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use adserver::catalog::Catalog;
use adserver::clock::ManualClock;
use adserver::router::{handle, Listener};
use adserver::state::State;
use criterion::{criterion_group, criterion_main, Criterion};

/// The sample feed with `extra` merged into every ad.
fn catalog(extra: serde_json::Value) -> Catalog {
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/ads.json")).unwrap();
    let mut feed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    for ad in feed["ads"].as_array_mut().unwrap() {
        for (k, v) in extra.as_object().unwrap() {
            ad[k] = v.clone();
        }
    }
    Catalog::compile(&adserver::feed::parse(serde_json::to_vec(&feed).unwrap()).unwrap())
}

fn state(catalog: Catalog) -> State {
    let state = State::new(Arc::new(ManualClock::new(3)));
    let _ = state.publish(catalog);
    adserver::budget::sync_now(&state);
    state
}

fn budgets(c: &mut Criterion) {
    let mut g = c.benchmark_group("budgets");
    g.measurement_time(Duration::from_secs(4));
    let plain = hyper::Request::get("/ad_request?country=us&lang=eng")
        .body(())
        .unwrap();
    let uncapped = state(catalog(serde_json::json!({})));
    g.bench_function("handle_uncapped", |b| {
        b.iter(|| handle(&uncapped, Listener::Public, black_box(&plain)))
    });
    let capped = state(catalog(
        serde_json::json!({"daily_cap": 1_000_000_000u64, "total_cap": 1_000_000_000u64}),
    ));
    g.bench_function("handle_daily_total_capped", |b| {
        b.iter(|| handle(&capped, Listener::Public, black_box(&plain)))
    });
    let frequency = state(catalog(
        serde_json::json!({"frequency_cap": {"count": 1_000_000, "hours": 720}}),
    ));
    let players: Vec<_> = (0..1000)
        .map(|i| {
            hyper::Request::get(format!("/ad_request?country=us&lang=eng&uid=player-{i}"))
                .body(())
                .unwrap()
        })
        .collect();
    let mut i = 0;
    g.bench_function("handle_frequency_capped_uid", |b| {
        b.iter(|| {
            i = (i + 1) % players.len();
            handle(&frequency, Listener::Public, black_box(&players[i]))
        })
    });
    g.bench_function("handle_frequency_capped_no_uid", |b| {
        b.iter(|| handle(&frequency, Listener::Public, black_box(&plain)))
    });
    g.finish();
}

criterion_group!(benches, budgets);
criterion_main!(benches);
