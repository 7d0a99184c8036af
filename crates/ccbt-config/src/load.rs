//! The layers, lowest first: defaults < file < `CCBT_*` environment < command line. Per-torrent
//! overrides go on top later ([`Effective::with_torrent_overrides`]). Pure: the file arrives as
//! text and the environment as a map; [`crate::fs`] reads the real ones.

use std::path::PathBuf;

use crate::effective::{resolve, Effective};
use crate::env::apply_env;
use crate::error::{ConfigError, ConfigErrors};
use crate::file::apply_file;
use crate::origin::Origin;
use crate::schema::Env;

/// A configuration file's path (for origins) and contents.
#[derive(Clone, Debug)]
pub struct ConfigFile {
    pub path: PathBuf,
    pub text: String,
}

/// Everything the loader reads.
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// The configuration file, if one was found or named.
    pub file: Option<ConfigFile>,
    /// The environment (only `CCBT_*`, `XDG_STATE_HOME` and `HOME` are read).
    pub env: Env,
    /// Command-line overrides as `(key, value)`, in order (a later one wins).
    pub cli: Vec<(String, String)>,
}

/// Builds the effective configuration from the layers. Every problem in every layer is reported,
/// and nothing is returned when there is one: nothing starts on a bad configuration.
pub fn load(sources: &Sources) -> Result<Effective, ConfigErrors> {
    let mut effective = Effective::defaults(&sources.env);
    let mut errors = Vec::new();
    if let Some(file) = &sources.file {
        apply_file(&mut effective, &file.path, &file.text, &mut errors);
    }
    apply_env(&mut effective, &sources.env, &mut errors);
    for (key, value) in &sources.cli {
        let result =
            resolve(key, &Origin::Cli).and_then(|index| effective.set_text(index, value, Origin::Cli));
        errors.extend(result.err());
    }
    if errors.is_empty() {
        errors.extend(effective.check_relations().err());
    }
    if errors.is_empty() {
        Ok(effective)
    } else {
        Err(ConfigErrors(errors))
    }
}

/// Splits a `key=value` override (`--set network.listen_port=7000`).
pub fn split_override(text: &str) -> Result<(String, String), ConfigError> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim().to_owned(), value.to_owned())),
        _ => Err(ConfigError::NotKeyValue { text: text.to_owned(), origin: Origin::Cli }),
    }
}
