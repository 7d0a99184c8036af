//! The dashboard's state machine driven by keys and updates, without a terminal or daemon.

mod support;

use bitonic::view::app::Message;
use bitonic::view::dialog::{Dialog, Purpose};
use bitonic::view::keys::{Key, BINDINGS};
use bitonic::view::list::SortKey;
use bitonic::view::{App, Command, Connection, Hit, Screen, Tab, TabData, Target, Update};
use support::{hash, FakeFolders};

fn app() -> App {
    let mut app = App::default();
    app.on_update(Update::Snapshot(Box::new(support::snapshot())));
    app
}

fn keys(app: &mut App, keys: &[Key]) -> Vec<Command> {
    keys.iter().flat_map(|&k| app.on_key(k, &FakeFolders)).collect()
}

fn typed(app: &mut App, text: &str) -> Vec<Command> {
    text.chars().flat_map(|c| app.on_key(Key::Char(c), &FakeFolders)).collect()
}

#[test]
fn pause_resume_act_on_the_selection_by_state() {
    let mut app = app();
    assert_eq!(keys(&mut app, &[Key::Char('p')]), [Command::Pause(hash(1))]);
    // The paused ubuntu torrent resumes.
    assert_eq!(keys(&mut app, &[Key::Down, Key::Down, Key::Char(' ')]), [Command::Resume(hash(3))]);
    assert_eq!(
        keys(&mut app, &[Key::Char('c'), Key::Char('R')]),
        [Command::Recheck(hash(3)), Command::Reannounce(hash(3))]
    );
}

#[test]
fn remove_asks_first_and_can_delete_data() {
    let mut app = app();
    assert!(keys(&mut app, &[Key::Char('d')]).is_empty());
    assert!(matches!(&app.dialog, Some(Dialog::Remove { name, .. }) if name.starts_with("debian")));
    // Other keys leave the question open; `n` cancels.
    assert!(keys(&mut app, &[Key::Char('x'), Key::Char('p')]).is_empty());
    assert!(app.dialog.is_some());
    assert!(keys(&mut app, &[Key::Char('n')]).is_empty());
    assert!(app.dialog.is_none());
    assert_eq!(
        keys(&mut app, &[Key::Char('d'), Key::Char('y')]),
        [Command::Remove { info_hash: hash(1), delete_data: false }]
    );
    assert_eq!(
        keys(&mut app, &[Key::Delete, Key::Char('D')]),
        [Command::Remove { info_hash: hash(1), delete_data: true }]
    );
    assert!(keys(&mut app, &[Key::Char('d'), Key::Esc]).is_empty());
}

#[test]
fn filter_applies_while_typing_and_esc_clears_it() {
    let mut app = app();
    keys(&mut app, &[Key::Char('/')]);
    typed(&mut app, "ARCH");
    assert_eq!(app.list.visible_len(), 1);
    assert_eq!(app.list.selected().unwrap().info_hash, hash(2));
    keys(&mut app, &[Key::Enter]);
    assert!(app.dialog.is_none());
    assert_eq!(app.list.filter(), "ARCH", "Enter keeps the filter");
    // A new snapshot keeps the filter and the selection.
    app.on_update(Update::Snapshot(Box::new(support::snapshot())));
    assert_eq!(app.list.visible_len(), 1);
    keys(&mut app, &[Key::Char('/'), Key::Backspace, Key::Esc]);
    assert_eq!(app.list.filter(), "");
    assert_eq!(app.list.visible_len(), 3);
}

#[test]
fn sort_keys_cycle_and_reverse() {
    let mut app = app();
    keys(&mut app, &[Key::Char('s')]);
    assert_eq!(app.list.sort, SortKey::Name);
    let names: Vec<_> = app.list.visible().map(|r| r.name.clone()).collect();
    assert!(names[0].starts_with("arch") && names[2].starts_with("ubuntu"));
    keys(&mut app, &[Key::Char('r')]);
    assert!(app.list.descending);
    assert!(app.list.visible().next().unwrap().name.starts_with("ubuntu"));
}

#[test]
fn add_prompt_completes_paths_and_takes_magnets() {
    let mut app = app();
    keys(&mut app, &[Key::Char('a')]);
    typed(&mut app, "/dl/de");
    keys(&mut app, &[Key::Tab]);
    let Some(Dialog::Prompt(prompt)) = &app.dialog else { panic!("no prompt") };
    assert_eq!(prompt.text, "/dl/debian.torrent");
    assert_eq!(keys(&mut app, &[Key::Enter]), [Command::AddFile("/dl/debian.torrent".into())]);
    keys(&mut app, &[Key::Char('a')]);
    assert!(keys(&mut app, &[Key::Enter]).is_empty(), "an empty line is refused");
    assert!(matches!(&app.dialog, Some(Dialog::Prompt(p)) if p.error.is_some()));
    typed(&mut app, "magnet:?xt=urn:btih:abc");
    // Tab inside a magnet link completes nothing.
    keys(&mut app, &[Key::Tab]);
    assert_eq!(keys(&mut app, &[Key::Enter]), [Command::AddMagnet("magnet:?xt=urn:btih:abc".to_owned())]);
}

