//! Service requests on a running torrent: pause/resume, file priorities, sequential order, and
//! the detailed status (per-file progress, peer list with client names).
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::time::Duration;

use component_util::{add, client, make_torrent, wait_added, wait_complete, wait_for};
use freshet_client::{Activity, Event, FilePriority, Request, TorrentId, TorrentStatus};

const TICK: Duration = Duration::from_millis(200);

fn details(c: &freshet_client::ClientHandle, id: TorrentId) -> TorrentStatus {
    c.send(Request::Details { id }).unwrap();
    match wait_for(
        c,
        "details",
        |e| matches!(e, Event::Status(s) if s.id == id && !s.files.is_empty()),
    ) {
        Event::Status(s) => s,
        _ => unreachable!(),
    }
}

#[test]
fn pause_priorities_sequential_resume_and_details() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "three",
        &[("a.bin", 200_000), ("b.bin", 300_000), ("c.bin", 100_000)],
        16384,
        true,
    );
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);

    let dl = dir.path().join("dl");
    let leech = client(TICK);
    add(&leech, 1, &bytes, &dl, &[seed.listen_addrs()[0]]);
    let id = wait_added(&leech);
    // Paused before any transfer; skip the middle file; stream the rest.
    leech.send(Request::Pause { id }).unwrap();
    leech
        .send(Request::SetFilePriorities {
            id,
            priorities: vec![FilePriority::Normal, FilePriority::Skip],
        })
        .unwrap();
    leech
        .send(Request::SetSequential {
            id,
            sequential: true,
        })
        .unwrap();
    // Too many priorities: an error naming the request.
    leech
        .send(Request::SetFilePriorities {
            id,
            priorities: vec![FilePriority::Normal; 4],
        })
        .unwrap();
    wait_for(&leech, "priority error", |e| {
        matches!(e, Event::Error { location, what, .. }
            if location == "set file priorities" && what.contains("3 files"))
    });
    let s = details(&leech, id);
    assert_eq!(s.activity, Activity::Paused);
    assert_eq!(s.to_string(), format!("Torrent {id} status : 0%"));
    let names: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        names,
        ["three/a.bin", "three/b.bin", "three/c.bin"],
        "padding files left out"
    );
    assert_eq!(s.files[1].priority, FilePriority::Skip);
    assert_eq!(s.files[0].length, 200_000);

    leech.send(Request::Resume { id }).unwrap();
    wait_complete(&leech, id);
    let s = details(&leech, id);
    assert_eq!(s.activity, Activity::Seeding);
    assert_eq!(s.files[0].have_bytes, 200_000);
    assert_eq!(s.files[2].have_bytes, 100_000);
    assert!(
        s.files[1].have_bytes < 300_000,
        "skipped file not downloaded"
    );
    assert_eq!(s.wanted_bytes, s.have_bytes);
    // The seed is in the peer list, named from its peer id.
    assert_eq!(s.peer_list.len(), 1, "{:?}", s.peer_list);
    let p = &s.peer_list[0];
    assert!(p.addr.is_some());
    assert_eq!(p.client.as_deref(), Some("Freshet 0.1.0.0"));
    assert!(p.pieces > 0, "the seed has every piece");
    assert!(!p.peer_interested, "a seed wants nothing from us");
    assert_eq!(
        std::fs::read(dl.join("three/a.bin")).unwrap(),
        std::fs::read(src.join("three/a.bin")).unwrap()
    );

    // Unknown torrents get an error naming the request.
    leech.send(Request::Pause { id: TorrentId(99) }).unwrap();
    wait_for(
        &leech,
        "unknown id error",
        |e| matches!(e, Event::Error { id: TorrentId(99), location, .. } if location == "pause"),
    );
    leech.join();
    seed.join();
}

