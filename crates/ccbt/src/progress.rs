//! The one place for progress UI. On a terminal: an indicatif bar redrawn a few times a second.
//! Elsewhere (pipes, CI logs): a plain line every `--progress-interval` seconds. `--quiet`: nothing.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ccbt_engine::{TorrentState, TorrentStatus};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::GlobalArgs;
use crate::units::{average_rate, human_bytes, human_duration, human_rate};

/// The bar on screen, if any, so log lines and notes can be printed above it.
static ACTIVE_BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `f` (which writes to stderr) with the active progress bar hidden, if there is one.
pub fn suspend<R>(f: impl FnOnce() -> R) -> R {
    // Clone the handle out so the lock is not held while drawing.
    let bar = ACTIVE_BAR.lock().ok().and_then(|guard| guard.clone());
    match bar {
        Some(bar) => bar.suspend(f),
        None => f(),
    }
}

/// Prints a message line on stderr, above the progress bar if one is shown.
pub fn note(message: impl AsRef<str>) {
    suspend(|| eprintln!("{}", message.as_ref()));
}

fn set_active(bar: Option<ProgressBar>) {
    if let Ok(mut guard) = ACTIVE_BAR.lock() {
        *guard = bar;
    }
}

/// How progress is shown, from the global flags and whether stderr is a terminal.
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
    /// The configuration for this process's flags and stderr.
    pub fn new(global: &GlobalArgs) -> ProgressConfig {
        let mode = if global.quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines
        };
        ProgressConfig { mode, interval: Duration::from_secs(global.progress_interval) }
    }

    fn bar(&self, template: &str) -> Option<ProgressBar> {
        if self.mode != Mode::Bar {
            return None;
        }
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar =
            ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(4)).with_style(style);
        set_active(Some(bar.clone()));
        Some(bar)
    }
}

/// Progress of one torrent in a running session, fed with status snapshots.
pub struct TorrentProgress {
    config: ProgressConfig,
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
}

impl TorrentProgress {
    /// Prepares to show progress; nothing is drawn before the first [`TorrentProgress::update`].
    pub fn new(config: ProgressConfig) -> TorrentProgress {
        TorrentProgress { config, bar: None, last_line: None }
    }

    /// Shows `status`; plain lines are printed only every `--progress-interval`. After
    /// [`TorrentProgress::finish`] the next update draws a new bar (download, then seeding).
    pub fn update(&mut self, status: &TorrentStatus, now: Instant) {
        if self.bar.is_none() {
            self.bar = self.config.bar("{prefix}{percent:>3}% [{wide_bar:.cyan/blue}] {msg}");
        }
        if let Some(bar) = &self.bar {
            bar.set_length(status.total_bytes.max(1));
            bar.set_position(status.bytes_have.min(status.total_bytes));
            bar.set_prefix(state_prefix(&status.state));
            bar.set_message(bar_message(status));
        } else if self.config.mode == Mode::Lines {
            let due = self
                .last_line
                .map_or(true, |last| now.saturating_duration_since(last) >= self.config.interval);
            if due {
                self.last_line = Some(now);
                eprintln!("{}", plain_line(status));
            }
        }
    }

    /// Removes the bar (plain lines need no cleanup).
    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            set_active(None);
        }
    }
}

impl Drop for TorrentProgress {
    fn drop(&mut self) {
        self.finish();
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

/// `431.2 MiB/1.0 GiB  ↓120.4 MiB/s ↑0 B/s  peers 3  ETA 5s`
fn bar_message(s: &TorrentStatus) -> String {
    format!(
        "{}/{}  ↓{} ↑{}  peers {}  ETA {}",
        human_bytes(s.bytes_have),
        human_bytes(s.total_bytes),
        human_rate(s.download_rate),
        human_rate(s.upload_rate),
        s.connected_peers,
        eta_text(s)
    )
}

/// `[ 42.1%] 431.2 MiB/1.0 GiB  down 120.4 MiB/s  up 0 B/s  peers 3  eta 5s`
pub fn plain_line(s: &TorrentStatus) -> String {
    format!(
        "[{}{:5.1}%] {}/{}  down {}  up {}  peers {}  eta {}",
        state_prefix(&s.state),
        (s.progress * 100.0).clamp(0.0, 100.0),
        human_bytes(s.bytes_have),
        human_bytes(s.total_bytes),
        human_rate(s.download_rate),
        human_rate(s.upload_rate),
        s.connected_peers,
        eta_text(s)
    )
}

/// Progress of a local job over a known number of bytes (hashing for `create` and `verify`).
/// Shared by reference with hashing threads, hence `&self` methods.
pub struct TaskProgress {
    label: &'static str,
    total: u64,
    bar: Option<ProgressBar>,
    lines: Option<Mutex<LineClock>>,
}

struct LineClock {
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
            Mutex::new(LineClock { started: now, last: now, interval: config.interval })
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
            set_active(None);
        }
    }
}

impl Drop for TaskProgress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `[hashing  42.1%] 431.2 MiB/1.0 GiB  120.4 MiB/s  eta 5s`
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
        }
    }

    #[test]
    fn plain_lines() {
        let s = status(TorrentState::Downloading, 452_143_923, 1 << 30, 126_248_550);
        assert_eq!(plain_line(&s), "[ 42.1%] 431.2 MiB/1.0 GiB  down 120.4 MiB/s  up 0 B/s  peers 3  eta 4s");
        let s = status(TorrentState::Checking, 0, 1 << 20, 0);
        assert_eq!(plain_line(&s), "[checking   0.0%] 0 B/1.0 MiB  down 0 B/s  up 0 B/s  peers 3  eta -");
        let s = status(TorrentState::Seeding, 1 << 20, 1 << 20, 0);
        assert!(plain_line(&s).starts_with("[seeding 100.0%] 1.0 MiB/1.0 MiB"));
        assert!(plain_line(&s).ends_with("eta 0s"));
    }

    #[test]
    fn bar_messages() {
        let s = status(TorrentState::Downloading, 1024, 4096, 1024);
        assert_eq!(bar_message(&s), "1.0 KiB/4.0 KiB  ↓1.0 KiB/s ↑0 B/s  peers 3  ETA 3s");
    }

    #[test]
    fn task_lines() {
        let line = task_line("hashing", 1 << 20, 4 << 20, Duration::from_secs(1));
        assert_eq!(line, "[hashing  25.0%] 1.0 MiB/4.0 MiB  1.0 MiB/s  eta 3s");
        assert!(task_line("checking", 0, 0, Duration::ZERO).contains("100.0%"));
        assert!(task_line("checking", 0, 10, Duration::ZERO).ends_with("eta -"));
    }

    #[test]
    fn quiet_and_line_modes_draw_no_bar() {
        let config = ProgressConfig { mode: Mode::Quiet, interval: Duration::from_secs(5) };
        let mut p = TorrentProgress::new(config);
        p.update(&status(TorrentState::Downloading, 1, 2, 0), Instant::now());
        assert!(p.bar.is_none());
        let t = TaskProgress::new(config, "hashing", 10);
        t.set(5);
        assert!(t.bar.is_none() && t.lines.is_none());
    }
}
