//! `ccbt alerts list | add | remove | test | history`: through the daemon's API while one runs
//! (it applies a change at once), else on the rules file and the history file directly.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use ccbt_alerts::fs::{load_history, load_rules};
use ccbt_alerts::{history::MAX_CAPACITY, NewRule, RuleSet};
use ccbt_api::{AlertEventView, AlertHistoryView, AlertRuleView, AlertTestView, AlertsView};
use ccbt_config::Effective;

use super::daemon::lock;
use super::remote::{self, Daemon};
use super::Exit;
use crate::alerts::{edit, history_path, rules_path};
use crate::alerts_args::{AlertsAddArgs, AlertsCommand, AlertsHistoryArgs};

pub fn run(command: &AlertsCommand, settings: &Effective) -> anyhow::Result<Exit> {
    let state_dir = &settings.config().disk.state_dir;
    let daemon = match lock::read_daemon(state_dir) {
        Some(_) => Some(remote::connect(state_dir)?),
        None => None,
    };
    match (command, daemon) {
        (AlertsCommand::List(args), daemon) => {
            let view = match daemon {
                Some(d) => d.get::<AlertsView>("/alerts")?,
                None => local_list(settings)?,
            };
            if args.json {
                println!("{}", serde_json::to_string_pretty(&view).context("cannot encode the rules")?);
            } else {
                print!("{}", rules_table(&view));
            }
            match &view.rules_error {
                Some(error) => {
                    eprintln!("error: the rules file is refused; the rules above stay in force:\n{error}");
                    Ok(Exit::Failure)
                }
                None => Ok(Exit::Success),
            }
        }
        (AlertsCommand::Add(args), Some(d)) => {
            let rule: AlertRuleView = d.post("/alerts/rules", &add_body(args))?;
            println!("added rule {} (the daemon applies it now)", rule.name);
            Ok(Exit::Success)
        }
        (AlertsCommand::Add(args), None) => {
            let path = rules_path(settings);
            let rule = edit::add(&path, &ccbt_metrics::alert_metrics(), &new_rule(args))?;
            println!("added rule {} to {}", rule.name, path.display());
            Ok(Exit::Success)
        }
        (AlertsCommand::Remove(args), Some(d)) => {
            d.delete(&format!("/alerts/rules/{}", segment(&args.name)))?;
            println!("removed rule {}", args.name);
            Ok(Exit::Success)
        }
        (AlertsCommand::Remove(args), None) => {
            let path = rules_path(settings);
            edit::remove(&path, &args.name)?;
            println!("removed rule {} from {}", args.name, path.display());
            Ok(Exit::Success)
        }
        (AlertsCommand::Test(args), daemon) => {
            let outcome = match daemon {
                Some(d) => {
                    let body = serde_json::json!({ "value": args.value });
                    d.post::<AlertTestView>(&format!("/alerts/rules/{}/test", segment(&args.name)), &body)?
                }
                None => {
                    let rules = local_rules(settings)?;
                    let outcome = rules.test(&args.name, &args.value)?;
                    AlertTestView { rule: args.name.clone(), value: outcome.value, holds: outcome.holds }
                }
            };
            let verdict = if outcome.holds { "holds: the alert would fire" } else { "does not hold" };
            println!("rule {}: value {} {verdict}", outcome.rule, outcome.value);
            Ok(Exit::Success)
        }
        (AlertsCommand::History(args), daemon) => history(args, daemon.as_ref(), settings),
    }
}

fn new_rule(args: &AlertsAddArgs) -> NewRule {
    NewRule {
        name: args.name.clone(),
        metric: args.metric.clone(),
        condition: args.condition.clone(),
        severity: args.severity.clone(),
        cooldown_secs: args.cooldown,
        for_secs: args.for_secs,
        torrent: args.torrent.clone(),
    }
}

