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

/// A one-file v2 Xet torrent naming publisher `KEY` with salt `org/set`, its file written
/// under `dir`.
fn published_torrent(dir: &Path) -> (Vec<u8>, ccbt_metainfo::Torrent) {
    use ccbt_core::merkle::{file_tree_leaves, leaf_hash, root_from_layer, Node, LEAF_SIZE};
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("set.bin"), &data).unwrap();
    let leaves: Vec<Node> = data.chunks(LEAF_SIZE as usize).map(leaf_hash).collect();
    let root = root_from_layer(&leaves, file_tree_leaves(data.len() as u64), [0; 32]);
    let mut hasher = ccbt_xet::FileHasher::new();
    hasher.update(&data);
    let mut xet = ccbt_metainfo::XetBuild::from_chunks(vec![hasher.finish().1], None);
    let key: Vec<u8> = (0..32).map(|i| u8::from_str_radix(&KEY[2 * i..2 * i + 2], 16).unwrap()).collect();
    xet.publisher =
        Some(ccbt_metainfo::XetPublisher { public_key: key.try_into().unwrap(), salt: b"org/set".to_vec() });
    let builder = ccbt_metainfo::TorrentBuilder {
        version: ccbt_metainfo::MetaVersion::V2,
        name: "set.bin".into(),
        files: vec![(vec![], data.len() as u64)],
        piece_length: 16384,
        v2_piece_hashes: vec![vec![root]],
        xet: Some(xet),
        ..ccbt_metainfo::TorrentBuilder::default()
    };
    let bytes = builder.build().unwrap();
    let torrent = ccbt_metainfo::Torrent::from_bytes(&bytes).unwrap();
    (bytes, torrent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_torrent_is_added_checked_and_followed() {
    let api = xet_api(true).await;
    let dir = api.path().join("set");
    let (bytes, torrent) = published_torrent(&dir);
    let encoded = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let (status, view) = post(&api, json!({"torrent": encoded, "dir": dir, "poll_secs": 5})).await;
    assert_eq!(status, StatusCode::CREATED, "{view}");
    assert_eq!(view["link"], link("org/set"));
    let ih = ccbt_engine::follow_id(&torrent).to_hex();
    assert_eq!((view["info_hash"].as_str(), view["seq"].as_i64()), (Some(ih.as_str()), Some(0)));
    // The version is in the session at once, saved in the folder; its data there is checked
    // and the follow then polls the item.
    let added = api.session.torrents();
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].save_path, dir);
    let following = support::eventually(|| {
        let list = api.follows.list();
        list[0].state == "following" && list[0].torrent.as_ref().is_some_and(|t| t.name == "set.bin")
    })
    .await;
    assert!(following, "{:?}", api.follows.list());
    assert!(api.session.status(added[0].id).unwrap().is_complete());

    // The same version into another folder: the daemon has it elsewhere.
    let (status, answer) = post(&api, json!({"torrent": encoded, "dir": api.path().join("copy")})).await;
    assert_eq!((status, code(&answer)), (StatusCode::CONFLICT, "torrent_elsewhere"), "{answer}");
    let (status, list) = api.call(Verb::Get, "/api/v1/xet/follows", None).await;
    assert_eq!((status, list["follows"].as_array().unwrap().len()), (StatusCode::OK, 1));
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
