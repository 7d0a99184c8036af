//! The evaluator: sequences of snapshots and the events they give, with for_secs, cooldown,
//! per-torrent scopes, missing data, rule changes and the scope cap.

use ccbt_alerts::{
    ActiveAlert, AlertEvent, Evaluator, EventKind, Metrics, NewRule, ResolveReason, Rule, RuleSet, Snapshot,
};
use ccbt_core::InfoHash;

const RATE: &str = "ccbt_download_rate_bytes_per_second";
const DISK: &str = "ccbt_disk_queue_depth";

fn metrics() -> Metrics {
    Metrics::new([(RATE, true), (DISK, false)])
}

fn rule(name: &str, metric: &str, condition: &str, cooldown: u64, for_secs: u64) -> Rule {
    NewRule {
        name: name.into(),
        metric: metric.into(),
        condition: condition.into(),
        cooldown_secs: Some(cooldown),
        for_secs: Some(for_secs),
        ..NewRule::default()
    }
    .validate(&metrics())
    .unwrap()
}

fn hash(byte: u8) -> InfoHash {
    InfoHash([byte; 20])
}

fn disk(value: f64) -> Snapshot {
    let mut s = Snapshot::new();
    s.set(DISK, None, value);
    s
}

/// `(kind, at, value)` of each event, the shape most tests check.
fn brief(events: &[AlertEvent]) -> Vec<(EventKind, u64, Option<f64>)> {
    events.iter().map(|e| (e.kind, e.at, e.value)).collect()
}

/// Runs `(now, value)` steps on one session-wide rule and returns every event.
fn run(rule: Rule, steps: &[(u64, f64)]) -> Vec<AlertEvent> {
    let mut ev = Evaluator::new(RuleSet::new(vec![rule]).unwrap(), 16);
    steps.iter().flat_map(|(now, value)| ev.evaluate(&disk(*value), *now).events).collect()
}

#[test]
fn fires_once_while_true_and_resolves_once() {
    let events =
        run(rule("q", DISK, "value > 100", 0, 0), &[(0, 5.0), (1, 150.0), (2, 200.0), (3, 50.0), (4, 10.0)]);
    assert_eq!(brief(&events), [(EventKind::Fired, 1, Some(150.0)), (EventKind::Resolved, 3, Some(50.0))]);
    let fired = &events[0];
    assert_eq!((fired.rule.as_str(), fired.metric.as_str(), fired.torrent), ("q", DISK, None));
    assert_eq!((fired.fired_at, fired.reason), (None, None));
    let resolved = &events[1];
    assert_eq!((resolved.fired_at, resolved.reason), (Some(1), Some(ResolveReason::Cleared)));
}

#[test]
fn for_secs_needs_the_condition_to_hold_at_every_evaluation_that_long() {
    let r = || rule("q", DISK, "value > 100", 0, 30);
    // Holds from 10; fires at the first evaluation 30 s later.
    let events = run(r(), &[(10, 200.0), (20, 200.0), (39, 200.0), (40, 200.0), (50, 200.0)]);
    assert_eq!(brief(&events), [(EventKind::Fired, 40, Some(200.0))]);
    // A dip restarts the count.
    let events = run(r(), &[(10, 200.0), (30, 5.0), (35, 200.0), (60, 200.0), (65, 200.0)]);
    assert_eq!(brief(&events), [(EventKind::Fired, 65, Some(200.0))]);
    // Never long enough: nothing.
    assert!(run(r(), &[(0, 200.0), (29, 200.0), (30, 1.0), (31, 200.0)]).is_empty());
}

#[test]
fn cooldown_holds_back_a_refire_and_fires_when_it_ends_if_still_true() {
    let r = rule("q", DISK, "value > 100", 60, 0);
    let events = run(
        r,
        &[
            (0, 200.0),   // fires
            (10, 5.0),    // resolves: cooldown until 70
            (20, 200.0),  // true again: held back
            (69, 200.0),  // still in cooldown
            (70, 200.0),  // cooldown over, still true: fires
            (80, 5.0),    // resolves: cooldown until 140
            (90, 200.0),  // held back
            (100, 5.0),   // clears during cooldown: nothing
            (140, 200.0), // after cooldown: fires at once
        ],
    );
    assert_eq!(
        brief(&events),
        [
            (EventKind::Fired, 0, Some(200.0)),
            (EventKind::Resolved, 10, Some(5.0)),
            (EventKind::Fired, 70, Some(200.0)),
            (EventKind::Resolved, 80, Some(5.0)),
            (EventKind::Fired, 140, Some(200.0)),
        ]
    );
}

