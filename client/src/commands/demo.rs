//! `freshet demo`: a whole swarm on 127.0.0.1 with nothing to install.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use freshet_metainfo::TorrentBuilder;
use serde_json::json;

use super::output::{OutputMode, Reporter};
use super::{CommandError, human_size, next_event, shutdown};
use crate::tracker_server::{TrackerServer, TrackerServerOptions};
use crate::{
    AddOptions, Config, DhtConfig, Event, Request, RequestId, TorrentClient, TorrentSource,
};

/// Options of `freshet demo`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DemoOptions {
    /// Bytes of sample data (spread over a few files; default 64 MiB).
    pub size: u64,
    /// Where to put the sample data and the download (`None`: a temporary directory, removed
    /// afterwards).
    pub work_dir: Option<PathBuf>,
    /// How to show progress.
    pub output_mode: OutputMode,
    /// Status interval of the downloading client.
    pub tick: Duration,
    /// Set by a Ctrl-C handler.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            size: 64 * 1024 * 1024,
            work_dir: None,
            output_mode: OutputMode::Auto,
            tick: Duration::from_millis(500),
            interrupt: None,
        }
    }
}

/// What the demo measured.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DemoReport {
    /// Bytes transferred and verified.
    pub bytes: u64,
    /// Seconds from the add request to `Completed`.
    pub seconds: f64,
    /// Throughput in MB/s (10^6 bytes).
    pub mb_per_second: f64,
}

/// Runs the demo: sample data, a torrent, the embedded tracker, a seeding client, and a second
/// client downloading through its inbox/outbox; then verifies the copy and prints throughput.
///
/// # Errors
/// Any step fails, the copy differs, or it was interrupted.
#[allow(clippy::disallowed_methods)] // Measures wall-clock throughput.
pub fn demo(opts: &DemoOptions) -> Result<DemoReport, CommandError> {
    let temp;
    let root = match &opts.work_dir {
        Some(d) => d.clone(),
        None => {
            temp =
                tempfile::tempdir().map_err(CommandError::io("creating a temporary directory"))?;
            temp.path().to_path_buf()
        }
    };
    let mut reporter = Reporter::new(opts.output_mode);
    let say = |r: &mut Reporter, text: String, step: &str| {
        r.line(
            &text,
            &json!({"event": "demo", "step": step, "message": text}),
        );
    };

    // 1. Sample data: three files of pseudo-random bytes.
    let src = root.join("seed");
    let data_dir = src.join("freshet-demo");
    let sizes = [
        opts.size / 2,
        opts.size / 4,
        opts.size - opts.size / 2 - opts.size / 4,
    ];
    for (i, len) in sizes.iter().enumerate() {
        let path = data_dir.join(format!("part-{i}.bin"));
        std::fs::create_dir_all(&data_dir).map_err(CommandError::io("creating sample data"))?;
        std::fs::write(&path, sample(*len, i as u64 + 1))
            .map_err(CommandError::io(format!("writing {}", path.display())))?;
    }
    say(
        &mut reporter,
        format!(
            "Sample data: {} in {}",
            human_size(opts.size),
            data_dir.display()
        ),
        "data",
    );

    // 2. The embedded tracker, and a torrent announcing to it.
    let tracker = TrackerServer::spawn(
        TrackerServerOptions::new(Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))), None)
            .with_interval(5),
    )
    .map_err(CommandError::io("starting the embedded tracker"))?;
    let Some(http) = tracker.local_addrs().http else {
        return Err(CommandError::Create(
            "the tracker has no HTTP address".into(),
        ));
    };
    let url = format!("http://{http}/announce");
    let created = TorrentBuilder::new(&data_dir)
        .tracker(url.clone())
        .build()
        .map_err(|e| CommandError::Create(e.to_string()))?;
    say(
        &mut reporter,
        format!(
            "Torrent: {} pieces of {}, tracker {url}",
            created.piece_count,
            human_size(created.piece_length)
        ),
        "torrent",
    );

    // 3. A seeding client.
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    // The demo keeps every packet on 127.0.0.1: its DHT nodes get no bootstrap routers.
    let dht = Some(DhtConfig::default().with_bootstrap(Vec::<String>::new()));
    let seeder = TorrentClient::spawn(Config::default().listen_on(local).with_dht(dht.clone()))
        .map_err(CommandError::io("starting the seeding client"))?;
    seeder.send(Request::AddTorrent {
        request_id: None,
        source: TorrentSource::Bytes(created.bytes.clone()),
        options: AddOptions::save_to(&src),
    })?;
    let interrupt = opts.interrupt.as_deref();
    loop {
        match next_event(&seeder, interrupt)? {
            Some(Event::Checked { complete: true, .. }) => break,
            Some(Event::Checked { .. } | Event::StartFailed { .. } | Event::Error { .. }) => {
                return Err(CommandError::Create(
                    "the seeder's data did not check".into(),
                ));
            }
            Some(_) => {}
            None => return Err(CommandError::Interrupted),
        }
    }
    say(
        &mut reporter,
        format!("Seeder ready on {}", seeder.listen_addrs()[0]),
        "seeder",
    );

    // 4. The downloading client, driven through its inbox and outbox.
    let dl = root.join("download");
    let leecher = TorrentClient::spawn(
        Config::default()
            .listen_on(local)
            .with_tick(opts.tick)
            .with_dht(dht),
    )
    .map_err(CommandError::io("starting the downloading client"))?;
    let start = Instant::now();
    leecher.send(Request::AddTorrent {
        request_id: Some(RequestId(1)),
        source: TorrentSource::Bytes(created.bytes),
        options: AddOptions::save_to(&dl),
    })?;
    let result = loop {
        let Some(e) = next_event(&leecher, interrupt)? else {
            break Err(CommandError::Interrupted);
        };
        reporter.event(&e);
        match e {
            Event::Completed { .. } | Event::Checked { complete: true, .. } => break Ok(()),
            Event::StartFailed { reason, .. } => {
                break Err(CommandError::StartFailed {
                    source_name: "demo torrent".into(),
                    reason,
                });
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
    let seconds = start.elapsed().as_secs_f64();
    shutdown(leecher);
    shutdown(seeder);
    let _ = tracker.stop();
    result?;

    // 5. Verify the copy byte for byte.
    for i in 0..sizes.len() {
        let rel = format!("freshet-demo/part-{i}.bin");
        let a =
            std::fs::read(src.join(&rel)).map_err(CommandError::io(format!("reading {rel}")))?;
        let b = std::fs::read(dl.join(&rel))
            .map_err(|e| CommandError::Verify(format!("{rel}: {e}")))?;
        if a != b {
            return Err(CommandError::Verify(format!(
                "{rel} differs from the original"
            )));
        }
    }
    let mb = opts.size as f64 / 1e6 / seconds.max(1e-9);
    say(
        &mut reporter,
        format!(
            "Verified {} in {seconds:.2} s: {mb:.1} MB/s",
            human_size(opts.size)
        ),
        "verified",
    );
    Ok(DemoReport {
        bytes: opts.size,
        seconds,
        mb_per_second: mb,
    })
}

/// Deterministic pseudo-random bytes (xorshift64).
fn sample(len: u64, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
