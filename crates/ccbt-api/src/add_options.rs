//! What an add request brings beside a magnet link or a path: a `.torrent` uploaded in the
//! request itself (base64 in `torrent`, so a client needs no access to the daemon's files), and
//! the torrent's own rate limits and file selection.

use axum::http::StatusCode;
use base64::Engine as _;
use ccbt_engine::{AddTorrent, TorrentLimits};
use ccbt_metainfo::{Torrent, MAX_TORRENT_FILE_SIZE};

use crate::{AddRequest, ApiError};

/// The largest add request body: a `.torrent` at the parser's size limit, base64-encoded (4
/// bytes per 3), with room for the other fields.
pub(crate) const MAX_ADD_BODY: usize = MAX_TORRENT_FILE_SIZE / 3 * 4 + 64 * 1024;

/// The torrent uploaded in `request.torrent`, if any. A request names its torrent exactly
/// once: by `source` or by `torrent`.
pub(crate) fn uploaded(request: &AddRequest) -> Result<Option<AddTorrent>, ApiError> {
    let Some(encoded) = &request.torrent else {
        if request.source.is_empty() {
            return Err(ApiError::bad_request(
                "missing_source",
                "the request names no torrent: give `source` (a magnet link or an absolute path) or `torrent` (a .torrent file, base64)",
            ));
        }
        return Ok(None);
    };
    if !request.source.is_empty() {
        return Err(ApiError::bad_request(
            "source_and_torrent",
            "give either `source` or `torrent`, not both",
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).map_err(|e| {
        ApiError::bad_request("invalid_base64", format!("`torrent` is not standard base64: {e}"))
    })?;
    let torrent = Torrent::from_file_bytes(&bytes).map_err(|e| {
        ApiError::bad_request("invalid_torrent", format!("the uploaded .torrent is not valid: {e}"))
    })?;
    Ok(Some(AddTorrent::new(torrent)))
}

/// `add` with the request's limits (KiB/s; 0 = unlimited; absent: the daemon's defaults
/// `torrent_down_kib`/`torrent_up_kib`) and file selection.
pub(crate) fn apply(
    add: AddTorrent,
    request: &AddRequest,
    defaults: TorrentLimits,
) -> Result<AddTorrent, ApiError> {
    let limits = TorrentLimits {
        download: kib(request.down_limit_kib, "down_limit_kib")?.unwrap_or(defaults.download),
        upload: kib(request.up_limit_kib, "up_limit_kib")?.unwrap_or(defaults.upload),
    };
    let mut add = add.limits(limits).first_last_pieces(request.first_last_pieces);
    if let Some(select) = &request.select {
        add = add.select_files(select.iter().copied());
    }
    if let Some(skip) = &request.skip {
        add = add.skip_files(skip.iter().copied());
    }
    Ok(add)
}

/// KiB/s to bytes/s, refusing a figure whose byte rate does not fit.
fn kib(value: Option<u64>, field: &str) -> Result<Option<u64>, ApiError> {
    value
        .map(|kib| {
            kib.checked_mul(1024).ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_limit",
                    format!("{field} = {kib} KiB/s is too large"),
                )
            })
        })
        .transpose()
}
