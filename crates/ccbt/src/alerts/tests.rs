//! The alert service with an injected clock: cooldown, the persisted and bounded history,
//! reloads of an edited file (a broken one refused with its line, the old rules kept), and
//! edits through the service.

use std::path::Path;

use ccbt_alerts::{EventKind, NewRule, ResolveReason, Snapshot};

use super::edit::EditError;
use super::AlertService;

const DISK: &str = "ccbt_disk_queue_depth";

fn service(dir: &Path, capacity: usize) -> AlertService {
    AlertService::open(
        dir.join("alerts.toml"),
        dir.join("history.json"),
        capacity,
        ccbt_metrics::alert_metrics(),
        0,
    )
}

fn disk(value: f64) -> Snapshot {
    let mut s = Snapshot::new();
    s.set(DISK, None, value);
    s
}

fn write_rules(dir: &Path, text: &str) {
    std::fs::write(dir.join("alerts.toml"), text).unwrap();
}

const COOLING: &str = "[[rule]]\nname = \"deep\"\nmetric = \"ccbt_disk_queue_depth\"\ncondition = \"value > 10\"\ncooldown_secs = 60\n";

#[test]
fn cooldown_holds_a_refire_back_and_the_history_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path(), COOLING);
    let s = service(dir.path(), 100);
    let kinds =
        |records: Vec<ccbt_alerts::AlertRecord>| records.iter().map(|r| r.event.kind).collect::<Vec<_>>();
    assert_eq!(kinds(s.evaluate(&disk(20.0), 1000)), [EventKind::Fired]);
    assert_eq!(kinds(s.evaluate(&disk(0.0), 1001)), [EventKind::Resolved]);
    // True again at once, and for the whole cooldown: nothing fires.
    for now in [1002, 1030, 1060] {
        assert!(s.evaluate(&disk(20.0), now).is_empty(), "fired inside the cooldown at {now}");
    }
    assert_eq!(kinds(s.evaluate(&disk(20.0), 1061)), [EventKind::Fired]);
    s.save_history().unwrap();

    // The history outlives the service, and its numbers go on.
    drop(s);
    let s = service(dir.path(), 100);
    let (_, next, records) = s.history(0, 100);
    assert_eq!(
        records.iter().map(|r| (r.seq, r.event.at)).collect::<Vec<_>>(),
        [(1, 1000), (2, 1001), (3, 1061)]
    );
    assert_eq!(next, 4);
    assert_eq!(s.history(2, 100).2.len(), 1);
}

#[test]
fn the_history_keeps_the_newest_records_only() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path(), &COOLING.replace("cooldown_secs = 60", "cooldown_secs = 0"));
    let s = service(dir.path(), 3);
    for now in 0..10 {
        s.evaluate(&disk(if now % 2 == 0 { 20.0 } else { 0.0 }), now);
    }
    s.save_history().unwrap();
    let (capacity, next, records) = s.history(0, 100);
    assert_eq!((capacity, next), (3, 11));
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [8, 9, 10]);
    let saved = std::fs::read_to_string(dir.path().join("history.json")).unwrap();
    assert_eq!(saved.matches("\"seq\"").count(), 3);
}

#[test]
fn an_edited_file_is_reloaded_and_a_broken_one_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path(), COOLING);
    let s = service(dir.path(), 10);
    assert_eq!(s.evaluate(&disk(20.0), 1).len(), 1);
    assert!(s.reload_if_changed(2).is_empty(), "an unchanged file is not reloaded");

    // A mistake on line 4: refused, the old rule stays in force (and keeps firing).
    write_rules(dir.path(), &COOLING.replace("value > 10", "value >> 10"));
    assert!(s.reload_if_changed(3).is_empty());
    let error = s.with_state(|_, error| error.map(str::to_owned)).expect("an error");
    assert!(error.contains("alerts.toml:4:") && error.contains("value >> 10"), "{error}");
    assert_eq!(s.with_state(|e, _| e.firing().len()), 1);

    // Fixed, with the rule changed: its alert resolves and the new one is in force.
    write_rules(dir.path(), &COOLING.replace("value > 10", "value > 100"));
    let records = s.reload_if_changed(4);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].event.reason, Some(ResolveReason::RuleChanged));
    assert!(s.with_state(|_, error| error.is_none()));
    assert!(s.evaluate(&disk(20.0), 5).is_empty());
}

#[test]
fn edits_are_checked_like_the_file_and_take_effect_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = service(dir.path(), 10);
    let rule = |condition: &str| NewRule {
        name: "deep".into(),
        metric: DISK.into(),
        condition: condition.into(),
        ..NewRule::default()
    };
    let refused = s.add(&rule("value <"), 1).unwrap_err();
    assert!(matches!(refused, EditError::Invalid(_)), "{refused:?}");
    assert!(refused.to_string().contains("value <"), "{refused}");
    assert!(!dir.path().join("alerts.toml").exists(), "a refused rule was written");

    s.add(&rule("value > 10"), 1).unwrap();
    assert!(matches!(s.add(&rule("value > 5"), 1), Err(EditError::Exists(_))));
    assert_eq!(s.evaluate(&disk(20.0), 2).len(), 1);
    assert!(s.test("deep", "11").unwrap().holds);

    s.remove("deep", 3).unwrap();
    let (_, _, records) = s.history(0, 10);
    assert_eq!(records.last().unwrap().event.reason, Some(ResolveReason::RuleRemoved));
    assert!(matches!(s.remove("deep", 4), Err(EditError::Unknown(_))));
    assert!(s.wanted().is_empty());
}
