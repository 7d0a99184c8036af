//! The configuration through the `ccbt` binary: the layers (file < `CCBT_*` < flags) seen in
//! `config show --origin` and in what a session does, `config get/set/validate`, and the errors
//! that stop ccbt before anything starts.

mod support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use support::{ccbt, ccbt_create, free_port, work_dir, write_tree, Proc, GRACE};

const SHORT: Duration = Duration::from_secs(20);

/// `ccbt ARGS` in `dir` with extra environment variables.
fn run_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = ccbt();
    cmd.current_dir(dir).args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().expect("run ccbt")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The line of `config show --origin` for `key` (inside its section).
fn shown_line(text: &str, key: &str) -> String {
    let prefix = format!("{key} = ");
    text.lines().find(|l| l.starts_with(&prefix)).unwrap_or_else(|| panic!("no {key} in\n{text}")).to_owned()
}

const FILE: &str = "\
# Settings for this machine.
[network]
listen_port = 7000    # forwarded in the router
max_upload_slots = 6

[disk]
use_mmap = false
";

#[test]
fn each_layer_wins_over_the_one_below_in_show_origin() {
    let work = work_dir();
    let w = work.path();
    std::fs::write(w.join("ccbt.toml"), FILE).unwrap();
    let env = [("CCBT_LISTEN_PORT", "7100"), ("CCBT_MAX_PEERS", "77"), ("CCBT_LOG_LEVEL", "DEBUG")];
    // The file alone.
    let out = run_in(w, &[], &["config", "show", "--origin"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(shown_line(&text, "listen_port"), "listen_port = 7000  # ccbt.toml:3");
    assert_eq!(shown_line(&text, "use_mmap"), "use_mmap = false  # ccbt.toml:7");
    assert_eq!(shown_line(&text, "enable_dht"), "enable_dht = true  # default");
    // The environment over the file, with the seeds' names.
    let text = stdout(&run_in(w, &env, &["config", "show", "--origin"]));
    assert_eq!(
        shown_line(&text, "listen_port"),
        "listen_port = 7100  # environment variable CCBT_LISTEN_PORT"
    );
    assert_eq!(
        shown_line(&text, "max_global_peers"),
        "max_global_peers = 77  # environment variable CCBT_MAX_PEERS"
    );
    assert_eq!(
        shown_line(&text, "log_level"),
        "log_level = \"debug\"  # environment variable CCBT_LOG_LEVEL"
    );
    assert_eq!(shown_line(&text, "max_upload_slots"), "max_upload_slots = 6  # ccbt.toml:4");
    // A flag over the environment.
    let text = stdout(&run_in(w, &env, &["--log-level", "error", "config", "show", "--origin"]));
    assert_eq!(shown_line(&text, "log_level"), "log_level = \"error\"  # command line");
    // `config get` prints the value alone, whichever way the key is written.
    for key in ["listen_port", "network.listen_port"] {
        assert_eq!(stdout(&run_in(w, &env, &["config", "get", key])), "7100\n");
    }
    assert_eq!(stdout(&run_in(w, &[], &["config", "get", "piece_selection"])), "rarest_first\n");
}

/// A torrent and its data in `work/src/data`.
fn small_torrent(work: &Path) -> std::path::PathBuf {
    write_tree(&work.join("src/data"), &[("a.bin", 40_000)], 3);
    let torrent = work.join("data.torrent");
    ccbt_create(&work.join("src/data"), &torrent, 16 * 1024, &[]);
    torrent
}

/// Starts `ccbt seed` in `work`; the port it says it listens on, and its stderr.
fn seeding_port(
    work: &Path,
    torrent: &Path,
    name: &str,
    env: &[(&str, &str)],
    flags: &[&str],
) -> (u16, String) {
    let mut cmd = ccbt();
    cmd.current_dir(work).arg("seed").arg(torrent).arg("-d").arg(work.join("src")).arg("--no-dht");
    cmd.args(flags);
    for (var, value) in env {
        cmd.env(var, value);
    }
    let mut seed = Proc::spawn(name, &mut cmd, work);
    let port = seed.wait_for("the seeding note", SHORT, |_, err| {
        let tail = err.split("seeding on port ").nth(1)?;
        tail.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u16>().ok()
    });
    let (status, clean) = seed.terminate(GRACE);
    assert!(clean && status.success(), "{name} did not stop cleanly: {status}\n{}", seed.logs());
    (port, seed.stderr_text())
}

/// Whether a log line of `level` (`INFO`, `DEBUG`) is in `stderr`.
fn logs_at(stderr: &str, level: &str) -> bool {
    stderr.lines().any(|line| line.split_whitespace().nth(1) == Some(level))
}

#[test]
fn the_session_listens_on_the_port_of_the_winning_layer() {
    let (file_port, env_port, flag_port) = (free_port(), free_port(), free_port());
    let work = work_dir();
    let w = work.path();
    let file = format!("[network]\nlisten_port = {file_port}\n[observability]\nlog_level = \"info\"\n");
    let config = w.join("my.toml");
    std::fs::write(&config, file).unwrap();
    let named = ["--config", config.to_str().unwrap()];
    let torrent = small_torrent(w);
    let (port, stderr) = seeding_port(w, &torrent, "seed-file", &[], &named);
    assert_eq!(port, file_port);
    assert!(logs_at(&stderr, "INFO") && !logs_at(&stderr, "DEBUG"), "log_level from the file\n{stderr}");
    let env_text = env_port.to_string();
    let env = [("CCBT_LISTEN_PORT", env_text.as_str()), ("CCBT_LOG_LEVEL", "ERROR")];
    let (port, stderr) = seeding_port(w, &torrent, "seed-env", &env, &named);
    assert_eq!(port, env_port);
    assert!(!logs_at(&stderr, "INFO"), "CCBT_LOG_LEVEL=ERROR over the file\n{stderr}");
    let flag_text = flag_port.to_string();
    let flags = [named[0], named[1], "--listen-port", flag_text.as_str(), "--log-level", "info"];
    let (port, stderr) = seeding_port(w, &torrent, "seed-flag", &env, &flags);
    assert_eq!(port, flag_port);
    assert!(logs_at(&stderr, "INFO"), "--log-level info over CCBT_LOG_LEVEL\n{stderr}");
}

#[test]
fn config_set_keeps_comments_and_creates_a_missing_file() {
    let work = work_dir();
    let w = work.path();
    let path = w.join("ccbt.toml");
    std::fs::write(&path, FILE).unwrap();
    let out = run_in(w, &[], &["config", "set", "network.listen_port", "7200"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text, FILE.replace("listen_port = 7000 ", "listen_port = 7200 "));
    assert!(text.contains("# Settings for this machine.\n") && text.contains("# forwarded in the router"));
    assert_eq!(stdout(&run_in(w, &[], &["config", "get", "listen_port"])), "7200\n");
    // A new file (and its folder) with --config.
    let new = w.join("etc/new.toml");
    let out = run_in(
        w,
        &[],
        &["config", "set", "piece_selection", "sequential", "--config", new.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&new).unwrap(), "[strategy]\npiece_selection = \"sequential\"\n");
    assert!(!w.join("etc/new.toml.tmp").exists());
    // A bad value changes nothing.
    let out = run_in(w, &[], &["config", "set", "listen_port", "99999"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("99999 is out of range; allowed: integer from 0 to 65535"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn validate_names_each_bad_key_with_its_line_and_a_suggestion() {
    let work = work_dir();
    let w = work.path();
    let bad = w.join("bad.toml");
    std::fs::write(&bad, "[network]\nlisten_prot = 7000\n\n[disk]\nuse_mmap = \"maybe\"\n").unwrap();
    let out = run_in(w, &[], &["config", "validate", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let at = |line: usize| format!("({}:{line})", bad.display());
    assert!(
        err.contains(&format!(
            "unknown key `network.listen_prot` {}; did you mean `network.listen_port`?",
            at(2)
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("`disk.use_mmap` {}: expected boolean, found string \"maybe\"", at(5))),
        "{err}"
    );
    let good = w.join("good.toml");
    std::fs::write(&good, FILE).unwrap();
    let out = run_in(w, &[], &["config", "validate", good.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("ok: {}\n", good.display()));
}

#[test]
fn a_bad_configuration_starts_nothing() {
    let work = work_dir();
    let w = work.path();
    std::fs::write(w.join("ccbt.toml"), "[network]\nmax_global_peers = 0\n").unwrap();
    let torrent = small_torrent(w);
    let args = ["seed", torrent.to_str().unwrap(), "-d", "src", "--no-dht", "--listen-port", "0"];
    let env = [("CCBT_MAX_PEER", "5")];
    let out = run_in(w, &env, &args);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "`network.max_global_peers` (ccbt.toml:2): 0 is out of range; allowed: integer from 1 to 65535"
        ),
        "{err}"
    );
    assert!(err.contains("unknown key `CCBT_MAX_PEER` (environment variable CCBT_MAX_PEER); did you mean `CCBT_MAX_PEERS`?"), "{err}");
    assert!(!err.contains("seeding"), "{err}");
    // A named file must exist.
    let out = run_in(w, &[], &["--config", "missing.toml", "config", "show"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}

#[test]
fn config_help_explains_each_command() {
    let out = run_in(Path::new("."), &[], &["config", "--help"]);
    let text = stdout(&out);
    for word in ["show", "get", "set", "validate", "CCBT_", "network.listen_port"] {
        assert!(text.contains(word), "{word} missing from\n{text}");
    }
    let text = stdout(&run_in(Path::new("."), &[], &["config", "set", "--help"]));
    assert!(text.contains("keeping its comments"), "{text}");
}

#[test]
fn download_dir_of_the_file_is_the_folder_when_no_flag_names_one() {
    let work = work_dir();
    let w = work.path();
    let torrent = small_torrent(w);
    let torrent = torrent.to_str().unwrap();
    // The data is in `src/data`, not in the current folder.
    let out = run_in(w, &[], &["verify", torrent, "-q"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    std::fs::write(w.join("ccbt.toml"), "[disk]\ndownload_dir = \"src\"\n").unwrap();
    let out = run_in(w, &[], &["verify", torrent, "-q"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A flag still wins over the file.
    let out = run_in(w, &[], &["verify", torrent, "-q", "-d", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn rate_limits_come_from_the_seeds_variables_and_the_file() {
    let work = work_dir();
    let w = work.path();
    std::fs::write(w.join("ccbt.toml"), "[limits]\npeer_up_kib = 64\n").unwrap();
    let env = [("CCBT_DOWN_LIMIT", "256"), ("CCBT_UP_LIMIT", "128")];
    let out = run_in(w, &env, &["config", "show", "--origin"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "global_down_kib = 256  # environment variable CCBT_DOWN_LIMIT",
        "global_up_kib = 128  # environment variable CCBT_UP_LIMIT",
        "peer_up_kib = 64  # ccbt.toml:2",
    ] {
        assert!(text.contains(line), "{line} missing from\n{text}");
    }
}
