//! Swarms that find each other through a tracker (the embedded `tracker_server`, HTTP and UDP).
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::time::Duration;

use component_util::{client, make_torrent_with, tree, wait_added, wait_complete, wait_for};
use freshet_client::tracker_server::{TrackerServer, TrackerServerOptions};
use freshet_client::{
    AddOptions, ClientHandle, Event, Request, RequestId, TorrentSource, TrackerState,
};

const TICK: Duration = Duration::from_millis(100);

fn add_announcing(c: &ClientHandle, bytes: &[u8], dir: &std::path::Path) {
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(1)),
        source: TorrentSource::Bytes(bytes.to_vec()),
        options: AddOptions::save_to(dir),
    })
    .unwrap();
}

fn swarm_through(url_of: impl Fn(&TrackerServer) -> String) {
    let tracker = TrackerServer::spawn(
        TrackerServerOptions::new(
            Some("127.0.0.1:0".parse().unwrap()),
            Some("127.0.0.1:0".parse().unwrap()),
        )
        .with_interval(2),
    )
    .unwrap();
    let url = url_of(&tracker);
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent_with(
        &src,
        "tracked",
        &[("a.bin", 400_000), ("b.bin", 1234)],
        32768,
        false,
        &[url],
    );
    let seed = client(TICK);
    add_announcing(&seed, &bytes, &src);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    // The seed's announce reached the tracker before the leecher asks for peers.
    wait_for(
        &seed,
        "tracker working",
        |e| matches!(e, Event::Status(s) if s.tracker == TrackerState::Working),
    );

    let dl = dir.path().join("dl");
    let leech = client(TICK);
    add_announcing(&leech, &bytes, &dl);
    let lid = wait_added(&leech);
    wait_complete(&leech, lid);
    assert_eq!(tree(&dl), tree(&src));
    let Event::Status(s) = wait_for(
        &leech,
        "status",
        |e| matches!(e, Event::Status(s) if s.swarm_seeds.is_some()),
    ) else {
        unreachable!()
    };
    assert_eq!(s.tracker, TrackerState::Working);
    assert!(s.swarm_seeds >= Some(1), "{s:?}");
    // Shutdown tells the tracker `stopped` before signalling.
    leech.shutdown().unwrap();
    leech.signal().recv_timeout(component_util::WAIT).unwrap();
    seed.join();
    tracker.stop().unwrap();
}

#[test]
fn leecher_finds_the_seed_through_an_http_tracker() {
    swarm_through(|t| format!("http://{}/announce", t.local_addrs().http.unwrap()));
}

#[test]
fn leecher_finds_the_seed_through_a_udp_tracker() {
    swarm_through(|t| format!("udp://{}/announce", t.local_addrs().udp.unwrap()));
}

#[test]
fn magnet_link_with_only_a_tracker_finds_the_seed() {
    let tracker = TrackerServer::spawn(
        TrackerServerOptions::new(Some("127.0.0.1:0".parse().unwrap()), None).with_interval(2),
    )
    .unwrap();
    let url = format!("http://{}/announce", tracker.local_addrs().http.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent_with(&src, "tm", &[("x.bin", 300_000)], 32768, false, &[url]);
    let seed = client(TICK);
    add_announcing(&seed, &bytes, &src);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    wait_for(
        &seed,
        "tracker working",
        |e| matches!(e, Event::Status(s) if s.tracker == TrackerState::Working),
    );
    let magnet = freshet_metainfo::Metainfo::from_bytes(&bytes)
        .unwrap()
        .magnet()
        .to_uri();
    assert!(magnet.contains("tr="), "{magnet}");
    let dl = dir.path().join("dl");
    let leech = client(TICK);
    leech
        .send(Request::AddTorrent {
            request_id: None,
            source: TorrentSource::from_arg(&magnet),
            options: AddOptions::save_to(&dl),
        })
        .unwrap();
    let id = wait_added(&leech);
    wait_complete(&leech, id);
    assert_eq!(tree(&dl), tree(&src));
    leech.join();
    seed.join();
    tracker.stop().unwrap();
}
