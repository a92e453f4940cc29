//! Patrons sharing one client: each sees only its own torrents' events; duplicate adds are
//! answered to the asker; a patron that goes away leaves or closes its torrents.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::time::Duration;

use component_util::{client, make_torrent};
use freshet_client::{AddOptions, Event, Patron, Request, RequestId, TorrentSource, UseTrackers};

const TICK: Duration = Duration::from_millis(100);
const WAIT: Duration = Duration::from_secs(30);

fn add(p: &Patron, req: u64, bytes: &[u8], dir: &std::path::Path) {
    p.send(Request::AddTorrent {
        request_id: Some(RequestId(req)),
        source: TorrentSource::Bytes(bytes.to_vec()),
        options: AddOptions::save_to(dir).with_trackers(UseTrackers::Never),
    })
    .unwrap();
}

fn next(p: &Patron, what: &str, pred: impl Fn(&Event) -> bool) -> Event {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match p.next_event(left) {
            Ok(e) if pred(&e) => return e,
            Ok(_) => {}
            Err(e) => panic!("no {what}: {e}"),
        }
    }
}

#[test]
fn each_patron_sees_only_its_torrents_and_duplicate_adds_answer_the_asker() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let a = make_torrent(&src, "a.bin", &[("", 50_000)], 16384, false);
    let b = make_torrent(&src, "b.bin", &[("", 60_000)], 16384, false);
    let x = make_torrent(&src, "x.bin", &[("", 10_000)], 16384, false);
    let c = client(TICK);
    let pa = c.patron();
    let pb = c.patron();
    add(&pa, 1, &a, &src);
    add(&pb, 1, &b, &src);
    let ida = match next(&pa, "a added", |e| matches!(e, Event::TorrentAdded { .. })) {
        Event::TorrentAdded { id, request_id, .. } => {
            assert_eq!(
                request_id,
                Some(RequestId(1)),
                "the patron's own id comes back"
            );
            id
        }
        _ => unreachable!(),
    };
    let Event::TorrentAdded { id: idb, .. } =
        next(&pb, "b added", |e| matches!(e, Event::TorrentAdded { .. }))
    else {
        unreachable!()
    };
    assert_ne!(ida, idb);
    // A full second of events: each patron only ever sees its own torrent.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < deadline {
        if let Ok(e) = pa.next_event(Duration::from_millis(50)) {
            assert_eq!(e.torrent(), Some(ida), "{e:?}");
        }
        if let Ok(e) = pb.next_event(Duration::from_millis(50)) {
            assert_eq!(e.torrent(), Some(idb), "{e:?}");
        }
    }
    // Nothing for the client's own handle.
    assert!(c.outbox().try_recv().is_err());

    // B asks for A's torrent: the reply goes to B, which now gets A's events too.
    add(&pb, 9, &a, &src);
    match next(&pb, "already", |e| {
        matches!(e, Event::AlreadyDownloading { .. })
    }) {
        Event::AlreadyDownloading { id, request_id } => {
            assert_eq!((id, request_id), (ida, Some(RequestId(9))));
        }
        _ => unreachable!(),
    }
    next(
        &pb,
        "status of a",
        |e| matches!(e, Event::Status(s) if s.id == ida),
    );

    // A patron that closes its torrents on drop: X is closed, and with no owner left the
    // closed event goes to the client's handle.
    let mut px = c.patron();
    px.close_on_drop(true);
    add(&px, 1, &x, &src);
    let Event::TorrentAdded { id: idx, .. } =
        next(&px, "x added", |e| matches!(e, Event::TorrentAdded { .. }))
    else {
        unreachable!()
    };
    drop(px);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        match c.next_event(deadline.saturating_duration_since(std::time::Instant::now())) {
            Ok(Event::Closed { id }) if id == idx => break,
            Ok(_) => {}
            Err(e) => panic!("no closed event for x: {e}"),
        }
    }
    // A patron that just goes away leaves its torrent running (B still gets A's status).
    drop(pa);
    c.send(Request::Status { id: Some(ida) }).unwrap();
    next(
        &pb,
        "a still running",
        |e| matches!(e, Event::Status(s) if s.id == ida),
    );
    c.shutdown().unwrap();
    c.signal().recv_timeout(WAIT).unwrap();
}
