//! Runs the committed fuzz regression corpora (`fuzz/regressions/{decoder,extension}/`)
//! through the same invariants as the fuzz targets, on stable, so CI exercises them without
//! nightly.

use bytes::{Bytes, BytesMut};
use freshet_peerwire::{
    ExtendedHandshake, Handshake, Limits, Message, MessageDecoder, MetadataMessage, PexMessage,
    UnknownMessages,
};

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
fn decoder_regressions_keep_fuzz_invariants() {
    for (name, data) in regressions("decoder") {
        eprintln!("checking {name}");
        check_decoder(&data);
    }
}

/// Frames the decoder itself must refuse. (A `have` index out of range is not one of them:
/// `Limits::piece_count` only checks bitfield lengths; the engine drops such peers.)
#[test]
fn hostile_frames_are_errors() {
    for (file, control_bits) in [
        ("len-4gib", 0u8),
        ("bitfield-spare", 1 | (4 << 2)),
        ("unknown-id-strict", 0),
        ("extended-too-long", 0),
    ] {
        let (_, data) = regressions("decoder")
            .into_iter()
            .find(|(n, _)| n.ends_with(&format!("/{file}")))
            .unwrap_or_else(|| panic!("{file} missing"));
        assert_eq!(data[0], control_bits, "{file}");
        let (_, res, _) = decode_all(&decoder_for(data[0]), &[&data[1..]]);
        assert!(res.is_err(), "{file} must be refused");
    }
}

#[test]
fn extension_regressions_keep_fuzz_invariants() {
    for (name, data) in regressions("extension") {
        eprintln!("checking {name}");
        check_extension(&data);
    }
}

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

fn decoder_for(control: u8) -> MessageDecoder {
    let mut limits = Limits::default().with_max_extended_len(4096);
    if control & 1 == 1 {
        limits.piece_count = Some(u32::from(control >> 2) * 3);
    }
    if control & 2 == 2 {
        limits.unknown_messages = UnknownMessages::Skip;
    }
    MessageDecoder::new(limits)
}

/// The `decoder` fuzz target's body.
fn check_decoder(data: &[u8]) {
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

/// The `extension` fuzz target's body.
fn check_extension(data: &[u8]) {
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
