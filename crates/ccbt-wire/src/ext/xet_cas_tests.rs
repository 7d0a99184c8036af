use proptest::prelude::*;

use super::*;

const ROOT: ChunkId = [0xAB; 32];
const ID: ChunkId = [0x11; 32];

fn be32(n: u32) -> [u8; 4] {
    n.to_be_bytes()
}

/// One message of each type, with the bytes the table of docs/xet.md gives for it.
fn golden() -> Vec<(XetMessage, Vec<u8>)> {
    let entries = vec![ChunkRef { id: ID, len: 65536 }, ChunkRef { id: [0x22; 32], len: 9 }];
    vec![
        (
            XetMessage::ManifestReq { req: 7, root: ROOT, start: 2, count: 2048 },
            [&[1u8][..], &be32(7), &ROOT, &be32(2), &be32(2048)].concat(),
        ),
        (
            XetMessage::Manifest { req: 7, root: ROOT, total: 4, start: 2, entries },
            [
                &[2u8][..],
                &be32(7),
                &ROOT,
                &be32(4),
                &be32(2),
                &be32(2),
                &ID,
                &be32(65536),
                &[0x22; 32],
                &be32(9),
            ]
            .concat(),
        ),
        (
            XetMessage::HaveMap { root: ROOT, n: 10, bitfield: Bytes::from_static(&[0xFF, 0x40]) },
            [&[3u8][..], &ROOT, &be32(10), &[0xFF, 0x40]].concat(),
        ),
        (
            XetMessage::HaveRange { root: ROOT, start: 5, count: 3 },
            [&[4u8][..], &ROOT, &be32(5), &be32(3)].concat(),
        ),
        (
            XetMessage::Query { req: 1, ids: vec![ID, ROOT] },
            [&[5u8][..], &be32(1), &[0, 2], &ID, &ROOT].concat(),
        ),
        (
            XetMessage::QueryReply {
                req: 1,
                have: vec![true, false, false, false, false, false, false, false, true],
            },
            [&[6u8][..], &be32(1), &[0, 9], &[0x80, 0x80]].concat(),
        ),
        (
            XetMessage::ChunkReq { req: 9, id: ID, off: 16384, len: 16384 },
            [&[7u8][..], &be32(9), &ID, &be32(16384), &be32(16384)].concat(),
        ),
        (
            XetMessage::Chunk { req: 9, id: ID, off: 16384, data: Bytes::from_static(b"abc") },
            [&[8u8][..], &be32(9), &ID, &be32(16384), &[0], &be32(3), b"abc"].concat(),
        ),
        (
            XetMessage::Reject { req: 9, id: ID, reason: RejectReason::Overload },
            [&[9u8][..], &be32(9), &ID, &[3]].concat(),
        ),
        (XetMessage::Cancel { req: 0xDEAD_BEEF }, [&[0x0Au8][..], &be32(0xDEAD_BEEF)].concat()),
        (
            XetMessage::UpdateHint {
                infohash: ROOT,
                pubkey: ID,
                salt: Bytes::from_static(b"v2"),
                seq: 0x0102_0304_0506_0708,
            },
            [&[0x0Bu8][..], &ROOT, &ID, &[2], b"v2", &[1, 2, 3, 4, 5, 6, 7, 8]].concat(),
        ),
    ]
}

#[test]
fn every_type_has_its_golden_bytes() {
    let all = golden();
    assert_eq!(all.len(), 11);
    for (i, (msg, bytes)) in all.into_iter().enumerate() {
        assert_eq!(msg.msg_type() as usize, i + 1);
        assert_eq!(msg.encode()[..], bytes[..], "{}", msg.name());
        assert_eq!(msg.encoded_len(), bytes.len(), "{}", msg.name());
        assert_eq!(XetMessage::decode(&bytes), Ok(msg));
    }
}

