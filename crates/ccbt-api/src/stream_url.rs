//! `GET /api/v1/torrents/{info_hash}/urls` and `GET /api/v1/torrents/{info_hash}/files/{index}/url`:
//! the signed streaming URLs of a torrent's files (see `signed.rs`), for players that cannot
//! send the bearer token. These routes themselves need the token, like every other.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use ccbt_engine::{FileInfo, TorrentStatus};
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::handlers::find;
use crate::signed::StreamTarget;
use crate::{base_url, Access, ApiContext, ApiError};

/// One file's signed streaming URL: `GET /api/v1/torrents/{info_hash}/files/{index}/url` and
/// the items of [`StreamUrlList`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamUrl {
    pub index: u32,
    /// The file's path below the torrent's folder (the torrent's own folder first for a
    /// multi-file torrent).
    pub path: PathBuf,
    pub length: u64,
    /// `http://HOST/api/v1/torrents/{info_hash}/files/{index}/stream?sig=...` (`https` over TLS;
    /// HOST as the request named the API): streams the file
    /// without an `Authorization` header until the daemon restarts.
    pub url: String,
}

/// `GET /api/v1/torrents/{info_hash}/urls`: every file's URL (padding files have none).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamUrlList {
    /// The full v1 info hash, 40 lower-case hex digits.
    pub info_hash: String,
    pub files: Vec<StreamUrl>,
}

type Ctx = State<Arc<ApiContext>>;

pub(crate) async fn urls(
    State(ctx): Ctx,
    Extension(access): Extension<Arc<Access>>,
    headers: HeaderMap,
    Path(query): Path<String>,
) -> Result<Response, ApiError> {
    let (status, files) = files_of(&ctx, &query)?;
    let base = origin(&access, &headers);
    let files =
        files.iter().filter(|f| !f.is_padding).map(|f| signed_url(&access, &base, &status, f)).collect();
    Ok(json(StatusCode::OK, &StreamUrlList { info_hash: status.info_hash.to_hex(), files }))
}

pub(crate) async fn url(
    State(ctx): Ctx,
    Extension(access): Extension<Arc<Access>>,
    headers: HeaderMap,
    Path((query, index)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (status, files) = files_of(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    let index: u32 = index.parse().map_err(|_| {
        ApiError::bad_request("invalid_file_index", format!("{index:?} is not a file index (0, 1, ...)"))
    })?;
    let Some(file) = files.get(index as usize) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "file_not_found",
            format!("torrent {what} has {} files (numbered from 0), no file {index}", files.len()),
        ));
    };
    if file.is_padding {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "file_unavailable",
            format!("file {index} of torrent {what} is a padding file: it has no data to stream"),
        ));
    }
    Ok(json(StatusCode::OK, &signed_url(&access, &origin(&access, &headers), &status, file)))
}

/// The torrent `query` names and its files (409 `metadata_pending` for a magnet link still
/// fetching them).
fn files_of(ctx: &ApiContext, query: &str) -> Result<(TorrentStatus, Vec<FileInfo>), ApiError> {
    let status = find(ctx, query)?;
    let what = status.info_hash.to_hex();
    let files = ctx.session.files(status.id).map_err(|e| ApiError::from_session(&e, &what))?;
    Ok((status, files))
}

/// `scheme://host` as the client reached the API: the request's `Host` (the guard already
/// checked it names the API; with a wildcard bind it is the only address the client can use),
/// else the bound address.
fn origin(access: &Access, headers: &HeaderMap) -> String {
    let scheme = if access.https { "https" } else { "http" };
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) => format!("{scheme}://{host}"),
        None => base_url(access.addr).replacen("http", scheme, 1),
    }
}

fn signed_url(access: &Access, base: &str, status: &TorrentStatus, file: &FileInfo) -> StreamUrl {
    let target = StreamTarget { info_hash: status.info_hash.0, index: file.index };
    let sig = access.signer().sign(target);
    let url = format!("{base}{}?{}={sig}", target.path(), crate::signed::SIG_PARAM);
    StreamUrl { index: file.index, path: file.path.clone(), length: file.length, url }
}
