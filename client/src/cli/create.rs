//! `freshet create PATH [-o OUT] [-t URL]… [--piece-length N] [--private] [--comment S]
//! [--source S] [-w URL]… [--hybrid] [--no-date] [--threads N] [--no-mmap]`.

use std::path::PathBuf;
use std::process::ExitCode;

use freshet_metainfo::{ReadMode, TorrentBuilder};

use super::{CliError, human_size, progress_bar};

/// Arguments of `freshet create`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// File or directory to make a torrent of.
    path: PathBuf,
    /// Output file (default: `<name>.torrent` in the current directory).
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Tracker URL; repeat for more tiers, separate URLs of one tier with commas.
    #[arg(short = 't', long = "tracker")]
    trackers: Vec<String>,
    /// Piece length in bytes, power of two >= 16 KiB; suffixes K and M allowed (e.g. 256K).
    #[arg(long, value_parser = parse_size)]
    piece_length: Option<u64>,
    /// Mark the torrent private (BEP 27).
    #[arg(long)]
    private: bool,
    /// Comment.
    #[arg(long)]
    comment: Option<String>,
    /// Source tag (stored in the info dict; changes the info-hash).
    #[arg(long)]
    source: Option<String>,
    /// Web seed URL (BEP 19); repeatable.
    #[arg(short = 'w', long = "web-seed")]
    web_seeds: Vec<String>,
    /// Create a hybrid v1+v2 torrent (BEP 52).
    #[arg(long)]
    hybrid: bool,
    /// Omit the creation date (reproducible output).
    #[arg(long)]
    no_date: bool,
    /// Hashing threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Read files with positional reads instead of memory-mapping them (slower; use it when
    /// something may truncate the files while they are hashed, which would crash a mapped read).
    #[arg(long)]
    no_mmap: bool,
}

/// The read mode the `--no-mmap` flag selects (shared with `verify`).
pub(super) fn read_mode(no_mmap: bool) -> ReadMode {
    if no_mmap {
        ReadMode::Read
    } else {
        ReadMode::Mapped
    }
}

fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1024),
        Some('m' | 'M') => (&t[..t.len() - 1], 1024 * 1024),
        _ => (t, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("not a size: {text:?}"))
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, CliError> {
    let mut builder = TorrentBuilder::new(&args.path)
        .private(args.private)
        .hybrid(args.hybrid)
        .read_mode(read_mode(args.no_mmap));
    for tier in &args.trackers {
        let urls: Vec<String> = tier
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        builder = builder.tracker_tier(urls);
    }
    for ws in &args.web_seeds {
        builder = builder.web_seed(ws.clone());
    }
    if let Some(pl) = args.piece_length {
        builder = builder.piece_length(pl);
    }
    if let Some(c) = &args.comment {
        builder = builder.comment(c.clone());
    }
    if let Some(s) = &args.source {
        builder = builder.source(s.clone());
    }
    if let Some(n) = args.threads {
        builder = builder.threads(n);
    }
    if !args.no_date {
        builder = builder.creation_date(now_unix());
    }
    let bar = progress_bar(0, "hashing");
    let progress = |done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_length(total);
            b.set_position(done);
        }
    };
    let created = builder
        .build_with_progress(&progress)
        .map_err(|e| CliError::input(args.path.display(), e))?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let out = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.torrent", created.name)));
    std::fs::write(&out, &created.bytes).map_err(|e| CliError::input(out.display(), e))?;
    let magnet = freshet_metainfo::Metainfo::from_bytes(&created.bytes)
        .map_err(|e| CliError::input(out.display(), format!("created torrent does not load: {e}")))?
        .magnet();
    println!("Created {}", out.display());
    println!(
        "  {} pieces of {}, {} total",
        created.piece_count,
        human_size(created.piece_length),
        human_size(created.payload_length)
    );
    if let Some(h) = created.info_hashes.v1 {
        println!("Info hash v1: {h}");
    }
    if let Some(h) = created.info_hashes.v2 {
        println!("Info hash v2: {h}");
    }
    println!("Magnet: {magnet}");
    Ok(ExitCode::SUCCESS)
}

/// Seconds since the Unix epoch, for `creation date`.
#[allow(clippy::disallowed_methods)] // The CLI is the one place that reads the wall clock.
fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
