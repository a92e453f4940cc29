use std::net::{SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use freshet_peerwire::{ExtendedHandshake, Message, PexFlags, PexMessage, UT_PEX};

use super::*;

#[allow(clippy::disallowed_methods)] // Tests need one real Instant; only offsets are used.
fn t0() -> Instant {
    Instant::now()
}

const THEIR_ID: u8 = 5;

fn addr(last: u8, port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, last], port))
}

fn pex_handshake(port: Option<u16>) -> ExtendedHandshake {
    let mut h = ExtendedHandshake::default();
    h.extensions.insert(UT_PEX.to_owned(), THEIR_ID);
    h.listen_port = port;
    h
}

fn sent(pex: &mut Pex) -> Vec<(PeerKey, PexMessage)> {
    let mut out = Vec::new();
    while let Some(a) = pex.poll_action() {
        if let PexAction::Send { peer, message } = a {
            let Message::Extended { id, payload } = message else {
                panic!("not an extended message");
            };
            assert_eq!(id, THEIR_ID);
            out.push((peer, PexMessage::decode(&payload).expect("valid ut_pex")));
        }
    }
    out
}

fn payload(added: &[SocketAddr]) -> Vec<u8> {
    let mut m = PexMessage::default();
    for a in added {
        if let SocketAddr::V4(v4) = a {
            m.added.push((*v4, PexFlags::default()));
        }
    }
    let mut out = BytesMut::new();
    m.encode_payload(&mut out);
    out.to_vec()
}

/// Three peers: A dialled by us (outgoing), B incoming with `p`, C incoming without.
fn three(now: Instant) -> Pex {
    let mut pex = Pex::new(PexConfig::default());
    pex.handle_peer_connected(PeerKey(0), Some(addr(1, 6881)));
    pex.handle_peer_connected(PeerKey(1), None);
    pex.handle_peer_connected(PeerKey(2), None);
    pex.handle_extended_handshake(now, PeerKey(0), addr(1, 6881), &pex_handshake(None));
    pex.handle_extended_handshake(now, PeerKey(1), addr(2, 50000), &pex_handshake(Some(7000)));
    pex.handle_extended_handshake(now, PeerKey(2), addr(3, 50001), &pex_handshake(None));
    pex
}

#[test]
fn first_message_follows_the_handshake_then_at_most_one_per_interval() {
    let now = t0();
    let mut pex = three(now);
    assert_eq!(pex.poll_timeout(), Some(now + Duration::from_secs(2)));
    pex.handle_timeout(now + Duration::from_secs(1));
    assert!(
        sent(&mut pex).is_empty(),
        "nothing before the initial delay"
    );
    let t1 = now + Duration::from_secs(2);
    pex.handle_timeout(t1);
    let msgs = sent(&mut pex);
    // A learns B's listen address (from `p`), B learns A's (reachable), C learns both;
    // nobody hears about itself, and C (no listen port) is never advertised.
    let to = |k: usize| {
        msgs.iter()
            .find(|(p, _)| *p == PeerKey(k))
            .map(|(_, m)| m.added.clone())
            .unwrap_or_default()
    };
    let v4 = |a: SocketAddr| match a {
        SocketAddr::V4(v) => v,
        SocketAddr::V6(_) => unreachable!(),
    };
    assert_eq!(to(0), vec![(v4(addr(2, 7000)), PexFlags::default())]);
    assert_eq!(to(1), vec![(v4(addr(1, 6881)), PexFlags::REACHABLE)]);
    assert_eq!(to(2).len(), 2);
    // A new peer within the interval waits for the next slot.
    pex.handle_peer_connected(PeerKey(3), Some(addr(4, 6881)));
    pex.handle_timeout(t1 + Duration::from_secs(30));
    assert!(
        sent(&mut pex).is_empty(),
        "A, B and C wait for their next slot"
    );
    pex.handle_timeout(t1 + Duration::from_secs(60));
    let later = sent(&mut pex);
    assert_eq!(later.len(), 3, "A, B and C hear about D");
    assert!(later.iter().all(|(_, m)| {
        m.added
            .iter()
            .any(|(a, _)| SocketAddr::V4(*a) == addr(4, 6881))
    }));
}

