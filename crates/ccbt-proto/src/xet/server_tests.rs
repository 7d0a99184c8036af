use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_wire::ext::xet_cas::{RejectReason, XetMessage};
use ccbt_xet::{ChunkId, ChunkRef};

use super::tests::{file_bytes, synthetic_manifest, TestStore};
use super::*;

fn setup() -> (TestStore, ChunkId, Vec<ChunkRef>, Instant) {
    let mut store = TestStore::default();
    let (root, entries) = store.add_file(&file_bytes(400 * 1024, 3));
    (store, root, entries, Instant::now())
}

fn unchoked(config: ServerConfig, now: Instant) -> XetServer {
    let mut server = XetServer::new(config, true, now);
    assert!(server.set_choked(false).is_empty());
    server
}

fn chunk_req(req: u32, id: ChunkId, off: u32, len: u32) -> XetMessage {
    XetMessage::ChunkReq { req, id, off, len }
}

fn rejected(req: u32, id: ChunkId, reason: RejectReason) -> ServerAction {
    ServerAction::Send(XetMessage::Reject { req, id, reason })
}

#[test]
fn choked_peers_learn_nothing_about_the_store() {
    let (store, _, entries, now) = setup();
    let mut server = XetServer::new(ServerConfig::default(), true, now);
    let held = entries[0].id;
    for (req, id) in [(1, held), (2, [0xEE; 32])] {
        assert_eq!(
            server.handle(&chunk_req(req, id, 0, 0), &store, now),
            rejected(req, id, RejectReason::Choked)
        );
    }
    assert_eq!(store.lookups.get(), 0, "the store is not consulted for a choked peer");
}

#[test]
fn whole_chunks_and_slices_are_served_verified() {
    let (store, _, entries, now) = setup();
    let mut server = unchoked(ServerConfig::default(), now);
    let e = *entries.iter().max_by_key(|e| e.len).unwrap();
    assert!(e.len > 16384 + 100, "{e:?}");
    let bytes = store.chunks[&e.id].clone();

    let ServerAction::Read(read) = server.handle(&chunk_req(7, e.id, 0, 0), &store, now) else { panic!() };
    assert_eq!(read, ReadRequest { req: 7, id: e.id, chunk_len: e.len, off: 0, len: e.len });
    assert_eq!(
        server.complete_read(7, &bytes),
        ReadOutcome::Send(XetMessage::Chunk { req: 7, id: e.id, off: 0, data: bytes.clone() })
    );

    let ServerAction::Read(read) = server.handle(&chunk_req(8, e.id, 100, 16384), &store, now) else {
        panic!()
    };
    assert_eq!((read.off, read.len), (100, 16384));
    let ReadOutcome::Send(XetMessage::Chunk { off, data, .. }) = server.complete_read(8, &bytes) else {
        panic!()
    };
    assert_eq!((off, &data[..]), (100, &bytes[100..100 + 16384]));
    assert_eq!(server.outstanding(), 0);
}

#[test]
fn bad_chunk_requests_are_rejected() {
    let (store, _, entries, now) = setup();
    let mut server = unchoked(ServerConfig::default(), now);
    let e = entries[0];
    let absent = [0xEE; 32];
    assert_eq!(
        server.handle(&chunk_req(1, absent, 0, 0), &store, now),
        rejected(1, absent, RejectReason::Absent)
    );
    // A range past the chunk's end, by one byte.
    let past = chunk_req(2, e.id, e.len - 10, 11);
    assert_eq!(server.handle(&past, &store, now), rejected(2, e.id, RejectReason::Malformed));
    assert!(matches!(server.handle(&chunk_req(3, e.id, e.len - 10, 10), &store, now), ServerAction::Read(_)));
    // The same request id again while the first is pending.
    assert_eq!(
        server.handle(&chunk_req(3, e.id, 0, 0), &store, now),
        rejected(3, e.id, RejectReason::Malformed)
    );
    assert_eq!(server.outstanding(), 1);
}

#[test]
fn more_than_rq_outstanding_is_overload() {
    let (store, _, entries, now) = setup();
    let mut server = unchoked(ServerConfig { max_outstanding: 2, ..Default::default() }, now);
    let id = entries[0].id;
    for req in 0..2 {
        assert!(matches!(server.handle(&chunk_req(req, id, 0, 0), &store, now), ServerAction::Read(_)));
    }
    assert_eq!(server.handle(&chunk_req(2, id, 0, 0), &store, now), rejected(2, id, RejectReason::Overload));
    assert!(matches!(server.complete_read(0, &store.chunks[&id]), ReadOutcome::Send(_)));
    assert!(matches!(server.handle(&chunk_req(3, id, 0, 0), &store, now), ServerAction::Read(_)));
}

