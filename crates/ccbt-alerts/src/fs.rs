//! The thin file layer: reading the rules and history files (bounded, a missing file is empty)
//! and replacing them atomically. Everything else in the crate takes and returns text.

use std::io::Read;
use std::path::Path;

use crate::error::FileError;
use crate::history::History;
use crate::rule::{Metrics, RuleSet};
use crate::rules_file::parse_rules;

/// The largest rules file read (256 rules fit in a few dozen KiB).
pub const MAX_RULES_FILE_BYTES: u64 = 1 << 20;
/// The largest history file read (a full ring of [`crate::history::MAX_CAPACITY`] records).
pub const MAX_HISTORY_FILE_BYTES: u64 = 64 << 20;

/// The text of `path`, or `None` when it does not exist.
pub fn read_text(path: &Path, max_bytes: u64) -> Result<Option<String>, FileError> {
    let io = |e: std::io::Error| FileError::Io { path: path.to_path_buf(), message: e.to_string() };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut bytes = Vec::new();
    file.take(max_bytes + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max_bytes {
        let message = format!("larger than {max_bytes} bytes; refusing to read it");
        return Err(FileError::Io { path: path.to_path_buf(), message });
    }
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| FileError::Io { path: path.to_path_buf(), message: "not UTF-8 text".to_owned() })
}

/// Loads a rules file; a missing file is an empty set.
pub fn load_rules(path: &Path, metrics: &Metrics) -> Result<RuleSet, FileError> {
    let text = read_text(path, MAX_RULES_FILE_BYTES)?.unwrap_or_default();
    parse_rules(&text, metrics).map_err(|errors| FileError::Rules { path: path.to_path_buf(), errors })
}

/// Loads a history file keeping the newest `capacity` records; a missing file is an empty history.
/// A damaged one is an error: the caller may move it aside and start with [`History::new`].
pub fn load_history(path: &Path, capacity: usize) -> Result<History, FileError> {
    match read_text(path, MAX_HISTORY_FILE_BYTES)? {
        None => Ok(History::new(capacity)),
        Some(text) => History::from_json(&text, capacity)
            .map_err(|error| FileError::History { path: path.to_path_buf(), error }),
    }
}

/// Replaces `path` with `text` durably (temporary file, fsync, rename, fsync of the folder), so a
/// crash leaves the old file or the new one, never half of one.
pub fn write_text(path: &Path, text: &str) -> Result<(), FileError> {
    ccbt_checkpoint::write_atomically(path, text.as_bytes()).map_err(|e| {
        let message = match e {
            // The path in the error may be the temporary file's; name the real one only.
            ccbt_checkpoint::CheckpointError::Io { op, source, .. } => format!("cannot {op}: {source}"),
            other => other.to_string(),
        };
        FileError::Io { path: path.to_path_buf(), message }
    })
}

/// Saves a history with [`write_text`].
pub fn save_history(path: &Path, history: &History) -> Result<(), FileError> {
    write_text(path, &history.to_json())
}