#[test]
fn dropped_peers_are_reported_once() {
    let now = t0();
    let mut pex = three(now);
    pex.handle_timeout(now + Duration::from_secs(2));
    let _ = sent(&mut pex);
    pex.handle_peer_gone(PeerKey(1));
    pex.handle_timeout(now + Duration::from_secs(62));
    let msgs = sent(&mut pex);
    let to_a = msgs.iter().find(|(p, _)| *p == PeerKey(0)).expect("A told");
    assert_eq!(
        to_a.1.dropped,
        vec![SocketAddrV4::new([127, 0, 0, 2].into(), 7000)]
    );
    pex.handle_timeout(now + Duration::from_secs(122));
    assert!(sent(&mut pex).is_empty(), "no change: nothing sent");
}

#[test]
fn peers_without_ut_pex_get_nothing() {
    let now = t0();
    let mut pex = Pex::new(PexConfig::default());
    pex.handle_peer_connected(PeerKey(0), Some(addr(1, 1)));
    pex.handle_peer_connected(PeerKey(1), Some(addr(2, 2)));
    pex.handle_extended_handshake(now, PeerKey(0), addr(1, 1), &ExtendedHandshake::default());
    assert_eq!(pex.poll_timeout(), None);
    pex.handle_timeout(now + Duration::from_secs(100));
    assert!(sent(&mut pex).is_empty());
}

#[test]
fn uses_at_most_50_added_peers_of_a_message() {
    let now = t0();
    let mut pex = three(now);
    let many: Vec<SocketAddr> = (0..10_000u32)
        .map(|i| SocketAddr::from(([10, 0, (i >> 8) as u8, i as u8], 1000 + (i % 100) as u16)))
        .collect();
    pex.handle_payload(now, PeerKey(0), &payload(&many));
    let Some(PexAction::Discovered { from, addrs }) = pex.poll_action() else {
        panic!("expected discovered peers");
    };
    assert_eq!(from, PeerKey(0));
    assert_eq!(addrs.len(), 50);
    assert_eq!(addrs[..], many[..50]);
}

#[test]
fn ignores_messages_sooner_than_half_an_interval() {
    let now = t0();
    let mut pex = three(now);
    pex.handle_payload(now, PeerKey(0), &payload(&[addr(9, 1)]));
    assert!(pex.poll_action().is_some());
    pex.handle_payload(
        now + Duration::from_secs(10),
        PeerKey(0),
        &payload(&[addr(9, 2)]),
    );
    assert_eq!(pex.poll_action(), None);
    pex.handle_payload(
        now + Duration::from_secs(31),
        PeerKey(0),
        &payload(&[addr(9, 3)]),
    );
    assert_eq!(
        pex.poll_action(),
        Some(PexAction::Discovered {
            from: PeerKey(0),
            addrs: vec![addr(9, 3)]
        })
    );
}

#[test]
fn ignores_port_zero_unspecified_own_and_known_addresses_and_malformed_payloads() {
    let now = t0();
    let mut pex = three(now);
    let junk = [
        addr(9, 0),
        SocketAddr::from(([0, 0, 0, 0], 80)),
        addr(1, 6881), // the sender itself
        addr(2, 7000), // already connected
        addr(9, 9),
        addr(9, 9),
    ];
    pex.handle_payload(now, PeerKey(0), &payload(&junk));
    assert_eq!(
        pex.poll_action(),
        Some(PexAction::Discovered {
            from: PeerKey(0),
            addrs: vec![addr(9, 9)]
        })
    );
    pex.handle_payload(now, PeerKey(1), b"not bencode");
    pex.handle_payload(now, PeerKey(2), b"d5:added7:1234567e");
    assert_eq!(pex.poll_action(), None);
}

#[test]
fn sends_at_most_the_configured_number_of_added_peers() {
    let now = t0();
    let mut pex = Pex::new(PexConfig::default());
    for i in 0..120u16 {
        pex.handle_peer_connected(PeerKey(usize::from(i)), Some(addr(1, 1000 + i)));
    }
    pex.handle_extended_handshake(now, PeerKey(0), addr(1, 1000), &pex_handshake(None));
    pex.handle_timeout(now + Duration::from_secs(2));
    let first = sent(&mut pex);
    assert_eq!(first[0].1.added.len(), 50);
    pex.handle_timeout(now + Duration::from_secs(62));
    assert_eq!(sent(&mut pex)[0].1.added.len(), 50);
    pex.handle_timeout(now + Duration::from_secs(122));
    assert_eq!(
        sent(&mut pex)[0].1.added.len(),
        19,
        "119 others in three messages"
    );
}
