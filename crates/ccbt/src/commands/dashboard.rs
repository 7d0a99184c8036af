//! `ccbt dashboard` (and `bitonic`, which runs it): the terminal dashboard over the state
//! folder's daemon. When no daemon runs there, one is started in the background first, as the
//! seeds' `ccbt --daemon --add` form does, with this command line's `--config` and
//! `--state-dir`; it keeps running after the dashboard quits.

use std::ffi::OsString;
use std::io::IsTerminal as _;

use anyhow::Context as _;
use ccbt_config::Effective;

use super::daemon::{self, lock};
use super::Exit;
use crate::args::GlobalArgs;
use crate::daemon_args::StateDirArg;

pub fn run(at: &StateDirArg, global: &GlobalArgs, settings: &Effective) -> anyhow::Result<Exit> {
    anyhow::ensure!(
        std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
        "the dashboard needs a terminal (for scripts: `ccbt list`, `ccbt status --json`)"
    );
    let state_dir = settings.config().disk.state_dir.as_path();
    if lock::read_daemon(state_dir).is_none() {
        let mut argv: Vec<OsString> = ["daemon", "start", "--foreground"].map(OsString::from).into();
        if let Some(config) = &global.config {
            argv.extend([OsString::from("--config"), config.clone().into()]);
        }
        if let Some(dir) = &at.state_dir {
            argv.extend([OsString::from("--state-dir"), dir.clone().into()]);
        }
        // Refuses (and says why) when a foreground session holds the state folder.
        if daemon::spawn(argv, state_dir)? != Exit::Success {
            return Ok(Exit::Failure);
        }
    }
    bitonic::run(state_dir.to_path_buf()).context("the dashboard stopped on a terminal error")?;
    Ok(Exit::Success)
}
