//! What to download and in which order, forwarded to the picker: file priorities and
//! streaming (see `picker/priority.rs` and `picker/streaming.rs` for the rules).

use super::{Swarm, SwarmAction};
use crate::picker::{PiecePriorities, StreamingOptions};

impl Swarm {
    /// Applies piece priorities (from file priorities): skipped pieces are no longer
    /// downloaded, higher priorities start first. Replaces [`Swarm::set_wanted`].
    ///
    /// Started pieces that are now skipped and still miss blocks are dropped with their
    /// buffers; the returned actions cancel their outstanding requests (a block that arrives
    /// anyway is counted as wasted). Interest follows on each connection's next
    /// [`Swarm::handle_conn`]: the engine wakes them after a change.
    pub fn set_piece_priorities(&mut self, priorities: PiecePriorities) -> Vec<SwarmAction> {
        self.picker.set_piece_priorities(priorities);
        let cancels = self.picker.drop_unwanted_started();
        let mut pieces: Vec<u32> = cancels.iter().map(|(_, b)| b.piece).collect();
        pieces.extend(self.buffers.pieces());
        pieces.sort_unstable();
        pieces.dedup();
        for piece in pieces {
            self.drop_buffer_if_forgotten(piece);
        }
        cancels.into_iter().map(|(peer, block)| SwarmAction::Cancel { peer, block }).collect()
    }

    /// Turns streaming on (`Some`) or off, reading from piece `read_piece`.
    pub fn set_streaming(&mut self, options: Option<StreamingOptions>, read_piece: u32) {
        self.picker.set_streaming(options, read_piece);
    }

    /// Moves the streaming read position (a seek, or the reader's progress).
    pub fn set_read_piece(&mut self, piece: u32) {
        self.picker.set_read_piece(piece);
    }

    /// Whether streaming selection is on.
    pub fn is_streaming(&self) -> bool {
        self.picker.is_streaming()
    }

    /// The piece priorities in force, if any were set.
    pub fn piece_priorities(&self) -> Option<&PiecePriorities> {
        self.picker.piece_priorities()
    }

    /// The pieces the streaming window covers now (empty without streaming).
    pub fn streaming_window(&self) -> std::ops::Range<u32> {
        self.picker.streaming_window()
    }

    /// Holds `pieces` out of picking while another source fills them (the Xet chunk phase):
    /// they stay wanted, so the torrent is not complete without them. Started or verified
    /// pieces are not held. Returns the pieces held; end with [`Swarm::release_pieces`].
    pub fn hold_pieces(&mut self, pieces: &[u32]) -> Vec<u32> {
        self.picker.hold(pieces)
    }

    /// Ends [`Swarm::hold_pieces`]: the pieces still missing are picked again. The engine wakes
    /// the connections after it, so they request them.
    pub fn release_pieces(&mut self, pieces: &[u32]) {
        self.picker.release(pieces);
    }
}
