//! The alert service's state: the evaluator over the rules file, the bounded history, and the
//! subscribers of the event stream. Time is the caller's `now` (Unix seconds), so tests drive it.
//!
//! One mutex guards the state; it is held only to step the evaluator or read it, never across
//! file I/O of the history (its JSON is made under the lock, written after). Rule edits take a
//! second lock so two edits cannot interleave their read-modify-write of the file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use ccbt_alerts::fs::{load_history, load_rules, write_text};
use ccbt_alerts::{
    AlertEvent, AlertRecord, Evaluator, EventKind, FileError, History, Metrics, NewRule, Rule, RuleSet,
    Snapshot, TestError, TestOutcome, DEFAULT_MAX_SCOPES_PER_RULE,
};
use tokio::sync::broadcast;

use super::edit::{self, EditError};
use super::scope_name;

/// Events queued for a slow event-stream subscriber before it is told it lagged.
const SUBSCRIBER_QUEUE: usize = 256;

/// What identifies a version of the rules file on disk, to notice edits cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = std::fs::metadata(path).ok()?;
    Some(Stamp { modified: meta.modified().ok(), len: meta.len(), inode: meta.ino() })
}

struct State {
    evaluator: Evaluator,
    history: History,
    /// Records added since the history file was last written.
    unsaved: bool,
    /// The rules file as last loaded (None: missing).
    stamp: Option<Stamp>,
    /// Why the file was last refused (the rules before stay in force).
    rules_error: Option<String>,
}

