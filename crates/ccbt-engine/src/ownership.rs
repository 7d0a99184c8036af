//! The files ccbt created for a torrent, remembered across runs.
//!
//! Storage refuses to write into a pre-existing file with data that ccbt did not create (see
//! `ccbt_storage::Ownership`). For a restart to continue ccbt's own partial files, which hold no
//! verified piece yet, the session records which files it created: one small file per torrent,
//! `<state_dir>/created/<info hash>`, with one line per download folder (the folder's path in
//! hex, the layout indices of the files ccbt may write, then those it created itself: only
//! these are deleted with the torrent's data, see `delete_data.rs`). It is written atomically
//! (temporary file, fsync, rename) before any data is written. A missing or damaged record errs
//! on the safe side: the files then count as the user's and must verify, or the user passes
//! `--overwrite`, and deleting the data deletes none of them. A version 1 record (no created
//! list) reads as one where ccbt created nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use ccbt_core::{FileLayout, InfoHash};
use ccbt_storage::{FileStorage, Ownership, StorageError, StorageOptions};

const HEADER: &str = "ccbt created files v2";
const HEADER_V1: &str = "ccbt created files v1";

/// What besides the record lets the torrent write into existing files.
#[derive(Debug, Default)]
pub(crate) struct Claims {
    /// The user allows overwriting any file (`--overwrite`).
    pub overwrite: bool,
    /// Files a checkpoint of this torrent in this folder lists as created by ccbt (the record
    /// may be lost while the checkpoint survives, e.g. a checkpoint folder of its own).
    pub created_before: Vec<usize>,
}

/// Opens a torrent's storage under `root` with the files recorded as ccbt's own, then records
/// the files ccbt may write from now on (created now, or overwritten with `overwrite`).
/// `deferred` files (skipped) are not created now; one a write creates later is added to the
/// record before its first byte is written.
pub(crate) fn open_storage(
    state_dir: &Path,
    info_hash: &InfoHash,
    root: &Path,
    layout: &FileLayout,
    options: StorageOptions,
    claims: Claims,
    deferred: BTreeSet<usize>,
) -> Result<FileStorage, StorageError> {
    let record_path = record_path(state_dir, info_hash);
    let mut record = load(&record_path);
    let canonical = fs::canonicalize(root).ok();
    let before = canonical.as_ref().and_then(|r| record.get(r)).cloned().unwrap_or_default();
    let mut owned = before.owned.clone();
    owned.extend(claims.created_before.iter().copied().filter(|&i| i < layout.files().len()));
    let overwrite = claims.overwrite;
    let mut storage = FileStorage::create(root, layout, options, &Ownership { owned, overwrite, deferred })?;
    let mut created = before.created;
    created.extend(storage.created_files());
    let now = Files { owned: storage.owned_files().into_iter().collect(), created };
    let root = storage.root().to_path_buf();
    // Written only when it changes, and never an empty entry for a folder of pure seeding.
    let changed = record.get(&root) != Some(&now);
    if changed && (record.contains_key(&root) || !now.owned.is_empty() || !now.created.is_empty()) {
        record.insert(root.clone(), now);
        save_or_warn(&record_path, &record);
    }
    let record = std::sync::Mutex::new(record);
    storage.on_create(Box::new(move |index| {
        let mut record = crate::sync::lock(&record);
        let files = record.entry(root.clone()).or_default();
        files.owned.insert(index);
        files.created.insert(index);
        save_or_warn(&record_path, &record);
    }));
    Ok(storage)
}

fn save_or_warn(path: &Path, record: &Record) {
    if let Err(e) = save(path, record) {
        // Safe either way: a restart then treats the files as the user's and checks them.
        tracing::warn!(path = %path.display(), error = %e, "cannot record the files ccbt created");
    }
}

/// The layout indices of one torrent's files in one download folder.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Files {
    /// Files ccbt may write (created by it, or empty or overwritten with consent).
    pub owned: BTreeSet<usize>,
    /// Files ccbt created (they did not exist before): the only ones deleted with the data.
    pub created: BTreeSet<usize>,
}

