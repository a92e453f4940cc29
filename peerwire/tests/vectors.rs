//! Byte-exact vectors written by hand from the BEP texts (not produced by our encoder),
//! decoded, then re-encoded and compared.

use bytes::{Bytes, BytesMut};
use freshet_peerwire::{
    BlockRef, Decoded, Error, HashRequest, InvalidMessage, Limits, Message, MessageDecoder,
    PeerMisbehaved, PieceIndex, PiecesRoot, UnknownMessages,
};

fn decode_one(dec: &MessageDecoder, wire: &[u8]) -> Message {
    let mut buf = BytesMut::from(wire);
    let msg = dec.decode(&mut buf).expect("valid").expect("complete");
    assert!(buf.is_empty(), "{msg:?} left {} bytes", buf.len());
    msg
}

fn check(dec: &MessageDecoder, wire: &[u8], expected: Message) {
    assert_eq!(decode_one(dec, wire), expected, "decoding {wire:02x?}");
    let mut out = BytesMut::new();
    expected.encode(&mut out);
    assert_eq!(&out[..], wire, "encoding {expected:?}");
    assert_eq!(expected.encoded_len(), wire.len());
}

fn root() -> PiecesRoot {
    let mut r = [0u8; 32];
    for (i, b) in r.iter_mut().enumerate() {
        *b = i as u8;
    }
    PiecesRoot(r)
}

#[test]
fn bep3_core_messages() {
    let dec = MessageDecoder::new(Limits::default().with_piece_count(11));
    #[rustfmt::skip]
    let cases: Vec<(&[u8], Message)> = vec![
        (&[0, 0, 0, 0], Message::Keepalive), // length 0
        (&[0, 0, 0, 1, 0], Message::Choke), // len 1, id 0
        (&[0, 0, 0, 1, 1], Message::Unchoke),
        (&[0, 0, 0, 1, 2], Message::Interested),
        (&[0, 0, 0, 1, 3], Message::NotInterested),
        (&[0, 0, 0, 5, 4, /* index */ 0x12, 0x34, 0x56, 0x78], Message::Have(PieceIndex(0x1234_5678))),
        (&[0, 0, 0, 3, 5, /* 11 pieces, all */ 0xff, 0xe0],
            Message::Bitfield(freshet_peerwire::Bitfield::full(11))),
        (&[0, 0, 0, 13, 6, /* index */ 0, 0, 0, 1, /* begin */ 0, 0, 0x40, 0, /* length */ 0, 0, 0x40, 0],
            Message::Request(BlockRef::new(PieceIndex(1), 16384, 16384))),
        (&[0, 0, 0, 13, 7, /* index */ 0, 0, 0, 2, /* begin */ 0, 0, 0x80, 0, /* block */ b'a', b'b', b'c', b'd'],
            Message::Piece { piece: PieceIndex(2), offset: 32768, data: Bytes::from_static(b"abcd") }),
        (&[0, 0, 0, 13, 8, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0],
            Message::Cancel(BlockRef::new(PieceIndex(1), 16384, 16384))),
        // BEP 5: port 6881 = 0x1ae1
        (&[0, 0, 0, 3, 9, 0x1a, 0xe1], Message::Port(6881)),
    ];
    for (wire, msg) in cases {
        check(&dec, wire, msg);
    }
}

#[test]
fn bep6_fast_messages() {
    let dec = MessageDecoder::default();
    #[rustfmt::skip]
    let cases: Vec<(&[u8], Message)> = vec![
        (&[0, 0, 0, 5, 0x0d, 0, 0, 0, 7], Message::SuggestPiece(PieceIndex(7))),
        (&[0, 0, 0, 1, 0x0e], Message::HaveAll),
        (&[0, 0, 0, 1, 0x0f], Message::HaveNone),
        (&[0, 0, 0, 13, 0x10, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0x40, 0],
            Message::RejectRequest(BlockRef::new(PieceIndex(3), 0, 16384))),
        (&[0, 0, 0, 5, 0x11, 0, 0, 0x05, 0x39], Message::AllowedFast(PieceIndex(1337))),
    ];
    for (wire, msg) in cases {
        check(&dec, wire, msg);
    }
}

