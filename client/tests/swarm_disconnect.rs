//! A peer that disconnects in the middle of a piece: its requests go to another peer and the
//! download still completes with correct data. Bad peers never stop the client. A peer
//! connected twice (both sides dialled, or it dialled twice) keeps exactly one connection.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use component_util::{End, add, client, make_torrent, tree, wait_added, wait_complete, wait_end};
use freshet_client::{Event, Request};
use freshet_metainfo::Metainfo;
use freshet_peerwire::{Bitfield, Decoded, Handshake, Message, MessageDecoder, PeerId, Reserved};

const TICK: Duration = Duration::from_millis(100);

/// Reads until one whole message is decoded (bounded by the socket's read timeout).
fn read_message(s: &mut TcpStream, buf: &mut BytesMut, dec: &MessageDecoder) -> Message {
    loop {
        if let Some(m) = dec.decode(buf).unwrap() {
            return m;
        }
        let mut tmp = [0u8; 4096];
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "client closed the connection");
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// A fake seed: handshakes, claims every piece, unchokes, answers the first request with one
/// real block, then disconnects in the middle of the piece.
fn flaky_peer(listener: TcpListener, meta: Metainfo, data: Vec<u8>) -> usize {
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = BytesMut::new();
    let info_hash = meta.info_hashes.wire_id().unwrap();
    loop {
        if let Decoded::Complete { consumed, value } = Handshake::decode(&buf).unwrap() {
            assert_eq!(value.info_hash, info_hash);
            let _ = buf.split_to(consumed);
            break;
        }
        let mut tmp = [0u8; 256];
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0);
        buf.extend_from_slice(&tmp[..n]);
    }
    let pieces = u32::try_from(meta.info.piece_count).unwrap();
    let mut out = BytesMut::new();
    Handshake::new(
        Reserved::NONE,
        info_hash,
        PeerId::azureus(*b"-XX0001-", [3; 12]),
    )
    .encode(&mut out);
    Message::Bitfield(Bitfield::full(pieces)).encode(&mut out);
    Message::Unchoke.encode(&mut out);
    s.write_all(&out).unwrap();
    let dec = MessageDecoder::default();
    let mut served = 0;
    loop {
        if let Message::Request(b) = read_message(&mut s, &mut buf, &dec) {
            let start =
                (u64::from(b.piece.0) * meta.info.piece_length) as usize + b.offset as usize;
            let mut out = BytesMut::new();
            Message::Piece {
                piece: b.piece,
                offset: b.offset,
                data: data[start..start + b.len as usize].to_vec().into(),
            }
            .encode(&mut out);
            s.write_all(&out).unwrap();
            served += 1;
            // Gone after one block of a multi-block piece.
            return served;
        }
    }
}

#[test]
fn a_peer_that_disconnects_mid_piece_does_not_break_the_download() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    // 64 KiB pieces: four blocks each, so one block is the middle of a piece.
    let bytes = make_torrent(&src, "mid.bin", &[("", 1_000_000)], 65536, false);
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    let data = std::fs::read(src.join("mid.bin")).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let flaky_addr = listener.local_addr().unwrap();
    let flaky = std::thread::spawn(move || flaky_peer(listener, meta, data));

    // A peer that is not a BitTorrent peer at all.
    let junk = TcpListener::bind("127.0.0.1:0").unwrap();
    let junk_addr = junk.local_addr().unwrap();
    let junk_thread = std::thread::spawn(move || {
        let (mut s, _) = junk.accept().unwrap();
        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
    });

    let dl = dir.path().join("dl");
    let leech = client(TICK);
    add(&leech, 1, &bytes, &dl, &[flaky_addr, junk_addr]);
    let id = wait_added(&leech);
    assert_eq!(flaky.join().unwrap(), 1);
    junk_thread.join().unwrap();

    // Only now does a real seed appear.
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    leech
        .send(Request::AddPeer {
            id,
            addr: seed.listen_addrs()[0],
        })
        .unwrap();
    wait_complete(&leech, id);
    assert_eq!(tree(&dl), tree(&src));
    // The client is still answering requests.
    leech.send(Request::Status { id: Some(id) }).unwrap();
    component_util::wait_for(&leech, "status", |e| matches!(e, Event::Status(_)));
    leech.join();
    seed.join();
}

