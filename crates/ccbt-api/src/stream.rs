//! `GET /api/v1/torrents/{info_hash}/files/{index}/stream`: one file of a torrent over HTTP,
//! with single byte ranges, read through the engine's [`ccbt_engine::TorrentFileReader`] while
//! the torrent downloads (reads wait for verified pieces; seeking moves the streaming window to
//! where the player jumps). The body is streamed chunk by chunk, never buffered whole. `HEAD`
//! (which axum routes to the GET handler) answers the same headers without touching the data:
//! a player's probe does not move the streaming window.

use std::io::{self, SeekFrom};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use ccbt_engine::{SessionError, TorrentFileReader};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::handlers::find;
use crate::{ApiContext, ApiError};

/// Largest chunk of the body read at once.
const CHUNK: usize = 64 * 1024;

/// A byte range of a file: first byte and length (at least 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub len: u64,
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No range (or one the API does not serve as a range: several ranges, another unit):
    /// the whole file, 200.
    Whole,
    /// One satisfiable range, 206.
    Partial(ByteRange),
    /// A range wholly past the end (or a suffix of 0 bytes), 416.
    Unsatisfiable,
}

/// Parses the `Range` header `value` for a file of `len` bytes (RFC 9110 §14.1.2): `bytes=a-b`,
/// `bytes=a-`, `bytes=-n`; an end past the file is cut to its end. Several ranges and other
/// units are served as the whole file, as the RFC allows; a malformed `bytes=` range is an error
/// naming it.
pub fn parse_range(value: &str, len: u64) -> Result<RangeRequest, String> {
    let value = value.trim();
    let Some(spec) = value.strip_prefix("bytes=") else {
        return Ok(RangeRequest::Whole);
    };
    if spec.contains(',') {
        return Ok(RangeRequest::Whole);
    }
    let bad = || format!("Range {value:?} is not bytes=FIRST-LAST, bytes=FIRST- or bytes=-SUFFIX");
    let (first, last) = spec.trim().split_once('-').ok_or_else(bad)?;
    let number = |s: &str| -> Result<u64, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u64>().map_err(|_| bad())
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        let suffix = number(last)?;
        if suffix == 0 || len == 0 {
            return Ok(RangeRequest::Unsatisfiable);
        }
        let take = suffix.min(len);
        return Ok(RangeRequest::Partial(ByteRange { start: len - take, len: take }));
    }
    let start = number(first)?;
    let end = if last.is_empty() { None } else { Some(number(last)?) };
    if end.is_some_and(|end| end < start) {
        return Err(format!("Range {value:?} ends before it starts"));
    }
    if start >= len {
        return Ok(RangeRequest::Unsatisfiable);
    }
    let end = end.map_or(len - 1, |end| end.min(len - 1));
    Ok(RangeRequest::Partial(ByteRange { start, len: end - start + 1 }))
}

/// The `Content-Type` of a file named `name`, by its extension.
pub fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "mp4" | "m4v" => "video/mp4",
        "mkv" => "video/x-matroska",
        "webm" => "video/webm",
        "avi" => "video/x-msvideo",
        "mov" => "video/quicktime",
        "ts" => "video/mp2t",
        "mpg" | "mpeg" => "video/mpeg",
        "ogv" => "video/ogg",
        "mp3" => "audio/mpeg",
        "flac" => "audio/flac",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "txt" | "nfo" | "srt" => "text/plain; charset=utf-8",
        "vtt" => "text/vtt",
        "html" | "htm" => "text/html; charset=utf-8",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

pub(crate) async fn stream(
    State(ctx): State<Arc<ApiContext>>,
    Path((query, index)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    let index: u32 = index.parse().map_err(|_| {
        ApiError::bad_request("invalid_file_index", format!("{index:?} is not a file index (0, 1, ...)"))
    })?;
    let files = ctx.session.files(status.id).map_err(|e| ApiError::from_session(&e, &what))?;
    let Some(file) = files.get(index as usize) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "file_not_found",
            format!("torrent {what} has {} files (numbered from 0), no file {index}", files.len()),
        ));
    };
    let reader = ctx.session.open_file(status.id, index).map_err(|e| match e {
        SessionError::FileUnavailable { reason, .. } => ApiError::new(
            StatusCode::CONFLICT,
            "file_unavailable",
            format!("file {index} of torrent {what} cannot be streamed: {reason}"),
        ),
        e => ApiError::from_session(&e, &what),
    })?;
    let len = reader.len();
    let range = match headers.get(header::RANGE) {
        None => RangeRequest::Whole,
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::bad_request("invalid_range", "the Range header is not ASCII text"))?;
            parse_range(text, len).map_err(|m| ApiError::bad_request("invalid_range", m))?
        }
    };
    let name = file.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    respond(reader, range, len, content_type(&name), method == Method::HEAD, &ctx.closing).await
}

