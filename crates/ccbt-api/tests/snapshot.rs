//! `GET /api/v1/snapshot` over a real session: the torrent with its counters, the session's
//! totals, and a body the CLI's view reads back.

mod support;

use axum::http::StatusCode;
use ccbt_api::{SnapshotView, Verb};
use serde_json::json;
use support::{complete_torrent, eventually, Api};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_shows_the_session_and_its_torrents() {
    let api = Api::new().await;
    let (status, empty) = api.call(Verb::Get, "/api/v1/snapshot", None).await;
    assert_eq!(status, StatusCode::OK, "{empty}");
    assert_eq!(empty["torrents"], json!([]), "{empty}");
    assert_eq!(empty["totals"]["downloaded"], 0, "{empty}");

    let torrent = complete_torrent(api.path(), "hello.bin", 100_000);
    let body = json!({ "source": torrent, "save_path": api.path().join("data") }).to_string();
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let session = api.session.clone();
    assert!(eventually(|| session.torrents().iter().all(|s| s.is_complete())).await);

    let (status, snap) = api.call(Verb::Get, "/api/v1/snapshot", None).await;
    assert_eq!(status, StatusCode::OK, "{snap}");
    let view: SnapshotView = serde_json::from_value(snap.clone()).expect("the CLI's view reads it");
    assert_eq!(view.torrents.len(), 1, "{snap}");
    let t = &view.torrents[0];
    assert_eq!(t.torrent.info_hash, added["info_hash"].as_str().unwrap());
    assert_eq!((t.torrent.state.as_str(), t.torrent.pieces_have), ("seeding", t.torrent.pieces_total));
    assert!(t.peers.is_empty() && t.trackers.is_empty(), "{snap}");
    // The test session runs without the DHT.
    assert_eq!(snap["dht"], serde_json::Value::Null, "{snap}");
}
