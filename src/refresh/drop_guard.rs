//! The drop guard's memory: the largest catalog accepted within the last
//! `--drop-window`, so a feed cannot be walked down by a series of cuts,
//! each within `--min-catalog-fraction` of the one before (51 → 26 → 13 …).
//!
//! Pure bookkeeping over instants the caller passes in (the server's
//! [`crate::clock::Clock`]), so tests move time by hand. It never decides
//! anything itself: [`super::Refresher`] asks for the largest and refuses.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Entries kept at most. Past it two neighbours merge into one that keeps
/// the larger count until the later time, so the guard only gets stricter.
const HISTORY: usize = 32;

/// Catalog sizes accepted, newest last. Counts strictly fall from front to
/// back: an entry with a later, larger entry behind it can never be the
/// largest again, so it is dropped on arrival (a sliding-window maximum).
#[derive(Debug)]
pub(crate) struct DropGuard {
    window: chrono::Duration,
    accepted: VecDeque<(DateTime<Utc>, usize)>,
}

impl DropGuard {
    pub(crate) fn new(window: Duration) -> DropGuard {
        DropGuard {
            window: chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX),
            accepted: VecDeque::with_capacity(HISTORY + 1),
        }
    }

    /// The largest catalog accepted within the window before `now`, if any.
    pub(crate) fn largest(&mut self, now: DateTime<Utc>) -> Option<usize> {
        self.expire(now);
        self.accepted.front().map(|&(_, ads)| ads)
    }

    /// A catalog of `ads` went live, or the feed served the live one again
    /// (which proves it is still what the feed means).
    pub(crate) fn accepted(&mut self, now: DateTime<Utc>, ads: usize) {
        self.expire(now);
        while self.accepted.back().is_some_and(|&(_, n)| n <= ads) {
            self.accepted.pop_back();
        }
        self.accepted.push_back((now, ads));
        if self.accepted.len() > HISTORY {
            self.merge_closest();
        }
    }

    /// Drops entries older than the window. A clock that stepped back makes
    /// entries look younger, which keeps them longer: stricter, not looser.
    fn expire(&mut self, now: DateTime<Utc>) {
        while self
            .accepted
            .front()
            .is_some_and(|&(at, _)| now.signed_duration_since(at) >= self.window)
        {
            self.accepted.pop_front();
        }
    }

    /// Merges the two neighbours closest in time into (later time, larger
    /// count): the larger count is remembered a little longer than it was
    /// seen, never shorter.
    fn merge_closest(&mut self) {
        let closest = (0..self.accepted.len() - 1)
            .min_by_key(|&i| self.accepted[i + 1].0 - self.accepted[i].0)
            .unwrap_or(0);
        let (_, larger) = self.accepted[closest];
        self.accepted[closest + 1].1 = larger;
        self.accepted.remove(closest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + minutes * 60, 0).unwrap()
    }

    #[test]
    fn the_largest_of_the_window_is_remembered_until_it_ages_out() {
        let mut guard = DropGuard::new(Duration::from_secs(3600));
        assert_eq!(guard.largest(at(0)), None);
        guard.accepted(at(0), 51);
        guard.accepted(at(10), 26);
        assert_eq!(guard.largest(at(20)), Some(51));
        assert_eq!(guard.largest(at(59)), Some(51));
        // 51 was seen at 0: at 60 it has left the window, 26 (at 10) not.
        assert_eq!(guard.largest(at(60)), Some(26));
        assert_eq!(guard.largest(at(70)), None);
    }

    #[test]
    fn a_larger_catalog_replaces_the_smaller_ones_before_it() {
        let mut guard = DropGuard::new(Duration::from_secs(3600));
        guard.accepted(at(0), 10);
        guard.accepted(at(1), 40);
        guard.accepted(at(2), 20);
        assert_eq!(guard.accepted.len(), 2, "{:?}", guard.accepted);
        assert_eq!(guard.largest(at(3)), Some(40));
        assert_eq!(guard.largest(at(61)), Some(20));
        // Seen again: remembered from its latest sighting.
        guard.accepted(at(100), 20);
        guard.accepted(at(150), 20);
        assert_eq!(guard.largest(at(200)), Some(20));
    }

    #[test]
    fn a_clock_stepped_back_keeps_entries_longer() {
        let mut guard = DropGuard::new(Duration::from_secs(3600));
        guard.accepted(at(30), 51);
        assert_eq!(guard.largest(at(0)), Some(51));
        assert_eq!(guard.largest(at(89)), Some(51));
        assert_eq!(guard.largest(at(90)), None);
    }

    #[test]
    fn history_stays_bounded_and_only_gets_stricter() {
        let mut guard = DropGuard::new(Duration::from_secs(3600));
        // A strictly falling series, one a minute: nothing can be dropped
        // as dominated, so the cap has to merge.
        for minute in 0..50 {
            guard.accepted(at(minute), 1000 - minute as usize);
            assert!(guard.accepted.len() <= HISTORY);
            // The largest is never below the true largest of the window.
            assert_eq!(guard.largest(at(minute)), Some(1000));
        }
        for now in 50..120 {
            let truth = (0..50)
                .filter(|&m| now - m < 60)
                .map(|m| 1000 - m as usize)
                .max();
            let kept = guard.largest(at(now));
            assert!(kept >= truth, "at {now}: {kept:?} < {truth:?}");
        }
    }
}
