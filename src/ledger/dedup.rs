//! Local dedup of `(serving_id, event)` in fixed memory: a rotating pair of
//! Bloom filters.
//!
//! Sized for `capacity` events per TTL at false-positive rate `fp_rate`:
//! `m = -n·ln p / ln²2` bits and `k = round(m/n · ln 2)` hashes per filter,
//! two filters. For 1 000 000 events at 1e-6 that is 28.8 bits (3.6 bytes)
//! per event, 3.6 MB per filter, 7.2 MB in all, fixed at start.
//!
//! Inserts go to the current filter; a lookup checks both. The current one
//! becomes the previous one after a TTL **or** after `capacity` inserts,
//! whichever comes first, so a filter never holds more than it was sized
//! for and the false-positive rate (a genuine first event taken for a
//! duplicate, so not counted) stays at most `fp_rate`. Past `capacity`
//! events per TTL the price is the window instead: an event is remembered
//! for at least the last `capacity` distinct events, and a repeat older than
//! that may count again ([`Dedup::early_rotations`] says when it happened).
//! Tokens older than the TTL are refused before they get here.

use std::time::{Duration, Instant};

use super::event::Event;

/// Sizing for [`Dedup`].
#[derive(Clone, Copy, Debug)]
pub struct DedupConfig {
    /// Events expected per TTL (each filter is sized for this many).
    pub capacity: usize,
    /// The false-positive rate at `capacity`.
    pub fp_rate: f64,
    /// `--event-ttl`.
    pub ttl: Duration,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            capacity: 1_000_000,
            fp_rate: 1e-6,
            ttl: Duration::from_secs(3600),
        }
    }
}

struct Bloom {
    bits: Vec<u64>,
    inserted: usize,
}

impl Bloom {
    fn new(words: usize) -> Bloom {
        Bloom {
            bits: vec![0; words],
            inserted: 0,
        }
    }

    fn clear(&mut self) {
        self.bits.fill(0);
        self.inserted = 0;
    }
}

/// Seen-before memory for `(serving_id, event)`. Not on the request path
/// (the `/event` handler calls it under the ledger's lock).
pub(crate) struct Dedup {
    current: Bloom,
    previous: Bloom,
    hashes: u32,
    capacity: usize,
    ttl: Duration,
    rotated_at: Instant,
    hasher: ahash::RandomState,
    early_rotations: u64,
}

impl Dedup {
    /// Two filters sized by `config`.
    pub fn new(config: DedupConfig) -> Dedup {
        let n = config.capacity.max(1) as f64;
        let p = config.fp_rate.clamp(1e-12, 0.5);
        let ln2 = std::f64::consts::LN_2;
        let bits = (-n * p.ln() / (ln2 * ln2)).ceil().max(64.0);
        let hashes = ((bits / n) * ln2).round().clamp(1.0, 64.0) as u32;
        let words = (bits / 64.0).ceil() as usize;
        Dedup {
            current: Bloom::new(words),
            previous: Bloom::new(words),
            hashes,
            capacity: config.capacity.max(1),
            ttl: config.ttl,
            rotated_at: Instant::now(),
            hasher: ahash::RandomState::new(),
            early_rotations: 0,
        }
    }

