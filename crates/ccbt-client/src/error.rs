//! What can go wrong talking to the daemon.

use std::path::PathBuf;

use crate::http::NO_DAEMON;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No daemon holds the state folder's lock.
    #[error("{NO_DAEMON}")]
    NoDaemon,
    /// The daemon holds the lock but has not published its API address yet.
    #[error("the ccbt daemon (pid {pid}) is still starting")]
    Starting { pid: u32 },
    #[error("cannot read the API token: {0}")]
    Token(#[from] ccbt_api::TokenFileError),
    #[error("the daemon serves {url} but its lock file names no certificate")]
    NoCertificate { url: String },
    #[error("cannot read the daemon's certificate {}: {source}", path.display())]
    Certificate { path: PathBuf, source: std::io::Error },
    #[error("invalid PEM in {}: {message}", path.display())]
    Pem { path: PathBuf, message: String },
    #[error("no certificate in {}", path.display())]
    EmptyCertificate { path: PathBuf },
    /// Nothing answers at the daemon's address (it stopped, or crashed).
    #[error("{NO_DAEMON}: {url} does not answer ({source})")]
    Unreachable { url: String, source: ureq::Error },
    /// Any other transport failure (a timeout, a TLS error...).
    #[error("cannot reach the daemon at {url}: {source}")]
    Transport { url: String, source: ureq::Error },
    #[error("cannot read the daemon's answer: {0}")]
    Read(ureq::Error),
    /// The daemon answered with an error: its message, or the status when it gave none.
    #[error("{message}")]
    Api { status: u16, message: String },
    #[error("unexpected answer from the daemon to {method} {path}: {source}")]
    Decode { method: String, path: String, source: serde_json::Error },
    #[error("{0:?} is not an info hash (up to 40 hex digits; see `ccbt list`)")]
    InfoHash(String),
}

impl ClientError {
    /// Whether the daemon itself could not be reached (as opposed to refusing a request).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ClientError::NoDaemon | ClientError::Unreachable { .. } | ClientError::Transport { .. }
        )
    }
}
