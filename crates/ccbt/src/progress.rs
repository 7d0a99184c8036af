//! The one place for progress UI. On a terminal: indicatif bars (one per torrent, stacked by a
//! `MultiProgress`) redrawn a few times a second. Elsewhere (pipes, CI logs): a plain line when
//! something changed, at most every `--progress-interval` seconds. `--quiet`: nothing.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ccbt_engine::{TorrentState, TorrentStatus};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::ProgressArgs;
use crate::units::{average_rate, human_bytes, human_duration, human_rate};

/// Plain lines that would repeat the previous one are still printed this often, so a log shows
/// the process is alive.
const HEARTBEAT: Duration = Duration::from_secs(600);

/// A check shorter than this shows no progress at all (most resumed torrents check at once).
const QUIET_CHECK: Duration = Duration::from_secs(1);

/// The bars on screen, if any, so log lines and notes can be printed above them.
static BOARD: Mutex<Option<MultiProgress>> = Mutex::new(None);

/// The shared `MultiProgress` every bar of this process is added to.
fn board() -> MultiProgress {
    let mut guard = BOARD.lock().unwrap_or_else(|e| e.into_inner());
    guard
        .get_or_insert_with(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4)))
        .clone()
}

/// Runs `f` (which writes to stderr) with the progress bars hidden, if there are any.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    // Clone the handle out so the lock is not held while drawing.
    let board = BOARD.lock().ok().and_then(|guard| guard.clone());
    match board {
        Some(board) => board.suspend(f),
        None => f(),
    }
}

/// Prints a message line on stderr, above the progress bars if any are shown.
pub fn note(message: impl AsRef<str>) {
    suspend(|| eprintln!("{}", message.as_ref()));
}

/// How progress is shown, from the progress flags and whether stderr is a terminal.
#[derive(Clone, Copy, Debug)]
pub struct ProgressConfig {
    mode: Mode,
    interval: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Bar,
    Lines,
    Quiet,
}

impl ProgressConfig {
    /// The configuration for these flags and this process's stderr.
    pub fn new(flags: &ProgressArgs) -> ProgressConfig {
        let mode = if flags.quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        ProgressConfig { mode, interval: Duration::from_secs(flags.progress_interval) }
    }

    fn bar(&self, template: &str) -> Option<ProgressBar> {
        if self.mode != Mode::Bar {
            return None;
        }
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        Some(board().add(ProgressBar::new(0).with_style(style)))
    }
}

/// Why a torrent is not moving: shown after its progress; the reason (not the seconds waited)
/// decides whether a plain line is new.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StallHint {
    /// Seconds without a connected peer.
    pub waited_secs: u64,
    /// `no trackers; DHT off`.
    pub reason: String,
}

impl std::fmt::Display for StallHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no peers for {}s: {}", self.waited_secs, self.reason)
    }
}

/// Progress of one torrent in a running session, fed with status snapshots.
pub struct TorrentProgress {
    config: ProgressConfig,
    /// The torrent's name shown before its line when several torrents run at once.
    label: Option<String>,
    bar: Option<ProgressBar>,
    lines: LineClock,
    /// When the current check started (a short check shows nothing).
    checking_since: Option<Instant>,
}

/// When a plain line was last printed, and what it said (rates and ETA aside).
#[derive(Default)]
struct LineClock {
    last: Option<(Instant, String)>,
}

impl LineClock {
    /// Whether a line with this `key` is due: something changed and `interval` passed since the
    /// last line, or nothing changed for [`HEARTBEAT`].
    fn due(&mut self, key: String, now: Instant, interval: Duration) -> bool {
        let due = match &self.last {
            None => true,
            Some((at, last_key)) => {
                let since = now.saturating_duration_since(*at);
                since >= interval && (*last_key != key || since >= HEARTBEAT.max(interval))
            }
        };
        if due {
            self.last = Some((now, key));
        }
        due
    }
}

impl TorrentProgress {
    /// Prepares to show progress; nothing is drawn before the first [`TorrentProgress::update`].
    /// `label` names the torrent on its line (when several run at once).
    pub fn new(config: ProgressConfig, label: Option<String>) -> TorrentProgress {
        TorrentProgress { config, label, bar: None, lines: LineClock::default(), checking_since: None }
    }

