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

fn requests(f: &mut MetadataFetcher, now: Instant) -> Vec<(PeerKey, u32)> {
    let mut out = Vec::new();
    f.next_requests(now, &mut out);
    out
}

/// Answers a request from `server` as the peer would.
fn answer(f: &mut MetadataFetcher, server: &MetadataServer, now: Instant, key: PeerKey, piece: u32) {
    match server.answer(piece) {
        MetadataMessage::Data { piece, total_size, data } => {
            f.on_data(now, key, piece, total_size, data).unwrap();
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
        f.add_peer(key, server.metadata_size());
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
    f.add_peer(P1, bytes.len() as u64);
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
    f.add_peer(P1, 300);
    f.add_peer(P2, 300);
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
    f.add_peer(P1, bytes.len() as u64);
    f.add_peer(P2, bytes.len() as u64);
    let reqs = requests(&mut f, now);
    assert_eq!(reqs, [(P1, 0), (P2, 1), (P1, 2)]);
    // The 1-byte last piece must be exactly one byte.
    assert_eq!(
        f.on_data(now, P1, 2, bytes.len() as u64, Bytes::from_static(&[0, 0])),
        Err(MetadataError::WrongLength { piece: 2, got: 2, expected: 1 })
    );
    for (key, piece) in requests(&mut f, now).into_iter().chain(reqs) {
        answer(&mut f, &server, now, key, piece);
    }
    assert_eq!(f.poll_complete(), Some(Ok(bytes)));
}

#[test]
fn reject_sends_the_piece_elsewhere_and_backs_off() {
    let bytes = metadata(METADATA_PIECE_LEN);
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    f.add_peer(P1, bytes.len() as u64);
    f.add_peer(P2, bytes.len() as u64);
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
    f.add_peer(P1, bytes.len() as u64);
    f.add_peer(P2, bytes.len() as u64);
    assert_eq!(requests(&mut f, now), [(P1, 0)]);
    f.on_reject(now, P2, 0);
    f.on_reject(now, P1, 99);
    assert!(requests(&mut f, now).is_empty());
}

#[test]
fn timeout_re_requests_from_another_peer_and_accepts_late_data() {
    let bytes = metadata(METADATA_PIECE_LEN + 10);
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let t0 = Instant::now();
    f.add_peer(P1, bytes.len() as u64);
    assert_eq!(requests(&mut f, t0), [(P1, 0), (P1, 1)]);
    assert_eq!(f.poll_timeout(), Some(t0 + TIMEOUT));
    f.add_peer(P2, bytes.len() as u64);
    assert!(requests(&mut f, t0 + Duration::from_secs(5)).is_empty());
    let t1 = t0 + TIMEOUT;
    assert_eq!(requests(&mut f, t1), [(P2, 0), (P2, 1)]);
    // P1 answers piece 0 late: still good data, and P2's copy is ignored when it arrives.
    answer(&mut f, &server, t1, P1, 0);
    answer(&mut f, &server, t1, P2, 0);
    assert_eq!(f.progress(), (1, 2));
    answer(&mut f, &server, t1, P2, 1);
    assert_eq!(f.poll_complete(), Some(Ok(bytes)));
}

#[test]
fn lone_peer_is_asked_again_after_timeout_and_back_off() {
    let bytes = metadata(100);
    let mut f = fetcher_for(&bytes);
    let t0 = Instant::now();
    f.add_peer(P1, 100);
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
    f.add_peer(P1, bytes.len() as u64);
    assert_eq!(requests(&mut f, now), [(P1, 0), (P1, 1)]);
    f.add_peer(P2, bytes.len() as u64);
    assert_eq!(requests(&mut f, now), [(P2, 2)]);
    f.remove_peer(P1);
    assert_eq!(requests(&mut f, now), [(P2, 0)]);
    assert_eq!(
        f.on_data(now, P1, 1, bytes.len() as u64, Bytes::new()),
        Err(MetadataError::UnknownPeer { peer: P1 })
    );
}

#[test]
fn wrong_hash_restarts_and_reports_contributors() {
    let bytes = metadata(2 * METADATA_PIECE_LEN);
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    f.add_peer(P1, bytes.len() as u64);
    f.add_peer(P2, bytes.len() as u64);
    f.add_peer(P3, bytes.len() as u64);
    assert_eq!(requests(&mut f, now), [(P1, 0), (P2, 1)]);
    answer(&mut f, &server, now, P2, 1);
    // P1 lies about piece 0.
    let lie = Bytes::from(vec![0xAA; METADATA_PIECE_LEN]);
    f.on_data(now, P1, 0, bytes.len() as u64, lie).unwrap();
    assert_eq!(f.poll_complete(), Some(Err(MetadataFailure::HashMismatch { contributors: vec![P1, P2] })));
    assert!(!f.is_done());
    assert_eq!(f.progress(), (0, 2));
    // The engine drops the contributors; the fetch starts over with the rest.
    f.remove_peer(P1);
    f.remove_peer(P2);
    let reqs = requests(&mut f, now);
    assert_eq!(reqs, [(P3, 0), (P3, 1)]);
    for (key, piece) in reqs {
        answer(&mut f, &server, now, key, piece);
    }
    assert_eq!(f.poll_complete(), Some(Ok(bytes)));
}

#[test]
fn absurd_sizes_are_refused() {
    let bytes = metadata(100);
    let mut f = MetadataFetcher::new(hash_of(&bytes), 1000);
    let now = Instant::now();
    f.add_peer(P1, 1001);
    f.add_peer(P2, 0);
    f.add_peer(P3, u64::MAX);
    assert_eq!(f.metadata_size(), None);
    assert!(requests(&mut f, now).is_empty());
    assert_eq!(f.poll_timeout(), None);
    // Data nobody asked for while the size is unknown is dropped.
    assert_eq!(f.on_data(now, P1, 0, 100, Bytes::from(bytes.clone())), Ok(()));
    assert_eq!(f.poll_complete(), None);
    f.add_peer(PeerKey(4), 100);
    assert_eq!(f.metadata_size(), Some(100));
    assert_eq!(requests(&mut f, now), [(PeerKey(4), 0)]);
}

#[test]
fn huge_max_size_is_capped() {
    let mut f = MetadataFetcher::new(InfoHash([0; 20]), u64::MAX);
    f.add_peer(P1, u64::MAX / 2);
    assert_eq!(f.metadata_size(), None);
}

#[test]
fn majority_size_wins_and_outvoted_peers_are_not_asked() {
    let bytes = metadata(500);
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    // The first peer lies about the size; it fixes the size until outvoted.
    f.add_peer(P1, 70_000);
    assert_eq!(f.progress(), (0, 5));
    f.add_peer(P2, 500);
    assert_eq!(f.metadata_size(), Some(70_000), "a tie keeps the current size");
    f.add_peer(P3, 500);
    assert_eq!(f.metadata_size(), Some(500));
    assert_eq!(f.progress(), (0, 1));
    assert_eq!(requests(&mut f, now), [(P2, 0)]);
    assert_eq!(
        f.on_data(now, P1, 0, 70_000, Bytes::from(vec![0; METADATA_PIECE_LEN])),
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
    f.add_peer(P1, 40_000);
    assert_eq!(requests(&mut f, now), [(P1, 0), (P1, 1)]);
    f.on_data(now, P1, 0, 40_000, Bytes::from(vec![1; METADATA_PIECE_LEN])).unwrap();
    assert_eq!(f.progress(), (1, 3));
    f.add_peer(P2, bytes.len() as u64);
    f.add_peer(P3, bytes.len() as u64);
    assert_eq!(f.progress(), (0, 2));
    assert_eq!(requests(&mut f, now), [(P2, 0), (P3, 1)]);
}

#[test]
fn bad_data_is_an_error_for_that_peer() {
    let bytes = metadata(METADATA_PIECE_LEN + 5);
    let len = bytes.len() as u64;
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    f.add_peer(P1, len);
    assert_eq!(requests(&mut f, now), [(P1, 0), (P1, 1)]);
    assert_eq!(
        f.on_data(now, P1, 2, len, Bytes::new()),
        Err(MetadataError::InvalidPiece { piece: 2, num_pieces: 2 })
    );
    assert_eq!(
        f.on_data(now, P1, u32::MAX, len, Bytes::new()),
        Err(MetadataError::InvalidPiece { piece: u32::MAX, num_pieces: 2 })
    );
    assert_eq!(
        f.on_data(now, P1, 0, len + 1, Bytes::new()),
        Err(MetadataError::WrongTotalSize { got: len + 1, expected: len })
    );
    assert_eq!(
        f.on_data(now, P1, 1, len, Bytes::from_static(b"1234")),
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
    f.add_peer(P1, 0);
    assert!(requests(&mut f, now).is_empty());
    f.add_peer(P1, 100);
    assert_eq!(requests(&mut f, now), [(P1, 0)]);
}

#[test]
fn custom_timeout() {
    let bytes = metadata(100);
    let mut f = fetcher_for(&bytes).with_request_timeout(Duration::from_secs(3));
    let now = Instant::now();
    f.add_peer(P1, 100);
    assert_eq!(f.info_hash(), hash_of(&bytes));
    assert_eq!(requests(&mut f, now), [(P1, 0)]);
    assert_eq!(f.poll_timeout(), Some(now + Duration::from_secs(3)));
}
