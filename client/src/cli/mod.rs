//! Command-line interface: argument parsing (clap derive) and dispatch to one module per
//! subcommand. To add a subcommand, add a variant to [`Command`] with its `Args` struct and a
//! `run` function in a new module, then one arm in [`run`].
//!
//! Exit codes: 0 success; 1 a check failed (`verify` found missing or bad data); 2 bad input
//! (unreadable file, not bencode, invalid torrent, bad arguments). Errors are printed as one
//! line: `freshet: <file>: <problem>`.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use freshet_metainfo::{Limits, Metainfo};

mod create;
mod dht;
mod magnet;
mod show;
mod tracker;
mod transfer;
mod verify;

/// Freshet: a BitTorrent client.
#[derive(Debug, Parser)]
#[command(name = "freshet", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show what a .torrent file or magnet link contains.
    Show(show::Args),
    /// Create a .torrent from a file or directory.
    Create(create::Args),
    /// Check downloaded data against a .torrent.
    Verify(verify::Args),
    /// Print the magnet link of a .torrent.
    Magnet(magnet::Args),
    /// Run the embedded HTTP + UDP tracker server until Ctrl-C.
    Tracker(tracker::Args),
    /// Download torrents (files, URLs or magnet links); exits 0 once all are verified.
    Download(transfer::DownloadArgs),
    /// Seed a torrent from data already in place, or share a file/directory.
    Seed(transfer::SeedArgs),
    /// A whole swarm on 127.0.0.1: tracker, seeder and downloader, with nothing to install.
    Demo(transfer::DemoArgs),
    /// Run the client in the foreground with its saved torrents, driven by JSON lines on
    /// stdin, writing events as JSON lines on stdout, until stdin closes or Ctrl-C.
    Daemon(transfer::DaemonArgs),
    /// Run a standalone DHT node, printing its routing-table statistics periodically.
    Dht(dht::Args),
}

/// A failure reported to the user as one line, with its exit code.
#[derive(Debug)]
pub(crate) struct CliError {
    message: String,
    code: u8,
}

impl CliError {
    /// Bad input (exit code 2).
    pub(crate) fn input(subject: impl fmt::Display, problem: impl fmt::Display) -> Self {
        Self {
            message: format!("{subject}: {problem}"),
            code: 2,
        }
    }
}

impl CliError {
    /// A failure with the given exit code (from a command's own error mapping).
    pub(crate) fn with_code(message: impl Into<String>, code: u8) -> Self {
        Self {
            message: message.into(),
            code,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Parses the command line, runs the subcommand and maps the outcome to an exit code.
pub(crate) fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Show(a) => show::run(&a),
        Command::Create(a) => create::run(&a),
        Command::Verify(a) => verify::run(&a),
        Command::Magnet(a) => magnet::run(&a),
        Command::Tracker(a) => tracker::run(&a),
        Command::Download(a) => transfer::download(&a),
        Command::Daemon(a) => transfer::daemon(&a),
        Command::Seed(a) => transfer::seed(&a),
        Command::Demo(a) => transfer::demo(&a),
        Command::Dht(a) => dht::run(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line, never a panic or a backtrace.
            eprintln!("freshet: {}", e.message.replace('\n', " "));
            ExitCode::from(e.code)
        }
    }
}

/// Reads and parses a `.torrent`, checking the size limit before reading it whole.
pub(crate) fn load_torrent(path: &Path) -> Result<Metainfo, CliError> {
    let shown = path.display();
    let limits = Limits::default();
    let meta = std::fs::metadata(path).map_err(|e| CliError::input(&shown, e))?;
    if meta.is_dir() {
        return Err(CliError::input(
            &shown,
            "is a directory, not a .torrent file",
        ));
    }
    if meta.len() > limits.max_size as u64 {
        return Err(CliError::input(
            &shown,
            format!("file is {} bytes, limit is {}", meta.len(), limits.max_size),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| CliError::input(&shown, e))?;
    if bytes.is_empty() {
        return Err(CliError::input(&shown, "file is empty"));
    }
    Metainfo::from_bytes_with(&bytes, &limits)
        .map_err(|e| CliError::input(&shown, format!("invalid torrent: {e}")))
}

/// A progress bar on stderr when it is a terminal, nothing otherwise.
pub(crate) fn progress_bar(total: u64, what: &str) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    Some(bar)
}

/// Human-readable size (binary units).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.2} {}", UNITS[unit])
    }
}
