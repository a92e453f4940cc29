//! `freshet dht`: argument parsing only; the node runs in [`freshet_client::commands::dht_node`].

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use freshet_client::commands::{self, CommandError, DhtNodeOptions, OutputMode};

use super::CliError;
use super::transfer::parse_host_port;

/// Arguments of `freshet dht`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// UDP address of the node.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Bootstrap from this node; repeatable. None: the node only answers (a router for
    /// others); `--bootstrap router.bittorrent.com:6881` joins the public DHT.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    bootstrap: Vec<String>,
    /// Stop after N seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "N")]
    seconds: Option<u64>,
    /// Seconds between two statistics lines.
    #[arg(long, value_name = "N", default_value_t = 5)]
    every: u64,
    /// Keep the node id and routing table in DIR across runs.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<std::path::PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, CliError> {
    let mut opts = DhtNodeOptions::new(args.listen);
    opts.bootstrap.clone_from(&args.bootstrap);
    opts.duration = args.seconds.map(Duration::from_secs);
    opts.every = Duration::from_secs(args.every.max(1));
    opts.state_dir.clone_from(&args.state_dir);
    opts.output_mode = if args.json {
        OutputMode::Json
    } else {
        OutputMode::Plain
    };
    let fail = |e: &CommandError| CliError::with_code(format!("{e}"), e.exit_code());
    opts.interrupt = Some(commands::ctrl_c_flag().map_err(|e| fail(&e))?);
    commands::dht_node(&opts).map_err(|e| fail(&e))?;
    Ok(ExitCode::SUCCESS)
}
