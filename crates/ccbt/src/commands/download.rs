//! `ccbt download SOURCE... -o DIR`: download every torrent and magnet link in one session,
//! one progress line each, until every piece of each is verified, then exit (or keep seeding
//! with `--seed` until Ctrl-C/SIGTERM).

use std::time::Instant;

use anyhow::Context as _;
use ccbt_config::Effective;
use ccbt_engine::{AddTorrent, Session, TorrentId, TorrentStatus};

use super::live::{self, Outcome, Stop, Watcher};
use super::{resume, Exit};
use crate::args::{ResumeFlags, TransferArgs};
use crate::options::{explicit_dht_port, session_options, torrent_limits};
use crate::peer_addr::resolve_all;
use crate::progress::{self, ProgressConfig, TorrentProgress};
use crate::units::{average_rate, human_bytes, human_elapsed, human_rate};

/// Runs `ccbt download` (and `ccbt magnet`) over `sources`; a torrent with a checkpoint resumes
/// from it (see `resume.rs`).
pub async fn run(
    sources: &[String],
    flags: &ResumeFlags,
    args: TransferArgs,
    settings: &Effective,
) -> anyhow::Result<Exit> {
    // Every source is parsed before anything starts: a typo in the third fails at once.
    let adds = sources
        .iter()
        .map(|source| AddTorrent::parse(source).with_context(|| format!("cannot use {source}")))
        .map(|add| {
            add.map(|add| {
                let add = add.overwrite(args.overwrite).save_path(args.dir.folder());
                args.files.apply(add.limits(torrent_limits(settings)))
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let options = session_options(settings);
    let adds = adds
        .into_iter()
        .map(|add| resume::apply_checkpoint(add, flags, &options))
        .collect::<anyhow::Result<Vec<_>>>()?;
    run_adds(adds, args, settings).await
}

/// Downloads `adds` (each with its folder) in one session until done, a failure or a signal.
pub async fn run_adds(
    adds: Vec<AddTorrent>,
    args: TransferArgs,
    settings: &Effective,
) -> anyhow::Result<Exit> {
    let peers = resolve_all(&args.engine.network.peers).await?;
    for add in &adds {
        let dir = add.save_path.as_deref().unwrap_or(args.dir.folder());
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    }
    let options = session_options(settings);
    let (session, _metrics) = super::metrics::new_session_with_metrics(settings, options).await?;
    let exit = match add_all(&session, adds, &peers).await {
        Ok(added) => {
            let dht_port = live::check_dht_port(&session, explicit_dht_port(settings)).await;
            match dht_port {
                Ok(()) => watch(&session, added, &args).await,
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    live::shut_down(session).await;
    exit
}

/// Adds every torrent with the same peers; their ids and names.
async fn add_all(
    session: &Session,
    adds: Vec<AddTorrent>,
    peers: &[std::net::SocketAddr],
) -> anyhow::Result<Vec<(TorrentId, String)>> {
    let mut added = Vec::with_capacity(adds.len());
    for add in adds {
        let name = add.name();
        let id = session
            .add_torrent(add.peers(peers.iter().copied()))
            .await
            .with_context(|| format!("cannot add {name}"))?;
        tracing::info!(torrent = %name, listen = %session.listen_addr(), "download started");
        added.push((id, name));
    }
    Ok(added)
}

async fn watch(
    session: &Session,
    added: Vec<(TorrentId, String)>,
    args: &TransferArgs,
) -> anyhow::Result<Exit> {
    let config = ProgressConfig::new(&args.progress);
    let several = added.len() > 1;
    let torrents = added
        .iter()
        .map(|(id, name)| (*id, TorrentProgress::new(config, several.then(|| name.clone()))))
        .collect();
    let started = Instant::now();
    let mut watcher = Watcher::new(session, torrents);
    let stop = watcher
        .until(live::is_done, |status| {
            let line = summary(status, started.elapsed());
            progress::suspend(|| println!("{line}"));
        })
        .await?;
    watcher.finish();
    let outcomes = match stop {
        Stop::Settled(outcomes) => outcomes,
        Stop::Signalled(signal) => {
            let kept = if session.options().checkpoint_enabled {
                "verified pieces are kept and the checkpoint is saved"
            } else {
                "verified pieces are kept"
            };
            progress::note(format!("{signal}: stopping; {kept}"));
            return Ok(Exit::Interrupted);
        }
    };
    let failures: Vec<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Failed { name, reason } => Some(format!("{name}: {reason}")),
            Outcome::Reached(_) => None,
        })
        .collect();
    if !failures.is_empty() {
        anyhow::bail!("{}", failures.join("\n"));
    }
    if args.seed {
        seed_until_signal(&mut watcher, session).await
    } else {
        print_totals(&watcher);
        Ok(Exit::Success)
    }
}

/// After the download: serve the torrents until a signal. Stopping a seed is the normal end, so
/// it exits with success.
async fn seed_until_signal(watcher: &mut Watcher<'_>, session: &Session) -> anyhow::Result<Exit> {
    progress::note(format!("seeding on port {}; press Ctrl-C to stop", session.listen_addr().port()));
    let stop = watcher.until(|_| false, |_| ()).await;
    watcher.finish();
    if let Stop::Settled(outcomes) = stop? {
        for outcome in outcomes {
            if let Outcome::Failed { name, reason } = outcome {
                anyhow::bail!("seeding {name} stopped: {reason}");
            }
        }
    }
    print_totals(watcher);
    Ok(Exit::Success)
}

/// The last line per torrent: what crossed the wire in both directions and what was thrown away,
/// exact byte counts included so scripts (the swarm test and benchmark) can add them up.
fn print_totals(watcher: &Watcher<'_>) {
    for status in watcher.statuses() {
        println!("{}", totals(&status));
    }
}

/// `ubuntu.iso: downloaded 1.00 GiB (1073741824 bytes), uploaded 0 B (0 bytes), wasted ...`
fn totals(status: &TorrentStatus) -> String {
    let part = |what: &str, n: u64| format!("{what} {} ({n} bytes)", human_bytes(n));
    format!(
        "{}: {}, {}, {}",
        status.name,
        part("downloaded", status.downloaded),
        part("uploaded", status.uploaded),
        part("wasted", status.wasted)
    )
}

/// `ubuntu.iso: 1.00 GiB verified in 12.3s, 1.00 GiB downloaded at 83.20 MiB/s average`
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
            "ubuntu.iso: 1.00 GiB verified in 8.0s, 1.00 GiB downloaded at 128.00 MiB/s average"
        );
        s.downloaded = 0;
        assert_eq!(
            summary(&s, Duration::from_millis(300)),
            "ubuntu.iso: 1.00 GiB verified in 0.3s (already complete on disk)"
        );
    }

    #[test]
    fn totals_line_has_exact_bytes() {
        let mut s = status(TorrentState::Seeding, 1 << 30, 1 << 30, 0);
        s.name = "ubuntu.iso".into();
        s.downloaded = (1 << 30) + 16384;
        s.uploaded = 3 << 20;
        s.wasted = 16384;
        assert_eq!(
            totals(&s),
            "ubuntu.iso: downloaded 1.00 GiB (1073758208 bytes), uploaded 3.00 MiB (3145728 bytes), \
             wasted 16.00 KiB (16384 bytes)"
        );
    }
}
