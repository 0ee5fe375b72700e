//! Limits on what one client may ask of the server: how long it may take to
//! send a request head, how big that head and its URI may be, and how many
//! connections may be open at once.
//!
//! The tunable ones (`--header-timeout`, `--max-connections`) are fields
//! of [`crate::server::ServerOptions`]; the fixed ones are here, with the
//! responses for breaking them. [`crate::server`] applies them to sockets
//! and hyper; this module does no I/O.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use hyper::{Response, StatusCode, Uri};

use crate::http::Body;

/// Largest request head hyper buffers (request line plus headers). Beyond
/// it hyper answers `431 Request Header Fields Too Large` and closes. 8 KiB
/// is also the smallest buffer hyper accepts.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;

/// Longest request target (path and query) served; longer gets `414`. It
/// must stay well under [`MAX_HEAD_BYTES`], or hyper's 431 would answer
/// first. The longest legitimate ad request is under 200 bytes.
pub const MAX_URI_BYTES: usize = 2 * 1024;

/// At most this many headers per request; more gets 431. This is hyper's
/// own default: setting any other value makes hyper allocate the header
/// array on the heap for every request.
pub const MAX_HEADERS: usize = 100;

/// Whether a request target is over [`MAX_URI_BYTES`].
#[inline]
pub fn uri_too_long(uri: &Uri) -> bool {
    uri.path_and_query()
        .map_or(0, |target| target.as_str().len())
        > MAX_URI_BYTES
}

/// The `414 URI Too Long` answer; the connection is closed after it, as
/// hyper does after its own 431.
pub fn uri_too_long_response() -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(URI_TOO_LONG)));
    *response.status_mut() = StatusCode::URI_TOO_LONG;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

const URI_TOO_LONG: &[u8] =
    br#"{"error":"uri_too_long","message":"the request target is longer than 2048 bytes"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_limit_is_on_path_and_query() {
        let ok: Uri = format!("/ad_request?x={}", "a".repeat(MAX_URI_BYTES - 14))
            .parse()
            .unwrap();
        assert_eq!(ok.path_and_query().unwrap().as_str().len(), MAX_URI_BYTES);
        assert!(!uri_too_long(&ok));
        let long: Uri = format!("/ad_request?x={}", "a".repeat(MAX_URI_BYTES))
            .parse()
            .unwrap();
        assert!(uri_too_long(&long));
    }

    #[test]
    fn limits_fit_inside_the_head_buffer() {
        const { assert!(MAX_URI_BYTES * 2 <= MAX_HEAD_BYTES) };
        assert_eq!(uri_too_long_response().status(), StatusCode::URI_TOO_LONG);
    }
}
