//! The handlers of the routes in `routes.rs`, each a thin call into the session.

use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ccbt_engine::checkpoints::{CheckpointError, CheckpointStore};
use ccbt_engine::{find_checkpoint, AddTorrent, FoundCheckpoint, TorrentStatus};

use crate::add_options;
use crate::error::json;
use crate::{AddRequest, ApiContext, ApiError, SessionView, TorrentCounts, TorrentList, TorrentView};

type Ctx = State<Arc<ApiContext>>;

pub(crate) async fn session(State(ctx): Ctx) -> Response {
    let statuses = ctx.session.torrents();
    let view = SessionView {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        pid: ctx.pid,
        uptime_secs: ctx.started.elapsed().as_secs(),
        listen_addr: ctx.session.listen_addr().to_string(),
        torrents: TorrentCounts::of(&statuses),
        download_rate: statuses.iter().map(|s| s.download_rate).sum(),
        upload_rate: statuses.iter().map(|s| s.upload_rate).sum(),
        connected_peers: ctx.session.connected_peers(),
    };
    json(StatusCode::OK, &view)
}

/// The torrents, those the query's filter keeps (`list_filter.rs`).
pub(crate) async fn list(State(ctx): Ctx, RawQuery(query): RawQuery) -> Result<Response, ApiError> {
    let filter = crate::ListFilter::parse(query.as_deref())?;
    let torrents = ctx.session.torrents().iter().map(TorrentView::from).filter(|t| filter.keeps(t)).collect();
    Ok(json(StatusCode::OK, &TorrentList { torrents }))
}

pub(crate) async fn get(State(ctx): Ctx, Path(query): Path<String>) -> Result<Response, ApiError> {
    let status = find(&ctx, &query)?;
    Ok(json(StatusCode::OK, &TorrentView::from(&status)))
}

pub(crate) async fn pause(State(ctx): Ctx, Path(query): Path<String>) -> Result<Response, ApiError> {
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    ctx.session.pause(status.id).await.map_err(|e| ApiError::from_session(&e, &what))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Continues a paused torrent (204), or, when the session does not have it, adds it from its
/// checkpoint in the session's checkpoint folder, where the checkpoint left it (201).
pub(crate) async fn resume(State(ctx): Ctx, Path(query): Path<String>) -> Result<Response, ApiError> {
    let status = match find(&ctx, &query) {
        Ok(status) => status,
        Err(e) if e.code == "torrent_not_found" => return from_checkpoint(&ctx, &query).await,
        Err(e) => return Err(e),
    };
    let what = status.info_hash.to_hex();
    ctx.session.resume(status.id).await.map_err(|e| ApiError::from_session(&e, &what))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Adds the torrent whose checkpoint's info hash starts with `query`.
async fn from_checkpoint(ctx: &ApiContext, query: &str) -> Result<Response, ApiError> {
    let dir = ctx.session.options().checkpoint_dir.clone();
    let owned = query.to_owned();
    let found = tokio::task::spawn_blocking(move || {
        let info_hash = CheckpointStore::new(&dir).resolve(&owned)?;
        Ok::<_, CheckpointError>((info_hash, find_checkpoint(&dir, &info_hash)))
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the checkpoints failed: {e}")))?;
    let (info_hash, found) = found.map_err(|e| match e {
        CheckpointError::NotFound { .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "torrent_not_found",
            format!("no torrent {query}, and no checkpoint of it"),
        ),
        CheckpointError::Ambiguous { .. } => {
            ApiError::new(StatusCode::CONFLICT, "ambiguous_info_hash", e.to_string())
        }
        other => ApiError::internal(format!("cannot read the checkpoints: {other}")),
    })?;
    let what = info_hash.to_hex();
    let checkpoint = match found {
        FoundCheckpoint::Usable { checkpoint, .. } => checkpoint,
        FoundCheckpoint::None => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "torrent_not_found",
                format!("no torrent {query}"),
            ))
        }
        FoundCheckpoint::Unusable(e) => {
            return Err(ApiError::bad_request(
                "unusable_checkpoint",
                format!("the checkpoint of {what}: {e}"),
            ))
        }
    };
    let id = ctx
        .session
        .resume_from_checkpoint(*checkpoint)
        .await
        .map_err(|e| ApiError::from_session(&e, &what))?;
    let status = ctx.session.status(id).map_err(|e| ApiError::from_session(&e, &what))?;
    Ok(json(StatusCode::CREATED, &TorrentView::from(&status)))
}

pub(crate) async fn add(State(ctx): Ctx, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body = body.map_err(|e| ApiError::bad_request("invalid_body", e.body_text()))?;
    let request: AddRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid_json", format!("the body is not a valid add request: {e}"))
    })?;
    let peers = parse_peers(&request.peers)?;
    let uploaded = add_options::uploaded(&request)?;
    let is_magnet = request.source.starts_with("magnet:");
    if uploaded.is_none() && !is_magnet && !FsPath::new(&request.source).is_absolute() {
        return Err(ApiError::bad_request(
            "relative_path",
            format!("source {:?} must be a magnet link or an absolute path", request.source),
        ));
    }
    let save_path = save_folder(&ctx, request.save_path.clone()).await?;
    let add = match uploaded {
        Some(add) => add,
        None => {
            let source = request.source.clone();
            tokio::task::spawn_blocking(move || AddTorrent::parse(&source))
                .await
                .map_err(|e| ApiError::internal(format!("reading the torrent failed: {e}")))?
                .map_err(|e| ApiError::from_session(&e, "to add"))?
        }
    };
    // The limits in force now: a live change of `torrent_down_kib` reaches torrents added later.
    let limits = ctx.config.as_ref().map_or(ctx.torrent_limits, |c| c.torrent_limits());
    let add = add_options::apply(add.save_path(save_path).peers(peers), &request, limits)?;
    // Paused from the start: no connection, announce or metadata fetch before a resume.
    let add = add.paused(request.paused);
    let id = ctx.session.add_torrent(add).await.map_err(|e| ApiError::from_session(&e, "to add"))?;
    let status = ctx.session.status(id).map_err(|e| ApiError::from_session(&e, "just added"))?;
    Ok(json(StatusCode::CREATED, &TorrentView::from(&status)))
}