    /// Shows `status`, with `hint` (why nothing moves) when there is one. After
    /// [`TorrentProgress::finish`] the next update draws a new bar (download, then seeding).
    pub fn update(&mut self, status: &TorrentStatus, hint: Option<&StallHint>, now: Instant) {
        if status.state == TorrentState::Checking {
            let since = *self.checking_since.get_or_insert(now);
            if now.saturating_duration_since(since) < QUIET_CHECK.max(self.quiet_check()) {
                return;
            }
        } else {
            self.checking_since = None;
        }
        if self.bar.is_none() {
            // Percent and byte counts both come from the bar's position and length, so one
            // redraw can never show them from different snapshots.
            self.bar = self.config.bar(
                "{prefix}{percent:>3}% [{wide_bar:.cyan/blue}] {binary_bytes}/{binary_total_bytes}  {msg}",
            );
        }
        if let Some(bar) = &self.bar {
            bar.set_prefix(format!("{}{}", self.label_text(), state_prefix(&status.state)));
            bar.set_message(bar_message(status, hint));
            bar.set_length(status.total_bytes.max(1));
            bar.set_position(status.bytes_have.min(status.total_bytes));
        } else if self.config.mode == Mode::Lines {
            let key = format!("{}{}", self.label_text(), line_key(status, hint));
            if self.lines.due(key, now, self.config.interval) {
                eprintln!("{}{}", self.label_text(), plain_line(status, hint));
            }
        }
    }

    /// In line mode a check is shown only once it lasted one progress interval.
    fn quiet_check(&self) -> Duration {
        if self.config.mode == Mode::Lines {
            self.config.interval
        } else {
            Duration::ZERO
        }
    }

    fn label_text(&self) -> String {
        self.label.as_ref().map_or_else(String::new, |name| format!("{}: ", short_name(name)))
    }

    /// Removes the bar (plain lines need no cleanup).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            board().remove(&bar);
        }
    }
}

impl Drop for TorrentProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A torrent name cut to 24 characters so several bars line up on a normal terminal.
fn short_name(name: &str) -> String {
    const MAX: usize = 24;
    if name.chars().count() <= MAX {
        name.to_owned()
    } else {
        let head: String = name.chars().take(MAX - 1).collect();
        format!("{head}…")
    }
}

fn state_prefix(state: &TorrentState) -> &'static str {
    match state {
        TorrentState::FetchingMetadata => "metadata ",
        TorrentState::Checking => "checking ",
        TorrentState::Seeding => "seeding ",
        TorrentState::Paused => "paused ",
        TorrentState::Downloading | TorrentState::Error(_) => "",
    }
}

fn eta_text(status: &TorrentStatus) -> String {
    if status.is_complete() {
        return "0s".to_owned();
    }
    status.eta_secs().map_or_else(|| "-".to_owned(), human_duration)
}

/// Download and upload rates as shown: payload only flows through connected peers, so with none
/// connected the rates are 0 (the engine's averages trail a disconnect by a few seconds).
fn shown_rates(s: &TorrentStatus) -> (u64, u64) {
    if s.connected_peers == 0 {
        (0, 0)
    } else {
        (s.download_rate, s.upload_rate)
    }
}

/// Percentage of verified bytes, from the same numbers the line shows next to it.
fn percent(s: &TorrentStatus) -> f64 {
    if s.total_bytes == 0 {
        return 0.0;
    }
    (s.bytes_have.min(s.total_bytes) as f64 * 100.0 / s.total_bytes as f64).clamp(0.0, 100.0)
}

/// `↓120.40 MiB/s ↑0 B/s  peers 3  ETA 5s` (the bar shows percent and bytes itself).
fn bar_message(s: &TorrentStatus, hint: Option<&StallHint>) -> String {
    let (down, up) = shown_rates(s);
    let mut text = format!(
        "↓{} ↑{}  peers {}  ETA {}",
        human_rate(down),
        human_rate(up),
        s.connected_peers,
        eta_text(s)
    );
    if let Some(hint) = hint {
        text.push_str(&format!("  {hint}"));
    }
    text
}

/// `[ 42.1%] 431.20 MiB/1.00 GiB  down 120.40 MiB/s  up 0 B/s  peers 3  eta 5s`, then the hint.
pub fn plain_line(s: &TorrentStatus, hint: Option<&StallHint>) -> String {
    let (down, up) = shown_rates(s);
    let mut line = format!(
        "[{}{:5.1}%] {}/{}  down {}  up {}  peers {}  eta {}",
        state_prefix(&s.state),
        percent(s),
        human_bytes(s.bytes_have),
        human_bytes(s.total_bytes),
        human_rate(down),
        human_rate(up),
        s.connected_peers,
        eta_text(s)
    );
    if let Some(hint) = hint {
        line.push_str(&format!("  ({hint})"));
    }
    line
}

