//! How the commands show events: progress bars on a terminal, plain lines otherwise, or one
//! JSON object per line.

use std::collections::HashMap;
use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::{Event, TorrentId, TorrentStatus};

/// How a command reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputMode {
    /// Progress bars when stderr is a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines (status lines every tick).
    Plain,
    /// One JSON object per line on stdout (see [`event_json`]).
    Json,
}

/// Turns an event into the JSON object `--json` prints: an `"event"` name plus its fields.
#[must_use]
pub fn event_json(e: &Event) -> Value {
    match e {
        Event::TorrentAdded {
            request_id,
            id,
            name,
            save_path,
            info_hash,
        } => json!({
            "event": "added", "request_id": request_id.map(|r| r.0), "id": id.0,
            "name": name, "save_path": save_path.display().to_string(),
            "info_hash": info_hash.to_hex(),
        }),
        Event::AlreadyDownloading { request_id, id } => json!({
            "event": "already_downloading", "request_id": request_id.map(|r| r.0), "id": id.0,
        }),
        Event::StartFailed { request_id, reason } => json!({
            "event": "start_failed", "request_id": request_id.map(|r| r.0), "reason": reason,
        }),
        Event::Checked {
            id,
            have_bytes,
            complete,
        } => json!({
            "event": "checked", "id": id.0, "have_bytes": have_bytes, "complete": complete,
        }),
        Event::Status(s) => status_json(s),
        Event::Completed { id } => json!({ "event": "completed", "id": id.0 }),
        Event::MetadataReceived { id, torrent } => json!({
            "event": "metadata_received", "id": id.0, "torrent_bytes": torrent.len(),
        }),
        Event::Closed { id } => json!({ "event": "closed", "id": id.0 }),
        Event::Moved { id, save_path } => json!({
            "event": "moved", "id": id.0, "save_path": save_path.display().to_string(),
        }),
        Event::SeedLimitReached {
            id,
            ratio,
            seeded_for,
        } => json!({
            "event": "seed_limit_reached", "id": id.0, "ratio": ratio,
            "seeded_secs": seeded_for.as_secs(),
        }),
        Event::Error { id, what, location } => json!({
            "event": "error", "id": id.0, "what": what, "where": location,
        }),
        Event::Dht(None) => json!({ "event": "dht", "enabled": false }),
        Event::Dht(Some(d)) => json!({
            "event": "dht", "enabled": true, "node_id": d.node_id.to_string(),
            "addrs": d.addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "good": d.table.good, "questionable": d.table.questionable, "bad": d.table.bad,
            "buckets": d.table.non_empty_buckets, "stored_torrents": d.table.stored_torrents,
            "active_lookups": d.table.active_lookups, "lookups_done": d.lookups_done,
            "torrents": d.torrents, "peers_found": d.peers_found,
            "packets_in": d.packets_in, "packets_out": d.packets_out,
        }),
    }
}

fn status_json(s: &TorrentStatus) -> Value {
    let mut v = status_fields(s);
    if !s.files.is_empty() {
        v["files"] = s
            .files
            .iter()
            .map(|f| {
                json!({"path": f.path, "length": f.length, "have_bytes": f.have_bytes,
                    "priority": format!("{:?}", f.priority).to_lowercase()})
            })
            .collect();
    }
    if !s.peer_list.is_empty() {
        v["peer_list"] = s
            .peer_list
            .iter()
            .map(|p| {
                json!({"addr": p.addr.map(|a| a.to_string()), "client": p.client,
                    "down_rate": p.down_rate, "up_rate": p.up_rate, "pieces": p.pieces,
                    "am_choking": p.am_choking, "am_interested": p.am_interested,
                    "peer_choking": p.peer_choking, "peer_interested": p.peer_interested,
                    "snubbed": p.snubbed})
            })
            .collect();
    }
    v
}

fn status_fields(s: &TorrentStatus) -> Value {
    json!({
        "event": "status", "id": s.id.0, "name": s.name, "activity": s.activity.to_string(),
        "fraction_done": s.fraction_done, "have_bytes": s.have_bytes,
        "wanted_bytes": s.wanted_bytes, "down_rate": s.down_rate, "up_rate": s.up_rate,
        "downloaded": s.downloaded, "uploaded": s.uploaded,
        "eta_secs": s.eta.map(|d| d.as_secs()), "peers": s.peers, "seeds": s.seeds,
        "swarm_seeds": s.swarm_seeds, "swarm_leechers": s.swarm_leechers,
        "distributed_copies": s.distributed_copies, "tracker": s.tracker.to_string(),
        "tracker_error": s.tracker_error, "error": s.error,
    })
}

/// Shows events in the chosen [`OutputMode`].
pub(crate) struct Reporter {
    json: bool,
    bars: Option<(MultiProgress, HashMap<TorrentId, ProgressBar>)>,
}

impl Reporter {
    pub(crate) fn new(mode: OutputMode) -> Self {
        let bars = (mode == OutputMode::Auto && std::io::stderr().is_terminal())
            .then(|| (MultiProgress::new(), HashMap::new()));
        Self {
            json: mode == OutputMode::Json,
            bars,
        }
    }

    /// Prints one line (plain mode) or a JSON object (JSON mode) that is not an event.
    pub(crate) fn line(&mut self, text: &str, json: &Value) {
        if self.json {
            println_flush(&json.to_string());
        } else if let Some((multi, _)) = &self.bars {
            let _ = multi.println(text);
        } else {
            println_flush(text);
        }
    }

    pub(crate) fn event(&mut self, e: &Event) {
        if self.json {
            println_flush(&event_json(e).to_string());
            return;
        }
        let Some((multi, bars)) = &mut self.bars else {
            println_flush(&plain(e));
            return;
        };
        match e {
            Event::Status(s) => {
                let bar = bars.entry(s.id).or_insert_with(|| {
                    let b = multi.add(ProgressBar::new(s.wanted_bytes));
                    let style = ProgressStyle::with_template(
                        "{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}",
                    )
                    .map(|st| st.progress_chars("=> "))
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
                    b.set_style(style);
                    b.set_prefix(s.name.clone());
                    b
                });
                bar.set_length(s.wanted_bytes);
                bar.set_position(s.have_bytes);
                bar.set_message(format!(
                    "{} {}/s, {} peers{}",
                    s.activity,
                    crate::commands::human_size(s.down_rate),
                    s.peers,
                    s.eta
                        .map(|d| format!(", eta {}s", d.as_secs()))
                        .unwrap_or_default()
                ));
            }
            Event::Completed { id } => {
                if let Some(b) = bars.get(id) {
                    b.finish_with_message("complete");
                }
            }
            other => {
                let _ = multi.println(plain(other));
            }
        }
    }
}

fn plain(e: &Event) -> String {
    match e {
        Event::Status(s) => format!(
            "{s} ({}, {}/s down, {}/s up, {} peers, {} seeds{})",
            s.activity,
            crate::commands::human_size(s.down_rate),
            crate::commands::human_size(s.up_rate),
            s.peers,
            s.seeds,
            s.eta
                .map(|d| format!(", eta {}s", d.as_secs()))
                .unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

fn println_flush(s: &str) {
    // Rust's stdout is line-buffered, so each line goes out whole and at once.
    println!("{s}");
}
