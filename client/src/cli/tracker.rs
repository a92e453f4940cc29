//! `freshet tracker [--http ADDR] [--udp ADDR] [--interval S] [--allow HASH]… [--allow-file F]`:
//! run the embedded tracker server in the foreground until Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use freshet_client::tracker_server::{TrackerServer, TrackerServerOptions};
use freshet_tracker::AllowList;

use super::CliError;

/// Arguments of `freshet tracker`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Serve HTTP announce and scrape here (`none` to disable).
    #[arg(long, default_value = "127.0.0.1:6969")]
    http: String,
    /// Serve UDP (BEP 15) announce and scrape here (`none` to disable).
    #[arg(long, default_value = "127.0.0.1:6969")]
    udp: String,
    /// Announce interval in seconds; peers expire after twice this.
    #[arg(long, default_value_t = 1800)]
    interval: u32,
    /// Only track this info-hash (hex or base32); repeatable.
    #[arg(long = "allow", value_name = "INFOHASH")]
    allow: Vec<String>,
    /// Only track the info-hashes listed in this file (one per line, `#` comments).
    #[arg(long, value_name = "FILE")]
    allow_file: Option<PathBuf>,
}

fn address(flag: &str, text: &str) -> Result<Option<SocketAddr>, CliError> {
    if text.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|e| CliError::input(format!("--{flag} {text}"), e))
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, CliError> {
    let http = address("http", &args.http)?;
    let udp = address("udp", &args.udp)?;
    if http.is_none() && udp.is_none() {
        return Err(CliError::input(
            "freshet tracker",
            "both --http and --udp are none",
        ));
    }
    let file_text = match &args.allow_file {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|e| CliError::input(path.display(), e))?)
        }
        None => None,
    };
    let allow = AllowList::from_args(&args.allow, file_text.as_deref())
        .map_err(|e| CliError::input("allow list", e))?;
    let opts = TrackerServerOptions::new(http, udp)
        .with_interval(args.interval)
        .with_allow(allow);
    let server = TrackerServer::spawn(opts)
        .map_err(|e| CliError::input("binding the tracker sockets", e))?;
    let addrs = server.local_addrs();
    if let Some(a) = addrs.http {
        println!("tracker: http://{a}/announce");
    }
    if let Some(a) = addrs.udp {
        println!("tracker: udp://{a}/announce");
    }
    let interrupt = freshet_client::commands::ctrl_c_flag()
        .map_err(|e| CliError::input("freshet tracker", e))?;
    while !interrupt.load(std::sync::atomic::Ordering::SeqCst) {
        // The CLI process is the I/O layer: waiting on a flag is its job.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(200));
    }
    let stats = server
        .stop()
        .map_err(|e| CliError::input("stopping the tracker", e))?;
    println!("tracker stopped: {stats:?}");
    Ok(ExitCode::SUCCESS)
}
