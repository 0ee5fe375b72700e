//! Authentication over real HTTP: every 401 case, RS256 and ES256 tokens
//! from keys generated here, key rotation by `kid`, the verified-token
//! cache, API keys, and the rate limit that runs before any of it.

#[path = "support/pipeline.rs"]
mod pipeline;
mod support;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use adserver::access::Access;
use adserver::auth::{ApiKeys, Auth, JwtSettings, JwtVerifier};
use adserver::fetch::Source;
use adserver::rate_limit::RateLimiter;
use adserver::server::ServerOptions;
use support::{get_with, Reply, TestServer, AD};

const ISSUER: &str = "https://id.example";
const AUDIENCE: &str = "games";

/// A signing key generated for the tests and its public JWK.
struct TestKey {
    alg: Algorithm,
    kid: &'static str,
    encoding: EncodingKey,
    jwk: Value,
    /// The public key bytes, for the HS/RS confusion attack.
    public: Vec<u8>,
}

fn rsa_key(kid: &'static str) -> TestKey {
    let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let pkcs8: Pkcs8V1Der = pair.as_der().unwrap();
    let public = pair.public_key();
    let n = public.modulus().big_endian_without_leading_zero().to_vec();
    let e = public.exponent().big_endian_without_leading_zero().to_vec();
    TestKey {
        alg: Algorithm::RS256,
        kid,
        encoding: EncodingKey::from_rsa_der(pkcs1_of(pkcs8.as_ref())),
        jwk: json!({"kty":"RSA","kid":kid,"use":"sig","alg":"RS256",
                    "n":B64.encode(&n),"e":B64.encode(&e)}),
        public: n,
    }
}

fn ec_key(kid: &'static str) -> TestKey {
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let point = pair.public_key().as_ref().to_vec(); // 0x04 || x || y
    TestKey {
        alg: Algorithm::ES256,
        kid,
        encoding: EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref()),
        jwk: json!({"kty":"EC","kid":kid,"crv":"P-256",
                    "x":B64.encode(&point[1..33]),"y":B64.encode(&point[33..65])}),
        public: point,
    }
}

/// The PKCS#1 `RSAPrivateKey` inside a PKCS#8 `PrivateKeyInfo`, which is
/// what jsonwebtoken's aws-lc backend signs with.
fn pkcs1_of(pkcs8: &[u8]) -> &[u8] {
    fn tlv(der: &[u8]) -> (u8, &[u8], &[u8]) {
        let (tag, len_byte) = (der[0], der[1] as usize);
        let (len, start) = if len_byte < 0x80 {
            (len_byte, 2)
        } else {
            let n = len_byte & 0x7f;
            (
                der[2..2 + n]
                    .iter()
                    .fold(0, |acc, b| acc << 8 | *b as usize),
                2 + n,
            )
        };
        (tag, &der[start..start + len], &der[start + len..])
    }
    let (_, info, _) = tlv(pkcs8); // SEQUENCE
    let (_, _, rest) = tlv(info); // INTEGER version
    let (_, _, rest) = tlv(rest); // AlgorithmIdentifier
    let (tag, key, _) = tlv(rest); // OCTET STRING
    assert_eq!(tag, 0x04);
    key
}

/// Keys are slow to generate in debug builds: make each once.
fn keys() -> &'static [TestKey; 3] {
    static KEYS: OnceLock<[TestKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| [rsa_key("rsa-1"), ec_key("ec-1"), rsa_key("rsa-2")])
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({"sub":"game-42","iss":ISSUER,"aud":AUDIENCE,"exp":now() + 600,"iat":now()})
}

fn sign(key: &TestKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.into());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

fn write_jwks(path: &PathBuf, keys: &[&TestKey]) {
    let set = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    std::fs::write(path, set.to_string()).unwrap();
}

/// A server whose JWKS file (returned) holds `initial`.
async fn jwt_server(name: &str, initial: &[&TestKey]) -> (TestServer, PathBuf) {
    let path =
        std::env::temp_dir().join(format!("adserver-jwks-{}-{name}.json", std::process::id()));
    write_jwks(&path, initial);
    let jwt = JwtVerifier::load(JwtSettings {
        source: Source::File(path.clone()),
        issuer: Some(ISSUER.into()),
        audience: Some(AUDIENCE.into()),
        allow_insecure: false,
    })
    .unwrap();
    let access = Access {
        auth: Auth {
            api_keys: None,
            jwt: Some(std::sync::Arc::new(jwt)),
        },
        ..Access::default()
    };
    (
        TestServer::start_with_access(ServerOptions::default(), access).await,
        path,
    )
}

