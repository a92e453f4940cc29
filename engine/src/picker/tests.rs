use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::{FileSpec, PieceHashes};

fn geometry(pieces: u32, piece_len: u32) -> Arc<Geometry> {
    let total = u64::from(pieces) * u64::from(piece_len) - 100;
    Arc::new(
        Geometry::new(
            piece_len,
            vec![FileSpec::new(&["f"], total)],
            PieceHashes {
                v1: Some(vec![[0; 20]; pieces as usize]),
                v2: None,
            },
        )
        .unwrap(),
    )
}

fn rng() -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(7)
}

fn set(n: u32, members: &[u32]) -> PieceSet {
    let mut s = PieceSet::new(n);
    for &m in members {
        s.insert(PieceIndex(m));
    }
    s
}

/// Checks every structural invariant from the module docs.
fn check_invariants(t: &PieceTracker) {
    let n = t.state.len();
    assert_eq!(t.start(NUM_KEYS) as usize, t.order.len());
    for k in 0..NUM_KEYS {
        assert!(t.start(k) <= t.start(k + 1), "bucket starts are sorted");
    }
    assert!(t.start(t.top) <= t.order.len() as u32);
    let mut wanted_missing = 0;
    for i in 0..n {
        let p = PieceIndex(i as u32);
        let st = t.state[i];
        assert_eq!(
            st == PieceState::Queued,
            t.pos[i] != NONE,
            "{p}: queued iff ordered"
        );
        assert_eq!(
            st == PieceState::InFlight,
            t.partial_slot[i] != NONE,
            "{p}: in flight iff partial"
        );
        assert_eq!(
            st == PieceState::Have,
            t.have.contains(p),
            "{p}: have iff in have set"
        );
        match st {
            PieceState::Queued => {
                assert_ne!(t.prio[i], PiecePriority::Skip);
                let pos = t.pos[i];
                assert_eq!(t.order[pos as usize], i as u32);
                let k = t.key(p);
                assert!(
                    t.start(k) <= pos && pos < t.start(k + 1),
                    "{p} in its bucket"
                );
            }
            PieceState::NotNeeded => assert_eq!(t.prio[i], PiecePriority::Skip),
            PieceState::InFlight => {
                let part = &t.partial[t.partial_slot[i] as usize];
                assert_eq!(part.piece, p);
                let open = part
                    .blocks
                    .iter()
                    .filter(|b| **b == BlockState::Open)
                    .count();
                let recv = part
                    .blocks
                    .iter()
                    .filter(|b| matches!(b, BlockState::Received(_)))
                    .count();
                assert_eq!(part.open as usize, open);
                assert_eq!(part.received as usize, recv);
                assert_eq!(part.hashing, recv == part.blocks.len());
                for b in &part.blocks {
                    if let BlockState::Requested(a, Some(c)) = b {
                        assert_ne!(a, c, "a block is never requested twice from one peer");
                    }
                }
            }
            PieceState::Have => {}
        }
        if t.prio[i] != PiecePriority::Skip && st != PieceState::Have {
            wanted_missing += 1;
        }
    }
    assert_eq!(t.wanted_missing, wanted_missing);
    assert_eq!(
        t.order.len(),
        t.state.iter().filter(|s| **s == PieceState::Queued).count()
    );
}

#[test]
fn picks_rarest_piece_first() {
    let g = geometry(10, 32768);
    let mut t = PieceTracker::new(g);
    t.initial_random = 0;
    for p in 0..10 {
        t.inc_availability(PieceIndex(p));
        if p != 6 {
            t.inc_availability(PieceIndex(p));
        }
    }
    let mut out = Vec::new();
    t.pick(PeerKey(1), &PieceSet::full(10), 1, &mut rng(), &mut out);
    assert_eq!(out, vec![BlockRef::new(PieceIndex(6), 0, 16384)]);
    check_invariants(&t);
}

#[test]
fn finishes_partial_pieces_before_starting_new_ones() {
    let g = geometry(10, 65536);
    let mut t = PieceTracker::new(g);
    t.initial_random = 0;
    let mut out = Vec::new();
    t.pick(PeerKey(1), &PieceSet::full(10), 2, &mut rng(), &mut out);
    let piece = out[0].piece;
    assert!(out.iter().all(|b| b.piece == piece));
    out.clear();
    t.pick(PeerKey(2), &PieceSet::full(10), 2, &mut rng(), &mut out);
    assert!(
        out.iter().all(|b| b.piece == piece),
        "second peer joins the partial piece"
    );
    check_invariants(&t);
}

#[test]
fn sequential_mode_picks_in_index_order_and_skips_unwanted() {
    let g = geometry(6, 16384);
    let mut t = PieceTracker::new(g);
    t.order_mode = PickOrder::Sequential;
    t.set_priority(PieceIndex(1), PiecePriority::Skip);
    let mut out = Vec::new();
    t.pick(PeerKey(1), &PieceSet::full(6), 3, &mut rng(), &mut out);
    let pieces: Vec<u32> = out.iter().map(|b| b.piece.0).collect();
    assert_eq!(pieces, vec![0, 2, 3]);
    check_invariants(&t);
}