#[test]
fn cooldown_and_for_secs_together() {
    // for_secs counts from when the condition started holding, also inside the cooldown.
    let r = rule("q", DISK, "value > 100", 50, 20);
    let events = run(r, &[(0, 200.0), (20, 200.0), (30, 1.0), (40, 200.0), (70, 200.0), (80, 200.0)]);
    assert_eq!(
        brief(&events),
        [
            (EventKind::Fired, 20, Some(200.0)),
            (EventKind::Resolved, 30, Some(1.0)),
            (EventKind::Fired, 80, Some(200.0))
        ]
    );
}

#[test]
fn a_zero_cooldown_refires_at_the_next_true_evaluation() {
    let events = run(rule("q", DISK, "value > 100", 0, 0), &[(0, 200.0), (1, 1.0), (2, 200.0)]);
    assert_eq!(brief(&events).len(), 3);
}

#[test]
fn an_unscoped_rule_on_a_per_torrent_metric_watches_each_torrent() {
    let r = rule("slow", RATE, "value < 1 KiB", 0, 0);
    let mut ev = Evaluator::new(RuleSet::new(vec![r]).unwrap(), 16);
    let mut s = Snapshot::new();
    s.set(RATE, Some(hash(2)), 100.0);
    s.set(RATE, Some(hash(1)), 5000.0);
    s.set(RATE, Some(hash(3)), 10.0);
    let events = ev.evaluate(&s, 0).events;
    let torrents: Vec<Option<InfoHash>> = events.iter().map(|e| e.torrent).collect();
    assert_eq!(torrents, [Some(hash(2)), Some(hash(3))], "info hash order");
    assert!(events.iter().all(|e| e.kind == EventKind::Fired));

    // Torrent 2 recovers, torrent 1 slows down, torrent 3 is removed (no data).
    let mut s = Snapshot::new();
    s.set(RATE, Some(hash(1)), 0.0);
    s.set(RATE, Some(hash(2)), 9000.0);
    let events = ev.evaluate(&s, 5).events;
    let seen: Vec<(EventKind, Option<InfoHash>, Option<ResolveReason>)> =
        events.iter().map(|e| (e.kind, e.torrent, e.reason)).collect();
    assert_eq!(
        seen,
        [
            (EventKind::Resolved, Some(hash(3)), Some(ResolveReason::NoData)),
            (EventKind::Fired, Some(hash(1)), None),
            (EventKind::Resolved, Some(hash(2)), Some(ResolveReason::Cleared)),
        ]
    );
    assert_eq!(events[0].value, None);
    assert_eq!(
        ev.firing(),
        [ActiveAlert {
            rule: "slow".into(),
            severity: ccbt_alerts::Severity::Warning,
            metric: RATE.into(),
            torrent: Some(hash(1)),
            value: 0.0,
            since: 5
        }]
    );
}

#[test]
fn a_scoped_rule_reads_only_its_torrent() {
    let mut r = rule("one", RATE, "value < 1 KiB", 0, 0);
    r.torrent = Some(hash(7));
    let mut ev = Evaluator::new(RuleSet::new(vec![r]).unwrap(), 16);
    let mut s = Snapshot::new();
    s.set(RATE, Some(hash(1)), 0.0);
    s.set(RATE, None, 0.0);
    assert!(ev.evaluate(&s, 0).events.is_empty());
    s.set(RATE, Some(hash(7)), 3.0);
    let events = ev.evaluate(&s, 1).events;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].torrent, Some(hash(7)));
}

#[test]
fn the_firing_list_follows_the_latest_value() {
    let mut ev = Evaluator::new(RuleSet::new(vec![rule("q", DISK, "value > 100", 0, 0)]).unwrap(), 16);
    ev.evaluate(&disk(150.0), 1);
    ev.evaluate(&disk(170.0), 2);
    let firing = ev.firing();
    assert_eq!((firing.len(), firing[0].value, firing[0].since), (1, 170.0, 1));
    ev.evaluate(&disk(1.0), 3);
    assert!(ev.firing().is_empty());
}

