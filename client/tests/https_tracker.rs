//! `https://` trackers and `.torrent` URLs, against a TLS server on 127.0.0.1 whose CA is made
//! here with `rcgen` and trusted through `Config::trust_root_cert`.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use component_util::{add, make_torrent_with, tree, wait_added, wait_complete, wait_for};
use freshet_client::{
    AddOptions, ClientHandle, Config, Event, Request, RequestId, TorrentClient, TorrentSource,
    TrackerState,
};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const TICK: Duration = Duration::from_millis(100);

/// A CA certificate (DER) and a server config whose leaf, for 127.0.0.1, it signed.
fn tls_setup() -> (Vec<u8>, Arc<rustls::ServerConfig>) {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone(), ca.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    (ca.der().to_vec(), Arc::new(config))
}

/// What the test server serves.
struct Site {
    torrent: Vec<u8>,
    /// The compact peer list in every announce reply.
    peers: Vec<u8>,
}

/// An HTTPS server on 127.0.0.1 answering a bounded number of requests; each request path
/// (with query) is reported on the returned channel.
fn serve(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    site: Site,
) -> (SocketAddr, mpsc::Receiver<String>) {
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(stream) = stream else { continue };
            let config = Arc::clone(&config);
            let tx = tx.clone();
            let torrent = site.torrent.clone();
            let peers = site.peers.clone();
            std::thread::spawn(move || {
                let _ = handle(stream, config, &torrent, &peers, &tx);
            });
        }
    });
    (addr, rx)
}

fn handle(
    stream: TcpStream,
    config: Arc<rustls::ServerConfig>,
    torrent: &[u8],
    peers: &[u8],
    tx: &mpsc::Sender<String>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, stream);
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || tls.read(&mut byte)? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head);
    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
    let _ = tx.send(path.clone());
    let (status, extra, body): (&str, String, Vec<u8>) = if path == "/file.torrent" {
        ("200 OK", String::new(), torrent.to_vec())
    } else if path == "/gz.torrent" {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(torrent)?;
        ("200 OK", "Content-Encoding: gzip\r\n".into(), gz.finish()?)
    } else if path == "/huge.torrent" {
        // One byte over the client's 10 MB `.torrent` limit.
        ("200 OK", String::new(), vec![b'd'; 10_000_001])
    } else if path == "/moved" {
        (
            "302 Found",
            "Location: /file.torrent\r\n".into(),
            Vec::new(),
        )
    } else if path == "/loop" {
        ("302 Found", "Location: /loop\r\n".into(), Vec::new())
    } else if path.starts_with("/announce?") {
        let mut b = format!("d8:intervali60e5:peers{}:", peers.len()).into_bytes();
        b.extend_from_slice(peers);
        b.push(b'e');
        ("200 OK", String::new(), b)
    } else {
        ("404 Not Found", String::new(), Vec::new())
    };
    let mut reply = format!(
        "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(&body);
    tls.write_all(&reply)?;
    tls.flush()?;
    tls.conn.send_close_notify();
    tls.flush()?;
    Ok(())
}

fn compact(addr: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(a) = addr else {
        panic!("IPv4 expected")
    };
    let mut v = a.ip().octets().to_vec();
    v.extend_from_slice(&a.port().to_be_bytes());
    v
}

fn client_trusting(ca: &[u8]) -> ClientHandle {
    TorrentClient::spawn(
        Config::default()
            .listen_on("127.0.0.1:0".parse().unwrap())
            .with_tick(TICK)
            .trust_root_cert(ca.to_vec()),
    )
    .unwrap()
}

fn add_url(c: &ClientHandle, url: String, dir: &std::path::Path) {
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(9)),
        source: TorrentSource::Url(url),
        options: AddOptions::save_to(dir),
    })
    .unwrap();
}

