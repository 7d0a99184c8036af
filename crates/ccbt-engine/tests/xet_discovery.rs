//! Discovery of Xet chunk holders (docs/xet.md, "Discovery of chunk holders"): a session with a
//! chunk store announces the file and anchor keys of the files it holds on the DHT (three
//! sessions on loopback: a bootstrap node, the holder, a seeker), and answers a connection
//! whose info hash is one of those keys as an xet-only peer: `xet_cas` only, and only the
//! chunks and manifests of the files the key stands for.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_engine::{AddTorrent, Session, SessionOptions};
use ccbt_wire::ext::xet_cas::{RejectReason, XetMessage};
use ccbt_wire::Message;
use ccbt_xet::{anchor_key, chunk_id, file_key};
use common::raw_xet::RawXetPeer;
use common::xet::xet_torrent;
use common::*;

fn dht_options(state: &Path, bootstrap: Vec<String>, xet: bool) -> SessionOptions {
    SessionOptions {
        enable_dht: true,
        dht_port: 0,
        dht_bootstrap_nodes: bootstrap,
        state_dir: state.to_owned(),
        xet_store_dir: xet.then(|| state.join("xet")),
        ..options()
    }
}

async fn wait_until<F: std::future::Future<Output = bool>>(what: &str, mut check: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}: not in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls the seeker's DHT for holders of `key` until `holder` is among them.
async fn find(seeker: &Session, key: [u8; 20], holder: SocketAddr) -> SocketAddr {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let holders = seeker.xet_find_holders(key, Duration::from_secs(5)).await;
        if let Some(found) = holders.into_iter().find(|a| a.port() == holder.port()) {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "the holder is not found under the key");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_is_found_by_its_keys_and_serves_only_what_the_key_stands_for() {
    let states: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let boot = Session::new(dht_options(states[0].path(), Vec::new(), false)).await.unwrap();
    let boot_addr = boot.dht_status().await.expect("dht running").local_addr.to_string();

    // The holder has two datasets complete; both are indexed and announced.
    let src = tempfile::tempdir().unwrap();
    let (x_bytes, z_bytes) = (data(2 << 20, 61), data(1 << 20, 62));
    let x = xet_torrent(src.path(), "x.bin", &[("", &x_bytes)], 16384);
    let z = xet_torrent(src.path(), "z.bin", &[("", &z_bytes)], 16384);
    let holder = Session::new(dht_options(states[1].path(), vec![boot_addr.clone()], true)).await.unwrap();
    for t in [&x, &z] {
        let id = holder.add_torrent(AddTorrent::new(t.clone()).save_path(src.path())).await.unwrap();
        wait_complete(&holder, id, Duration::from_secs(60)).await;
    }
    let (x_root, z_root) = (x.xet_root_of(0).unwrap(), z.xet_root_of(0).unwrap());
    let (x_chunks, z_chunks) = (x.xet_layers[&x_root].clone(), z.xet_layers[&z_root].clone());
    let x_anchor = anchor_key(&x_chunks[0].id);
    wait_until("the holder announces the keys of both files", || {
        let keys = holder.xet_discovery_keys();
        async move { [file_key(&x_root), file_key(&z_root), x_anchor].iter().all(|k| keys.contains(k)) }
    })
    .await;
    // One key per file and per anchor, never one per chunk.
    assert!(holder.xet_discovery_keys().len() <= 6, "{:?}", holder.xet_discovery_keys().len());

    let seeker = Session::new(dht_options(states[2].path(), vec![boot_addr], false)).await.unwrap();
    let addr = find(&seeker, x_anchor, holder.listen_addr()).await;
    let addr = SocketAddr::new(holder.listen_addr().ip(), addr.port());

    // Connected under X's anchor key: an xet-only peer answering with that key.
    let mut peer =
        RawXetPeer::connect("127.0.0.2", addr, InfoHash(x_anchor)).await.expect("xet-only handshake");
    assert_eq!(peer.remote_info_hash, InfoHash(x_anchor));
    let (wanted, other) = (x_chunks[3], z_chunks[1]);
    peer.send_xet(&XetMessage::Query { req: 1, ids: vec![wanted.id, other.id, [0xEE; 32]] }).await;
    // Z's chunk is held but not under this key: the answer says no, as for an unknown id.
    assert_eq!(
        peer.next_xet().await,
        Some(XetMessage::QueryReply { req: 1, have: vec![true, false, false] })
    );
    peer.send_xet(&XetMessage::ChunkReq { req: 2, id: wanted.id, off: 0, len: 0 }).await;
    match peer.next_xet().await.unwrap() {
        XetMessage::Chunk { req: 2, id, off: 0, data } => {
            assert_eq!((id, chunk_id(&data), data.len()), (wanted.id, wanted.id, wanted.len as usize));
        }
        other => panic!("expected the chunk, got {other:?}"),
    }
    peer.send_xet(&XetMessage::ChunkReq { req: 3, id: other.id, off: 0, len: 0 }).await;
    let refused = peer.next_xet().await;
    assert_eq!(refused, Some(XetMessage::Reject { req: 3, id: other.id, reason: RejectReason::Absent }));
    peer.send_xet(&XetMessage::ManifestReq { req: 4, root: x_root, start: 0, count: 2048 }).await;
    match peer.next_xet().await.unwrap() {
        XetMessage::Manifest { req: 4, total, entries, .. } => {
            assert_eq!((total as usize, entries), (x_chunks.len(), x_chunks.clone()));
        }
        other => panic!("expected the manifest, got {other:?}"),
    }
    peer.send_xet(&XetMessage::ManifestReq { req: 5, root: z_root, start: 0, count: 1 }).await;
    assert!(matches!(
        peer.next_xet().await,
        Some(XetMessage::Reject { req: 5, reason: RejectReason::Absent, .. })
    ));

    // Under Z's file key the same connection-level rules give Z's chunks.
    let mut by_file = RawXetPeer::connect("127.0.0.3", addr, InfoHash(file_key(&z_root))).await.unwrap();
    by_file.send_xet(&XetMessage::Query { req: 1, ids: vec![wanted.id, other.id] }).await;
    assert_eq!(by_file.next_xet().await, Some(XetMessage::QueryReply { req: 1, have: vec![false, true] }));

    // A key nobody announced gets no handshake; a malformed xet_cas message ends the connection.
    assert!(RawXetPeer::connect("127.0.0.4", addr, InfoHash([0x42; 20])).await.is_none());
    let id = peer.remote_xet;
    peer.send(Message::Extended { id, payload: vec![0x07, 1, 2].into() }).await;
    while peer.next().await.is_some() {}
    by_file.send_xet(&XetMessage::Query { req: 2, ids: vec![other.id] }).await;
    assert_eq!(by_file.next_xet().await, Some(XetMessage::QueryReply { req: 2, have: vec![true] }));

    seeker.shutdown().await;
    holder.shutdown().await;
    boot.shutdown().await;
}
