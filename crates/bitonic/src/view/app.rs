//! The whole dashboard state: what is shown, what the user is doing, and what the daemon last
//! said. Keys and worker updates go in; commands for the worker come out. No terminal, network
//! or clock here: the time (`now`, seconds) is passed in.

use std::collections::VecDeque;

use ccbt_api::{
    FileList, PeerList, PieceMapView, SessionLimitsView, SnapshotView, TorrentLimitsView, TrackerList,
};

use super::alerts::Alerts;
use super::dialog::{self, Dialog, Entry, Prompt, Purpose};
use super::history::RateHistory;
use super::keys::{self, Action, Context, Key};
use super::list::TorrentList;
use super::messages::{Command, Update};
use super::rows::{Row, State};

/// Samples kept for the rate graphs: ten minutes at one snapshot a second.
pub const HISTORY: usize = 600;
/// Lines of the event log kept.
pub const EVENT_LOG: usize = 200;
/// Rows one page key moves.
pub const PAGE: isize = 10;

/// The screen shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    List,
    Torrent,
    /// Rates, DHT, connections, queues, events.
    Session,
}

/// The tabs of the torrent screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Details,
    Files,
    Peers,
    Trackers,
    /// A map of the pieces: verified, and how many peers have them.
    Pieces,
}

impl Tab {
    pub const ALL: [Tab; 5] = [Tab::Details, Tab::Files, Tab::Peers, Tab::Trackers, Tab::Pieces];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Details => "Details",
            Tab::Files => "Files",
            Tab::Peers => "Peers",
            Tab::Trackers => "Trackers",
            Tab::Pieces => "Pieces",
        }
    }

    fn step(self, forward: bool) -> Tab {
        let at = Tab::ALL.iter().position(|&t| t == self).unwrap_or(0);
        let n = Tab::ALL.len();
        Tab::ALL[if forward { (at + 1) % n } else { (at + n - 1) % n }]
    }
}

/// Whether the daemon answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Connection {
    Connecting,
    Connected {
        url: String,
    },
    /// Polls fail since `since`: the last figures stay on screen, marked stale.
    Reconnecting {
        error: String,
        since: u64,
    },
}

/// The figures of the torrent whose tabs are open (fetched for the open tab only).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Detail {
    pub files: Option<FileList>,
    pub peers: Option<PeerList>,
    pub trackers: Option<TrackerList>,
    pub pieces: Option<PieceMapView>,
    /// Its rate limits (the details tab shows them; the limits prompt starts from them).
    pub limits: Option<TorrentLimitsView>,
}

/// What the poller should fetch besides the snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wants {
    pub torrent: Option<(String, TabData)>,
    /// The session's rate limits (the session screen shows them).
    pub session_limits: bool,
    /// The alert history (the session screen shows it; the alerts firing are always fetched,
    /// for the header).
    pub alert_history: bool,
}

/// The per-torrent call behind a tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TabData {
    Limits,
    Files,
    Peers,
    Trackers,
    Pieces,
}

/// A clickable place on screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
    pub target: Target,
}

impl Hit {
    fn contains(&self, x: u16, y: u16) -> bool {
        (self.x..self.x.saturating_add(self.width)).contains(&x)
            && (self.y..self.y.saturating_add(self.height)).contains(&y)
    }
}

/// What a click selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Rows of the torrent list, the first of them at this position among the rows shown.
    ListRow(usize),
    Tab(Tab),
    /// Lines of the files tab, the first of them this file.
    TabLine(usize),
}

/// A line of the status bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub text: String,
    pub error: bool,
}

/// Reads folders for the add prompt's completion (the terminal layer gives the real file
/// system; tests give a fixed listing).
pub trait Folders {
    /// The entries of `folder` (`""` is the current folder, `~/` the home folder); none when it
    /// cannot be read.
    fn list(&self, folder: &str) -> Vec<Entry>;
}

