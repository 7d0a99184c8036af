//! Magnet links: metadata fetched from ccbt seeders with ut_metadata, then the download.

mod common;

use std::time::Duration;

use ccbt_engine::{AddTorrent, Session, TorrentState};
use ccbt_metainfo::Magnet;
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_resolves_from_two_seeders_and_downloads() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    // Many files make the info dictionary span several 16 KiB metadata pieces.
    let names: Vec<String> =
        (0..700).map(|i| format!("dir{}/file-with-a-long-name-{i:04}.bin", i % 7)).collect();
    let files: Vec<(&str, Vec<u8>)> =
        names.iter().enumerate().map(|(i, n)| (n.as_str(), data(3000 + i, i as u64))).collect();
    let torrent = make_torrent(src.path(), "many", &files, 16384);
    assert!(torrent.info_bytes.len() > 2 * 16384, "metadata should span several pieces");

    let mut seeders = Vec::new();
    for _ in 0..2 {
        let s = Session::new(options()).await.unwrap();
        let id = s.add_torrent(AddTorrent::new(torrent.clone()).save_path(src.path())).await.unwrap();
        wait_complete(&s, id, Duration::from_secs(30)).await;
        seeders.push(s);
    }

    let mut magnet = Magnet::new(torrent.info_hash);
    magnet.display_name = Some("many".into());
    magnet.peers = seeders.iter().map(|s| s.listen_addr().to_string()).collect();
    let mut opts = options();
    opts.state_dir = state.path().to_owned();
    let leecher = Session::new(opts).await.unwrap();
    let uri = magnet.to_uri();
    let id = leecher.add_torrent(AddTorrent::parse(&uri).unwrap().save_path(dst.path())).await.unwrap();
    assert!(matches!(
        leecher.status(id).unwrap().state,
        TorrentState::FetchingMetadata | TorrentState::Downloading
    ));
    wait_complete(&leecher, id, Duration::from_secs(60)).await;
    let status = leecher.status(id).unwrap();
    assert_eq!(status.name, "many");
    assert_eq!(status.total_bytes, torrent.total_length);
    // The .torrent was saved beside the state, byte-identical in its info dictionary.
    let saved = state.path().join("torrents").join(format!("{}.torrent", torrent.info_hash.to_hex()));
    let parsed = ccbt_metainfo::Torrent::from_bytes(&std::fs::read(saved).unwrap()).unwrap();
    assert_eq!(parsed.info_hash, torrent.info_hash);
    leecher.shutdown().await;
    for s in seeders {
        s.shutdown().await;
    }
    assert_same_files(&torrent, src.path(), dst.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_magnets_are_named_errors() {
    let err = AddTorrent::parse("magnet:?dn=x").unwrap_err().to_string();
    assert!(err.contains("invalid magnet link"), "{err}");
    let err = AddTorrent::parse(
        "magnet:?xt=urn:btmh:1220aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899",
    )
    .unwrap_err();
    assert!(err.to_string().contains("v2-only magnets are not supported yet"), "{err}");
}
