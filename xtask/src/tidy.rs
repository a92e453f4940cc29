//! Tidy checks, run by `cargo test -p xtask`: repository rules that no compiler enforces.

use std::path::Path;

/// The `key = value` lines of every `[<prefix>.rust]` and `[<prefix>.clippy]` table, sorted,
/// with `unsafe_code` left out.
fn lints(manifest: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == format!("[{prefix}.rust]") || line == format!("[{prefix}.clippy]");
        } else if inside && line.contains('=') && !line.starts_with("unsafe_code") {
            out.push(line.replace(' ', ""));
        }
    }
    out.sort();
    out
}

/// `freshet-metainfo` has its own lint table (`unsafe_code = "deny"`, for its one memory-map
/// module); every other lint must stay equal to `[workspace.lints]`.
#[test]
fn metainfo_lints_match_workspace() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workspace = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let metainfo = std::fs::read_to_string(root.join("metainfo/Cargo.toml")).unwrap();
    let expected = lints(&workspace, "workspace.lints");
    assert!(
        expected.len() >= 4,
        "workspace lints not found: {expected:?}"
    );
    assert_eq!(lints(&metainfo, "lints"), expected);
    assert!(metainfo.contains("unsafe_code = \"deny\""));
    assert!(workspace.contains("unsafe_code = \"forbid\""));
}
