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

fn state_files(state: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
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
