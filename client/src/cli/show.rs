//! `freshet show FILE|MAGNET [--json]`: what a `.torrent` or magnet link contains, in the
//! manner of `transmission-show`. With `--fetch`, a magnet link's metadata is first fetched
//! from its peers (BEP 9) by a client component that runs just long enough, then shown like a
//! `.torrent`; `--save FILE` writes that `.torrent`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use freshet_metainfo::{Magnet, Metainfo};
use serde_json::{Value, json};

use super::transfer::DhtArgs;
use super::{CliError, human_size, load_torrent};

/// Arguments of `freshet show`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A .torrent file, or a magnet link (`magnet:?xt=...`).
    input: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// For a magnet link: fetch the metadata from its peers (`x.pe`, `tr` trackers, `--peer`)
    /// and show the full metainfo.
    #[arg(long)]
    fetch: bool,
    /// With `--fetch`: write the fetched `.torrent` to FILE.
    #[arg(long, value_name = "FILE", requires = "fetch")]
    save: Option<PathBuf>,
    /// With `--fetch`: a peer to ask (repeatable).
    #[arg(long = "peer", value_name = "IP:PORT", requires = "fetch")]
    peers: Vec<SocketAddr>,
    /// With `--fetch`: give up after this many seconds (exit code 1).
    #[arg(long, value_name = "S", default_value_t = 60, requires = "fetch")]
    timeout: u64,
    /// With `--fetch`: the DHT flags of `download` (`--dht-bootstrap`, `--no-dht`,
    /// `--offline`).
    #[command(flatten)]
    dht: DhtArgs,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, CliError> {
    let input = args.input.as_str();
    let looks_magnet = input
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("magnet:"));
    if looks_magnet || (!Path::new(input).exists() && Magnet::parse(input).is_ok()) {
        let magnet = Magnet::parse(input)
            .map_err(|e| CliError::input("magnet link", format!("invalid magnet link: {e}")))?;
        if args.fetch {
            return show_fetched(args, input);
        }
        if args.json {
            println!("{}", magnet_json(&magnet));
        } else {
            print!("{}", magnet_text(&magnet));
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.fetch {
        return Err(CliError::input(input, "--fetch needs a magnet link"));
    }
    let meta = load_torrent(Path::new(input))?;
    if args.json {
        println!("{}", torrent_json(&meta));
    } else {
        print!("{}", torrent_text(&meta, input));
    }
    Ok(ExitCode::SUCCESS)
}

/// `--fetch`: runs a client component until the magnet's metadata arrives (or the timeout),
/// prints it like a `.torrent`, and writes it with `--save`.
fn show_fetched(args: &Args, uri: &str) -> Result<ExitCode, CliError> {
    let config = freshet_client::Config::default()
        .with_tick(Duration::from_secs(1))
        .with_dht(args.dht.config());
    let bytes = fetch_metadata(config, uri, &args.peers, Duration::from_secs(args.timeout))?;
    let meta = Metainfo::from_bytes(&bytes)
        .map_err(|e| CliError::with_code(format!("fetched metadata is unusable: {e}"), 1))?;
    if let Some(path) = &args.save {
        std::fs::write(path, &bytes)
            .map_err(|e| CliError::with_code(format!("{}: {e}", path.display()), 1))?;
    }
    if args.json {
        println!("{}", torrent_json(&meta));
    } else {
        let file = args.save.as_ref().map_or_else(
            || "(fetched from peers)".to_owned(),
            |p| p.display().to_string(),
        );
        print!("{}", torrent_text(&meta, &file));
    }
    Ok(ExitCode::SUCCESS)
}

/// The `.torrent` bytes of a magnet link, fetched by a client component (run with `config`)
/// that saves nothing.
fn fetch_metadata(
    config: freshet_client::Config,
    uri: &str,
    peers: &[SocketAddr],
    timeout: Duration,
) -> Result<Vec<u8>, CliError> {
    use freshet_client::{
        AddOptions, AfterMetadata, Event, Request, RequestId, TorrentClient, TorrentSource,
    };
    let failed = |what: String| CliError::with_code(what, 1);
    // Nothing is written: the save directory is only a label for a torrent that never opens.
    let mut options =
        AddOptions::save_to(std::env::temp_dir()).with_after_metadata(AfterMetadata::Stop);
    for p in peers {
        options = options.with_peer(*p);
    }
    let client = TorrentClient::spawn(config)
        .map_err(|e| failed(format!("cannot start the client: {e}")))?;
    client
        .send(Request::AddTorrent {
            request_id: Some(RequestId(1)),
            source: TorrentSource::Magnet(uri.to_owned()),
            options,
        })
        .map_err(|e| failed(format!("client stopped: {e}")))?;
    #[expect(
        clippy::disallowed_methods,
        reason = "the CLI bounds its wait with the real clock"
    )]
    let deadline = Instant::now() + timeout;
    let mut peers_seen = 0;
    let result = loop {
        #[expect(
            clippy::disallowed_methods,
            reason = "the CLI bounds its wait with the real clock"
        )]
        let left = deadline.saturating_duration_since(Instant::now());
        match client.next_event(left) {
            Ok(Event::MetadataReceived { torrent, .. }) => break Ok(torrent),
            Ok(Event::StartFailed { reason, .. }) => break Err(CliError::input(uri, reason)),
            Ok(Event::Status(s)) => peers_seen = peers_seen.max(s.peers),
            Ok(Event::Error { what, .. }) => {
                break Err(failed(format!("fetching metadata: {what}")));
            }
            Ok(_) => {}
            Err(_) => {
                break Err(failed(format!(
                    "no metadata within {} s (at most {peers_seen} peers connected)",
                    timeout.as_secs()
                )));
            }
        }
    };
    client.join();
    result
}