/// The dashboard.
#[derive(Debug)]
pub struct App {
    pub list: TorrentList,
    pub screen: Screen,
    pub tab: Tab,
    pub dialog: Option<Dialog>,
    /// The help overlay, and its first line shown.
    pub help: Option<usize>,
    pub snapshot: Option<SnapshotView>,
    pub history: RateHistory,
    /// The open torrent (by info hash) and its tab figures.
    pub open: Option<String>,
    pub detail: Detail,
    /// The selected line of the open tab (files), or the first line shown (peers, trackers).
    pub tab_line: usize,
    pub connection: Connection,
    /// When the last snapshot arrived.
    pub last_update: Option<u64>,
    pub message: Option<Message>,
    pub events: VecDeque<String>,
    /// The time now, seconds (set by [`App::tick`]).
    pub now: u64,
    /// The session's rate limits, once fetched.
    pub session_limits: Option<SessionLimitsView>,
    pub alerts: Alerts,
    /// Unix seconds now (set by the terminal loop next to [`App::tick`]), for the daemon's
    /// alert times.
    pub wall_clock: u64,
    /// What was drawn where, for the mouse (set while drawing).
    pub hits: Vec<Hit>,
    pub quit: bool,
}

impl Default for App {
    fn default() -> App {
        App {
            list: TorrentList::default(),
            screen: Screen::List,
            tab: Tab::Details,
            dialog: None,
            help: None,
            snapshot: None,
            history: RateHistory::new(HISTORY),
            open: None,
            detail: Detail::default(),
            tab_line: 0,
            connection: Connection::Connecting,
            last_update: None,
            message: None,
            events: VecDeque::new(),
            now: 0,
            session_limits: None,
            alerts: Alerts::default(),
            wall_clock: 0,
            hits: Vec::new(),
            quit: false,
        }
    }
}

impl App {
    pub fn tick(&mut self, now: u64) {
        self.now = now;
    }

    /// What the poller should fetch for the screen shown.
    pub fn wants(&self) -> Wants {
        let data = match (self.screen, self.tab) {
            (Screen::Torrent, Tab::Details) => Some(TabData::Limits),
            (Screen::Torrent, Tab::Files) => Some(TabData::Files),
            (Screen::Torrent, Tab::Peers) => Some(TabData::Peers),
            (Screen::Torrent, Tab::Trackers) => Some(TabData::Trackers),
            (Screen::Torrent, Tab::Pieces) => Some(TabData::Pieces),
            _ => None,
        };
        let session = self.screen == Screen::Session;
        Wants { torrent: self.open.clone().zip(data), session_limits: session, alert_history: session }
    }

    /// The open torrent's row (built from the snapshot: the filter may hide it from the list).
    pub fn open_row(&self) -> Option<Row> {
        let hash = self.open.as_deref()?;
        let torrents = &self.snapshot.as_ref()?.torrents;
        let at = torrents.iter().position(|t| t.torrent.info_hash == hash)?;
        Some(Row::new(at, &torrents[at]))
    }

    /// The open torrent's snapshot entry.
    pub fn open_snapshot(&self) -> Option<&ccbt_api::TorrentSnapshotView> {
        let hash = self.open.as_deref()?;
        self.snapshot.as_ref()?.torrents.iter().find(|t| t.torrent.info_hash == hash)
    }

    pub fn on_update(&mut self, update: Update) {
        match update {
            Update::Connected(url) => self.connection = Connection::Connected { url },
            Update::Snapshot(snapshot) => self.apply_snapshot(*snapshot),
            Update::Files(files) => self.keep_detail(&files.info_hash.clone(), |d| d.files = Some(files)),
            Update::Peers(peers) => self.keep_detail(&peers.info_hash.clone(), |d| d.peers = Some(peers)),
            Update::Trackers(trackers) => {
                self.keep_detail(&trackers.info_hash.clone(), |d| d.trackers = Some(trackers))
            }
            Update::Pieces(pieces) => {
                self.keep_detail(&pieces.info_hash.clone(), |d| d.pieces = Some(pieces))
            }
            Update::SessionLimits(limits) => self.session_limits = Some(limits),
            Update::Limits(limits) => {
                self.keep_detail(&limits.info_hash.clone(), |d| d.limits = Some(limits))
            }
            Update::Unreachable(error) => {
                let since = match &self.connection {
                    Connection::Reconnecting { since, .. } => *since,
                    _ => self.now,
                };
                self.connection = Connection::Reconnecting { error, since };
            }
            Update::Event { name, data } => {
                self.alerts.on_event(&name, &data);
                self.log_event(&name, &data)
            }
            Update::Alerts(view) => self.alerts.set(*view),
            Update::AlertHistory(history) => self.alerts.add_history(history),
            Update::AlertsUnavailable(why) => self.alerts.unavailable(why),
            Update::Done { what, error: None } => self.say(format!("done: {what}"), false),
            Update::Done { what, error: Some(error) } => self.say(format!("{what} failed: {error}"), true),
        }
    }

