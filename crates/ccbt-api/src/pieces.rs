//! `GET /api/v1/torrents/{info_hash}/pieces?cells=N`: the torrent's pieces summarized in at most
//! N cells (default 256, 1 to 4096), each a run of consecutive pieces with how many are verified
//! and how many connected peers have its rarest piece (`Session::piece_map`). A magnet link
//! still fetching its metadata has no pieces yet: 409 `metadata_pending`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use ccbt_engine::{PieceCell, PieceMap, MAX_PIECE_CELLS};
use serde::{Deserialize, Serialize};

use crate::error::json;
use crate::handlers::find;
use crate::{ApiContext, ApiError};

/// Cells when the query names none.
pub const DEFAULT_PIECE_CELLS: usize = 256;

/// `GET /api/v1/torrents/{info_hash}/pieces`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceMapView {
    pub info_hash: String,
    /// Pieces of the torrent.
    pub pieces: u32,
    /// Consecutive runs covering every piece once, in order.
    pub cells: Vec<PieceCellView>,
}

/// A run of pieces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PieceCellView {
    /// Its first piece, and how many pieces it covers.
    pub first: u32,
    pub count: u32,
    /// Of them, verified.
    pub have: u32,
    /// Connected peers (seeds included) having its rarest piece.
    pub min_availability: u32,
}

impl PieceMapView {
    fn new(info_hash: String, map: &PieceMap) -> PieceMapView {
        PieceMapView {
            info_hash,
            pieces: map.pieces,
            cells: map.cells.iter().map(PieceCellView::from).collect(),
        }
    }
}

impl From<&PieceCell> for PieceCellView {
    fn from(c: &PieceCell) -> PieceCellView {
        PieceCellView { first: c.first, count: c.count, have: c.have, min_availability: c.min_availability }
    }
}

/// The `cells` parameter; anything else in the query is refused.
fn parse_cells(query: Option<&str>) -> Result<usize, ApiError> {
    let mut cells = DEFAULT_PIECE_CELLS;
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != "cells" {
            return Err(ApiError::bad_request(
                "unknown_parameter",
                format!("unknown query parameter {key:?}: use cells"),
            ));
        }
        cells = value.parse().ok().filter(|n| (1..=MAX_PIECE_CELLS).contains(n)).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_cells",
                format!("cells = {value:?} is not a whole number from 1 to {MAX_PIECE_CELLS}"),
            )
        })?;
    }
    Ok(cells)
}

pub(crate) async fn map(
    State(ctx): State<Arc<ApiContext>>,
    Path(query): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let cells = parse_cells(raw.as_deref())?;
    let status = find(&ctx, &query)?;
    let what = status.info_hash.to_hex();
    let map = ctx.session.piece_map(status.id, cells).map_err(|e| ApiError::from_session(&e, &what))?;
    Ok(json(StatusCode::OK, &PieceMapView::new(what, &map)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_parameter_is_checked() {
        assert_eq!(parse_cells(None).unwrap(), DEFAULT_PIECE_CELLS);
        assert_eq!(parse_cells(Some("cells=80")).unwrap(), 80);
        assert_eq!(parse_cells(Some("")).unwrap(), DEFAULT_PIECE_CELLS);
        for bad in ["cells=0", "cells=4097", "cells=x", "cells=", "other=1"] {
            assert!(parse_cells(Some(bad)).is_err(), "{bad}");
        }
    }
}
