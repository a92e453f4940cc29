//! Two `TorrentClient` components on 127.0.0.1: one seeds a freshly created torrent, the other
//! downloads it through its inbox/outbox with the seeder given as a manual peer.
//!
//! Run with `cargo run -p freshet-client --example two_clients`.
#![allow(clippy::disallowed_methods)] // An example program may read the clock.

use std::time::{Duration, Instant};

use freshet_client::{AddOptions, Config, Event, Request, TorrentClient, TorrentSource};
use freshet_metainfo::TorrentBuilder;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let seed_dir = dir.path().join("seed");
    std::fs::create_dir_all(seed_dir.join("hello"))?;
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(seed_dir.join("hello/data.bin"), &payload)?;
    let torrent = TorrentBuilder::new(seed_dir.join("hello")).build()?.bytes;

    let config = || {
        Config::default()
            .listen_on("127.0.0.1:0".parse().expect("a valid address"))
            .with_tick(Duration::from_millis(500))
    };
    // Seeding is adding a torrent whose data is already in place.
    let seeder = TorrentClient::spawn(config())?;
    seeder.send(Request::AddTorrent {
        request_id: None,
        source: TorrentSource::Bytes(torrent.clone()),
        options: AddOptions::save_to(&seed_dir),
    })?;

    let leecher = TorrentClient::spawn(config())?;
    let download_dir = dir.path().join("download");
    leecher.send(Request::AddTorrent {
        request_id: None,
        source: TorrentSource::Bytes(torrent),
        options: AddOptions::save_to(&download_dir).with_peer(seeder.listen_addrs()[0]),
    })?;

    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let event = leecher.next_event(Duration::from_secs(1));
        let Ok(event) = event else { continue };
        println!("{event}");
        if matches!(event, Event::Completed { .. }) {
            break;
        }
    }
    let copy = std::fs::read(download_dir.join("hello/data.bin"))?;
    assert_eq!(copy, payload, "the downloaded copy differs");
    println!("downloaded and verified {} bytes", copy.len());
    leecher.shutdown()?;
    seeder.shutdown()?;
    leecher.signal().recv_timeout(Duration::from_secs(30))?;
    seeder.signal().recv_timeout(Duration::from_secs(30))?;
    Ok(())
}
