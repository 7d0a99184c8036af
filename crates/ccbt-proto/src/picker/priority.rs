//! File priorities mapped to piece priorities.
//!
//! The user ranks files (skip, low, normal, high); the picker works in pieces. A piece takes
//! the highest priority of the files it overlaps, so a piece shared by a skipped file and a
//! wanted one is wanted (it must be downloaded whole to be verified; the engine writes only
//! the wanted file's bytes of it). A piece only skipped files touch is never picked: it is out
//! of the picker's wanted set. With `first_last_pieces`, the first and last piece of every
//! file that is not skipped are raised to high, because media players read a file's header
//! and its index (often at the end) before anything else.
//!
//! The picker starts pieces of the highest priority the peer can give first; within one
//! priority the configured selection (rarest first by default) decides. Priorities may change
//! at any time ([`Picker::set_piece_priorities`]); started pieces keep their requests.

use std::fmt;
use std::str::FromStr;

use ccbt_core::{Bitfield, Lengths};

use super::{Picker, PickerError};
use crate::PeerKey;
use ccbt_core::BlockRef;

/// The priority of a file (and of a piece, after mapping).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FilePriority {
    /// Not downloaded (`"skip"`).
    Skip,
    /// After everything else (`"low"`).
    Low,
    /// The default (`"normal"`).
    #[default]
    Normal,
    /// Before everything else (`"high"`).
    High,
}

impl FilePriority {
    /// The API/config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FilePriority::Skip => "skip",
            FilePriority::Low => "low",
            FilePriority::Normal => "normal",
            FilePriority::High => "high",
        }
    }
}

impl fmt::Display for FilePriority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FilePriority {
    type Err = PickerError;

    fn from_str(s: &str) -> Result<FilePriority, PickerError> {
        match s {
            "skip" => Ok(FilePriority::Skip),
            "low" => Ok(FilePriority::Low),
            "normal" => Ok(FilePriority::Normal),
            "high" => Ok(FilePriority::High),
            other => Err(PickerError::UnknownPriority { value: other.to_owned() }),
        }
    }
}

/// Where a file lies in the torrent's byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileSpan {
    pub offset: u64,
    pub length: u64,
}

/// The priority of every piece, derived from file priorities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PiecePriorities {
    levels: Vec<FilePriority>,
    /// First and last pieces of the files not skipped, ascending, without duplicates.
    file_ends: Vec<u32>,
}

impl PiecePriorities {
    /// Every piece at `priority` (a torrent without file information, or one file).
    pub fn uniform(lengths: &Lengths, priority: FilePriority) -> PiecePriorities {
        PiecePriorities { levels: vec![priority; lengths.num_pieces() as usize], file_ends: Vec::new() }
    }

    /// Maps `priorities[i]` of file `files[i]` to pieces (files without a priority are
    /// normal; empty files touch no piece; bytes past the torrent's end are ignored).
    pub fn from_files(
        lengths: &Lengths,
        files: &[FileSpan],
        priorities: &[FilePriority],
        first_last_pieces: bool,
    ) -> PiecePriorities {
        let n = lengths.num_pieces();
        let mut levels = vec![FilePriority::Skip; n as usize];
        let mut file_ends = Vec::new();
        for (i, file) in files.iter().enumerate() {
            let priority = priorities.get(i).copied().unwrap_or_default();
            let Some((first, last)) = piece_range(lengths, *file) else { continue };
            for level in &mut levels[first as usize..=last as usize] {
                *level = (*level).max(priority);
            }
            if priority != FilePriority::Skip {
                file_ends.extend([first, last]);
            }
        }
        file_ends.sort_unstable();
        file_ends.dedup();
        if first_last_pieces {
            for &p in &file_ends {
                levels[p as usize] = FilePriority::High;
            }
        }
        PiecePriorities { levels, file_ends }
    }

    /// The priority of `piece` (out of range: skip).
    pub fn get(&self, piece: u32) -> FilePriority {
        self.levels.get(piece as usize).copied().unwrap_or(FilePriority::Skip)
    }

    /// The pieces to download: those not skipped.
    pub fn wanted(&self) -> Bitfield {
        self.mask(|l| l != FilePriority::Skip)
    }

    /// First and last pieces of every file not skipped.
    pub fn file_ends(&self) -> &[u32] {
        &self.file_ends
    }

