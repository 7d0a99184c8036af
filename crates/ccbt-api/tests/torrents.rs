//! The torrent routes over a real session: add a complete .torrent, see it in the list and the
//! session counts, pause and resume it, refuse bad requests with their codes, remove it (its
//! checkpoint with it).

mod support;

use axum::http::StatusCode;
use ccbt_api::Verb;
use serde_json::json;
use support::{code, complete_torrent, eventually, Api};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_list_pause_resume_remove() {
    let api = Api::new().await;
    let torrent = complete_torrent(api.path(), "hello.bin", 100_000);
    let data = api.path().join("data");
    let body = json!({ "source": torrent, "save_path": data }).to_string();
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let info_hash = added["info_hash"].as_str().unwrap().to_owned();
    assert_eq!(info_hash.len(), 40);
    assert_eq!(added["name"], "hello.bin");
    assert_eq!(added["save_path"], data.to_str().unwrap());

    let (status, again) = api.call(Verb::Post, "/api/v1/torrents", Some(body)).await;
    assert_eq!((status, code(&again)), (StatusCode::CONFLICT, "duplicate_torrent"));

    // The data is all there: after its check the torrent seeds.
    let one = format!("/api/v1/torrents/{}", &info_hash[..8]);
    let session = api.session.clone();
    assert!(eventually(|| session.torrents().iter().all(|s| s.is_complete())).await);
    let (status, view) = api.call(Verb::Get, &one, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((view["state"].as_str(), view["progress"].as_f64()), (Some("seeding"), Some(1.0)), "{view}");
    let (_, list) = api.call(Verb::Get, "/api/v1/torrents", None).await;
    assert_eq!(list["torrents"].as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list["torrents"][0]["info_hash"], info_hash.as_str());
    let (_, stats) = api.call(Verb::Get, "/api/v1/session", None).await;
    assert_eq!(stats["torrents"]["total"], 1, "{stats}");
    assert_eq!(stats["torrents"]["seeding"], 1, "{stats}");
    assert_eq!(stats["version"], env!("CARGO_PKG_VERSION"));

    let (status, _) = api.call(Verb::Post, &format!("{one}/pause"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let state = |s: &ccbt_engine::Session| s.torrents()[0].state.to_string();
    assert!(eventually(|| state(&session) == "paused").await, "{}", state(&session));
    let (status, _) = api.call(Verb::Post, &format!("{one}/resume"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(eventually(|| state(&session) == "seeding").await, "{}", state(&session));

    let (status, refused) = api.call(Verb::Delete, &format!("{one}?delete_data=maybe"), None).await;
    assert_eq!((status, code(&refused)), (StatusCode::BAD_REQUEST, "invalid_parameter"));
    assert_eq!(session.torrents().len(), 1, "a refused delete removed the torrent");
    // Out of the session with its checkpoint kept: resume adds it from the checkpoint.
    let id = session.torrents()[0].id;
    session.remove(id).await.unwrap();
    let (status, back) = api.call(Verb::Post, &format!("{one}/resume"), None).await;
    assert_eq!(status, StatusCode::CREATED, "{back}");
    assert_eq!(back["info_hash"], info_hash.as_str());
    assert_eq!(back["save_path"], data.to_str().unwrap());
    let (status, _) = api.call(Verb::Delete, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = api.call(Verb::Post, &format!("{one}/resume"), None).await;
    assert_eq!(
        (status, code(&gone)),
        (StatusCode::NOT_FOUND, "torrent_not_found"),
        "no checkpoint after DELETE"
    );
    let (status, gone) = api.call(Verb::Get, &one, None).await;
    assert_eq!((status, code(&gone)), (StatusCode::NOT_FOUND, "torrent_not_found"));
    let checkpoints = api.path().join("checkpoints");
    let left: Vec<_> = std::fs::read_dir(&checkpoints).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.iter().all(|e| !e.file_name().to_string_lossy().starts_with(&info_hash)), "{left:?}");
    assert!(data.join("hello.bin").exists(), "removing a torrent must keep its files");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_what_is_wrong() {
    let api = Api::new().await;
    let torrent = complete_torrent(api.path(), "x.bin", 20_000);
    let absolute = torrent.to_str().unwrap();
    let cases = [
        ("not json".to_owned(), "invalid_json"),
        (json!({ "sauce": absolute }).to_string(), "invalid_json"),
        (json!({ "source": "x.torrent" }).to_string(), "relative_path"),
        (json!({ "source": absolute, "save_path": "rel/dir" }).to_string(), "relative_path"),
        (json!({ "source": absolute, "peers": ["nowhere"] }).to_string(), "invalid_peer"),
        (json!({ "source": "/no/such/file.torrent" }).to_string(), "unreadable_torrent_file"),
        (json!({ "source": "magnet:?xt=urn:btih:zz" }).to_string(), "invalid_magnet"),
    ];
    for (body, expected) in cases {
        let (status, json) = api.call(Verb::Post, "/api/v1/torrents", Some(body.clone())).await;
        assert_eq!((status, code(&json)), (StatusCode::BAD_REQUEST, expected), "{body}: {json}");
    }
    std::fs::write(api.path().join("junk.torrent"), b"d4:junke").unwrap();
    let junk = json!({ "source": api.path().join("junk.torrent") }).to_string();
    let (status, json) = api.call(Verb::Post, "/api/v1/torrents", Some(junk)).await;
    assert_eq!((status, code(&json)), (StatusCode::BAD_REQUEST, "invalid_torrent"));
    for (path, status, expected) in [
        ("/api/v1/torrents/xyz", StatusCode::BAD_REQUEST, "invalid_info_hash"),
        ("/api/v1/torrents/abc", StatusCode::NOT_FOUND, "torrent_not_found"),
    ] {
        let (got, json) = api.call(Verb::Get, path, None).await;
        assert_eq!((got, code(&json)), (status, expected), "{path}");
    }
    assert!(api.session.torrents().is_empty(), "a refused request added a torrent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn added_paused_stays_paused() {
    let api = Api::new().await;
    let torrent = complete_torrent(api.path(), "p.bin", 40_000);
    let body = json!({ "source": torrent, "save_path": api.path().join("data"), "paused": true }).to_string();
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let session = api.session.clone();
    assert!(eventually(|| session.torrents()[0].state.to_string() == "paused").await);
}
