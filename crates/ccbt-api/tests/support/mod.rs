//! A session on loopback with its API router, driven in-process with `tower::ServiceExt`.
#![allow(dead_code)] // Each test file uses its own subset.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use ccbt_api::{router, Access, ApiContext, Token, Verb, XetFollows};
use ccbt_engine::{Session, SessionOptions};
use tower::ServiceExt as _;

/// The address the API pretends to listen on (the Host check compares with it).
pub const ADDR: &str = "127.0.0.1:6890";

pub struct Api {
    pub router: axum::Router,
    pub token: Token,
    pub session: Arc<Session>,
    pub follows: Arc<XetFollows>,
    pub dir: tempfile::TempDir,
}

impl Api {
    pub async fn new() -> Api {
        Api::with(|_, _| {}).await
    }

    /// An API over a session of the default test options as `change` leaves them (it gets
    /// the test's folder).
    pub async fn with(change: impl FnOnce(&mut SessionOptions, &Path)) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let mut options = SessionOptions {
            listen_port: 0,
            listen_host: "127.0.0.1".parse().unwrap(),
            enable_dht: false,
            state_dir: dir.path().join("state"),
            checkpoint_dir: dir.path().join("checkpoints"),
            download_dir: dir.path().join("downloads"),
            ..SessionOptions::default()
        };
        change(&mut options, dir.path());
        let session = Arc::new(Session::new(options).await.unwrap());
        let (follows, problem) = XetFollows::open(dir.path().join("state").join(ccbt_api::FOLLOWS_FILE));
        assert_eq!(problem, None);
        let follows = Arc::new(follows);
        let token = Token::generate();
        let context = Arc::new(ApiContext {
            session: session.clone(),
            started: Instant::now(),
            pid: std::process::id(),
            torrent_limits: Default::default(),
            config: None,
            alerts: None,
            xet_follows: Some(follows.clone()),
            closing: Default::default(),
        });
        let router =
            router(context, Access { token: token.clone(), addr: ADDR.parse().unwrap(), https: false });
        Api { router, token, session, follows, dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `method path` with the right Host and token; the status and the body as JSON (Null
    /// when empty).
    pub async fn call(
        &self,
        verb: Verb,
        path: &str,
        body: Option<String>,
    ) -> (StatusCode, serde_json::Value) {
        let auth = format!("Bearer {}", self.token.as_str());
        self.send(request(verb, path, Some(ADDR), Some(&auth), body)).await
    }

    /// The answer to `request`, its body not read yet (an event stream's never ends).
    pub async fn open(&self, request: Request<Body>) -> axum::response::Response {
        self.router.clone().oneshot(request).await.unwrap()
    }

    pub async fn send(&self, request: Request<Body>) -> (StatusCode, serde_json::Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let json =
            if bytes.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
        (status, json)
    }
}

pub fn request(
    verb: Verb,
    path: &str,
    host: Option<&str>,
    auth: Option<&str>,
    body: Option<String>,
) -> Request<Body> {
    let mut builder = Request::builder().method(verb.as_str()).uri(path);
    if let Some(host) = host {
        builder = builder.header(header::HOST, host);
    }
    if let Some(auth) = auth {
        builder = builder.header(header::AUTHORIZATION, auth);
    }
    if body.is_some() {
        builder = builder.header(header::CONTENT_TYPE, "application/json");
    }
    builder.body(body.map_or_else(Body::empty, Body::from)).unwrap()
}

/// The error code of an error body.
pub fn code(body: &serde_json::Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}

/// A complete single-file torrent in `dir`: `data/<name>` and `<name>.torrent`; the torrent's path.
pub fn complete_torrent(dir: &Path, name: &str, len: usize) -> PathBuf {
    use sha1::{Digest as _, Sha1};
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data").join(name), &data).unwrap();
    let builder = ccbt_metainfo::TorrentBuilder {
        name: name.into(),
        files: vec![(vec![], data.len() as u64)],
        piece_length: 16384,
        piece_hashes: data.chunks(16384).map(|c| Sha1::digest(c).into()).collect(),
        ..ccbt_metainfo::TorrentBuilder::default()
    };
    let path = dir.join(format!("{name}.torrent"));
    std::fs::write(&path, builder.build().unwrap()).unwrap();
    path
}

/// Polls `done` every 20 ms for at most 20 s (a deadline that only turns a hang into a failure).
pub async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    done()
}
