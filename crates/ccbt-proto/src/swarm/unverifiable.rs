//! Pieces the hash pool could not check at all: their `PieceCheck` named no hash yet (a v2
//! piece whose piece layer has not arrived). Kept apart from `on_piece_failed` because nothing
//! proves the data wrong, so nobody may be struck for it.

use super::Swarm;

impl Swarm {
    /// The hash pool could not check `piece` (no hash known for it) and dropped its data
    /// unwritten: it is downloaded again. Unlike [`Swarm::on_piece_failed`], no sender is
    /// struck and no evidence is kept, since the data may have been good; its bytes count as
    /// wasted.
    pub fn on_piece_unverifiable(&mut self, piece: u32) {
        if let Some(v) = self.verifying.remove(&piece) {
            self.buffered_bytes = self.buffered_bytes.saturating_sub(v.len);
            self.wasted_bytes += v.len;
        }
        self.picker.on_piece_failed(piece);
    }
}
