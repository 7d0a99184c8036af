//! The rule model and the checks shared by the rules file and `ccbt alerts add`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ccbt_core::InfoHash;
use serde::{Deserialize, Serialize};

use crate::condition::{parse_quantity, Condition};
use crate::error::{shown, RuleProblem};

/// The most rules one set holds (evaluation work is rules × scopes).
pub const MAX_RULES: usize = 256;
/// The longest rule name, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// The largest `cooldown_secs` and `for_secs`: 30 days.
pub const MAX_SECS: u64 = 30 * 24 * 3600;
/// `cooldown_secs` when a rule does not say.
pub const DEFAULT_COOLDOWN_SECS: u64 = 300;

/// How bad a firing alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = RuleProblem;
    fn from_str(s: &str) -> Result<Self, RuleProblem> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" => Ok(Severity::Warning),
            "critical" => Ok(Severity::Critical),
            _ => Err(RuleProblem::BadSeverity(shown(s))),
        }
    }
}

/// The metrics rules may name, given by the caller (the names the metrics exporter publishes).
/// A per-torrent metric is reported once per torrent; a rule on it without a `torrent` scope is
/// evaluated for every torrent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    per_torrent: BTreeMap<String, bool>,
}

impl Metrics {
    /// `(name, per_torrent)` pairs.
    pub fn new<I, S>(metrics: I) -> Self
    where
        I: IntoIterator<Item = (S, bool)>,
        S: Into<String>,
    {
        Metrics { per_torrent: metrics.into_iter().map(|(name, per)| (name.into(), per)).collect() }
    }

    /// `Some(per_torrent)` for a known metric.
    pub fn per_torrent(&self, name: &str) -> Option<bool> {
        self.per_torrent.get(name).copied()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.per_torrent.keys().map(String::as_str)
    }

    /// Checks that a rule may use `metric` with this scope.
    pub fn check(&self, metric: &str, torrent: Option<&InfoHash>) -> Result<(), RuleProblem> {
        match self.per_torrent(metric) {
            None => {
                let suggestion = closest(metric, self.names());
                Err(RuleProblem::UnknownMetric { metric: shown(metric), suggestion })
            }
            Some(false) if torrent.is_some() => Err(RuleProblem::NotPerTorrent { metric: metric.to_owned() }),
            Some(_) => Ok(()),
        }
    }
}

/// The candidate nearest to `input` when it is near enough to be a typo.
pub(crate) fn closest<'a>(input: &str, candidates: impl Iterator<Item = &'a str>) -> Option<String> {
    candidates
        .map(|c| (strsim::levenshtein(input, c), c))
        .filter(|(distance, c)| *distance <= 3.max(c.len() / 4))
        .min()
        .map(|(_, c)| c.to_owned())
}

/// One alert rule. Serialises (for the API) with the condition as its text and the torrent as
/// hex, the keys of the rules file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    /// Unique in its set: letters, digits, `_`, `-`, `.`; starts with a letter or digit.
    pub name: String,
    /// A metric name from the caller's [`Metrics`].
    pub metric: String,
    #[serde(serialize_with = "condition_text")]
    pub condition: Condition,
    pub severity: Severity,
    /// After the alert resolves, it does not fire again for this long (see the crate docs).
    pub cooldown_secs: u64,
    /// The condition must hold this long before the alert fires (0: at once).
    pub for_secs: u64,
    /// Only this torrent (per-torrent metrics only); `None`: the whole session, or every torrent.
    #[serde(serialize_with = "crate::event::hex_opt::serialize", skip_serializing_if = "Option::is_none")]
    pub torrent: Option<InfoHash>,
    /// A disabled rule is kept in the file but not evaluated.
    pub enabled: bool,
}

fn condition_text<S: serde::Serializer>(condition: &Condition, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(condition.as_str())
}

impl Rule {
    /// Whether the rule's condition holds for `value` (`ccbt alerts test`).
    pub fn test(&self, value: f64) -> bool {
        self.condition.matches(value)
    }
}

/// Checks a rule name (see [`Rule::name`]).
pub fn check_name(name: &str) -> Result<(), RuleProblem> {
    let bad = |reason| Err(RuleProblem::BadName { name: shown(name), reason });
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("it is longer than 64 bytes");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return bad("it must start with a letter or a digit");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')) {
        return bad("use only letters, digits, `_`, `-` and `.`");
    }
    Ok(())
}

