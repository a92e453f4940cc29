//! `freshet daemon`: the client component in the foreground, driven by JSON lines.
//!
//! Commands come one JSON object per line on stdin, tagged by `"cmd"`:
//!
//! ```text
//! {"cmd":"add","source":"a.torrent|http(s)://…|magnet:…","save_dir":"dl","peers":["127.0.0.1:6881"],"request_id":7,"no_trackers":false}
//! {"cmd":"close","id":1,"delete":false}      {"cmd":"add_peer","id":1,"addr":"127.0.0.1:6881"}
//! {"cmd":"status"}  {"cmd":"status","id":1}   {"cmd":"details","id":1}
//! {"cmd":"pause","id":1}  {"cmd":"resume","id":1}  {"cmd":"recheck","id":1}
//! {"cmd":"sequential","id":1,"on":true}
//! {"cmd":"priorities","id":1,"priorities":["normal","skip","high","low"]}
//! {"cmd":"limits","down":1048576,"up":0}     {"cmd":"limits","id":1,"down":0,"up":524288}
//! {"cmd":"connections","max":100}            {"cmd":"connections","id":1,"max":10}
//! {"cmd":"dht"}     (the DHT node's status: an {"event":"dht",…} line)
//! {"cmd":"shutdown"}
//! ```
//!
//! Events go to stdout, one JSON object per line, as `download --json` prints them
//! ([`super::event_json`]); a line that is not a valid command gets
//! `{"event":"bad_command","reason":…}`. The daemon runs until stdin closes, a `shutdown`
//! command, or Ctrl-C, then shuts the client down cleanly (resume data written) and prints
//! `{"event":"shutdown"}`. With a state directory, its torrents come back next time.

use std::io::{BufRead, Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossbeam_channel::{Receiver, select};
use serde_json::{Value, json};

use super::output::event_json;
use super::{CommandError, POLL, shutdown};
use crate::{
    AddOptions, Config, DataOnClose, DhtConfig, FilePriority, Request, RequestId, TorrentClient,
    TorrentId, TorrentSource, UseTrackers,
};

/// Longest command line accepted (longer ones are reported and skipped).
const MAX_LINE: u64 = 1024 * 1024;

/// Options of `freshet daemon`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DaemonOptions {
    /// The session's state directory (`None`: nothing persisted).
    pub state_dir: Option<PathBuf>,
    /// Listen address for peers.
    pub listen: SocketAddr,
    /// Status interval.
    pub tick: Duration,
    /// Global download limit, bytes per second (`0`: unlimited).
    pub max_down: u64,
    /// Global upload limit, bytes per second (`0`: unlimited).
    pub max_up: u64,
    /// Set by a Ctrl-C handler: shut down cleanly and stop.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// The DHT (`None`: off). Default: on with no bootstrap routers.
    pub dht: Option<DhtConfig>,
}

impl DaemonOptions {
    /// Defaults: the given state directory, `0.0.0.0:6881`, a 5 s tick, no limits.
    #[must_use]
    pub fn new(state_dir: Option<PathBuf>) -> Self {
        Self {
            state_dir,
            listen: SocketAddr::from(([0, 0, 0, 0], 6881)),
            tick: Duration::from_secs(5),
            max_down: 0,
            max_up: 0,
            interrupt: None,
            dht: Some(DhtConfig::default()),
        }
    }
}

/// The platform data directory for Freshet's session: `$XDG_DATA_HOME/freshet`, else
/// `$HOME/.local/share/freshet` (`None` when neither variable is set).
#[must_use]
pub fn default_state_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/share"))
        })
        .map(|d| d.join("freshet"))
}

