//! Frames arbitrary bytes, split at a fuzzer-chosen point, and checks the decoder's
//! invariants: no panic, consumed + remaining = input, every decoded message re-encodes to
//! exactly the bytes it came from, and the split does not change the result.
#![no_main]

use bytes::BytesMut;
use freshet_peerwire::{Handshake, Limits, Message, MessageDecoder, UnknownMessages};
use libfuzzer_sys::fuzz_target;

fn decode_all(dec: &MessageDecoder, chunks: &[&[u8]]) -> (Vec<Message>, Result<(), ()>, usize) {
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

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let _ = Handshake::decode(input);
    let mut limits = Limits::default().with_max_extended_len(4096);
    if control & 1 == 1 {
        limits.piece_count = Some(u32::from(control >> 2) * 3);
    }
    let skip = control & 2 == 2;
    if skip {
        limits.unknown_messages = UnknownMessages::Skip;
    }
    let dec = MessageDecoder::new(limits);

    let (whole, whole_res, rest) = decode_all(&dec, &[input]);
    if !skip {
        // Without skipped frames, the messages account for every consumed byte.
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
});
