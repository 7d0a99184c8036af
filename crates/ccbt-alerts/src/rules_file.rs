//! The rules file: `[[rule]]` tables read with toml_edit's spans, so every mistake names its line.
//!
//! ```toml
//! [[rule]]
//! name = "slow-download"
//! metric = "ccbt_download_rate_bytes_per_second"
//! condition = "value < 10 KiB"
//! severity = "warning"      # info | warning | critical; default warning
//! cooldown_secs = 300       # default 300
//! for_secs = 60             # default 0
//! torrent = "0123456789abcdef0123456789abcdef01234567"  # optional, per-torrent metrics only
//! enabled = true            # default true
//! ```

use toml_edit::{Item, Table};

use crate::error::{shown, RuleProblem, RulesError, RulesErrors};
use crate::rule::{
    check_name, check_secs, closest, parse_condition, parse_torrent, Metrics, Rule, RuleSet, Severity,
    DEFAULT_COOLDOWN_SECS, MAX_RULES,
};

/// The keys of a `[[rule]]` table.
pub const RULE_KEYS: &[&str] =
    &["name", "metric", "condition", "severity", "cooldown_secs", "for_secs", "torrent", "enabled"];

/// The 1-based line of a byte offset in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Parses and checks a rules file. An empty file is an empty set. Every problem is reported, each
/// with its line; a rule with any problem makes the whole file refused (a half-loaded rule set
/// would silently drop alerts).
pub fn parse_rules(text: &str, metrics: &Metrics) -> Result<RuleSet, RulesErrors> {
    let line = |span: Option<std::ops::Range<usize>>| span.map(|s| line_of(text, s.start));
    let document = toml_edit::Document::parse(text).map_err(|e| RulesError {
        line: line(e.span()),
        problem: RuleProblem::Syntax(e.message().trim_end().to_owned()),
    })?;
    let root = document.as_table();
    let mut errors = Vec::new();
    let mut rules: Vec<(Rule, usize)> = Vec::new();
    for (key, item) in root.iter() {
        let key_line = line(root.key(key).and_then(|k| k.span()));
        match (key, item) {
            ("rule", Item::ArrayOfTables(tables)) => {
                for table in tables.iter() {
                    match parse_rule(text, table, metrics) {
                        Ok(rule) => rules.push(rule),
                        Err(mut problems) => errors.append(&mut problems),
                    }
                }
            }
            ("rule", _) => errors.push(RulesError { line: key_line, problem: RuleProblem::RuleNotTables }),
            _ => {
                let problem = RuleProblem::UnexpectedTopLevel { key: shown(key) };
                errors.push(RulesError { line: key_line, problem });
            }
        }
    }
    check_set(&rules, &mut errors);
    if errors.is_empty() {
        let rules = rules.into_iter().map(|(rule, _)| rule).collect();
        RuleSet::new(rules).map_err(|problem| RulesErrors::from(RulesError { line: None, problem }))
    } else {
        errors.sort_by_key(|e| e.line);
        Err(RulesErrors(errors))
    }
}

/// Duplicate names and the rule count, over the rules that parsed.
fn check_set(rules: &[(Rule, usize)], errors: &mut Vec<RulesError>) {
    for (i, (rule, line)) in rules.iter().enumerate() {
        if let Some((_, first_line)) = rules[..i].iter().find(|(r, _)| r.name == rule.name) {
            let problem = RuleProblem::Duplicate { name: rule.name.clone(), first_line: *first_line };
            errors.push(RulesError { line: Some(*line), problem });
        }
    }
    if let Some((_, line)) = rules.get(MAX_RULES) {
        errors.push(RulesError { line: Some(*line), problem: RuleProblem::TooMany { max: MAX_RULES } });
    }
}

/// A value of a rule and its line.
struct Field<'t> {
    value: &'t toml_edit::Value,
    line: Option<usize>,
}

/// The values of one `[[rule]]` table by key (unknown keys already reported).
#[derive(Default)]
struct Fields<'t> {
    found: Vec<(&'static str, Field<'t>)>,
}

impl<'t> Fields<'t> {
    fn get(&self, key: &str) -> Option<&Field<'t>> {
        self.found.iter().find(|(k, _)| *k == key).map(|(_, f)| f)
    }
}

