//! The files ccbt created for a torrent, remembered across runs.
//!
//! Storage refuses to write into a pre-existing file with data that ccbt did not create (see
//! `ccbt_storage::Ownership`). For a restart to continue ccbt's own partial files, which hold no
//! verified piece yet, the session records which files it created: one small file per torrent,
//! `<state_dir>/created/<info hash>`, with one line per download folder (the folder's path in
//! hex, then the layout indices of the files). It is written atomically (temporary file, fsync,
//! rename) before any data is written. A missing or damaged record errs on the safe side: the
//! files then count as the user's and must verify, or the user passes `--overwrite`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use ccbt_core::{FileLayout, InfoHash};
use ccbt_storage::{FileStorage, Ownership, StorageError, StorageOptions};

const HEADER: &str = "ccbt created files v1";

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
    let record_path = state_dir.join("created").join(info_hash.to_hex());
    let mut record = load(&record_path);
    let canonical = fs::canonicalize(root).ok();
    let mut owned = canonical.as_ref().and_then(|r| record.get(r)).cloned().unwrap_or_default();
    owned.extend(claims.created_before.iter().copied().filter(|&i| i < layout.files().len()));
    let overwrite = claims.overwrite;
    let mut storage = FileStorage::create(root, layout, options, &Ownership { owned, overwrite, deferred })?;
    let now: BTreeSet<usize> = storage.owned_files().into_iter().collect();
    let root = storage.root().to_path_buf();
    // Written only when it changes, and never an empty entry for a folder of pure seeding.
    let changed = record.get(&root) != Some(&now);
    if changed && (record.contains_key(&root) || !now.is_empty()) {
        record.insert(root.clone(), now);
        save_or_warn(&record_path, &record);
    }
    let record = std::sync::Mutex::new(record);
    storage.on_create(Box::new(move |index| {
        let mut record = crate::sync::lock(&record);
        record.entry(root.clone()).or_default().insert(index);
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

type Record = BTreeMap<PathBuf, BTreeSet<usize>>;

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
    if lines.next()? != HEADER {
        return None;
    }
    let mut record = Record::new();
    for line in lines {
        let (root, indices) = line.split_once(' ')?;
        let root = PathBuf::from(std::ffi::OsString::from_vec(from_hex(root)?));
        let indices = indices.split(',').filter(|s| !s.is_empty()).map(|s| s.parse().ok());
        record.insert(root, indices.collect::<Option<BTreeSet<usize>>>()?);
    }
    Some(record)
}

fn render(record: &Record) -> String {
    let mut out = format!("{HEADER}\n");
    for (root, indices) in record {
        let list: Vec<String> = indices.iter().map(usize::to_string).collect();
        out.push_str(&format!("{} {}\n", to_hex(root.as_os_str().as_bytes()), list.join(",")));
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
        record.insert(PathBuf::from("/home/u/dl with space\nnewline"), [0, 3, 17].into());
        record.insert(PathBuf::from("/other"), BTreeSet::new());
        assert_eq!(parse(&render(&record)), Some(record));
        for bad in [
            "",
            "ccbt created files v2\n",
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
