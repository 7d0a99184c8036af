//! The API token: 256 random bits in hex, written for clients to `<state_dir>/api_token`,
//! readable by the owner only.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

/// Bytes of randomness in a token.
const TOKEN_BYTES: usize = 32;

/// The secret clients send as `Authorization: Bearer <token>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

/// The token's value never goes to logs.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(..)")
    }
}

/// Why the token file could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("cannot write the API token to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read the API token from {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} does not hold an API token (64 hex digits)")]
    Malformed { path: PathBuf },
}

impl Token {
    /// A new token from the operating system's random source.
    pub fn generate() -> Token {
        let mut bytes = [0u8; TOKEN_BYTES];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Token(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token as clients send it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `given` is this token, in time independent of where they differ.
    pub fn matches(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }

    /// Writes the token to `path`, mode 0600: a new file is created with that mode (never
    /// widened and narrowed later) and renamed over any old one, so no reader ever sees a
    /// partial token or a file readable by others.
    pub fn write_to(&self, path: &Path) -> Result<(), TokenFileError> {
        let err = |source| TokenFileError::Write { path: path.to_owned(), source };
        let tmp = path.with_extension("tmp");
        // A temporary file left by a crash: its mode is unknown, so it is not reused.
        if let Err(e) = std::fs::remove_file(&tmp) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(err(e));
            }
        }
        let mut file =
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(err)?;
        file.write_all(self.0.as_bytes()).and_then(|()| file.sync_all()).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

/// Reads the token a daemon wrote to `path`.
pub fn read_token_file(path: &Path) -> Result<Token, TokenFileError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| TokenFileError::Read { path: path.to_owned(), source })?;
    let token = text.trim();
    if token.len() != TOKEN_BYTES * 2 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(TokenFileError::Malformed { path: path.to_owned() });
    }
    Ok(Token(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn tokens_are_random_hex_and_compare_exactly() {
        let (a, b) = (Token::generate(), Token::generate());
        assert_eq!(a.as_str().len(), 64);
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert!(a.matches(a.as_str()));
        assert!(!a.matches(b.as_str()));
        assert!(!a.matches(&a.as_str()[..63]));
        assert!(!a.matches(""));
        assert_eq!(format!("{a:?}"), "Token(..)");
    }

    #[test]
    fn token_file_is_private_even_over_an_open_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api_token");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let token = Token::generate();
        token.write_to(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_token_file(&path).unwrap(), token);
        std::fs::write(&path, "not a token").unwrap();
        assert!(matches!(read_token_file(&path), Err(TokenFileError::Malformed { .. })));
    }
}
