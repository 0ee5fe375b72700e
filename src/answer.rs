//! Every answer the server gives, in one vocabulary.
//!
//! A gate or a route decides *what* to answer and returns an [`Answer`];
//! this module alone turns it into a status, headers and a body
//! ([`Answer::into_response`]) and names its metrics [`Outcome`]. So a 429
//! looks the same wherever it is decided, and the modules that decide
//! import nothing from the router above them.
//!
//! Bodies are prebuilt or spliced ([`crate::delivery::SplicedBody`]): no
//! answer formats JSON on the request path.

use bytes::Bytes;
use hyper::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Response, StatusCode};

use crate::auth::AuthError;
use crate::delivery::token::Reject;
pub use crate::delivery::SplicedBody as Body;
use crate::metrics::Outcome;

/// What to answer.
pub enum Answer {
    /// 200, an ad as JSON (prebuilt, or spliced with its tracking URLs).
    Ad(Body),
    /// 200, a VAST document; `found` is false for the document with no ad.
    Vast { body: Body, found: bool },
    /// 404 `no_ad`.
    NoAd,
    /// 400 `invalid_request`; the body names the parameter.
    Invalid(&'static str),
    /// 400 for a request without exactly one `Host`; the connection closes.
    BadHost,
    /// 503 with `Retry-After`: no catalog has loaded yet.
    Unavailable,
    /// 405 with `Allow`.
    MethodNotAllowed { allow: &'static str },
    /// 404 `not_found`.
    NotFound,
    /// 414; the connection closes, as after hyper's own 431.
    UriTooLong,
    /// 401 with its `WWW-Authenticate` challenge.
    Unauthorized(AuthError),
    /// 429 with `Retry-After`.
    RateLimited { retry_after_secs: u64 },
    /// 204: an event beacon was counted (or was a repeat of one that was).
    EventAccepted,
    /// 403 `invalid_event`: the token is missing, malformed, forged or old.
    InvalidEvent(Option<Reject>),
    /// 200 `{"status":"ok"}`.
    Healthy,
    /// 200 `{"status":"ready"}`.
    Ready,
    /// 200, a JSON document built for this request (admin routes).
    Json(Bytes),
    /// 200, CSV (`/stats?format=csv`).
    Csv(Bytes),
    /// 200, the Prometheus text format.
    Metrics(Bytes),
    /// 503 when the ledger's store cannot be read.
    StoreUnavailable,
}

impl Answer {
    /// How metrics count this answer.
    pub fn outcome(&self) -> Outcome {
        match self {
            Answer::Ad(_) | Answer::Vast { found: true, .. } => Outcome::Ad,
            Answer::NoAd | Answer::Vast { found: false, .. } => Outcome::NoAd,
            Answer::Invalid(_) | Answer::BadHost => Outcome::InvalidRequest,
            Answer::Unavailable | Answer::StoreUnavailable => Outcome::Unavailable,
            Answer::MethodNotAllowed { .. } => Outcome::MethodNotAllowed,
            Answer::NotFound => Outcome::NotFound,
            Answer::UriTooLong => Outcome::UriTooLong,
            Answer::Unauthorized(_) => Outcome::Unauthorized,
            Answer::RateLimited { .. } => Outcome::RateLimited,
            Answer::InvalidEvent(_) => Outcome::InvalidEvent,
            Answer::EventAccepted
            | Answer::Healthy
            | Answer::Ready
            | Answer::Json(_)
            | Answer::Csv(_)
            | Answer::Metrics(_) => Outcome::Ok,
        }
    }

    /// The response to send.
    pub(crate) fn into_response(self) -> Response<Body> {
        match self {
            Answer::Ad(body) => no_store(with(StatusCode::OK, JSON, body)),
            Answer::Vast { body, .. } => no_store(with(StatusCode::OK, XML, body)),
            Answer::NoAd => no_store(fixed(StatusCode::NOT_FOUND, NO_AD)),
            Answer::Invalid(body) => fixed(StatusCode::BAD_REQUEST, body),
            Answer::BadHost => closing(fixed(StatusCode::BAD_REQUEST, BAD_HOST)),
            Answer::Unavailable => retry_after(
                fixed(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE),
                RETRY_AFTER_SECONDS,
            ),
            Answer::MethodNotAllowed { allow } => {
                let mut response = fixed(StatusCode::METHOD_NOT_ALLOWED, METHOD_NOT_ALLOWED);
                let allow = HeaderValue::from_static(allow);
                response.headers_mut().insert(ALLOW, allow);
                response
            }
            Answer::NotFound => fixed(StatusCode::NOT_FOUND, NOT_FOUND),
            Answer::UriTooLong => closing(fixed(StatusCode::URI_TOO_LONG, URI_TOO_LONG)),
            Answer::Unauthorized(e) => {
                let (challenge, body) = e.challenge();
                let mut response = no_store(fixed(StatusCode::UNAUTHORIZED, body));
                let challenge = HeaderValue::from_static(challenge);
                response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
                response
            }
            Answer::RateLimited { retry_after_secs } => {
                let mut response = no_store(fixed(StatusCode::TOO_MANY_REQUESTS, RATE_LIMITED));
                let wait = HeaderValue::from(retry_after_secs);
                response.headers_mut().insert(RETRY_AFTER, wait);
                response
            }
            Answer::EventAccepted => {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = StatusCode::NO_CONTENT;
                no_store(response)
            }
            Answer::InvalidEvent(reason) => no_store(fixed(
                StatusCode::FORBIDDEN,
                match reason {
                    None => INVALID_EVENT_MISSING,
                    Some(Reject::Malformed) => INVALID_EVENT_MALFORMED,
                    Some(Reject::Forged) => INVALID_EVENT_FORGED,
                    Some(Reject::Expired) => INVALID_EVENT_EXPIRED,
                },
            )),
            Answer::Healthy => fixed(StatusCode::OK, HEALTHY),
            Answer::Ready => fixed(StatusCode::OK, READY),
            Answer::Json(body) => with(StatusCode::OK, JSON, Body::plain(body)),
            Answer::Csv(body) => with(StatusCode::OK, CSV, Body::plain(body)),
            Answer::Metrics(body) => with(StatusCode::OK, PROMETHEUS, Body::plain(body)),
            Answer::StoreUnavailable => retry_after(
                fixed(StatusCode::SERVICE_UNAVAILABLE, STORE_UNAVAILABLE),
                "1",
            ),
        }
    }
}

fn with(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn fixed(status: StatusCode, body: &'static str) -> Response<Body> {
    with(
        status,
        JSON,
        Body::plain(Bytes::from_static(body.as_bytes())),
    )
}

fn no_store(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn closing(mut response: Response<Body>) -> Response<Body> {
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

fn retry_after(mut response: Response<Body>, seconds: &'static str) -> Response<Body> {
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static(seconds));
    response
}

const JSON: &str = "application/json";
const XML: &str = "application/xml";
const CSV: &str = "text/csv; charset=utf-8";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a client should wait when no catalog has loaded yet.
const RETRY_AFTER_SECONDS: &str = "5";

/// A `{"error":"invalid_request",…}` body with `$message`, at compile time.
#[macro_export]
macro_rules! invalid_request {
    ($message:literal) => {
        concat!(
            r#"{"error":"invalid_request","message":""#,
            $message,
            r#""}"#
        )
    };
}

const HEALTHY: &str = r#"{"status":"ok"}"#;
const READY: &str = r#"{"status":"ready"}"#;
const NO_AD: &str =
    r#"{"error":"no_ad","message":"no ad is eligible for this country and language at this hour"}"#;
const UNAVAILABLE: &str =
    r#"{"error":"unavailable","message":"no campaign catalog has loaded yet; retry later"}"#;
const STORE_UNAVAILABLE: &str = r#"{"error":"unavailable","message":"the delivery ledger cannot be read right now; retry later"}"#;
const METHOD_NOT_ALLOWED: &str =
    r#"{"error":"method_not_allowed","message":"this endpoint does not answer this method"}"#;
const NOT_FOUND: &str = r#"{"error":"not_found","message":"no such endpoint"}"#;
const BAD_HOST: &str = invalid_request!("an HTTP/1.1 request needs exactly one valid Host header");
const URI_TOO_LONG: &str =
    r#"{"error":"uri_too_long","message":"the request target is longer than 2048 bytes"}"#;
const RATE_LIMITED: &str = r#"{"error":"rate_limited","message":"too many requests from this client; retry after the Retry-After delay"}"#;
const INVALID_EVENT_MISSING: &str =
    r#"{"error":"invalid_event","message":"query parameter 't' (the event token) is required"}"#;
const INVALID_EVENT_MALFORMED: &str =
    r#"{"error":"invalid_event","message":"the event token is malformed"}"#;
const INVALID_EVENT_FORGED: &str =
    r#"{"error":"invalid_event","message":"the event token's signature does not verify"}"#;
const INVALID_EVENT_EXPIRED: &str =
    r#"{"error":"invalid_event","message":"the event token is older than the event TTL"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_body_is_json_with_an_error_field() {
        for body in [
            NO_AD,
            UNAVAILABLE,
            STORE_UNAVAILABLE,
            METHOD_NOT_ALLOWED,
            NOT_FOUND,
            BAD_HOST,
            URI_TOO_LONG,
            RATE_LIMITED,
            INVALID_EVENT_MISSING,
            INVALID_EVENT_MALFORMED,
            INVALID_EVENT_FORGED,
            INVALID_EVENT_EXPIRED,
        ] {
            let value: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(value["error"].is_string(), "{body}");
            assert!(value["message"].is_string(), "{body}");
        }
    }

    #[test]
    fn statuses_and_outcomes_agree() {
        let cases = [
            (Answer::NoAd, 404, Outcome::NoAd),
            (Answer::NotFound, 404, Outcome::NotFound),
            (Answer::Unavailable, 503, Outcome::Unavailable),
            (Answer::UriTooLong, 414, Outcome::UriTooLong),
            (Answer::BadHost, 400, Outcome::InvalidRequest),
            (Answer::EventAccepted, 204, Outcome::Ok),
            (
                Answer::InvalidEvent(Some(Reject::Forged)),
                403,
                Outcome::InvalidEvent,
            ),
            (
                Answer::RateLimited {
                    retry_after_secs: 3,
                },
                429,
                Outcome::RateLimited,
            ),
            (
                Answer::Unauthorized(AuthError::Missing),
                401,
                Outcome::Unauthorized,
            ),
        ];
        for (answer, status, outcome) in cases {
            assert_eq!(answer.outcome(), outcome);
            assert_eq!(answer.into_response().status().as_u16(), status);
        }
    }
}