#[test]
fn cancel_and_choke_drop_queued_answers() {
    let (store, _, entries, now) = setup();
    let mut server = unchoked(ServerConfig::default(), now);
    let id = entries[0].id;
    let bytes = store.chunks[&id].clone();
    for req in 0..3 {
        assert!(matches!(server.handle(&chunk_req(req, id, 0, 0), &store, now), ServerAction::Read(_)));
    }
    assert_eq!(server.handle(&XetMessage::Cancel { req: 0 }, &store, now), ServerAction::Nothing);
    assert_eq!(server.complete_read(0, &bytes), ReadOutcome::Dropped);
    // A cancel of something never asked is a harmless race.
    assert_eq!(server.handle(&XetMessage::Cancel { req: 99 }, &store, now), ServerAction::Nothing);

    let rejects = server.set_choked(true);
    let expected: Vec<_> =
        (1..3).map(|req| XetMessage::Reject { req, id, reason: RejectReason::Choked }).collect();
    assert_eq!(rejects, expected);
    assert_eq!(server.complete_read(1, &bytes), ReadOutcome::Dropped);
    assert_eq!(server.read_failed(2), None);
    assert_eq!(server.outstanding(), 0);
}

#[test]
fn stale_store_and_failed_reads_answer_absent() {
    let (store, _, entries, now) = setup();
    let mut server = unchoked(ServerConfig::default(), now);
    let id = entries[0].id;
    let mut wrong = store.chunks[&id].to_vec();
    wrong[0] ^= 1;
    let ServerAction::Read(_) = server.handle(&chunk_req(1, id, 0, 0), &store, now) else { panic!() };
    let absent = XetMessage::Reject { req: 1, id, reason: RejectReason::Absent };
    assert_eq!(server.complete_read(1, &Bytes::from(wrong)), ReadOutcome::Stale(absent));
    let ServerAction::Read(_) = server.handle(&chunk_req(2, id, 0, 0), &store, now) else { panic!() };
    let short = store.chunks[&id].slice(1..);
    assert!(matches!(server.complete_read(2, &short), ReadOutcome::Stale(_)));
    let ServerAction::Read(_) = server.handle(&chunk_req(3, id, 0, 0), &store, now) else { panic!() };
    assert_eq!(server.read_failed(3), Some(XetMessage::Reject { req: 3, id, reason: RejectReason::Absent }));
    assert_eq!(server.read_failed(3), None);
}

#[test]
fn manifest_requests() {
    let now = Instant::now();
    let (root, entries) = synthetic_manifest(3000);
    let mut store = TestStore::default();
    store.manifests.insert(root, entries.clone());
    store.manifests.insert([0; 32], Vec::new());
    let mut server = XetServer::new(ServerConfig::default(), false, now);
    let ask = |req, root, start, count| XetMessage::ManifestReq { req, root, start, count };

    let ServerAction::Send(XetMessage::Manifest { total, start, entries: page, .. }) =
        server.handle(&ask(1, root, 2048, 2048), &store, now)
    else {
        panic!()
    };
    assert_eq!((total, start, &page[..]), (3000, 2048, &entries[2048..]));
    assert_eq!(
        server.handle(&ask(2, [9; 32], 0, 1), &store, now),
        rejected(2, [9; 32], RejectReason::Absent)
    );
    for start in [3000, 5000] {
        assert_eq!(
            server.handle(&ask(3, root, start, 1), &store, now),
            rejected(3, root, RejectReason::Malformed)
        );
    }
    // The empty file's manifest: no entries, and the only start is 0.
    let empty = XetMessage::Manifest { req: 4, root: [0; 32], total: 0, start: 0, entries: vec![] };
    assert_eq!(server.handle(&ask(4, [0; 32], 0, 5), &store, now), ServerAction::Send(empty));
}

/// A store that returns more entries than asked, and a total that contradicts them.
struct SloppyStore;

impl ChunkStore for SloppyStore {
    fn chunk_len(&self, _: &ChunkId) -> Option<u32> {
        None
    }

