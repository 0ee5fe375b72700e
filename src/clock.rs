//! The hour of day that campaign windows are read in.
//!
//! The library never reads the system clock directly: it asks a [`Clock`],
//! so tests pin the hour with [`ManualClock`] instead of sleeping, and the
//! binary passes a [`SystemClock`] in the `--timezone` zone.
//!
//! One [`Zone`] type serves every clock the server reads: `--timezone`, an
//! ad's own `timezone` and the player's `tz` or `utc_offset`; [`HourBasis`]
//! says which of the server's and the player's a request is read on.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, FixedOffset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// Tells the time: the instant, and the hour (0..=23) in the configured zone.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> DateTime<Utc>;

    /// The hour of `now` in the configured zone.
    fn hour_at(&self, now: DateTime<Utc>) -> u8;

    fn hour(&self) -> u8 {
        self.hour_at(self.now())
    }
}

/// A wall clock: an IANA zone or a fixed UTC offset. `--timezone`, an ad's
/// `timezone` and a request's `tz` / `utc_offset` all parse into this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Iana(Tz),
    Fixed(FixedOffset),
}

impl Zone {
    /// A fixed offset of `minutes` east of UTC; `None` past ±24 hours.
    pub(crate) fn from_offset_minutes(minutes: i16) -> Option<Zone> {
        FixedOffset::east_opt(i32::from(minutes) * 60).map(Zone::Fixed)
    }

    /// The hour of `instant` on this zone's wall clock.
    pub(crate) fn hour_at(&self, instant: DateTime<Utc>) -> u8 {
        let hour = match self {
            Zone::Iana(tz) => instant.with_timezone(tz).hour(),
            Zone::Fixed(offset) => instant.with_timezone(offset).hour(),
        };
        hour as u8
    }
}

/// `--hour-basis`: whose clock campaign hours are read on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum HourBasis {
    /// The server's `--timezone`.
    #[default]
    Server,
    /// The player's, from the request's `tz` or `utc_offset` (the server's
    /// when the request gives neither).
    Player,
}

impl HourBasis {
    /// The hour at `now` that a request from `player` is served for: the
    /// player's wall clock under [`HourBasis::Player`] when the request
    /// named one, else `server`'s.
    pub(crate) fn hour_at(
        self,
        server: &dyn Clock,
        player: Option<Zone>,
        now: DateTime<Utc>,
    ) -> u8 {
        match (self, player) {
            (HourBasis::Player, Some(zone)) => zone.hour_at(now),
            _ => server.hour_at(now),
        }
    }
}

impl Default for Zone {
    fn default() -> Self {
        Zone::Iana(Tz::UTC)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown time zone {0:?}: use an IANA name such as America/New_York, or an offset such as +05:30")]
pub struct ZoneError(String);

impl FromStr for Zone {
    type Err = ZoneError;

    /// `UTC`, `Z`, an IANA name, or `±HH:MM` / `±HHMM` / `±HH`.
    fn from_str(s: &str) -> Result<Zone, ZoneError> {
        let err = || ZoneError(s.to_owned());
        if s.eq_ignore_ascii_case("utc") || s == "Z" {
            return Ok(Zone::Iana(Tz::UTC));
        }
        let Some(sign) = s
            .strip_prefix('+')
            .map(|r| (1, r))
            .or(s.strip_prefix('-').map(|r| (-1, r)))
        else {
            return s.parse::<Tz>().map(Zone::Iana).map_err(|_| err());
        };
        let (sign, rest) = sign;
        let digits: String = rest.chars().filter(|&c| c != ':').collect();
        let ok_shape = match rest.len() {
            2 | 4 => !rest.contains(':'),
            5 => rest.as_bytes()[2] == b':',
            _ => false,
        };
        if !ok_shape || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err());
        }
        let hours: i32 = digits[..2].parse().map_err(|_| err())?;
        let minutes: i32 = digits
            .get(2..)
            .filter(|m| !m.is_empty())
            .map_or(Ok(0), str::parse)
            .map_err(|_| err())?;
        if hours > 14 || minutes > 59 {
            return Err(err());
        }
        FixedOffset::east_opt(sign * (hours * 3600 + minutes * 60))
            .map(Zone::Fixed)
            .ok_or_else(err)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Iana(tz) => f.write_str(tz.name()),
            Zone::Fixed(offset) => write!(f, "{offset}"),
        }
    }
}