    /// The wanted priorities present, highest first.
    pub(super) fn levels_present(&self) -> Vec<FilePriority> {
        let mut present: Vec<FilePriority> =
            [FilePriority::High, FilePriority::Normal, FilePriority::Low].into_iter().collect();
        present.retain(|&l| self.levels.contains(&l));
        present
    }

    /// Pieces at exactly `level`.
    pub(super) fn mask_of(&self, level: FilePriority) -> Bitfield {
        self.mask(|l| l == level)
    }

    fn mask(&self, keep: impl Fn(FilePriority) -> bool) -> Bitfield {
        let mut bf = Bitfield::new(self.levels.len() as u32);
        for (p, &l) in self.levels.iter().enumerate() {
            if keep(l) {
                bf.set(p as u32);
            }
        }
        bf
    }
}

/// The first and last piece a file overlaps, or `None` if it is empty or out of range.
pub fn piece_range(lengths: &Lengths, file: FileSpan) -> Option<(u32, u32)> {
    let end = file.offset.checked_add(file.length)?.min(lengths.total_length());
    if file.length == 0 || file.offset >= end {
        return None;
    }
    let piece_len = u64::from(lengths.piece_length());
    let first = u32::try_from(file.offset / piece_len).ok()?;
    let last = u32::try_from((end - 1) / piece_len).ok()?;
    Some((first, last))
}

/// The pieces both `a` and `b` hold (a bitfield of `a`'s length).
pub(super) fn intersect(a: &Bitfield, b: &Bitfield) -> Bitfield {
    let mut out = Bitfield::new(a.len());
    for p in a.iter_ones().filter(|&p| b.get(p)) {
        out.set(p);
    }
    out
}

impl Picker {
    /// Applies piece priorities: skipped pieces leave the wanted set, and new pieces are
    /// started highest priority first. Replaces any earlier [`Picker::set_wanted`] selection.
    pub fn set_piece_priorities(&mut self, priorities: PiecePriorities) {
        self.set_wanted(Some(priorities.wanted()));
        self.strategy.set_priorities(priorities);
    }

    /// Forgets the started pieces that are no longer wanted and still miss blocks (a file was
    /// skipped while they downloaded): their received blocks are dropped, and their outstanding
    /// requests are returned as `(peer, block)` so the caller can cancel them. A piece whose
    /// blocks all arrived is left to its verification (its data is already paid for). Should
    /// the piece be wanted again, it starts afresh.
    pub fn drop_unwanted_started(&mut self) -> Vec<(PeerKey, BlockRef)> {
        let unwanted: Vec<u32> = self
            .partials
            .iter()
            .filter(|(&p, pp)| !self.wanted.contains(p) && !pp.is_complete())
            .map(|(&p, _)| p)
            .collect();
        let mut cancels = Vec::new();
        for piece in unwanted {
            let Some(vp) = self.lengths.validate_piece(piece) else { continue };
            if let Some(pp) = self.partials.get(&piece) {
                for (index, peer) in pp.requests() {
                    if let Some(block) = self.lengths.block(vp, index) {
                        cancels.push((peer, block));
                    }
                }
            }
            self.forget(piece);
        }
        cancels
    }

