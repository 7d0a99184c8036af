//! `ccbt verify FILE.torrent -d DIR`: hash the data on disk in parallel and report which pieces
//! are bad and which files they touch. Exit 1 when anything is bad.
//!
//! Each piece is checked against every hash the torrent gives for it: SHA-1 for v1, the
//! SHA-256 merkle node of its file (the piece layer, or the file's root) for v2, both for a
//! hybrid. A v2 torrent without the piece layers of some file cannot vouch for that file's
//! pieces: that is an error, not damage.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context as _};
use ccbt_core::{Bitfield, FileLayout, Lengths};
use ccbt_metainfo::Torrent;
use ccbt_storage::{check_pieces, FileStorage, StorageOptions};

use super::info::read_torrent;
use super::{default_hash_workers, Exit};
use crate::args::VerifyArgs;
use crate::progress::{ProgressConfig, TaskProgress};
use crate::units::human_bytes;

/// Bad piece numbers listed per file; the rest are only counted, so the report stays short.
const PIECES_LISTED: usize = 8;

/// Runs `ccbt verify`.
/// `use_mmap` is the configuration's `disk.use_mmap`: with it off the data is read with
/// `pread` and the page cache is not mapped into the process (its RSS stays small).
pub fn run(args: &VerifyArgs, use_mmap: bool, progress: ProgressConfig) -> anyhow::Result<Exit> {
    let torrent = read_torrent(&args.torrent)?;
    refuse_uncheckable(&torrent)?;
    let layout = torrent.layout();
    let lengths = torrent.lengths();
    let storage = FileStorage::open_existing(
        args.dir.folder(),
        &layout,
        StorageOptions { use_mmap, ..StorageOptions::default() },
    )
    .with_context(|| format!("cannot open the data in {}", args.dir.folder().display()))?;
    let workers = args.hash_workers.map_or_else(default_hash_workers, usize::from);

    let task = TaskProgress::new(progress, "checking", lengths.total_length());
    let piece_length = u64::from(lengths.piece_length());
    let on_progress = |done: u32| task.set(u64::from(done).saturating_mul(piece_length));
    let checks = |i: u32| torrent.piece_check(i);
    let have =
        check_pieces(&storage, &lengths, &checks, workers, &on_progress).context("cannot check the data")?;
    task.finish();

    let damaged: Vec<FileState> =
        (0..layout.files().len()).map(|i| file_state(&layout, i, storage.file_path(i))).collect();
    let (report, all_good) = report(&layout, &lengths, &have, &damaged);
    print!("{report}");
    Ok(if all_good { Exit::Success } else { Exit::Failure })
}

/// Fails when some piece has no hash to check it against (a v2 torrent without the piece
/// layers of some file), naming those files, rather than calling their pieces damaged.
fn refuse_uncheckable(torrent: &Torrent) -> anyhow::Result<()> {
    let uncheckable = (0..torrent.num_pieces())
        .filter(|&i| !torrent.piece_check(i).is_some_and(|c| c.is_checkable()))
        .count();
    if uncheckable == 0 {
        return Ok(());
    }
    let files: Vec<String> = torrent
        .missing_piece_layers()
        .iter()
        .filter_map(|&(index, _, _)| torrent.files.get(index))
        .map(|f| f.path.join("/"))
        .collect();
    bail!(
        "{uncheckable} pieces cannot be checked: the torrent lacks the piece layers (v2 hashes) of {}",
        files.join(", ")
    )
}

/// What is on disk for one file of the torrent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FileState {
    /// Present with at least the torrent's length (or a padding file, never stored).
    Present,
    Missing,
    /// Shorter than the torrent says: the bytes that are there.
    Short(u64),
}

fn file_state(layout: &FileLayout, index: usize, path: Option<&Path>) -> FileState {
    let Some(file) = layout.files().get(index) else { return FileState::Present };
    if file.is_padding || file.length == 0 {
        return FileState::Present;
    }
    match path.map(std::fs::metadata) {
        Some(Ok(meta)) if meta.is_file() && meta.len() >= file.length => FileState::Present,
        Some(Ok(meta)) if meta.is_file() => FileState::Short(meta.len()),
        _ => FileState::Missing,
    }
}

