//! Cross-torrent dedup through the Xet chunk store: a session with `xet_store_dir` indexes the
//! files of complete Xet torrents, and a later Xet torrent sharing most chunks with them (the
//! next version of the data, with bytes inserted and overwritten) copies those chunks locally
//! and downloads only the pieces the copies do not cover.

mod common;

use std::path::Path;
use std::time::Duration;

use ccbt_engine::{AddTorrent, Session, SessionOptions};
use common::xet::xet_torrent;
use common::*;

const PIECE: u32 = 16384;

/// Version 2: `old` with 64 KiB inserted at one third and 48 KiB overwritten at two thirds.
fn next_version(old: &[u8]) -> Vec<u8> {
    let (third, two_thirds) = (old.len() / 3, 2 * old.len() / 3);
    let mut new = old[..third].to_vec();
    new.extend(data(64 * 1024, 901));
    new.extend_from_slice(&old[third..]);
    let at = two_thirds + 64 * 1024;
    new[at..at + 48 * 1024].copy_from_slice(&data(48 * 1024, 902));
    new
}

fn xet_options(state: &Path) -> SessionOptions {
    SessionOptions { state_dir: state.to_path_buf(), xet_store_dir: Some(state.join("xet")), ..options() }
}

async fn wait_indexed(session: &Session, files: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while session.xet_stats().await.expect("the store is open").files < files {
        assert!(tokio::time::Instant::now() < deadline, "files not indexed in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_version_copies_the_chunks_it_shares_and_downloads_the_rest() {
    let old = data(4 << 20, 900);
    let new = next_version(&old);
    let (v1_dir, v2_src, v2_dst, state, seed_state) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let v1 = xet_torrent(v1_dir.path(), "data.bin", &[("", &old)], PIECE);
    let v2 = xet_torrent(v2_src.path(), "data.bin", &[("", &new)], PIECE);

    let seeder =
        Session::new(SessionOptions { state_dir: seed_state.path().into(), ..options() }).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(v2.clone()).save_path(v2_src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(60)).await;

    // The follower has version 1 complete: checking it indexes its chunks.
    let follower = Session::new(xet_options(state.path())).await.unwrap();
    let id1 = follower.add_torrent(AddTorrent::new(v1).save_path(v1_dir.path())).await.unwrap();
    wait_complete(&follower, id1, Duration::from_secs(60)).await;
    wait_indexed(&follower, 1).await;

    let add = AddTorrent::new(v2.clone()).save_path(v2_dst.path()).peers([seeder.listen_addr()]);
    let id2 = follower.add_torrent(add).await.unwrap();
    wait_complete(&follower, id2, Duration::from_secs(60)).await;
    assert_same_files(&v2, v2_src.path(), v2_dst.path());

    let downloaded = follower.status(id2).unwrap().downloaded;
    let total = new.len() as u64;
    // 112 KiB changed: the chunks around the two edits (each at most 128 KiB) plus the pieces
    // they straddle is well under 10 % of 4 MiB; something did come from the seeder.
    assert!(downloaded > 0, "nothing downloaded: the edits cannot be on this machine");
    assert!(downloaded < total / 10, "downloaded {downloaded} of {total} bytes");
    // The rest came from version 1's file, by a kernel copy where the filesystem allows it.
    let fill = follower.xet_fill(id2).unwrap();
    assert!(fill.bytes > total / 2 && fill.pieces > 0, "{fill:?}");
    if ccbt_storage::kernel_copy_works(v2_dst.path()) {
        assert_eq!(fill.kernel_bytes, fill.bytes, "copy_file_range works here but was not used");
    } else {
        assert_eq!(fill.kernel_bytes, 0);
        eprintln!("copy_file_range refused in {}: the chunks were written", v2_dst.path().display());
    }
    wait_indexed(&follower, 2).await;
    follower.shutdown().await;
    seeder.shutdown().await;
}