    /// The priorities in force, if any were set.
    pub fn piece_priorities(&self) -> Option<&PiecePriorities> {
        self.strategy.priorities()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FilePriority::*;

    const P: u64 = 16384;

    fn lengths() -> Lengths {
        // 10 pieces of 16 KiB.
        Lengths::new(10 * P, P as u32).unwrap()
    }

    fn spans(sizes: &[u64]) -> Vec<FileSpan> {
        let mut offset = 0;
        sizes
            .iter()
            .map(|&length| {
                let s = FileSpan { offset, length };
                offset += length;
                s
            })
            .collect()
    }

    #[test]
    fn strings_round_trip() {
        for p in [Skip, Low, Normal, High] {
            assert_eq!(p.to_string().parse::<FilePriority>(), Ok(p));
        }
        assert!("urgent".parse::<FilePriority>().is_err());
        assert_eq!(FilePriority::default(), Normal);
    }

    #[test]
    fn a_piece_takes_the_highest_priority_of_its_files() {
        // Files: pieces 0-2.5 skip, 100 bytes of piece 2 low, the rest of 2-5 skip, empty,
        // pieces 6-9 high.
        let files = spans(&[40960, 100, 57244, 0, 4 * P]);
        let pp = PiecePriorities::from_files(&lengths(), &files, &[Skip, Low, Skip, High, High], false);
        let got: Vec<FilePriority> = (0..10).map(|p| pp.get(p)).collect();
        assert_eq!(got, vec![Skip, Skip, Low, Skip, Skip, Skip, High, High, High, High]);
        // Piece 2 is shared by a skipped and a wanted file: wanted.
        assert_eq!(pp.wanted().iter_ones().collect::<Vec<_>>(), vec![2, 6, 7, 8, 9]);
        assert_eq!(pp.file_ends(), &[2, 6, 9]);
        assert_eq!(pp.get(10), Skip);
        assert_eq!(pp.levels_present(), vec![High, Low]);
    }

    #[test]
    fn first_last_pieces_are_raised_to_high() {
        let files = spans(&[4 * P + P / 2, 5 * P + P / 2]);
        let pp = PiecePriorities::from_files(&lengths(), &files, &[Low, Skip], true);
        let got: Vec<FilePriority> = (0..10).map(|p| pp.get(p)).collect();
        assert_eq!(got, vec![High, Low, Low, Low, High, Skip, Skip, Skip, Skip, Skip]);
        // Files without a priority are normal.
        let pp = PiecePriorities::from_files(&lengths(), &files, &[], false);
        assert!((0..10).all(|p| pp.get(p) == Normal));
    }

    /// Starts pieces one at a time for a peer having everything, until none is left.
    fn start_order(p: &mut Picker) -> Vec<u32> {
        use rand::SeedableRng;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(8);
        let all = Bitfield::full(10);
        let mut order = Vec::new();
        loop {
            let mut out = Vec::new();
            p.pick_blocks(crate::PeerKey(1), &all, 1, true, &mut rng, &mut out);
            match out.first() {
                Some(b) => order.push(b.piece),
                None => return order,
            }
        }
    }

    fn one_block_pieces() -> Picker {
        // 10 pieces of one 16 KiB block.
        let l = Lengths::new(10 * 16384, 16384).unwrap();
        let mut p = Picker::new(l, Bitfield::new(10), None, super::super::PickerOptions::default());
        p.add_seed();
        p
    }

    #[test]
    fn priorities_order_picks_and_skipped_pieces_are_never_picked() {
        let mut p = one_block_pieces();
        let b = 16384;
        // Files of 3, 3, 2 and 2 pieces.
        let files = spans(&[3 * b, 3 * b, 2 * b, 2 * b]);
        p.set_piece_priorities(PiecePriorities::from_files(
            &p.lengths,
            &files,
            &[Low, Skip, High, Normal],
            false,
        ));
        let order = start_order(&mut p);
        let levels: Vec<FilePriority> =
            order.iter().map(|&piece| p.piece_priorities().unwrap().get(piece)).collect();
        assert_eq!(levels, vec![High, High, Normal, Normal, Low, Low, Low]);
        assert!(order.iter().all(|&piece| !(3..6).contains(&piece)), "skipped pieces picked: {order:?}");
        p.assert_invariants();
    }

    #[test]
    fn priorities_change_at_runtime() {
        let mut p = one_block_pieces();
        let b = 16384;
        let files = spans(&[5 * b, 5 * b]);
        p.set_piece_priorities(PiecePriorities::from_files(&p.lengths, &files, &[High, Low], false));
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
        let mut out = Vec::new();
        let all = Bitfield::full(10);
        p.pick_blocks(crate::PeerKey(1), &all, 1, true, &mut rng, &mut out);
        assert!(out[0].piece < 5);
        // Swap: the rest of file 1 now comes first; file 0's started piece keeps its request.
        p.set_piece_priorities(PiecePriorities::from_files(&p.lengths, &files, &[Low, High], false));
        let order = start_order(&mut p);
        assert_eq!(order.len(), 9);
        assert!(order[..5].iter().all(|&piece| piece >= 5), "{order:?}");
        // Skipping a file removes its pieces from the download.
        p.set_piece_priorities(PiecePriorities::from_files(&p.lengths, &files, &[Skip, High], false));
        assert!(!p.is_interesting(&{
            let mut only0 = Bitfield::new(10);
            only0.set(0);
            only0
        }));
        p.assert_invariants();
    }

    #[test]
    fn first_and_last_pieces_of_each_file_start_first() {
        let mut p = one_block_pieces();
        let b = 16384;
        // Files of 4, 3 and 3 pieces, all normal, the middle one skipped.
        let files = spans(&[4 * b, 3 * b, 3 * b]);
        p.set_piece_priorities(PiecePriorities::from_files(
            &p.lengths,
            &files,
            &[Normal, Skip, Normal],
            true,
        ));
        let order = start_order(&mut p);
        let mut head: Vec<u32> = order[..4].to_vec();
        head.sort_unstable();
        assert_eq!(head, vec![0, 3, 7, 9], "file ends first: {order:?}");
        let mut rest: Vec<u32> = order[4..].to_vec();
        rest.sort_unstable();
        assert_eq!(rest, vec![1, 2, 8]);
    }

    #[test]
    fn skipped_started_pieces_are_dropped_with_their_requests() {
        let mut p = one_block_pieces();
        let b = 16384;
        let files = spans(&[5 * b, 5 * b]);
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(3);
        let all = Bitfield::full(10);
        let mut out = Vec::new();
        p.set_piece_priorities(PiecePriorities::from_files(&p.lengths, &files, &[High, Low], false));
        // Peer 1 starts pieces of file 0; peer 2 too; one of peer 1's blocks arrives (the
        // piece, one block long, now awaits verification and is kept).
        p.pick_blocks(crate::PeerKey(1), &all, 2, true, &mut rng, &mut out);
        p.pick_blocks(crate::PeerKey(2), &all, 1, true, &mut rng, &mut out);
        assert!(out.iter().all(|b| b.piece < 5), "{out:?}");
        let arrived = out[0];
        assert!(matches!(
            p.on_block_received(crate::PeerKey(1), arrived),
            super::super::BlockReceived::Fresh { .. }
        ));
        p.set_piece_priorities(PiecePriorities::from_files(&p.lengths, &files, &[Skip, Low], false));
        let mut cancels = p.drop_unwanted_started();
        cancels.sort_unstable_by_key(|(peer, b)| (b.piece, *peer));
        assert_eq!(cancels, vec![(crate::PeerKey(1), out[1]), (crate::PeerKey(2), out[2])]);
        assert!(!p.is_started(out[1].piece) && !p.is_started(out[2].piece));
        assert!(p.is_started(arrived.piece), "a piece awaiting verification is kept");
        // Their late blocks are unexpected; nothing is left to cancel.
        assert_eq!(p.on_block_received(crate::PeerKey(1), out[1]), super::super::BlockReceived::Unexpected);
        assert!(p.drop_unwanted_started().is_empty());
        p.assert_invariants();
    }

    proptest::proptest! {
        /// Whatever the files and priorities: skipped-only pieces are never started, every
        /// wanted piece is, and started pieces never rise in priority.
        #[test]
        fn picks_follow_priorities(
            files in proptest::collection::vec((0u64..3 * 16384, 0usize..4), 1..8),
            first_last in proptest::bool::ANY,
        ) {
            let mut p = one_block_pieces();
            let levels = [Skip, Low, Normal, High];
            let spans_in: Vec<u64> = files.iter().map(|f| f.0).collect();
            let mut spans = spans(&spans_in);
            // The last file takes whatever the others leave of the 10 pieces.
            let used: u64 = spans_in.iter().sum::<u64>().min(10 * P);
            spans.push(FileSpan { offset: used, length: 10 * P - used });
            let mut prio: Vec<FilePriority> = files.iter().map(|f| levels[f.1]).collect();
            prio.push(Skip);
            let pp = PiecePriorities::from_files(&p.lengths, &spans, &prio, first_last);
            let wanted: Vec<u32> = pp.wanted().iter_ones().collect();
            p.set_piece_priorities(pp.clone());
            let order = start_order(&mut p);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            proptest::prop_assert_eq!(sorted, wanted);
            for pair in order.windows(2) {
                proptest::prop_assert!(pp.get(pair[0]) >= pp.get(pair[1]), "{:?}", order);
            }
        }
    }

    #[test]
    fn piece_ranges_are_clamped() {
        let l = lengths();
        assert_eq!(piece_range(&l, FileSpan { offset: 0, length: 1 }), Some((0, 0)));
        assert_eq!(piece_range(&l, FileSpan { offset: P - 1, length: 2 }), Some((0, 1)));
        assert_eq!(piece_range(&l, FileSpan { offset: 9 * P, length: u64::MAX }), None);
        assert_eq!(piece_range(&l, FileSpan { offset: 9 * P, length: 5 * P }), Some((9, 9)));
        assert_eq!(piece_range(&l, FileSpan { offset: 10 * P, length: 5 }), None);
    }
}
