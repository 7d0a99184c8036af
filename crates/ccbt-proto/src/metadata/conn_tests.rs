//! The metadata-phase connection machine against scripted peers: stalled peers give their slot
//! back, rejects stay bounded, PEX is rate limited, liars are told apart from honest peers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_core::InfoHash;
use ccbt_wire::ext::metadata::{MetadataMessage, METADATA_PIECE_LEN};
use ccbt_wire::ext::pex::{PexFlags, PexMessage};
use ccbt_wire::ext::{ExtHandshake, UT_METADATA};
use ccbt_wire::Message;
use sha1::{Digest, Sha1};

use super::*;
use crate::swarm::{OUR_UT_METADATA, OUR_UT_PEX};
use crate::PeerKey;

/// The id the scripted peers advertise for `ut_metadata`.
const THEIR_ID: u8 = 3;

fn addr(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)), 6881)
}

fn opts() -> ConnOptions {
    ConnOptions { listen_port: 6881, pex: true, fast: true, client: "test".into() }
}

fn ext_handshake(size: u64) -> Message {
    let hs = ExtHandshake {
        m: vec![(UT_METADATA.into(), THEIR_ID)],
        metadata_size: Some(size),
        ..Default::default()
    };
    Message::Extended { id: 0, payload: hs.encode() }
}

fn ours(msg: MetadataMessage) -> Message {
    Message::Extended { id: OUR_UT_METADATA, payload: msg.encode() }
}

/// Drains the connection's transmits; returns the metadata requests among them.
fn drain(conn: &mut MetadataConn, now: Instant, f: &mut MetadataFetcher) -> Vec<MetadataMessage> {
    let mut out = Vec::new();
    while let Some(msg) = conn.poll_transmit(now, f) {
        if let Message::Extended { id: THEIR_ID, payload } = msg {
            out.push(MetadataMessage::decode(payload).unwrap());
        }
    }
    out
}

fn fetcher_for(bytes: &[u8]) -> MetadataFetcher {
    MetadataFetcher::new(InfoHash(Sha1::digest(bytes).into()), DEFAULT_MAX_METADATA_SIZE)
}

#[test]
fn opening_messages_then_requests() {
    let bytes = vec![1u8; 100];
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    let mut conn = MetadataConn::new(now, PeerKey(1), addr(2), &opts());
    assert_eq!(conn.poll_transmit(now, &mut f), Some(Message::HaveNone));
    assert!(matches!(conn.poll_transmit(now, &mut f), Some(Message::Extended { id: 0, .. })));
    assert_eq!(conn.poll_transmit(now, &mut f), None);
    conn.handle_message(now, ext_handshake(100), &mut f).unwrap();
    assert_eq!(drain(&mut conn, now, &mut f), [MetadataMessage::Request { piece: 0 }]);
    let data = ours(MetadataMessage::Data { piece: 0, total_size: 100, data: Bytes::from(bytes.clone()) });
    conn.handle_message(now, data, &mut f).unwrap();
    assert_eq!(conn.poll_event(), Some(ConnEvent::PieceAccepted { piece: 0, total_size: 100 }));
    assert_eq!(conn.poll_event(), Some(ConnEvent::Verified(bytes)));
    assert_eq!(conn.handle_timeout(now, &f), Err(ConnEnd::Complete));
}

#[test]
fn keepalive_only_peers_are_evicted_at_the_deadlines() {
    let mut f = fetcher_for(b"x");
    let t0 = Instant::now();
    // No extension handshake at all.
    let mut silent = MetadataConn::new(t0, PeerKey(1), addr(2), &opts());
    // An extension handshake, then only keepalives.
    let mut idle = MetadataConn::new(t0, PeerKey(2), addr(3), &opts());
    idle.handle_message(t0, ext_handshake(1), &mut f).unwrap();
    let t1 = t0 + EXT_HANDSHAKE_DEADLINE;
    for conn in [&mut silent, &mut idle] {
        conn.handle_message(t1 - Duration::from_millis(1), Message::KeepAlive, &mut f).unwrap();
    }
    assert_eq!(silent.poll_timeout(&f).map(|t| t <= t1), Some(true));
    assert_eq!(silent.handle_timeout(t1, &f), Err(ConnEnd::ExtHandshakeTimeout));
    assert_eq!(idle.handle_timeout(t1, &f), Ok(()));
    let t2 = t0 + SERVE_DEADLINE;
    idle.handle_message(t2 - Duration::from_millis(1), Message::KeepAlive, &mut f).unwrap();
    assert_eq!(idle.handle_timeout(t2, &f), Err(ConnEnd::Stalled));
}

#[test]
fn a_peer_that_serves_keeps_its_slot() {
    let bytes: Vec<u8> = (0..3 * METADATA_PIECE_LEN).map(|i| (i % 251) as u8).collect();
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes).with_request_timeout(SERVE_DEADLINE * 2);
    let t0 = Instant::now();
    let mut conn = MetadataConn::new(t0, PeerKey(1), addr(2), &opts());
    conn.handle_message(t0, ext_handshake(bytes.len() as u64), &mut f).unwrap();
    let mut now = t0;
    let mut asked = std::collections::VecDeque::new();
    for _ in 0..3 {
        // Each piece comes just before the deadline counted from the previous one.
        now += SERVE_DEADLINE - Duration::from_secs(1);
        asked.extend(drain(&mut conn, now, &mut f));
        let Some(MetadataMessage::Request { piece }) = asked.pop_front() else { panic!("no request") };
        assert_eq!(conn.handle_timeout(now, &f), Ok(()));
        conn.handle_message(now, ours(server.answer(piece)), &mut f).unwrap();
    }
    assert_eq!(conn.pieces_delivered(), 3);
}

