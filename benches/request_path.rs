//! The request path, piece by piece and whole: query parsing, the catalog
//! lookup with rotation, and a request through `http::handle` (no sockets).
//!
//! `cargo bench --bench request_path`. Target: parse + lookup + rotation
//! under 100 ns median (the `path/parse_lookup_rotate` group).

use std::hint::black_box;
use std::sync::Arc;

use adserver::catalog::Catalog;
use adserver::clock::ManualClock;
use adserver::codes::{Country, Lang, PairKey};
use adserver::http::{handle, Listener, State};
use adserver::query::parse_ad_request;
use criterion::{criterion_group, criterion_main, Criterion};

fn sample_catalog() -> Catalog {
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/ads.json")).unwrap();
    Catalog::compile(&adserver::feed::parse(body).unwrap())
}

fn key(country: &str, lang: &str) -> PairKey {
    PairKey::new(
        Country::parse(country.as_bytes()).unwrap(),
        Lang::parse(lang.as_bytes()).unwrap(),
    )
}

fn query(c: &mut Criterion) {
    let mut g = c.benchmark_group("query");
    for (name, q) in [
        ("typical", "country=us&lang=eng"),
        ("upper_case", "country=US&lang=ENG"),
        ("percent_encoded", "country=%75%73&lang=%65%6E%67"),
        ("locale", "country=us&lang=en-US"),
        (
            "extra_params",
            "sdk=unity&v=3.1.4&country=us&session=8f2a&lang=eng",
        ),
        ("malformed", "country=usa&lang=eng"),
    ] {
        g.bench_function(name, |b| b.iter(|| parse_ad_request(black_box(Some(q)))));
    }
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let catalog = sample_catalog();
    let mut g = c.benchmark_group("lookup");
    // us/eng has several ads at hour 3: every call rotates.
    let hit = key("us", "eng");
    g.bench_function("hit_rotating", |b| {
        b.iter(|| catalog.pick(black_box(hit), black_box(3)))
    });
    let single = key("ca", "fre");
    g.bench_function("hit_single", |b| {
        b.iter(|| catalog.pick(black_box(single), black_box(3)))
    });
    let unknown = key("zz", "eng");
    g.bench_function("miss_pair", |b| {
        b.iter(|| catalog.pick(black_box(unknown), black_box(3)))
    });
    let spa = key("us", "spa");
    g.bench_function("miss_hour", |b| {
        b.iter(|| catalog.pick(black_box(spa), black_box(2)))
    });
    g.finish();
}

fn path(c: &mut Criterion) {
    let catalog = sample_catalog();
    let mut g = c.benchmark_group("path");
    g.bench_function("parse_lookup_rotate", |b| {
        b.iter(|| {
            let request = parse_ad_request(black_box(Some("country=us&lang=eng"))).unwrap();
            catalog
                .pick(PairKey::new(request.country, request.lang), black_box(3))
                .cloned()
        })
    });

    // What the targeting extensions cost: the request path as http::handle
    // runs it (fallback levels, exclude, the clock's instant).
    let now = chrono::DateTime::from_timestamp(1_768_449_600, 0).unwrap();
    g.bench_function("parse_select", |b| {
        b.iter(|| {
            let r = parse_ad_request(black_box(Some("country=us&lang=eng"))).unwrap();
            catalog
                .select(r.country, r.lang, black_box(3), now, &r.exclude)
                .cloned()
        })
    });
    g.bench_function("parse_select_fallback_miss", |b| {
        b.iter(|| {
            let r = parse_ad_request(black_box(Some("country=zz&lang=xx"))).unwrap();
            catalog
                .select(r.country, r.lang, black_box(3), now, &r.exclude)
                .cloned()
        })
    });
    g.bench_function("parse_select_exclude", |b| {
        b.iter(|| {
            let r = parse_ad_request(black_box(Some(
                "country=us&lang=eng&exclude=096d3737,9623d7cf",
            )))
            .unwrap();
            catalog
                .select(r.country, r.lang, black_box(3), now, &r.exclude)
                .cloned()
        })
    });

    let state = State::new(Arc::new(ManualClock::new(3)));
    let _ = state.publish(sample_catalog());
    for (name, uri) in [
        ("handle_ad", "/ad_request?country=us&lang=eng"),
        ("handle_no_ad", "/ad_request?country=zz&lang=eng"),
        ("handle_bad_request", "/ad_request?country=usa&lang=eng"),
    ] {
        let request = hyper::Request::get(uri).body(()).unwrap();
        g.bench_function(name, |b| {
            b.iter(|| handle(&state, Listener::Public, black_box(&request)))
        });
    }
    g.finish();
}

criterion_group!(benches, query, lookup, path);
criterion_main!(benches);
