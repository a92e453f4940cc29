//! Codec throughput: decoding and encoding a stream of 16 KiB `piece` messages (compared
//! with a plain memcpy of the same bytes, measured here too) and of small messages.

use std::hint::black_box;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use freshet_peerwire::{BlockRef, Message, MessageDecoder, PieceIndex};

const PIECES: usize = 256; // 256 × 16 KiB = 4 MiB per iteration
const SMALL: usize = 10_000;

fn piece_messages() -> Vec<Message> {
    // Distinct blocks, so the copying encoder really reads 4 MiB.
    (0..PIECES)
        .map(|i| Message::Piece {
            piece: PieceIndex(i as u32 / 16),
            offset: (i as u32 % 16) * 16384,
            data: Bytes::from(vec![i as u8; 16 * 1024]),
        })
        .collect()
}

fn small_messages() -> Vec<Message> {
    (0..SMALL as u32)
        .map(|i| match i % 6 {
            0 => Message::Have(PieceIndex(i)),
            1 => Message::Request(BlockRef::new(PieceIndex(i), 16384, 16384)),
            2 => Message::Cancel(BlockRef::new(PieceIndex(i), 0, 16384)),
            3 => Message::Interested,
            4 => Message::Unchoke,
            _ => Message::AllowedFast(PieceIndex(i)),
        })
        .collect()
}

fn encode_all(msgs: &[Message]) -> BytesMut {
    let mut out = BytesMut::new();
    for m in msgs {
        m.encode(&mut out);
    }
    out
}

fn decode(c: &mut Criterion) {
    let dec = MessageDecoder::default();
    let pieces = encode_all(&piece_messages());
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Bytes(pieces.len() as u64));
    g.bench_function("piece_16k_stream", |b| {
        b.iter_batched(
            || BytesMut::from(&pieces[..]),
            |mut buf| {
                while let Some(m) = dec.decode(&mut buf).unwrap() {
                    black_box(m);
                }
            },
            BatchSize::LargeInput,
        );
    });
    // Same bytes, copied into a buffer that is already faulted in (reused across iterations).
    let mut dst = vec![1u8; pieces.len()];
    g.bench_function("memcpy_same_bytes", |b| {
        b.iter(|| {
            dst.copy_from_slice(&pieces);
            black_box(dst.len())
        });
    });
    let small = encode_all(&small_messages());
    g.throughput(Throughput::Elements(SMALL as u64));
    g.bench_function("small_messages", |b| {
        b.iter_batched(
            || BytesMut::from(&small[..]),
            |mut buf| {
                while let Some(m) = dec.decode(&mut buf).unwrap() {
                    black_box(m);
                }
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

fn encode(c: &mut Criterion) {
    let pieces = piece_messages();
    let total: usize = pieces.iter().map(Message::encoded_len).sum();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Bytes(total as u64));
    let mut out = BytesMut::with_capacity(total);
    g.bench_function("piece_16k_copying", |b| {
        b.iter(|| {
            out.clear();
            for m in &pieces {
                m.encode(&mut out);
            }
            black_box(out.len())
        });
    });
    let mut head = BytesMut::with_capacity(PIECES * 13);
    let mut tails = Vec::with_capacity(PIECES);
    g.bench_function("piece_16k_vectored_head", |b| {
        b.iter(|| {
            head.clear();
            tails.clear();
            for m in &pieces {
                if let Some(t) = m.encode_head(&mut head) {
                    tails.push(t);
                }
            }
            black_box((head.len(), tails.len()))
        });
    });
    let mut dst = vec![0u8; total];
    let src = encode_all(&pieces);
    g.bench_function("memcpy_same_bytes", |b| {
        b.iter(|| {
            dst.copy_from_slice(&src);
            black_box(dst.len())
        });
    });
    let small = small_messages();
    g.throughput(Throughput::Elements(SMALL as u64));
    let mut out = BytesMut::with_capacity(SMALL * 17);
    g.bench_function("small_messages", |b| {
        b.iter(|| {
            out.clear();
            for m in &small {
                m.encode(&mut out);
            }
            black_box(out.len())
        });
    });
    g.finish();
}

criterion_group!(benches, decode, encode);
criterion_main!(benches);
