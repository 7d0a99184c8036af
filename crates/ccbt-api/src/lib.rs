//! The control API of the ccbt daemon: HTTP/JSON under `/api/v1` over a running
//! [`ccbt_engine::Session`], described in docs/api.md.
//!
//! Every request passes one guard, installed as a layer over the whole router (the routes of
//! [`ROUTES`], the 404 fallback and the 405 answers alike), so no route can skip it: the `Host`
//! header must name the API's own address or `localhost` (421 otherwise: a web page cannot reach
//! the API through DNS rebinding), and `Authorization: Bearer <token>` must carry the token of
//! [`Token`], compared in constant time (401 otherwise). No CORS headers are ever sent.
//!
//! Errors are JSON, `{"error": {"code": "stable_snake_case", "message": "..."}}`, with the
//! HTTP status that fits ([`ApiError`]).

mod error;
mod events;
mod guard;
mod handlers;
mod ops;
mod routes;
mod stream;
mod token;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

pub use error::ApiError;
pub use guard::Access;
pub use ops::{FailedDelete, RemovedView};
pub use routes::{router, Endpoint, Route, Verb, PREFIX, ROUTES};
pub use stream::{content_type, parse_range, ByteRange, RangeRequest};
pub use token::{read_token_file, Token, TokenFileError};
pub use views::{AddRequest, SessionView, TorrentCounts, TorrentList, TorrentView};

/// What the handlers work on: the session and facts about the daemon process.
pub struct ApiContext {
    pub session: Arc<ccbt_engine::Session>,
    /// When the daemon started, for its uptime.
    pub started: Instant,
    /// The daemon's process id.
    pub pid: u32,
    /// Limits each added torrent gets (the configuration's `torrent_down_kib`/`torrent_up_kib`).
    pub torrent_limits: ccbt_engine::TorrentLimits,
}

/// The base URL clients use for an API bound to `addr`: `http://127.0.0.1:6890`.
pub fn base_url(addr: SocketAddr) -> String {
    format!("http://{addr}")
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the requests in flight
/// finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}
