//! How compile time and memory grow with the catalog.
//!
//! ```sh
//! cargo run --release --example genfeed -- --ads 1000000 > /tmp/feed-1m.json
//! cargo run --release --example catalog_scale -- /tmp/feed-1m.json
//! ```
//!
//! For each feed file: the time to parse and validate it, the time to
//! compile the table, the heap the compiled catalog keeps (counted by a
//! global allocator wrapper, so freed-but-cached memory does not blur it),
//! and the process's peak resident set (VmHWM), which includes the raw
//! document and the parsed feed while they are alive.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};
use std::time::Instant;

use adserver::catalog::Catalog;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates every call to the system allocator unchanged and only
// keeps a running count of live bytes beside it.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
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

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: catalog_scale FEED.json [FEED.json ...]");
        std::process::exit(2);
    }
    println!(
        "| ads | feed MiB | parse + validate ms | compile ms | catalog heap MiB | peak RSS MiB |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    for path in paths {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let size = bytes.len();
        let started = Instant::now();
        let feed = adserver::feed::parse(bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        let parsed = started.elapsed();
        let before = LIVE.load(Relaxed);
        let started = Instant::now();
        let catalog = Catalog::compile(&feed);
        let compiled = started.elapsed();
        let catalog_heap = LIVE.load(Relaxed) - before;
        println!(
            "| {} | {:.1} | {:.0} | {:.0} | {:.1} | {:.0} |",
            catalog.len(),
            size as f64 / (1 << 20) as f64,
            parsed.as_secs_f64() * 1e3,
            compiled.as_secs_f64() * 1e3,
            catalog_heap as f64 / (1 << 20) as f64,
            peak_rss_mib(),
        );
        drop((feed, catalog));
    }
}
