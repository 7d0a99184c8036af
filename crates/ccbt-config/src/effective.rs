//! The effective configuration: the typed [`Config`] plus the origin of every value.

use crate::error::{ConfigError, ConfigErrors};
use crate::origin::Origin;
use crate::schema::{field_index, Config, Env, Field, Scope, AT_LEAST, FIELDS};
use crate::suggest::suggest_key;
use crate::value::Problem;

/// A validated configuration and which layer set each value.
#[derive(Clone, Debug, PartialEq)]
pub struct Effective {
    config: Config,
    /// One per entry of [`FIELDS`], same order.
    origins: Vec<Origin>,
}

/// One line of `config show --origin`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `section.key`.
    pub key: String,
    /// The value as TOML (`6881`, `"rarest_first"`).
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
}

impl Effective {
    /// The built-in defaults, each with origin [`Origin::Default`].
    pub fn defaults(env: &Env) -> Effective {
        Effective { config: Config::defaults(env), origins: vec![Origin::Default; FIELDS.len()] }
    }

    /// The typed settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The checkpoint folder: `checkpoint_dir` when a layer set it, else `checkpoints` under the
    /// effective `state_dir` (so moving `state_dir` moves the checkpoints with it).
    pub fn checkpoint_dir(&self) -> std::path::PathBuf {
        match self.origin("checkpoint_dir") {
            Some(Origin::Default) | None => self.config().disk.state_dir.join("checkpoints"),
            Some(_) => self.config().disk.checkpoint_dir.clone(),
        }
    }

    /// The Xet chunk store's folder: `xet_store_dir` (a relative one under `state_dir`), else
    /// `xet` under the effective `state_dir`.
    pub fn xet_store_dir(&self) -> std::path::PathBuf {
        let state_dir = &self.config().disk.state_dir;
        match &self.config().xet.xet_store_dir {
            Some(dir) => state_dir.join(dir),
            None => state_dir.join("xet"),
        }
    }

    /// Where the value of `key` (`listen_port` or `network.listen_port`) came from.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        field_index(key).map(|index| &self.origins[index])
    }

    /// The value of `key` as a user writes it, for `config get`.
    pub fn get(&self, key: &str) -> Option<String> {
        field_index(key).map(|index| FIELDS[index].render(&self.config))
    }

    /// Every key with its value and origin, in schema order, for `config show`.
    pub fn entries(&self) -> Vec<Entry> {
        FIELDS
            .iter()
            .zip(&self.origins)
            .map(|(field, origin)| Entry {
                key: field.qualified_name(),
                value: field.toml_value(&self.config).to_string().trim().to_owned(),
                origin: origin.clone(),
            })
            .collect()
    }

    /// This configuration with per-torrent overrides (`(key, value)` as text) on top. Only keys
    /// whose scope is per torrent are accepted.
    pub fn with_torrent_overrides(&self, overrides: &[(String, String)]) -> Result<Effective, ConfigErrors> {
        let mut effective = self.clone();
        let mut errors = Vec::new();
        for (key, value) in overrides {
            let result = match resolve(key, &Origin::Torrent) {
                Ok(index) if FIELDS[index].scope == Scope::Session => Err(ConfigError::NotPerTorrent {
                    key: FIELDS[index].qualified_name(),
                    origin: Origin::Torrent,
                }),
                Ok(index) => effective.set_text(index, value, Origin::Torrent),
                Err(error) => Err(error),
            };
            errors.extend(result.err());
        }
        errors.extend(effective.check_relations().err());
        if errors.is_empty() {
            Ok(effective)
        } else {
            Err(ConfigErrors(errors))
        }
    }

    /// Sets a key from a TOML value (file layer).
    pub(crate) fn set_toml(
        &mut self,
        index: usize,
        value: &toml_edit::Value,
        origin: Origin,
    ) -> Result<(), ConfigError> {
        let field = &FIELDS[index];
        (field.ops.from_toml)(&mut self.config, value)
            .map_err(|problem| describe(field, &origin, problem))?;
        self.origins[index] = origin;
        Ok(())
    }

    /// Sets a key from text (environment, command line, per-torrent override).
    pub(crate) fn set_text(&mut self, index: usize, text: &str, origin: Origin) -> Result<(), ConfigError> {
        let field = &FIELDS[index];
        (field.ops.from_text)(&mut self.config, text).map_err(|problem| describe(field, &origin, problem))?;
        self.origins[index] = origin;
        Ok(())
    }

    /// Checks the relations between keys (`max_pipeline_depth` at least `pipeline_depth`).
    pub(crate) fn check_relations(&self) -> Result<(), ConfigError> {
        for &(key, other) in AT_LEAST {
            let (a, b) = (field_index(key), field_index(other));
            let (Some(a), Some(b)) = (a, b) else { continue };
            let value = FIELDS[a].toml_value(&self.config).as_integer();
            let other_value = FIELDS[b].toml_value(&self.config).as_integer();
            if value < other_value {
                let relation = format!(
                    "is {}, below `{}` ({}, {}); it must be at least that",
                    FIELDS[a].render(&self.config),
                    FIELDS[b].qualified_name(),
                    FIELDS[b].render(&self.config),
                    self.origins[b],
                );
                return Err(ConfigError::Below {
                    key: FIELDS[a].qualified_name(),
                    origin: self.origins[a].clone(),
                    relation,
                });
            }
        }
        Ok(())
    }
}

/// The descriptor of `key` (`listen_port` or `network.listen_port`), or an unknown-key error with
/// a "did you mean" suggestion (for `config get` and `config set`).
pub fn lookup(key: &str) -> Result<&'static Field, ConfigError> {
    resolve(key, &Origin::Cli).map(|index| &FIELDS[index])
}

/// The index of `key`, or an unknown-key error with a suggestion.
pub(crate) fn resolve(key: &str, origin: &Origin) -> Result<usize, ConfigError> {
    field_index(key.trim()).ok_or_else(|| ConfigError::UnknownKey {
        key: key.trim().to_owned(),
        origin: origin.clone(),
        suggestion: suggest_key(key.trim()),
    })
}

/// Turns a [`Problem`] into an error naming the key, the allowed values and the origin.
pub(crate) fn describe(field: &Field, origin: &Origin, problem: Problem) -> ConfigError {
    let (key, origin, allowed) = (field.qualified_name(), origin.clone(), field.allowed());
    match problem {
        Problem::WrongType { found } => ConfigError::WrongType { key, origin, allowed, found },
        Problem::OutOfRange { value } => ConfigError::OutOfRange { key, origin, value, allowed },
    }
}
