//! Serving our info dictionary to peers that fetch it over `ut_metadata`.

use bytes::Bytes;
use ccbt_wire::ext::metadata::{MetadataMessage, METADATA_PIECE_LEN};

/// Answers `ut_metadata` requests from the original bytes of the info dictionary. Pieces are
/// zero-copy slices of those bytes.
#[derive(Clone, Debug)]
pub struct MetadataServer {
    info_bytes: Bytes,
}

impl MetadataServer {
    /// Serves `info_bytes`, the exact bytes the info hash was computed over.
    pub fn new(info_bytes: Bytes) -> MetadataServer {
        MetadataServer { info_bytes }
    }

    /// The `metadata_size` to advertise in our extension handshake.
    pub fn metadata_size(&self) -> u64 {
        self.info_bytes.len() as u64
    }

    /// Number of metadata pieces.
    pub fn num_pieces(&self) -> u32 {
        u32::try_from(self.info_bytes.len().div_ceil(METADATA_PIECE_LEN)).unwrap_or(u32::MAX)
    }

    /// The answer to a request for `piece`: its data, or a reject if there is no such piece.
    pub fn answer(&self, piece: u32) -> MetadataMessage {
        let data = usize::try_from(piece)
            .ok()
            .and_then(|p| p.checked_mul(METADATA_PIECE_LEN))
            .filter(|&start| start < self.info_bytes.len())
            .map(|start| {
                let end = start.saturating_add(METADATA_PIECE_LEN).min(self.info_bytes.len());
                self.info_bytes.slice(start..end)
            });
        match data {
            Some(data) => MetadataMessage::Data { piece, total_size: self.metadata_size(), data },
            None => MetadataMessage::Reject { piece },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_full_and_short_pieces_and_rejects_the_rest() {
        let info: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
        let server = MetadataServer::new(Bytes::from(info.clone()));
        assert_eq!(server.metadata_size(), 40_000);
        assert_eq!(server.num_pieces(), 3);
        let mut assembled = Vec::new();
        for piece in 0..3 {
            let MetadataMessage::Data { piece: p, total_size, data } = server.answer(piece) else {
                panic!("piece {piece} rejected");
            };
            assert_eq!((p, total_size), (piece, 40_000));
            assert_eq!(data.len(), if piece < 2 { METADATA_PIECE_LEN } else { 40_000 - 2 * 16384 });
            assembled.extend_from_slice(&data);
        }
        assert_eq!(assembled, info);
        for piece in [3, 4, u32::MAX] {
            assert_eq!(server.answer(piece), MetadataMessage::Reject { piece });
        }
    }

    #[test]
    fn exact_multiple_has_no_empty_last_piece() {
        let server = MetadataServer::new(Bytes::from(vec![7u8; 2 * METADATA_PIECE_LEN]));
        assert_eq!(server.num_pieces(), 2);
        assert!(
            matches!(server.answer(1), MetadataMessage::Data { ref data, .. } if data.len() == METADATA_PIECE_LEN)
        );
        assert_eq!(server.answer(2), MetadataMessage::Reject { piece: 2 });
    }

    #[test]
    fn empty_metadata_rejects_everything() {
        let server = MetadataServer::new(Bytes::new());
        assert_eq!(server.num_pieces(), 0);
        assert_eq!(server.answer(0), MetadataMessage::Reject { piece: 0 });
    }
}
