//! `/api/v1/xet/follows`: the routes answer `xet_off` without the extension and `dht_off`
//! without the DHT, check their input, refuse a second follow of an item or a folder, keep the
//! follows in `xet_follows.json` (read back by a new registry) and forget them on DELETE. A
//! damaged file is moved aside and named, not fatal. (Following a published version through
//! the daemon: crates/ccbt/tests/xet_follow_daemon.rs.)

mod support;

use std::path::Path;

use axum::http::StatusCode;
use base64::Engine as _;
use ccbt_api::{Verb, XetFollows, FOLLOWS_FILE};
use serde_json::{json, Value};
use support::{code, Api};

const KEY: &str = "d1c1b9e5a9c3d7b5f2e4a6c8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8";

fn link(salt: &str) -> String {
    let salt: String = salt.bytes().map(|b| format!("{b:02x}")).collect();
    format!("magnet:?xs=urn:btpk:{KEY}&s={salt}")
}

/// An API whose session has the chunk store and (unless `dht` is false) a DHT node with no
/// other node to ask.
async fn xet_api(dht: bool) -> Api {
    Api::with(|options, dir| {
        options.xet_store_dir = Some(dir.join("state/xet"));
        options.enable_dht = dht;
        options.dht_port = 0;
        options.dht_bootstrap_nodes = Vec::new();
    })
    .await
}

fn follows_file(api: &Api) -> std::path::PathBuf {
    api.path().join("state").join(FOLLOWS_FILE)
}

async fn post(api: &Api, body: Value) -> (StatusCode, Value) {
    api.call(Verb::Post, "/api/v1/xet/follows", Some(body.to_string())).await
}

#[tokio::test]
async fn without_the_extension_the_routes_answer_xet_off() {
    let api = Api::new().await;
    let dir = api.path().join("set");
    let body = json!({"source": link("a"), "dir": dir});
    for (verb, path, body) in [
        (Verb::Get, "/api/v1/xet/follows", None),
        (Verb::Post, "/api/v1/xet/follows", Some(body.to_string())),
        (Verb::Delete, "/api/v1/xet/follows/0123456789abcdef", None),
    ] {
        let (status, answer) = api.call(verb, path, body).await;
        assert_eq!((status, code(&answer)), (StatusCode::NOT_FOUND, "xet_off"), "{path}");
    }
    assert!(!dir.exists(), "a refused request created the folder");
}

#[tokio::test]
async fn without_the_dht_a_follow_is_refused() {
    let api = xet_api(false).await;
    let (status, answer) = post(&api, json!({"source": link("a"), "dir": api.path().join("set")})).await;
    assert_eq!((status, code(&answer)), (StatusCode::CONFLICT, "dht_off"), "{answer}");
    let (status, answer) = api.call(Verb::Get, "/api/v1/xet/follows", None).await;
    assert_eq!((status, answer), (StatusCode::OK, json!({"follows": []})));
}

#[tokio::test]
async fn bad_requests_are_named_and_create_nothing() {
    let api = xet_api(true).await;
    let dir = api.path().join("set");
    let plain = support::complete_torrent(api.path(), "plain.bin", 20_000);
    let plain_b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&plain).unwrap());
    let cases = [
        (json!({"source": "magnet:?xs=urn:btpk:abcd", "dir": dir}), "invalid_link"),
        (
            json!({"source": "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567", "dir": dir}),
            "invalid_link",
        ),
        (json!({"source": link("a"), "dir": "relative/set"}), "relative_path"),
        (json!({"source": link("a")}), "missing_folder"),
        (json!({"dir": dir}), "missing_source"),
        (json!({"source": "old.torrent", "dir": dir}), "relative_path"),
        (json!({"source": api.path().join("none.torrent"), "dir": dir}), "unreadable_torrent_file"),
        (json!({"source": plain, "dir": dir}), "no_publisher"),
        (json!({"torrent": plain_b64, "dir": dir}), "no_publisher"),
        (json!({"torrent": "%%%", "dir": dir}), "invalid_base64"),
        (json!({"torrent": plain_b64, "source": link("a"), "dir": dir}), "source_and_torrent"),
        (json!({"source": link("a"), "dir": dir, "poll_secs": 0}), "invalid_poll_secs"),
        (json!({"source": link("a"), "dir": dir, "peers": ["nowhere"]}), "invalid_peer"),
        (json!({"source": link("a"), "dir": dir, "salt": "x"}), "invalid_json"),
    ];
    for (body, expected) in cases {
        let (status, answer) = post(&api, body.clone()).await;
        assert_eq!((status, code(&answer)), (StatusCode::BAD_REQUEST, expected), "{body}: {answer}");
    }
    assert!(!dir.exists(), "a refused request created the folder");
    assert!(!follows_file(&api).exists());
}

