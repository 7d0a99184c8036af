//! Safe joining of torrent path components onto a download root.
//!
//! The metainfo parser already sanitises paths, but storage re-checks them as defence in depth:
//! a torrent must never make us create, write or read a file outside the root.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::StorageError;

/// Whether `c` is usable as one path component: not empty, `.` or `..`, and free of path
/// separators (both `/` and `\`, so a torrent made on Windows cannot smuggle a separator) and NUL.
pub(crate) fn is_safe_component(c: &str) -> bool {
    !c.is_empty() && c != "." && c != ".." && !c.contains(['/', '\\', '\0'])
}

/// Result of resolving a torrent path under the root.
pub(crate) enum Resolved {
    /// The path to open; when the last component was a symlink this is its (checked) target.
    Path(PathBuf),
    /// A parent directory does not exist (only when not creating).
    Missing(PathBuf),
}

/// Joins `components` onto `root` (which must be canonical), creating missing parent directories
/// when `create` is set.
///
/// Symlinks are followed only when they resolve to a place inside `root`: a user may link data
/// in from another folder of the same tree, but nothing may lead out of it. Checks and opens are
/// not atomic, so this guards against hostile torrents, not against a local attacker racing us.
pub(crate) fn resolve(root: &Path, components: &[String], create: bool) -> Result<Resolved, StorageError> {
    let rel: PathBuf = components.iter().collect();
    let unsafe_path = || StorageError::UnsafePath { path: rel.clone() };
    let Some((file_name, dirs)) = components.split_last() else {
        return Err(unsafe_path());
    };
    if !components.iter().all(|c| is_safe_component(c)) {
        return Err(unsafe_path());
    }
    let mut dir = root.to_path_buf();
    for c in dirs {
        let next = dir.join(c);
        match fs::symlink_metadata(&next) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::canonicalize(&next).map_err(|_| unsafe_path())?;
                if !target.starts_with(root) || !target.is_dir() {
                    return Err(unsafe_path());
                }
            }
            Ok(_) => {
                let source = io::Error::other("exists and is not a directory");
                return Err(StorageError::io(next, "create directory", source));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !create {
                    return Ok(Resolved::Missing(next));
                }
                match fs::create_dir(&next) {
                    Ok(()) => {}
                    // Another thread or torrent created it meanwhile: re-checked on the next use.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(StorageError::io(next, "create directory", e)),
                }
            }
            Err(e) => return Err(StorageError::io(next, "stat", e)),
        }
        dir = next;
    }
    let path = dir.join(file_name);
    match fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => {
            // A dangling link fails here too, so creating the file can never follow it out.
            let target = fs::canonicalize(&path).map_err(|_| unsafe_path())?;
            if !target.starts_with(root) {
                return Err(unsafe_path());
            }
            Ok(Resolved::Path(target))
        }
        _ => Ok(Resolved::Path(path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rejects_unsafe_components() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        for bad in [
            vec![],
            vec![".."],
            vec!["a", "..", "b"],
            vec!["."],
            vec![""],
            vec!["a/b"],
            vec!["a\\b"],
            vec!["a\0b"],
        ] {
            let r = resolve(&root, &comps(&bad), true);
            assert!(matches!(r, Err(StorageError::UnsafePath { .. })), "{bad:?}");
        }
        assert_eq!(fs::read_dir(&root).unwrap().count(), 0, "nothing created");
    }

    #[test]
    fn refuses_symlinks_leading_out() {
        let outside = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("f"), root.join("f")).unwrap();
        let r = resolve(&root, &comps(&["out", "x"]), true);
        assert!(matches!(r, Err(StorageError::UnsafePath { .. })));
        let r = resolve(&root, &comps(&["f"]), true);
        assert!(matches!(r, Err(StorageError::UnsafePath { .. })));
        assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
        // A link inside the root is fine.
        fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("alias")).unwrap();
        assert!(matches!(resolve(&root, &comps(&["alias", "x"]), true), Ok(Resolved::Path(_))));
    }

    #[test]
    fn missing_parent_when_not_creating() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        assert!(matches!(resolve(&root, &comps(&["a", "b"]), false), Ok(Resolved::Missing(_))));
        assert!(!root.join("a").exists());
        assert!(matches!(resolve(&root, &comps(&["a", "b"]), true), Ok(Resolved::Path(_))));
        assert!(root.join("a").is_dir());
    }
}
