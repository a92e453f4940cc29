//! Session persistence: the torrents of a client with [`Config::state_dir`] set.
//!
//! # Layout
//!
//! For each open torrent, inside the state directory:
//!
//! - `<info-hash hex>.torrent`: its metainfo (the exact `info` bytes plus the tracker tiers,
//!   so the info-hash is unchanged), written when the torrent is opened;
//! - `<info-hash hex>.options.json`: its add options (save directory, trackers on/off), with
//!   the save directory made absolute, and its run-time settings (file priorities, sequential
//!   order, rate, seed and connection limits), rewritten when one of them changes;
//! - `<info-hash hex>.resume`: its resume data (the state directory is the resume directory
//!   unless [`Config::resume_dir`] says otherwise; see the `resume` module).
//!
//! On start the client re-adds every torrent found there, in info-hash order, each reported
//! with a [`Event::TorrentAdded`](crate::Event::TorrentAdded) without a request id; resume
//! data means completed torrents seed at once and incomplete ones carry on without a recheck.
//! Closing a torrent (either [`DataOnClose`](crate::DataOnClose)) removes its three files;
//! shutting down keeps them. Besides these, the DHT node keeps its id and routing table in
//! `dht.state` (see the `dht` module). Files not named like this are never read or touched.
//!
//! [`Config::state_dir`]: crate::Config::state_dir
//! [`Config::resume_dir`]: crate::Config::resume_dir

use std::fs;
use std::path::{Path, PathBuf};

use freshet_engine::save_atomic;
use freshet_metainfo::InfoHashV1;

use super::meta::{MAX_TORRENT_FILE, TorrentMeta, torrent_file_bytes};
use super::request::{AddOptions, UseTrackers};
use super::settings::TorrentSettings;

/// Largest options file read.
const MAX_OPTIONS_FILE: u64 = 64 * 1024;
/// Most torrents restored from one state directory.
const MAX_RESTORED: usize = 100_000;

/// The add options kept for each torrent.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedOptions {
    save_dir: PathBuf,
    trackers: bool,
    /// Absent in files written before settings were kept: defaults.
    #[serde(default)]
    settings: TorrentSettings,
}

/// Writes `meta`, `options` and `settings` into `dir` (creating it).
pub(crate) fn save(
    dir: &Path,
    meta: &TorrentMeta,
    options: &AddOptions,
    settings: &TorrentSettings,
) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let hex = meta.info_hash.to_hex();
    let bytes = torrent_file_bytes(&meta.info_bytes, &meta.trackers);
    save_atomic(&dir.join(format!("{hex}.torrent")), &bytes)?;
    let save_dir = std::path::absolute(&options.save_dir)?;
    let saved = SavedOptions {
        save_dir,
        trackers: options.trackers == UseTrackers::Announce,
        settings: settings.clone(),
    };
    let json = serde_json::to_vec_pretty(&saved).map_err(std::io::Error::other)?;
    save_atomic(&dir.join(format!("{hex}.options.json")), &json)
}

/// Removes the state files of `info_hash` (its resume file included, at `resume`).
pub(crate) fn remove(dir: &Path, info_hash: &InfoHashV1, resume: &Path) {
    let hex = info_hash.to_hex();
    let _ = fs::remove_file(dir.join(format!("{hex}.torrent")));
    let _ = fs::remove_file(dir.join(format!("{hex}.options.json")));
    let _ = fs::remove_file(resume);
}

/// A torrent restored from the state directory.
pub(crate) struct Saved {
    /// Its metainfo, or why it is unreadable.
    pub(crate) meta: Result<TorrentMeta, String>,
    /// Its add options.
    pub(crate) options: AddOptions,
    /// Its run-time settings.
    pub(crate) settings: TorrentSettings,
}

/// The torrents saved in `dir`, in info-hash order. A torrent whose options file is missing or
/// unreadable is skipped with a warning.
pub(crate) fn load_all(dir: &Path) -> Vec<Saved> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".torrent").map(str::to_owned))
        .filter(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .take(MAX_RESTORED)
        .collect();
    names.sort();
    let mut out = Vec::new();
    for hex in names {
        let Some((options, settings)) = read_options(&dir.join(format!("{hex}.options.json")))
        else {
            tracing::warn!("skipping saved torrent {hex}: no readable options file");
            continue;
        };
        let meta = read_limited(&dir.join(format!("{hex}.torrent")), MAX_TORRENT_FILE)
            .and_then(|b| TorrentMeta::from_bytes(&b))
            .map_err(|e| format!("saved torrent {hex}: {e}"));
        out.push(Saved {
            meta,
            options,
            settings,
        });
    }
    out
}

fn read_options(path: &Path) -> Option<(AddOptions, TorrentSettings)> {
    let bytes = read_limited(path, MAX_OPTIONS_FILE).ok()?;
    let saved: SavedOptions = serde_json::from_slice(&bytes).ok()?;
    let trackers = if saved.trackers {
        UseTrackers::Announce
    } else {
        UseTrackers::Never
    };
    Some((
        AddOptions::save_to(saved.save_dir).with_trackers(trackers),
        saved.settings,
    ))
}

fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if meta.len() > max {
        return Err(format!("{}: larger than {max} bytes", path.display()));
    }
    fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}
