//! The daemon through the CLI: a torrent added with `ccbt add` completes from a libtorrent
//! seeder; after `ccbt daemon stop` and `start` it is restored from its checkpoint, seeding
//! without downloading a byte; two `daemon start` at once leave one daemon and a message naming
//! it; the API on the wire refuses a wrong token and a foreign Host; commands without a daemon
//! say how to start one.

mod support;

use std::io::{Read as _, Write as _};
use std::time::Duration;

use support::daemon_state::StateDir;
use support::{interop, lt_info_hash, lt_make_torrent, lt_seed, poll_until, run_with_timeout, work_dir};
use support::{write_file, Kind, Proc, Tool, SETUP, TRANSFER};

const NO_DAEMON: &str = "no ccbt daemon is running (start one with `ccbt daemon start`)";

#[test]
fn added_torrent_completes_then_seeds_after_a_restart_without_downloading() {
    if !interop("added_torrent_completes_then_seeds_after_a_restart_without_downloading", &[Tool::Libtorrent])
    {
        return;
    }
    let work = work_dir();
    let w = work.path();
    write_file(&w.join("src/movie.bin"), 3, 700_000);
    let torrent = w.join("movie.torrent");
    lt_make_torrent(&w.join("src/movie.bin"), &torrent, 16 * 1024, Kind::V1);
    let info_hash = lt_info_hash(&torrent);
    let mut seeder = lt_seed(w, "lt-seed", &torrent, &w.join("src"), &[], &[]);
    let state = StateDir::new(w, "state");
    state.start("start-1");
    let out = w.join("out");
    let peer = format!("127.0.0.1:{}", seeder.port);
    let added =
        state.ccbt("add", &["add", torrent.to_str().unwrap(), "-o", out.to_str().unwrap(), "--peer", &peer]);
    assert!(added.success(), "{}", added.describe());
    assert!(added.stdout.contains(&format!("added {info_hash}")), "{}", added.stdout);
    let seeding = || state.status_field(&info_hash, "state").as_deref() == Some("seeding");
    assert!(poll_until(TRANSFER, seeding), "never completed\n{}", state.log());
    assert_eq!(
        std::fs::read(out.join("movie.bin")).unwrap(),
        std::fs::read(w.join("src/movie.bin")).unwrap()
    );
    let downloaded: u64 = state.status_field(&info_hash, "downloaded").unwrap().parse().unwrap();
    assert!(downloaded >= 700_000, "downloaded {downloaded}");
    let list = state.ccbt("list", &["list"]);
    assert!(
        list.success() && list.stdout.contains(&info_hash) && list.stdout.contains("seeding"),
        "{}",
        list.describe()
    );
    let (pid, url) = state.lock();
    let status = state.ccbt("daemon-status", &["daemon", "status"]);
    assert!(status.success(), "{}", status.describe());
    for expected in [
        format!("pid:       {pid}"),
        format!("API:       {url}"),
        "torrents:  1 (0 downloading, 1 seeding".into(),
    ] {
        assert!(status.stdout.contains(&expected), "{expected:?} missing in\n{}", status.stdout);
    }

    // No peer has the data any more: whatever the restarted daemon has, it had kept.
    seeder.proc.terminate(Duration::from_secs(10));
    state.stop("stop-1");
    let none = state.ccbt("daemon-status-none", &["daemon", "status"]);
    assert_eq!(none.code(), Some(1), "{}", none.describe());
    assert!(none.stderr.contains(NO_DAEMON), "{}", none.stderr);
    state.start("start-2");
    assert!(poll_until(SETUP, seeding), "not seeding after the restart\n{}", state.log());
    assert_eq!(state.status_field(&info_hash, "downloaded").as_deref(), Some("0"), "{}", state.log());
    assert_eq!(state.status_field(&info_hash, "progress").as_deref(), Some("100.0%"));
    assert!(state.log().contains("1 torrent(s) restored"), "{}", state.log());

    // Pause, then `ccbt resume`, which hands the torrent back to the running daemon.
    let paused = state.ccbt("pause", &["pause", &info_hash]);
    assert!(paused.success() && paused.stdout.contains("paused"), "{}", paused.describe());
    assert!(poll_until(SETUP, || state.status_field(&info_hash, "state").as_deref() == Some("paused")));
    let with_flags = state.ccbt("resume-flags", &["resume", &info_hash, "--peer", "127.0.0.1:1"]);
    assert_eq!(with_flags.code(), Some(1), "{}", with_flags.describe());
    assert!(with_flags.stderr.contains("takes no other flags"), "{}", with_flags.describe());
    let resumed = state.ccbt("resume", &["resume", &info_hash[..8]]);
    assert!(resumed.success() && resumed.stdout.contains("in the ccbt daemon"), "{}", resumed.describe());
    assert!(poll_until(SETUP, seeding), "not seeding after resume\n{}", state.log());

    let removed = state.ccbt("remove", &["remove", &info_hash[..10]]);
    assert!(removed.success(), "{}", removed.describe());
    assert!(out.join("movie.bin").exists(), "remove must keep the files");
    state.stop("stop-2");
    state.start("start-3");
    let list = state.ccbt("list-after-remove", &["list"]);
    assert!(
        list.success() && list.stdout.contains("no torrents"),
        "a removed torrent came back\n{}",
        list.describe()
    );
    state.stop("stop-3");
}

