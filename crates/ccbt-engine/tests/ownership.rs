//! Issue 6 hole 3: ccbt never writes into a pre-existing file with data that it did not create,
//! unless the file already holds verified pieces of the torrent or the user allows it.
//! Sessions on loopback; each session keeps its state in a folder of its own.

mod common;

use std::path::Path;
use std::time::Duration;

use ccbt_engine::{AddTorrent, Session, SessionOptions, TorrentId, TorrentState};
use ccbt_metainfo::Torrent;
use common::*;
use tempfile::TempDir;

const PIECE: u32 = 16384;

fn files() -> [(&'static str, Vec<u8>); 2] {
    [("a.bin", data(40_000, 61)), ("b.bin", data(30_000, 62))]
}

fn options_in(state: &Path) -> SessionOptions {
    SessionOptions { state_dir: state.to_path_buf(), ..options() }
}

/// A seeding session for `payload` (made under a fresh folder) and what it needs to stay alive.
struct Seeder {
    session: Session,
    torrent: Torrent,
    src: TempDir,
    _state: TempDir,
}

async fn seeder() -> Seeder {
    let src = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let torrent = make_torrent(src.path(), "payload", &files(), PIECE);
    let session = Session::new(options_in(state.path())).await.unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(src.path());
    let id = session.add_torrent(add).await.unwrap();
    wait_complete(&session, id, Duration::from_secs(30)).await;
    Seeder { session, torrent, src, _state: state }
}

/// Waits until the torrent reaches `Error` and returns its reason (panics after `limit`).
async fn wait_error(session: &Session, id: TorrentId, limit: Duration) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let status = session.status(id).unwrap();
        if let TorrentState::Error(reason) = status.state {
            return reason.to_string();
        }
        assert!(!status.is_complete(), "completed although it must stop: {status:?}");
        assert!(tokio::time::Instant::now() < deadline, "no error in time: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes `bytes` as `dst/payload/a.bin`, the file a user (or another client) had there.
fn put_a(dst: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(dst.join("payload")).unwrap();
    std::fs::write(dst.join("payload/a.bin"), bytes).unwrap();
}

fn user_file() -> Vec<u8> {
    b"my own notes, not part of any torrent\n".repeat(30)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_file_is_left_intact_and_the_torrent_stops_naming_it() {
    let seed = seeder().await;
    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    put_a(dst.path(), &user_file());
    let leecher = Session::new(options_in(state.path())).await.unwrap();
    let add = AddTorrent::new(seed.torrent.clone()).save_path(dst.path()).peers([seed.session.listen_addr()]);
    let id = leecher.add_torrent(add).await.unwrap();
    let reason = wait_error(&leecher, id, Duration::from_secs(30)).await;
    assert!(reason.contains("payload/a.bin"), "{reason}");
    assert!(reason.contains("--overwrite") && reason.contains("move the file away"), "{reason}");
    leecher.shutdown().await;
    seed.session.shutdown().await;
    assert!(
        std::fs::read(dst.path().join("payload/a.bin")).unwrap() == user_file(),
        "the user's file changed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overwrite_replaces_a_foreign_file() {
    let seed = seeder().await;
    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    put_a(dst.path(), &user_file());
    let leecher = Session::new(options_in(state.path())).await.unwrap();
    let add = AddTorrent::new(seed.torrent.clone())
        .save_path(dst.path())
        .peers([seed.session.listen_addr()])
        .overwrite(true);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    leecher.shutdown().await;
    seed.session.shutdown().await;
    assert_same_files(&seed.torrent, seed.src.path(), dst.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_holding_verified_pieces_is_continued() {
    let seed = seeder().await;
    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // Another client's partial download: the first piece is right, the rest is not there yet.
    let mut partial = files()[0].1[..PIECE as usize + 100].to_vec();
    partial.extend_from_slice(&[0xAA; 500]);
    put_a(dst.path(), &partial);
    let leecher = Session::new(options_in(state.path())).await.unwrap();
    let add = AddTorrent::new(seed.torrent.clone()).save_path(dst.path()).peers([seed.session.listen_addr()]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    leecher.shutdown().await;
    seed.session.shutdown().await;
    assert_same_files(&seed.torrent, seed.src.path(), dst.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccbt_continues_its_own_partial_files_after_a_restart() {
    let seed = seeder().await;
    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // First run: no peers; ccbt creates the files, then stops.
    let first = Session::new(options_in(state.path())).await.unwrap();
    let id = first.add_torrent(AddTorrent::new(seed.torrent.clone()).save_path(dst.path())).await.unwrap();
    assert_eq!(first.status(id).unwrap().pieces_have, 0);
    first.shutdown().await;
    // Half a block landed before the interruption: not one piece verifies in ccbt's own file.
    let mut own = std::fs::read(dst.path().join("payload/a.bin")).unwrap();
    assert_eq!(own.len(), 40_000, "ccbt created and sized the file");
    own[..8192].copy_from_slice(&files()[0].1[..8192]);
    std::fs::write(dst.path().join("payload/a.bin"), &own).unwrap();

    // Without the record of what ccbt created (another state folder) the file is not ccbt's.
    let elsewhere = tempfile::tempdir().unwrap();
    let stranger = Session::new(options_in(elsewhere.path())).await.unwrap();
    let add = AddTorrent::new(seed.torrent.clone()).save_path(dst.path()).peers([seed.session.listen_addr()]);
    let id = stranger.add_torrent(add).await.unwrap();
    let reason = wait_error(&stranger, id, Duration::from_secs(30)).await;
    assert!(reason.contains("payload/a.bin"), "{reason}");
    stranger.shutdown().await;

    // The same state folder: ccbt knows the file is its own and finishes the download.
    let second = Session::new(options_in(state.path())).await.unwrap();
    let add = AddTorrent::new(seed.torrent.clone()).save_path(dst.path()).peers([seed.session.listen_addr()]);
    let id = second.add_torrent(add).await.unwrap();
    wait_complete(&second, id, Duration::from_secs(60)).await;
    second.shutdown().await;
    seed.session.shutdown().await;
    assert_same_files(&seed.torrent, seed.src.path(), dst.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_file_outside_the_selection_is_left_alone() {
    // a.bin ends on a piece boundary, so downloading b.bin alone never writes into it.
    let src = tempfile::tempdir().unwrap();
    let seed_state = tempfile::tempdir().unwrap();
    let files = [("a.bin", data(2 * PIECE as usize, 63)), ("b.bin", data(30_000, 64))];
    let torrent = make_torrent(src.path(), "payload", &files, PIECE);
    let seeder = Session::new(options_in(seed_state.path())).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;

    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    put_a(dst.path(), &user_file());
    let leecher = Session::new(options_in(state.path())).await.unwrap();
    let add = AddTorrent::new(torrent).save_path(dst.path()).peers([seeder.listen_addr()]).select_files([1]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert!(std::fs::read(dst.path().join("payload/b.bin")).unwrap() == files[1].1, "b.bin differs");
    assert!(
        std::fs::read(dst.path().join("payload/a.bin")).unwrap() == user_file(),
        "the user's file changed"
    );
}
