//! Client-to-client swarms on 127.0.0.1 with manual peers (no tracker).
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::time::Duration;

use component_util::{
    add, client, make_torrent, tree, wait_added, wait_all_complete, wait_complete, wait_for,
};
use freshet_client::{DataOnClose, Event, Request};

const TICK: Duration = Duration::from_millis(200);

#[test]
fn one_seed_to_one_leecher_with_manual_peer() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "pack",
        &[("a.bin", 300_000), ("b/c.bin", 123_457), ("d.txt", 3)],
        32768,
        false,
    );
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);

    let dl = dir.path().join("dl");
    let leech = client(TICK);
    add(&leech, 1, &bytes, &dl, &[seed.listen_addrs()[0]]);
    let lid = wait_added(&leech);
    wait_complete(&leech, lid);
    assert_eq!(tree(&dl), tree(&src));
    leech.join();
    seed.join();
}

#[test]
fn one_seed_to_five_leechers_multi_file_padded() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    // A hybrid torrent: pad files align each file to a piece boundary.
    let bytes = make_torrent(
        &src,
        "padded",
        &[
            ("first.bin", 200_001),
            ("second.bin", 65_536),
            ("deep/third.bin", 99_999),
            ("last.bin", 1),
        ],
        16384,
        true,
    );
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    let seed_addr = seed.listen_addrs()[0];

    let mut leechers = Vec::new();
    for i in 0..5 {
        let dl = dir.path().join(format!("dl{i}"));
        let c = client(TICK);
        // Each leecher knows the seed and the leechers started before it.
        let mut peers = vec![seed_addr];
        peers.extend(
            leechers
                .iter()
                .map(|(c, _, _): &(freshet_client::ClientHandle, _, _)| c.listen_addrs()[0]),
        );
        add(&c, 1, &bytes, &dl, &peers);
        let id = wait_added(&c);
        leechers.push((c, id, dl));
    }
    for (c, id, dl) in &leechers {
        wait_complete(c, *id);
        assert_eq!(tree(dl), tree(&src), "{}", dl.display());
        // Pad files are never written.
        assert!(
            tree(dl)
                .iter()
                .all(|(p, _)| !p.to_string_lossy().contains(".pad")),
            "{:?}",
            tree(dl).iter().map(|(p, _)| p).collect::<Vec<_>>()
        );
    }
    for (c, _, _) in leechers {
        c.join();
    }
    seed.join();
}

#[test]
fn two_torrents_at_once_in_one_client() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let one = make_torrent(&src, "one.bin", &[("", 250_000)], 16384, false);
    let two = make_torrent(&src, "two", &[("x", 77_777), ("y", 12)], 32768, false);
    let seed = client(TICK);
    add(&seed, 1, &one, &src, &[]);
    add(&seed, 2, &two, &src, &[]);
    let s1 = wait_added(&seed);
    let s2 = wait_added(&seed);
    wait_all_complete(&seed, &[s1, s2]);

    let dl = dir.path().join("dl");
    let leech = client(TICK);
    add(&leech, 1, &one, &dl, &[seed.listen_addrs()[0]]);
    add(&leech, 2, &two, &dl, &[seed.listen_addrs()[0]]);
    let l1 = wait_added(&leech);
    let l2 = wait_added(&leech);
    wait_all_complete(&leech, &[l1, l2]);
    assert_eq!(tree(&dl), tree(&src));
    leech.join();
    seed.join();
}

#[test]
fn close_mid_download_and_re_add_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "big.bin", &[("", 4_000_000)], 65536, false);
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);

    let dl = dir.path().join("dl");
    let leech = client(TICK);
    add(&leech, 1, &bytes, &dl, &[seed.listen_addrs()[0]]);
    let id = wait_added(&leech);
    leech
        .send(Request::CloseTorrent {
            id,
            data: DataOnClose::Keep,
        })
        .unwrap();
    wait_for(&leech, "closed", |e| *e == Event::Closed { id });
    add(&leech, 2, &bytes, &dl, &[seed.listen_addrs()[0]]);
    let id2 = wait_added(&leech);
    assert_ne!(id, id2);
    wait_complete(&leech, id2);
    assert_eq!(tree(&dl), tree(&src));
    leech.join();
    seed.join();
}

#[test]
fn magnet_link_fetches_metadata_from_a_freshet_seed_then_downloads() {
    use freshet_client::{AddOptions, RequestId, TorrentSource, UseTrackers};
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "by-magnet",
        &[("a.bin", 250_000), ("b.bin", 99)],
        32768,
        false,
    );
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    let mut magnet = freshet_metainfo::Metainfo::from_bytes(&bytes)
        .unwrap()
        .magnet();
    magnet.peers = vec![seed.listen_addrs()[0].to_string()];

    let dl = dir.path().join("dl");
    let leech = client(TICK);
    leech
        .send(Request::AddTorrent {
            request_id: Some(RequestId(9)),
            source: TorrentSource::from_arg(&magnet.to_uri()),
            options: AddOptions::save_to(&dl).with_trackers(UseTrackers::Never),
        })
        .unwrap();
    let added = wait_for(&leech, "added", |e| matches!(e, Event::TorrentAdded { .. }));
    assert!(
        matches!(&added, Event::TorrentAdded { request_id: Some(RequestId(9)), name, .. } if name == "by-magnet"),
        "{added:?}"
    );
    let id = added.torrent().unwrap();
    wait_complete(&leech, id);
    assert_eq!(tree(&dl), tree(&src));
    // Adding the same magnet again is "already downloading".
    leech
        .send(Request::add(TorrentSource::from_arg(&magnet.to_uri())))
        .unwrap();
    let again = wait_for(&leech, "reply", |e| {
        matches!(
            e,
            Event::AlreadyDownloading { .. } | Event::TorrentAdded { .. }
        )
    });
    assert_eq!(
        again,
        Event::AlreadyDownloading {
            request_id: None,
            id
        }
    );
    leech.join();
    seed.join();
}
