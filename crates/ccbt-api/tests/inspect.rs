//! The inspect-and-tune routes over a real session: files and their priorities, peers (a second
//! session seeds to the first), trackers, rate limits, checkpoints and the list's filters, each
//! with the bad requests it refuses and their codes.

mod support;

use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use ccbt_api::Verb;
use ccbt_engine::{AddTorrent, Session, SessionOptions};
use serde_json::{json, Value};
use support::{code, complete_torrent, eventually, Api};

/// A complete three-file torrent in `dir/data/multi` with `trackers`; the torrent's path.
fn multi_file_torrent(dir: &Path, trackers: Vec<Vec<String>>) -> PathBuf {
    use sha1::{Digest as _, Sha1};
    let lengths = [20_000usize, 30_000, 5_000];
    let mut all = Vec::new();
    for (i, len) in lengths.iter().enumerate() {
        let data: Vec<u8> = (0..*len).map(|b| (b * (i + 3) % 251) as u8).collect();
        std::fs::create_dir_all(dir.join("data/multi")).unwrap();
        std::fs::write(dir.join(format!("data/multi/f{i}.bin")), &data).unwrap();
        all.extend(data);
    }
    let builder = ccbt_metainfo::TorrentBuilder {
        name: "multi".into(),
        files: (0..3).map(|i| (vec![format!("f{i}.bin")], lengths[i] as u64)).collect(),
        piece_length: 16384,
        piece_hashes: all.chunks(16384).map(|c| Sha1::digest(c).into()).collect(),
        trackers,
        ..ccbt_metainfo::TorrentBuilder::default()
    };
    let path = dir.join("multi.torrent");
    std::fs::write(&path, builder.build().unwrap()).unwrap();
    path
}

/// Adds `torrent` with its data in `dir/data`, waits until it seeds; its info hash.
async fn add_complete(api: &Api, torrent: &Path) -> String {
    let body = json!({ "source": torrent, "save_path": api.path().join("data") }).to_string();
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let session = api.session.clone();
    assert!(eventually(|| session.torrents().iter().all(|s| s.is_complete())).await);
    added["info_hash"].as_str().unwrap().to_owned()
}

