//! A Xet torrent added as a magnet link learns its files' chunk manifests from peers over
//! `xet_cas` (docs/xet.md, "Learning manifests from peers"), checks them against their roots,
//! and then reuses the chunks its store holds; a peer lying about a manifest is dropped and
//! the download goes on without it.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ccbt_engine::{AddTorrent, Session};
use ccbt_metainfo::{Magnet, Torrent};
use common::manifest_liar::spawn_manifest_liar;
use common::xet::xet_torrent;
use common::*;

const PIECE: u32 = 16384;
const FILES: usize = 4;
const FILE_LEN: usize = 4 << 20;
const EDIT: usize = 128 * 1024;

/// Version 2 of a file: 128 KiB inserted at a quarter of it.
fn edited(i: usize, old: &[u8]) -> Vec<u8> {
    let at = old.len() / 4 + i * 33_333;
    let mut new = old[..at].to_vec();
    new.extend(data(EDIT, 900 + i as u64));
    new.extend_from_slice(&old[at..]);
    new
}

/// The .torrent a magnet download saved in the state folder.
fn saved_torrent(state: &std::path::Path, torrent: &Torrent) -> Torrent {
    let path = state.join("torrents").join(format!("{}.torrent", torrent.info_hash.to_hex()));
    Torrent::from_bytes(&std::fs::read(path).unwrap()).unwrap()
}

fn magnet_of(torrent: &Torrent, peers: &[SocketAddr]) -> AddTorrent {
    let uri = Magnet::from_torrent(torrent).to_uri();
    AddTorrent::parse(&uri).unwrap().peers(peers.iter().copied())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_magnet_of_the_next_version_learns_its_manifests_and_moves_little() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let [v1_dir, v2_dir, out_dir, state] = &dirs[..] else { unreachable!() };
    let old: Vec<Vec<u8>> = (0..FILES).map(|i| data(FILE_LEN, 500 + i as u64)).collect();
    let new: Vec<Vec<u8>> = old.iter().enumerate().map(|(i, f)| edited(i, f)).collect();
    let names: Vec<String> = (0..FILES).map(|i| format!("part-{i}.bin")).collect();
    let v1_refs: Vec<(&str, &[u8])> =
        names.iter().map(String::as_str).zip(old.iter().map(Vec::as_slice)).collect();
    let v2_refs: Vec<(&str, &[u8])> =
        names.iter().map(String::as_str).zip(new.iter().map(Vec::as_slice)).collect();
    let v1 = xet_torrent(v1_dir.path(), "dataset", &v1_refs, PIECE);
    let v2 = xet_torrent(v2_dir.path(), "dataset", &v2_refs, PIECE);
    let dataset: u64 = new.iter().map(|f| f.len() as u64).sum();

    let seeder = Session::new(xet_session_options(&v2_dir.path().join(".state"), false)).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(v2.clone()).save_path(v2_dir.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(120)).await;

    // The leecher holds version 1, indexed in its chunk store.
    let leecher = Session::new(xet_session_options(state.path(), true)).await.unwrap();
    let id1 = leecher.add_torrent(AddTorrent::new(v1).save_path(v1_dir.path())).await.unwrap();
    wait_complete(&leecher, id1, Duration::from_secs(120)).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while leecher.xet_stats().await.unwrap().files < FILES as u64 {
        assert!(tokio::time::Instant::now() < deadline, "version 1 not indexed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Version 2 as a magnet link: metadata, manifests and data all cross the counting proxy.
    let (proxy, wire) = counting_proxy(seeder.listen_addr()).await;
    let id2 = leecher.add_torrent(magnet_of(&v2, &[proxy]).save_path(out_dir.path())).await.unwrap();
    wait_complete(&leecher, id2, Duration::from_secs(120)).await;
    leecher.shutdown().await;
    assert_same_files(&v2, v2_dir.path(), out_dir.path());
    let saved = saved_torrent(state.path(), &v2);
    assert_eq!(saved.xet_layers, v2.xet_layers, "the manifests learned are saved with the torrent");

    let moved = wire.load(Ordering::Relaxed);
    let share = moved as f64 / dataset as f64;
    println!("bytes on the wire: {moved} of {dataset} ({:.2} %)", share * 100.0);
    // 4 x 128 KiB inserted in 16 MiB is 3 %; without the manifests every byte would move.
    assert!(share <= 0.15, "{moved} bytes on the wire for a {dataset}-byte download");
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_lying_about_a_manifest_is_dropped_and_the_magnet_still_downloads() {
    let (src, dst, state) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bytes = data(1 << 20, 77);
    let torrent = xet_torrent(src.path(), "f.bin", &[("", &bytes)], PIECE);
    // The honest seeder has the data but not the manifest (it refuses MANIFEST_REQ): the liar
    // is the only peer offering one, whichever of the two is asked first.
    let mut without_layers = torrent.clone();
    without_layers.xet_layers.clear();
    let seeder = Session::new(xet_session_options(&src.path().join(".state"), false)).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(without_layers).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid, Duration::from_secs(60)).await;
    let (liar, log) = spawn_manifest_liar("127.0.0.2").await;

    let leecher = Session::new(xet_session_options(state.path(), true)).await.unwrap();
    let add = magnet_of(&torrent, &[liar, seeder.listen_addr()]).save_path(dst.path());
    let id = leecher.add_torrent(add).await.unwrap();
    wait_complete(&leecher, id, Duration::from_secs(90)).await;
    leecher.shutdown().await;
    assert_same_files(&torrent, src.path(), dst.path());
    assert_eq!(log.manifest_requests.load(Ordering::Relaxed), 1, "the liar is asked once, never again");
    assert_eq!(log.xet_connections.load(Ordering::Relaxed), 1, "the liar is banned from the download");
    let saved = saved_torrent(state.path(), &torrent);
    assert!(saved.xet_layers.is_empty(), "nothing is learned from a false manifest");
    assert_eq!(saved.missing_xet_layers().len(), 1);
    seeder.shutdown().await;
}
