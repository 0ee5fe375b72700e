//! Proof that the request path the server runs allocates nothing: query
//! parsing, `Catalog::select` at every fallback level (`(country, *)`,
//! `(*, lang)`, `(*, *)`), with own-zone ads judged at the instant and with
//! `exclude`, rotation and the prebuilt body, 10,000 times under a counting
//! global allocator.
//!
//! A whole `http::handle` call does allocate: hyper's `Response` and its
//! `HeaderMap`, outside our control. The second proof holds each kind of ad
//! request to exactly what building that same response by hand allocates,
//! and prints the figure to watch.

use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use http_body_util::Full;

use adserver::catalog::Catalog;
use adserver::clock::ManualClock;
use adserver::delivery::{Delivery, Tracking};
use adserver::query::parse_ad_request;
use adserver::router::{handle, Listener};
use adserver::state::State;
use adserver::synthetic;

#[path = "support/alloc.rs"]
mod alloc;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Every kind of ad request, with the id prefix of the body it must be
/// able to get (`None`: any, or none at all).
const QUERIES: [(&str, Option<&str>); 10] = [
    ("country=us&lang=eng", None),
    ("country=US&lang=ENG&sdk=unity", None),
    ("country=%75%73&lang=en-US", None),
    ("country=ca&lang=fr_CA", None),
    // (us, ger) has no ads: (country, *) answers.
    ("country=us&lang=ger", Some("us_any")),
    // (fr, ger) and (fr, *) have none: (*, lang) answers.
    ("country=fr&lang=ger", Some("any_ger")),
    // Nothing for zz at all: (*, *) answers, with its own-zone ad in turn.
    ("country=zz&lang=eng", Some("house")),
    // in/eng has ads with their own timezone.
    ("country=in&lang=eng", Some("kolkata")),
    (
        "country=us&lang=eng&exclude=59d4fb16,f75d5ea7,d26b9496,51c34250,096d3737",
        None,
    ),
    ("country=usa&lang=eng", None),
];

/// Bodies the select loop must have served at least once: each fallback
/// level, and each own-zone ad (one of them only in its hours).
const MUST_SERVE: [&str; 6] = [
    "us_any",
    "any_ger",
    "house",
    "house_zoned",
    "kolkata",
    "tokyo",
];

