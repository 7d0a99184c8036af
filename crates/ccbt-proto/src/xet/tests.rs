//! Negotiation, and a fetcher and a server talking through the wire codec.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use ccbt_wire::ext::xet_cas::XetMessage;
use ccbt_wire::ext::{ExtHandshake, XetHandshake, XET_CAS};
use ccbt_xet::{chunk_id, file_hash, ChunkId, ChunkRef, FileHasher};

use super::*;

/// A chunk store over maps, counting its lookups (to show when the server does not look).
#[derive(Default)]
pub(super) struct TestStore {
    pub chunks: BTreeMap<ChunkId, Bytes>,
    pub manifests: BTreeMap<ChunkId, Vec<ChunkRef>>,
    pub lookups: Cell<usize>,
}

impl TestStore {
    /// Chunks `data` as a file: stores its chunks and manifest, returns its root and entries.
    pub fn add_file(&mut self, data: &[u8]) -> (ChunkId, Vec<ChunkRef>) {
        let mut hasher = FileHasher::new();
        hasher.update(data);
        let (root, entries) = hasher.finish();
        let mut at = 0;
        for e in &entries {
            self.chunks.insert(e.id, Bytes::copy_from_slice(&data[at..at + e.len as usize]));
            at += e.len as usize;
        }
        self.manifests.insert(root, entries.clone());
        (root, entries)
    }
}

impl ChunkStore for TestStore {
    fn chunk_len(&self, id: &ChunkId) -> Option<u32> {
        self.lookups.set(self.lookups.get() + 1);
        self.chunks.get(id).map(|c| c.len() as u32)
    }

    fn manifest_page(&self, root: &ChunkId, start: u32, count: u32) -> Option<ManifestPage> {
        self.lookups.set(self.lookups.get() + 1);
        let all = self.manifests.get(root)?;
        let from = (start as usize).min(all.len());
        let to = (from + count as usize).min(all.len());
        Some(ManifestPage { total: all.len() as u32, entries: all[from..to].to_vec() })
    }
}

/// Bytes that chunk into several chunks (a xorshift stream: no long runs).
pub(super) fn file_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A manifest of `n` made-up entries and its root: the fetcher checks entries against the root
/// only, so pages can be tested without megabytes of data.
pub(super) fn synthetic_manifest(n: u32) -> (ChunkId, Vec<ChunkRef>) {
    let entries: Vec<ChunkRef> =
        (0..n).map(|i| ChunkRef { id: chunk_id(&i.to_be_bytes()), len: 8192 + (i % 1000) }).collect();
    (file_hash(&entries), entries)
}

fn handshake(id: u8, xet: Option<XetHandshake>) -> ExtHandshake {
    ExtHandshake { m: vec![(XET_CAS.into(), id)], xet, ..Default::default() }
}

#[test]
fn negotiation_follows_version_scheme_and_limits() {
    let ours = our_handshake(64);
    assert_eq!(negotiate(&handshake(9, Some(ours.clone()))), Some(XetPeerCaps { ext_id: 9, rq: 64 }));
    // Through the bencoded handshake, as a peer sees it.
    let decoded = ExtHandshake::decode(&handshake(9, Some(ours.clone())).encode()).unwrap();
    assert_eq!(negotiate(&decoded), Some(XetPeerCaps { ext_id: 9, rq: 64 }));

    let only_v = XetHandshake { v: 1, ..Default::default() };
    assert_eq!(negotiate(&handshake(3, Some(only_v))), Some(XetPeerCaps { ext_id: 3, rq: DEFAULT_RQ }));
    let huge_rq = XetHandshake { rq: Some(100_000), ..ours.clone() };
    assert_eq!(negotiate(&handshake(3, Some(huge_rq))).map(|c| c.rq), Some(MAX_RQ));
    let zero_rq = XetHandshake { rq: Some(0), ..ours.clone() };
    assert_eq!(negotiate(&handshake(3, Some(zero_rq))).map(|c| c.rq), Some(1));

    // A version or chunking scheme we do not know: the extension is ignored, not guessed at.
    for v in [0, 2, u32::MAX] {
        assert_eq!(negotiate(&handshake(3, Some(XetHandshake { v, ..ours.clone() }))), None, "v {v}");
    }
    let other_cdc = XetHandshake { cdc: Some("fastcdc-16k".into()), ..ours.clone() };
    assert_eq!(negotiate(&handshake(3, Some(other_cdc))), None);
    let small_mm = XetHandshake { mm: Some(65_536), ..ours.clone() };
    assert_eq!(negotiate(&handshake(3, Some(small_mm))), None);
    // Not listed, disabled (id 0), or no `xet` dictionary.
    assert_eq!(negotiate(&handshake(0, Some(ours.clone()))), None);
    assert_eq!(negotiate(&handshake(3, None)), None);
    assert_eq!(negotiate(&ExtHandshake { xet: Some(ours), ..Default::default() }), None);
}

