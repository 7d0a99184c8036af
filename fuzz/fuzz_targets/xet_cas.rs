//! `xet_cas` extension payloads from peers: never a panic, every cap of the specification
//! holds on what is accepted, what is accepted re-encodes to the same bytes, and the per-peer
//! server and fetcher of ccbt-proto take any decoded message without panicking.

#![no_main]

use std::time::Instant;

use ccbt_proto::xet::{
    is_answer, is_request, ChunkStore, FetchEvent, ManifestPage, PeerHaves, ServerConfig, XetFetcher,
    XetPeerCaps, XetServer,
};
use ccbt_wire::ext::xet_cas::{self, XetMessage};
use ccbt_xet::{chunk_id, ChunkId, ChunkRef};
use libfuzzer_sys::fuzz_target;

/// Holds one chunk (the bytes "xet") and one manifest of it.
struct OneChunk;

impl ChunkStore for OneChunk {
    fn chunk_len(&self, id: &ChunkId) -> Option<u32> {
        (*id == chunk_id(b"xet")).then_some(3)
    }

    fn manifest_page(&self, root: &ChunkId, start: u32, count: u32) -> Option<ManifestPage> {
        let entries = vec![ChunkRef { id: chunk_id(b"xet"), len: 3 }];
        let all = (*root == ccbt_xet::file_hash(&entries)).then_some(entries)?;
        let from = (start as usize).min(1);
        let to = (from + count as usize).min(1);
        Some(ManifestPage { total: 1, entries: all[from..to].to_vec() })
    }
}

fn check_caps(data: &[u8], msg: &XetMessage) {
    assert!(data.len() <= xet_cas::MAX_XET_MESSAGE);
    match msg {
        XetMessage::Manifest { entries, total, start, .. } => {
            assert!(entries.len() <= xet_cas::MAX_MANIFEST_ENTRIES as usize);
            assert!(u64::from(*start) + entries.len() as u64 <= u64::from(*total));
            assert!(entries.iter().all(|e| (1..=xet_cas::MAX_CHUNK_LEN).contains(&e.len)));
        }
        XetMessage::Query { ids, .. } => {
            assert!((1..=usize::from(xet_cas::MAX_QUERY_IDS)).contains(&ids.len()))
        }
        XetMessage::QueryReply { have, .. } => {
            assert!((1..=usize::from(xet_cas::MAX_QUERY_IDS)).contains(&have.len()))
        }
        XetMessage::HaveMap { n, bitfield, .. } => assert_eq!(bitfield.len(), (*n as usize).div_ceil(8)),
        XetMessage::Chunk { off, data, .. } => {
            assert!(!data.is_empty() && *off as usize + data.len() <= xet_cas::MAX_CHUNK_LEN as usize)
        }
        XetMessage::UpdateHint { salt, .. } => assert!(salt.len() <= xet_cas::MAX_SALT_LEN),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = XetMessage::decode(data) else { return };
    check_caps(data, &msg);
    assert_eq!(&msg.encode()[..], data);

    let now = Instant::now();
    let mut server = XetServer::new(ServerConfig::default(), true, now);
    server.set_choked(false);
    if is_request(&msg) {
        let _ = server.handle(&msg, &OneChunk, now);
    }
    let mut fetcher = XetFetcher::new(&XetPeerCaps { ext_id: 3, rq: 8 });
    let _ = fetcher.request_chunk(chunk_id(b"xet"), Some(3));
    let _ = fetcher.request_chunk([0; 32], None);
    let _ = fetcher.request_manifest([7; 32], 4, None);
    let _ = fetcher.query(vec![[1; 32]]);
    if is_answer(&msg) {
        if let Ok(FetchEvent::Chunk { id, data }) = fetcher.on_answer(msg.clone()) {
            assert_eq!(chunk_id(&data), id);
        }
    }
    let mut haves = PeerHaves::new();
    let _ = haves.watch([7; 32], 16);
    let _ = haves.on_notice(&msg);
});
