//! `freshet download`, `freshet seed` and `freshet demo`: argument parsing only; the work is
//! done by [`freshet_client::commands`] on the `TorrentClient` component.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use freshet_client::DhtConfig;
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
    #[command(flatten)]
    dht: DhtArgs,
    /// One JSON event per line on stdout instead of progress bars.
    #[arg(long)]
    json: bool,
    /// Download limit in bytes per second; `K` and `M` suffixes as in aria2 (`500K` = 500
    /// KiB/s, `10M` = 10 MiB/s); `0`: unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    max_down: u64,
    /// Upload limit in bytes per second (same suffixes); `0`: unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    max_up: u64,
    /// Download pieces in order (for streaming).
    #[arg(long)]
    sequential: bool,
    /// Download only these files: 1-based indexes into the torrent's file list (padding files
    /// not counted), comma-separated, ranges allowed (`1,3-5`), as aria2's `--select-file`.
    #[arg(long, value_name = "INDEXES", value_parser = parse_indexes)]
    only: Option<Indexes>,
    /// Keep the session (torrents, options, resume data) in DIR and restore it next time.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// After completing, seed until every torrent uploaded R times its size, then exit.
    #[arg(long, value_name = "R")]
    seed_ratio: Option<f64>,
}

/// Arguments of `freshet daemon`.
#[derive(Debug, clap::Args)]
pub(crate) struct DaemonArgs {
    /// Session state directory (default: `$XDG_DATA_HOME/freshet` or
    /// `~/.local/share/freshet`).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Keep nothing between runs.
    #[arg(long, conflicts_with = "state_dir")]
    no_state: bool,
    /// Listen address for incoming peers (port 0 picks a free port).
    #[arg(long, default_value = "0.0.0.0:6881", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Seconds between status events.
    #[arg(long, default_value_t = 5)]
    tick_secs: u64,
    /// Download limit in bytes per second (`K`/`M` suffixes); `0`: unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    max_down: u64,
    /// Upload limit in bytes per second (`K`/`M` suffixes); `0`: unlimited.
    #[arg(long, value_name = "RATE", value_parser = parse_rate, default_value = "0")]
    max_up: u64,
    #[command(flatten)]
    dht: DhtArgs,
}

