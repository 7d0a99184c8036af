use bytes::{BufMut, BytesMut};
use proptest::prelude::*;

use super::*;
use crate::{encode, message_id, Message, MessageDecoder};

fn req(length: u32, proof_layers: u32) -> HashRequest {
    HashRequest { pieces_root: [7; 32], base_layer: 2, index: 512, length, proof_layers }
}

fn frame(id: u8, payload: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_u32(payload.len() as u32 + 1);
    buf.put_u8(id);
    buf.put_slice(payload);
    buf
}

fn header(r: &HashRequest) -> Vec<u8> {
    let mut buf = BytesMut::new();
    r.put(&mut buf);
    buf.to_vec()
}

fn decode_one(mut buf: BytesMut) -> Result<Option<Message>, WireError> {
    MessageDecoder::default().decode(&mut buf)
}

#[test]
fn golden_hash_request() {
    let r = HashRequest { pieces_root: [0xab; 32], base_layer: 1, index: 2, length: 4, proof_layers: 3 };
    let mut buf = BytesMut::new();
    encode(&Message::HashRequest(r), &mut buf);
    let mut want = vec![0, 0, 0, 49, 21];
    want.extend_from_slice(&[0xab; 32]);
    want.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 3]);
    assert_eq!(&buf[..], &want[..]);
    let mut reject = BytesMut::new();
    encode(&Message::HashReject(r), &mut reject);
    want[4] = 23;
    assert_eq!(&reject[..], &want[..]);
}

#[test]
fn golden_hashes() {
    let r = HashRequest { pieces_root: [1; 32], base_layer: 0, index: 0, length: 2, proof_layers: 1 };
    let msg = Message::Hashes(Hashes { request: r, nodes: vec![[2; 32], [3; 32], [4; 32]] });
    let mut buf = BytesMut::new();
    encode(&msg, &mut buf);
    assert_eq!(buf.len(), 4 + 1 + 48 + 96);
    assert_eq!(&buf[..5], &[0, 0, 0, 145, 22]);
    assert_eq!(&buf[53..85], &[2; 32]);
    assert_eq!(&buf[117..], &[4; 32]);
    let Ok(Some(Message::Hashes(h))) = decode_one(buf) else { panic!("not hashes") };
    assert_eq!(h.base(), &[[2; 32], [3; 32]]);
    assert_eq!(h.proof(), &[[4; 32]]);
}

#[test]
fn uncle_counts_follow_libtorrent() {
    // libtorrent asks for piece hashes in 512-node chunks with `proof_layers` = the layers
    // between the piece layer and the root, minus one.
    assert_eq!(uncle_count(512, 8), 0);
    assert_eq!(uncle_count(512, 9), 1);
    assert_eq!(uncle_count(512, 12), 4);
    assert_eq!(uncle_count(128, 9), 3);
    assert_eq!(uncle_count(2, 0), 0);
    assert_eq!(uncle_count(2, 1), 1);
    assert_eq!(uncle_count(1, 0), 1);
    assert_eq!(uncle_count(1, 9), 10);
    // Non-powers of two count as the next power.
    assert_eq!(uncle_count(3, 2), 1);
    assert_eq!(uncle_count(0, 0), 1);
    assert_eq!(uncle_count(u32::MAX, u32::MAX), u32::MAX - 31);
    assert_eq!(req(4, 5).uncle_count(), 4);
}

#[test]
fn request_and_reject_need_exactly_the_header() {
    for id in [message_id::HASH_REQUEST, message_id::HASH_REJECT] {
        for len in [0usize, 1, 32, 47, 49, 80] {
            let got = decode_one(frame(id, &vec![0; len]));
            assert_eq!(got, Err(WireError::BadPayloadLength { id, len: len as u32 }), "id {id} len {len}");
        }
    }
}

