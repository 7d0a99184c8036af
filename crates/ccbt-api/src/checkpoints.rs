//! `GET /api/v1/checkpoints` (the files of the daemon's checkpoint folder, and whether each
//! torrent is in the session) and `DELETE /api/v1/checkpoints/{info_hash}` (only for a torrent
//! the session does not have: a running torrent would write its checkpoint again).

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ccbt_engine::checkpoints::{CheckpointEntry, CheckpointError, CheckpointStore};
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::{ApiContext, ApiError};

/// `GET /api/v1/checkpoints`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointList {
    /// The checkpoint folder.
    pub dir: PathBuf,
    pub checkpoints: Vec<CheckpointView>,
}

/// One checkpoint file (a torrent saved in both formats has two).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointView {
    pub info_hash: String,
    pub path: PathBuf,
    /// `json` or `binary`.
    pub format: String,
    /// The file's size in bytes.
    pub size: u64,
    /// When the file was last written, Unix seconds.
    pub modified: Option<u64>,
    /// The torrent's name; none when the file cannot be read (see `error`).
    pub name: Option<String>,
    /// `downloading`, `paused` or `seeding` when it was saved.
    pub state: Option<String>,
    /// Verified pieces over all, 0 to 1.
    pub progress: Option<f64>,
    /// When ccbt saved it, Unix seconds (from the file's contents).
    pub saved_at: Option<u64>,
    /// Why the file cannot be used, if it cannot.
    pub error: Option<String>,
    /// Its torrent is in the daemon's session (any state).
    pub running: bool,
}

impl CheckpointView {
    fn of(entry: &CheckpointEntry, running: &HashSet<String>) -> CheckpointView {
        let info_hash = entry.info_hash.to_hex();
        let modified = std::fs::metadata(&entry.path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs());
        let summary = entry.summary.as_ref().ok();
        CheckpointView {
            running: running.contains(&info_hash),
            info_hash,
            path: entry.path.clone(),
            format: entry.format.word().to_owned(),
            size: entry.size,
            modified,
            name: summary.map(|s| s.name.clone()),
            state: summary.map(|s| s.state.word().to_owned()),
            progress: summary.map(|s| s.progress()),
            saved_at: summary.map(|s| s.saved_at),
            error: entry.summary.as_ref().err().map(ToString::to_string),
        }
    }
}

type Ctx = State<Arc<ApiContext>>;

pub(crate) async fn list(State(ctx): Ctx) -> Result<Response, ApiError> {
    let dir = ctx.session.options().checkpoint_dir.clone();
    let store = CheckpointStore::new(&dir);
    let entries = tokio::task::spawn_blocking(move || store.list())
        .await
        .map_err(|e| ApiError::internal(format!("listing the checkpoints failed: {e}")))?
        .map_err(|e| ApiError::internal(format!("cannot list the checkpoints: {e}")))?;
    let running: HashSet<String> = ctx.session.torrents().iter().map(|s| s.info_hash.to_hex()).collect();
    let checkpoints = entries.iter().map(|e| CheckpointView::of(e, &running)).collect();
    Ok(json(StatusCode::OK, &CheckpointList { dir, checkpoints }))
}

pub(crate) async fn delete(State(ctx): Ctx, Path(query): Path<String>) -> Result<Response, ApiError> {
    let prefix = query.to_ascii_lowercase();
    if prefix.is_empty() || prefix.len() > 40 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "invalid_info_hash",
            format!("{query:?} is not an info hash (up to 40 hex digits)"),
        ));
    }
    let store = CheckpointStore::new(&ctx.session.options().checkpoint_dir);
    let resolved = blocking(move || store.resolve(&prefix).map(|h| (h, store))).await?;
    let (info_hash, store) = resolved.map_err(|e| match e {
        CheckpointError::NotFound { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, "checkpoint_not_found", format!("no checkpoint of {query}"))
        }
        CheckpointError::Ambiguous { .. } => {
            ApiError::new(StatusCode::CONFLICT, "ambiguous_info_hash", e.to_string())
        }
        other => ApiError::internal(format!("cannot read the checkpoints: {other}")),
    })?;
    let what = info_hash.to_hex();
    if let Some(status) = ctx.session.torrents().iter().find(|s| s.info_hash == info_hash) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "torrent_running",
            format!(
                "torrent {what} is in the session ({}): it would write its checkpoint again; remove the torrent instead (DELETE /api/v1/torrents/{what} deletes its checkpoint too)",
                status.state
            ),
        ));
    }
    blocking(move || store.delete(&info_hash))
        .await?
        .map_err(|e| ApiError::internal(format!("cannot delete the checkpoint of {what}: {e}")))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::internal(format!("the checkpoint folder task failed: {e}")))
}
