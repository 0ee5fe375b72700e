//! A throwaway ES256 key for JWT fixtures: a JWKS file holding its public
//! half, and a token it signed. Tests and examples cannot share a module,
//! so each includes this file with `#[path]`.

use std::path::PathBuf;

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

/// The key's id in the JWKS and in every token's header.
pub const KID: &str = "k";

/// Writes a JWKS with a fresh key to a temporary file named after `name`
/// and this process, and returns that file and a token signed over
/// `claims`. The caller loads the file and removes it.
pub fn jwks_and_token(name: &str, claims: &Value) -> (PathBuf, String) {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref();
    let jwks = json!({"keys":[{"kty":"EC","kid":KID,"crv":"P-256",
        "x":B64.encode(&point[1..33]),"y":B64.encode(&point[33..65])}]});
    let path = std::env::temp_dir().join(format!("adserver-{name}-{}.json", std::process::id()));
    std::fs::write(&path, jwks.to_string()).unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KID.into());
    let key = EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
    (path, jsonwebtoken::encode(&header, claims, &key).unwrap())
}
