//! Signed streaming URLs (a player without header support streams one file with `?sig=`, and
//! that signature opens nothing else) and HEAD on the stream route, as players probe with it.

mod support;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use ccbt_api::{StreamSigner, StreamTarget, StreamUrl, StreamUrlList, Verb, ROUTES};
use serde_json::json;
use support::{code, complete_torrent, Api, ADDR};

/// A torrent added through the API over its complete data (so it seeds after its check), or
/// paused when `paused`; its info hash and the file's bytes.
async fn add_complete(api: &Api, name: &str, len: usize, paused: bool) -> (String, Vec<u8>) {
    let dir = api.path().join(name);
    let torrent = complete_torrent(&dir, name, len);
    let body = json!({ "source": torrent, "save_path": dir.join("data"), "paused": paused });
    let (status, added) = api.call(Verb::Post, "/api/v1/torrents", Some(body.to_string())).await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let hash = added["info_hash"].as_str().unwrap().to_owned();
    if !paused {
        let seeding =
            || api.session.torrents().iter().any(|s| s.info_hash.to_hex() == hash && s.is_complete());
        assert!(support::eventually(seeding).await, "{name} never completed its check");
    }
    (hash, std::fs::read(dir.join("data").join(name)).unwrap())
}

/// The signed URL of file `index` of `hash`, from the API, as a path and query (the part a
/// request line carries).
async fn signed_path(api: &Api, hash: &str, index: u32) -> String {
    let (status, body) =
        api.call(Verb::Get, &format!("/api/v1/torrents/{hash}/files/{index}/url"), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url: StreamUrl = serde_json::from_value(body).unwrap();
    url.url.strip_prefix(&format!("http://{ADDR}")).expect("the URL names the API's address").to_owned()
}

/// `method path` with the API's Host, no Authorization, and `range`: status, headers, body
/// (a 20 s deadline turns a hang into a failure).
async fn anonymous(
    api: &Api,
    method: Method,
    path: &str,
    range: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut builder = Request::builder().method(method).uri(path).header(header::HOST, ADDR);
    if let Some(range) = range {
        builder = builder.header(header::RANGE, range);
    }
    let fetch = async {
        let (parts, body) = api.open(builder.body(Body::empty()).unwrap()).await.into_parts();
        let bytes = axum::body::to_bytes(body, 16 << 20).await.expect("the body was cut");
        (parts.status, parts.headers, bytes.to_vec())
    };
    tokio::time::timeout(Duration::from_secs(20), fetch).await.expect("the request hung")
}

fn header_of(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(&name).map_or("", |v| v.to_str().unwrap())
}

fn error_code(body: &[u8]) -> String {
    let json: serde_json::Value = serde_json::from_slice(body).unwrap();
    code(&json).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_url_streams_without_a_token() {
    let api = Api::new().await;
    const LEN: usize = 300_000;
    let (hash, data) = add_complete(&api, "movie.mkv", LEN, false).await;
    let path = signed_path(&api, &hash, 0).await;
    assert!(path.starts_with(&format!("/api/v1/torrents/{hash}/files/0/stream?sig=")), "{path}");

    let (status, headers, body) = anonymous(&api, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header_of(&headers, header::CONTENT_TYPE), "video/x-matroska");
    assert!(body == data, "the whole file differs");
    let (status, headers, body) = anonymous(&api, Method::GET, &path, Some("bytes=1000-1999")).await;
    assert_eq!(status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(header_of(&headers, header::CONTENT_RANGE), format!("bytes 1000-1999/{LEN}"));
    assert!(body == data[1000..2000], "wrong range");

    // The list route gives the same URL, with the file's path and length.
    let (status, list) = api.call(Verb::Get, &format!("/api/v1/torrents/{}/urls", &hash[..8]), None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list: StreamUrlList = serde_json::from_value(list).unwrap();
    assert_eq!(list.info_hash, hash);
    assert_eq!(list.files.len(), 1);
    assert_eq!((list.files[0].index, list.files[0].length), (0, LEN as u64));
    assert_eq!(list.files[0].path, std::path::Path::new("movie.mkv"));
    assert_eq!(list.files[0].url, format!("http://{ADDR}{path}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_opens_nothing_else() {
    let api = Api::new().await;
    let (hash, _) = add_complete(&api, "a.mp4", 40_000, false).await;
    let (other, _) = add_complete(&api, "b.mp4", 40_000, true).await;
    let good = signed_path(&api, &hash, 0).await;
    let sig = good.rsplit_once("sig=").unwrap().1.to_owned();
    let stream = |h: &str, i: u32| format!("/api/v1/torrents/{h}/files/{i}/stream");
    let signer = StreamSigner::new(&api.token);
    let target = |h: &str, index| {
        let path = stream(h, index);
        StreamTarget::from_path(&path).unwrap()
    };
    let file_1_sig = signer.sign(target(&hash, 1));
    let other_sig = signer.sign(target(&other, 0));
    let restarted_sig = StreamSigner::new(&ccbt_api::Token::generate()).sign(target(&hash, 0));
    let mut flipped = sig.clone().into_bytes();
    flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
    let flipped = String::from_utf8(flipped).unwrap();

    let refused = [
        (Method::GET, format!("{}?sig={flipped}", stream(&hash, 0))),
        (Method::GET, format!("{}?sig={}", stream(&hash, 0), &sig[..40])),
        (Method::GET, format!("{}?sig=", stream(&hash, 0))),
        (Method::GET, format!("{}?sig={sig}&sig={sig}", stream(&hash, 0))),
        (Method::GET, format!("{}?sig={file_1_sig}", stream(&hash, 0))),
        (Method::GET, format!("{}?sig={other_sig}", stream(&hash, 0))),
        (Method::GET, format!("{}?sig={restarted_sig}", stream(&hash, 0))),
        // The right signature on another file, another torrent, or another spelling of the path.
        (Method::GET, format!("{}?sig={sig}", stream(&hash, 1))),
        (Method::GET, format!("{}?sig={sig}", stream(&other, 0))),
        (Method::GET, format!("{}?sig={sig}", stream(&hash[..20], 0))),
        (Method::GET, format!("{}?sig={sig}", stream(&hash.to_ascii_uppercase(), 0))),
        (Method::GET, format!("{}?sig={sig}", stream(&hash, 0).replace("/0/", "/00/"))),
        (Method::GET, format!("{}/?sig={sig}", stream(&hash, 0))),
        // Other methods on the stream route.
        (Method::POST, format!("{}?sig={sig}", stream(&hash, 0))),
        (Method::DELETE, format!("{}?sig={sig}", stream(&hash, 0))),
    ];
    for (method, path) in &refused {
        let (status, headers, body) = anonymous(&api, method.clone(), path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(error_code(&body), "invalid_signature", "{method} {path}");
        assert_eq!(header_of(&headers, header::WWW_AUTHENTICATE), "Bearer");
    }
    // Every other route of the table, with the signature, is refused too.
    for route in ROUTES {
        let path = route.path.replace("{info_hash}", &hash).replace("{index}", "0");
        if path == stream(&hash, 0) {
            continue;
        }
        let method = Method::from_bytes(route.verb.as_str().as_bytes()).unwrap();
        let (status, _, body) = anonymous(&api, method, &format!("{path}?sig={sig}"), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{} {path}", route.verb.as_str());
        assert_eq!(error_code(&body), "invalid_signature", "{} {path}", route.verb.as_str());
    }
    // The Host check still applies.
    let request = Request::get(&good).header(header::HOST, "evil.example:6890").body(Body::empty()).unwrap();
    let (status, json) = api.send(request).await;
    assert_eq!((status, code(&json)), (StatusCode::MISDIRECTED_REQUEST, "foreign_host"));
    // And the right one still works after all that.
    let (status, _, body) = anonymous(&api, Method::GET, &good, None).await;
    assert_eq!((status, body.len()), (StatusCode::OK, 40_000));
    // A bearer token is checked as before even when a signature comes along.
    let request = Request::get(&good)
        .header(header::HOST, ADDR)
        .header(header::AUTHORIZATION, "Bearer wrong")
        .body(Body::empty())
        .unwrap();
    let (status, json) = api.send(request).await;
    assert_eq!((status, code(&json)), (StatusCode::UNAUTHORIZED, "invalid_token"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_routes_name_what_is_wrong() {
    let api = Api::new().await;
    let (hash, _) = add_complete(&api, "c.txt", 1000, true).await;
    let missing = "ab".repeat(20);
    let cases = [
        (format!("/api/v1/torrents/{hash}/files/1/url"), StatusCode::NOT_FOUND, "file_not_found"),
        (format!("/api/v1/torrents/{hash}/files/x/url"), StatusCode::BAD_REQUEST, "invalid_file_index"),
        (format!("/api/v1/torrents/{missing}/files/0/url"), StatusCode::NOT_FOUND, "torrent_not_found"),
        (format!("/api/v1/torrents/{missing}/urls"), StatusCode::NOT_FOUND, "torrent_not_found"),
        ("/api/v1/torrents/xyz/urls".to_owned(), StatusCode::BAD_REQUEST, "invalid_info_hash"),
    ];
    for (path, status, expected) in cases {
        let (got, json) = api.call(Verb::Get, &path, None).await;
        assert_eq!((got, code(&json)), (status, expected), "{path}: {json}");
    }
}

/// `request` over a real HTTP/1.1 connection to the API (`Connection: close`): the status
/// line and headers in lower case, and the bytes after them.
async fn over_the_wire(api: &Api, request: String) -> (String, Vec<u8>) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(ccbt_api::serve(listener, api.router.clone(), async {
        let _ = stopped.await;
    }));
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), conn.read_to_end(&mut answer))
        .await
        .expect("the answer hung")
        .unwrap();
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("no end of headers");
    (String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase(), answer[split + 4..].to_vec())
}

/// HEAD as mpv and VLC send it, with the bearer token and with a signed URL alike: the
/// headers of the GET, no body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_answers_headers_only_over_a_real_connection() {
    let api = Api::new().await;
    const LEN: usize = 200_000;
    let (hash, data) = add_complete(&api, "clip.mp4", LEN, false).await;
    let signed = signed_path(&api, &hash, 0).await;
    let bearer = format!("Authorization: Bearer {}\r\n", api.token.as_str());
    let plain = format!("/api/v1/torrents/{hash}/files/0/stream");
    let line = |method: &str, path: &str, auth: &str, range: &str| {
        format!("{method} {path} HTTP/1.1\r\nHost: {ADDR}\r\n{auth}{range}Connection: close\r\n\r\n")
    };

    for (path, auth) in [(&plain, bearer.as_str()), (&signed, "")] {
        let (head, body) = over_the_wire(&api, line("HEAD", path, auth, "")).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-length: {LEN}")), "{head}");
        assert!(head.contains("\r\naccept-ranges: bytes"), "{head}");
        assert!(head.contains("\r\ncontent-type: video/mp4"), "{head}");
        assert!(!head.contains("content-range"), "{head}");
        assert!(body.is_empty(), "HEAD sent {} body bytes", body.len());

        let range = "Range: bytes=150000-\r\n";
        let (head, body) = over_the_wire(&api, line("HEAD", path, auth, range)).await;
        assert!(head.starts_with("http/1.1 206"), "{head}");
        assert!(head.contains("\r\ncontent-length: 50000"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-range: bytes 150000-{}/{LEN}", LEN - 1)), "{head}");
        assert!(head.contains("\r\naccept-ranges: bytes"), "{head}");
        assert!(body.is_empty(), "HEAD sent {} body bytes", body.len());

        let range = format!("Range: bytes={LEN}-\r\n");
        let (head, _) = over_the_wire(&api, line("HEAD", path, auth, &range)).await;
        assert!(head.starts_with("http/1.1 416"), "{head}");
        assert!(head.contains(&format!("\r\ncontent-range: bytes */{LEN}")), "{head}");
    }
    // The player's GET that follows, with the signed URL only.
    let (head, body) = over_the_wire(&api, line("GET", &signed, "", "Range: bytes=100-199\r\n")).await;
    assert!(head.starts_with("http/1.1 206"), "{head}");
    assert!(body == data[100..200], "wrong bytes on the wire");
    // HEAD on a signed URL of another file is refused like GET.
    let (head, _) = over_the_wire(&api, line("HEAD", &signed.replace("/0/", "/1/"), "", "")).await;
    assert!(head.starts_with("http/1.1 401"), "{head}");
}
