//! Errors of rules: what is wrong with a rule (a [`RuleProblem`]) and, for a rules file, on which
//! line ([`RulesError`]). A file is checked whole, so one load reports every mistake.

use std::fmt;
use std::path::PathBuf;

use crate::condition::ConditionError;

/// What is wrong with a rule, a rules file or a request about rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleProblem {
    #[error("invalid TOML: {0}")]
    Syntax(String),
    #[error("unexpected top-level key `{key}`; a rules file holds only `[[rule]]` tables")]
    UnexpectedTopLevel { key: String },
    #[error("`rule` must be an array of tables: write each rule under a `[[rule]]` header")]
    RuleNotTables,
    #[error("unknown key `{key}` in a rule{}", did_you_mean(.suggestion))]
    UnknownKey { key: String, suggestion: Option<String> },
    #[error("the rule has no `{key}`")]
    MissingKey { key: &'static str },
    #[error("`{key}` must be {expected}")]
    WrongType { key: &'static str, expected: &'static str },
    #[error("invalid rule name `{name}`: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("rule `{name}` is defined twice (first on line {first_line})")]
    Duplicate { name: String, first_line: usize },
    #[error("a rule named `{name}` already exists")]
    AlreadyExists { name: String },
    #[error("unknown metric `{metric}`{}", did_you_mean(.suggestion))]
    UnknownMetric { metric: String, suggestion: Option<String> },
    #[error("metric `{metric}` is session-wide; `torrent` applies only to per-torrent metrics")]
    NotPerTorrent { metric: String },
    #[error("condition `{condition}` {error}")]
    Condition { condition: String, error: ConditionError },
    #[error("unknown severity `{0}`; use info, warning or critical")]
    BadSeverity(String),
    #[error("torrent `{0}` is not an info hash (40 hex characters)")]
    BadTorrent(String),
    #[error("`{key}` = {value} is out of range; allowed: 0 to {max}")]
    OutOfRange { key: &'static str, value: i64, max: u64 },
    #[error("more than {max} rules")]
    TooMany { max: usize },
    #[error("no rule named `{name}`{}", did_you_mean(.suggestion))]
    UnknownRule { name: String, suggestion: Option<String> },
}

/// How much of a user's text an error repeats.
const SHOWN_CHARS: usize = 80;

/// `text` as an error repeats it: at most [`SHOWN_CHARS`] characters, then `…` (a hostile 1 MiB
/// name must not become a 1 MiB message).
pub(crate) fn shown(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean `{s}`?"),
        None => String::new(),
    }
}

/// A problem in a rules file, with the 1-based line it is on when known.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct RulesError {
    pub line: Option<usize>,
    pub problem: RuleProblem,
}

impl fmt::Display for RulesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}

/// Every problem of one rules file, in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesErrors(pub Vec<RulesError>);

impl fmt::Display for RulesErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for RulesErrors {}

impl From<RulesError> for RulesErrors {
    fn from(error: RulesError) -> Self {
        RulesErrors(vec![error])
    }
}

/// A failure of the file helpers in [`crate::fs`]: which file, and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {message}", .path.display())]
    Io { path: PathBuf, message: String },
    /// A rules file with mistakes; each line of the message is `path:line: problem`.
    #[error("{}", rules_lines(.path, .errors))]
    Rules { path: PathBuf, errors: RulesErrors },
    #[error("{}: {error}", .path.display())]
    History { path: PathBuf, error: crate::history::HistoryError },
}

fn rules_lines(path: &std::path::Path, errors: &RulesErrors) -> String {
    let lines: Vec<String> = errors
        .0
        .iter()
        .map(|e| match e.line {
            Some(line) => format!("{}:{line}: {}", path.display(), e.problem),
            None => format!("{}: {}", path.display(), e.problem),
        })
        .collect();
    lines.join("\n")
}
