//! The seeds' daemon form, `ccbt --daemon --add a.torrent --add "magnet:?..." -o DIR`: it starts
//! the daemon of the state folder and adds each source into DIR; run again, it uses the running
//! daemon; `--add` without `--daemon` is a usage error, and the subcommands still work (and are
//! still required) next to the form.

mod support;

use std::path::Path;

use support::{ccbt, ccbt_create, run_with_timeout, work_dir, write_file, Finished, SETUP};

const MAGNET_HASH: &str = "0123456789abcdef0123456789abcdef01234567";

fn run(work: &Path, name: &str, args: &[&str]) -> Finished {
    run_with_timeout(name, ccbt().args(args), work, SETUP)
}

/// Stops the daemon of `state` when the test ends, however it ends.
struct StopOnDrop<'a>(&'a Path);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        let text = std::fs::read_to_string(self.0.join("daemon.lock")).unwrap_or_default();
        if let Some(pid) = text.lines().find_map(|l| l.strip_prefix("pid ")) {
            let _ = std::process::Command::new("kill").args(["-KILL", pid.trim()]).output();
        }
    }
}

#[test]
fn daemon_add_starts_the_daemon_then_reuses_it() {
    let work = work_dir();
    let w = work.path();
    write_file(&w.join("a/a.bin"), 1, 100_000);
    write_file(&w.join("b/b.bin"), 2, 50_000);
    let a = w.join("a.torrent");
    let b = w.join("b.torrent");
    ccbt_create(&w.join("a/a.bin"), &a, 16 * 1024, &[]);
    ccbt_create(&w.join("b/b.bin"), &b, 16 * 1024, &[]);
    let state = w.join("state");
    let _stop = StopOnDrop(&state);
    let out = w.join("out");
    let magnet = format!("magnet:?xt=urn:btih:{MAGNET_HASH}&dn=m");
    let (s, o) = (state.to_str().unwrap(), out.to_str().unwrap());
    let common = ["--state-dir", s, "--api-port", "0", "--listen-port", "0", "--no-dht", "--no-trackers"];
    let mut args = vec!["--daemon", "--add", a.to_str().unwrap(), "--add", &magnet, "-o", o];
    args.extend(common);
    let first = run(w, "seeds-form-1", &args);
    assert!(first.success(), "{}", first.describe());
    assert!(first.stdout.contains("ccbt daemon started (pid"), "{}", first.describe());
    let added: Vec<&str> = first.stdout.lines().filter(|l| l.starts_with("added ")).collect();
    assert_eq!(added.len(), 2, "{}", first.describe());
    assert!(added[0].contains("a.bin") && added[0].contains(o), "{}", first.stdout);
    assert!(added[1].starts_with(&format!("added {MAGNET_HASH}")), "{}", first.stdout);

    // Again: the running daemon is used, not a second one.
    let second = run(w, "seeds-form-2", &["--daemon", "--add", b.to_str().unwrap(), "--state-dir", s]);
    assert!(second.success(), "{}", second.describe());
    assert!(second.stdout.contains("using the running ccbt daemon (pid"), "{}", second.describe());
    assert!(second.stdout.contains("added ") && second.stdout.contains("b.bin"), "{}", second.describe());

    // A bad source is reported by name; the good ones of the same line are still added.
    let missing = w.join("missing.torrent");
    let third = run(w, "seeds-form-3", &["--daemon", "--add", missing.to_str().unwrap(), "--state-dir", s]);
    assert_eq!(third.code(), Some(1), "{}", third.describe());
    assert!(
        third.stderr.contains("cannot add") && third.stderr.contains("missing.torrent"),
        "{}",
        third.describe()
    );

    // The subcommands see the same daemon.
    let list = run(w, "list", &["list", "--state-dir", s]);
    assert!(list.success(), "{}", list.describe());
    for name in ["a.bin", "b.bin", MAGNET_HASH] {
        assert!(list.stdout.contains(name), "{name} missing\n{}", list.stdout);
    }
    let stop = run(w, "stop", &["daemon", "stop", "--state-dir", s]);
    assert!(stop.success(), "{}", stop.describe());
}

#[test]
fn add_without_daemon_is_a_usage_error_and_subcommands_stay_required() {
    let work = work_dir();
    let w = work.path();
    let lone = run(w, "lone-add", &["--add", "x.torrent"]);
    assert_eq!(lone.code(), Some(2), "{}", lone.describe());
    assert!(lone.stderr.contains("--daemon"), "{}", lone.describe());
    let foreground = run(w, "foreground", &["--daemon", "--foreground"]);
    assert_eq!(foreground.code(), Some(2), "{}", foreground.describe());
    assert!(foreground.stderr.contains("ccbt daemon start --foreground"), "{}", foreground.describe());
    // Without the form nothing changed: a bare `ccbt` still asks for a subcommand.
    let bare = run(w, "bare", &[]);
    assert_eq!(bare.code(), Some(2), "{}", bare.describe());
    // And `--add` after a subcommand is that subcommand's business (download has none).
    let after = run(w, "after", &["download", "x.torrent", "--add", "y"]);
    assert_eq!(after.code(), Some(2), "{}", after.describe());
}
