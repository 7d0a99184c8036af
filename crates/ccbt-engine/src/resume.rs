//! Resuming from a checkpoint: which of the pieces it claims are trusted without hashing them.
//!
//! A checkpoint records, besides the verified pieces, each file's size and modification time
//! when it was written. On a restart a file that is missing, shorter, or modified since (a newer
//! mtime: written after the checkpoint, by us before a crash or by someone else) has its pieces
//! hashed again, that file only; the other claimed pieces are trusted, and a random sample of
//! them is hashed anyway (a bad sample means the checkpoint does not describe this data: a full
//! check follows). The sample and the rechecks run in the torrent task (`torrent/task.rs`).

use std::path::{Path, PathBuf};

use ccbt_core::{Bitfield, FileLayout, Lengths};
use ccbt_metainfo::Torrent;

pub use ccbt_checkpoint::FileStamp;

/// What a checkpoint brings to a restart, as the engine uses it. Built by
/// [`crate::AddTorrent::resume_from`] from a checkpoint.
#[derive(Clone, Debug)]
pub struct ResumeData {
    /// Pieces verified and durable when the checkpoint was written.
    pub verified: Bitfield,
    /// Per file of the torrent's layout, its stamp then (None: padding, empty or absent).
    pub files: Vec<Option<FileStamp>>,
    /// The folder the data was in (canonical), to tell whether the stamps describe these files.
    pub data_root: PathBuf,
    /// Layout indices of the files ccbt created there.
    pub created_files: Vec<usize>,
    /// Totals so far: payload bytes downloaded and uploaded, seconds active.
    pub downloaded: u64,
    pub uploaded: u64,
    pub active_secs: u64,
    /// How many trusted pieces to hash anyway (see the module doc); None: the session's
    /// `resume_verify_sample`. The daemon restoring its own checkpoints sets 0.
    pub verify_sample: Option<u32>,
}

/// Why a file's pieces are not trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum FileChange {
    Missing,
    Shorter { recorded: u64, now: u64 },
    Modified,
}

impl std::fmt::Display for FileChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileChange::Missing => write!(f, "missing"),
            FileChange::Shorter { recorded, now } => {
                write!(f, "shorter than when the checkpoint was written ({now} < {recorded} bytes)")
            }
            FileChange::Modified => write!(f, "modified after the checkpoint was written"),
        }
    }
}

/// What to do with a checkpoint's pieces on a restart.
#[derive(Clone, Debug)]
pub(crate) struct ResumePlan {
    /// Claimed pieces in files that did not change.
    pub trusted: Bitfield,
    /// Pieces of changed files that are still there: hashed again (claimed or not, since a
    /// crash may have left verified pieces newer than the checkpoint).
    pub recheck: Vec<u32>,
    /// The changed files, for the warning.
    pub changed: Vec<(PathBuf, FileChange)>,
    /// [`ResumeData::verify_sample`].
    pub verify_sample: Option<u32>,
}

/// The stamps of the layout's files under `root` now (None: padding, empty or absent). Symlinks
/// are not followed: storage never opens one either.
pub(crate) fn stamp_files(root: &Path, layout: &FileLayout) -> Vec<Option<FileStamp>> {
    layout
        .files()
        .iter()
        .map(|f| {
            if f.is_padding || f.length == 0 {
                return None;
            }
            let path = root.join(f.path.iter().collect::<PathBuf>());
            let meta = std::fs::symlink_metadata(path).ok().filter(|m| m.is_file())?;
            Some(FileStamp::of(&meta))
        })
        .collect()
}

fn mtime(stamp: FileStamp) -> (i64, u32) {
    (stamp.mtime_secs, stamp.mtime_nanos)
}

