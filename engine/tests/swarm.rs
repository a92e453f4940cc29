//! Swarm scenarios on the deterministic simulator (see `sim/mod.rs`).

mod sim;

use std::time::Duration;

use freshet_engine::{FileSpec, PieceIndex};
use sim::{Role, Sim, make_torrent};

const MIB: u64 = 1024 * 1024;

#[test]
fn small_swarm_completes() {
    let (g, data) = make_torrent(1, 65536, vec![FileSpec::new(&["a"], 2 * MIB + 1234)]);
    let mut sim = Sim::new(g, data);
    sim.add_node(Role::Seed, 5 * MIB, 1);
    for i in 0..4 {
        sim.add_node(Role::Leecher, 5 * MIB, 10 + i);
    }
    sim.connect_all();
    let t = sim
        .drive_bounded(
            200_000,
            Duration::from_secs(120),
            Sim::all_leechers_complete,
        )
        .unwrap_or_else(|e| panic!("{e}: {}", sim.summary()));
    for i in 1..5 {
        sim.assert_data_correct(i);
    }
    println!(
        "small swarm: {:.2}s simulated, {} steps",
        t.as_secs_f64(),
        sim.steps
    );
}
