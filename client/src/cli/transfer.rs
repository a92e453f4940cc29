//! `freshet download`, `freshet seed` and `freshet demo`: argument parsing only; the work is
//! done by [`freshet_client::commands`] on the `TorrentClient` component.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use freshet_client::commands::{
    self, CommandError, DemoOptions, DownloadOptions, OutputMode, SeedOptions, SeedPathOptions,
};

use super::CliError;

/// Arguments of `freshet download`.
#[derive(Debug, clap::Args)]
pub(crate) struct DownloadArgs {
    /// `.torrent` files, http(s) URLs of `.torrent` files, or magnet links.
    #[arg(required = true, value_name = "TORRENT|URL|MAGNET")]
    sources: Vec<String>,
    /// Save directory.
    #[arg(short, long, default_value = ".")]
    output: PathBuf,
    /// Keep seeding after the download completes, until Ctrl-C.
    #[arg(long)]
    seed: bool,
    /// Listen address for incoming peers (port 0 picks a free port).
    #[arg(long, default_value = "0.0.0.0:6881", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Connect to this peer by hand; repeatable.
    #[arg(long = "peer", value_name = "IP:PORT")]
    peers: Vec<SocketAddr>,
    /// Do not use the DHT (Freshet has no DHT yet, so this is the only behaviour today).
    #[arg(long)]
    no_dht: bool,
    /// One JSON event per line on stdout instead of progress bars.
    #[arg(long)]
    json: bool,
}

/// Arguments of `freshet seed`.
#[derive(Debug, clap::Args)]
pub(crate) struct SeedArgs {
    /// A `.torrent` file (then SAVE_DIR holds its data), or a file/directory to share (a torrent
    /// is created and its magnet link printed).
    #[arg(value_name = "TORRENT|PATH")]
    input: PathBuf,
    /// The directory holding the torrent's file or folder (as `download --output`).
    #[arg(value_name = "SAVE_DIR")]
    save_dir: Option<PathBuf>,
    /// Listen address for incoming peers.
    #[arg(long, default_value = "0.0.0.0:6881", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// With PATH: tracker URL to put in the created torrent; repeatable.
    #[arg(short = 't', long = "tracker", value_name = "URL")]
    trackers: Vec<String>,
    /// With PATH: also write the created `.torrent` here.
    #[arg(long = "torrent-out", value_name = "FILE")]
    torrent_out: Option<PathBuf>,
    /// One JSON event per line on stdout (a `seeding` event once serving).
    #[arg(long)]
    json: bool,
}

/// Arguments of `freshet demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Size of the sample data in MiB.
    #[arg(long, default_value_t = 64)]
    size_mib: u64,
    /// Keep the sample data and the download in this directory (default: a temporary one).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// One JSON event per line on stdout.
    #[arg(long)]
    json: bool,
}

fn mode(json: bool) -> OutputMode {
    if json {
        OutputMode::Json
    } else {
        OutputMode::Auto
    }
}

fn failed(e: &CommandError) -> CliError {
    CliError::with_code(format!("{e}"), e.exit_code())
}

pub(crate) fn download(args: &DownloadArgs) -> Result<ExitCode, CliError> {
    let _ = args.no_dht;
    let mut opts = DownloadOptions::new(args.sources.clone(), &args.output);
    opts.seed = args.seed;
    opts.listen = args.listen;
    opts.peers.clone_from(&args.peers);
    opts.output_mode = mode(args.json);
    opts.interrupt = Some(commands::ctrl_c_flag().map_err(|e| failed(&e))?);
    commands::download(&opts).map_err(|e| failed(&e))?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn seed(args: &SeedArgs) -> Result<ExitCode, CliError> {
    let is_torrent_file = args
        .input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("torrent"));
    let save_dir = args.save_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut opts = SeedOptions::new(&args.input, save_dir);
    opts.listen = args.listen;
    opts.output_mode = mode(args.json);
    opts.interrupt = Some(commands::ctrl_c_flag().map_err(|e| failed(&e))?);
    let outcome = if is_torrent_file && args.input.is_file() {
        commands::seed(&opts)
    } else {
        if args.save_dir.is_some() {
            return Err(CliError::input(
                args.input.display(),
                "SAVE_DIR is only used with a .torrent file",
            ));
        }
        let mut path_opts = SeedPathOptions::new(&args.input, opts);
        path_opts.trackers.clone_from(&args.trackers);
        path_opts.torrent_out.clone_from(&args.torrent_out);
        commands::seed_path(&path_opts)
    };
    match outcome {
        Ok(()) | Err(CommandError::Interrupted) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(failed(&e)),
    }
}

pub(crate) fn demo(args: &DemoArgs) -> Result<ExitCode, CliError> {
    let mut opts = DemoOptions::default();
    opts.size = args.size_mib.saturating_mul(1024 * 1024);
    opts.work_dir.clone_from(&args.work_dir);
    opts.output_mode = mode(args.json);
    opts.interrupt = Some(commands::ctrl_c_flag().map_err(|e| failed(&e))?);
    commands::demo(&opts).map_err(|e| failed(&e))?;
    Ok(ExitCode::SUCCESS)
}
