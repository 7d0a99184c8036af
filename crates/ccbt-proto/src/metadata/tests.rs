use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_core::InfoHash;
use ccbt_wire::ext::metadata::{MetadataMessage, METADATA_PIECE_LEN};
use sha1::{Digest, Sha1};

use super::*;
use crate::PeerKey;

const P1: PeerKey = PeerKey(1);
const P2: PeerKey = PeerKey(2);
const P3: PeerKey = PeerKey(3);
const TIMEOUT: Duration = Duration::from_secs(10);

fn metadata(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 256) as u8).collect()
}

fn hash_of(bytes: &[u8]) -> InfoHash {
    InfoHash(Sha1::digest(bytes).into())
}

fn fetcher_for(bytes: &[u8]) -> MetadataFetcher {
    MetadataFetcher::new(hash_of(bytes), DEFAULT_MAX_METADATA_SIZE)
}

/// Each test peer `PeerKey(n)` connects from its own address, 127.0.0.(n+1).
fn ip_of(key: PeerKey) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, u8::try_from(key.0 + 1).unwrap()))
}

fn add(f: &mut MetadataFetcher, key: PeerKey, size: u64) {
    f.add_peer(key, ip_of(key), size);
}

fn requests(f: &mut MetadataFetcher, now: Instant) -> Vec<(PeerKey, u32)> {
    let mut out = Vec::new();
    f.next_requests(now, &mut out);
    out
}

/// Answers a request from `server` as the peer would.
fn answer(f: &mut MetadataFetcher, server: &MetadataServer, now: Instant, key: PeerKey, piece: u32) {
    match server.answer(piece) {
        MetadataMessage::Data { piece, total_size, data } => {
            assert_eq!(f.on_data(now, key, piece, total_size, &data), Ok(true));
        }
        MetadataMessage::Reject { piece } => f.on_reject(now, key, piece),
        MetadataMessage::Request { .. } => unreachable!("a server never requests"),
    }
}

#[test]
fn parallel_fetch_spreads_pieces_over_peers() {
    let bytes = metadata(5 * METADATA_PIECE_LEN + 100);
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    for key in [P1, P2, P3] {
        add(&mut f, key, server.metadata_size());
    }
    assert_eq!(f.progress(), (0, 6));
    let reqs = requests(&mut f, now);
    assert_eq!(reqs, [(P1, 0), (P2, 1), (P3, 2), (P1, 3), (P2, 4), (P3, 5)]);
    // Every peer is at its limit: nothing more to hand out.
    assert!(requests(&mut f, now).is_empty());
    for &(key, piece) in reqs.iter().rev() {
        assert_eq!(f.poll_complete(), None);
        answer(&mut f, &server, now, key, piece);
    }
    assert_eq!(f.poll_complete(), Some(Ok(bytes)));
    assert!(f.is_done());
    assert_eq!(f.poll_complete(), None);
    assert!(requests(&mut f, now).is_empty());
    assert_eq!(f.poll_timeout(), None);
}

#[test]
fn at_most_two_requests_per_peer() {
    let bytes = metadata(10 * METADATA_PIECE_LEN);
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, bytes.len() as u64);
    assert_eq!(requests(&mut f, now), [(P1, 0), (P1, 1)]);
    let server = MetadataServer::new(Bytes::from(bytes));
    answer(&mut f, &server, now, P1, 0);
    assert_eq!(requests(&mut f, now), [(P1, 2)]);
}

#[test]
fn one_piece_metadata() {
    let bytes = metadata(300);
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, 300);
    add(&mut f, P2, 300);
    assert_eq!(requests(&mut f, now), [(P1, 0)]);
    answer(&mut f, &server, now, P1, 0);
    assert_eq!(f.progress(), (1, 1));
    assert_eq!(f.poll_complete(), Some(Ok(bytes)));
}

#[test]
fn multi_piece_metadata_with_short_last_piece() {
    let bytes = metadata(2 * METADATA_PIECE_LEN + 1);
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, bytes.len() as u64);
    add(&mut f, P2, bytes.len() as u64);
    let reqs = requests(&mut f, now);
    assert_eq!(reqs, [(P1, 0), (P2, 1), (P1, 2)]);
    // The 1-byte last piece must be exactly one byte.
    assert_eq!(
        f.on_data(now, P1, 2, bytes.len() as u64, &[0, 0]),
        Err(MetadataError::WrongLength { piece: 2, got: 2, expected: 1 })
    );
    // The failed request was withdrawn; piece 2 goes out again.
    let again = requests(&mut f, now);
    assert_eq!(again, [(P1, 2)]);
    for (key, piece) in again.into_iter().chain(reqs.into_iter().filter(|&(_, p)| p != 2)) {
        answer(&mut f, &server, now, key, piece);
    }
    assert_eq!(f.poll_complete(), Some(Ok(bytes)));
}

