//! JWT verification against a JSON Web Key Set (`--jwks`).
//!
//! Only RS256 and ES256 are accepted, and a token must name its key by
//! `kid`; the key's own algorithm must equal the token's, so `alg: none`,
//! HS256 signed with a public key (HS/RS confusion) and RS/ES swaps are all
//! refused before any signature work. Header fields that point elsewhere
//! (`jku`, an embedded `jwk`, `x5u`) are ignored: keys come only from the
//! configured set. Expiry and not-before are enforced with
//! [`LEEWAY_SECS`]; issuer and audience when configured.
//!
//! The set is re-read by [`refresh_keys`] periodically and
//! here, at once, when a token names an unknown `kid` (at most once per
//! [`UNKNOWN_KID_COOLDOWN`], so random `kid`s cannot make the server hammer
//! the identity provider). Verified tokens go into a [`TokenCache`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::cache::{unix_now, TokenCache, CAPACITY};
use super::{AuthError, Principal};
use crate::background::Shutdown;
use crate::feed::FailureReason;
use crate::fetch::{FetchError, FetchLimits, Fetched, Source};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub(crate) const LEEWAY_SECS: u64 = 30;

/// Shortest time between two re-reads of the set caused by unknown `kid`s.
pub(crate) const UNKNOWN_KID_COOLDOWN: Duration = Duration::from_secs(5);

/// The accepted signature algorithms.
const ACCEPTED: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];

/// What `--jwks`, `--jwt-issuer` and `--jwt-audience` say.
#[derive(Debug, Clone)]
pub struct JwtSettings {
    pub source: Source,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// `--allow-insecure-feed`: the key set obeys the feed's transport
    /// rule, on every redirect too.
    pub allow_insecure: bool,
}

/// Why a key set could not be used; the previous set stays in force.
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("cannot fetch the JWKS: {0}")]
    Fetch(#[from] FetchError),
    #[error("the JWKS is not a JSON object with a \"keys\" array: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the JWKS holds no usable RS256 or ES256 key with a kid")]
    NoKeys,
}

impl JwksError {
    /// Why, in the same terms as a failed feed load.
    pub fn reason(&self) -> FailureReason {
        match self {
            JwksError::Fetch(e) => FailureReason::of_fetch(e),
            JwksError::Json(_) => FailureReason::InvalidJson,
            JwksError::NoKeys => FailureReason::NoKeys,
        }
    }
}

/// Keys by `kid`, each with the one algorithm it may verify.
type KeySet = HashMap<String, (DecodingKey, Algorithm)>;

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: u64,
}

/// Verifies bearer JWTs.
pub struct JwtVerifier {
    settings: JwtSettings,
    keys: ArcSwap<KeySet>,
    validations: [Validation; 2],
    cache: TokenCache,
    subjects: ahash::RandomState,
    signature_checks: AtomicU64,
    last_unknown_kid_refresh: Mutex<Option<Instant>>,
}

/// Re-reads `jwt`'s key set every `every`, off the request path, until
/// `shutdown`.
pub async fn refresh_keys(jwt: Arc<JwtVerifier>, every: Duration, mut shutdown: Shutdown) {
    loop {
        tokio::select! {
            biased;
            () = shutdown.recv() => return,
            () = tokio::time::sleep(every) => {}
        }
        let jwt = Arc::clone(&jwt);
        match tokio::task::spawn_blocking(move || jwt.refresh()).await {
            Ok(Ok(keys)) => tracing::debug!(keys, "JWKS re-read"),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, reason = %e.reason(), "JWKS re-read failed; keeping the old keys")
            }
            Err(_) => {}
        }
    }
}

impl JwtVerifier {
    /// Loads the key set once; an unusable set is an error, so a server
    /// asked to authenticate never starts open.
    pub fn load(settings: JwtSettings) -> Result<JwtVerifier, JwksError> {
        let keys = fetch_keys(&settings)?;
        let validation = |alg| {
            let mut v = Validation::new(alg);
            v.leeway = LEEWAY_SECS;
            v.validate_nbf = true;
            let mut required = vec!["exp"];
            match &settings.issuer {
                Some(iss) => {
                    v.set_issuer(&[iss]);
                    required.push("iss");
                }
                None => v.iss = None,
            }
            match &settings.audience {
                Some(aud) => {
                    v.set_audience(&[aud]);
                    required.push("aud");
                }
                None => v.validate_aud = false,
            }
            v.set_required_spec_claims(&required);
            v
        };
        Ok(JwtVerifier {
            validations: [validation(ACCEPTED[0]), validation(ACCEPTED[1])],
            keys: ArcSwap::from_pointee(keys),
            cache: TokenCache::new(CAPACITY),
            subjects: ahash::RandomState::new(),
            signature_checks: AtomicU64::new(0),
            last_unknown_kid_refresh: Mutex::new(None),
            settings,
        })
    }

    /// Re-reads the key set (blocking); on failure the old set stays.
    /// When the set of `kid`s changed, the token cache is emptied: a key
    /// taken out of the set must stop admitting tokens at once.
    pub fn refresh(&self) -> Result<usize, JwksError> {
        let keys = fetch_keys(&self.settings)?;
        let n = keys.len();
        let old = self.keys.swap(keys.into());
        let current = self.keys.load();
        if old.len() != current.len() || old.keys().any(|kid| !current.contains_key(kid)) {
            self.cache.clear();
        }
        Ok(n)
    }

    /// How many signatures have been checked: the cost the cache saves.
    pub fn signature_checks(&self) -> u64 {
        self.signature_checks.load(Ordering::Relaxed)
    }

    /// The principal of `token` when it was verified before and is still
    /// valid: a cache lookup, no signature work.
    #[inline]
    pub fn cached(&self, token: &str) -> Option<Principal> {
        self.cache.get(token, unix_now())
    }

