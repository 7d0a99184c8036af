//! ccbt seeds to ccbt over loopback.

mod common;

use std::time::Duration;

use ccbt_engine::{AddTorrent, Session, TorrentState};
use common::*;

async fn seed_and_fetch(files: &[(&str, Vec<u8>)], piece_length: u32) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", files, piece_length);

    let seeder = Session::new(options()).await.unwrap();
    let seed_id = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, seed_id, Duration::from_secs(30)).await;

    let leecher = Session::new(options()).await.unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(dst.path()).peers([seeder.listen_addr()]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    let status = leecher.status(id).unwrap();
    assert_eq!(status.pieces_have, status.pieces_total);
    assert_eq!(status.state, TorrentState::Seeding);
    assert!(status.downloaded >= torrent.total_length);
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_file_with_short_last_piece() {
    seed_and_fetch(&[("", data(5 * 32768 + 1000, 1))], 32768).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_file_unaligned_with_empty_file() {
    let files = [
        ("a.bin", data(40_000, 2)),
        ("empty.txt", Vec::new()),
        ("dir/b.bin", data(70_001, 3)),
        ("dir/sub/c.bin", data(5, 4)),
        ("d.bin", data(100_000, 5)),
    ];
    seed_and_fetch(&files, 16384).await;
}
