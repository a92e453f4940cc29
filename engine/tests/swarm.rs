//! Swarm scenarios on the deterministic simulator (see `sim/mod.rs`). Each prints the
//! simulated time to completion (`cargo test -p freshet-engine --test swarm -- --nocapture`).

mod sim;

use std::time::Duration;

use freshet_engine::{Endgame, FilePriority, FileSpec, PickOrder};
use sim::{Role, Sim, make_torrent};

const MIB: u64 = 1024 * 1024;

fn report(name: &str, sim: &Sim, t: Duration) {
    println!(
        "scenario {name}: all done at {:.2}s simulated ({} steps)",
        t.as_secs_f64(),
        sim.steps
    );
}

#[test]
fn one_seed_and_thirty_leechers_all_complete_a_64_mib_torrent() {
    let (g, data) = make_torrent(1, 256 * 1024, vec![FileSpec::new(&["big.bin"], 64 * MIB)]);
    let mut sim = Sim::new(g, data);
    sim.add_node(Role::Seed, 8 * MIB, 1);
    for i in 0..30 {
        sim.add_node(Role::Leecher, 4 * MIB, 100 + i);
    }
    sim.connect_all();
    let t = sim
        .drive_bounded(
            5_000_000,
            Duration::from_secs(600),
            Sim::all_leechers_complete,
        )
        .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
    let n = sim.geometry.num_pieces() as usize;
    for i in 1..=30 {
        let node = &sim.nodes[i];
        let mut verified = node.verified.clone();
        verified.sort();
        verified.dedup();
        assert_eq!(
            verified.len(),
            n,
            "node {i} verified every piece exactly once"
        );
        assert_eq!(node.verified.len(), n);
        sim.assert_data_correct(i);
    }
    report("1 seed + 30 leechers, 64 MiB", &sim, t);
}

#[test]
fn corrupt_peer_is_banned_and_everyone_completes() {
    let (g, data) = make_torrent(2, 64 * 1024, vec![FileSpec::new(&["c.bin"], 4 * MIB)]);
    let mut sim = Sim::new(g, data);
    sim.add_node(Role::Seed, 2 * MIB, 1);
    let bad = sim.add_node(Role::CorruptSeed, 8 * MIB, 2);
    for i in 0..6 {
        sim.add_node(Role::Leecher, 2 * MIB, 10 + i);
    }
    sim.connect_all();
    let t = sim
        .drive_bounded(
            2_000_000,
            Duration::from_secs(600),
            Sim::all_leechers_complete,
        )
        .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
    let mut banned_by = 0;
    for i in 2..8 {
        sim.assert_data_correct(i);
        let node = &sim.nodes[i];
        if node.hash_failures > 0 {
            assert!(
                !node.banned.is_empty(),
                "node {i} saw corrupt data but banned no one"
            );
            banned_by += 1;
        }
        // Only the corrupt node is ever banned.
        assert!(node.banned.len() <= 1);
    }
    assert!(banned_by > 0, "the corrupt peer was banned by somebody");
    // Nobody is still connected to the corrupt peer after it was caught.
    for i in 2..8 {
        if !sim.nodes[i].banned.is_empty() {
            assert!(
                !sim.is_connected(i, bad),
                "node {i} still talks to the corrupt peer"
            );
        }
    }
    report("corrupt peer banned", &sim, t);
}

#[test]
fn sequential_mode_completes_pieces_in_order() {
    let (g, data) = make_torrent(3, 64 * 1024, vec![FileSpec::new(&["movie.mkv"], 4 * MIB)]);
    let mut sim = Sim::new(g, data);
    sim.add_node(Role::Seed, 4 * MIB, 1);
    let l = sim.add_node(Role::Leecher, 4 * MIB, 2);
    let now = sim.now;
    sim.nodes[l]
        .torrent
        .set_pick_order(now, PickOrder::Sequential);
    sim.connect_all();
    let t = sim
        .drive_bounded(
            500_000,
            Duration::from_secs(120),
            Sim::all_leechers_complete,
        )
        .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
    let order: Vec<u32> = sim.nodes[l].verified.iter().map(|p| p.0).collect();
    let expected: Vec<u32> = (0..sim.geometry.num_pieces()).collect();
    assert_eq!(order, expected, "pieces verified in index order");
    sim.assert_data_correct(l);
    report("sequential", &sim, t);
}

#[test]
fn skipped_files_are_never_written() {
    // Piece length 64 KiB; file boundaries fall inside pieces, so two pieces straddle the
    // skipped file and a wanted one.
    let files = vec![
        FileSpec::new(&["d", "a.bin"], 300_000),
        FileSpec::new(&["d", "skip.bin"], 500_000),
        FileSpec::new(&["d", "c.bin"], 200_000),
    ];
    let (g, data) = make_torrent(4, 64 * 1024, files);
    let mut sim = Sim::new(g, data);
    sim.add_node(Role::Seed, 4 * MIB, 1);
    let l = sim.add_node(Role::Leecher, 4 * MIB, 2);
    let now = sim.now;
    sim.nodes[l]
        .torrent
        .set_file_priority(now, 1, FilePriority::Skip);
    sim.connect_all();
    let t = sim
        .drive_bounded(
            500_000,
            Duration::from_secs(120),
            Sim::all_leechers_complete,
        )
        .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
    let st = &sim.nodes[l].storage;
    assert_eq!(st.file_bytes_written(0), 300_000);
    assert_eq!(st.file_bytes_written(1), 0, "skipped file untouched");
    assert_eq!(st.file_bytes_written(2), 200_000);
    assert!(
        st.part_bytes_written() > 0,
        "straddling pieces keep skipped bytes in the part area"
    );
    // Pieces wholly inside the skipped file were not downloaded.
    let pl = u64::from(sim.geometry.piece_len());
    let have = sim.nodes[l].torrent.have().clone();
    for p in sim.geometry.pieces() {
        let (s, e) = (u64::from(p.0) * pl, (u64::from(p.0) + 1) * pl);
        let inside_skipped = s >= 300_000 && e <= 800_000;
        assert_eq!(have.contains(p), !inside_skipped, "{p}");
    }
    sim.assert_data_correct(l);
    report("skip a file", &sim, t);
}

