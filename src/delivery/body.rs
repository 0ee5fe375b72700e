//! Response bodies spliced from shared prebuilt parts and per-request text,
//! with no heap allocation (README "Delivery").
//!
//! A [`Template`] is compiled once per ad: static `Bytes` segments with
//! gaps for the serving id and the event URL. A request fills the gaps with
//! a [`Splice`] (both texts copied into one fixed array) and answers with a
//! [`SplicedBody`]: one frame whose [`Chunk`] walks the segments, cloned by
//! reference count, and the inline text. A plain `Bytes` answer is the same
//! body type, so the whole server can use one. This module knows nothing of
//! VAST or tokens beyond their sizes.

use std::convert::Infallible;
use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};

use super::token::{ServingId, Token, MAX_TOKEN_LEN, SERVING_ID_HEX_LEN};

/// The longest event URL base (`--public-url`, or `http://` + `Host`).
pub(crate) const MAX_BASE_LEN: usize = 512;
const EVENT_PATH: &[u8] = b"/event?t=";
/// The longest event URL: base, `/event?t=`, token.
pub(crate) const MAX_EVENT_URL_LEN: usize = MAX_BASE_LEN + EVENT_PATH.len() + MAX_TOKEN_LEN;

/// One piece of a template.
#[derive(Clone, Debug)]
pub(crate) enum Segment {
    /// Prebuilt text, shared by every answer.
    Static(Bytes),
    /// The answer's serving id, 32 hex digits.
    ServingId,
    /// The answer's event URL, `{base}/event?t={token}`.
    EventUrl,
}

/// An answer compiled once: segments, and the counts that make its length
/// known without walking them.
#[derive(Clone, Debug)]
pub struct Template(Arc<Parts>);

#[derive(Debug)]
struct Parts {
    segments: Box<[Segment]>,
    static_len: usize,
    serving_ids: usize,
    event_urls: usize,
}

impl Template {
    /// Joins adjacent static segments, so a body has as few chunks as gaps allow.
    pub(crate) fn from_segments(segments: impl IntoIterator<Item = Segment>) -> Self {
        let mut out: Vec<Segment> = Vec::new();
        let mut pending: Vec<u8> = Vec::new();
        let (mut serving_ids, mut event_urls, mut static_len) = (0, 0, 0);
        for s in segments {
            match s {
                Segment::Static(b) => {
                    static_len += b.len();
                    pending.extend_from_slice(&b);
                    continue;
                }
                Segment::ServingId => serving_ids += 1,
                Segment::EventUrl => event_urls += 1,
            }
            if !pending.is_empty() {
                out.push(Segment::Static(Bytes::from(std::mem::take(&mut pending))));
            }
            out.push(s);
        }
        if !pending.is_empty() {
            out.push(Segment::Static(Bytes::from(pending)));
        }
        Self(Arc::new(Parts {
            segments: out.into(),
            static_len,
            serving_ids,
            event_urls,
        }))
    }

    /// The JSON ad answer with tracking:
    /// `{"id":…,"video_url":…,"serving_id":…,"event_url":…}`.
    pub fn json_ad(id: &str, video_url: &str) -> Self {
        let json = |s: &str| serde_json::to_string(s).expect("a string serializes");
        let head = format!(
            r#"{{"id":{},"video_url":{},"serving_id":""#,
            json(id),
            json(video_url)
        );
        Self::from_segments([
            Segment::Static(head.into()),
            Segment::ServingId,
            Segment::Static(Bytes::from_static(br#"","event_url":""#)),
            Segment::EventUrl,
            Segment::Static(Bytes::from_static(br#""}"#)),
        ])
    }

    /// Whether answers from this template need an event URL.
    #[cfg(test)]
    pub(crate) fn has_event_url(&self) -> bool {
        self.0.event_urls > 0
    }

    pub(crate) fn segments(&self) -> &[Segment] {
        &self.0.segments
    }

    fn len_with(&self, url_len: usize) -> usize {
        self.0.static_len + self.0.serving_ids * SERVING_ID_HEX_LEN + self.0.event_urls * url_len
    }
}

/// The per-request text: a serving id and (with tracking) an event URL.
#[derive(Clone)]
pub struct Splice {
    serving_id: [u8; SERVING_ID_HEX_LEN],
    url: [u8; MAX_EVENT_URL_LEN],
    url_len: u16,
}

/// Why an event URL base was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BaseError {
    #[error("event URL base is longer than {MAX_BASE_LEN} bytes")]
    TooLong,
    #[error("event URL base must be http:// or https://, a host, and only URL characters that need no escaping (no & ' \" < > \\ ? #)")]
    Unsafe,
}

impl Splice {
    /// `base` is the event URL base in parts that are joined, so a caller can
    /// pass `["http://", host]` without building a string; one trailing `/`
    /// is dropped. The base must pass [`check_base`]: then the URL needs no
    /// escaping in XML, a CDATA section or JSON.
    pub fn new(serving_id: &ServingId, base: &[&str], token: &Token) -> Result<Self, BaseError> {
        let mut splice = Self::serving_id_only(serving_id);
        let mut n = 0;
        for part in base {
            let end = n + part.len();
            if end > MAX_BASE_LEN {
                return Err(BaseError::TooLong);
            }
            splice.url[n..end].copy_from_slice(part.as_bytes());
            n = end;
        }
        if splice.url[..n].ends_with(b"/") {
            n -= 1;
        }
        check_base_bytes(&splice.url[..n])?;
        for part in [EVENT_PATH, token.as_str().as_bytes()] {
            splice.url[n..n + part.len()].copy_from_slice(part);
            n += part.len();
        }
        splice.url_len = n as u16;
        Ok(splice)
    }

    /// Tracking off: a serving id and no event URL.
    pub fn serving_id_only(serving_id: &ServingId) -> Self {
        Self {
            serving_id: serving_id.to_hex(),
            url: [0; MAX_EVENT_URL_LEN],
            url_len: 0,
        }
    }

    pub fn event_url(&self) -> &str {
        std::str::from_utf8(&self.url[..usize::from(self.url_len)]).unwrap_or_default()
    }

    fn piece<'a>(&'a self, segment: &'a Segment) -> &'a [u8] {
        match segment {
            Segment::Static(b) => b,
            Segment::ServingId => &self.serving_id,
            Segment::EventUrl => &self.url[..usize::from(self.url_len)],
        }
    }
}

/// Checks an event URL base (e.g. `--public-url` at start-up).
pub(crate) fn check_base(base: &str) -> Result<(), BaseError> {
    let b = base.strip_suffix('/').unwrap_or(base).as_bytes();
    if b.len() > MAX_BASE_LEN {
        return Err(BaseError::TooLong);
    }
    check_base_bytes(b)
}

fn check_base_bytes(b: &[u8]) -> Result<(), BaseError> {
    let rest = strip_prefix_ignore_case(b, b"http://")
        .or_else(|| strip_prefix_ignore_case(b, b"https://"));
    let safe = |c: &u8| c.is_ascii_alphanumeric() || b"-._~:/[]%@!$()*+,;=".contains(c);
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with(b"/") && r.iter().all(safe) => Ok(()),
        _ => Err(BaseError::Unsafe),
    }
}

fn strip_prefix_ignore_case<'a>(b: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    (b.len() >= prefix.len() && b[..prefix.len()].eq_ignore_ascii_case(prefix))
        .then(|| &b[prefix.len()..])
}

/// A response body: one frame, its length known up front.
pub struct SplicedBody {
    data: Option<Chunk>,
}

impl SplicedBody {
    /// A prebuilt answer (the existing JSON bodies).
    pub fn plain(bytes: Bytes) -> Self {
        let remaining = bytes.len();
        Self {
            data: Some(Chunk {
                inner: ChunkState::Plain(bytes),
                remaining,
            }),
        }
    }

