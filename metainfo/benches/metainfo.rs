//! Criterion benches: loading large torrents (including v2 piece-layer verification) and
//! merkle root computation.
//!
//! Run: `cargo bench -p freshet-metainfo --bench metainfo`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use freshet_bencode::OwnedValue;
use freshet_metainfo::Metainfo;
use freshet_metainfo::merkle::{self, MerkleHash};

fn testdata() -> Option<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::env::var_os("FRESHET_TESTDATA")
        .map(PathBuf::from)
        .into_iter()
        .chain([
            manifest.join("../../shared/testdata"),
            manifest.join("../shared/testdata"),
        ])
        .find(|p| p.is_dir())
}

/// A v1 torrent with `n` files in nested directories (like a large multi-file torrent).
fn many_files(n: usize) -> Vec<u8> {
    let piece_length = 1u64 << 20;
    let mut files = Vec::with_capacity(n);
    let mut total = 0u64;
    for i in 0..n {
        let len = 100_000 + (i as u64 * 7919) % 900_000;
        total += len;
        let mut d = BTreeMap::new();
        d.insert(b"length".to_vec(), OwnedValue::Int(len as i64));
        d.insert(
            b"path".to_vec(),
            OwnedValue::List(vec![
                OwnedValue::Bytes(format!("dir{:03}", i % 100).into_bytes()),
                OwnedValue::Bytes(format!("file number {i}.dat").into_bytes()),
            ]),
        );
        files.push(OwnedValue::Dict(d));
    }
    let pieces = total.div_ceil(piece_length) as usize;
    let mut info = BTreeMap::new();
    info.insert(b"files".to_vec(), OwnedValue::List(files));
    info.insert(b"name".to_vec(), OwnedValue::Bytes(b"big".to_vec()));
    info.insert(
        b"piece length".to_vec(),
        OwnedValue::Int(piece_length as i64),
    );
    info.insert(
        b"pieces".to_vec(),
        OwnedValue::Bytes(vec![0xab; pieces * 20]),
    );
    let mut top = BTreeMap::new();
    top.insert(b"info".to_vec(), OwnedValue::Dict(info));
    OwnedValue::Dict(top).encode()
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    let synthetic = many_files(10_000);
    group.throughput(Throughput::Bytes(synthetic.len() as u64));
    group.bench_function("10000_files_v1", |b| {
        b.iter(|| Metainfo::from_bytes(black_box(&synthetic)).unwrap())
    });
    if let Some(td) = testdata() {
        for (label, rel) in [
            (
                "hybrid_with_piece_layers",
                "anacrolix-torrent/testdata/bittorrent-v2-hybrid-test.torrent",
            ),
            (
                "ubuntu_v1_258KB",
                "transmission/libtransmission/assets/ubuntu-20.04.4-desktop-amd64.iso.torrent",
            ),
            (
                "v2_multiple_files_96KB",
                "libtorrent/test_torrents/v2_multiple_files.torrent",
            ),
        ] {
            let bytes = std::fs::read(td.join(rel)).unwrap();
            group.throughput(Throughput::Bytes(bytes.len() as u64));
            group.bench_function(label, |b| {
                b.iter(|| Metainfo::from_bytes(black_box(&bytes)).unwrap())
            });
        }
    }
    group.finish();
}

fn merkle_roots(c: &mut Criterion) {
    let mut group = c.benchmark_group("merkle");
    let layer: Vec<MerkleHash> = (0..4096u32)
        .map(|i| MerkleHash::of_block(&i.to_le_bytes()))
        .collect();
    group.throughput(Throughput::Elements(layer.len() as u64));
    group.bench_function("root_from_piece_layer_4096", |b| {
        b.iter(|| merkle::root_from_piece_layer(black_box(layer.clone()), 1 << 20))
    });
    let data: Vec<u8> = (0..(4u32 << 20)).map(|i| (i % 251) as u8).collect();
    group.throughput(Throughput::Bytes(data.len() as u64));
    group.bench_function("file_root_4MiB", |b| {
        b.iter(|| merkle::file_root_of(black_box(&data), 1 << 18))
    });
    group.finish();
}

criterion_group!(benches, parse, merkle_roots);
criterion_main!(benches);
