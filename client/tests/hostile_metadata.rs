//! Hostile peers against metadata exchange (BEP 9) and peer exchange (BEP 11), on real
//! sockets on 127.0.0.1: a raw TCP "peer" claims a 1 GiB info dictionary, serves metadata
//! that does not hash to the info-hash, or sends a `ut_pex` message naming 10 000 peers. Each
//! case is dropped or bounded, memory stays bounded, and the download then completes from an
//! honest Freshet seed with the right bytes. The same raw peer also shows a magnet finding its
//! seed through PEX from a peer that has no metadata.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use component_util::{
    End, add, client, make_torrent, rss_kib, tree, wait_added, wait_complete, wait_end, wait_for,
};
use freshet_client::{AddOptions, Event, Request, RequestId, TorrentSource, UseTrackers};
use freshet_metainfo::{InfoHashV1, Metainfo};
use freshet_peerwire::{
    ExtendedHandshake, Handshake, MetadataMessage, PeerId, PexFlags, PexMessage, Reserved,
    UT_METADATA, UT_PEX,
};

const TICK: Duration = Duration::from_millis(50);
/// Longest wait for anything the client should do.
const WAIT: Duration = Duration::from_secs(30);
/// The `ut_metadata` / `ut_pex` id the raw peer asks for.
const RAW_EXT_ID: u8 = 7;

/// A raw peer connection, after the BitTorrent handshake (extension protocol on).
struct Raw {
    s: TcpStream,
    /// The client's extended handshake.
    theirs: Option<ExtendedHandshake>,
}

impl Raw {
    /// Accepts one connection on `l` and answers the client's handshake.
    fn accept(l: &TcpListener, info_hash: InfoHashV1) -> Self {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut hs = [0u8; 68];
        s.read_exact(&mut hs).unwrap();
        let ours = Handshake::new(
            Reserved::EXTENSION_PROTOCOL,
            info_hash,
            PeerId::azureus(*b"-XX0001-", [7; 12]),
        );
        s.write_all(&ours.to_bytes()).unwrap();
        Self { s, theirs: None }
    }

    /// Dials `addr` and exchanges handshakes.
    fn dial(addr: SocketAddr, info_hash: InfoHashV1) -> Self {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(WAIT)).unwrap();
        let ours = Handshake::new(
            Reserved::EXTENSION_PROTOCOL,
            info_hash,
            PeerId::azureus(*b"-XX0001-", [8; 12]),
        );
        s.write_all(&ours.to_bytes()).unwrap();
        let mut hs = [0u8; 68];
        s.read_exact(&mut hs).unwrap();
        Self { s, theirs: None }
    }

    /// Sends an extended message; an error means the client already closed.
    fn send_ext(&mut self, id: u8, payload: &[u8]) -> std::io::Result<()> {
        let mut out = u32::try_from(payload.len() + 2)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(&[20, id]);
        out.extend_from_slice(payload);
        self.s.write_all(&out)
    }

    /// Sends our extended handshake offering `name` under [`RAW_EXT_ID`].
    fn send_ext_handshake(&mut self, name: &str, metadata_size: Option<u32>) {
        let mut h = ExtendedHandshake::default();
        h.extensions.insert(name.to_owned(), RAW_EXT_ID);
        h.metadata_size = metadata_size;
        let mut p = BytesMut::new();
        h.encode_payload(&mut p);
        self.send_ext(0, &p).unwrap();
    }

    /// The next extended message `(id, payload)` (other messages skipped, remembering the
    /// client's extended handshake); `None` once the client closed. Panics if the client
    /// neither sends nor closes within [`WAIT`].
    fn next_ext(&mut self) -> Option<(u8, Bytes)> {
        fn read(s: &mut TcpStream, buf: &mut [u8]) -> Option<()> {
            match s.read_exact(buf) {
                Ok(()) => Some(()),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    panic!("the client neither sent nor closed within {WAIT:?}")
                }
                Err(_) => None,
            }
        }
        loop {
            let mut len = [0u8; 4];
            read(&mut self.s, &mut len)?;
            let len = u32::from_be_bytes(len) as usize;
            assert!(len <= 1 << 20, "client sent a {len}-byte frame");
            let mut body = vec![0u8; len];
            read(&mut self.s, &mut body)?;
            if body.len() >= 2 && body[0] == 20 {
                let payload = Bytes::copy_from_slice(&body[2..]);
                if body[1] == 0 {
                    self.theirs = ExtendedHandshake::decode(&payload).ok();
                }
                return Some((body[1], payload));
            }
        }
    }

    /// Reads until the client closes; how it ended.
    fn wait_closed(mut self) -> End {
        wait_end(&mut self.s)
    }
}

