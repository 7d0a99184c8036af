//! A daemon's state folder for tests that drive `ccbt daemon` and the commands that talk to it;
//! whatever daemon still runs there is killed when the test ends.

use std::path::{Path, PathBuf};

use super::{ccbt, run_with_timeout, Finished, SETUP};

pub struct StateDir {
    pub path: PathBuf,
    log_dir: PathBuf,
}

impl StateDir {
    pub fn new(work: &Path, name: &str) -> StateDir {
        StateDir { path: work.join(name), log_dir: work.to_owned() }
    }

    /// `ccbt ARGS --state-dir STATE` to completion.
    pub fn ccbt(&self, name: &str, args: &[&str]) -> Finished {
        let mut cmd = ccbt();
        cmd.args(args).arg("--state-dir").arg(&self.path);
        run_with_timeout(name, &mut cmd, &self.log_dir, SETUP)
    }

    /// `ccbt daemon start` on ports the system picks, DHT off, trackers on or off (not run).
    pub fn start_command(&self, with_trackers: bool) -> std::process::Command {
        let mut cmd = ccbt();
        cmd.args(["daemon", "start", "--api-port", "0", "--listen-port", "0", "--no-dht"])
            .args(["--log-level", "info", "--state-dir"])
            .arg(&self.path);
        if !with_trackers {
            cmd.arg("--no-trackers");
        }
        cmd
    }

    /// `ccbt daemon start` to completion; it must succeed.
    pub fn start_with(&self, name: &str, with_trackers: bool) -> Finished {
        let done = run_with_timeout(name, &mut self.start_command(with_trackers), &self.log_dir, SETUP);
        assert!(done.success(), "daemon start failed\n{}\n{}", done.describe(), self.log());
        done
    }

    pub fn start(&self, name: &str) -> Finished {
        self.start_with(name, false)
    }

    pub fn stop(&self, name: &str) {
        let done = self.ccbt(name, &["daemon", "stop"]);
        assert!(done.success(), "daemon stop failed\n{}\n{}", done.describe(), self.log());
    }

    /// `pid` and `url` from the lock file.
    pub fn lock(&self) -> (u32, String) {
        let text = std::fs::read_to_string(self.path.join("daemon.lock")).expect("lock file");
        let field =
            |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).map(str::to_owned);
        let pid = field("pid ").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("no pid in {text:?}"));
        (pid, field("url ").unwrap_or_else(|| panic!("no url in {text:?}")))
    }

    pub fn log(&self) -> String {
        let log = std::fs::read_to_string(self.path.join("daemon.log")).unwrap_or_default();
        format!("--- daemon.log ---\n{log}")
    }

    /// The `key:` field of `ccbt status IH`.
    pub fn status_field(&self, info_hash: &str, key: &str) -> Option<String> {
        let done = self.ccbt("status", &["status", info_hash]);
        let prefix = format!("{key}:");
        done.stdout.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim().to_owned())
    }

    /// Whether `ccbt status IH` says `state`.
    pub fn is(&self, info_hash: &str, state: &str) -> bool {
        self.status_field(info_hash, "state").as_deref() == Some(state)
    }
}

impl Drop for StateDir {
    fn drop(&mut self) {
        let text = std::fs::read_to_string(self.path.join("daemon.lock")).unwrap_or_default();
        if let Some(pid) = text.lines().find_map(|l| l.strip_prefix("pid ")) {
            let _ = std::process::Command::new("kill").args(["-KILL", pid.trim()]).output();
        }
    }
}