#[test]
fn bep10_extended_message_frame() {
    let dec = MessageDecoder::default();
    // len 4: id 20, extended id 3, 2-byte payload `le` (an empty bencode list).
    let wire = [0, 0, 0, 4, 20, 3, b'l', b'e'];
    check(
        &dec,
        &wire,
        Message::Extended {
            id: 3,
            payload: Bytes::from_static(b"le"),
        },
    );
}

#[test]
fn bep52_hash_messages() {
    let dec = MessageDecoder::default();
    let req = HashRequest {
        pieces_root: root(),
        base_layer: 0,
        index: 4,
        length: 2,
        proof_layers: 3,
    };
    let mut fields = Vec::new();
    fields.extend_from_slice(&root().0); // pieces root
    fields.extend_from_slice(&[0, 0, 0, 0]); // base layer
    fields.extend_from_slice(&[0, 0, 0, 4]); // index
    fields.extend_from_slice(&[0, 0, 0, 2]); // length
    fields.extend_from_slice(&[0, 0, 0, 3]); // proof layers

    let mut wire = vec![0, 0, 0, 0x31, 21];
    wire.extend_from_slice(&fields);
    check(&dec, &wire, Message::HashRequest(req));

    let mut wire = vec![0, 0, 0, 0x31, 23];
    wire.extend_from_slice(&fields);
    check(&dec, &wire, Message::HashReject(req));

    let hashes: Vec<u8> = (0..64).map(|i| 0xf0 ^ i as u8).collect();
    let mut wire = vec![0, 0, 0, 0x31 + 64, 22];
    wire.extend_from_slice(&fields);
    wire.extend_from_slice(&hashes);
    check(
        &dec,
        &wire,
        Message::Hashes {
            request: req,
            hashes: Bytes::from(hashes),
        },
    );
    assert!(req.is_well_formed(512));
    assert!(!HashRequest { index: 3, ..req }.is_well_formed(512));
    assert!(!HashRequest { length: 3, ..req }.is_well_formed(512));
}

#[test]
fn every_message_decodes_from_one_byte_at_a_time() {
    let dec = MessageDecoder::new(Limits::default().with_piece_count(11));
    let msgs = vec![
        Message::Keepalive,
        Message::Bitfield(freshet_peerwire::Bitfield::full(11)),
        Message::Piece {
            piece: PieceIndex(9),
            offset: 0,
            data: Bytes::from(vec![7u8; 16384]),
        },
        Message::Extended {
            id: 0,
            payload: Bytes::from_static(b"de"),
        },
        Message::HaveNone,
    ];
    let mut wire = BytesMut::new();
    for m in &msgs {
        m.encode(&mut wire);
    }
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    for &b in wire.iter() {
        buf.extend_from_slice(&[b]);
        while let Some(m) = dec.decode(&mut buf).unwrap() {
            got.push(m);
        }
    }
    assert_eq!(got, msgs);
}

#[test]
fn piece_payload_is_a_slice_of_the_receive_buffer() {
    let dec = MessageDecoder::default();
    let mut buf = BytesMut::with_capacity(64);
    buf.extend_from_slice(&[0, 0, 0, 13, 7, 0, 0, 0, 2, 0, 0, 0, 0, 1, 2, 3, 4]);
    let base = buf.as_ptr() as usize;
    let Some(Message::Piece { data, .. }) = dec.decode(&mut buf).unwrap() else {
        panic!("not a piece")
    };
    assert_eq!(data.as_ptr() as usize, base + 13, "payload was copied");
}

#[test]
fn decode_bytes_reports_consumption() {
    let dec = MessageDecoder::default();
    let input = Bytes::from_static(&[0, 0, 0, 1, 2, 0, 0, 0, 5, 4, 0]);
    assert_eq!(
        dec.decode_bytes(&input).unwrap(),
        Decoded::Complete {
            value: Message::Interested,
            consumed: 5
        }
    );
    assert_eq!(
        dec.decode_bytes(&input.slice(5..)).unwrap(),
        Decoded::Incomplete { needed: 3 }
    );
    assert_eq!(
        dec.decode_bytes(&input.slice(..2)).unwrap(),
        Decoded::Incomplete { needed: 2 }
    );
}

