//! The ledger's vocabulary: what is counted ([`Event`]), on which UTC day
//! ([`Day`]), and one ad's counts for a day ([`AdCounts`]).
//!
//! Pure values and parsing; nothing here touches a clock, a lock or a store.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

/// Something counted per ad and day. `Served` is counted by the server on
/// every ad answer; the others are reported by players on `/event` and are
/// spelled exactly as the `e=` parameter names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Event {
    Served,
    Impression,
    Start,
    FirstQuartile,
    Midpoint,
    ThirdQuartile,
    Complete,
    Skip,
    Click,
    Error,
}

/// How many kinds of count there are: the width of every counts row.
pub(crate) const EVENT_COUNT: usize = 10;

impl Event {
    /// Every event in the order `/stats` lists them (JSON fields, CSV columns).
    pub const ALL: [Event; EVENT_COUNT] = [
        Event::Served,
        Event::Impression,
        Event::Start,
        Event::FirstQuartile,
        Event::Midpoint,
        Event::ThirdQuartile,
        Event::Complete,
        Event::Skip,
        Event::Click,
        Event::Error,
    ];

    /// The name in `/stats`, in stores and, but for `served`, in `e=`.
    pub const fn name(self) -> &'static str {
        match self {
            Event::Served => "served",
            Event::Impression => "impression",
            Event::Start => "start",
            Event::FirstQuartile => "firstQuartile",
            Event::Midpoint => "midpoint",
            Event::ThirdQuartile => "thirdQuartile",
            Event::Complete => "complete",
            Event::Skip => "skip",
            Event::Click => "click",
            Event::Error => "error",
        }
    }

    /// The position in [`Event::ALL`] and in a counts row.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Any name a store wrote, `served` included (stores are ours; requests
    /// are not, so requests go through [`FromStr`], which refuses `served`).
    pub(crate) fn from_stored_name(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.name() == name)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An `e=` value that is not a player event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event name; expected one of impression, start, firstQuartile, midpoint, thirdQuartile, complete, skip, click, error")]
pub struct UnknownEvent;

impl FromStr for Event {
    type Err = UnknownEvent;

    /// Player events only: `served` is the server's own count and a request
    /// must not be able to inflate it.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match Event::from_stored_name(s) {
            Some(Event::Served) | None => Err(UnknownEvent),
            Some(e) => Ok(e),
        }
    }
}

/// A UTC calendar day, as days since 1970-01-01 (so it packs into a counter
/// word and compares as an integer).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Day(pub u32);

/// Days from 0001-01-01 (chrono's day 1) to 1970-01-01.
const EPOCH_FROM_CE: i32 = 719_163;

impl Day {
    /// The UTC day containing `unix_secs`.
    pub const fn from_unix_secs(unix_secs: u64) -> Day {
        Day((unix_secs / 86_400) as u32)
    }

    fn date(self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.0 as i32 + EPOCH_FROM_CE)
            .unwrap_or(NaiveDate::MAX)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.date();
        write!(f, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day())
    }
}

/// A `day=` value that is not `YYYY-MM-DD` on or after 1970-01-01.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("day must be a date written YYYY-MM-DD, from 1970-01-01 on")]
pub struct BadDay;

impl FromStr for Day {
    type Err = BadDay;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        let shape = b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
        if !shape {
            return Err(BadDay);
        }
        let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| BadDay)?;
        let days = date.num_days_from_ce() - EPOCH_FROM_CE;
        u32::try_from(days).map(Day).map_err(|_| BadDay)
    }
}

/// One ad's counts for one day, indexed by [`Event::index`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdCounts {
    pub id: String,
    pub counts: [u64; EVENT_COUNT],
}

impl AdCounts {
    /// A row of zeros for `id`.
    pub fn new(id: impl Into<String>) -> AdCounts {
        AdCounts {
            id: id.into(),
            counts: [0; EVENT_COUNT],
        }
    }

    /// The count of `event`.
    pub fn get(&self, event: Event) -> u64 {
        self.counts[event.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn player_event_names_parse_and_served_does_not() {
        for e in &Event::ALL[1..] {
            assert_eq!(e.name().parse::<Event>(), Ok(*e));
        }
        assert_eq!("served".parse::<Event>(), Err(UnknownEvent));
        assert_eq!("Impression".parse::<Event>(), Err(UnknownEvent));
        assert_eq!("".parse::<Event>(), Err(UnknownEvent));
        assert_eq!(Event::from_stored_name("served"), Some(Event::Served));
    }

    #[test]
    fn index_follows_the_stats_order() {
        for (i, e) in Event::ALL.iter().enumerate() {
            assert_eq!(e.index(), i);
        }
    }

    #[test]
    fn days_round_trip_and_bad_days_are_refused() {
        assert_eq!("1970-01-01".parse::<Day>(), Ok(Day(0)));
        let d: Day = "2026-11-29".parse().unwrap();
        assert_eq!(d.to_string(), "2026-11-29");
        assert_eq!(
            Day::from_unix_secs(1_795_996_799),
            "2026-11-29".parse().unwrap()
        );
        assert_eq!(
            Day::from_unix_secs(1_795_996_800),
            "2026-11-30".parse().unwrap()
        );
        for bad in [
            "2026-13-01",
            "2026-02-30",
            "1969-12-31",
            "2026-1-01",
            "20261129",
            "2026-11-29 ",
            "+2026-11-2",
        ] {
            assert_eq!(bad.parse::<Day>(), Err(BadDay), "{bad}");
        }
    }
}
