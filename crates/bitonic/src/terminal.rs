//! The terminal loop: raw mode and the alternate screen (put back on every exit, panics
//! included), keys and mouse from crossterm, updates from the worker, a frame every 100 ms.

use std::io::{stdout, Stdout};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers,
    MouseButton, MouseEventKind,
};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::Terminal;

use crate::view::dialog::Entry;
use crate::view::keys::Key;
use crate::view::{App, Folders};
use crate::worker::Worker;

/// How long the loop waits for a key before drawing again (updates arrive in between).
const FRAME: Duration = Duration::from_millis(100);
/// At most this many entries of a folder are offered for completion.
const MAX_ENTRIES: usize = 10_000;

/// Runs the dashboard on this terminal for the daemon of `state_dir` until the user quits.
pub fn run(state_dir: PathBuf) -> std::io::Result<()> {
    let worker = Worker::start(state_dir)?;
    let mut terminal = enter()?;
    let result = event_loop(&mut terminal, &worker);
    let restored = leave(&mut terminal);
    result.and(restored)
}

fn enter() -> std::io::Result<Terminal<CrosstermBackend<Stdout>>> {
    // A panic prints after the terminal is put back, or its message would be lost.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = restore();
        previous(info);
    }));
    enable_raw_mode()?;
    if let Err(e) = execute!(stdout(), EnterAlternateScreen, EnableMouseCapture) {
        let _ = restore();
        return Err(e);
    }
    Terminal::new(CrosstermBackend::new(stdout()))
}

fn restore() -> std::io::Result<()> {
    let screen = execute!(stdout(), DisableMouseCapture, LeaveAlternateScreen);
    disable_raw_mode().and(screen)
}

fn leave(terminal: &mut Terminal<CrosstermBackend<Stdout>>) -> std::io::Result<()> {
    let restored = restore();
    terminal.show_cursor().and(restored)
}

fn event_loop(terminal: &mut Terminal<CrosstermBackend<Stdout>>, worker: &Worker) -> std::io::Result<()> {
    let started = Instant::now();
    let mut app = App::default();
    loop {
        app.tick(started.elapsed().as_secs());
        app.wall_clock = unix_now();
        while let Ok(update) = worker.updates.try_recv() {
            app.on_update(update);
        }
        worker.want(app.wants());
        terminal.draw(|frame| crate::render::draw(frame, &mut app))?;
        if app.quit {
            return Ok(());
        }
        if !event::poll(FRAME)? {
            continue;
        }
        match event::read()? {
            Event::Key(key) if key.kind != KeyEventKind::Release => {
                if let Some(key) = translate(key) {
                    for command in app.on_key(key, &FileSystem) {
                        worker.send(command);
                    }
                }
            }
            Event::Mouse(mouse) => match mouse.kind {
                MouseEventKind::Down(MouseButton::Left) => app.on_click(mouse.column, mouse.row),
                MouseEventKind::ScrollDown => app.on_scroll(true),
                MouseEventKind::ScrollUp => app.on_scroll(false),
                _ => {}
            },
            // A resize is drawn by the next frame; ratatui resizes its buffers itself.
            _ => {}
        }
    }
}

/// crossterm's key as the view's; None for keys the dashboard does not use.
fn translate(key: KeyEvent) -> Option<Key> {
    if key.modifiers.contains(KeyModifiers::CONTROL) {
        return matches!(key.code, KeyCode::Char('c')).then_some(Key::Interrupt);
    }
    Some(match key.code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::BackTab => Key::BackTab,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Delete => Key::Delete,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        _ => return None,
    })
}

/// `~/x` as a path in the home folder; other paths as they are.
pub fn expand_home(path: &Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// The real folders, for the add prompt's completion.
struct FileSystem;

impl Folders for FileSystem {
    fn list(&self, folder: &str) -> Vec<Entry> {
        let folder =
            if folder.is_empty() { Path::new(".").to_path_buf() } else { expand_home(Path::new(folder)) };
        let Ok(entries) = std::fs::read_dir(folder) else { return Vec::new() };
        entries
            .filter_map(Result::ok)
            .take(MAX_ENTRIES)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                // Follows symbolic links, so a link to a folder completes as a folder.
                let is_dir = std::fs::metadata(e.path()).map(|m| m.is_dir()).unwrap_or(false);
                Some(Entry { name, is_dir })
            })
            .collect()
    }
}

/// Unix seconds now (0 for a clock set before 1970).
fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_translate() {
        let key = |code, modifiers| translate(KeyEvent::new(code, modifiers));
        assert_eq!(key(KeyCode::Char('c'), KeyModifiers::CONTROL), Some(Key::Interrupt));
        assert_eq!(key(KeyCode::Char('x'), KeyModifiers::CONTROL), None);
        assert_eq!(key(KeyCode::Char('D'), KeyModifiers::SHIFT), Some(Key::Char('D')));
        assert_eq!(key(KeyCode::BackTab, KeyModifiers::SHIFT), Some(Key::BackTab));
        assert_eq!(key(KeyCode::F(5), KeyModifiers::NONE), None);
    }

    #[test]
    fn the_real_folders_list_torrents_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.torrent"), b"x").unwrap();
        let mut entries = FileSystem.list(&format!("{}/", dir.path().display()));
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(
            entries,
            [Entry { name: "a.torrent".into(), is_dir: false }, Entry { name: "sub".into(), is_dir: true }]
        );
        assert!(FileSystem.list("/no/such/folder/").is_empty());
    }
}
