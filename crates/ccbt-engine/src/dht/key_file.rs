//! The publisher's key file of BEP 46: the 32-byte ed25519 seed as 64 hex digits and a
//! newline, readable by its owner only. Created on first use.

use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use ccbt_dht::bep46::{format_key_file, parse_key_file, Bep46Error};
use ccbt_dht::item::{SigningKey, SEED_LEN};
use rand::RngCore as _;

/// Longer files are not key files (64 digits, a newline and some whitespace at most).
const MAX_KEY_FILE_LEN: u64 = 1024;

/// Why the key file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Reading, creating or writing it failed.
    #[error("cannot use the key file {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// It exists but is not a key file.
    #[error("{path} is not a key file")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: Bep46Error,
    },
}

/// The key in `path`, or a new random one written there (mode 0600, never overwriting a file
/// that appears meanwhile). Blocking: call it from the blocking pool in async code.
pub fn load_or_create_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    let io_err = |source| KeyFileError::Io { path: path.to_owned(), source };
    match read_key(path) {
        Err(KeyFileError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    let mut seed = [0u8; SEED_LEN];
    rand::thread_rng().fill_bytes(&mut seed);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = match options.open(path) {
        Ok(file) => file,
        // Another process created it first: use theirs.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return read_key(path),
        Err(e) => return Err(io_err(e)),
    };
    let written = file.write_all(format_key_file(&seed).as_bytes()).and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Never leave a half-written key behind: the next run would refuse it.
        let _ = std::fs::remove_file(path);
        return Err(io_err(e));
    }
    Ok(SigningKey::from_seed(&seed))
}

/// The key in an existing key file.
pub fn read_key(path: &Path) -> Result<SigningKey, KeyFileError> {
    let io_err = |source| KeyFileError::Io { path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut content = Vec::new();
    file.take(MAX_KEY_FILE_LEN + 1).read_to_end(&mut content).map_err(io_err)?;
    if content.len() as u64 > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::Invalid { path: path.to_owned(), source: Bep46Error::BadKeyFile });
    }
    let seed =
        parse_key_file(&content).map_err(|source| KeyFileError::Invalid { path: path.to_owned(), source })?;
    Ok(SigningKey::from_seed(&seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publisher.key");
        let key = load_or_create_key(&path).unwrap();
        let content = std::fs::read_to_string(&path).unwrap();
        assert_eq!(content.len(), 65);
        assert_eq!(parse_key_file(content.as_bytes()).unwrap(), *key.seed());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(load_or_create_key(&path).unwrap().public_key(), key.public_key(), "not replaced");
        assert_eq!(read_key(&path).unwrap().public_key(), key.public_key());
        let other = load_or_create_key(&dir.path().join("other.key")).unwrap();
        assert_ne!(other.public_key(), key.public_key());
    }

    #[test]
    fn bad_files_are_named_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        std::fs::write(&path, "not a key\n").unwrap();
        let err = load_or_create_key(&path).unwrap_err();
        assert!(matches!(err, KeyFileError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("bad.key"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "not a key\n", "left alone");
        std::fs::write(&path, "ab".repeat(600)).unwrap();
        assert!(matches!(read_key(&path), Err(KeyFileError::Invalid { .. })));
        let missing = dir.path().join("no/such/dir/x.key");
        assert!(matches!(load_or_create_key(&missing), Err(KeyFileError::Io { .. })));
    }
}
