//! `freshet seed TORRENT SAVE_DIR` and `freshet seed PATH` (create, then seed).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use freshet_metainfo::{Metainfo, TorrentBuilder};
use serde_json::json;

use super::output::{OutputMode, Reporter};
use super::{CommandError, next_event, shutdown};
use crate::{
    AddOptions, ClientHandle, Config, DhtConfig, Event, Request, TorrentClient, TorrentSource,
};

/// Options of `freshet seed TORRENT SAVE_DIR`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SeedOptions {
    /// The `.torrent` file.
    pub torrent: PathBuf,
    /// The directory holding the torrent's file or folder (as `download --output`).
    pub save_dir: PathBuf,
    /// Listen address (`--listen`, default `0.0.0.0:6881`).
    pub listen: SocketAddr,
    /// How to show progress (`--json`).
    pub output_mode: OutputMode,
    /// Status interval.
    pub tick: Duration,
    /// Set by a Ctrl-C handler: shut down cleanly and return.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// The DHT (`None`: off). Default: on with no bootstrap routers.
    pub dht: Option<DhtConfig>,
}

impl SeedOptions {
    /// Seeds `torrent` from `save_dir` with defaults for everything else.
    #[must_use]
    pub fn new(torrent: impl Into<PathBuf>, save_dir: impl Into<PathBuf>) -> Self {
        Self {
            torrent: torrent.into(),
            save_dir: save_dir.into(),
            listen: SocketAddr::from(([0, 0, 0, 0], 6881)),
            output_mode: OutputMode::Auto,
            tick: Duration::from_secs(5),
            interrupt: None,
            dht: Some(DhtConfig::default()),
        }
    }
}

/// Options of `freshet seed PATH`: create a torrent of `path`, then seed it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SeedPathOptions {
    /// The file or directory to share.
    pub path: PathBuf,
    /// Tracker URLs to put in the torrent (none: peers connect by address or magnet `x.pe`).
    pub trackers: Vec<String>,
    /// Where to write the `.torrent` (`None`: not written).
    pub torrent_out: Option<PathBuf>,
    /// The rest, as for `seed TORRENT SAVE_DIR` (`torrent` and `save_dir` are ignored).
    pub seed: SeedOptions,
}

impl SeedPathOptions {
    /// Shares `path` with the listen address, output mode and interrupt flag of `seed`; no
    /// trackers, no `.torrent` written.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>, seed: SeedOptions) -> Self {
        Self {
            path: path.into(),
            trackers: Vec::new(),
            torrent_out: None,
            seed,
        }
    }
}

/// Runs `freshet seed TORRENT SAVE_DIR` until interrupted. Prints a `seeding` line (or JSON
/// event) once the data is checked and being served.
///
/// # Errors
/// The torrent cannot be loaded, the data is incomplete, the listen address cannot be bound,
/// or it was interrupted (the normal way to stop).
pub fn seed(opts: &SeedOptions) -> Result<(), CommandError> {
    let client = spawn(opts)?;
    client.send(Request::AddTorrent {
        request_id: None,
        source: TorrentSource::Path(opts.torrent.clone()),
        options: AddOptions::save_to(&opts.save_dir),
    })?;
    let source_name = opts.torrent.display().to_string();
    run(client, opts, &source_name, None)
}

/// Runs `freshet seed PATH`: creates the torrent, prints its magnet link, then seeds.
///
/// # Errors
/// As [`seed`], plus torrent creation failures.
pub fn seed_path(opts: &SeedPathOptions) -> Result<(), CommandError> {
    let mut builder = TorrentBuilder::new(&opts.path);
    for t in &opts.trackers {
        builder = builder.tracker(t.clone());
    }
    let created = builder
        .build()
        .map_err(|e| CommandError::Create(format!("{}: {e}", opts.path.display())))?;
    if let Some(out) = &opts.torrent_out {
        std::fs::write(out, &created.bytes)
            .map_err(CommandError::io(format!("writing {}", out.display())))?;
    }
    let meta = Metainfo::from_bytes(&created.bytes)
        .map_err(|e| CommandError::Create(format!("created torrent does not parse: {e}")))?;
    let save_dir = opts
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let client = spawn(&opts.seed)?;
    let mut magnet = meta.magnet();
    magnet.peers = client
        .listen_addrs()
        .iter()
        .map(ToString::to_string)
        .collect();
    client.send(Request::AddTorrent {
        request_id: None,
        source: TorrentSource::Bytes(created.bytes),
        options: AddOptions::save_to(save_dir),
    })?;
    run(
        client,
        &opts.seed,
        &opts.path.display().to_string(),
        Some(magnet.to_uri()),
    )
}

fn spawn(opts: &SeedOptions) -> Result<ClientHandle, CommandError> {
    TorrentClient::spawn(
        Config::default()
            .listen_on(opts.listen)
            .with_tick(opts.tick)
            .with_dht(opts.dht.clone()),
    )
    .map_err(CommandError::io(format!("listening on {}", opts.listen)))
}

fn run(
    client: ClientHandle,
    opts: &SeedOptions,
    source_name: &str,
    magnet: Option<String>,
) -> Result<(), CommandError> {
    let mut reporter = Reporter::new(opts.output_mode);
    let listen = client.listen_addrs().to_vec();
    let mut name = String::new();
    let mut dir = String::new();
    let interrupt = opts.interrupt.as_deref();
    let result = loop {
        let Some(e) = next_event(&client, interrupt)? else {
            break Err(CommandError::Interrupted);
        };
        reporter.event(&e);
        match e {
            Event::TorrentAdded {
                name: n, save_path, ..
            } => {
                name = n;
                dir = save_path.display().to_string();
            }
            Event::StartFailed { reason, .. } => {
                break Err(CommandError::StartFailed {
                    source_name: source_name.to_owned(),
                    reason,
                });
            }
            Event::Checked {
                id,
                have_bytes,
                complete,
            } => {
                if !complete {
                    client.send(Request::Status { id: Some(id) })?;
                    let total = loop {
                        match next_event(&client, interrupt)? {
                            Some(Event::Status(s)) => break s.wanted_bytes,
                            Some(_) => {}
                            None => return Err(CommandError::Interrupted),
                        }
                    };
                    break Err(CommandError::Incomplete {
                        name,
                        have: have_bytes,
                        total,
                        dir,
                    });
                }
                let addrs: Vec<String> = listen.iter().map(ToString::to_string).collect();
                reporter.line(
                    &format!("Seeding {name} on {}", addrs.join(", ")),
                    &json!({
                        "event": "seeding", "id": id.0, "name": name, "listen": addrs,
                        "magnet": magnet,
                    }),
                );
                if let Some(m) = &magnet {
                    reporter.line(m, &json!({"event": "magnet", "uri": m}));
                }
            }
            Event::Error { id, what, location } => {
                break Err(CommandError::Torrent {
                    id: id.0,
                    what,
                    location,
                });
            }
            _ => {}
        }
    };
    shutdown(client);
    result
}