#[test]
fn seed_leaving_midway_is_survived_when_another_peer_has_everything() {
    let (g, data) = make_torrent(5, 64 * 1024, vec![FileSpec::new(&["s.bin"], 6 * MIB)]);
    let mut sim = Sim::new(g, data);
    let first = sim.add_node(Role::Seed, 4 * MIB, 1);
    sim.add_node(Role::Seed, MIB, 2);
    for i in 0..8 {
        sim.add_node(Role::Leecher, 2 * MIB, 10 + i);
    }
    sim.connect_all();
    let half = sim.geometry.num_pieces() / 2;
    sim.drive_bounded(1_000_000, Duration::from_secs(300), |s| {
        s.nodes[2..]
            .iter()
            .map(|n| n.torrent.have().count())
            .max()
            .unwrap_or(0)
            >= half
    })
    .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
    let left_at = sim.now - sim.start;
    assert!(!sim.all_leechers_complete());
    sim.leave(first);
    let t = sim
        .drive_bounded(
            2_000_000,
            Duration::from_secs(600),
            Sim::all_leechers_complete,
        )
        .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
    for i in 2..10 {
        sim.assert_data_correct(i);
    }
    println!("seed left at {:.2}s", left_at.as_secs_f64());
    report("seed leaves mid-way", &sim, t);
}

#[test]
fn lone_seed_can_leave_once_the_leechers_together_have_every_piece() {
    let (g, data) = make_torrent(8, 64 * 1024, vec![FileSpec::new(&["u.bin"], 4 * MIB)]);
    let mut sim = Sim::new(g, data);
    let seed = sim.add_node(Role::Seed, 2 * MIB, 1);
    for i in 0..8 {
        sim.add_node(Role::Leecher, 2 * MIB, 30 + i);
    }
    sim.connect_all();
    let n = sim.geometry.num_pieces();
    sim.drive_bounded(1_000_000, Duration::from_secs(300), |s| {
        let mut union = freshet_engine::PieceSet::new(n);
        for node in &s.nodes[1..] {
            for p in node.torrent.have().iter() {
                union.insert(p);
            }
        }
        union.is_full()
    })
    .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
    let left_at = sim.now - sim.start;
    assert!(
        !sim.all_leechers_complete(),
        "the seed leaves before anyone is done"
    );
    sim.leave(seed);
    let t = sim
        .drive_bounded(
            2_000_000,
            Duration::from_secs(600),
            Sim::all_leechers_complete,
        )
        .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
    for i in 1..9 {
        sim.assert_data_correct(i);
    }
    println!("lone seed left at {:.2}s", left_at.as_secs_f64());
    report("lone seed leaves once the swarm has every piece", &sim, t);
}

/// A fast seed and a very slow one (16 KiB/s). Without endgame, the last blocks requested
/// from the slow seed hold up completion for a long time; with it they are re-requested from
/// the fast seed and the slow copies are cancelled.
fn endgame_run(endgame: Endgame) -> (Sim, Duration) {
    let (g, data) = make_torrent(6, 64 * 1024, vec![FileSpec::new(&["e.bin"], 4 * MIB)]);
    let mut sim = Sim::new(g, data);
    sim.add_node(Role::Seed, 4 * MIB, 1);
    sim.add_node(Role::Seed, 16 * 1024, 2);
    let l = sim.add_node_with(Role::Leecher, 4 * MIB, 3, |c| c.endgame = endgame);
    sim.nodes[l].download_bps = 8 * MIB;
    sim.connect_all();
    let t = sim
        .drive_bounded(
            500_000,
            Duration::from_secs(300),
            Sim::all_leechers_complete,
        )
        .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
    sim.assert_data_correct(l);
    (sim, t)
}

#[test]
fn endgame_finishes_the_last_pieces_promptly() {
    let (sim, t) = endgame_run(Endgame::Enabled);
    assert!(
        sim.nodes[2].cancels_sent > 0,
        "endgame cancelled duplicate requests"
    );
    // 4 MiB at 4 MiB/s is about a second; allow slack for start-up and choking.
    assert!(t < Duration::from_secs(5), "took {t:?}");
    let (_, without) = endgame_run(Endgame::Disabled);
    assert!(without > t * 3, "without endgame: {without:?}, with: {t:?}");
    println!(
        "without endgame the same swarm needs {:.2}s",
        without.as_secs_f64()
    );
    report("endgame", &sim, t);
}

#[test]
fn same_seeds_give_identical_runs() {
    let run = || {
        let (g, data) = make_torrent(7, 32 * 1024, vec![FileSpec::new(&["d.bin"], MIB)]);
        let mut sim = Sim::new(g, data);
        sim.add_node(Role::Seed, 2 * MIB, 1);
        for i in 0..4 {
            sim.add_node(Role::Leecher, MIB, 20 + i);
        }
        sim.connect_all();
        let t = sim
            .drive_bounded(
                200_000,
                Duration::from_secs(120),
                Sim::all_leechers_complete,
            )
            .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
        let orders: Vec<Vec<u32>> = sim
            .nodes
            .iter()
            .map(|n| n.verified.iter().map(|p| p.0).collect())
            .collect();
        (t, sim.steps, orders)
    };
    let a = run();
    let b = run();
    assert_eq!(a, b, "the simulation is deterministic");
}
