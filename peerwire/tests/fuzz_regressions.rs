//! Runs the committed fuzz regression corpora (`fuzz/regressions/{decoder,extension}/`)
//! through the same invariants as the fuzz targets, on stable, so CI exercises them without
//! nightly.

#[path = "../fuzz/invariants.rs"]
mod invariants;

use invariants::{check_decoder, check_extension, decode_all, decoder_for};

/// Every committed regression input of `target`, as (file name, bytes).
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.expect("directory entry").path();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), bytes)
        })
        .collect();
    out.sort();
    assert!(
        out.len() >= 3,
        "{}: too few regression inputs",
        dir.display()
    );
    out
}

#[test]
fn decoder_regressions_keep_fuzz_invariants() {
    for (name, data) in regressions("decoder") {
        eprintln!("checking {name}");
        check_decoder(&data);
    }
}

/// Frames the decoder itself must refuse. (A `have` index out of range is not one of them:
/// `Limits::piece_count` only checks bitfield lengths; the engine drops such peers.)
#[test]
fn hostile_frames_are_errors() {
    for (file, control_bits) in [
        ("len-4gib", 0u8),
        ("bitfield-spare", 1 | (4 << 2)),
        ("unknown-id-strict", 0),
        ("extended-too-long", 0),
    ] {
        let (_, data) = regressions("decoder")
            .into_iter()
            .find(|(n, _)| n.ends_with(&format!("/{file}")))
            .unwrap_or_else(|| panic!("{file} missing"));
        assert_eq!(data[0], control_bits, "{file}");
        let (_, res, _) = decode_all(&decoder_for(data[0]), &[&data[1..]]);
        assert!(res.is_err(), "{file} must be refused");
    }
}

#[test]
fn extension_regressions_keep_fuzz_invariants() {
    for (name, data) in regressions("extension") {
        eprintln!("checking {name}");
        check_extension(&data);
    }
}
