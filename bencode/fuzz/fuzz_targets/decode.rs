//! Feeds arbitrary bytes through every decoder invariant in `../invariants.rs` (shared with
//! the stable regression test `tests/fuzz_regressions.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    invariants::check(data);
});
