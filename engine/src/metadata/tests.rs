use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use freshet_metainfo::{InfoHashV1, InfoHashV2, InfoHashes};
use freshet_peerwire::{ExtendedHandshake, Message, MetadataMessage, UT_METADATA};
use proptest::prelude::*;
use sha1::Digest as _;

use super::*;

#[allow(clippy::disallowed_methods)] // Tests need one real Instant; only offsets are used.
fn t0() -> Instant {
    Instant::now()
}

/// The `ut_metadata` id the fake peers ask us to use.
const THEIR_ID: u8 = 3;

fn info_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn v1_target(info: &[u8]) -> InfoHashes {
    InfoHashes {
        v1: Some(InfoHashV1(sha1::Sha1::digest(info).into())),
        v2: None,
    }
}

fn handshake(size: Option<u32>) -> ExtendedHandshake {
    let mut h = ExtendedHandshake::default();
    h.extensions.insert(UT_METADATA.to_owned(), THEIR_ID);
    h.metadata_size = size;
    h
}

fn data_payload(piece: u32, total: u32, data: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    MetadataMessage::Data {
        piece,
        total_size: total,
        data: Bytes::copy_from_slice(data),
    }
    .encode_payload(&mut out);
    out.freeze()
}

fn reject_payload(piece: u32) -> Bytes {
    let mut out = BytesMut::new();
    MetadataMessage::Reject { piece }.encode_payload(&mut out);
    out.freeze()
}

/// The piece a `Send` action requests (asserting it is a `ut_metadata` request to `THEIR_ID`).
fn requested_piece(message: &Message) -> u32 {
    let Message::Extended { id, payload } = message else {
        panic!("expected an extended message, got {message:?}");
    };
    assert_eq!(*id, THEIR_ID);
    match MetadataMessage::decode(payload) {
        Ok(Some(MetadataMessage::Request { piece })) => piece,
        other => panic!("expected a request, got {other:?}"),
    }
}

/// How a fake peer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Honest,
    /// Serves bytes with one bit flipped in every piece.
    Liar,
    /// Rejects every request.
    Rejecter,
    /// Never answers.
    Silent,
}

/// Drives a fetch against fake peers until it completes or nothing happens for a while.
/// Returns the completed bytes and every drop.
fn drive(
    fetch: &mut MetadataFetch,
    info: &[u8],
    peers: &BTreeMap<PeerKey, Behaviour>,
    start: Instant,
) -> (Option<Bytes>, Vec<(PeerKey, MetadataDropReason)>) {
    let total = info.len() as u32;
    let mut now = start;
    let mut drops = Vec::new();
    for &k in peers.keys() {
        fetch.handle_extended_handshake(now, k, &handshake(Some(total)));
    }
    for _ in 0..10_000 {
        let mut replies = Vec::new();
        while let Some(a) = fetch.poll_action() {
            match a {
                MetadataAction::Send { peer, message } => {
                    let piece = requested_piece(&message);
                    let start = piece as usize * 16384;
                    let end = (start + 16384).min(info.len());
                    match peers[&peer] {
                        Behaviour::Honest => {
                            replies.push((peer, data_payload(piece, total, &info[start..end])));
                        }
                        Behaviour::Liar => {
                            let mut bad = info[start..end].to_vec();
                            bad[0] ^= 1;
                            replies.push((peer, data_payload(piece, total, &bad)));
                        }
                        Behaviour::Rejecter => replies.push((peer, reject_payload(piece))),
                        Behaviour::Silent => {}
                    }
                }
                MetadataAction::Drop { peer, reason } => drops.push((peer, reason)),
                MetadataAction::Complete(b) => return (Some(b), drops),
            }
        }
        if replies.is_empty() {
            match fetch.poll_timeout() {
                Some(t) => {
                    now = now.max(t);
                    fetch.handle_timeout(now);
                }
                None => return (None, drops),
            }
        }
        for (peer, payload) in replies {
            fetch.handle_payload(now, peer, &payload);
        }
    }
    panic!("fetch did not settle in 10 000 rounds");
}

#[test]
fn fetches_from_several_peers_and_verifies_v1() {
    let info = info_bytes(40_000);
    let mut f = MetadataFetch::new(v1_target(&info), MetadataConfig::default());
    let now = t0();
    let cfg = MetadataConfig {
        max_in_flight_per_peer: 1,
        ..MetadataConfig::default()
    };
    let mut f1 = MetadataFetch::new(v1_target(&info), cfg);
    // With one request per peer, three pieces go to three different peers.
    for k in 0..3 {
        f1.handle_extended_handshake(now, PeerKey(k), &handshake(Some(40_000)));
    }
    let mut asked = Vec::new();
    while let Some(MetadataAction::Send { peer, message }) = f1.poll_action() {
        asked.push((peer, requested_piece(&message)));
    }
    assert_eq!(
        asked,
        vec![(PeerKey(0), 0), (PeerKey(1), 1), (PeerKey(2), 2)]
    );
    let peers = BTreeMap::from([
        (PeerKey(0), Behaviour::Honest),
        (PeerKey(1), Behaviour::Honest),
    ]);
    let (done, drops) = drive(&mut f, &info, &peers, now);
    assert_eq!(done.as_deref(), Some(&info[..]));
    assert!(drops.is_empty());
    assert!(f.is_complete());
    assert_eq!(f.poll_timeout(), None);
}

