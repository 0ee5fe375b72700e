//! Proof that counting `served` on the request path allocates nothing:
//! 10,000 bumps across a day boundary under a counting global allocator
//! (README "Delivery ledger").

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use adserver::ledger::{Day, Event, Ledger, LedgerConfig};

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

#[test]
fn counting_served_allocates_nothing() {
    let ledger = Ledger::new(
        Box::new(adserver::ledger::store::memory::MemoryStore::default()),
        &LedgerConfig::default(),
    );
    let tally = ledger.tally("ad");
    COUNT.with(|c| c.set(Some(0)));
    for i in 0..10_000u32 {
        tally.served(Day(20_786 + i / 5_000)); // half before midnight, half after
    }
    let allocations = COUNT.with(|c| c.replace(None)).unwrap();
    assert_eq!(allocations, 0);
    ledger.flush_now().unwrap();
    assert_eq!(
        ledger.stats(Day(20_786), None).unwrap()[0].get(Event::Served),
        5_000
    );
    assert_eq!(
        ledger.stats(Day(20_787), None).unwrap()[0].get(Event::Served),
        5_000
    );
}
