//! Interop against real BitTorrent clients on 127.0.0.1: libtorrent 2.0 (python3-libtorrent),
//! aria2 and Transmission seed a torrent we write ourselves; we connect with a plain `TcpStream` and speak
//! only through this crate (handshake, extended handshake, interested, request) and check a
//! whole piece against its SHA-1 from the torrent, plus the metadata over `ut_metadata`.
//!
//! Packages: `python3-libtorrent`, `aria2`, `transmission-cli`. A test is skipped (with a loud `SKIPPED:` line)
//! only when its package is not installed.
// Tests that drive real processes need a wall clock to bound their waits.
#![allow(clippy::disallowed_methods)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use freshet_bencode::DictBuilder;
use freshet_metainfo::InfoHashV1;
use freshet_peerwire::{
    BlockRef, Decoded, ExtendedHandshake, Handshake, Limits, Message, MessageDecoder,
    MetadataMessage, PeerId, PieceIndex, Reserved, UT_METADATA,
};
use sha1::{Digest, Sha1};

const PIECE_LEN: u32 = 32 * 1024;
const FILE_LEN: usize = 80_000; // 3 pieces, the last one short
const BLOCK: u32 = 16 * 1024;
const OUR_UT_METADATA_ID: u8 = 3;

/// Kills and reaps the child process on drop (by its PID, via `Child::kill`).
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct TestTorrent {
    dir: tempfile::TempDir,
    torrent_path: PathBuf,
    info: Vec<u8>,
    info_hash: InfoHashV1,
    data: Vec<u8>,
    hashes: Vec<[u8; 20]>,
}

