//! Logging through the `ccbt` binary: JSON lines that parse (a download from libtorrent at
//! `CCBT_LOG_LEVEL=DEBUG`), `log_file` written and rotated within `log_max_size_mib` and
//! `log_max_files`, stderr keeping warnings only while a file is set, and the detached daemon
//! rotating its `daemon.log`.

mod support;

use std::path::Path;

use serde_json::Value;
use support::daemon_state::StateDir;
use support::{
    ccbt, ccbt_create, interop, lt_make_torrent, lt_seed, run_with_timeout, same_tree, work_dir, write_file,
    Kind, Proc, Tool, GRACE, SETUP, TRANSFER,
};

const MIB: usize = 1024 * 1024;

/// `lines` lines of filler, more than `log_max_size_mib = 1` in all when `lines` is large.
fn filler(label: &str, lines: usize) -> String {
    (0..lines).map(|n| format!("{label} line {n:06} from an earlier run\n")).collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every line of `text` as a JSON log record; panics naming the line that is not one.
fn records(text: &str, what: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            let record: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {line}"));
            assert!(record["timestamp"].as_str().is_some_and(|t| t.contains('T')), "{what}: {line}");
            assert!(
                ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"].contains(&record["level"].as_str().unwrap_or(""))
            );
            assert!(record["target"].as_str().is_some_and(|t| !t.is_empty()), "{what}: {line}");
            assert!(record["fields"]["message"].is_string(), "{what}: no fields.message: {line}");
            record
        })
        .collect()
}

