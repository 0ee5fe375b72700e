//! Per-client rate limiting: a token bucket per client, held in this
//! instance (instances do not share counts).
//!
//! Each bucket is one `u64`, the GCRA "theoretical arrival time", kept in a
//! bounded `quick_cache` map under the client's exact key: no two clients
//! ever share a bucket (a hashed slot table let a flood of identities lock
//! innocent clients out). A check takes one shard's write lock for a few
//! arithmetic operations and allocates nothing for a client already in the
//! map; the first request of a new client may allocate its entry (and, while
//! the map is still growing, its table).
//!
//! The map holds at most [`CLIENTS`] buckets. When it is full, the cache's
//! CLOCK-Pro policy evicts keys that were seen once and not since (new keys
//! enter its cold part) before keys in use: a client hammering the limit is
//! referenced on every request and stays. An evicted client starts again
//! with a full burst, which is the cost of bounded memory; evicting a busy
//! client takes more new clients between two of its requests than the map
//! holds, and an attacker with that many identities already has that many
//! buckets.
//!
//! Who a client is (key, subject or address) is decided by
//! [`crate::access`]; how an address becomes a key (IPv6 by its /64) is
//! [`ClientKey::address`].

use std::net::IpAddr;
use std::time::{Duration, Instant};

use quick_cache::sync::{Cache, EntryAction, EntryResult};

/// Buckets held at most. Full, the map takes 8.1 MiB (8 511 232 bytes by
/// `quick_cache`'s own count after a million distinct clients, about 85
/// bytes a client with the table's headroom), whatever the traffic.
pub(crate) const CLIENTS: usize = 100_000;

/// A request over the limit: when the client may try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    /// Whole seconds until a request would be admitted, at least 1.
    pub retry_after_secs: u64,
}

/// Whom one bucket belongs to: a small `Copy` value, so a lookup builds no
/// key on the heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// A listed API key, by its position in the keys file.
    ApiKey(usize),
    /// A verified token's subject (hashed).
    Subject(u64),
    /// An IPv4 address (IPv4-mapped IPv6 addresses included).
    V4(u32),
    /// The /64 network of an IPv6 address: one subscriber's allocation, so
    /// rotating the low 64 bits does not buy new buckets.
    V6Net(u64),
}

