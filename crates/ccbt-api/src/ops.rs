//! Operations on one torrent as a whole: recheck, reannounce, and remove (with its data, when
//! asked). Each finds the torrent by info hash (or a unique prefix) like the other routes.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ccbt_engine::checkpoints::CheckpointStore;
use ccbt_engine::{DeletedData, SessionError};
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::handlers::find;
use crate::{ApiContext, ApiError};

type Ctx = State<Arc<ApiContext>>;

/// The answer to `DELETE /api/v1/torrents/{info_hash}?delete_data=true`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemovedView {
    /// The removed torrent's info hash.
    pub info_hash: String,
    /// Files deleted: ccbt created them for this torrent.
    pub deleted_files: Vec<PathBuf>,
    /// The torrent's folders deleted because they were left empty.
    pub deleted_folders: Vec<PathBuf>,
    /// Files of the torrent kept: they existed before ccbt opened them, or lie behind a link.
    pub kept_files: Vec<PathBuf>,
    /// Files ccbt created that could not be deleted.
    pub failed: Vec<FailedDelete>,
}

/// A file that could not be deleted, and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedDelete {
    pub path: PathBuf,
    pub error: String,
}

/// `POST .../recheck`: 202, the check runs in the background (state `checking`).
pub(crate) async fn recheck(State(ctx): Ctx, Path(query): Path<String>) -> Result<Response, ApiError> {
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    ctx.session.recheck(status.id).await.map_err(|e| busy_or(&e, &what))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `POST .../reannounce`: 202, the announces go out in the background.
pub(crate) async fn reannounce(State(ctx): Ctx, Path(query): Path<String>) -> Result<Response, ApiError> {
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    ctx.session.reannounce(status.id).await.map_err(|e| busy_or(&e, &what))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `DELETE /api/v1/torrents/{info_hash}[?delete_data=true]`: removes the torrent and its
/// checkpoint (so the next start of the daemon does not bring it back). Its files stay (204), or
/// with `delete_data=true` the files ccbt created go (200 with what was deleted and kept).
pub(crate) async fn remove(
    State(ctx): Ctx,
    Path(query): Path<String>,
    RawQuery(params): RawQuery,
) -> Result<Response, ApiError> {
    let delete_data = delete_data_param(params.as_deref())?;
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    let deleted = if delete_data {
        Some(ctx.session.remove_with_data(status.id).await.map_err(|e| ApiError::from_session(&e, &what))?)
    } else {
        ctx.session.remove(status.id).await.map_err(|e| ApiError::from_session(&e, &what))?;
        None
    };
    let store = CheckpointStore::new(&ctx.session.options().checkpoint_dir);
    let info_hash = status.info_hash;
    match tokio::task::spawn_blocking(move || store.delete(&info_hash)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(ApiError::internal(format!(
                "torrent {what} was removed, but its checkpoint could not be deleted ({e}): it comes back when the daemon restarts"
            )))
        }
        Err(e) => return Err(ApiError::internal(format!("deleting the checkpoint of {what} failed: {e}"))),
    }
    Ok(match deleted {
        Some(report) => json(StatusCode::OK, &removed_view(what, report)),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `delete_data=true|false` (also `1|0`); absent: false. Anything else names the problem.
fn delete_data_param(params: Option<&str>) -> Result<bool, ApiError> {
    let mut delete = false;
    for pair in params.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match (key, value) {
            ("delete_data", "true" | "1") => delete = true,
            ("delete_data", "false" | "0") => delete = false,
            ("delete_data", other) => {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("delete_data must be true or false, not {other:?}; nothing was removed"),
                ))
            }
            (other, _) => {
                return Err(ApiError::bad_request(
                    "invalid_parameter",
                    format!("unknown parameter {other:?} (only delete_data); nothing was removed"),
                ))
            }
        }
    }
    Ok(delete)
}

fn removed_view(info_hash: String, report: DeletedData) -> RemovedView {
    RemovedView {
        info_hash,
        deleted_files: report.deleted_files,
        deleted_folders: report.deleted_folders,
        kept_files: report.kept_files,
        failed: report.failed.into_iter().map(|(path, error)| FailedDelete { path, error }).collect(),
    }
}

/// `Busy` is a 409 `torrent_busy` naming why; the rest as for every route.
fn busy_or(error: &SessionError, what: &str) -> ApiError {
    match error {
        SessionError::Busy { reason, .. } => {
            ApiError::new(StatusCode::CONFLICT, "torrent_busy", format!("torrent {what}: {reason}"))
        }
        other => ApiError::from_session(other, what),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_data_parameter_is_strict() {
        assert!(!delete_data_param(None).unwrap());
        assert!(delete_data_param(Some("delete_data=true")).unwrap());
        assert!(delete_data_param(Some("delete_data=1")).unwrap());
        assert!(!delete_data_param(Some("delete_data=false")).unwrap());
        for bad in ["delete_data", "delete_data=yes", "delete=true", "delete_data=true&x=1"] {
            let e = delete_data_param(Some(bad)).unwrap_err();
            assert_eq!(e.code, "invalid_parameter", "{bad}");
        }
    }
}
