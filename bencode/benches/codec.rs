//! Decode and encode throughput against serde_bencode, bendy and bt_bencode on the same bytes.
//!
//! Inputs (generated here, canonical): a multi-file torrent with 10,000 files, and a
//! single-file torrent whose `pieces` string is 4 MB.
//!
//! What "decode" means per row (all build a generic tree of the whole document):
//! - `freshet`: `decode` → `Value<'_>` (byte strings borrowed, entries in `Vec`s, spans kept).
//! - `serde_bencode`: `from_bytes::<serde_bencode::value::Value>` (owned `Vec<u8>`, `HashMap`).
//! - `bendy`: `Decoder` (depth 100) + `Value::decode_bencode_object` (owned `Cow`, `BTreeMap`).
//! - `bt_bencode`: `from_slice::<bt_bencode::Value>` (owned `ByteString`, `BTreeMap`).
//!
//! Extra rows: `freshet_owned` (decode then `to_owned_value`, an owned `BTreeMap` tree like the
//! others) and typed serde decoding (`typed/*`) into the same `#[derive(Deserialize)]` struct.
//! "Encode" is each library encoding its own tree (from the same input) back to bytes; every
//! encoder's output is checked to equal the input before timing.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use freshet_bencode::decode;

mod common;
use common::{Torrent, bendy_decode, bendy_encode, check_encoders_agree, inputs};

fn bench_decode(c: &mut Criterion) {
    for (name, bytes) in inputs() {
        check_encoders_agree(&bytes);
        let mut g = c.benchmark_group(format!("decode/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("freshet", |b| b.iter(|| decode(black_box(&bytes)).unwrap()));
        g.bench_function("freshet_owned", |b| {
            b.iter(|| decode(black_box(&bytes)).unwrap().to_owned_value())
        });
        g.bench_function("serde_bencode", |b| {
            b.iter(|| {
                serde_bencode::from_bytes::<serde_bencode::value::Value>(black_box(&bytes)).unwrap()
            })
        });
        g.bench_function("bendy", |b| b.iter(|| bendy_decode(black_box(&bytes))));
        g.bench_function("bt_bencode", |b| {
            b.iter(|| bt_bencode::from_slice::<bt_bencode::Value>(black_box(&bytes)).unwrap())
        });
        g.finish();

        let mut g = c.benchmark_group(format!("typed/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("freshet", |b| {
            b.iter(|| freshet_bencode::from_bytes::<Torrent>(black_box(&bytes)).unwrap())
        });
        g.bench_function("serde_bencode", |b| {
            b.iter(|| serde_bencode::from_bytes::<Torrent>(black_box(&bytes)).unwrap())
        });
        g.bench_function("bt_bencode", |b| {
            b.iter(|| bt_bencode::from_slice::<Torrent>(black_box(&bytes)).unwrap())
        });
        g.finish();
    }
}

fn bench_encode(c: &mut Criterion) {
    for (name, bytes) in inputs() {
        let ours = decode(&bytes).unwrap();
        let ours_owned = ours.to_owned_value();
        let sb: serde_bencode::value::Value = serde_bencode::from_bytes(&bytes).unwrap();
        let bendy_value = bendy_decode(&bytes);
        let bt: bt_bencode::Value = bt_bencode::from_slice(&bytes).unwrap();
        let mut g = c.benchmark_group(format!("encode/{name}"));
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function("freshet", |b| b.iter(|| black_box(&ours_owned).encode()));
        g.bench_function("freshet_borrowed", |b| b.iter(|| black_box(&ours).encode()));
        g.bench_with_input(
            BenchmarkId::new("freshet_reuse_buf", ""),
            &ours_owned,
            |b, v| {
                let mut out = Vec::with_capacity(bytes.len());
                b.iter(|| {
                    out.clear();
                    v.encode_into(&mut out);
                    black_box(out.len())
                })
            },
        );
        g.bench_function("serde_bencode", |b| {
            b.iter(|| serde_bencode::to_bytes(black_box(&sb)).unwrap())
        });
        g.bench_function("bendy", |b| {
            b.iter(|| bendy_encode(black_box(&bendy_value)))
        });
        g.bench_function("bt_bencode", |b| {
            b.iter(|| bt_bencode::to_vec(black_box(&bt)).unwrap())
        });
        g.finish();
    }
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
