//! Arbitrary bytes from two peers (one seed-like, one leech-like) are decoded and fed to a
//! torrent; every disk job is run. The engine must never panic, and a peer the engine
//! disconnected must never be named by a later action (`../invariants.rs`, shared with the
//! stable regression test).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    invariants::check_peer_messages(data);
});
