//! Reading the raw feed document from a file or over HTTP, with a timeout,
//! a redirect cap and a byte cap that is enforced while reading, so an
//! oversized body is never held whole in memory.
//!
//! Redirects are followed here, not by minreq: every hop, the first one
//! included, must pass the transport rule of [`super::hop`] before it is
//! connected to, so a feed or key set cannot be moved onto plain http, onto
//! another scheme or round a loop by its own answers.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use super::hop::{quoted, Hop, TransportError};
use super::FetchError;

/// Bounds on one fetch of the feed (or of a key set).
#[derive(Debug, Clone)]
pub struct FetchLimits {
    /// The largest body accepted, in bytes.
    pub max_bytes: u64,
    /// The whole fetch, every redirect included, connect to last byte
    /// (minreq counts whole seconds, so a hop may round up by under 1 s).
    pub timeout: Duration,
    /// Redirects followed before the fetch fails.
    pub max_redirects: usize,
    /// `--allow-insecure-feed`: plain http to a non-loopback host passes
    /// the transport rule, on every hop.
    pub allow_insecure: bool,
}

/// What the last good response said about its version, sent back on the
/// next request so an unchanged feed can answer `304 Not Modified`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// The result of one fetch.
#[derive(Debug)]
pub enum Fetched {
    /// The server confirmed the version named by the validators we sent.
    NotModified,
    Body {
        bytes: Vec<u8>,
        validators: Validators,
    },
}

/// Why a redirect was not followed. The fetch fails; nothing at the
/// refused location is ever connected to.
#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    #[error("{from} answered HTTP {status} to {rule}")]
    Refused {
        from: String,
        status: u16,
        rule: TransportError,
    },
    #[error("{from} answered HTTP {status} with no Location")]
    NoLocation { from: String, status: u16 },
    #[error("more than {cap} redirects, the last from {from}")]
    TooMany { cap: usize, from: String },
    #[error("redirect loop: {from} leads back to {to}")]
    Loop { from: String, to: String },
}

pub(super) fn file(
    path: &Path,
    limits: &FetchLimits,
    buffer: &mut Vec<u8>,
) -> Result<Vec<u8>, FetchError> {
    let file = std::fs::File::open(path).map_err(|source| FetchError::File {
        path: path.to_owned(),
        source,
    })?;
    let size = file.metadata().ok().map(|m| m.len());
    read_capped(file, size, limits.max_bytes, buffer).map_err(|e| match e {
        Capped::TooLarge => FetchError::TooLarge {
            cap: limits.max_bytes,
        },
        Capped::Io(source) => FetchError::File {
            path: path.to_owned(),
            source,
        },
    })
}

/// Fetches `url`, following redirects by hand. Validators are sent on
/// every hop (they name the document, wherever it lives); nothing else of
/// ours is.
pub(super) fn http(
    url: &str,
    limits: &FetchLimits,
    previous: Option<&Validators>,
    buffer: &mut Vec<u8>,
) -> Result<Fetched, FetchError> {
    let deadline = Instant::now() + limits.timeout;
    // Only an answer to a validator we sent can mean "unchanged".
    let validators = previous.filter(|v| !v.is_empty());
    let mut hop = Hop::parse(url).map_err(FetchError::Transport)?;
    hop.permitted(limits.allow_insecure)
        .map_err(FetchError::Transport)?;
    let mut visited: Vec<Hop> = Vec::new();
    let response = loop {
        let response = send(&hop, deadline, validators)?;
        let status = response.status_code;
        if !matches!(status, 301 | 302 | 303 | 307 | 308) {
            break response;
        }
        let from = quoted(&hop.to_string());
        if visited.len() >= limits.max_redirects {
            return Err(RedirectError::TooMany {
                cap: limits.max_redirects,
                from,
            }
            .into());
        }
        let location = header(&response, "location").ok_or_else(|| RedirectError::NoLocation {
            from: from.clone(),
            status,
        })?;
        let refused = |rule| RedirectError::Refused {
            from: from.clone(),
            status,
            rule,
        };
        let next = hop.resolve(&location).map_err(refused)?;
        next.permitted(limits.allow_insecure).map_err(refused)?;
        visited.push(std::mem::replace(&mut hop, next));
        if visited.contains(&hop) {
            return Err(RedirectError::Loop {
                from,
                to: quoted(&hop.to_string()),
            }
            .into());
        }
        // `response` drops here, closing its connection before the next.
    };
    match response.status_code {
        304 if validators.is_some() => return Ok(Fetched::NotModified),
        200..=299 => {}
        status => return Err(FetchError::Status(status)),
    }
    let validators = Validators {
        etag: header(&response, "etag"),
        last_modified: header(&response, "last-modified"),
    };
    let too_large = FetchError::TooLarge {
        cap: limits.max_bytes,
    };
    let declared = header(&response, "content-length").and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes) {
        return Err(too_large);
    }
    let bytes = read_capped(response, declared, limits.max_bytes, buffer).map_err(|e| match e {
        Capped::TooLarge => too_large,
        Capped::Io(e) => FetchError::Request(minreq::Error::IoError(e)),
    })?;
    Ok(Fetched::Body { bytes, validators })
}

