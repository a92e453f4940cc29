//! The `download`, `seed` and `demo` entry points, end to end on 127.0.0.1.
#![allow(clippy::disallowed_methods)] // Tests bound their waits with the real clock.

mod component_util;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use component_util::{make_torrent, tree};
use freshet_client::commands::{
    CommandError, DemoOptions, DownloadOptions, OutputMode, SeedOptions, demo, download, seed,
};

#[test]
fn demo_downloads_verifies_and_reports_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = DemoOptions::default();
    opts.size = 6 * 1024 * 1024 + 12345;
    opts.work_dir = Some(dir.path().to_path_buf());
    opts.output_mode = OutputMode::Json;
    let report = demo(&opts).unwrap();
    assert_eq!(report.bytes, opts.size);
    assert!(report.mb_per_second > 0.0);
}

#[test]
fn download_from_a_seed_command_then_resume_is_instant() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(
        &src,
        "cmd",
        &[("a.bin", 500_000), ("b.bin", 77)],
        32768,
        false,
    );
    let torrent = dir.path().join("cmd.torrent");
    std::fs::write(&torrent, &bytes).unwrap();

    // The seed command runs until its interrupt flag is set.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut sopts = SeedOptions::new(&torrent, &src);
    sopts.listen = format!("127.0.0.1:{port}").parse().unwrap();
    sopts.output_mode = OutputMode::Json;
    sopts.interrupt = Some(Arc::clone(&stop));
    let seeder = std::thread::spawn(move || seed(&sopts));

    let out = dir.path().join("out");
    let mut dopts = DownloadOptions::new(vec![torrent.display().to_string()], &out);
    dopts.listen = "127.0.0.1:0".parse().unwrap();
    dopts.peers = vec![format!("127.0.0.1:{port}").parse().unwrap()];
    dopts.output_mode = OutputMode::Plain;
    let report = download(&dopts).unwrap();
    assert_eq!(report.torrents.len(), 1);
    assert!(report.downloaded >= 500_077, "{report:?}");
    assert_eq!(tree(&out), tree(&src));
    // Same command again: the data is there (resume data), nothing to fetch.
    dopts.peers.clear();
    let again = download(&dopts).unwrap();
    assert_eq!(again.downloaded, 0);

    stop.store(true, Ordering::SeqCst);
    let r = seeder.join().unwrap();
    assert!(matches!(r, Err(CommandError::Interrupted)), "{r:?}");
}

#[test]
fn download_fails_clearly_on_a_bad_torrent() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.torrent");
    std::fs::write(&bad, b"d4:infoi3ee").unwrap();
    let mut dopts = DownloadOptions::new(vec![bad.display().to_string()], dir.path());
    dopts.listen = "127.0.0.1:0".parse().unwrap();
    dopts.tick = Duration::from_millis(100);
    let err = download(&dopts).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("bad.torrent"), "{err}");
}

#[test]
fn seed_refuses_incomplete_data() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let bytes = make_torrent(&src, "half.bin", &[("", 200_000)], 16384, false);
    let torrent = dir.path().join("half.torrent");
    std::fs::write(&torrent, &bytes).unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut sopts = SeedOptions::new(&torrent, &empty);
    sopts.listen = "127.0.0.1:0".parse().unwrap();
    sopts.output_mode = OutputMode::Plain;
    let err = seed(&sopts).unwrap_err();
    assert!(
        matches!(
            err,
            CommandError::Incomplete {
                have: 0,
                total: 200_000,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn seed_path_creates_a_torrent_and_serves_it() {
    use freshet_client::commands::{SeedPathOptions, seed_path};
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("share");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(
        src.join("sub/a.txt"),
        component_util::sample_bytes(100_000, 5),
    )
    .unwrap();
    std::fs::write(src.join("b.txt"), b"hello").unwrap();
    let torrent = dir.path().join("share.torrent");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut seed_opts = SeedOptions::new("", "");
    seed_opts.listen = format!("127.0.0.1:{port}").parse().unwrap();
    seed_opts.output_mode = OutputMode::Json;
    seed_opts.interrupt = Some(Arc::clone(&stop));
    let mut opts = SeedPathOptions::new(&src, seed_opts);
    opts.torrent_out = Some(torrent.clone());
    let seeder = std::thread::spawn(move || seed_path(&opts));
    // The .torrent appears before seeding starts.
    let deadline = std::time::Instant::now() + component_util::WAIT;
    while !torrent.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = dir.path().join("out");
    let mut dopts = DownloadOptions::new(vec![torrent.display().to_string()], &out);
    dopts.listen = "127.0.0.1:0".parse().unwrap();
    dopts.peers = vec![format!("127.0.0.1:{port}").parse().unwrap()];
    dopts.output_mode = OutputMode::Json;
    download(&dopts).unwrap();
    assert_eq!(
        tree(&out),
        tree(dir.path().join("share").parent().unwrap())
            .into_iter()
            .filter(|(p, _)| p.starts_with("share"))
            .collect::<Vec<_>>()
    );
    stop.store(true, Ordering::SeqCst);
    assert!(matches!(
        seeder.join().unwrap(),
        Err(CommandError::Interrupted)
    ));
}
