//! `ccbt --daemon --add a.torrent --add "magnet:?..." [-o DIR]`: the seeds' daemon form. It
//! starts the daemon of the state folder in the background (or uses the one running there),
//! then adds each source to it as `ccbt add` does, printing what was added.

use std::ffi::OsString;
use std::path::Path;

use ccbt_config::Effective;

use super::daemon::{self, lock};
use super::{torrents, Exit};
use crate::args::FileArgs;
use crate::daemon_args::{AddArgs, StateDirArg};
use crate::seeds_args::SeedsForm;

/// Runs the form; `daemon_argv` starts the daemon (`daemon start --foreground` and the flags).
pub fn run(
    form: &SeedsForm,
    folder: Option<&Path>,
    daemon_argv: Vec<OsString>,
    settings: &Effective,
) -> anyhow::Result<Exit> {
    let state_dir = settings.config().disk.state_dir.as_path();
    match lock::read_daemon(state_dir) {
        Some(info) => {
            let url = info.url.as_deref().unwrap_or("its API is not up yet");
            println!("using the running ccbt daemon (pid {}): {url}", info.pid);
        }
        None => {
            if daemon::spawn(daemon_argv, state_dir)? != Exit::Success {
                return Ok(Exit::Failure);
            }
        }
    }
    let mut exit = Exit::Success;
    for source in &form.adds {
        let args = AddArgs {
            source: source.clone(),
            dir: folder.map(Path::to_path_buf),
            paused: form.paused,
            peers: Vec::new(),
            down_limit: None,
            up_limit: None,
            files: FileArgs { select: None, skip: None, first_last_pieces: false },
            daemon: StateDirArg { state_dir: None },
        };
        // One bad source does not stop the others; each failure is reported and counted.
        if let Err(e) = torrents::add(&args, state_dir) {
            eprintln!("error: cannot add {source}: {}", crate::render_error(&e));
            exit = Exit::Failure;
        }
    }
    Ok(exit)
}
