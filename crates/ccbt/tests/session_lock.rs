//! One session per state folder: a second foreground session (or a daemon) on a folder in use
//! fails at once naming the first; a daemon is named with its API and the hint to use `ccbt
//! add`; a taken listen port is named with the ccbt session holding it; and the lock of a
//! session killed with SIGKILL blocks no one.

mod support;

use std::path::{Path, PathBuf};

use support::{
    ccbt, ccbt_create, free_port, poll_until, run_with_timeout, work_dir, write_file, Proc, SETUP,
};

/// A download that waits forever (no peers, no trackers, no DHT) with `args` appended.
fn waiting_download(work: &Path, name: &str, torrent: &Path, args: &[&str]) -> Proc {
    let mut cmd = ccbt();
    cmd.arg("download").arg(torrent).arg("-o").arg(work.join(format!("out-{name}")));
    cmd.args(["--no-dht", "--no-trackers", "-q"]).args(args);
    Proc::spawn(name, &mut cmd, work)
}

/// Waits until the lock file of `state` names `pid` and the address it listens on.
fn wait_published(state: &Path, pid: u32, proc: &mut Proc) -> String {
    let lock = state.join("daemon.lock");
    let published = || {
        let text = std::fs::read_to_string(&lock).unwrap_or_default();
        text.contains(&format!("pid {pid}\n")) && text.contains("listen ")
    };
    assert!(poll_until(SETUP, published), "the lock never named pid {pid}\n{}", proc.logs());
    std::fs::read_to_string(&lock).unwrap()
}

fn torrent(work: &Path) -> PathBuf {
    write_file(&work.join("data/x.bin"), 5, 40_000);
    let torrent = work.join("x.torrent");
    ccbt_create(&work.join("data/x.bin"), &torrent, 16 * 1024, &[]);
    torrent
}

#[test]
fn a_second_session_on_the_same_state_folder_names_the_first() {
    let work = work_dir();
    let w = work.path();
    let torrent = torrent(w);
    let state = w.join("state");
    let s = state.to_str().unwrap();
    let mut first = waiting_download(w, "first", &torrent, &["--listen-port", "0", "--state-dir", s]);
    let lock = wait_published(&state, first.pid(), &mut first);
    assert!(lock.contains("kind session") && lock.contains("command ccbt download"), "{lock}");

    let second = run_with_timeout(
        "second",
        ccbt().args(["seed"]).arg(&torrent).args(["-d", ".", "--state-dir", s]),
        w,
        SETUP,
    );
    assert_eq!(second.code(), Some(1), "{}", second.describe());
    let message = &second.stderr;
    assert!(message.contains(&format!("in use by `ccbt download {}", torrent.display())), "{message}");
    assert!(
        message.contains(&format!("pid {}", first.pid())) && message.contains("--state-dir"),
        "{message}"
    );

    // Neither a daemon nor the daemon's clients mistake the session for a daemon.
    let daemon = run_with_timeout(
        "daemon",
        ccbt().args(["daemon", "start", "--api-port", "0", "--state-dir", s]),
        w,
        SETUP,
    );
    assert_eq!(daemon.code(), Some(1), "{}", daemon.describe());
    assert!(daemon.stderr.contains(&format!("pid {}", first.pid())), "{}", daemon.describe());
    let list = run_with_timeout("list", ccbt().args(["list", "--state-dir", s]), w, SETUP);
    assert_eq!(list.code(), Some(1), "{}", list.describe());
    assert!(
        list.stderr.contains("no ccbt daemon is running") && list.stderr.contains("ccbt download"),
        "{}",
        list.describe()
    );

    // Killed outright, the first leaves a lock that blocks no one.
    first.kill();
    let mut third = waiting_download(w, "third", &torrent, &["--listen-port", "0", "--state-dir", s]);
    wait_published(&state, third.pid(), &mut third);
    third.kill();
}

#[test]
fn a_daemon_in_the_way_is_named_with_its_api_and_ccbt_add() {
    let work = work_dir();
    let w = work.path();
    let torrent = torrent(w);
    let state = w.join("state");
    let s = state.to_str().unwrap();
    let start = [
        "daemon",
        "start",
        "--api-port",
        "0",
        "--listen-port",
        "0",
        "--no-dht",
        "--no-trackers",
        "--state-dir",
        s,
    ];
    let started = run_with_timeout("start", ccbt().args(start), w, SETUP);
    assert!(started.success(), "{}", started.describe());
    let url = started.stdout.split_whitespace().find(|w| w.starts_with("http://")).expect("url").to_owned();
    let download = run_with_timeout(
        "download",
        ccbt().arg("download").arg(&torrent).args(["--no-dht", "--state-dir", s]),
        w,
        SETUP,
    );
    assert_eq!(download.code(), Some(1), "{}", download.describe());
    assert!(download.stderr.contains("a ccbt daemon is already running"), "{}", download.describe());
    assert!(
        download.stderr.contains(&url) && download.stderr.contains("`ccbt add"),
        "{}",
        download.describe()
    );
    let stop = run_with_timeout("stop", ccbt().args(["daemon", "stop", "--state-dir", s]), w, SETUP);
    assert!(stop.success(), "{}", stop.describe());
}

#[test]
fn a_taken_listen_port_names_the_session_holding_it() {
    let work = work_dir();
    let w = work.path();
    let torrent = torrent(w);
    // The first session uses the default state folder of this state home; the second its own.
    let home = w.join("home");
    let port = free_port().to_string();
    let mut cmd = ccbt();
    cmd.env("XDG_STATE_HOME", &home).arg("download").arg(&torrent).arg("-o").arg(w.join("out1"));
    cmd.args(["--no-dht", "--no-trackers", "-q", "--listen-port", &port]);
    let mut first = Proc::spawn("first", &mut cmd, w);
    wait_published(&home.join("ccbt"), first.pid(), &mut first);
    let mut cmd = ccbt();
    cmd.env("XDG_STATE_HOME", &home).arg("download").arg(&torrent).arg("-o").arg(w.join("out2"));
    cmd.args(["--no-dht", "--no-trackers", "-q", "--listen-port", &port, "--state-dir"]).arg(w.join("other"));
    let second = run_with_timeout("second", &mut cmd, w, SETUP);
    assert_eq!(second.code(), Some(1), "{}", second.describe());
    let message = &second.stderr;
    assert!(message.contains(&format!("port {port}: it is in use by `ccbt download")), "{message}");
    assert!(
        message.contains(&format!("pid {}", first.pid())) && message.contains("--listen-port"),
        "{message}"
    );
    first.kill();
}
