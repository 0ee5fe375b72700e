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
use hyper::header::{
    HeaderMap, HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HOST, RETRY_AFTER,
};
use hyper::{Method, Request, Response, StatusCode, Version};

use crate::access::{Access, Denied};
use crate::catalog::{Catalog, Lookup};
use crate::clock::Clock;
use crate::metrics::{Metrics, Outcome, Route};
use crate::query::{parse_ad_request, parse_hour, Param, PlayerZone, Problem, QueryError};

macro_rules! invalid {
    ($message:literal) => {
        concat!(
            r#"{"error":"invalid_request","message":""#,
            $message,
            r#""}"#
        )
    };
}

/// What every request handler shares: the live catalog, the clock and the
/// counters.
pub struct State {
    /// `None` until the first catalog loads.
    pub catalog: ArcSwapOption<Catalog>,
    pub clock: Box<dyn Clock>,
    pub metrics: Metrics,
    pub hour_basis: HourBasis,
    /// Who may ask for ads and how often; all off by default.
    pub access: Access,
}

/// `--hour-basis`: whose clock campaign hours are read on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum HourBasis {
    /// The server's `--timezone`.
    #[default]
    Server,
    /// The player's, from the request's `tz` or `utc_offset` (the server's
    /// when the request gives neither).
    Player,
}

impl State {
    pub fn new(clock: impl Clock) -> State {
        State {
            catalog: ArcSwapOption::empty(),
            clock: Box::new(clock),
            metrics: Metrics::default(),
            hour_basis: HourBasis::default(),
            access: Access::default(),
        }
    }

    /// The same state with authentication and rate limits in force.
    pub fn with_access(mut self, access: Access) -> State {
        self.access = access;
        self
    }

    /// The hour a request's ads are chosen for, at `now`.
    pub fn hour_for(&self, player: Option<PlayerZone>, now: chrono::DateTime<chrono::Utc>) -> u8 {
        match (self.hour_basis, player) {
            (HourBasis::Player, Some(zone)) => player_hour(zone, now),
            _ => self.clock.hour_at(now),
        }
    }

    /// Makes `catalog` the one every new request sees, and hands back the
    /// one it replaces: freeing a large catalog takes milliseconds, so the
    /// caller decides which thread pays for it.
    #[must_use = "dropping the old catalog here frees it on this thread"]
    pub fn publish(&self, catalog: Catalog) -> Option<Arc<Catalog>> {
        let (ads, skipped) = (catalog.len(), catalog.skipped());
        let old = self.catalog.swap(Some(Arc::new(catalog)));
        self.metrics.catalog_loaded(ads, skipped);
        old
    }

    pub fn is_ready(&self) -> bool {
        self.catalog.load().is_some()
    }
}

