//! Project automation, run as `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! Tasks:
//! * `bench create [--size-mib N] [--runs N] [--out FILE]` — see [`bench_create`].

use anyhow::{Result, bail};

mod bench_create;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["bench", "create", rest @ ..] => bench_create::run(rest),
        _ => bail!("usage: cargo xtask bench create [--size-mib N] [--runs N] [--out FILE]"),
    }
}
