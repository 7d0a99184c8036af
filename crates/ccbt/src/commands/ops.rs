//! `ccbt recheck`, `ccbt reannounce` and `ccbt remove [--delete-data]`: operations on one
//! torrent of the running daemon, through its API (see `remote.rs`).

use std::path::Path;

use super::remote;
use super::Exit;
use crate::daemon_args::RemoveArgs;
use crate::ops_args::TorrentOpArgs;

pub fn recheck(args: &TorrentOpArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    remote::connect(state_dir)?.act(&args.info_hash, "recheck")?;
    println!("rechecking {} (state `checking` until done; missing pieces download again)", args.info_hash);
    Ok(Exit::Success)
}

pub fn reannounce(args: &TorrentOpArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    remote::connect(state_dir)?.act(&args.info_hash, "reannounce")?;
    println!("announcing {} to its trackers and the DHT", args.info_hash);
    Ok(Exit::Success)
}

pub fn remove(args: &RemoveArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    let daemon = remote::connect(state_dir)?;
    if !args.delete_data {
        daemon.remove(&args.info_hash)?;
        println!("removed {} (its files are kept)", args.info_hash);
        return Ok(Exit::Success);
    }
    let report = daemon.remove_with_data(&args.info_hash)?;
    println!("removed {}", report.info_hash);
    for path in &report.deleted_files {
        println!("deleted {}", path.display());
    }
    for path in &report.deleted_folders {
        println!("deleted folder {}", path.display());
    }
    for path in &report.kept_files {
        println!("kept {} (it existed before ccbt)", path.display());
    }
    for failed in &report.failed {
        eprintln!("error: cannot delete {}: {}", failed.path.display(), failed.error);
    }
    Ok(if report.failed.is_empty() { Exit::Success } else { Exit::Failure })
}
