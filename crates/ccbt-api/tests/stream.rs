//! File streaming with byte ranges and the event stream, over a torrent the API's session
//! downloads from a second, upload-limited ccbt session on loopback.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, StatusCode};
use ccbt_api::Verb;
use ccbt_engine::{AddTorrent, RateLimits, Session, SessionOptions};
use futures_util::StreamExt as _;
use serde_json::json;
use support::{code, complete_torrent, Api, ADDR};

/// A seeding session of `name` (`len` bytes, made by `complete_torrent` in a folder of its own),
/// uploading at most `upload` bytes/s (0: unlimited); the session, the torrent and the data.
async fn seeder(api: &Api, name: &str, len: usize, upload: u64) -> (Session, std::path::PathBuf, Vec<u8>) {
    let dir = api.path().join("seeder");
    let torrent = complete_torrent(&dir, name, len);
    let data = std::fs::read(dir.join("data").join(name)).unwrap();
    let options = SessionOptions {
        listen_port: 0,
        listen_host: "127.0.0.1".parse().unwrap(),
        enable_dht: false,
        state_dir: dir.join("state"),
        checkpoint_dir: dir.join("checkpoints"),
        download_dir: dir.join("data"),
        ..SessionOptions::default()
    };
    let session = Session::new(options).await.unwrap();
    session.set_limits(RateLimits { download: 0, upload });
    let add = AddTorrent::from_file(&torrent).unwrap().save_path(dir.join("data"));
    let id = session.add_torrent(add).await.unwrap();
    assert!(
        support::eventually(|| session.status(id).is_ok_and(|s| s.is_complete())).await,
        "seeder not ready"
    );
    (session, torrent, data)
}

/// Adds `torrent` through the API with `seeder` as its peer; its info hash.
async fn add_from(api: &Api, torrent: &std::path::Path, seeder: &Session) -> String {
    let body = json!({
        "source": torrent,
        "save_path": api.path().join("downloads"),
        "peers": [seeder.listen_addr().to_string()],
    });
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    added["info_hash"].as_str().unwrap().to_owned()
}

/// `GET path` with `range`: status, headers and the whole body (a 20 s deadline turns a hang
/// into a failure).
async fn get(api: &Api, path: &str, range: Option<&str>) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut builder = Request::get(path)
        .header(header::HOST, ADDR)
        .header(header::AUTHORIZATION, format!("Bearer {}", api.token.as_str()));
    if let Some(range) = range {
        builder = builder.header(header::RANGE, range);
    }
    let fetch = async {
        let response = api.open(builder.body(Body::empty()).unwrap()).await;
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, 16 << 20).await.expect("the body was cut");
        (parts.status, parts.headers, bytes.to_vec())
    };
    tokio::time::timeout(Duration::from_secs(20), fetch).await.expect("the request hung")
}