    fn apply_snapshot(&mut self, snapshot: SnapshotView) {
        self.history.push(snapshot.download_rate, snapshot.upload_rate);
        self.list.set_rows(snapshot.torrents.iter().enumerate().map(|(i, t)| Row::new(i, t)).collect());
        self.snapshot = Some(snapshot);
        self.last_update = Some(self.now);
        if let Some(hash) = &self.open {
            let gone = !self.snapshot.iter().flat_map(|s| &s.torrents).any(|t| &t.torrent.info_hash == hash);
            if gone {
                self.say("the open torrent was removed".to_owned(), false);
                self.close_torrent();
            }
        }
    }

    /// Stores tab figures when they are of the open torrent (a late answer for another is dropped).
    fn keep_detail(&mut self, info_hash: &str, store: impl FnOnce(&mut Detail)) {
        if self.open.as_deref() == Some(info_hash) {
            store(&mut self.detail);
        }
    }

    fn log_event(&mut self, name: &str, data: &str) {
        let torrents = self.snapshot.iter().flat_map(|s| &s.torrents);
        let name_of = |hash: &str| {
            torrents.clone().find(|t| t.torrent.info_hash == hash).map(|t| t.torrent.name.clone())
        };
        if let Some(line) = super::event_line::line(name, data, name_of) {
            if self.events.len() == EVENT_LOG {
                self.events.pop_front();
            }
            self.events.push_back(line);
        }
    }

    fn say(&mut self, text: String, error: bool) {
        self.message = Some(Message { text, error });
    }