/// One `[[rule]]` table: the rule and the line of its name (for duplicate reports), or every
/// problem in it.
fn parse_rule(text: &str, table: &Table, metrics: &Metrics) -> Result<(Rule, usize), Vec<RulesError>> {
    let line = |span: Option<std::ops::Range<usize>>| span.map(|s| line_of(text, s.start));
    let header_line = line(table.span());
    let mut errors = Vec::new();
    let mut fields = Fields::default();
    for (key, item) in table.iter() {
        let key_line = line(table.key(key).and_then(|k| k.span())).or(header_line);
        match (RULE_KEYS.iter().find(|k| **k == key), item.as_value()) {
            (Some(known), Some(value)) => fields.found.push((known, Field { value, line: key_line })),
            (Some(known), None) => {
                let problem = RuleProblem::WrongType { key: known, expected: expected_type(known) };
                errors.push(RulesError { line: key_line, problem });
            }
            (None, _) => {
                let suggestion = closest(key, RULE_KEYS.iter().copied());
                let problem = RuleProblem::UnknownKey { key: shown(key), suggestion };
                errors.push(RulesError { line: key_line, problem });
            }
        }
    }
    let mut check = Checker { fields: &fields, errors: &mut errors, header_line };
    let rule = check.rule(metrics);
    match rule {
        Some(rule) if errors.is_empty() => {
            let name_line = fields.get("name").and_then(|f| f.line).or(header_line).unwrap_or(1);
            Ok((rule, name_line))
        }
        _ => Err(errors),
    }
}

fn expected_type(key: &str) -> &'static str {
    match key {
        "cooldown_secs" | "for_secs" => "a whole number of seconds",
        "enabled" => "true or false",
        _ => "a string",
    }
}

/// Reads typed values out of [`Fields`], recording every problem.
struct Checker<'f, 't> {
    fields: &'f Fields<'t>,
    errors: &'f mut Vec<RulesError>,
    header_line: Option<usize>,
}

impl<'t> Checker<'_, 't> {
    /// The rule, or `None` when a required field is missing or bad (problems recorded).
    fn rule(&mut self, metrics: &Metrics) -> Option<Rule> {
        let name =
            self.string("name", true).and_then(|(name, line)| self.ok(line, check_name(name).map(|()| name)));
        let torrent = self.string("torrent", false).and_then(|(hex, line)| self.ok(line, parse_torrent(hex)));
        let metric = self.string("metric", true).and_then(|(metric, line)| {
            self.ok(line, metrics.check(metric, torrent.as_ref()).map(|()| metric))
        });
        let condition =
            self.string("condition", true).and_then(|(text, line)| self.ok(line, parse_condition(text)));
        let severity = match self.string("severity", false) {
            Some((text, line)) => self.ok(line, text.parse::<Severity>()),
            None => Some(Severity::Warning),
        };
        let cooldown_secs = self.secs("cooldown_secs", DEFAULT_COOLDOWN_SECS);
        let for_secs = self.secs("for_secs", 0);
        let enabled = self.bool("enabled", true);
        Some(Rule {
            name: name?.to_owned(),
            metric: metric?.to_owned(),
            condition: condition?,
            severity: severity?,
            cooldown_secs: cooldown_secs?,
            for_secs: for_secs?,
            torrent: if self.fields.get("torrent").is_some() { Some(torrent?) } else { None },
            enabled: enabled?,
        })
    }

    fn ok<T>(&mut self, line: Option<usize>, result: Result<T, RuleProblem>) -> Option<T> {
        result.map_err(|problem| self.errors.push(RulesError { line, problem })).ok()
    }

    /// A string field: `None` when absent (a problem if `required`) or not a string.
    fn string(&mut self, key: &'static str, required: bool) -> Option<(&'t str, Option<usize>)> {
        let fields: &Fields<'t> = self.fields;
        let Some(field) = fields.get(key) else {
            if required {
                self.errors
                    .push(RulesError { line: self.header_line, problem: RuleProblem::MissingKey { key } });
            }
            return None;
        };
        let line = field.line;
        let value = field.value.as_str();
        if value.is_none() {
            self.errors
                .push(RulesError { line, problem: RuleProblem::WrongType { key, expected: "a string" } });
        }
        value.map(|v| (v, line))
    }

    fn secs(&mut self, key: &'static str, default: u64) -> Option<u64> {
        let Some(field) = self.fields.get(key) else { return Some(default) };
        let line = field.line;
        match field.value.as_integer() {
            Some(value) => self.ok(line, check_secs(key, value)),
            None => self.ok(line, Err(RuleProblem::WrongType { key, expected: expected_type(key) })),
        }
    }

    fn bool(&mut self, key: &'static str, default: bool) -> Option<bool> {
        let Some(field) = self.fields.get(key) else { return Some(default) };
        let line = field.line;
        let value = field.value.as_bool();
        value.or_else(|| self.ok(line, Err(RuleProblem::WrongType { key, expected: expected_type(key) })))
    }
}
