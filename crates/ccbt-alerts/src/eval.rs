//! The evaluator: a state machine per rule and scope, stepped with a snapshot and the time.
//!
//! States: **ok** → (condition holds) → **pending** → (held `for_secs` and outside cooldown) →
//! **firing** → (condition fails, data gone, or rule removed) → ok. A scope is kept only while
//! it is pending, firing, or in its cooldown, so ok scopes cost nothing.

use std::collections::BTreeMap;

use ccbt_core::InfoHash;

use crate::event::{ActiveAlert, AlertEvent, EventKind, ResolveReason};
use crate::rule::{Rule, RuleSet};
use crate::snapshot::Snapshot;

/// The default of [`Evaluator::new`]'s `max_scopes_per_rule`.
pub const DEFAULT_MAX_SCOPES_PER_RULE: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Ok,
    /// The condition has held at every evaluation since `since`.
    Pending {
        since: u64,
    },
    /// Fired at `since`; `value` is the latest value seen.
    Firing {
        since: u64,
        value: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct ScopeState {
    phase: Phase,
    /// When the alert last resolved: the start of its cooldown.
    resolved_at: Option<u64>,
}

type Scopes = BTreeMap<Option<InfoHash>, ScopeState>;

/// The result of one [`Evaluator::evaluate`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    /// Fired and resolved alerts, in rule order, then scope order.
    pub events: Vec<AlertEvent>,
    /// Scopes whose condition held but were not tracked because their rule already tracked
    /// `max_scopes_per_rule` scopes (the caller may log this; it is 0 in normal use).
    pub untracked: usize,
}

/// Evaluates a rule set on successive snapshots. Pure: time is the caller's `now` (seconds on any
/// clock that does not go back; a smaller `now` than before counts as the previous one).
#[derive(Clone, Debug)]
pub struct Evaluator {
    rules: RuleSet,
    states: BTreeMap<String, Scopes>,
    max_scopes_per_rule: usize,
    last_now: u64,
}