#[tokio::test]
async fn a_follow_is_kept_listed_refused_twice_and_removed() {
    let api = xet_api(true).await;
    let dir = api.path().join("set");
    let (status, view) = post(&api, json!({"source": link("org/set"), "dir": dir, "poll_secs": 30})).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    assert!(dir.is_dir());
    assert_eq!(view["link"], link("org/set"));
    assert_eq!((view["public_key"].as_str(), view["salt"].as_str()), (Some(KEY), Some("org/set")));
    assert_eq!((view["dir"].as_str(), view["poll_secs"].as_u64()), (dir.to_str(), Some(30)));
    // A link names no version yet: the follow looks the item up first.
    assert_eq!((view["state"].as_str(), &view["info_hash"]), (Some("looking_up"), &Value::Null));

    // The same item into the same folder (spelt differently), and another item into it.
    let again = format!("{}/", dir.display());
    let (status, answer) = post(&api, json!({"source": link("org/set"), "dir": again})).await;
    assert_eq!((status, code(&answer)), (StatusCode::CONFLICT, "follow_exists"), "{answer}");
    let (status, answer) = post(&api, json!({"source": link("org/other"), "dir": dir})).await;
    assert_eq!((status, code(&answer)), (StatusCode::CONFLICT, "folder_followed"), "{answer}");
    // The same item into another folder is another follow.
    let other_dir = api.path().join("copy");
    let (status, other) = post(&api, json!({"source": link("org/set"), "dir": other_dir})).await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_ne!(other["id"], view["id"]);

    let (status, list) = api.call(Verb::Get, "/api/v1/xet/follows", None).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> =
        list["follows"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&id.as_str()));

    // On disk: a new registry reads both back (not started: `stopped` until the daemon runs it).
    let (reread, problem) = XetFollows::open(follows_file(&api));
    assert_eq!(problem, None);
    let listed = reread.list();
    let first = listed.iter().find(|f| f.id == id).expect("the follow was saved");
    assert_eq!(
        (first.link.as_str(), first.dir.as_path(), first.poll_secs),
        (link("org/set").as_str(), dir.as_path(), 30)
    );
    assert_eq!(first.state, "stopped");

    let path = format!("/api/v1/xet/follows/{id}");
    let (status, _) = api.call(Verb::Delete, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = api.call(Verb::Delete, &path, None).await;
    assert_eq!((status, code(&answer)), (StatusCode::NOT_FOUND, "follow_not_found"));
    assert!(dir.is_dir(), "the folder stays");
    let (reread, _) = XetFollows::open(follows_file(&api));
    assert_eq!(reread.list().len(), 1);
    // The folder is free again.
    let (status, _) = post(&api, json!({"source": link("org/other"), "dir": dir})).await;
    assert_eq!(status, StatusCode::CREATED);
    api.follows.shutdown().await;
}

#[tokio::test]
async fn a_damaged_file_is_moved_aside_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FOLLOWS_FILE);
    std::fs::write(&path, b"{\"format\": 1, \"follows\": [{\"id\": 3}]}").unwrap();
    let (follows, problem) = XetFollows::open(path.clone());
    let problem = problem.expect("the damage is reported");
    assert!(problem.contains("is damaged") && problem.contains("no follow resumed"), "{problem}");
    assert!(problem.contains("xet_follows.json.damaged"), "{problem}");
    assert!(follows.list().is_empty());
    assert!(!path.exists());
    assert!(Path::new(&format!("{}.damaged", path.display())).exists());
}
