//! Rotation cursors under many cores (README "Performance", "Many cores"):
//! every `(country, lang, hour)` bucket turns one `AtomicU64`, so threads
//! serving the same bucket bounce its cache line between cores.
//!
//! N threads (N = `available_parallelism`) call `Catalog::select` in a
//! loop, started together on a barrier:
//! - `shared`: all on ONE bucket (same country, language and hour);
//! - `own`: each on its OWN bucket (a pair each, so the cursors sit 24
//!   slots apart, on different cache lines);
//! - `neighbours`: one pair, consecutive hours: distinct cursors that share
//!   a cache line (slots are 16 bytes), the false-sharing case;
//! - `single`: one thread alone, the uncontended baseline.
//!
//! The `cursor` group models the schemes alone, outside the catalog (the
//! request path is unchanged): `one` is today's single cursor per bucket,
//! `striped` gives each thread its own cursor on its own cache line (the
//! scheme README "Many cores" weighs), so the two differ only in sharing.
//!
//! Criterion's figure is the time of the slowest thread divided by the
//! iterations each thread ran: ns per select per thread. Thread start-up
//! is outside the timed span, and criterion bounds the iterations by the
//! measurement time.
//!
//! `cargo bench --bench contention -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use adserver::catalog::{Catalog, Lookup};
use adserver::codes::{Country, Lang};
use adserver::synthetic::{self, LANGS};
use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion};

/// Ads per bucket: a rotation of a few, as a popular pair has.
const ADS_PER_PAIR: usize = 4;

/// The hour every `shared` and `own` lookup asks for.
const HOUR: u8 = 10;

/// A catalog with one all-day pair `(us, LANGS[i])` per thread, each of
/// [`ADS_PER_PAIR`] ads.
fn catalog(threads: usize) -> Catalog {
    let ads: Vec<String> = (0..threads)
        .flat_map(|t| {
            (0..ADS_PER_PAIR)
                .map(move |a| synthetic::ad_json(&format!("t{t}a{a}"), "us", LANGS[t], 0, 0, ""))
        })
        .collect();
    let json = format!(r#"{{"ads":[{}]}}"#, ads.join(","));
    let catalog = synthetic::compile_json(&json);
    assert_eq!(catalog.len(), threads * ADS_PER_PAIR, "every ad compiled");
    catalog
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_760_000_000, 0).expect("a valid instant")
}

/// Thread `t`'s lookup; `pair` and `hour` say how it differs from the others.
fn lookup_for(t: usize, own_pair: bool, own_hour: bool) -> Lookup<'static> {
    let lang = LANGS[if own_pair { t } else { 0 }];
    let hour = if own_hour {
        (HOUR + t as u8) % 24
    } else {
        HOUR
    };
    Lookup::new(
        Country::parse(b"us").expect("us"),
        Lang::parse(lang.as_bytes()).expect("a known language"),
        hour,
        now(),
    )
}

/// `work(t)` on each of `threads` threads at once, started together; the
/// slowest thread's time.
fn slowest(threads: usize, work: impl Fn(usize) + Sync) -> Duration {
    let barrier = Barrier::new(threads);
    thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (barrier, work) = (&barrier, &work);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    work(t);
                    start.elapsed()
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a bench thread panicked"))
            .max()
            .unwrap_or_default()
    })
}

/// `iters` selects on each of `lookups.len()` threads at once; the slowest
/// thread's time.
fn run(catalog: &Catalog, lookups: &[Lookup<'static>], iters: u64) -> Duration {
    slowest(lookups.len(), |t| {
        for _ in 0..iters {
            black_box(catalog.select(black_box(&lookups[t])));
        }
    })
}

fn contention(c: &mut Criterion) {
    let threads = thread::available_parallelism().map_or(1, |n| n.get());
    let threads = threads.min(LANGS.len()).max(2);
    let catalog = catalog(threads);
    for t in 0..threads {
        for (own_pair, own_hour) in [(false, false), (true, false), (false, true)] {
            assert!(
                catalog.select(&lookup_for(t, own_pair, own_hour)).is_some(),
                "every bench lookup serves an ad"
            );
        }
    }
    let cases: [(&str, Vec<Lookup<'static>>); 4] = [
        ("single", vec![lookup_for(0, false, false)]),
        (
            "shared",
            (0..threads).map(|t| lookup_for(t, false, false)).collect(),
        ),
        (
            "own",
            (0..threads).map(|t| lookup_for(t, true, false)).collect(),
        ),
        (
            "neighbours",
            (0..threads).map(|t| lookup_for(t, false, true)).collect(),
        ),
    ];
    let mut g = c.benchmark_group(format!("select_{threads}_threads"));
    for (name, lookups) in &cases {
        g.bench_function(*name, |b| {
            b.iter_custom(|iters| run(&catalog, lookups, iters))
        });
    }
    g.finish();
}

/// A cursor alone on its cache line.
#[repr(align(64))]
#[derive(Default)]
struct Padded(AtomicU64);

/// A bucket's rotation without the lookup: `fetch_add` on the cursor a
/// thread is given, then the ad at that turn of a four-ad cycle.
fn turns(cursor: &AtomicU64, cycle: &[u32; ADS_PER_PAIR], iters: u64) {
    for _ in 0..iters {
        let turn = cursor.fetch_add(1, Ordering::Relaxed) % cycle.len() as u64;
        black_box(cycle[turn as usize]);
    }
}

/// `turns` on each of `threads` threads at once, thread `t` on
/// `cursor(t)`; the slowest thread's time.
fn run_cursors<'c>(
    threads: usize,
    cursor: impl Fn(usize) -> &'c AtomicU64 + Sync,
    iters: u64,
) -> Duration {
    let cycle = [0, 1, 2, 3];
    slowest(threads, |t| turns(cursor(t), black_box(&cycle), iters))
}

fn cursor_schemes(c: &mut Criterion) {
    let threads = thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(2);
    let one = Padded::default();
    let stripes: Vec<Padded> = (0..threads).map(|_| Padded::default()).collect();
    let mut g = c.benchmark_group(format!("cursor_{threads}_threads"));
    g.bench_function("one", |b| {
        b.iter_custom(|iters| run_cursors(threads, |_| &one.0, iters))
    });
    g.bench_function("striped", |b| {
        b.iter_custom(|iters| run_cursors(threads, |t| &stripes[t].0, iters))
    });
    g.finish();
}

criterion_group!(benches, contention, cursor_schemes);
criterion_main!(benches);
