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
    assert!(leecher.verified_pieces(id).unwrap().all());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_selected_files_are_downloaded() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let files = [("a.bin", data(100_000, 31)), ("b.bin", data(50_000, 32)), ("c.bin", data(200_000, 33))];
    let torrent = make_torrent(src.path(), "sel", &files, 16384);
    let seeder = Session::new(options()).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;

    let leecher = Session::new(options()).await.unwrap();
    let add = AddTorrent::new(torrent.clone())
        .save_path(dst.path())
        .peers([seeder.listen_addr()])
        .select_files([1]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    let status = leecher.status(id).unwrap();
    // b.bin spans bytes 100000..150000: pieces 6..=9 of 16 KiB.
    assert_eq!(status.pieces_total, 4);
    assert_eq!(status.total_bytes, 4 * 16384);
    assert!(status.downloaded < torrent.total_length / 2, "{status:?}");
    leecher.shutdown().await;
    seeder.shutdown().await;
    let got = std::fs::read(dst.path().join("sel/b.bin")).unwrap();
    assert!(got == files[1].1, "the selected file differs");

    let bad = Session::new(options()).await.unwrap();
    let err =
        bad.add_torrent(AddTorrent::new(torrent).save_path(dst.path()).select_files([7])).await.unwrap_err();
    assert!(err.to_string().contains("selected file 7 does not exist"), "{err}");
    bad.shutdown().await;
}
