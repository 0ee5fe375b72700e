//! The gate in front of `/ad_request`: authentication, then the per-client
//! rate limit. Both optional and off by default, so the README's plain
//! `curl` works out of the box.
//!
//! With both off, [`Access::admit`] is two `None` checks. The client a rate
//! limit counts is the authenticated principal when there is one, else the
//! peer address, or the last `X-Forwarded-For` entry with
//! `--trust-forwarded-for` (the address the trusted proxy saw; entries to
//! its left are whatever the client wrote).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderMap, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};

use crate::auth::{Auth, AuthError, Principal};
use crate::background::Shutdown;
use crate::http::{Body, State};
use crate::rate_limit::{Limited, RateLimiter};

/// Who may ask for ads and how often.
#[derive(Debug, Default)]
pub struct Access {
    pub auth: Auth,
    pub rate_limit: Option<RateLimiter>,
    pub trust_forwarded_for: bool,
}

/// Why a request was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    Unauthorized(AuthError),
    RateLimited(Limited),
}

impl Denied {
    /// The 401 or 429 to send.
    pub fn response(self) -> Response<Body> {
        match self {
            Denied::Unauthorized(e) => e.response(),
            Denied::RateLimited(limited) => too_many_requests(limited),
        }
    }
}

/// Whom a rate limit counts.
#[derive(Hash)]
enum Client {
    Principal(Principal),
    Address(IpAddr),
}

impl Access {
    /// `Ok` when the request may proceed; otherwise why not.
    #[inline]
    pub fn admit(&self, peer: IpAddr, headers: &HeaderMap) -> Result<(), Denied> {
        if !self.auth.is_enabled() && self.rate_limit.is_none() {
            return Ok(());
        }
        let principal = if self.auth.is_enabled() {
            Some(
                self.auth
                    .authenticate(headers)
                    .map_err(Denied::Unauthorized)?,
            )
        } else {
            None
        };
        let Some(limiter) = &self.rate_limit else {
            return Ok(());
        };
        let client = match principal {
            Some(p) => Client::Principal(p),
            None => Client::Address(self.client_address(peer, headers)),
        };
        limiter.check(client).map_err(Denied::RateLimited)
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

fn too_many_requests(limited: Limited) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(TOO_MANY_REQUESTS)));
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(RETRY_AFTER, HeaderValue::from(limited.retry_after_secs));
    response
}

const TOO_MANY_REQUESTS: &[u8] =
    br#"{"error":"rate_limited","message":"too many requests from this client; retry after the Retry-After delay"}"#;

/// Re-reads the JWKS every `every`, off the request path, until
/// `shutdown`. Does nothing without `--jwks`.
pub async fn refresh_keys(state: Arc<State>, every: Duration, mut shutdown: Shutdown) {
    if state.access.auth.jwt.is_none() {
        return;
    }
    loop {
        tokio::select! {
            biased;
            () = shutdown.recv() => return,
            () = tokio::time::sleep(every) => {}
        }
        let state = Arc::clone(&state);
        let result = tokio::task::spawn_blocking(move || {
            state.access.auth.jwt.as_ref().map(|jwt| jwt.refresh())
        })
        .await;
        match result {
            Ok(Some(Ok(keys))) => tracing::debug!(keys, "JWKS re-read"),
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, reason = %e.reason(), "JWKS re-read failed; keeping the old keys")
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let refused = access.admit(a, &HeaderMap::new()).unwrap_err().response();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.headers()[RETRY_AFTER], "1");
        assert!(access.admit(b, &HeaderMap::new()).is_ok());
    }
}