/// One request, redirects off, within what is left of the fetch's time.
fn send(
    hop: &Hop,
    deadline: Instant,
    validators: Option<&Validators>,
) -> Result<minreq::ResponseLazy, FetchError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(FetchError::Request(minreq::Error::IoError(
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the fetch timeout ran out while following redirects",
            ),
        )));
    }
    let mut request = minreq::get(hop.to_string())
        .with_timeout(left.as_secs() + u64::from(left.subsec_nanos() > 0))
        .with_follow_redirects(false)
        .with_max_headers_size(64 * 1024)
        .with_max_status_line_length(8 * 1024);
    if let Some(validators) = validators {
        if let Some(etag) = &validators.etag {
            request = request.with_header("If-None-Match", etag.as_str());
        }
        if let Some(date) = &validators.last_modified {
            request = request.with_header("If-Modified-Since", date.as_str());
        }
    }
    Ok(request.send_lazy()?)
}

fn header(response: &minreq::ResponseLazy, wanted: &str) -> Option<String> {
    response
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        .map(|(_, value)| value.trim().to_owned())
}

enum Capped {
    TooLarge,
    Io(std::io::Error),
}

/// Reads at most `cap` bytes into `buffer`'s allocation, which the body
/// takes; one byte more means the body is too large, and on any error the
/// allocation stays in `buffer` (emptied) for the next try.
///
/// `expected` (a file's size, a declared Content-Length) sizes the buffer
/// up front: grown by doubling instead, a 124 MiB feed passes through
/// buffers of every power of two up to 256 MiB, and the allocator keeps
/// all of them resident for the next rebuild. It is only a hint: a body
/// that turns out longer or shorter is still read right.
fn read_capped(
    reader: impl Read,
    expected: Option<u64>,
    cap: u64,
    buffer: &mut Vec<u8>,
) -> Result<Vec<u8>, Capped> {
    let capacity = expected.unwrap_or(0).min(cap.saturating_add(1));
    buffer.clear();
    buffer.reserve(usize::try_from(capacity).unwrap_or(0));
    let read = reader.take(cap.saturating_add(1)).read_to_end(buffer);
    let error = match read {
        Err(e) => Some(Capped::Io(e)),
        Ok(_) if buffer.len() as u64 > cap => Some(Capped::TooLarge),
        Ok(_) => None,
    };
    if let Some(error) = error {
        buffer.clear();
        return Err(error);
    }
    Ok(std::mem::take(buffer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_capped_stops_one_past_the_cap() {
        let mut endless = Trickle { left: usize::MAX };
        assert!(matches!(
            read_capped(&mut endless, None, 1000, &mut Vec::new()),
            Err(Capped::TooLarge)
        ));
        let read = usize::MAX - endless.left;
        assert!(read < 100_000, "read {read} bytes of an endless body");
        assert_eq!(
            read_capped(&b"abc"[..], None, 3, &mut Vec::new()).ok(),
            Some(b"abc".to_vec())
        );
    }

    /// A reader that hands out `left` bytes a few KiB at a time, as a
    /// socket or a file does (`usize::MAX`: a body that never ends).
    struct Trickle {
        left: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.left).min(4096);
            buf[..n].fill(b'x');
            self.left -= n;
            Ok(n)
        }
    }

    #[test]
    fn a_known_size_is_read_into_one_buffer_of_that_size() {
        let body = read_capped(
            Trickle { left: 1_000_000 },
            Some(1_000_000),
            u64::MAX,
            &mut Vec::new(),
        )
        .ok()
        .unwrap();
        assert_eq!(body.len(), 1_000_000);
        assert_eq!(body.capacity(), 1_000_000, "the buffer was grown");
    }

    /// The body takes the buffer's allocation; a failed read leaves it in
    /// the buffer, emptied, for the next one.
    #[test]
    fn the_buffers_allocation_is_reused_and_survives_a_failure() {
        let mut buffer = Vec::with_capacity(2_000_000);
        buffer.extend_from_slice(b"stale");
        let at = buffer.as_ptr();
        let body = read_capped(
            Trickle { left: 1_000_000 },
            Some(1_000_000),
            1_500_000,
            &mut buffer,
        )
        .ok()
        .unwrap();
        assert_eq!((body.as_ptr(), body.len()), (at, 1_000_000));
        assert!(
            body.iter().all(|&b| b == b'x'),
            "nothing of the old content"
        );
        assert_eq!(buffer.capacity(), 0, "the body has it");
        let mut buffer = body;
        assert!(matches!(
            read_capped(Trickle { left: 1_600_000 }, None, 1_500_000, &mut buffer),
            Err(Capped::TooLarge)
        ));
        assert_eq!((buffer.as_ptr(), buffer.len()), (at, 0));
    }

    #[test]
    fn a_wrong_size_hint_changes_nothing_but_the_first_buffer() {
        for hint in [0, 1, 999_999, 1_000_001, 5_000_000] {
            let body = read_capped(
                Trickle { left: 1_000_000 },
                Some(hint),
                2_000_000,
                &mut Vec::new(),
            )
            .ok()
            .unwrap();
            assert_eq!(body.len(), 1_000_000, "hint {hint}");
        }
        // A declared length far past the cap reserves no more than the cap.
        let lie = read_capped(Trickle { left: 10 }, Some(u64::MAX), 100, &mut Vec::new())
            .ok()
            .unwrap();
        assert_eq!(lie.len(), 10);
        assert!(lie.capacity() <= 101, "reserved {}", lie.capacity());
        assert!(matches!(
            read_capped(Trickle { left: 101 }, Some(50), 100, &mut Vec::new()),
            Err(Capped::TooLarge)
        ));
    }
}