/// A seeding Freshet client of a fresh torrent: (client, torrent bytes, source dir, tempdir).
fn seed(name: &str) -> (freshet_client::ClientHandle, Vec<u8>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let bytes = make_torrent(
        &dir.path().join("src"),
        name,
        &[("", 300_000)],
        16384,
        false,
    );
    let c = client(TICK);
    add(&c, 1, &bytes, &dir.path().join("src"), &[]);
    let id = wait_added(&c);
    wait_complete(&c, id);
    (c, bytes, dir)
}

fn add_magnet(c: &freshet_client::ClientHandle, uri: &str, dir: &std::path::Path) {
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(1)),
        source: TorrentSource::Magnet(uri.to_owned()),
        options: AddOptions::save_to(dir).with_trackers(UseTrackers::Never),
    })
    .unwrap();
}

/// Whether the client may dial the raw peer again after dropping it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redial {
    Allowed,
    /// Banned: no connection may arrive while the download finishes elsewhere.
    Never,
}

/// Runs a metadata case: the leech's magnet names only the raw peer, whose behaviour is
/// `act`; once the raw connection ended, the honest seed is added and the download must
/// complete. Returns how the raw connection ended and the RSS growth in KiB.
fn metadata_case(
    case: &str,
    redial: Redial,
    act: impl FnOnce(Raw, &[u8]) -> End + Send + 'static,
) -> (End, u64) {
    let (seed, bytes, dir) = seed(case);
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    let info_hash = meta.info_hashes.v1.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut magnet = meta.magnet();
    magnet.peers = vec![listener.local_addr().unwrap().to_string()];
    let info = meta.info_bytes.clone();
    let before = rss_kib();
    let raw = std::thread::spawn(move || {
        let end = act(Raw::accept(&listener, info_hash), &info);
        (end, listener)
    });
    let leech = client(TICK);
    let dl = dir.path().join("dl");
    add_magnet(&leech, &magnet.to_uri(), &dl);
    let id = wait_added(&leech);
    let (end, listener) = raw.join().unwrap();
    let grown = rss_kib().saturating_sub(before);
    eprintln!("{case}: {end:?}; test process RSS grew {grown} KiB");
    leech
        .send(Request::AddPeer {
            id,
            addr: seed.listen_addrs()[0],
        })
        .unwrap();
    wait_for(
        &leech,
        "metadata",
        |e| matches!(e, Event::MetadataReceived { id: i, .. } if *i == id),
    );
    wait_complete(&leech, id);
    assert_eq!(
        tree(&dl),
        tree(&dir.path().join("src")),
        "{case}: wrong data"
    );
    if redial == Redial::Never {
        // Connections made meanwhile wait in the backlog: there must be none.
        listener.set_nonblocking(true).unwrap();
        assert!(
            listener.accept().is_err(),
            "{case}: the banned peer was dialled again"
        );
    }
    leech.join();
    seed.join();
    (end, grown)
}

#[test]
fn a_peer_claiming_1_gib_of_metadata_is_dropped_without_allocating_it() {
    let (end, grown) = metadata_case("huge-metadata", Redial::Allowed, |mut raw, _| {
        raw.send_ext_handshake(UT_METADATA, Some(1 << 30));
        // The client must not ask for a single piece of it: the next thing is the close.
        while let Some((id, _)) = raw.next_ext() {
            assert_eq!(id, 0, "the client asked a 1 GiB peer for metadata");
        }
        End::Closed
    });
    assert_eq!(end, End::Closed);
    assert!(grown < 64 * 1024, "RSS grew {grown} KiB");
}

