//! `freshet verify TORRENT DATA_DIR [--threads N] [--no-mmap]`: hash the data and report
//! good/bad/missing pieces per file. Exit code 0 only when everything is present and correct,
//! 1 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use freshet_metainfo::PieceState;

use super::{CliError, load_torrent, progress_bar};

/// Arguments of `freshet verify`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The .torrent file.
    torrent: PathBuf,
    /// The save directory (holding the torrent's file or top directory).
    data_dir: PathBuf,
    /// Hashing threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Read files with positional reads instead of memory-mapping them (slower; use it when
    /// something may truncate the files while they are hashed, which would crash a mapped read).
    #[arg(long)]
    no_mmap: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, CliError> {
    let meta = load_torrent(&args.torrent)?;
    if !args.data_dir.exists() {
        return Err(CliError::input(
            args.data_dir.display(),
            "no such file or directory",
        ));
    }
    let bar = progress_bar(meta.info.payload_length(), "verifying");
    let progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let report = freshet_metainfo::verify_with_mode(
        &meta,
        &args.data_dir,
        args.threads,
        super::create::read_mode(args.no_mmap),
        &progress,
    )
    .map_err(|e| CliError::input(args.data_dir.display(), e))?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    for f in report.files.iter().filter(|f| !f.padding) {
        let total = f.good + f.bad + f.missing;
        let status = if f.bad == 0 && f.missing == 0 {
            "OK     "
        } else if f.good == 0 && f.bad == 0 {
            "MISSING"
        } else {
            "BAD    "
        };
        println!(
            "{status} {} ({} good, {} bad, {} missing of {total} pieces)",
            f.path.join("/"),
            f.good,
            f.bad,
            f.missing
        );
    }
    let (good, bad, missing) = (
        report.count(PieceState::Good),
        report.count(PieceState::Bad),
        report.count(PieceState::Missing),
    );
    println!(
        "{} pieces: {good} good, {bad} bad, {missing} missing",
        report.pieces.len()
    );
    if report.is_complete() {
        println!("All data is present and correct.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("Data is incomplete or corrupt.");
        Ok(ExitCode::from(1))
    }
}
