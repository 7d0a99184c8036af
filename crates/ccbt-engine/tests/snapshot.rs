//! `Session::snapshot` after a loopback download: the torrent's figures, the session's sums, and
//! totals that stay when the torrent is removed (Prometheus counters never go down).

mod common;

use std::time::Duration;

use ccbt_engine::{AddTorrent, Session, TorrentState};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_counts_a_download_and_keeps_its_totals_after_removal() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let size = 10 * 16384 + 123;
    let torrent = make_torrent(src.path(), "snap", &[("a.bin", data(size, 7))], 16384);
    let seeder = Session::new(options()).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;

    let leecher = Session::new(options()).await.unwrap();
    let add = AddTorrent::new(torrent).save_path(dst.path()).peers([seeder.listen_addr()]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;

    let snap = leecher.snapshot().await;
    assert_eq!(snap.torrents.len(), 1);
    let t = &snap.torrents[0];
    assert_eq!(t.status.id, id);
    assert_eq!(t.status.state, TorrentState::Seeding);
    assert_eq!(t.status.pieces_have, 11);
    assert!(t.status.downloaded >= size as u64, "{t:?}");
    assert_eq!(t.connection_attempts.succeeded, 1, "{t:?}");
    assert_eq!(t.hash_failed_bytes, 0);
    assert!(snap.totals.downloaded >= size as u64);
    assert_eq!(snap.totals.connection_attempts, t.connection_attempts);
    assert!(snap.dht.is_none(), "the test sessions run without the DHT");
    let seeder_snap = seeder.snapshot().await;
    assert!(seeder_snap.totals.uploaded >= size as u64, "{:?}", seeder_snap.totals);

    let before = snap.totals;
    leecher.remove(id).await.unwrap();
    let after = leecher.snapshot().await;
    assert!(after.torrents.is_empty());
    assert!(after.totals.downloaded >= before.downloaded, "{before:?} then {:?}", after.totals);
    assert_eq!(after.totals.connection_attempts, before.connection_attempts);
    assert_eq!(after.download_rate, 0);
    leecher.shutdown().await;
    seeder.shutdown().await;
}
