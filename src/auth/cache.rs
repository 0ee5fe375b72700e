//! The verified-token cache: a game that reuses its token pays for one
//! signature check, not one per request.
//!
//! Bounded (`quick_cache`, a sharded CLOCK-Pro cache: a lookup hashes the
//! token and takes one shard's read lock, no allocation) and expiry-aware:
//! an entry is kept with the token's `exp` and is not honoured past it,
//! whatever the cache's own eviction does. Only verified tokens go in.

use std::time::{SystemTime, UNIX_EPOCH};

use quick_cache::sync::Cache;

use super::Principal;

/// Verified tokens kept at most; each entry is the token (≤ 4 KiB) and a
/// few words, so the worst case is a few tens of MiB.
pub(crate) const CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Verified {
    principal: Principal,
    /// Unix seconds after which the token is no longer accepted (its
    /// `exp` plus the leeway).
    valid_until: u64,
}

/// Tokens already verified, with what they proved.
pub(crate) struct TokenCache {
    entries: Cache<String, Verified>,
}

impl TokenCache {
    pub fn new(capacity: usize) -> TokenCache {
        TokenCache {
            entries: Cache::new(capacity.max(1)),
        }
    }

    /// The principal of a verified token that is still valid at `now`
    /// (Unix seconds). An expired entry is dropped and reported as a miss.
    #[inline]
    pub fn get(&self, token: &str, now: u64) -> Option<Principal> {
        let hit = self.entries.get(token)?;
        if now > hit.valid_until {
            self.entries.remove(token);
            return None;
        }
        Some(hit.principal)
    }

    /// Remembers a token verified to be valid until `valid_until`.
    pub fn insert(&self, token: &str, principal: Principal, valid_until: u64) {
        self.entries.insert(
            token.to_owned(),
            Verified {
                principal,
                valid_until,
            },
        );
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.entries.len() == 0
    }

    /// Forgets every token (after a key rotation).
    pub(crate) fn clear(&self) {
        self.entries.clear();
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_until_expiry_then_misses() {
        let cache = TokenCache::new(8);
        cache.insert("t1", Principal::Subject(7), 100);
        assert_eq!(cache.get("t1", 99), Some(Principal::Subject(7)));
        assert_eq!(cache.get("t1", 100), Some(Principal::Subject(7)));
        assert_eq!(cache.get("t1", 101), None);
        assert!(cache.is_empty(), "an expired entry is dropped");
        assert_eq!(cache.get("t2", 0), None);
    }

    #[test]
    fn stays_bounded() {
        let cache = TokenCache::new(16);
        for i in 0..1000 {
            cache.insert(&format!("token-{i}"), Principal::Subject(i), u64::MAX);
        }
        assert!(cache.len() <= 32, "len {}", cache.len());
    }
}
