//! Proof that counting `served` on the request path allocates nothing:
//! 10,000 bumps across a day boundary under a counting global allocator
//! (README "Delivery ledger").

use adserver::ledger::{Day, Event, Ledger, LedgerConfig};

#[path = "support/alloc.rs"]
mod alloc;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

#[test]
fn counting_served_allocates_nothing() {
    let ledger = Ledger::new(
        Box::new(adserver::ledger::store::memory::MemoryStore::default()),
        &LedgerConfig::default(),
    );
    let tally = ledger.tally("ad");
    let (allocations, ()) = alloc::allocations(|| {
        for i in 0..10_000u32 {
            tally.served(Day(20_786 + i / 5_000)); // half before midnight, half after
        }
    });
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
