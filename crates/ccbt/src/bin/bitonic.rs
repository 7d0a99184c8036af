//! `bitonic`: ccbt's terminal dashboard under its own name. It runs `ccbt dashboard` with the
//! same arguments (the `ccbt` installed beside this program, else the one on PATH), so both
//! names are one code path: the same configuration, state folder and daemon start.

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let sibling = std::env::current_exe().ok().map(|exe| exe.with_file_name("ccbt")).filter(|p| p.is_file());
    let program = sibling.unwrap_or_else(|| PathBuf::from("ccbt"));
    // exec only returns on failure.
    let error = Command::new(&program).arg("dashboard").args(std::env::args_os().skip(1)).exec();
    eprintln!("error: bitonic cannot run {} ({error}); is ccbt installed?", program.display());
    ExitCode::FAILURE
}
