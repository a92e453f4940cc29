//! Engine benchmarks: picker cost, availability updates, storage write+hash vs raw SHA-1.
//!
//! Run: `CARGO_TARGET_DIR=/work/target-engine cargo bench -p freshet-engine`.

// Benchmarks measure wall-clock time by definition.
#![allow(clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BatchSize, Criterion, Throughput, black_box, criterion_group, criterion_main};
use freshet_engine::{
    BlockRef, DigestMode, DiskJob, FileSpec, FileStorage, Geometry, PeerKey, PieceHashes,
    PieceIndex, PieceSet, PieceTracker, Storage, run_job, sha1_blocks,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha1::{Digest, Sha1};

const PIECES: u32 = 100_000;
const PEERS: usize = 200;

fn big_geometry() -> Arc<Geometry> {
    // 100 000 pieces of 256 KiB (16 blocks each): a 24 GiB torrent.
    let pl = 256 * 1024;
    Arc::new(
        Geometry::new(
            pl,
            vec![FileSpec::new(&["big"], u64::from(PIECES) * u64::from(pl))],
            PieceHashes {
                v1: Some(vec![[0; 20]; PIECES as usize]),
                v2: None,
            },
        )
        .expect("geometry"),
    )
}

/// 200 peers: 20 seeds, the rest with random bitfields of 10-90% density.
fn swarm(rng: &mut ChaCha8Rng) -> (PieceTracker, Vec<PieceSet>) {
    let mut t = PieceTracker::new(big_geometry());
    t.initial_random = 0;
    let mut sets = Vec::with_capacity(PEERS);
    for i in 0..PEERS {
        if i < 20 {
            t.add_seed();
            sets.push(PieceSet::full(PIECES));
            continue;
        }
        let density = rng.random_range(0.1..0.9);
        let mut s = PieceSet::new(PIECES);
        for p in 0..PIECES {
            if rng.random_bool(density) {
                s.insert(PieceIndex(p));
            }
        }
        t.add_peer_pieces(&s);
        sets.push(s);
    }
    (t, sets)
}

fn picker(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (base, sets) = swarm(&mut rng);
    let mut g = c.benchmark_group("picker");
    g.sample_size(20);
    // Pick 16 blocks (one piece) for a rotating peer, then receive and verify them, so the
    // tracker stays in a realistic steady state. Reported per pick call.
    g.bench_function("pick_16_blocks_then_complete_100k_pieces_200_peers", |b| {
        b.iter_custom(|iters| {
            let mut t = base.clone();
            let mut rng = ChaCha8Rng::seed_from_u64(2);
            let mut out = Vec::with_capacity(16);
            let mut picking = Duration::ZERO;
            for i in 0..iters {
                if t.queued() < 1000 {
                    t = base.clone();
                }
                let peer = (i as usize * 7) % PEERS;
                out.clear();
                let start = Instant::now();
                t.pick(PeerKey(peer), &sets[peer], 16, &mut rng, &mut out);
                picking += start.elapsed();
                for blk in &out {
                    t.on_block_received(blk, PeerKey(peer));
                }
                if let Some(p) = out.first() {
                    t.on_hash_passed(p.piece);
                }
            }
            picking
        });
    });
    // Worst case: a peer with only 50 pieces on offer.
    let mut sparse = PieceSet::new(PIECES);
    for p in (0..PIECES).step_by(2000) {
        sparse.insert(PieceIndex(p));
    }
    g.bench_function("pick_1_block_sparse_peer", |b| {
        b.iter_batched_ref(
            || base.clone(),
            |t| {
                let mut out = Vec::new();
                let mut rng = ChaCha8Rng::seed_from_u64(3);
                t.pick(PeerKey(1), &sparse, 1, &mut rng, &mut out);
                black_box(out)
            },
            BatchSize::LargeInput,
        );
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("have_update", |b| {
        let mut t = base.clone();
        let mut i = 0u32;
        b.iter(|| {
            i = (i + 7919) % PIECES;
            t.inc_availability(PieceIndex(i));
            t.dec_availability(PieceIndex((i + 1) % PIECES));
        });
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("bitfield_update_100k_pieces", |b| {
        let mut t = base.clone();
        let s = &sets[100];
        b.iter(|| {
            t.add_peer_pieces(s);
            t.remove_peer_pieces(s);
        });
    });
    g.finish();
}

fn storage(c: &mut Criterion) {
    const TOTAL: usize = 64 * 1024 * 1024;
    const PL: u32 = 256 * 1024;
    let data: Vec<u8> = (0..TOTAL).map(|i| (i * 31 % 251) as u8).collect();
    let data = Bytes::from(data);
    let hashes = data
        .chunks(PL as usize)
        .map(|c| sha1_blocks(&[Bytes::copy_from_slice(c)]))
        .collect();
    let geometry = Arc::new(
        Geometry::new(
            PL,
            vec![
                FileSpec::new(&["a"], TOTAL as u64 / 2),
                FileSpec::new(&["b"], TOTAL as u64 / 2),
            ],
            PieceHashes {
                v1: Some(hashes),
                v2: None,
            },
        )
        .expect("geometry"),
    );
    let root = if std::path::Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    let mut g = c.benchmark_group("storage_64MiB");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.bench_function("raw_sha1", |b| {
        b.iter(|| {
            for chunk in data.chunks(PL as usize) {
                black_box(Sha1::digest(chunk));
            }
        });
    });
    let store = freshet_engine::MemoryStorage::new(Arc::clone(&geometry));
    g.bench_function("hash_job_from_memory_blocks", |b| {
        b.iter(|| {
            for piece in geometry.pieces() {
                let blocks = (0..geometry.blocks_in_piece(piece))
                    .map(|i| {
                        let blk = geometry.block(piece, i);
                        let start = piece.as_usize() * PL as usize + blk.offset as usize;
                        Some(data.slice(start..start + blk.len as usize))
                    })
                    .collect();
                black_box(run_job(
                    &store,
                    &geometry,
                    DiskJob::Hash {
                        piece,
                        blocks,
                        block_digests: DigestMode::PieceOnly,
                    },
                ));
            }
        });
    });
    g.bench_function("filestorage_write_blocks_and_hash_from_memory", |b| {
        b.iter_batched(
            || tempfile::tempdir_in(root).expect("tempdir"),
            |dir| {
                let st = FileStorage::new(dir.path(), Arc::clone(&geometry));
                for piece in geometry.pieces() {
                    let n = geometry.blocks_in_piece(piece);
                    let mut blocks = Vec::with_capacity(n as usize);
                    for i in 0..n {
                        let blk: BlockRef = geometry.block(piece, i);
                        let start = piece.as_usize() * PL as usize + blk.offset as usize;
                        let bytes = data.slice(start..start + blk.len as usize);
                        st.write(blk, bytes.clone()).expect("write");
                        blocks.push(Some(bytes));
                    }
                    let done = run_job(
                        &st,
                        &geometry,
                        DiskJob::Hash {
                            piece,
                            blocks,
                            block_digests: DigestMode::PieceOnly,
                        },
                    );
                    black_box(done);
                }
                dir
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

criterion_group!(benches, picker, storage);
criterion_main!(benches);
