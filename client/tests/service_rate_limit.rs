//! Rate limits hold a transfer on loopback within 10% of the configured rate over 10 s: a
//! global download limit on a Freshet leecher fed by a Freshet seed and by a python3-libtorrent
//! seed (DHT, LSD, UPnP, NAT-PMP and uTP off; CI runs it inside `unshare --net`), then a
//! per-torrent upload limit on a Freshet seed. Each test takes about 12 s (the measurement
//! needs that long) and is bounded.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::time::{Duration, Instant};

use component_util::{add, client, make_torrent, wait_added, wait_complete};
use freshet_client::{ClientHandle, Config, Event, Request, TorrentClient, TorrentId};

const TICK: Duration = Duration::from_millis(250);
const WINDOW: Duration = Duration::from_secs(10);

/// Payload rate of `id` on `c` over [`WINDOW`], measured from its status events once the
/// first `skip` bytes (the start-up burst) are in. Panics if the window cannot be filled
/// within 30 s.
fn measured_rate(c: &ClientHandle, id: TorrentId, skip: u64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut start: Option<(Instant, u64)> = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = c.next_event(left).expect("status events keep coming");
        let Event::Status(s) = e else { continue };
        if s.id != id {
            continue;
        }
        let now = Instant::now();
        assert!(
            s.have_bytes < s.wanted_bytes,
            "finished before the window closed"
        );
        match start {
            None if s.downloaded >= skip => start = Some((now, s.downloaded)),
            Some((t0, d0)) if now.duration_since(t0) >= WINDOW => {
                return (s.downloaded - d0) as f64 / now.duration_since(t0).as_secs_f64();
            }
            _ => {}
        }
    }
}

fn assert_within_10_percent(measured: f64, limit: u64) {
    let limit = limit as f64;
    eprintln!(
        "measured {measured:.0} B/s against a limit of {limit:.0} B/s ({:+.1}%)",
        (measured / limit - 1.0) * 100.0
    );
    assert!(
        (measured - limit).abs() <= limit * 0.10,
        "measured {measured:.0} B/s, limit {limit:.0} B/s"
    );
}

#[test]
fn global_download_limit_holds_within_ten_percent() {
    const LIMIT: u64 = 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "big.bin", &[("", 15 * 1024 * 1024)], 65536, false);
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);

    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(TICK);
    config.max_download_rate = LIMIT;
    let leech = TorrentClient::spawn(config).unwrap();
    add(
        &leech,
        1,
        &bytes,
        &dir.path().join("dl"),
        &[seed.listen_addrs()[0]],
    );
    let id = wait_added(&leech);
    let rate = measured_rate(&leech, id, LIMIT);
    assert_within_10_percent(rate, LIMIT);
    // Lifting the limit lets the rest come at full speed.
    leech
        .send(Request::SetRateLimits {
            id: None,
            down: 0,
            up: 0,
        })
        .unwrap();
    wait_complete(&leech, id);
    leech.join();
    seed.join();
}

#[test]
fn per_torrent_upload_limit_holds_within_ten_percent() {
    const LIMIT: u64 = 768 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "up.bin", &[("", 11 * 1024 * 1024)], 32768, false);
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    seed.send(Request::SetRateLimits {
        id: Some(sid),
        down: 0,
        up: LIMIT,
    })
    .unwrap();
    // The reply is a status event for the seed.
    component_util::wait_for(
        &seed,
        "limit reply",
        |e| matches!(e, Event::Status(s) if s.id == sid),
    );

    let leech = client(TICK);
    add(
        &leech,
        1,
        &bytes,
        &dir.path().join("dl"),
        &[seed.listen_addrs()[0]],
    );
    let id = wait_added(&leech);
    let rate = measured_rate(&leech, id, LIMIT);
    assert_within_10_percent(rate, LIMIT);
    seed.send(Request::SetRateLimits {
        id: Some(sid),
        down: 0,
        up: 0,
    })
    .unwrap();
    wait_complete(&leech, id);
    leech.join();
    seed.join();
}

#[test]
fn global_download_limit_holds_against_a_libtorrent_seeder() {
    const LIMIT: u64 = 1024 * 1024;
    if !component_util::have_python_libtorrent() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "lt.bin", &[("", 15 * 1024 * 1024)], 65536, false);
    let torrent = dir.path().join("lt.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let (_seeder, port) = component_util::libtorrent_seeder(&torrent, &src);

    let mut config = Config::default()
        .listen_on("127.0.0.1:0".parse().unwrap())
        .with_tick(TICK);
    config.max_download_rate = LIMIT;
    let leech = TorrentClient::spawn(config).unwrap();
    let dl = dir.path().join("dl");
    add(
        &leech,
        1,
        &bytes,
        &dl,
        &[format!("127.0.0.1:{port}").parse().unwrap()],
    );
    let id = wait_added(&leech);
    let rate = measured_rate(&leech, id, LIMIT);
    assert_within_10_percent(rate, LIMIT);
    leech
        .send(Request::SetRateLimits {
            id: None,
            down: 0,
            up: 0,
        })
        .unwrap();
    wait_complete(&leech, id);
    assert_eq!(
        std::fs::read(dl.join("lt.bin")).unwrap(),
        std::fs::read(src.join("lt.bin")).unwrap()
    );
    leech.join();
}