#[test]
fn reject_sends_the_piece_elsewhere_and_backs_off() {
    let bytes = metadata(METADATA_PIECE_LEN);
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, bytes.len() as u64);
    add(&mut f, P2, bytes.len() as u64);
    assert_eq!(requests(&mut f, now), [(P1, 0)]);
    f.on_reject(now, P1, 0);
    assert_eq!(requests(&mut f, now), [(P2, 0)]);
    f.on_reject(now, P2, 0);
    // Both refused: wait for the back-off, then try again.
    assert!(requests(&mut f, now).is_empty());
    assert_eq!(f.poll_timeout(), Some(now + TIMEOUT));
    assert!(requests(&mut f, now + TIMEOUT - Duration::from_millis(1)).is_empty());
    assert_eq!(requests(&mut f, now + TIMEOUT), [(P1, 0)]);
}

#[test]
fn reject_of_a_piece_not_requested_is_ignored() {
    let bytes = metadata(METADATA_PIECE_LEN);
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, bytes.len() as u64);
    add(&mut f, P2, bytes.len() as u64);
    assert_eq!(requests(&mut f, now), [(P1, 0)]);
    f.on_reject(now, P2, 0);
    f.on_reject(now, P1, 99);
    assert!(requests(&mut f, now).is_empty());
}

#[test]
fn timeout_re_requests_from_another_peer_and_ignores_late_data() {
    let bytes = metadata(METADATA_PIECE_LEN + 10);
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let t0 = Instant::now();
    add(&mut f, P1, bytes.len() as u64);
    assert_eq!(requests(&mut f, t0), [(P1, 0), (P1, 1)]);
    assert_eq!(f.poll_timeout(), Some(t0 + TIMEOUT));
    add(&mut f, P2, bytes.len() as u64);
    assert!(requests(&mut f, t0 + Duration::from_secs(5)).is_empty());
    let t1 = t0 + TIMEOUT;
    assert_eq!(requests(&mut f, t1), [(P2, 0), (P2, 1)]);
    // P1 answers piece 0 late: the piece is now asked of P2 only, so P1's copy is ignored.
    let MetadataMessage::Data { data, .. } = server.answer(0) else { unreachable!() };
    assert_eq!(f.on_data(t1, P1, 0, bytes.len() as u64, &data), Ok(false));
    assert_eq!(f.progress(), (0, 2));
    answer(&mut f, &server, t1, P2, 0);
    answer(&mut f, &server, t1, P2, 1);
    assert_eq!(f.poll_complete(), Some(Ok(bytes)));
}

#[test]
fn unrequested_pieces_are_ignored() {
    let bytes = metadata(3 * METADATA_PIECE_LEN);
    let len = bytes.len() as u64;
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, len);
    add(&mut f, P2, len);
    assert_eq!(requests(&mut f, now), [(P1, 0), (P2, 1), (P1, 2)]);
    // P2 pushes piece 0 (asked of P1) and piece 2 (asked of P1): neither is taken.
    let junk = vec![0xEE; METADATA_PIECE_LEN];
    assert_eq!(f.on_data(now, P2, 0, len, &junk), Ok(false));
    assert_eq!(f.on_data(now, P2, 2, len, &junk), Ok(false));
    assert_eq!(f.progress(), (0, 3));
    assert_eq!(f.held_bytes(), 0);
    // P1's request for piece 0 still stands and its answer is taken.
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    answer(&mut f, &server, now, P1, 0);
    // A second copy of piece 0 from P2, unasked, is still ignored.
    assert_eq!(f.on_data(now, P2, 0, len, &junk), Ok(false));
    answer(&mut f, &server, now, P2, 1);
    answer(&mut f, &server, now, P1, 2);
    assert_eq!(f.poll_complete(), Some(Ok(bytes)));
}

#[test]
fn lone_peer_is_asked_again_after_timeout_and_back_off() {
    let bytes = metadata(100);
    let mut f = fetcher_for(&bytes);
    let t0 = Instant::now();
    add(&mut f, P1, 100);
    assert_eq!(requests(&mut f, t0), [(P1, 0)]);
    assert!(requests(&mut f, t0 + TIMEOUT).is_empty());
    assert_eq!(f.poll_timeout(), Some(t0 + 2 * TIMEOUT));
    assert_eq!(requests(&mut f, t0 + 2 * TIMEOUT), [(P1, 0)]);
}

