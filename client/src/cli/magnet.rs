//! `freshet magnet TORRENT`: print the torrent's magnet link.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CliError, load_torrent};

/// Arguments of `freshet magnet`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The .torrent file.
    torrent: PathBuf,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, CliError> {
    let meta = load_torrent(&args.torrent)?;
    println!("{}", meta.magnet());
    Ok(ExitCode::SUCCESS)
}
