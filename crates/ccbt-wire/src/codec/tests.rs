use bytes::{BufMut, Bytes, BytesMut};
use ccbt_core::BlockRef;
use proptest::prelude::*;

use super::*;
use crate::hashes::{HashRequest, Hashes};
use crate::message_id;

const B: BlockRef = BlockRef { piece: 7, offset: 16384, len: 16384 };
const H: HashRequest =
    HashRequest { pieces_root: [9; 32], base_layer: 2, index: 512, length: 4, proof_layers: 11 };

fn every_variant() -> Vec<Message> {
    vec![
        Message::KeepAlive,
        Message::Choke,
        Message::Unchoke,
        Message::Interested,
        Message::NotInterested,
        Message::Have { piece: 0x0102_0304 },
        Message::Bitfield(Bytes::from_static(&[0xff, 0x80])),
        Message::Bitfield(Bytes::new()),
        Message::Request(B),
        Message::Piece { piece: 3, offset: 32768, data: Bytes::from_static(b"hello block") },
        Message::Piece { piece: 3, offset: 0, data: Bytes::new() },
        Message::Cancel(B),
        Message::Port(6881),
        Message::Suggest { piece: 9 },
        Message::HaveAll,
        Message::HaveNone,
        Message::Reject(B),
        Message::AllowedFast { piece: u32::MAX },
        Message::Extended { id: 0, payload: Bytes::from_static(b"d1:md6:ut_pexi1eee") },
        Message::Extended { id: 3, payload: Bytes::new() },
        Message::HashRequest(H),
        Message::HashReject(H),
        Message::Hashes(Hashes { request: H, nodes: vec![[1; 32], [2; 32], [3; 32], [4; 32], [5; 32]] }),
        Message::Hashes(Hashes { request: HashRequest { length: 1, ..H }, nodes: vec![[6; 32]] }),
    ]
}

fn encoded(msg: &Message) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(msg, &mut buf);
    buf.to_vec()
}

/// Feeds `chunks` one after the other, decoding everything available after each.
fn decode_chunks<'a>(
    chunks: impl IntoIterator<Item = &'a [u8]>,
    max: u32,
) -> Result<Vec<Message>, WireError> {
    let mut dec = MessageDecoder::new(max);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(msg) = dec.decode(&mut buf)? {
            out.push(msg);
        }
    }
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    Ok(out)
}

#[test]
fn golden_bytes() {
    assert_eq!(encoded(&Message::KeepAlive), [0, 0, 0, 0]);
    assert_eq!(encoded(&Message::Interested), [0, 0, 0, 1, 2]);
    assert_eq!(encoded(&Message::Have { piece: 0x0102_0304 }), [0, 0, 0, 5, 4, 1, 2, 3, 4]);
    assert_eq!(
        encoded(&Message::Request(BlockRef { piece: 1, offset: 0x4000, len: 0x4000 })),
        [0, 0, 0, 13, 6, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0]
    );
    assert_eq!(encoded(&Message::Port(6881)), [0, 0, 0, 3, 9, 0x1a, 0xe1]);
    assert_eq!(encoded(&Message::HaveAll), [0, 0, 0, 1, 14]);
    assert_eq!(
        encoded(&Message::Piece { piece: 2, offset: 4, data: Bytes::from_static(b"ab") }),
        [0, 0, 0, 11, 7, 0, 0, 0, 2, 0, 0, 0, 4, b'a', b'b']
    );
    assert_eq!(
        encoded(&Message::Extended { id: 1, payload: Bytes::from_static(b"de") }),
        [0, 0, 0, 4, 20, 1, b'd', b'e']
    );
}

#[test]
fn every_variant_round_trips() {
    for msg in every_variant() {
        let bytes = encoded(&msg);
        assert_eq!(bytes.len(), msg.encoded_len(), "{msg:?}");
        assert_eq!(decode_chunks([&bytes[..]], DEFAULT_MAX_FRAME), Ok(vec![msg]));
    }
}

#[test]
fn every_variant_at_every_split_point() {
    for msg in every_variant() {
        let bytes = encoded(&msg);
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            let got = decode_chunks([a, b], DEFAULT_MAX_FRAME);
            assert_eq!(got, Ok(vec![msg.clone()]), "split at {at}");
        }
    }
}

#[test]
fn every_variant_byte_by_byte() {
    for msg in every_variant() {
        let bytes = encoded(&msg);
        let got = decode_chunks(bytes.chunks(1), DEFAULT_MAX_FRAME);
        assert_eq!(got, Ok(vec![msg]));
    }
}

#[test]
fn concatenated_messages_at_every_split_point() {
    let all = every_variant();
    let mut bytes = Vec::new();
    for msg in &all {
        bytes.extend_from_slice(&encoded(msg));
    }
    assert_eq!(decode_chunks([&bytes[..]], DEFAULT_MAX_FRAME), Ok(all.clone()));
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(decode_chunks([a, b], DEFAULT_MAX_FRAME), Ok(all.clone()), "split at {at}");
    }
}

