//! Property tests across the decoder and both encoders.

use std::collections::BTreeMap;

use proptest::prelude::*;

use crate::{decode, decode_prefix, encode, OwnedValue};

fn owned_value() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(OwnedValue::Int),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(OwnedValue::Bytes),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(OwnedValue::List),
            proptest::collection::btree_map(proptest::collection::vec(any::<u8>(), 0..8), inner, 0..6)
                .prop_map(|m: BTreeMap<Vec<u8>, OwnedValue>| OwnedValue::Dict(m)),
        ]
    })
}

proptest! {
    #[test]
    fn owned_round_trip(v in owned_value()) {
        let bytes = v.to_bytes();
        let decoded = decode(&bytes).unwrap();
        prop_assert_eq!(decoded.to_owned_value(), v);
        // Owned encoding is canonical, so re-encoding the borrowed value is byte-identical.
        prop_assert_eq!(encode(&decoded), bytes);
    }

    #[test]
    fn every_split_point_of_valid_input(v in owned_value(), tail in proptest::collection::vec(any::<u8>(), 0..8)) {
        let bytes = v.to_bytes();
        for cut in 0..bytes.len() {
            prop_assert!(decode(&bytes[..cut]).is_err());
            prop_assert!(decode_prefix(&bytes[..cut]).is_err());
        }
        let mut with_tail = bytes.clone();
        with_tail.extend_from_slice(&tail);
        let (prefix, used) = decode_prefix(&with_tail).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(prefix.to_owned_value(), v);
    }

    #[test]
    fn random_bytes_never_panic_and_accepted_input_is_canonical(input in proptest::collection::vec(any::<u8>(), 0..64)) {
        if let Ok(v) = decode(&input) {
            prop_assert_eq!(encode(&v), input);
        }
    }

    #[test]
    fn mutated_valid_input_never_panics(v in owned_value(), idx in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = v.to_bytes();
        let i = idx.index(bytes.len());
        bytes[i] = byte;
        if let Ok(v) = decode(&bytes) {
            prop_assert_eq!(encode(&v), bytes);
        }
    }
}