    pub fn empty() -> Self {
        Self { data: None }
    }

    /// A template with its gaps filled. A template that wants an event URL
    /// given a [`Splice::serving_id_only`] renders the URL as empty text.
    pub fn spliced(template: &Template, splice: Splice) -> Self {
        let remaining = template.len_with(usize::from(splice.url_len));
        let mut chunk = Chunk {
            inner: ChunkState::Spliced {
                template: template.clone(),
                splice,
                seg: 0,
                off: 0,
            },
            remaining,
        };
        chunk.settle();
        Self { data: Some(chunk) }
    }
}

impl From<Bytes> for SplicedBody {
    fn from(bytes: Bytes) -> Self {
        Self::plain(bytes)
    }
}

impl Body for SplicedBody {
    type Data = Chunk;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Chunk>, Infallible>>> {
        Poll::Ready(
            self.data
                .take()
                .filter(|c| c.remaining > 0)
                .map(|c| Ok(Frame::data(c))),
        )
    }

    fn is_end_stream(&self) -> bool {
        !matches!(&self.data, Some(c) if c.remaining > 0)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |c| c.remaining) as u64)
    }
}

/// The bytes of one answer, as a `Buf` over shared segments and inline text.
pub struct Chunk {
    inner: ChunkState,
    remaining: usize,
}

// Boxing the splice would be the one heap allocation per answer this type
// exists to avoid; a plain body pays a ~1 KB move instead.
#[allow(clippy::large_enum_variant)]
enum ChunkState {
    Plain(Bytes),
    Spliced {
        template: Template,
        splice: Splice,
        seg: usize,
        off: usize,
    },
}

impl Chunk {
    /// Moves past exhausted or empty segments, so `chunk()` is never empty
    /// while bytes remain.
    fn settle(&mut self) {
        if let ChunkState::Spliced {
            template,
            splice,
            seg,
            off,
        } = &mut self.inner
        {
            let segments = template.segments();
            while *seg < segments.len() && *off >= splice.piece(&segments[*seg]).len() {
                *seg += 1;
                *off = 0;
            }
        }
    }
}

impl Buf for Chunk {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        match &self.inner {
            ChunkState::Plain(b) => b,
            ChunkState::Spliced {
                template,
                splice,
                seg,
                off,
            } => template
                .segments()
                .get(*seg)
                .map_or(&[][..], |s| &splice.piece(s)[*off..]),
        }
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a body");
        self.remaining -= cnt;
        match &mut self.inner {
            ChunkState::Plain(b) => b.advance(cnt),
            ChunkState::Spliced {
                template,
                splice,
                seg,
                off,
            } => {
                let segments = template.segments();
                while cnt > 0 {
                    let left = splice.piece(&segments[*seg]).len() - *off;
                    let step = left.min(cnt);
                    *off += step;
                    cnt -= step;
                    if *off == splice.piece(&segments[*seg]).len() {
                        *seg += 1;
                        *off = 0;
                    }
                }
            }
        }
        self.settle();
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        match &self.inner {
            ChunkState::Plain(b) if !b.is_empty() && !dst.is_empty() => {
                dst[0] = IoSlice::new(b);
                1
            }
            ChunkState::Plain(_) => 0,
            ChunkState::Spliced {
                template,
                splice,
                seg,
                off,
            } => {
                let mut n = 0;
                let mut skip = *off;
                for s in template.segments().iter().skip(*seg) {
                    if n == dst.len() {
                        break;
                    }
                    let piece = &splice.piece(s)[skip..];
                    skip = 0;
                    if !piece.is_empty() {
                        dst[n] = IoSlice::new(piece);
                        n += 1;
                    }
                }
                n
            }
        }
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;