pub(crate) fn parse_condition(text: &str) -> Result<Condition, RuleProblem> {
    Condition::parse(text).map_err(|error| RuleProblem::Condition { condition: shown(text), error })
}

pub(crate) fn parse_torrent(text: &str) -> Result<InfoHash, RuleProblem> {
    // Accept upper-case hex as pasted from elsewhere; InfoHash's parser is the arbiter.
    text.to_ascii_lowercase().parse().map_err(|_| RuleProblem::BadTorrent(shown(text)))
}

pub(crate) fn check_secs(key: &'static str, value: i64) -> Result<u64, RuleProblem> {
    match u64::try_from(value) {
        Ok(secs) if secs <= MAX_SECS => Ok(secs),
        _ => Err(RuleProblem::OutOfRange { key, value, max: MAX_SECS }),
    }
}

/// A rule as typed on the command line (`ccbt alerts add`), before any check.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRule {
    pub name: String,
    pub metric: String,
    pub condition: String,
    pub severity: Option<String>,
    pub cooldown_secs: Option<u64>,
    pub for_secs: Option<u64>,
    pub torrent: Option<String>,
}

impl NewRule {
    /// Checks every field as the rules file would, with the same defaults.
    pub fn validate(&self, metrics: &Metrics) -> Result<Rule, RuleProblem> {
        check_name(&self.name)?;
        let torrent = self.torrent.as_deref().map(parse_torrent).transpose()?;
        metrics.check(&self.metric, torrent.as_ref())?;
        let condition = parse_condition(&self.condition)?;
        let severity = self.severity.as_deref().map(str::parse).transpose()?.unwrap_or(Severity::Warning);
        let secs = |key, value: Option<u64>, default| match value {
            Some(v) if v > MAX_SECS => {
                Err(RuleProblem::OutOfRange { key, value: saturate(v), max: MAX_SECS })
            }
            Some(v) => Ok(v),
            None => Ok(default),
        };
        Ok(Rule {
            name: self.name.clone(),
            metric: self.metric.clone(),
            condition,
            severity,
            cooldown_secs: secs("cooldown_secs", self.cooldown_secs, DEFAULT_COOLDOWN_SECS)?,
            for_secs: secs("for_secs", self.for_secs, 0)?,
            torrent,
            enabled: true,
        })
    }
}

fn saturate(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The rules of one file, in file order, names unique.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Builds a set, refusing duplicate names and more than [`MAX_RULES`] rules.
    pub fn new(rules: Vec<Rule>) -> Result<RuleSet, RuleProblem> {
        if rules.len() > MAX_RULES {
            return Err(RuleProblem::TooMany { max: MAX_RULES });
        }
        for (i, rule) in rules.iter().enumerate() {
            if rules[..i].iter().any(|r| r.name == rule.name) {
                return Err(RuleProblem::AlreadyExists { name: rule.name.clone() });
            }
        }
        Ok(RuleSet { rules })
    }

    pub fn get(&self, name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.name == name)
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Rule> {
        self.rules.iter()
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// `ccbt alerts test --name N --value V`: whether rule `name`'s condition holds for `value`
    /// (a number with an optional unit, as in conditions).
    pub fn test(&self, name: &str, value: &str) -> Result<TestOutcome, TestError> {
        let rule = self.get(name).ok_or_else(|| {
            let suggestion = closest(name, self.rules.iter().map(|r| r.name.as_str()));
            TestError::Rule(RuleProblem::UnknownRule { name: shown(name), suggestion })
        })?;
        let value = parse_quantity(value).map_err(|error| TestError::Value { text: shown(value), error })?;
        Ok(TestOutcome { value, holds: rule.test(value) })
    }
}

impl<'a> IntoIterator for &'a RuleSet {
    type Item = &'a Rule;
    type IntoIter = std::slice::Iter<'a, Rule>;
    fn into_iter(self) -> Self::IntoIter {
        self.rules.iter()
    }
}

/// The answer of [`RuleSet::test`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TestOutcome {
    /// The value tested, its unit applied.
    pub value: f64,
    /// Whether the condition holds (the alert would fire, after `for_secs`, outside cooldown).
    pub holds: bool,
}

/// Why [`RuleSet::test`] could not answer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TestError {
    #[error("{0}")]
    Rule(RuleProblem),
    #[error("value `{text}` {error}")]
    Value { text: String, error: crate::condition::ConditionError },
}
