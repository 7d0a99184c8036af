//! File selection and priorities, ccbt seeding to ccbt over loopback: skipped files are not
//! created (only a piece shared with a wanted file puts bytes into one), and priorities changed
//! while the torrent runs take effect at once.

mod common;

use std::path::Path;
use std::time::Duration;

use ccbt_engine::{AddTorrent, FilePriority, Session, SessionOptions, TorrentId};
use ccbt_metainfo::Torrent;
use common::*;

const PIECE: u32 = 16384;

/// a.bin fills pieces 0-5 exactly; b.bin (pieces 6-9) shares piece 9 with c.bin (pieces 9-15).
fn files() -> [(&'static str, Vec<u8>); 3] {
    [
        ("a.bin", data(6 * PIECE as usize, 71)),
        ("dir/b.bin", data(50_000, 72)),
        ("dir/c.bin", data(100_000, 73)),
    ]
}

fn options_in(state: &Path) -> SessionOptions {
    SessionOptions { state_dir: state.to_path_buf(), ..options() }
}

async fn seeder(src: &Path, torrent: &Torrent) -> Session {
    let state = src.join(".state");
    let seeder = Session::new(options_in(&state)).await.unwrap();
    let id = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src)).await.unwrap();
    wait_complete(&seeder, id, Duration::from_secs(30)).await;
    seeder
}

fn priorities(session: &Session, id: TorrentId) -> Vec<FilePriority> {
    session.files(id).unwrap().iter().map(|f| f.priority).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skipped_files_are_not_created_and_hold_only_shared_piece_bytes() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let files = files();
    let torrent = make_torrent(src.path(), "sel", &files, PIECE);
    let seeder = seeder(src.path(), &torrent).await;

    let leecher = Session::new(options_in(state.path())).await.unwrap();
    let add = AddTorrent::new(torrent.clone())
        .save_path(dst.path())
        .peers([seeder.listen_addr()])
        .skip_files([0, 2]);
    let id = leecher.add_torrent(add).await.unwrap();
    assert!(!dst.path().join("sel/a.bin").exists(), "a skipped file is not created at start");
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    let status = leecher.status(id).unwrap();
    assert_eq!((status.pieces_total, status.total_bytes), (4, 4 * u64::from(PIECE)));
    assert_eq!(status.pieces_have, 4);
    let info = leecher.files(id).unwrap();
    assert_eq!(info.len(), 3);
    assert_eq!(priorities(&leecher, id), [FilePriority::Skip, FilePriority::Normal, FilePriority::Skip]);
    assert_eq!(info[1].path, Path::new("sel/dir/b.bin"));
    assert_eq!(info[1].bytes_verified, 50_000);
    // Piece 9 is bytes 147456..163840; c.bin starts at 148304.
    let shared = 163_840 - 148_304;
    assert_eq!(info[2].bytes_verified, shared as u64);
    assert_eq!(info[0].bytes_verified, 0);
    leecher.shutdown().await;
    seeder.shutdown().await;

    assert!(std::fs::read(dst.path().join("sel/dir/b.bin")).unwrap() == files[1].1, "b.bin differs");
    assert!(!dst.path().join("sel/a.bin").exists(), "a.bin shares no piece with b.bin: never created");
    let c = std::fs::read(dst.path().join("sel/dir/c.bin")).unwrap();
    assert_eq!(c.len(), shared, "c.bin holds exactly the shared piece's bytes");
    assert!(c[..] == files[2].1[..shared]);
    // c.bin was created by ccbt and is recorded as its own (index 2, with b.bin's 1).
    let record =
        std::fs::read_to_string(state.path().join("created").join(torrent.info_hash.to_hex())).unwrap();
    assert!(record.lines().last().unwrap().ends_with(" 1,2"), "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_skipped_file_set_to_high_while_running_downloads() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let files = files();
    let torrent = make_torrent(src.path(), "sel", &files, PIECE);
    let seeder = seeder(src.path(), &torrent).await;

    let leecher = Session::new(options_in(state.path())).await.unwrap();
    let add = AddTorrent::new(torrent.clone())
        .save_path(dst.path())
        .peers([seeder.listen_addr()])
        .select_files([1])
        .first_last_pieces(true);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    assert_eq!(leecher.status(id).unwrap().pieces_total, 4);

    // A bad index changes nothing.
    let err = leecher
        .set_file_priorities(id, &[(0, FilePriority::High), (3, FilePriority::Low)])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("file 3 does not exist (the torrent has 3 files"), "{err}");
    assert_eq!(priorities(&leecher, id), [FilePriority::Skip, FilePriority::Normal, FilePriority::Skip]);

    leecher.set_file_priorities(id, &[(0, FilePriority::High), (2, FilePriority::Low)]).await.unwrap();
    let status = leecher.status(id).unwrap();
    assert_eq!(status.pieces_total, torrent.num_pieces(), "progress counts the new selection at once");
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    assert_eq!(priorities(&leecher, id), [FilePriority::High, FilePriority::Normal, FilePriority::Low]);
    assert!(leecher.verified_pieces(id).unwrap().all());
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
}

/// A restart with every file selected continues the files the first run created (the skipped
/// c.bin holding only its shared piece) after checking them: ccbt's own, so nothing is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_selecting_everything_continues_the_skipped_files() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let files = files();
    let torrent = make_torrent(src.path(), "sel", &files, PIECE);
    let seeder = seeder(src.path(), &torrent).await;

    let first = Session::new(options_in(state.path())).await.unwrap();
    let add = AddTorrent::new(torrent.clone())
        .save_path(dst.path())
        .peers([seeder.listen_addr()])
        .select_files([1]);
    let id = first.add_torrent(add).await.unwrap();
    wait_complete(&first, id, Duration::from_secs(60)).await;
    first.shutdown().await;
    assert!(dst.path().join("sel/dir/c.bin").exists() && !dst.path().join("sel/a.bin").exists());

    let second = Session::new(options_in(state.path())).await.unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(dst.path()).peers([seeder.listen_addr()]);
    let id = second.add_torrent(add).await.unwrap();
    wait_complete(&second, id, Duration::from_secs(60)).await;
    let status = second.status(id).unwrap();
    assert_eq!(status.pieces_total, torrent.num_pieces());
    // The check found the first run's pieces: b.bin's four were not downloaded again.
    assert!(
        status.downloaded <= torrent.total_length - 4 * u64::from(PIECE) + u64::from(PIECE),
        "{status:?}"
    );
    second.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
}