/// The sample catalog plus what it lacks: an ad at each fallback level and
/// ads with their own `timezone`, one of them at a fallback level.
fn targeting_catalog() -> Catalog {
    let extra = [
        ("us_any", "us", "*", 0, 0, None),
        ("any_ger", "*", "ger", 0, 0, None),
        ("house", "*", "*", 0, 0, None),
        ("house_zoned", "*", "*", 6, 12, Some("America/New_York")),
        ("kolkata", "in", "eng", 0, 0, Some("Asia/Kolkata")),
        ("tokyo", "in", "eng", 9, 17, Some("Asia/Tokyo")),
    ]
    .map(|(id, country, lang, start, end, zone)| {
        let zone = zone.map_or(String::new(), |z| format!(r#","timezone":"{z}""#));
        synthetic::ad_json(id, country, lang, start, end, &zone)
    });
    let feed = adserver::feed::parse(synthetic::sample_json_with(&extra).into_bytes()).unwrap();
    assert_eq!(
        feed.skip_counts.total(),
        0,
        "the fixture's ads are all valid"
    );
    Catalog::compile(&feed)
}

/// Whether `body` is the ad `id`'s (bodies start `{"id":"…"`).
fn is_ad(body: &[u8], id: &str) -> bool {
    body.get(7..7 + id.len()) == Some(id.as_bytes()) && body.get(7 + id.len()) == Some(&b'"')
}

#[test]
fn parse_select_rotation_and_body_allocate_nothing() {
    let catalog = targeting_catalog();
    let start: DateTime<Utc> = "2026-01-15T00:00:00Z".parse().unwrap();
    // Fixed arrays, so that keeping score allocates nothing either.
    let mut served = [0u64; MUST_SERVE.len()];
    let mut answered = [0u64; QUERIES.len()];
    let (n, ()) = alloc::allocations(|| {
        for i in 0..10_000 {
            let (query, expected) = QUERIES[i % QUERIES.len()];
            let Ok(request) = parse_ad_request(Some(std::hint::black_box(query))) else {
                continue;
            };
            // The basis hour and the instant move apart, as they do when
            // the hour is the player's: own-zone ads see every hour.
            let lookup = request.lookup((i % 24) as u8, start + Duration::minutes(7 * i as i64));
            let Some(ad) = catalog.select(&lookup) else {
                continue;
            };
            // What the response takes: a new reference to the prebuilt body.
            let body = ad.body();
            if expected.map_or(true, |id| is_ad(&body, id)) {
                answered[i % QUERIES.len()] += 1;
            }
            for (count, id) in served.iter_mut().zip(MUST_SERVE) {
                *count += u64::from(is_ad(&body, id));
            }
        }
    });
    assert_eq!(n, 0, "allocations on the request path");
    for ((query, expected), count) in QUERIES.iter().zip(answered) {
        if expected.is_some() {
            assert!(count > 0, "{query} never served {expected:?}");
        }
    }
    for (id, count) in MUST_SERVE.iter().zip(served) {
        assert!(count > 0, "{id} was never served: its path went unproven");
    }
}

#[test]
fn a_whole_handle_call_allocates_only_the_hyper_response() {
    // Tracking on (the default: serving id, signed token, spliced body) and
    // off, as JSON and as VAST (README "Delivery"): each answer costs what
    // hyper's own response costs and nothing more.
    for tracking in [Tracking::On, Tracking::Off] {
        for format in ["", "&format=vast"] {
            handle_allocates_only_the_response(tracking, format);
        }
    }
}

fn handle_allocates_only_the_response(tracking: Tracking, format: &str) {
    // 03:30 UTC, basis hour 3: no plain in/eng ad is in its hours, so only
    // the own-zone ads (Kolkata 09:00, Tokyo 12:30) can answer that pair.
    let delivery = Delivery {
        tracking,
        ..Delivery::in_memory()
    };
    let state = State::new(Arc::new(ManualClock::new(3))).with_delivery(delivery);
    let _ = state.publish(targeting_catalog());
    for (case, uri) in [
        ("exact", "/ad_request?country=us&lang=eng"),
        ("(country, *)", "/ad_request?country=us&lang=ger"),
        ("(*, lang)", "/ad_request?country=fr&lang=ger"),
        ("(*, *)", "/ad_request?country=zz&lang=eng"),
        ("own zone", "/ad_request?country=in&lang=eng"),
        (
            "exclude",
            "/ad_request?country=us&lang=eng&exclude=59d4fb16,f75d5ea7,d26b9496,51c34250,096d3737",
        ),
    ] {
        let case = format!("{case} {tracking:?}{format}");
        let request = hyper::Request::get(format!("{uri}{format}"))
            .header("host", "ads.example.com")
            .body(())
            .unwrap();
        // Warm up lazy statics, and build each rotating ad's template once
        // (an ad's first answer in a form builds it; README "Delivery").
        for _ in 0..100 {
            handle(&state, Listener::Public, &request);
        }
        let answer = handle(&state, Listener::Public, &request);
        assert_eq!(answer.status(), 200, "{case}: the path under test served");
        let status = answer.status();
        let headers: Vec<_> = answer
            .headers()
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();

        let waker = Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let (ours, ()) = alloc::allocations(|| {
            for _ in 0..1_000 {
                let response = handle(&state, Listener::Public, &request);
                // Read the body as hyper writes it: every chunk.
                let mut body = response.into_body();
                while let Some(frame) = poll_frame(&mut body, &mut cx) {
                    let data = frame.into_data().ok().unwrap();
                    std::hint::black_box(bytes::Buf::remaining(&data));
                }
            }
        });
        // The same response built by hand: what hyper allocates for it.
        let (hypers, ()) = alloc::allocations(|| {
            for _ in 0..1_000 {
                let mut response = hyper::Response::new(Full::new(Bytes::new()));
                *response.status_mut() = status;
                for (name, value) in &headers {
                    response.headers_mut().insert(name.clone(), value.clone());
                }
                std::hint::black_box(response);
            }
        });
        println!(
            "{case}: router::handle allocates {:.1} times per request, hyper's response {:.1}",
            ours as f64 / 1_000.0,
            hypers as f64 / 1_000.0
        );
        assert_eq!(ours, hypers, "{case}: handle allocated beyond the response");
    }
}

struct Noop;

impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// One frame of a body that is always ready (ours never waits).
fn poll_frame<B: http_body::Body + Unpin>(
    body: &mut B,
    cx: &mut Context<'_>,
) -> Option<http_body::Frame<B::Data>> {
    match std::pin::Pin::new(body).poll_frame(cx) {
        Poll::Ready(Some(Ok(frame))) => Some(frame),
        Poll::Ready(_) => None,
        Poll::Pending => panic!("our bodies are always ready"),
    }
}
