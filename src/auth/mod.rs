//! Authentication of games: a bearer token that is either an API key from
//! `--api-keys-file` or a JWT signed by a key of the `--jwks` set.
//!
//! This module reads the `Authorization` header and turns every failure
//! into a fixed 401 (`WWW-Authenticate: Bearer` and a static JSON body); it
//! never logs or echoes a token. Key material and verification live in
//! [`api_keys`] and [`jwt`]; the verified-token cache in [`cache`].

pub mod api_keys;
pub mod cache;
pub mod jwt;

use hyper::header::{HeaderMap, AUTHORIZATION};

pub use api_keys::ApiKeys;
pub use jwt::{refresh_keys, JwtSettings, JwtVerifier};

/// Tokens longer than this are refused unread (and never cached).
pub(crate) const MAX_TOKEN_BYTES: usize = 4096;

/// Who a request came from, once authenticated: a stable per-client value
/// for the rate limiter, never shown to anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The position of the API key in its file.
    ApiKey(usize),
    /// A hash of the token's `sub` (or of the token when it has none).
    Subject(u64),
}

/// Why a request was not authenticated; each maps to one fixed 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a well-formed bearer token or JWT")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("the token is signed by an unknown key")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token is from another issuer")]
    WrongIssuer,
    #[error("the API key is not known")]
    UnknownApiKey,
}

impl AuthError {
    /// The 401's `WWW-Authenticate: Bearer` challenge (RFC 6750) and JSON
    /// body, both static; [`crate::answer`] sends them.
    pub fn challenge(self) -> (&'static str, &'static str) {
        match self {
            AuthError::Missing => (
                r#"Bearer realm="adserver""#,
                r#"{"error":"unauthorized","message":"a bearer token is required"}"#,
            ),
            AuthError::Malformed => (
                r#"Bearer realm="adserver", error="invalid_token""#,
                r#"{"error":"invalid_token","message":"the bearer token is malformed"}"#,
            ),
            AuthError::Algorithm => (
                r#"Bearer realm="adserver", error="invalid_token""#,
                r#"{"error":"invalid_token","message":"the token's algorithm is not accepted (RS256 and ES256 are)"}"#,
            ),
            AuthError::UnknownKey => (
                r#"Bearer realm="adserver", error="invalid_token""#,
                r#"{"error":"invalid_token","message":"the token's kid names no known key"}"#,
            ),
            AuthError::BadSignature => (
                r#"Bearer realm="adserver", error="invalid_token""#,
                r#"{"error":"invalid_token","message":"the token's signature does not verify"}"#,
            ),
            AuthError::Expired => (
                r#"Bearer realm="adserver", error="invalid_token""#,
                r#"{"error":"invalid_token","message":"the token has expired"}"#,
            ),
            AuthError::NotYetValid => (
                r#"Bearer realm="adserver", error="invalid_token""#,
                r#"{"error":"invalid_token","message":"the token is not valid yet"}"#,
            ),
            AuthError::WrongAudience => (
                r#"Bearer realm="adserver", error="invalid_token""#,
                r#"{"error":"invalid_token","message":"the token is for another audience"}"#,
            ),
            AuthError::WrongIssuer => (
                r#"Bearer realm="adserver", error="invalid_token""#,
                r#"{"error":"invalid_token","message":"the token is from another issuer"}"#,
            ),
            AuthError::UnknownApiKey => (
                r#"Bearer realm="adserver", error="invalid_token""#,
                r#"{"error":"invalid_token","message":"the API key is not known"}"#,
            ),
        }
    }
}

/// The configured ways in: API keys, JWTs, or both (a token that is a known
/// API key is admitted; anything else must be a valid JWT).
#[derive(Debug, Default)]
pub struct Auth {
    pub api_keys: Option<ApiKeys>,
    /// Shared with its refresh loop ([`jwt::refresh_keys`]).
    pub jwt: Option<std::sync::Arc<JwtVerifier>>,
}

impl Auth {
    /// Whether any authentication is configured.
    pub(crate) fn is_enabled(&self) -> bool {
        self.api_keys.is_some() || self.jwt.is_some()
    }