#[test]
fn verifies_a_v2_info_hash_with_sha256() {
    let info = info_bytes(20_000);
    let target = InfoHashes {
        v1: None,
        v2: Some(InfoHashV2(sha2::Sha256::digest(&info).into())),
    };
    let mut f = MetadataFetch::new(target, MetadataConfig::default());
    let peers = BTreeMap::from([(PeerKey(0), Behaviour::Honest)]);
    let (done, _) = drive(&mut f, &info, &peers, t0());
    assert_eq!(done.as_deref(), Some(&info[..]));
    // And a v2 target the bytes do not match never completes.
    let wrong = InfoHashes {
        v1: None,
        v2: Some(InfoHashV2([9; 32])),
    };
    assert!(!matches_target(&wrong, &info));
    assert!(matches_target(&target, &info));
}

#[test]
fn drops_a_peer_announcing_oversized_metadata_without_allocating() {
    let info = info_bytes(1000);
    let mut f = MetadataFetch::new(v1_target(&info), MetadataConfig::default());
    let now = t0();
    f.handle_extended_handshake(now, PeerKey(0), &handshake(Some(1 << 30)));
    assert_eq!(
        f.poll_action(),
        Some(MetadataAction::Drop {
            peer: PeerKey(0),
            reason: MetadataDropReason::Oversized {
                size: 1 << 30,
                max: DEFAULT_MAX_METADATA_SIZE
            }
        })
    );
    assert_eq!(f.size(), None);
    assert!(f.pieces.is_empty());
    f.handle_extended_handshake(now, PeerKey(1), &handshake(Some(0)));
    assert!(matches!(
        f.poll_action(),
        Some(MetadataAction::Drop {
            reason: MetadataDropReason::Oversized { size: 0, .. },
            ..
        })
    ));
    f.handle_extended_handshake(now, PeerKey(2), &handshake(None));
    assert_eq!(
        f.poll_action(),
        Some(MetadataAction::Drop {
            peer: PeerKey(2),
            reason: MetadataDropReason::NoMetadata
        })
    );
}

#[test]
fn a_configured_maximum_bounds_the_size() {
    let info = info_bytes(40_000);
    let cfg = MetadataConfig {
        max_size: 30_000,
        ..MetadataConfig::default()
    };
    let mut f = MetadataFetch::new(v1_target(&info), cfg);
    f.handle_extended_handshake(t0(), PeerKey(0), &handshake(Some(40_000)));
    assert!(matches!(
        f.poll_action(),
        Some(MetadataAction::Drop {
            reason: MetadataDropReason::Oversized {
                size: 40_000,
                max: 30_000
            },
            ..
        })
    ));
}

#[test]
fn a_lone_liar_is_dropped_and_banned() {
    let info = info_bytes(40_000);
    let mut f = MetadataFetch::new(v1_target(&info), MetadataConfig::default());
    let peers = BTreeMap::from([(PeerKey(0), Behaviour::Liar)]);
    let (done, drops) = drive(&mut f, &info, &peers, t0());
    assert_eq!(done, None);
    assert_eq!(drops, vec![(PeerKey(0), MetadataDropReason::HashMismatch)]);
    assert!(MetadataDropReason::HashMismatch.is_ban());
    // A banned peer's later handshake is ignored.
    f.handle_extended_handshake(t0(), PeerKey(0), &handshake(Some(40_000)));
    assert_eq!(f.poll_action(), None);
}

#[test]
fn a_liar_mixed_with_an_honest_peer_is_found_and_the_fetch_completes() {
    let info = info_bytes(100_000);
    let mut f = MetadataFetch::new(v1_target(&info), MetadataConfig::default());
    let peers = BTreeMap::from([
        (PeerKey(0), Behaviour::Liar),
        (PeerKey(1), Behaviour::Honest),
    ]);
    let (done, drops) = drive(&mut f, &info, &peers, t0());
    assert_eq!(done.as_deref(), Some(&info[..]));
    assert_eq!(drops, vec![(PeerKey(0), MetadataDropReason::HashMismatch)]);
}