#[test]
fn the_peers_reqq_from_its_extension_handshake_bounds_our_requests() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "reqq.bin", &[("", 1_000_000)], 65536, false);
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    let info_hash = meta.info_hashes.wire_id().unwrap();
    let pieces = u32::try_from(meta.info.piece_count).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = BytesMut::new();
        let theirs = loop {
            if let Decoded::Complete { consumed, value } = Handshake::decode(&buf).unwrap() {
                let _ = buf.split_to(consumed);
                break value;
            }
            let mut tmp = [0u8; 256];
            let n = s.read(&mut tmp).unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&tmp[..n]);
        };
        assert!(theirs.reserved.contains(Reserved::EXTENSION_PROTOCOL));
        let mut out = BytesMut::new();
        Handshake::new(
            Reserved::EXTENSION_PROTOCOL,
            info_hash,
            PeerId::azureus(*b"-XX0001-", [4; 12]),
        )
        .encode(&mut out);
        let mut ext = freshet_peerwire::ExtendedHandshake::default();
        ext.request_queue = Some(2);
        ext.encode(&mut out);
        Message::Bitfield(Bitfield::full(pieces)).encode(&mut out);
        Message::Unchoke.encode(&mut out);
        s.write_all(&out).unwrap();
        // Never answer: count the requests that arrive until 500 ms of silence.
        let dec = MessageDecoder::default();
        let mut requests = 0;
        let mut client_reqq = None;
        s.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        loop {
            match dec.decode(&mut buf).unwrap() {
                Some(Message::Request(_)) => requests += 1,
                Some(Message::Extended { id: 0, payload }) => {
                    client_reqq = freshet_peerwire::ExtendedHandshake::decode(&payload)
                        .unwrap()
                        .request_queue;
                }
                Some(_) => {}
                None => {
                    let mut tmp = [0u8; 4096];
                    match s.read(&mut tmp) {
                        Ok(0) | Err(_) => return (requests, client_reqq),
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
            }
        }
    });
    let c = client(TICK);
    add(&c, 1, &bytes, &dir.path().join("dl"), &[addr]);
    wait_added(&c);
    let (requests, client_reqq) = peer.join().unwrap();
    assert_eq!(requests, 2, "requests in flight with reqq 2");
    assert_eq!(client_reqq, Some(4096), "the reqq we advertise");
    c.join();
}

/// A seed on 127.0.0.1 with the 1 MB torrent `bytes` complete, and that torrent's info-hash.
fn dup_seed(dir: &std::path::Path) -> (freshet_client::ClientHandle, TorrentIdAndHash) {
    let src = dir.join("src");
    let bytes = make_torrent(&src, "dup.bin", &[("", 1_000_000)], 65536, false);
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let id = wait_added(&seed);
    wait_complete(&seed, id);
    let hash = meta.info_hashes.wire_id().unwrap();
    (seed, TorrentIdAndHash { id, hash })
}

struct TorrentIdAndHash {
    id: freshet_client::TorrentId,
    hash: freshet_metainfo::InfoHashV1,
}

const DUP_ID: [u8; 12] = *b"duplicate-id";

/// Sends our handshake (always the same peer id) and reads the seed's.
fn handshake(s: &mut TcpStream, hash: freshet_metainfo::InfoHashV1) -> BytesMut {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let hs = Handshake::new(Reserved::NONE, hash, PeerId::azureus(*b"-XX0001-", DUP_ID));
    s.write_all(&hs.to_bytes()).unwrap();
    let mut buf = BytesMut::new();
    loop {
        if let Decoded::Complete { consumed, value } = Handshake::decode(&buf).unwrap() {
            assert_eq!(value.info_hash, hash);
            let _ = buf.split_to(consumed);
            return buf;
        }
        let mut tmp = [0u8; 256];
        let n = s.read(&mut tmp).unwrap();
        assert!(n > 0, "closed during the handshake");
        buf.extend_from_slice(&tmp[..n]);
    }
}

