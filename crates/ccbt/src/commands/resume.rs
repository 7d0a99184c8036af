//! Checkpoints in `download`, `magnet` and `resume`: finding the torrent's checkpoint, asking
//! (with `--interactive` on a terminal) or saying on stderr what is done with it, and
//! `ccbt resume INFO_HASH`, which re-creates the torrent from its checkpoint alone.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;
use ccbt_config::{Effective, Origin};
use ccbt_engine::checkpoints::{Checkpoint, CheckpointStore};
use ccbt_engine::{
    find_checkpoint, saved_file_priorities, saved_limits, AddTorrent, FoundCheckpoint, ResumeData,
    SessionOptions, TorrentLimits, TorrentSource,
};

use super::download;
use super::Exit;
use crate::args::{ResumeArgs, ResumeFlags};
use crate::options::{session_options, torrent_limits};
use crate::progress;

/// `add` with its checkpoint applied, when there is one and the user does not decline. An
/// unusable checkpoint is reported and the data on disk is checked instead.
pub fn apply_checkpoint(
    add: AddTorrent,
    flags: &ResumeFlags,
    options: &SessionOptions,
) -> anyhow::Result<AddTorrent> {
    if !options.checkpoint_enabled {
        return Ok(add);
    }
    let name = add.name();
    match find_checkpoint(&options.checkpoint_dir, &add.info_hash()) {
        FoundCheckpoint::None => Ok(add),
        FoundCheckpoint::Unusable(error) => {
            progress::note(format!(
                "warning: the checkpoint of {name} cannot be used ({error}); checking the data on disk instead"
            ));
            Ok(add)
        }
        FoundCheckpoint::Usable { checkpoint, rejected } => {
            if !same_folder(&checkpoint, add.save_path.as_deref()) {
                // The same torrent downloaded elsewhere: nothing to continue here.
                let folder = checkpoint.save_path.display();
                tracing::info!(torrent = %name, %folder, "the torrent's checkpoint describes another folder; not used");
                return Ok(add);
            }
            for error in rejected {
                progress::note(format!("warning: ignoring an unusable checkpoint file: {error}"));
            }
            if !flags.resume && flags.interactive && std::io::stdin().is_terminal() && !ask(&checkpoint)? {
                progress::note(format!("not resuming {name}: checking the data on disk instead"));
                return Ok(add);
            }
            Ok(resumed(add, *checkpoint))
        }
    }
}

/// Whether `checkpoint` describes the data in `folder` (it records the folder canonical).
fn same_folder(checkpoint: &Checkpoint, folder: Option<&std::path::Path>) -> bool {
    let folder = folder.and_then(|f| std::fs::canonicalize(f).ok());
    folder.as_deref() == Some(checkpoint.save_path.as_path())
}

/// `add` continuing from `checkpoint`: its pieces and totals; a magnet link also takes the
/// info dictionary, so no metadata is fetched.
fn resumed(mut add: AddTorrent, checkpoint: Checkpoint) -> AddTorrent {
    let line = summary(&checkpoint);
    let data = match ResumeData::from_checkpoint(&checkpoint) {
        Ok(data) => data,
        Err(error) => {
            progress::note(format!(
                "warning: {line} cannot be used ({error}); checking the data on disk instead"
            ));
            return add;
        }
    };
    let magnet_with_info = matches!(add.source, TorrentSource::Magnet(_)) && checkpoint.info.is_some();
    if magnet_with_info {
        match AddTorrent::resume_from(checkpoint) {
            Ok(mut from) => {
                from.peers = std::mem::take(&mut add.peers);
                from.origin = std::mem::take(&mut add.origin);
                from.overwrite = add.overwrite;
                from.limits = command_over_saved(add.limits, from.limits);
                if chose_files(&add) {
                    from.selected_files = add.selected_files.take();
                    from.skipped_files = std::mem::take(&mut add.skipped_files);
                    from.file_priorities = add.file_priorities.take();
                }
                from.first_last_pieces |= add.first_last_pieces;
                // The folder of this command line, not necessarily the checkpoint's.
                from.save_path = add.save_path.take();
                add = from;
            }
            Err(error) => {
                progress::note(format!(
                    "warning: {line} cannot be used ({error}); fetching the metadata again"
                ));
                return add;
            }
        }
    } else if matches!(add.source, TorrentSource::Magnet(_)) {
        // Saved before the metadata arrived: nothing verified yet.
        return add;
    } else {
        add.limits = command_over_saved(add.limits, saved_limits(&checkpoint));
        if !chose_files(&add) {
            add.file_priorities = saved_file_priorities(&checkpoint);
        }
        add.resume = Some(data);
    }
    progress::note(format!("resuming {line}"));
    add
}

