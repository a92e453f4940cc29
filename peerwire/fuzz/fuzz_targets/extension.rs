//! Extension payload decoders (BEP 10 handshake, BEP 9 ut_metadata, BEP 11 ut_pex): never
//! panic, and whatever decodes re-encodes to something that decodes to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use freshet_peerwire::{ExtendedHandshake, MetadataMessage, PexMessage};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(hs) = ExtendedHandshake::decode(data) {
        let mut out = BytesMut::new();
        hs.encode_payload(&mut out);
        assert_eq!(ExtendedHandshake::decode(&out).ok(), Some(hs));
    }
    if let Ok(pex) = PexMessage::decode(data) {
        let mut out = BytesMut::new();
        pex.encode_payload(&mut out);
        assert_eq!(PexMessage::decode(&out).ok(), Some(pex));
    }
    if let Ok(Some(msg)) = MetadataMessage::decode(&Bytes::copy_from_slice(data)) {
        let mut out = BytesMut::new();
        msg.encode_payload(&mut out);
        assert_eq!(MetadataMessage::decode(&out.freeze()).ok(), Some(Some(msg)));
    }
});
