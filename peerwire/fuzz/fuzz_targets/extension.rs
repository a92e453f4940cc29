//! Extension payload decoders (BEP 10 handshake, BEP 9 ut_metadata, BEP 11 ut_pex): never
//! panic, and whatever decodes re-encodes to something that decodes to the same value
//! (`../invariants.rs`, shared with the stable regression test).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    invariants::check_extension(data);
});
