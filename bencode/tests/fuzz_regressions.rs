//! Runs the committed fuzz regression corpus (`fuzz/regressions/decode/`) through the same
//! invariants as the `decode` fuzz target, on stable, so CI exercises it without nightly.

#[path = "../fuzz/invariants.rs"]
mod invariants;

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
fn decode_regressions_keep_fuzz_invariants() {
    let mut accepted = 0;
    for (name, data) in regressions("decode") {
        eprintln!("checking {name}");
        accepted += usize::from(invariants::check(&data));
    }
    // The corpus holds real torrents, so some inputs must decode.
    assert!(accepted >= 3, "only {accepted} inputs decoded");
}