/// A leecher fetches the `.torrent` over https (through a redirect), announces to an https
/// tracker, gets the seeder's address from it and downloads the data.
#[test]
fn torrent_url_and_announce_over_https() {
    let (ca, server_config) = tls_setup();
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let seed = client_trusting(&ca);
    let seed_addr = seed.listen_addrs()[0];
    // The tracker URL goes into the torrent, which the server then serves: bind first.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bytes = make_torrent_with(
        &src,
        "secure",
        &[("a.bin", 300_000), ("b.bin", 777)],
        32768,
        false,
        &[format!("https://127.0.0.1:{port}/announce")],
    );
    let (addr, seen) = serve(
        listener,
        server_config,
        Site {
            torrent: bytes.clone(),
            peers: compact(seed_addr),
        },
    );
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);

    let leech = client_trusting(&ca);
    let dl = dir.path().join("dl");
    add_url(&leech, format!("https://{addr}/moved"), &dl);
    let lid = wait_added(&leech);
    // Both, in either order: peers named by the tracker are dialled at once, so a small
    // download can complete before the next status tick reports the tracker working.
    let (mut working, mut complete) = (false, false);
    wait_for(&leech, "https tracker working and download complete", |e| {
        match e {
            Event::Status(s) if s.id == lid && s.tracker == TrackerState::Working => {
                working = true;
            }
            Event::Completed { id } if *id == lid => complete = true,
            Event::Error { id, what, .. } if *id == lid => panic!("torrent error: {what}"),
            _ => {}
        }
        working && complete
    });
    assert_eq!(tree(&src), tree(&dl));
    let paths: Vec<String> = seen.try_iter().collect();
    assert!(paths.iter().any(|p| p == "/moved"), "{paths:?}");
    assert!(paths.iter().any(|p| p == "/file.torrent"), "{paths:?}");
    assert!(
        paths
            .iter()
            .any(|p| p.starts_with("/announce?") && p.contains("event=started")),
        "{paths:?}"
    );
    leech.shutdown().unwrap();
    seed.shutdown().unwrap();
    leech.join();
    seed.join();
}

/// Without the CA the same URL fails verification: the add is answered with `StartFailed`.
#[test]
fn untrusted_certificate_is_refused() {
    let (_ca, server_config) = tls_setup();
    let (addr, seen) = serve(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        server_config,
        Site {
            torrent: b"unused".to_vec(),
            peers: Vec::new(),
        },
    );
    let c = TorrentClient::spawn(
        Config::default()
            .listen_on("127.0.0.1:0".parse().unwrap())
            .with_tick(TICK),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    add_url(&c, format!("https://{addr}/file.torrent"), dir.path());
    let e = wait_for(&c, "add reply", |e| {
        matches!(e, Event::StartFailed { .. } | Event::TorrentAdded { .. })
    });
    let Event::StartFailed { reason, .. } = e else {
        panic!("added despite an untrusted certificate: {e}")
    };
    assert!(reason.contains("https://127.0.0.1"), "{reason}");
    // The handshake failed before any request was sent.
    assert!(seen.try_iter().next().is_none());
    c.shutdown().unwrap();
    c.join();
}

/// A redirect loop is cut off after a few hops with a clear error.
#[test]
fn redirect_loop_is_bounded() {
    let (ca, server_config) = tls_setup();
    let (addr, seen) = serve(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        server_config,
        Site {
            torrent: Vec::new(),
            peers: Vec::new(),
        },
    );
    let c = client_trusting(&ca);
    let dir = tempfile::tempdir().unwrap();
    add_url(&c, format!("https://{addr}/loop"), dir.path());
    let e = wait_for(&c, "add reply", |e| {
        matches!(e, Event::StartFailed { .. } | Event::TorrentAdded { .. })
    });
    let Event::StartFailed { reason, .. } = e else {
        panic!("a redirect loop was added: {e}")
    };
    assert!(reason.contains("redirects"), "{reason}");
    let hops = seen.try_iter().filter(|p| p == "/loop").count();
    assert!((2..=5).contains(&hops), "{hops} requests");
    c.shutdown().unwrap();
    c.join();
}

/// A gzip-encoded `.torrent` is decoded; one over the size limit is refused.
#[test]
fn gzip_is_decoded_and_oversized_bodies_are_refused() {
    let (ca, server_config) = tls_setup();
    let dir = tempfile::tempdir().unwrap();
    let bytes = make_torrent_with(
        &dir.path().join("src"),
        "zipped",
        &[("", 5000)],
        16384,
        false,
        &[],
    );
    let (addr, _seen) = serve(
        TcpListener::bind("127.0.0.1:0").unwrap(),
        server_config,
        Site {
            torrent: bytes,
            peers: Vec::new(),
        },
    );
    let c = client_trusting(&ca);
    add_url(
        &c,
        format!("https://{addr}/gz.torrent"),
        &dir.path().join("dl"),
    );
    let e = wait_for(&c, "add reply", |e| {
        matches!(e, Event::StartFailed { .. } | Event::TorrentAdded { .. })
    });
    let Event::TorrentAdded { name, .. } = e else {
        panic!("gzip torrent not added: {e}")
    };
    assert_eq!(name, "zipped");
    add_url(
        &c,
        format!("https://{addr}/huge.torrent"),
        &dir.path().join("dl2"),
    );
    let e = wait_for(&c, "add reply", |e| {
        matches!(e, Event::StartFailed { .. } | Event::TorrentAdded { .. })
    });
    let Event::StartFailed { reason, .. } = e else {
        panic!("oversized torrent added: {e}")
    };
    assert!(reason.contains("larger than"), "{reason}");
    c.shutdown().unwrap();
    c.join();
}