#[test]
fn a_peer_serving_metadata_that_does_not_hash_is_dropped_and_the_fetch_goes_on() {
    let (end, grown) = metadata_case("bad-metadata", Redial::Never, |mut raw, info| {
        raw.send_ext_handshake(UT_METADATA, Some(u32::try_from(info.len()).unwrap()));
        let mut served = 0;
        while let Some((id, payload)) = raw.next_ext() {
            if id != RAW_EXT_ID {
                continue;
            }
            let Ok(Some(MetadataMessage::Request { piece })) = MetadataMessage::decode(&payload)
            else {
                continue;
            };
            let theirs = raw
                .theirs
                .as_ref()
                .and_then(|h| h.extension_id(UT_METADATA));
            let their_id = theirs.expect("client offered ut_metadata");
            let total = u32::try_from(info.len()).unwrap();
            let len = MetadataMessage::piece_len(total, piece).unwrap() as usize;
            let start = piece as usize * 16384;
            let mut data = info[start..start + len].to_vec();
            data[0] ^= 0xff; // every piece corrupted
            let mut p = BytesMut::new();
            MetadataMessage::Data {
                piece,
                total_size: total,
                data: Bytes::from(data),
            }
            .encode_payload(&mut p);
            if raw.send_ext(their_id, &p).is_err() {
                break;
            }
            served += 1;
        }
        assert!(served >= 1, "the client never asked for metadata");
        raw.wait_closed()
    });
    assert_eq!(end, End::Closed);
    assert!(grown < 64 * 1024, "RSS grew {grown} KiB");
}

