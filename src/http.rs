//! Routing and responses: one synchronous function from a request head to a
//! finished response, for both listeners.
//!
//! No sockets here (the server module owns those), so tests and benches call
//! [`handle`] directly. Every body is prebuilt: the catalog's ad bodies or
//! the static error documents below.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};

use crate::access::Access;
use crate::catalog::Catalog;
use crate::clock::Clock;
use crate::codes::PairKey;
use crate::metrics::{Metrics, Outcome};
use crate::query::{parse_ad_request, Param, Problem, QueryError};

/// What every request handler shares: the live catalog, the clock and the
/// counters.
pub struct State {
    /// `None` until the first catalog loads.
    pub catalog: ArcSwapOption<Catalog>,
    pub clock: Box<dyn Clock>,
    pub metrics: Metrics,
    /// Who may ask for ads and how often; all off by default.
    pub access: Access,
}

impl State {
    pub fn new(clock: impl Clock) -> State {
        State {
            catalog: ArcSwapOption::empty(),
            clock: Box::new(clock),
            metrics: Metrics::default(),
            access: Access::default(),
        }
    }

    /// The same state with authentication and rate limits in force.
    pub fn with_access(mut self, access: Access) -> State {
        self.access = access;
        self
    }

    /// Makes `catalog` the one every new request sees.
    pub fn publish(&self, catalog: Catalog) {
        let (ads, skipped) = (catalog.len(), catalog.skipped());
        self.catalog.store(Some(Arc::new(catalog)));
        self.metrics.catalog_loaded(ads, skipped);
    }

    pub fn is_ready(&self) -> bool {
        self.catalog.load().is_some()
    }
}

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Public,
    Admin,
}

pub type Body = Full<Bytes>;

/// Answers one request from `peer`, after the size and access checks.
///
/// The 414 for an over-long target and the 401/429 of [`Access`] come
/// before routing; probes and the admin listener are never authenticated.
pub fn handle_from<B>(
    state: &State,
    listener: Listener,
    peer: IpAddr,
    req: &Request<B>,
) -> Response<Body> {
    if crate::limits::uri_too_long(req.uri()) {
        return crate::limits::uri_too_long_response();
    }
    if listener == Listener::Public && req.uri().path() == "/ad_request" {
        if let Err(denied) = state.access.admit(peer, req.headers()) {
            return denied.response();
        }
    }
    handle(state, listener, req)
}

/// Answers one request, with no size or access checks.
pub fn handle<B>(state: &State, listener: Listener, req: &Request<B>) -> Response<Body> {
    let started = Instant::now();
    let (outcome, response) = route(state, listener, req);
    state.metrics.record(outcome, started.elapsed());
    response
}

fn route<B>(state: &State, listener: Listener, req: &Request<B>) -> (Outcome, Response<Body>) {
    let path = req.uri().path();
    let known = matches!(path, "/ad_request" | "/healthz" | "/readyz")
        || (path == "/metrics" && listener == Listener::Admin);
    if !known {
        return (Outcome::NotFound, error(StatusCode::NOT_FOUND, NOT_FOUND));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut response = error(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return (Outcome::MethodNotAllowed, response);
    }
    match path {
        "/ad_request" => ad_request(state, req.uri().query()),
        "/healthz" => (
            Outcome::Probe,
            json(StatusCode::OK, Bytes::from_static(HEALTHY)),
        ),
        "/readyz" if state.is_ready() => (
            Outcome::Probe,
            json(StatusCode::OK, Bytes::from_static(READY)),
        ),
        "/readyz" => (Outcome::Probe, unavailable()),
        _ => (Outcome::Metrics, metrics(state)),
    }
}

fn ad_request(state: &State, query: Option<&str>) -> (Outcome, Response<Body>) {
    let (outcome, mut response) = match parse_ad_request(query) {
        Err(e) => (
            Outcome::InvalidRequest,
            error(StatusCode::BAD_REQUEST, invalid_request_body(e)),
        ),
        Ok(request) => match &*state.catalog.load() {
            None => (Outcome::Unavailable, unavailable()),
            Some(catalog) => {
                let key = PairKey::new(request.country, request.lang);
                match catalog.pick(key, state.clock.hour()) {
                    Some(body) => (Outcome::Ad, json(StatusCode::OK, body.clone())),
                    None => (Outcome::NoAd, error(StatusCode::NOT_FOUND, NO_AD)),
                }
            }
        },
    };
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    (outcome, response)
}

fn metrics(state: &State) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(state.metrics.render())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

fn json(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error(status: StatusCode, body: &'static str) -> Response<Body> {
    json(status, Bytes::from_static(body.as_bytes()))
}

fn unavailable() -> Response<Body> {
    let mut response = error(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
    response
}

/// How long a client should wait when no catalog has loaded yet.
const RETRY_AFTER_SECONDS: &str = "5";

const HEALTHY: &[u8] = br#"{"status":"ok"}"#;
const READY: &[u8] = br#"{"status":"ready"}"#;
const NO_AD: &str =
    r#"{"error":"no_ad","message":"no ad is eligible for this country and language at this hour"}"#;
const UNAVAILABLE: &str =
    r#"{"error":"unavailable","message":"no campaign catalog has loaded yet; retry later"}"#;
const METHOD_NOT_ALLOWED: &str =
    r#"{"error":"method_not_allowed","message":"this endpoint answers GET and HEAD only"}"#;
const NOT_FOUND: &str = r#"{"error":"not_found","message":"no such endpoint"}"#;

macro_rules! invalid {
    ($message:literal) => {
        concat!(
            r#"{"error":"invalid_request","message":""#,
            $message,
            r#""}"#
        )
    };
}

/// The 400 body for a refused query; the message names the parameter.
pub fn invalid_request_body(e: QueryError) -> &'static str {
    use {Param::*, Problem::*};
    match (e.param, e.problem) {
        (Country, Missing) => invalid!("query parameter 'country' is required"),
        (Country, Empty) => invalid!("query parameter 'country' is empty"),
        (Country, Repeated) => invalid!("query parameter 'country' is given more than once"),
        (Country, Malformed) => {
            invalid!("query parameter 'country' must be an ISO 3166-1 alpha-2 code (two letters)")
        }
        (Lang, Missing) => invalid!("query parameter 'lang' is required"),
        (Lang, Empty) => invalid!("query parameter 'lang' is empty"),
        (Lang, Repeated) => invalid!("query parameter 'lang' is given more than once"),
        (Lang, Malformed) => {
            invalid!("query parameter 'lang' must be a language code (two or three letters)")
        }
    }
}
