//! `ccbt seed FILE.torrent -d DIR`: check the data already in DIR, then serve it until
//! Ctrl-C/SIGTERM. Missing pieces are reported and fetched from peers that have them.

use anyhow::Context as _;
use ccbt_engine::{AddTorrent, Session, SessionOptions, TorrentState, TorrentStatus};

use super::live::{self, Stop, Watcher};
use super::Exit;
use crate::args::SeedArgs;
use crate::options::session_options;
use crate::peer_addr::resolve_all;
use crate::progress::{self, ProgressConfig, TorrentProgress};
use crate::units::human_bytes;

/// Runs `ccbt seed`.
pub async fn run(args: SeedArgs, progress: ProgressConfig) -> anyhow::Result<Exit> {
    anyhow::ensure!(args.dir.is_dir(), "data folder {} does not exist", args.dir.display());
    let mut add = AddTorrent::from_file(&args.torrent)?;
    // Seeding starts from what is on disk, so it must be checked first.
    add.check_existing = true;
    let name = add.name();
    let peers = resolve_all(&args.engine.peers).await?;
    let options = session_options(SessionOptions::default(), &args.engine, &args.dir);
    let session = Session::new(options).await.context("cannot start the session")?;
    let id = match session.add_torrent(add.save_path(&args.dir).peers(peers).overwrite(args.overwrite)).await
    {
        Ok(id) => id,
        Err(e) => {
            live::shut_down(session).await;
            return Err(e).with_context(|| format!("cannot add {}", args.torrent.display()));
        }
    };

    let mut watcher = Watcher::new(&session, id, TorrentProgress::new(progress));
    let exit = serve(&mut watcher, &session, &name).await;
    drop(watcher);
    live::shut_down(session).await;
    exit
}

async fn serve(watcher: &mut Watcher<'_>, session: &Session, name: &str) -> anyhow::Result<Exit> {
    match watcher.until(|s| s.state != TorrentState::Checking).await? {
        Stop::Reached(status) => {
            watcher.finish();
            progress::note(check_report(&status, session.listen_addr().port()));
        }
        Stop::Signalled(signal) => {
            watcher.finish();
            progress::note(format!("{signal}: stopped while checking"));
            return Ok(Exit::Interrupted);
        }
        Stop::Failed(reason) => {
            watcher.finish();
            anyhow::bail!("{name}: {reason}");
        }
    }
    let stop = watcher.until(|_| false).await?;
    watcher.finish();
    match stop {
        Stop::Failed(reason) => Err(anyhow::anyhow!("{name}: {reason}")),
        // Stopping a seed with Ctrl-C is its normal end.
        Stop::Signalled(_) | Stop::Reached(_) => {
            if let Ok(status) = watcher.status() {
                println!(
                    "{}: uploaded {}, downloaded {}",
                    status.name,
                    human_bytes(status.uploaded),
                    human_bytes(status.downloaded)
                );
            }
            Ok(Exit::Success)
        }
    }
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
        assert!(report.starts_with("data: 1.0 MiB of 4.0 MiB missing (1 of 4 pieces)"), "{report}");
        assert!(report.contains("port 6881"));
        let report = check_report(&status(4), 6881);
        assert!(report.starts_with("data: all 4 pieces (4.0 MiB) present"), "{report}");
    }
}
