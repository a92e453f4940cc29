//! Integration tests for `freshet show/create/verify/magnet`, run against the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn testdata() -> PathBuf {
    if let Some(dir) = std::env::var_os("FRESHET_TESTDATA") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    [
        manifest.join("../../shared/testdata"),
        manifest.join("../shared/testdata"),
    ]
    .into_iter()
    .find(|p| p.join("oracle-libtorrent-2.1.1.jsonl").is_file())
    .expect("shared/testdata not found (set FRESHET_TESTDATA)")
}

fn freshet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn show_json(path: &str) -> Value {
    let o = freshet(&["show", "--json", path]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn show_json_prints_every_documented_field() {
    let p = testdata().join("aria2/test.torrent");
    let v = show_json(p.to_str().unwrap());
    for key in [
        "name",
        "info_hash",
        "info_hash_v2",
        "piece_length",
        "piece_count",
        "total_length",
        "private",
        "files",
        "trackers",
        "web_seeds",
        "comment",
        "created_by",
        "creation_date",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["name"], "aria2-test");
    assert_eq!(v["info_hash"], "248d0a1cd08284299de78d5c1ed359bb46717d8c");
    assert_eq!(v["info_hash_v2"], Value::Null);
    assert_eq!(v["piece_length"], 128);
    assert_eq!(v["piece_count"], 3);
    assert_eq!(v["total_length"], 384);
    assert_eq!(v["private"], false, "top-level private must not count");
    assert_eq!(v["files"][0]["path"], "aria2-test/aria2/src/aria2c");
    assert_eq!(v["files"][0]["length"], 284);
    assert_eq!(v["files"][0]["padding"], false);
    assert_eq!(
        v["trackers"],
        serde_json::json!([["http://tracker2"], ["http://tracker3"]])
    );
    assert_eq!(v["comment"], "REDNOAH.COM RULES");
    assert_eq!(v["created_by"], "aria2");
    assert_eq!(v["creation_date"], 1_123_456_789);
}

#[test]
fn show_json_of_a_hybrid_has_both_hashes_and_sanitised_pad_paths() {
    let p = testdata().join("libtorrent/test_torrents/v2_hybrid.torrent");
    let v = show_json(p.to_str().unwrap());
    assert_eq!(v["info_hash"], "514c76c1f27ec61ca8b37851bcd1cbf0b26cf120");
    assert_eq!(
        v["info_hash_v2"],
        "518fbaf39b37020c896e8768a967da6d76bbd5ef7a02c761021b65a72c6cfa11"
    );
    assert_eq!(
        v["files"][1]["path"],
        "bittorrent-v1-v2-hybrid-test/.pad/280339"
    );
    assert_eq!(v["files"][1]["padding"], true);
}

#[test]
fn show_text_resembles_transmission_show() {
    let p = testdata().join("libtorrent/test_torrents/parent_path.torrent");
    let o = freshet(&["show", p.to_str().unwrap()]);
    assert!(o.status.success());
    let out = stdout(&o);
    assert!(out.contains("Name: temp"), "{out}");
    assert!(
        out.contains("Hash v1: 9e1111f1ee4966f7d06d398f1d58e00ad150657a"),
        "{out}"
    );
    assert!(
        out.contains("temp/_/_/bar"),
        "path traversal must be sanitised: {out}"
    );
    let files = out.split("FILES").nth(1).unwrap();
    assert!(!files.contains(".."), "{out}");
}

#[test]
fn show_prints_what_a_magnet_carries() {
    let m = "magnet:?xt=urn:btih:d2354010a3ca4ade5b7427bb093a62a3899ff381&dn=Display%20Name&tr=http%3A%2F%2Ftracker.openbittorrent.com%2Fannounce&ws=http%3A%2F%2Fserver.webseed.org%2Fpath%2Fto%2Ffile";
    let v = show_json(m);
    assert_eq!(v["name"], "Display Name");
    assert_eq!(v["info_hash"], "d2354010a3ca4ade5b7427bb093a62a3899ff381");
    assert_eq!(
        v["trackers"],
        serde_json::json!([["http://tracker.openbittorrent.com/announce"]])
    );
    assert_eq!(v["web_seeds"][0], "http://server.webseed.org/path/to/file");
    let o = freshet(&["show", m]);
    assert!(stdout(&o).contains("Display Name"));
}

#[test]
fn bad_input_is_one_line_naming_the_file_with_exit_code_2() {
    let tmp = tempfile::tempdir().unwrap();
    let garbage = tmp.path().join("garbage.torrent");
    std::fs::write(&garbage, b"this is not bencode").unwrap();
    let empty = tmp.path().join("empty.torrent");
    std::fs::write(&empty, b"").unwrap();
    let td = testdata();
    let invalid = td.join("libtorrent/test_torrents/negative_file_size.torrent");
    let missing = tmp.path().join("does-not-exist.torrent");
    for (path, needle) in [
        (&garbage, "bencod"),
        (&empty, "empty"),
        (&invalid, "info.files[0].length"),
        (&missing, "No such file"),
    ] {
        let p = path.to_str().unwrap();
        for args in [
            vec!["show", p],
            vec!["show", "--json", p],
            vec!["magnet", p],
            vec!["verify", p, tmp.path().to_str().unwrap()],
        ] {
            let o = freshet(&args);
            assert_eq!(o.status.code(), Some(2), "{args:?}");
            let err = stderr(&o);
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
            assert!(err.contains(p), "{args:?}: {err}");
            assert!(err.contains(needle), "{args:?}: {err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    let o = freshet(&["show", "magnet:?dn=nohash"]);
    assert_eq!(o.status.code(), Some(2));
    let o = freshet(&["create", missing.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("does-not-exist"));
}

#[test]
fn every_corpus_file_is_shown_without_panicking() {
    let base = testdata();
    let mut stack = vec![base.clone()];
    let mut seen = 0;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "torrent") {
                let o = freshet(&["show", "--json", p.to_str().unwrap()]);
                assert!(matches!(o.status.code(), Some(0 | 2)), "{}", p.display());
                if o.status.success() {
                    let _: Value = serde_json::from_slice(&o.stdout).unwrap();
                } else {
                    assert_eq!(stderr(&o).trim_end().lines().count(), 1);
                }
                seen += 1;
            }
        }
    }
    assert!(seen >= 183);
}

#[test]
fn magnet_prints_the_link_with_name_trackers_and_web_seeds() {
    let p = testdata().join("anacrolix-torrent/metainfo/testdata/flat-url-list.torrent");
    let o = freshet(&["magnet", p.to_str().unwrap()]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o).trim(),
        "magnet:?xt=urn:btih:9da24e606e4ed9c7b91c1772fb5bf98f82bd9687&dn=SKODAOCTAVIA336x280&tr=http%3A%2F%2Fbt1.archive.org%3A6969%2Fannounce&tr=http%3A%2F%2Fbt2.archive.org%3A6969%2Fannounce&ws=https%3A%2F%2Farchive.org%2Fdownload%2F"
    );
}

#[test]
fn create_then_show_then_verify_good_bad_and_missing() {
    let tmp = tempfile::tempdir().unwrap();
    let save = tmp.path().join("save");
    let dir = save.join("pack");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    std::fs::write(dir.join("sub/small.txt"), b"small file\n").unwrap();
    let torrent = tmp.path().join("pack.torrent");
    let t = torrent.to_str().unwrap();
    let o = freshet(&[
        "create",
        dir.to_str().unwrap(),
        "-o",
        t,
        "-t",
        "http://127.0.0.1:1/announce,http://127.0.0.1:2/announce",
        "-t",
        "udp://127.0.0.1:3",
        "-w",
        "http://127.0.0.1:4/files/",
        "--piece-length",
        "16K",
        "--private",
        "--comment",
        "made in a test",
        "--source",
        "TEST",
        "--no-date",
        "--threads",
        "2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed = stdout(&o);
    assert!(printed.contains("Info hash v1: "), "{printed}");
    assert!(
        printed.contains("Magnet: magnet:?xt=urn:btih:"),
        "{printed}"
    );
    assert!(
        !printed.contains("Info hash v2"),
        "v1 is the default: {printed}"
    );

    let v = show_json(t);
    assert_eq!(v["name"], "pack");
    assert_eq!(v["piece_length"], 16384);
    assert_eq!(v["piece_count"], 13);
    assert_eq!(v["total_length"], 200_011);
    assert_eq!(v["private"], true);
    assert_eq!(v["comment"], "made in a test");
    assert_eq!(v["creation_date"], Value::Null);
    assert_eq!(
        v["trackers"],
        serde_json::json!([
            ["http://127.0.0.1:1/announce", "http://127.0.0.1:2/announce"],
            ["udp://127.0.0.1:3"]
        ])
    );
    assert_eq!(
        v["web_seeds"],
        serde_json::json!(["http://127.0.0.1:4/files/"])
    );
    assert_eq!(v["files"][0]["path"], "pack/big.bin");
    assert_eq!(v["files"][1]["path"], "pack/sub/small.txt");
    assert!(printed.contains(v["info_hash"].as_str().unwrap()));

    // Reproducible: the same input gives the same bytes.
    let again = tmp.path().join("again.torrent");
    let o = freshet(&[
        "create",
        dir.to_str().unwrap(),
        "-o",
        again.to_str().unwrap(),
        "-t",
        "http://127.0.0.1:1/announce,http://127.0.0.1:2/announce",
        "-t",
        "udp://127.0.0.1:3",
        "-w",
        "http://127.0.0.1:4/files/",
        "--piece-length",
        "16384",
        "--private",
        "--comment",
        "made in a test",
        "--source",
        "TEST",
        "--no-date",
    ]);
    assert!(o.status.success());
    assert_eq!(
        std::fs::read(&torrent).unwrap(),
        std::fs::read(&again).unwrap()
    );

    let ok = freshet(&["verify", t, save.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    assert!(
        stdout(&ok).contains("OK      pack/big.bin (13 good"),
        "{}",
        stdout(&ok)
    );

    let mut corrupt = big.clone();
    corrupt[50_000] ^= 0xff;
    std::fs::write(dir.join("big.bin"), &corrupt).unwrap();
    std::fs::remove_file(dir.join("sub/small.txt")).unwrap();
    let bad = freshet(&["verify", t, save.to_str().unwrap()]);
    assert_eq!(bad.status.code(), Some(1));
    let out = stdout(&bad);
    assert!(
        out.contains("BAD     pack/big.bin (11 good, 1 bad, 1 missing"),
        "{out}"
    );
    assert!(out.contains("MISSING pack/sub/small.txt"), "{out}");
    assert!(
        out.contains("13 pieces: 11 good, 1 bad, 1 missing"),
        "{out}"
    );
}

#[test]
fn create_hybrid_prints_both_info_hashes_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("one.bin");
    std::fs::write(&file, vec![7u8; 100_000]).unwrap();
    let torrent = tmp.path().join("one.torrent");
    let o = freshet(&[
        "create",
        file.to_str().unwrap(),
        "-o",
        torrent.to_str().unwrap(),
        "--hybrid",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("Info hash v2: "));
    assert!(stdout(&o).contains("xt=urn:btmh:1220"));
    let v = show_json(torrent.to_str().unwrap());
    assert!(v["creation_date"].as_i64().unwrap() > 1_600_000_000);
    let o = freshet(&[
        "verify",
        torrent.to_str().unwrap(),
        tmp.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    // The data directory may also be the file itself for a single-file torrent.
    let o = freshet(&["verify", torrent.to_str().unwrap(), file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn no_mmap_creates_the_same_torrent_and_verifies_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pack");
    std::fs::create_dir_all(&dir).unwrap();
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(dir.join("big.bin"), &big).unwrap();
    std::fs::write(dir.join("empty"), b"").unwrap();
    std::fs::write(dir.join("tiny"), b"x").unwrap();
    for hybrid in [false, true] {
        let mut outputs = Vec::new();
        for read_flag in [None, Some("--no-mmap")] {
            let out = tmp
                .path()
                .join(format!("{hybrid}-{}.torrent", read_flag.is_some()));
            let mut args = vec![
                "create",
                dir.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--no-date",
                "--piece-length",
                "64K",
            ];
            args.extend(hybrid.then_some("--hybrid"));
            args.extend(read_flag);
            let o = freshet(&args);
            assert!(o.status.success(), "{}", stderr(&o));
            let mut verify = vec![
                "verify",
                out.to_str().unwrap(),
                tmp.path().to_str().unwrap(),
            ];
            verify.extend(read_flag);
            let v = freshet(&verify);
            assert!(v.status.success(), "{}{}", stdout(&v), stderr(&v));
            assert!(stdout(&v).contains("All data is present and correct."));
            outputs.push(std::fs::read(&out).unwrap());
        }
        assert!(
            outputs[0] == outputs[1],
            "hybrid {hybrid}: --no-mmap torrent differs"
        );
    }
}
