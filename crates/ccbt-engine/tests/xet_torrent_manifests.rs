//! A Xet torrent added from a `.torrent` without its `xet layers` learns its files' chunk
//! manifests from peers before downloading, as a magnet link does (docs/xet.md, "Learning
//! manifests from peers"), so it reuses the chunks its store holds; the manifests are saved
//! with the torrent and a restart asks for nothing. Without a peer that has them, the torrent
//! downloads normally once the phase gives up.

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ccbt_engine::{AddTorrent, FoundCheckpoint, Session, SessionOptions, TorrentSource};
use ccbt_metainfo::Torrent;
use common::manifest_liar::spawn_manifest_liar;
use common::xet::xet_torrent;
use common::*;

const PIECE: u32 = 16384;
const FILES: usize = 4;
const FILE_LEN: usize = 4 << 20;
const EDIT: usize = 128 * 1024;

fn session_options(state: &Path, xet: bool) -> SessionOptions {
    SessionOptions {
        state_dir: state.to_path_buf(),
        checkpoint_dir: state.join("checkpoints"),
        xet_store_dir: xet.then(|| state.join("xet")),
        enable_pex: false,
        ..options()
    }
}

/// Version 2 of a file: 128 KiB inserted at a quarter of it.
fn edited(i: usize, old: &[u8]) -> Vec<u8> {
    let at = old.len() / 4 + i * 33_333;
    let mut new = old[..at].to_vec();
    new.extend(data(EDIT, 900 + i as u64));
    new.extend_from_slice(&old[at..]);
    new
}

/// `torrent` as a `.torrent` file without its `xet layers` (its info dictionary and piece
/// layers only), written to `path`.
fn write_without_xet_layers(torrent: &Torrent, path: &Path) {
    let mut bytes = b"d4:info".to_vec();
    bytes.extend_from_slice(&torrent.info_bytes);
    bytes.extend_from_slice(b"12:piece layers");
    bytes.extend_from_slice(&torrent.piece_layers_bencoded());
    bytes.push(b'e');
    let parsed = Torrent::from_bytes(&bytes).unwrap();
    assert_eq!(parsed.info_hash, torrent.info_hash);
    assert!(parsed.xet_layers.is_empty(), "the file lacks every manifest");
    assert!(!parsed.missing_xet_layers().is_empty());
    std::fs::write(path, bytes).unwrap();
}

/// The dataset's two versions under `v1_dir` and `v2_dir`.
fn versions(v1_dir: &Path, v2_dir: &Path) -> (Torrent, Torrent) {
    let old: Vec<Vec<u8>> = (0..FILES).map(|i| data(FILE_LEN, 500 + i as u64)).collect();
    let new: Vec<Vec<u8>> = old.iter().enumerate().map(|(i, f)| edited(i, f)).collect();
    let names: Vec<String> = (0..FILES).map(|i| format!("part-{i}.bin")).collect();
    let refs =
        |files: &[Vec<u8>]| -> Vec<(String, Vec<u8>)> { names.iter().cloned().zip(files.to_vec()).collect() };
    let make = |dir: &Path, files: &[(String, Vec<u8>)]| {
        let borrowed: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
        xet_torrent(dir, "dataset", &borrowed, PIECE)
    };
    (make(v1_dir, &refs(&old)), make(v2_dir, &refs(&new)))
}