/// The real clock, read in a zone.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock(pub Zone);

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    fn hour_at(&self, now: DateTime<Utc>) -> u8 {
        self.0.hour_at(now)
    }
}

/// A UTC clock the caller sets: for tests and benches.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// 2026-01-15 at `hour`:30 UTC.
    pub fn new(hour: u8) -> ManualClock {
        let clock = ManualClock::default();
        clock.set(hour);
        clock
    }

    /// Moves to `hour`:30 UTC on 2026-01-15.
    pub fn set(&self, hour: u8) {
        assert!(hour < 24, "hour {hour} is not 0..=23");
        let day = Utc.with_ymd_and_hms(2026, 1, 15, 0, 30, 0).unwrap();
        self.set_instant(day + chrono::Duration::hours(i64::from(hour)));
    }

    pub fn set_instant(&self, instant: DateTime<Utc>) {
        self.0.store(instant.timestamp(), Ordering::Relaxed);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.0.load(Ordering::Relaxed), 0).unwrap_or_default()
    }

    fn hour_at(&self, now: DateTime<Utc>) -> u8 {
        now.hour() as u8
    }
}

impl<C: Clock> Clock for std::sync::Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }

    fn hour_at(&self, now: DateTime<Utc>) -> u8 {
        (**self).hour_at(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn parses_every_accepted_form() {
        // The hour each form reads at 12:10 UTC.
        let cases = [
            ("UTC", 12),
            ("utc", 12),
            ("Z", 12),
            ("Etc/UTC", 12),
            ("+05:30", 17),
            ("+0530", 17),
            ("-08", 4),
            ("-03:00", 9),
            ("+14:00", 2),
        ];
        for (s, hour) in cases {
            let zone: Zone = s.parse().unwrap();
            assert_eq!(zone.hour_at(at("2026-01-15T12:10:00Z")), hour, "{s}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_zone() {
        for s in [
            "",
            "Mars/Olympus",
            "+5:30",
            "+05:3",
            "+15:00",
            "+05:60",
            "05:30",
            "+0a:00",
            "+05:30:00",
        ] {
            assert!(s.parse::<Zone>().is_err(), "{s:?}");
        }
    }

    #[test]
    fn hour_follows_the_zone_and_dst() {
        let ny: Zone = "America/New_York".parse().unwrap();
        // Winter: UTC-5. Summer: UTC-4.
        assert_eq!(ny.hour_at(at("2026-01-15T06:30:00Z")), 1);
        assert_eq!(ny.hour_at(at("2026-07-15T06:30:00Z")), 2);
        let india: Zone = "+05:30".parse().unwrap();
        assert_eq!(india.hour_at(at("2026-01-15T20:45:00Z")), 2);
        assert_eq!(Zone::default().hour_at(at("2026-01-15T23:59:59Z")), 23);
    }

    #[test]
    fn offset_zones_read_the_same_hours_as_minute_arithmetic() {
        // What the player's `utc_offset` was read with before it became a
        // `Zone`: minutes of the UTC day plus the offset, modulo a day.
        let by_minutes = |now: DateTime<Utc>, minutes: i16| {
            let minute_of_day = now.timestamp().rem_euclid(86_400) / 60 + i64::from(minutes);
            (minute_of_day.rem_euclid(1440) / 60) as u8
        };
        let day = at("2026-01-15T00:00:00Z");
        for minutes in (-840..=840).step_by(15) {
            let zone = Zone::from_offset_minutes(minutes).unwrap();
            for quarter in 0..96 {
                let now = day + chrono::Duration::minutes(quarter * 15 + 7);
                assert_eq!(
                    zone.hour_at(now),
                    by_minutes(now, minutes),
                    "{minutes} {now}"
                );
            }
        }
    }

    #[test]
    fn the_hour_basis_picks_the_players_clock_only_when_asked_and_given() {
        let server = ManualClock::default();
        let now = at("2026-01-15T20:30:00Z");
        let kolkata = Some(Zone::from_offset_minutes(330).unwrap());
        assert_eq!(HourBasis::Server.hour_at(&server, kolkata, now), 20);
        assert_eq!(HourBasis::Player.hour_at(&server, kolkata, now), 2);
        assert_eq!(HourBasis::Player.hour_at(&server, None, now), 20);
    }

    #[test]
    fn manual_clock_is_settable() {
        let clock = ManualClock::new(5);
        assert_eq!(clock.hour(), 5);
        clock.set(23);
        assert_eq!(clock.hour(), 23);
    }
}
