//! `even` pacing as pure arithmetic: how much of an ad's eligible time of
//! the UTC day has passed, and how many impressions that allows by now.
//!
//! The day is cut into 96 quarter hours; a quarter counts as eligible when
//! the ad's window holds its middle (read in the ad's own zone, or the
//! server's `--timezone`), so zones with half-hour offsets are followed to
//! within a quarter. The allowance runs ahead of the exact share by a
//! margin of `max(1, 2% of daily_cap)`: without one an ad could never serve
//! the first impression of its day, and the margin absorbs the counts that
//! are still in flight (see README "Budgets").

use chrono::{DateTime, Duration, Timelike, Utc};

const QUARTERS: i64 = 96;

/// The share, `0.0..=1.0`, of today's eligible time that has passed at
/// `now`; `eligible(t)` says whether the ad's window holds instant `t`.
/// An ad with no eligible time today gets 1 (pacing then limits nothing).
pub fn elapsed_share(now: DateTime<Utc>, eligible: impl Fn(DateTime<Utc>) -> bool) -> f64 {
    let midnight = now
        - Duration::seconds(i64::from(now.num_seconds_from_midnight()))
        - Duration::nanoseconds(i64::from(now.nanosecond()));
    let quarter = Duration::minutes(15);
    let (mut total, mut elapsed) = (0u32, 0.0f64);
    for q in 0..QUARTERS {
        let start = midnight + quarter * q as i32;
        if !eligible(start + Duration::seconds(450)) {
            continue;
        }
        total += 1;
        if start + quarter <= now {
            elapsed += 1.0;
        } else if start <= now {
            elapsed += (now - start).num_milliseconds() as f64 / quarter.num_milliseconds() as f64;
        }
    }
    if total == 0 {
        1.0
    } else {
        elapsed / f64::from(total)
    }
}

/// How far `even` pacing may run ahead of the exact share.
pub fn margin(daily_cap: u64) -> u64 {
    (daily_cap / 50).max(1)
}

/// Impressions `even` pacing allows by the time `share` of the day's
/// eligible time has passed: the share of the cap plus [`margin`], never
/// more than the cap.
pub fn allowed(daily_cap: u64, share: f64) -> u64 {
    let so_far = (daily_cap as f64 * share.clamp(0.0, 1.0)).floor() as u64;
    so_far.saturating_add(margin(daily_cap)).min(daily_cap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::Window;
    use chrono::Timelike;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn window(start: u8, end: u8) -> impl Fn(DateTime<Utc>) -> bool {
        let w = Window::new(start, end);
        move |t: DateTime<Utc>| w.contains(t.hour() as u8)
    }

    #[test]
    fn the_share_follows_the_eligible_hours_only() {
        let all_day = window(0, 0);
        assert_eq!(elapsed_share(at("2026-01-15T00:00:00Z"), &all_day), 0.0);
        assert_eq!(elapsed_share(at("2026-01-15T12:00:00Z"), &all_day), 0.5);
        assert_eq!(
            elapsed_share(at("2026-01-15T06:07:30Z"), &all_day),
            0.2552083333333333
        );
        // 08:00-12:00: half of it has passed at 10:00, none before 8.
        let morning = window(8, 12);
        assert_eq!(elapsed_share(at("2026-01-15T07:59:00Z"), &morning), 0.0);
        assert_eq!(elapsed_share(at("2026-01-15T10:00:00Z"), &morning), 0.5);
        assert_eq!(elapsed_share(at("2026-01-15T20:00:00Z"), &morning), 1.0);
        // Wrapping past midnight: 22->2 is 00-02 and 22-24 of the UTC day.
        let night = window(22, 2);
        assert_eq!(elapsed_share(at("2026-01-15T01:00:00Z"), &night), 0.25);
        assert_eq!(elapsed_share(at("2026-01-15T12:00:00Z"), &night), 0.5);
    }

    #[test]
    fn the_allowance_is_the_share_plus_a_small_margin_within_the_cap() {
        assert_eq!(margin(10), 1);
        assert_eq!(margin(1_000), 20);
        assert_eq!(allowed(1_000, 0.0), 20);
        assert_eq!(allowed(1_000, 0.5), 520);
        assert_eq!(allowed(1_000, 1.0), 1_000);
        assert_eq!(allowed(24, 1.0 / 24.0), 2);
        assert_eq!(allowed(1, 0.0), 1, "a cap of one can still serve");
    }
}
