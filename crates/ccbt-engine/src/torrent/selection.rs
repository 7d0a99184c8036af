//! Which files a torrent downloads and in which order: a priority per file (skip, low, normal,
//! high), set when the torrent is added (`--select`, `--skip`, a magnet's BEP 53 `so=`, or
//! explicit priorities) and changeable while it runs. The protocol layer maps file priorities
//! to piece priorities (`ccbt_proto::picker::priority`); this keeps the user's choice and the
//! totals progress is measured against (the wanted pieces and their bytes).

use std::collections::BTreeSet;

use ccbt_core::{Bitfield, Lengths};
use ccbt_metainfo::Torrent;
use ccbt_proto::picker::{FilePriority, FileSpan, PiecePriorities};

/// What the user asked for when adding a torrent, before the file list is known (a magnet's
/// metadata arrives later): checked against the torrent by [`Selection::new`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileChoice {
    /// Explicit priorities by file index; files past the end are normal.
    pub priorities: Option<Vec<FilePriority>>,
    /// Only these files (the others are skipped); `None`: every file.
    pub selected: Option<Vec<u32>>,
    /// These files are skipped (applied after `selected`).
    pub skipped: Vec<u32>,
    /// The first and last piece of every file not skipped come first.
    pub first_last_pieces: bool,
}

/// The file priorities in force and what they make of the pieces.
#[derive(Clone, Debug)]
pub(crate) struct Selection {
    spans: Vec<FileSpan>,
    padding: Vec<bool>,
    /// One per file of the layout (padding files included, their value unused).
    priorities: Vec<FilePriority>,
    first_last_pieces: bool,
    pieces: PiecePriorities,
    wanted: Bitfield,
    /// Wanted pieces and their bytes.
    totals: (u32, u64),
}

impl Selection {
    /// Every file at normal priority.
    #[cfg(test)]
    pub(crate) fn all(torrent: &Torrent) -> Selection {
        Selection::new(torrent, &FileChoice::default()).expect("no index to check")
    }

    /// Applies `choice` to `torrent`'s files. Errors name the first index that does not exist
    /// and the file count.
    pub(crate) fn new(torrent: &Torrent, choice: &FileChoice) -> Result<Selection, String> {
        let layout = torrent.layout();
        let count = layout.files().len();
        let check = |index: u32, what: &str| {
            if (index as usize) < count {
                Ok(index as usize)
            } else {
                Err(format!(
                    "{what} file {index} does not exist (the torrent has {count} files, numbered 0 to {})",
                    count.saturating_sub(1)
                ))
            }
        };
        let mut priorities = vec![FilePriority::Normal; count];
        if let Some(given) = &choice.priorities {
            for (index, &p) in given.iter().enumerate() {
                match priorities.get_mut(index) {
                    Some(slot) => *slot = p,
                    None if p == FilePriority::Normal => {}
                    None => {
                        check(index as u32, "prioritised")?;
                    }
                }
            }
        }
        if let Some(selected) = &choice.selected {
            let mut keep = vec![false; count];
            for &index in selected {
                keep[check(index, "selected")?] = true;
            }
            for (p, keep) in priorities.iter_mut().zip(keep) {
                if !keep {
                    *p = FilePriority::Skip;
                }
            }
        }
        for &index in &choice.skipped {
            priorities[check(index, "skipped")?] = FilePriority::Skip;
        }
        let spans = layout.files().iter().map(|f| FileSpan { offset: f.offset, length: f.length }).collect();
        let padding = layout.files().iter().map(|f| f.is_padding).collect();
        let mut selection = Selection {
            spans,
            padding,
            priorities,
            first_last_pieces: choice.first_last_pieces,
            pieces: PiecePriorities::uniform(&torrent.lengths(), FilePriority::Normal),
            wanted: Bitfield::new(0),
            totals: (0, 0),
        };
        selection.recompute(&torrent.lengths());
        Ok(selection)
    }

    /// Changes the priority of some files. Nothing changes if an index does not exist.
    pub(crate) fn set(&mut self, lengths: &Lengths, changes: &[(u32, FilePriority)]) -> Result<(), String> {
        let count = self.priorities.len();
        if let Some((index, _)) = changes.iter().find(|(i, _)| *i as usize >= count) {
            return Err(format!(
                "file {index} does not exist (the torrent has {count} files, numbered 0 to {})",
                count.saturating_sub(1)
            ));
        }
        for &(index, priority) in changes {
            self.priorities[index as usize] = priority;
        }
        self.recompute(lengths);
        Ok(())
    }

    fn recompute(&mut self, lengths: &Lengths) {
        // A padding file follows its file's priority: it only pads that file's last piece.
        let mut effective = self.priorities.clone();
        let mut previous = FilePriority::Skip;
        for (p, &padding) in effective.iter_mut().zip(&self.padding) {
            if padding {
                *p = previous;
            } else {
                previous = *p;
            }
        }
        self.pieces = PiecePriorities::from_files(lengths, &self.spans, &effective, self.first_last_pieces);
        self.wanted = self.pieces.wanted();
        self.totals = totals(lengths, self.wanted.iter_ones());
    }

    /// The piece priorities for the swarm.
    pub(crate) fn piece_priorities(&self) -> PiecePriorities {
        self.pieces.clone()
    }

    /// The priority of every file, in layout order.
    pub(crate) fn file_priorities(&self) -> &[FilePriority] {
        &self.priorities
    }