fn header_of(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(&name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_return_the_right_bytes_while_downloading() {
    let api = Api::new().await;
    const LEN: usize = 1_000_000;
    // 128 KiB/s: the million bytes take several seconds, so the ranges below are read while the
    // torrent downloads, each waiting for its own pieces.
    let (seeder, torrent, data) = seeder(&api, "clip.mkv", LEN, 128 * 1024).await;
    let hash = add_from(&api, &torrent, &seeder).await;
    let url = format!("/api/v1/torrents/{hash}/files/0/stream");
    let status = api.session.torrents()[0].clone();
    assert!(
        status.bytes_have < status.total_bytes,
        "the rate limit should keep the download going: {status:?}"
    );

    let cases: &[(&str, std::ops::Range<usize>)] = &[
        ("bytes=-1000", LEN - 1000..LEN),
        ("bytes=500000-500099", 500_000..500_100),
        ("bytes=0-99", 0..100),
        ("bytes=999990-", 999_990..LEN),
        ("bytes=123456-2000000", 123_456..LEN),
    ];
    for (range, want) in cases {
        let (status, headers, body) = get(&api, &url, Some(range)).await;
        assert_eq!(status, StatusCode::PARTIAL_CONTENT, "{range}");
        let content_range = format!("bytes {}-{}/{LEN}", want.start, want.end - 1);
        assert_eq!(header_of(&headers, header::CONTENT_RANGE), content_range, "{range}");
        assert_eq!(header_of(&headers, header::CONTENT_LENGTH), want.len().to_string(), "{range}");
        assert_eq!(header_of(&headers, header::ACCEPT_RANGES), "bytes");
        assert_eq!(header_of(&headers, header::CONTENT_TYPE), "video/x-matroska");
        assert!(body == data[want.clone()], "{range}: wrong bytes");
    }

    let (status, headers, body) = get(&api, &url, Some("bytes=1000000-")).await;
    assert_eq!(status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header_of(&headers, header::CONTENT_RANGE), format!("bytes */{LEN}"));
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(code(&json), "range_not_satisfiable");

    // No Range: the whole file, 200.
    let (status, headers, body) = get(&api, &url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&headers, header::CONTENT_LENGTH), LEN.to_string());
    assert_eq!(header_of(&headers, header::ACCEPT_RANGES), "bytes");
    assert!(header_of(&headers, header::CONTENT_RANGE).is_empty());
    assert!(body == data, "the whole file differs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stream_requests_name_what_is_wrong() {
    let api = Api::new().await;
    let (seeder, torrent, _) = seeder(&api, "notes.txt", 40_000, 0).await;
    let hash = add_from(&api, &torrent, &seeder).await;
    let cases = [
        (format!("/api/v1/torrents/{}/files/0/stream", "ab".repeat(20)), None, "torrent_not_found"),
        (format!("/api/v1/torrents/{hash}/files/1/stream"), None, "file_not_found"),
        (format!("/api/v1/torrents/{hash}/files/one/stream"), None, "invalid_file_index"),
        (format!("/api/v1/torrents/{hash}/files/0/stream"), Some("bytes=9-3"), "invalid_range"),
        (format!("/api/v1/torrents/{hash}/files/0/stream"), Some("bytes=x"), "invalid_range"),
    ];
    for (path, range, expected) in cases {
        let (status, headers, body) = get(&api, &path, range).await;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(code(&json), expected, "{path} {range:?}: {status}");
        assert_eq!(header_of(&headers, header::CONTENT_TYPE), "application/json");
    }
    let (status, headers, body) = get(&api, &format!("/api/v1/torrents/{hash}/files/0/stream"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&headers, header::CONTENT_TYPE), "text/plain; charset=utf-8");
    assert_eq!(body.len(), 40_000);
}

/// Opens `GET /api/v1/events`, checking its status and type.
async fn open_events(api: &Api) -> axum::body::BodyDataStream {
    let request = Request::get("/api/v1/events")
        .header(header::HOST, ADDR)
        .header(header::AUTHORIZATION, format!("Bearer {}", api.token.as_str()))
        .body(Body::empty())
        .unwrap();
    let response = api.open(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_of(response.headers(), header::CONTENT_TYPE), "text/event-stream");
    response.into_body().into_data_stream()
}

/// The names of the events of `body` up to `last`, in order, each checked to name torrent
/// `hash` (a 20 s deadline turns a hang into a failure).
async fn events_until(body: &mut axum::body::BodyDataStream, hash: &str, last: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut text = String::new();
    let read = async {
        while !names.iter().any(|n| n == last) {
            let chunk = body.next().await.expect("the event stream ended").unwrap();
            text.push_str(std::str::from_utf8(&chunk).unwrap());
            // Events end with a blank line; a partial one waits for the next chunk.
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                let name = event.lines().find_map(|l| l.strip_prefix("event: ")).map(str::to_owned);
                let data = event.lines().find_map(|l| l.strip_prefix("data: ")).map(str::to_owned);
                let (Some(name), Some(data)) = (name, data) else { continue }; // keep-alive comments
                let data: serde_json::Value = serde_json::from_str(&data).unwrap();
                if name != "lagged" {
                    assert_eq!(data["info_hash"], hash, "{name}: {data}");
                }
                names.push(name);
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.unwrap_or_else(|_| panic!("no {last} event"));
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_report_added_then_completed() {
    let api = Api::new().await;
    let (seeder, torrent, _) = seeder(&api, "album.flac", 300_000, 0).await;
    let mut body = open_events(&api).await;
    let hash = add_from(&api, &torrent, &seeder).await;
    let names = events_until(&mut body, &hash, "torrent_completed").await;
    assert_eq!(names.first().map(String::as_str), Some("torrent_added"), "{names:?}");
    assert!(names.iter().all(|n| n != "torrent_removed" && n != "torrent_error"), "{names:?}");

    let (status, _) = api.call(Verb::Delete, &format!("/api/v1/torrents/{hash}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let names = events_until(&mut body, &hash, "torrent_removed").await;
    assert_eq!(names.last().map(String::as_str), Some("torrent_removed"), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_report_a_magnet_links_metadata() {
    let api = Api::new().await;
    let (seeder, torrent, _) = seeder(&api, "talk.mp3", 200_000, 0).await;
    let hash = AddTorrent::from_file(&torrent).unwrap().info_hash().to_hex();
    let mut body = open_events(&api).await;
    let add = json!({
        "source": format!("magnet:?xt=urn:btih:{hash}"),
        "save_path": api.path().join("downloads"),
        "peers": [seeder.listen_addr().to_string()],
    });
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(add.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let names = events_until(&mut body, &hash, "torrent_completed").await;
    let at = |name: &str| names.iter().position(|n| n == name);
    assert_eq!(at("torrent_added"), Some(0), "{names:?}");
    assert!(at("metadata_received").is_some_and(|m| Some(m) < at("torrent_completed")), "{names:?}");
}

/// Over a real HTTP/1.1 connection (what a player sees): the range's headers reach the wire
/// with a fixed Content-Length, and the body is exactly the range's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_over_a_real_connection() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let api = Api::new().await;
    let (seeder, torrent, data) = seeder(&api, "film.mp4", 200_000, 0).await;
    let hash = add_from(&api, &torrent, &seeder).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ccbt_api::serve(listener, api.router.clone(), async {
        let _ = stopped.await;
    }));
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // The Host the guard expects (the API's configured address), not the test port.
    let request = format!(
        "GET /api/v1/torrents/{hash}/files/0/stream HTTP/1.1\r\nHost: {ADDR}\r\n\
         Authorization: Bearer {}\r\nRange: bytes=100000-100999\r\nConnection: close\r\n\r\n",
        api.token.as_str()
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut answer))
        .await
        .expect("the answer hung")
        .unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("no end of headers");
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(head.contains("\r\ncontent-length: 1000"), "{head}");
    assert!(head.contains("\r\ncontent-range: bytes 100000-100999/200000"), "{head}");
    assert!(head.contains("\r\ncontent-type: video/mp4"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(answer[split + 4..] == data[100_000..101_000], "wrong bytes on the wire");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
