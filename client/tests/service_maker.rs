//! The `TorrentMaker` component: one reply per request, in order, with ids echoed.

use std::time::Duration;

use freshet_client::{MakeError, MakeTorrent, RequestId, TorrentMaker};
use freshet_metainfo::Metainfo;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn makes_torrents_in_order_with_every_option() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("album");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("a.bin"), vec![7u8; 100_000]).unwrap();
    std::fs::write(folder.join("b.bin"), vec![9u8; 5_000]).unwrap();
    let single = dir.path().join("one.bin");
    std::fs::write(&single, vec![1u8; 40_000]).unwrap();

    let maker = TorrentMaker::spawn().unwrap();
    maker
        .send(
            MakeTorrent::new(&folder)
                .with_request_id(RequestId(1))
                .with_tracker("http://127.0.0.1:1/announce")
                .with_piece_size_log2(15)
                .with_title("My Album")
                .with_comment("made by a test")
                .with_web_seed("http://127.0.0.1:2/files/")
                .with_private(true)
                .with_hybrid(true),
        )
        .unwrap();
    maker
        .send(MakeTorrent::new(dir.path().join("missing")).with_request_id(RequestId(2)))
        .unwrap();
    maker
        .send(
            MakeTorrent::new(&single)
                .with_request_id(RequestId(3))
                .with_piece_size_log2(40),
        )
        .unwrap();
    maker
        .send(MakeTorrent::new(&single).with_request_id(RequestId(4)))
        .unwrap();

    let r1 = maker.next_reply(WAIT).unwrap();
    assert_eq!(r1.request_id, Some(RequestId(1)));
    let bytes = r1.result.unwrap();
    let t = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(t.info.piece_length, 32768);
    assert_eq!(
        t.trackers,
        vec![vec!["http://127.0.0.1:1/announce".to_owned()]]
    );
    assert_eq!(t.comment.as_deref(), Some("made by a test"));
    assert!(t.info.private);
    assert!(t.info_hashes.v2.is_some(), "hybrid has a v2 hash");
    assert_eq!(t.web_seeds, vec!["http://127.0.0.1:2/files/".to_owned()]);
    assert!(
        bytes.windows(17).any(|w| w == b"5:title8:My Album"),
        "title is at the top level"
    );
    assert!(bytes.windows(8).any(|w| w == b"url-list"));

    let r2 = maker.next_reply(WAIT).unwrap();
    assert_eq!(r2.request_id, Some(RequestId(2)));
    let err = r2.result.unwrap_err();
    assert!(
        matches!(err, MakeError::Create(ref m) if m.contains("missing")),
        "{err}"
    );

    let r3 = maker.next_reply(WAIT).unwrap();
    assert_eq!(r3.request_id, Some(RequestId(3)));
    assert_eq!(r3.result, Err(MakeError::PieceSize(40)));

    let r4 = maker.next_reply(WAIT).unwrap();
    assert_eq!(r4.request_id, Some(RequestId(4)));
    let t4 = Metainfo::from_bytes(&r4.result.unwrap()).unwrap();
    assert_eq!(t4.info.name, "one.bin");

    maker.shutdown().unwrap();
    maker.signal().recv_timeout(WAIT).unwrap();
}

#[test]
fn dropping_the_handle_ends_the_thread() {
    let maker = TorrentMaker::spawn().unwrap();
    drop(maker);
}