#[test]
fn message_roles() {
    let id = [1; 32];
    let requests = [
        XetMessage::ManifestReq { req: 0, root: id, start: 0, count: 1 },
        XetMessage::ChunkReq { req: 0, id, off: 0, len: 0 },
        XetMessage::Query { req: 0, ids: vec![id] },
        XetMessage::Cancel { req: 0 },
    ];
    assert!(requests.iter().all(|m| is_request(m) && !is_answer(m)));
    let answers = [
        XetMessage::Manifest { req: 0, root: id, total: 0, start: 0, entries: vec![] },
        XetMessage::Chunk { req: 0, id, off: 0, data: Bytes::from_static(b"x") },
        XetMessage::QueryReply { req: 0, have: vec![true] },
        XetMessage::Reject { req: 0, id, reason: ccbt_wire::ext::xet_cas::RejectReason::Absent },
    ];
    assert!(answers.iter().all(|m| is_answer(m) && !is_request(m)));
    let notice = XetMessage::HaveRange { root: id, start: 0, count: 1 };
    assert!(!is_request(&notice) && !is_answer(&notice));
}

/// Carries a message over the wire codec, as two peers would.
fn wire(msg: &XetMessage) -> XetMessage {
    XetMessage::decode(&msg.encode()).expect("our messages decode")
}

/// The server's answer to `request`, reading from `store` when told to.
fn serve(server: &mut XetServer, store: &TestStore, request: &XetMessage, now: Instant) -> XetMessage {
    match server.handle(&wire(request), store, now) {
        ServerAction::Send(msg) => wire(&msg),
        ServerAction::Read(read) => match server.complete_read(read.req, &store.chunks[&read.id]) {
            ReadOutcome::Send(msg) => wire(&msg),
            other => panic!("read of a held chunk: {other:?}"),
        },
        ServerAction::Nothing => panic!("no answer to {request:?}"),
    }
}

#[test]
fn fetcher_and_server_exchange_a_file() {
    let now = Instant::now();
    let mut store = TestStore::default();
    let data = file_bytes(600 * 1024, 7);
    let (root, entries) = store.add_file(&data);
    assert!(entries.len() > 3, "{} chunks", entries.len());

    let caps = negotiate(&handshake(5, Some(our_handshake(4)))).unwrap();
    let mut fetcher = XetFetcher::new(&caps);
    let mut server = XetServer::new(ServerConfig { max_outstanding: 4, ..Default::default() }, true, now);
    server.set_choked(false);

    let ask = fetcher
        .request_manifest(root, max_manifest_entries(data.len() as u64), Some(data.len() as u64))
        .unwrap();
    let answer = serve(&mut server, &store, &ask, now);
    let FetchEvent::Manifest { root: got_root, entries: got } = fetcher.on_answer(answer).unwrap() else {
        panic!("manifest not complete")
    };
    assert_eq!((got_root, &got), (root, &entries));

    let mut assembled = Vec::new();
    for batch in got.chunks(caps.rq as usize) {
        let asks: Vec<_> = batch.iter().map(|e| fetcher.request_chunk(e.id, Some(e.len)).unwrap()).collect();
        assert!(!fetcher.has_room() || batch.len() < caps.rq as usize);
        for ask in asks {
            let FetchEvent::Chunk { data, .. } =
                fetcher.on_answer(serve(&mut server, &store, &ask, now)).unwrap()
            else {
                panic!("no chunk")
            };
            assembled.extend_from_slice(&data);
        }
    }
    assert_eq!(assembled, data);
    assert_eq!((fetcher.outstanding(), server.outstanding()), (0, 0));

    let query = fetcher.query(vec![entries[0].id, [0xEE; 32], entries[2].id]).unwrap();
    let FetchEvent::QueryReply { have, .. } =
        fetcher.on_answer(serve(&mut server, &store, &query, now)).unwrap()
    else {
        panic!("no reply")
    };
    assert_eq!(have, vec![true, false, true]);
}

#[test]
fn manifests_beyond_one_page_come_in_pages() {
    let now = Instant::now();
    let (root, entries) = synthetic_manifest(5000);
    let mut store = TestStore::default();
    store.manifests.insert(root, entries.clone());
    let mut fetcher = XetFetcher::new(&XetPeerCaps { ext_id: 1, rq: 1 });
    let mut server = XetServer::new(ServerConfig::default(), false, now);

    let mut ask = fetcher.request_manifest(root, 5000, None).unwrap();
    let mut pages = 1;
    let got = loop {
        match fetcher.on_answer(serve(&mut server, &store, &ask, now)).unwrap() {
            FetchEvent::ManifestProgress { next } => {
                assert!(!fetcher.has_room(), "the next page takes the freed slot");
                ask = next;
                pages += 1;
            }
            FetchEvent::Manifest { entries, .. } => break entries,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(pages, 3);
    assert_eq!(got, entries);
}