/// The `--json` object for a torrent (field names are part of the CLI contract).
pub(crate) fn torrent_json(m: &Metainfo) -> Value {
    let files: Vec<Value> = m
        .info
        .files
        .iter()
        .map(|f| json!({"path": f.path_string(), "length": f.length, "padding": f.attributes.padding}))
        .collect();
    json!({
        "name": m.info.name,
        "info_hash": m.info_hashes.v1.map(|h| h.to_hex()),
        "info_hash_v2": m.info_hashes.v2.map(|h| h.to_hex()),
        "piece_length": m.info.piece_length,
        "piece_count": m.info.piece_count,
        "total_length": m.info.total_length,
        "private": m.info.private,
        "files": files,
        "trackers": m.trackers,
        "web_seeds": m.web_seeds,
        "comment": m.comment,
        "created_by": m.created_by,
        "creation_date": m.creation_date,
    })
}

/// The `--json` object for a magnet link: the same fields, filled with what it carries.
fn magnet_json(m: &Magnet) -> Value {
    let tiers: Vec<Vec<&String>> = m.trackers.iter().map(|t| vec![t]).collect();
    json!({
        "name": m.display_name,
        "info_hash": m.info_hashes.v1.map(|h| h.to_hex()),
        "info_hash_v2": m.info_hashes.v2.map(|h| h.to_hex()),
        "piece_length": null,
        "piece_count": null,
        "total_length": m.exact_length,
        "private": false,
        "files": [],
        "trackers": tiers,
        "web_seeds": m.web_seeds,
        "comment": null,
        "created_by": null,
        "creation_date": null,
    })
}

fn torrent_text(m: &Metainfo, file: &str) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let i = &m.info;
    let _ = writeln!(s, "Name: {}", i.name);
    let _ = writeln!(s, "File: {file}");
    let _ = writeln!(s);
    let _ = writeln!(s, "GENERAL");
    let _ = writeln!(s);
    if let Some(h) = m.info_hashes.v1 {
        let _ = writeln!(s, "  Hash v1: {h}");
    }
    if let Some(h) = m.info_hashes.v2 {
        let _ = writeln!(s, "  Hash v2: {h}");
    }
    let _ = writeln!(
        s,
        "  Created by: {}",
        m.created_by.as_deref().unwrap_or("Unknown")
    );
    let _ = writeln!(
        s,
        "  Created on: {}",
        m.creation_date
            .map_or_else(|| "Unknown".to_owned(), utc_date)
    );
    if let Some(c) = &m.comment {
        let _ = writeln!(s, "  Comment: {c}");
    }
    if let Some(src) = &i.source {
        let _ = writeln!(s, "  Source: {src}");
    }
    let _ = writeln!(s, "  Piece Count: {}", i.piece_count);
    let _ = writeln!(s, "  Piece Size: {}", human_size(i.piece_length));
    let _ = writeln!(s, "  Total Size: {}", human_size(i.total_length));
    let _ = writeln!(
        s,
        "  Privacy: {}",
        if i.private {
            "Private torrent"
        } else {
            "Public torrent"
        }
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "TRACKERS");
    for (n, tier) in m.trackers.iter().enumerate() {
        let _ = writeln!(s);
        let _ = writeln!(s, "  Tier #{}", n + 1);
        for url in tier {
            let _ = writeln!(s, "  {url}");
        }
    }
    if !m.web_seeds.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "WEBSEEDS");
        let _ = writeln!(s);
        for url in &m.web_seeds {
            let _ = writeln!(s, "  {url}");
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "FILES");
    let _ = writeln!(s);
    for f in &i.files {
        let mut flags = String::new();
        if f.attributes.padding {
            flags.push_str(" [pad]");
        }
        if let Some(t) = &f.symlink_target {
            flags.push_str(&format!(" -> {}", t.join("/")));
        }
        let _ = writeln!(s, "  {} ({}){flags}", f.path_string(), human_size(f.length));
    }
    s
}

fn magnet_text(m: &Magnet) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Name: {}",
        m.display_name.as_deref().unwrap_or("(no display name)")
    );
    if let Some(h) = m.info_hashes.v1 {
        let _ = writeln!(s, "  Hash v1: {h}");
    }
    if let Some(h) = m.info_hashes.v2 {
        let _ = writeln!(s, "  Hash v2: {h}");
    }
    if let Some(xl) = m.exact_length {
        let _ = writeln!(s, "  Total Size: {}", human_size(xl));
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "TRACKERS");
    for (n, url) in m.trackers.iter().enumerate() {
        let _ = writeln!(s);
        let _ = writeln!(s, "  Tier #{}", n + 1);
        let _ = writeln!(s, "  {url}");
    }
    if !m.web_seeds.is_empty() {
        let _ = writeln!(s);
        let _ = writeln!(s, "WEBSEEDS");
        let _ = writeln!(s);
        for url in &m.web_seeds {
            let _ = writeln!(s, "  {url}");
        }
    }
    s
}

/// `YYYY-MM-DD HH:MM:SS UTC` from Unix seconds (proleptic Gregorian calendar).
fn utc_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc_date;

    #[test]
    fn formats_unix_seconds_as_utc() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(1_123_456_789), "2005-08-07 23:19:49 UTC");
        assert_eq!(utc_date(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
