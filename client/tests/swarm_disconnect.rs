//! A peer that disconnects in the middle of a piece: its requests go to another peer and the
//! download still completes with correct data. Bad peers never stop the client.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use bytes::BytesMut;
use component_util::{add, client, make_torrent, tree, wait_added, wait_complete};
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
