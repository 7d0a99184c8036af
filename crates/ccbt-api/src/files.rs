//! `GET /api/v1/torrents/{info_hash}/files` and `PUT` of the same path: a torrent's files with
//! their progress and priority, and live priority changes (`Session::set_file_priorities`; the
//! torrent's next checkpoint records them).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use ccbt_engine::{FileInfo, FilePriority, TorrentStatus};
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::handlers::find;
use crate::{ApiContext, ApiError};

/// `GET /api/v1/torrents/{info_hash}/files`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileList {
    pub info_hash: String,
    pub files: Vec<FileView>,
}

/// One file of a torrent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileView {
    /// Its index in the torrent's file list (what `--select`/`--skip` and the priority changes use).
    pub index: u32,
    /// Its path below the torrent's save folder, `/`-separated.
    pub path: String,
    pub length: u64,
    /// Bytes of the file in verified pieces.
    pub bytes_verified: u64,
    /// `bytes_verified / length` (1 for an empty file).
    pub progress: f64,
    /// `skip`, `low`, `normal` or `high`.
    pub priority: String,
    /// A BEP 47 padding file (never stored, never downloaded on its own).
    pub is_padding: bool,
}

impl From<&FileInfo> for FileView {
    fn from(f: &FileInfo) -> FileView {
        let path: Vec<String> = f.path.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        FileView {
            index: f.index,
            path: path.join("/"),
            length: f.length,
            bytes_verified: f.bytes_verified,
            progress: if f.length == 0 { 1.0 } else { f.bytes_verified as f64 / f.length as f64 },
            priority: f.priority.as_str().to_owned(),
            is_padding: f.is_padding,
        }
    }
}

/// `PUT /api/v1/torrents/{info_hash}/files`: `{"priorities": {"0": "skip", "2-5": "high"}}` (keys
/// are indices or inclusive ranges `A-B`; files not named keep theirs) or `{"priorities":
/// ["normal", "skip", ...]}` (one word per file, every file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrioritiesRequest {
    pub priorities: serde_json::Value,
}

type Ctx = State<Arc<ApiContext>>;

pub(crate) async fn list(State(ctx): Ctx, Path(query): Path<String>) -> Result<Response, ApiError> {
    let status = find(&ctx, &query)?;
    Ok(json(StatusCode::OK, &file_list(&ctx, &status)?))
}

pub(crate) async fn set_priorities(
    State(ctx): Ctx,
    Path(query): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: PrioritiesRequest = crate::body::parse(body, "{\"priorities\": {INDEX: PRIORITY}}")?;
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    let count = ctx.session.files(status.id).map_err(|e| ApiError::from_session(&e, &what))?.len();
    let changes = parse_changes(&request.priorities, count)?;
    ctx.session
        .set_file_priorities(status.id, &changes)
        .await
        .map_err(|e| ApiError::from_session(&e, &what))?;
    Ok(json(StatusCode::OK, &file_list(&ctx, &status)?))
}

fn file_list(ctx: &ApiContext, status: &TorrentStatus) -> Result<FileList, ApiError> {
    let what = status.info_hash.to_hex();
    let files = ctx.session.files(status.id).map_err(|e| ApiError::from_session(&e, &what))?;
    Ok(FileList { info_hash: what, files: files.iter().map(FileView::from).collect() })
}

/// The changes a request asks for, every index checked against the torrent's `count` files.
pub(crate) fn parse_changes(
    priorities: &serde_json::Value,
    count: usize,
) -> Result<Vec<(u32, FilePriority)>, ApiError> {
    match priorities {
        serde_json::Value::Object(map) => {
            let mut changes = BTreeMap::new();
            for (key, word) in map {
                let priority = priority(word)?;
                for index in indices(key, count)? {
                    changes.insert(index, priority);
                }
            }
            if changes.is_empty() {
                return Err(ApiError::bad_request("invalid_priorities", "`priorities` names no file"));
            }
            Ok(changes.into_iter().collect())
        }
        serde_json::Value::Array(words) if words.len() == count => {
            (0..).zip(words).map(|(i, word)| Ok((i, priority(word)?))).collect()
        }
        serde_json::Value::Array(words) => Err(ApiError::bad_request(
            "invalid_priorities",
            format!(
                "`priorities` lists {} words, but the torrent has {count} files (one word per file)",
                words.len()
            ),
        )),
        other => Err(ApiError::bad_request(
            "invalid_priorities",
            format!("`priorities` must be an object {{INDEX: PRIORITY}} or a list of words, not {other}"),
        )),
    }
}

fn priority(word: &serde_json::Value) -> Result<FilePriority, ApiError> {
    let unknown = || {
        ApiError::bad_request(
            "invalid_priority",
            format!("unknown priority {word}: use skip, low, normal or high"),
        )
    };
    word.as_str().ok_or_else(unknown)?.parse().map_err(|_| unknown())
}

/// The indices of key `N` or `A-B` (inclusive), each below `count`.
fn indices(key: &str, count: usize) -> Result<std::ops::RangeInclusive<u32>, ApiError> {
    let bad = |why: String| ApiError::bad_request("invalid_file_index", why);
    let number = |text: &str| {
        text.trim().parse::<u32>().map_err(|_| bad(format!("{key:?} is not a file index (N or A-B)")))
    };
    let (first, last) = match key.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None => (number(key)?, number(key)?),
    };
    if first > last {
        return Err(bad(format!("range {key:?} is backwards")));
    }
    if last as usize >= count {
        return Err(bad(format!("no file {last}: the torrent's files are 0 to {}", count.saturating_sub(1))));
    }
    Ok(first..=last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_ranges_and_lists_become_changes() {
        let changes = parse_changes(&json!({"0": "skip", "2-3": "high"}), 4).unwrap();
        assert_eq!(changes, [(0, FilePriority::Skip), (2, FilePriority::High), (3, FilePriority::High)]);
        let changes = parse_changes(&json!(["low", "normal"]), 2).unwrap();
        assert_eq!(changes, [(0, FilePriority::Low), (1, FilePriority::Normal)]);
    }

    #[test]
    fn bad_indices_words_and_shapes_are_named() {
        let code = |v: serde_json::Value| parse_changes(&v, 3).unwrap_err();
        let e = code(json!({"3": "skip"}));
        assert_eq!(e.code, "invalid_file_index");
        assert!(e.message.contains("no file 3"), "{}", e.message);
        assert_eq!(code(json!({"-1": "skip"})).code, "invalid_file_index");
        assert_eq!(code(json!({"2-1": "skip"})).code, "invalid_file_index");
        assert_eq!(code(json!({"x": "skip"})).code, "invalid_file_index");
        let e = code(json!({"0": "urgent"}));
        assert_eq!(e.code, "invalid_priority");
        assert!(e.message.contains("urgent"), "{}", e.message);
        assert_eq!(code(json!({"0": 3})).code, "invalid_priority");
        assert_eq!(code(json!(["skip"])).code, "invalid_priorities");
        assert_eq!(code(json!({})).code, "invalid_priorities");
        assert_eq!(code(json!("skip")).code, "invalid_priorities");
    }
}
