//! Deleting a removed torrent's data (`Session::remove_with_data`): only the files ccbt created
//! for it in its download folder (the record of `ownership.rs`), then the torrent's own folders
//! left empty. Never a file that existed before ccbt opened it (a user's file the torrent names,
//! one overwritten with `--overwrite`), never a path that leads through a symlink or outside the
//! folder, never the download folder itself. Blocking (file I/O).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ccbt_core::{FileLayout, InfoHash};

use crate::ownership;

/// What deleting a torrent's data did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeletedData {
    /// Files deleted (ccbt created them).
    pub deleted_files: Vec<PathBuf>,
    /// Folders of the torrent deleted because they were left empty.
    pub deleted_folders: Vec<PathBuf>,
    /// Files of the torrent kept: they existed before ccbt (or are reached through a link).
    pub kept_files: Vec<PathBuf>,
    /// Files ccbt created that could not be deleted, with the reason.
    pub failed: Vec<(PathBuf, String)>,
}

/// Deletes the files ccbt created for torrent `info_hash` under `save_path` (see the module).
pub(crate) fn delete_created(
    state_dir: &Path,
    info_hash: &InfoHash,
    save_path: &Path,
    layout: &FileLayout,
) -> DeletedData {
    let mut report = DeletedData::default();
    let Ok(root) = fs::canonicalize(save_path) else { return report };
    let created = ownership::created_files(state_dir, info_hash, &root);
    let mut parents = BTreeSet::new();
    for (index, file) in layout.files().iter().enumerate() {
        if file.is_padding {
            continue;
        }
        let Some(path) = plain_path(&root, &file.path) else {
            // Behind a symlink, or not a path of this folder: never touched.
            report.kept_files.push(root.join(file.path.iter().collect::<PathBuf>()));
            continue;
        };
        match fs::symlink_metadata(&path) {
            Err(_) => continue, // absent: nothing to delete or keep
            Ok(meta) if !meta.is_file() || !created.contains(&index) => report.kept_files.push(path),
            Ok(_) => match fs::remove_file(&path) {
                Ok(()) => {
                    parents.extend(path.parent().map(Path::to_path_buf));
                    report.deleted_files.push(path);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => report.failed.push((path, e.to_string())),
            },
        }
    }
    remove_empty_folders(&root, parents, &mut report.deleted_folders);
    if report.failed.is_empty() {
        ownership::forget(state_dir, info_hash, &root);
    }
    report
}

/// `root` joined with the torrent path `components` when every component is a plain name and
/// every folder on the way is a real folder (no symlink): None otherwise.
fn plain_path(root: &Path, components: &[String]) -> Option<PathBuf> {
    let plain = |c: &String| !c.is_empty() && c != "." && c != ".." && !c.contains(['/', '\\', '\0']);
    let (name, folders) = components.split_last()?;
    if !components.iter().all(plain) {
        return None;
    }
    let mut dir = root.to_path_buf();
    for folder in folders {
        dir.push(folder);
        let meta = fs::symlink_metadata(&dir).ok()?;
        if !meta.is_dir() {
            return None;
        }
    }
    Some(dir.join(name))
}

/// Deletes `folders` and their parents up to `root` (excluded) while they are empty, deepest
/// first; a folder with anything left in it stays.
fn remove_empty_folders(root: &Path, folders: BTreeSet<PathBuf>, removed: &mut Vec<PathBuf>) {
    let mut candidates: BTreeSet<PathBuf> = BTreeSet::new();
    for folder in folders {
        let mut dir = folder.as_path();
        while dir != root && dir.starts_with(root) {
            candidates.insert(dir.to_path_buf());
            let Some(parent) = dir.parent() else { break };
            dir = parent;
        }
    }
    // Deepest first: a child sorts after its parent, so reverse order visits children first.
    for dir in candidates.into_iter().rev() {
        if fs::remove_dir(&dir).is_ok() {
            removed.push(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_refuse_links_and_odd_components() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/tmp", root.join("link")).unwrap();
        let c = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(plain_path(&root, &c(&["real", "f"])), Some(root.join("real/f")));
        assert_eq!(plain_path(&root, &c(&["f"])), Some(root.join("f")));
        assert_eq!(plain_path(&root, &c(&["link", "f"])), None);
        assert_eq!(plain_path(&root, &c(&["..", "f"])), None);
        assert_eq!(plain_path(&root, &c(&["a/b"])), None);
        assert_eq!(plain_path(&root, &c(&[])), None);
    }

    #[test]
    fn empty_folders_go_up_to_the_root_and_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        fs::create_dir_all(root.join("t/a/b")).unwrap();
        fs::create_dir_all(root.join("t/keep")).unwrap();
        fs::write(root.join("t/keep/user.txt"), b"mine").unwrap();
        let mut removed = Vec::new();
        remove_empty_folders(&root, [root.join("t/a/b"), root.join("t/keep")].into(), &mut removed);
        assert_eq!(removed, vec![root.join("t/a/b"), root.join("t/a")]);
        assert!(root.join("t/keep/user.txt").exists() && root.exists());
    }
}
