//! Snapshots of every screen drawn into ratatui's `TestBackend`, at a roomy 120x40 and at the
//! 80x24 a dashboard must stay readable in. The expected text lives in `tests/snapshots/`;
//! `UPDATE_SNAPSHOTS=1 cargo test -p bitonic --test render` rewrites it after a deliberate change
//! (then read the diff).

mod support;

use bitonic::view::keys::Key;
use bitonic::view::{App, Update};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use support::FakeFolders;

/// The screen's text, one line per row, trailing blanks cut.
fn draw(app: &mut App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|frame| bitonic::render::draw(frame, app)).unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn check(name: &str, app: &mut App) {
    for (width, height) in [(120, 40), (80, 24)] {
        let got = draw(app, width, height);
        let path = format!("{}/tests/snapshots/{name}-{width}x{height}.txt", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::create_dir_all(format!("{}/tests/snapshots", env!("CARGO_MANIFEST_DIR"))).unwrap();
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{path}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)"));
        assert!(got == want, "{name} at {width}x{height} differs from {path}:\n{got}");
    }
}

/// An app that has seen the fixture snapshot a few times (so the graphs have samples).
fn app() -> App {
    let mut app = App::default();
    app.on_update(Update::Connected("http://127.0.0.1:6890".to_owned()));
    for (i, factor) in [1u64, 3, 2, 5, 4, 6, 2, 1].iter().enumerate() {
        let mut snapshot = support::snapshot();
        snapshot.download_rate = factor * 512 * 1024;
        snapshot.upload_rate = (7 - (*factor).min(7)) * 64 * 1024;
        app.tick(i as u64);
        app.on_update(Update::Snapshot(Box::new(snapshot)));
    }
    app
}

fn press(app: &mut App, keys: &[Key]) {
    for &key in keys {
        app.on_key(key, &FakeFolders);
    }
}

#[test]
fn list_screen() {
    let mut app = app();
    press(&mut app, &[Key::Down]);
    check("list", &mut app);
}

#[test]
fn list_filtered_and_sorted() {
    let mut app = app();
    press(
        &mut app,
        &[
            Key::Char('s'),
            Key::Char('s'),
            Key::Char('r'),
            Key::Char('/'),
            Key::Char('i'),
            Key::Char('s'),
            Key::Char('o'),
            Key::Enter,
        ],
    );
    check("list-sorted-filtered", &mut app);
}

#[test]
fn list_empty_and_reconnecting() {
    let mut app = App::default();
    app.tick(3);
    check("connecting", &mut app);
    let mut app = self::app();
    app.tick(20);
    app.on_update(Update::Unreachable(
        "http://127.0.0.1:6890 does not answer (connection refused)".to_owned(),
    ));
    app.tick(26);
    check("reconnecting", &mut app);
}

#[test]
fn torrent_tabs() {
    let mut app = app();
    press(&mut app, &[Key::Enter]);
    app.on_update(Update::Limits(ccbt_api::TorrentLimitsView {
        info_hash: support::hash(1),
        download: 200 * 1024,
        upload: 0,
    }));
    check("tab-details", &mut app);
    press(&mut app, &[Key::Tab]);
    app.on_update(Update::Files(support::files(1)));
    press(&mut app, &[Key::Down]);
    check("tab-files", &mut app);
    press(&mut app, &[Key::Tab]);
    app.on_update(Update::Peers(support::peers(1)));
    check("tab-peers", &mut app);
    press(&mut app, &[Key::Tab]);
    app.on_update(Update::Trackers(support::trackers(1)));
    check("tab-trackers", &mut app);
    press(&mut app, &[Key::Tab]);
    app.on_update(Update::Pieces(support::pieces(1)));
    check("tab-pieces", &mut app);
}