/// The levels of the records among `stderr`'s lines (progress lines and notes are not records).
fn stderr_levels(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| records(line, "stderr")[0]["level"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn a_download_from_libtorrent_writes_json_lines_to_a_rotated_log_file() {
    if !interop("a_download_from_libtorrent_writes_json_lines_to_a_rotated_log_file", &[Tool::Libtorrent]) {
        return;
    }
    let work = work_dir();
    let w = work.path();
    let content = w.join("seed/payload.bin");
    std::fs::create_dir_all(content.parent().unwrap()).unwrap();
    write_file(&content, 11, 3 * MIB as u64 + 1234);
    let torrent = w.join("payload.torrent");
    lt_make_torrent(&content, &torrent, 256 * 1024, Kind::V1);
    let seeder = lt_seed(w, "lt-seed", &torrent, &w.join("seed"), &[], &[]);
    // A log of an earlier run above the size limit, an older one, and one a larger
    // `log_max_files` left: after the run, 3 files at most.
    let state = w.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let (old, older) = (filler("old", MIB / 30), filler("older", 10));
    std::fs::write(state.join("ccbt.log"), &old).unwrap();
    std::fs::write(state.join("ccbt.log.1"), &older).unwrap();
    std::fs::write(state.join("ccbt.log.4"), "stale").unwrap();
    let config = w.join("ccbt.toml");
    let text = format!(
        "[disk]\nstate_dir = {:?}\n[observability]\nlog_file = \"ccbt.log\"\nlog_format = \"json\"\n\
         log_max_size_mib = 1\nlog_max_files = 3\n",
        state.display()
    );
    std::fs::write(&config, text).unwrap();
    let mut cmd = ccbt();
    cmd.env("CCBT_LOG_LEVEL", "DEBUG").arg("--config").arg(&config);
    cmd.arg("download").arg(&torrent).arg("-o").arg(w.join("out"));
    cmd.args(["--listen-port", "0", "--no-dht", "--no-trackers", "--peer", &seeder.addr()]);
    let done = run_with_timeout("ccbt-download", &mut cmd, w, TRANSFER);
    done.assert_success("ccbt download");
    assert!(same_tree(&w.join("seed"), &w.join("out")), "downloaded data differs");

    let log = read(&state.join("ccbt.log"));
    let records = records(&log, "ccbt.log");
    let at = |level: &str| records.iter().filter(|r| r["level"] == level).count();
    assert!(at("DEBUG") > 0 && at("INFO") > 0, "debug and info records in ccbt.log:\n{log}");
    assert!(records.iter().any(|r| r["target"].as_str().unwrap().starts_with("ccbt_engine")), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in ccbt.log");
    assert_eq!(read(&state.join("ccbt.log.1")), old, "the full log of the earlier run is rotated");
    assert_eq!(read(&state.join("ccbt.log.2")), older);
    let mut names: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("ccbt.log"))
        .collect();
    names.sort();
    assert_eq!(names, ["ccbt.log", "ccbt.log.1", "ccbt.log.2"]);
    // The file has everything; stderr keeps warnings and errors.
    let levels = stderr_levels(&done.stderr);
    assert!(levels.iter().all(|l| l == "WARN" || l == "ERROR"), "stderr: {levels:?}\n{}", done.stderr);
}

#[test]
fn json_records_on_stderr_without_a_log_file() {
    let work = work_dir();
    let w = work.path();
    let content = w.join("data/small.bin");
    std::fs::create_dir_all(content.parent().unwrap()).unwrap();
    write_file(&content, 5, 100_000);
    let torrent = w.join("small.torrent");
    ccbt_create(&content, &torrent, 16 * 1024, &[]);
    let mut cmd = ccbt();
    cmd.env("CCBT_LOG_FORMAT", "json").env("CCBT_STATE_DIR", w.join("state"));
    cmd.args(["--log-level", "INFO", "seed"]).arg(&torrent).arg("-d").arg(w.join("data"));
    cmd.args(["--listen-port", "0", "--no-dht", "--no-trackers"]);
    let mut seed = Proc::spawn("ccbt-seed", &mut cmd, w);
    seed.wait_for("seeding", SETUP, |_, err| err.contains("seeding on port").then_some(()));
    let (status, clean) = seed.terminate(GRACE);
    assert!(clean && status.success(), "{status}\n{}", seed.logs());
    let levels = stderr_levels(&seed.stderr_text());
    assert!(levels.iter().any(|l| l == "INFO"), "no INFO record on stderr\n{}", seed.logs());
    assert!(!w.join("state/ccbt.log").exists(), "no log_file was asked for");
}

#[test]
fn the_detached_daemon_rotates_daemon_log_and_writes_log_file() {
    let work = work_dir();
    let w = work.path();
    let state = StateDir::new(w, "state");
    std::fs::create_dir_all(&state.path).unwrap();
    let old = filler("daemon", MIB / 30);
    std::fs::write(state.path.join("daemon.log"), &old).unwrap();
    std::fs::write(state.path.join("daemon.log.1"), "too many").unwrap();
    let config = w.join("ccbt.toml");
    let text = "[observability]\nlog_file = \"logs/ccbt.log\"\nlog_max_size_mib = 1\nlog_max_files = 2\n";
    std::fs::write(&config, text).unwrap();
    let mut start = state.start_command(false);
    start.arg("--config").arg(&config);
    let done = run_with_timeout("daemon-start", &mut start, w, SETUP);
    assert!(done.success(), "daemon start failed\n{}\n{}", done.describe(), state.log());
    state.stop("daemon-stop");

    assert_eq!(read(&state.path.join("daemon.log.1")), old, "daemon.log of the earlier run is rotated");
    assert!(!state.path.join("daemon.log.2").exists(), "log_max_files = 2");
    // `--log-level info` goes to the file; daemon.log keeps the daemon's own lines and warnings.
    let log = read(&state.path.join("logs/ccbt.log"));
    let is_info = |line: &str| line.split_whitespace().nth(1) == Some("INFO");
    assert!(log.lines().any(is_info), "no INFO record in log_file\n{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in log_file");
    let daemon_log = read(&state.path.join("daemon.log"));
    assert!(daemon_log.contains("serving"), "the daemon's start line in daemon.log\n{daemon_log}");
    assert!(
        !daemon_log.lines().any(is_info),
        "INFO records in daemon.log while log_file is set\n{daemon_log}"
    );
}

#[test]
fn a_log_file_that_cannot_be_opened_is_a_warning_not_a_failure() {
    let work = work_dir();
    let w = work.path();
    std::fs::write(w.join("a-file"), "not a folder").unwrap();
    let path = w.join("a-file/ccbt.log");
    let mut cmd = ccbt();
    cmd.env("CCBT_LOG_FILE", &path).env("CCBT_STATE_DIR", w.join("state"));
    cmd.args(["config", "get", "log_file"]);
    let done = run_with_timeout("config-get", &mut cmd, w, SETUP);
    done.assert_success("config get with an unusable log_file");
    assert_eq!(done.stdout.trim(), path.display().to_string());
    let warning = format!("warning: cannot open the log file {}", path.display());
    assert!(done.stderr.contains(&warning), "{}", done.describe());
}