    /// A key press; the commands it gives the worker.
    pub fn on_key(&mut self, key: Key, folders: &dyn Folders) -> Vec<Command> {
        if key == Key::Interrupt {
            self.quit = true;
            return Vec::new();
        }
        if self.dialog.is_some() {
            return self.dialog_key(key, folders);
        }
        if let Some(first) = self.help {
            self.help = match key {
                Key::Up | Key::Char('k') => Some(first.saturating_sub(1)),
                Key::Down | Key::Char('j') => Some(first + 1),
                Key::PageUp => Some(first.saturating_sub(PAGE as usize)),
                Key::PageDown => Some(first + PAGE as usize),
                Key::Char('q') => {
                    self.quit = true;
                    None
                }
                _ => None,
            };
            return Vec::new();
        }
        let contexts: &[Context] = match (self.screen, self.tab) {
            (Screen::List, _) => &[Context::List],
            (Screen::Torrent, Tab::Files) => &[Context::Files, Context::Torrent],
            (Screen::Torrent, _) => &[Context::Torrent],
            (Screen::Session, _) => &[],
        };
        match keys::action(contexts, key) {
            Some(action) => self.act(action),
            None if self.screen == Screen::Session
                && matches!(key, Key::Esc | Key::Left | Key::Char('h')) =>
            {
                self.screen = Screen::List;
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    fn act(&mut self, action: Action) -> Vec<Command> {
        self.message = None;
        match action {
            Action::Quit => self.quit = true,
            Action::Help => self.help = Some(0),
            Action::Up => self.move_by(-1),
            Action::Down => self.move_by(1),
            Action::PageUp => self.move_by(-PAGE),
            Action::PageDown => self.move_by(PAGE),
            Action::Top => self.move_by(isize::MIN / 2),
            Action::Bottom => self.move_by(isize::MAX / 2),
            Action::Open => self.open_selected(),
            Action::Back => self.close_torrent(),
            Action::NextTab | Action::PrevTab => self.switch(action == Action::NextTab),
            Action::GlobalScreen => {
                self.screen = if self.screen == Screen::Session { Screen::List } else { Screen::Session }
            }
            Action::Filter => {
                self.dialog = Some(Dialog::Prompt(Prompt::new(Purpose::Filter, self.list.filter())))
            }
            Action::NextSortKey => self.list.set_sort(self.list.sort.next(), self.list.descending),
            Action::ReverseSort => self.list.set_sort(self.list.sort, !self.list.descending),
            Action::Add => self.dialog = Some(Dialog::Prompt(Prompt::new(Purpose::Add, ""))),
            Action::SessionLimits => {
                // Starts from the limits in force when the session screen has fetched them.
                let current = self
                    .session_limits
                    .map(|l| format!("{} {}", l.download / 1024, l.upload / 1024))
                    .unwrap_or_default();
                self.dialog = Some(Dialog::Prompt(Prompt::new(Purpose::SessionLimits, &current)))
            }
            Action::PauseResume => return self.target().map(|r| pause_or_resume(&r)).into_iter().collect(),
            Action::Recheck => {
                return self.target().map(|r| Command::Recheck(r.info_hash)).into_iter().collect()
            }
            Action::Reannounce => {
                return self.target().map(|r| Command::Reannounce(r.info_hash)).into_iter().collect()
            }
            Action::Remove => {
                if let Some(r) = self.target() {
                    self.dialog = Some(Dialog::Remove { info_hash: r.info_hash, name: r.name });
                }
            }
            Action::TorrentLimits => {
                if let Some(r) = self.target() {
                    // Starts from the limits in force when the details tab has fetched them.
                    let current = match &self.detail.limits {
                        Some(l) if l.info_hash == r.info_hash => {
                            format!("{} {}", l.download / 1024, l.upload / 1024)
                        }
                        _ => String::new(),
                    };
                    let purpose = Purpose::TorrentLimits { info_hash: r.info_hash, name: r.name };
                    self.dialog = Some(Dialog::Prompt(Prompt::new(purpose, &current)));
                }
            }
            Action::PriorityUp => return self.file_priority(1),
            Action::PriorityDown => return self.file_priority(-1),
            Action::ToggleSkip => return self.file_priority(0),
        }
        Vec::new()
    }

    /// The torrent an action is for: the open one on its screen, else the list's selection.
    fn target(&self) -> Option<Row> {
        match self.screen {
            Screen::Torrent => self.open_row(),
            _ => self.list.selected().cloned(),
        }
    }

    fn move_by(&mut self, delta: isize) {
        match self.screen {
            Screen::List | Screen::Session => self.list.move_by(delta),
            Screen::Torrent => {
                let last = self.tab_lines().saturating_sub(1) as isize;
                self.tab_line = (self.tab_line as isize).saturating_add(delta).clamp(0, last.max(0)) as usize;
            }
        }
    }

    /// Lines of the open tab.
    fn tab_lines(&self) -> usize {
        match self.tab {
            Tab::Files => self.detail.files.as_ref().map_or(0, |f| f.files.len()),
            Tab::Peers => self.detail.peers.as_ref().map_or(0, |p| p.peers.len()),
            Tab::Trackers => self.detail.trackers.as_ref().map_or(0, |t| t.trackers.len()),
            Tab::Details | Tab::Pieces => 0,
        }
    }

    fn open_selected(&mut self) {
        if let Some(row) = self.list.selected() {
            self.open = Some(row.info_hash.clone());
            self.detail = Detail::default();
            self.tab_line = 0;
            self.screen = Screen::Torrent;
        }
    }

    fn close_torrent(&mut self) {
        self.open = None;
        self.detail = Detail::default();
        self.screen = Screen::List;
    }

    /// Tab: the next tab on the torrent screen, else between the list and the session screen.
    fn switch(&mut self, forward: bool) {
        match self.screen {
            Screen::Torrent => {
                self.tab = self.tab.step(forward);
                self.tab_line = 0;
            }
            Screen::List => self.screen = Screen::Session,
            Screen::Session => self.screen = Screen::List,
        }
    }

    /// Files tab: `step` 1 raises, -1 lowers, 0 toggles skip.
    fn file_priority(&mut self, step: i32) -> Vec<Command> {
        const LEVELS: [&str; 4] = ["skip", "low", "normal", "high"];
        let (Some(hash), Some(files)) = (self.open.clone(), self.detail.files.as_ref()) else {
            return Vec::new();
        };
        let Some(file) = files.files.get(self.tab_line) else { return Vec::new() };
        let at = LEVELS.iter().position(|&l| l == file.priority).unwrap_or(2);
        let new = match step {
            0 if at == 0 => 2,
            0 => 0,
            s => (at as i32 + s).clamp(0, 3) as usize,
        };
        if new == at {
            return Vec::new();
        }
        vec![Command::FilePriority { info_hash: hash, index: file.index, priority: LEVELS[new] }]
    }

    fn dialog_key(&mut self, key: Key, folders: &dyn Folders) -> Vec<Command> {
        match self.dialog.take() {
            Some(Dialog::Remove { info_hash, name }) => match key {
                Key::Char('y') | Key::Char('Y') => vec![Command::Remove { info_hash, delete_data: false }],
                Key::Char('D') => vec![Command::Remove { info_hash, delete_data: true }],
                Key::Char('n') | Key::Char('N') | Key::Esc | Key::Char('q') => Vec::new(),
                _ => {
                    self.dialog = Some(Dialog::Remove { info_hash, name });
                    Vec::new()
                }
            },
            Some(Dialog::Prompt(prompt)) => self.prompt_key(prompt, key, folders),
            None => Vec::new(),
        }
    }

    fn prompt_key(&mut self, mut prompt: Prompt, key: Key, folders: &dyn Folders) -> Vec<Command> {
        match key {
            Key::Esc => {
                if prompt.purpose == Purpose::Filter {
                    self.list.set_filter("");
                }
                return Vec::new();
            }
            Key::Enter => match submit(&prompt) {
                Ok(commands) => return commands,
                Err(error) => prompt.error = Some(error),
            },
            Key::Tab if prompt.purpose == Purpose::Add && !prompt.text.starts_with("magnet:") => {
                let (folder, _) = dialog::split_path(&prompt.text);
                let (text, candidates) = dialog::complete(&prompt.text, &folders.list(folder));
                prompt.text = text;
                prompt.candidates = candidates;
            }
            Key::Backspace => {
                prompt.text.pop();
            }
            Key::Char(c) => {
                prompt.text.push(c);
                prompt.error = None;
            }
            _ => {}
        }
        if prompt.purpose == Purpose::Filter {
            self.list.set_filter(&prompt.text);
        }
        self.dialog = Some(Dialog::Prompt(prompt));
        Vec::new()
    }

    /// A left click at column `x`, row `y`: selects the torrent, tab or file drawn there.
    pub fn on_click(&mut self, x: u16, y: u16) {
        if self.dialog.is_some() || self.help.is_some() {
            return;
        }
        let Some(hit) = self.hits.iter().find(|h| h.contains(x, y)).copied() else { return };
        let line = usize::from(y - hit.y);
        match hit.target {
            Target::ListRow(first) => self.list.select_position(first + line),
            Target::Tab(tab) => {
                self.tab = tab;
                self.tab_line = 0;
            }
            Target::TabLine(first) => {
                if first + line < self.tab_lines() {
                    self.tab_line = first + line;
                }
            }
        }
    }

    /// The mouse wheel: three rows up or down.
    pub fn on_scroll(&mut self, down: bool) {
        if self.dialog.is_none() && self.help.is_none() {
            self.move_by(if down { 3 } else { -3 });
        }
    }
}

fn pause_or_resume(row: &Row) -> Command {
    if row.state == State::Paused {
        Command::Resume(row.info_hash.clone())
    } else {
        Command::Pause(row.info_hash.clone())
    }
}

/// The commands of a prompt's Enter, or why its text is refused.
fn submit(prompt: &Prompt) -> Result<Vec<Command>, String> {
    let text = prompt.text.trim();
    match &prompt.purpose {
        Purpose::Filter => Ok(Vec::new()),
        Purpose::Add if text.is_empty() => Err("type a path or a magnet link".to_owned()),
        Purpose::Add if text.starts_with("magnet:") => Ok(vec![Command::AddMagnet(text.to_owned())]),
        Purpose::Add => Ok(vec![Command::AddFile(text.into())]),
        Purpose::TorrentLimits { info_hash, .. } => {
            let (down, up) = dialog::parse_limits(text)?;
            Ok(vec![Command::TorrentLimits { info_hash: info_hash.clone(), down, up }])
        }
        Purpose::SessionLimits => {
            let (down, up) = dialog::parse_limits(text)?;
            Ok(vec![Command::SessionLimits { down, up }])
        }
    }
}