#[test]
fn decoder_consumes_exactly_one_frame() {
    let mut buf = BytesMut::new();
    encode(&Message::Choke, &mut buf);
    encode(&Message::Unchoke, &mut buf);
    buf.put_slice(&[0, 0]);
    let mut dec = MessageDecoder::default();
    assert_eq!(dec.decode(&mut buf), Ok(Some(Message::Choke)));
    assert_eq!(buf.len(), 5 + 2);
    assert_eq!(dec.decode(&mut buf), Ok(Some(Message::Unchoke)));
    assert_eq!(dec.decode(&mut buf), Ok(None));
    assert_eq!(&buf[..], &[0, 0]);
}

#[test]
fn piece_data_is_zero_copy() {
    let msg = Message::Piece { piece: 1, offset: 0, data: Bytes::from(vec![9u8; 16384]) };
    let mut buf = BytesMut::from(&encoded(&msg)[..]);
    let base = buf.as_ptr() as usize;
    let got = MessageDecoder::default().decode(&mut buf).unwrap().unwrap();
    let Message::Piece { data, .. } = &got else { panic!("not a piece: {got:?}") };
    assert_eq!(data.as_ptr() as usize, base + PIECE_HEADER_LEN);
    assert_eq!(got, msg);
}

#[test]
fn piece_header_matches_full_encoding() {
    let data = Bytes::from_static(b"some block data");
    let mut buf = BytesMut::new();
    encode_piece_header(5, 16384, data.len(), &mut buf);
    assert_eq!(buf.len(), PIECE_HEADER_LEN);
    buf.put_slice(&data);
    assert_eq!(&buf[..], &encoded(&Message::Piece { piece: 5, offset: 16384, data })[..]);
}

#[test]
fn extended_header_matches_full_encoding() {
    let payload = Bytes::from_static(b"d8:msg_typei1e5:piecei0ee and the data");
    let mut buf = BytesMut::new();
    encode_extended_header(3, payload.len(), &mut buf);
    assert_eq!(buf.len(), EXTENDED_HEADER_LEN);
    buf.put_slice(&payload);
    assert_eq!(&buf[..], &encoded(&Message::Extended { id: 3, payload })[..]);
}

#[test]
fn too_long_frame_rejected_before_payload() {
    let mut dec = MessageDecoder::new(100);
    let mut buf = BytesMut::from(&[0u8, 0, 0][..]);
    assert_eq!(dec.decode(&mut buf), Ok(None));
    buf.put_u8(101);
    assert_eq!(dec.decode(&mut buf), Err(WireError::MessageTooLong { len: 101, max: 100 }));
    let mut huge = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
    let err = MessageDecoder::default().decode(&mut huge);
    assert_eq!(err, Err(WireError::MessageTooLong { len: u32::MAX, max: DEFAULT_MAX_FRAME }));
    // No room was reserved for the refused frame.
    assert!(huge.capacity() < 1024);
    // Exactly at the limit is fine.
    let bits = Message::Bitfield(Bytes::from(vec![0u8; 99]));
    assert_eq!(decode_chunks([&encoded(&bits)[..]], 100), Ok(vec![bits]));
}

#[test]
fn incomplete_frame_reserves_room_for_itself() {
    let msg = Message::Bitfield(Bytes::from(vec![1u8; 5000]));
    let bytes = encoded(&msg);
    let mut buf = BytesMut::from(&bytes[..10]);
    assert_eq!(MessageDecoder::default().decode(&mut buf), Ok(None));
    assert!(buf.capacity() >= bytes.len());
    // A huge announced frame does not make us allocate for all of it up front.
    let mut buf = BytesMut::from(&[0u8, 0x10, 0, 0, 5][..]);
    assert_eq!(MessageDecoder::default().decode(&mut buf), Ok(None));
    assert!(buf.capacity() < 0x10_0000 / 2);
}

#[test]
fn bad_payload_lengths() {
    let cases: [(u8, &[usize]); 18] = [
        (message_id::CHOKE, &[1, 4]),
        (message_id::UNCHOKE, &[1]),
        (message_id::INTERESTED, &[1]),
        (message_id::NOT_INTERESTED, &[2]),
        (message_id::HAVE_ALL, &[1]),
        (message_id::HAVE_NONE, &[3]),
        (message_id::HAVE, &[0, 3, 5, 8]),
        (message_id::SUGGEST, &[0, 3, 5]),
        (message_id::ALLOWED_FAST, &[0, 3, 5]),
        (message_id::REQUEST, &[0, 4, 11, 13, 16]),
        (message_id::CANCEL, &[0, 11, 13]),
        (message_id::REJECT, &[0, 11, 13]),
        (message_id::PORT, &[0, 1, 3, 4]),
        (message_id::PIECE, &[0, 4, 7]),
        (message_id::EXTENDED, &[0]),
        (message_id::HASH_REQUEST, &[0, 47, 49]),
        (message_id::HASH_REJECT, &[0, 4, 48 + 32]),
        (message_id::HASHES, &[0, 47]),
    ];
    for (id, lens) in cases {
        for &len in lens {
            let mut buf = BytesMut::new();
            buf.put_u32(len as u32 + 1);
            buf.put_u8(id);
            buf.put_bytes(0, len);
            let before = buf.clone();
            let got = MessageDecoder::default().decode(&mut buf);
            assert_eq!(got, Err(WireError::BadPayloadLength { id, len: len as u32 }), "id {id}");
            assert_eq!(buf, before, "an error consumes nothing");
        }
    }
}

