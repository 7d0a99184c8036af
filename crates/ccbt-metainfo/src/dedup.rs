//! Files whose paths collide are renamed, as libtorrent does: the second `foo/bar.txt` becomes
//! `foo/bar.1.txt`, and a file named like a folder of another file (`a` beside `a/b`) becomes
//! `a.1`. Paths are compared the way case-insensitive file systems compare them (macOS,
//! Windows): case-folded and in Unicode NFC, so `Foo.txt`, `foo.TXT` and `fo\u{f6}` /
//! `fo\u{6f}\u{308}` are one file each. Padding files are never stored, so they never collide.
//!
//! Work is linear in the bytes of all paths: folders form a tree keyed by (parent, folded
//! component), so no path prefix is ever copied, and the renaming of one file tries new names
//! only until [`MAX_DUPLICATE_NAMES`] attempts have failed in the whole torrent.

use std::collections::{HashMap, HashSet};

use unicode_normalization::UnicodeNormalization as _;

use crate::path::display;
use crate::{FileEntry, MetainfoError};

/// Most failed attempts at a free name before the torrent is refused (libtorrent's
/// `max_duplicate_filenames`): honest torrents have a handful of collisions, and each attempt
/// costs a lookup, so a hostile one cannot make renaming quadratic.
pub const MAX_DUPLICATE_NAMES: usize = 500;

/// A folder: 0 is the download folder itself.
type DirId = u32;

/// A component as a case-insensitive, normalising file system sees it.
fn fold(component: &str) -> String {
    component.to_lowercase().nfc().collect()
}

/// Renames colliding files in place (only the last component of a path ever changes).
pub(crate) fn rename_duplicates(files: &mut [FileEntry]) -> Result<(), MetainfoError> {
    // Every folder first, so that a file named like a folder is the one renamed.
    let mut dirs: HashMap<(DirId, String), DirId> = HashMap::new();
    let mut parents: Vec<Option<DirId>> = Vec::with_capacity(files.len());
    for file in files.iter() {
        let Some((_, folders)) = file.path.split_last().filter(|_| !file.is_padding) else {
            parents.push(None);
            continue;
        };
        let mut parent = 0;
        for folder in folders {
            let next_id = DirId::try_from(dirs.len() + 1).unwrap_or(DirId::MAX);
            parent = *dirs.entry((parent, fold(folder))).or_insert(next_id);
        }
        parents.push(Some(parent));
    }

    let mut taken: HashSet<(DirId, String)> = HashSet::new();
    let mut failed_attempts = 0;
    for (file, parent) in files.iter_mut().zip(parents) {
        let (Some(parent), Some(name)) = (parent, file.path.last_mut()) else { continue };
        let is_free =
            |key: &(DirId, String), taken: &HashSet<_>| !dirs.contains_key(key) && !taken.contains(key);
        let key = (parent, fold(name));
        if is_free(&key, &taken) {
            taken.insert(key);
            continue;
        }
        let (stem, extension) = split_extension(name);
        for n in 1.. {
            let candidate = format!("{stem}.{n}{extension}");
            let key = (parent, fold(&candidate));
            if is_free(&key, &taken) {
                taken.insert(key);
                *name = candidate;
                break;
            }
            failed_attempts += 1;
            if failed_attempts > MAX_DUPLICATE_NAMES {
                return Err(MetainfoError::TooManyDuplicateNames {
                    path: display(&file.path),
                    limit: MAX_DUPLICATE_NAMES,
                });
            }
        }
    }
    Ok(())
}

/// `bar.txt` → (`bar`, `.txt`); a name without a dot, or whose only dot leads (`.hidden`), has
/// no extension.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(paths: &[&[&str]]) -> Vec<FileEntry> {
        paths
            .iter()
            .map(|p| FileEntry {
                path: p.iter().map(|c| c.to_string()).collect(),
                length: 1,
                is_padding: false,
                symlink: None,
            })
            .collect()
    }

    fn renamed(paths: &[&[&str]]) -> Vec<String> {
        let mut files = entries(paths);
        rename_duplicates(&mut files).unwrap();
        files.iter().map(|f| f.path.join("/")).collect()
    }

    #[test]
    fn duplicates_get_a_counter_before_the_extension() {
        assert_eq!(
            renamed(&[&["t", "foo", "bar.txt"], &["t", "foo", "bar.txt"], &["t", "foo", "bar.txt"]]),
            ["t/foo/bar.txt", "t/foo/bar.1.txt", "t/foo/bar.2.txt"]
        );
        assert_eq!(renamed(&[&["t", "_"], &["t", "_"]]), ["t/_", "t/_.1"]);
        assert_eq!(renamed(&[&["t", ".hidden"], &["t", ".hidden"]]), ["t/.hidden", "t/.hidden.1"]);
        // A later file already named like a renamed one is renamed in turn.
        assert_eq!(renamed(&[&["t", "a"], &["t", "a"], &["t", "a.1"]]), ["t/a", "t/a.1", "t/a.1.1"]);
    }

    #[test]
    fn a_file_named_like_a_folder_is_renamed() {
        assert_eq!(renamed(&[&["t", "a"], &["t", "a", "b"]]), ["t/a.1", "t/a/b"]);
        assert_eq!(renamed(&[&["t", "a", "b"], &["t", "A"]]), ["t/a/b", "t/A.1"]);
        assert_eq!(renamed(&[&["t", "a", "b"], &["t", "a", "c"]]), ["t/a/b", "t/a/c"]);
    }

    #[test]
    fn case_and_unicode_normalisation_do_not_make_different_files() {
        assert_eq!(renamed(&[&["t", "Foo.TXT"], &["t", "foo.txt"]]), ["t/Foo.TXT", "t/foo.1.txt"]);
        // NFC (precomposed ö) and NFD (o + combining diaeresis) are one file on macOS.
        assert_eq!(renamed(&[&["t", "f\u{f6}o"], &["t", "fo\u{308}o"]]), ["t/f\u{f6}o", "t/fo\u{308}o.1"]);
        assert_eq!(
            renamed(&[&["t", "\u{c9}t\u{c9}", "x"], &["t", "\u{e9}t\u{e9}"]]),
            ["t/\u{c9}t\u{c9}/x", "t/\u{e9}t\u{e9}.1"]
        );
        // Folders that differ only in case are one folder: their files meet.
        assert_eq!(renamed(&[&["t", "D", "x"], &["t", "d", "x"]]), ["t/D/x", "t/d/x.1"]);
    }

    #[test]
    fn padding_files_never_collide() {
        let mut files = entries(&[&["t", ".pad", "5"], &["t", ".pad", "5"], &["t", ".pad"]]);
        files[0].is_padding = true;
        files[1].is_padding = true;
        rename_duplicates(&mut files).unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.path.join("/")).collect();
        assert_eq!(paths, ["t/.pad/5", "t/.pad/5", "t/.pad"]);
    }

    #[test]
    fn too_many_collisions_are_refused() {
        // n copies of one name cost 0 + 1 + ... + (n - 2) failed attempts: 34 copies pass 500.
        let name: &[&str] = &["t", "x"];
        assert!(rename_duplicates(&mut entries(&[name; 33])).is_ok());
        assert_eq!(
            rename_duplicates(&mut entries(&[name; 34])).unwrap_err(),
            MetainfoError::TooManyDuplicateNames { path: "t/x".into(), limit: MAX_DUPLICATE_NAMES }
        );
    }
}
