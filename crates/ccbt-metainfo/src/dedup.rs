//! Files whose paths collide are renamed, as libtorrent does: the second `foo/bar.txt` becomes
//! `foo/bar.1.txt`, and a file named like a folder of another file (`a` beside `a/b`) becomes
//! `a.1`. Paths are compared the way case-insensitive file systems compare them (macOS,
//! Windows): case-folded and in Unicode NFC, so `Foo.txt`, `foo.TXT` and `fo\u{f6}` /
//! `fo\u{6f}\u{308}` are one file each. Padding files are never stored, so they never collide.
//!
//! Work is linear in the bytes of all paths: folders form a tree keyed by (parent, folded
//! component), so no path prefix is ever copied, and the renaming of one file tries new names
//! only until [`MAX_DUPLICATE_NAMES`] attempts have failed in the whole torrent. The same tree
//! checks that every symlink target names something inside the torrent.

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

/// A component under its folder, as a case-insensitive, normalising file system sees it.
type Key = (DirId, String);

/// A component as a case-insensitive, normalising file system sees it.
fn fold(component: &str) -> String {
    component.to_lowercase().nfc().collect()
}

/// The torrent's folders and files as a tree: no path prefix is ever copied.
#[derive(Default)]
struct PathTree {
    dirs: HashMap<Key, DirId>,
    files: HashSet<Key>,
    symlinks: HashSet<Key>,
}

impl PathTree {
    /// Adds `folders` (and their parents); returns the innermost one.
    fn insert_dirs(&mut self, folders: &[String]) -> DirId {
        let mut parent = 0;
        for folder in folders {
            let next_id = DirId::try_from(self.dirs.len() + 1).unwrap_or(DirId::MAX);
            parent = *self.dirs.entry((parent, fold(folder))).or_insert(next_id);
        }
        parent
    }

    fn is_free(&self, key: &Key) -> bool {
        !self.dirs.contains_key(key) && !self.files.contains(key)
    }

    /// Whether `path` names a file or folder of the torrent, or leads through one of its
    /// symlinks (whose own target is checked separately).
    fn resolves(&self, path: &[String]) -> bool {
        let mut parent = 0;
        for (i, component) in path.iter().enumerate() {
            let key = (parent, fold(component));
            if self.symlinks.contains(&key) || (i + 1 == path.len() && self.files.contains(&key)) {
                return true;
            }
            match self.dirs.get(&key) {
                Some(&dir) => parent = dir,
                None => return false,
            }
        }
        true
    }
}

/// Renames colliding files in place (only the last component of a path ever changes), then
/// checks symlink targets: one that names nothing in the torrent is tried next to the link
/// (libtorrent's reading of `symlink path`), and else points to the link itself, as in
/// libtorrent.
pub(crate) fn resolve_paths(files: &mut [FileEntry]) -> Result<(), MetainfoError> {
    let mut tree = PathTree::default();
    // Every folder first, so that a file named like a folder is the one renamed.
    let parents: Vec<Option<DirId>> = files
        .iter()
        .map(|file| match file.path.split_last() {
            Some((_, folders)) if !file.is_padding => Some(tree.insert_dirs(folders)),
            _ => None,
        })
        .collect();

    let mut failed_attempts = 0;
    for (file, parent) in files.iter_mut().zip(parents) {
        let (Some(parent), Some(name)) = (parent, file.path.last_mut()) else { continue };
        let mut key = (parent, fold(name));
        if !tree.is_free(&key) {
            let (stem, extension) = split_extension(name);
            let mut n = 1;
            let renamed = loop {
                let candidate = format!("{stem}.{n}{extension}");
                key = (parent, fold(&candidate));
                if tree.is_free(&key) {
                    break candidate;
                }
                failed_attempts += 1;
                n += 1;
                if failed_attempts > MAX_DUPLICATE_NAMES {
                    let path = display(&file.path);
                    return Err(MetainfoError::TooManyDuplicateNames { path, limit: MAX_DUPLICATE_NAMES });
                }
            };
            *name = renamed;
        }
        if file.symlink.is_some() {
            tree.symlinks.insert(key.clone());
        }
        tree.files.insert(key);
    }

    for file in files.iter_mut() {
        let Some(target) = &file.symlink else { continue };
        if tree.resolves(target) {
            continue;
        }
        let folders = file.path.split_last().map_or(&[][..], |(_, folders)| folders);
        let beside: Vec<String> = folders.iter().chain(target.iter().skip(1)).cloned().collect();
        file.symlink = Some(if tree.resolves(&beside) { beside } else { file.path.clone() });
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
                pieces_root: None,
            })
            .collect()
    }

    fn renamed(paths: &[&[&str]]) -> Vec<String> {
        let mut files = entries(paths);
        resolve_paths(&mut files).unwrap();
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
        resolve_paths(&mut files).unwrap();
        let paths: Vec<_> = files.iter().map(|f| f.path.join("/")).collect();
        assert_eq!(paths, ["t/.pad/5", "t/.pad/5", "t/.pad"]);
    }

    #[test]
    fn too_many_collisions_are_refused() {
        // n copies of one name cost 0 + 1 + ... + (n - 2) failed attempts: 34 copies pass 500.
        let name: &[&str] = &["t", "x"];
        assert!(resolve_paths(&mut entries(&[name; 33])).is_ok());
        assert_eq!(
            resolve_paths(&mut entries(&[name; 34])).unwrap_err(),
            MetainfoError::TooManyDuplicateNames { path: "t/x".into(), limit: MAX_DUPLICATE_NAMES }
        );
    }
}
