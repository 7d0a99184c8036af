//! Hot reload: which keys changed between two configurations, and whether each can be applied to
//! the running session or needs a restart.

use crate::effective::Effective;
use crate::error::ConfigErrors;
use crate::load::{load, Sources};
use crate::schema::{Apply, Config, Field, FIELDS};

/// The keys that differ between two configurations, split by how they apply.
#[derive(Debug, Default)]
pub struct Changes {
    /// Applied to the running session (rate limits, peer and slot counts, piece selection, log
    /// level, discovery switches).
    pub live: Vec<&'static Field>,
    /// Only taken at the next start; report them by name.
    pub restart: Vec<&'static Field>,
}

impl Changes {
    /// No key changed.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty() && self.restart.is_empty()
    }

    /// `section.key` of each key that needs a restart, for the warning.
    pub fn restart_names(&self) -> Vec<String> {
        self.restart.iter().map(|f| f.qualified_name()).collect()
    }

    /// `section.key` of each key applied live.
    pub fn live_names(&self) -> Vec<String> {
        self.live.iter().map(|f| f.qualified_name()).collect()
    }
}

/// Compares two configurations key by key.
pub fn diff(old: &Config, new: &Config) -> Changes {
    let mut changes = Changes::default();
    for field in FIELDS.iter().filter(|f| !f.same(old, new)) {
        match field.apply {
            Apply::Live => changes.live.push(field),
            Apply::Restart => changes.restart.push(field),
        }
    }
    changes
}

/// Re-reads the layers after an edit. A valid result comes with what changed; an invalid one
/// leaves `current` in force (the caller keeps using it) and says why.
pub fn reload(current: &Effective, sources: &Sources) -> Result<(Effective, Changes), ConfigErrors> {
    let new = load(sources)?;
    let changes = diff(current.config(), new.config());
    Ok((new, changes))
}
