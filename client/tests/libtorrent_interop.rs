//! Interop proof: torrents made by `freshet create` load in python3-libtorrent with the same
//! info-hashes `freshet show --json` prints, and libtorrent's own full recheck of the data
//! finds every piece (so piece hashes, pad files and v2 merkle roots are right).
//!
//! Needs the Debian package `python3-libtorrent` (run with /usr/bin/python3). The test skips
//! only when that module is truly absent.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const PYTHON: &str = "/usr/bin/python3";

fn libtorrent_available() -> bool {
    if !Path::new(PYTHON).exists() {
        return false;
    }
    let out = Command::new(PYTHON)
        .args(["-c", "import libtorrent"])
        .output()
        .expect("running /usr/bin/python3");
    if out.status.success() {
        return true;
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ModuleNotFoundError") || stderr.contains("No module named"),
        "python3 -c 'import libtorrent' failed unexpectedly: {stderr}"
    );
    false
}

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn freshet(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_freshet"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "freshet {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn check(torrent: &Path, save_dir: &Path, hybrid: bool) {
    let t = torrent.to_str().unwrap();
    let shown: Value = serde_json::from_str(&freshet(&["show", "--json", t])).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/libtorrent_interop.py");
    let out = Command::new(PYTHON)
        .arg(&script)
        .arg(torrent)
        .arg(save_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "libtorrent failed on {t}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lt: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(lt["v1"], shown["info_hash"], "{t}: v1 info-hash");
    assert_eq!(lt["v2"], shown["info_hash_v2"], "{t}: v2 info-hash");
    assert_eq!(shown["info_hash_v2"].is_null(), !hybrid, "{t}");
    let lt_files: Vec<(String, u64)> = lt["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f[0].as_str().unwrap().to_owned(), f[1].as_u64().unwrap()))
        .collect();
    let our_files: Vec<(String, u64)> = shown["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"].as_str().unwrap().to_owned(),
                f["length"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(lt_files, our_files, "{t}: file layout");
    assert_eq!(lt["is_seed"], true, "{t}: libtorrent recheck: {lt}");
    assert_eq!(lt["pieces_have"], shown["piece_count"], "{t}");
}

#[test]
fn created_torrents_load_and_recheck_in_libtorrent_with_the_same_info_hash() {
    if !libtorrent_available() {
        println!(
            "SKIPPED: python3-libtorrent is not installed (apt-get install -y python3-libtorrent)"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let save: PathBuf = tmp.path().join("save");
    let dir = save.join("album");
    std::fs::create_dir_all(dir.join("disc 2")).unwrap();
    std::fs::write(save.join("single.bin"), data(1_234_567, 1)).unwrap();
    std::fs::write(dir.join("01 intro.flac"), data(300_001, 2)).unwrap();
    std::fs::write(dir.join("empty.txt"), b"").unwrap();
    std::fs::write(dir.join("disc 2").join("02.flac"), data(70_000, 3)).unwrap();
    std::fs::write(dir.join("disc 2").join("notes.txt"), b"liner notes\n").unwrap();

    let cases = [
        ("v1-single", save.join("single.bin"), false),
        ("v1-dir", dir.clone(), false),
        ("hybrid-dir", dir.clone(), true),
        ("hybrid-single", save.join("single.bin"), true),
    ];
    for (label, input, hybrid) in cases {
        let out = tmp.path().join(format!("{label}.torrent"));
        let mut args = vec![
            "create",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "-t",
            "http://127.0.0.1:6969/announce",
            "--no-date",
        ];
        if hybrid {
            args.push("--hybrid");
        }
        let printed = freshet(&args);
        assert!(
            printed.contains("Magnet: magnet:?xt=urn:btih:"),
            "{printed}"
        );
        check(&out, &save, hybrid);
    }
}
