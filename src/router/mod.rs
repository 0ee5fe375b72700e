//! Routing: from a request head to an [`Answer`], for both listeners.
//!
//! No sockets here ([`crate::server`] owns those), so tests and benches
//! call [`handle`] directly. Each route is its own small module; this one
//! says which route a request is for, applies the checks that come before
//! any route (the `Host` rule, the URI length, the access gate), and
//! records every answer's outcome. Only `/stats`, which may read a remote
//! store, is asynchronous ([`stats`]).

mod ad;
mod event;
mod explain;
mod invalid;
mod route;
pub mod stats;

use std::net::IpAddr;
use std::time::Instant;

use hyper::header::{HeaderMap, HOST};
use hyper::{Method, Request, Response, Version};

use crate::answer::Answer;
pub use crate::answer::Body;
use crate::auth::Principal;
use crate::metrics::Outcome;
use crate::state::State;
pub use invalid::invalid_query;
pub use route::Route;

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Public,
    Admin,
}

/// The route a path names on a listener.
pub fn route(listener: Listener, path: &str) -> Route {
    match (path, listener) {
        ("/ad_request", _) => Route::AdRequest,
        ("/healthz", _) => Route::Healthz,
        ("/readyz", _) => Route::Readyz,
        ("/event", Listener::Public) => Route::Event,
        ("/metrics", Listener::Admin) => Route::Metrics,
        ("/explain", Listener::Admin) => Route::Explain,
        ("/stats", Listener::Admin) => Route::Stats,
        _ => Route::Unknown,
    }
}

/// Answers a request as it came off the wire: the HTTP/1.1 `Host` rule,
/// then [`handle_from`]. Kept apart from `handle_from` because in-process
/// callers (benches, allocation tests) build requests without a `Host`.
pub(crate) fn handle_wire<B>(
    state: &State,
    listener: Listener,
    peer: IpAddr,
    req: &Request<B>,
) -> Response<Body> {
    if !host_is_acceptable(req.version(), req.headers()) {
        return respond(state, Route::Unknown, Instant::now(), Answer::BadHost);
    }
    handle_from(state, listener, peer, req)
}

/// Answers one request from `peer`, after the size and access checks.
///
/// The 414 for an over-long target and the 401/429 of the access gate come
/// before routing; probes, beacons and the admin listener are never
/// authenticated.
pub fn handle_from<B>(
    state: &State,
    listener: Listener,
    peer: IpAddr,
    req: &Request<B>,
) -> Response<Body> {
    let started = Instant::now();
    if crate::limits::uri_too_long(req.uri()) {
        return respond(state, Route::Unknown, started, Answer::UriTooLong);
    }
    let mut principal = None;
    if listener == Listener::Public && req.uri().path() == "/ad_request" {
        match state.access.admit(peer, req.headers()) {
            Ok(admitted) => principal = admitted,
            Err(denied) => return respond(state, Route::AdRequest, started, denied.answer()),
        }
    }
    handle_as(state, listener, req, principal)
}

/// Answers one request, with no size or access checks (and so no
/// authenticated player for frequency caps but the request's `uid`).
pub fn handle<B>(state: &State, listener: Listener, req: &Request<B>) -> Response<Body> {
    handle_as(state, listener, req, None)
}

/// [`handle`] for a request the access gate admitted as `principal`.
fn handle_as<B>(
    state: &State,
    listener: Listener,
    req: &Request<B>,
    principal: Option<Principal>,
) -> Response<Body> {
    let started = Instant::now();
    let route = route(listener, req.uri().path());
    let answer = answer(state, route, req, principal);
    respond(state, route, started, answer)
}

/// Counts `answer` under `route` and turns it into the response.
pub(crate) fn respond(
    state: &State,
    route: Route,
    started: Instant,
    answer: Answer,
) -> Response<Body> {
    let outcome: Outcome = answer.outcome();
    let response = answer.into_response();
    state.metrics.record(route, outcome, started.elapsed());
    response
}

fn answer<B>(
    state: &State,
    route: Route,
    req: &Request<B>,
    principal: Option<Principal>,
) -> Answer {
    let method = req.method();
    let query = req.uri().query();
    match route {
        Route::Unknown => Answer::NotFound,
        Route::Event if method == Method::GET || method == Method::POST => {
            event::answer(state, query)
        }
        Route::Event => Answer::MethodNotAllowed { allow: "GET, POST" },
        _ if method != Method::GET && method != Method::HEAD => {
            Answer::MethodNotAllowed { allow: "GET, HEAD" }
        }
        Route::AdRequest => ad::answer(state, req, method == Method::GET, principal),
        Route::Healthz => Answer::Healthy,
        Route::Readyz if state.is_ready() => Answer::Ready,
        Route::Readyz => Answer::Unavailable,
        Route::Explain => explain::answer(state, query),
        Route::Metrics => {
            let mut page = state.metrics.render::<Route>();
            let delivery = &state.delivery;
            delivery.counters.render(&delivery.ledger, &mut page);
            Answer::Metrics(page.into())
        }
        // Reached only by in-process callers: the server runs `/stats`
        // through [`stats::answer`] off the request workers.
        Route::Stats => stats::answer_blocking(state, query),
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request has exactly one `Host` header, and
/// its value is a host with an optional port. HTTP/1.0 may leave it out.
/// Walks the header map and the value's bytes; allocates nothing.
pub(crate) fn host_is_acceptable(version: Version, headers: &HeaderMap) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

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
