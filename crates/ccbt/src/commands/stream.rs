//! `ccbt stream FILE.torrent|MAGNET [--file N] [-o DIR]`: one file of a torrent to stdout, in
//! order, while it downloads (`ccbt stream x.torrent | mpv -`). Each byte is written once its
//! piece is verified; the download streams (pieces near the reader first). Progress, notes and
//! the summary go to stderr: stdout carries the file's bytes only. A player that closes the
//! pipe ends the stream normally.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ccbt_config::Effective;
use ccbt_engine::{AddTorrent, Session, SessionError, TorrentFileReader, TorrentId, TorrentSource};
use ccbt_metainfo::Torrent;
use tokio::io::AsyncWriteExt as _;

use super::live::{self, Outcome, Stop, Watcher};
use super::Exit;
use crate::args::StreamArgs;
use crate::options::{explicit_dht_port, session_options, torrent_limits};
use crate::peer_addr::resolve_all;
use crate::progress::{self, ProgressConfig, TorrentProgress};
use crate::units::{human_bytes, human_elapsed};

/// Bytes moved to stdout per write: large writes keep a fast download from being held up by
/// many small pipe writes.
const COPY_BUFFER: usize = 256 * 1024;

/// How often a magnet link is looked at while its metadata is fetched.
const METADATA_CHECK: Duration = Duration::from_millis(250);

/// Runs `ccbt stream`.
pub async fn run(args: StreamArgs, settings: &Effective) -> anyhow::Result<Exit> {
    if std::io::stdout().is_terminal() {
        anyhow::bail!(
            "stdout is a terminal: pipe the stream into a player, e.g. `ccbt stream {} | mpv -`",
            args.source
        );
    }
    let add = AddTorrent::parse(&args.source).with_context(|| format!("cannot use {}", args.source))?;
    let add = add.overwrite(args.overwrite).streaming(true).limits(torrent_limits(settings));
    // With a .torrent the file is known now, and only it is downloaded.
    let add = match &add.source {
        TorrentSource::Torrent(torrent) => {
            let index = choose_file(torrent, args.file)?;
            add.select_files([index])
        }
        TorrentSource::Magnet(_) => add,
    };
    let dir = args.dir.folder();
    let peers = resolve_all(&args.engine.network.peers).await?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the output folder {}", dir.display()))?;
    let (session, _metrics) =
        super::metrics::new_session_with_metrics(settings, session_options(settings)).await?;
    let name = add.name();
    let exit = match session.add_torrent(add.save_path(dir).peers(peers)).await {
        Ok(id) => match live::check_dht_port(&session, explicit_dht_port(settings)).await {
            Ok(()) => stream(&session, id, name, &args).await,
            Err(e) => Err(e),
        },
        Err(e) => Err(anyhow::Error::new(e).context(format!("cannot add {name}"))),
    };
    live::shut_down(session).await;
    exit
}

/// Copies the file to stdout while showing the torrent's progress, until the file ends, the
/// player leaves, the torrent fails or a signal arrives.
async fn stream(session: &Session, id: TorrentId, name: String, args: &StreamArgs) -> anyhow::Result<Exit> {
    tracing::info!(torrent = %name, listen = %session.listen_addr(), "stream started");
    let config = ProgressConfig::new(&args.progress);
    let mut watcher = Watcher::new(session, vec![(id, TorrentProgress::new(config, None))]);
    let started = Instant::now();
    let outcome = tokio::select! {
        copied = copy_to_stdout(session, id, args.file) => Ok(copied),
        stop = watcher.until(|_| false, |_| ()) => Err(stop),
    };
    watcher.finish();
    match outcome {
        Ok(copied) => {
            let (file, written, whole) = copied?;
            let how = if whole { "streamed" } else { "streamed until the player closed the pipe:" };
            progress::note(format!(
                "{name}: {file} {how} {} in {}",
                human_bytes(written),
                human_elapsed(started.elapsed())
            ));
            Ok(Exit::Success)
        }
        Err(stop) => match stop? {
            Stop::Signalled(signal) => {
                progress::note(format!("{signal}: stopping; verified pieces are kept"));
                Ok(Exit::Interrupted)
            }
            Stop::Settled(outcomes) => {
                let reason = outcomes.into_iter().find_map(|o| match o {
                    Outcome::Failed { name, reason } => Some(format!("{name}: {reason}")),
                    Outcome::Reached(_) => None,
                });
                anyhow::bail!("{}", reason.unwrap_or_else(|| format!("{name}: the stream stopped")))
            }
        },
    }
}

