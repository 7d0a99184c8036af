//! Manifest bytes from disk or peers: whatever they are, decoding answers Ok or a typed error,
//! never panics, and what it accepts encodes back to exactly the same bytes.

use ccbt_xet::{ChunkRef, Manifest, HEADER_LEN};
use proptest::prelude::*;

fn valid_xm() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((any::<[u8; 32]>(), 1u32..=131_072), 0..8).prop_map(|entries| {
        let chunks = entries.into_iter().map(|(id, len)| ChunkRef { id, len }).collect();
        Manifest::new(chunks).expect("valid lengths").encode()
    })
}

/// A valid manifest with a few bytes overwritten, cut short or extended.
fn damaged_xm() -> impl Strategy<Value = Vec<u8>> {
    (
        valid_xm(),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        0usize..3,
        any::<u16>(),
    )
        .prop_map(|(mut bytes, edits, how, amount)| {
            for (at, value) in edits {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            match how {
                0 => bytes.truncate(bytes.len().saturating_sub(usize::from(amount % 40))),
                1 => bytes.extend(std::iter::repeat(0).take(usize::from(amount % 40))),
                _ => {}
            }
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics_and_round_trips(bytes in prop_oneof![
        damaged_xm(),
        prop::collection::vec(any::<u8>(), 0..200),
    ]) {
        if let Ok(manifest) = Manifest::decode(&bytes) {
            prop_assert_eq!(manifest.encode(), bytes);
        }
    }

    #[test]
    fn layers_never_panic_and_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(manifest) = Manifest::from_layer(&bytes) {
            prop_assert_eq!(manifest.to_layer(), bytes);
        }
    }

    #[test]
    fn valid_manifests_round_trip(bytes in valid_xm()) {
        let manifest = Manifest::decode(&bytes).expect("valid");
        prop_assert_eq!(manifest.encode(), bytes.clone());
        prop_assert_eq!(Manifest::from_layer(&bytes[HEADER_LEN..]), Ok(manifest));
    }
}
