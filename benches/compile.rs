//! Compiling the table from a parsed feed at 1k, 100k and 1M ads, and
//! parsing the 100k feed. `cargo bench --bench compile`.
//!
//! Memory at the same sizes: `cargo run --release --example catalog_scale`.

use std::hint::black_box;
use std::time::Duration;

use adserver::catalog::Catalog;
use adserver::synthetic;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("compile");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    for ads in [1_000, 100_000, 1_000_000] {
        let feed = adserver::feed::parse(synthetic::feed(ads, 1).into_bytes()).unwrap();
        g.bench_with_input(BenchmarkId::from_parameter(ads), &feed, |b, feed| {
            b.iter(|| Catalog::compile(black_box(feed)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("parse");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let text = synthetic::feed(100_000, 1).into_bytes();
    g.bench_function("100000", |b| {
        b.iter(|| adserver::feed::parse(black_box(text.clone())).unwrap())
    });
    g.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