    /// Files not to create when the storage opens: the skipped ones (padding is never created).
    pub(crate) fn deferred_files(&self) -> BTreeSet<usize> {
        let skipped =
            |(i, (&p, &pad)): (usize, (&FilePriority, &bool))| (p == FilePriority::Skip && !pad).then_some(i);
        self.priorities.iter().zip(&self.padding).enumerate().filter_map(skipped).collect()
    }

    pub(crate) fn wanted(&self) -> &Bitfield {
        &self.wanted
    }

    pub(crate) fn contains(&self, piece: u32) -> bool {
        self.wanted.get(piece)
    }

    /// Wanted pieces and their bytes.
    pub(crate) fn totals(&self) -> (u32, u64) {
        self.totals
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

/// Bytes of each file (by layout index) that lie in verified pieces.
pub(crate) fn verified_bytes(lengths: &Lengths, spans: &[(u64, u64)], have: &Bitfield) -> Vec<u64> {
    let piece_len = u64::from(lengths.piece_length().max(1));
    spans
        .iter()
        .map(|&(offset, length)| {
            let end = offset.saturating_add(length).min(lengths.total_length());
            if length == 0 || offset >= end {
                return 0;
            }
            let (first, last) = (offset / piece_len, (end - 1) / piece_len);
            (first..=last)
                .filter(|&p| u32::try_from(p).is_ok_and(|p| have.get(p)))
                .map(|p| {
                    let (start, stop) = (p * piece_len, (p + 1) * piece_len);
                    stop.min(end) - start.max(offset)
                })
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccbt_metainfo::TorrentBuilder;
    use FilePriority::*;

    /// Files of 20000, 0, 30000 and 15000 bytes in 16 KiB pieces: piece 1 is shared by files 0
    /// and 2, piece 2 by files 2 and 3.
    fn torrent() -> Torrent {
        let files = vec![
            (vec!["a".to_string()], 20000u64),
            (vec!["e".into()], 0),
            (vec!["b".into()], 30000),
            (vec!["c".into()], 15000),
        ];
        let bytes = TorrentBuilder {
            name: "t".into(),
            files,
            piece_length: 16384,
            piece_hashes: vec![[7; 20]; 4],
            ..TorrentBuilder::default()
        }
        .build()
        .unwrap();
        Torrent::from_bytes(&bytes).unwrap()
    }

    #[test]
    fn select_skip_and_priorities_combine_and_bad_indices_are_named() {
        let t = torrent();
        let all = Selection::all(&t);
        assert_eq!(all.totals(), (4, 65000));
        assert!(all.deferred_files().is_empty());
        let choice = FileChoice { selected: Some(vec![0, 3]), skipped: vec![3], ..FileChoice::default() };
        let s = Selection::new(&t, &choice).unwrap();
        assert_eq!(s.file_priorities(), &[Normal, Skip, Skip, Skip]);
        // File 0 covers pieces 0 and 1 (shared with the skipped file 2): both are wanted.
        assert_eq!(s.wanted().iter_ones().collect::<Vec<_>>(), vec![0, 1]);
        assert_eq!(s.totals(), (2, 32768));
        assert_eq!(s.deferred_files(), [1, 2, 3].into());
        for (choice, needle) in [
            (
                FileChoice { selected: Some(vec![4]), ..FileChoice::default() },
                "selected file 4 does not exist (the torrent has 4 files",
            ),
            (FileChoice { skipped: vec![9], ..FileChoice::default() }, "skipped file 9 does not exist"),
            (FileChoice { priorities: Some(vec![Normal; 5]), ..FileChoice::default() }, "IGNORED"),
            (
                FileChoice {
                    priorities: Some(vec![Normal, Normal, Normal, Normal, High]),
                    ..FileChoice::default()
                },
                "prioritised file 4 does not exist",
            ),
        ] {
            match Selection::new(&t, &choice) {
                Ok(_) => assert_eq!(needle, "IGNORED", "{choice:?}"),
                Err(e) => assert!(e.contains(needle), "{e}"),
            }
        }
    }

    #[test]
    fn priorities_change_at_runtime_and_progress_follows() {
        let t = torrent();
        let l = t.lengths();
        let mut s =
            Selection::new(&t, &FileChoice { skipped: vec![0, 2, 3], ..FileChoice::default() }).unwrap();
        assert_eq!(s.totals(), (0, 0));
        s.set(&l, &[(3, High)]).unwrap();
        assert_eq!(s.wanted().iter_ones().collect::<Vec<_>>(), vec![3]);
        assert_eq!(s.totals(), (1, 65000 - 49152));
        let mut have = Bitfield::new(4);
        have.set(0);
        have.set(3);
        assert_eq!(s.counted(&l, &have), (1, 65000 - 49152));
        s.set(&l, &[(0, Low)]).unwrap();
        assert_eq!(s.counted(&l, &have), (2, 16384 + 65000 - 49152));
        let err = s.set(&l, &[(2, Low), (4, Low)]).unwrap_err();
        assert!(err.contains("file 4 does not exist"), "{err}");
        assert_eq!(s.file_priorities()[2], Skip, "a failed change changes nothing");
    }

    #[test]
    fn verified_bytes_split_shared_pieces_between_files() {
        let t = torrent();
        let spans: Vec<(u64, u64)> = t.layout().files().iter().map(|f| (f.offset, f.length)).collect();
        let mut have = Bitfield::new(4);
        have.set(1);
        have.set(3);
        // Piece 1 (16384..32768): 3616 bytes of file 0, 12768 of file 2; piece 3 (49152..65000):
        // 848 of file 2, all 15000 of file 3.
        assert_eq!(verified_bytes(&t.lengths(), &spans, &have), vec![3616, 0, 12768 + 848, 15000]);
    }
}
