//! The request path, piece by piece and whole: query parsing, the catalog
//! lookup with rotation, a request through `http::handle` (no sockets), and
//! the access gate in front of it (`http::handle_from`).
//!
//! `cargo bench --bench request_path`. Target: parse + lookup + rotation
//! under 100 ns median (the `path/parse_lookup_rotate` group). The `gate`
//! group prices the rate limiter: the exact-key map against the hashed
//! slot table it replaced (kept here as `HashedSlots` for the A/B), and
//! what an allowed request, a 429 and a refused token cost whole.

use std::hash::Hash;
use std::hint::black_box;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use adserver::access::Access;
use adserver::auth::{Auth, JwtSettings, JwtVerifier};
use adserver::catalog::{Catalog, Exclude, Lookup};
use adserver::clock::ManualClock;
use adserver::codes::{Country, Lang};
use adserver::fetch::Source;
use adserver::query::parse_ad_request;
use adserver::rate_limit::{ClientKey, RateLimiter};
use adserver::router::{handle, handle_from, Listener};
use adserver::state::State;
use adserver::synthetic::{self, sample_catalog};
use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion};

#[path = "../tests/support/es256.rs"]
mod es256;

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
    let extra = [
        ("us_any", "us", "*", None),
        ("any_ger", "*", "ger", None),
        ("house", "*", "*", None),
        ("kolkata", "in", "eng", Some("Asia/Kolkata")),
        ("tokyo", "in", "eng", Some("Asia/Tokyo")),
    ]
    .map(|(id, country, lang, zone)| {
        let zone = zone.map_or(String::new(), |z| format!(r#","timezone":"{z}""#));
        synthetic::ad_json(id, country, lang, 0, 0, &zone)
    });
    synthetic::compile_json(&synthetic::sample_json_with(&extra))
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
    // What router::handle runs: parse, then the lookup with its fallback
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
                    .select(&r.lookup(black_box(3), now))
                    .map(|ad| ad.body())
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

/// The limiter this project had before exact keys: 65 536 atomics, a
/// client hashed to one of them (two clients could share one). Kept only
/// to measure the new one against it in the same run.
struct HashedSlots {
    slots: Box<[AtomicU64]>,
    interval_ns: u64,
    tolerance_ns: u64,
    started: Instant,
    hasher: ahash::RandomState,
}

impl HashedSlots {
    fn new(per_second: u32, burst: u32) -> HashedSlots {
        let interval_ns = 1_000_000_000 / u64::from(per_second.max(1));
        HashedSlots {
            slots: (0..1 << 16).map(|_| AtomicU64::new(0)).collect(),
            interval_ns,
            tolerance_ns: interval_ns * u64::from(burst.max(1) - 1),
            started: Instant::now(),
            hasher: ahash::RandomState::new(),
        }
    }

    fn check(&self, client: impl Hash) -> Result<(), u64> {
        let slot = &self.slots[self.hasher.hash_one(client) as usize % self.slots.len()];
        let now = self.started.elapsed().as_nanos() as u64 + self.tolerance_ns + self.interval_ns;
        let mut tat = slot.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > self.tolerance_ns {
                return Err(start - now - self.tolerance_ns);
            }
            match slot.compare_exchange_weak(
                tat,
                start + self.interval_ns,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }
}

fn gate(c: &mut Criterion) {
    let mut g = c.benchmark_group("gate");
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let client: IpAddr = "192.0.2.7".parse().unwrap();
    let key = ClientKey::address(client);

    // The limiters alone, old and new, one known client: a rate no bench
    // loop reaches (allowed), and one request a second (refused).
    let (old, new) = (
        HashedSlots::new(1_000_000_000, 1_000_000_000),
        RateLimiter::new(1_000_000_000, 1_000_000_000),
    );
    g.bench_function("old_slots_allowed", |b| {
        b.iter(|| old.check(black_box(client)))
    });
    g.bench_function("exact_allowed", |b| b.iter(|| new.check(black_box(key))));
    let (old, new) = (HashedSlots::new(1, 1), RateLimiter::new(1, 1));
    let _ = (old.check(client), new.check(key));
    g.bench_function("old_slots_refused", |b| {
        b.iter(|| old.check(black_box(client)))
    });
    g.bench_function("exact_refused", |b| b.iter(|| new.check(black_box(key))));
    // A new client every time, with the map full: insert and evict.
    let mut n = 0u32;
    g.bench_function("exact_first_sighting", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            new.check(black_box(ClientKey::V4(n)))
        })
    });

    // Whole requests through handle_from, against the same one ungated.
    let request = hyper::Request::get("/ad_request?country=us&lang=eng")
        .body(())
        .unwrap();
    let serve = |access: Access| {
        let state = State::new(Arc::new(ManualClock::new(3))).with_access(access);
        let _ = state.publish(sample_catalog());
        state
    };
    let open = serve(Access::default());
    g.bench_function("ad_ungated", |b| {
        b.iter(|| handle_from(&open, Listener::Public, client, black_box(&request)))
    });
    let limited = |per_second| Access {
        rate_limit: Some(RateLimiter::new(per_second, per_second)),
        ..Access::default()
    };
    let allowing = serve(limited(1_000_000_000));
    g.bench_function("ad_rate_limit_allowed", |b| {
        b.iter(|| handle_from(&allowing, Listener::Public, client, black_box(&request)))
    });
    let refusing = serve(limited(1));
    let _ = handle_from(&refusing, Listener::Public, client, &request);
    g.bench_function("ad_429", |b| {
        b.iter(|| handle_from(&refusing, Listener::Public, client, black_box(&request)))
    });

    // A forged token: verified (and refused) on every request with no
    // limit, refused by the limiter before any verification with one.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (path, token) =
        es256::jwks_and_token("bench", &serde_json::json!({"sub":"g","exp":now + 3600}));
    let jwt = || {
        JwtVerifier::load(JwtSettings {
            source: Source::File(path.clone()),
            issuer: None,
            audience: None,
            allow_insecure: false,
        })
        .unwrap()
    };
    let (body, _) = token.rsplit_once('.').unwrap();
    let forged = format!("Bearer {body}.{}", "A".repeat(86));
    let forged = hyper::Request::get("/ad_request?country=us&lang=eng")
        .header("authorization", forged)
        .body(())
        .unwrap();
    let unlimited = serve(Access {
        auth: Auth {
            api_keys: None,
            jwt: Some(std::sync::Arc::new(jwt())),
        },
        ..Access::default()
    });
    g.bench_function("forged_token_401_verified", |b| {
        b.iter(|| handle_from(&unlimited, Listener::Public, client, black_box(&forged)))
    });
    let guarded = serve(Access {
        auth: Auth {
            api_keys: None,
            jwt: Some(std::sync::Arc::new(jwt())),
        },
        ..limited(1)
    });
    let _ = handle_from(&guarded, Listener::Public, client, &forged);
    g.bench_function("forged_token_429", |b| {
        b.iter(|| handle_from(&guarded, Listener::Public, client, black_box(&forged)))
    });
    let _ = std::fs::remove_file(path);
    g.finish();
}

criterion_group!(benches, query, lookup, path, gate);
criterion_main!(benches);
