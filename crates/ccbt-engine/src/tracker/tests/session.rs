//! Whole sessions finding each other through opentracker (HTTP and UDP): a ccbt seeder announces,
//! a ccbt leecher that knows only the tracker downloads from it, and scrape counts both.

use std::path::Path;

use ccbt_metainfo::{Torrent, TorrentBuilder};
use sha1::{Digest, Sha1};

use super::Opentracker;
use crate::{AddTorrent, Session, SessionOptions, TorrentId};

const PIECE: u32 = 32768;

/// A two-file torrent of deterministic data written under `root/tracked/`, announcing to `url`.
fn torrent_at(root: &Path, url: Option<String>) -> (Torrent, Vec<u8>) {
    let a: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let b: Vec<u8> = (0..123_457u32).map(|i| (i % 241) as u8).collect();
    std::fs::create_dir_all(root.join("tracked")).unwrap();
    std::fs::write(root.join("tracked/a.bin"), &a).unwrap();
    std::fs::write(root.join("tracked/b.bin"), &b).unwrap();
    let stream = [a, b].concat();
    let builder = TorrentBuilder {
        name: "tracked".into(),
        files: vec![(vec!["a.bin".into()], 300_000), (vec!["b.bin".into()], 123_457)],
        piece_length: PIECE,
        piece_hashes: stream.chunks(PIECE as usize).map(|c| Sha1::digest(c).into()).collect(),
        trackers: url.map(|u| vec![vec![u]]).unwrap_or_default(),
        ..TorrentBuilder::default()
    };
    (Torrent::from_bytes(&builder.build().unwrap()).unwrap(), stream)
}

fn options() -> SessionOptions {
    SessionOptions {
        listen_port: 0,
        listen_host: "127.0.0.1".parse().unwrap(),
        enable_dht: false,
        ..SessionOptions::default()
    }
}

async fn wait_complete(session: &Session, id: TorrentId) {
    for _ in 0..600 {
        if session.status(id).unwrap().is_complete() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("not complete in time: {:?}", session.status(id));
}

async fn find_each_other_through(scheme: &str) {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    // Trackers live outside the info dictionary: the info hash is known before the tracker runs.
    let (plain, _) = torrent_at(src.path(), None);
    let Some(tracker) = Opentracker::start(&[plain.info_hash]) else { return };
    let url = format!("{scheme}://127.0.0.1:{}/announce", tracker.port);
    let (torrent, stream) = torrent_at(src.path(), Some(url.clone()));
    assert_eq!(torrent.info_hash, plain.info_hash);

    let seeder = Session::new(options()).await.unwrap();
    let sid = seeder.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
    wait_complete(&seeder, sid).await;

    // No peers given: the leecher only knows the tracker.
    let leecher = Session::new(options()).await.unwrap();
    let lid = leecher.add_torrent(AddTorrent::new(torrent.clone()).save_path(dst.path())).await.unwrap();
    wait_complete(&leecher, lid).await;
    // Tracker status is refreshed once a second.
    let mut trackers = leecher.trackers(lid).unwrap();
    for _ in 0..30 {
        if trackers.first().is_some_and(|t| t.peers_received >= 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        trackers = leecher.trackers(lid).unwrap();
    }
    assert_eq!(trackers.len(), 1);
    assert_eq!(trackers[0].url, url);
    assert!(trackers[0].peers_received >= 1, "{trackers:?}");

    // Both announced (the leecher sent `completed` at once): two seeders on the tracker.
    let mut scraped = None;
    for _ in 0..50 {
        let s = Session::scrape(&url, torrent.info_hash).await.unwrap();
        if s.complete >= 2 {
            scraped = Some(s);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let scraped = scraped.expect("scrape never showed two seeders");
    assert_eq!(scraped.incomplete, 0, "{scraped:?}");
    leecher.shutdown().await;
    seeder.shutdown().await;
    let got = [
        std::fs::read(dst.path().join("tracked/a.bin")).unwrap(),
        std::fs::read(dst.path().join("tracked/b.bin")).unwrap(),
    ]
    .concat();
    assert!(got == stream, "downloaded bytes differ");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_find_each_other_over_http_tracker() {
    find_each_other_through("http").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_find_each_other_over_udp_tracker() {
    find_each_other_through("udp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrape_of_an_unreachable_tracker_is_a_named_error() {
    let port = super::free_port();
    let url = format!("udp://127.0.0.1:{port}/announce");
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        Session::scrape(&url, ccbt_core::InfoHash([1; 20])),
    )
    .await
    .expect("scrape must give up on its own")
    .unwrap_err()
    .to_string();
    assert!(err.contains(&url), "{err}");
}
