//! Resume records are read from disk and may be corrupt: decoding never panics, and whatever
//! decodes re-encodes to something that decodes to the same record (`../invariants.rs`, shared
//! with the stable regression test).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    invariants::check_resume(data);
});