#[test]
fn rejected_and_timed_out_requests_are_asked_again_elsewhere() {
    let info = info_bytes(50_000);
    let mut f = MetadataFetch::new(v1_target(&info), MetadataConfig::default());
    let peers = BTreeMap::from([
        (PeerKey(0), Behaviour::Rejecter),
        (PeerKey(1), Behaviour::Silent),
        (PeerKey(2), Behaviour::Honest),
    ]);
    let start = t0();
    let (done, drops) = drive(&mut f, &info, &peers, start);
    assert_eq!(done.as_deref(), Some(&info[..]));
    assert!(drops.iter().all(|(p, _)| *p != PeerKey(2)), "{drops:?}");
}

#[test]
fn unresponsive_peers_are_dropped_after_max_failures() {
    let info = info_bytes(20_000);
    let mut f = MetadataFetch::new(v1_target(&info), MetadataConfig::default());
    let peers = BTreeMap::from([
        (PeerKey(0), Behaviour::Silent),
        (PeerKey(1), Behaviour::Rejecter),
    ]);
    let (done, drops) = drive(&mut f, &info, &peers, t0());
    assert_eq!(done, None);
    let mut dropped: Vec<_> = drops.iter().map(|d| d.0).collect();
    dropped.sort();
    assert_eq!(dropped, vec![PeerKey(0), PeerKey(1)]);
    assert!(
        drops
            .iter()
            .all(|d| d.1 == MetadataDropReason::Unresponsive)
    );
}

#[test]
fn ignores_data_that_was_not_requested_from_that_peer() {
    let info = info_bytes(40_000);
    let cfg = MetadataConfig {
        max_in_flight_per_peer: 1,
        ..MetadataConfig::default()
    };
    let mut f = MetadataFetch::new(v1_target(&info), cfg);
    let now = t0();
    f.handle_extended_handshake(now, PeerKey(0), &handshake(Some(40_000)));
    while f.poll_action().is_some() {}
    // Piece 2 was never asked of anyone.
    f.handle_payload(now, PeerKey(0), &data_payload(2, 40_000, &info[32768..]));
    assert_eq!(f.fraction(), 0.0);
    assert_eq!(f.poll_action(), None);
}

#[test]
fn a_peer_changing_total_size_is_dropped() {
    let info = info_bytes(40_000);
    let mut f = MetadataFetch::new(v1_target(&info), MetadataConfig::default());
    let now = t0();
    f.handle_extended_handshake(now, PeerKey(0), &handshake(Some(40_000)));
    while f.poll_action().is_some() {}
    f.handle_payload(now, PeerKey(0), &data_payload(0, 20_000, &info[..16384]));
    assert_eq!(
        f.poll_action(),
        Some(MetadataAction::Drop {
            peer: PeerKey(0),
            reason: MetadataDropReason::SizeChanged
        })
    );
}

#[test]
fn a_gone_peer_releases_its_requests() {
    let info = info_bytes(40_000);
    let mut f = MetadataFetch::new(v1_target(&info), MetadataConfig::default());
    let now = t0();
    f.handle_extended_handshake(now, PeerKey(0), &handshake(Some(40_000)));
    while f.poll_action().is_some() {}
    f.handle_peer_gone(now, PeerKey(0));
    let later = now + Duration::from_secs(1);
    let peers = BTreeMap::from([(PeerKey(1), Behaviour::Honest)]);
    let (done, _) = drive(&mut f, &info, &peers, later);
    assert_eq!(done.as_deref(), Some(&info[..]));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever mix of peers: the fetch completes with the true bytes iff an honest peer
    /// exists, never hands out wrong bytes, and never blames an honest peer.
    #[test]
    fn completes_iff_an_honest_peer_exists_and_never_blames_it(
        len in 1usize..120_000,
        kinds in proptest::collection::vec(0u8..4, 1..6),
    ) {
        let info = info_bytes(len);
        let peers: BTreeMap<PeerKey, Behaviour> = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let b = match k {
                    0 => Behaviour::Honest,
                    1 => Behaviour::Liar,
                    2 => Behaviour::Rejecter,
                    _ => Behaviour::Silent,
                };
                (PeerKey(i), b)
            })
            .collect();
        let mut f = MetadataFetch::new(v1_target(&info), MetadataConfig::default());
        let (done, drops) = drive(&mut f, &info, &peers, t0());
        let any_honest = peers.values().any(|b| *b == Behaviour::Honest);
        prop_assert_eq!(done.is_some(), any_honest);
        if let Some(d) = done {
            prop_assert_eq!(&d[..], &info[..]);
        }
        for (peer, reason) in drops {
            prop_assert_ne!(peers[&peer], Behaviour::Honest);
            if reason == MetadataDropReason::HashMismatch {
                prop_assert_eq!(peers[&peer], Behaviour::Liar);
            }
        }
    }
}
