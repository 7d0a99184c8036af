//! Streaming piece selection: pieces near the read position first.
//!
//! A player reads a file front to back and may seek. With streaming on, a new piece is chosen
//! in this order:
//!
//! 1. the *window*: the first `window_pieces` pieces still needed at or after the read
//!    position (the window slides forward by itself as pieces verify, so a reader that keeps
//!    up never waits for more than the window), together with the first and last
//!    piece of every file not skipped (players read headers and trailing indexes first);
//!    rarest first among them, so the window still spreads rare pieces, and nearest the
//!    reader first among equally rare ones;
//! 2. everything else, by file priority and the configured selection (rarest first by
//!    default, equally rare pieces nearest the reader first), so idle connections still fetch
//!    useful pieces.
//!
//! Step 2 only serves a peer that has no startable piece of the window, so while the window
//! has pieces to start, the verified pieces are the prefix before the read position, the
//! window and the file ends. When every piece of the window is started (a fast peer with a
//! deep pipeline), step 2 breaks ties by nearness rather than at random: with equally
//! available pieces the next ones after the window come next, so the verified pieces remain a
//! prefix plus a window stretched by at most the pieces in flight.
//! [`Picker::set_read_piece`] moves the window (a seek).

use ccbt_core::Bitfield;

use super::availability::Availability;
use super::set::PieceSet;
use super::Picker;

/// Tuning of streaming selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamingOptions {
    /// Pieces from the read position that are fetched before anything else (at least 1).
    pub window_pieces: u32,
}

impl Default for StreamingOptions {
    /// 16 pieces: several seconds of video at common bitrates and piece sizes, yet few enough
    /// that the window stays near the reader.
    fn default() -> StreamingOptions {
        StreamingOptions { window_pieces: 16 }
    }
}

/// Streaming state: options and the read position.
#[derive(Clone, Debug)]
pub(super) struct Streaming {
    options: StreamingOptions,
    read_piece: u32,
}

impl Streaming {
    pub(super) fn new(options: StreamingOptions, read_piece: u32) -> Streaming {
        Streaming { options, read_piece }
    }

    pub(super) fn set_read_piece(&mut self, piece: u32) {
        self.read_piece = piece;
    }

    pub(super) fn read_piece(&self) -> u32 {
        self.read_piece
    }

    /// The window: from the read position up to and including the `window_pieces`-th piece
    /// still needed (clamped to the torrent). Counting needed pieces, not positions, keeps a
    /// full window of work near the reader when pieces ahead of it are already verified.
    pub(super) fn window(&self, need: &PieceSet, num_pieces: u32) -> std::ops::Range<u32> {
        let mut needed = (self.read_piece..num_pieces).filter(|&p| need.contains(p));
        let Some(start) = needed.next() else { return num_pieces..num_pieces };
        let last = needed.take(self.options.window_pieces.max(1) as usize - 1).last().unwrap_or(start);
        start..last + 1
    }

    /// The rarest startable piece the peer has in the window or among `file_ends`, file ends
    /// then the piece nearest the reader among equally rare ones; `None` if there is none. (Ties are the
    /// common case, e.g. with seeds only: the reader then gets pieces nearly in order.)
    pub(super) fn choose(
        &self,
        startable: &PieceSet,
        need: &PieceSet,
        avail: &Availability,
        peer_has: &Bitfield,
        file_ends: &[u32],
    ) -> Option<u32> {
        let window = self.window(need, peer_has.len());
        let ends = file_ends.iter().copied().filter(|p| !window.contains(p));
        // File ends go first among equally rare pieces: a player opening a file reads them first.
        let ranked = window.clone().map(|p| (p, 1)).chain(ends.map(|p| (p, 0)));
        ranked
            .filter(|&(p, _)| startable.contains(p) && peer_has.get(p))
            .min_by_key(|&(p, tier)| (avail.get(p), tier, p))
            .map(|(p, _)| p)
    }
}

impl Picker {
    /// Turns streaming selection on (`Some`) or off, reading from piece `read_piece`.
    pub fn set_streaming(&mut self, options: Option<StreamingOptions>, read_piece: u32) {
        self.strategy.set_streaming(options.map(|o| Streaming::new(o, read_piece)));
    }

    /// Moves the read position (a seek, or the reader's progress); no effect without streaming.
    pub fn set_read_piece(&mut self, piece: u32) {
        self.strategy.set_read_piece(piece);
    }

    /// Whether streaming selection is on.
    pub fn is_streaming(&self) -> bool {
        self.strategy.streaming().is_some()
    }

