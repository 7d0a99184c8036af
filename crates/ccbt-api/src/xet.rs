//! `GET /api/v1/xet/stats` (the session's Xet chunk store: totals and dedup per xet root) and
//! `POST /api/v1/xet/cleanup` (drop stale files and keep the index under its cap, with
//! `{"dry_run": true}` only saying what would go). The store is the daemon's alone while it
//! runs (its index is locked by one process), so `ccbt xet stats` and `ccbt xet cleanup` come
//! here then. 404 `xet_off` when the extension is off or its store did not open.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ccbt_engine::{XetApiError, XetCleanupReport, XetRootStats, XetStats};
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::{ApiContext, ApiError};

/// `GET /api/v1/xet/stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XetStatsView {
    /// The chunk store's folder.
    pub dir: PathBuf,
    /// Distinct chunks with at least one location, and their bytes counted once.
    pub chunks: u64,
    pub unique_bytes: u64,
    /// Locations recorded (a chunk held by three files has up to three).
    pub locations: u64,
    /// Indexed payload files, and their bytes (shared chunks counted per file).
    pub files: u64,
    pub referenced_bytes: u64,
    /// Distinct xet roots (file versions) among the indexed files.
    pub roots: u64,
    /// Size of `index.redb` on disk.
    pub index_bytes: u64,
    /// Packs of retired chunks (chunks of replaced files no indexed file holds), and their
    /// bytes on disk.
    pub packs: u64,
    pub pack_bytes: u64,
    /// Per xet root.
    pub by_root: Vec<XetRootView>,
}

/// One xet root of the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XetRootView {
    /// The root in xet-core's hex (as `ccbt xet stats` prints it).
    pub root: String,
    pub files: u64,
    pub chunks: u64,
    /// Bytes of the file, and of its chunks a file of another root also holds.
    pub bytes: u64,
    pub shared_bytes: u64,
}

/// `POST /api/v1/xet/cleanup`: `{"dry_run": true}` (default false).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XetCleanupRequest {
    #[serde(default)]
    pub dry_run: bool,
}

/// The answer to `POST /api/v1/xet/cleanup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XetCleanupView {
    pub dry_run: bool,
    /// The cap in force (`xet_cache_size_mib`), in bytes.
    pub cap_bytes: u64,
    /// Files dropped (or to drop) because they changed or vanished.
    pub stale: Vec<XetStaleView>,
    /// Packs of retired chunks deleted (or to delete) to get under the cap, oldest first;
    /// they go before any file is forgotten.
    pub evicted_packs: Vec<PathBuf>,
    /// Bytes of packs before and after.
    pub pack_bytes_before: u64,
    pub pack_bytes_after: u64,
    /// Files forgotten (or to forget) to get the index under the cap, oldest first.
    pub evicted: Vec<PathBuf>,
    /// The index's live data before and after, in bytes (the file is not compacted while the
    /// daemon's torrents use it; the space freed is reused).
    pub index_bytes_before: u64,
    pub index_bytes_after: u64,
}

/// A stale file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct XetStaleView {
    pub path: PathBuf,
    /// `gone`, `not a file`, `size changed` or `modified`.
    pub reason: String,
}

impl XetStatsView {
    /// The view of a store's figures (the API's, and `ccbt xet stats` on a store it opened).
    pub fn new(dir: PathBuf, s: &XetStats, roots: &[XetRootStats]) -> XetStatsView {
        XetStatsView {
            dir,
            chunks: s.chunks,
            unique_bytes: s.unique_bytes,
            locations: s.locations,
            files: s.files,
            referenced_bytes: s.referenced_bytes,
            roots: s.roots,
            index_bytes: s.index_bytes,
            packs: s.packs,
            pack_bytes: s.pack_bytes,
            by_root: roots
                .iter()
                .map(|r| XetRootView {
                    root: ccbt_xet::xethex(&r.root),
                    files: r.files,
                    chunks: r.chunks,
                    bytes: r.bytes,
                    shared_bytes: r.shared_bytes,
                })
                .collect(),
        }
    }
}

impl XetCleanupView {
    /// The view of a cleanup's report under cap `cap_bytes`.
    pub fn new(cap_bytes: u64, r: XetCleanupReport) -> XetCleanupView {
        XetCleanupView {
            dry_run: r.dry_run,
            cap_bytes,
            stale: r
                .stale
                .into_iter()
                .map(|s| XetStaleView { path: s.path, reason: s.reason.to_owned() })
                .collect(),
            evicted_packs: r.evicted_packs,
            pack_bytes_before: r.pack_bytes_before,
            pack_bytes_after: r.pack_bytes_after,
            evicted: r.evicted,
            index_bytes_before: r.index_bytes_before,
            index_bytes_after: r.index_bytes_after,
        }
    }
}

fn api_error(e: XetApiError) -> ApiError {
    match e {
        XetApiError::Off => ApiError::new(StatusCode::NOT_FOUND, "xet_off", e.to_string()),
        other => ApiError::internal(other.to_string()),
    }
}

type Ctx = State<Arc<ApiContext>>;

pub(crate) async fn stats(State(ctx): Ctx) -> Result<Response, ApiError> {
    let dir = ctx.session.xet_store_dir().ok_or_else(|| api_error(XetApiError::Off))?;
    let totals = ctx
        .session
        .xet_stats()
        .await
        .ok_or_else(|| ApiError::internal("cannot read the chunk store (the daemon's log says why)"))?;
    let roots = ctx.session.xet_root_stats().await.map_err(api_error)?;
    Ok(json(StatusCode::OK, &XetStatsView::new(dir, &totals, &roots)))
}

pub(crate) async fn cleanup(
    State(ctx): Ctx,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // An empty body is a real cleanup, like `{}`.
    let request: XetCleanupRequest = match &body {
        Ok(b) if b.is_empty() => XetCleanupRequest::default(),
        _ => crate::body::parse(body, "{\"dry_run\": BOOLEAN}")?,
    };
    let cap = ctx.session.options().xet_cache_bytes;
    let report = ctx.session.xet_cleanup(request.dry_run).await.map_err(api_error)?;
    Ok(json(StatusCode::OK, &XetCleanupView::new(cap, report)))
}
