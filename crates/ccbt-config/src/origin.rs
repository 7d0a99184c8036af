//! Which layer gave a value, for `config show --origin` and for errors.

use std::fmt;
use std::path::PathBuf;

/// The layer a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A configuration file, with the 1-based line of the key when known.
    File { path: PathBuf, line: Option<usize> },
    /// An environment variable.
    Env { var: String },
    /// A command-line override (a flag or `key=value`).
    Cli,
    /// A per-torrent override.
    Torrent,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path, line: Some(line) } => write!(f, "{}:{line}", path.display()),
            Origin::File { path, line: None } => write!(f, "{}", path.display()),
            Origin::Env { var } => write!(f, "environment variable {var}"),
            Origin::Cli => f.write_str("command line"),
            Origin::Torrent => f.write_str("per-torrent override"),
        }
    }
}

/// The 1-based line of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}
