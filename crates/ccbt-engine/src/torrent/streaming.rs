//! Streaming for one torrent: turning the picker's streaming mode on with a window sized for
//! playback, and where the window starts when nobody reads (see `picker/streaming.rs` for how
//! pieces are chosen, and `reader.rs` for the readers that move the window).

use ccbt_core::Lengths;
use ccbt_metainfo::Torrent;
use ccbt_proto::picker::{piece_range, FileSpan, StreamingOptions};
use ccbt_proto::swarm::Swarm;

use super::{Selection, TorrentInner};

/// Whether a torrent streams and where its readers are, kept beside the swarm because the
/// swarm is rebuilt after the data check.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct StreamingState {
    pub on: bool,
    /// Where the last read or seek was; `None`: nobody has read yet.
    pub read_piece: Option<u32>,
}

impl StreamingState {
    pub(crate) fn new(on: bool) -> StreamingState {
        StreamingState { on, read_piece: None }
    }
}

/// Applies the torrent's streaming state to its (new) swarm.
pub(crate) fn apply(inner: &mut TorrentInner, torrent: &Torrent) {
    apply_to(&mut inner.swarm, inner.streaming, torrent, &inner.selection);
}

fn apply_to(swarm: &mut Swarm, state: StreamingState, torrent: &Torrent, selection: &Selection) {
    if state.on {
        enable(swarm, torrent, selection, state.read_piece);
    }
}

/// A reader is at `piece`: the window moves there (streaming is turned on if it was off).
pub(crate) fn move_reader(inner: &mut TorrentInner, torrent: &Torrent, piece: u32) {
    inner.streaming = move_to(&mut inner.swarm, torrent, &inner.selection, piece);
}

fn move_to(swarm: &mut Swarm, torrent: &Torrent, selection: &Selection, piece: u32) -> StreamingState {
    if swarm.is_streaming() {
        swarm.set_read_piece(piece);
    } else {
        enable(swarm, torrent, selection, Some(piece));
    }
    StreamingState { on: true, read_piece: Some(piece) }
}

/// Bytes the window should hold: at common video bitrates (1 to 2 MB/s for 1080p) several
/// seconds of playback, so a reader that keeps up rarely waits, while the window stays near
/// the reader and no larger than the default buffer budget (`max_buffered_kib`, 8 MiB).
const WINDOW_BYTES: u64 = 8 * 1024 * 1024;

/// The window never holds fewer pieces than this, so even huge pieces are fetched from a few
/// peers at once.
const MIN_WINDOW_PIECES: u32 = 4;

/// The streaming options for a torrent of geometry `lengths`: a window of
/// [`WINDOW_BYTES`] of pieces, at least [`MIN_WINDOW_PIECES`].
pub(crate) fn options(lengths: &Lengths) -> StreamingOptions {
    let pieces = WINDOW_BYTES.div_ceil(u64::from(lengths.piece_length().max(1)));
    StreamingOptions { window_pieces: u32::try_from(pieces).unwrap_or(u32::MAX).max(MIN_WINDOW_PIECES) }
}

/// Turns streaming on, the window starting at `read_piece` (default: the first piece of the
/// first selected file; the window skips pieces already verified, so that is the first missing
/// one). The picker learns the file ends it fetches early from the swarm's piece priorities,
/// which every swarm gets from the torrent's selection when it is made.
pub(crate) fn enable(swarm: &mut Swarm, torrent: &Torrent, selection: &Selection, read_piece: Option<u32>) {
    let lengths = torrent.lengths();
    let start = read_piece.unwrap_or_else(|| first_selected_piece(torrent, selection));
    swarm.set_streaming(Some(options(&lengths)), start);
}

