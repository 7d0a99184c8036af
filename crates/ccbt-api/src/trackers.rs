//! `GET /api/v1/torrents/{info_hash}/trackers`: what each tracker of a torrent last said
//! (`Session::trackers`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ccbt_engine::TrackerInfo;
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::handlers::find;
use crate::{ApiContext, ApiError};

/// `GET /api/v1/torrents/{info_hash}/trackers`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackerList {
    pub info_hash: String,
    pub trackers: Vec<TrackerView>,
}

/// One tracker of a torrent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackerView {
    pub url: String,
    /// BEP 12 tier, 0 first.
    pub tier: usize,
    /// `error` (the last announce failed: see `last_error`), `working` (it answered with peers or
    /// counts, and has not failed since) or `pending` (no such answer yet: not contacted, or it
    /// answered with no peers and no counts).
    pub status: String,
    pub last_error: Option<String>,
    pub last_warning: Option<String>,
    /// Peer addresses it gave so far.
    pub peers_received: u64,
    /// Seeders and leechers as it last counted them, when it says.
    pub seeders: Option<u32>,
    pub leechers: Option<u32>,
    /// Seconds until the next announce, when one is scheduled.
    pub next_announce_secs: Option<u64>,
}

impl From<&TrackerInfo> for TrackerView {
    fn from(t: &TrackerInfo) -> TrackerView {
        let answered = t.peers_received > 0 || t.seeders.is_some() || t.leechers.is_some();
        let status = match (&t.last_error, answered) {
            (Some(_), _) => "error",
            (None, true) => "working",
            (None, false) => "pending",
        };
        TrackerView {
            url: t.url.clone(),
            tier: t.tier,
            status: status.to_owned(),
            last_error: t.last_error.clone(),
            last_warning: t.last_warning.clone(),
            peers_received: t.peers_received,
            seeders: t.seeders,
            leechers: t.leechers,
            next_announce_secs: t.next_announce_in.map(|d| d.as_secs()),
        }
    }
}

pub(crate) async fn list(
    State(ctx): State<Arc<ApiContext>>,
    Path(query): Path<String>,
) -> Result<Response, ApiError> {
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    let trackers = match ctx.session.trackers(status.id) {
        Ok(trackers) => trackers.iter().map(TrackerView::from).collect(),
        // A magnet link still resolving announces through its resolver, not yet the torrent.
        Err(ccbt_engine::SessionError::MetadataPending(_)) => Vec::new(),
        Err(e) => return Err(ApiError::from_session(&e, &what)),
    };
    Ok(json(StatusCode::OK, &TrackerList { info_hash: what, trackers }))
}
