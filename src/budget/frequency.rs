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
//! With a Redis ledger the counts are fleet-wide ([`Servings`]): every
//! serving this replica counts is also put in an outbox, which the budget
//! sync sends to the store a few times a second, and the servings the
//! other replicas sent are merged in (README "Budgets", "Frequency caps
//! across the fleet"). The request path still reads and writes only this
//! map.
//!
//! The pairs live in a `quick_cache` map of at most `--frequency-cap-entries`
//! entries: 85 bytes a pair by `quick_cache`'s own count (8,511,232 bytes for
//! 100,000 pairs, [`FrequencyCaps::memory_bytes`]), so the default 1,000,000
//! pairs take about 85 MB when full; the map grows as pairs arrive.
//! When full, its CLOCK-Pro policy evicts pairs seen once and not since; an
//! evicted pair starts again at zero, so memory pressure can only let a
//! player see an ad more often, never block one wrongly.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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

/// Servings of one ad to one player in one window, as replicas exchange
/// them through the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Servings {
    /// [`player_hash`] of the player.
    pub player: u64,
    /// The ad's id hash ([`crate::catalog::id_hash`]).
    pub ad: u64,
    /// The hour the window opened (hours since 1970, UTC).
    pub opened: u32,
    /// The cap's window length when counted.
    pub hours: u32,
    /// Servings counted in that window.
    pub n: u32,
}

impl Servings {
    /// Bytes of one [`Servings`] in [`Servings::encode`]'s form.
    pub const BYTES: usize = 28;

    /// Fixed-size little-endian bytes, as the store keeps them.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.player.to_le_bytes());
        out.extend_from_slice(&self.ad.to_le_bytes());
        out.extend_from_slice(&self.opened.to_le_bytes());
        out.extend_from_slice(&self.hours.to_le_bytes());
        out.extend_from_slice(&self.n.to_le_bytes());
    }

    /// All of `servings` in [`Servings::encode`]'s form, back to back.
    pub fn encode_all(servings: &[Servings]) -> Vec<u8> {
        let mut out = Vec::with_capacity(servings.len() * Self::BYTES);
        servings.iter().for_each(|s| s.encode(&mut out));
        out
    }

    /// Every whole record in `bytes` (a trailing fragment is ignored).
    pub fn decode(bytes: &[u8]) -> impl Iterator<Item = Servings> + '_ {
        bytes.chunks_exact(Self::BYTES).map(|b| {
            let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
            let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
            Servings {
                player: u64_at(0),
                ad: u64_at(8),
                opened: u32_at(16),
                hours: u32_at(20),
                n: u32_at(24),
            }
        })
    }
}

