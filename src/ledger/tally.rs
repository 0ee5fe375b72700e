//! Per-ad counters bumped on the request path: atomics only, no lock and
//! no allocation, tagged with the UTC day they belong to.
//!
//! Each counter word packs `day << 40 | count`. There are two slots per
//! ad, chosen by the day's parity, so the day that just ended and the day
//! that just began each keep their own words: a count made at 23:59:59.9
//! stays tagged with that day however late the flusher drains it. Only the
//! flusher subtracts (it is the one drainer), and a slot moves to a new day
//! only while its count is zero, so no count is ever moved between days.

use std::sync::atomic::{AtomicU64, Ordering};

use super::event::{Day, Event, EVENT_COUNT};

const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;

fn pack(day: Day, count: u64) -> u64 {
    (u64::from(day.0) << COUNT_BITS) | count
}

fn unpack(word: u64) -> (Day, u64) {
    (Day((word >> COUNT_BITS) as u32), word & COUNT_MASK)
}

/// One ad's undrained counts: 2 slots × 10 events × 8 bytes = 160 bytes.
/// The catalog holds an `Arc<AdTally>` per ad, got from
/// [`Ledger::tally`](super::Ledger::tally), so a reload keeps the counts.
#[derive(Default)]
pub struct AdTally {
    slots: [[AtomicU64; EVENT_COUNT]; 2],
}

impl AdTally {
    /// Counts one `event` for `day`. Lock-free and allocation-free.
    ///
    /// If the slot still holds a count for a day two or more days back (the
    /// flusher has not run for a day), the count joins that older day rather
    /// than wait: it is misdated, never lost or doubled.
    #[inline]
    pub fn bump(&self, day: Day, event: Event) {
        let word = &self.slots[(day.0 & 1) as usize][event.index()];
        let mut current = word.load(Ordering::Relaxed);
        loop {
            let (tagged, count) = unpack(current);
            if tagged == day || count != 0 {
                word.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // The slot is empty and tagged with another day: claim it.
            match word.compare_exchange_weak(
                current,
                pack(day, 1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(now) => current = now,
            }
        }
    }

    /// Counts `served` for `day`: the request path's one call.
    #[inline]
    pub fn served(&self, day: Day) {
        self.bump(day, Event::Served);
    }

    /// Takes every nonzero count out, calling `take(day, event, n)` for
    /// each. Only the flusher calls this (it must be the only drainer).
    pub(crate) fn drain(&self, mut take: impl FnMut(Day, Event, u64)) {
        for slot in &self.slots {
            for (word, event) in slot.iter().zip(Event::ALL) {
                let (day, n) = unpack(word.load(Ordering::Acquire));
                if n != 0 {
                    // Counts only grow between the load and here (we are the
                    // only drainer), so the word stays tagged `day` and the
                    // subtraction cannot borrow from the day bits.
                    word.fetch_sub(n, Ordering::AcqRel);
                    take(day, event, n);
                }
            }
        }
    }

    /// The undrained counts of `event`, as `see(day, n)` for each nonzero
    /// slot; leaves them in place (the budget sync reads, the flusher drains).
    pub(crate) fn undrained_of(&self, event: Event, mut see: impl FnMut(Day, u64)) {
        for slot in &self.slots {
            let (day, n) = unpack(slot[event.index()].load(Ordering::Relaxed));
            if n != 0 {
                see(day, n);
            }
        }
    }

    /// The sum of undrained counts, for the pending-counts metric.
    pub(crate) fn undrained(&self) -> u64 {
        self.slots
            .iter()
            .flatten()
            .map(|w| unpack(w.load(Ordering::Relaxed)).1)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(t: &AdTally) -> Vec<(Day, Event, u64)> {
        let mut out = Vec::new();
        t.drain(|d, e, n| out.push((d, e, n)));
        out.sort();
        out
    }

    #[test]
    fn a_count_before_midnight_keeps_its_day_when_drained_after() {
        let t = AdTally::default();
        let (d1, d2) = (Day(20_000), Day(20_001));
        t.served(d1); // 23:59:59.9
        t.served(d2); // 00:00:00.1
        t.served(d2);
        t.bump(d1, Event::Click);
        assert_eq!(t.undrained(), 4);
        assert_eq!(
            drained(&t),
            vec![
                (d1, Event::Served, 1),
                (d1, Event::Click, 1),
                (d2, Event::Served, 2)
            ]
        );
        assert_eq!(t.undrained(), 0);
        assert!(drained(&t).is_empty());
    }

    #[test]
    fn a_drained_slot_moves_to_the_next_day_of_its_parity() {
        let t = AdTally::default();
        t.served(Day(10));
        drained(&t);
        t.served(Day(12));
        assert_eq!(drained(&t), vec![(Day(12), Event::Served, 1)]);
    }

    #[test]
    fn an_undrained_old_count_is_misdated_not_lost() {
        let t = AdTally::default();
        t.served(Day(10));
        t.served(Day(12));
        assert_eq!(drained(&t), vec![(Day(10), Event::Served, 2)]);
    }

    #[test]
    fn concurrent_bumps_and_drains_lose_nothing() {
        let t = std::sync::Arc::new(AdTally::default());
        let workers: Vec<_> = (0..4)
            .map(|i| {
                let t = t.clone();
                std::thread::spawn(move || {
                    for k in 0..50_000u32 {
                        t.served(Day(100 + (k + i) % 2));
                    }
                })
            })
            .collect();
        let mut total = 0;
        while workers.iter().any(|w| !w.is_finished()) {
            t.drain(|_, _, n| total += n);
        }
        workers.into_iter().for_each(|w| w.join().unwrap());
        t.drain(|_, _, n| total += n);
        assert_eq!(total, 200_000);
    }
}