async fn put(api: &Api, path: &str, body: Value) -> (StatusCode, Value) {
    api.call(Verb::Put, path, Some(body.to_string())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_show_progress_and_take_priorities() {
    let api = Api::new().await;
    let info_hash = add_complete(&api, &multi_file_torrent(api.path(), Vec::new())).await;
    let files = format!("/api/v1/torrents/{}/files", &info_hash[..10]);
    let (status, list) = api.call(Verb::Get, &files, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["info_hash"], info_hash.as_str());
    let got: Vec<(u64, &str, u64, f64, &str)> = list["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let index = f["index"].as_u64().unwrap();
            (
                index,
                f["path"].as_str().unwrap(),
                f["length"].as_u64().unwrap(),
                f["progress"].as_f64().unwrap(),
                f["priority"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (0, "multi/f0.bin", 20_000, 1.0, "normal"),
            (1, "multi/f1.bin", 30_000, 1.0, "normal"),
            (2, "multi/f2.bin", 5_000, 1.0, "normal")
        ]
    );
    assert_eq!(list["files"][1]["bytes_verified"], 30_000);

    let (status, list) = put(&api, &files, json!({"priorities": {"0": "skip", "1-2": "high"}})).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let words = |list: &Value| -> Vec<String> {
        list["files"].as_array().unwrap().iter().map(|f| f["priority"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(words(&list), ["skip", "high", "high"]);
    let id = api.session.torrents()[0].id;
    let engine: Vec<String> = api.session.files(id).unwrap().iter().map(|f| f.priority.to_string()).collect();
    assert_eq!(engine, ["skip", "high", "high"], "the session took the priorities");
    let (status, list) = put(&api, &files, json!({"priorities": ["low", "normal", "skip"]})).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(words(&list), ["low", "normal", "skip"]);

    let cases = [
        (json!({"priorities": {"3": "skip"}}), "invalid_file_index", "no file 3"),
        (json!({"priorities": {"-1": "skip"}}), "invalid_file_index", "-1"),
        (json!({"priorities": {"0": "urgent"}}), "invalid_priority", "urgent"),
        (json!({"priorities": ["skip"]}), "invalid_priorities", "3 files"),
        (json!({"priority": {"0": "skip"}}), "invalid_json", "priority"),
    ];
    for (body, expected, named) in cases {
        let (status, error) = put(&api, &files, body.clone()).await;
        assert_eq!((status, code(&error)), (StatusCode::BAD_REQUEST, expected), "{body}: {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains(named), "{body}: {error}");
    }
    let (status, error) = api.call(Verb::Put, &files, Some("not json".into())).await;
    assert_eq!((status, code(&error)), (StatusCode::BAD_REQUEST, "invalid_json"));
    assert_eq!(
        words(&api.call(Verb::Get, &files, None).await.1),
        ["low", "normal", "skip"],
        "a refused PUT changed something"
    );
    for (path, status, expected) in [
        ("/api/v1/torrents/zz/files", StatusCode::BAD_REQUEST, "invalid_info_hash"),
        ("/api/v1/torrents/0123/files", StatusCode::NOT_FOUND, "torrent_not_found"),
    ] {
        let (got, error) = api.call(Verb::Get, path, None).await;
        assert_eq!((got, code(&error)), (status, expected), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_list_the_seeding_session_and_trackers_report_failures() {
    let api = Api::new().await;
    // A tracker nobody listens on: its announce fails, and the route says so.
    let dead = "http://127.0.0.1:9/announce".to_owned();
    let torrent = multi_file_torrent(api.path(), vec![vec![dead.clone()]]);
    let seeder = Session::new(SessionOptions {
        listen_port: 0,
        listen_host: "127.0.0.1".parse().unwrap(),
        enable_dht: false,
        checkpoint_enabled: false,
        state_dir: api.path().join("seeder-state"),
        download_dir: api.path().join("data"),
        ..SessionOptions::default()
    })
    .await
    .unwrap();
    let seeded = seeder.add_torrent(AddTorrent::parse(torrent.to_str().unwrap()).unwrap()).await.unwrap();
    assert!(eventually(|| seeder.status(seeded).is_ok_and(|s| s.is_complete())).await);

    // Slow enough that the download is still running when the list is read (two seeds may part).
    api.session.set_limits(ccbt_engine::RateLimits { download: 8 * 1024, upload: 0 });
    let body = json!({
        "source": torrent,
        "save_path": api.path().join("leech"),
        "peers": [seeder.listen_addr().to_string()],
    });
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let info_hash = added["info_hash"].as_str().unwrap().to_owned();
    let peers_path = format!("/api/v1/torrents/{info_hash}/peers");
    let seeder_addr = seeder.listen_addr().to_string();
    let mut seen = Value::Null;
    let session = api.session.clone();
    // The leecher connects to the seeder: the list shows it, with every piece once its
    // bitfield is in.
    for _ in 0..1000 {
        let (status, list) = api.call(Verb::Get, &peers_path, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        if list["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["addr"] == seeder_addr.as_str() && p["progress"] == 1.0)
        {
            seen = list;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let peer = seen["peers"]
        .as_array()
        .and_then(|p| p.first())
        .cloned()
        .unwrap_or_else(|| panic!("the seeder never showed up"));
    assert!(peer["client"].as_str().is_some_and(|c| !c.is_empty()), "{peer}");
    assert!(peer["download_rate"].is_u64() && peer["upload_rate"].is_u64(), "{peer}");
    // The seeder announced every piece, and the leecher wants them.
    assert_eq!((peer["pieces"].as_u64(), peer["progress"].as_f64()), (Some(4), Some(1.0)), "{peer}");
    let flags: Vec<&str> = peer["flags"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(flags.contains(&"seed"), "{peer}");
    api.session.set_limits(ccbt_engine::RateLimits::default());
    assert!(
        eventually(|| session.torrents().iter().all(|s| s.is_complete())).await,
        "the download never finished"
    );

    let trackers_path = format!("/api/v1/torrents/{info_hash}/trackers");
    let mut last = Value::Null;
    for _ in 0..1000 {
        let (status, list) = api.call(Verb::Get, &trackers_path, None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        if list["trackers"][0]["status"] == "error" {
            last = list;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let tracker = &last["trackers"][0];
    assert_eq!((tracker["url"].as_str(), tracker["tier"].as_u64()), (Some(dead.as_str()), Some(0)), "{last}");
    assert!(tracker["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{last}");
    for path in ["/api/v1/torrents/zz/peers", "/api/v1/torrents/zz/trackers"] {
        let (status, error) = api.call(Verb::Get, path, None).await;
        assert_eq!((status, code(&error)), (StatusCode::BAD_REQUEST, "invalid_info_hash"), "{path}");
    }
    let (status, error) = api.call(Verb::Get, "/api/v1/torrents/0123/peers", None).await;
    assert_eq!((status, code(&error)), (StatusCode::NOT_FOUND, "torrent_not_found"));
    seeder.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_change_live_and_garbage_is_refused() {
    let api = Api::new().await;
    let (status, limits) = api.call(Verb::Get, "/api/v1/limits", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(limits, json!({"download": 0, "upload": 0, "peer_download": 0, "peer_upload": 0}));
    let (status, limits) =
        put(&api, "/api/v1/limits", json!({"download": 1_048_576, "peer_upload": 100})).await;
    assert_eq!(status, StatusCode::OK, "{limits}");
    // A rate below the smallest usable one is raised to it, and the answer says so.
    assert_eq!(limits, json!({"download": 1_048_576, "upload": 0, "peer_download": 0, "peer_upload": 1024}));
    assert_eq!(api.session.limits().download, 1_048_576);
    assert_eq!(api.session.peer_limits().upload, 1024);
    let (_, limits) = put(&api, "/api/v1/limits", json!({"upload": 2048})).await;
    assert_eq!(limits["download"], 1_048_576, "a PUT changes only what it names: {limits}");
    assert_eq!(limits["upload"], 2048);

    let info_hash = add_complete(&api, &complete_torrent(api.path(), "lim.bin", 40_000)).await;
    let one = format!("/api/v1/torrents/{}/limits", &info_hash[..6]);
    let (status, limits) = api.call(Verb::Get, &one, None).await;
    assert_eq!(
        (status, &limits["download"], &limits["upload"]),
        (StatusCode::OK, &json!(0), &json!(0)),
        "{limits}"
    );
    let (status, limits) = put(&api, &one, json!({"upload": 65_536})).await;
    assert_eq!(status, StatusCode::OK, "{limits}");
    assert_eq!((limits["download"].as_u64(), limits["upload"].as_u64()), (Some(0), Some(65_536)));
    assert_eq!(api.session.torrent_limits(api.session.torrents()[0].id).unwrap().upload, 65_536);

    for (path, body, expected) in [
        ("/api/v1/limits", json!({"download": -1}), "invalid_limit"),
        ("/api/v1/limits", json!({"download": "fast"}), "invalid_limit"),
        ("/api/v1/limits", json!({"download": 1.5}), "invalid_limit"),
        ("/api/v1/limits", json!({"download": 17_179_869_185u64}), "invalid_limit"),
        ("/api/v1/limits", json!({}), "invalid_limit"),
        ("/api/v1/limits", json!({"down": 5}), "unknown_field"),
        ("/api/v1/limits", json!([1, 2]), "invalid_json"),
        (one.as_str(), json!({"peer_download": 5}), "unknown_field"),
        (one.as_str(), json!({"upload": null}), "invalid_limit"),
    ] {
        let (status, error) = put(&api, path, body.clone()).await;
        assert_eq!((status, code(&error)), (StatusCode::BAD_REQUEST, expected), "{path} {body}: {error}");
    }
    assert_eq!(api.session.limits().download, 1_048_576, "a refused PUT changed the limits");
    let (status, error) = put(&api, "/api/v1/torrents/0123/limits", json!({"upload": 1})).await;
    assert_eq!((status, code(&error)), (StatusCode::NOT_FOUND, "torrent_not_found"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_listed_and_only_idle_ones_deleted() {
    let api = Api::new().await;
    let info_hash = add_complete(&api, &complete_torrent(api.path(), "cp.bin", 40_000)).await;
    // Out of the session, its checkpoint kept.
    api.session.remove(api.session.torrents()[0].id).await.unwrap();
    let (status, list) = api.call(Verb::Get, "/api/v1/checkpoints", None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let entries = list["checkpoints"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{list}");
    let entry = &entries[0];
    assert_eq!(
        (entry["info_hash"].as_str(), entry["name"].as_str()),
        (Some(info_hash.as_str()), Some("cp.bin"))
    );
    assert_eq!((entry["running"].as_bool(), entry["progress"].as_f64()), (Some(false), Some(1.0)), "{entry}");
    assert!(entry["size"].as_u64().is_some_and(|s| s > 0) && entry["modified"].is_u64(), "{entry}");
    assert!(entry["format"] == "binary" || entry["format"] == "json", "{entry}");

    // Back in the session: listed as running, and its checkpoint cannot be deleted.
    let (status, _) = api.call(Verb::Post, &format!("/api/v1/torrents/{info_hash}/resume"), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, list) = api.call(Verb::Get, "/api/v1/checkpoints", None).await;
    assert_eq!(list["checkpoints"][0]["running"], true, "{list}");
    let one = format!("/api/v1/checkpoints/{}", &info_hash[..8]);
    let (status, error) = api.call(Verb::Delete, &one, None).await;
    assert_eq!((status, code(&error)), (StatusCode::CONFLICT, "torrent_running"));
    assert!(error["error"]["message"].as_str().unwrap().contains("is in the session"), "{error}");

    api.session.remove(api.session.torrents()[0].id).await.unwrap();
    let (status, _) = api.call(Verb::Delete, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = api.call(Verb::Get, "/api/v1/checkpoints", None).await;
    assert_eq!(list["checkpoints"], json!([]), "{list}");
    let (status, error) = api.call(Verb::Delete, &one, None).await;
    assert_eq!((status, code(&error)), (StatusCode::NOT_FOUND, "checkpoint_not_found"));
    let (status, error) = api.call(Verb::Delete, "/api/v1/checkpoints/xyz", None).await;
    assert_eq!((status, code(&error)), (StatusCode::BAD_REQUEST, "invalid_info_hash"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_list_filters_by_state_and_name() {
    let api = Api::new().await;
    add_complete(&api, &complete_torrent(api.path(), "Hello World.bin", 20_000)).await;
    let count = |list: &Value| list["torrents"].as_array().map(Vec::len);
    for (query, expected) in [
        ("", 1),
        ("?state=seeding", 1),
        ("?state=downloading,paused", 0),
        ("?name=WORLD", 1),
        ("?name=hello+world", 1),
        ("?name=hello%20world&state=seeding", 1),
        ("?name=nope", 0),
    ] {
        let (status, list) = api.call(Verb::Get, &format!("/api/v1/torrents{query}"), None).await;
        assert_eq!((status, count(&list)), (StatusCode::OK, Some(expected)), "{query}: {list}");
    }
    for (query, expected) in [("?state=done", "invalid_state"), ("?sort=name", "unknown_parameter")] {
        let (status, error) = api.call(Verb::Get, &format!("/api/v1/torrents{query}"), None).await;
        assert_eq!((status, code(&error)), (StatusCode::BAD_REQUEST, expected), "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_routes_need_a_configuration() {
    // An embedded session handed to the API without a configuration: nothing to show or change.
    let api = Api::new().await;
    let (status, error) = api.call(Verb::Get, "/api/v1/config", None).await;
    assert_eq!((status, code(&error)), (StatusCode::NOT_FOUND, "no_configuration"));
    let body = json!({"settings": {"limits.global_down_kib": 5}});
    let (status, error) = put(&api, "/api/v1/config", body).await;
    assert_eq!((status, code(&error)), (StatusCode::NOT_FOUND, "no_configuration"));
    let (status, error) = put(&api, "/api/v1/config", json!({"settings": {}})).await;
    assert_eq!((status, code(&error)), (StatusCode::BAD_REQUEST, "invalid_json"));
}
