//! `GET /api/v1/config` (the configuration in force, with where each value came from) and
//! `PUT /api/v1/config` (change keys live). The API does not know the configuration's schema:
//! the daemon hands it a [`ConfigControl`] that validates a change exactly like the
//! configuration file and applies it to the session (see the ccbt binary's `config_api.rs`).

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ccbt_engine::Session;
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::{ApiContext, ApiError};

/// The daemon's configuration, as the API reads and changes it.
pub trait ConfigControl: Send + Sync {
    /// The configuration in force.
    fn show(&self) -> ConfigView;
    /// Sets each key of `settings` (`"section.key"` or `"key"` to a JSON value of the key's
    /// type) and applies the changes to `session`: all or nothing. Blocking (it may write a
    /// file); a refused change is a 400 [`ApiError`] naming the key.
    fn set(
        &self,
        session: &Session,
        settings: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<ConfigSetView, ApiError>;
    /// The limits a torrent added now gets (`limits.torrent_down_kib`/`torrent_up_kib` in
    /// force: an edit changes them for the torrents added after it).
    fn torrent_limits(&self) -> ccbt_engine::TorrentLimits;
}

/// `GET /api/v1/config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigView {
    /// The configuration file the daemon reads and `PUT` writes, if it has one.
    pub file: Option<PathBuf>,
    pub settings: Vec<ConfigEntryView>,
}

/// One key of the configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigEntryView {
    /// `section.key`.
    pub key: String,
    /// Its value in force, as in the file (number, boolean, string or list of strings).
    pub value: serde_json::Value,
    /// Where the value came from: `default`, `FILE:LINE`, `environment variable CCBT_...`,
    /// `command line`.
    pub origin: String,
    /// `live` (a change applies to the running daemon) or `restart` (at the next start).
    pub apply: String,
}

/// `PUT /api/v1/config`: `{"settings": {"limits.global_down_kib": 512}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSetRequest {
    pub settings: serde_json::Map<String, serde_json::Value>,
}

/// The answer to `PUT /api/v1/config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigSetView {
    /// The file the new values were written to.
    pub file: PathBuf,
    /// What became of each key that changed.
    pub changes: Vec<ConfigChangeView>,
}

/// One key a `PUT` changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigChangeView {
    pub key: String,
    /// The value now in the file, as the file writes it.
    pub value: String,
    /// `applied` (in force now), `restart_required` (in the file, in force after a restart; the
    /// old value stays until then), `shadowed` (an environment variable or a command-line flag of
    /// the daemon sets the key, and stays in force) or `not_applied` (see `message`).
    pub status: String,
    /// The same in words.
    pub message: String,
}

type Ctx = State<Arc<ApiContext>>;

fn control(ctx: &ApiContext) -> Result<Arc<dyn ConfigControl>, ApiError> {
    ctx.config.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_configuration",
            "this API serves a session without a ccbt configuration: there is none to show or change",
        )
    })
}

pub(crate) async fn get(State(ctx): Ctx) -> Result<Response, ApiError> {
    let control = control(&ctx)?;
    let view = tokio::task::spawn_blocking(move || control.show())
        .await
        .map_err(|e| ApiError::internal(format!("reading the configuration failed: {e}")))?;
    Ok(json(StatusCode::OK, &view))
}

pub(crate) async fn set(State(ctx): Ctx, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let request: ConfigSetRequest = crate::body::parse(body, "{\"settings\": {KEY: VALUE}}")?;
    if request.settings.is_empty() {
        return Err(ApiError::bad_request("invalid_json", "`settings` names no key"));
    }
    let control = control(&ctx)?;
    let session = ctx.session.clone();
    let view = tokio::task::spawn_blocking(move || control.set(&session, &request.settings))
        .await
        .map_err(|e| ApiError::internal(format!("changing the configuration failed: {e}")))??;
    Ok(json(StatusCode::OK, &view))
}
