//! The control API of the ccbt daemon: HTTP/JSON under `/api/v1` over a running
//! [`ccbt_engine::Session`], described in docs/api.md.
//!
//! Every request passes one guard, installed as a layer over the whole router (the routes of
//! [`ROUTES`], the 404 fallback and the 405 answers alike), so no route can skip it: the `Host`
//! header must name the API's own address or `localhost` (421 otherwise: a web page cannot reach
//! the API through DNS rebinding), and `Authorization: Bearer <token>` must carry the token of
//! [`Token`], compared in constant time (401 otherwise). The one exception to the token is a
//! signed streaming URL ([`StreamSigner`]): its `sig` parameter opens GET or HEAD of the stream
//! of the one file it names, nothing else. No CORS headers are ever sent.
//!
//! Errors are JSON, `{"error": {"code": "stable_snake_case", "message": "..."}}`, with the
//! HTTP status that fits ([`ApiError`]).

mod add_options;
mod alerts;
mod body;
mod checkpoints;
mod closing;
mod config;
mod error;
mod events;
mod files;
mod follow_file;
mod follow_registry;
mod follow_routes;
mod follow_task;
mod follow_views;
mod guard;
mod handlers;
mod limits;
mod list_filter;
mod ops;
mod peer_trace;
mod peers;
mod pieces;
mod routes;
mod signed;
mod snapshot;
mod stream;
mod stream_url;
mod token;
mod trackers;
mod views;
mod xet;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

pub use alerts::{
    ActiveAlertView, AlertControl, AlertEventView, AlertHistoryView, AlertRuleRequest, AlertRuleView,
    AlertTestRequest, AlertTestView, AlertsView, PendingAlertView, MAX_HISTORY_PAGE,
};
pub use checkpoints::{CheckpointList, CheckpointView};
pub use closing::Closing;
pub use config::{
    ConfigChangeView, ConfigControl, ConfigEntryView, ConfigSetRequest, ConfigSetView, ConfigView,
};
pub use error::ApiError;
pub use files::{FileList, FileView, PrioritiesRequest};
pub use follow_file::{FollowFileError, FOLLOWS_FILE};
pub use follow_registry::XetFollows;
pub use follow_views::{
    XetFollowList, XetFollowRequest, XetFollowTorrentView, XetFollowUpdateView, XetFollowView,
    DEFAULT_POLL_SECS, MAX_POLL_SECS,
};
pub use guard::Access;
pub use limits::{SessionLimitsView, TorrentLimitsView, MAX_RATE};
pub use list_filter::{ListFilter, STATES};
pub use ops::{FailedDelete, RemovedView};
pub use peer_trace::PeerTraceView;
pub use peers::{PeerList, PeerView};
pub use pieces::{PieceCellView, PieceMapView, DEFAULT_PIECE_CELLS};
pub use routes::{router, Endpoint, Route, Verb, PREFIX, ROUTES};
pub use signed::{StreamSigner, StreamTarget, SIG_PARAM};
pub use snapshot::{
    DhtView, PeerView as SnapshotPeerView, SnapshotView, TorrentSnapshotView, TotalsView,
    TrackerView as SnapshotTrackerView,
};
pub use stream::{content_type, parse_range, ByteRange, RangeRequest};
pub use stream_url::{StreamUrl, StreamUrlList};
pub use token::{read_token_file, Token, TokenFileError};
pub use trackers::{TrackerList, TrackerView};
pub use views::{AddRequest, SessionView, TorrentCounts, TorrentList, TorrentView};
pub use xet::{XetCleanupRequest, XetCleanupView, XetRootView, XetStaleView, XetStatsView};

/// What the handlers work on: the session and facts about the daemon process.
pub struct ApiContext {
    pub session: Arc<ccbt_engine::Session>,
    /// When the daemon started, for its uptime.
    pub started: Instant,
    /// The daemon's process id.
    pub pid: u32,
    /// Limits each added torrent gets (the configuration's `torrent_down_kib`/`torrent_up_kib`)
    /// when there is no `config`; with one, its values in force.
    pub torrent_limits: ccbt_engine::TorrentLimits,
    /// The daemon's configuration for `GET/PUT /api/v1/config` (None: an embedded session
    /// without one; those routes answer 404 `no_configuration`).
    pub config: Option<Arc<dyn ConfigControl>>,
    /// The alert rules for `/api/v1/alerts` and the event stream (None: those routes answer 404
    /// `no_alerts`).
    pub alerts: Option<Arc<dyn AlertControl>>,
    /// The follows of Xet datasets for `/api/v1/xet/follows` (None: those routes answer 404
    /// `no_follows`).
    pub xet_follows: Option<Arc<XetFollows>>,
    /// Closed when the daemon begins to stop: the event stream and file streams end then, so the
    /// graceful shutdown does not wait on them.
    pub closing: Closing,
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
