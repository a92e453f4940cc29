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

use bendy::decoding::{Decoder, FromBencode};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use freshet_bencode::{DictBuilder, OwnedValue, decode};
use serde::Deserialize;

fn multifile() -> Vec<u8> {
    let mut files = Vec::with_capacity(10_000);
    let mut total = 0i64;
    for i in 0..10_000i64 {
        let length = 1_000 + (i * 7_919) % 100_000;
        total += length;
        files.push(
            DictBuilder::new()
                .int(b"length", length)
                .value(
                    b"path",
                    OwnedValue::List(vec![
                        format!("directory-{:03}", i % 100).into(),
                        format!("file number {i:05}.bin").into(),
                    ]),
                )
                .into_value(),
        );
    }
    let piece_length = 262_144i64;
    let pieces = (total + piece_length - 1) / piece_length;
    torrent(
        DictBuilder::new()
            .value(b"files", OwnedValue::List(files))
            .str(b"name", "a multi-file torrent")
            .int(b"piece length", piece_length)
            .bytes(b"pieces", &hashes(pieces)),
    )
}

fn pieces_heavy() -> Vec<u8> {
    let pieces = 4 * 1024 * 1024 / 20;
    torrent(
        DictBuilder::new()
            .int(b"length", pieces * 16_384)
            .str(b"name", "a big single file.iso")
            .int(b"piece length", 16_384)
            .bytes(b"pieces", &hashes(pieces)),
    )
}

fn torrent(info: DictBuilder) -> Vec<u8> {
    DictBuilder::new()
        .str(b"announce", "http://tracker.example.org:6969/announce")
        .str(b"comment", "generated for the benchmark")
        .str(b"created by", "freshet bench")
        .int(b"creation date", 1_700_000_000)
        .dict(b"info", info)
        .finish()
}

/// Deterministic pseudo-random 20-byte hashes.
fn hashes(n: i64) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n * 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Torrent {
    announce: String,
    info: Info,
    #[serde(rename = "creation date")]
    creation_date: Option<i64>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Info {
    name: String,
    #[serde(rename = "piece length")]
    piece_length: u64,
    #[serde(with = "serde_bytes")]
    pieces: Vec<u8>,
    length: Option<u64>,
    files: Option<Vec<File>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct File {
    length: u64,
    path: Vec<String>,
}

fn bendy_decode(bytes: &[u8]) -> bendy::value::Value<'static> {
    let mut decoder = Decoder::new(bytes).with_max_depth(100);
    let object = decoder.next_object().unwrap().unwrap();
    bendy::value::Value::decode_bencode_object(object).unwrap()
}

fn bendy_encode(value: &bendy::value::Value<'_>) -> Vec<u8> {
    let mut encoder = bendy::encoding::Encoder::new().with_max_depth(100);
    encoder.emit(value).unwrap();
    encoder.get_output().unwrap()
}

fn inputs() -> [(&'static str, Vec<u8>); 2] {
    [
        ("multifile-10k", multifile()),
        ("pieces-4MB", pieces_heavy()),
    ]
}

fn check_encoders_agree(bytes: &[u8]) {
    let ours = decode(bytes).unwrap();
    assert!(ours.is_canonical());
    assert_eq!(ours.encode(), bytes);
    assert_eq!(ours.to_owned_value().encode(), bytes);
    let sb: serde_bencode::value::Value = serde_bencode::from_bytes(bytes).unwrap();
    assert_eq!(serde_bencode::to_bytes(&sb).unwrap(), bytes);
    assert_eq!(bendy_encode(&bendy_decode(bytes)), bytes);
    let bt: bt_bencode::Value = bt_bencode::from_slice(bytes).unwrap();
    assert_eq!(bt_bencode::to_vec(&bt).unwrap(), bytes);
}

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
