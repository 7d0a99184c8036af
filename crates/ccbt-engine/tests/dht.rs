//! A magnet link with no tracker and no `x.pe` resolves through the DHT alone (three ccbt
//! sessions with DHT nodes on loopback; nothing leaves the machine).

mod common;

use std::time::Duration;

use ccbt_engine::{AddTorrent, Session, SessionOptions};
use ccbt_metainfo::Magnet;
use common::*;

fn dht_options(state: &std::path::Path, bootstrap: Vec<String>) -> SessionOptions {
    SessionOptions {
        enable_dht: true,
        dht_port: 0,
        dht_bootstrap_nodes: bootstrap,
        state_dir: state.to_owned(),
        ..options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_resolves_through_the_dht_alone() {
    let states: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let boot = Session::new(dht_options(states[0].path(), Vec::new())).await.unwrap();
    let boot_addr = boot.dht_status().await.expect("dht running").local_addr.to_string();

    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let files = [("a.bin", data(200_000, 21)), ("b/c.bin", data(77_777, 22))];
    let torrent = make_torrent(src.path(), "dht-only", &files, 16384);

    let seeder = Session::new(dht_options(states[1].path(), vec![boot_addr.clone()])).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;

    let leecher = Session::new(dht_options(states[2].path(), vec![boot_addr])).await.unwrap();
    let magnet = Magnet::new(torrent.info_hash);
    let lid = leecher.add_torrent(AddTorrent::magnet(magnet).save_path(dst.path())).await.unwrap();
    wait_complete(&leecher, lid, Duration::from_secs(90)).await;

    let status = leecher.dht_status().await.unwrap();
    assert!(status.good_nodes + status.questionable_nodes >= 1, "{status:?}");
    leecher.shutdown().await;
    seeder.shutdown().await;
    boot.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
    // The routing table was saved for the next run.
    assert!(states[2].path().join("dht.dat").exists());
}