    /// Authenticates one request from its headers.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, AuthError> {
        match self.recognise(headers)? {
            Credential::Known(principal) => Ok(principal),
            Credential::Unverified(token) => self.verify(token),
        }
    }

    /// Reads the bearer token and answers what costs no signature check: a
    /// listed API key or a token already in the verified-token cache. The
    /// gate limits everything else by address before [`verify`] runs.
    ///
    /// [`verify`]: Self::verify
    #[inline]
    pub(crate) fn recognise<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<Credential<'h>, AuthError> {
        let token = bearer_token(headers)?;
        if let Some(keys) = &self.api_keys {
            if let Some(index) = keys.find(token) {
                return Ok(Credential::Known(Principal::ApiKey(index)));
            }
        }
        if let Some(principal) = self.jwt.as_ref().and_then(|jwt| jwt.cached(token)) {
            return Ok(Credential::Known(principal));
        }
        Ok(Credential::Unverified(token))
    }

    /// The expensive half: verifies a token [`recognise`](Self::recognise)
    /// did not know (a signature check when JWTs are configured).
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        match &self.jwt {
            Some(jwt) => jwt.verify(token),
            None => Err(AuthError::UnknownApiKey),
        }
    }
}

/// A bearer token as [`Auth::recognise`] found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential<'h> {
    /// A listed API key or a cached verified token: who it is.
    Known(Principal),
    /// Anything else: a token still to verify (or to refuse).
    Unverified(&'h str),
}

/// The token of `Authorization: Bearer TOKEN` (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    let value = headers.get(AUTHORIZATION).ok_or(AuthError::Missing)?;
    // from_utf8 is much faster than HeaderValue::to_str on a ~1 KiB token
    // (which checks byte by byte); a non-ASCII token fails verification.
    let value = std::str::from_utf8(value.as_bytes()).map_err(|_| AuthError::Malformed)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(AuthError::Malformed);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(value: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = value {
            h.insert(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_token_table() {
        let long = format!("Bearer {}", "a".repeat(MAX_TOKEN_BYTES + 1));
        let cases: [(Option<&str>, Result<&str, AuthError>); 7] = [
            (None, Err(AuthError::Missing)),
            (Some("Bearer abc"), Ok("abc")),
            (Some("bearer  abc "), Ok("abc")),
            (Some("Basic abc"), Err(AuthError::Malformed)),
            (Some("Bearer"), Err(AuthError::Malformed)),
            (Some("Bearer  "), Err(AuthError::Malformed)),
            (Some(&long), Err(AuthError::Malformed)),
        ];
        for (value, want) in cases {
            assert_eq!(bearer_token(&headers(value)), want, "{value:?}");
        }
    }

    #[test]
    fn every_refusal_is_a_401_bearer_challenge_with_json() {
        for e in [
            AuthError::Missing,
            AuthError::Malformed,
            AuthError::Algorithm,
            AuthError::UnknownKey,
            AuthError::BadSignature,
            AuthError::Expired,
            AuthError::NotYetValid,
            AuthError::WrongAudience,
            AuthError::WrongIssuer,
            AuthError::UnknownApiKey,
        ] {
            let (challenge, body) = e.challenge();
            assert!(challenge.starts_with("Bearer realm=\"adserver\""), "{e:?}");
            let body: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(body["error"].is_string(), "{e:?}");
        }
    }

    #[test]
    fn api_keys_alone_refuse_other_tokens() {
        let auth = Auth {
            api_keys: Some(ApiKeys::parse("k-one\n# comment\n\nk-two\n")),
            jwt: None,
        };
        assert_eq!(
            auth.authenticate(&headers(Some("Bearer k-two"))),
            Ok(Principal::ApiKey(1))
        );
        assert_eq!(
            auth.authenticate(&headers(Some("Bearer k-three"))),
            Err(AuthError::UnknownApiKey)
        );
        assert_eq!(auth.authenticate(&headers(None)), Err(AuthError::Missing));
    }
}