#[test]
fn every_cut_is_truncated_and_every_extra_byte_trailing() {
    for (msg, bytes) in golden() {
        for cut in 1..bytes.len() {
            let err = XetMessage::decode(&bytes[..cut]).unwrap_err();
            // A CHUNK's payload carries no length of its own but raw_len: a short payload
            // shows as a raw_len mismatch.
            let ok = matches!(err, WireError::XetTruncated { .. })
                || matches!((&msg, &err), (XetMessage::Chunk { .. }, WireError::XetChunkRawLen { .. }));
            assert!(ok, "{} cut at {cut}: {err}", msg.name());
        }
        let mut long = bytes.clone();
        long.push(0);
        let err = XetMessage::decode(&long).unwrap_err();
        let ok = matches!(err, WireError::XetTrailingBytes { extra: 1, .. })
            || matches!(err, WireError::XetChunkRawLen { raw_len: 3, payload: 4 });
        assert!(ok, "{}: {err}", msg.name());
    }
}

#[test]
fn empty_unknown_and_oversized_messages() {
    assert_eq!(XetMessage::decode(&[]), Err(WireError::XetEmpty));
    for kind in [0u8, 0x0C, 0x80, 0xFF] {
        assert_eq!(
            XetMessage::decode(&[kind, 0, 0, 0, 0]),
            Err(WireError::XetUnknownType { msg_type: kind })
        );
    }
    let big = vec![msg_type::CHUNK; MAX_XET_MESSAGE + 1];
    assert_eq!(
        XetMessage::decode(&big),
        Err(WireError::XetTooLong { len: MAX_XET_MESSAGE + 1, max: 139_264 })
    );
    let err = WireError::XetTruncated { msg: "CHUNK_REQ", len: 5, need: 37 };
    assert_eq!(XetMessage::decode(&[7, 0, 0, 0, 1]), Err(err.clone()));
    assert_eq!(err.to_string(), "xet_cas CHUNK_REQ is truncated: 5 bytes, needs 37");
}

fn out_of_range(msg: &'static str, field: &'static str, value: u64, min: u64, max: u64) -> WireError {
    WireError::XetOutOfRange { msg, field, value, min, max }
}

#[test]
fn manifest_counts_are_capped_and_consistent() {
    let req = |count: u32| [&[1u8][..], &be32(0), &ROOT, &be32(0), &be32(count)].concat();
    assert_eq!(XetMessage::decode(&req(2049)), Err(out_of_range("MANIFEST_REQ", "count", 2049, 1, 2048)));
    assert_eq!(XetMessage::decode(&req(0)), Err(out_of_range("MANIFEST_REQ", "count", 0, 1, 2048)));

    let page = |total: u32, start: u32, count: u32, entries: &[(ChunkId, u32)]| {
        let mut out = [&[2u8][..], &be32(0), &ROOT, &be32(total), &be32(start), &be32(count)].concat();
        for (id, len) in entries {
            out.extend_from_slice(id);
            out.extend_from_slice(&be32(*len));
        }
        out
    };
    // A huge count with no entries behind it: refused before any allocation.
    let err = XetMessage::decode(&page(u32::MAX, 0, 2048, &[])).unwrap_err();
    assert_eq!(err, WireError::XetTruncated { msg: "MANIFEST", len: 49, need: 49 + 2048 * 36 });
    let err = XetMessage::decode(&page(u32::MAX, 0, 2049, &[])).unwrap_err();
    assert_eq!(err, out_of_range("MANIFEST", "count", 2049, 0, 2048));
    let err = XetMessage::decode(&page(3, 2, 2, &[(ID, 1), (ID, 1)])).unwrap_err();
    assert_eq!(err, WireError::XetManifestRange { start: 2, count: 2, total: 3 });
    let err = XetMessage::decode(&page(u32::MAX, u32::MAX, 1, &[(ID, 1)])).unwrap_err();
    assert!(matches!(err, WireError::XetManifestRange { .. }), "{err}");
    for bad_len in [0, MAX_CHUNK_LEN + 1] {
        let err = XetMessage::decode(&page(1, 0, 1, &[(ID, bad_len)])).unwrap_err();
        assert_eq!(err, out_of_range("MANIFEST", "entry len", u64::from(bad_len), 1, 131_072));
    }
    // One entry more than the count says is trailing; an empty page of an empty file is fine.
    let err = XetMessage::decode(&page(2, 0, 1, &[(ID, 5), (ID, 5)])).unwrap_err();
    assert_eq!(err, WireError::XetTrailingBytes { msg: "MANIFEST", extra: 36 });
    let empty = XetMessage::decode(&page(0, 0, 0, &[])).unwrap();
    assert_eq!(empty, XetMessage::Manifest { req: 0, root: ROOT, total: 0, start: 0, entries: vec![] });
    // The largest page fits a message.
    let full = XetMessage::Manifest {
        req: 0,
        root: ROOT,
        total: 2048,
        start: 0,
        entries: vec![ChunkRef { id: ID, len: MAX_CHUNK_LEN }; 2048],
    };
    assert_eq!(XetMessage::decode(&full.encode()), Ok(full));
}

