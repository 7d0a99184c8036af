//! Checkpoints through the library API: what a download writes (on completion, pause and
//! shutdown), resuming from it with no peer, and the sample of claimed pieces that catches a
//! checkpoint that does not describe the data.

mod common;

use std::path::Path;
use std::time::Duration;

use ccbt_engine::checkpoints::{Checkpoint, CheckpointFormat, CheckpointStore, TorrentState as Saved};
use ccbt_engine::{
    list_resumable_checkpoints, AddTorrent, Session, SessionOptions, TorrentLimits, TorrentState,
};
use ccbt_metainfo::Torrent;
use common::*;

const PIECE: u32 = 16384;
const SAVED_LIMITS: TorrentLimits = TorrentLimits { download: 0, upload: 64 * 1024 };

fn options_in(checkpoints: &Path, sample: u32) -> SessionOptions {
    SessionOptions {
        checkpoint_dir: checkpoints.to_owned(),
        checkpoint_format: CheckpointFormat::Json,
        resume_verify_sample: sample,
        ..options()
    }
}

/// Downloads `torrent` from a seeder of `src` into `dst`, pauses it, shuts down; the checkpoint.
async fn download_and_stop(torrent: &Torrent, src: &Path, dst: &Path, checkpoints: &Path) -> Checkpoint {
    let seeder = Session::new(options()).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src)).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;
    let leecher = Session::new(options_in(checkpoints, 16)).await.unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(dst).peers([seeder.listen_addr()]);
    let id = leecher.add_torrent(add).await.unwrap();
    // A limit set while running is what the checkpoint records (upload: the download is not slowed).
    leecher.set_torrent_limits(id, SAVED_LIMITS).unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    leecher.pause(id).await.unwrap();
    leecher.shutdown().await;
    seeder.shutdown().await;
    let store = CheckpointStore::new(checkpoints);
    store.load(&torrent.info_hash).unwrap().expect("a checkpoint").checkpoint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_leaves_a_checkpoint_it_resumes_from_without_peers() {
    let (src, dst, ck) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let files = [("a.bin", data(100_000, 1)), ("b.bin", data(70_001, 2))];
    let torrent = make_torrent(src.path(), "ck", &files, PIECE);
    let checkpoint = download_and_stop(&torrent, src.path(), dst.path(), ck.path()).await;

    // Everything is verified and durable; the files are ccbt's and stamped as they are now.
    assert!(checkpoint.verified_pieces().unwrap().all());
    assert_eq!(checkpoint.state, Saved::Paused);
    assert_eq!(checkpoint.save_path, std::fs::canonicalize(dst.path()).unwrap());
    assert_eq!(checkpoint.info.as_deref(), Some(&torrent.info_bytes[..]));
    assert!(checkpoint.totals.downloaded >= torrent.total_length);
    assert_eq!(checkpoint.files.len(), 2);
    assert_eq!((checkpoint.options.down_limit, checkpoint.options.up_limit), (Some(0), Some(64 * 1024)));
    for entry in &checkpoint.files {
        assert!(entry.created_by_ccbt, "{entry:?}");
        let on_disk = std::fs::metadata(dst.path().join(&entry.path)).unwrap();
        assert_eq!(entry.observed.map(|s| s.size), Some(on_disk.len()), "{entry:?}");
    }
    let listed = list_resumable_checkpoints(ck.path()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].info_hash, torrent.info_hash);

    // A new session, no peer: the checkpoint alone says what the torrent is and what it has.
    let session = Session::new(options_in(ck.path(), 4)).await.unwrap();
    let id = session.resume_from_checkpoint(checkpoint).await.unwrap();
    wait_complete(&session, id, Duration::from_secs(30)).await;
    assert_eq!(session.status(id).unwrap().downloaded, 0);
    assert_eq!(session.torrent_limits(id).unwrap(), SAVED_LIMITS, "the torrent's limits come back");
    assert_eq!(session.status(id).unwrap().save_path, std::fs::canonicalize(dst.path()).unwrap());
    session.shutdown().await;
    let again = CheckpointStore::new(ck.path()).load(&torrent.info_hash).unwrap().unwrap().checkpoint;
    // Totals continue; a resumed running torrent is saved as seeding.
    assert!(again.totals.downloaded >= torrent.total_length);
    assert_eq!(again.state, Saved::Seeding);
}

