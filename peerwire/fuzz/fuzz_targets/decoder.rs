//! Frames arbitrary bytes, split at a fuzzer-chosen point, and checks the decoder's
//! invariants (`../invariants.rs`, shared with the stable regression test): no panic,
//! consumed + remaining = input, every decoded message re-encodes to exactly the bytes it
//! came from, and the split does not change the result.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    invariants::check_decoder(data);
});
