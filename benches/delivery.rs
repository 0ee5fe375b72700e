//! Delivery costs: the event-token MAC candidates measured against each
//! other (the choice the delivery issue asked to make by measurement), then
//! signing and verifying a token and splicing a VAST answer with the one we
//! kept. `cargo bench --bench delivery -- --warm-up-time 1 --measurement-time 3`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// The bytes a token signs: version, serving id, issue time, ad id — for a
/// typical 8-byte ad id and for the longest (256-byte) one.
fn messages() -> [(&'static str, Vec<u8>); 2] {
    let msg = |id_len: usize| {
        let mut m = vec![1u8];
        m.extend_from_slice(&[0x5a; 16]);
        m.extend_from_slice(&1_760_000_000u64.to_be_bytes());
        m.extend(std::iter::repeat_n(b'a', id_len));
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

criterion_group!(benches, mac_candidates);
criterion_main!(benches);
