//! `POST /api/v1/xet/follows` (follow a publisher's dataset into a folder), `GET
//! /api/v1/xet/follows` and `DELETE /api/v1/xet/follows/{id}`: the daemon's side of `ccbt xet
//! follow`, `follows` and `unfollow`. 404 `xet_off` when the extension is off, like the other
//! xet routes.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use ccbt_engine::bep46::MutableLink;
use ccbt_metainfo::Torrent;

use crate::error::json;
use crate::follow_registry::{NewFollow, XetFollows};
use crate::{ApiContext, ApiError, XetFollowList, XetFollowRequest, DEFAULT_POLL_SECS, MAX_POLL_SECS};

type Ctx = State<Arc<ApiContext>>;

/// The registry, when the extension is on.
fn follows(ctx: &ApiContext) -> Result<&XetFollows, ApiError> {
    if ctx.session.xet_store_dir().is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "xet_off",
            "the xet extension is off (xet_enabled = false) or its chunk store did not open",
        ));
    }
    ctx.xet_follows.as_deref().ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "no_follows", "this API keeps no follows (no state folder)")
    })
}

pub(crate) async fn list(State(ctx): Ctx) -> Result<Response, ApiError> {
    let list = XetFollowList { follows: follows(&ctx)?.list() };
    Ok(json(StatusCode::OK, &list))
}

pub(crate) async fn add(State(ctx): Ctx, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let registry = follows(&ctx)?;
    let request: XetFollowRequest =
        crate::body::parse(body, "a follow request {\"source\" or \"torrent\", \"dir\", ...}")?;
    if ctx.session.dht_status().await.is_none() {
        return Err(ApiError::conflict(
            "dht_off",
            "following polls an item in the dht, which the daemon runs without",
        ));
    }
    let new = parse(request).await?;
    let view = registry.add(&ctx.session, new).await?;
    Ok(json(StatusCode::CREATED, &view))
}

pub(crate) async fn remove(State(ctx): Ctx, Path(id): Path<String>) -> Result<Response, ApiError> {
    follows(&ctx)?.remove(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The request's input, checked: the publisher (from the link or the torrent), the folder
/// (absolute, created), the interval and the peers.
async fn parse(request: XetFollowRequest) -> Result<NewFollow, ApiError> {
    let poll_secs = request.poll_secs.unwrap_or(DEFAULT_POLL_SECS);
    if !(1..=MAX_POLL_SECS).contains(&poll_secs) {
        return Err(ApiError::bad_request(
            "invalid_poll_secs",
            format!("poll_secs = {poll_secs}: it must be 1 to {MAX_POLL_SECS}"),
        ));
    }
    let peers = crate::handlers::parse_peers(&request.peers)?;
    let (link, torrent) = match (&request.torrent, request.source.as_str()) {
        (Some(_), s) if !s.is_empty() => {
            return Err(ApiError::bad_request("source_and_torrent", "give either `source` or `torrent`, not both"))
        }
        (Some(encoded), _) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|e| {
                ApiError::bad_request("invalid_base64", format!("`torrent` is not standard base64: {e}"))
            })?;
            publisher(&bytes, "the uploaded .torrent")?
        }
        (None, "") => {
            return Err(ApiError::bad_request(
                "missing_source",
                "the request names no dataset: give `source` (a magnet:?xs=urn:btpk: link or the absolute path of the current version's .torrent) or `torrent` (that .torrent, base64)",
            ))
        }
        (None, link) if link.starts_with("magnet:") => {
            let parsed = MutableLink::parse(link).map_err(|e| {
                ApiError::bad_request("invalid_link", format!("{link} is not a BEP 46 link (magnet:?xs=urn:btpk:KEY[&s=SALT]): {e}"))
            })?;
            (parsed, None)
        }
        (None, path) if !FsPath::new(path).is_absolute() => {
            return Err(ApiError::bad_request(
                "relative_path",
                format!("source {path:?} must be a magnet:?xs=urn:btpk: link or an absolute path"),
            ))
        }
        (None, path) => {
            let read = PathBuf::from(path);
            let bytes = tokio::task::spawn_blocking(move || std::fs::read(read))
                .await
                .map_err(|e| ApiError::internal(e.to_string()))?
                .map_err(|e| ApiError::bad_request("unreadable_torrent_file", format!("cannot read {path}: {e}")))?;
            publisher(&bytes, path)?
        }
    };
    // Last: nothing is created for a request refused.
    let dir = folder(request.dir).await?;
    Ok(NewFollow { link, torrent: torrent.map(|t| *t), dir, poll_secs, peers })
}

/// The publisher a .torrent names (`info.xet.pk`, `salt`), and the torrent.
fn publisher(bytes: &[u8], what: &str) -> Result<(MutableLink, Option<Box<Torrent>>), ApiError> {
    let torrent = Torrent::from_file_bytes(bytes).map_err(|e| {
        ApiError::bad_request("invalid_torrent", format!("{what} is not a valid .torrent: {e}"))
    })?;
    let Some(p) = torrent.xet.as_ref().and_then(|x| x.publisher.clone()) else {
        return Err(ApiError::bad_request(
            "no_publisher",
            format!(
                "{what} names no publisher (info.xet.pk): follow its publisher's magnet:?xs=urn:btpk: link"
            ),
        ));
    };
    Ok((MutableLink { public_key: p.public_key, salt: p.salt }, Some(Box::new(torrent))))
}

/// The dataset's folder: given, absolute, created when missing.
async fn folder(dir: Option<PathBuf>) -> Result<PathBuf, ApiError> {
    let dir = match dir {
        None => {
            return Err(ApiError::bad_request(
                "missing_folder",
                "the request names no `dir` (an absolute folder)",
            ))
        }
        Some(dir) if !dir.is_absolute() => {
            return Err(ApiError::bad_request(
                "relative_path",
                format!("dir {} must be an absolute path", dir.display()),
            ))
        }
        // `/data/set/` and `/data/./set` are `/data/set`: one folder, one follow id.
        Some(dir) => dir.components().collect::<PathBuf>(),
    };
    crate::handlers::create_folder(dir).await
}
