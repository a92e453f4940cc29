//! Every `.torrent` under `shared/testdata`: decodes without panicking; canonical files
//! re-encode byte-identically; the info span hashes to the info-hash libtorrent 2.1.1 reports.

use std::path::{Path, PathBuf};

use freshet_bencode::{Value, decode, decode_prefix};
use sha1::{Digest, Sha1};
use sha2::Sha256;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata")
}

fn torrents(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            torrents(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "torrent" || e == "resume")
        {
            out.push(path);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_torrent_decodes_and_round_trips() {
    let mut files = Vec::new();
    torrents(&testdata(), &mut files);
    assert!(files.len() >= 183, "found {} torrents", files.len());
    let (mut canonical, mut unsorted, mut rejected) = (0, 0, 0);
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        match decode_prefix(&bytes) {
            Ok((value, used)) => {
                assert!(used <= bytes.len());
                let encoded = value.encode();
                if value.is_canonical() {
                    canonical += 1;
                    assert_eq!(encoded, &bytes[..used], "{}", path.display());
                } else {
                    unsorted += 1;
                    let again = decode(&encoded).unwrap();
                    assert!(again.is_canonical());
                    assert_eq!(again.to_owned_value(), value.to_owned_value());
                }
                assert_eq!(value.to_owned_value().encode(), encoded);
            }
            Err(e) => {
                rejected += 1;
                assert!(e.offset() <= bytes.len(), "{}: {e}", path.display());
            }
        }
    }
    println!("{canonical} canonical, {unsorted} with unsorted keys, {rejected} rejected");
    assert!(canonical > 100);
}

#[test]
fn info_spans_hash_to_libtorrent_info_hashes() {
    let oracle = std::fs::read_to_string(testdata().join("oracle-libtorrent-2.1.1.jsonl")).unwrap();
    let mut checked = 0;
    for line in oracle.lines() {
        let rec: serde_json::Value = serde_json::from_str(line).unwrap();
        if rec["ok"] != true {
            continue;
        }
        let file = rec["file"].as_str().unwrap();
        let bytes = std::fs::read(testdata().join(file)).unwrap();
        let (root, _) = match decode_prefix(&bytes) {
            Ok(v) => v,
            Err(e) => {
                // The one deliberate disagreement: duplicate keys are rejected.
                assert!(file.contains("dup"), "{file}: {e}");
                continue;
            }
        };
        let info = root
            .as_dict()
            .and_then(|d| d.get(b"info"))
            .and_then(Value::as_dict)
            .unwrap_or_else(|| panic!("{file}: no info dict"));
        let raw = info.raw();
        assert_eq!(&bytes[info.offset()..info.offset() + raw.len()], raw);
        if let Some(v1) = rec["info_hash"].as_str() {
            assert_eq!(hex(&Sha1::digest(raw)), v1, "{file}");
            checked += 1;
        }
        if let Some(v2) = rec["info_hash_v2"].as_str() {
            assert_eq!(hex(&Sha256::digest(raw)), v2, "{file}");
            checked += 1;
        }
    }
    assert!(checked >= 131, "checked {checked}");
}

#[test]
fn anacrolix_bencode_testdata_round_trips_exactly() {
    let dir = testdata().join("anacrolix-torrent/bencode/testdata");
    for name in [
        "archlinux-2011.08.19-netinstall-i686.iso.torrent",
        "continuum.torrent",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let value = decode(&bytes).unwrap();
        assert!(value.is_canonical());
        assert_eq!(value.encode(), bytes);
        assert_eq!(value.to_owned_value().encode(), bytes);
    }
}

/// Checks `get_raw` for every dictionary entry and list item: the span decodes to the value
/// and sits at the right place.
fn check_spans(v: &Value<'_>, count: &mut usize) {
    match v {
        Value::Dict(d) => {
            for (k, child) in d.iter() {
                let raw = d.get_raw(k).unwrap();
                assert_eq!(raw.len(), child.input_len());
                assert_eq!(decode(raw).unwrap(), *child);
                *count += 1;
                check_spans(child, count);
            }
            assert_eq!(d.get_raw(b"\xff no such key"), None);
        }
        Value::List(l) => {
            for (i, child) in l.iter().enumerate() {
                let raw = l.get_raw(i).unwrap();
                assert_eq!(decode(raw).unwrap(), *child);
                *count += 1;
                check_spans(child, count);
            }
            assert_eq!(l.get_raw(l.len()), None);
        }
        Value::Int(_) | Value::Bytes(_) => {}
    }
}

#[test]
fn every_value_reports_its_raw_span() {
    let mut files = Vec::new();
    torrents(&testdata(), &mut files);
    let mut count = 0;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        if let Ok((value, used)) = decode_prefix(&bytes) {
            assert_eq!(value.input_len(), used);
            check_spans(&value, &mut count);
        }
    }
    assert!(count > 5_000, "{count}");
    // Lists of integers (no borrowed anchor) and mixed lists.
    let v = decode(b"li1ei-22e3:abci333eli4eei5ee").unwrap();
    let l = v.as_list().unwrap();
    let spans: Vec<&[u8]> = (0..l.len()).map(|i| l.get_raw(i).unwrap()).collect();
    assert_eq!(
        spans,
        [&b"i1e"[..], b"i-22e", b"3:abc", b"i333e", b"li4ee", b"i5e"]
    );
    let v = decode(b"d1:bi-7e1:ai1ee").unwrap();
    assert_eq!(v.as_dict().unwrap().get_raw(b"b"), Some(&b"i-7e"[..]));
    assert_eq!(v.as_dict().unwrap().get_raw(b"a"), Some(&b"i1e"[..]));
}