/// Opens the file (once a magnet's metadata is there) and copies it to stdout. Returns the
/// file's name, the bytes written and whether the whole file was (false: the reader of the
/// pipe left).
async fn copy_to_stdout(
    session: &Session,
    id: TorrentId,
    file: Option<u32>,
) -> anyhow::Result<(String, u64, bool)> {
    let (path, reader) = open(session, id, file).await?;
    let len = reader.len();
    let mut reader = tokio::io::BufReader::with_capacity(COPY_BUFFER, reader);
    let mut stdout = tokio::io::stdout();
    let copied = tokio::io::copy_buf(&mut reader, &mut stdout).await;
    let flushed = match copied {
        Ok(_) => stdout.flush().await,
        Err(e) => Err(e),
    };
    let written = reader.get_ref().position().saturating_sub(reader.buffer().len() as u64);
    match flushed {
        Ok(()) => Ok((path, len, true)),
        // The player closed the pipe (it quit, or read what it needed): a normal end.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok((path, written, false)),
        Err(e) => Err(anyhow::Error::new(e).context(format!("streaming {path} failed"))),
    }
}

/// A reader of the chosen file, waiting for a magnet link's metadata first; the file's path.
async fn open(
    session: &Session,
    id: TorrentId,
    file: Option<u32>,
) -> anyhow::Result<(String, TorrentFileReader)> {
    let mut tick = tokio::time::interval(METADATA_CHECK);
    let torrent = loop {
        match session.metainfo(id) {
            Ok(torrent) => break torrent,
            Err(SessionError::MetadataPending(_)) => tick.tick().await,
            Err(e) => return Err(e.into()),
        };
    };
    let index = choose_file(&torrent, file)?;
    let path = torrent.files[index as usize].path.join("/");
    let path = if path.is_empty() { torrent.name.clone() } else { path };
    let reader = session.open_file(id, index).with_context(|| format!("cannot stream {path}"))?;
    Ok((path, reader))
}

/// The file to stream: `requested` if it exists and is not a padding file, else the largest
/// file (the first of equally large ones).
fn choose_file(torrent: &Torrent, requested: Option<u32>) -> anyhow::Result<u32> {
    let files = &torrent.files;
    match requested {
        Some(n) => match files.get(n as usize) {
            Some(f) if !f.is_padding => Ok(n),
            Some(_) => anyhow::bail!("file {n} of {} is a padding file, not content", torrent.name),
            None => {
                anyhow::bail!("{} has {} files (numbered from 0): no file {n}", torrent.name, files.len())
            }
        },
        None => files
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_padding)
            .max_by_key(|&(i, f)| (f.length, std::cmp::Reverse(i)))
            .map(|(i, _)| i as u32)
            .context("the torrent has no files"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccbt_metainfo::TorrentBuilder;

    fn torrent(lengths: &[u64]) -> Torrent {
        let total: u64 = lengths.iter().sum();
        let builder = TorrentBuilder {
            name: "t".into(),
            files: lengths.iter().enumerate().map(|(i, &n)| (vec![format!("f{i}")], n)).collect(),
            piece_length: 16384,
            piece_hashes: vec![[0; 20]; total.div_ceil(16384) as usize],
            ..TorrentBuilder::default()
        };
        Torrent::from_bytes(&builder.build().unwrap()).unwrap()
    }

    #[test]
    fn the_largest_file_by_default_and_named_files_checked() {
        let t = torrent(&[10, 300, 20, 300]);
        assert_eq!(choose_file(&t, None).unwrap(), 1);
        assert_eq!(choose_file(&t, Some(2)).unwrap(), 2);
        let err = choose_file(&t, Some(4)).unwrap_err().to_string();
        assert!(err.contains("4 files") && err.contains("no file 4"), "{err}");
    }
}