/// What must change for a new plain line: phase, progress, peers or the hint (not the rates,
/// which move all the time on an idle seed).
fn line_key(s: &TorrentStatus, hint: Option<&StallHint>) -> String {
    let reason = hint.map_or("", |h| h.reason.as_str());
    format!("{}{:.1} {} {reason}", state_prefix(&s.state), percent(s), s.connected_peers)
}

/// Progress of a local job over a known number of bytes (hashing for `create` and `verify`).
/// Shared by reference with hashing threads, hence `&self` methods.
pub struct TaskProgress {
    label: &'static str,
    total: u64,
    bar: Option<ProgressBar>,
    lines: Option<Mutex<TaskClock>>,
}

struct TaskClock {
    started: Instant,
    last: Instant,
    interval: Duration,
}

impl TaskProgress {
    /// Starts a job called `label` (`hashing`, `checking`) over `total` bytes.
    pub fn new(config: ProgressConfig, label: &'static str, total: u64) -> TaskProgress {
        let bar = config.bar(
            "{prefix} {percent:>3}% [{wide_bar:.cyan/blue}] {binary_bytes}/{binary_total_bytes}  \
             {binary_bytes_per_sec}  ETA {eta}",
        );
        if let Some(bar) = &bar {
            bar.set_length(total);
            bar.set_prefix(label);
        }
        let lines = (config.mode == Mode::Lines).then(|| {
            let now = Instant::now();
            Mutex::new(TaskClock { started: now, last: now, interval: config.interval })
        });
        TaskProgress { label, total, bar, lines }
    }

    /// Reports that `done` of the total bytes are processed.
    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        } else if let Some(lines) = &self.lines {
            let Ok(mut clock) = lines.lock() else { return };
            let now = Instant::now();
            if now.saturating_duration_since(clock.last) >= clock.interval {
                clock.last = now;
                eprintln!("{}", task_line(self.label, done, self.total, now - clock.started));
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
            board().remove(bar);
        }
    }
}

