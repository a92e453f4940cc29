//! Interleaved side-by-side timing, robust against load drift on a shared machine.
//!
//! Criterion (`benches/codec.rs`) measures one contender after another, so a change in
//! background load between two of them skews their ratio. Here every round runs each
//! contender once (a batch of about 10 ms) in turn, and each contender's median batch over all
//! rounds is reported, so all contenders see the same load. Same inputs and the same
//! operations as `codec.rs`. Run: `cargo bench -p freshet-bencode --bench ratio`.
#![allow(clippy::disallowed_methods)] // a benchmark needs a clock (Instant::now)

use std::hint::black_box;
use std::time::{Duration, Instant};

use freshet_bencode::decode;

mod common;
use common::{Torrent, bendy_decode, bendy_encode, check_encoders_agree, inputs};

type Op<'a> = (&'static str, Box<dyn Fn() + 'a>);

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters groups by substring.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    println!("| group | contender | median time | GB/s | freshet speed-up vs it |");
    println!("|---|---|---:|---:|---:|");
    for (name, bytes) in inputs() {
        check_encoders_agree(&bytes);
        let bytes = &bytes[..];
        let decoders: Vec<Op<'_>> = vec![
            (
                "freshet",
                Box::new(|| drop(black_box(decode(black_box(bytes)).unwrap()))),
            ),
            (
                "freshet_owned",
                Box::new(|| {
                    drop(black_box(
                        decode(black_box(bytes)).unwrap().to_owned_value(),
                    ))
                }),
            ),
            (
                "serde_bencode",
                Box::new(|| {
                    drop(black_box(
                        serde_bencode::from_bytes::<serde_bencode::value::Value>(black_box(bytes))
                            .unwrap(),
                    ))
                }),
            ),
            (
                "bendy",
                Box::new(|| drop(black_box(bendy_decode(black_box(bytes))))),
            ),
            (
                "bt_bencode",
                Box::new(|| {
                    drop(black_box(
                        bt_bencode::from_slice::<bt_bencode::Value>(black_box(bytes)).unwrap(),
                    ))
                }),
            ),
        ];
        run(&format!("decode/{name}"), bytes.len(), &decoders, &filter);

        let typed: Vec<Op<'_>> = vec![
            (
                "freshet",
                Box::new(|| {
                    drop(black_box(
                        freshet_bencode::from_bytes::<Torrent>(black_box(bytes)).unwrap(),
                    ))
                }),
            ),
            (
                "serde_bencode",
                Box::new(|| {
                    drop(black_box(
                        serde_bencode::from_bytes::<Torrent>(black_box(bytes)).unwrap(),
                    ))
                }),
            ),
            (
                "bt_bencode",
                Box::new(|| {
                    drop(black_box(
                        bt_bencode::from_slice::<Torrent>(black_box(bytes)).unwrap(),
                    ))
                }),
            ),
        ];
        run(&format!("typed/{name}"), bytes.len(), &typed, &filter);

        let ours = decode(bytes).unwrap();
        let ours_owned = ours.to_owned_value();
        let sb: serde_bencode::value::Value = serde_bencode::from_bytes(bytes).unwrap();
        let bendy_value = bendy_decode(bytes);
        let bt: bt_bencode::Value = bt_bencode::from_slice(bytes).unwrap();
        let encoders: Vec<Op<'_>> = vec![
            (
                "freshet",
                Box::new(|| drop(black_box(black_box(&ours_owned).encode()))),
            ),
            (
                "freshet_borrowed",
                Box::new(|| drop(black_box(black_box(&ours).encode()))),
            ),
            (
                "serde_bencode",
                Box::new(|| drop(black_box(serde_bencode::to_bytes(black_box(&sb)).unwrap()))),
            ),
            (
                "bendy",
                Box::new(|| drop(black_box(bendy_encode(black_box(&bendy_value))))),
            ),
            (
                "bt_bencode",
                Box::new(|| drop(black_box(bt_bencode::to_vec(black_box(&bt)).unwrap()))),
            ),
            (
                // Not an encoder: the floor for any encoder into a new `Vec`, one allocation
                // and one copy of the finished bytes.
                "copy_floor",
                Box::new(|| drop(black_box(black_box(bytes).to_vec()))),
            ),
        ];
        run(&format!("encode/{name}"), bytes.len(), &encoders, &filter);
    }
}

fn run(group: &str, len: usize, ops: &[Op<'_>], filter: &[String]) {
    if !filter.is_empty() && !filter.iter().any(|f| group.contains(f.as_str())) {
        return;
    }
    const ROUNDS: usize = 41;
    const BATCH: Duration = Duration::from_millis(10);
    // Calibrate: iterations per batch so that one batch takes about BATCH.
    let iters: Vec<u32> = ops
        .iter()
        .map(|(_, f)| {
            f();
            let t = Instant::now();
            f();
            let one = t.elapsed().max(Duration::from_nanos(50));
            u32::try_from((BATCH.as_nanos() / one.as_nanos()).clamp(1, 1_000_000)).unwrap_or(1)
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(ROUNDS); ops.len()];
    for _ in 0..ROUNDS {
        for (i, (_, f)) in ops.iter().enumerate() {
            let t = Instant::now();
            for _ in 0..iters[i] {
                f();
            }
            samples[i].push(t.elapsed() / iters[i]);
        }
    }
    let medians: Vec<Duration> = samples
        .iter_mut()
        .map(|s| {
            s.sort();
            s[s.len() / 2]
        })
        .collect();
    let ours = medians[0];
    for ((name, _), m) in ops.iter().zip(&medians) {
        let gbs = len as f64 / m.as_secs_f64() / 1e9;
        let ratio = m.as_secs_f64() / ours.as_secs_f64();
        println!("| {group} | {name} | {m:.2?} | {gbs:.3} | {ratio:.2}x |");
    }
}
