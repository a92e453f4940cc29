//! Magnet links between Freshet clients on 127.0.0.1: the "fetching metadata" status, and a
//! restart after the metadata was fetched (kept with the resume data, never fetched again).
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::time::Duration;

use component_util::{add, client, make_torrent, tree, wait_added, wait_complete, wait_for};
use freshet_client::{Activity, AddOptions, Event, Request, RequestId, TorrentSource, UseTrackers};
use freshet_metainfo::Metainfo;

const TICK: Duration = Duration::from_millis(100);

fn add_magnet(c: &freshet_client::ClientHandle, uri: &str, dir: &std::path::Path) {
    c.send(Request::AddTorrent {
        request_id: Some(RequestId(1)),
        source: TorrentSource::Magnet(uri.to_owned()),
        options: AddOptions::save_to(dir).with_trackers(UseTrackers::Never),
    })
    .unwrap();
}

#[test]
fn status_says_fetching_metadata_until_a_peer_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let uri = "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567&dn=wanted";
    let c = client(TICK);
    add_magnet(&c, uri, dir.path());
    let id = wait_added(&c);
    let s = wait_for(
        &c,
        "status",
        |e| matches!(e, Event::Status(s) if s.id == id),
    );
    let Event::Status(s) = s else { unreachable!() };
    assert_eq!(s.activity, Activity::FetchingMetadata);
    assert_eq!(s.activity.to_string(), "fetching metadata");
    assert_eq!(s.name, "wanted");
    c.join();
}

#[test]
fn restart_after_the_metadata_was_fetched_does_not_fetch_it_again() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "restart",
        &[("a.bin", 200_000), ("b.bin", 7)],
        16384,
        false,
    );
    let seed = client(TICK);
    add(&seed, 1, &bytes, &src, &[]);
    let sid = wait_added(&seed);
    wait_complete(&seed, sid);
    let meta = Metainfo::from_bytes(&bytes).unwrap();
    let mut magnet = meta.magnet();
    magnet.display_name = None;
    magnet.peers = vec![seed.listen_addrs()[0].to_string()];
    let uri = magnet.to_uri();

    let dl = dir.path().join("dl");
    let first = client(TICK);
    add_magnet(&first, &uri, &dl);
    let id = wait_added(&first);
    let got = wait_for(
        &first,
        "metadata",
        |e| matches!(e, Event::MetadataReceived { id: i, .. } if *i == id),
    );
    let Event::MetadataReceived { torrent, .. } = got else {
        unreachable!()
    };
    assert_eq!(
        Metainfo::from_bytes(&torrent).unwrap().info_bytes,
        meta.info_bytes
    );
    wait_complete(&first, id);
    first.join();
    // Nobody serves the metadata any more: the seed is gone.
    seed.join();
    let hex = meta.info_hashes.v1.unwrap().to_hex();
    assert!(dl.join(".freshet").join(format!("{hex}.torrent")).is_file());

    let second = client(TICK);
    add_magnet(&second, &uri, &dl);
    let added = wait_for(&second, "added", |e| {
        matches!(e, Event::TorrentAdded { .. })
    });
    // The real name at once (a fetch would show the hex info-hash until the metadata came).
    assert!(
        matches!(&added, Event::TorrentAdded { name, .. } if name == "restart"),
        "{added:?}"
    );
    let id = added.torrent().unwrap();
    let checked = wait_for(&second, "checked", |e| matches!(e, Event::Checked { .. }));
    assert!(
        matches!(checked, Event::Checked { id: i, complete: true, .. } if i == id),
        "{checked:?}"
    );
    assert_eq!(tree(&dl), tree(&src));
    second.join();
}
