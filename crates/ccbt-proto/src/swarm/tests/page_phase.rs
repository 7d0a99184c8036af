//! A complete piece leaves as one slice of its buffer, and the buffer starts at the page phase
//! of the file holding most of the piece, so the writer can hand it to `O_DIRECT` as it is.

use super::*;
use crate::swarm::FileSpans;

#[test]
fn a_piece_leaves_as_one_slice_lined_up_with_its_file_s_pages() {
    let mut h = H::leecher(options());
    // Two files: the second starts 1000 bytes into piece 1 and holds the rest of the torrent.
    let split = u64::from(PIECE) + 1000;
    h.swarm.set_files(FileSpans::new([(0, split), (split, lengths().total_length() - split)]));
    let a = h.seed_peer(1, depth(64));
    h.pump(a);
    let requested = h.requests(a);
    assert_eq!(requested.len(), 15, "the whole torrent is asked for");
    for block in requested {
        h.recv(a, piece_msg(block));
    }
    let mut seen = 0;
    for action in h.pump(a) {
        let SwarmAction::Verify { piece, blocks, .. } = action else { continue };
        assert_eq!(blocks.len(), 1, "piece {piece} leaves in one slice");
        let expected: Vec<Bytes> = blocks_of(piece).into_iter().map(data).collect();
        assert_eq!(blocks[0], expected.concat(), "piece {piece}'s bytes");
        let start = u64::from(piece) * u64::from(PIECE);
        // The byte of the piece that is a page boundary of its main file sits on a page
        // boundary in memory: file 0 for piece 0, file 1 (from `split`) for the others.
        let file_start = if piece == 0 { 0 } else { split };
        let at_page = (4096 - (start.wrapping_sub(file_start) % 4096)) % 4096;
        let addr = blocks[0].as_ptr() as u64;
        assert_eq!((addr + at_page) % 4096, 0, "piece {piece} at address {addr:#x}");
        seen += 1;
    }
    assert_eq!(seen, N, "every piece was handed out");
}
