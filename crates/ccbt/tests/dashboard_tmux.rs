//! bitonic as a person uses it: the dashboard runs in a tmux pane against a daemon that
//! downloads from a libtorrent seeder; keys go in with `send-keys`, and what the screen shows
//! comes back with `capture-pane`. The torrent appears and progresses, pause shows `paused`
//! with no download rate, the peers tab lists the libtorrent peer, a magnet link typed into
//! the add prompt makes a new row, an alert rule added with `ccbt alerts add` shows firing (header
//! and session screen, with its history), and `q` gives the terminal back (no alternate screen, the
//! line discipline cooked again).
//!
//! With `BITONIC_CAPTURES=DIR` the screens are also written to DIR (docs/bitonic/ holds such
//! captures for the README).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::daemon_state::StateDir;
use support::discovery::require_program;
use support::{interop, lt_info_hash, lt_make_torrent, lt_seed, work_dir, write_file, Kind, Tool, SETUP};

/// Seeder upload rate: slow enough that the download is still running while the test looks.
const SEED_RATE: u64 = 256 * 1024;
const SIZE: u64 = 24 * 1024 * 1024;

/// A tmux server of its own (its own socket), killed when the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(command: &str, env: &[(&str, &Path)]) -> Tmux {
        let tmux = Tmux { socket: format!("bitonic-test-{}", std::process::id()) };
        let mut cmd = tmux.command();
        cmd.args(["new-session", "-d", "-x", "110", "-y", "32", "-s", "main"]);
        for (name, value) in env {
            cmd.arg("-e").arg(format!("{name}={}", value.display()));
        }
        let out = cmd.arg(command).output().expect("run tmux");
        assert!(out.status.success(), "tmux new-session failed: {}", String::from_utf8_lossy(&out.stderr));
        tmux
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket, "-f", "/dev/null"]);
        cmd
    }

    fn keys(&self, keys: &[&str]) {
        let out = self.command().args(["send-keys", "-t", "main"]).args(keys).output().expect("send-keys");
        assert!(out.status.success(), "send-keys failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Literal text (no key names).
    fn type_text(&self, text: &str) {
        let out = self.command().args(["send-keys", "-t", "main", "-l", text]).output().expect("send-keys");
        assert!(out.status.success());
    }

    fn capture(&self) -> String {
        let out = self.command().args(["capture-pane", "-p", "-t", "main"]).output().expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn alternate_screen(&self) -> bool {
        let out = self
            .command()
            .args(["display-message", "-p", "-t", "main", "#{alternate_on}"])
            .output()
            .expect("display-message");
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// The screen once `ready` holds for it (the deadline only turns a hang into a failure).
    fn wait(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SETUP * 2;
        loop {
            let screen = self.capture();
            if ready(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "waited in vain for {what}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").output();
    }
}

/// The list line of the torrent named `name`.
fn line_of<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(name))
}

/// The percentage shown on `line` (`42.3%`).
fn percent(line: &str) -> Option<f64> {
    line.split_whitespace().find_map(|w| w.strip_suffix('%')?.parse().ok())
}

fn signal(pid: u32, which: &str) {
    let done = Command::new("kill").args([which, &pid.to_string()]).status().expect("run kill");
    assert!(done.success(), "kill {which} {pid} failed");
}

fn save(name: &str, screen: &str) {
    if let Some(dir) = std::env::var_os("BITONIC_CAPTURES") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("captures folder");
        let text: String = screen.lines().map(|l| format!("{}\n", l.trim_end())).collect();
        std::fs::write(dir.join(format!("{name}.txt")), text.trim_end().to_owned() + "\n")
            .expect("save capture");
    }
}

#[test]
fn bitonic_in_tmux_follows_a_download_from_libtorrent() {
    if !interop("bitonic_in_tmux_follows_a_download_from_libtorrent", &[Tool::Libtorrent]) {
        return;
    }
    require_program("bitonic_in_tmux_follows_a_download_from_libtorrent", "tmux", "tmux");
    let work = work_dir();
    let w = work.path();
    let content = w.join("seed/bitonic-demo.bin");
    write_file(&content, 12, SIZE);
    let torrent = w.join("bitonic-demo.torrent");
    lt_make_torrent(&content, &torrent, 64 * 1024, Kind::V1);
    let info_hash = lt_info_hash(&torrent);
    let seed =
        lt_seed(w, "lt-seed", &torrent, &w.join("seed"), &[], &["--upload-limit", &SEED_RATE.to_string()]);

    let state = StateDir::new(w, "state");
    state.start("daemon-start");
    let downloads = w.join("downloads");
    let added = state.ccbt(
        "add",
        &["add", torrent.to_str().unwrap(), "-o", downloads.to_str().unwrap(), "--peer", &seed.addr()],
    );
    assert!(added.success(), "ccbt add failed\n{}\n{}", added.describe(), state.log());

    // The dashboard runs from a shell, which reports how it left the terminal after `q`.
    let bitonic = env!("CARGO_BIN_EXE_bitonic");
    let shell = format!(
        "{bitonic} --state-dir '{}'; echo \"bitonic exited $?\"; stty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon; sleep 600",
        state.path.display()
    );
    let no_config = std::env::temp_dir().join("ccbt-tests-no-config");
    let tmux = Tmux::start(&shell, &[("XDG_CONFIG_HOME", &no_config)]);

    // The torrent appears and progresses.
    let first = tmux.wait("the torrent downloading", |s| {
        line_of(s, "bitonic-demo.bin")
            .is_some_and(|l| l.contains("downloading") && percent(l).is_some_and(|p| p > 0.0))
    });
    let at_first = percent(line_of(&first, "bitonic-demo.bin").unwrap()).unwrap();
    let later = tmux.wait("more progress", |s| {
        line_of(s, "bitonic-demo.bin").and_then(percent).is_some_and(|p| p > at_first)
    });
    save("list", &later);

    // The peers tab lists the libtorrent seeder (ccbt dialled it at its address).
    tmux.keys(&["Enter", "Tab", "Tab"]);
    let peers = tmux.wait("the libtorrent peer", |s| s.contains("Address") && s.contains(&seed.addr()));
    save("peers", &peers);
    tmux.keys(&["Tab"]);
    tmux.wait("the trackers tab", |s| s.contains("no tracker"));
    tmux.keys(&["Tab"]);
    let pieces = tmux.wait("the pieces map", |s| s.contains("pieces,") && s.contains("verified; a cell is"));
    save("pieces", &pieces);
    tmux.keys(&["Escape"]);
    tmux.wait("the list again", |s| s.contains("Torrents 1/1"));

    // Pause: the row says paused and its download rate column is `-` (nothing moving).
    tmux.keys(&["p"]);
    let paused = tmux.wait("the paused torrent", |s| {
        line_of(s, "bitonic-demo.bin").is_some_and(|l| l.contains("paused") && !l.contains("/s"))
    });
    save("paused", &paused);
    assert!(state.is(&info_hash, "paused"), "the daemon did not pause it\n{}", state.log());
    tmux.keys(&["p"]);
    tmux.wait("the torrent resumed", |s| {
        line_of(s, "bitonic-demo.bin").is_some_and(|l| !l.contains("paused"))
    });

    // A magnet link typed into the add prompt makes a new row.
    let magnet = format!("magnet:?xt=urn:btih:{}&dn=bitonic-magnet", "ab".repeat(20));
    tmux.keys(&["a"]);
    tmux.wait("the add prompt", |s| s.contains("Add: .torrent path"));
    tmux.type_text(&magnet);
    tmux.keys(&["Enter"]);
    let two = tmux.wait("the magnet's row", |s| s.contains("Torrents 2/2") && s.contains("bitonic-magnet"));
    save("added", &two);

    tmux.keys(&["?"]);
    save("help", &tmux.wait("the help", |s| s.contains("Keys (")));
    // One key per send: an Escape directly followed by a letter reads as Alt+letter.
    tmux.keys(&["Escape"]);
    tmux.wait("the help closed", |s| !s.contains("Keys ("));
    // A rule that holds at once (the daemon has peers): it fires, the header says so on every
    // screen, and the session screen lists it firing and in its history.
    let rule = ["alerts", "add", "--name", "has-peers", "--metric", "ccbt_connected_peers"];
    let added =
        state.ccbt("add-rule", &[&rule[..], &["--condition", "value >= 1", "--severity", "info"]].concat());
    assert!(added.success(), "ccbt alerts add failed\n{}", added.describe());
    tmux.wait("the alert in the header", |s| s.contains("1 alert firing"));
    tmux.keys(&["S"]);
    let session = tmux.wait("the session screen", |s| {
        // The session's limits come with the first poll after the screen opens.
        s.contains("Connections")
            && s.lines().any(|l| l.starts_with("Limits") && l.contains("(L)"))
            && s.contains("Alerts: 1 firing")
            && s.lines().any(|l| l.contains("fired") && l.contains("has-peers"))
    });
    save("session", &session);

    // A daemon that hangs (stopped with SIGSTOP), then one that is gone: the banner says
    // "reconnecting", the keys still work, and the dashboard finds the daemon again once it
    // answers (after the restart, at a new address with a new token).
    tmux.keys(&["Escape"]);
    tmux.wait("the list again", |s| s.contains("Torrents 2/2"));
    let (pid, _) = state.lock();
    signal(pid, "-STOP");
    tmux.wait("the banner of a hung daemon", |s| s.contains("reconnecting to the daemon"));
    tmux.keys(&["?"]);
    tmux.wait("the help while the daemon hangs", |s| s.contains("Keys ("));
    tmux.keys(&["Escape"]);
    tmux.wait("the help closed", |s| !s.contains("Keys ("));
    signal(pid, "-CONT");
    tmux.wait("the banner gone", |s| !s.contains("reconnecting") && s.contains("bitonic-demo.bin"));
    // The dashboard's event stream is open: the daemon must stop all the same.
    state.stop("daemon-stop");
    let gone = tmux.wait("the banner of a stopped daemon", |s| s.contains("reconnecting to the daemon"));
    save("reconnecting", &gone);
    assert!(gone.contains("bitonic-demo.bin"), "the last figures stay on screen:\n{gone}");
    state.start("daemon-restart");
    tmux.wait("the restarted daemon", |s| {
        !s.contains("reconnecting") && line_of(s, "bitonic-demo.bin").is_some_and(|l| l.contains('%'))
    });

    // q quits: the shell's line says so, the alternate screen is gone, the terminal is cooked.
    tmux.keys(&["q"]);
    let after = tmux.wait("bitonic's exit", |s| {
        s.contains("bitonic exited") && s.lines().any(|l| l.trim().ends_with("icanon"))
    });
    assert!(after.contains("bitonic exited 0"), "{after}");
    assert!(after.lines().any(|l| l.trim() == "icanon"), "raw mode was left on:\n{after}");
    assert!(!tmux.alternate_screen(), "the alternate screen is still on");
    drop(seed);
}

/// Without a terminal (a script, a pipe) the dashboard refuses at once, saying what to use
/// instead, and starts no daemon.
#[test]
fn the_dashboard_needs_a_terminal() {
    let work = work_dir();
    let state = StateDir::new(work.path(), "state");
    for program in [env!("CARGO_BIN_EXE_ccbt"), env!("CARGO_BIN_EXE_bitonic")] {
        let mut cmd = Command::new(program);
        if program.ends_with("ccbt") {
            cmd.arg("dashboard");
        }
        let out = cmd
            .arg("--state-dir")
            .arg(&state.path)
            .env("XDG_CONFIG_HOME", std::env::temp_dir().join("ccbt-tests-no-config"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run the dashboard");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{program} succeeded without a terminal");
        assert!(stderr.contains("needs a terminal"), "{program}: {stderr}");
        assert!(!state.path.join("daemon.lock").exists(), "a daemon was started");
    }
}
