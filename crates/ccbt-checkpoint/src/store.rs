//! A folder of checkpoints, one file per torrent and format:
//! `<info hash in lower-case hex>.checkpoint.json` and `<info hash>.checkpoint.bin`.
//!
//! Writes are atomic ([`crate::write_atomically`]); readers never see a half-written file under a
//! real name and ignore the hidden temporary files (`.tmp.*`) a crash may leave, which
//! [`CheckpointStore::clean`] removes. One unreadable file never hides the others: loading falls
//! back to the other format, and a listing shows the file with its error.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ccbt_core::InfoHash;

use crate::atomic::{sync_dir, TEMP_PREFIX};
use crate::MAX_CHECKPOINT_BYTES;
use crate::{
    decode_with_format, encode, write_atomically, Checkpoint, CheckpointError, Format, TorrentState,
};

/// Which files [`CheckpointStore::save`] writes (the `checkpoint_format` setting).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointFormat {
    Json,
    Binary,
    Both,
}

impl CheckpointFormat {
    /// The encodings written.
    pub fn formats(self) -> &'static [Format] {
        match self {
            CheckpointFormat::Json => &[Format::Json],
            CheckpointFormat::Binary => &[Format::Binary],
            CheckpointFormat::Both => &[Format::Binary, Format::Json],
        }
    }
}

/// Both formats, in the order loading prefers them when equally new (the checksummed one first).
const ALL_FORMATS: [Format; 2] = [Format::Binary, Format::Json];

/// A temporary file older than this was left by a crash (a write takes milliseconds).
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(10 * 60);

/// The checkpoint folder.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    dir: PathBuf,
}

/// A checkpoint read from the store.
#[derive(Debug)]
pub struct Loaded {
    pub checkpoint: Checkpoint,
    /// The file it came from.
    pub path: PathBuf,
    pub format: Format,
    /// The other format's file when it was present but unusable (each error names its file):
    /// worth a warning, though this checkpoint was used.
    pub rejected: Vec<CheckpointError>,
}

/// One file of a listing.
#[derive(Debug)]
pub struct CheckpointEntry {
    /// From the file name.
    pub info_hash: InfoHash,
    pub path: PathBuf,
    pub format: Format,
    /// Size of the file in bytes.
    pub size: u64,
    /// What the file holds, or why it cannot be used.
    pub summary: Result<Summary, CheckpointError>,
}

/// The listing's view of a valid checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub name: String,
    pub piece_count: u32,
    pub verified_count: u32,
    pub state: TorrentState,
    pub saved_at: u64,
    /// Whether it names where the torrent came from, or holds its info dictionary.
    pub resumable: bool,
}

impl Summary {
    fn of(checkpoint: &Checkpoint) -> Summary {
        let source = &checkpoint.source;
        Summary {
            name: checkpoint.name.clone(),
            piece_count: checkpoint.piece_count,
            verified_count: checkpoint.verified_count(),
            state: checkpoint.state,
            saved_at: checkpoint.saved_at,
            resumable: checkpoint.info.is_some()
                || source.torrent_file.is_some()
                || source.magnet_uri.is_some(),
        }
    }

    /// Verified pieces over all pieces, from 0.0 to 1.0.
    pub fn progress(&self) -> f64 {
        if self.piece_count == 0 {
            1.0
        } else {
            f64::from(self.verified_count) / f64::from(self.piece_count)
        }
    }
}

/// A file [`CheckpointStore::clean`] removed (or would remove, in a dry run).
#[derive(Debug, PartialEq)]
pub struct Removed {
    pub path: PathBuf,
    /// `None` for a temporary file.
    pub info_hash: Option<InfoHash>,
    pub reason: RemovedReason,
}

/// Why a file was cleaned.
#[derive(Debug, PartialEq)]
pub enum RemovedReason {
    /// Saved at this time (Unix seconds), older than the retention.
    Expired { saved_at: u64 },
    /// Unreadable, and its file not modified within the retention.
    UnreadableAndOld,
    /// A temporary file left by an interrupted write.
    StaleTemporary,
}

/// The name of a checkpoint file.
pub fn file_name(info_hash: &InfoHash, format: Format) -> String {
    format!("{}.checkpoint.{}", info_hash.to_hex(), format.extension())
}

/// The info hash and format a checkpoint file name stands for.
pub fn parse_file_name(name: &str) -> Option<(InfoHash, Format)> {
    let (stem, format) = if let Some(stem) = name.strip_suffix(".checkpoint.json") {
        (stem, Format::Json)
    } else {
        (name.strip_suffix(".checkpoint.bin")?, Format::Binary)
    };
    let hash: InfoHash = stem.parse().ok()?;
    (hash.to_hex() == stem).then_some((hash, format))
}