/// The first piece of the first selected (non-empty, non-padding) file; 0 if there is none.
fn first_selected_piece(torrent: &Torrent, selection: &Selection) -> u32 {
    let lengths = torrent.lengths();
    let layout = torrent.layout();
    layout
        .files()
        .iter()
        .filter(|f| !f.is_padding)
        .filter_map(|f| piece_range(&lengths, FileSpan { offset: f.offset, length: f.length }))
        .find(|&(first, last)| (first..=last).all(|p| selection.contains(p)))
        .map_or(0, |(first, _)| first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccbt_metainfo::TorrentBuilder;

    const PIECE: u32 = 16384;

    /// Files of 20 000, 40 000 and 10 000 bytes over 16 KiB pieces: 0-1 | 1-3 | 4.
    fn torrent() -> Torrent {
        let lengths = [20_000u64, 40_000, 10_000];
        let total: u64 = lengths.iter().sum();
        let builder = TorrentBuilder {
            name: "t".into(),
            files: lengths.iter().enumerate().map(|(i, &n)| (vec![format!("{i}")], n)).collect(),
            piece_length: PIECE,
            piece_hashes: vec![[0; 20]; total.div_ceil(u64::from(PIECE)) as usize],
            ..TorrentBuilder::default()
        };
        Torrent::from_bytes(&builder.build().unwrap()).unwrap()
    }

    fn only(torrent: &Torrent, files: &[u32]) -> Selection {
        let choice = super::super::FileChoice { selected: Some(files.to_vec()), ..Default::default() };
        Selection::new(torrent, &choice).unwrap()
    }

    #[test]
    fn with_nobody_reading_the_window_starts_at_the_first_selected_file() {
        let torrent = torrent();
        assert_eq!(first_selected_piece(&torrent, &only(&torrent, &[1])), 1);
        assert_eq!(first_selected_piece(&torrent, &Selection::all(&torrent)), 0);
    }

    fn swarm(torrent: &Torrent) -> Swarm {
        let layers = crate::options::TorrentLayerOptions::new(&crate::SessionOptions::default(), torrent);
        let mut swarm =
            Swarm::new(torrent.lengths(), ccbt_core::Bitfield::new(torrent.num_pieces()), layers.swarm);
        let _ = swarm.set_piece_priorities(Selection::all(torrent).piece_priorities());
        swarm
    }

    #[test]
    fn readers_move_the_window_and_it_survives_a_new_swarm() {
        let torrent = torrent();
        let all = Selection::all(&torrent);
        // Windows are clamped to the torrent's 5 pieces (8 MiB is 512 pieces of 16 KiB).
        let mut first = swarm(&torrent);
        assert!(!first.is_streaming());
        let state = move_to(&mut first, &torrent, &all, 3);
        assert!(first.is_streaming());
        assert_eq!(first.streaming_window(), 3..5);
        assert_eq!(first.piece_priorities().unwrap().file_ends(), &[0, 1, 3, 4]);
        // The swarm made after the data check streams from where the reader was.
        let mut second = swarm(&torrent);
        apply_to(&mut second, state, &torrent, &all);
        assert_eq!(second.streaming_window(), 3..5);
        // A seek back.
        move_to(&mut second, &torrent, &all, 1);
        assert_eq!(second.streaming_window(), 1..5);
        // Streaming on with nobody reading: from the first selected file (file 2: pieces 3-4).
        let mut third = swarm(&torrent);
        let only_last = only(&torrent, &[2]);
        apply_to(&mut third, StreamingState::new(true), &torrent, &only_last);
        assert_eq!(third.streaming_window(), 3..5);
        let mut fourth = swarm(&torrent);
        apply_to(&mut fourth, StreamingState::new(true), &torrent, &all);
        assert_eq!(fourth.streaming_window(), 0..5);
        let mut off = swarm(&torrent);
        apply_to(&mut off, StreamingState::new(false), &torrent, &all);
        assert!(!off.is_streaming());
    }

    #[test]
    fn the_window_holds_several_mib_and_at_least_a_few_pieces() {
        let window = |piece_len: u32| options(&Lengths::new(1 << 40, piece_len).unwrap()).window_pieces;
        assert_eq!(window(16 * 1024), 512);
        assert_eq!(window(256 * 1024), 32);
        assert_eq!(window(4 * 1024 * 1024), 4);
        assert_eq!(window(16 * 1024 * 1024), MIN_WINDOW_PIECES);
    }
}
