//! `ccbt seed FILE.torrent -d DIR`: check the data already in DIR, then serve it until
//! Ctrl-C/SIGTERM. When none of the data is there, it stops and says where it looked (unless
//! `--fetch-missing`); missing pieces of partial data are fetched from peers that have them.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use ccbt_config::Effective;
use ccbt_engine::{AddTorrent, Session, TorrentSource, TorrentState, TorrentStatus};
use ccbt_metainfo::Torrent;

use super::live::{self, Outcome, Stop, Watcher};
use super::{resume, Exit};
use crate::args::{ResumeFlags, SeedArgs};
use crate::options::{explicit_dht_port, session_options, torrent_limits};
use crate::peer_addr::resolve_all;
use crate::progress::{self, ProgressConfig, TorrentProgress};
use crate::units::human_bytes;

/// Runs `ccbt seed`.
pub async fn run(args: SeedArgs, settings: &Effective) -> anyhow::Result<Exit> {
    let dir = args.dir.folder();
    anyhow::ensure!(dir.is_dir(), "data folder {} does not exist", dir.display());
    let mut add = AddTorrent::from_file(&args.torrent)?;
    if let TorrentSource::Torrent(torrent) = &add.source {
        if !args.fetch_missing {
            refuse_without_data(torrent, dir)?;
        }
    }
    // Seeding starts from what is on disk, so it must be checked first (or known from this
    // folder's checkpoint: then a sample and the files changed since are hashed).
    add.check_existing = true;
    let name = add.name();
    let peers = resolve_all(&args.engine.network.peers).await?;
    let options = session_options(settings);
    let add = resume::apply_checkpoint(add.save_path(dir), &ResumeFlags::default(), &options)?;
    let (session, _metrics) = super::metrics::new_session_with_metrics(settings, options).await?;
    let add = add.peers(peers).overwrite(args.overwrite).limits(torrent_limits(settings));
    let id = match session.add_torrent(add).await {
        Ok(id) => id,
        Err(e) => {
            live::shut_down(session).await;
            return Err(e).with_context(|| format!("cannot add {}", args.torrent.display()));
        }
    };
    let exit = match live::check_dht_port(&session, explicit_dht_port(settings)).await {
        Ok(()) => {
            let ui = TorrentProgress::new(ProgressConfig::new(&args.progress), None);
            let mut watcher = Watcher::new(&session, vec![(id, ui)]);
            serve(&mut watcher, &session, &name, args.fetch_missing, dir).await
        }
        Err(e) => Err(e),
    };
    live::shut_down(session).await;
    exit
}

/// The files of `torrent` as they would be found under `dir` (padding and empty files aside).
fn data_files(torrent: &Torrent, dir: &Path) -> Vec<PathBuf> {
    let layout = torrent.layout();
    layout
        .files()
        .iter()
        .filter(|f| !f.is_padding && f.length > 0)
        .map(|f| f.path.iter().fold(dir.to_path_buf(), |path, part| path.join(part)))
        .collect()
}

/// Fails, naming where it looked, when no file of the torrent is in `dir`: seeding from the
/// wrong folder would otherwise create empty files there and start downloading into them.
fn refuse_without_data(torrent: &Torrent, dir: &Path) -> anyhow::Result<()> {
    let files = data_files(torrent, dir);
    let present = files.iter().any(|path| std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > 0));
    if present || files.is_empty() {
        return Ok(());
    }
    let looked = match files.as_slice() {
        [one] => one.display().to_string(),
        [first, rest @ ..] => format!("{} and {} more", first.display(), rest.len()),
        [] => dir.display().to_string(),
    };
    anyhow::bail!(
        "none of {}'s data is in {} (looked for {looked}); point -d at the folder holding it, \
         or pass --fetch-missing to download it while seeding",
        torrent.name,
        dir.display()
    )
}

async fn serve(
    watcher: &mut Watcher<'_>,
    session: &Session,
    name: &str,
    fetch_missing: bool,
    dir: &Path,
) -> anyhow::Result<Exit> {
    match watcher.until(|s| s.state != TorrentState::Checking, |_| ()).await? {
        Stop::Settled(mut outcomes) => match outcomes.pop() {
            Some(Outcome::Reached(status)) => {
                // Files were there but none of their pieces verify: the same wrong folder.
                if status.pieces_have == 0 && !fetch_missing && !status.is_complete() {
                    anyhow::bail!(
                        "{name}: no piece of the data in {} matches the torrent; point -d at the \
                         folder holding it, or pass --fetch-missing to download it while seeding",
                        dir.display()
                    );
                }
                progress::note(check_report(&status, session.listen_addr().port()));
            }
            Some(Outcome::Failed { reason, .. }) => anyhow::bail!("{name}: {reason}"),
            None => anyhow::bail!("{name}: the torrent is gone"),
        },
        Stop::Signalled(signal) => {
            progress::note(format!("{signal}: stopped while checking"));
            return Ok(Exit::Interrupted);
        }
    }
    let stop = watcher.until(|_| false, |_| ()).await?;
    watcher.finish();
    if let Stop::Settled(outcomes) = stop {
        if let Some(Outcome::Failed { reason, .. }) = outcomes.into_iter().next() {
            anyhow::bail!("{name}: {reason}");
        }
    }
    // Stopping a seed with Ctrl-C is its normal end.
    for status in watcher.statuses() {
        println!(
            "{}: uploaded {}, downloaded {}",
            status.name,
            human_bytes(status.uploaded),
            human_bytes(status.downloaded)
        );
    }
    Ok(Exit::Success)
}

/// What the check found, and what happens next.
fn check_report(status: &TorrentStatus, port: u16) -> String {
    if status.is_complete() {
        return format!(
            "{}: all {} pieces ({}) present; seeding on port {port}, press Ctrl-C to stop",
            status.name,
            status.pieces_total,
            human_bytes(status.total_bytes)
        );
    }
    let missing_pieces = status.pieces_total.saturating_sub(status.pieces_have);
    let missing_bytes = status.total_bytes.saturating_sub(status.bytes_have);
    format!(
        "{}: {} of {} missing ({missing_pieces} of {} pieces); serving the {} pieces present on \
         port {port} and downloading the rest from peers that have it; press Ctrl-C to stop",
        status.name,
        human_bytes(missing_bytes),
        human_bytes(status.total_bytes),
        status.pieces_total,
        status.pieces_have
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(have: u32) -> TorrentStatus {
        let mut s = crate::progress::tests::status(TorrentState::Downloading, 0, 4 << 20, 0);
        s.name = "data".into();
        s.pieces_have = have;
        s.pieces_total = 4;
        s.bytes_have = u64::from(have) << 20;
        s
    }

    #[test]
    fn reports_missing_data() {
        let report = check_report(&status(3), 6881);
        assert!(report.starts_with("data: 1.00 MiB of 4.00 MiB missing (1 of 4 pieces)"), "{report}");
        assert!(report.contains("port 6881"));
        let report = check_report(&status(4), 6881);
        assert!(report.starts_with("data: all 4 pieces (4.00 MiB) present"), "{report}");
    }
}
