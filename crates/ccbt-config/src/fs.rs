//! The thin layer that reads the real process environment and file system for the pure loader.

use std::path::{Path, PathBuf};

use crate::effective::Effective;
use crate::error::{ConfigError, ConfigErrors};
use crate::load::{load, ConfigFile, Sources};
use crate::schema::Env;

/// The file name looked for in the current folder and the user's config folder.
pub const FILE_NAME: &str = "ccbt.toml";

/// The variables the loader reads: `CCBT_*`, and the XDG/HOME folders defaults derive from.
pub fn process_env() -> Env {
    std::env::vars_os()
        .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
        .filter(|(name, _)| {
            name.starts_with("CCBT_")
                || matches!(name.as_str(), "HOME" | "XDG_CONFIG_HOME" | "XDG_STATE_HOME")
        })
        .collect()
}

/// Where a configuration file is looked for, in order: `./ccbt.toml`, then
/// `$XDG_CONFIG_HOME/ccbt/ccbt.toml` (`~/.config/ccbt/ccbt.toml` when it is unset).
pub fn candidate_paths(env: &Env) -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from(FILE_NAME)];
    let non_empty = |name: &str| env.get(name).filter(|v| !v.is_empty());
    let config_home = match (non_empty("XDG_CONFIG_HOME"), non_empty("HOME")) {
        (Some(dir), _) => Some(PathBuf::from(dir)),
        (None, Some(home)) => Some(PathBuf::from(home).join(".config")),
        (None, None) => None,
    };
    paths.extend(config_home.map(|dir| dir.join("ccbt").join(FILE_NAME)));
    paths
}

/// Reads `explicit` (which must exist) or the first candidate that exists.
pub fn read_config_file(explicit: Option<&Path>, env: &Env) -> Result<Option<ConfigFile>, ConfigError> {
    let path = match explicit {
        Some(path) => path.to_path_buf(),
        None => match candidate_paths(env).into_iter().find(|path| path.is_file()) {
            Some(path) => path,
            None => return Ok(None),
        },
    };
    let text = std::fs::read_to_string(&path).map_err(|error| io_error(&path, &error))?;
    Ok(Some(ConfigFile { path, text }))
}

/// Loads the configuration from the process environment, the file (`explicit` or found) and the
/// command-line overrides.
pub fn load_from_system(
    explicit: Option<&Path>,
    cli: Vec<(String, String)>,
) -> Result<Effective, ConfigErrors> {
    let env = process_env();
    let file = read_config_file(explicit, &env)?;
    load(&Sources { file, env, cli })
}

/// `config set`: edits `path` (created when missing) keeping its comments, written atomically
/// (a temporary file in the same folder, synced, then renamed over it).
pub fn set_in_file(path: &Path, key: &str, value: &str) -> Result<(), ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(io_error(path, &error)),
    };
    let edited = crate::edit::set(path, &text, key, value)?;
    write_file(path, &edited)
}

/// Writes `text` to `path` atomically: a temporary file in the same folder, synced, then renamed
/// over it (a reader sees the old text or the new, never half of it).
pub fn write_file(path: &Path, text: &str) -> Result<(), ConfigError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        std::io::Write::write_all(&mut file, text.as_bytes())?;
        file.sync_all()
    };
    write().map_err(|error| io_error(&temporary, &error))?;
    std::fs::rename(&temporary, path).map_err(|error| io_error(path, &error))
}

fn io_error(path: &Path, error: &std::io::Error) -> ConfigError {
    ConfigError::Io { path: path.to_path_buf(), message: error.to_string() }
}
