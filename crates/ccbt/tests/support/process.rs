//! Child processes for tests: output goes to log files (no pipe can fill up and stall a child),
//! every wait has a deadline, and a [`Proc`] kills its child when dropped, so a panicking test
//! never leaks a seeder.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// How often running children are polled.
const POLL: Duration = Duration::from_millis(50);

/// A running child whose stdout and stderr go to `<dir>/<name>.out` and `<dir>/<name>.err`.
pub struct Proc {
    name: String,
    child: Child,
    exited: Option<ExitStatus>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdin closed and its output in log files under `log_dir`.
    pub fn spawn(name: &str, cmd: &mut Command, log_dir: &Path) -> Proc {
        let stdout = log_dir.join(format!("{name}.out"));
        let stderr = log_dir.join(format!("{name}.err"));
        let out = File::create(&stdout).unwrap_or_else(|e| panic!("create {}: {e}", stdout.display()));
        let err = File::create(&stderr).unwrap_or_else(|e| panic!("create {}: {e}", stderr.display()));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc { name: name.to_owned(), child, exited: None, stdout, stderr }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has exited (non-blocking).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().unwrap_or_else(|e| panic!("wait for {}: {e}", self.name));
        }
        self.exited
    }

    /// Waits up to `timeout` for the child to exit; `None` if it is still running.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(POLL);
        }
    }

    /// Sends SIGTERM and waits up to `grace` for a clean exit, then kills. Returns the exit
    /// status and whether the child left on its own after SIGTERM.
    pub fn terminate(&mut self, grace: Duration) -> (ExitStatus, bool) {
        if let Some(status) = self.try_wait() {
            return (status, true);
        }
        // std has no SIGTERM; kill(1) avoids a libc dev-dependency for this one call.
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(status) = self.wait_timeout(grace) {
            return (status, true);
        }
        (self.kill(), false)
    }

    /// Kills the child (SIGKILL) and reaps it.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        let _ = self.child.kill();
        let status = self.child.wait().unwrap_or_else(|e| panic!("wait for {}: {e}", self.name));
        self.exited = Some(status);
        status
    }

    /// Everything the child wrote to stdout so far.
    pub fn stdout_text(&self) -> String {
        read_lossy(&self.stdout)
    }

    /// Everything the child wrote to stderr so far.
    pub fn stderr_text(&self) -> String {
        read_lossy(&self.stderr)
    }

    /// Both logs, labelled, for assertion messages.
    pub fn logs(&self) -> String {
        format!(
            "--- {name} stdout ---\n{}\n--- {name} stderr ---\n{}",
            tail(&self.stdout_text()),
            tail(&self.stderr_text()),
            name = self.name
        )
    }

    /// Polls the logs until `find(stdout, stderr)` returns something, the child exits, or
    /// `timeout` passes; panics with the logs in the last two cases.
    pub fn wait_for<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        find: impl Fn(&str, &str) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = find(&self.stdout_text(), &self.stderr_text()) {
                return found;
            }
            if let Some(status) = self.try_wait() {
                // The last output may have landed between the check and the exit.
                if let Some(found) = find(&self.stdout_text(), &self.stderr_text()) {
                    return found;
                }
                panic!("{} exited ({status}) before {what}\n{}", self.name, self.logs());
            }
            if Instant::now() >= deadline {
                panic!("{} did not reach {what} within {timeout:?}\n{}", self.name, self.logs());
            }
            sleep(POLL);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let was_running = self.try_wait().is_none();
        if was_running {
            self.kill();
        }
        if std::thread::panicking() {
            eprintln!("{} (killed on drop: {was_running})\n{}", self.name, self.logs());
        }
    }
}

/// A finished (or timed-out and killed) command.
pub struct Finished {
    /// `None` when the command did not finish in time and was killed.
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Whether it finished in time and exited 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    /// The exit code, `None` when killed or timed out.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }

    /// Labelled output for assertion messages.
    pub fn describe(&self) -> String {
        format!(
            "status: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.status,
            tail(&self.stdout),
            tail(&self.stderr)
        )
    }

    /// Panics with the output unless the command exited 0 in time.
    pub fn assert_success(&self, what: &str) {
        assert!(self.success(), "{what} failed\n{}", self.describe());
    }
}

/// Runs `cmd` to completion, killing it after `timeout`. Output is logged under `log_dir`.
pub fn run_with_timeout(name: &str, cmd: &mut Command, log_dir: &Path, timeout: Duration) -> Finished {
    let mut proc = Proc::spawn(name, cmd, log_dir);
    let status = proc.wait_timeout(timeout);
    if status.is_none() {
        proc.kill();
    }
    Finished { status, stdout: proc.stdout_text(), stderr: proc.stderr_text() }
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
}

/// The last part of a log: enough to diagnose, short enough to read.
fn tail(text: &str) -> &str {
    const KEEP: usize = 6000;
    if text.len() <= KEEP {
        return text;
    }
    let mut start = text.len() - KEEP;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}
