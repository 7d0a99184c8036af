//! Listing the files of a path to make a torrent of it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::path::is_safe_component;
use crate::StorageError;

/// The files a new torrent will hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedContent {
    /// The torrent's name: the file or directory name.
    pub name: String,
    /// Whether `path` was a single file (a single-file torrent).
    pub single_file: bool,
    /// Relative path components and lengths, sorted by path. For a single file this is one
    /// entry whose path is `[name]`.
    pub files: Vec<(Vec<String>, u64)>,
    /// Sum of the file lengths.
    pub total_length: u64,
}

/// Lists the regular files under `path` (or `path` itself when it is a file).
///
/// Hidden files and empty files are included; special files (sockets, fifos, devices) are
/// skipped. Symlinks are followed only when they lead to a regular file inside the scanned
/// directory, the same rule [`FileStorage`](crate::FileStorage) applies when seeding; links to
/// directories are skipped so a cycle or a duplicated subtree cannot occur. A directory without
/// any file is an error.
pub fn scan_path(path: &Path) -> Result<ScannedContent, StorageError> {
    let root = fs::canonicalize(path).map_err(|e| StorageError::io(path, "resolve", e))?;
    let name = utf8_name(&root)?;
    let meta = fs::metadata(&root).map_err(|e| StorageError::io(&root, "stat", e))?;
    if meta.is_file() {
        return Ok(ScannedContent {
            name: name.clone(),
            single_file: true,
            files: vec![(vec![name], meta.len())],
            total_length: meta.len(),
        });
    }
    if !meta.is_dir() {
        return Err(StorageError::NotRegular { path: root });
    }
    let mut files = Vec::new();
    // Explicit stack instead of recursion: a very deep tree cannot overflow the thread's stack.
    let mut stack: Vec<(PathBuf, Vec<String>)> = vec![(root.clone(), Vec::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|e| StorageError::io(&dir, "read directory", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| StorageError::io(&dir, "read directory", e))?;
            let entry_path = entry.path();
            let mut components = prefix.clone();
            components.push(utf8_name(&entry_path)?);
            let kind = entry.file_type().map_err(|e| StorageError::io(&entry_path, "stat", e))?;
            if kind.is_dir() {
                stack.push((entry_path, components));
            } else if kind.is_file() {
                let len = entry.metadata().map_err(|e| StorageError::io(&entry_path, "stat", e))?.len();
                files.push((components, len));
            } else if kind.is_symlink() {
                match linked_file_len(&root, &entry_path) {
                    Some(len) => files.push((components, len)),
                    None => tracing::warn!(path = %entry_path.display(), "skipping symlink"),
                }
            } else {
                tracing::warn!(path = %entry_path.display(), "skipping special file");
            }
        }
    }
    if files.is_empty() {
        return Err(StorageError::EmptyDirectory { path: root });
    }
    files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let total_length =
        files.iter().try_fold(0u64, |acc, (_, len)| acc.checked_add(*len)).ok_or(StorageError::Io {
            path: root,
            op: "sum file lengths",
            source: io::Error::new(io::ErrorKind::InvalidData, "total length overflows"),
        })?;
    Ok(ScannedContent { name, single_file: false, files, total_length })
}

/// The length of the regular file `link` points to, if that file lies inside `root`.
fn linked_file_len(root: &Path, link: &Path) -> Option<u64> {
    let target = fs::canonicalize(link).ok()?;
    if !target.starts_with(root) {
        return None;
    }
    let meta = fs::metadata(&target).ok()?;
    meta.is_file().then_some(meta.len())
}

/// The last component of `path` as a torrent path component.
fn utf8_name(path: &Path) -> Result<String, StorageError> {
    let name = path.file_name().ok_or_else(|| StorageError::UnsafePath { path: path.to_path_buf() })?;
    let name = name.to_str().ok_or_else(|| StorageError::NonUtf8Name { path: path.to_path_buf() })?;
    // Names storage would refuse (a backslash, say) must not make a torrent we cannot seed.
    if !is_safe_component(name) {
        return Err(StorageError::UnsafePath { path: path.to_path_buf() });
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, len: usize) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, vec![7u8; len]).unwrap();
    }

    #[test]
    fn scans_a_tree_sorted_with_hidden_and_empty_files() {
        let outside = tempfile::tempdir().unwrap();
        write(&outside.path().join("secret"), 9);
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("content");
        write(&root.join("b/z.bin"), 5);
        write(&root.join("b/a.bin"), 3);
        write(&root.join(".hidden"), 1);
        write(&root.join("a.txt"), 0);
        fs::create_dir_all(root.join("empty_dir")).unwrap();
        std::os::unix::fs::symlink(root.join("b/z.bin"), root.join("link_in")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("link_out")).unwrap();
        std::os::unix::fs::symlink(root.join("b"), root.join("dir_link")).unwrap();
        let s = scan_path(&root).unwrap();
        assert_eq!(s.name, "content");
        assert!(!s.single_file);
        let files: Vec<(String, u64)> = s.files.iter().map(|(p, l)| (p.join("/"), *l)).collect();
        assert_eq!(
            files,
            vec![
                (".hidden".into(), 1),
                ("a.txt".into(), 0),
                ("b/a.bin".into(), 3),
                ("b/z.bin".into(), 5),
                ("link_in".into(), 5),
            ]
        );
        assert_eq!(s.total_length, 14);
    }

    #[test]
    fn single_file_and_empty_directory() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("one.iso"), 42);
        let s = scan_path(&dir.path().join("one.iso")).unwrap();
        assert_eq!(
            s,
            ScannedContent {
                name: "one.iso".into(),
                single_file: true,
                files: vec![(vec!["one.iso".into()], 42)],
                total_length: 42,
            }
        );
        fs::create_dir_all(dir.path().join("nothing/deeper")).unwrap();
        let err = scan_path(&dir.path().join("nothing")).unwrap_err();
        assert!(matches!(err, StorageError::EmptyDirectory { .. }));
        assert!(matches!(scan_path(&dir.path().join("absent")), Err(StorageError::Io { .. })));
    }
}