/// The answer for `range` of the file `reader` reads; only its headers when `head_only`. The
/// body ends early when the API closes.
async fn respond(
    mut reader: TorrentFileReader,
    range: RangeRequest,
    len: u64,
    mime: &'static str,
    head_only: bool,
    closing: &crate::Closing,
) -> Result<Response, ApiError> {
    let (status, part) = match range {
        RangeRequest::Whole => (StatusCode::OK, ByteRange { start: 0, len }),
        RangeRequest::Partial(part) => (StatusCode::PARTIAL_CONTENT, part),
        RangeRequest::Unsatisfiable => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the range lies past the end of the file ({len} bytes)"),
            )
            .into_response();
            insert(&mut response, header::CONTENT_RANGE, format!("bytes */{len}"));
            insert(&mut response, header::ACCEPT_RANGES, "bytes".into());
            return Ok(response);
        }
    };
    let body = if head_only {
        Body::empty()
    } else {
        if part.start > 0 {
            reader
                .seek(SeekFrom::Start(part.start))
                .await
                .map_err(|e| ApiError::internal(format!("cannot seek in the file: {e}")))?;
        }
        Body::from_stream(closing.guard(futures_util::stream::unfold((reader, part.len), next_chunk)))
    };
    let mut response = (status, body).into_response();
    insert(&mut response, header::CONTENT_TYPE, mime.into());
    insert(&mut response, header::CONTENT_LENGTH, part.len.to_string());
    insert(&mut response, header::ACCEPT_RANGES, "bytes".into());
    if status == StatusCode::PARTIAL_CONTENT {
        let last = part.start + part.len - 1;
        insert(&mut response, header::CONTENT_RANGE, format!("bytes {}-{last}/{len}", part.start));
    }
    Ok(response)
}

/// The next chunk of the body: at most [`CHUNK`] bytes, and no more than `left`. A read error
/// (the torrent removed, failed or shut down) ends the body with that error, so the client sees
/// a cut transfer rather than a short file passed off as whole.
async fn next_chunk(
    (mut reader, left): (TorrentFileReader, u64),
) -> Option<(io::Result<Bytes>, (TorrentFileReader, u64))> {
    if left == 0 {
        return None;
    }
    let mut buf = vec![0; CHUNK.min(usize::try_from(left).unwrap_or(CHUNK))];
    let item = match reader.read(&mut buf).await {
        Ok(0) => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the file ended early")),
        Ok(n) => {
            buf.truncate(n);
            Ok(Bytes::from(buf))
        }
        Err(e) => Err(e),
    };
    let left = match &item {
        Ok(bytes) => left - bytes.len() as u64,
        // Nothing more after an error.
        Err(_) => 0,
    };
    Some((item, (reader, left)))
}

fn insert(response: &mut Response, name: header::HeaderName, value: String) {
    // Every value built here is ASCII (numbers, fixed MIME types).
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, len: u64) -> Result<RangeRequest, String> {
        Ok(RangeRequest::Partial(ByteRange { start, len }))
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), part(0, 10));
        assert_eq!(parse_range("bytes=10-", 100), part(10, 90));
        assert_eq!(parse_range("bytes=-10", 100), part(90, 10));
        assert_eq!(parse_range("bytes=-1000", 100), part(0, 100));
        assert_eq!(parse_range("bytes=50-1000", 100), part(50, 50));
        assert_eq!(parse_range("bytes=99-99", 100), part(99, 1));
        assert_eq!(parse_range("bytes=100-", 100), Ok(RangeRequest::Unsatisfiable));
        assert_eq!(parse_range("bytes=100-200", 100), Ok(RangeRequest::Unsatisfiable));
        assert_eq!(parse_range("bytes=-0", 100), Ok(RangeRequest::Unsatisfiable));
        assert_eq!(parse_range("bytes=0-", 0), Ok(RangeRequest::Unsatisfiable));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(RangeRequest::Whole));
        assert_eq!(parse_range("items=0-1", 100), Ok(RangeRequest::Whole));
        for bad in ["bytes=", "bytes=-", "bytes=a-b", "bytes=5", "bytes=9-3", "bytes=+1-2"] {
            assert!(parse_range(bad, 100).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("Movie.MKV"), "video/x-matroska");
        assert_eq!(content_type("a.mp4"), "video/mp4");
        assert_eq!(content_type("song.flac"), "audio/flac");
        assert_eq!(content_type("README"), "application/octet-stream");
        assert_eq!(content_type("x.unknown"), "application/octet-stream");
    }
}
