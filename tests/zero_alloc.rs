//! Proof that our part of the request path allocates nothing: query
//! parsing, the catalog lookup, rotation and picking the prebuilt body,
//! 10,000 times under a counting global allocator.
//!
//! It also reports (without asserting) what one whole `http::handle` call
//! allocates: that is hyper's `Response` and `HeaderMap`, outside our
//! control, and the number to watch if it ever grows.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Arc;

use adserver::catalog::Catalog;
use adserver::clock::ManualClock;
use adserver::codes::PairKey;
use adserver::query::parse_ad_request;
use adserver::router::{handle, Listener};
use adserver::state::State;

struct Counting;

thread_local! {
    /// Allocations made by this thread while counting is on.
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
}

fn note_allocation() {
    // try_with: the allocator also runs while thread-locals are torn down.
    let _ = COUNT.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

// SAFETY: every call is passed unchanged to the system allocator; the only
// addition is a thread-local counter, which never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations `work` makes on this thread.
fn allocations(work: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(Some(0)));
    work();
    COUNT.with(|c| c.replace(None)).unwrap()
}

const QUERIES: [&str; 6] = [
    "country=us&lang=eng",
    "country=US&lang=ENG&sdk=unity",
    "country=%75%73&lang=en-US",
    "country=ca&lang=fr_CA",
    "country=zz&lang=eng",
    "country=usa&lang=eng",
];

fn sample_catalog() -> Catalog {
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/data/ads.json")).unwrap();
    Catalog::compile(&adserver::feed::parse(body).unwrap())
}

#[test]
fn the_counter_sees_allocations() {
    // A test of the test: without this, a broken counter would pass below.
    let n = allocations(|| drop(std::hint::black_box(vec![1u8; 10])));
    assert_eq!(n, 1);
}

#[test]
fn parse_lookup_rotation_and_body_allocate_nothing() {
    let catalog = sample_catalog();
    let mut served = 0u64;
    let n = allocations(|| {
        for i in 0..10_000 {
            let query = QUERIES[i % QUERIES.len()];
            let Ok(request) = parse_ad_request(Some(std::hint::black_box(query))) else {
                continue;
            };
            let key = PairKey::new(request.country, request.lang);
            if let Some(body) = catalog.pick(key, (i % 24) as u8) {
                // What the response takes: a new reference to the prebuilt body.
                let body = body.clone();
                served += body.len() as u64;
            }
        }
    });
    assert!(served > 0, "the loop served ads");
    assert_eq!(n, 0, "allocations on our part of the request path");
}

#[test]
fn report_what_a_whole_handle_call_allocates() {
    let state = State::new(Arc::new(ManualClock::new(5)));
    let _ = state.publish(sample_catalog());
    let request = hyper::Request::get("/ad_request?country=us&lang=eng")
        .body(())
        .unwrap();
    handle(&state, Listener::Public, &request); // warm up lazy statics
    let n = allocations(|| {
        for _ in 0..1_000 {
            std::hint::black_box(handle(&state, Listener::Public, &request));
        }
    });
    println!(
        "http::handle allocates {:.1} times per request (hyper Response + HeaderMap)",
        n as f64 / 1_000.0
    );
    assert!(
        n <= 1_000 * 4,
        "{n} allocations in 1,000 calls: more than hyper's own"
    );
}