#[test]
fn urgent_pieces_come_first() {
    let g = geometry(20, 16384);
    let mut t = PieceTracker::new(g);
    t.initial_random = 0;
    t.set_priority(PieceIndex(13), PiecePriority::Urgent);
    let mut out = Vec::new();
    t.pick(PeerKey(1), &PieceSet::full(20), 1, &mut rng(), &mut out);
    assert_eq!(out[0].piece, PieceIndex(13));
}

#[test]
fn endgame_requests_a_block_from_a_second_peer_and_cancels_on_arrival() {
    let g = geometry(1, 16384);
    let mut t = PieceTracker::new(g);
    let all = PieceSet::full(1);
    let mut out = Vec::new();
    t.pick(PeerKey(1), &all, 4, &mut rng(), &mut out);
    assert_eq!(out.len(), 1);
    assert!(t.is_endgame());
    out.clear();
    t.pick(PeerKey(1), &all, 4, &mut rng(), &mut out);
    assert!(out.is_empty(), "never twice from the same peer");
    t.pick(PeerKey(2), &all, 4, &mut rng(), &mut out);
    assert_eq!(out.len(), 1);
    let r = t.on_block_received(&out[0], PeerKey(2));
    assert_eq!(
        r,
        BlockReceipt::Accepted {
            complete: true,
            cancel: Some(PeerKey(1))
        }
    );
    assert_eq!(
        t.on_block_received(&out[0], PeerKey(1)),
        BlockReceipt::Duplicate
    );
    check_invariants(&t);
    t.on_hash_passed(PieceIndex(0));
    assert!(t.is_complete());
    check_invariants(&t);
}

#[test]
fn hash_failure_requeues_and_reports_senders() {
    let g = geometry(2, 32768);
    let mut t = PieceTracker::new(g);
    let all = PieceSet::full(2);
    let mut out = Vec::new();
    t.pick(PeerKey(1), &all, 2, &mut rng(), &mut out);
    let piece = out[0].piece;
    t.on_block_received(&out[0], PeerKey(1));
    t.on_block_received(&out[1], PeerKey(3));
    assert_eq!(t.on_hash_failed(piece), vec![PeerKey(1), PeerKey(3)]);
    assert_eq!(t.state(piece), PieceState::Queued);
    check_invariants(&t);
}

#[test]
fn cancelled_requests_reopen_blocks() {
    let g = geometry(1, 32768);
    let mut t = PieceTracker::new(g);
    let mut out = Vec::new();
    t.pick(PeerKey(1), &PieceSet::full(1), 2, &mut rng(), &mut out);
    assert!(t.cancel_request(&out[1], PeerKey(1)));
    assert!(!t.cancel_request(&out[1], PeerKey(1)));
    let mut again = Vec::new();
    t.pick(PeerKey(2), &PieceSet::full(1), 1, &mut rng(), &mut again);
    assert_eq!(
        again,
        vec![out[1]],
        "the reopened block is picked before endgame duplicates"
    );
    check_invariants(&t);
}

#[test]
fn peers_with_few_pieces_still_get_the_rarest() {
    let g = geometry(1000, 16384);
    let mut t = PieceTracker::new(g);
    t.initial_random = 0;
    let has = set(1000, &[5, 500, 900]);
    t.inc_availability(PieceIndex(5));
    t.inc_availability(PieceIndex(900));
    let mut out = Vec::new();
    t.pick(PeerKey(1), &has, 1, &mut rng(), &mut out);
    assert_eq!(out[0].piece, PieceIndex(500));
}

#[derive(Debug, Clone)]
enum Op {
    Prio(u32, u8),
    Avail(u32, bool),
    Pick(usize, Vec<bool>, usize),
    Receive(usize, usize),
    Cancel(usize),
    Hash(usize, bool),
    MarkHave(u32),
}

fn op(n: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..n, 0u8..5).prop_map(|(p, l)| Op::Prio(p, l)),
        (0..n, any::<bool>()).prop_map(|(p, u)| Op::Avail(p, u)),
        (
            0usize..3,
            proptest::collection::vec(any::<bool>(), n as usize),
            1usize..6
        )
            .prop_map(|(k, h, w)| Op::Pick(k, h, w)),
        (any::<usize>(), 0usize..3).prop_map(|(i, k)| Op::Receive(i, k)),
        any::<usize>().prop_map(Op::Cancel),
        (any::<usize>(), any::<bool>()).prop_map(|(i, ok)| Op::Hash(i, ok)),
        (0..n).prop_map(Op::MarkHave),
    ]
}