/// Reads at most [`MAX_CHECKPOINT_BYTES`] (+1, to tell a larger file) from `path`, which must be
/// a regular file (a fifo or device under a checkpoint's name would block or never end).
fn read_bounded(path: &Path) -> Result<Vec<u8>, CheckpointError> {
    let meta = fs::metadata(path).map_err(|e| CheckpointError::io("read", path, e))?;
    if !meta.is_file() {
        return Err(CheckpointError::malformed("not a regular file").in_file(path));
    }
    if meta.len() > MAX_CHECKPOINT_BYTES as u64 {
        let too_large = CheckpointError::TooLarge { size: meta.len(), limit: MAX_CHECKPOINT_BYTES as u64 };
        return Err(too_large.in_file(path));
    }
    let mut data = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_CHECKPOINT_BYTES as u64 + 1).read_to_end(&mut data))
        .map_err(|e| CheckpointError::io("read", path, e))?;
    Ok(data)
}

/// Reads, decodes and validates one checkpoint file against the info hash of its name.
fn read_checkpoint(path: &Path, expected: &InfoHash) -> Result<(Checkpoint, Format), CheckpointError> {
    let data = read_bounded(path)?;
    let (checkpoint, format) = decode_with_format(&data).map_err(|e| e.in_file(path))?;
    checkpoint.validate(expected).map_err(|e| e.in_file(path))?;
    Ok((checkpoint, format))
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl CheckpointStore {
    /// The store in `dir` (created on the first save).
    pub fn new(dir: impl Into<PathBuf>) -> CheckpointStore {
        CheckpointStore { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the checkpoint of `info_hash` in `format` lives.
    pub fn path(&self, info_hash: &InfoHash, format: Format) -> PathBuf {
        self.dir.join(file_name(info_hash, format))
    }

    /// Writes `checkpoint` atomically in the formats asked for. When only one format is written,
    /// the other format's file of the same torrent (from an earlier setting) is removed after the
    /// write, so it cannot linger as an older copy. Returns the files written.
    pub fn save(
        &self,
        checkpoint: &Checkpoint,
        format: CheckpointFormat,
    ) -> Result<Vec<PathBuf>, CheckpointError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| CheckpointError::io("create folder", &self.dir, e))?;
        let mut written = Vec::new();
        for &f in format.formats() {
            let path = self.path(&checkpoint.info_hash, f);
            write_atomically(&path, &encode(checkpoint, f)?)?;
            written.push(path);
        }
        let mut removed = false;
        for f in ALL_FORMATS.into_iter().filter(|f| !format.formats().contains(f)) {
            removed |= remove_if_present(&self.path(&checkpoint.info_hash, f))?;
        }
        if removed {
            sync_dir(&self.dir)?;
        }
        Ok(written)
    }

    /// The checkpoint of `info_hash`: `Ok(None)` when there is none; with both formats present,
    /// the newer valid one (by `saved_at`; the binary one when equal), any unusable file being
    /// reported in [`Loaded::rejected`]. `Err` when every file present is unusable (corrupt,
    /// truncated, foreign, of a newer version): the caller warns and rechecks everything.
    pub fn load(&self, info_hash: &InfoHash) -> Result<Option<Loaded>, CheckpointError> {
        let mut best: Option<Loaded> = None;
        let mut rejected = Vec::new();
        for format in ALL_FORMATS {
            let path = self.path(info_hash, format);
            match read_checkpoint(&path, info_hash) {
                Ok((checkpoint, found)) => {
                    let newer = best.as_ref().map_or(true, |b| checkpoint.saved_at > b.checkpoint.saved_at);
                    if newer {
                        best = Some(Loaded { checkpoint, path, format: found, rejected: Vec::new() });
                    }
                }
                Err(CheckpointError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => rejected.push(e),
            }
        }
        match best {
            Some(mut loaded) => {
                loaded.rejected = rejected;
                Ok(Some(loaded))
            }
            None if rejected.is_empty() => Ok(None),
            None => Err(rejected.remove(0)),
        }
    }

    /// Every checkpoint file in the folder, sorted by info hash then format; a file that cannot
    /// be used is listed with its error. An absent folder lists nothing.
    pub fn list(&self) -> Result<Vec<CheckpointEntry>, CheckpointError> {
        let mut entries: Vec<CheckpointEntry> = self
            .checkpoint_files()?
            .into_iter()
            .map(|(info_hash, format, path)| {
                let size = fs::metadata(&path).map_or(0, |m| m.len());
                let summary = read_checkpoint(&path, &info_hash).map(|(c, _)| Summary::of(&c));
                CheckpointEntry { info_hash, path, format, size, summary }
            })
            .collect();
        entries.sort_by_key(|e| (e.info_hash, e.format));
        Ok(entries)
    }

    /// The info hashes that have a checkpoint file, valid or not.
    pub fn info_hashes(&self) -> Result<Vec<InfoHash>, CheckpointError> {
        let mut hashes: Vec<InfoHash> = self.checkpoint_files()?.into_iter().map(|(h, _, _)| h).collect();
        hashes.sort();
        hashes.dedup();
        Ok(hashes)
    }

    /// The one info hash with a checkpoint that starts with `query` (hex, any case, at least one
    /// digit); several matches are an error listing them.
    pub fn resolve(&self, query: &str) -> Result<InfoHash, CheckpointError> {
        let prefix = query.trim().to_ascii_lowercase();
        let not_found = || CheckpointError::NotFound { query: query.to_owned() };
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(not_found());
        }
        let matches: Vec<InfoHash> =
            self.info_hashes()?.into_iter().filter(|h| h.to_hex().starts_with(&prefix)).collect();
        match matches.as_slice() {
            [] => Err(not_found()),
            [one] => Ok(*one),
            many => Err(CheckpointError::Ambiguous {
                query: query.to_owned(),
                matches: many.iter().map(InfoHash::to_hex).collect(),
            }),
        }
    }

    /// Removes the checkpoint files of `info_hash`; returns those removed (none: there was none).
    pub fn delete(&self, info_hash: &InfoHash) -> Result<Vec<PathBuf>, CheckpointError> {
        let mut removed = Vec::new();
        for format in ALL_FORMATS {
            let path = self.path(info_hash, format);
            if remove_if_present(&path)? {
                removed.push(path);
            }
        }
        if !removed.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Removes checkpoints saved more than `older_than` before `now` (by their `saved_at`; an
    /// unreadable file by its modification time), and temporary files left by interrupted writes
    /// ([`STALE_TEMP_AGE`]). With `dry_run`, only reports what would go.
    pub fn clean(
        &self,
        older_than: Duration,
        now: SystemTime,
        dry_run: bool,
    ) -> Result<Vec<Removed>, CheckpointError> {
        let cutoff = unix_secs(now).saturating_sub(older_than.as_secs());
        let mut removed = Vec::new();
        for (info_hash, _, path) in self.checkpoint_files()? {
            let reason = match read_checkpoint(&path, &info_hash) {
                Ok((c, _)) if c.saved_at < cutoff => RemovedReason::Expired { saved_at: c.saved_at },
                Ok(_) => continue,
                Err(_) if modified_secs(&path).is_some_and(|m| m < cutoff) => RemovedReason::UnreadableAndOld,
                Err(_) => continue,
            };
            removed.push(Removed { path, info_hash: Some(info_hash), reason });
        }
        let temp_cutoff = unix_secs(now).saturating_sub(STALE_TEMP_AGE.as_secs());
        for path in self.temporary_files()? {
            if modified_secs(&path).is_some_and(|m| m < temp_cutoff) {
                removed.push(Removed { path, info_hash: None, reason: RemovedReason::StaleTemporary });
            }
        }
        if !dry_run && !removed.is_empty() {
            for r in &removed {
                remove_if_present(&r.path)?;
            }
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// Writes the checkpoint of `info_hash` to `path` in `format` (atomically); returns what was
    /// exported.
    pub fn export(
        &self,
        info_hash: &InfoHash,
        format: Format,
        path: &Path,
    ) -> Result<Loaded, CheckpointError> {
        let loaded =
            self.load(info_hash)?.ok_or_else(|| CheckpointError::NotFound { query: info_hash.to_hex() })?;
        write_atomically(path, &encode(&loaded.checkpoint, format)?)?;
        Ok(loaded)
    }

    /// The checkpoint files in the folder (by name).
    fn checkpoint_files(&self) -> Result<Vec<(InfoHash, Format, PathBuf)>, CheckpointError> {
        Ok(self
            .dir_names()?
            .into_iter()
            .filter_map(|name| parse_file_name(&name).map(|(h, f)| (h, f, self.dir.join(&name))))
            .collect())
    }

    fn temporary_files(&self) -> Result<Vec<PathBuf>, CheckpointError> {
        Ok(self
            .dir_names()?
            .into_iter()
            .filter(|n| n.starts_with(TEMP_PREFIX))
            .map(|n| self.dir.join(n))
            .collect())
    }

    fn dir_names(&self) -> Result<Vec<String>, CheckpointError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(CheckpointError::io("list", &self.dir, e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| CheckpointError::io("list", &self.dir, e))?;
            if let Some(name) = entry.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }
}

fn modified_secs(path: &Path) -> Option<u64> {
    fs::symlink_metadata(path).and_then(|m| m.modified()).ok().map(unix_secs)
}

/// Removes `path`; `false` when it was not there.
fn remove_if_present(path: &Path) -> Result<bool, CheckpointError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(CheckpointError::io("remove", path, e)),
    }
}
