//! Recording one request's metrics: our hand-rendered atomics against
//! prometheus-client (a counter family labelled by route and outcome plus a
//! histogram), the choice issue 6 asked to make by measurement.
//! `cargo bench --bench metrics`.

use std::hint::black_box;
use std::time::Duration;

use adserver::metrics::{Metrics, Outcome};
use adserver::router::Route;
use criterion::{criterion_group, criterion_main, Criterion};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    route: &'static str,
    outcome: &'static str,
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("metrics_record");
    let ours = Metrics::default();
    g.bench_function("atomics", |b| {
        b.iter(|| {
            ours.record(
                black_box(Route::AdRequest),
                black_box(Outcome::Ad),
                black_box(Duration::from_nanos(4_200)),
            )
        })
    });

    let requests = Family::<Labels, Counter>::default();
    let latency = Histogram::new(exponential_buckets(1e-6, 2.5, 14));
    g.bench_function("prometheus_client", |b| {
        b.iter(|| {
            requests
                .get_or_create(black_box(&Labels {
                    route: "ad_request",
                    outcome: "ad",
                }))
                .inc();
            latency.observe(black_box(Duration::from_nanos(4_200)).as_secs_f64());
        })
    });
    g.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
