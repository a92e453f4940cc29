//! `freshet download TORRENT|URL|MAGNET… [-o DIR] [--seed] [--listen ADDR] [--peer ADDR]… [--json]`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde_json::json;

use super::output::{OutputMode, Reporter};
use super::{CommandError, next_event, shutdown};
use crate::{
    AddOptions, Config, DhtConfig, Event, FilePriority, Request, RequestId, TorrentClient,
    TorrentId, TorrentSource,
};

/// Options of `freshet download`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DownloadOptions {
    /// `.torrent` paths, `http://` URLs or magnet links.
    pub sources: Vec<String>,
    /// Save directory (`-o/--output`, default `.`).
    pub output: PathBuf,
    /// Keep seeding after everything is downloaded, until interrupted (`--seed`).
    pub seed: bool,
    /// Listen address (`--listen`, default `0.0.0.0:6881`; port 0 = any).
    pub listen: SocketAddr,
    /// Peers to connect to by hand (`--peer`).
    pub peers: Vec<SocketAddr>,
    /// How to show progress (`--json` selects [`OutputMode::Json`]).
    pub output_mode: OutputMode,
    /// Status interval.
    pub tick: Duration,
    /// Set by a Ctrl-C handler ([`super::ctrl_c_flag`]): shut down cleanly and stop.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Global download limit, bytes per second (`--max-down`; `0`: unlimited).
    pub max_down: u64,
    /// Global upload limit, bytes per second (`--max-up`; `0`: unlimited).
    pub max_up: u64,
    /// Download pieces in order (`--sequential`).
    pub sequential: bool,
    /// Download only these files (`--only`; 0-based indexes into each torrent's real files,
    /// padding left out). Other files are set to skip as soon as the torrent's metadata is
    /// known; bytes of theirs that share a piece with a wanted file are still written.
    pub only: Option<Vec<usize>>,
    /// Keep the session (torrents, options, resume data) in this directory (`--state-dir`).
    pub state_dir: Option<PathBuf>,
    /// After completing, seed until every torrent has uploaded this many times its wanted
    /// size (`--seed-ratio`), then exit 0.
    pub seed_ratio: Option<f64>,
    /// The DHT (`None`: off, `--no-dht`). Default: on with no bootstrap routers; the `freshet`
    /// binary puts the public routers (or `--dht-bootstrap`) here.
    pub dht: Option<DhtConfig>,
}

impl DownloadOptions {
    /// Downloads `sources` into `output` with defaults for everything else.
    #[must_use]
    pub fn new(sources: Vec<String>, output: impl Into<PathBuf>) -> Self {
        Self {
            sources,
            output: output.into(),
            seed: false,
            listen: SocketAddr::from(([0, 0, 0, 0], 6881)),
            peers: Vec::new(),
            output_mode: OutputMode::Auto,
            tick: Duration::from_secs(1),
            interrupt: None,
            max_down: 0,
            max_up: 0,
            sequential: false,
            only: None,
            state_dir: None,
            seed_ratio: None,
            dht: Some(DhtConfig::default()),
        }
    }
}

/// What a finished download reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadReport {
    /// Each torrent's name and where it was saved.
    pub torrents: Vec<(String, PathBuf)>,
    /// Payload bytes downloaded in this run.
    pub downloaded: u64,
}

