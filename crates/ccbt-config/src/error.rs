//! Configuration errors. Each names the key, the allowed values and where the value came from.

use std::path::PathBuf;

use crate::origin::Origin;

/// One problem in the configuration.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A key (or section) the schema does not have.
    #[error("unknown key `{key}` ({origin}){}", did_you_mean(.suggestion))]
    UnknownKey { key: String, origin: Origin, suggestion: Option<String> },
    /// A value of the wrong type.
    #[error("`{key}` ({origin}): expected {allowed}, found {found}")]
    WrongType { key: String, origin: Origin, allowed: String, found: String },
    /// A value of the right type outside the allowed values.
    #[error("`{key}` ({origin}): {value} is out of range; allowed: {allowed}")]
    OutOfRange { key: String, origin: Origin, value: String, allowed: String },
    /// A key that must not be below another one is.
    /// `relation` says by how much, and where the other key came from.
    #[error("`{key}` ({origin}) {relation}")]
    Below { key: String, origin: Origin, relation: String },
    /// The same key set twice in one layer (a seed variable and its rule name).
    #[error("`{key}` is set by both {first} and {second}; keep one")]
    SetTwice { key: String, first: Origin, second: Origin },
    /// A key that cannot be overridden per torrent.
    #[error("`{key}` ({origin}) is session-wide and cannot be set per torrent")]
    NotPerTorrent { key: String, origin: Origin },
    /// A command-line override that is not `key=value`.
    #[error("`{text}` ({origin}): expected KEY=VALUE")]
    NotKeyValue { text: String, origin: Origin },
    /// A section given a value instead of a table (`limits = 5`).
    #[error("`{section}` ({origin}) must be a table of settings: `[{section}]`")]
    NotATable { section: String, origin: Origin },
    /// The file is not valid TOML.
    #[error("{origin}: invalid TOML: {message}")]
    Syntax { origin: Origin, message: String },
    /// The file could not be read or written.
    #[error("{}: {message}", .path.display())]
    Io { path: PathBuf, message: String },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

/// Every problem found in one load, in the order found (a file is checked whole, so
/// `config validate` lists all its mistakes at once).
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}