/// Adds version 1 to `session` and waits until its files are in the chunk store.
async fn hold_version_1(session: &Session, v1: Torrent, dir: &Path) {
    let id = session.add_torrent(AddTorrent::new(v1).save_path(dir)).await.unwrap();
    wait_complete(session, id, Duration::from_secs(120)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while session.xet_stats().await.unwrap().files < FILES as u64 {
        assert!(tokio::time::Instant::now() < deadline, "version 1 not indexed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torrent_file_without_xet_layers_learns_them_and_moves_little() {
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    let [v1_dir, v2_dir, out_dir, state, files] = &dirs[..] else { unreachable!() };
    let (v1, v2) = versions(v1_dir.path(), v2_dir.path());
    let dataset: u64 = v2.files.iter().map(|f| f.length).sum();

    let seeder = Session::new(session_options(&v2_dir.path().join(".state"), false)).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(v2.clone()).save_path(v2_dir.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(120)).await;

    let leecher = Session::new(session_options(state.path(), true)).await.unwrap();
    hold_version_1(&leecher, v1, v1_dir.path()).await;

    // Version 2 from a .torrent without `xet layers`: manifests and data cross the proxy.
    let (proxy, wire) = counting_proxy(seeder.listen_addr()).await;
    let file = files.path().join("v2.torrent");
    write_without_xet_layers(&v2, &file);
    let add = AddTorrent::from_file(&file).unwrap().peers([proxy]).save_path(out_dir.path());
    let id2 = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id2, Duration::from_secs(120)).await;
    let learned = leecher.metainfo(id2).unwrap().xet_layers.clone();
    leecher.shutdown().await;
    assert_same_files(&v2, v2_dir.path(), out_dir.path());

    let moved = wire.load(Ordering::Relaxed);
    let share = moved as f64 / dataset as f64;
    println!("bytes on the wire: {moved} of {dataset} ({:.2} %)", share * 100.0);
    // 4 x 128 KiB inserted in 16 MiB is 3 %; without the manifests every byte would move.
    assert!(share <= 0.15, "{moved} bytes on the wire for a {dataset}-byte download");
    assert!(learned == v2.xet_layers, "the manifests were not learned ({} of {FILES})", learned.len());

    // The manifests are saved with the torrent, and its checkpoint resumes from that file.
    let saved = state.path().join("torrents").join(format!("{}.torrent", v2.info_hash.to_hex()));
    let saved = Torrent::from_bytes(&std::fs::read(saved).unwrap()).unwrap();
    assert!(saved.xet_layers == v2.xet_layers, "the saved .torrent lacks manifests");
    assert!(saved.piece_layers == v2.piece_layers, "the saved .torrent lacks piece layers");
    let FoundCheckpoint::Usable { checkpoint, .. } =
        ccbt_engine::find_checkpoint(&state.path().join("checkpoints"), &v2.info_hash)
    else {
        panic!("no checkpoint of version 2");
    };
    let resumed = AddTorrent::resume_from(*checkpoint).unwrap();
    let TorrentSource::Torrent(torrent) = &resumed.source else { panic!("resumes as a magnet link") };
    assert!(torrent.xet_layers == v2.xet_layers, "a restart lacks the manifests");

    // A restart starts at once: nothing to learn (a torrent still learning has no metainfo).
    let again = Session::new(session_options(state.path(), true)).await.unwrap();
    let id = again.add_torrent(resumed).await.unwrap();
    assert!(again.metainfo(id).is_ok(), "the restarted torrent fetched manifests again");
    wait_complete(&again, id, Duration::from_secs(60)).await;
    again.shutdown().await;
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_lying_about_a_manifest_is_banned_and_the_torrent_still_downloads() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let [src, out, state, files] = &dirs[..] else { unreachable!() };
    let bytes = data(1 << 20, 79);
    let torrent = xet_torrent(src.path(), "f.bin", &[("", &bytes)], PIECE);
    // The honest seeder has the data but not the manifest: the liar is the only peer offering
    // one, whichever of the two is asked first.
    let path = files.path().join("f.torrent");
    write_without_xet_layers(&torrent, &path);
    let seeder = Session::new(session_options(&src.path().join(".state"), false)).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::from_file(&path).unwrap().save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(60)).await;
    let (liar, log) = spawn_manifest_liar("127.0.0.2").await;

    let leecher = Session::new(session_options(state.path(), true)).await.unwrap();
    let add = AddTorrent::from_file(&path).unwrap().peers([liar, seeder.listen_addr()]).save_path(out.path());
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(90)).await;
    assert!(leecher.metainfo(id).unwrap().xet_layers.is_empty(), "nothing is learned from a false manifest");
    leecher.shutdown().await;
    assert_same_files(&torrent, src.path(), out.path());
    assert_eq!(log.manifest_requests.load(Ordering::Relaxed), 1, "the liar is asked once, never again");
    assert_eq!(log.xet_connections.load(Ordering::Relaxed), 1, "the liar is banned from the download");
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_peer_holding_the_manifests_the_torrent_downloads_normally() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let [src, out, state, files] = &dirs[..] else { unreachable!() };
    let bytes = data(1 << 20, 78);
    let torrent = xet_torrent(src.path(), "f.bin", &[("", &bytes)], PIECE);
    // The seeder has the data but not the manifest: it refuses every MANIFEST_REQ.
    let path = files.path().join("f.torrent");
    write_without_xet_layers(&torrent, &path);
    let seeder = Session::new(session_options(&src.path().join(".state"), false)).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::from_file(&path).unwrap().save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(60)).await;

    let leecher = Session::new(session_options(state.path(), true)).await.unwrap();
    let add = AddTorrent::from_file(&path).unwrap().peers([seeder.listen_addr()]).save_path(out.path());
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(90)).await;
    assert_eq!(leecher.metainfo(id).unwrap().missing_xet_layers().len(), 1, "nothing to learn from");
    leecher.shutdown().await;
    assert_same_files(&torrent, src.path(), out.path());
    let saved = state.path().join("torrents").join(format!("{}.torrent", torrent.info_hash.to_hex()));
    assert!(!saved.exists(), "nothing learned, nothing saved");
    seeder.shutdown().await;
}
