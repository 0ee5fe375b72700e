//! The request path, piece by piece and whole: query parsing, the catalog
//! lookup with rotation, and a request through `http::handle` (no sockets).
//!
//! `cargo bench --bench request_path`. Target: parse + lookup + rotation
//! under 100 ns median (the `path/parse_lookup_rotate` group).

use std::hint::black_box;
use std::sync::Arc;

use adserver::catalog::{Catalog, Exclude, Lookup};
use adserver::clock::ManualClock;
use adserver::codes::{Country, Lang};
use adserver::http::{handle, Listener, State};
use adserver::query::parse_ad_request;
use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion};

fn sample_catalog() -> Catalog {
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/ads.json")).unwrap();
    Catalog::compile(&adserver::feed::parse(body).unwrap())
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

/// The sample catalog plus what it lacks: wildcard ads at each fallback
/// level and ads with their own `timezone`.
fn targeting_catalog() -> Catalog {
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/ads.json")).unwrap();
    let end = sample.rfind(']').unwrap();
    let extra = [
        ("us_any", "us", "*", None),
        ("any_ger", "*", "ger", None),
        ("house", "*", "*", None),
        ("kolkata", "in", "eng", Some("Asia/Kolkata")),
        ("tokyo", "in", "eng", Some("Asia/Tokyo")),
    ]
    .map(|(id, country, lang, zone)| {
        let zone = zone.map_or(String::new(), |z| format!(r#","timezone":"{z}""#));
        format!(
            r#",{{"id":"{id}","video_url":"https://cdn.example.com/{id}.mp4","country":"{country}","lang":"{lang}","start_hour":0,"end_hour":0{zone}}}"#
        )
    })
    .concat();
    let feed = format!("{}{extra}{}", &sample[..end], &sample[end..]);
    Catalog::compile(&adserver::feed::parse(feed.into_bytes()).unwrap())
}

fn code(country: &str, lang: &str) -> (Country, Lang) {
    (
        Country::parse(country.as_bytes()).unwrap(),
        Lang::parse(lang.as_bytes()).unwrap(),
    )
}

/// 2026-01-15 04:00 UTC; the basis hour below is 3, as if the server's
/// zone were an hour behind.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_768_449_600 + 4 * 3600, 0).unwrap()
}

fn lookup(c: &mut Criterion) {
    let sample = sample_catalog();
    let targeting = targeting_catalog();
    let none = Exclude::default();
    let mut two = Exclude::default();
    two.push(b"096d3737");
    two.push(b"9623d7cf");
    let mut g = c.benchmark_group("lookup");
    for (name, catalog, (country, lang), hour, exclude) in [
        // us/eng has several ads at hour 3: every call rotates.
        ("hit_rotating", &sample, code("us", "eng"), 3, &none),
        ("hit_single", &sample, code("ca", "fre"), 3, &none),
        // Every fallback level tried, none present.
        ("miss_pair", &sample, code("zz", "eng"), 3, &none),
        ("miss_hour", &sample, code("us", "spa"), 2, &none),
        // No (us, ger) ads: served from (us, *); zz/fre from (*, *).
        ("hit_fallback", &targeting, code("us", "ger"), 3, &none),
        ("hit_any", &targeting, code("zz", "fre"), 3, &none),
        // in/eng has own-zone ads, checked against the instant.
        ("hit_own_zone", &targeting, code("in", "eng"), 3, &none),
        ("hit_exclude", &sample, code("us", "eng"), 3, &two),
    ] {
        let now = now();
        g.bench_function(name, |b| {
            b.iter(|| {
                catalog.select(&Lookup {
                    country: black_box(country),
                    lang: black_box(lang),
                    hour: black_box(hour),
                    now,
                    exclude: black_box(exclude),
                })
            })
        });
    }
    g.finish();
}

fn path(c: &mut Criterion) {
    let catalog = sample_catalog();
    let mut g = c.benchmark_group("path");
    let now = now();
    // What http::handle runs: parse, then the lookup with its fallback
    // levels, exclude and the clock's instant.
    for (name, query) in [
        ("parse_lookup_rotate", "country=us&lang=eng"),
        ("parse_lookup_fallback_miss", "country=zz&lang=xx"),
        (
            "parse_lookup_exclude",
            "country=us&lang=eng&exclude=096d3737,9623d7cf",
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = parse_ad_request(black_box(Some(query))).unwrap();
                catalog
                    .select(&Lookup {
                        country: r.country,
                        lang: r.lang,
                        hour: black_box(3),
                        now,
                        exclude: &r.exclude,
                    })
                    .cloned()
            })
        });
    }

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
