//! Shutdown in the middle of a download, then resume: verified pieces are not fetched again.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::time::Duration;

use component_util::{add, client, make_torrent, tree, wait_added, wait_complete, wait_for};
use freshet_client::Event;

const TICK: Duration = Duration::from_millis(100);
const PIECE: u64 = 32768;
const LEN: usize = 64 * PIECE as usize;
const HALF: u64 = LEN as u64 / 2;

#[test]
fn shutdown_mid_download_then_resume_fetches_only_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let bytes = make_torrent(&full, "data.bin", &[("", LEN)], PIECE, false);
    // A partial seed: the second half of its copy is zeros, so its check finds half the
    // pieces and the leecher stalls at exactly 50%.
    let partial = dir.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    let mut data = std::fs::read(full.join("data.bin")).unwrap();
    data[LEN / 2..].fill(0);
    std::fs::write(partial.join("data.bin"), &data).unwrap();
    let half_seed = client(TICK);
    add(&half_seed, 1, &bytes, &partial, &[]);
    wait_added(&half_seed);
    let checked = wait_for(&half_seed, "checked", |e| {
        matches!(e, Event::Checked { .. })
    });
    assert!(
        matches!(checked, Event::Checked { have_bytes, complete: false, .. } if have_bytes == HALF)
    );

    let dl = dir.path().join("dl");
    let leech = client(TICK);
    add(&leech, 1, &bytes, &dl, &[half_seed.listen_addrs()[0]]);
    let id = wait_added(&leech);
    wait_for(
        &leech,
        "half done",
        |e| matches!(e, Event::Status(s) if s.id == id && s.have_bytes == HALF),
    );
    leech.shutdown().unwrap();
    leech
        .signal()
        .recv_timeout(component_util::WAIT)
        .expect("shutdown signal");
    drop(leech);
    half_seed.join();
    assert!(dl.join(".freshet").read_dir().unwrap().count() == 1);

    // Restart with a full seed: the resumed half is trusted, only the rest is downloaded.
    let seed = client(TICK);
    add(&seed, 1, &bytes, &full, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    let leech = client(TICK);
    add(&leech, 1, &bytes, &dl, &[seed.listen_addrs()[0]]);
    let id = wait_added(&leech);
    let checked = wait_for(&leech, "checked", |e| matches!(e, Event::Checked { .. }));
    assert_eq!(
        checked,
        Event::Checked {
            id,
            have_bytes: HALF,
            complete: false
        }
    );
    wait_complete(&leech, id);
    leech
        .send(freshet_client::Request::Status { id: Some(id) })
        .unwrap();
    let Event::Status(s) = wait_for(&leech, "status", |e| matches!(e, Event::Status(_))) else {
        unreachable!()
    };
    assert_eq!(s.have_bytes, LEN as u64);
    // Only the missing half came over the wire this session (duplicates in endgame aside).
    assert!(
        s.downloaded >= HALF && s.downloaded < HALF + 8 * PIECE,
        "downloaded {} bytes",
        s.downloaded
    );
    assert_eq!(
        tree(&dl).into_iter().map(|(_, b)| b).collect::<Vec<_>>(),
        vec![std::fs::read(full.join("data.bin")).unwrap()]
    );
    leech.join();
    seed.join();
}

#[test]
fn resume_data_is_written_periodically_while_running() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    let bytes = make_torrent(&full, "data.bin", &[("", LEN)], PIECE, false);
    let partial = dir.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    let mut data = std::fs::read(full.join("data.bin")).unwrap();
    data[LEN / 2..].fill(0);
    std::fs::write(partial.join("data.bin"), &data).unwrap();
    let half_seed = client(TICK);
    add(&half_seed, 1, &bytes, &partial, &[]);
    wait_added(&half_seed);
    wait_for(&half_seed, "checked", |e| {
        matches!(e, Event::Checked { .. })
    });

    let resume_dir = dir.path().join("state");
    let mut config = freshet_client::Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(TICK)
        .with_resume_dir(&resume_dir);
    config.resume_interval = Duration::from_millis(200);
    let leech = freshet_client::TorrentClient::spawn(config).unwrap();
    let dl = dir.path().join("dl");
    add(&leech, 1, &bytes, &dl, &[half_seed.listen_addrs()[0]]);
    let id = wait_added(&leech);
    wait_for(
        &leech,
        "half done",
        |e| matches!(e, Event::Status(s) if s.id == id && s.have_bytes == HALF),
    );
    // Without any shutdown, the periodic save catches up with the 32 verified pieces.
    let deadline = std::time::Instant::now() + component_util::WAIT;
    let pieces = loop {
        let record = std::fs::read_dir(&resume_dir)
            .ok()
            .and_then(|mut d| d.next())
            .and_then(|e| std::fs::read(e.ok()?.path()).ok())
            .and_then(|b| freshet_engine::ResumeRecord::decode(&b).ok());
        if let Some(r) = record
            && r.pieces.count() == 32
        {
            break r.pieces.count();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no periodic resume data"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(pieces, 32);
    assert!(!dl.join(".freshet").exists(), "resume_dir is honoured");
    leech.join();
    half_seed.join();
}
