//! The schedule of missing chunks a Xet torrent asks peers for.

use super::{ChunkAsk, ChunkSchedule, CHUNKS_PER_PEER, QUERY_IDS_PER_PEER};
use crate::PeerKey;
use ccbt_wire::ext::xet_cas::RejectReason;
use ccbt_xet::ChunkId;

fn id(n: u32) -> ChunkId {
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    id
}

fn schedule(n: u32) -> ChunkSchedule {
    ChunkSchedule::new((0..n).map(|i| (id(i), 1000 + i)))
}

const P: PeerKey = PeerKey(1);
const Q: PeerKey = PeerKey(2);

/// Queries `key` and answers that it holds the ids `holds` says.
fn query(s: &mut ChunkSchedule, key: PeerKey, holds: impl Fn(&ChunkId) -> bool) {
    for ids in s.queries_for(key) {
        let have: Vec<bool> = ids.iter().map(&holds).collect();
        s.on_query_reply(key, &ids, &have);
    }
}

#[test]
fn chunks_are_asked_only_of_peers_that_said_they_hold_them() {
    let mut s = schedule(3);
    s.add_peer(P, 64);
    s.add_peer(Q, 64);
    // Nothing is asked before the QUERY is answered.
    let queries = s.queries_for(P);
    assert_eq!(queries, vec![vec![id(0), id(1), id(2)]]);
    assert_eq!(s.next_request(P), None);
    s.on_query_reply(P, &queries[0], &[false, true, false]);
    query(&mut s, Q, |_| true);
    assert_eq!(s.next_request(P), Some(ChunkAsk { id: id(1), len: 1001 }));
    assert_eq!(s.next_request(P), None, "P holds nothing else");
    // Q gets the rest, never the chunk asked of P.
    assert_eq!(s.next_request(Q).map(|a| a.id), Some(id(0)));
    assert_eq!(s.next_request(Q).map(|a| a.id), Some(id(2)));
    assert_eq!(s.next_request(Q), None);
    assert!(s.on_chunk(P, &id(1)));
    assert!(!s.on_chunk(P, &id(0)), "not asked of P");
    assert!(s.on_chunk(Q, &id(0)) && s.on_chunk(Q, &id(2)));
    assert!(s.is_done());
    assert_eq!(s.progress(), (3, 3));
    assert!(!s.has_work_for(P) && !s.has_work_for(Q));
}

#[test]
fn a_refusal_or_a_peer_leaving_moves_the_chunk_to_another_peer() {
    let mut s = schedule(2);
    s.add_peer(P, 64);
    query(&mut s, P, |_| true);
    assert_eq!(s.next_request(P).map(|a| a.id), Some(id(0)));
    assert_eq!(s.next_request(P).map(|a| a.id), Some(id(1)));
    s.on_refused(P, &id(0), RejectReason::Absent);
    assert_eq!(s.next_request(P), None, "P refused chunk 0");
    s.add_peer(Q, 64);
    query(&mut s, Q, |_| true);
    assert_eq!(s.next_request(Q).map(|a| a.id), Some(id(0)));
    assert_eq!(s.next_request(Q), None, "chunk 1 is asked of P");
    s.remove_peer(P);
    assert_eq!(s.next_request(Q).map(|a| a.id), Some(id(1)));
    // A peer gone is never asked again; answers for it are ignored.
    assert!(!s.on_chunk(P, &id(1)));
    assert_eq!(s.next_request(P), None);
}

#[test]
fn a_peer_lacking_every_chunk_has_no_work_and_none_is_asked_twice_of_it() {
    let mut s = schedule(2);
    s.add_peer(P, 64);
    assert!(s.has_work_for(P), "its QUERY is still to send");
    query(&mut s, P, |_| false);
    assert!(!s.has_work_for(P));
    assert_eq!(s.next_request(P), None);
    assert!(s.queries_for(P).is_empty(), "queried once");
}

#[test]
fn in_flight_chunks_stay_within_the_peers_rq_and_the_cap() {
    let mut s = schedule(40);
    s.add_peer(P, 3);
    s.add_peer(Q, 1000);
    query(&mut s, P, |_| true);
    query(&mut s, Q, |_| true);
    let asked_p = std::iter::from_fn(|| s.next_request(P)).count();
    let asked_q = std::iter::from_fn(|| s.next_request(Q)).count();
    assert_eq!((asked_p, asked_q), (3, CHUNKS_PER_PEER as usize));
    // An answer frees a slot.
    let first = id(0);
    assert!(s.on_chunk(P, &first));
    assert!(s.next_request(P).is_some());
    assert!(s.next_request(P).is_none());
}

#[test]
fn overload_lowers_the_peers_pipeline_and_keeps_the_chunk_for_it() {
    let mut s = schedule(4);
    s.add_peer(P, 64);
    query(&mut s, P, |_| true);
    let asked: Vec<ChunkId> = std::iter::from_fn(|| s.next_request(P)).map(|a| a.id).collect();
    assert_eq!(asked.len(), 4);
    s.on_refused(P, &asked[3], RejectReason::Overload);
    // Three still in flight: the limit is now 3, so the refused chunk waits for a slot.
    assert_eq!(s.next_request(P), None);
    assert!(s.on_chunk(P, &asked[0]));
    assert_eq!(s.next_request(P).map(|a| a.id), Some(asked[3]));
}

#[test]
fn a_refused_query_lets_its_ids_be_asked_directly() {
    let mut s = schedule(2);
    s.add_peer(P, 64);
    let queries = s.queries_for(P);
    s.on_query_refused(P, &queries[0]);
    assert_eq!(s.next_request(P).map(|a| a.id), Some(id(0)));
}

#[test]
fn queries_cover_at_most_the_budget_and_the_rest_is_asked_without_one() {
    let n = QUERY_IDS_PER_PEER as u32 + 10;
    let mut s = schedule(n);
    s.add_peer(P, 64);
    let queries = s.queries_for(P);
    assert_eq!(queries.iter().map(Vec::len).collect::<Vec<_>>(), vec![256, 256]);
    // Until both answers are in, only chunks it said it holds could be asked: none yet.
    s.on_query_reply(P, &queries[0], &vec![false; 256]);
    assert_eq!(s.next_request(P), None);
    s.on_query_reply(P, &queries[1], &vec![false; 256]);
    // It lacks every queried chunk; the ten beyond the budget are asked directly.
    let asked: Vec<ChunkId> = std::iter::from_fn(|| s.next_request(P)).map(|a| a.id).collect();
    assert_eq!(asked, (QUERY_IDS_PER_PEER as u32..n).map(id).collect::<Vec<_>>());
}