#[test]
fn rejects_oversize_piece_from_header_alone() {
    let dec = MessageDecoder::default();
    // piece claiming 9 + 16 KiB + 1 bytes; only the 5-byte header is present.
    let len = 9 + 16384 + 1u32;
    let mut buf = BytesMut::from(&[&len.to_be_bytes()[..], &[7]].concat()[..]);
    let cap = buf.capacity();
    let err = dec.decode(&mut buf).unwrap_err();
    assert_eq!(
        err,
        Error::PeerMisbehaved(PeerMisbehaved::MessageTooLong {
            msg: "piece",
            len,
            max: 16393
        })
    );
    assert!(err.to_string().contains("piece") && err.to_string().contains("16394"));
    assert_eq!(
        buf.capacity(),
        cap,
        "decoder must not reserve what the peer claimed"
    );
}

#[test]
fn rejects_huge_extended_message_before_buffering() {
    let dec = MessageDecoder::default();
    let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff, 20][..]);
    assert_eq!(
        dec.decode(&mut buf).unwrap_err(),
        Error::PeerMisbehaved(PeerMisbehaved::MessageTooLong {
            msg: "extended",
            len: u32::MAX,
            max: 1 << 20
        })
    );
    let small = MessageDecoder::new(Limits::default().with_max_extended_len(100));
    let mut buf = BytesMut::from(&[0, 0, 0, 101, 20][..]);
    assert!(small.decode(&mut buf).is_err());
}

#[test]
fn rejects_fixed_messages_of_wrong_length() {
    let dec = MessageDecoder::default();
    for (wire, msg, expected, got) in [
        (&[0u8, 0, 0, 2, 0, 0][..], "choke", 1, 2),
        (&[0, 0, 0, 4, 4, 0, 0, 0][..], "have", 5, 4),
        (&[0, 0, 0, 12, 6][..], "request", 13, 12),
        (&[0, 0, 0, 2, 9][..], "port", 3, 2),
        (&[0, 0, 0, 0x30, 21][..], "hash request", 49, 48),
    ] {
        let mut buf = BytesMut::from(wire);
        assert_eq!(
            dec.decode(&mut buf).unwrap_err(),
            Error::InvalidMessage(InvalidMessage::IncorrectLength { msg, expected, got }),
            "{wire:02x?}"
        );
    }
    let mut buf = BytesMut::from(&[0, 0, 0, 0x31 + 31, 22][..]);
    assert_eq!(
        dec.decode(&mut buf).unwrap_err(),
        Error::InvalidMessage(InvalidMessage::HashesNotWhole { got: 31 })
    );
}

#[test]
fn rejects_bitfield_not_matching_piece_count() {
    let dec = MessageDecoder::new(Limits::default().with_piece_count(11));
    // wrong length, detected from the header
    let mut buf = BytesMut::from(&[0, 0, 0, 4, 5][..]);
    assert!(matches!(
        dec.decode(&mut buf),
        Err(Error::InvalidMessage(InvalidMessage::IncorrectLength {
            msg: "bitfield",
            expected: 3,
            got: 4
        }))
    ));
    // spare bit set
    let mut buf = BytesMut::from(&[0, 0, 0, 3, 5, 0xff, 0xf0][..]);
    assert!(matches!(
        dec.decode(&mut buf),
        Err(Error::InvalidMessage(InvalidMessage::Bitfield(_)))
    ));
}

#[test]
fn rejects_unknown_message_id() {
    let dec = MessageDecoder::default();
    let mut buf = BytesMut::from(&[0, 0, 0, 1, 0x42][..]);
    assert_eq!(
        dec.decode(&mut buf).unwrap_err(),
        Error::InvalidMessage(InvalidMessage::UnknownMessageId { id: 0x42, len: 1 })
    );
}