    /// Bytes held by both filters (fixed from start).
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        (self.current.bits.len() + self.previous.bits.len()) * 8
    }

    /// How often a filter filled before its TTL was up (each one shortened
    /// the dedup window below the TTL).
    pub(crate) fn early_rotations(&self) -> u64 {
        self.early_rotations
    }

    /// Records `(serving_id, event)` at `now`; true the first time, false
    /// for a repeat (or, at most `fp_rate` of the time, a false positive).
    pub(crate) fn first_time(&mut self, serving_id: &[u8; 16], event: Event, now: Instant) -> bool {
        if now.duration_since(self.rotated_at) >= self.ttl {
            // Both are too old after two TTLs without events.
            if now.duration_since(self.rotated_at) >= 2 * self.ttl {
                self.previous.clear();
            }
            self.rotate(now);
        } else if self.current.inserted >= self.capacity {
            self.early_rotations += 1;
            self.rotate(now);
        }
        let mut key = [0u8; 17];
        key[..16].copy_from_slice(serving_id);
        key[16] = event.index() as u8;
        let h = self.hasher.hash_one(key);
        // Kirsch–Mitzenmacher: k indexes from two halves of one 64-bit hash.
        let (h1, h2) = (h as u32 as u64, (h >> 32) | 1);
        let m = (self.current.bits.len() * 64) as u64;
        let probe = |i: u32| {
            let bit = h1.wrapping_add(u64::from(i).wrapping_mul(h2)) % m;
            ((bit / 64) as usize, 1u64 << (bit % 64))
        };
        let seen = |b: &Bloom| {
            (0..self.hashes).all(|i| {
                let (w, mask) = probe(i);
                b.bits[w] & mask != 0
            })
        };
        if seen(&self.current) || seen(&self.previous) {
            return false;
        }
        for i in 0..self.hashes {
            let (w, mask) = probe(i);
            self.current.bits[w] |= mask;
        }
        self.current.inserted += 1;
        true
    }

    fn rotate(&mut self, now: Instant) {
        std::mem::swap(&mut self.current, &mut self.previous);
        self.current.clear();
        self.rotated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u64) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&i.to_le_bytes());
        b[8..].copy_from_slice(&(!i).to_le_bytes());
        b
    }

    #[test]
    fn a_repeat_is_refused_and_another_event_of_the_same_serving_is_not() {
        let mut d = Dedup::new(DedupConfig::default());
        let now = Instant::now();
        assert!(d.first_time(&id(1), Event::Impression, now));
        assert!(!d.first_time(&id(1), Event::Impression, now));
        assert!(d.first_time(&id(1), Event::Start, now));
        assert!(d.first_time(&id(2), Event::Impression, now));
    }

    #[test]
    fn memory_is_fixed_by_the_sizing() {
        let d = Dedup::new(DedupConfig::default());
        // 1e6 events at 1e-6: 28.76 bits each, two filters: about 7.2 MB.
        assert!((7_100_000..7_300_000).contains(&d.bytes()), "{}", d.bytes());
    }

    #[test]
    fn a_repeat_is_remembered_for_a_ttl_and_forgotten_after_two() {
        let ttl = Duration::from_secs(60);
        let mut d = Dedup::new(DedupConfig {
            ttl,
            ..DedupConfig::default()
        });
        let t0 = Instant::now();
        assert!(d.first_time(&id(7), Event::Click, t0));
        assert!(!d.first_time(&id(7), Event::Click, t0 + ttl + Duration::from_secs(1)));
        assert!(d.first_time(&id(7), Event::Click, t0 + 3 * ttl));
    }

    #[test]
    fn past_capacity_the_error_rate_holds_and_the_window_shrinks() {
        let cap = 10_000;
        let mut d = Dedup::new(DedupConfig {
            capacity: cap,
            fp_rate: 1e-3,
            ttl: Duration::from_secs(3600),
        });
        let now = Instant::now();
        let inserted: Vec<bool> = (0..5 * cap as u64)
            .map(|i| d.first_time(&id(i), Event::Impression, now))
            .collect();
        // False positives: at most a few times 1e-3 of 50 000.
        let lost = inserted.iter().filter(|&&first| !first).count();
        assert!(lost < 150, "{lost} genuine events taken for repeats");
        assert_eq!(d.early_rotations(), 4);
        // The last `cap` events are still remembered: every one that went
        // in. (One taken for a repeat was never inserted, and is forgotten
        // with the filter that matched it: that made this test flaky.)
        let went_in: Vec<u64> = ((4 * cap as u64)..(5 * cap as u64))
            .filter(|&i| inserted[i as usize])
            .collect();
        let recent = went_in
            .iter()
            .filter(|&&i| !d.first_time(&id(i), Event::Impression, now))
            .count();
        assert_eq!(recent, went_in.len());
        // ...and the oldest are forgotten: the documented price of overflow
        // (counted over many, as any one may be a false positive).
        let forgotten = (0..1_000u64)
            .filter(|&i| d.first_time(&id(i), Event::Impression, now))
            .count();
        assert!(
            forgotten > 950,
            "only {forgotten} of the oldest 1,000 forgotten"
        );
    }
}