impl ClientKey {
    /// The key of a client known only by its address.
    #[inline]
    pub fn address(ip: IpAddr) -> ClientKey {
        match ip {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientKey::V4(u32::from(v4)),
                None => ClientKey::V6Net((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Token buckets keyed by client.
pub struct RateLimiter {
    buckets: Cache<ClientKey, u64>,
    /// Nanoseconds per request at the sustained rate.
    interval_ns: u64,
    /// How far ahead of now a bucket may run: `interval * (burst - 1)`.
    tolerance_ns: u64,
    started: Instant,
}

impl RateLimiter {
    /// `per_second` requests each second per client, and up to `burst` at
    /// once (at least 1), for up to [`CLIENTS`] clients at a time.
    pub fn new(per_second: u32, burst: u32) -> RateLimiter {
        RateLimiter::with_capacity(per_second, burst, CLIENTS)
    }

    /// [`new`](Self::new) holding at most `clients` buckets.
    pub(crate) fn with_capacity(per_second: u32, burst: u32, clients: usize) -> RateLimiter {
        let interval_ns = 1_000_000_000 / u64::from(per_second.max(1));
        RateLimiter {
            buckets: Cache::new(clients.max(1)),
            interval_ns,
            tolerance_ns: interval_ns * u64::from(burst.max(1) - 1),
            started: Instant::now(),
        }
    }

    /// Admits or refuses one request from `client`, now.
    #[inline]
    pub fn check(&self, client: ClientKey) -> Result<(), Limited> {
        self.check_at(client, self.started.elapsed())
    }

    /// [`check`](Self::check) at `since_start` after this limiter was
    /// made, so tests control time.
    pub(crate) fn check_at(&self, client: ClientKey, since_start: Duration) -> Result<(), Limited> {
        // Offset so that a bucket stored at any time reads as "idle" only
        // after its whole burst has come back.
        let now = since_start.as_nanos() as u64 + self.tolerance_ns + self.interval_ns;
        let (interval, tolerance) = (self.interval_ns, self.tolerance_ns);
        // The shard lock makes the read-compare-write exact: concurrent
        // requests of one client cannot both take its last token.
        let found = self.buckets.entry(&client, None, |_, tat| {
            let start = (*tat).max(now);
            if start - now > tolerance {
                let wait_ns = start - now - tolerance;
                return EntryAction::Retain(Err(Limited {
                    retry_after_secs: wait_ns.div_ceil(1_000_000_000).max(1),
                }));
            }
            *tat = start + interval;
            EntryAction::Retain(Ok(()))
        });
        match found {
            EntryResult::Retained(verdict) => verdict,
            // A new client: its first request is always within the burst.
            EntryResult::Vacant(slot) => {
                let _ = slot.insert(now + interval);
                Ok(())
            }
            // Never asked for (no timeout, no removal or replacement).
            EntryResult::Removed(..) | EntryResult::Replaced(..) | EntryResult::Timeout => Ok(()),
        }
    }

    /// Buckets held now (at most the capacity given).
    pub fn clients(&self) -> usize {
        self.buckets.len()
    }

    /// Bytes the map's own structures take now (keys and buckets are
    /// stored inline, so this is all of it).
    #[cfg(test)]
    pub(crate) fn memory_bytes(&self) -> usize {
        let used = self.buckets.memory_used();
        used.entries + used.map
    }
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("interval_ns", &self.interval_ns)
            .field("tolerance_ns", &self.tolerance_ns)
            .field("clients", &self.buckets.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const A: ClientKey = ClientKey::ApiKey(0);
    const B: ClientKey = ClientKey::ApiKey(1);

    fn ip(text: &str) -> ClientKey {
        ClientKey::address(text.parse().unwrap())
    }

    #[test]
    fn burst_then_refusal_then_recovery() {
        let limiter = RateLimiter::new(10, 3);
        for _ in 0..3 {
            assert_eq!(limiter.check_at(A, Duration::ZERO), Ok(()));
        }
        let refused = limiter.check_at(A, Duration::ZERO).unwrap_err();
        assert_eq!(refused.retry_after_secs, 1);
        // One interval (100 ms) later exactly one more request is due.
        assert_eq!(limiter.check_at(A, 100 * MS), Ok(()));
        assert!(limiter.check_at(A, 100 * MS).is_err());
        // After a whole burst's worth of idle time the burst is back.
        for _ in 0..3 {
            assert_eq!(limiter.check_at(A, 500 * MS), Ok(()));
        }
    }

    #[test]
    fn clients_have_their_own_buckets() {
        let limiter = RateLimiter::new(1, 1);
        assert!(limiter.check_at(A, Duration::ZERO).is_ok());
        assert!(limiter.check_at(A, Duration::ZERO).is_err());
        assert!(limiter.check_at(B, Duration::ZERO).is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let limiter = RateLimiter::new(1, 1);
        assert!(limiter.check_at(A, Duration::ZERO).is_ok());
        assert_eq!(
            limiter.check_at(A, 10 * MS),
            Err(Limited {
                retry_after_secs: 1
            })
        );
        let slow = RateLimiter::new(1, 5);
        for _ in 0..5 {
            assert!(slow.check_at(B, Duration::ZERO).is_ok());
        }
        // Five requests at once at 1/s: the next is due in one second.
        assert_eq!(
            slow.check_at(B, Duration::ZERO)
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
                            .filter(|_| limiter.check_at(A, Duration::ZERO).is_ok())
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(admitted, 10, "exactly the burst is admitted at one instant");
    }

    #[test]
    fn addresses_key_ipv4_exactly_and_ipv6_by_its_64() {
        let cases = [
            ("192.0.2.1", "192.0.2.1", true),
            ("192.0.2.1", "192.0.2.2", false),
            ("::ffff:192.0.2.1", "192.0.2.1", true),
            ("2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff", true),
            ("2001:db8:1:2::1", "2001:db8:1:3::1", false),
            ("2001:db8:1:2::1", "2001:db8:2:2::1", false),
            // The v4 bits in the low half of a v6 address are not IPv4.
            ("::192.0.2.1", "192.0.2.1", false),
        ];
        for (a, b, same) in cases {
            assert_eq!(ip(a) == ip(b), same, "{a} vs {b}");
        }
    }

    #[test]
    fn a_flood_of_new_clients_never_touches_another_clients_bucket() {
        // The old 65 536-slot table failed this for some of the 10 000.
        let limiter = RateLimiter::new(1, 1);
        for n in 0..10_000u32 {
            assert!(limiter.check_at(ClientKey::V4(n), Duration::ZERO).is_ok());
        }
        for n in 0..10_000u32 {
            let innocent = ClientKey::V4(0x0A00_0000 + n);
            assert!(
                limiter.check_at(innocent, Duration::ZERO).is_ok(),
                "client {n} was refused its first request"
            );
        }
    }

    #[test]
    fn memory_is_bounded_by_the_capacity() {
        let limiter = RateLimiter::with_capacity(1, 1, 1000);
        for n in 0..50_000u32 {
            let _ = limiter.check_at(ClientKey::V4(n), Duration::ZERO);
        }
        assert!(limiter.clients() <= 1000, "{} buckets", limiter.clients());
        // (16-byte key + 8-byte bucket + ~21 bytes of bookkeeping), the
        // table rounded up to a power of two with room for ghost keys.
        assert!(
            limiter.memory_bytes() < 200 * 1024,
            "{} bytes",
            limiter.memory_bytes()
        );
    }

    #[test]
    fn a_busy_client_is_not_evicted_by_a_stream_of_new_ones() {
        // A flooder keeps hitting its bucket while 50x the capacity of new
        // keys pass through: eviction takes the cold, new keys, so the
        // flooder never gets a fresh burst.
        let limiter = RateLimiter::with_capacity(1, 2, 200);
        let flooder = ip("198.51.100.7");
        let mut admitted = 0;
        for n in 0..10_000u32 {
            let _ = limiter.check_at(ClientKey::V4(n), Duration::ZERO);
            admitted += usize::from(limiter.check_at(flooder, Duration::ZERO).is_ok());
        }
        assert_eq!(admitted, 2, "only the flooder's burst was admitted");
    }
}