/// The torrent limits of this command line or configuration where they set one (non-zero),
/// else the ones the checkpoint recorded, direction by direction.
fn command_over_saved(command: TorrentLimits, saved: TorrentLimits) -> TorrentLimits {
    let pick = |command: u64, saved: u64| if command != 0 { command } else { saved };
    TorrentLimits {
        download: pick(command.download, saved.download),
        upload: pick(command.upload, saved.upload),
    }
}

/// Whether the command line chose files (`--select`, `--skip`): then its choice, not the
/// checkpoint's, applies.
fn chose_files(add: &AddTorrent) -> bool {
    add.selected_files.is_some() || !add.skipped_files.is_empty() || add.file_priorities.is_some()
}

/// `ubuntu.iso from its checkpoint (120/400 pieces verified)`.
fn summary(checkpoint: &Checkpoint) -> String {
    format!(
        "{} from its checkpoint ({}/{} pieces verified)",
        checkpoint.name,
        checkpoint.verified_count(),
        checkpoint.piece_count
    )
}

/// Asks on the terminal whether to resume; Enter means yes.
fn ask(checkpoint: &Checkpoint) -> anyhow::Result<bool> {
    eprint!("Resume {}? [Y/n] ", summary(checkpoint));
    std::io::stderr().flush().ok();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).context("cannot read the answer")?;
    let answer = answer.trim().to_ascii_lowercase();
    Ok(!matches!(answer.as_str(), "n" | "no"))
}

/// `ccbt resume INFO_HASH`: the torrent, folder and selection come from the checkpoint; `-o`
/// looks for the files elsewhere.
pub async fn run(args: ResumeArgs, settings: &Effective) -> anyhow::Result<Exit> {
    let options = session_options(settings);
    if !options.checkpoint_enabled {
        anyhow::bail!(
            "checkpoints are off (--no-checkpoint or checkpoint_enabled = false): nothing to resume from"
        );
    }
    let store = CheckpointStore::new(&options.checkpoint_dir);
    let info_hash = store.resolve(&args.info_hash).with_context(|| {
        format!("no checkpoint to resume in {} (see `ccbt checkpoints list`)", store.dir().display())
    })?;
    let checkpoint = match find_checkpoint(store.dir(), &info_hash) {
        FoundCheckpoint::Usable { checkpoint, rejected } => {
            for error in rejected {
                progress::note(format!("warning: ignoring an unusable checkpoint file: {error}"));
            }
            *checkpoint
        }
        FoundCheckpoint::None => anyhow::bail!("no checkpoint of {} in {}", info_hash, store.dir().display()),
        FoundCheckpoint::Unusable(error) => anyhow::bail!(
            "the checkpoint of {info_hash} cannot be used ({error}); download the torrent again with `ccbt download`: the data on disk is checked, nothing verified is lost"
        ),
    };
    if args.interactive && std::io::stdin().is_terminal() && !ask(&checkpoint)? {
        progress::note("not resuming");
        return Ok(Exit::Success);
    }
    let line = summary(&checkpoint);
    let mut add = AddTorrent::resume_from(checkpoint).context("cannot resume")?;
    add.limits = command_over_saved(torrent_limits(settings), add.limits);
    if settings.origin("download_dir") == Some(&Origin::Cli) {
        add.save_path = Some(settings.config().disk.download_dir.clone());
    }
    progress::note(format!("resuming {line}"));
    download::run_adds(vec![add], args.common, settings).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_of_the_command_wins_and_an_unset_one_keeps_the_saved_one() {
        let saved = TorrentLimits { download: 100 * 1024, upload: 50 * 1024 };
        let command = TorrentLimits { download: 0, upload: 8 * 1024 };
        assert_eq!(
            command_over_saved(command, saved),
            TorrentLimits { download: 100 * 1024, upload: 8 * 1024 }
        );
        assert_eq!(command_over_saved(TorrentLimits::default(), saved), saved);
    }
}