#[test]
fn removed_peer_requests_go_to_others() {
    let bytes = metadata(3 * METADATA_PIECE_LEN);
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, bytes.len() as u64);
    assert_eq!(requests(&mut f, now), [(P1, 0), (P1, 1)]);
    add(&mut f, P2, bytes.len() as u64);
    assert_eq!(requests(&mut f, now), [(P2, 2)]);
    f.remove_peer(P1);
    assert_eq!(requests(&mut f, now), [(P2, 0)]);
    assert_eq!(f.on_data(now, P1, 1, bytes.len() as u64, &[]), Err(MetadataError::UnknownPeer { peer: P1 }));
}

#[test]
fn a_liar_among_honest_peers_is_found_and_only_it_is_named() {
    let bytes = metadata(2 * METADATA_PIECE_LEN);
    let len = bytes.len() as u64;
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    let liar = P1;
    for key in [P1, P2, P3] {
        add(&mut f, key, len);
    }
    let lie = vec![0xAA; METADATA_PIECE_LEN];
    // Serves every request, the liar with garbage, until the fetch completes.
    let mut mismatches = 0;
    for _ in 0..20 {
        for (key, piece) in requests(&mut f, now) {
            if key == liar {
                assert_eq!(f.on_data(now, key, piece, len, &lie), Ok(true));
            } else {
                answer(&mut f, &server, now, key, piece);
            }
            assert!(f.held_bytes() <= bytes.len());
        }
        match f.poll_complete() {
            Some(Ok(got)) => {
                assert_eq!(got, bytes);
                assert_eq!(mismatches, 1);
                assert!(f.is_liar(ip_of(liar)));
                assert_eq!(f.liars().collect::<Vec<_>>(), [ip_of(liar)], "honest peers are not named");
                return;
            }
            Some(Err(MetadataFailure::HashMismatch { contributors, quorum })) => {
                mismatches += 1;
                assert_eq!(contributors, [ip_of(P1), ip_of(P2)]);
                assert_eq!(quorum, 2);
                // Nothing was thrown away.
                assert_eq!(f.held_bytes(), bytes.len());
            }
            None => {}
        }
    }
    panic!("the fetch did not complete");
}

#[test]
fn after_a_mismatch_pieces_are_not_asked_again_of_the_address_that_sent_them() {
    let bytes = metadata(METADATA_PIECE_LEN);
    let len = bytes.len() as u64;
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, len);
    // A second connection from P1's address.
    f.add_peer(PeerKey(9), ip_of(P1), len);
    assert_eq!(requests(&mut f, now), [(P1, 0)]);
    assert_eq!(f.on_data(now, P1, 0, len, &[0xAA; METADATA_PIECE_LEN]), Ok(true));
    assert!(matches!(f.poll_complete(), Some(Err(MetadataFailure::HashMismatch { .. }))));
    // The piece needs a second address; neither connection from P1's address qualifies.
    assert!(requests(&mut f, now).is_empty());
    assert_eq!(f.progress(), (0, 1));
    add(&mut f, P2, len);
    assert_eq!(requests(&mut f, now), [(P2, 0)]);
}

#[test]
fn size_votes_count_each_address_once() {
    let bytes = metadata(500);
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, 500);
    // Ten connections from one attacker's address claim another size.
    let attacker = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 66));
    for n in 10..20 {
        f.add_peer(PeerKey(n), attacker, 70_000);
    }
    assert_eq!(f.metadata_size(), Some(500), "one address is one vote, and a tie keeps the size");
    add(&mut f, P2, 500);
    assert_eq!(f.metadata_size(), Some(500));
    let reqs = requests(&mut f, now);
    assert_eq!(reqs, [(P1, 0)]);
    answer(&mut f, &server, now, P1, 0);
    assert_eq!(f.poll_complete(), Some(Ok(bytes)));
}

#[test]
fn held_bytes_stay_within_the_metadata_size() {
    let bytes = metadata(3 * METADATA_PIECE_LEN);
    let len = bytes.len() as u64;
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    for n in 0..6 {
        add(&mut f, PeerKey(n), len);
    }
    // Everyone answers with garbage, round after round; one copy per piece is held at most.
    for round in 0..6u8 {
        for (key, piece) in requests(&mut f, now) {
            let garbage = vec![round ^ key.0 as u8; METADATA_PIECE_LEN];
            f.on_data(now, key, piece, len, &garbage).unwrap();
            assert!(f.held_bytes() <= bytes.len());
        }
        let _ = f.poll_complete();
    }
    assert!(f.held_bytes() <= bytes.len());
}