#[test]
fn unknown_ids_are_skipped() {
    let mut bytes = Vec::new();
    for unknown in [10u8, 11, 12, 18, 19, 24, 255] {
        bytes.extend_from_slice(&[0, 0, 0, 3, unknown, 1, 2]);
    }
    bytes.extend_from_slice(&[0, 0, 0, 1, 24]);
    bytes.extend_from_slice(&encoded(&Message::HaveNone));
    for at in 0..=bytes.len() {
        let (a, b) = bytes.split_at(at);
        assert_eq!(decode_chunks([a, b], DEFAULT_MAX_FRAME), Ok(vec![Message::HaveNone]));
    }
    // Only unknown frames: consumed, nothing returned.
    assert_eq!(decode_chunks([&[0u8, 0, 0, 2, 99, 0][..]], DEFAULT_MAX_FRAME), Ok(vec![]));
}

#[test]
fn keep_alives_between_messages() {
    let bytes = [0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0];
    let got = decode_chunks(bytes.chunks(1), DEFAULT_MAX_FRAME);
    assert_eq!(got, Ok(vec![Message::KeepAlive, Message::Unchoke, Message::KeepAlive]));
}

#[test]
fn frame_len_hints() {
    assert_eq!(frame_len_hint(&[0, 0, 0]), None);
    assert_eq!(frame_len_hint(&[0, 0, 0, 0]), Some(4));
    assert_eq!(frame_len_hint(&[0, 0, 1, 0, 7]), Some(260));
}

fn arb_block() -> impl Strategy<Value = BlockRef> {
    (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(piece, offset, len)| BlockRef {
        piece,
        offset,
        len,
    })
}

fn arb_bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn arb_hash_request() -> impl Strategy<Value = HashRequest> {
    (any::<[u8; 32]>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(pieces_root, base_layer, index, length)| HashRequest {
            pieces_root,
            base_layer,
            index,
            length,
            proof_layers: base_layer ^ index,
        },
    )
}

fn arb_hashes() -> impl Strategy<Value = Hashes> {
    (arb_hash_request(), 1u32..9, 0usize..12).prop_map(|(r, length, uncles)| {
        let nodes = (0..length as usize + uncles).map(|i| [i as u8; 32]).collect();
        Hashes { request: HashRequest { length, ..r }, nodes }
    })
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        Just(Message::KeepAlive),
        Just(Message::Choke),
        Just(Message::Unchoke),
        Just(Message::Interested),
        Just(Message::NotInterested),
        Just(Message::HaveAll),
        Just(Message::HaveNone),
        any::<u32>().prop_map(|piece| Message::Have { piece }),
        any::<u32>().prop_map(|piece| Message::Suggest { piece }),
        any::<u32>().prop_map(|piece| Message::AllowedFast { piece }),
        any::<u16>().prop_map(Message::Port),
        arb_block().prop_map(Message::Request),
        arb_block().prop_map(Message::Cancel),
        arb_block().prop_map(Message::Reject),
        arb_bytes(64).prop_map(Message::Bitfield),
        (any::<u32>(), any::<u32>(), arb_bytes(300))
            .prop_map(|(piece, offset, data)| { Message::Piece { piece, offset, data } }),
        (any::<u8>(), arb_bytes(100)).prop_map(|(id, payload)| Message::Extended { id, payload }),
        arb_hash_request().prop_map(Message::HashRequest),
        arb_hash_request().prop_map(Message::HashReject),
        arb_hashes().prop_map(Message::Hashes),
    ]
}

proptest! {
    #[test]
    fn random_sequences_round_trip_with_random_chunking(
        msgs in proptest::collection::vec(arb_message(), 0..20),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let mut bytes = BytesMut::new();
        for msg in &msgs {
            encode(msg, &mut bytes);
        }
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let chunks = cuts.windows(2).map(|w| &bytes[w[0]..w[1]]);
        prop_assert_eq!(decode_chunks(chunks, DEFAULT_MAX_FRAME), Ok(msgs));
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        chunk in 1usize..64,
        max in 0u32..1000,
    ) {
        let mut dec = MessageDecoder::new(max);
        let mut buf = BytesMut::new();
        'feed: for piece in bytes.chunks(chunk) {
            buf.extend_from_slice(piece);
            loop {
                match dec.decode(&mut buf) {
                    Ok(Some(msg)) => prop_assert!(msg.encoded_len() <= max as usize + 4),
                    Ok(None) => break,
                    Err(_) => break 'feed,
                }
            }
        }
    }
}