/// Runs `freshet download`: adds every source, shows progress, and returns once every torrent
/// is complete and verified (or, with `seed`, when interrupted). Running the same command again
/// resumes (resume data lives in `OUTPUT/.freshet/`).
///
/// # Errors
/// A source cannot be started, a torrent fails, the listen address cannot be bound, or the
/// interrupt flag was set (after a clean shutdown).
pub fn download(opts: &DownloadOptions) -> Result<DownloadReport, CommandError> {
    let mut config = Config::default()
        .listen_on(opts.listen)
        .with_tick(opts.tick);
    config.max_download_rate = opts.max_down;
    config.max_upload_rate = opts.max_up;
    config.state_dir.clone_from(&opts.state_dir);
    config.dht.clone_from(&opts.dht);
    let client = TorrentClient::spawn(config)
        .map_err(CommandError::io(format!("listening on {}", opts.listen)))?;
    let mut reporter = Reporter::new(opts.output_mode);
    for (i, src) in opts.sources.iter().enumerate() {
        let mut options = AddOptions::save_to(&opts.output);
        for p in &opts.peers {
            options = options.with_peer(*p);
        }
        client.send(Request::AddTorrent {
            request_id: Some(RequestId(i as u64)),
            source: TorrentSource::from_arg(src),
            options,
        })?;
    }
    let mut names: BTreeMap<TorrentId, (String, PathBuf)> = BTreeMap::new();
    let mut done: BTreeSet<TorrentId> = BTreeSet::new();
    let mut downloaded: BTreeMap<TorrentId, u64> = BTreeMap::new();
    let mut replies = 0;
    let mut announced_seeding = false;
    // Torrents whose `--only` priorities are not set yet (waiting for their file list).
    let mut needs_only: BTreeSet<TorrentId> = BTreeSet::new();
    let mut ratio_met: BTreeSet<TorrentId> = BTreeSet::new();
    let interrupt = opts.interrupt.as_deref();
    let result = loop {
        let Some(e) = next_event(&client, interrupt)? else {
            break Err(CommandError::Interrupted);
        };
        reporter.event(&e);
        match e {
            Event::TorrentAdded {
                id,
                name,
                save_path,
                ..
            } => {
                replies += 1;
                names.insert(id, (name, save_path));
                if opts.sequential {
                    client.send(Request::SetSequential {
                        id,
                        sequential: true,
                    })?;
                }
                if opts.only.is_some() {
                    needs_only.insert(id);
                    client.send(Request::Details { id })?;
                }
            }
            Event::AlreadyDownloading { .. } => replies += 1,
            Event::StartFailed { request_id, reason } => {
                let idx = request_id.map_or(0, |r| r.0 as usize);
                break Err(CommandError::StartFailed {
                    source_name: opts.sources.get(idx).cloned().unwrap_or_default(),
                    reason,
                });
            }
            Event::Checked {
                id, complete: true, ..
            }
            | Event::Completed { id } => {
                done.insert(id);
            }
            Event::Error { id, what, location } => {
                break Err(CommandError::Torrent {
                    id: id.0,
                    what,
                    location,
                });
            }
            Event::Status(s) => {
                downloaded.insert(s.id, s.downloaded);
                if let Some(only) = &opts.only
                    && !s.files.is_empty()
                    && needs_only.remove(&s.id)
                {
                    if let Some(&bad) = only.iter().find(|&&i| i >= s.files.len()) {
                        break Err(CommandError::Torrent {
                            id: s.id.0,
                            what: format!("--only {bad}: the torrent has {} files", s.files.len()),
                            location: "--only".into(),
                        });
                    }
                    let priorities = (0..s.files.len())
                        .map(|i| {
                            if only.contains(&i) {
                                FilePriority::Normal
                            } else {
                                FilePriority::Skip
                            }
                        })
                        .collect();
                    client.send(Request::SetFilePriorities {
                        id: s.id,
                        priorities,
                    })?;
                }
                if let Some(r) = opts.seed_ratio
                    && done.contains(&s.id)
                    && s.uploaded as f64 >= r * s.wanted_bytes as f64
                {
                    ratio_met.insert(s.id);
                }
            }
            _ => {}
        }
        let all_done =
            replies == opts.sources.len() && done.len() == names.len() && needs_only.is_empty();
        if all_done && opts.seed_ratio.is_some() && ratio_met.len() == names.len() {
            break Ok(());
        }
        if all_done && !opts.seed && opts.seed_ratio.is_none() {
            break Ok(());
        }
        if all_done && !announced_seeding {
            announced_seeding = true;
            reporter.line(
                "All torrents complete; seeding until interrupted",
                &json!({"event": "seeding", "ids": names.keys().map(|i| i.0).collect::<Vec<_>>()}),
            );
        }
    };
    if result.is_ok() && !names.is_empty() {
        // One last status per torrent, so the totals are final.
        client.send(Request::Status { id: None })?;
        let mut fresh = BTreeSet::new();
        while fresh.len() < names.len() {
            match next_event(&client, interrupt)? {
                Some(Event::Status(s)) => {
                    downloaded.insert(s.id, s.downloaded);
                    fresh.insert(s.id);
                }
                Some(_) => {}
                None => break,
            }
        }
    }
    shutdown(client);
    result.map(|()| DownloadReport {
        torrents: names.into_values().collect(),
        downloaded: downloaded.values().sum(),
    })
}
