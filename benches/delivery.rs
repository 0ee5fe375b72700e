//! Delivery costs: the event-token MAC candidates measured against each
//! other (the choice the delivery issue asked to make by measurement; the
//! losers stay here because comparing them is cheap), then signing and
//! verifying a token and building a whole spliced answer with the MAC we
//! kept (SipHash-2-4-128). `cargo bench --bench delivery -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use adserver::delivery::creative::{Raw, RawCreative};
use adserver::delivery::{
    sign, vast, verify, Creative, EventKey, ServingIds, Splice, SplicedBody, Template, Tracking,
};
use bytes::Buf;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http_body::Body;

/// The bytes a token signs: version, serving id, issue time, ad id — for a
/// typical 8-byte ad id and for the longest (256-byte) one.
fn messages() -> [(&'static str, Vec<u8>); 2] {
    let msg = |id_len: usize| {
        let mut m = vec![1u8];
        m.extend_from_slice(&[0x5a; 16]);
        m.extend_from_slice(&1_760_000_000u64.to_be_bytes());
        m.resize(m.len() + id_len, b'a');
        m
    };
    [("id8", msg(8)), ("id256", msg(256))]
}

fn mac_candidates(c: &mut Criterion) {
    let key = [7u8; 32];
    let mut g = c.benchmark_group("token_mac");
    let hmac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &key);
    let sip_key: [u8; 16] = key[..16].try_into().unwrap();
    for (name, msg) in messages() {
        g.bench_with_input(BenchmarkId::new("blake3_keyed", name), &msg, |b, m| {
            b.iter(|| blake3::keyed_hash(black_box(&key), black_box(m)))
        });
        g.bench_with_input(
            BenchmarkId::new("hmac_sha256_aws_lc", name),
            &msg,
            |b, m| b.iter(|| aws_lc_rs::hmac::sign(black_box(&hmac), black_box(m))),
        );
        g.bench_with_input(BenchmarkId::new("siphash24_128", name), &msg, |b, m| {
            b.iter(|| {
                use std::hash::Hasher;
                let mut h = siphasher::sip128::SipHasher24::new_with_key(black_box(&sip_key));
                h.write(black_box(m));
                siphasher::sip128::Hasher128::finish128(&h)
            })
        });
        g.bench_with_input(BenchmarkId::new("siphash13_128", name), &msg, |b, m| {
            b.iter(|| {
                use std::hash::Hasher;
                let mut h = siphasher::sip128::SipHasher13::new_with_key(black_box(&sip_key));
                h.write(black_box(m));
                siphasher::sip128::Hasher128::finish128(&h)
            })
        });
    }
    g.finish();
}

const NOW: u64 = 1_760_000_000;

fn key() -> EventKey {
    EventKey::from_bytes(std::array::from_fn(|i| i as u8 ^ 7))
}

/// Signing and verifying with the MAC we kept (SipHash-2-4-128).
fn tokens(c: &mut Criterion) {
    let key = key();
    let ids = ServingIds::new().unwrap();
    let mut g = c.benchmark_group("token");
    g.bench_function("serving_id_and_sign", |b| {
        b.iter(|| sign(&key, &ids.next(), black_box("59d4fb16"), NOW).unwrap())
    });
    let t = sign(&key, &ids.next(), "59d4fb16", NOW).unwrap();
    g.bench_function("verify", |b| {
        b.iter(|| verify(&key, black_box(t.as_str()), NOW + 5, 3600).unwrap())
    });
    // Another valid base64url character: the token decodes, the MAC fails.
    let mut forged = t.as_str().to_owned().into_bytes();
    forged[10] = if forged[10] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    g.bench_function("verify_forged", |b| {
        b.iter(|| verify(&key, black_box(&forged), NOW + 5, 3600).unwrap_err())
    });
    g.finish();
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// One whole answer: serving id, token, splice, body polled and read.
fn splice(c: &mut Criterion) {
    let key = key();
    let ids = ServingIds::new().unwrap();
    let (id, url) = ("59d4fb16", "https://cdn.example.com/ads/59d4fb16.mp4");
    let raw = RawCreative {
        click_url: Raw::Text("https://shop.example.com/"),
        ..Default::default()
    };
    let creative = Creative::validate(id, url, raw).unwrap();
    let waker = Waker::from(Arc::new(Noop));
    let mut g = c.benchmark_group("answer");
    for (name, template) in [
        (
            "vast_tracked",
            vast::compile(id, url, &creative, Tracking::On),
        ),
        ("json_tracked", Template::json_ad(id, url)),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let sid = ids.next();
                let token = sign(&key, &sid, id, NOW).unwrap();
                let s =
                    Splice::new(&sid, &["http://", black_box("ads.example.com")], &token).unwrap();
                let mut body = SplicedBody::spliced(&template, s);
                let mut cx = Context::from_waker(&waker);
                let mut n = 0;
                if let Poll::Ready(Some(Ok(f))) = Pin::new(&mut body).poll_frame(&mut cx) {
                    let mut d = f.into_data().ok().unwrap();
                    while d.has_remaining() {
                        let len = d.chunk().len();
                        n += black_box(d.chunk())[0] as usize;
                        d.advance(len);
                    }
                }
                n
            })
        });
    }
    g.finish();
}

criterion_group!(benches, mac_candidates, tokens, splice);
criterion_main!(benches);
