//! Redirects of the feed and of the JWKS, over real HTTP on 127.0.0.1 (the
//! transport rule in the README's "Live campaigns" and "Security"): every
//! hop obeys the rule, a refused hop is never connected to, the fetch
//! fails with reason `redirect` and the last good catalog or key set stays.
//!
//! Two ways to show a refused hop is never contacted: `192.0.2.10` is
//! TEST-NET, where a connect hangs until the timeout, so a refusal that
//! returns at once did not try; and `0.0.0.0:PORT` reaches a server of the
//! test's own on this machine (Linux sends it to the local host) while not
//! being loopback by the rule, so its request count must stay 0.

#[path = "support/es256.rs"]
mod es256;
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use adserver::access::Access;
use adserver::auth::{Auth, JwtSettings, JwtVerifier};
use adserver::background::Loops;
use adserver::feed::{FailureReason, FeedError};
use adserver::fetch::{FetchError, FetchLimits, Source};
use adserver::refresh::{RefreshError, RefreshSettings, Refreshed, Refresher};
use adserver::server::ServerOptions;
use serde_json::json;
use support::{feed_json, get_with, load_json, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const DE: &str = "/ad_request?country=de&lang=ger";

/// What a [`Site`] answers on one path.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

fn ok(body: impl Into<Vec<u8>>) -> Answer {
    Answer {
        status: 200,
        location: None,
        body: body.into(),
    }
}

fn redirect(status: u16, location: &str) -> Answer {
    Answer {
        status,
        location: Some(location.to_owned()),
        body: Vec::new(),
    }
}

/// An HTTP server on 127.0.0.1 that answers by path (404 elsewhere) and
/// records every path it was asked for.
struct Site {
    addr: SocketAddr,
    routes: Arc<Mutex<HashMap<String, Answer>>>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl Site {
    async fn start() -> Site {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let asked: Arc<Mutex<Vec<String>>> = Arc::default();
        let (r, a) = (Arc::clone(&routes), Arc::clone(&asked));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (r, a) = (Arc::clone(&r), Arc::clone(&a));
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16_384 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head).into_owned();
                    let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                    a.lock().unwrap().push(path.clone());
                    let answer = r.lock().unwrap().get(&path).cloned().unwrap_or(Answer {
                        status: 404,
                        location: None,
                        body: Vec::new(),
                    });
                    let mut out = format!(
                        "HTTP/1.1 {} X\r\nConnection: close\r\nContent-Length: {}\r\n",
                        answer.status,
                        answer.body.len()
                    );
                    if let Some(location) = &answer.location {
                        out.push_str(&format!("Location: {location}\r\n"));
                    }
                    out.push_str("\r\n");
                    let _ = stream.write_all(out.as_bytes()).await;
                    let _ = stream.write_all(&answer.body).await;
                });
            }
        });
        Site {
            addr,
            routes,
            asked,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The same server, addressed as `0.0.0.0`: not loopback by the rule.
    fn unspecified_url(&self, path: &str) -> String {
        format!("http://0.0.0.0:{}{path}", self.addr.port())
    }

    fn route(&self, path: &str, answer: Answer) {
        self.routes.lock().unwrap().insert(path.to_owned(), answer);
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

fn settings(url: &str) -> RefreshSettings {
    RefreshSettings {
        limits: FetchLimits {
            // Long enough that a connect to TEST-NET could not finish
            // inside the "fast" bound below.
            timeout: Duration::from_secs(3),
            ..FetchLimits::default()
        },
        ..RefreshSettings::new(Source::Url(url.to_owned()))
    }
}

/// `n` all-day de/ger ads named `{prefix}0…`.
fn feed_of(prefix: &str, n: usize) -> String {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let rows: Vec<_> = ids
        .iter()
        .map(|id| (id.as_str(), "de", "ger", 0, 0))
        .collect();
    feed_json(&rows)
}

/// A server and a refresher that loaded `good0` from `site`'s `/ads.json`.
async fn loaded(site: &Site, limits: FetchLimits) -> (TestServer, Refresher) {
    site.route("/ads.json", ok(feed_of("good", 1)));
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(
        server.state.publisher(),
        RefreshSettings {
            limits,
            ..settings(&site.url("/ads.json"))
        },
    );
    refresher.refresh().await.unwrap();
    assert_eq!(server.get(DE).await.ad_id(), "good0");
    (server, refresher)
}

/// Refreshes once, expecting a refused redirect, quickly, with the good
/// catalog still served; returns the error's text.
async fn refused(server: &TestServer, refresher: &mut Refresher, case: &str) -> String {
    let before = server
        .state
        .metrics
        .refresh_failures(FailureReason::Redirect);
    let started = Instant::now();
    let err = refresher.refresh().await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.reason(), FailureReason::Redirect, "{case}: {err}");
    assert!(
        matches!(
            err,
            RefreshError::Feed(FeedError::Fetch(FetchError::Redirect(_)))
        ),
        "{case}: {err:?}"
    );
    assert!(took < Duration::from_millis(1500), "{case}: took {took:?}");
    assert_eq!(
        server
            .state
            .metrics
            .refresh_failures(FailureReason::Redirect),
        before + 1,
        "{case}: counted"
    );
    assert_eq!(server.get(DE).await.ad_id(), "good0", "{case}: kept");
    err.to_string()
}

#[tokio::test]
async fn a_redirect_to_plain_http_off_loopback_fails_fast_and_keeps_the_catalog() {
    let site = Site::start().await;
    let (server, mut refresher) = loaded(&site, settings("").limits).await;
    site.route("/ads.json", redirect(302, "http://192.0.2.10/ads.json"));
    let message = refused(&server, &mut refresher, "TEST-NET").await;
    assert!(
        message.contains("http://192.0.2.10/ads.json") && message.contains("not loopback"),
        "{message}"
    );
}

#[tokio::test]
async fn a_refused_hop_is_never_connected_to() {
    let site = Site::start().await;
    let attacker = Site::start().await;
    attacker.route("/ads.json", ok(feed_of("evil", 1)));
    let (server, mut refresher) = loaded(&site, settings("").limits).await;
    for status in [301, 302, 303, 307, 308] {
        site.route(
            "/ads.json",
            redirect(status, &attacker.unspecified_url("/ads.json")),
        );
        refused(&server, &mut refresher, &format!("HTTP {status}")).await;
    }
    assert_eq!(attacker.asked(), Vec::<String>::new(), "attacker contacted");
}

#[tokio::test]
async fn redirects_to_other_schemes_are_refused() {
    let site = Site::start().await;
    let (server, mut refresher) = loaded(&site, settings("").limits).await;
    for location in [
        "ftp://127.0.0.1/ads.json",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "//127.0.0.1@evil.example/ads.json",
        "/ads.json\u{7f}",
    ] {
        site.route("/ads.json", redirect(302, location));
        refused(&server, &mut refresher, location).await;
    }
}

#[tokio::test]
async fn relative_redirects_on_loopback_are_followed() {
    let site = Site::start().await;
    let (server, mut refresher) = loaded(&site, settings("").limits).await;
    site.route("/ads.json", redirect(302, "v2/ads.json"));
    site.route("/v2/ads.json", redirect(308, "../v3/./ads.json?x=1"));
    site.route("/v3/ads.json?x=1", redirect(301, &site.url("/final")));
    site.route("/final", ok(feed_of("moved", 2)));
    assert_eq!(
        refresher.refresh().await.unwrap(),
        Refreshed::Loaded { ads: 2, skipped: 0 }
    );
    assert_eq!(server.get(DE).await.ad_id(), "moved0");
    assert_eq!(
        site.asked()[1..],
        ["/ads.json", "/v2/ads.json", "/v3/ads.json?x=1", "/final"]
    );
}

#[tokio::test]
async fn a_chain_past_the_cap_is_refused_and_one_within_it_followed() {
    let site = Site::start().await;
    let (server, mut refresher) = loaded(&site, settings("").limits).await;
    // /ads.json → /r1 → … → /r6: six redirects, one past the cap of five.
    site.route("/ads.json", redirect(302, "/r1"));
    for i in 1..=6 {
        site.route(&format!("/r{i}"), redirect(302, &format!("/r{}", i + 1)));
    }
    site.route("/r7", ok(feed_of("far", 1)));
    let message = refused(&server, &mut refresher, "six redirects").await;
    assert!(message.contains("more than 5 redirects"), "{message}");
    assert!(
        !site.asked().contains(&"/r6".to_owned()),
        "the hop past the cap was fetched: {:?}",
        site.asked()
    );
    // Five redirects are within the cap.
    site.route("/r5", ok(feed_of("near", 1)));
    refresher.refresh().await.unwrap();
    assert_eq!(server.get(DE).await.ad_id(), "near0");
}

#[tokio::test]
async fn a_redirect_loop_is_refused() {
    let site = Site::start().await;
    let (server, mut refresher) = loaded(&site, settings("").limits).await;
    site.route("/ads.json", redirect(302, "/a"));
    site.route("/a", redirect(302, "/b"));
    site.route("/b", redirect(302, "/a"));
    let message = refused(&server, &mut refresher, "loop").await;
    assert!(message.contains("loop"), "{message}");
    site.route("/ads.json", redirect(302, "/ads.json#again"));
    refused(&server, &mut refresher, "self").await;
}

#[tokio::test]
async fn allow_insecure_feed_lets_every_hop_use_plain_http() {
    let site = Site::start().await;
    let elsewhere = Site::start().await;
    elsewhere.route("/ads.json", ok(feed_of("far", 1)));
    let limits = FetchLimits {
        allow_insecure: true,
        ..settings("").limits
    };
    let (server, mut refresher) = loaded(&site, limits).await;
    site.route(
        "/ads.json",
        redirect(302, &elsewhere.unspecified_url("/ads.json")),
    );
    refresher.refresh().await.unwrap();
    assert_eq!(server.get(DE).await.ad_id(), "far0");
}

#[tokio::test]
async fn the_first_hop_obeys_the_rule_too() {
    let server = TestServer::start(5).await;
    let mut refresher = Refresher::new(
        server.state.publisher(),
        settings("http://192.0.2.10/ads.json"),
    );
    let started = Instant::now();
    let err = refresher.refresh().await.unwrap_err();
    assert_eq!(err.reason(), FailureReason::Transport, "{err}");
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(
        server
            .state
            .metrics
            .refresh_failures(FailureReason::Transport),
        1
    );
}

// ---- JWKS ----

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A JWKS document with a fresh key, and a token that key signed.
fn key_set(name: &str) -> (String, String) {
    let (path, token) = es256::jwks_and_token(name, &json!({"sub":"g","exp":now() + 600}));
    let jwks = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(path);
    (jwks, token)
}

async fn load_jwks(url: String) -> Result<JwtVerifier, adserver::auth::jwt::JwksError> {
    let settings = JwtSettings {
        source: Source::Url(url),
        issuer: None,
        audience: None,
        allow_insecure: false,
    };
    tokio::task::spawn_blocking(move || JwtVerifier::load(settings))
        .await
        .unwrap()
}

/// A server whose `/ad_request` needs a token `verifier` accepts, serving
/// one de/ger ad; its public address and state.
/// A server whose gate is `verifier`, serving `feed_of("ad", 1)`.
async fn jwt_server(verifier: JwtVerifier) -> TestServer {
    let access = Access {
        auth: Auth {
            api_keys: None,
            jwt: Some(std::sync::Arc::new(verifier)),
        },
        ..Access::default()
    };
    let server = TestServer::start_with_access(ServerOptions::default(), access).await;
    load_json(&server, &feed_of("ad", 1)).await;
    server
}

async fn status_with(server: SocketAddr, token: &str) -> u16 {
    let auth = format!("Bearer {token}");
    get_with(server, DE, &[("Authorization", &auth)])
        .await
        .status
}

#[tokio::test]
async fn a_jwks_redirected_off_loopback_is_not_loaded() {
    let site = Site::start().await;
    site.route("/jwks", redirect(302, "http://192.0.2.10/jwks"));
    let started = Instant::now();
    let err = load_jwks(site.url("/jwks")).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert!(err.to_string().contains("redirect refused"), "{err}");
}

#[tokio::test]
async fn a_jwks_redirect_cannot_swap_in_another_key() {
    let (good_jwks, good_token) = key_set("redirect-good");
    let (evil_jwks, evil_token) = key_set("redirect-evil");
    let site = Site::start().await;
    let attacker = Site::start().await;
    site.route("/jwks", ok(good_jwks));
    attacker.route("/jwks", ok(evil_jwks));
    let verifier = load_jwks(site.url("/jwks")).await.unwrap();
    let jwt = jwt_server(verifier).await;
    let (server, state) = (jwt.public, Arc::clone(&jwt.state));
    assert_eq!(status_with(server, &good_token).await, 200);
    assert_eq!(status_with(server, &evil_token).await, 401);

    // The identity provider's URL now redirects to the attacker's set.
    site.route("/jwks", redirect(302, &attacker.unspecified_url("/jwks")));
    let refreshed = tokio::task::spawn_blocking(move || {
        state
            .access
            .auth
            .jwt
            .as_ref()
            .unwrap()
            .refresh()
            .map(|_| ())
    })
    .await
    .unwrap();
    let err = refreshed.unwrap_err();
    assert!(err.to_string().contains("redirect refused"), "{err}");
    assert_eq!(attacker.asked(), Vec::<String>::new(), "attacker contacted");
    assert_eq!(status_with(server, &evil_token).await, 401);
    assert_eq!(status_with(server, &good_token).await, 200);
}

#[tokio::test]
async fn the_jwks_refresh_loop_rereads_until_signalled_then_stops() {
    let (jwks, _) = key_set("loop-stop");
    let site = Site::start().await;
    site.route("/jwks", ok(jwks));
    let verifier = load_jwks(site.url("/jwks")).await.unwrap();
    let server = jwt_server(verifier).await;
    let state = &server.state;
    let mut loops = Loops::new();
    let every = Duration::from_millis(20);
    loops.spawn(
        "jwks refresh",
        adserver::auth::refresh_keys(
            std::sync::Arc::clone(state.access.auth.jwt.as_ref().unwrap()),
            every,
            loops.shutdown(),
        ),
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while site.asked().len() < 3 {
        assert!(Instant::now() < deadline, "the loop never re-read the set");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stuck = loops.stop(Duration::from_secs(5)).await;
    assert!(stuck.is_empty(), "did not stop when signalled: {stuck:?}");
    let asked = site.asked().len();
    tokio::time::sleep(every * 5).await;
    assert_eq!(site.asked().len(), asked, "still re-reading after the stop");
}
