//! `freshet show MAGNET --fetch [--save FILE] [--peer IP:PORT]… [--timeout S] [--json]`,
//! run against the built binary with a Freshet seeder on 127.0.0.1.

mod component_util;

use std::process::{Command, Output};
use std::time::Duration;

use component_util::{add, client, make_torrent, wait_added, wait_complete};
use freshet_metainfo::Metainfo;
use serde_json::Value;

fn freshet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn show_fetch_prints_and_saves_the_metainfo_fetched_from_a_freshet_seeder() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "fetched",
        &[("a.bin", 30_000_000), ("b/c.txt", 5)],
        16384,
        false,
    );
    let original = Metainfo::from_bytes(&bytes).unwrap();
    // 30 MB in 16 KiB pieces: 1832 piece hashes, so the info dictionary spans three 16 KiB
    // metadata pieces.
    assert!(original.info_bytes.len() > 2 * 16384);
    let seed = client(Duration::from_millis(200));
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    let peer = seed.listen_addrs()[0].to_string();
    let mut magnet = original.magnet();
    magnet.trackers = vec!["http://127.0.0.1:9/announce".into()];
    let uri = magnet.to_uri();

    // --peer, --save, --json.
    let saved = dir.path().join("out.torrent");
    let o = freshet(&[
        "show",
        &uri,
        "--fetch",
        "--offline",
        "--peer",
        &peer,
        "--save",
        saved.to_str().unwrap(),
        "--json",
        "--timeout",
        "30",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "fetched");
    assert_eq!(v["piece_count"], original.info.piece_count);
    assert_eq!(v["files"].as_array().unwrap().len(), 2);
    assert_eq!(v["info_hash"], original.info_hashes.v1.unwrap().to_hex());
    let written = Metainfo::from_bytes(&std::fs::read(&saved).unwrap()).unwrap();
    assert_eq!(
        written.info_bytes, original.info_bytes,
        "info bytes verbatim"
    );
    assert_eq!(written.info_hashes, original.info_hashes);
    assert_eq!(
        written.trackers,
        vec![vec!["http://127.0.0.1:9/announce".to_owned()]],
        "the magnet's trackers"
    );

    // The peer given in the link (x.pe), text output like `show FILE`.
    magnet.peers = vec![peer];
    magnet.trackers.clear();
    let o = freshet(&[
        "show",
        &magnet.to_uri(),
        "--fetch",
        "--offline",
        "--timeout",
        "30",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("Name: fetched\n"), "{text}");
    assert!(text.contains("  fetched/a.bin (28.61 MiB)"), "{text}");
    assert!(text.contains("  fetched/b/c.txt (5 B)"), "{text}");
    assert!(
        text.contains(&format!("  Piece Count: {}", original.info.piece_count)),
        "{text}"
    );
    seed.join();
}

#[test]
fn show_fetch_exits_1_on_timeout_and_2_on_a_bad_magnet() {
    // A port nothing listens on (bound then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let uri = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567";
    let peer = format!("127.0.0.1:{port}");
    let o = freshet(&[
        "show",
        uri,
        "--fetch",
        "--offline",
        "--peer",
        &peer,
        "--timeout",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("no metadata within 1 s"),
        "{}",
        stderr(&o)
    );
    assert!(o.stdout.is_empty());

    let o = freshet(&["show", "magnet:?xt=urn:btih:nothex", "--fetch"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("invalid magnet link"), "{}", stderr(&o));
}