type Record = BTreeMap<PathBuf, Files>;

fn record_path(state_dir: &Path, info_hash: &InfoHash) -> PathBuf {
    state_dir.join("created").join(info_hash.to_hex())
}

/// The files ccbt created for the torrent in the download folder `root` (canonical).
pub(crate) fn created_files(state_dir: &Path, info_hash: &InfoHash, root: &Path) -> BTreeSet<usize> {
    load(&record_path(state_dir, info_hash)).remove(root).map(|f| f.created).unwrap_or_default()
}

/// Drops the record of the torrent's files in `root` (its data was deleted); the record file
/// goes when no folder is left in it.
pub(crate) fn forget(state_dir: &Path, info_hash: &InfoHash, root: &Path) {
    let path = record_path(state_dir, info_hash);
    let mut record = load(&path);
    if record.remove(root).is_none() {
        return;
    }
    if record.is_empty() {
        if let Err(e) = fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot delete the record of created files");
        }
    } else {
        save_or_warn(&path, &record);
    }
}

/// Reads a record; anything unreadable counts as no record (the safe side).
fn load(path: &Path) -> Record {
    match fs::read_to_string(path) {
        Ok(text) => parse(&text).unwrap_or_else(|| {
            tracing::warn!(path = %path.display(), "ignoring a damaged record of created files");
            Record::new()
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Record::new(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the record of created files");
            Record::new()
        }
    }
}

fn parse(text: &str) -> Option<Record> {
    let mut lines = text.lines();
    let v1 = match lines.next()? {
        HEADER => false,
        HEADER_V1 => true,
        _ => return None,
    };
    let mut record = Record::new();
    for line in lines {
        let mut fields = line.split(' ');
        let root = PathBuf::from(std::ffi::OsString::from_vec(from_hex(fields.next()?)?));
        let owned = parse_indices(fields.next()?)?;
        let created = if v1 { BTreeSet::new() } else { parse_indices(fields.next()?)? };
        if fields.next().is_some() {
            return None;
        }
        record.insert(root, Files { owned, created });
    }
    Some(record)
}

fn parse_indices(list: &str) -> Option<BTreeSet<usize>> {
    list.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().ok()).collect()
}

fn render(record: &Record) -> String {
    let mut out = format!("{HEADER}\n");
    let list = |set: &BTreeSet<usize>| set.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    for (root, files) in record {
        let root = to_hex(root.as_os_str().as_bytes());
        out.push_str(&format!("{root} {} {}\n", list(&files.owned), list(&files.created)));
    }
    out
}

/// Writes the record atomically: a temporary file, fsync, rename.
fn save(path: &Path, record: &Record) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no folder"))?;
    fs::create_dir_all(dir)?;
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp)?;
    file.write_all(render(record).as_bytes())?;
    file.sync_all()?;
    fs::rename(&tmp, path)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_damage_reads_as_empty() {
        let mut record = Record::new();
        let files = Files { owned: [0, 3, 17].into(), created: [3, 5].into() };
        record.insert(PathBuf::from("/home/u/dl with space\nnewline"), files);
        record.insert(PathBuf::from("/other"), Files::default());
        assert_eq!(parse(&render(&record)), Some(record));
        let v1 = parse("ccbt created files v1\n2f 1,2\n").unwrap();
        assert_eq!(v1[Path::new("/")], Files { owned: [1, 2].into(), created: BTreeSet::new() });
        for bad in [
            "",
            "ccbt created files v3\n",
            "ccbt created files v2\n2f 1\n",
            "ccbt created files v2\n2f 1 2 3\n",
            "ccbt created files v1\nzz 1\n",
            "ccbt created files v1\n2f 1,x\n",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("created").join("abc");
        assert!(load(&path).is_empty());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, "garbage").unwrap();
        assert!(load(&path).is_empty());
    }
}