#[test]
fn query_counts_and_bitmaps() {
    let query = |n: u16, ids: usize| [&[5u8][..], &be32(0), &n.to_be_bytes(), &vec![7; ids * 32]].concat();
    assert_eq!(XetMessage::decode(&query(0, 0)), Err(out_of_range("QUERY", "n", 0, 1, 256)));
    assert_eq!(XetMessage::decode(&query(257, 257)), Err(out_of_range("QUERY", "n", 257, 1, 256)));
    assert_eq!(
        XetMessage::decode(&query(256, 255)),
        Err(WireError::XetTruncated { msg: "QUERY", len: 7 + 255 * 32, need: 7 + 256 * 32 })
    );
    assert!(
        matches!(XetMessage::decode(&query(256, 256)), Ok(XetMessage::Query { ids, .. }) if ids.len() == 256)
    );

    let reply = |n: u16, bits: &[u8]| [&[6u8][..], &be32(0), &n.to_be_bytes(), bits].concat();
    assert_eq!(
        XetMessage::decode(&reply(9, &[0xFF, 0x40])),
        Err(WireError::XetBitmapPadding { msg: "QUERY_REPLY" })
    );
    assert_eq!(
        XetMessage::decode(&reply(9, &[0xFF])).unwrap_err().to_string(),
        "xet_cas QUERY_REPLY is truncated: 8 bytes, needs 9"
    );
    assert!(matches!(
        XetMessage::decode(&reply(8, &[0xFF, 0])),
        Err(WireError::XetTrailingBytes { extra: 1, .. })
    ));
    assert_eq!(XetMessage::decode(&reply(0, &[])), Err(out_of_range("QUERY_REPLY", "n", 0, 1, 256)));
    assert_eq!(XetMessage::decode(&reply(300, &[0; 38])), Err(out_of_range("QUERY_REPLY", "n", 300, 1, 256)));
    let XetMessage::QueryReply { have, .. } = XetMessage::decode(&reply(16, &[0x01, 0x80])).unwrap() else {
        panic!("not a reply")
    };
    assert_eq!(have.iter().enumerate().filter(|(_, &h)| h).map(|(i, _)| i).collect::<Vec<_>>(), vec![7, 8]);
}

#[test]
fn have_map_and_range_limits() {
    let map = |n: u32, bits: &[u8]| [&[3u8][..], &ROOT, &be32(n), bits].concat();
    assert_eq!(XetMessage::decode(&map(0, &[])), Err(out_of_range("HAVE_MAP", "n", 0, 1, 1 << 20)));
    let n = MAX_HAVE_MAP_CHUNKS + 1;
    assert_eq!(
        XetMessage::decode(&map(n, &[])),
        Err(out_of_range("HAVE_MAP", "n", u64::from(n), 1, 1 << 20))
    );
    assert_eq!(XetMessage::decode(&map(3, &[0x10])), Err(WireError::XetBitmapPadding { msg: "HAVE_MAP" }));
    let biggest = map(MAX_HAVE_MAP_CHUNKS, &vec![0xFF; (MAX_HAVE_MAP_CHUNKS / 8) as usize]);
    assert!(biggest.len() <= MAX_XET_MESSAGE);
    assert!(matches!(XetMessage::decode(&biggest), Ok(XetMessage::HaveMap { n: MAX_HAVE_MAP_CHUNKS, .. })));

    let range = |start: u32, count: u32| [&[4u8][..], &ROOT, &be32(start), &be32(count)].concat();
    assert_eq!(
        XetMessage::decode(&range(0, 0)),
        Err(out_of_range("HAVE_RANGE", "count", 0, 1, u64::from(u32::MAX)))
    );
    assert_eq!(XetMessage::decode(&range(u32::MAX, 1)), Err(out_of_range("HAVE_RANGE", "count", 1, 1, 0)));
    assert!(XetMessage::decode(&range(u32::MAX - 1, 1)).is_ok());
}