/// Whether the seed closes `s` within 10 s.
fn closed_by_seed(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    wait_end(s) == End::Closed
}

/// The connection still works: after `interested` the seed unchokes us on it.
fn unchokes(s: &mut TcpStream, mut buf: BytesMut) {
    let mut out = BytesMut::new();
    Message::Interested.encode(&mut out);
    s.write_all(&out).unwrap();
    let dec = MessageDecoder::default();
    // Bounded by the 20 s read timeout: a closed or silent connection fails the test.
    while read_message(s, &mut buf, &dec) != Message::Unchoke {}
}

#[test]
fn when_both_sides_dial_the_lower_listen_port_keeps_its_outgoing_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (seed, t) = dup_seed(dir.path());
    let seed_port = seed.listen_addrs()[0].port();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let our_port = listener.local_addr().unwrap().port();

    // We dial the seed, then the seed dials us: the same peer id on both connections.
    let mut ours = TcpStream::connect(seed.listen_addrs()[0]).unwrap();
    let ours_buf = handshake(&mut ours, t.hash);
    seed.send(Request::AddPeer {
        id: t.id,
        addr: listener.local_addr().unwrap(),
    })
    .unwrap();
    let (mut theirs, _) = listener.accept().unwrap();
    let theirs_buf = handshake(&mut theirs, t.hash);

    // libtorrent's rule, from the seed's side: the lower listen port keeps the connection it
    // opened. Each side of the pair computes the same answer.
    let (mut dropped, mut kept, kept_buf) = if seed_port < our_port {
        (ours, theirs, theirs_buf)
    } else {
        (theirs, ours, ours_buf)
    };
    eprintln!("seed listens on {seed_port}, we on {our_port}");
    assert!(closed_by_seed(&mut dropped), "the duplicate stayed open");
    unchokes(&mut kept, kept_buf);
    seed.join();
}

#[test]
fn a_second_connection_from_the_same_peer_is_closed_and_the_first_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (seed, t) = dup_seed(dir.path());
    let mut first = TcpStream::connect(seed.listen_addrs()[0]).unwrap();
    let first_buf = handshake(&mut first, t.hash);
    let mut second = TcpStream::connect(seed.listen_addrs()[0]).unwrap();
    let _ = handshake(&mut second, t.hash);
    assert!(
        closed_by_seed(&mut second),
        "the second connection stayed open"
    );
    unchokes(&mut first, first_buf);
    seed.join();
}

#[test]
fn a_peer_id_from_another_address_cannot_push_out_a_working_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (seed, t) = dup_seed(dir.path());
    let seed_port = seed.listen_addrs()[0].port();
    // The "same" peer on another host (127.0.0.2), listening on a higher port than the seed:
    // were both connections from one host, the seed would keep its own outgoing one.
    let listener = (1..200)
        .find_map(|k| TcpListener::bind(("127.0.0.2", seed_port.checked_add(k)?)).ok())
        .expect("a free port above the seed's on 127.0.0.2");

    let mut first = TcpStream::connect(seed.listen_addrs()[0]).unwrap();
    let first_buf = handshake(&mut first, t.hash);
    seed.send(Request::AddPeer {
        id: t.id,
        addr: listener.local_addr().unwrap(),
    })
    .unwrap();
    let (mut spoofed, _) = listener.accept().unwrap();
    let _ = handshake(&mut spoofed, t.hash);
    assert!(
        closed_by_seed(&mut spoofed),
        "a peer id from another address replaced the first connection"
    );
    unchokes(&mut first, first_buf);
    seed.join();
}