#[test]
fn session_screen() {
    let mut app = app();
    let data = format!(r#"{{"info_hash":"{}","state":"paused"}}"#, support::hash(3));
    app.on_update(Update::Event { name: "state_changed".to_owned(), data });
    press(&mut app, &[Key::Char('S')]);
    app.on_update(Update::SessionLimits(ccbt_api::SessionLimitsView {
        download: 0,
        upload: 500 * 1024,
        peer_download: 0,
        peer_upload: 0,
    }));
    check("session", &mut app);
}

#[test]
fn session_screen_with_alerts() {
    let mut app = app();
    app.wall_clock = support::WALL_CLOCK;
    app.on_update(Update::Alerts(Box::new(support::alerts())));
    app.on_update(Update::AlertHistory(support::alert_history()));
    // The pending rule fires between two polls: the event stream tells.
    let mut fired = support::alert_event(4, "fired", "few-peers", support::WALL_CLOCK - 5);
    (fired.severity, fired.metric, fired.value) = ("info".into(), "ccbt_connected_peers".into(), Some(1.0));
    let data = serde_json::to_string(&fired).unwrap();
    app.on_update(Update::Event { name: "alert_fired".to_owned(), data });
    press(&mut app, &[Key::Char('S')]);
    check("session-alerts", &mut app);
}

#[test]
fn help_and_dialogs() {
    let mut app = app();
    press(&mut app, &[Key::Char('?')]);
    check("help", &mut app);
    press(&mut app, &[Key::Esc, Key::Char('d')]);
    check("remove", &mut app);
    press(&mut app, &[Key::Esc, Key::Char('a')]);
    for c in "/dl/".chars() {
        press(&mut app, &[Key::Char(c)]);
    }
    press(&mut app, &[Key::Tab]);
    check("add", &mut app);
}

/// Ten thousand torrents: only the window around the selection is drawn, at the bottom of the
/// list as well as at the top, and the title counts them all.
#[test]
fn thousands_of_torrents_draw_the_window_of_the_selection() {
    let mut app = App::default();
    let mut snapshot = support::snapshot();
    let template = snapshot.torrents[0].clone();
    snapshot.torrents = (0..10_000u32)
        .map(|i| {
            let mut t = template.clone();
            t.torrent.info_hash = format!("{i:040x}");
            t.torrent.name = format!("torrent-{i:05}");
            t
        })
        .collect();
    app.on_update(Update::Snapshot(Box::new(snapshot)));
    let top = draw(&mut app, 80, 24);
    assert!(top.contains("Torrents 10000/10000"), "{top}");
    assert!(top.contains("›torrent-00000") && !top.contains("torrent-00100"), "{top}");
    press(&mut app, &[Key::End]);
    let bottom = draw(&mut app, 80, 24);
    assert!(bottom.contains("›torrent-09999") && !bottom.contains("torrent-00000"), "{bottom}");
    press(&mut app, &[Key::PageUp]);
    let page = draw(&mut app, 80, 24);
    assert!(
        page.contains("›torrent-09989") && page.contains("torrent-09999"),
        "the window only scrolls as needed:\n{page}"
    );
}

/// Clicks land on what the screen shows: a torrent row, a tab title, a file line.
#[test]
fn clicks_hit_what_was_drawn() {
    let mut app = app();
    let screen = draw(&mut app, 120, 40);
    let row = screen.lines().position(|l| l.contains("ubuntu-24.04")).unwrap() as u16;
    app.on_click(5, row);
    assert_eq!(app.list.selected().unwrap().info_hash, support::hash(3));
    press(&mut app, &[Key::Enter]);
    app.on_update(Update::Files(support::files(3)));
    let screen = draw(&mut app, 120, 40);
    let tabs = screen.lines().position(|l| l.contains("Details │ Files")).unwrap() as u16;
    let files_x = screen.lines().nth(usize::from(tabs)).unwrap().find("Files").unwrap() as u16;
    app.on_click(files_x, tabs);
    assert_eq!(app.tab, bitonic::view::Tab::Files);
    let screen = draw(&mut app, 120, 40);
    let line = screen.lines().position(|l| l.contains("extras/sources.tar")).unwrap() as u16;
    app.on_click(30, line);
    assert_eq!(app.tab_line, 2);
    // Below the last file: nothing changes.
    app.on_click(30, line + 3);
    assert_eq!(app.tab_line, 2);
}