impl Drop for TaskProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `[hashing  42.1%] 431.20 MiB/1.00 GiB  120.40 MiB/s  eta 5s`
fn task_line(label: &str, done: u64, total: u64, elapsed: Duration) -> String {
    let rate = average_rate(done, elapsed);
    let percent = if total == 0 { 100.0 } else { done as f64 * 100.0 / total as f64 };
    let eta = match total.saturating_sub(done).checked_div(rate) {
        Some(secs) => human_duration(secs),
        None => "-".to_owned(),
    };
    format!(
        "[{label} {:5.1}%] {}/{}  {}  eta {eta}",
        percent.clamp(0.0, 100.0),
        human_bytes(done),
        human_bytes(total),
        human_rate(rate)
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ccbt_core::InfoHash;
    use ccbt_engine::TorrentId;

    /// A status for tests; the one place that lists every field.
    pub(crate) fn status(state: TorrentState, have: u64, total: u64, down: u64) -> TorrentStatus {
        TorrentStatus {
            id: TorrentId(1),
            info_hash: InfoHash([0; 20]),
            name: "x".into(),
            save_path: ".".into(),
            state,
            pieces_have: (have / 1024) as u32,
            pieces_total: total.div_ceil(1024) as u32,
            bytes_have: have,
            total_bytes: total,
            progress: have as f64 / total as f64,
            download_rate: down,
            upload_rate: 0,
            downloaded: have,
            uploaded: 0,
            wasted: 0,
            connected_peers: 3,
            hash_failures: 0,
            banned_peers: 0,
            hashed_pieces: 0,
        }
    }

    fn lines(interval: u64) -> ProgressConfig {
        ProgressConfig { mode: Mode::Lines, interval: Duration::from_secs(interval) }
    }

    #[test]
    fn plain_lines() {
        let s = status(TorrentState::Downloading, 452_143_923, 1 << 30, 126_248_550);
        assert_eq!(
            plain_line(&s, None),
            "[ 42.1%] 431.20 MiB/1.00 GiB  down 120.40 MiB/s  up 0 B/s  peers 3  eta 4s"
        );
        let s = status(TorrentState::Seeding, 1 << 20, 1 << 20, 0);
        assert!(plain_line(&s, None).starts_with("[seeding 100.0%] 1.00 MiB/1.00 MiB"));
        assert!(plain_line(&s, None).ends_with("eta 0s"));
        let s = status(TorrentState::Downloading, 0, 1 << 20, 0);
        let hint = StallHint { waited_secs: 12, reason: "no trackers".into() };
        assert!(plain_line(&s, Some(&hint)).ends_with("eta -  (no peers for 12s: no trackers)"));
        // The seconds counting up alone do not make a new line.
        let later = StallHint { waited_secs: 99, ..hint.clone() };
        assert_eq!(line_key(&s, Some(&hint)), line_key(&s, Some(&later)));
    }

    #[test]
    fn percent_agrees_with_the_bytes_shown() {
        // The line: `28% ... 46.4 MiB/200.0 MiB` (23%). The engine's `progress` field
        // may count pieces while the bytes count verified bytes; the line uses one source.
        let mut s = status(TorrentState::Downloading, 46_400 * 1024, 200 << 20, 1);
        s.progress = 0.28;
        let line = plain_line(&s, None);
        assert!(line.starts_with("[ 22.7%] 45.31 MiB/200.00 MiB"), "{line}");
    }

    #[test]
    fn no_rates_without_peers() {
        let mut s = status(TorrentState::Seeding, 1 << 20, 1 << 20, 0);
        s.upload_rate = 300 << 20;
        assert!(plain_line(&s, None).contains("up 300.00 MiB/s  peers 3"));
        s.connected_peers = 0;
        let line = plain_line(&s, None);
        assert!(line.contains("down 0 B/s  up 0 B/s  peers 0"), "{line}");
        assert!(bar_message(&s, None).starts_with("↓0 B/s ↑0 B/s  peers 0"));
    }

    #[test]
    fn idle_seed_prints_only_on_change() {
        let mut clock = LineClock::default();
        let start = Instant::now();
        let interval = Duration::from_secs(5);
        let s = status(TorrentState::Seeding, 1 << 20, 1 << 20, 0);
        let key = line_key(&s, None);
        // Ten minutes of an idle seed polled every 5 s: the first line and one heartbeat.
        let printed = (0..=120)
            .filter(|i| clock.due(key.clone(), start + Duration::from_secs(i * 5), interval))
            .count();
        assert_eq!(printed, 2);
        // A change shows at the next interval, not before.
        let hint = StallHint { waited_secs: 1, reason: "x".into() };
        let busy = line_key(&status(TorrentState::Seeding, 1 << 20, 1 << 20, 0), Some(&hint));
        let later = start + Duration::from_secs(601);
        assert!(!clock.due(busy.clone(), later, interval));
        assert!(clock.due(busy, later + interval, interval));
    }

    #[test]
    fn short_checks_show_nothing() {
        let mut p = TorrentProgress::new(lines(5), None);
        let start = Instant::now();
        p.update(&status(TorrentState::Checking, 0, 1 << 20, 0), None, start);
        assert!(p.lines.last.is_none(), "a check that ends at once printed a line");
        p.update(&status(TorrentState::Downloading, 0, 1 << 20, 0), None, start);
        assert!(p.lines.last.is_some());
        // A long check is shown once it lasted an interval.
        let mut p = TorrentProgress::new(lines(5), None);
        p.update(&status(TorrentState::Checking, 0, 1 << 20, 0), None, start);
        p.update(&status(TorrentState::Checking, 1024, 1 << 20, 0), None, start + Duration::from_secs(6));
        assert!(p.lines.last.is_some());
    }

    #[test]
    fn bar_messages() {
        let s = status(TorrentState::Downloading, 1024, 4096, 1024);
        assert_eq!(bar_message(&s, None), "↓1.00 KiB/s ↑0 B/s  peers 3  ETA 3s");
        assert_eq!(short_name("a".repeat(30).as_str()).chars().count(), 24);
    }

    #[test]
    fn task_lines() {
        let line = task_line("hashing", 1 << 20, 4 << 20, Duration::from_secs(1));
        assert_eq!(line, "[hashing  25.0%] 1.00 MiB/4.00 MiB  1.00 MiB/s  eta 3s");
        assert!(task_line("checking", 0, 0, Duration::ZERO).contains("100.0%"));
        assert!(task_line("checking", 0, 10, Duration::ZERO).ends_with("eta -"));
    }

    #[test]
    fn quiet_and_line_modes_draw_no_bar() {
        let config = ProgressConfig { mode: Mode::Quiet, interval: Duration::from_secs(5) };
        let mut p = TorrentProgress::new(config, None);
        p.update(&status(TorrentState::Downloading, 1, 2, 0), None, Instant::now());
        assert!(p.bar.is_none());
        let t = TaskProgress::new(config, "hashing", 10);
        t.set(5);
        assert!(t.bar.is_none() && t.lines.is_none());
    }
}