#[test]
fn chunk_request_ranges() {
    let req = |off: u32, len: u32| [&[7u8][..], &be32(0), &ID, &be32(off), &be32(len)].concat();
    assert!(XetMessage::decode(&req(0, 0)).is_ok(), "len 0 is the whole chunk");
    assert_eq!(XetMessage::decode(&req(1, 0)), Err(out_of_range("CHUNK_REQ", "off", 1, 0, 0)));
    assert!(XetMessage::decode(&req(0, MAX_CHUNK_LEN)).is_ok());
    assert!(XetMessage::decode(&req(MAX_CHUNK_LEN - 1, 1)).is_ok());
    assert_eq!(
        XetMessage::decode(&req(0, MAX_CHUNK_LEN + 1)),
        Err(out_of_range("CHUNK_REQ", "len", 131_073, 1, 131_072))
    );
    assert_eq!(XetMessage::decode(&req(1, MAX_CHUNK_LEN)), Err(out_of_range("CHUNK_REQ", "off", 1, 0, 0)));
    assert_eq!(
        XetMessage::decode(&req(u32::MAX, 16384)),
        Err(out_of_range("CHUNK_REQ", "off", u64::from(u32::MAX), 0, 131_072 - 16384))
    );
}

#[test]
fn chunk_payload_rules() {
    let chunk = |off: u32, enc: u8, raw_len: u32, data: &[u8]| {
        [&[8u8][..], &be32(0), &ID, &be32(off), &[enc], &be32(raw_len), data].concat()
    };
    for enc in [1, 2, 9] {
        assert_eq!(XetMessage::decode(&chunk(0, enc, 3, b"abc")), Err(WireError::XetChunkEncoding { enc }));
    }
    assert_eq!(
        XetMessage::decode(&chunk(0, 0, 0, b"")),
        Err(out_of_range("CHUNK", "raw_len", 0, 1, 131_072))
    );
    assert_eq!(
        XetMessage::decode(&chunk(0, 0, 4, b"abc")),
        Err(WireError::XetChunkRawLen { raw_len: 4, payload: 3 })
    );
    let whole = vec![5u8; MAX_CHUNK_LEN as usize];
    let msg = chunk(0, 0, MAX_CHUNK_LEN, &whole);
    assert!(msg.len() <= MAX_XET_MESSAGE);
    assert!(
        matches!(XetMessage::decode(&msg), Ok(XetMessage::Chunk { data, .. }) if data.len() == whole.len())
    );
    let over = vec![5u8; MAX_CHUNK_LEN as usize + 1];
    assert_eq!(
        XetMessage::decode(&chunk(0, 0, MAX_CHUNK_LEN + 1, &over)),
        Err(out_of_range("CHUNK", "raw_len", 131_073, 1, 131_072))
    );
    assert_eq!(
        XetMessage::decode(&chunk(MAX_CHUNK_LEN - 2, 0, 3, b"abc")),
        Err(out_of_range("CHUNK", "off", 131_070, 0, 131_069))
    );
}

#[test]
fn reject_reasons_and_salt() {
    let reject = |reason: u8| [&[9u8][..], &be32(0), &ID, &[reason]].concat();
    for reason in [0, 5, 255] {
        assert_eq!(XetMessage::decode(&reject(reason)), Err(WireError::XetRejectReason { reason }));
    }
    for (code, reason) in [
        (1, RejectReason::Absent),
        (2, RejectReason::Choked),
        (3, RejectReason::Overload),
        (4, RejectReason::Malformed),
    ] {
        assert_eq!(XetMessage::decode(&reject(code)), Ok(XetMessage::Reject { req: 0, id: ID, reason }));
    }
    let hint = |salt: &[u8]| [&[0x0Bu8][..], &ROOT, &ID, &[salt.len() as u8], salt, &[0; 8]].concat();
    assert!(XetMessage::decode(&hint(&[1; 64])).is_ok());
    assert_eq!(XetMessage::decode(&hint(&[1; 65])), Err(out_of_range("UPDATE_HINT", "salt_len", 65, 0, 64)));
    assert!(XetMessage::decode(&hint(b"")).is_ok());
}

