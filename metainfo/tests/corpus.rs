//! Corpus test: every `.torrent` under the shared test data is loaded and compared, fact by
//! fact, with what libtorrent 2.1.1 makes of it (`oracle-libtorrent-2.1.1.jsonl`).
//!
//! The one deliberate disagreement: an info dict with a duplicate key
//! (`transmission/.../dup-pieces-key.torrent`) is rejected, because two parsers could read
//! different piece hashes from it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use freshet_metainfo::Metainfo;
use serde_json::Value;

const DUPLICATE_KEY_EXCEPTION: &str = "transmission/libtransmission/assets/dup-pieces-key.torrent";

fn testdata() -> PathBuf {
    if let Some(dir) = std::env::var_os("FRESHET_TESTDATA") {
        return PathBuf::from(dir);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for candidate in [
        manifest.join("../../shared/testdata"),
        manifest.join("../shared/testdata"),
    ] {
        if candidate.join("oracle-libtorrent-2.1.1.jsonl").is_file() {
            return candidate;
        }
    }
    panic!("test data not found: set FRESHET_TESTDATA or place shared/testdata beside the repo");
}

fn torrents(dir: &Path, base: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            torrents(&path, base, out);
        } else if path.extension().is_some_and(|e| e == "torrent") {
            out.push(
                path.strip_prefix(base)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

fn facts(m: &Metainfo) -> Value {
    let files: Vec<Value> = m
        .info
        .files
        .iter()
        .map(|f| {
            serde_json::json!({
                "path": f.path_string(),
                "length": f.length,
                "padding": f.attributes.padding,
            })
        })
        .collect();
    serde_json::json!({
        "ok": true,
        "name": m.info.name,
        "info_hash": m.info_hashes.v1.map(|h| h.to_hex()),
        "info_hash_v2": m.info_hashes.v2.map(|h| h.to_hex()),
        "files": files,
        "total_length": m.info.total_length,
        "piece_length": m.info.piece_length,
        "piece_count": m.info.piece_count,
        "private": m.info.private,
        "trackers": m.trackers.iter().flatten().collect::<Vec<_>>(),
        "web_seeds": m.web_seeds,
    })
}

#[test]
fn every_torrent_matches_the_libtorrent_oracle() {
    let base = testdata();
    let oracle: BTreeMap<String, Value> =
        std::fs::read_to_string(base.join("oracle-libtorrent-2.1.1.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (v["file"].as_str().unwrap().to_owned(), v)
            })
            .collect();
    let mut files = Vec::new();
    torrents(&base, &base, &mut files);
    files.sort();
    assert!(files.len() >= 183, "only {} torrents found", files.len());
    let mut failures = Vec::new();
    for rel in &files {
        let expected = oracle
            .get(rel)
            .unwrap_or_else(|| panic!("{rel}: no oracle entry"));
        let bytes = std::fs::read(base.join(rel)).unwrap();
        let result = Metainfo::from_bytes(&bytes);
        if rel == DUPLICATE_KEY_EXCEPTION {
            assert!(
                expected["ok"].as_bool().unwrap(),
                "oracle changed for {rel}"
            );
            assert!(result.is_err(), "{rel}: duplicate key must be rejected");
            continue;
        }
        match (expected["ok"].as_bool().unwrap(), result) {
            (false, Ok(_)) => failures.push(format!(
                "{rel}: accepted, libtorrent rejects ({})",
                expected["error"]
            )),
            (true, Err(e)) => failures.push(format!("{rel}: rejected ({e}), libtorrent accepts")),
            (false, Err(_)) => {}
            (true, Ok(m)) => {
                let got = facts(&m);
                for key in [
                    "name",
                    "info_hash",
                    "info_hash_v2",
                    "files",
                    "total_length",
                    "piece_length",
                    "piece_count",
                    "private",
                    "trackers",
                    "web_seeds",
                ] {
                    if got[key] != expected[key] {
                        let show = |v: &Value| {
                            let s = v.to_string();
                            if s.len() > 400 {
                                format!("{}…", &s[..400])
                            } else {
                                s
                            }
                        };
                        failures.push(format!(
                            "{rel}: {key}: got {} expected {}",
                            show(&got[key]),
                            show(&expected[key])
                        ));
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements with libtorrent 2.1.1:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_accepted_torrent_survives_a_write_and_reload() {
    let base = testdata();
    let mut files = Vec::new();
    torrents(&base, &base, &mut files);
    let mut checked = 0;
    for rel in &files {
        let Ok(m) = Metainfo::from_bytes(&std::fs::read(base.join(rel)).unwrap()) else {
            continue;
        };
        let written = m.to_bytes();
        let back = Metainfo::from_bytes(&written).unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_eq!(back.info, m.info, "{rel}");
        assert_eq!(back.info_hashes, m.info_hashes, "{rel}");
        assert_eq!(back.info_bytes, m.info_bytes, "{rel}");
        assert_eq!(back.trackers, m.trackers, "{rel}");
        assert_eq!(back.web_seeds, m.web_seeds, "{rel}");
        assert_eq!(back.nodes, m.nodes, "{rel}");
        assert_eq!(back.piece_layers, m.piece_layers, "{rel}");
        assert_eq!(back.comment, m.comment, "{rel}");
        assert_eq!(back.creation_date, m.creation_date, "{rel}");
        assert_eq!(back.to_bytes(), written, "{rel}: writing is stable");
        checked += 1;
    }
    assert!(checked >= 130, "{checked}");
}
