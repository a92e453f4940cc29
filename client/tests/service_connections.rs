//! `Request::SetConnectionLimits`: a torrent's limit closes connections above it, keeps new
//! ones out, and raising it lets them back in.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::time::Duration;

use component_util::{add, client, make_torrent, wait_added, wait_complete, wait_for};
use freshet_client::{Event, Request};

const TICK: Duration = Duration::from_millis(50);

#[test]
fn a_torrent_connection_limit_closes_extra_peers_and_can_be_raised() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "c.bin", &[("", 2 << 20)], 32768, false);
    let seeds: Vec<_> = (0..2)
        .map(|i| {
            let s = client(TICK);
            add(&s, i, &bytes, &src, &[]);
            let id = wait_added(&s);
            wait_complete(&s, id);
            // Slow seeds, so the download lasts while the limit changes.
            s.send(Request::SetRateLimits {
                id: None,
                down: 0,
                up: 64 * 1024,
            })
            .unwrap();
            s
        })
        .collect();
    let addrs: Vec<_> = seeds.iter().map(|s| s.listen_addrs()[0]).collect();
    let leech = client(TICK);
    add(&leech, 1, &bytes, &dir.path().join("dl"), &addrs);
    let id = wait_added(&leech);
    wait_for(
        &leech,
        "two peers",
        |e| matches!(e, Event::Status(s) if s.id == id && s.peers == 2),
    );

    leech
        .send(Request::SetConnectionLimits {
            id: Some(id),
            max: 1,
        })
        .unwrap();
    wait_for(
        &leech,
        "one peer",
        |e| matches!(e, Event::Status(s) if s.id == id && s.peers == 1),
    );
    // Asked to dial the closed seed again: the limit keeps it out.
    for a in &addrs {
        leech.send(Request::AddPeer { id, addr: *a }).unwrap();
    }
    let mut seen = 0;
    wait_for(&leech, "20 statuses", |e| {
        if let Event::Status(s) = e
            && s.id == id
        {
            assert!(s.peers <= 1, "{} peers over a limit of 1", s.peers);
            seen += 1;
        }
        seen >= 20
    });

    leech
        .send(Request::SetConnectionLimits {
            id: Some(id),
            max: 0,
        })
        .unwrap();
    wait_for(
        &leech,
        "two peers again",
        |e| matches!(e, Event::Status(s) if s.id == id && s.peers == 2),
    );
    for s in &seeds {
        s.send(Request::SetRateLimits {
            id: None,
            down: 0,
            up: 0,
        })
        .unwrap();
    }
    wait_complete(&leech, id);
}

/// A connection that keeps a saturated global download bucket empty must not starve a new
/// peer's handshake: parked connections take turns at the refilled tokens.
#[test]
fn a_new_peer_joins_while_the_global_download_limit_is_saturated() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "s.bin", &[("", 2 << 20)], 32768, false);
    let seeds: Vec<_> = (0..2)
        .map(|i| {
            let s = client(TICK);
            add(&s, i, &bytes, &src, &[]);
            let id = wait_added(&s);
            wait_complete(&s, id);
            s
        })
        .collect();
    let addrs: Vec<_> = seeds.iter().map(|s| s.listen_addrs()[0]).collect();
    let leech = client(TICK);
    // 2 MiB at 128 KiB/s: about 16 s, so the second seed arrives mid-download.
    leech
        .send(Request::SetRateLimits {
            id: None,
            down: 128 * 1024,
            up: 0,
        })
        .unwrap();
    add(&leech, 1, &bytes, &dir.path().join("dl"), &addrs[..1]);
    let id = wait_added(&leech);
    wait_for(
        &leech,
        "data from the first seed",
        |e| matches!(e, Event::Status(s) if s.id == id && s.peers == 1 && s.downloaded > 0),
    );
    leech.send(Request::AddPeer { id, addr: addrs[1] }).unwrap();
    wait_for(&leech, "the second seed as a peer", |e| {
        assert!(
            !matches!(e, Event::Completed { id: done } if *done == id),
            "the download completed before the second seed's handshake was read"
        );
        matches!(e, Event::Status(s) if s.id == id && s.peers == 2)
    });
    wait_complete(&leech, id);
}
