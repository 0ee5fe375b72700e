//! Per-client rate limiting: a token bucket per client, held in this
//! instance (instances do not share counts).
//!
//! Each bucket is one `AtomicU64` holding the GCRA "theoretical arrival
//! time", so a check is a load and a compare-exchange: no lock, no
//! allocation. Clients are hashed into a fixed table of slots, which bounds
//! memory however many clients there are; two clients that share a slot
//! share a bucket (with 65 536 slots that is rare, and the hash key is
//! random per process so a client cannot aim at another's slot). Who a
//! client is (key, subject or address) is decided by [`crate::access`].

use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Buckets in the table: 512 KiB of state whatever the traffic.
const SLOTS: usize = 1 << 16;

/// A request over the limit: when the client may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds until a request would be admitted, at least 1.
    pub retry_after_secs: u64,
}

/// Token buckets keyed by client.
pub struct RateLimiter {
    slots: Box<[AtomicU64]>,
    /// Nanoseconds per request at the sustained rate.
    interval_ns: u64,
    /// How far ahead of now a bucket may run: `interval * (burst - 1)`.
    tolerance_ns: u64,
    started: Instant,
    hasher: ahash::RandomState,
}

impl RateLimiter {
    /// `per_second` requests each second per client, and up to `burst` at
    /// once (at least 1).
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        let interval_ns = 1_000_000_000 / u64::from(per_second.max(1));
        RateLimiter {
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            interval_ns,
            tolerance_ns: interval_ns * u64::from(burst.max(1) - 1),
            started: Instant::now(),
            hasher: ahash::RandomState::new(),
        }
    }

    /// Admits or refuses one request from `client`, now.
    #[inline]
    pub fn check(&self, client: impl Hash) -> Result<(), Limited> {
        self.check_at(client, self.started.elapsed())
    }

    /// [`check`](Self::check) at `since_start` after this limiter was
    /// made, so tests control time.
    pub fn check_at(&self, client: impl Hash, since_start: Duration) -> Result<(), Limited> {
        let slot = &self.slots[self.hasher.hash_one(client) as usize % SLOTS];
        // Offset so an untouched slot (0) reads as "long idle".
        let now = since_start.as_nanos() as u64 + self.tolerance_ns + self.interval_ns;
        let mut tat = slot.load(Ordering::Relaxed);
        loop {
            let start = tat.max(now);
            if start - now > self.tolerance_ns {
                let wait_ns = start - now - self.tolerance_ns;
                return Err(Limited {
                    retry_after_secs: wait_ns.div_ceil(1_000_000_000).max(1),
                });
            }
            match slot.compare_exchange_weak(
                tat,
                start + self.interval_ns,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("interval_ns", &self.interval_ns)
            .field("tolerance_ns", &self.tolerance_ns)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn burst_then_refusal_then_recovery() {
        let limiter = RateLimiter::new(10, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check_at("game-a", Duration::ZERO), Ok(()));
        }
        let refused = limiter.check_at("game-a", Duration::ZERO).unwrap_err();
        assert_eq!(refused.retry_after_secs, 1);
        // One interval (100 ms) later exactly one more request is due.
        assert_eq!(limiter.check_at("game-a", 100 * MS), Ok(()));
        assert!(limiter.check_at("game-a", 100 * MS).is_err());
        // After a whole burst's worth of idle time the burst is back.
        for _ in 0..3 {
            assert_eq!(limiter.check_at("game-a", 500 * MS), Ok(()));
        }
    }

    #[test]
    fn clients_have_their_own_buckets() {
        let limiter = RateLimiter::new(1, 1);
        assert!(limiter.check_at("a", Duration::ZERO).is_ok());
        assert!(limiter.check_at("a", Duration::ZERO).is_err());
        assert!(limiter.check_at("b", Duration::ZERO).is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let limiter = RateLimiter::new(1, 1);
        assert!(limiter.check_at(1u32, Duration::ZERO).is_ok());
        assert_eq!(
            limiter.check_at(1u32, 10 * MS),
            Err(Limited {
                retry_after_secs: 1
            })
        );
        let slow = RateLimiter::new(1, 5);
        for _ in 0..5 {
            assert!(slow.check_at(7u8, Duration::ZERO).is_ok());
        }
        // Five requests at once at 1/s: the next is due in one second.
        assert_eq!(
            slow.check_at(7u8, Duration::ZERO)
                .unwrap_err()
                .retry_after_secs,
            1
        );
    }

    #[test]
    fn sustained_rate_is_honoured_under_threads() {
        let limiter = std::sync::Arc::new(RateLimiter::new(100, 10));
        let admitted: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let limiter = &limiter;
                    s.spawn(move || {
                        (0..1000)
                            .filter(|_| limiter.check_at("shared", Duration::ZERO).is_ok())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 10, "exactly the burst is admitted at one instant");
    }
}
