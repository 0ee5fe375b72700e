//! How compile time and memory grow with the catalog.
//!
//! ```sh
//! cargo run --release --example genfeed -- --ads 1000000 > /tmp/feed-1m.json
//! cargo run --release --example catalog_scale -- --runs 5 /tmp/feed-1m.json
//! ```
//!
//! Times are the median of `--runs` runs (default 3): this machine is
//! shared, and single runs vary by 2x.
//!
//! For each feed file, the way the server loads it (`feed::parse_into` a
//! `catalog::Builder`, then `Builder::finish`): the time to parse,
//! validate and store the ads, the time to compile the table, the heap the
//! finished catalog keeps and the most heap the load held at once, the raw
//! document included (both counted by a global allocator wrapper, so
//! freed-but-cached memory does not blur them), and the process's peak
//! resident set (VmHWM), which also includes the example's own copy of
//! the document.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::Instant;

use adserver::catalog::Builder;
use adserver::feed::Sink;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
/// The most `LIVE` has been since it was last reset.
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: delegates every call to the system allocator unchanged and only
// keeps a running count of live bytes beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Compile time and memory of the catalog for each feed file.
#[derive(clap::Parser)]
struct Args {
    /// Runs per file; the median time is reported.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Feed files, e.g. from `cargo run --example genfeed`.
    #[arg(required = true)]
    feeds: Vec<String>,
}

fn median(mut ms: Vec<f64>) -> f64 {
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

fn main() {
    let args = <Args as clap::Parser>::parse();
    println!(
        "| ads | feed MiB | parse + validate + store ms | compile ms | catalog heap MiB | peak heap MiB | peak RSS MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for path in args.feeds {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let (mut parse_ms, mut compile_ms) = (Vec::new(), Vec::new());
        let (mut ads, mut catalog_heap, mut peak_heap) = (0, 0, 0);
        for _ in 0..args.runs.max(1) {
            let before = LIVE.load(Relaxed);
            PEAK.store(before, Relaxed);
            let mut body = bytes.clone();
            let started = Instant::now();
            let mut builder = Builder::new();
            let skips = adserver::feed::parse_into(&mut body, &mut builder)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            parse_ms.push(started.elapsed().as_secs_f64() * 1e3);
            drop(body);
            ads = builder.len();
            let started = Instant::now();
            let catalog = builder.finish(skips);
            compile_ms.push(started.elapsed().as_secs_f64() * 1e3);
            catalog_heap = LIVE.load(Relaxed) - before;
            peak_heap = PEAK.load(Relaxed) - before;
            drop(catalog);
        }
        let mib = |n: isize| n as f64 / (1 << 20) as f64;
        println!(
            "| {} | {:.1} | {:.0} | {:.0} | {:.1} | {:.0} | {:.0} |",
            ads,
            mib(bytes.len() as isize),
            median(parse_ms),
            median(compile_ms),
            mib(catalog_heap),
            mib(peak_heap),
            peak_rss_mib(),
        );
    }
}
