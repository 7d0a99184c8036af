//! `ccbt alerts add` and `remove`: edits of the rules file's text that keep its comments, order
//! and layout (toml_edit). They return the new text; the caller writes it.

use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

use crate::error::{shown, RuleProblem, RulesError, RulesErrors};
use crate::rule::{closest, Metrics, Rule, DEFAULT_COOLDOWN_SECS};
use crate::rules_file::{line_of, parse_rules};

/// Returns `text` with `rule` appended as a new `[[rule]]` table. The file must be valid as it is
/// (its errors are returned, with lines) and must not have a rule of the same name.
pub fn add_rule(text: &str, rule: &Rule, metrics: &Metrics) -> Result<String, RulesErrors> {
    let existing = parse_rules(text, metrics)?;
    if existing.get(&rule.name).is_some() {
        return Err(RulesError {
            line: None,
            problem: RuleProblem::AlreadyExists { name: rule.name.clone() },
        }
        .into());
    }
    let mut document = parse_mut(text)?;
    let mut table = rule_table(rule);
    if !text.trim().is_empty() {
        // Comments after the last rule stay where they are (before the new rule, not after it),
        // then a blank line between rules, as people write them.
        let trailing = document.trailing().as_str().unwrap_or_default().to_owned();
        document.set_trailing("");
        let before = format!("{document}{trailing}");
        let separator = if before.ends_with("\n\n") {
            ""
        } else if before.ends_with('\n') {
            "\n"
        } else {
            "\n\n"
        };
        table.decor_mut().set_prefix(format!("{trailing}{separator}"));
    }
    let rules = document.entry("rule").or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
    let Item::ArrayOfTables(rules) = rules else {
        // parse_rules accepted the file, so `rule` is an array of tables.
        return Err(RulesError { line: None, problem: RuleProblem::RuleNotTables }.into());
    };
    rules.push(table);
    let new_text = document.to_string();
    // The new text must load: a rule that would be refused is never written.
    parse_rules(&new_text, metrics)?;
    Ok(new_text)
}

/// Returns `text` without the rule named `name`. The rest of the file need not be valid (removing
/// a broken rule is how one repairs a file), only TOML. Comment lines directly above the rule's
/// `[[rule]]` header go with it; anything separated from the header by a blank line stays.
pub fn remove_rule(text: &str, name: &str) -> Result<String, RulesErrors> {
    let mut document = parse_mut(text)?;
    let Some(Item::ArrayOfTables(rules)) = document.get_mut("rule") else {
        return Err(unknown(name, std::iter::empty()));
    };
    let name_of = |t: &Table| t.get("name").and_then(Item::as_str).map(str::to_owned);
    let names: Vec<String> = rules.iter().filter_map(name_of).collect();
    let Some(index) = rules.iter().position(|t| name_of(t).as_deref() == Some(name)) else {
        return Err(unknown(name, names.iter().map(String::as_str)));
    };
    let removed = rules.remove(index);
    // Comments right above the header (no blank line between) belong to the rule and go with
    // it; whatever a blank line separates (a file header, notes) stays.
    let prefix = removed.decor().prefix().and_then(|p| p.as_str()).unwrap_or_default();
    let kept = kept_comments(prefix);
    match rules.get_mut(index) {
        Some(next) => {
            let next_prefix = next.decor().prefix().and_then(|p| p.as_str()).unwrap_or_default();
            let joined = join_prefix(kept, next_prefix);
            next.decor_mut().set_prefix(joined);
        }
        None => {
            let trailing = document.trailing().as_str().unwrap_or_default();
            let joined = join_prefix(kept, trailing);
            document.set_trailing(joined);
        }
    }
    if let Some(Item::ArrayOfTables(rules)) = document.get("rule") {
        if rules.is_empty() {
            document.remove("rule");
        }
    }
    Ok(document.to_string())
}

/// `kept` (ending with its blank line) before `next`, without piling up blank lines.
fn join_prefix(kept: &str, next: &str) -> String {
    if kept.trim().is_empty() {
        return next.to_owned();
    }
    let mut rest = next;
    while let Some(newline) = rest.find('\n') {
        if !rest[..newline].trim().is_empty() {
            break;
        }
        rest = &rest[newline + 1..];
    }
    format!("{kept}{rest}")
}

/// The part of a header's prefix up to and including its last blank line.
fn kept_comments(prefix: &str) -> &str {
    let mut end = 0;
    let mut line_start = 0;
    for (i, b) in prefix.bytes().enumerate() {
        if b == b'\n' {
            if prefix[line_start..i].trim().is_empty() {
                end = i + 1;
            }
            line_start = i + 1;
        }
    }
    &prefix[..end]
}

fn unknown<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> RulesErrors {
    let suggestion = closest(name, names);
    RulesError { line: None, problem: RuleProblem::UnknownRule { name: shown(name), suggestion } }.into()
}

fn parse_mut(text: &str) -> Result<DocumentMut, RulesErrors> {
    text.parse::<DocumentMut>().map_err(|e| {
        let line = e.span().map(|s| line_of(text, s.start));
        RulesError { line, problem: RuleProblem::Syntax(e.message().trim_end().to_owned()) }.into()
    })
}

/// The table of a rule; keys at their default are left out (the file stays short).
fn rule_table(rule: &Rule) -> Table {
    let mut table = Table::new();
    table.insert("name", value(rule.name.as_str()));
    table.insert("metric", value(rule.metric.as_str()));
    table.insert("condition", value(rule.condition.as_str()));
    table.insert("severity", value(rule.severity.as_str()));
    if rule.cooldown_secs != DEFAULT_COOLDOWN_SECS {
        table.insert("cooldown_secs", value(secs(rule.cooldown_secs)));
    }
    if rule.for_secs != 0 {
        table.insert("for_secs", value(secs(rule.for_secs)));
    }
    if let Some(torrent) = &rule.torrent {
        table.insert("torrent", value(torrent.to_hex()));
    }
    if !rule.enabled {
        table.insert("enabled", value(false));
    }
    table
}

/// Seconds as a TOML integer; rules hold at most `MAX_SECS`, far below `i64::MAX`.
fn secs(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX)
}
