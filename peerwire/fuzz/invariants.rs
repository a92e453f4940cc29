//! The invariants the `decoder` and `extension` fuzz targets check, shared with the stable
//! regression test `tests/fuzz_regressions.rs` so both run exactly the same checks.
// Each fuzz target uses only its own checks.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use freshet_peerwire::{
    ExtendedHandshake, Handshake, Limits, Message, MessageDecoder, MetadataMessage, PexMessage,
    UnknownMessages,
};

/// Feeds `chunks` one after another into a buffer and decodes every message it can: the
/// messages, whether decoding stopped at an error, and the bytes left in the buffer.
pub fn decode_all(dec: &MessageDecoder, chunks: &[&[u8]]) -> (Vec<Message>, Result<(), ()>, usize) {
    let mut buf = BytesMut::new();
    let mut msgs = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match dec.decode(&mut buf) {
                Ok(Some(m)) => msgs.push(m),
                Ok(None) => break,
                Err(_) => return (msgs, Err(()), buf.len()),
            }
        }
    }
    (msgs, Ok(()), buf.len())
}

/// The decoder a fuzz input's control byte selects: bit 0 sets a piece count (bits 2..),
/// bit 1 skips unknown message ids instead of refusing them.
pub fn decoder_for(control: u8) -> MessageDecoder {
    let mut limits = Limits::default().with_max_extended_len(4096);
    if control & 1 == 1 {
        limits.piece_count = Some(u32::from(control >> 2) * 3);
    }
    if control & 2 == 2 {
        limits.unknown_messages = UnknownMessages::Skip;
    }
    MessageDecoder::new(limits)
}

/// The `decoder` target: frames the input (after its control byte), split at a
/// control-chosen point. No panic; without skipped frames consumed + remaining = input and
/// every message re-encodes to exactly its bytes; the split does not change the result.
pub fn check_decoder(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let _ = Handshake::decode(input);
    let skip = control & 2 == 2;
    let dec = decoder_for(control);
    let (whole, whole_res, rest) = decode_all(&dec, &[input]);
    if !skip {
        let used: usize = whole.iter().map(Message::encoded_len).sum();
        if whole_res.is_ok() {
            assert_eq!(used + rest, input.len(), "consumed + remaining != input");
        }
        let mut out = BytesMut::new();
        for m in &whole {
            m.encode(&mut out);
        }
        assert_eq!(
            &out[..],
            &input[..used],
            "re-encoding differs from the input"
        );
    }
    let split = usize::from(control) * input.len() / 256;
    let (parts, parts_res, _) = decode_all(&dec, &[&input[..split], &input[split..]]);
    assert_eq!(parts_res, whole_res);
    assert_eq!(parts, whole, "split at {split} changed the result");
}

/// The `extension` target: the BEP 10 handshake, BEP 11 ut_pex and BEP 9 ut_metadata
/// decoders never panic, and what decodes re-encodes to something that decodes the same.
pub fn check_extension(data: &[u8]) {
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
}
