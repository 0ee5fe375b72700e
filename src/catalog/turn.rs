//! One turn of a bucket's rotation: which ad of a `(country, lang, hour)`
//! bucket a request gets, own-zone ads and `exclude` included, and the ads
//! a budget blocks passed over (README "Which ad is served", "Budgets").
//! Atomics and arithmetic only: this is the request path.

use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};

use super::{Catalog, Exclude, Run, Slot, MAX_ZONED};
use crate::budget::Player;

/// Turns a request passes on past blocked ads before it scans the bucket
/// for an open one: bounds the atomic increments a request makes.
const MAX_TURNS_GIVEN: u64 = 8;

impl Catalog {
    /// The pair's own-zone ads eligible at `now`, written into `out`.
    #[inline]
    pub(super) fn zoned_eligible<'o>(
        &self,
        pair: u32,
        now: DateTime<Utc>,
        out: &'o mut [u32; MAX_ZONED],
    ) -> &'o [u32] {
        let Run { start, len } = self.zoned_of[pair as usize];
        let mut n = 0;
        for zoned in &self.zoned[start as usize..][..len as usize] {
            if n < MAX_ZONED && zoned.window.contains(zoned.zone.hour_at(now)) {
                out[n] = zoned.ad;
                n += 1;
            }
        }
        &out[..n]
    }

    /// One turn of a bucket's rotation: its cycle, then the eligible
    /// own-zone ads (each for as many turns as its weight). `None` when
    /// every ad of the bucket is blocked by its budget.
    #[inline]
    pub(super) fn turn(
        &self,
        slot: &Slot,
        zoned: &[u32],
        exclude: &Exclude,
        player: Option<Player<'_>>,
    ) -> Option<u32> {
        let cycle = self.members.cycle(slot.cycle);
        let zoned_turns: u64 = zoned
            .iter()
            .map(|&n| u64::from(self.facts[n as usize].weight))
            .sum();
        let len = cycle.len() as u64 + zoned_turns;
        let at = |position: u64| -> u32 {
            if position < cycle.len() as u64 {
                return cycle.get(position as usize);
            }
            let mut rest = position - cycle.len() as u64;
            for &n in zoned {
                let weight = u64::from(self.facts[n as usize].weight);
                if rest < weight {
                    return n;
                }
                rest -= weight;
            }
            unreachable!("position {position} is within {len}")
        };
        // Relaxed: the cursor only spreads requests; it guards no other data.
        let mut turn = slot.cursor.fetch_add(1, Ordering::Relaxed) % len;
        if !self.limited && exclude.is_empty() {
            return Some(at(turn));
        }
        if self.limited {
            // A blocked ad gives its turn away: the cursor moves on, so the
            // open ads share the rotation evenly rather than the ad after a
            // blocked one taking both turns. A few tries, then the scan.
            for _ in 1..len.min(MAX_TURNS_GIVEN) {
                if self.may_serve(at(turn), player) {
                    break;
                }
                turn = slot.cursor.fetch_add(1, Ordering::Relaxed) % len;
            }
        }
        // The next ad in turn that is neither blocked nor excluded; if all
        // that are not blocked are excluded, the first of those (a repeat
        // beats no ad). A blocked ad is never the answer.
        let mut repeat = None;
        for step in 0..len {
            let n = at((turn + step) % len);
            if self.limited && !self.may_serve(n, player) {
                continue;
            }
            if !self.excluded(exclude, n as usize) {
                return Some(n);
            }
            repeat.get_or_insert(n);
        }
        repeat
    }
}
