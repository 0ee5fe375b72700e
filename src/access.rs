//! The gate in front of `/ad_request`: the per-client rate limit, then
//! authentication. Both optional and off by default, so the README's plain
//! `curl` works out of the box.
//!
//! With both off, [`Access::admit`] is two `None` checks. The limit comes
//! first so a refused request costs little: whatever a request's credential
//! is, no signature is checked before the limiter has admitted it. Who the
//! limiter counts (README "Security"):
//!
//! - a credential known to be good without signature work (a listed API
//!   key, a token in the verified-token cache) is its own client, so a game
//!   behind a shared address keeps its own bucket;
//! - anything else (no token, a malformed one, an unknown key, a token not
//!   verified yet) counts against the client address, never against the
//!   unverified token, which an attacker could rotate for fresh buckets.
//!
//! The address is the peer's, or the last `X-Forwarded-For` entry with
//! `--trust-forwarded-for` (the address the trusted proxy saw; entries to
//! its left are whatever the client wrote); an IPv6 address counts by its
//! /64 ([`ClientKey::address`]).

use std::net::IpAddr;

use hyper::header::HeaderMap;

use crate::answer::Answer;
use crate::auth::{Auth, AuthError, Credential, Principal};
use crate::rate_limit::{ClientKey, Limited, RateLimiter};

/// Who may ask for ads and how often.
#[derive(Debug, Default)]
pub struct Access {
    pub auth: Auth,
    pub rate_limit: Option<RateLimiter>,
    pub trust_forwarded_for: bool,
}

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Denied {
    Unauthorized(AuthError),
    RateLimited(Limited),
}

impl Denied {
    /// The 401 or 429 to send.
    pub fn answer(self) -> Answer {
        match self {
            Denied::Unauthorized(e) => Answer::Unauthorized(e),
            Denied::RateLimited(limited) => Answer::RateLimited {
                retry_after_secs: limited.retry_after_secs,
            },
        }
    }
}

impl Access {
    /// `Ok` when the request may proceed, with who it is when it was
    /// authenticated (frequency caps count a JWT's `sub`); otherwise why not.
    #[inline]
    pub(crate) fn admit(
        &self,
        peer: IpAddr,
        headers: &HeaderMap,
    ) -> Result<Option<Principal>, Denied> {
        let Some(limiter) = &self.rate_limit else {
            if !self.auth.is_enabled() {
                return Ok(None);
            }
            return self
                .auth
                .authenticate(headers)
                .map(Some)
                .map_err(Denied::Unauthorized);
        };
        if !self.auth.is_enabled() {
            return limiter
                .check(self.address_key(peer, headers))
                .map(|()| None)
                .map_err(Denied::RateLimited);
        }
        let unverified = match self.auth.recognise(headers) {
            Ok(Credential::Known(principal)) => {
                return limiter
                    .check(principal_key(principal))
                    .map(|()| Some(principal))
                    .map_err(Denied::RateLimited)
            }
            Ok(Credential::Unverified(token)) => Ok(token),
            Err(refused) => Err(refused),
        };
        // Not known to be good: the address pays, before any verification.
        limiter
            .check(self.address_key(peer, headers))
            .map_err(Denied::RateLimited)?;
        let token = unverified.map_err(Denied::Unauthorized)?;
        self.auth
            .verify(token)
            .map(Some)
            .map_err(Denied::Unauthorized)
    }

    fn address_key(&self, peer: IpAddr, headers: &HeaderMap) -> ClientKey {
        ClientKey::address(self.client_address(peer, headers))
    }

    fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trust_forwarded_for {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|last| last.trim().parse().ok())
            .unwrap_or(peer)
    }
}

fn principal_key(principal: Principal) -> ClientKey {
    match principal {
        Principal::ApiKey(index) => ClientKey::ApiKey(index),
        Principal::Subject(hash) => ClientKey::Subject(hash),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::{HeaderValue, RETRY_AFTER};
    use hyper::StatusCode;

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn forwarded_for_is_used_only_when_trusted_and_only_its_last_entry() {
        let peer: IpAddr = "10.0.0.1".parse().unwrap();
        let mut access = Access::default();
        let h = xff(&["1.1.1.1, 2.2.2.2"]);
        assert_eq!(access.client_address(peer, &h), peer);
        access.trust_forwarded_for = true;
        assert_eq!(
            access.client_address(peer, &h),
            "2.2.2.2".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            access.client_address(peer, &xff(&["9.9.9.9", "3.3.3.3"])),
            "3.3.3.3".parse::<IpAddr>().unwrap()
        );
        assert_eq!(access.client_address(peer, &xff(&["junk"])), peer);
        assert_eq!(access.client_address(peer, &HeaderMap::new()), peer);
    }

    #[test]
    fn rate_limit_by_address_answers_429_with_retry_after() {
        let access = Access {
            rate_limit: Some(RateLimiter::new(1, 2)),
            ..Access::default()
        };
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!(access.admit(a, &HeaderMap::new()).is_ok());
        assert!(access.admit(a, &HeaderMap::new()).is_ok());
        let refused = access
            .admit(a, &HeaderMap::new())
            .unwrap_err()
            .answer()
            .into_response();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[RETRY_AFTER], "1");
        assert!(access.admit(b, &HeaderMap::new()).is_ok());
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let value = format!("Bearer {token}");
        h.insert("authorization", HeaderValue::from_str(&value).unwrap());
        h
    }

    #[test]
    fn refused_credentials_are_limited_by_address_before_any_check() {
        let access = Access {
            auth: Auth {
                api_keys: Some(crate::auth::ApiKeys::parse("good-key\n")),
                jwt: None,
            },
            rate_limit: Some(RateLimiter::new(1, 2)),
            ..Access::default()
        };
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        // Rotating fake keys buys no fresh bucket: the address pays.
        let refusals: Vec<_> = ["fake-1", "fake-2", "fake-3"]
            .iter()
            .map(|t| access.admit(a, &bearer(t)).unwrap_err())
            .collect();
        assert_eq!(
            refusals[..2],
            [Denied::Unauthorized(AuthError::UnknownApiKey); 2]
        );
        assert!(matches!(refusals[2], Denied::RateLimited(_)));
        assert!(matches!(
            access.admit(a, &HeaderMap::new()),
            Err(Denied::RateLimited(_))
        ));
        // A known key from that address is its own client.
        assert!(access.admit(a, &bearer("good-key")).is_ok());
        // Another address is not affected.
        assert_eq!(
            access.admit(b, &HeaderMap::new()),
            Err(Denied::Unauthorized(AuthError::Missing))
        );
    }

    #[test]
    fn ipv6_peers_share_a_bucket_per_64() {
        let access = Access {
            rate_limit: Some(RateLimiter::new(1, 1)),
            ..Access::default()
        };
        let h = HeaderMap::new();
        let peer = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(access.admit(peer("2001:db8:5:6::1"), &h).is_ok());
        assert!(access.admit(peer("2001:db8:5:6::2"), &h).is_err());
        assert!(access.admit(peer("2001:db8:5:7::1"), &h).is_ok());
        assert!(access.admit(peer("::ffff:192.0.2.9"), &h).is_ok());
        assert!(access.admit(peer("192.0.2.9"), &h).is_err());
    }
}