async fn with_token(server: &TestServer, token: &str) -> Reply {
    get_with(
        server.public,
        AD,
        &[("Authorization", &format!("Bearer {token}"))],
    )
    .await
}

fn assert_401(reply: &Reply, case: &str) {
    assert_eq!(reply.status, 401, "{case}: {}", reply.head);
    let challenge = reply.header("www-authenticate").unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "{case}: challenge {challenge:?}"
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/json"),
        "{case}"
    );
    let body: Value = serde_json::from_str(&reply.body).expect("a JSON body");
    assert!(body["error"].is_string(), "{case}: {body}");
}

fn verifier(server: &TestServer) -> &JwtVerifier {
    server.state.access.auth.jwt.as_ref().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_rs256_and_es256_tokens_are_accepted() {
    let [rsa, ec, _] = keys();
    let (server, _) = jwt_server("valid", &[rsa, ec]).await;
    for key in [rsa, ec] {
        let reply = with_token(&server, &sign(key, &claims())).await;
        assert_eq!(reply.status, 200, "{:?}: {}", key.alg, reply.body);
    }
    // Probes stay open without a token; the ad endpoint does not.
    assert_eq!(get_with(server.public, "/healthz", &[]).await.status, 200);
    assert_401(&get_with(server.public, AD, &[]).await, "no token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_token_gets_401_with_a_bearer_challenge() {
    let [rsa, ec, other] = keys();
    let (server, _) = jwt_server("bad", &[rsa, ec]).await;
    let mut expired = claims();
    expired["exp"] = json!(now() - 3600);
    let mut future = claims();
    future["nbf"] = json!(now() + 3600);
    let mut wrong_aud = claims();
    wrong_aud["aud"] = json!("someone-else");
    let mut no_aud = claims();
    no_aud.as_object_mut().unwrap().remove("aud");
    let mut wrong_iss = claims();
    wrong_iss["iss"] = json!("https://evil.example");

    // Signed by another key but claiming rsa-1's kid.
    let mut forged_header = Header::new(Algorithm::RS256);
    forged_header.kid = Some("rsa-1".into());
    let forged = jsonwebtoken::encode(&forged_header, &claims(), &other.encoding).unwrap();

    // alg none: no signature at all.
    let none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"JWT","kid":"rsa-1"}"#),
        B64.encode(claims().to_string())
    );
    // HS/RS confusion: HMAC keyed with the RSA public key.
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("rsa-1".into());
    let hs = jsonwebtoken::encode(
        &hs_header,
        &claims(),
        &EncodingKey::from_secret(&rsa.public),
    )
    .unwrap();
    // RS/ES swap: an ES256 token naming the RSA key.
    let mut swapped_header = Header::new(Algorithm::ES256);
    swapped_header.kid = Some("rsa-1".into());
    let swapped = jsonwebtoken::encode(&swapped_header, &claims(), &ec.encoding).unwrap();
    // A valid token with its signature's first character changed (the last
    // one carries padding bits and may just make the base64 invalid).
    let mut tampered = sign(rsa, &claims());
    let at = tampered.rfind('.').unwrap() + 1;
    let flipped = if tampered.as_bytes()[at] == b'A' {
        "B"
    } else {
        "A"
    };
    tampered.replace_range(at..=at, flipped);

    // (case, token, what the 401 body must say)
    let cases: Vec<(&str, String, &str)> = vec![
        ("malformed", "not-a-jwt".into(), "malformed"),
        ("three garbage parts", "a.b.c".into(), "malformed"),
        ("expired", sign(rsa, &expired), "expired"),
        ("not yet valid", sign(ec, &future), "not valid yet"),
        ("wrongly signed", forged, "signature does not verify"),
        ("tampered", tampered, "signature does not verify"),
        ("wrong audience", sign(rsa, &wrong_aud), "another audience"),
        ("no audience", sign(rsa, &no_aud), "another audience"),
        ("wrong issuer", sign(ec, &wrong_iss), "another issuer"),
        // jsonwebtoken has no `none` algorithm, so the header does not parse.
        ("alg none", none, "malformed"),
        ("HS/RS confusion", hs, "algorithm is not accepted"),
        ("RS/ES swap", swapped, "algorithm is not accepted"),
        ("unknown kid", sign(other, &claims()), "no known key"),
    ];
    for (case, token, says) in &cases {
        let reply = with_token(&server, token).await;
        assert_401(&reply, case);
        assert!(reply.body.contains(says), "{case}: {}", reply.body);
    }
    assert_401(&get_with(server.public, AD, &[]).await, "missing");
    assert_401(
        &get_with(
            server.public,
            AD,
            &[("Authorization", "Basic Z2FtZTpwdw==")],
        )
        .await,
        "not bearer",
    );
    // A good token still works after all that.
    assert_eq!(with_token(&server, &sign(rsa, &claims())).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_token_is_verified_once() {
    let [rsa, _, _] = keys();
    let (server, _) = jwt_server("cache", &[rsa]).await;
    let token = sign(rsa, &claims());
    for _ in 0..5 {
        assert_eq!(with_token(&server, &token).await.status, 200);
    }
    assert_eq!(
        verifier(&server).signature_checks(),
        1,
        "later requests hit the cache"
    );
    // A different token is a miss and costs one more check.
    let mut other = claims();
    other["sub"] = json!("game-43");
    assert_eq!(with_token(&server, &sign(rsa, &other)).await.status, 200);
    assert_eq!(verifier(&server).signature_checks(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_by_kid() {
    let [rsa1, _, rsa2] = keys();
    let (server, path) = jwt_server("rotate", &[rsa1]).await;
    let old = sign(rsa1, &claims());
    assert_eq!(with_token(&server, &old).await.status, 200);

    // The provider publishes rsa-2 and retires rsa-1; a token naming the
    // new kid makes the server re-read the set at once.
    write_jwks(&path, &[rsa2]);
    let new = sign(rsa2, &claims());
    assert_eq!(with_token(&server, &new).await.status, 200);
    // The retired key no longer admits anything, even a cached token.
    assert_401(&with_token(&server, &old).await, "retired key");
    let _ = std::fs::remove_file(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_admit_only_listed_keys() {
    let access = Access {
        auth: Auth {
            api_keys: Some(ApiKeys::parse(
                "# studio A\nkey-alpha-0123456789\nkey-beta-9876543210\n",
            )),
            jwt: None,
        },
        ..Access::default()
    };
    let server = TestServer::start_with_access(ServerOptions::default(), access).await;
    let ok = get_with(
        server.public,
        AD,
        &[("Authorization", "Bearer key-beta-9876543210")],
    )
    .await;
    assert_eq!(ok.status, 200);
    assert_401(
        &get_with(server.public, AD, &[("Authorization", "Bearer key-gamma")]).await,
        "unknown key",
    );
    assert_401(&get_with(server.public, AD, &[]).await, "missing");
}

/// A request for an ad with `token`, for a pipeline.
fn bearer(token: &str) -> String {
    pipeline::request(AD, &[("Authorization", &format!("Bearer {token}"))])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_flood_is_rate_limited_before_any_signature_check() {
    // --rate-limit 10: one address sends 400 forged tokens (each a new
    // token, as an attacker would rotate them). Before the fix every one
    // was verified (400 RSA checks) and none got 429.
    let [rsa, _, other] = keys();
    let path =
        std::env::temp_dir().join(format!("adserver-jwks-{}-flood.json", std::process::id()));
    write_jwks(&path, &[rsa]);
    let jwt = JwtVerifier::load(JwtSettings {
        source: Source::File(path.clone()),
        issuer: Some(ISSUER.into()),
        audience: Some(AUDIENCE.into()),
        allow_insecure: false,
    })
    .unwrap();
    let _ = std::fs::remove_file(&path);
    let access = Access {
        auth: Auth {
            api_keys: None,
            jwt: Some(std::sync::Arc::new(jwt)),
        },
        rate_limit: Some(RateLimiter::new(10, 10)),
        ..Access::default()
    };
    let server = TestServer::start_with_access(ServerOptions::default(), access).await;

    // A game's token, verified once (from this same address) and cached.
    let good = sign(rsa, &claims());
    assert_eq!(with_token(&server, &good).await.status, 200);
    let checks_before = verifier(&server).signature_checks();

    let mut forged_header = Header::new(Algorithm::RS256);
    forged_header.kid = Some("rsa-1".into());
    let flood: Vec<String> = (0..400)
        .map(|n| {
            let mut c = claims();
            c["sub"] = json!(format!("attacker-{n}"));
            bearer(&jsonwebtoken::encode(&forged_header, &c, &other.encoding).unwrap())
        })
        .collect();
    let started = Instant::now();
    let answers = pipeline::statuses(server.public, &flood).await;
    let seconds = started.elapsed().as_secs_f64();
    let checks = verifier(&server).signature_checks() - checks_before;
    let refused = answers.iter().filter(|s| **s == 429).count();
    assert!(
        answers.iter().all(|s| *s == 401 || *s == 429),
        "{answers:?}"
    );
    // The burst left over (9) plus what refills at 10/s while it runs.
    let allowed = 9.0 + 10.0 * seconds + 1.0;
    assert!(
        (checks as f64) <= allowed,
        "{checks} signature checks in {seconds:.2} s at --rate-limit 10"
    );
    assert_eq!(
        answers.len() - refused,
        checks as usize,
        "each 401 was one check"
    );
    assert!(
        refused as f64 >= 400.0 - allowed,
        "only {refused} of 400 got 429"
    );

    // The game's cached token is its own client: the flood from its
    // address does not lock it out.
    assert_eq!(with_token(&server, &good).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_keys_and_missing_tokens_count_against_the_address() {
    let access = Access {
        auth: Auth {
            api_keys: Some(ApiKeys::parse("key-alpha-0123456789\n")),
            jwt: None,
        },
        rate_limit: Some(RateLimiter::new(1, 3)),
        ..Access::default()
    };
    let server = TestServer::start_with_access(ServerOptions::default(), access).await;
    let mut flood: Vec<String> = (0..4).map(|n| bearer(&format!("guess-{n}"))).collect();
    flood.push(pipeline::request(AD, &[]));
    flood.push(pipeline::request(
        AD,
        &[("Authorization", "Basic Zm9vOmJhcg==")],
    ));
    assert_eq!(
        pipeline::statuses(server.public, &flood).await,
        [401, 401, 401, 429, 429, 429],
        "rotating guesses buy no fresh bucket"
    );
    // A listed key from the same address is its own client.
    let ok = get_with(
        server.public,
        AD,
        &[("Authorization", "Bearer key-alpha-0123456789")],
    )
    .await;
    assert_eq!(ok.status, 200);
}

/// README "Budgets": with JWT auth and no `uid`, frequency caps count the
/// token's `sub`, as the access gate verified it (the route no longer
/// authenticates a second time).
#[tokio::test]
async fn frequency_caps_count_the_tokens_subject() {
    let [rsa, ..] = keys();
    let (server, path) = jwt_server("frequency", &[rsa]).await;
    let _ = std::fs::remove_file(&path);
    let feed = support::budgeted_and_house("capped", r#","frequency_cap":{"count":2,"hours":1}"#);
    support::load_json(&server, &feed).await;
    let as_subject = |sub: &str, uid: &str| {
        let mut claims = claims();
        claims["sub"] = sub.into();
        let token = sign(rsa, &claims);
        let target = format!("/ad_request?country=us&lang=eng{uid}");
        let addr = server.public;
        async move {
            get_with(
                addr,
                &target,
                &[("Authorization", &format!("Bearer {token}"))],
            )
            .await
            .ad_id()
        }
    };
    assert_eq!(as_subject("player-1", "").await, "capped");
    assert_eq!(as_subject("player-1", "").await, "capped");
    assert_eq!(
        as_subject("player-1", "").await,
        "house",
        "2 of 2 for this sub"
    );
    assert_eq!(as_subject("player-2", "").await, "capped", "another sub");
    assert_eq!(
        as_subject("player-1", "&uid=other").await,
        "capped",
        "a uid wins over the sub"
    );
}
