//! `ccbt download FILE.torrent -o DIR`: download until every piece is verified, then exit (or
//! keep seeding with `--seed` until Ctrl-C/SIGTERM).

use std::time::Instant;

use anyhow::Context as _;
use ccbt_engine::{AddTorrent, Session, SessionOptions, TorrentStatus};

use super::live::{self, Stop, Watcher};
use super::Exit;
use crate::args::DownloadArgs;
use crate::options::session_options;
use crate::peer_addr::resolve_all;
use crate::progress::{self, ProgressConfig, TorrentProgress};
use crate::units::{average_rate, human_bytes, human_elapsed, human_rate};

/// Runs `ccbt download`.
pub async fn run(args: DownloadArgs, progress: ProgressConfig) -> anyhow::Result<Exit> {
    let add = AddTorrent::parse(&args.torrent)?;
    let name = add.name();
    let peers = resolve_all(&args.engine.peers).await?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create the output folder {}", args.output.display()))?;
    let options = session_options(SessionOptions::default(), &args.engine, &args.output);
    let session = Session::new(options).await.context("cannot start the session")?;
    let added = session.add_torrent(add.save_path(&args.output).peers(peers).overwrite(args.overwrite)).await;
    let id = match added {
        Ok(id) => id,
        Err(e) => {
            live::shut_down(session).await;
            return Err(e).with_context(|| format!("cannot add {name}"));
        }
    };
    tracing::info!(torrent = %name, listen = %session.listen_addr(), "download started");

    let started = Instant::now();
    let mut watcher = Watcher::new(&session, id, TorrentProgress::new(progress));
    let stop = watcher.until(live::is_done).await;
    watcher.finish();
    let exit = match stop {
        Ok(Stop::Reached(status)) => {
            println!("{}", summary(&status, started.elapsed()));
            if args.seed {
                seed_until_signal(&mut watcher, &session).await
            } else {
                Ok(Exit::Success)
            }
        }
        Ok(Stop::Signalled(signal)) => {
            progress::note(format!("{signal}: stopping; verified pieces are kept"));
            Ok(Exit::Interrupted)
        }
        Ok(Stop::Failed(reason)) => Err(anyhow::anyhow!("{name}: {reason}")),
        Err(e) => Err(e),
    };
    drop(watcher);
    live::shut_down(session).await;
    exit
}

/// After the download: serve the torrent until a signal. Stopping a seed is the normal end, so
/// it exits with success.
async fn seed_until_signal(watcher: &mut Watcher<'_>, session: &Session) -> anyhow::Result<Exit> {
    progress::note(format!("seeding on port {}; press Ctrl-C to stop", session.listen_addr().port()));
    let stop = watcher.until(|_| false).await;
    watcher.finish();
    match stop? {
        Stop::Failed(reason) => Err(anyhow::anyhow!("seeding stopped: {reason}")),
        Stop::Signalled(_) | Stop::Reached(_) => {
            if let Ok(status) = watcher.status() {
                println!("{}: uploaded {}", status.name, human_bytes(status.uploaded));
            }
            Ok(Exit::Success)
        }
    }
}

/// `ubuntu.iso: 1.0 GiB verified in 12.3s, 1.0 GiB downloaded at 83.2 MiB/s average`
fn summary(status: &TorrentStatus, elapsed: std::time::Duration) -> String {
    let head = format!(
        "{}: {} verified in {}",
        status.name,
        human_bytes(status.total_bytes),
        human_elapsed(elapsed)
    );
    if status.downloaded == 0 {
        format!("{head} (already complete on disk)")
    } else {
        format!(
            "{head}, {} downloaded at {} average",
            human_bytes(status.downloaded),
            human_rate(average_rate(status.downloaded, elapsed))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::tests::status;
    use ccbt_engine::TorrentState;
    use std::time::Duration;

    #[test]
    fn summary_lines() {
        let mut s = status(TorrentState::Seeding, 1 << 30, 1 << 30, 0);
        s.name = "ubuntu.iso".into();
        assert_eq!(
            summary(&s, Duration::from_secs(8)),
            "ubuntu.iso: 1.0 GiB verified in 8.0s, 1.0 GiB downloaded at 128.0 MiB/s average"
        );
        s.downloaded = 0;
        assert_eq!(
            summary(&s, Duration::from_millis(300)),
            "ubuntu.iso: 1.0 GiB verified in 0.3s (already complete on disk)"
        );
    }
}