/// Servings per `(player, ad)`, bounded; with [`FrequencyCaps::shared`],
/// also an outbox of what this replica counted for the others.
pub struct FrequencyCaps {
    windows: Cache<(u64, u64), Window>,
    /// `Some` when the counts are shared fleet-wide.
    outbox: Option<Mutex<Vec<Servings>>>,
    /// The most servings the outbox holds while the store is unreachable.
    outbox_limit: usize,
    /// Servings not shared because the outbox was full.
    unshared: AtomicU64,
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
            outbox: None,
            outbox_limit: entries.max(1),
            unshared: AtomicU64::new(0),
        }
    }

    /// A map of at most `entries` pairs whose servings are also queued for
    /// the other replicas ([`FrequencyCaps::take_outbox`]); the queue holds
    /// at most `entries` servings while the store cannot take them.
    pub fn shared(entries: usize) -> FrequencyCaps {
        FrequencyCaps {
            outbox: Some(Mutex::new(Vec::new())),
            ..FrequencyCaps::new(entries)
        }
    }

    /// Whether servings are shared fleet-wide.
    pub fn is_shared(&self) -> bool {
        self.outbox.is_some()
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
            EntryAction::Retain(w.opened)
        });
        let opened = match found {
            EntryResult::Retained(opened) => opened,
            EntryResult::Vacant(slot) => {
                let _ = slot.insert(Window {
                    opened: hour,
                    count: 1,
                });
                hour
            }
            _ => hour,
        };
        if let Some(outbox) = &self.outbox {
            let mut outbox = outbox.lock().unwrap_or_else(|p| p.into_inner());
            if outbox.len() < self.outbox_limit {
                outbox.push(Servings {
                    player,
                    ad,
                    opened,
                    hours: cap.hours,
                    n: 1,
                });
            } else {
                self.unshared.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// What this replica counted since the last call, one [`Servings`] per
    /// `(player, ad, window)`. Empty when not shared.
    pub fn take_outbox(&self) -> Vec<Servings> {
        let Some(outbox) = &self.outbox else {
            return Vec::new();
        };
        let taken = std::mem::take(&mut *outbox.lock().unwrap_or_else(|p| p.into_inner()));
        let mut summed: HashMap<(u64, u64, u32), Servings> = HashMap::new();
        for s in taken {
            summed
                .entry((s.player, s.ad, s.opened))
                .and_modify(|t| t.n = t.n.saturating_add(s.n))
                .or_insert(s);
        }
        summed.into_values().collect()
    }

    /// Puts back servings the store did not take, ahead of newer ones,
    /// within the outbox's limit (what does not fit is counted unshared).
    pub fn requeue(&self, servings: Vec<Servings>) {
        let Some(outbox) = &self.outbox else {
            return;
        };
        let mut outbox = outbox.lock().unwrap_or_else(|p| p.into_inner());
        let room = self.outbox_limit.saturating_sub(outbox.len());
        let lost = servings.len().saturating_sub(room);
        self.unshared.fetch_add(lost as u64, Ordering::Relaxed);
        let newer = std::mem::replace(&mut *outbox, servings);
        outbox.truncate(room);
        outbox.extend(newer);
    }

    /// Servings counted but never shared (the outbox was full).
    pub fn unshared(&self) -> u64 {
        self.unshared.load(Ordering::Relaxed)
    }

    /// Adds servings another replica counted. Windows that overlap (they
    /// opened less than `hours` apart) are one window, opened at the
    /// earlier hour; a newer window replaces an older one; one that has
    /// closed by `now_hour` is dropped.
    pub fn merge(&self, mut s: Servings, now_hour: u32) {
        // What the store holds is not trusted further than the feed is.
        s.hours = s.hours.min(super::MAX_FREQUENCY_HOURS);
        if s.opened.saturating_add(s.hours) <= now_hour || s.n == 0 {
            return;
        }
        let found = self.windows.entry(&(s.player, s.ad), None, |_, w| {
            if w.opened.abs_diff(s.opened) < s.hours {
                w.opened = w.opened.min(s.opened);
                w.count = w.count.saturating_add(s.n);
            } else if s.opened > w.opened {
                *w = Window {
                    opened: s.opened,
                    count: s.n,
                };
            }
            EntryAction::Retain(())
        });
        if let EntryResult::Vacant(slot) = found {
            let _ = slot.insert(Window {
                opened: s.opened,
                count: s.n,
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

    fn servings(player: u64, opened: u32, n: u32) -> Servings {
        Servings {
            player,
            ad: 7,
            opened,
            hours: CAP.hours,
            n,
        }
    }

    #[test]
    fn servings_survive_their_bytes() {
        let sent = [servings(1, 100, 2), servings(u64::MAX, u32::MAX, 9)];
        let mut bytes = Vec::new();
        sent.iter().for_each(|s| s.encode(&mut bytes));
        bytes.push(0xff); // a torn tail is ignored
        assert_eq!(Servings::decode(&bytes).collect::<Vec<_>>(), sent);
    }

    #[test]
    fn other_replicas_servings_join_the_window_they_overlap() {
        let caps = FrequencyCaps::new(100);
        caps.record(1, 7, CAP, 100);
        caps.merge(servings(1, 101, 1), 101);
        assert_eq!(caps.seen(1, 7, CAP, 102), 2, "one window 100..103");
        caps.merge(servings(1, 99, 5), 101);
        assert_eq!(caps.seen(1, 7, CAP, 100), 7, "opened earlier: still one");
        caps.merge(servings(1, 104, 1), 104);
        assert_eq!(caps.seen(1, 7, CAP, 104), 1, "a newer window replaces");
        caps.merge(servings(1, 95, 4), 104);
        assert_eq!(caps.seen(1, 7, CAP, 104), 1, "a closed one is dropped");
        caps.merge(servings(2, 104, 2), 104);
        assert!(
            !caps.allows(2, 7, CAP, 105),
            "a player first seen elsewhere"
        );
    }

    #[test]
    fn the_outbox_sums_per_window_and_stays_bounded() {
        let caps = FrequencyCaps::shared(3);
        assert!(caps.take_outbox().is_empty());
        caps.record(1, 7, CAP, 100);
        caps.record(1, 7, CAP, 101);
        caps.record(2, 7, CAP, 100);
        caps.record(3, 7, CAP, 100);
        assert_eq!(caps.unshared(), 1, "the fourth did not fit");
        let mut out = caps.take_outbox();
        out.sort_by_key(|s| s.player);
        assert_eq!(out, [servings(1, 100, 2), servings(2, 100, 1)]);
        caps.record(4, 7, CAP, 100);
        caps.requeue(out);
        let mut again = caps.take_outbox();
        again.sort_by_key(|s| s.player);
        assert_eq!(
            again,
            [
                servings(1, 100, 2),
                servings(2, 100, 1),
                servings(4, 100, 1)
            ],
            "a failed send goes out again, with what came since"
        );
        assert!(FrequencyCaps::new(3).take_outbox().is_empty(), "not shared");
    }
}
