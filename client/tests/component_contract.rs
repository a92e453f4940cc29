//! The Kamaelia contract of the `TorrentClient` component, through its boxes only.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::time::Duration;

use component_util::{add, client, make_torrent, wait_added, wait_for};
use freshet_client::{
    Activity, AddOptions, DataOnClose, Event, Request, RequestId, TorrentId, TorrentSource,
};

const SHORT_TICK: Duration = Duration::from_millis(100);

/// Takes the next `n` add replies, skipping status and other events.
fn replies(c: &freshet_client::ClientHandle, n: usize) -> Vec<Event> {
    (0..n)
        .map(|_| {
            wait_for(c, "add reply", |e| {
                matches!(
                    e,
                    Event::TorrentAdded { .. }
                        | Event::StartFailed { .. }
                        | Event::AlreadyDownloading { .. }
                )
            })
        })
        .collect()
}

#[test]
fn every_add_gets_one_reply_in_request_order_with_sequential_ids() {
    let dir = tempfile::tempdir().unwrap();
    let a = make_torrent(
        &dir.path().join("src"),
        "alpha.bin",
        &[("", 40_000)],
        16384,
        false,
    );
    let b = make_torrent(
        &dir.path().join("src"),
        "beta.bin",
        &[("", 50_000)],
        16384,
        false,
    );
    let save = dir.path().join("dl");
    let c = client(Duration::from_secs(3600));
    add(&c, 10, &a, &save, &[]);
    add(&c, 11, b"this is not bencode", &save, &[]);
    add(&c, 12, &a, &save, &[]);
    add(&c, 13, &b, &save, &[]);
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(14)),
        source: TorrentSource::Path(dir.path().join("missing.torrent")),
        options: AddOptions::save_to(&save),
    })
    .unwrap();
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(15)),
        source: TorrentSource::from_arg("magnet:?dn=no-info-hash"),
        options: AddOptions::save_to(&save),
    })
    .unwrap();
    c.send(Request::add(TorrentSource::Bytes(Vec::new())))
        .unwrap();

    let r = replies(&c, 7);
    match &r[0] {
        Event::TorrentAdded {
            request_id,
            id,
            name,
            save_path,
            ..
        } => {
            assert_eq!(*request_id, Some(RequestId(10)));
            assert_eq!(*id, TorrentId(1));
            assert_eq!(name, "alpha.bin");
            assert_eq!(*save_path, save.join("alpha.bin"));
            assert_eq!(
                r[0].to_string(),
                format!(
                    "New torrent 1 created in {}",
                    save.join("alpha.bin").display()
                )
            );
        }
        other => panic!("expected added, got {other:?}"),
    }
    assert!(
        matches!(&r[1], Event::StartFailed { request_id: Some(RequestId(11)), reason } if reason.contains("metainfo")),
        "{:?}",
        r[1]
    );
    assert!(r[1].to_string().starts_with("Torrent start failed: "));
    assert_eq!(
        r[2],
        Event::AlreadyDownloading {
            request_id: Some(RequestId(12)),
            id: TorrentId(1)
        }
    );
    assert_eq!(r[2].to_string(), "Torrent 1 already downloading");
    assert!(
        matches!(
            &r[3],
            Event::TorrentAdded {
                request_id: Some(RequestId(13)),
                id: TorrentId(2),
                ..
            }
        ),
        "{:?}",
        r[3]
    );
    assert!(
        matches!(&r[4], Event::StartFailed { request_id: Some(RequestId(14)), reason } if reason.contains("missing.torrent")),
        "{:?}",
        r[4]
    );
    assert!(
        matches!(&r[5], Event::StartFailed { request_id: Some(RequestId(15)), reason } if reason.contains("magnet")),
        "{:?}",
        r[5]
    );
    assert!(
        matches!(
            &r[6],
            Event::StartFailed {
                request_id: None,
                ..
            }
        ),
        "{:?}",
        r[6]
    );
    c.join();
}