/// The report text and whether every piece is good.
fn report(layout: &FileLayout, lengths: &Lengths, have: &Bitfield, files: &[FileState]) -> (String, bool) {
    let mut out = String::new();
    let total = lengths.num_pieces();
    let good = have.count_ones();
    // Writing to a String cannot fail, hence the ignored results.
    let _ = writeln!(out, "{good}/{total} pieces OK");
    if good == total {
        return (out, true);
    }

    // Per file: how many bad pieces touch it and the first few of their numbers. A bad piece
    // that touches a missing or short file is explained by that file, so the intact files it
    // also touches are not blamed for it.
    let mut touched: BTreeMap<usize, (u64, Vec<u32>)> = BTreeMap::new();
    for piece in have.iter_zeros() {
        let Some(p) = lengths.validate_piece(piece) else { continue };
        let stored: Vec<usize> = layout
            .slices(lengths.piece_offset(p), u64::from(lengths.piece_len(p)))
            .map(|slice| slice.file_index)
            .filter(|&i| layout.files().get(i).is_some_and(|f| !f.is_padding))
            .collect();
        if stored.iter().any(|&i| files.get(i).is_some_and(|s| *s != FileState::Present)) {
            continue;
        }
        for index in stored {
            let entry = touched.entry(index).or_default();
            entry.0 += 1;
            if entry.1.len() < PIECES_LISTED {
                entry.1.push(piece);
            }
        }
    }

    for (index, file) in layout.files().iter().enumerate() {
        let name = file.path.join("/");
        match files.get(index) {
            Some(FileState::Missing) => {
                let _ = writeln!(out, "missing: {name}");
            }
            Some(FileState::Short(len)) => {
                let _ = writeln!(
                    out,
                    "incomplete: {name} ({} of {})",
                    human_bytes(*len),
                    human_bytes(file.length)
                );
            }
            _ => {
                if let Some((count, pieces)) = touched.get(&index) {
                    let list: Vec<String> = pieces.iter().map(u32::to_string).collect();
                    let more = if *count > pieces.len() as u64 { ", ..." } else { "" };
                    let plural = if *count == 1 { "" } else { "s" };
                    let _ = writeln!(
                        out,
                        "damaged: {name} ({count} bad piece{plural}: {}{more})",
                        list.join(", ")
                    );
                }
            }
        }
    }
    (out, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> FileLayout {
        FileLayout::new(vec![
            (vec!["t".into(), "a".into()], 20_000, false),
            (vec!["t".into(), ".pad".into()], 12_768, true),
            (vec!["t".into(), "b".into()], 40_000, false),
            (vec!["t".into(), "c".into()], 100, false),
        ])
    }

    #[test]
    fn all_good() {
        let l = layout();
        let lengths = Lengths::new(l.total_length(), 16_384).unwrap();
        let have = Bitfield::full(lengths.num_pieces());
        let (text, ok) = report(&l, &lengths, &have, &[FileState::Present; 4]);
        assert!(ok);
        assert_eq!(text, "5/5 pieces OK\n");
    }

    #[test]
    fn names_damaged_missing_and_short_files() {
        let l = layout();
        let lengths = Lengths::new(l.total_length(), 16_384).unwrap();
        let mut have = Bitfield::full(lengths.num_pieces());
        // Piece 1 spans the end of `a` and the padding; piece 4 holds the tail of `b` and all of `c`.
        have.clear(1);
        have.clear(4);
        let files = [FileState::Present, FileState::Present, FileState::Short(100), FileState::Missing];
        let (text, ok) = report(&l, &lengths, &have, &files);
        assert!(!ok);
        assert_eq!(
            text,
            "3/5 pieces OK\n\
             damaged: t/a (1 bad piece: 1)\n\
             incomplete: t/b (100 B of 39.06 KiB)\n\
             missing: t/c\n"
        );
        // A bad piece shared by an intact file and a missing one blames only the missing one.
        have.clear(2);
        let files = [FileState::Present, FileState::Present, FileState::Present, FileState::Missing];
        let (text, _) = report(&l, &lengths, &have, &files);
        assert_eq!(
            text,
            "2/5 pieces OK\n\
             damaged: t/a (1 bad piece: 1)\n\
             damaged: t/b (1 bad piece: 2)\n\
             missing: t/c\n"
        );
    }

    #[test]
    fn long_piece_lists_are_cut() {
        let l = FileLayout::new(vec![(vec!["big".into()], 20 * 16_384, false)]);
        let lengths = Lengths::new(l.total_length(), 16_384).unwrap();
        let have = Bitfield::new(lengths.num_pieces());
        let (text, _) = report(&l, &lengths, &have, &[FileState::Present]);
        assert!(text.ends_with("damaged: big (20 bad pieces: 0, 1, 2, 3, 4, 5, 6, 7, ...)\n"), "{text}");
    }

    #[test]
    fn file_states_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let l = FileLayout::new(vec![
            (vec!["full".into()], 4, false),
            (vec!["short".into()], 4, false),
            (vec!["gone".into()], 4, false),
            (vec!["pad".into()], 4, true),
        ]);
        std::fs::write(dir.path().join("full"), b"abcd").unwrap();
        std::fs::write(dir.path().join("short"), b"ab").unwrap();
        let path = |name: &str| dir.path().join(name);
        assert_eq!(file_state(&l, 0, Some(&path("full"))), FileState::Present);
        assert_eq!(file_state(&l, 1, Some(&path("short"))), FileState::Short(2));
        assert_eq!(file_state(&l, 2, Some(&path("gone"))), FileState::Missing);
        assert_eq!(file_state(&l, 3, None), FileState::Present);
    }
}