const PRIOS: [PiecePriority; 5] = [
    PiecePriority::Skip,
    PiecePriority::Low,
    PiecePriority::Normal,
    PiecePriority::High,
    PiecePriority::Urgent,
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Random operation sequences keep every invariant, and the piece states match a naive
    /// model that applies the documented transitions directly.
    #[test]
    fn tracker_matches_naive_model(ops in proptest::collection::vec(op(12), 1..80)) {
        let n = 12;
        let g = geometry(n, 32768);
        let mut t = PieceTracker::new(Arc::clone(&g));
        t.initial_random = 0;
        let mut r = rng();
        // The naive model: state and priority per piece, and the outstanding requests.
        let mut model = vec![PieceState::Queued; n as usize];
        let mut prio = vec![PiecePriority::Normal; n as usize];
        let mut avail = vec![0u32; n as usize];
        let mut outstanding: Vec<(BlockRef, PeerKey)> = Vec::new();
        for op in ops {
            match op {
                Op::Prio(p, l) => {
                    let pi = PieceIndex(p);
                    t.set_priority(pi, PRIOS[l as usize]);
                    prio[p as usize] = PRIOS[l as usize];
                    let m = &mut model[p as usize];
                    if *m == PieceState::Queued && prio[p as usize] == PiecePriority::Skip {
                        *m = PieceState::NotNeeded;
                    } else if *m == PieceState::NotNeeded && prio[p as usize] != PiecePriority::Skip {
                        *m = PieceState::Queued;
                    }
                }
                Op::Avail(p, up) => {
                    if up {
                        t.inc_availability(PieceIndex(p));
                        avail[p as usize] += 1;
                    } else if avail[p as usize] > 0 {
                        t.dec_availability(PieceIndex(p));
                        avail[p as usize] -= 1;
                    }
                }
                Op::Pick(k, h, want) => {
                    let has = set(n, &(0..n).filter(|i| h[*i as usize]).collect::<Vec<_>>());
                    // The best key among queued pieces the peer has, before picking.
                    let best = (0..n)
                        .filter(|&i| model[i as usize] == PieceState::Queued && has.contains(PieceIndex(i)))
                        .map(|i| t.key(PieceIndex(i)))
                        .min();
                    let was_in_flight: Vec<bool> = model.iter().map(|s| *s == PieceState::InFlight).collect();
                    let mut out = Vec::new();
                    t.pick(PeerKey(k), &has, want, &mut r, &mut out);
                    prop_assert!(out.len() <= want);
                    let mut first_new = true;
                    for b in &out {
                        prop_assert!(has.contains(b.piece));
                        let i = b.piece.as_usize();
                        prop_assert!(matches!(model[i], PieceState::Queued | PieceState::InFlight));
                        if !was_in_flight[i] && first_new && model[i] == PieceState::Queued {
                            prop_assert_eq!(Some(t.key_with(b.piece, avail[i])), best, "rarest first");
                            first_new = false;
                        }
                        model[i] = PieceState::InFlight;
                        outstanding.push((*b, PeerKey(k)));
                    }
                }
                Op::Receive(i, from) => {
                    if !outstanding.is_empty() {
                        let (b, k) = outstanding.remove(i % outstanding.len());
                        let from = if from == 0 { k } else { PeerKey(from) };
                        let _ = t.on_block_received(&b, from);
                        outstanding.retain(|(ob, _)| *ob != b);
                    }
                }
                Op::Cancel(i) => {
                    if !outstanding.is_empty() {
                        let (b, k) = outstanding.remove(i % outstanding.len());
                        t.cancel_request(&b, k);
                    }
                }
                Op::Hash(i, ok) => {
                    let hashing: Vec<PieceIndex> = t.hashing().collect();
                    if !hashing.is_empty() {
                        let p = hashing[i % hashing.len()];
                        let pi = p.as_usize();
                        if ok {
                            t.on_hash_passed(p);
                            model[pi] = PieceState::Have;
                        } else {
                            t.on_hash_failed(p);
                            model[pi] = if prio[pi] == PiecePriority::Skip {
                                PieceState::NotNeeded
                            } else {
                                PieceState::Queued
                            };
                        }
                        outstanding.retain(|(b, _)| b.piece != p);
                    }
                }
                Op::MarkHave(p) => {
                    t.mark_have(PieceIndex(p));
                    model[p as usize] = PieceState::Have;
                    outstanding.retain(|(b, _)| b.piece.0 != p);
                }
            }
            check_invariants(&t);
            for i in 0..n {
                prop_assert_eq!(t.state(PieceIndex(i)), model[i as usize], "piece {}", i);
                prop_assert_eq!(t.availability(PieceIndex(i)), avail[i as usize]);
            }
            let want_missing = (0..n as usize)
                .filter(|&i| prio[i] != PiecePriority::Skip && model[i] != PieceState::Have)
                .count() as u32;
            prop_assert_eq!(t.wanted_missing(), want_missing);
        }
    }
}

impl PieceTracker {
    fn key_with(&self, piece: PieceIndex, avail: u32) -> usize {
        let level = self.prio[piece.as_usize()].level().max(1);
        (LEVELS - level) * AVAIL_STRIDE + (avail as usize).min(AVAIL_STRIDE - 1)
    }
}
