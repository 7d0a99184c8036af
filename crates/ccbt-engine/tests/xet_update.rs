//! The update scenario of issue 14: version 2 of a 256 MiB dataset with 1 % of its bytes
//! changed (insertions and overwrites) reaches a peer holding version 1 by moving little more
//! than the changed bytes. The follower talks to the others only through counting proxies, so
//! every byte it exchanges on its peer sockets, protocol included, is counted. With small
//! pieces the pieces around each change are few; with large ones the pieces the local copies
//! fill only partly get just their missing chunks over `xet_cas` (the chunk phase) instead of
//! being downloaded whole.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use ccbt_engine::{AddTorrent, Session};
use common::xet::xet_torrent;
use common::*;

const FILES: usize = 8;
const FILE_LEN: usize = 32 << 20;
const EDIT: usize = 256 * 1024;

/// Version 2 of file `i`: five of the eight files get one insertion and one overwrite of
/// 256 KiB each, ten edits of 2.5 MiB in all (1 % of 256 MiB).
fn edited(i: usize, old: &[u8]) -> Vec<u8> {
    if i >= 5 {
        return old.to_vec();
    }
    let insert_at = old.len() / 4 + i * 77_777;
    let mut new = old[..insert_at].to_vec();
    new.extend(data(EDIT, 700 + i as u64));
    new.extend_from_slice(&old[insert_at..]);
    let overwrite_at = 3 * new.len() / 4 - i * 55_555;
    new[overwrite_at..overwrite_at + EDIT].copy_from_slice(&data(EDIT, 800 + i as u64));
    new
}

/// What the follower's update moved.
struct Moved {
    /// Bytes on its peer sockets, both ways, protocol included.
    wire: u64,
    dataset: u64,
    /// Payload of the pieces the local copies did not complete: what a download of whole
    /// pieces would fetch (an upper bound: a file's last piece may be shorter).
    whole_pieces: u64,
    fill: ccbt_engine::XetFill,
}

/// Version 1 on the follower (indexed in its chunk store); version 2 seeded by a publisher and,
/// for half of its files, by a third peer; the follower fetches version 2 through counting
/// proxies. Returns what moved; asserts the result is byte-identical.
async fn update_scenario(piece: u32) -> Moved {
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let [v1_dir, v2_dir, partial_dir, follower_dir, state] = &dirs[..] else { unreachable!() };
    let old: Vec<Vec<u8>> = (0..FILES).map(|i| data(FILE_LEN, 600 + i as u64)).collect();
    let new: Vec<Vec<u8>> = old.iter().enumerate().map(|(i, f)| edited(i, f)).collect();
    let names: Vec<String> = (0..FILES).map(|i| format!("part-{i}.bin")).collect();
    let v1_refs: Vec<(&str, &[u8])> =
        names.iter().map(String::as_str).zip(old.iter().map(Vec::as_slice)).collect();
    let v2_refs: Vec<(&str, &[u8])> =
        names.iter().map(String::as_str).zip(new.iter().map(Vec::as_slice)).collect();
    let v1 = xet_torrent(v1_dir.path(), "dataset", &v1_refs, piece);
    let v2 = xet_torrent(v2_dir.path(), "dataset", &v2_refs, piece);
    let dataset = new.iter().map(|f| f.len() as u64).sum::<u64>();

    // The publisher seeds version 2; the third peer holds only half of its files.
    let publisher = Session::new(xet_session_options(&v2_dir.path().join(".state"), false)).await.unwrap();
    let pid = publisher.add_torrent(AddTorrent::new(v2.clone()).save_path(v2_dir.path())).await.unwrap();
    wait_complete(&publisher, pid, Duration::from_secs(300)).await;
    let partial = Session::new(xet_session_options(&partial_dir.path().join(".state"), false)).await.unwrap();
    let add = AddTorrent::new(v2.clone())
        .save_path(partial_dir.path())
        .select_files(0..4)
        .peers([publisher.listen_addr()]);
    let cid = partial.add_torrent(add).await.unwrap();
    wait_complete(&partial, cid, Duration::from_secs(300)).await;

    // The follower holds version 1, indexed in its chunk store.
    let follower = Session::new(xet_session_options(state.path(), true)).await.unwrap();
    let id1 = follower.add_torrent(AddTorrent::new(v1).save_path(v1_dir.path())).await.unwrap();
    wait_complete(&follower, id1, Duration::from_secs(300)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while follower.xet_stats().await.unwrap().files < FILES as u64 {
        assert!(tokio::time::Instant::now() < deadline, "version 1 not indexed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (to_publisher, via_publisher) = counting_proxy(publisher.listen_addr()).await;
    let (to_partial, via_partial) = counting_proxy(partial.listen_addr()).await;
    let add = AddTorrent::new(v2.clone()).save_path(follower_dir.path()).peers([to_publisher, to_partial]);
    let id2 = follower.add_torrent(add).await.unwrap();
    wait_complete(&follower, id2, Duration::from_secs(300)).await;
    let fill = follower.xet_fill(id2).unwrap();
    follower.shutdown().await;
    assert_same_files(&v2, v2_dir.path(), follower_dir.path());
    let pieces = u64::from(v2.lengths().num_pieces());
    let whole_pieces = (pieces - fill.pieces) * u64::from(piece);
    let wire = via_publisher.load(Ordering::Relaxed) + via_partial.load(Ordering::Relaxed);
    publisher.shutdown().await;
    partial.shutdown().await;
    Moved { wire, dataset, whole_pieces, fill }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_two_of_256_mib_with_1_percent_changed_moves_under_2_5_percent() {
    let moved = update_scenario(16384).await;
    let (wire, dataset) = (moved.wire, moved.dataset);
    let share = wire as f64 / dataset as f64;
    println!("bytes on the wire: {wire} of {dataset} ({:.2} %)", share * 100.0);
    assert!(share <= 0.025, "{wire} bytes on the wire for a {dataset}-byte dataset ({:.2} %)", share * 100.0);
}

/// With 4 MiB pieces each change leaves a few pieces partly filled: fetching their missing
/// chunks moves a fraction of what downloading those pieces whole would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_4_mib_pieces_partly_filled_pieces_get_only_their_missing_chunks() {
    let moved = update_scenario(4 << 20).await;
    let Moved { wire, dataset, whole_pieces, fill } = moved;
    println!(
        "4 MiB pieces: {wire} bytes on the wire ({:.2} % of {dataset}); whole pieces would be {whole_pieces} \
         ({:.2} %); chunks fetched: {} bytes from the swarm, {} from holders, {} pieces completed",
        wire as f64 * 100.0 / dataset as f64,
        whole_pieces as f64 * 100.0 / dataset as f64,
        fill.swarm_chunk_bytes,
        fill.holder_chunk_bytes,
        fill.chunk_pieces,
    );
    assert!(fill.chunk_pieces > 0 && fill.swarm_chunk_bytes > 0, "{fill:?}");
    assert!(wire * 4 < whole_pieces, "{wire} bytes on the wire; whole pieces: {whole_pieces}");
    assert!(wire as f64 <= 0.025 * dataset as f64, "{wire} bytes on the wire for {dataset}");
}