#[test]
fn limits_prompts_check_their_numbers() {
    let mut app = app();
    keys(&mut app, &[Key::Char('t')]);
    assert!(
        matches!(&app.dialog, Some(Dialog::Prompt(p)) if matches!(p.purpose, Purpose::TorrentLimits { .. }))
    );
    typed(&mut app, "100");
    assert!(keys(&mut app, &[Key::Enter]).is_empty());
    typed(&mut app, " 20");
    assert_eq!(
        keys(&mut app, &[Key::Enter]),
        [Command::TorrentLimits { info_hash: hash(1), down: 100 * 1024, up: 20 * 1024 }]
    );
    keys(&mut app, &[Key::Char('S')]);
    assert!(app.wants().session_limits, "the session screen shows the session's limits");
    app.on_update(Update::SessionLimits(ccbt_api::SessionLimitsView {
        download: 100 * 1024,
        upload: 0,
        peer_download: 0,
        peer_upload: 0,
    }));
    keys(&mut app, &[Key::Char('L')]);
    assert!(
        matches!(&app.dialog, Some(Dialog::Prompt(p)) if p.text == "100 0"),
        "the prompt starts from them"
    );
    keys(&mut app, &[Key::Backspace, Key::Backspace, Key::Backspace, Key::Backspace, Key::Backspace]);
    typed(&mut app, "0 0");
    assert_eq!(keys(&mut app, &[Key::Enter]), [Command::SessionLimits { down: 0, up: 0 }]);
}

#[test]
fn torrent_tabs_fetch_their_data_and_change_file_priorities() {
    let mut app = app();
    assert_eq!(app.wants().torrent, None);
    keys(&mut app, &[Key::Enter]);
    assert_eq!(app.screen, Screen::Torrent);
    assert_eq!(app.wants().torrent, Some((hash(1), TabData::Limits)), "the details tab shows the limits");
    app.on_update(Update::Limits(ccbt_api::TorrentLimitsView {
        info_hash: hash(1),
        download: 200 * 1024,
        upload: 0,
    }));
    keys(&mut app, &[Key::Char('t')]);
    assert!(
        matches!(&app.dialog, Some(Dialog::Prompt(p)) if p.text == "200 0"),
        "the prompt starts from the limits"
    );
    keys(&mut app, &[Key::Esc]);
    keys(&mut app, &[Key::Tab]);
    assert_eq!(app.tab, Tab::Files);
    assert_eq!(app.wants().torrent, Some((hash(1), TabData::Files)));
    // Files of another torrent (a late answer) are not shown.
    app.on_update(Update::Files(support::files(2)));
    assert!(app.detail.files.is_none());
    app.on_update(Update::Files(support::files(1)));
    assert!(keys(&mut app, &[Key::Char('-'), Key::Char('+')]).len() == 2);
    assert_eq!(keys(&mut app, &[Key::Down, Key::Char('+')]), Vec::<Command>::new(), "README is already high");
    assert_eq!(
        keys(&mut app, &[Key::Down, Key::Char(' ')]),
        [Command::FilePriority { info_hash: hash(1), index: 2, priority: "normal" }],
        "space downloads a skipped file again"
    );
    keys(&mut app, &[Key::Down]);
    assert_eq!(app.tab_line, 2, "the cursor stops at the last file");
    keys(&mut app, &[Key::Tab]);
    assert_eq!(app.wants().torrent, Some((hash(1), TabData::Peers)));
    keys(&mut app, &[Key::BackTab, Key::BackTab, Key::BackTab]);
    assert_eq!(app.tab, Tab::Pieces);
    assert_eq!(app.wants().torrent, Some((hash(1), TabData::Pieces)));
    // Actions on the torrent screen are for the open torrent.
    assert_eq!(keys(&mut app, &[Key::Char('p')]), [Command::Pause(hash(1))]);
    keys(&mut app, &[Key::Esc]);
    assert_eq!(app.screen, Screen::List);
    assert_eq!(app.wants().torrent, None);
}

#[test]
fn a_removed_open_torrent_closes_its_view() {
    let mut app = app();
    keys(&mut app, &[Key::Enter]);
    let mut snapshot = support::snapshot();
    snapshot.torrents.remove(0);
    app.on_update(Update::Snapshot(Box::new(snapshot)));
    assert_eq!(app.screen, Screen::List);
    assert_eq!(app.list.selected().unwrap().info_hash, hash(2));
}

