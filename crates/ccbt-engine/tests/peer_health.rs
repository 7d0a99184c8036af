//! `Session::peers` reports each connection's health: rates, request latency, snubbing and the
//! score used to choose which connection makes room for a candidate.

mod common;

use std::time::Duration;

use ccbt_engine::{AddTorrent, Session};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_show_health_latency_and_snubbing() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    // a.bin is exactly six pieces, so its pieces hold none of b.bin.
    let files = [("a.bin", data(6 * 16384, 41)), ("b.bin", data(100_000, 42))];
    let torrent = make_torrent(src.path(), "health", &files, 16384);
    // The seeder lacks b.bin and the leecher wants only a.bin: once it has it, neither side is a
    // seed of the whole torrent, so the connection stays open to be inspected.
    std::fs::remove_file(src.path().join("health/b.bin")).unwrap();
    let seeder = Session::new(options()).await.unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(src.path()).select_files([0]);
    let sid = seeder.add_torrent(add).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;

    let leecher = Session::new(options()).await.unwrap();
    let add = AddTorrent::new(torrent).save_path(dst.path()).peers([seeder.listen_addr()]).select_files([0]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    let peers = leecher.peers(id).unwrap();
    assert_eq!(peers.len(), 1, "{peers:?}");
    let seed = &peers[0];
    assert!(seed.request_latency.is_some(), "blocks arrived: {seed:?}");
    assert!(!seed.snubbed, "{seed:?}");
    let health = seed.health.expect("the connection was handled");
    assert!((1..=1000).contains(&health), "{seed:?}");
    leecher.shutdown().await;
    seeder.shutdown().await;
}