#[test]
fn recheck_finds_damage_and_then_the_repair() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "r.bin", &[("", 100_000)], 16384, false);
    let c = client(TICK);
    add(&c, 1, &bytes, &src, &[]);
    let id = wait_added(&c);
    wait_complete(&c, id);
    let file = src.join("r.bin");
    let good = std::fs::read(&file).unwrap();
    let mut bad = good.clone();
    bad[20_000] ^= 0xff; // second piece
    std::fs::write(&file, &bad).unwrap();

    let checked = |c: &freshet_client::ClientHandle| match wait_for(
        c,
        "checked",
        |e| matches!(e, Event::Checked { id: i, .. } if *i == id),
    ) {
        Event::Checked {
            have_bytes,
            complete,
            ..
        } => (have_bytes, complete),
        _ => unreachable!(),
    };
    c.send(Request::Recheck { id }).unwrap();
    assert_eq!(checked(&c), (100_000 - 16384, false));
    std::fs::write(&file, &good).unwrap();
    c.send(Request::Recheck { id }).unwrap();
    assert_eq!(checked(&c), (100_000, true));
    c.send(Request::Recheck { id: TorrentId(42) }).unwrap();
    wait_for(
        &c,
        "unknown id error",
        |e| matches!(e, Event::Error { location, .. } if location == "recheck"),
    );
    c.join();
}

#[test]
fn seed_ratio_and_time_limits_pause_the_torrent_with_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "s.bin", &[("", 200_000)], 16384, false);
    let other = make_torrent(&src, "t.bin", &[("", 20_000)], 16384, false);
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    seed.send(Request::SetSeedLimits {
        id: sid,
        ratio: Some(1.0),
        time: None,
    })
    .unwrap();
    add(&seed, 2, &other, &src, &[]);
    let tid = wait_added(&seed);
    seed.send(Request::SetSeedLimits {
        id: tid,
        ratio: None,
        time: Some(Duration::from_secs(1)),
    })
    .unwrap();

    // The time limit: reached after about a second of seeding, with nobody downloading.
    match wait_for(
        &seed,
        "time limit",
        |e| matches!(e, Event::SeedLimitReached { id, .. } if *id == tid),
    ) {
        Event::SeedLimitReached { seeded_for, .. } => {
            assert!(seeded_for >= Duration::from_secs(1));
        }
        _ => unreachable!(),
    }

    // The ratio limit: reached once one leecher has the whole torrent.
    let leech = client(TICK);
    add(
        &leech,
        1,
        &bytes,
        &dir.path().join("dl"),
        &[seed.listen_addrs()[0]],
    );
    let lid = wait_added(&leech);
    wait_complete(&leech, lid);
    match wait_for(
        &seed,
        "ratio limit",
        |e| matches!(e, Event::SeedLimitReached { id, .. } if *id == sid),
    ) {
        Event::SeedLimitReached { ratio, .. } => assert!(ratio >= 1.0, "{ratio}"),
        _ => unreachable!(),
    }
    let s = details(&seed, sid);
    assert_eq!(s.activity, Activity::Paused);
    leech.join();
    seed.join();
}

#[test]
fn move_storage_moves_the_files_and_keeps_seeding() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "m",
        &[("a.bin", 70_000), ("b/c.bin", 9)],
        16384,
        false,
    );
    let before = component_util::tree(&src);
    let c = client(TICK);
    add(&c, 1, &bytes, &src, &[]);
    let id = wait_added(&c);
    wait_complete(&c, id);
    let to = dir.path().join("elsewhere");
    c.send(Request::MoveStorage { id, to: to.clone() }).unwrap();
    match wait_for(&c, "moved", |e| matches!(e, Event::Moved { .. })) {
        Event::Moved { id: i, save_path } => {
            assert_eq!(i, id);
            assert_eq!(save_path, to.join("m"));
        }
        _ => unreachable!(),
    }
    wait_complete(&c, id);
    assert_eq!(component_util::tree(&to), before);
    assert!(!src.join("m/a.bin").exists());
    assert_eq!(details(&c, id).activity, Activity::Seeding);
    c.join();
}