/// The well-known public DHT routers, used by `download`, `seed` and `daemon` unless `--no-dht`,
/// `--offline` or `--dht-bootstrap` is given. They live here, in the binary's CLI layer only:
/// the library default is an empty list.
const PUBLIC_ROUTERS: [&str; 4] = [
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// DHT flags shared by `download`, `seed` and `daemon`.
#[derive(Debug, clap::Args)]
pub(crate) struct DhtArgs {
    /// Bootstrap the DHT from this node instead of the public routers; repeatable.
    #[arg(long = "dht-bootstrap", value_name = "HOST:PORT", value_parser = parse_host_port)]
    dht_bootstrap: Vec<String>,
    /// Do not use the DHT (no UDP socket, no routers contacted).
    #[arg(long, conflicts_with = "dht_bootstrap")]
    no_dht: bool,
    /// Contact no one not named on the command line or in a torrent: no DHT, no public
    /// routers.
    #[arg(long, conflicts_with = "dht_bootstrap")]
    offline: bool,
}

impl DhtArgs {
    /// The client's DHT settings: off, the given bootstrap nodes, or the public routers.
    pub(crate) fn config(&self) -> Option<DhtConfig> {
        if self.no_dht || self.offline {
            return None;
        }
        let routers: Vec<String> = if self.dht_bootstrap.is_empty() {
            PUBLIC_ROUTERS.iter().map(|s| (*s).to_owned()).collect()
        } else {
            self.dht_bootstrap.clone()
        };
        Some(DhtConfig::default().with_bootstrap(routers))
    }
}

/// Checks `HOST:PORT` (a name or an IP, `[v6]:port` for IPv6) without resolving it.
pub(crate) fn parse_host_port(s: &str) -> Result<String, String> {
    let bad = || format!("{s:?} is not HOST:PORT");
    if s.parse::<SocketAddr>().is_ok() {
        return Ok(s.to_owned());
    }
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 || host.contains(':') || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    Ok(s.to_owned())
}

pub(crate) fn daemon(args: &DaemonArgs) -> Result<ExitCode, CliError> {
    let state_dir = if args.no_state {
        None
    } else {
        match args.state_dir.clone().or_else(commands::default_state_dir) {
            Some(d) => Some(d),
            None => {
                return Err(CliError::input(
                    "--state-dir",
                    "no HOME or XDG_DATA_HOME; give a directory or --no-state",
                ));
            }
        }
    };
    let mut opts = commands::DaemonOptions::new(state_dir);
    opts.listen = args.listen;
    opts.tick = std::time::Duration::from_secs(args.tick_secs.max(1));
    opts.max_down = args.max_down;
    opts.max_up = args.max_up;
    opts.dht = args.dht.config();
    opts.interrupt = Some(commands::ctrl_c_flag().map_err(|e| failed(&e))?);
    commands::daemon(&opts).map_err(|e| failed(&e))?;
    Ok(ExitCode::SUCCESS)
}

/// A parsed `--only` list (0-based).
#[derive(Debug, Clone)]
pub(crate) struct Indexes(Vec<usize>);

/// Parses a rate: digits with an optional `K` (KiB) or `M` (MiB) suffix, case-insensitive.
pub(crate) fn parse_rate(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (digits, mult) = match s.as_bytes().last() {
        Some(b'k' | b'K') => (&s[..s.len() - 1], 1024),
        Some(b'm' | b'M') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a rate (bytes per second, e.g. 500K or 10M)"))?;
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

/// Parses `1,3-5` (1-based, inclusive ranges) into 0-based indexes.
pub(crate) fn parse_indexes(s: &str) -> Result<Indexes, String> {
    const MAX_FILES: usize = 1_000_000;
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("{part:?} is not a 1-based file index or range like 3-5");
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: usize = a.parse().map_err(|_| bad())?;
        let b: usize = b.parse().map_err(|_| bad())?;
        if a == 0 || b < a || b > MAX_FILES || out.len() + (b - a) > MAX_FILES {
            return Err(bad());
        }
        out.extend((a - 1)..b);
    }
    if out.is_empty() {
        return Err("no file indexes given".into());
    }
    out.sort_unstable();
    out.dedup();
    Ok(Indexes(out))
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
    #[command(flatten)]
    dht: DhtArgs,
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
    let mut opts = DownloadOptions::new(args.sources.clone(), &args.output);
    opts.dht = args.dht.config();
    opts.seed = args.seed;
    opts.listen = args.listen;
    opts.peers.clone_from(&args.peers);
    opts.output_mode = mode(args.json);
    opts.max_down = args.max_down;
    opts.max_up = args.max_up;
    opts.sequential = args.sequential;
    opts.only = args.only.as_ref().map(|i| i.0.clone());
    opts.state_dir.clone_from(&args.state_dir);
    if let Some(r) = args.seed_ratio
        && !(r.is_finite() && r >= 0.0)
    {
        return Err(CliError::input(r, "--seed-ratio must be a number >= 0"));
    }
    opts.seed_ratio = args.seed_ratio;
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
    opts.dht = args.dht.config();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_take_aria2_suffixes() {
        assert_eq!(parse_rate("500K"), Ok(500 * 1024));
        assert_eq!(parse_rate("10m"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_rate("1234"), Ok(1234));
        assert_eq!(parse_rate("0"), Ok(0));
        assert!(parse_rate("K").is_err());
        assert!(parse_rate("1.5M").is_err());
        assert!(parse_rate("99999999999999999999M").is_err());
    }

    #[test]
    fn host_port_needs_a_host_and_a_port() {
        assert!(parse_host_port("127.0.0.1:6881").is_ok());
        assert!(parse_host_port("[::1]:6881").is_ok());
        assert!(parse_host_port("router.example:6881").is_ok());
        assert!(parse_host_port("router.example").is_err());
        assert!(parse_host_port(":6881").is_err());
        assert!(parse_host_port("host:0").is_err());
        assert!(parse_host_port("host:99999").is_err());
    }

    #[test]
    fn public_routers_only_when_no_bootstrap_is_given() {
        let args = |b: &[&str], no_dht, offline| DhtArgs {
            dht_bootstrap: b.iter().map(|s| (*s).to_owned()).collect(),
            no_dht,
            offline,
        };
        let default = args(&[], false, false).config().unwrap();
        assert_eq!(default.bootstrap.len(), PUBLIC_ROUTERS.len());
        let given = args(&["127.0.0.1:7000"], false, false).config().unwrap();
        assert_eq!(given.bootstrap, vec!["127.0.0.1:7000".to_owned()]);
        assert!(args(&[], true, false).config().is_none());
        assert!(args(&[], false, true).config().is_none());
    }

    #[test]
    fn indexes_are_one_based_with_ranges() {
        assert_eq!(parse_indexes("1,3-5,3").unwrap().0, vec![0, 2, 3, 4]);
        assert!(parse_indexes("0").is_err());
        assert!(parse_indexes("5-2").is_err());
        assert!(parse_indexes("").is_err());
        assert!(parse_indexes("1-99999999999").is_err());
    }
}
