//! `POST` and `DELETE /api/v1/torrents/{info_hash}/peers/{addr}/trace`: per-peer tracing of one
//! address of a torrent (`Session::trace_peer`, `Session::stop_peer_trace`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::handlers::find;
use crate::{ApiContext, ApiError};

/// The answer of both routes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerTraceView {
    pub info_hash: String,
    /// The traced address, `IP:PORT`.
    pub addr: String,
    /// The trace file (on the daemon's machine); it stays after the trace stops.
    pub path: PathBuf,
    /// Whether the address is traced now (true after `POST`, false after `DELETE`).
    pub tracing: bool,
    /// `DELETE` only: whether it was traced before (false for `POST`).
    pub was_tracing: bool,
}

/// `POST .../peers/{addr}/trace`: traces the peer (its open connection at once, later ones
/// from their handshake).
pub(crate) async fn start(
    State(ctx): State<Arc<ApiContext>>,
    Path((query, addr)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let addr = parse_addr(&addr)?;
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    let path =
        ctx.session.trace_peer(status.id, addr).await.map_err(|e| ApiError::from_session(&e, &what))?;
    let view =
        PeerTraceView { info_hash: what, addr: addr.to_string(), path, tracing: true, was_tracing: false };
    Ok(json(StatusCode::OK, &view))
}

/// `DELETE .../peers/{addr}/trace`: stops tracing the peer; the file stays.
pub(crate) async fn stop(
    State(ctx): State<Arc<ApiContext>>,
    Path((query, addr)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let addr = parse_addr(&addr)?;
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    let was_tracing =
        ctx.session.stop_peer_trace(status.id, addr).await.map_err(|e| ApiError::from_session(&e, &what))?;
    let path = ctx.session.peer_trace_path(status.id, addr).map_err(|e| ApiError::from_session(&e, &what))?;
    let view = PeerTraceView { info_hash: what, addr: addr.to_string(), path, tracing: false, was_tracing };
    Ok(json(StatusCode::OK, &view))
}

fn parse_addr(text: &str) -> Result<SocketAddr, ApiError> {
    text.parse().map_err(|_| {
        ApiError::bad_request(
            "invalid_peer_address",
            format!("`{text}` is not a peer address: IP:PORT, e.g. 192.0.2.7:6881 or [2001:db8::7]:6881"),
        )
    })
}
