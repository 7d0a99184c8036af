//! The history ring, its JSON file, and the file helpers.

use ccbt_alerts::fs::{load_history, load_rules, read_text, save_history, write_text};
use ccbt_alerts::history::{FORMAT, MAX_CAPACITY};
use ccbt_alerts::{
    AlertEvent, EventKind, FileError, History, HistoryError, Metrics, ResolveReason, Severity,
};
use ccbt_core::InfoHash;

fn event(at: u64) -> AlertEvent {
    AlertEvent {
        kind: if at % 2 == 0 { EventKind::Fired } else { EventKind::Resolved },
        rule: format!("r{at}"),
        severity: Severity::Critical,
        metric: "ccbt_connected_peers".into(),
        torrent: (at % 3 == 0).then_some(InfoHash([at as u8; 20])),
        value: (at % 5 != 0).then_some(at as f64 + 0.5),
        at,
        fired_at: (at % 2 == 1).then(|| at - 1),
        reason: (at % 2 == 1).then_some(ResolveReason::Cleared),
    }
}

fn filled(capacity: usize, count: u64) -> History {
    let mut h = History::new(capacity);
    for at in 0..count {
        h.push(event(at));
    }
    h
}

#[test]
fn the_ring_keeps_the_newest_and_numbers_grow() {
    let h = filled(3, 5);
    assert_eq!(h.len(), 3);
    let seqs: Vec<u64> = h.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [3, 4, 5]);
    let ats: Vec<u64> = h.iter().map(|r| r.event.at).collect();
    assert_eq!(ats, [2, 3, 4]);
    assert_eq!(h.next_seq(), 6);
    assert_eq!(h.after(3).map(|r| r.seq).collect::<Vec<_>>(), [4, 5]);
    assert_eq!(h.after(0).count(), 3, "older than the ring: everything kept");
    assert_eq!(h.after(5).count(), 0);
    assert_eq!(h.iter().next_back().map(|r| r.seq), Some(5));
}

#[test]
fn capacity_zero_keeps_nothing_and_large_capacities_are_clamped() {
    let mut h = History::new(0);
    assert_eq!(h.push(event(1)), 1);
    assert_eq!(h.push(event(2)), 2);
    assert!(h.is_empty());
    assert_eq!(History::new(usize::MAX).capacity(), MAX_CAPACITY);
}

#[test]
fn json_round_trips() {
    let h = filled(10, 7);
    let text = h.to_json();
    assert!(text.contains(&format!("\"format\": \"{FORMAT}\"")), "{text}");
    assert_eq!(History::from_json(&text, 10).unwrap(), h);
    // Loading into a smaller ring keeps the newest; numbering continues.
    let mut small = History::from_json(&text, 2).unwrap();
    assert_eq!(small.iter().map(|r| r.seq).collect::<Vec<_>>(), [6, 7]);
    assert_eq!(small.push(event(9)), 8);
}

#[test]
fn damaged_files_are_refused_with_where_and_why() {
    let good = filled(4, 4).to_json();
    let truncated = &good[..good.len() / 2];
    let e = History::from_json(truncated, 4).unwrap_err();
    assert!(matches!(e, HistoryError::Damaged { line, .. } if line > 1), "{e}");
    assert!(e.to_string().starts_with("damaged alert history (line "), "{e}");

    let e = History::from_json(
        "{\"format\": \"ccbt-alert-history\", \"version\": 1, \"next_seq\": 1, \"records\": [{\"seq\": 1}]}",
        4,
    )
    .unwrap_err();
    assert!(
        matches!(&e, HistoryError::Damaged { line: 1, message, .. } if message.contains("missing field")),
        "{e}"
    );

    let bad_hash = good.replacen(&"00".repeat(20), "zz", 1);
    assert_ne!(bad_hash, good, "the fixture has a torrent");
    let e = History::from_json(&bad_hash, 4).unwrap_err();
    assert!(e.to_string().contains("`zz` is not an info hash"), "{e}");

    let other = good.replace(FORMAT, "something-else");
    assert_eq!(History::from_json(&other, 4), Err(HistoryError::Format("something-else".into())));
    let future = good.replace("\"version\": 1", "\"version\": 9");
    assert_eq!(History::from_json(&future, 4), Err(HistoryError::Version { found: 9 }));
    let unordered = good.replace("\"seq\": 3", "\"seq\": 1");
    assert_eq!(History::from_json(&unordered, 4), Err(HistoryError::OutOfOrder { index: 2, seq: 1 }));
    assert!(matches!(History::from_json("", 4), Err(HistoryError::Damaged { .. })));
}

#[test]
fn a_stale_next_seq_never_reuses_a_number() {
    let text = filled(4, 4).to_json().replace("\"next_seq\": 5", "\"next_seq\": 2");
    let mut h = History::from_json(&text, 4).unwrap();
    assert_eq!(h.push(event(8)), 5);
}

#[test]
fn files_load_save_and_refuse_with_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts-history.json");
    assert!(load_history(&path, 5).unwrap().is_empty(), "a missing file is an empty history");
    let h = filled(5, 9);
    save_history(&path, &h).unwrap();
    assert_eq!(load_history(&path, 5).unwrap(), h);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, [std::ffi::OsString::from("alerts-history.json")], "no temporary file left");

    std::fs::write(&path, "{\"format\":").unwrap();
    let e = load_history(&path, 5).unwrap_err();
    assert!(matches!(e, FileError::History { .. }));
    assert!(e.to_string().starts_with(&format!("{}: damaged alert history (line 1", path.display())), "{e}");

    std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
    assert!(load_history(&path, 5).unwrap_err().to_string().ends_with("not UTF-8 text"));
    assert!(read_text(&path, 2).unwrap_err().to_string().contains("larger than 2 bytes"));
    assert!(read_text(dir.path(), 10).is_err(), "a folder is not a file");
}

#[test]
fn rules_files_load_with_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alerts.toml");
    let metrics = Metrics::new([("ccbt_connected_peers", true)]);
    assert!(load_rules(&path, &metrics).unwrap().is_empty(), "a missing file is no rules");
    write_text(
        &path,
        "[[rule]]\nname = \"a\"\nmetric = \"ccbt_connected_peers\"\ncondition = \"value < 1\"\n",
    )
    .unwrap();
    assert_eq!(load_rules(&path, &metrics).unwrap().len(), 1);
    write_text(&path, "[[rule]]\nname = \"a\"\nmetric = \"x\"\ncondition = \"value <\"\n").unwrap();
    let e = load_rules(&path, &metrics).unwrap_err();
    let shown = e.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2, "{shown}");
    assert!(lines[0].starts_with(&format!("{}:3: unknown metric `x`", path.display())), "{shown}");
    assert!(lines[1].starts_with(&format!("{}:4: condition `value <` at byte 7", path.display())), "{shown}");
}