/// The pieces a file's bytes lie in.
fn file_pieces(offset: u64, length: u64, lengths: &Lengths) -> std::ops::RangeInclusive<u32> {
    let plen = u64::from(lengths.piece_length().max(1));
    let first = u32::try_from(offset / plen).unwrap_or(u32::MAX);
    let last = u32::try_from((offset + length.saturating_sub(1)) / plen).unwrap_or(u32::MAX);
    first..=last.min(lengths.num_pieces().saturating_sub(1))
}

/// Compares the checkpoint's stamps with the files `now` (see [`stamp_files`]) and decides
/// which pieces to trust. `root` names the files in the warning. The caller has checked that
/// the checkpoint's bitfield and file list fit this torrent.
pub(crate) fn plan(
    data: &ResumeData,
    layout: &FileLayout,
    lengths: &Lengths,
    root: &Path,
    now: &[Option<FileStamp>],
) -> ResumePlan {
    let mut trusted = data.verified.clone();
    let mut recheck = std::collections::BTreeSet::new();
    let mut missing = std::collections::BTreeSet::new();
    let mut changed = Vec::new();
    for (index, file) in layout.files().iter().enumerate() {
        if file.is_padding || file.length == 0 {
            continue;
        }
        let recorded = data.files.get(index).copied().flatten();
        let current = now.get(index).copied().flatten();
        let change = match (recorded, current) {
            (_, None) => Some(FileChange::Missing),
            (None, Some(_)) => Some(FileChange::Modified),
            (Some(r), Some(c)) if c.size < r.size => {
                Some(FileChange::Shorter { recorded: r.size, now: c.size })
            }
            // Longer: something else wrote to it (ccbt's files have their length from the start,
            // or grow only with pieces written after the checkpoint, which a newer mtime shows).
            (Some(r), Some(c)) if mtime(c) > mtime(r) || c.size > r.size => Some(FileChange::Modified),
            _ => None,
        };
        let Some(change) = change else { continue };
        for piece in file_pieces(file.offset, file.length, lengths) {
            trusted.clear(piece);
            // A missing file's pieces cannot verify: nothing to hash.
            if change == FileChange::Missing {
                missing.insert(piece);
            } else {
                recheck.insert(piece);
            }
        }
        changed.push((root.join(file.path.iter().collect::<PathBuf>()), change));
    }
    // A piece shared with a missing file cannot verify either.
    let recheck = recheck.difference(&missing).copied().collect();
    ResumePlan { trusted, recheck, changed, verify_sample: data.verify_sample }
}

/// What a restart from `data` trusts, for the torrent's files under `root` as they are now
/// (before storage opens or creates them), and the files the checkpoint says ccbt created. None
/// (a full check, with a warning) when the checkpoint does not fit the torrent or the folder.
pub(crate) fn prepare(
    data: Option<ResumeData>,
    torrent: &Torrent,
    root: &Path,
) -> (Option<ResumePlan>, Vec<usize>) {
    let canonical = std::fs::canonicalize(root).ok();
    let data = data
        .and_then(|d| fits_torrent(d, torrent))
        .filter(|d| same_root(d, canonical.as_deref(), &torrent.name));
    let Some(data) = data else { return (None, Vec::new()) };
    let layout = torrent.layout();
    let now = stamp_files(&data.data_root, &layout);
    let plan = plan(&data, &layout, &torrent.lengths(), &data.data_root, &now);
    (Some(plan), data.created_files)
}

/// `data` if its pieces and files fit `torrent`; otherwise a warning, and None (a full check).
fn fits_torrent(data: ResumeData, torrent: &Torrent) -> Option<ResumeData> {
    let pieces = torrent.lengths().num_pieces();
    let files = torrent.layout().files().len();
    if data.verified.len() == pieces && data.files.len() == files {
        return Some(data);
    }
    tracing::warn!(
        torrent = %torrent.name,
        "the checkpoint's pieces or files do not fit the torrent; checking every piece"
    );
    None
}

