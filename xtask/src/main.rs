//! Project automation, run as `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! Tasks:
//! * `bench create [--size-mib N] [--runs N] [--dir DIR] [--out FILE]` — see [`bench_create`].
//! * `bench tracker --freshet BIN [--rounds N]` — see [`bench_tracker`] (run inside `unshare --net`).
//! * `bench swarm [--size-mib N] [--rounds N] [--seeder libtorrent|freshet|both]` — see
//!   [`bench_swarm`] (re-executes itself inside `unshare --net`).
//! * `fuzz [--seconds N] [--target NAME]` — seeds and runs every `cargo fuzz` target, see [`fuzz`].
//! * `reliability [--size-mib N] [--kills K] [--seed S] [--torrents N] [--peers N]` — issue 9's
//!   crash, shutdown and load cases at full size, see [`reliability`].

use anyhow::{Result, bail};

mod bench_create;
mod bench_swarm;
mod bench_tracker;
mod fuzz;
mod reliability;
#[cfg(test)]
mod tidy;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["bench", "create", rest @ ..] => bench_create::run(rest),
        ["bench", "swarm", ..] => bench_swarm::run(&args[2..]),
        ["fuzz", ..] => fuzz::run(&args[1..]),
        ["reliability", ..] => reliability::run(&args[1..]),
        ["bench-tracker", ..] | ["bench", "tracker", ..] => {
            let skip = if args[0] == "bench" { 2 } else { 1 };
            bench_tracker::run(&args[skip..])
        }
        _ => bail!(
            "usage: cargo xtask bench create [--size-mib N] [--runs N] [--dir DIR] [--out FILE]\n       cargo xtask bench tracker --freshet BIN [--rounds N]\n       cargo xtask bench swarm [--size-mib N] [--rounds N] [--seeder libtorrent|freshet|both]\n       cargo xtask fuzz [--seconds N] [--target NAME]\n       cargo xtask reliability [--size-mib N] [--kills K] [--seed S] [--torrents N] [--peers N]"
        ),
    }
}