#[test]
fn skips_unknown_message_ids_when_asked() {
    let mut limits = Limits::default().with_max_extended_len(64);
    limits.unknown_messages = UnknownMessages::Skip;
    let dec = MessageDecoder::new(limits);
    // unknown id 0x42 with 3 payload bytes, then `have all`
    let wire = [0, 0, 0, 4, 0x42, 1, 2, 3, 0, 0, 0, 1, 0x0e];
    let mut buf = BytesMut::from(&wire[..]);
    assert_eq!(dec.decode(&mut buf).unwrap(), Some(Message::HaveAll));
    assert!(buf.is_empty());
    assert_eq!(
        dec.decode_bytes(&Bytes::copy_from_slice(&wire)).unwrap(),
        Decoded::Complete {
            value: Message::HaveAll,
            consumed: wire.len()
        }
    );
    // still bounded
    let mut buf = BytesMut::from(&[0, 0, 0, 65, 0x42][..]);
    assert!(matches!(
        dec.decode(&mut buf),
        Err(Error::PeerMisbehaved(PeerMisbehaved::MessageTooLong {
            msg: "unknown",
            len: 65,
            max: 64
        }))
    ));
}

/// anacrolix/torrent's peer protocol fuzz regressions (decoded raw inputs).
#[test]
fn anacrolix_fuzz_regressions_never_panic_and_never_over_read() {
    let dir = testdata().join("anacrolix-torrent/peer_protocol/testdata/fuzz-raw/FuzzDecoder");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let raw = std::fs::read(entry.unwrap().path()).unwrap();
        // With anacrolix's max message length 256 as our extended bound.
        let dec = MessageDecoder::new(Limits::default().with_max_extended_len(256));
        let mut buf = BytesMut::from(&raw[..]);
        let mut guard = 0;
        loop {
            guard += 1;
            assert!(guard < 1000);
            match dec.decode(&mut buf) {
                Ok(Some(m)) => {
                    // whatever decodes re-encodes to the same bytes
                    let mut out = BytesMut::new();
                    m.encode(&mut out);
                    assert_eq!(out.len(), m.encoded_len());
                }
                Ok(None) | Err(_) => break,
            }
        }
        seen += 1;
    }
    assert_eq!(seen, 7);
    // Named expectations: id 16 with length 1 (anacrolix calls it unknown; for us it is a
    // reject request of the wrong length) is an error.
    let dec = MessageDecoder::default();
    let mut b = BytesMut::from(&[0, 0, 0, 1, 16][..]);
    assert!(dec.decode(&mut b).is_err(), "reject request needs 13 bytes");
    // Truncated piece waits for more bytes.
    let mut b = BytesMut::from(&[0, 0, 0, 48, 7, 0, 0][..]);
    assert_eq!(dec.decode(&mut b).unwrap(), None);
    // Piece with no payload at all.
    let mut b = BytesMut::from(&[0, 0, 0, 1, 7][..]);
    assert!(matches!(
        dec.decode(&mut b),
        Err(Error::InvalidMessage(InvalidMessage::TooShort {
            msg: "piece",
            ..
        }))
    ));
}

#[test]
fn vectored_encoding_leaves_the_piece_payload_out() {
    let data = Bytes::from(vec![9u8; 16384]);
    let msg = Message::Piece {
        piece: PieceIndex(1),
        offset: 0,
        data: data.clone(),
    };
    let mut head = BytesMut::new();
    let tail = msg.encode_head(&mut head).expect("piece has a payload");
    assert_eq!(&head[..], &[0, 0, 0x40, 0x09, 7, 0, 0, 0, 1, 0, 0, 0, 0]);
    assert_eq!(tail.as_ptr(), data.as_ptr(), "payload must not be copied");
    assert!(Message::Choke.encode_head(&mut head).is_none());
}

pub fn testdata() -> std::path::PathBuf {
    std::env::var_os("FRESHET_TESTDATA").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"),
        std::path::PathBuf::from,
    )
}