impl TestTorrent {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Deterministic, non-repeating content.
        let mut x: u32 = 0x1234_5678;
        let data: Vec<u8> = (0..FILE_LEN)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        std::fs::write(dir.path().join("data.bin"), &data).unwrap();
        let hashes: Vec<[u8; 20]> = data
            .chunks(PIECE_LEN as usize)
            .map(|c| Sha1::digest(c).into())
            .collect();
        let info = DictBuilder::new()
            .int(b"length", FILE_LEN as i64)
            .str(b"name", "data.bin")
            .int(b"piece length", i64::from(PIECE_LEN))
            .bytes(b"pieces", &hashes.concat())
            .finish();
        let info_hash = InfoHashV1(Sha1::digest(&info).into());
        let mut torrent = b"d10:created by7:freshet4:info".to_vec();
        torrent.extend_from_slice(&info);
        torrent.push(b'e');
        let torrent_path = dir.path().join("test.torrent");
        std::fs::write(&torrent_path, &torrent).unwrap();
        Self {
            dir,
            torrent_path,
            info,
            info_hash,
            data,
            hashes,
        }
    }

    fn pieces(&self) -> u32 {
        self.hashes.len() as u32
    }

    fn piece_len(&self, p: u32) -> u32 {
        (FILE_LEN as u32 - p * PIECE_LEN).min(PIECE_LEN)
    }
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Connects, retrying while the peer is still starting, until `deadline`.
fn connect(addr: SocketAddr, deadline: Instant) -> TcpStream {
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(s) => return s,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "could not connect to {addr}: {e}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

struct Conn {
    stream: TcpStream,
    buf: BytesMut,
    decoder: MessageDecoder,
    deadline: Instant,
}

impl Conn {
    fn fill(&mut self) {
        assert!(
            Instant::now() < self.deadline,
            "timed out waiting for the peer"
        );
        let mut chunk = [0u8; 64 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!("peer closed the connection"),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("read: {e}"),
        }
    }

    fn handshake(&mut self) -> Handshake {
        loop {
            match Handshake::decode(&self.buf).expect("valid handshake") {
                Decoded::Complete { value, consumed } => {
                    self.buf.advance(consumed);
                    return value;
                }
                Decoded::Incomplete { .. } => self.fill(),
            }
        }
    }

    fn next(&mut self) -> Message {
        loop {
            if let Some(m) = self.decoder.decode(&mut self.buf).expect("valid message") {
                return m;
            }
            self.fill();
        }
    }

    fn send(&mut self, msgs: &[Message]) {
        let mut out = BytesMut::new();
        for m in msgs {
            m.encode(&mut out);
        }
        self.stream.write_all(&out).unwrap();
    }
}

/// What the peer told us, for assertions specific to each client.
struct Report {
    peer_id: PeerId,
    ext: ExtendedHandshake,
    messages_seen: Vec<String>,
}

/// The whole exchange: handshakes, extended handshake, interested → unchoke, request every
/// block of piece 1 (a full-size piece) and of the short last piece, check both SHA-1s; then
/// fetch the metadata with `ut_metadata` when offered and compare it with the info dict.
fn exchange(addr: SocketAddr, t: &TestTorrent, deadline: Instant) -> Report {
    let stream = connect(addr, deadline);
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    let mut conn = Conn {
        stream,
        buf: BytesMut::with_capacity(128 * 1024),
        decoder: MessageDecoder::new(Limits::default().with_piece_count(t.pieces())),
        deadline,
    };
    let ours = Handshake::new(
        Reserved::FAST | Reserved::EXTENSION_PROTOCOL,
        t.info_hash,
        PeerId::azureus(PeerId::FRESHET_PREFIX, *b"interop-test"),
    );
    let mut out = BytesMut::new();
    ours.encode(&mut out);
    conn.stream.write_all(&out).unwrap();

    let theirs = conn.handshake();
    assert_eq!(
        theirs.info_hash, t.info_hash,
        "peer answered for another torrent"
    );
    assert!(
        theirs.reserved.contains(Reserved::EXTENSION_PROTOCOL),
        "peer lacks BEP 10: {:?}",
        theirs.reserved
    );
    println!(
        "peer id {} = {:?}, reserved {:?}",
        theirs.peer_id,
        theirs.peer_id.client(),
        theirs.reserved
    );

    let mut ext = ExtendedHandshake::default();
    ext.extensions
        .insert(UT_METADATA.to_owned(), OUR_UT_METADATA_ID);
    ext.client = Some("Freshet peerwire interop test".to_owned());
    ext.request_queue = Some(250);
    let mut out = BytesMut::new();
    // BEP 6: with the Fast extension on both sides the first message must be a bitfield,
    // have all or have none; we have nothing.
    if theirs
        .reserved
        .common(ours.reserved)
        .contains(Reserved::FAST)
    {
        Message::HaveNone.encode(&mut out);
    } else {
        Message::Bitfield(freshet_peerwire::Bitfield::new(t.pieces())).encode(&mut out);
    }
    ext.encode(&mut out);
    Message::Interested.encode(&mut out);
    conn.stream.write_all(&out).unwrap();

    let mut their_ext = None;
    let mut unchoked = false;
    let mut has_all = false;
    let mut seen = Vec::new();
    while their_ext.is_none() || !unchoked || !has_all {
        let m = conn.next();
        seen.push(m.name().to_owned());
        match m {
            Message::Extended { id: 0, payload } => {
                their_ext =
                    Some(ExtendedHandshake::decode(&payload).expect("their extended handshake"));
            }
            Message::Unchoke => unchoked = true,
            Message::Choke => unchoked = false,
            Message::HaveAll => has_all = true,
            Message::Bitfield(bf) => has_all = bf.is_full(),
            _ => {}
        }
    }
    let their_ext = their_ext.expect("loop ends only with it");
    println!("their extended handshake: {their_ext:?}");

    for p in [1, t.pieces() - 1] {
        let len = t.piece_len(p);
        let requests: Vec<Message> = (0..len.div_ceil(BLOCK))
            .map(|b| {
                Message::Request(BlockRef::new(
                    PieceIndex(p),
                    b * BLOCK,
                    BLOCK.min(len - b * BLOCK),
                ))
            })
            .collect();
        conn.send(&requests);
        let mut piece = vec![0u8; len as usize];
        let mut got = 0;
        while got < requests.len() {
            match conn.next() {
                Message::Piece {
                    piece: PieceIndex(i),
                    offset,
                    data,
                } if i == p => {
                    piece[offset as usize..offset as usize + data.len()].copy_from_slice(&data);
                    got += 1;
                }
                Message::RejectRequest(b) => panic!("peer rejected {b}"),
                Message::Choke => panic!("peer choked us mid-piece"),
                other => seen.push(other.name().to_owned()),
            }
        }
        let digest: [u8; 20] = Sha1::digest(&piece).into();
        assert_eq!(
            digest, t.hashes[p as usize],
            "piece {p} fails its SHA-1 from the torrent"
        );
        let start = (p * PIECE_LEN) as usize;
        assert_eq!(piece, t.data[start..start + len as usize]);
    }

    if let Some(id) = their_ext.extension_id(UT_METADATA) {
        assert_eq!(their_ext.metadata_size, Some(t.info.len() as u32));
        let mut out = BytesMut::new();
        freshet_peerwire::encode_extended(&mut out, id, |o| {
            MetadataMessage::Request { piece: 0 }.encode_payload(o)
        });
        conn.stream.write_all(&out).unwrap();
        loop {
            match conn.next() {
                Message::Extended {
                    id: OUR_UT_METADATA_ID,
                    payload,
                } => {
                    let msg = MetadataMessage::decode(&payload).expect("valid ut_metadata");
                    let Some(MetadataMessage::Data {
                        piece: 0,
                        total_size,
                        data,
                    }) = msg
                    else {
                        panic!("unexpected {msg:?}")
                    };
                    assert_eq!(total_size as usize, t.info.len());
                    assert_eq!(
                        &data[..],
                        &t.info[..],
                        "metadata differs from the info dict"
                    );
                    println!("ut_metadata: got the {total_size}-byte info dict");
                    break;
                }
                other => seen.push(other.name().to_owned()),
            }
        }
    }
    Report {
        peer_id: theirs.peer_id,
        ext: their_ext,
        messages_seen: seen,
    }
}

fn read_ready_line(child: &mut Child, timeout: Duration) -> String {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(timeout)
        .unwrap_or_else(|_| panic!("seeder not ready within {timeout:?}"))
}

#[test]
fn libtorrent_seeder_serves_a_verified_piece() {
    if !installed("python3-libtorrent") {
        println!(
            "SKIPPED: python3-libtorrent is not installed (apt-get install -y python3-libtorrent)"
        );
        return;
    }
    let t = TestTorrent::new();
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/lt_seeder.py");
    let child = Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(port.to_string())
        .arg(&t.torrent_path)
        .arg(t.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start python3");
    let mut guard = ChildGuard(child);
    let line = read_ready_line(&mut guard.0, Duration::from_secs(40));
    assert!(line.starts_with("READY"), "seeder said {line:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = exchange(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), &t, deadline);
    let client = report.peer_id.client().expect("libtorrent peer id");
    assert_eq!(client.name, "libtorrent (Rasterbar)");
    assert!(
        report
            .ext
            .client
            .as_deref()
            .is_some_and(|v| v.starts_with("libtorrent")),
        "{:?}",
        report.ext.client
    );
    assert!(
        report.messages_seen.iter().any(|m| m == "have all"),
        "libtorrent seeds announce have all: {:?}",
        report.messages_seen
    );
}

#[test]
fn aria2_seeder_serves_a_verified_piece() {
    if !installed("aria2") {
        println!("SKIPPED: aria2 is not installed (apt-get install -y aria2)");
        return;
    }
    let t = TestTorrent::new();
    let port = free_port();
    let child = Command::new("aria2c")
        .args([
            "--no-conf=true",
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--disable-ipv6=true",
            "--interface=127.0.0.1",
            "--check-integrity=true",
            "--seed-ratio=0.0",
            "--summary-interval=0",
            "--console-log-level=warn",
        ])
        .arg(format!("--listen-port={port}"))
        .arg(format!("--dir={}", t.dir.path().display()))
        .arg(&t.torrent_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start aria2c");
    let _guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let report = exchange(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), &t, deadline);
    let client = report.peer_id.client().expect("aria2 peer id");
    assert_eq!(client.name, "aria2");
    assert!(
        report
            .ext
            .client
            .as_deref()
            .is_some_and(|v| v.starts_with("aria2")),
        "{:?}",
        report.ext.client
    );
}

/// Transmission never dials loopback peers but accepts incoming connections (PEERS.md), which
/// is all this test needs.
#[test]
fn transmission_seeder_serves_a_verified_piece() {
    if !installed("transmission-cli") {
        println!(
            "SKIPPED: transmission-cli is not installed (apt-get install -y transmission-cli)"
        );
        return;
    }
    let t = TestTorrent::new();
    let port = free_port();
    let config = t.dir.path().join("transmission-config");
    std::fs::create_dir_all(&config).unwrap();
    let settings = format!(
        r#"{{
    "dht-enabled": false,
    "lpd-enabled": false,
    "pex-enabled": false,
    "utp-enabled": false,
    "port-forwarding-enabled": false,
    "bind-address-ipv4": "127.0.0.1",
    "bind-address-ipv6": "::1",
    "peer-port": {port},
    "peer-port-random-on-start": false,
    "encryption": 0,
    "rpc-enabled": false,
    "ratio-limit-enabled": false,
    "speed-limit-up-enabled": false,
    "blocklist-enabled": false,
    "message-level": 1
}}"#
    );
    std::fs::write(config.join("settings.json"), settings).unwrap();
    let child = Command::new("transmission-cli")
        .args([
            "--no-portmap",
            "--encryption-tolerated",
            "--verify",
            "--no-uplimit",
        ])
        .arg("--config-dir")
        .arg(&config)
        .arg("--port")
        .arg(port.to_string())
        .arg("--download-dir")
        .arg(t.dir.path())
        .arg(&t.torrent_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start transmission-cli");
    let _guard = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(90);
    let report = exchange(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), &t, deadline);
    let client = report.peer_id.client().expect("transmission peer id");
    assert_eq!(client.name, "Transmission");
    assert!(
        report
            .ext
            .client
            .as_deref()
            .is_some_and(|v| v.starts_with("Transmission")),
        "{:?}",
        report.ext.client
    );
}