#[test]
fn bit_helpers() {
    let flags = [true, false, true, true, false, false, false, false, false, true];
    let packed = pack_bits(&flags);
    assert_eq!(packed, vec![0b1011_0000, 0b0100_0000]);
    assert_eq!((0..12).map(|i| bit(&packed, i)).collect::<Vec<_>>()[..10], flags);
    assert!(!bit(&packed, 100));
    assert_eq!(type_name(0), None);
    assert_eq!(type_name(0x0B), Some("UPDATE_HINT"));
    assert_eq!(type_name(0x0C), None);
}

fn any_id() -> impl Strategy<Value = ChunkId> {
    any::<[u8; 32]>()
}

fn any_message() -> impl Strategy<Value = XetMessage> {
    let entry = (any_id(), 1..=MAX_CHUNK_LEN).prop_map(|(id, len)| ChunkRef { id, len });
    prop_oneof![
        (any::<u32>(), any_id(), any::<u32>(), 1..=MAX_MANIFEST_ENTRIES)
            .prop_map(|(req, root, start, count)| XetMessage::ManifestReq { req, root, start, count }),
        (any::<u32>(), any_id(), proptest::collection::vec(entry, 0..40), 0..1000u32, 0..1000u32).prop_map(
            |(req, root, entries, start, extra)| {
                let total = start + entries.len() as u32 + extra;
                XetMessage::Manifest { req, root, total, start, entries }
            }
        ),
        (any_id(), proptest::collection::vec(any::<bool>(), 1..100)).prop_map(|(root, flags)| {
            XetMessage::HaveMap { root, n: flags.len() as u32, bitfield: Bytes::from(pack_bits(&flags)) }
        }),
        (any_id(), any::<u32>(), 1..1000u32).prop_map(|(root, start, count)| XetMessage::HaveRange {
            root,
            start: start / 2,
            count
        }),
        (any::<u32>(), proptest::collection::vec(any_id(), 1..=256))
            .prop_map(|(req, ids)| XetMessage::Query { req, ids }),
        (any::<u32>(), proptest::collection::vec(any::<bool>(), 1..=256))
            .prop_map(|(req, have)| XetMessage::QueryReply { req, have }),
        (any::<u32>(), any_id(), 0..MAX_CHUNK_LEN, 1..=MAX_CHUNK_LEN).prop_map(|(req, id, off, len)| {
            let len = len.min(MAX_CHUNK_LEN - off).max(1);
            let off = off.min(MAX_CHUNK_LEN - len);
            XetMessage::ChunkReq { req, id, off, len }
        }),
        (any::<u32>(), any_id(), proptest::collection::vec(any::<u8>(), 1..2000), 0..1000u32)
            .prop_map(|(req, id, data, off)| XetMessage::Chunk { req, id, off, data: Bytes::from(data) }),
        (any::<u32>(), any_id(), 1..=4u8).prop_map(|(req, id, r)| XetMessage::Reject {
            req,
            id,
            reason: RejectReason::from_u8(r).unwrap()
        }),
        any::<u32>().prop_map(|req| XetMessage::Cancel { req }),
        (any_id(), any_id(), proptest::collection::vec(any::<u8>(), 0..=64), any::<u64>()).prop_map(
            |(infohash, pubkey, salt, seq)| XetMessage::UpdateHint {
                infohash,
                pubkey,
                salt: Bytes::from(salt),
                seq
            }
        ),
    ]
}

proptest! {
    #[test]
    fn round_trip(msg in any_message()) {
        let bytes = msg.encode();
        prop_assert_eq!(bytes.len(), msg.encoded_len());
        prop_assert_eq!(XetMessage::decode(&bytes), Ok(msg));
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(msg) = XetMessage::decode(&bytes) {
            // Whatever is accepted re-encodes to the same bytes: nothing is silently dropped.
            prop_assert_eq!(&msg.encode()[..], &bytes[..]);
        }
    }

    #[test]
    fn mangled_messages_never_panic(which in 0usize..11, at in any::<prop::sample::Index>(), byte: u8) {
        let (_, mut bytes) = golden().swap_remove(which);
        let i = at.index(bytes.len());
        bytes[i] = byte;
        if let Ok(msg) = XetMessage::decode(&bytes) {
            prop_assert_eq!(&msg.encode()[..], &bytes[..]);
        }
    }
}