#[test]
fn requests_are_handled_without_waiting_for_the_tick() {
    let dir = tempfile::tempdir().unwrap();
    let a = make_torrent(
        &dir.path().join("src"),
        "a.bin",
        &[("", 1000)],
        16384,
        false,
    );
    // A one-hour tick: a reply can only come this fast if the inbox wakes the thread.
    let c = client(Duration::from_secs(3600));
    add(&c, 1, &a, &dir.path().join("dl"), &[]);
    let id = wait_added(&c);
    c.send(Request::Status { id: Some(id) }).unwrap();
    let e = wait_for(&c, "status", |e| matches!(e, Event::Status(_)));
    assert_eq!(e.to_string(), "Torrent 1 status : 0%");
    c.join();
}

#[test]
fn every_torrent_reports_status_on_every_tick() {
    let dir = tempfile::tempdir().unwrap();
    let a = make_torrent(
        &dir.path().join("src"),
        "a.bin",
        &[("", 1000)],
        16384,
        false,
    );
    let b = make_torrent(
        &dir.path().join("src"),
        "b.bin",
        &[("", 2000)],
        16384,
        false,
    );
    let c = client(SHORT_TICK);
    add(&c, 1, &a, &dir.path().join("dl"), &[]);
    add(&c, 2, &b, &dir.path().join("dl"), &[]);
    replies(&c, 2);
    // Ticks' worth of statuses for both torrents, in id order within a tick.
    let mut seen = Vec::new();
    while seen.len() < 8 {
        if let Event::Status(s) = wait_for(&c, "status", |e| matches!(e, Event::Status(_))) {
            seen.push(s.id);
        }
    }
    let start = seen.iter().position(|&i| i == TorrentId(1)).unwrap();
    let ticks: Vec<_> = seen[start..].chunks_exact(2).collect();
    assert!(ticks.len() >= 3, "{seen:?}");
    assert!(
        ticks
            .iter()
            .all(|w| w[0] == TorrentId(1) && w[1] == TorrentId(2)),
        "{seen:?}"
    );
    c.join();
}

#[test]
fn adding_data_already_in_place_checks_it_and_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "album",
        &[
            ("one.bin", 70_000),
            ("sub/two.bin", 33_333),
            ("three.txt", 5),
        ],
        32768,
        false,
    );
    let c = client(SHORT_TICK);
    add(&c, 1, &bytes, &src, &[]);
    let id = wait_added(&c);
    let checked = wait_for(&c, "checked", |e| matches!(e, Event::Checked { .. }));
    assert_eq!(
        checked,
        Event::Checked {
            id,
            have_bytes: 70_000 + 33_333 + 5,
            complete: true
        }
    );
    let Event::Status(s) = wait_for(&c, "status", |e| matches!(e, Event::Status(_))) else {
        unreachable!()
    };
    assert_eq!(s.activity, Activity::Seeding);
    assert_eq!(s.percent(), 100);
    assert_eq!(s.to_string(), "Torrent 1 status : 100%");
    c.join();
}

#[test]
fn close_is_acknowledged_and_can_delete_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "gone",
        &[("x.bin", 50_000), ("y.bin", 10)],
        16384,
        false,
    );
    let c = client(SHORT_TICK);
    add(&c, 1, &bytes, &src, &[]);
    let id = wait_added(&c);
    wait_for(&c, "checked", |e| matches!(e, Event::Checked { .. }));
    c.send(Request::CloseTorrent {
        id: TorrentId(99),
        data: DataOnClose::Keep,
    })
    .unwrap();
    let e = wait_for(&c, "error", |e| matches!(e, Event::Error { .. }));
    assert_eq!(e.torrent(), Some(TorrentId(99)));
    c.send(Request::CloseTorrent {
        id,
        data: DataOnClose::Delete,
    })
    .unwrap();
    let e = wait_for(&c, "closed", |e| matches!(e, Event::Closed { .. }));
    assert_eq!(e, Event::Closed { id });
    assert_eq!(e.to_string(), "Torrent 1 closed");
    assert!(!src.join("gone").join("x.bin").exists());
    assert!(!src.join("gone").join("y.bin").exists());
    // No status for a closed torrent afterwards.
    c.send(Request::Status { id: None }).unwrap();
    c.send(Request::Status { id: Some(id) }).unwrap();
    let e = wait_for(&c, "error", |e| {
        matches!(e, Event::Error { .. } | Event::Status(_))
    });
    assert!(matches!(e, Event::Error { .. }), "{e:?}");
    c.join();
}