#[test]
fn a_ut_pex_message_naming_10000_peers_is_used_for_50_at_most() {
    let (seed, bytes, dir) = seed("pex-flood");
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    let info_hash = meta.info_hashes.v1.unwrap();
    let leech = client(TICK);
    let dl = dir.path().join("dl");
    add(&leech, 1, &bytes, &dl, &[]);
    let id = wait_added(&leech);
    wait_for(&leech, "checked", |e| matches!(e, Event::Checked { .. }));

    // 100 listeners that accept and close at once; they are the first 100 of 10 000 entries
    // (the rest: ports on 127.0.0.1 nothing listens on).
    let traps: Vec<TcpListener> = (0..100)
        .map(|_| {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.set_nonblocking(true).unwrap();
            l
        })
        .collect();
    let mut added: Vec<(SocketAddrV4, PexFlags)> = traps
        .iter()
        .map(|l| match l.local_addr().unwrap() {
            SocketAddr::V4(a) => (a, PexFlags::default()),
            SocketAddr::V6(_) => unreachable!(),
        })
        .collect();
    for i in 0..(10_000 - 100) {
        let ip = std::net::Ipv4Addr::new(127, 0, 2 + (i / 250) as u8, 1 + (i % 250) as u8);
        added.push((SocketAddrV4::new(ip, 9), PexFlags::default()));
    }
    let mut pex = PexMessage::default();
    pex.added = added;
    let mut payload = BytesMut::new();
    pex.encode_payload(&mut payload);

    let before = rss_kib();
    let mut raw = Raw::dial(leech.listen_addrs()[0], info_hash);
    raw.send_ext_handshake(UT_PEX, None);
    // Wait for the client's extended handshake: its `ut_pex` id.
    let their_id = loop {
        let (ext, _) = raw
            .next_ext()
            .expect("client closed before its extended handshake");
        if ext == 0 {
            break raw.theirs.as_ref().and_then(|h| h.extension_id(UT_PEX));
        }
    };
    let their_id = their_id.expect("client offers ut_pex on a public torrent");
    raw.send_ext(their_id, &payload).unwrap();

    // Count which traps the client dials: exactly the first 50.
    let mut hit = BTreeSet::new();
    let deadline = Instant::now() + WAIT;
    let mut settle: Option<Instant> = None;
    loop {
        for (i, l) in traps.iter().enumerate() {
            while let Ok((s, _)) = l.accept() {
                drop(s);
                hit.insert(i);
            }
        }
        if hit.len() >= 50 && settle.is_none() {
            // Keep watching a little longer for any dial beyond the first 50.
            settle = Some(Instant::now() + Duration::from_secs(3));
        }
        if settle.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {} traps dialled: {hit:?}",
            hit.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let grown = rss_kib().saturating_sub(before);
    eprintln!(
        "pex-flood: {} of 100 listed listeners dialled; test process RSS grew {grown} KiB",
        hit.len()
    );
    assert_eq!(hit, (0..50).collect::<BTreeSet<_>>());
    assert!(grown < 64 * 1024, "RSS grew {grown} KiB");
    // The PEX sender stays connected (a big message is not a protocol violation) and the
    // download completes from the honest seed.
    leech
        .send(Request::AddPeer {
            id,
            addr: seed.listen_addrs()[0],
        })
        .unwrap();
    wait_complete(&leech, id);
    assert_eq!(tree(&dl), tree(&dir.path().join("src")));
    drop(raw);
    leech.join();
    seed.join();
}

/// Not hostile, but needs the raw peer: a magnet names only a peer that has no metadata and
/// offers peer exchange; it names the seed in a `ut_pex` message, and the client fetches the
/// metadata from the seed and downloads.
#[test]
fn a_magnet_finds_the_seed_through_pex_from_a_peer_without_metadata() {
    let (seed, bytes, dir) = seed("via-pex");
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    let info_hash = meta.info_hashes.v1.unwrap();
    let seed_addr = match seed.listen_addrs()[0] {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => unreachable!("listening on 127.0.0.1"),
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut magnet = meta.magnet();
    magnet.peers = vec![listener.local_addr().unwrap().to_string()];
    let raw = std::thread::spawn(move || {
        let mut raw = Raw::accept(&listener, info_hash);
        raw.send_ext_handshake(UT_PEX, None);
        let their_id = loop {
            let (ext, _) = raw
                .next_ext()
                .expect("client closed before its extended handshake");
            if ext == 0 {
                break raw.theirs.as_ref().and_then(|h| h.extension_id(UT_PEX));
            }
        };
        let their_id = their_id.expect("a magnet fetch offers ut_pex");
        let mut pex = PexMessage::default();
        pex.added = vec![(seed_addr, PexFlags::UPLOAD_ONLY)];
        let mut payload = BytesMut::new();
        pex.encode_payload(&mut payload);
        raw.send_ext(their_id, &payload).unwrap();
        // The client keeps this connection (a source of peers) until the metadata is in.
        raw.wait_closed()
    });
    let leech = client(TICK);
    let dl = dir.path().join("dl");
    add_magnet(&leech, &magnet.to_uri(), &dl);
    let id = wait_added(&leech);
    wait_for(
        &leech,
        "metadata",
        |e| matches!(e, Event::MetadataReceived { id: i, .. } if *i == id),
    );
    wait_complete(&leech, id);
    assert_eq!(tree(&dl), tree(&dir.path().join("src")));
    leech.join();
    assert_eq!(raw.join().unwrap(), End::Closed);
    seed.join();
}

/// A private torrent (BEP 27) offers neither `ut_pex` nor `ut_metadata`, and a `ut_pex`
/// message sent anyway (under the id public torrents use) is not acted on.
#[test]
fn a_private_torrent_neither_offers_nor_uses_peer_exchange() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("p.bin"), component_util::sample_bytes(100_000, 3)).unwrap();
    let bytes = freshet_metainfo::TorrentBuilder::new(src.join("p.bin"))
        .piece_length(16384)
        .private(true)
        .no_creation_date()
        .build()
        .unwrap()
        .bytes;
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    assert!(meta.info.private);
    let leech = client(TICK);
    add(&leech, 1, &bytes, &dir.path().join("dl"), &[]);
    wait_added(&leech);
    wait_for(&leech, "checked", |e| matches!(e, Event::Checked { .. }));

    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let SocketAddr::V4(trap_addr) = trap.local_addr().unwrap() else {
        unreachable!("bound on 127.0.0.1")
    };
    let mut raw = Raw::dial(leech.listen_addrs()[0], meta.info_hashes.v1.unwrap());
    raw.send_ext_handshake(UT_PEX, None);
    let theirs = loop {
        let (ext, _) = raw
            .next_ext()
            .expect("client closed before its extended handshake");
        if ext == 0 {
            break raw.theirs.clone().expect("a decodable extended handshake");
        }
    };
    assert_eq!(theirs.extension_id(UT_PEX), None, "{theirs:?}");
    assert_eq!(theirs.extension_id(UT_METADATA), None, "{theirs:?}");
    let mut pex = PexMessage::default();
    pex.added = vec![(trap_addr, PexFlags::default())];
    let mut payload = BytesMut::new();
    pex.encode_payload(&mut payload);
    for id in 1..=3 {
        raw.send_ext(id, &payload).unwrap();
    }
    // Dials happen on the once-a-second housekeeping: three of them go by.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        trap.accept().is_err(),
        "a private torrent dialled a PEX peer"
    );
    drop(raw);
    leech.join();
}