/// Whether the checkpoint's stamps describe the files under `root` (canonical; None: it does
/// not exist yet). Data moved elsewhere is checked in full.
fn same_root(data: &ResumeData, root: Option<&Path>, name: &str) -> bool {
    if root == Some(data.data_root.as_path()) {
        return true;
    }
    if root.is_none() {
        tracing::warn!(
            torrent = %name,
            folder = %data.data_root.display(),
            "the checkpoint's download folder is gone; downloading everything again"
        );
        return false;
    }
    tracing::warn!(
        torrent = %name,
        checkpoint = %data.data_root.display(),
        "the checkpoint describes data in another folder; checking every piece"
    );
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 16384;

    fn lengths() -> Lengths {
        Lengths::new(6 * P, P as u32).unwrap()
    }

    fn layout() -> FileLayout {
        // Pieces of 16 KiB (P): a = 0..2.5P (pieces 0-2), b = 2.5P..4P (2-3), c = 4P..6P (4-5).
        FileLayout::new([
            (vec!["a".into()], 5 * P / 2, false),
            (vec!["b".into()], 3 * P / 2, false),
            (vec!["c".into()], 2 * P, false),
        ])
    }

    fn data(stamps: [i64; 3]) -> ResumeData {
        ResumeData {
            verified: Bitfield::full(6),
            files: stamps
                .iter()
                .map(|&t| Some(FileStamp { size: 25, mtime_secs: t, mtime_nanos: 0 }))
                .collect(),
            data_root: PathBuf::from("/d"),
            created_files: vec![0, 1, 2],
            downloaded: 1,
            uploaded: 2,
            active_secs: 3,
            verify_sample: None,
        }
    }

    #[test]
    fn unchanged_files_are_trusted() {
        let lengths = lengths();
        let d = data([5, 5, 5]);
        let plan = plan(&d, &layout(), &lengths, Path::new("/d"), &d.files);
        assert!(plan.trusted.all() && plan.recheck.is_empty() && plan.changed.is_empty());
    }

    #[test]
    fn modified_shorter_and_missing_files_are_not_trusted() {
        let lengths = lengths();
        let d = data([5, 5, 5]);
        let stamp = |size, mtime_secs| Some(FileStamp { size, mtime_secs, mtime_nanos: 0 });
        // a is newer; c is shorter.
        let now = [stamp(25, 6), stamp(25, 5), stamp(10, 5)];
        let p = plan(&d, &layout(), &lengths, Path::new("/d"), &now);
        assert_eq!(p.trusted.iter_ones().collect::<Vec<_>>(), vec![3]);
        assert_eq!(p.recheck, vec![0, 1, 2, 4, 5]);
        assert_eq!(p.changed[0], (PathBuf::from("/d/a"), FileChange::Modified));
        assert_eq!(p.changed[1].1, FileChange::Shorter { recorded: 25, now: 10 });
        // b is missing: its pieces (2, 3) are not trusted nor hashed, even piece 2 that a shares.
        let now = [stamp(25, 6), None, stamp(25, 5)];
        let p = plan(&d, &layout(), &lengths, Path::new("/d"), &now);
        assert_eq!(p.trusted.iter_ones().collect::<Vec<_>>(), vec![4, 5]);
        assert_eq!(p.recheck, vec![0, 1]);
        // A file the checkpoint did not see is rechecked.
        let mut unknown = data([5, 5, 5]);
        unknown.files[2] = None;
        let p = plan(&unknown, &layout(), &lengths, Path::new("/d"), &d.files);
        assert_eq!(p.recheck, vec![4, 5]);
    }

    #[test]
    fn stamps_follow_the_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 25]).unwrap();
        // A folder where a file should be is no file.
        std::fs::create_dir(dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("c"), [0u8; 3]).unwrap();
        let stamps = stamp_files(dir.path(), &layout());
        assert_eq!(stamps[0].map(|s| s.size), Some(25));
        assert_eq!(stamps[1], None);
        assert_eq!(stamps[2].map(|s| s.size), Some(3));
        assert!(stamps[0].is_some_and(|s| s.mtime_secs > 0));
    }
}