#[test]
fn missing_and_non_finite_values_count_as_no_data() {
    let mut ev = Evaluator::new(RuleSet::new(vec![rule("q", DISK, "value != 0", 0, 0)]).unwrap(), 16);
    assert_eq!(ev.evaluate(&disk(1.0), 0).events.len(), 1);
    let events = ev.evaluate(&disk(f64::NAN), 1).events;
    assert_eq!(brief(&events), [(EventKind::Resolved, 1, None)]);
    assert_eq!(events[0].reason, Some(ResolveReason::NoData));
    assert!(ev.evaluate(&disk(f64::INFINITY), 2).events.is_empty());
    assert!(ev.evaluate(&Snapshot::new(), 3).events.is_empty());
}

#[test]
fn disabled_rules_are_not_evaluated() {
    let mut r = rule("q", DISK, "value > 1", 0, 0);
    r.enabled = false;
    let mut ev = Evaluator::new(RuleSet::new(vec![r]).unwrap(), 16);
    assert!(ev.evaluate(&disk(5.0), 0).events.is_empty());
}

#[test]
fn replacing_rules_resolves_removed_and_changed_ones_and_keeps_the_rest() {
    let a = rule("a", DISK, "value > 1", 0, 0);
    let b = rule("b", DISK, "value > 2", 0, 0);
    let c = rule("c", DISK, "value > 3", 0, 0);
    let pending = rule("p", DISK, "value > 1", 0, 100);
    let mut ev =
        Evaluator::new(RuleSet::new(vec![a.clone(), b.clone(), c.clone(), pending.clone()]).unwrap(), 16);
    assert_eq!(ev.evaluate(&disk(10.0), 0).events.len(), 3);

    let b2 = rule("b", DISK, "value > 5", 0, 0);
    let mut c_off = c.clone();
    c_off.enabled = false;
    let events = ev.set_rules(RuleSet::new(vec![a, b2, c_off, pending]).unwrap(), 4);
    let seen: Vec<(&str, Option<ResolveReason>, Option<u64>)> =
        events.iter().map(|e| (e.rule.as_str(), e.reason, e.fired_at)).collect();
    assert_eq!(
        seen,
        [("b", Some(ResolveReason::RuleChanged), Some(0)), ("c", Some(ResolveReason::RuleRemoved), Some(0))]
    );
    assert!(events.iter().all(|e| e.kind == EventKind::Resolved && e.at == 4 && e.value.is_none()));

    // `a` stays firing (no new event); `b` fires afresh under its new condition; `p` kept its
    // pending time from 0, so it fires at 100.
    assert_eq!(ev.firing().iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(), ["a"]);
    let events = ev.evaluate(&disk(10.0), 5).events;
    assert_eq!(events.iter().map(|e| e.rule.as_str()).collect::<Vec<_>>(), ["b"]);
    let events = ev.evaluate(&disk(10.0), 100).events;
    assert_eq!(events.iter().map(|e| e.rule.as_str()).collect::<Vec<_>>(), ["p"]);

    let events = ev.set_rules(RuleSet::default(), 101);
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.reason == Some(ResolveReason::RuleRemoved)));
    assert!(ev.firing().is_empty());
}

#[test]
fn a_rule_tracks_at_most_its_scope_cap() {
    let r = rule("slow", RATE, "value < 10", 0, 0);
    let mut ev = Evaluator::new(RuleSet::new(vec![r]).unwrap(), 2);
    let mut s = Snapshot::new();
    for b in 1..=5 {
        s.set(RATE, Some(hash(b)), 0.0);
    }
    let out = ev.evaluate(&s, 0);
    assert_eq!(out.events.len(), 2);
    assert_eq!(out.untracked, 3);
    assert_eq!(out.events.iter().map(|e| e.torrent).collect::<Vec<_>>(), [Some(hash(1)), Some(hash(2))]);

    // Torrent 1 recovers; with a zero cooldown its slot frees and torrent 3 takes it.
    s.set(RATE, Some(hash(1)), 100.0);
    let out = ev.evaluate(&s, 1);
    let seen: Vec<(EventKind, Option<InfoHash>)> = out.events.iter().map(|e| (e.kind, e.torrent)).collect();
    assert_eq!(seen, [(EventKind::Resolved, Some(hash(1))), (EventKind::Fired, Some(hash(3)))]);
    assert_eq!(out.untracked, 2);
}