/// Rules, their evaluation, and the history of one session.
pub struct AlertService {
    rules_path: PathBuf,
    history_path: PathBuf,
    metrics: Metrics,
    state: Mutex<State>,
    edits: Mutex<()>,
    events: broadcast::Sender<AlertRecord>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere cannot leave the evaluator half-stepped in a way worse than stopping.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AlertService {
    /// Loads the rules (a file with mistakes is logged and leaves no rules in force) and the
    /// history (a damaged one is moved aside to `<file>.damaged` and started afresh).
    /// `now` is the clock of every later call (Unix seconds in the running service).
    pub fn open(
        rules_path: PathBuf,
        history_path: PathBuf,
        capacity: usize,
        metrics: Metrics,
        now: u64,
    ) -> AlertService {
        let history = match load_history(&history_path, capacity) {
            Ok(history) => history,
            Err(e) => {
                let aside = history_path.with_extension("json.damaged");
                let _ = std::fs::rename(&history_path, &aside);
                tracing::warn!(error = %e, moved_to = %aside.display(), "alert history unreadable; starting a new one");
                History::new(capacity)
            }
        };
        let (events, _) = broadcast::channel(SUBSCRIBER_QUEUE);
        let state = State {
            evaluator: Evaluator::new(RuleSet::default(), DEFAULT_MAX_SCOPES_PER_RULE),
            history,
            unsaved: false,
            stamp: None,
            rules_error: None,
        };
        let service = AlertService {
            rules_path,
            history_path,
            metrics,
            state: Mutex::new(state),
            edits: Mutex::new(()),
            events,
        };
        service.reload(now);
        service
    }

    pub fn rules_path(&self) -> &Path {
        &self.rules_path
    }

    /// The metrics the enabled rules read (none: nothing to evaluate, no snapshot needed).
    pub fn wanted(&self) -> BTreeSet<String> {
        let state = lock(&self.state);
        state.evaluator.rules().iter().filter(|r| r.enabled).map(|r| r.metric.clone()).collect()
    }

    /// Steps every rule with `snapshot` at `now`; the events, recorded.
    pub fn evaluate(&self, snapshot: &Snapshot, now: u64) -> Vec<AlertRecord> {
        let mut state = lock(&self.state);
        let evaluation = state.evaluator.evaluate(snapshot, now);
        if evaluation.untracked > 0 {
            tracing::warn!(
                untracked = evaluation.untracked,
                "alert rules track too many torrents at once; some are skipped"
            );
        }
        self.record(&mut state, evaluation.events)
    }

    /// Loads the rules file again when it changed on disk since the last load.
    pub fn reload_if_changed(&self, now: u64) -> Vec<AlertRecord> {
        let changed = stamp(&self.rules_path) != lock(&self.state).stamp;
        if changed {
            self.reload(now)
        } else {
            Vec::new()
        }
    }

    /// Loads the rules file and puts its rules in force (alerts of removed or changed rules
    /// resolve); a file with mistakes is logged, and the rules before stay.
    fn reload(&self, now: u64) -> Vec<AlertRecord> {
        let before = stamp(&self.rules_path);
        let loaded = load_rules(&self.rules_path, &self.metrics);
        let mut state = lock(&self.state);
        state.stamp = before;
        match loaded {
            Ok(rules) => {
                if state.rules_error.take().is_some()
                    || !rules.is_empty()
                    || !state.evaluator.rules().is_empty()
                {
                    tracing::info!(file = %self.rules_path.display(), rules = rules.len(), "alert rules loaded");
                }
                let events = state.evaluator.set_rules(rules, now);
                self.record(&mut state, events)
            }
            Err(e) => {
                let message = e.to_string();
                if state.rules_error.as_deref() != Some(message.as_str()) {
                    tracing::warn!("alert rules refused, the previous rules stay in force:\n{message}");
                }
                state.rules_error = Some(message);
                Vec::new()
            }
        }
    }

    /// Adds a rule to the file and puts it in force at once.
    pub fn add(&self, rule: &NewRule, now: u64) -> Result<Rule, EditError> {
        let _edit = lock(&self.edits);
        let rule = edit::add(&self.rules_path, &self.metrics, rule)?;
        self.reload(now);
        Ok(rule)
    }

    /// Removes a rule from the file; its alerts resolve at once.
    pub fn remove(&self, name: &str, now: u64) -> Result<(), EditError> {
        let _edit = lock(&self.edits);
        edit::remove(&self.rules_path, name)?;
        self.reload(now);
        Ok(())
    }

    pub fn test(&self, name: &str, value: &str) -> Result<TestOutcome, TestError> {
        lock(&self.state).evaluator.rules().test(name, value)
    }

    /// Runs `f` on the rules in force, the alerts firing and pending, and the file's error.
    pub fn with_state<T>(&self, f: impl FnOnce(&Evaluator, Option<&str>) -> T) -> T {
        let state = lock(&self.state);
        f(&state.evaluator, state.rules_error.as_deref())
    }

    /// `(capacity, next_seq, records above after)`, at most `limit` of them.
    pub fn history(&self, after: u64, limit: usize) -> (usize, u64, Vec<AlertRecord>) {
        let state = lock(&self.state);
        let records = state.history.after(after).take(limit).cloned().collect();
        (state.history.capacity(), state.history.next_seq(), records)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<AlertRecord> {
        self.events.subscribe()
    }

    /// Writes the history file when records were added since the last write (blocking).
    pub fn save_history(&self) -> Result<(), FileError> {
        let _edit = lock(&self.edits);
        let json = {
            let mut state = lock(&self.state);
            if !state.unsaved {
                return Ok(());
            }
            state.unsaved = false;
            state.history.to_json()
        };
        let written = write_text(&self.history_path, &json);
        if written.is_err() {
            lock(&self.state).unsaved = true;
        }
        written
    }

    /// Numbers, logs and publishes `events`.
    fn record(&self, state: &mut State, events: Vec<AlertEvent>) -> Vec<AlertRecord> {
        let mut records = Vec::with_capacity(events.len());
        for event in events {
            log(&event);
            let seq = state.history.push(event.clone());
            state.unsaved = true;
            let record = AlertRecord { seq, event };
            // No subscriber is not an error.
            let _ = self.events.send(record.clone());
            records.push(record);
        }
        records
    }
}

fn log(e: &AlertEvent) {
    let scope = scope_name(e.torrent.as_ref());
    let value = e.value.map_or_else(|| "none".to_owned(), |v| v.to_string());
    match e.kind {
        EventKind::Fired => tracing::warn!(
            rule = %e.rule, metric = %e.metric, value = %value, scope = %scope, severity = %e.severity,
            "alert fired"
        ),
        EventKind::Resolved => {
            let reason = e.reason.and_then(|r| serde_json::to_value(r).ok());
            let reason = reason.as_ref().and_then(|r| r.as_str()).unwrap_or_default();
            tracing::info!(
                rule = %e.rule, metric = %e.metric, value = %value, scope = %scope, severity = %e.severity,
                reason = %reason, "alert resolved"
            )
        }
    }
}