/// The hour on the player's wall clock at `now`.
pub fn player_hour(zone: PlayerZone, now: chrono::DateTime<chrono::Utc>) -> u8 {
    use chrono::Timelike;
    match zone {
        PlayerZone::Named(tz) => now.with_timezone(&tz).hour() as u8,
        PlayerZone::Offset(minutes) => {
            let minute_of_day = now.timestamp().rem_euclid(86_400) / 60 + i64::from(minutes);
            (minute_of_day.rem_euclid(1440) / 60) as u8
        }
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
    let started = Instant::now();
    if crate::limits::uri_too_long(req.uri()) {
        state
            .metrics
            .record(Route::Unknown, Outcome::UriTooLong, started.elapsed());
        return crate::limits::uri_too_long_response();
    }
    if listener == Listener::Public && req.uri().path() == "/ad_request" {
        if let Err(denied) = state.access.admit(peer, req.headers()) {
            let outcome = match denied {
                Denied::Unauthorized(_) => Outcome::Unauthorized,
                Denied::RateLimited(_) => Outcome::RateLimited,
            };
            state
                .metrics
                .record(Route::AdRequest, outcome, started.elapsed());
            return denied.response();
        }
    }
    handle(state, listener, req)
}

/// Answers a request as it came off the wire: the HTTP/1.1 `Host` rule,
/// then [`handle_from`]. Kept apart from `handle_from` because in-process
/// callers (benches, allocation tests) build requests without a `Host`.
pub fn handle_wire<B>(
    state: &State,
    listener: Listener,
    peer: IpAddr,
    req: &Request<B>,
) -> Response<Body> {
    if !host_is_acceptable(req.version(), req.headers()) {
        let started = Instant::now();
        state
            .metrics
            .record(Route::Unknown, Outcome::InvalidRequest, started.elapsed());
        let mut response = error(StatusCode::BAD_REQUEST, BAD_HOST);
        // A request this malformed may be a smuggling attempt: nothing
        // more is read from the connection.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    handle_from(state, listener, peer, req)
}

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host` header, and
/// its value is a host with an optional port. HTTP/1.0 may leave it out.
/// Walks the header map and the value's bytes; allocates nothing.
pub fn host_is_acceptable(version: Version, headers: &HeaderMap) -> bool {
    let mut hosts = headers.get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        (None, _) => version < Version::HTTP_11,
        (Some(host), None) => host_value_is_valid(host.as_bytes()),
        (Some(_), Some(_)) => false,
    }
}

/// A `Host` value: `uri-host [ ":" port ]`, where the host is a name, an
/// IPv4 address or a bracketed IP literal (RFC 3986 characters only).
fn host_value_is_valid(value: &[u8]) -> bool {
    !value.is_empty()
        && value.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b':'
                        | b'['
                        | b']'
                        | b'%'
                )
        })
}

/// Answers one request, with no size or access checks.
pub fn handle<B>(state: &State, listener: Listener, req: &Request<B>) -> Response<Body> {
    let started = Instant::now();
    let route = match req.uri().path() {
        "/ad_request" => Route::AdRequest,
        "/healthz" => Route::Healthz,
        "/readyz" => Route::Readyz,
        "/metrics" if listener == Listener::Admin => Route::Metrics,
        "/explain" if listener == Listener::Admin => Route::Explain,
        _ => Route::Unknown,
    };
    let (outcome, response) = answer(state, route, req);
    state.metrics.record(route, outcome, started.elapsed());
    response
}

fn answer<B>(state: &State, route: Route, req: &Request<B>) -> (Outcome, Response<Body>) {
    if route == Route::Unknown {
        return (Outcome::NotFound, error(StatusCode::NOT_FOUND, NOT_FOUND));
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut response = error(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED);
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return (Outcome::MethodNotAllowed, response);
    }
    match route {
        Route::AdRequest => ad_request(state, req.uri().query()),
        Route::Healthz => (
            Outcome::Ok,
            json(StatusCode::OK, Bytes::from_static(HEALTHY)),
        ),
        Route::Readyz if state.is_ready() => {
            (Outcome::Ok, json(StatusCode::OK, Bytes::from_static(READY)))
        }
        Route::Readyz => (Outcome::Unavailable, unavailable()),
        Route::Explain => explain(state, req.uri().query()),
        Route::Metrics | Route::Unknown => (Outcome::Ok, metrics(state)),
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
                let now = state.clock.now();
                let hour = state.hour_for(request.player, now);
                let lookup = Lookup {
                    country: request.country,
                    lang: request.lang,
                    hour,
                    now,
                    exclude: &request.exclude,
                };
                match catalog.select(&lookup) {
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

/// `GET /explain?country=…&lang=…[&hour=H][&exclude=…]` (admin only).
fn explain(state: &State, query: Option<&str>) -> (Outcome, Response<Body>) {
    let request = match parse_ad_request(query) {
        Ok(request) => request,
        Err(e) => {
            let body = invalid_request_body(e);
            return (
                Outcome::InvalidRequest,
                error(StatusCode::BAD_REQUEST, body),
            );
        }
    };
    let Ok(hour) = parse_hour(query) else {
        return (
            Outcome::InvalidRequest,
            error(
                StatusCode::BAD_REQUEST,
                invalid!("query parameter 'hour' must be a whole hour, 0 to 23"),
            ),
        );
    };
    let Some(catalog) = &*state.catalog.load() else {
        return (Outcome::Unavailable, unavailable());
    };
    let now = state.clock.now();
    let hour = hour.unwrap_or_else(|| state.hour_for(request.player, now));
    let explanation = catalog.explain(&Lookup {
        country: request.country,
        lang: request.lang,
        hour,
        now,
        exclude: &request.exclude,
    });
    let body = simd_json::to_vec(&explanation).expect("an explanation always serialises");
    (Outcome::Ok, json(StatusCode::OK, Bytes::from(body)))
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
const BAD_HOST: &str = invalid!("an HTTP/1.1 request needs exactly one valid Host header");

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
            invalid!("query parameter 'lang' must be a language code such as eng, en or en-US")
        }
        (Tz, Missing | Empty) => invalid!("query parameter 'tz' is empty"),
        (Tz, Repeated) => invalid!("query parameter 'tz' is given more than once"),
        (Tz, Malformed) => {
            invalid!("query parameter 'tz' must be an IANA time zone such as America/New_York")
        }
        (UtcOffset, Missing | Empty) => invalid!("query parameter 'utc_offset' is empty"),
        (UtcOffset, Repeated) => {
            invalid!("query parameter 'utc_offset' is given more than once")
        }
        (UtcOffset, Malformed) => {
            invalid!("query parameter 'utc_offset' must be whole minutes east of UTC, -840 to 840")
        }
        (Exclude, Missing | Empty | Malformed) => invalid!(
            "query parameter 'exclude' must be at most 16 comma-separated ids of at most 64 bytes"
        ),
        (Exclude, Repeated) => invalid!("query parameter 'exclude' is given more than once"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_rule() {
        use Version as V;
        let cases: &[(V, &[&str], bool)] = &[
            (V::HTTP_11, &["example.com"], true),
            (V::HTTP_11, &["127.0.0.1:8080"], true),
            (V::HTTP_11, &["[::1]:8080"], true),
            (V::HTTP_11, &[], false),
            (V::HTTP_11, &["a", "a"], false),
            (V::HTTP_11, &["a", "b"], false),
            (V::HTTP_11, &[""], false),
            (V::HTTP_11, &["a b"], false),
            (V::HTTP_11, &["a/b"], false),
            (V::HTTP_11, &["a@b"], false),
            (V::HTTP_10, &[], true),
            (V::HTTP_10, &["example.com"], true),
            (V::HTTP_10, &["a", "b"], false),
        ];
        for (version, hosts, ok) in cases {
            let mut headers = HeaderMap::new();
            for host in *hosts {
                headers.append(HOST, HeaderValue::from_str(host).unwrap());
            }
            assert_eq!(
                host_is_acceptable(*version, &headers),
                *ok,
                "{version:?} {hosts:?}"
            );
        }
    }
}
