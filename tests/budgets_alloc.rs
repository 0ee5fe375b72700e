//! Proof that budgets keep the request path allocation-free (README
//! "Budgets"): `select` over a catalog where every ad is capped, some of
//! them blocked, allocates nothing without a player, and nothing with one
//! whose (player, ad) pairs are already in the frequency map.

use adserver::budget::sync::sync;
use adserver::budget::Player;
use adserver::catalog::{Catalog, Lookup};
use adserver::clock::{Clock, ManualClock};
use adserver::codes::{Country, Lang};
use adserver::ledger::{Day, Event, Ledger, LedgerConfig};

#[path = "support/alloc.rs"]
mod alloc;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

/// Allocations `work` makes on this thread.
fn allocations(work: impl FnOnce()) -> u64 {
    alloc::allocations(work).0
}

#[test]
fn capped_selection_allocates_nothing() {
    let ads: Vec<String> = (0..6)
        .map(|i| {
            format!(
                r#"{{"id":"ad{i}","video_url":"https://cdn.example.com/{i}.mp4","country":"us","lang":"eng","start_hour":0,"end_hour":0,"daily_cap":5,"frequency_cap":{{"count":1000000,"hours":24}}}}"#
            )
        })
        .collect();
    let feed =
        adserver::feed::parse(format!(r#"{{"ads":[{}]}}"#, ads.join(",")).into_bytes()).unwrap();
    let mut catalog = Catalog::compile(&feed);
    let ledger = std::sync::Arc::new(Ledger::new(
        Box::new(adserver::ledger::store::memory::MemoryStore::default()),
        &LedgerConfig::default(),
    ));
    catalog.bind(&ledger);
    let clock = ManualClock::new(12);
    let now = clock.now();
    let today = Day::from_unix_secs(now.timestamp() as u64);
    for blocked in ["ad1", "ad4"] {
        for _ in 0..5 {
            ledger.tally(blocked).bump(today, Event::Impression);
        }
    }
    sync(&catalog, &ledger, &clock);
    let lookup = Lookup::new(
        Country::parse(b"us").unwrap(),
        Lang::parse(b"eng").unwrap(),
        12,
        now,
    );
    let mut served = [0u32; 6];
    let without = allocations(|| {
        for _ in 0..6_000 {
            let ad = catalog.select(&lookup).unwrap();
            served[usize::from(ad.id().as_bytes()[2] - b'0')] += 1;
        }
    });
    assert_eq!(without, 0);
    assert_eq!(
        served,
        [1500, 0, 1500, 1500, 0, 1500],
        "blocked ads never serve"
    );

    let caps = &ledger.budgets().frequency;
    let player = Player {
        hash: 42,
        caps,
        hour: (now.timestamp() / 3600) as u32,
    };
    // The pairs enter the map once (that may allocate), then never again.
    for _ in 0..6 {
        let ad = catalog.select_for(&lookup, Some(player)).unwrap();
        caps.record(
            player.hash,
            ad.id_hash(),
            ad.budget().frequency_cap.unwrap(),
            player.hour,
        );
    }
    let with = allocations(|| {
        for _ in 0..6_000 {
            let ad = catalog.select_for(&lookup, Some(player)).unwrap();
            let cap = ad.budget().frequency_cap.unwrap();
            caps.record(player.hash, ad.id_hash(), cap, player.hour);
        }
    });
    assert_eq!(with, 0);
}
