//! Tests for `body.rs`: lengths are exact, every way of reading a chunk
//! yields the same bytes, and event URL bases are checked.

use super::*;
use crate::delivery::key::EventKey;
use crate::delivery::token::{sign, ServingIds};

fn splice(base: &[&str]) -> (Splice, String) {
    let sid = ServingIds::with_prefix([0xab; 8]).next();
    let token = sign(
        &EventKey::from_bytes(std::array::from_fn(|i| i as u8 ^ 1)),
        &sid,
        "a1",
        1_760_000_000,
    )
    .unwrap();
    let s = Splice::new(&sid, base, &token).unwrap();
    let url = s.event_url().to_owned();
    (s, url)
}

/// Polls the one frame and reads it the way hyper may: whole chunks.
fn collect(mut body: SplicedBody) -> Vec<u8> {
    let exact = body.size_hint().exact().unwrap();
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut out = Vec::new();
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
        let mut data = frame.unwrap().into_data().ok().unwrap();
        while data.has_remaining() {
            let n = data.chunk().len();
            assert!(n > 0, "chunk() is never empty while bytes remain");
            out.extend_from_slice(data.chunk());
            data.advance(n);
        }
    }
    assert!(body.is_end_stream());
    assert_eq!(out.len() as u64, exact, "size_hint is exact");
    out
}

#[test]
fn a_json_answer_with_tracking_is_exactly_the_contract() {
    let t = Template::json_ad("a\"1", "https://cdn.example.com/a.mp4");
    let (s, url) = splice(&["http://", "ads.example.com:8080"]);
    let body = collect(SplicedBody::spliced(&t, s));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "id": "a\"1",
            "video_url": "https://cdn.example.com/a.mp4",
            "serving_id": "abababababababab0000000000000000",
            "event_url": url,
        })
    );
    assert!(url.starts_with("http://ads.example.com:8080/event?t="));
    // Field order is the contract's.
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with(r#"{"id":"a\"1","video_url":"#), "{text}");
}

#[test]
fn plain_and_empty_bodies() {
    assert_eq!(
        collect(SplicedBody::plain(Bytes::from_static(b"{\"x\":1}"))),
        b"{\"x\":1}"
    );
    assert_eq!(collect(SplicedBody::empty()), b"");
    assert_eq!(collect(SplicedBody::plain(Bytes::new())), b"");
}

#[test]
fn partial_advances_and_vectored_reads_agree_with_the_whole() {
    let t = Template::from_segments([
        Segment::Static(Bytes::from_static(b"<a>")),
        Segment::EventUrl,
        Segment::Static(Bytes::from_static(b"</a><b>")),
        Segment::ServingId,
        Segment::Static(Bytes::new()),
        Segment::Static(Bytes::from_static(b"</b>")),
        Segment::EventUrl,
    ]);
    assert_eq!(
        t.segments().len(),
        6,
        "adjacent statics are joined, empty ones dropped"
    );
    let (s, url) = splice(&["https://x.example/"]);
    let whole = collect(SplicedBody::spliced(&t, s.clone()));
    let expected = format!("<a>{url}</a><b>abababababababab0000000000000000</b>{url}");
    assert_eq!(String::from_utf8(whole).unwrap(), expected);
    for step in [1, 2, 7, 33, 100] {
        let mut chunk = chunk_of(SplicedBody::spliced(&t, s.clone()));
        let mut out = Vec::new();
        while chunk.has_remaining() {
            let mut io = [IoSlice::new(&[]); 3];
            let n = chunk.chunks_vectored(&mut io);
            let seen: Vec<u8> = io[..n].iter().flat_map(|s| s.iter().copied()).collect();
            assert!(expected.as_bytes()[out.len()..].starts_with(&seen));
            let take = step.min(chunk.chunk().len());
            out.extend_from_slice(&chunk.chunk()[..take]);
            chunk.advance(take);
        }
        assert_eq!(String::from_utf8(out).unwrap(), expected, "step {step}");
    }
    // bytes' own helper reads a Buf across chunks too.
    let mut chunk = chunk_of(SplicedBody::spliced(&t, s));
    let all = chunk.copy_to_bytes(chunk.remaining());
    assert_eq!(&all[..], expected.as_bytes());
}

fn chunk_of(mut body: SplicedBody) -> Chunk {
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    match Pin::new(&mut body).poll_frame(&mut cx) {
        Poll::Ready(Some(Ok(f))) => f.into_data().ok().unwrap(),
        _ => panic!("one data frame"),
    }
}

#[test]
fn tracking_off_leaves_the_url_gap_empty() {
    let t = Template::from_segments([
        Segment::Static(Bytes::from_static(b"[")),
        Segment::EventUrl,
        Segment::ServingId,
        Segment::Static(Bytes::from_static(b"]")),
    ]);
    let sid = ServingIds::with_prefix([0; 8]).next();
    let body = collect(SplicedBody::spliced(&t, Splice::serving_id_only(&sid)));
    assert_eq!(body, b"[00000000000000000000000000000000]");
}

#[test]
fn event_url_bases_are_checked() {
    for good in [
        "http://a",
        "https://ads.example.com:443/x/y",
        "HTTP://[::1]:80",
        "http://a/",
    ] {
        assert_eq!(check_base(good), Ok(()), "{good}");
    }
    for bad in [
        "",
        "ftp://a",
        "http://",
        "http:///x",
        "http://a&b",
        "http://a\"",
        "http://a<b",
        "http://a'b",
        "http://a b",
        "http://a?x=1",
        "http://a#f",
        "http://a\\b",
    ] {
        assert_eq!(check_base(bad), Err(BaseError::Unsafe), "{bad}");
    }
    let long = format!("http://{}", "a".repeat(MAX_BASE_LEN));
    assert_eq!(check_base(&long), Err(BaseError::TooLong));
    let sid = ServingIds::with_prefix([0; 8]).next();
    let token = sign(
        &EventKey::from_bytes(std::array::from_fn(|i| i as u8 ^ 1)),
        &sid,
        "a1",
        1,
    )
    .unwrap();
    assert_eq!(
        Splice::new(&sid, &["http://", "evil\"host"], &token).err(),
        Some(BaseError::Unsafe)
    );
    assert_eq!(
        Splice::new(&sid, &["http://", &"h".repeat(MAX_BASE_LEN)], &token).err(),
        Some(BaseError::TooLong)
    );
}

#[test]
fn the_longest_event_url_fits() {
    let sid = ServingIds::with_prefix([0; 8]).next();
    let token = sign(
        &EventKey::from_bytes(std::array::from_fn(|i| i as u8 ^ 1)),
        &sid,
        &"i".repeat(256),
        1,
    )
    .unwrap();
    let base = format!("http://{}", "h".repeat(MAX_BASE_LEN - 7));
    let s = Splice::new(&sid, &[&base], &token).unwrap();
    assert_eq!(s.event_url().len(), MAX_EVENT_URL_LEN);
}

/// A waker that does nothing: the body is always ready. (`Waker::noop` is
/// newer than the crate's minimum Rust.)
fn noop_waker() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: std::sync::Arc<Self>) {}
    }
    std::task::Waker::from(std::sync::Arc::new(Noop))
}