#[test]
fn rejects_to_a_peer_that_does_not_read_stay_bounded() {
    let mut f = fetcher_for(b"x");
    let now = Instant::now();
    let mut conn = MetadataConn::new(now, PeerKey(1), addr(2), &opts());
    conn.handle_message(now, ext_handshake(1), &mut f).unwrap();
    // The engine writes nothing while the peer's write buffer is full: only the machine queues.
    for piece in 0..10_000 {
        conn.handle_message(now, ours(MetadataMessage::Request { piece }), &mut f).unwrap();
    }
    let rejects = drain(&mut conn, now, &mut f)
        .into_iter()
        .filter(|m| matches!(m, MetadataMessage::Reject { .. }))
        .count();
    assert_eq!(rejects, MAX_QUEUED_REJECTS);
}

#[test]
fn pex_in_the_metadata_phase_is_rate_limited_and_capped() {
    let mut f = fetcher_for(b"x");
    let now = Instant::now();
    let mut conn = MetadataConn::new(now, PeerKey(1), addr(2), &opts());
    let mut msg = PexMessage::default();
    for i in 0..100u16 {
        let a =
            std::net::SocketAddrV4::new(Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250) as u8 + 1), 7000);
        msg.added.push((a, PexFlags::default()));
    }
    let pex = Message::Extended { id: OUR_UT_PEX, payload: msg.encode() };
    let mut learnt = 0;
    for _ in 0..100 {
        conn.handle_message(now, pex.clone(), &mut f).unwrap();
        while let Some(event) = conn.poll_event() {
            if let ConnEvent::Peers(peers) = event {
                assert!(peers.len() <= MAX_PEX_PEERS);
                learnt += peers.len();
            }
        }
    }
    // A hundred messages at once: the first is used (up to the cap), the repeats add nothing
    // new and the flood beyond the rate limit is not read at all.
    assert_eq!(learnt, MAX_PEX_PEERS);
}

#[test]
fn a_liar_is_closed_and_honest_peers_are_not() {
    let bytes: Vec<u8> = (0..2 * METADATA_PIECE_LEN).map(|i| (i % 13) as u8).collect();
    let len = bytes.len() as u64;
    let server = MetadataServer::new(Bytes::from(bytes.clone()));
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    let mut conns: Vec<MetadataConn> =
        (0..3u8).map(|n| MetadataConn::new(now, PeerKey(n.into()), addr(n + 2), &opts())).collect();
    for conn in &mut conns {
        conn.handle_message(now, ext_handshake(len), &mut f).unwrap();
    }
    let mut verified = None;
    for _ in 0..10 {
        for (n, conn) in conns.iter_mut().enumerate() {
            for request in drain(conn, now, &mut f) {
                let MetadataMessage::Request { piece } = request else { continue };
                let answer = match server.answer(piece) {
                    MetadataMessage::Data { piece, total_size, data } if n == 0 => {
                        MetadataMessage::Data { piece, total_size, data: Bytes::from(vec![0xAA; data.len()]) }
                    }
                    honest => honest,
                };
                conn.handle_message(now, ours(answer), &mut f).unwrap();
                while let Some(event) = conn.poll_event() {
                    if let ConnEvent::Verified(m) = event {
                        verified = Some(m);
                    }
                }
            }
            // Until the metadata verifies, nobody is closed: a mismatch names no one yet.
            if verified.is_none() {
                assert_eq!(conn.handle_timeout(now, &f), Ok(()));
            }
        }
    }
    assert_eq!(verified, Some(bytes));
    assert_eq!(conns[0].handle_timeout(now, &f), Err(ConnEnd::Lied));
    assert_eq!(conns[1].handle_timeout(now, &f), Err(ConnEnd::Complete));
    assert_eq!(conns[2].handle_timeout(now, &f), Err(ConnEnd::Complete));
}

#[test]
fn a_later_extension_handshake_does_not_change_the_size_vote() {
    let mut f = fetcher_for(b"x");
    let now = Instant::now();
    let mut conn = MetadataConn::new(now, PeerKey(1), addr(2), &opts());
    conn.handle_message(now, ext_handshake(100), &mut f).unwrap();
    assert_eq!(f.metadata_size(), Some(100));
    for size in [200, 300, 100, 400] {
        conn.handle_message(now, ext_handshake(size), &mut f).unwrap();
        assert_eq!(f.metadata_size(), Some(100));
    }
}

#[test]
fn requests_handed_to_another_connection_change_the_generation() {
    let bytes = vec![1u8; 3 * METADATA_PIECE_LEN];
    let mut f = fetcher_for(&bytes);
    let now = Instant::now();
    let mut a = MetadataConn::new(now, PeerKey(1), addr(2), &opts());
    let mut b = MetadataConn::new(now, PeerKey(2), addr(3), &opts());
    a.handle_message(now, ext_handshake(bytes.len() as u64), &mut f).unwrap();
    b.handle_message(now, ext_handshake(bytes.len() as u64), &mut f).unwrap();
    let before = f.generation();
    // A's poll hands pieces to B as well; B's driver must be woken to send them.
    assert_eq!(drain(&mut a, now, &mut f).len(), 2);
    assert_ne!(f.generation(), before);
    assert_eq!(drain(&mut b, now, &mut f).len(), 1);
}
