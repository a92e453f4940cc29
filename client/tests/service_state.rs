//! Session persistence: a client with a state directory restores its torrents on restart;
//! completed ones seed without a recheck, incomplete ones carry on; closing removes state.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use component_util::{add, client, make_torrent, tree, wait_added, wait_complete, wait_for};
use freshet_client::{ClientHandle, Config, DataOnClose, Event, Request, TorrentClient, TorrentId};

const TICK: Duration = Duration::from_millis(200);

fn stateful(state: &Path, max_down: u64) -> ClientHandle {
    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(TICK)
        .with_state_dir(state);
    config.max_download_rate = max_down;
    TorrentClient::spawn(config).unwrap()
}

/// The torrents' files in the state directory (the DHT's routing table, `dht.state`, left out).
fn state_files(state: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .filter(|n| n != "dht.state")
        .collect();
    v.sort();
    v
}

#[test]
fn restart_restores_torrents_complete_seed_without_recheck_incomplete_resume() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let big = make_torrent(&src, "big.bin", &[("", 3 * 1024 * 1024)], 32768, false);
    let small = make_torrent(
        &src,
        "small",
        &[("x.bin", 150_000), ("y.bin", 3)],
        16384,
        false,
    );
    let seed = client(TICK);
    add(&seed, 1, &big, &src, &[]);
    let b = wait_added(&seed);
    wait_complete(&seed, b);
    add(&seed, 2, &small, &src, &[]);
    let s = wait_added(&seed);
    wait_complete(&seed, s);
    let seed_addr = seed.listen_addrs()[0];

    // First run: the small torrent completes, the big one is cut short by a slow limit.
    let state = dir.path().join("state");
    let dl = dir.path().join("dl");
    let c = stateful(&state, 256 * 1024);
    add(&c, 1, &small, &dl, &[seed_addr]);
    let small_id = wait_added(&c);
    wait_complete(&c, small_id);
    add(&c, 2, &big, &dl, &[seed_addr]);
    let big_id = wait_added(&c);
    wait_for(
        &c,
        "partial progress",
        |e| matches!(e, Event::Status(st) if st.id == big_id && st.have_bytes >= 256 * 1024),
    );
    c.join();
    assert_eq!(state_files(&state).len(), 6, "{:?}", state_files(&state));

    // Prove the restart does not recheck: change the small torrent's data behind the
    // client's back, keeping size and mtime; resume data is trusted, so it stays complete.
    let x = dl.join("small/x.bin");
    let mtime = std::fs::metadata(&x).unwrap().modified().unwrap();
    std::fs::write(&x, vec![0u8; 150_000]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&x)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    // Second run: no add requests; both torrents come back with added events.
    let c = stateful(&state, 0);
    let mut ids: HashMap<String, TorrentId> = HashMap::new();
    for _ in 0..2 {
        match wait_for(&c, "restored add", |e| {
            matches!(e, Event::TorrentAdded { .. })
        }) {
            Event::TorrentAdded {
                request_id: None,
                id,
                name,
                save_path,
                ..
            } => {
                assert_eq!(save_path, std::path::absolute(&dl).unwrap().join(&name));
                ids.insert(name, id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let (small_id, big_id) = (ids["small"], ids["big.bin"]);
    let mut checked = HashMap::new();
    while checked.len() < 2 {
        if let Event::Checked {
            id,
            have_bytes,
            complete,
        } = wait_for(&c, "checked", |e| matches!(e, Event::Checked { .. }))
        {
            checked.insert(id, (have_bytes, complete));
        }
    }
    assert_eq!(
        checked[&small_id],
        (150_003, true),
        "seeds without a recheck"
    );
    let (have, complete) = checked[&big_id];
    assert!(!complete && have >= 256 * 1024, "resumed at {have} bytes");

    c.send(Request::AddPeer {
        id: big_id,
        addr: seed_addr,
    })
    .unwrap();
    wait_complete(&c, big_id);
    assert_eq!(
        std::fs::read(dl.join("big.bin")).unwrap(),
        std::fs::read(src.join("big.bin")).unwrap()
    );

    // Closing removes that torrent's state only.
    c.send(Request::CloseTorrent {
        id: big_id,
        data: DataOnClose::Keep,
    })
    .unwrap();
    wait_for(
        &c,
        "closed",
        |e| matches!(e, Event::Closed { id } if *id == big_id),
    );
    let left = state_files(&state);
    assert_eq!(left.len(), 3, "{left:?}");
    assert!(
        left.iter().all(|f| !f.starts_with(&big_hex(&big))),
        "{left:?}"
    );
    c.join();
    assert!(!tree(&dl).is_empty());
}

fn big_hex(bytes: &[u8]) -> String {
    freshet_metainfo::Metainfo::from_bytes(bytes)
        .unwrap()
        .info_hashes
        .v1
        .unwrap()
        .to_hex()
}

/// The `settings` object of a torrent's options file.
fn saved_settings(state: &Path, hex: &str) -> serde_json::Value {
    let bytes = std::fs::read(state.join(format!("{hex}.options.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["settings"].clone()
}

/// Waits (bounded) until the options file holds `want`: the file is written right after the
/// reply to a request is sent.
fn assert_saved(state: &Path, hex: &str, want: &serde_json::Value, when: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = saved_settings(state, hex);
        if got == *want {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{when}: saved {got}, want {want}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the status answering a service request on `id`.
fn answered(c: &ClientHandle, id: TorrentId) -> freshet_client::TorrentStatus {
    match wait_for(
        c,
        "status reply",
        |e| matches!(e, Event::Status(s) if s.id == id && !s.files.is_empty()),
    ) {
        Event::Status(s) => s,
        _ => unreachable!(),
    }
}

#[test]
fn settings_survive_a_recheck_and_a_restart() {
    use freshet_client::FilePriority;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "multi",
        &[("a.bin", 100_000), ("b.bin", 100_000)],
        16384,
        false,
    );
    let hex = big_hex(&bytes);
    let state = dir.path().join("state");
    let dl = dir.path().join("dl");
    let c = stateful(&state, 0);
    // No peers: the torrent stays incomplete; only its settings matter here.
    add(&c, 1, &bytes, &dl, &[]);
    let id = wait_added(&c);
    let requests = [
        Request::SetFilePriorities {
            id,
            priorities: vec![FilePriority::Skip, FilePriority::High],
        },
        Request::SetSequential {
            id,
            sequential: true,
        },
        Request::SetRateLimits {
            id: Some(id),
            down: 100_000,
            up: 50_000,
        },
        Request::SetSeedLimits {
            id,
            ratio: Some(2.0),
            time: Some(Duration::from_secs(3600)),
        },
        Request::SetConnectionLimits {
            id: Some(id),
            max: 7,
        },
    ];
    for r in requests {
        c.send(r).unwrap();
        answered(&c, id);
    }
    let expected = serde_json::json!({
        "priorities": [0, 3], "sequential": true, "rate_down": 100_000, "rate_up": 50_000,
        "seed_ratio": 2.0, "seed_time_secs": 3600, "max_connections": 7,
    });
    assert_saved(&state, &hex, &expected, "after the requests");

    // A recheck reopens the torrent; the file is written again from the reopened torrent.
    c.send(Request::Recheck { id }).unwrap();
    wait_for(
        &c,
        "checked",
        |e| matches!(e, Event::Checked { id: i, .. } if *i == id),
    );
    assert_saved(&state, &hex, &expected, "after recheck");
    c.send(Request::Details { id }).unwrap();
    let prios: Vec<FilePriority> = answered(&c, id).files.iter().map(|f| f.priority).collect();
    assert_eq!(prios, vec![FilePriority::Skip, FilePriority::High]);
    c.join();

    // Restart: every setting is applied to the restored torrent. Changing one setting
    // rewrites the file from the live state, so the others show what was applied.
    let c = stateful(&state, 0);
    let id = wait_added(&c);
    c.send(Request::SetSequential {
        id,
        sequential: false,
    })
    .unwrap();
    let s = answered(&c, id);
    let prios: Vec<FilePriority> = s.files.iter().map(|f| f.priority).collect();
    assert_eq!(prios, vec![FilePriority::Skip, FilePriority::High]);
    let mut after = expected.clone();
    after["sequential"] = false.into();
    assert_saved(&state, &hex, &after, "after restart");
    c.join();
}