/// One stdin command.
#[derive(Debug, serde::Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
enum Command {
    Add {
        source: String,
        #[serde(default)]
        save_dir: Option<PathBuf>,
        #[serde(default)]
        peers: Vec<SocketAddr>,
        #[serde(default)]
        request_id: Option<u64>,
        #[serde(default)]
        no_trackers: bool,
    },
    Close {
        id: u64,
        #[serde(default)]
        delete: bool,
    },
    AddPeer {
        id: u64,
        addr: SocketAddr,
    },
    Status {
        #[serde(default)]
        id: Option<u64>,
    },
    Details {
        id: u64,
    },
    Pause {
        id: u64,
    },
    Resume {
        id: u64,
    },
    Recheck {
        id: u64,
    },
    Connections {
        #[serde(default)]
        id: Option<u64>,
        max: usize,
    },
    Sequential {
        id: u64,
        on: bool,
    },
    Priorities {
        id: u64,
        priorities: Vec<Priority>,
    },
    Limits {
        #[serde(default)]
        id: Option<u64>,
        #[serde(default)]
        down: u64,
        #[serde(default)]
        up: u64,
    },
    Dht,
    Shutdown,
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
enum Priority {
    Skip,
    Low,
    Normal,
    High,
}

impl Command {
    /// The request, or `None` for `shutdown`.
    fn into_request(self) -> Option<Request> {
        Some(match self {
            Self::Add {
                source,
                save_dir,
                peers,
                request_id,
                no_trackers,
            } => {
                let mut options = AddOptions::save_to(save_dir.unwrap_or_else(|| ".".into()));
                options.peers = peers;
                if no_trackers {
                    options = options.with_trackers(UseTrackers::Never);
                }
                Request::AddTorrent {
                    request_id: request_id.map(RequestId),
                    source: TorrentSource::from_arg(&source),
                    options,
                }
            }
            Self::Close { id, delete } => Request::CloseTorrent {
                id: TorrentId(id),
                data: if delete {
                    DataOnClose::Delete
                } else {
                    DataOnClose::Keep
                },
            },
            Self::AddPeer { id, addr } => Request::AddPeer {
                id: TorrentId(id),
                addr,
            },
            Self::Status { id } => Request::Status {
                id: id.map(TorrentId),
            },
            Self::Details { id } => Request::Details { id: TorrentId(id) },
            Self::Dht => Request::DhtStatus,
            Self::Pause { id } => Request::Pause { id: TorrentId(id) },
            Self::Resume { id } => Request::Resume { id: TorrentId(id) },
            Self::Recheck { id } => Request::Recheck { id: TorrentId(id) },
            Self::Connections { id, max } => Request::SetConnectionLimits {
                id: id.map(TorrentId),
                max,
            },
            Self::Sequential { id, on } => Request::SetSequential {
                id: TorrentId(id),
                sequential: on,
            },
            Self::Priorities { id, priorities } => Request::SetFilePriorities {
                id: TorrentId(id),
                priorities: priorities
                    .into_iter()
                    .map(|p| match p {
                        Priority::Skip => FilePriority::Skip,
                        Priority::Low => FilePriority::Low,
                        Priority::Normal => FilePriority::Normal,
                        Priority::High => FilePriority::High,
                    })
                    .collect(),
            },
            Self::Limits { id, down, up } => Request::SetRateLimits {
                id: id.map(TorrentId),
                down,
                up,
            },
            Self::Shutdown => return None,
        })
    }
}

/// What the stdin thread hands the main loop.
enum Input {
    Command(Command),
    Bad(String),
}

/// Runs `freshet daemon` until stdin closes, `shutdown`, or the interrupt flag.
///
/// # Errors
/// The listen address cannot be bound or stdout cannot be written.
pub fn daemon(opts: &DaemonOptions) -> Result<(), CommandError> {
    let mut config = Config::default()
        .listen_on(opts.listen)
        .with_tick(opts.tick);
    config.max_download_rate = opts.max_down;
    config.max_upload_rate = opts.max_up;
    config.state_dir.clone_from(&opts.state_dir);
    config.dht.clone_from(&opts.dht);
    let client = TorrentClient::spawn(config)
        .map_err(CommandError::io(format!("listening on {}", opts.listen)))?;
    let out = std::io::stdout();
    let print = |v: &Value| -> Result<(), CommandError> {
        let mut o = out.lock();
        writeln!(o, "{v}")
            .and_then(|()| o.flush())
            .map_err(CommandError::io("writing to stdout".to_owned()))
    };
    print(&json!({
        "event": "listening",
        "addrs": client.listen_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "state_dir": opts.state_dir.as_ref().map(|d| d.display().to_string()),
    }))?;
    let commands = spawn_stdin_reader();
    let interrupt = opts.interrupt.as_deref();
    let result = loop {
        if interrupt.is_some_and(|f| f.load(Ordering::SeqCst)) {
            break Ok(());
        }
        select! {
            recv(client.outbox()) -> e => match e {
                Ok(e) => print(&event_json(&e))?,
                Err(_) => break Err(CommandError::ClientGone),
            },
            recv(commands) -> c => match c {
                Ok(Input::Command(c)) => match c.into_request() {
                    Some(r) => client.send(r)?,
                    None => break Ok(()),
                },
                Ok(Input::Bad(reason)) => {
                    print(&json!({"event": "bad_command", "reason": reason}))?;
                }
                Err(_) => break Ok(()), // stdin closed
            },
            default(POLL) => {}
        }
    };
    shutdown(client);
    print(&json!({"event": "shutdown"}))?;
    result
}

/// Reads stdin lines (bounded) on a thread; the channel closes at end of input.
fn spawn_stdin_reader() -> Receiver<Input> {
    let (tx, rx) = crossbeam_channel::unbounded();
    let spawned = std::thread::Builder::new()
        .name("freshet-stdin".into())
        .spawn(move || {
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            loop {
                let mut line = Vec::new();
                match (&mut lock).take(MAX_LINE).read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line.last() != Some(&b'\n') && line.len() as u64 >= MAX_LINE {
                    // Skip the rest of the over-long line.
                    let mut rest = Vec::new();
                    loop {
                        rest.clear();
                        match (&mut lock).take(MAX_LINE).read_until(b'\n', &mut rest) {
                            Ok(0) | Err(_) => return,
                            Ok(_) if rest.last() == Some(&b'\n') => break,
                            Ok(_) => {}
                        }
                    }
                    let _ = tx.send(Input::Bad(format!("line longer than {MAX_LINE} bytes")));
                    continue;
                }
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let input = match serde_json::from_slice::<Command>(&line) {
                    Ok(c) => Input::Command(c),
                    Err(e) => Input::Bad(e.to_string()),
                };
                if tx.send(input).is_err() {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        // The sender went with the closure: the channel is closed and the daemon shuts down.
        tracing::error!("cannot start the stdin reader: {e}");
    }
    rx
}