    fn manifest_page(&self, _: &ChunkId, _: u32, _: u32) -> Option<ManifestPage> {
        Some(ManifestPage { total: 10, entries: vec![ChunkRef { id: [1; 32], len: 1 }; 5000] })
    }
}

#[test]
fn pages_stay_consistent_whatever_the_store_returns() {
    let now = Instant::now();
    let mut server = XetServer::new(ServerConfig::default(), true, now);
    let ask = XetMessage::ManifestReq { req: 1, root: [1; 32], start: 4, count: 3 };
    let ServerAction::Send(XetMessage::Manifest { entries, total, .. }) =
        server.handle(&ask, &SloppyStore, now)
    else {
        panic!()
    };
    assert_eq!((entries.len(), total), (3, 10));
    let ask = XetMessage::ManifestReq { req: 2, root: [1; 32], start: 8, count: 2048 };
    let ServerAction::Send(msg) = server.handle(&ask, &SloppyStore, now) else { panic!() };
    assert!(matches!(&msg, XetMessage::Manifest { entries, .. } if entries.len() == 2));
    assert!(XetMessage::decode(&msg.encode()).is_ok());
}

#[test]
fn queries_are_answered_only_to_trusted_peers() {
    let (store, _, entries, now) = setup();
    let ids = vec![entries[0].id, [0xEE; 32], entries[1].id];
    let query = XetMessage::Query { req: 5, ids };
    let mut stranger = XetServer::new(ServerConfig::default(), false, now);
    let blank = ServerAction::Send(XetMessage::QueryReply { req: 5, have: vec![false; 3] });
    assert_eq!(stranger.handle(&query, &store, now), blank);
    assert!(!stranger.is_trusted());
    stranger.note_received_data();
    let truth = ServerAction::Send(XetMessage::QueryReply { req: 5, have: vec![true, false, true] });
    assert_eq!(stranger.handle(&query, &store, now), truth);
    // Sharing a torrent is enough, and choking does not matter for QUERY.
    let mut neighbour = XetServer::new(ServerConfig::default(), true, now);
    assert_eq!(neighbour.handle(&query, &store, now), truth);
}

#[test]
fn query_floods_are_rate_limited_per_minute() {
    let (store, _, _, start) = setup();
    let config = ServerConfig { query_ids_per_minute: 600, query_burst: 512, ..Default::default() };
    let mut server = XetServer::new(config, true, start);
    let full = |req| XetMessage::Query { req, ids: vec![[7; 32]; 256] };
    let overload = |req| rejected(req, [0; 32], RejectReason::Overload);
    assert!(matches!(
        server.handle(&full(0), &store, start),
        ServerAction::Send(XetMessage::QueryReply { .. })
    ));
    assert!(matches!(
        server.handle(&full(1), &store, start),
        ServerAction::Send(XetMessage::QueryReply { .. })
    ));
    // The burst is spent: a flood gets overload, and does not look anything up.
    let lookups = store.lookups.get();
    for req in 2..1000 {
        assert_eq!(server.handle(&full(req), &store, start), overload(req));
    }
    assert_eq!(store.lookups.get(), lookups);
    // 600 ids a minute: 256 more after 25.6 s, not before; time in calls that fail counts too.
    let t = start + Duration::from_millis(25_599);
    assert_eq!(server.handle(&full(1000), &store, t), overload(1000));
    let t = start + Duration::from_millis(25_600);
    assert!(matches!(
        server.handle(&full(1001), &store, t),
        ServerAction::Send(XetMessage::QueryReply { .. })
    ));
    // Idle for an hour: back to the burst, not an hour's worth.
    let t = t + Duration::from_secs(3600);
    for req in 0..2 {
        assert!(matches!(
            server.handle(&full(req), &store, t),
            ServerAction::Send(XetMessage::QueryReply { .. })
        ));
    }
    assert_eq!(server.handle(&full(2), &store, t), overload(2));
}

#[test]
fn answers_and_notices_are_not_requests() {
    let (store, root, _, now) = setup();
    let mut server = unchoked(ServerConfig::default(), now);
    for msg in [
        XetMessage::HaveRange { root, start: 0, count: 1 },
        XetMessage::QueryReply { req: 0, have: vec![true] },
        XetMessage::Chunk { req: 0, id: root, off: 0, data: Bytes::from_static(b"x") },
    ] {
        assert_eq!(server.handle(&msg, &store, now), ServerAction::Nothing);
    }
    assert_eq!(store.lookups.get(), 0);
}