#[test]
fn close_then_re_add_gets_a_new_id() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "again.bin", &[("", 20_000)], 16384, false);
    let c = client(SHORT_TICK);
    add(&c, 1, &bytes, &src, &[]);
    let id = wait_added(&c);
    c.send(Request::CloseTorrent {
        id,
        data: DataOnClose::Keep,
    })
    .unwrap();
    wait_for(&c, "closed", |e| matches!(e, Event::Closed { .. }));
    assert!(src.join("again.bin").exists());
    add(&c, 2, &bytes, &src, &[]);
    assert_eq!(wait_added(&c), TorrentId(2));
    let checked = wait_for(&c, "checked", |e| matches!(e, Event::Checked { .. }));
    assert!(matches!(checked, Event::Checked { complete: true, .. }));
    c.join();
}

#[test]
fn shutdown_signals_once_and_closes_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "s.bin", &[("", 100_000)], 16384, false);
    let c = client(SHORT_TICK);
    add(&c, 1, &bytes, &src, &[]);
    wait_for(&c, "checked", |e| matches!(e, Event::Checked { .. }));
    c.shutdown().unwrap();
    c.signal()
        .recv_timeout(component_util::WAIT)
        .expect("shutdown signal");
    // The resume data of the seeding torrent is written.
    let resume_dir = src.join(".freshet");
    let files: Vec<_> = std::fs::read_dir(&resume_dir).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    // Nothing follows the signal: the outbox drains and disconnects.
    let deadline = std::time::Instant::now() + component_util::WAIT;
    loop {
        match c.outbox().recv_deadline(deadline) {
            Ok(Event::Status(_)) => {}
            Ok(e) => panic!("unexpected event after shutdown: {e:?}"),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("outbox not closed: {e}"),
        }
    }
    assert!(c.signal().try_recv().is_err(), "signal sent twice");
    assert!(c.send(Request::Status { id: None }).is_err());
}

/// Serves `body` once over HTTP/1.0 on 127.0.0.1, answering only after `go` fires.
fn one_shot_http(body: Vec<u8>, go: crossbeam_channel::Receiver<()>) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut req = [0u8; 4096];
        let _ = s.read(&mut req).unwrap();
        let _ = go.recv_timeout(component_util::WAIT);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(&body).unwrap();
    });
    addr
}

#[test]
fn a_url_add_is_answered_before_later_adds() {
    let dir = tempfile::tempdir().unwrap();
    let a = make_torrent(
        &dir.path().join("src"),
        "url.bin",
        &[("", 3000)],
        16384,
        false,
    );
    let b = make_torrent(
        &dir.path().join("src"),
        "bytes.bin",
        &[("", 4000)],
        16384,
        false,
    );
    let (go_tx, go_rx) = crossbeam_channel::bounded(1);
    let addr = one_shot_http(a, go_rx);
    let save = dir.path().join("dl");
    let c = client(Duration::from_secs(3600));
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(1)),
        source: TorrentSource::from_arg(&format!("http://{addr}/url.torrent")),
        options: AddOptions::save_to(&save),
    })
    .unwrap();
    add(&c, 2, &b, &save, &[]);
    // The second add is ready long before the URL is served; its reply must still wait.
    c.send(Request::Status { id: None }).unwrap();
    go_tx.send(()).unwrap();
    let r = replies(&c, 2);
    assert!(
        matches!(&r[0], Event::TorrentAdded { request_id: Some(RequestId(1)), id: TorrentId(1), name, .. } if name == "url.bin"),
        "{:?}",
        r[0]
    );
    assert!(
        matches!(&r[1], Event::TorrentAdded { request_id: Some(RequestId(2)), id: TorrentId(2), name, .. } if name == "bytes.bin"),
        "{:?}",
        r[1]
    );
    c.join();
}
