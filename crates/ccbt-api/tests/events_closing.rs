//! An open event stream, served through the router, ends when the API closes (`Closing`): a
//! graceful shutdown waits for every open answer, so a stream that lasted as long as the session
//! would hold the daemon's stop up for good.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use ccbt_api::{router, Access, ApiContext, Closing, Token};
use ccbt_engine::{Session, SessionOptions};
use futures_util::StreamExt as _;
use tower::ServiceExt as _;

const ADDR: &str = "127.0.0.1:6890";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_ends_when_the_api_closes() {
    let dir = tempfile::tempdir().unwrap();
    let options = SessionOptions {
        listen_port: 0,
        listen_host: "127.0.0.1".parse().unwrap(),
        enable_dht: false,
        state_dir: dir.path().join("state"),
        checkpoint_dir: dir.path().join("checkpoints"),
        download_dir: dir.path().join("downloads"),
        ..SessionOptions::default()
    };
    let session = Arc::new(Session::new(options).await.unwrap());
    let closing = Closing::default();
    let context = Arc::new(ApiContext {
        session: session.clone(),
        started: Instant::now(),
        pid: std::process::id(),
        torrent_limits: Default::default(),
        config: None,
        alerts: None,
        xet_follows: None,
        closing: closing.clone(),
    });
    let token = Token::generate();
    let app = router(context, Access { token: token.clone(), addr: ADDR.parse().unwrap(), https: false });
    let request = Request::get("/api/v1/events")
        .header(header::HOST, ADDR)
        .header(header::AUTHORIZATION, format!("Bearer {}", token.as_str()))
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body().into_data_stream();
    closing.close();
    // The deadline only turns a hang into a failure.
    let end = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(chunk) = body.next().await {
            chunk.unwrap();
        }
    })
    .await;
    assert!(end.is_ok(), "the event stream did not end after the API closed");
}