#[test]
fn time_never_goes_back() {
    let mut ev = Evaluator::new(RuleSet::new(vec![rule("q", DISK, "value > 1", 100, 0)]).unwrap(), 16);
    ev.evaluate(&disk(5.0), 1000);
    let events = ev.evaluate(&disk(0.0), 10);
    assert_eq!(
        brief(&events.events),
        [(EventKind::Resolved, 1000, Some(0.0))],
        "a step back counts as no time"
    );
    assert!(ev.evaluate(&disk(5.0), 1099).events.is_empty(), "still in cooldown");
    assert_eq!(ev.evaluate(&disk(5.0), 1100).events.len(), 1);
}

#[test]
fn events_serialise_as_flat_json() {
    let events = run(rule("q", DISK, "value > 100", 0, 0), &[(7, 150.0), (9, 1.0)]);
    let fired = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(
        fired,
        serde_json::json!({"kind": "fired", "rule": "q", "severity": "warning", "metric": DISK, "value": 150.0, "at": 7})
    );
    let resolved = serde_json::to_value(&events[1]).unwrap();
    assert_eq!(resolved["reason"], "cleared");
    assert_eq!(resolved["fired_at"], 7);
    let mut with_torrent = events[0].clone();
    with_torrent.torrent = Some(hash(0xab));
    let json = serde_json::to_string(&with_torrent).unwrap();
    assert!(json.contains(&format!("\"torrent\":\"{}\"", "ab".repeat(20))), "{json}");
    assert_eq!(serde_json::from_str::<AlertEvent>(&json).unwrap(), with_torrent);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// On any sequence of values and time steps: fired and resolved alternate (fired first),
        /// a fire comes only after the condition held for `for_secs` at every evaluation and
        /// outside the cooldown, a resolve only when the condition fails, and an alert whose
        /// condition held long enough after its cooldown does fire (no missed alert).
        #[test]
        fn fire_resolve_invariants(
            cooldown in 0u64..100,
            for_secs in 0u64..60,
            steps in proptest::collection::vec((0u64..40, 0u32..200), 1..120),
        ) {
            let r = rule("q", DISK, "value > 100", cooldown, for_secs);
            let mut ev = Evaluator::new(RuleSet::new(vec![r.clone()]).unwrap(), 4);
            let mut now = 0;
            // (time, holds) of every evaluation.
            let mut seen: Vec<(u64, bool)> = Vec::new();
            let mut firing = false;
            let mut last_resolve: Option<u64> = None;
            for (dt, value) in steps {
                now += dt;
                let value = f64::from(value);
                let holds = r.test(value);
                seen.push((now, holds));
                let events = ev.evaluate(&disk(value), now).events;
                prop_assert!(events.len() <= 1);
                let held_since = seen.iter().rev().take_while(|(_, h)| *h).last().map(|(t, _)| *t);
                match events.first().map(|e| e.kind) {
                    Some(EventKind::Fired) => {
                        prop_assert!(!firing, "fired twice");
                        prop_assert!(holds);
                        prop_assert!(now - held_since.unwrap() >= for_secs, "held {:?} < {for_secs}", held_since);
                        prop_assert!(last_resolve.is_none_or(|r| now >= r + cooldown), "inside cooldown");
                        firing = true;
                    }
                    Some(EventKind::Resolved) => {
                        prop_assert!(firing, "resolved without firing");
                        prop_assert!(!holds);
                        firing = false;
                        last_resolve = Some(now);
                    }
                    None => {
                        // Not firing although every condition to fire is met: a missed alert.
                        let due = holds
                            && now - held_since.unwrap_or(now) >= for_secs
                            && last_resolve.is_none_or(|r| now >= r + cooldown);
                        prop_assert!(firing || !due, "should have fired at {now}");
                        prop_assert!(!firing || holds, "should have resolved at {now}");
                    }
                }
                prop_assert_eq!(ev.firing().len(), usize::from(firing));
            }
        }
    }
}

#[test]
fn pending_lists_conditions_held_but_not_yet_fired() {
    let mut ev = Evaluator::new(RuleSet::new(vec![rule("q", DISK, "value > 100", 0, 10)]).unwrap(), 16);
    assert!(ev.evaluate(&disk(200.0), 5).events.is_empty());
    assert_eq!(ev.pending(), [("q".to_owned(), None, 5)]);
    assert!(ev.firing().is_empty());
    assert_eq!(ev.evaluate(&disk(200.0), 15).events.len(), 1);
    assert!(ev.pending().is_empty());
    assert_eq!(ev.firing().len(), 1);
    ev.evaluate(&disk(1.0), 16);
    assert!(ev.pending().is_empty() && ev.firing().is_empty());
}
