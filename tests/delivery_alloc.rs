//! Delivery adds no heap allocation per answer or per beacon: making a
//! serving id and a token, verifying a token, and building and fully
//! reading a spliced VAST body and a JSON-with-tracking body. Measured with
//! the counting global allocator (`tests/support/alloc.rs`, which counts
//! the calling thread) around each step, after one warm-up run.

use std::io::IoSlice;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use bytes::Buf;
use http_body::Body;

use adserver::delivery::creative::{Raw, RawCreative};
use adserver::delivery::{
    sign, vast, verify, Creative, EventKey, ServingIds, Splice, SplicedBody, Template, Tracking,
};

use alloc::allocations;

#[path = "support/alloc.rs"]
mod alloc;

#[global_allocator]
static GLOBAL: alloc::Counting = alloc::Counting;

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls the body and reads every byte the ways hyper does (vectored
/// slices, then chunk/advance), returning how many bytes it saw.
fn drain(mut body: SplicedBody, cx: &mut Context<'_>) -> usize {
    let mut seen = 0;
    while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(cx) {
        let Ok(mut data) = frame.unwrap().into_data() else {
            continue;
        };
        let mut io = [IoSlice::new(&[]); 8];
        let _ = data.chunks_vectored(&mut io);
        while data.has_remaining() {
            let n = data.chunk().len();
            seen += n;
            data.advance(n);
        }
    }
    seen
}

#[test]
fn tokens_and_spliced_bodies_allocate_nothing() {
    let key = EventKey::from_bytes(std::array::from_fn(|i| i as u8 ^ 9));
    let ids = ServingIds::new().unwrap();
    let ad_id = "59d4fb16";
    let url = "https://cdn.example.com/59d4fb16.mp4";
    let raw = RawCreative {
        click_url: Raw::Text("https://shop.example.com/"),
        ..Default::default()
    };
    let c = Creative::validate(ad_id, url, raw).unwrap();
    let vast_on = vast::compile(ad_id, url, &c, Tracking::On);
    let vast_off = vast::compile(ad_id, url, &c, Tracking::Off);
    let json = Template::json_ad(ad_id, url);
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let host = "ads.example.com:8080";

    let answer = |template: &Template, cx: &mut Context<'_>| {
        let sid = ids.next();
        let token = sign(&key, &sid, ad_id, 1_760_000_000).unwrap();
        let splice = Splice::new(&sid, &["http://", host], &token).unwrap();
        let body = SplicedBody::spliced(template, splice);
        let len = body.size_hint().exact().unwrap() as usize;
        assert_eq!(drain(body, cx), len);
        len
    };
    // Warm-up: anything lazily set up once (CPU feature detection) happens here.
    answer(&vast_on, &mut cx);

    let (n, token) = allocations(|| sign(&key, &ids.next(), ad_id, 1_760_000_000).unwrap());
    assert_eq!(n, 0, "signing a token allocated");
    let (n, verified) = allocations(|| verify(&key, token.as_str(), 1_760_000_100, 3600));
    assert_eq!(n, 0, "verifying a token allocated");
    assert_eq!(verified.unwrap().ad_id(), ad_id);
    let forged = token.as_str().replace('A', "B");
    let (n, _) = allocations(|| verify(&key, &forged, 1_760_000_100, 3600));
    assert_eq!(n, 0, "rejecting a token allocated");

    let (n, len) = allocations(|| answer(&vast_on, &mut cx));
    assert_eq!(n, 0, "a tracked VAST answer allocated");
    assert!(len > 1000);
    let (n, _) = allocations(|| answer(&json, &mut cx));
    assert_eq!(n, 0, "a JSON answer with tracking allocated");
    let (n, _) = allocations(|| {
        let splice = Splice::serving_id_only(&ids.next());
        drain(SplicedBody::spliced(&vast_off, splice), &mut cx)
    });
    assert_eq!(n, 0, "an untracked VAST answer allocated");
    let no_ad = vast::no_ad();
    let (n, _) = allocations(|| drain(SplicedBody::plain(no_ad.clone()), &mut cx));
    assert_eq!(n, 0, "a plain answer allocated");

    // The counter does see allocations, so the zeros above mean something.
    let (n, _) = allocations(|| Template::json_ad(ad_id, url));
    assert!(n > 0);
}
