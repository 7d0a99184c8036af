//! Which pieces a torrent downloads: all of them, or those of selected files (BEP 53 `so=`).

use ccbt_core::{Bitfield, Lengths};
use ccbt_metainfo::Torrent;

/// The wanted pieces and their totals, for the picker and for progress.
#[derive(Clone, Debug)]
pub(crate) struct Selection {
    /// None = every piece.
    wanted: Option<Bitfield>,
    pieces: u32,
    bytes: u64,
}

impl Selection {
    /// Every piece, or the pieces covering `files` (indices into the torrent's file list; a
    /// piece shared with an unselected file is downloaded whole). Errors name a bad index.
    pub(crate) fn new(torrent: &Torrent, files: Option<&[u32]>) -> Result<Selection, String> {
        let lengths = torrent.lengths();
        let Some(files) = files else {
            return Ok(Selection {
                wanted: None,
                pieces: lengths.num_pieces(),
                bytes: lengths.total_length(),
            });
        };
        let layout = torrent.layout();
        let plen = u64::from(lengths.piece_length());
        let mut wanted = Bitfield::new(lengths.num_pieces());
        for &index in files {
            let file = layout.files().get(index as usize).ok_or_else(|| {
                format!(
                    "selected file {index} does not exist (the torrent has {} files)",
                    layout.files().len()
                )
            })?;
            if file.length == 0 || file.is_padding {
                continue;
            }
            let first = file.offset / plen;
            let last = (file.offset + file.length - 1) / plen;
            for piece in first..=last {
                wanted.set(piece as u32);
            }
        }
        let (pieces, bytes) = totals(&lengths, wanted.iter_ones());
        Ok(Selection { wanted: Some(wanted), pieces, bytes })
    }

    pub(crate) fn wanted(&self) -> Option<&Bitfield> {
        self.wanted.as_ref()
    }

    pub(crate) fn contains(&self, piece: u32) -> bool {
        self.wanted.as_ref().map_or(true, |w| w.get(piece))
    }

    /// Wanted pieces and their bytes.
    pub(crate) fn totals(&self) -> (u32, u64) {
        (self.pieces, self.bytes)
    }

    /// How many wanted pieces (and bytes) of `have` we hold.
    pub(crate) fn counted(&self, lengths: &Lengths, have: &Bitfield) -> (u32, u64) {
        totals(lengths, have.iter_ones().filter(|&p| self.contains(p)))
    }
}

fn totals(lengths: &Lengths, pieces: impl Iterator<Item = u32>) -> (u32, u64) {
    let mut count = 0;
    let mut bytes = 0;
    for piece in pieces {
        if let Some(p) = lengths.validate_piece(piece) {
            count += 1;
            bytes += u64::from(lengths.piece_len(p));
        }
    }
    (count, bytes)
}