impl Evaluator {
    /// `max_scopes_per_rule` bounds the scopes (torrents) one rule tracks at a time; a scope
    /// beyond it is skipped until others go back to ok (counted in [`Evaluation::untracked`]).
    pub fn new(rules: RuleSet, max_scopes_per_rule: usize) -> Self {
        Evaluator { rules, states: BTreeMap::new(), max_scopes_per_rule, last_now: 0 }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    /// Replaces the rules (after `alerts add/remove` or a file reload). A rule kept unchanged keeps
    /// its state (pending time, firing, cooldown); the alerts of a rule removed, disabled or
    /// changed resolve now (`RuleRemoved` / `RuleChanged`) and its state starts afresh.
    pub fn set_rules(&mut self, rules: RuleSet, now: u64) -> Vec<AlertEvent> {
        let now = self.clock(now);
        let mut events = Vec::new();
        let old = std::mem::replace(&mut self.rules, rules);
        for rule in &old {
            let reason = match self.rules.get(&rule.name) {
                Some(new) if new == rule && new.enabled => continue,
                Some(new) if new.enabled => ResolveReason::RuleChanged,
                _ => ResolveReason::RuleRemoved,
            };
            if let Some(scopes) = self.states.remove(&rule.name) {
                for (scope, state) in scopes {
                    if let Phase::Firing { since, .. } = state.phase {
                        events.push(resolved(rule, scope, None, now, since, reason));
                    }
                }
            }
        }
        // States of names that are in neither set (cannot happen through this API) are dropped.
        let rules = &self.rules;
        self.states.retain(|name, _| rules.get(name).is_some());
        events
    }

    /// Steps every enabled rule with `snapshot` at `now`.
    pub fn evaluate(&mut self, snapshot: &Snapshot, now: u64) -> Evaluation {
        let now = self.clock(now);
        let mut out = Evaluation::default();
        for rule in self.rules.iter().filter(|r| r.enabled) {
            let scopes = self.states.entry(rule.name.clone()).or_default();
            step_rule(rule, scopes, snapshot, now, self.max_scopes_per_rule, &mut out);
            if scopes.is_empty() {
                self.states.remove(&rule.name);
            }
        }
        out
    }

    /// The alerts firing now, in rule order, then scope order.
    pub fn firing(&self) -> Vec<ActiveAlert> {
        let mut active = Vec::new();
        for rule in &self.rules {
            for (scope, state) in self.states.get(&rule.name).into_iter().flatten() {
                if let Phase::Firing { since, value } = state.phase {
                    active.push(ActiveAlert {
                        rule: rule.name.clone(),
                        severity: rule.severity,
                        metric: rule.metric.clone(),
                        torrent: *scope,
                        value,
                        since,
                    });
                }
            }
        }
        active
    }

    /// The alerts whose condition holds but that have not fired yet (held less than `for_secs`,
    /// or in cooldown): `(rule, scope, since)`, in rule order, then scope order.
    pub fn pending(&self) -> Vec<(String, Option<InfoHash>, u64)> {
        let mut pending = Vec::new();
        for rule in &self.rules {
            for (scope, state) in self.states.get(&rule.name).into_iter().flatten() {
                if let Phase::Pending { since } = state.phase {
                    pending.push((rule.name.clone(), *scope, since));
                }
            }
        }
        pending
    }

    fn clock(&mut self, now: u64) -> u64 {
        self.last_now = self.last_now.max(now);
        self.last_now
    }
}

/// One rule: scopes that lost their value first, then every scope with a value.
fn step_rule(
    rule: &Rule,
    scopes: &mut Scopes,
    snapshot: &Snapshot,
    now: u64,
    max: usize,
    out: &mut Evaluation,
) {
    let present: Vec<(Option<InfoHash>, f64)> = match &rule.torrent {
        Some(hash) => snapshot.get(&rule.metric, Some(hash)).map(|v| (Some(*hash), v)).into_iter().collect(),
        None => snapshot.scopes(&rule.metric).collect(),
    };
    for (scope, state) in scopes.iter_mut() {
        if present.iter().any(|(s, _)| s == scope) {
            continue;
        }
        match state.phase {
            Phase::Firing { since, .. } => {
                out.events.push(resolved(rule, *scope, None, now, since, ResolveReason::NoData));
                *state = ScopeState { phase: Phase::Ok, resolved_at: Some(now) };
            }
            Phase::Pending { .. } => state.phase = Phase::Ok,
            Phase::Ok => {}
        }
    }
    let mut pruned = false;
    for (scope, value) in present {
        let holds = rule.condition.matches(value);
        if !scopes.contains_key(&scope) {
            if !holds {
                continue;
            }
            if scopes.len() >= max && !pruned {
                // Full: free the slots of scopes that went back to ok earlier in this step (once
                // per step, so a flood of new scopes costs one pass, not one each).
                scopes.retain(|_, state| state.phase != Phase::Ok || in_cooldown(rule, state, now));
                pruned = true;
            }
            if scopes.len() >= max {
                out.untracked += 1;
                continue;
            }
            scopes.insert(scope, ScopeState { phase: Phase::Ok, resolved_at: None });
        }
        if let Some(state) = scopes.get_mut(&scope) {
            out.events.extend(step_scope(rule, scope, state, holds, value, now));
        }
    }
    // Ok and out of cooldown: nothing left to remember.
    scopes.retain(|_, state| state.phase != Phase::Ok || in_cooldown(rule, state, now));
}

/// One scope of one rule, with this evaluation's value.
fn step_scope(
    rule: &Rule,
    scope: Option<InfoHash>,
    state: &mut ScopeState,
    holds: bool,
    value: f64,
    now: u64,
) -> Option<AlertEvent> {
    match (state.phase, holds) {
        (Phase::Ok, false) => None,
        (Phase::Pending { .. }, false) => {
            state.phase = Phase::Ok;
            None
        }
        (Phase::Firing { since, .. }, false) => {
            *state = ScopeState { phase: Phase::Ok, resolved_at: Some(now) };
            Some(resolved(rule, scope, Some(value), now, since, ResolveReason::Cleared))
        }
        (Phase::Firing { since, .. }, true) => {
            state.phase = Phase::Firing { since, value };
            None
        }
        (Phase::Ok | Phase::Pending { .. }, true) => {
            let since = match state.phase {
                Phase::Pending { since } => since,
                _ => now,
            };
            if now.saturating_sub(since) < rule.for_secs || in_cooldown(rule, state, now) {
                state.phase = Phase::Pending { since };
                return None;
            }
            state.phase = Phase::Firing { since: now, value };
            Some(AlertEvent {
                kind: EventKind::Fired,
                rule: rule.name.clone(),
                severity: rule.severity,
                metric: rule.metric.clone(),
                torrent: scope,
                value: Some(value),
                at: now,
                fired_at: None,
                reason: None,
            })
        }
    }
}

/// Whether the alert resolved less than `cooldown_secs` ago.
fn in_cooldown(rule: &Rule, state: &ScopeState, now: u64) -> bool {
    state.resolved_at.is_some_and(|at| now < at.saturating_add(rule.cooldown_secs))
}

fn resolved(
    rule: &Rule,
    scope: Option<InfoHash>,
    value: Option<f64>,
    now: u64,
    fired_at: u64,
    reason: ResolveReason,
) -> AlertEvent {
    AlertEvent {
        kind: EventKind::Resolved,
        rule: rule.name.clone(),
        severity: rule.severity,
        metric: rule.metric.clone(),
        torrent: scope,
        value,
        at: now,
        fired_at: Some(fired_at),
        reason: Some(reason),
    }
}