    /// The pieces the streaming window covers now (empty without streaming).
    pub fn streaming_window(&self) -> std::ops::Range<u32> {
        self.strategy.streaming().map_or(0..0, |s| s.window(&self.need, self.lengths.num_pieces()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FilePriority, FileSpan, PickerOptions, PiecePriorities};
    use super::*;
    use crate::PeerKey;
    use ccbt_core::Lengths;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    const BLOCK: u32 = 16 * 1024;

    /// `n` one-block pieces.
    fn picker(n: u32) -> Picker {
        let lengths = Lengths::new(u64::from(n) * u64::from(BLOCK), BLOCK).unwrap();
        Picker::new(lengths, Bitfield::new(n), None, PickerOptions::default())
    }

    /// Starts one piece for a peer having `has`.
    fn start_one(p: &mut Picker, has: &Bitfield, rng: &mut SmallRng) -> Option<u32> {
        let mut out = Vec::new();
        p.pick_blocks(PeerKey(1), has, 1, true, rng, &mut out);
        out.first().map(|b| b.piece)
    }

    #[test]
    fn the_window_comes_first_and_slides_with_verified_pieces() {
        let mut rng = SmallRng::seed_from_u64(4);
        let mut p = picker(100);
        let all = Bitfield::full(100);
        p.add_seed();
        p.set_streaming(Some(StreamingOptions { window_pieces: 4 }), 10);
        assert_eq!(p.streaming_window(), 10..14);
        let mut first: Vec<u32> = (0..4).filter_map(|_| start_one(&mut p, &all, &mut rng)).collect();
        first.sort_unstable();
        assert_eq!(first, vec![10, 11, 12, 13]);
        // The window is all started: a peer may start something beyond it (rarest first, and
        // among equally rare pieces the nearest).
        assert_eq!(start_one(&mut p, &all, &mut rng), Some(14));
        // Verifying 10 and 11 slides the window; 12 to 14 are started, so 15 and 16 are next.
        p.on_piece_verified(10);
        p.on_piece_verified(11);
        assert_eq!(p.streaming_window(), 12..16);
        let mut next: Vec<u32> = (0..2).filter_map(|_| start_one(&mut p, &all, &mut rng)).collect();
        next.sort_unstable();
        assert_eq!(next, vec![15, 16]);
        // A seek moves it; near the end it is clamped.
        p.set_read_piece(98);
        assert_eq!(p.streaming_window(), 98..100);
        p.set_streaming(None, 0);
        assert_eq!(p.streaming_window(), 0..0);
    }

    #[test]
    fn beyond_the_window_equally_rare_pieces_come_nearest_the_reader_first() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut p = picker(200);
        let all = Bitfield::full(200);
        p.add_seed();
        p.set_streaming(Some(StreamingOptions { window_pieces: 2 }), 50);
        let started: Vec<u32> = (0..6).filter_map(|_| start_one(&mut p, &all, &mut rng)).collect();
        // The window 50..52, then the pieces right after it, not random ones.
        assert_eq!(started, vec![50, 51, 52, 53, 54, 55]);
        // Past the end, the lowest pieces before the reader.
        p.set_read_piece(198);
        let started: Vec<u32> = (0..4).filter_map(|_| start_one(&mut p, &all, &mut rng)).collect();
        assert_eq!(started, vec![198, 199, 0, 1]);
    }

    #[test]
    fn rarest_first_inside_the_window() {
        let mut rng = SmallRng::seed_from_u64(4);
        let mut p = picker(20);
        let all = Bitfield::full(20);
        let mut common = Bitfield::new(20);
        for piece in [0, 1, 3] {
            common.set(piece);
        }
        p.add_peer_bitfield(&all);
        p.add_peer_bitfield(&common);
        p.set_streaming(Some(StreamingOptions { window_pieces: 4 }), 0);
        // Piece 2 is the rarest of the window 0..4; piece 19 is as rare but outside.
        assert_eq!(start_one(&mut p, &all, &mut rng), Some(2));
        // A peer without the window's pieces gets nothing from it; it still gets a piece.
        let mut far = Bitfield::new(20);
        far.set(17);
        assert_eq!(start_one(&mut p, &far, &mut rng), Some(17));
    }

    #[test]
    fn first_and_last_pieces_of_selected_files_come_with_the_window() {
        let mut rng = SmallRng::seed_from_u64(4);
        let mut p = picker(40);
        let all = Bitfield::full(40);
        p.add_seed();
        let b = u64::from(BLOCK);
        // File 0: pieces 0..20 (skipped); file 1: pieces 20..40.
        let files = [FileSpan { offset: 0, length: 20 * b }, FileSpan { offset: 20 * b, length: 20 * b }];
        let pp = PiecePriorities::from_files(
            &p.lengths,
            &files,
            &[FilePriority::Skip, FilePriority::Normal],
            false,
        );
        p.set_piece_priorities(pp);
        p.set_streaming(Some(StreamingOptions { window_pieces: 2 }), 0);
        assert_eq!(p.streaming_window(), 20..22);
        let mut first: Vec<u32> = (0..3).filter_map(|_| start_one(&mut p, &all, &mut rng)).collect();
        first.sort_unstable();
        assert_eq!(first, vec![20, 21, 39]);
    }
}
