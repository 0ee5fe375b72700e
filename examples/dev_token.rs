//! Makes a throwaway ES256 key, writes its JWKS to the path given, and
//! prints a token signed with it (valid one hour), for trying `--jwks`
//! locally and for the load comparison in SECURITY.md:
//!
//! ```sh
//! cargo run --release --example dev_token -- /tmp/jwks.json games https://id.example
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .expect("usage: dev_token JWKS_PATH [AUDIENCE] [ISSUER]");
    let audience = args.next().unwrap_or_else(|| "games".into());
    let issuer = args.next().unwrap_or_else(|| "https://id.example".into());

    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("generate a key");
    let point = pair.public_key().as_ref();
    let jwks = json!({"keys":[{"kty":"EC","kid":"dev-1","crv":"P-256","use":"sig","alg":"ES256",
        "x":B64.encode(&point[1..33]),"y":B64.encode(&point[33..65])}]});
    std::fs::write(&path, jwks.to_string()).expect("write the JWKS");

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("dev-1".into());
    let claims = json!({"sub":"dev-game","iss":issuer,"aud":audience,"iat":now,"exp":now + 3600});
    let key = EncodingKey::from_ec_der(pair.to_pkcs8v1().expect("pkcs8").as_ref());
    println!(
        "{}",
        jsonwebtoken::encode(&header, &claims, &key).expect("sign")
    );
}
