//! Adding and removing a rule in the rules file, keeping its comments: one code path for
//! `ccbt alerts add/remove` without a daemon and for the API's `POST/DELETE /alerts/rules`.

use std::path::Path;

use ccbt_alerts::fs::{read_text, write_text, MAX_RULES_FILE_BYTES};
use ccbt_alerts::{add_rule, remove_rule, FileError, Metrics, NewRule, Rule, RuleProblem, RulesErrors};

/// Why an edit was refused.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The new rule itself is wrong (the reason, as the file would report it).
    #[error("{0}")]
    Invalid(RuleProblem),
    #[error("a rule named `{0}` already exists")]
    Exists(String),
    /// No rule of that name (with a suggestion when one is close).
    #[error("{0}")]
    Unknown(RuleProblem),
    /// The file has mistakes; each line is `path:line: problem`.
    #[error("{0}")]
    BadFile(FileError),
    #[error("{0}")]
    Io(FileError),
}

/// Checks `rule` and appends it to the file at `path` (created when missing).
pub fn add(path: &Path, metrics: &Metrics, rule: &NewRule) -> Result<Rule, EditError> {
    let rule = rule.validate(metrics).map_err(EditError::Invalid)?;
    let text = read_text(path, MAX_RULES_FILE_BYTES).map_err(EditError::Io)?.unwrap_or_default();
    let new_text = add_rule(&text, &rule, metrics).map_err(|errors| match errors.0.as_slice() {
        [only] if matches!(only.problem, RuleProblem::AlreadyExists { .. }) => {
            EditError::Exists(rule.name.clone())
        }
        _ => bad_file(path, errors),
    })?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| EditError::Io(FileError::Io { path: dir.to_owned(), message: e.to_string() }))?;
    }
    write_text(path, &new_text).map_err(EditError::Io)?;
    Ok(rule)
}

/// Removes rule `name` from the file at `path` (the rest of the file need not be valid: removing
/// a broken rule is how one repairs a file).
pub fn remove(path: &Path, name: &str) -> Result<(), EditError> {
    let text = read_text(path, MAX_RULES_FILE_BYTES).map_err(EditError::Io)?.unwrap_or_default();
    let new_text = remove_rule(&text, name).map_err(|errors| match errors.0.as_slice() {
        [only] if matches!(only.problem, RuleProblem::UnknownRule { .. }) => {
            EditError::Unknown(only.problem.clone())
        }
        _ => bad_file(path, errors),
    })?;
    write_text(path, &new_text).map_err(EditError::Io)
}

fn bad_file(path: &Path, errors: RulesErrors) -> EditError {
    EditError::BadFile(FileError::Rules { path: path.to_owned(), errors })
}