#[test]
fn two_starts_at_once_leave_one_daemon_and_name_it() {
    let work = work_dir();
    let state = StateDir::new(work.path(), "state");
    let mut a = Proc::spawn("start-a", &mut state.start_command(false), work.path());
    let mut b = Proc::spawn("start-b", &mut state.start_command(false), work.path());
    let (ea, eb) = (a.wait_timeout(SETUP), b.wait_timeout(SETUP));
    let (ea, eb) = (ea.expect("start a hangs"), eb.expect("start b hangs"));
    let (winner, loser) = match (ea.success(), eb.success()) {
        (true, false) => (&a, &b),
        (false, true) => (&b, &a),
        _ => panic!("exactly one start must win\n{}\n{}\n{}", a.logs(), b.logs(), state.log()),
    };
    let (pid, url) = state.lock();
    assert!(
        winner.stdout_text().contains(&format!("ccbt daemon started (pid {pid}): {url}")),
        "{}",
        winner.logs()
    );
    let message = loser.stderr_text();
    assert!(message.contains("already running"), "{}", loser.logs());
    assert!(message.contains(&format!("pid {pid}")) && message.contains(&url), "{}", loser.logs());
    // A third start, after the race, says the same.
    let third = run_with_timeout("start-c", &mut state.start_command(false), work.path(), SETUP);
    assert_eq!(third.code(), Some(1), "{}", third.describe());
    assert!(third.stderr.contains(&format!("pid {pid}")), "{}", third.describe());
    state.stop("stop");
}

#[test]
fn the_api_on_the_wire_refuses_wrong_tokens_and_foreign_hosts() {
    use std::os::unix::fs::PermissionsExt as _;
    let work = work_dir();
    let state = StateDir::new(work.path(), "state");
    state.start("start");
    let (_, url) = state.lock();
    let addr = url.strip_prefix("http://").unwrap().to_owned();
    let token_file = state.path.join("api_token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the token file must be private");
    let token = std::fs::read_to_string(&token_file).unwrap();
    let get = |host: &str, auth: Option<&str>| {
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        let auth = auth.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
        let request =
            format!("GET /api/v1/session HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let ok = get(&addr, Some(token.trim()));
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert!(!ok.to_ascii_lowercase().contains("access-control-allow-origin"), "no CORS: {ok}");
    assert!(get(&addr, None).starts_with("HTTP/1.1 401"));
    assert!(get(&addr, Some(&"0".repeat(64))).starts_with("HTTP/1.1 401"));
    let rebound = get("attacker.example", Some(token.trim()));
    assert!(rebound.starts_with("HTTP/1.1 421") && rebound.contains("foreign_host"), "{rebound}");
    state.stop("stop");
    assert!(!token_file.exists(), "the token file outlives the daemon");
}

#[test]
fn foreground_daemon_stops_on_sigterm_and_frees_its_folder() {
    let work = work_dir();
    let state = StateDir::new(work.path(), "state");
    let mut cmd = state.start_command(false);
    cmd.arg("--foreground");
    let mut daemon = Proc::spawn("foreground", &mut cmd, work.path());
    daemon.wait_for("serving", SETUP, |out, _| out.contains("serving http://").then_some(()));
    let (status, clean) = daemon.terminate(Duration::from_secs(30));
    assert!(clean && status.success(), "{status:?}\n{}", daemon.logs());
    let lock = std::fs::read_to_string(state.path.join("daemon.lock")).unwrap();
    assert!(lock.is_empty(), "the lock file still names the daemon: {lock:?}");
    // The folder is free again.
    state.start("start-again");
    state.stop("stop");
}

#[test]
fn commands_without_a_daemon_say_how_to_start_one() {
    let work = work_dir();
    let state = StateDir::new(work.path(), "state");
    for args in [
        &["list"][..],
        &["status"],
        &["pause", "--all"],
        &["remove", "abcd"],
        &["add", "x.torrent"],
        &["daemon", "status"],
        &["daemon", "stop"],
    ] {
        let done = state.ccbt("client", args);
        assert_eq!(done.code(), Some(1), "{args:?}\n{}", done.describe());
        assert!(done.stderr.contains(NO_DAEMON), "{args:?}\n{}", done.describe());
    }
}

/// A client left on the event stream (a dashboard, `curl -N`) must not hold the daemon up: the
/// stream ends when the daemon stops, and the stop saves and exits as usual.
#[test]
fn daemon_stop_ends_an_open_event_stream() {
    let work = work_dir();
    let state = StateDir::new(work.path(), "state");
    state.start("start");
    let (_, url) = state.lock();
    let addr = url.strip_prefix("http://").unwrap().to_owned();
    let token = std::fs::read_to_string(state.path.join("api_token")).unwrap();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let request = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\r\n",
        token.trim()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    state.stop("stop");
    // The stream was ended by the daemon (a deadline only turns a hang into a failure).
    stream.set_read_timeout(Some(SETUP)).unwrap();
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("the event stream is closed once the daemon stopped");
    assert!(!state.log().contains("still holds the session"), "{}", state.log());
}