    /// Verifies `token`, from the cache when it was verified before.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let now = unix_now();
        if let Some(principal) = self.cache.get(token, now) {
            return Ok(principal);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        let Some(slot) = ACCEPTED.iter().position(|a| *a == header.alg) else {
            return Err(AuthError::Algorithm);
        };
        let kid = header.kid.as_deref().ok_or(AuthError::UnknownKey)?;
        let mut keys = self.keys.load_full();
        if !keys.contains_key(kid) && self.refresh_for_unknown_kid() {
            keys = self.keys.load_full();
        }
        let (key, key_alg) = keys.get(kid).ok_or(AuthError::UnknownKey)?;
        if *key_alg != header.alg {
            return Err(AuthError::Algorithm);
        }
        self.signature_checks.fetch_add(1, Ordering::Relaxed);
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validations[slot])
            .map_err(|e| refusal(e.kind()))?;
        let principal = Principal::Subject(match &data.claims.sub {
            Some(sub) => self.subjects.hash_one(sub),
            None => self.subjects.hash_one(token),
        });
        self.cache.insert(
            token,
            principal,
            data.claims.exp.saturating_add(LEEWAY_SECS),
        );
        Ok(principal)
    }

    /// Re-reads the set now unless another request just did; `true` when a
    /// new set was stored. Blocks: a file read, or a capped fetch of a
    /// small document, at most once per cooldown.
    fn refresh_for_unknown_kid(&self) -> bool {
        let Ok(mut last) = self.last_unknown_kid_refresh.try_lock() else {
            return false; // another request is refreshing right now
        };
        if last.is_some_and(|at| at.elapsed() < UNKNOWN_KID_COOLDOWN) {
            return false;
        }
        *last = Some(Instant::now());
        let refresh = || self.refresh();
        let result = match tokio::runtime::Handle::try_current() {
            Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(refresh)
            }
            _ => refresh(),
        };
        match result {
            Ok(n) => {
                tracing::info!(keys = n, "JWKS re-read for an unknown kid");
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, reason = %e.reason(), "JWKS re-read failed; keeping the old keys");
                false
            }
        }
    }
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("settings", &self.settings)
            .field("keys", &self.keys.load().len())
            .finish_non_exhaustive()
    }
}

fn refusal(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => AuthError::WrongIssuer,
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidAlgorithm => AuthError::Algorithm,
        _ => AuthError::Malformed,
    }
}

/// Caps for reading a key set: a JWKS is a few KiB. The transport rule is
/// the feed's, so a key set cannot be redirected onto plain http either.
fn jwks_limits(allow_insecure: bool) -> FetchLimits {
    FetchLimits {
        max_bytes: 1024 * 1024,
        timeout: Duration::from_secs(5),
        max_redirects: 3,
        allow_insecure,
    }
}

fn fetch_keys(settings: &JwtSettings) -> Result<KeySet, JwksError> {
    let limits = jwks_limits(settings.allow_insecure);
    match settings.source.fetch(&limits, None)? {
        Fetched::Body { bytes, .. } => parse_keys(&bytes),
        // Only an answer to validators we sent can be "not modified".
        Fetched::NotModified => unreachable!("no validators were sent"),
    }
}

/// The usable keys of a JWKS document; keys of other types, curves or uses
/// are skipped, not fatal (identity providers publish several).
pub(crate) fn parse_keys(document: &[u8]) -> Result<KeySet, JwksError> {
    let raw: RawSet = serde_json::from_slice(document)?;
    let keys: KeySet = raw
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            if matches!(&jwk.common.public_key_use, Some(u) if *u != PublicKeyUse::Signature) {
                return None;
            }
            let alg = match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                _ => return None,
            };
            // A key that declares an algorithm must declare this one.
            let declared_ok = match jwk.common.key_algorithm {
                None => true,
                Some(KeyAlgorithm::RS256) => alg == Algorithm::RS256,
                Some(KeyAlgorithm::ES256) => alg == Algorithm::ES256,
                Some(_) => false,
            };
            if !declared_ok {
                return None;
            }
            Some((kid, (DecodingKey::from_jwk(&jwk).ok()?, alg)))
        })
        .collect();
    if keys.is_empty() {
        return Err(JwksError::NoKeys);
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_are_skipped_and_an_empty_set_refused() {
        let doc = br#"{"keys":[
            {"kty":"oct","kid":"h","k":"c2VjcmV0"},
            {"kty":"EC","kid":"p384","crv":"P-384","x":"AA","y":"AA"},
            {"kty":"RSA","n":"AQAB","e":"AQAB"},
            {"kty":"weird","kid":"w"}
        ]}"#;
        assert!(matches!(parse_keys(doc), Err(JwksError::NoKeys)));
        assert!(matches!(parse_keys(b"[]"), Err(JwksError::Json(_))));
        assert_eq!(parse_keys(doc).unwrap_err().reason(), FailureReason::NoKeys);
        assert_eq!(
            parse_keys(b"[]").unwrap_err().reason(),
            FailureReason::InvalidJson
        );
    }

    #[test]
    fn refusals_map_from_library_errors() {
        assert_eq!(refusal(&ErrorKind::ExpiredSignature), AuthError::Expired);
        assert_eq!(
            refusal(&ErrorKind::InvalidAudience),
            AuthError::WrongAudience
        );
        assert_eq!(
            refusal(&ErrorKind::MissingRequiredClaim("aud".into())),
            AuthError::WrongAudience
        );
        assert_eq!(
            refusal(&ErrorKind::InvalidSignature),
            AuthError::BadSignature
        );
        assert_eq!(refusal(&ErrorKind::InvalidToken), AuthError::Malformed);
    }
}
