//! Fetching the metadata of v2 and hybrid magnets: checked with SHA-256 against the v2 info
//! hash, and against both hashes when the magnet names both.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use bytes::Bytes;
use ccbt_core::{InfoHash, InfoHashV2};
use ccbt_wire::ext::metadata::{MetadataMessage, METADATA_PIECE_LEN};
use proptest::prelude::*;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::*;
use crate::PeerKey;

fn v1_of(bytes: &[u8]) -> InfoHash {
    InfoHash(Sha1::digest(bytes).into())
}

fn v2_of(bytes: &[u8]) -> InfoHashV2 {
    InfoHashV2(Sha256::digest(bytes).into())
}

fn metadata(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed)).collect()
}

fn ip(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

/// Serves `served` to a fetcher for `target` from `peers` honest peers (each on its own address)
/// until it completes or every peer has sent every piece; returns what `poll_complete` gave.
fn fetch(target: MetadataTarget, served: &[u8], peers: u8) -> Vec<Result<Vec<u8>, MetadataFailure>> {
    let server = MetadataServer::new(Bytes::from(served.to_vec()));
    let mut f = MetadataFetcher::new(target, DEFAULT_MAX_METADATA_SIZE);
    let now = Instant::now();
    for n in 0..peers {
        f.add_peer(PeerKey(n.into()), ip(n + 1), server.metadata_size());
    }
    let mut outcomes = Vec::new();
    for _ in 0..=peers {
        let mut reqs = Vec::new();
        f.next_requests(now, &mut reqs);
        for (key, piece) in reqs {
            let MetadataMessage::Data { piece, total_size, data } = server.answer(piece) else {
                unreachable!("the server has every piece")
            };
            assert_eq!(f.on_data(now, key, piece, total_size, &data), Ok(true));
        }
        if let Some(outcome) = f.poll_complete() {
            let done = outcome.is_ok();
            outcomes.push(outcome);
            if done {
                break;
            }
        }
    }
    outcomes
}

#[test]
fn target_accessors() {
    let bytes = metadata(100, 1);
    let (v1, v2) = (v1_of(&bytes), v2_of(&bytes));
    assert_eq!(MetadataTarget::from_hashes(None, None), None);
    assert_eq!(MetadataTarget::from_hashes(Some(v1), None), Some(MetadataTarget::V1(v1)));
    assert_eq!(MetadataTarget::from_hashes(None, Some(v2)), Some(MetadataTarget::V2(v2)));
    assert_eq!(MetadataTarget::from_hashes(Some(v1), Some(v2)), Some(MetadataTarget::Hybrid(v1, v2)));
    assert_eq!(MetadataTarget::from(v1), MetadataTarget::V1(v1));
    assert_eq!(MetadataTarget::from(v2), MetadataTarget::V2(v2));
    let hybrid = MetadataTarget::Hybrid(v1, v2);
    assert_eq!((hybrid.v1(), hybrid.v2()), (Some(v1), Some(v2)));
    assert_eq!(hybrid.wire_id(), v1);
    assert_eq!(MetadataTarget::V2(v2).wire_id(), v2.truncated());
    assert_eq!((MetadataTarget::V2(v2).v1(), MetadataTarget::V1(v1).v2()), (None, None));
}

#[test]
fn target_matches_each_hash_it_names() {
    let a = metadata(1000, 1);
    let b = metadata(1000, 2);
    for (target, matches_a) in [
        (MetadataTarget::V1(v1_of(&a)), true),
        (MetadataTarget::V2(v2_of(&a)), true),
        (MetadataTarget::Hybrid(v1_of(&a), v2_of(&a)), true),
        (MetadataTarget::V1(v1_of(&b)), false),
        (MetadataTarget::V2(v2_of(&b)), false),
        // Half right is wrong.
        (MetadataTarget::Hybrid(v1_of(&a), v2_of(&b)), false),
        (MetadataTarget::Hybrid(v1_of(&b), v2_of(&a)), false),
        // The truncated v2 hash used as a v1 hash is not the SHA-1.
        (MetadataTarget::V1(v2_of(&a).truncated()), false),
        // A BEP 46 `ih` of unknown kind: either hash of the right metadata.
        (MetadataTarget::AnyVersion(v1_of(&a)), true),
        (MetadataTarget::AnyVersion(v2_of(&a).truncated()), true),
        (MetadataTarget::AnyVersion(v1_of(&b)), false),
        (MetadataTarget::AnyVersion(v2_of(&b).truncated()), false),
    ] {
        assert_eq!(target.matches(&a), matches_a, "{target:?}");
    }
}

#[test]
fn v2_magnet_metadata_is_checked_with_sha256() {
    let bytes = metadata(3 * METADATA_PIECE_LEN + 7, 3);
    let target = MetadataTarget::V2(v2_of(&bytes));
    let f = MetadataFetcher::new(target, DEFAULT_MAX_METADATA_SIZE);
    assert_eq!(f.info_hash(), v2_of(&bytes).truncated());
    assert_eq!(f.target(), target);
    assert_eq!(fetch(target, &bytes, 3), [Ok(bytes)]);
}

#[test]
fn hybrid_magnet_metadata_must_match_both_hashes() {
    let bytes = metadata(2 * METADATA_PIECE_LEN + 1, 4);
    let target = MetadataTarget::Hybrid(v1_of(&bytes), v2_of(&bytes));
    assert_eq!(MetadataFetcher::new(target, DEFAULT_MAX_METADATA_SIZE).info_hash(), v1_of(&bytes));
    assert_eq!(fetch(target, &bytes, 2), [Ok(bytes)]);
}

#[test]
fn metadata_matching_only_one_hash_of_a_hybrid_is_refused() {
    let real = metadata(METADATA_PIECE_LEN + 100, 5);
    let other = metadata(METADATA_PIECE_LEN + 100, 6);
    for target in [
        MetadataTarget::Hybrid(v1_of(&other), v2_of(&real)),
        MetadataTarget::Hybrid(v1_of(&real), v2_of(&other)),
    ] {
        let outcomes = fetch(target, &real, 2);
        assert!(!outcomes.is_empty(), "{target:?}");
        assert!(
            outcomes.iter().all(|o| matches!(o, Err(MetadataFailure::HashMismatch { .. }))),
            "{target:?}: {outcomes:?}"
        );
    }
}

#[test]
fn v2_metadata_is_not_accepted_for_a_v1_target_with_the_truncated_hash() {
    // A magnet's btih that is really the truncated btmh: the SHA-1 check cannot pass, so such
    // a magnet must be fetched with a v2 target (Magnet::info_hash_v1() is None for it).
    let bytes = metadata(500, 7);
    let outcomes = fetch(MetadataTarget::V1(v2_of(&bytes).truncated()), &bytes, 1);
    assert!(matches!(outcomes.as_slice(), [Err(MetadataFailure::HashMismatch { .. })]), "{outcomes:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the metadata and target kind, the fetch completes with exactly the metadata
    /// when it is the one the target names, and never when one of the target's hashes is of
    /// other bytes.
    #[test]
    fn completes_exactly_when_every_hash_matches(
        len in 1..(3 * METADATA_PIECE_LEN + 10),
        seed in any::<u8>(),
        kind in 0..3u8,
        wrong in proptest::option::of(any::<bool>()),
    ) {
        let real = metadata(len, seed);
        let other = metadata(len, seed.wrapping_add(1));
        // `wrong`: Some(true) puts the other bytes' v1 hash in the target, Some(false) their v2 hash.
        let v1 = v1_of(if wrong == Some(true) { &other } else { &real });
        let v2 = v2_of(if wrong == Some(false) { &other } else { &real });
        let target = match kind {
            0 => MetadataTarget::V1(v1),
            1 => MetadataTarget::V2(v2),
            _ => MetadataTarget::Hybrid(v1, v2),
        };
        let should_match = target.v1().map_or(true, |h| h == v1_of(&real))
            && target.v2().map_or(true, |h| h == v2_of(&real));
        let outcomes = fetch(target, &real, 2);
        if should_match {
            prop_assert_eq!(outcomes, vec![Ok(real)]);
        } else {
            prop_assert!(!outcomes.is_empty());
            prop_assert!(outcomes.iter().all(|o| o.is_err()));
        }
    }
}