#[test]
fn absurd_sizes_are_refused() {
    let bytes = metadata(100);
    let mut f = MetadataFetcher::new(hash_of(&bytes), 1000);
    let now = Instant::now();
    add(&mut f, P1, 1001);
    add(&mut f, P2, 0);
    add(&mut f, P3, u64::MAX);
    assert_eq!(f.metadata_size(), None);
    assert!(requests(&mut f, now).is_empty());
    assert_eq!(f.poll_timeout(), None);
    // Data nobody asked for while the size is unknown is dropped.
    assert_eq!(f.on_data(now, P1, 0, 100, &bytes), Ok(false));
    assert_eq!(f.poll_complete(), None);
    add(&mut f, PeerKey(4), 100);
    assert_eq!(f.metadata_size(), Some(100));
    assert_eq!(requests(&mut f, now), [(PeerKey(4), 0)]);
}

#[test]
fn huge_max_size_is_capped() {
    let mut f = MetadataFetcher::new(InfoHash([0; 20]), u64::MAX);
    add(&mut f, P1, u64::MAX / 2);
    assert_eq!(f.metadata_size(), None);
}

#[test]
fn majority_size_wins_and_outvoted_peers_are_not_asked() {
    let bytes = metadata(500);
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    // The first peer lies about the size; it fixes the size until outvoted.
    add(&mut f, P1, 70_000);
    assert_eq!(f.progress(), (0, 5));
    add(&mut f, P2, 500);
    assert_eq!(f.metadata_size(), Some(70_000), "a tie keeps the current size");
    add(&mut f, P3, 500);
    assert_eq!(f.metadata_size(), Some(500));
    assert_eq!(f.progress(), (0, 1));
    assert_eq!(requests(&mut f, now), [(P2, 0)]);
    assert_eq!(
        f.on_data(now, P1, 0, 70_000, &[0; METADATA_PIECE_LEN]),
        Err(MetadataError::WrongTotalSize { got: 70_000, expected: 500 })
    );
    answer(&mut f, &server, now, P2, 0);
    assert_eq!(f.poll_complete(), Some(Ok(bytes)));
}

#[test]
fn size_switch_discards_pieces_of_the_old_size() {
    let bytes = metadata(METADATA_PIECE_LEN + 1);
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, 40_000);
    assert_eq!(requests(&mut f, now), [(P1, 0), (P1, 1)]);
    assert_eq!(f.on_data(now, P1, 0, 40_000, &[1; METADATA_PIECE_LEN]), Ok(true));
    assert_eq!(f.progress(), (1, 3));
    add(&mut f, P2, bytes.len() as u64);
    add(&mut f, P3, bytes.len() as u64);
    assert_eq!(f.progress(), (0, 2));
    assert_eq!(requests(&mut f, now), [(P2, 0), (P3, 1)]);
}

#[test]
fn bad_data_is_an_error_for_that_peer() {
    let bytes = metadata(METADATA_PIECE_LEN + 5);
    let len = bytes.len() as u64;
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, len);
    assert_eq!(requests(&mut f, now), [(P1, 0), (P1, 1)]);
    assert_eq!(f.on_data(now, P1, 2, len, &[]), Err(MetadataError::InvalidPiece { piece: 2, num_pieces: 2 }));
    assert_eq!(
        f.on_data(now, P1, u32::MAX, len, &[]),
        Err(MetadataError::InvalidPiece { piece: u32::MAX, num_pieces: 2 })
    );
    assert_eq!(
        f.on_data(now, P1, 0, len + 1, &[]),
        Err(MetadataError::WrongTotalSize { got: len + 1, expected: len })
    );
    assert_eq!(
        f.on_data(now, P1, 1, len, b"1234"),
        Err(MetadataError::WrongLength { piece: 1, got: 4, expected: 5 })
    );
    // The failed requests were withdrawn, so the pieces can go out again at once.
    assert_eq!(requests(&mut f, now), [(P1, 0), (P1, 1)]);
    assert_eq!(f.progress(), (0, 2));
}

#[test]
fn re_adding_a_peer_updates_its_size() {
    let bytes = metadata(100);
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    add(&mut f, P1, 0);
    assert!(requests(&mut f, now).is_empty());
    add(&mut f, P1, 100);
    assert_eq!(requests(&mut f, now), [(P1, 0)]);
}

#[test]
fn custom_timeout() {
    let bytes = metadata(100);
    let mut f = fetcher_for(&bytes).with_request_timeout(Duration::from_secs(3));
    let now = Instant::now();
    add(&mut f, P1, 100);
    assert_eq!(f.info_hash(), hash_of(&bytes));
    assert_eq!(requests(&mut f, now), [(P1, 0)]);
    assert_eq!(f.poll_timeout(), Some(now + Duration::from_secs(3)));
}
