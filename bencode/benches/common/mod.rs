//! Inputs and helpers shared by the `codec` (criterion) and `ratio` (interleaved) benches.
#![allow(dead_code)]

use bendy::decoding::{Decoder, FromBencode};
use freshet_bencode::{DictBuilder, OwnedValue, decode};
use serde::Deserialize;

pub fn multifile() -> Vec<u8> {
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

pub fn pieces_heavy() -> Vec<u8> {
    let pieces = 4 * 1024 * 1024 / 20;
    torrent(
        DictBuilder::new()
            .int(b"length", pieces * 16_384)
            .str(b"name", "a big single file.iso")
            .int(b"piece length", 16_384)
            .bytes(b"pieces", &hashes(pieces)),
    )
}

pub fn torrent(info: DictBuilder) -> Vec<u8> {
    DictBuilder::new()
        .str(b"announce", "http://tracker.example.org:6969/announce")
        .str(b"comment", "generated for the benchmark")
        .str(b"created by", "freshet bench")
        .int(b"creation date", 1_700_000_000)
        .dict(b"info", info)
        .finish()
}

/// Deterministic pseudo-random 20-byte hashes.
pub fn hashes(n: i64) -> Vec<u8> {
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
pub struct Torrent {
    announce: String,
    info: Info,
    #[serde(rename = "creation date")]
    creation_date: Option<i64>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
pub struct Info {
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
pub struct File {
    length: u64,
    path: Vec<String>,
}

pub fn bendy_decode(bytes: &[u8]) -> bendy::value::Value<'static> {
    let mut decoder = Decoder::new(bytes).with_max_depth(100);
    let object = decoder.next_object().unwrap().unwrap();
    bendy::value::Value::decode_bencode_object(object).unwrap()
}

pub fn bendy_encode(value: &bendy::value::Value<'_>) -> Vec<u8> {
    let mut encoder = bendy::encoding::Encoder::new().with_max_depth(100);
    encoder.emit(value).unwrap();
    encoder.get_output().unwrap()
}

pub fn inputs() -> [(&'static str, Vec<u8>); 2] {
    [
        ("multifile-10k", multifile()),
        ("pieces-4MB", pieces_heavy()),
    ]
}

pub fn check_encoders_agree(bytes: &[u8]) {
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
