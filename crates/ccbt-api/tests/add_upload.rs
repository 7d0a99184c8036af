//! Adding a torrent by upload (its `.torrent` in the request, base64) with its own rate limits
//! and file selection, and the refusals of malformed uploads.

mod support;

use axum::http::StatusCode;
use base64::Engine as _;
use ccbt_api::Verb;
use ccbt_engine::{FilePriority, TorrentLimits};
use serde_json::json;
use support::{code, Api};

/// A two-file torrent (`pair/a.bin`, `pair/b.bin`) whose data nobody has.
fn two_files() -> Vec<u8> {
    let builder = ccbt_metainfo::TorrentBuilder {
        name: "pair".into(),
        files: vec![(vec!["a.bin".into()], 40_000), (vec!["b.bin".into()], 40_000)],
        piece_length: 16384,
        piece_hashes: vec![[7; 20]; 5],
        ..ccbt_metainfo::TorrentBuilder::default()
    };
    builder.build().unwrap()
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_torrent_gets_its_limits_and_selection() {
    let api = Api::new().await;
    let data = api.path().join("data");
    let body = json!({
        "torrent": base64(&two_files()),
        "save_path": data,
        "down_limit_kib": 50,
        "up_limit_kib": 60,
        "skip": [1],
    });
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["name"], "pair");
    let id = api.session.torrents()[0].id;
    let limits = api.session.torrent_limits(id).unwrap();
    assert_eq!(limits, TorrentLimits { download: 50 * 1024, upload: 60 * 1024 });
    let priorities: Vec<FilePriority> = api.session.files(id).unwrap().iter().map(|f| f.priority).collect();
    assert_eq!(priorities, [FilePriority::Normal, FilePriority::Skip]);
    // Uploaded again: the same torrent, refused as a duplicate.
    let again = json!({ "torrent": base64(&two_files()) }).to_string();
    let (status, json) = api.call(Verb::Post, "/api/v1/torrents", Some(again)).await;
    assert_eq!((status, code(&json)), (StatusCode::CONFLICT, "duplicate_torrent"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_uploads_name_what_is_wrong() {
    let api = Api::new().await;
    let good = base64(&two_files());
    // Bigger than axum's default body limit of 2 MB, yet under the API's own: the parser
    // answers, not the body limit.
    let big = base64(&vec![b'x'; 3_000_000]);
    let cases = [
        (json!({}), "missing_source"),
        (json!({ "source": "magnet:?xt=urn:btih:zz", "torrent": good }), "source_and_torrent"),
        (json!({ "torrent": "not base64!" }), "invalid_base64"),
        (json!({ "torrent": base64(b"d4:junke") }), "invalid_torrent"),
        (json!({ "torrent": big }), "invalid_torrent"),
        (json!({ "torrent": good, "down_limit_kib": u64::MAX }), "invalid_limit"),
        (json!({ "torrent": good, "select": [0, 9] }), "invalid_file_selection"),
    ];
    for (body, expected) in cases {
        let body = body.to_string();
        let (status, json) = api.call(Verb::Post, "/api/v1/torrents", Some(body.clone())).await;
        let shown = &body[..body.len().min(120)];
        assert_eq!((status, code(&json)), (StatusCode::BAD_REQUEST, expected), "{shown}: {json}");
    }
    assert!(api.session.torrents().is_empty(), "a refused request added a torrent");
}
