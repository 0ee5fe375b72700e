//! Frequency caps: how many times each player was served each capped ad,
//! on this replica, in bounded memory.
//!
//! A player is the request's `uid`, hashed to 64 bits; an ad is its id
//! hash. Each `(player, ad)` pair holds one fixed window: it opens at the
//! hour of the first serving counted and lasts the cap's `hours`; at most
//! `count` servings fall in it, and the first serving after it ends opens
//! the next. So a player sees an ad at most `count` times in any window,
//! and at most `2 × count` in an arbitrary span of `hours` that straddles
//! two windows. Servings, not impression beacons, are counted: the request
//! path decides before any beacon could arrive, and counting the answer is
//! what makes the next request of the same player see it.
//!
//! The pairs live in a `quick_cache` map of at most `--frequency-cap-entries`
//! entries: 85 bytes a pair by `quick_cache`'s own count (8,511,232 bytes for
//! 100,000 pairs, [`FrequencyCaps::memory_bytes`]), so the default 1,000,000
//! pairs take about 85 MB when full; the map grows as pairs arrive.
//! When full, its CLOCK-Pro policy evicts pairs seen once and not since; an
//! evicted pair starts again at zero, so memory pressure can only let a
//! player see an ad more often, never block one wrongly.

use quick_cache::sync::{Cache, EntryAction, EntryResult};

use super::FrequencyCap;

/// `--frequency-cap-entries` default.
pub const DEFAULT_ENTRIES: usize = 1_000_000;

/// Fixed seeds: a player keeps its key across catalog reloads.
const PLAYER_HASH: ahash::RandomState = ahash::RandomState::with_seeds(23, 29, 31, 37);

/// The 64-bit key of a `uid`.
pub fn player_hash(uid: &[u8]) -> u64 {
    PLAYER_HASH.hash_one(uid)
}

/// One `(player, ad)` window: the hour it opened (hours since 1970) and
/// servings counted in it.
#[derive(Debug, Clone, Copy)]
struct Window {
    opened: u32,
    count: u32,
}

impl Window {
    fn is_open_at(self, cap: FrequencyCap, hour: u32) -> bool {
        hour < self.opened.saturating_add(cap.hours)
    }
}

/// Servings per `(player, ad)`, bounded.
pub struct FrequencyCaps {
    windows: Cache<(u64, u64), Window>,
}

/// A request's player, as [`crate::catalog::Catalog::select_for`] takes it.
#[derive(Clone, Copy)]
pub struct Player<'a> {
    /// [`player_hash`] of the `uid`.
    pub hash: u64,
    pub caps: &'a FrequencyCaps,
    /// The request's hour, as hours since 1970 (UTC).
    pub hour: u32,
}

impl FrequencyCaps {
    /// A map of at most `entries` pairs.
    pub fn new(entries: usize) -> FrequencyCaps {
        FrequencyCaps {
            windows: Cache::new(entries.max(1)),
        }
    }

    /// Servings of `ad` to `player` in the window open at `hour` (0 when
    /// none is open).
    pub fn seen(&self, player: u64, ad: u64, cap: FrequencyCap, hour: u32) -> u32 {
        match self.windows.get(&(player, ad)) {
            Some(w) if w.is_open_at(cap, hour) => w.count,
            _ => 0,
        }
    }

    /// Whether `player` may be served `ad` at `hour` under `cap`.
    #[inline]
    pub fn allows(&self, player: u64, ad: u64, cap: FrequencyCap, hour: u32) -> bool {
        self.seen(player, ad, cap, hour) < cap.count
    }

    /// Counts one serving of `ad` to `player` at `hour`. Exact under
    /// concurrency: the pair's shard lock covers the read and the write.
    pub fn record(&self, player: u64, ad: u64, cap: FrequencyCap, hour: u32) {
        let found = self.windows.entry(&(player, ad), None, |_, w| {
            if w.is_open_at(cap, hour) {
                w.count = w.count.saturating_add(1);
            } else {
                *w = Window {
                    opened: hour,
                    count: 1,
                };
            }
            EntryAction::Retain(())
        });
        if let EntryResult::Vacant(slot) = found {
            let _ = slot.insert(Window {
                opened: hour,
                count: 1,
            });
        }
    }

    /// Pairs held now.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Bytes the map's own structures take now (keys and windows are
    /// inline, so this is all of it).
    pub fn memory_bytes(&self) -> usize {
        let used = self.windows.memory_used();
        used.entries + used.map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: FrequencyCap = FrequencyCap { count: 2, hours: 3 };

    #[test]
    fn a_window_holds_count_servings_then_the_next_one_opens() {
        let caps = FrequencyCaps::new(100);
        let (p, ad) = (player_hash(b"player-1"), 7);
        assert!(caps.allows(p, ad, CAP, 100));
        caps.record(p, ad, CAP, 100);
        caps.record(p, ad, CAP, 101);
        assert!(!caps.allows(p, ad, CAP, 102), "two in the window 100..103");
        assert_eq!(caps.seen(p, ad, CAP, 102), 2);
        assert!(caps.allows(p, ad + 1, CAP, 102), "another ad");
        assert!(caps.allows(player_hash(b"player-2"), ad, CAP, 102));
        assert!(caps.allows(p, ad, CAP, 103), "the window has closed");
        caps.record(p, ad, CAP, 103);
        assert_eq!(caps.seen(p, ad, CAP, 103), 1);
    }

    #[test]
    fn memory_stays_bounded_and_is_measured() {
        let entries = 100_000;
        let caps = FrequencyCaps::new(entries);
        for i in 0..3 * entries as u64 {
            caps.record(i, 1, CAP, 0);
        }
        assert!(caps.len() <= entries, "{}", caps.len());
        let per_pair = caps.memory_bytes() / entries;
        // What README "Budgets" quotes: well under 100 bytes a pair.
        assert!(per_pair < 100, "{per_pair} bytes a pair");
    }
}