#[test]
fn reconnecting_keeps_the_first_failure_time_and_the_figures() {
    let mut app = app();
    app.tick(10);
    app.on_update(Update::Unreachable("refused".to_owned()));
    app.tick(15);
    app.on_update(Update::Unreachable("timed out".to_owned()));
    assert_eq!(app.connection, Connection::Reconnecting { error: "timed out".to_owned(), since: 10 });
    assert_eq!(app.list.visible_len(), 3, "the last figures stay");
    app.on_update(Update::Connected("http://127.0.0.1:1".to_owned()));
    assert!(matches!(app.connection, Connection::Connected { .. }));
}

#[test]
fn events_are_logged_with_names_and_bounded() {
    let mut app = app();
    let data = format!(r#"{{"info_hash":"{}","state":"paused"}}"#, hash(1));
    app.on_update(Update::Event { name: "state_changed".to_owned(), data });
    assert_eq!(app.events.back().unwrap(), "state_changed  debian-12.5.0-amd64-netinst.iso  paused");
    app.on_update(Update::Event { name: "lagged".to_owned(), data: r#"{"missed":4}"#.to_owned() });
    assert_eq!(app.events.back().unwrap(), "lagged  4 events missed");
    for _ in 0..1000 {
        app.on_update(Update::Event { name: "torrent_added".to_owned(), data: "not json".to_owned() });
    }
    assert_eq!(app.events.len(), bitonic::view::app::EVENT_LOG);
    app.on_update(Update::Done { what: "pause 0101".to_owned(), error: Some("no such torrent".to_owned()) });
    assert_eq!(
        app.message,
        Some(Message { text: "pause 0101 failed: no such torrent".to_owned(), error: true })
    );
}

#[test]
fn help_opens_scrolls_and_q_quits_everywhere() {
    let mut app = app();
    keys(&mut app, &[Key::Char('?'), Key::Down, Key::Down]);
    assert_eq!(app.help, Some(2));
    keys(&mut app, &[Key::Esc]);
    assert_eq!(app.help, None);
    assert!(!app.quit);
    keys(&mut app, &[Key::Char('S')]);
    assert_eq!(app.screen, Screen::Session);
    keys(&mut app, &[Key::Char('q')]);
    assert!(app.quit);
    // Every binding has a help line.
    assert!(BINDINGS.iter().all(|b| !b.help.is_empty() && !b.label.is_empty()));
}

#[test]
fn mouse_clicks_select_the_row_under_the_pointer() {
    let mut app = app();
    app.hits = vec![Hit { x: 0, y: 3, width: 80, height: 10, target: Target::ListRow(0) }];
    app.on_click(10, 5);
    assert_eq!(app.list.selected().unwrap().info_hash, hash(3));
    app.on_click(10, 1);
    assert_eq!(app.list.selected().unwrap().info_hash, hash(3), "a click on the header selects nothing");
    app.on_scroll(false);
    assert_eq!(app.list.selected().unwrap().info_hash, hash(1));
}

#[test]
fn alerts_follow_polls_and_the_event_stream() {
    let mut app = app();
    assert!(!app.wants().alert_history, "the history is fetched for the session screen only");
    app.on_update(Update::Alerts(Box::new(support::alerts())));
    app.on_update(Update::AlertHistory(support::alert_history()));
    // The most severe first.
    let rules: Vec<&str> = app.alerts.firing().iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(rules, ["stalled", "slow"]);
    assert_eq!(app.alerts.pending().len(), 1);

    // "slow" resolves between two polls: it leaves the firing ones, the history gains it once.
    let resolved = support::alert_event(4, "resolved", "slow", support::WALL_CLOCK);
    let data = serde_json::to_string(&resolved).unwrap();
    app.on_update(Update::Event { name: "alert_resolved".to_owned(), data });
    let rules: Vec<&str> = app.alerts.firing().iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(rules, ["stalled"]);
    assert_eq!(app.events.back().unwrap(), "alert_resolved  slow (cleared)");
    // The next poll of the history brings the same record again.
    let mut history = support::alert_history();
    history.next_seq = 5;
    history.records = vec![resolved.clone()];
    app.on_update(Update::AlertHistory(history));
    let seqs: Vec<u64> = app.alerts.history.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);

    // "few-peers" fires: it leaves the pending ones.
    let mut fired = support::alert_event(5, "fired", "few-peers", support::WALL_CLOCK);
    fired.severity = "info".to_owned();
    let data = serde_json::to_string(&fired).unwrap();
    app.on_update(Update::Event { name: "alert_fired".to_owned(), data });
    let rules: Vec<&str> = app.alerts.firing().iter().map(|a| a.rule.as_str()).collect();
    assert_eq!(rules, ["stalled", "few-peers"]);
    assert!(app.alerts.pending().is_empty());

    keys(&mut app, &[Key::Char('S')]);
    assert!(app.wants().alert_history);
    // A daemon without alert routes.
    app.on_update(Update::AlertsUnavailable("not found".to_owned()));
    assert!(app.alerts.firing().is_empty());
    assert_eq!(app.alerts.status, bitonic::view::alerts::Status::Unavailable("not found".to_owned()));
}