#[test]
fn hashes_payload_errors() {
    let id = message_id::HASHES;
    // Shorter than the header.
    for len in [0usize, 10, 47] {
        let got = decode_one(frame(id, &vec![0; len]));
        assert_eq!(got, Err(WireError::BadPayloadLength { id, len: len as u32 }));
    }
    // Not whole hashes.
    let mut p = header(&req(1, 0));
    p.extend_from_slice(&[0; 33]);
    assert_eq!(decode_one(frame(id, &p)), Err(WireError::HashesNotWhole { len: 33 }));
    // Length 0 and above the cap.
    for length in [0, MAX_HASHES_LENGTH + 1, u32::MAX] {
        let mut p = header(&req(length, 0));
        p.extend_from_slice(&[0; 64]);
        let got = decode_one(frame(id, &p));
        assert_eq!(got, Err(WireError::HashesBadLength { length, max: MAX_HASHES_LENGTH }));
    }
    // Fewer nodes than announced.
    let mut p = header(&req(4, 0));
    p.extend_from_slice(&[0; 96]);
    assert_eq!(decode_one(frame(id, &p)), Err(WireError::HashesBadCount { length: 4, nodes: 3 }));
    // More uncles than any tree has layers.
    let mut p = header(&req(2, 0));
    p.extend_from_slice(&vec![0; (2 + MAX_PROOF_HASHES + 1) * 32]);
    let got = decode_one(frame(id, &p));
    assert_eq!(got, Err(WireError::HashesBadCount { length: 2, nodes: 2 + MAX_PROOF_HASHES + 1 }));
    // The largest acceptable message decodes.
    let mut p = header(&req(MAX_HASHES_LENGTH, 70));
    p.extend_from_slice(&vec![5; MAX_HASHES_PAYLOAD - HASH_HEADER_LEN]);
    assert_eq!(p.len(), MAX_HASHES_PAYLOAD);
    let Ok(Some(Message::Hashes(h))) = decode_one(frame(id, &p)) else { panic!("not decoded") };
    assert_eq!(h.base().len(), MAX_HASHES_LENGTH as usize);
    assert_eq!(h.proof().len(), MAX_PROOF_HASHES);
}

#[test]
fn errors_consume_nothing() {
    let mut p = header(&req(4, 0));
    p.extend_from_slice(&[0; 96]);
    let mut buf = frame(message_id::HASHES, &p);
    let before = buf.clone();
    assert!(MessageDecoder::default().decode(&mut buf).is_err());
    assert_eq!(buf, before);
}

#[test]
fn accessors_tolerate_inconsistent_values() {
    // Built by hand with fewer nodes than `length`: no panic, everything is base.
    let h = Hashes { request: req(8, 0), nodes: vec![[1; 32]; 3] };
    assert_eq!(h.base().len(), 3);
    assert!(h.proof().is_empty());
}

fn arb_request() -> impl Strategy<Value = HashRequest> {
    (any::<[u8; 32]>(), any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(pieces_root, base_layer, index, length, proof_layers)| HashRequest {
            pieces_root,
            base_layer,
            index,
            length,
            proof_layers,
        },
    )
}

proptest! {
    #[test]
    fn requests_and_rejects_round_trip(r in arb_request()) {
        for msg in [Message::HashRequest(r), Message::HashReject(r)] {
            let mut buf = BytesMut::new();
            encode(&msg, &mut buf);
            prop_assert_eq!(buf.len(), msg.encoded_len());
            prop_assert_eq!(decode_one(buf), Ok(Some(msg)));
        }
    }

    #[test]
    fn valid_hashes_round_trip(
        r in arb_request(),
        length in 1u32..40,
        uncles in 0usize..=MAX_PROOF_HASHES,
        fill in any::<u8>(),
    ) {
        let request = HashRequest { length, ..r };
        let nodes: Vec<Node> =
            (0..length as usize + uncles).map(|i| [fill.wrapping_add(i as u8); 32]).collect();
        let msg = Message::Hashes(Hashes { request, nodes });
        let mut buf = BytesMut::new();
        encode(&msg, &mut buf);
        prop_assert_eq!(buf.len(), msg.encoded_len());
        prop_assert_eq!(decode_one(buf), Ok(Some(msg)));
    }

    #[test]
    fn hostile_hashes_payloads_never_panic(
        r in arb_request(),
        length in prop_oneof![0u32..20, any::<u32>()],
        extra in proptest::collection::vec(any::<u8>(), 0..800),
    ) {
        let mut p = header(&HashRequest { length, ..r });
        p.extend_from_slice(&extra);
        if let Ok(Some(Message::Hashes(h))) = decode_one(frame(message_id::HASHES, &p)) {
            prop_assert_eq!(h.base().len(), length as usize);
            prop_assert!(h.proof().len() <= MAX_PROOF_HASHES);
            prop_assert_eq!(h.payload_len(), p.len());
        }
    }
}
