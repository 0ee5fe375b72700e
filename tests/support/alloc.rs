//! The counting global allocator behind every allocation proof
//! (`tests/*_alloc.rs`): the system allocator, plus a count of the
//! allocations the calling thread makes while [`allocations`] measures.
//!
//! Counted per thread, not per process: libtest runs a binary's tests on
//! parallel threads, and the proofs run the code they measure on the
//! calling thread, so a process-wide count would only add other tests'
//! noise. A global allocator must be declared once per binary, so each
//! proof includes this file with `#[path]` and declares it itself:
//!
//! ```ignore
//! #[path = "support/alloc.rs"]
//! mod alloc;
//! #[global_allocator]
//! static GLOBAL: alloc::Counting = alloc::Counting;
//! ```
//!
//! The test below checks the counter in each binary that includes it, so a
//! proof whose allocator is missing or broken fails instead of passing on
//! zeros.

#![allow(dead_code)] // each proof uses a different part

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting allocations while [`allocations`] runs.
pub struct Counting;

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

// SAFETY: every call is passed unchanged to the system allocator, which
// upholds `GlobalAlloc`'s contract for the same arguments; the only
// addition is a const-initialised thread-local counter, which never
// allocates (so the allocator does not recurse into itself).
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

/// Runs `work` and returns how many allocations (including reallocations)
/// this thread made during it, with what `work` returned.
///
/// # Panics
/// If called inside another measurement (the counts would mix).
pub fn allocations<T>(work: impl FnOnce() -> T) -> (u64, T) {
    let outer = COUNT.with(|c| c.replace(Some(0)));
    assert!(outer.is_none(), "allocation measurements do not nest");
    let out = work();
    let n = COUNT.with(|c| c.replace(None)).expect("counting was on");
    (n, out)
}

#[test]
fn the_counter_sees_allocations() {
    // A test of the test: without it, a missing or broken counter would
    // let every zero in the proofs pass.
    let (n, _) = allocations(|| drop(std::hint::black_box(vec![1u8; 10])));
    assert_eq!(n, 1, "one Vec, one allocation");
    let (n, _) = allocations(|| {
        let mut v = std::hint::black_box(Vec::<u8>::with_capacity(1));
        v.extend_from_slice(&[0; 64]); // grows: a reallocation
        v
    });
    assert_eq!(n, 2, "an allocation and a reallocation");
    let (n, ()) = allocations(|| std::hint::black_box(()));
    assert_eq!(n, 0, "no work, no count");
    // Another thread allocating during a measurement is not counted: the
    // barrier (futex-based, allocation-free) makes its Vec fall inside.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let other = std::thread::spawn({
        let barrier = std::sync::Arc::clone(&barrier);
        move || {
            barrier.wait();
            drop(std::hint::black_box(vec![0u8; 10]));
            barrier.wait();
        }
    });
    let (n, _) = allocations(|| {
        barrier.wait();
        barrier.wait();
    });
    other.join().unwrap();
    assert_eq!(n, 0, "another thread's allocation");
}