/// The folder of a new torrent, created when missing: the request's (absolute), else the
/// daemon's `download_dir`.
async fn save_folder(ctx: &ApiContext, requested: Option<PathBuf>) -> Result<PathBuf, ApiError> {
    let folder = match requested {
        Some(path) if !path.is_absolute() => {
            return Err(ApiError::bad_request(
                "relative_path",
                format!("save_path {} must be an absolute path", path.display()),
            ))
        }
        Some(path) => path,
        None => ctx.session.options().download_dir.clone(),
    };
    create_folder(folder).await
}

/// Creates `folder` (and its parents) when missing, off the async threads; a folder that
/// cannot be made is the request's fault (a path under a file, no permission).
pub(crate) async fn create_folder(folder: PathBuf) -> Result<PathBuf, ApiError> {
    let create = folder.clone();
    tokio::task::spawn_blocking(move || std::fs::create_dir_all(&create))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| {
            ApiError::bad_request(
                "cannot_create_folder",
                format!("cannot create the folder {}: {e}", folder.display()),
            )
        })?;
    Ok(folder)
}

pub(crate) fn parse_peers(peers: &[String]) -> Result<Vec<SocketAddr>, ApiError> {
    peers
        .iter()
        .map(|p| {
            p.parse::<SocketAddr>().map_err(|_| {
                ApiError::bad_request("invalid_peer", format!("peer {p:?} is not an IP:PORT address"))
            })
        })
        .collect()
}

/// The torrent whose info hash is `query` or starts with it (hex, any case).
pub(crate) fn find(ctx: &ApiContext, query: &str) -> Result<TorrentStatus, ApiError> {
    let prefix = query.to_ascii_lowercase();
    if prefix.is_empty() || prefix.len() > 40 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::bad_request(
            "invalid_info_hash",
            format!("{query:?} is not an info hash (up to 40 hex digits)"),
        ));
    }
    let mut matches: Vec<TorrentStatus> =
        ctx.session.torrents().into_iter().filter(|s| s.info_hash.to_hex().starts_with(&prefix)).collect();
    match matches.len() {
        0 => Err(ApiError::new(StatusCode::NOT_FOUND, "torrent_not_found", format!("no torrent {query}"))),
        1 => Ok(matches.remove(0)),
        _ => {
            let names: Vec<String> = matches.iter().map(|s| s.info_hash.to_hex()).collect();
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "ambiguous_info_hash",
                format!("{query} matches several torrents: {}", names.join(", ")),
            ))
        }
    }
}