/// Corrupts a byte of piece 2 and puts the file's modification time back, so only hashing can
/// tell; returns the piece.
fn corrupt_behind_the_stamps(file: &Path) -> u32 {
    let meta = std::fs::metadata(file).unwrap();
    let mut bytes = std::fs::read(file).unwrap();
    bytes[2 * PIECE as usize + 7] ^= 0xff;
    std::fs::write(file, bytes).unwrap();
    let handle = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    handle.set_modified(meta.modified().unwrap()).unwrap();
    2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sample_discards_the_checkpoint_and_checks_everything() {
    let (src, dst, ck) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let torrent = make_torrent(src.path(), "sample.bin", &[("", data(8 * PIECE as usize, 3))], PIECE);
    let checkpoint = download_and_stop(&torrent, src.path(), dst.path(), ck.path()).await;
    let bad = corrupt_behind_the_stamps(&dst.path().join("sample.bin"));

    // No sample: the checkpoint is trusted, the damage unseen (what the sample is for).
    let trusting = Session::new(options_in(ck.path(), 0)).await.unwrap();
    let id = trusting.resume_from_checkpoint(checkpoint.clone()).await.unwrap();
    wait_complete(&trusting, id, Duration::from_secs(30)).await;
    trusting.shutdown().await;

    // Every piece sampled: the bad one fails, so every piece is checked and it is missing.
    let session = Session::new(options_in(ck.path(), 1000)).await.unwrap();
    let id = session.resume_from_checkpoint(checkpoint).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = session.status(id).unwrap();
        if status.state == TorrentState::Downloading {
            assert_eq!(status.pieces_have, 7, "{status:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(!session.verified_pieces(id).unwrap().get(bad));
    session.shutdown().await;
}

/// The files a checkpoint says ccbt created stay ccbt's when the `created` record of the state
/// folder is gone: a damaged file of ours is downloaded again, where a file nobody vouches for
/// stops the torrent (it may be the user's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpoint_remembers_which_files_ccbt_created() {
    let (src, dst, ck) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let files = [("a.bin", data(60_000, 7)), ("b.bin", data(50_000, 8))];
    let torrent = make_torrent(src.path(), "own", &files, PIECE);
    let checkpoint = download_and_stop(&torrent, src.path(), dst.path(), ck.path()).await;
    // a.bin no longer holds a single verified piece.
    std::fs::write(dst.path().join("own/a.bin"), vec![0x5a; 60_000]).unwrap();
    let seeder = Session::new(options()).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;

    // A fresh state folder: no record of created files. Without the checkpoint a.bin is foreign.
    let fresh = tempfile::tempdir().unwrap();
    let without =
        Session::new(SessionOptions { state_dir: fresh.path().join("a"), ..options_in(ck.path(), 4) })
            .await
            .unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(dst.path()).peers([seeder.listen_addr()]);
    let id = without.add_torrent(add).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let status = without.status(id).unwrap();
        if let TorrentState::Error(e) = &status.state {
            assert!(e.to_string().contains("a.bin"), "{e}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline && !status.is_complete(), "{status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    without.shutdown().await;
    // A torrent that failed its start-up check knows no piece: it leaves the checkpoint alone.
    let kept = CheckpointStore::new(ck.path()).load(&torrent.info_hash).unwrap().unwrap().checkpoint;
    assert!(kept.verified_pieces().unwrap().all());

    // From the checkpoint: a.bin is ccbt's, rechecked (modified), and downloaded again.
    let with = Session::new(SessionOptions { state_dir: fresh.path().join("b"), ..options_in(ck.path(), 4) })
        .await
        .unwrap();
    let mut add = AddTorrent::resume_from(checkpoint).unwrap();
    add.peers.push(seeder.listen_addr());
    let id = with.add_torrent(add).await.unwrap();
    wait_complete(&with, id, Duration::from_secs(60)).await;
    with.shutdown().await;
    seeder.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
}

/// `checkpoint_delete_on_completion`: a finished torrent leaves no checkpoint behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_torrent_deletes_its_checkpoint_when_asked() {
    let (src, dst, ck) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let torrent = make_torrent(src.path(), "gone.bin", &[("", data(5 * PIECE as usize, 9))], PIECE);
    let seeder = Session::new(options()).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(30)).await;
    let options = SessionOptions { checkpoint_delete_on_completion: true, ..options_in(ck.path(), 4) };
    let leecher = Session::new(options).await.unwrap();
    let add = AddTorrent::new(torrent.clone()).save_path(dst.path()).peers([seeder.listen_addr()]);
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    leecher.shutdown().await;
    seeder.shutdown().await;
    assert!(CheckpointStore::new(ck.path()).load(&torrent.info_hash).unwrap().is_none());
}
