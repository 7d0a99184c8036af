//! `GET/PUT /api/v1/limits` (the session's rate limits and each connection's) and
//! `GET/PUT /api/v1/torrents/{info_hash}/limits` (one torrent's), all live. Rates are bytes per
//! second, 0 = unlimited; a non-zero rate below [`ccbt_engine::MIN_RATE_LIMIT`] is raised to it,
//! and the answer shows the limits in force. A PUT names only what it changes.
//!
//! Session limits set here last until the daemon stops (the configuration's
//! `limits.global_down_kib` and friends are the start values; `PUT /api/v1/config` changes those
//! for good); a torrent's are saved in its checkpoint.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ccbt_engine::RateLimits;
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::handlers::find;
use crate::{ApiContext, ApiError};

/// The largest rate accepted: 16 GiB/s, the configuration's bound (`16 * 1024 * 1024` KiB/s).
pub const MAX_RATE: u64 = 16 * 1024 * 1024 * 1024;

/// `GET /api/v1/limits`: bytes per second, 0 = unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionLimitsView {
    /// Shared by every connection of every torrent.
    pub download: u64,
    pub upload: u64,
    /// Each connection's own limit.
    pub peer_download: u64,
    pub peer_upload: u64,
}

/// `GET /api/v1/torrents/{info_hash}/limits`: bytes per second, 0 = unlimited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TorrentLimitsView {
    pub info_hash: String,
    pub download: u64,
    pub upload: u64,
}

type Ctx = State<Arc<ApiContext>>;
type Body = Result<Bytes, BytesRejection>;

pub(crate) async fn get_session(State(ctx): Ctx) -> Response {
    json(StatusCode::OK, &session_view(&ctx))
}

pub(crate) async fn set_session(State(ctx): Ctx, body: Body) -> Result<Response, ApiError> {
    let fields = ["download", "upload", "peer_download", "peer_upload"];
    let asked = rates(body, &fields)?;
    let (session, peer) = (ctx.session.limits(), ctx.session.peer_limits());
    let pick = |i: usize, old: u64| asked[i].unwrap_or(old);
    let new_session = RateLimits { download: pick(0, session.download), upload: pick(1, session.upload) };
    let new_peer = RateLimits { download: pick(2, peer.download), upload: pick(3, peer.upload) };
    if new_session != session {
        ctx.session.set_limits(new_session);
    }
    if new_peer != peer {
        ctx.session.set_peer_limits(new_peer);
    }
    Ok(json(StatusCode::OK, &session_view(&ctx)))
}

pub(crate) async fn get_torrent(State(ctx): Ctx, Path(query): Path<String>) -> Result<Response, ApiError> {
    let status = find(&ctx, &query)?;
    Ok(json(StatusCode::OK, &torrent_view(&ctx, &status.info_hash.to_hex(), status.id)?))
}

pub(crate) async fn set_torrent(
    State(ctx): Ctx,
    Path(query): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = rates(body, &["download", "upload"])?;
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    let old = ctx.session.torrent_limits(status.id).map_err(|e| ApiError::from_session(&e, &what))?;
    let new =
        RateLimits { download: asked[0].unwrap_or(old.download), upload: asked[1].unwrap_or(old.upload) };
    ctx.session.set_torrent_limits(status.id, new).map_err(|e| ApiError::from_session(&e, &what))?;
    Ok(json(StatusCode::OK, &torrent_view(&ctx, &what, status.id)?))
}

fn session_view(ctx: &ApiContext) -> SessionLimitsView {
    let (session, peer) = (ctx.session.limits(), ctx.session.peer_limits());
    SessionLimitsView {
        download: session.download,
        upload: session.upload,
        peer_download: peer.download,
        peer_upload: peer.upload,
    }
}

fn torrent_view(
    ctx: &ApiContext,
    what: &str,
    id: ccbt_engine::TorrentId,
) -> Result<TorrentLimitsView, ApiError> {
    let limits = ctx.session.torrent_limits(id).map_err(|e| ApiError::from_session(&e, what))?;
    Ok(TorrentLimitsView { info_hash: what.to_owned(), download: limits.download, upload: limits.upload })
}

/// The rates a PUT body gives, in the order of `fields` (None: not given). An unknown field, a
/// value that is not a whole number from 0 to [`MAX_RATE`], or a body naming none is refused.
fn rates(body: Body, fields: &[&str]) -> Result<Vec<Option<u64>>, ApiError> {
    let names = fields.join(", ");
    let object: serde_json::Map<String, serde_json::Value> =
        crate::body::parse(body, &format!("an object with any of {names}"))?;
    let mut out = vec![None; fields.len()];
    for (key, value) in &object {
        let Some(slot) = fields.iter().position(|f| f == key) else {
            return Err(ApiError::bad_request(
                "unknown_field",
                format!("unknown field {key:?}: use {names}"),
            ));
        };
        let rate = value.as_u64().filter(|&r| r <= MAX_RATE).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_limit",
                format!("{key} = {value} is not a rate: bytes per second, a whole number from 0 (unlimited) to {MAX_RATE}"),
            )
        })?;
        out[slot] = Some(rate);
    }
    if object.is_empty() {
        return Err(ApiError::bad_request("invalid_limit", format!("the body sets no limit: use {names}")));
    }
    Ok(out)
}