fn add_body(args: &AlertsAddArgs) -> serde_json::Value {
    serde_json::json!({
        "name": args.name,
        "metric": args.metric,
        "condition": args.condition,
        "severity": args.severity,
        "cooldown_secs": args.cooldown,
        "for_secs": args.for_secs,
        "torrent": args.torrent,
    })
}

fn local_rules(settings: &Effective) -> anyhow::Result<RuleSet> {
    Ok(load_rules(&rules_path(settings), &ccbt_metrics::alert_metrics())?)
}

/// The rules of the file, without states (no session to evaluate them here).
fn local_list(settings: &Effective) -> anyhow::Result<AlertsView> {
    let rules = local_rules(settings)?;
    Ok(AlertsView {
        rules_file: rules_path(settings),
        rules_error: None,
        rules: rules
            .iter()
            .map(|r| AlertRuleView::new(r, if r.enabled { "-" } else { "disabled" }))
            .collect(),
        firing: Vec::new(),
        pending: Vec::new(),
    })
}

fn rules_table(view: &AlertsView) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail, hence the ignored results.
    let _ = writeln!(out, "rules file: {}", view.rules_file.display());
    if view.rules.is_empty() {
        let _ = writeln!(out, "no rules");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<20}  {:<8}  {:<8}  {:<44}  {:<24}  {:>5}  {:>8}  SCOPE",
        "NAME", "STATE", "SEVERITY", "METRIC", "CONDITION", "FOR", "COOLDOWN"
    );
    for r in &view.rules {
        let scope = r.torrent.as_deref().unwrap_or("all");
        let _ = writeln!(
            out,
            "{:<20}  {:<8}  {:<8}  {:<44}  {:<24}  {:>4}s  {:>7}s  {scope}",
            r.name, r.state, r.severity, r.metric, r.condition, r.for_secs, r.cooldown_secs
        );
    }
    for a in &view.firing {
        let scope = a.torrent.as_deref().unwrap_or("session");
        let _ = writeln!(
            out,
            "firing: {} on {scope}: {} = {} since {}",
            a.rule,
            a.metric,
            a.value,
            time(a.since)
        );
    }
    if view.rules.iter().all(|r| r.state == "-" || r.state == "disabled") {
        let _ = writeln!(out, "(no daemon runs: the states show while one does)");
    }
    out
}

fn history(args: &AlertsHistoryArgs, daemon: Option<&Daemon>, settings: &Effective) -> anyhow::Result<Exit> {
    let mut view = match daemon {
        Some(d) => d.get::<AlertHistoryView>("/alerts/history")?,
        None => local_history(&history_path(settings))?,
    };
    if let Some(last) = args.last {
        let skip = view.records.len().saturating_sub(last);
        view.records.drain(..skip);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&view).context("cannot encode the history")?);
    } else if view.records.is_empty() {
        println!("no alerts yet");
    } else {
        for r in &view.records {
            println!("{}", history_line(r));
        }
    }
    Ok(Exit::Success)
}

fn local_history(path: &Path) -> anyhow::Result<AlertHistoryView> {
    let history = load_history(path, MAX_CAPACITY)?;
    Ok(AlertHistoryView {
        capacity: history.capacity(),
        next_seq: history.next_seq(),
        records: history.iter().map(AlertEventView::from).collect(),
    })
}

fn history_line(r: &AlertEventView) -> String {
    let scope = r.torrent.as_deref().unwrap_or("session");
    let value = r.value.map_or_else(|| "-".to_owned(), |v| v.to_string());
    let mut line = format!(
        "#{:<5} {}  {:<8}  {:<20}  {:<8}  {} on {scope} = {value}",
        r.seq,
        time(r.at),
        r.kind,
        r.rule,
        r.severity,
        r.metric
    );
    if let Some(reason) = &r.reason {
        let _ = write!(line, " ({reason})");
    }
    line
}

/// Unix seconds as `2026-12-03T16:00:00Z`.
fn time(secs: u64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(at).to_string()
}

/// A rule name as a path segment: anything but unreserved characters percent-encoded (the
/// daemon then names a bad name in its answer).
fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
