//! Issue 15: a ccbt leecher with `direct_io` (O_DIRECT writes of the aligned part of each
//! verified piece) downloads from a ccbt seeder on loopback; the files are byte-identical, and a
//! fresh session without a checkpoint re-checks them all as complete.

mod common;

use std::path::Path;
use std::time::Duration;

use ccbt_engine::{AddTorrent, Session, SessionOptions, TorrentState};
use ccbt_metainfo::Torrent;
use common::*;

fn direct_options() -> SessionOptions {
    SessionOptions { direct_io: true, ..options() }
}

/// A new session with no checkpoint to trust: adding the torrent over `dir` checks every piece.
async fn recheck_is_complete(torrent: &Torrent, dir: &Path) {
    let state = tempfile::tempdir().unwrap();
    let opts = SessionOptions {
        checkpoint_enabled: false,
        state_dir: state.path().to_path_buf(),
        ..direct_options()
    };
    let session = Session::new(opts).await.unwrap();
    let id = session.add_torrent(AddTorrent::new(torrent.clone()).save_path(dir)).await.unwrap();
    wait_complete(&session, id, Duration::from_secs(60)).await;
    assert!(session.verified_pieces(id).unwrap().all(), "a piece failed the recheck");
    session.shutdown().await;
}

async fn fetch_direct(files: &[(&str, Vec<u8>)], piece_length: u32) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", files, piece_length);

    let seeder = Session::new(options()).await.unwrap();
    let seed_id = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, seed_id, Duration::from_secs(30)).await;

    let leecher = Session::new(direct_options()).await.unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(dst.path()).peers([seeder.listen_addr()]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    let status = leecher.status(id).unwrap();
    assert_eq!(status.state, TorrentState::Seeding);
    assert!(leecher.verified_pieces(id).unwrap().all());
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
    recheck_is_complete(&torrent, dst.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_io_single_file_with_short_unaligned_last_piece() {
    fetch_direct(&[("", data(40 * 65536 + 1000, 41))], 65536).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_io_multi_file_with_unaligned_boundaries() {
    let files = [
        ("a.bin", data(300_001, 42)),
        ("empty.txt", Vec::new()),
        ("dir/b.bin", data(4096 * 37, 43)),
        ("dir/sub/c.bin", data(5, 44)),
        ("d.bin", data(1_000_003, 45)),
    ];
    fetch_direct(&files, 65536).await;
}
