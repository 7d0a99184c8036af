//! `ccbt add | list | status | pause | resume`: commands that act on the running daemon
//! through its API (see `remote.rs`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use ccbt_api::{AddRequest, TorrentView};

use super::Exit;
use super::{remote, status_text};
use crate::args::{ListArgs, ResumeArgs};
use crate::daemon_args::{AddArgs, PauseArgs, StatusArgs};
use crate::units::{human_bytes, human_rate};

/// Names longer than this are cut in the listing.
const NAME_WIDTH: usize = 40;

pub fn add(args: &AddArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    let daemon = remote::connect(state_dir)?;
    let (source, torrent) = if args.source.starts_with("magnet:") {
        (args.source.clone(), None)
    } else {
        // Sent whole, so the daemon needs no access to this file (nor this machine).
        (String::new(), Some(base64::engine::general_purpose::STANDARD.encode(read_torrent(&args.source)?)))
    };
    let save_path = match &args.dir {
        Some(dir) => Some(std::path::absolute(dir).with_context(|| format!("cannot use {}", dir.display()))?),
        None => None,
    };
    let request = AddRequest {
        source,
        torrent,
        save_path,
        paused: args.paused,
        peers: args.peers.iter().map(ToString::to_string).collect(),
        down_limit_kib: args.down_limit,
        up_limit_kib: args.up_limit,
        select: args.files.select.as_ref().map(|s| s.0.clone()),
        skip: args.files.skip.as_ref().map(|s| s.0.clone()),
        first_last_pieces: args.files.first_last_pieces,
    };
    let torrent = daemon.add(&request)?;
    println!("added {} {} into {}", torrent.info_hash, printable(&torrent.name), torrent.save_path.display());
    Ok(Exit::Success)
}

/// The bytes of a `.torrent` file, at most one more than the parser accepts (the daemon
/// refuses an oversized one, naming the limit).
fn read_torrent(path: &str) -> anyhow::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(ccbt_metainfo::MAX_TORRENT_FILE_SIZE as u64 + 1).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read the torrent file {path}"))?;
    Ok(bytes)
}

pub fn list(args: &ListArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    let torrents = remote::connect(state_dir)?.torrents_where(&args.state, args.name.as_deref())?;
    if torrents.is_empty() {
        let filtered = !args.state.is_empty() || args.name.is_some();
        println!("{}", if filtered { "no torrents match" } else { "no torrents" });
    } else {
        print!("{}", table(&torrents));
    }
    Ok(Exit::Success)
}

pub fn status(args: &StatusArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    let daemon = remote::connect(state_dir)?;
    if args.json {
        println!("{}", daemon.snapshot_json()?);
        return Ok(Exit::Success);
    }
    match &args.info_hash {
        None => print!("{}", status_text::summary(&daemon.snapshot()?)),
        Some(query) => {
            // The daemon resolves the query (a unique prefix) and names what does not match.
            let info_hash = daemon.torrent(query)?.info_hash;
            let snapshot = daemon.snapshot()?;
            let torrent = snapshot
                .torrents
                .iter()
                .find(|t| t.torrent.info_hash == info_hash)
                .with_context(|| format!("the torrent {info_hash} was just removed"))?;
            print!("{}", status_text::details(torrent));
        }
    }
    Ok(Exit::Success)
}

pub fn pause(args: &PauseArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    let daemon = remote::connect(state_dir)?;
    let targets: Vec<String> = match &args.info_hash {
        Some(info_hash) => vec![info_hash.clone()],
        None => daemon.torrents()?.into_iter().map(|t| t.info_hash).collect(),
    };
    let mut failed = false;
    for target in &targets {
        match daemon.act(target, "pause") {
            Ok(()) => println!("paused {target}"),
            Err(e) => {
                eprintln!("error: cannot pause {target}: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { Exit::Failure } else { Exit::Success })
}

/// `ccbt resume IH` while a daemon runs: the daemon continues the torrent, or loads it from its
/// checkpoint. The session flags of `resume` belong to a foreground session: given here, they
/// are refused rather than silently dropped.
pub fn resume(args: &ResumeArgs, given: &[(String, String)], state_dir: &Path) -> anyhow::Result<Exit> {
    let c = &args.common;
    // The log level and reload flags are the command's own, not the session's.
    let flags =
        given.iter().any(|(key, _)| !matches!(key.as_str(), "state_dir" | "log_level" | "config_reload"))
            || args.interactive
            || c.seed
            || c.overwrite
            || c.files.select.is_some()
            || c.files.skip.is_some()
            || c.files.first_last_pieces
            || !c.engine.network.peers.is_empty();
    anyhow::ensure!(
        !flags,
        "a ccbt daemon is running for {}: `ccbt resume INFO_HASH` hands the torrent to it and takes no other flags (stop the daemon to resume in the foreground with them)",
        state_dir.display()
    );
    let daemon = remote::connect(state_dir)?;
    daemon.act(&args.info_hash, "resume")?;
    println!("resumed {} in the ccbt daemon ({})", args.info_hash, daemon.url());
    Ok(Exit::Success)
}

/// One line per torrent.
fn table(torrents: &[TorrentView]) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "{:<40}  {:<NAME_WIDTH$}  {:<17}  {:>6}  {:>10}  {:>12}  {:>12}  {:>5}",
        "INFO HASH", "NAME", "STATE", "DONE", "SIZE", "DOWN", "UP", "PEERS"
    );
    for t in torrents {
        let _ = writeln!(
            out,
            "{}  {:<NAME_WIDTH$}  {:<17}  {:>5.1}%  {:>10}  {:>12}  {:>12}  {:>5}",
            t.info_hash,
            cut(&printable(&t.name), NAME_WIDTH),
            t.state,
            t.progress * 100.0,
            human_bytes(t.total_bytes),
            human_rate(t.download_rate),
            human_rate(t.upload_rate),
            t.connected_peers
        );
    }
    out
}

/// `text` with control characters (a torrent's name could hold terminal escapes) replaced.
pub(super) fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

pub(super) fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> TorrentView {
        TorrentView {
            info_hash: "ab".repeat(20),
            name: "a\u{1b}[2Jb".into(),
            state: "seeding".into(),
            error: None,
            save_path: "/d".into(),
            progress: 1.0,
            pieces_have: 4,
            pieces_total: 4,
            bytes_have: 65536,
            total_bytes: 65536,
            download_rate: 0,
            upload_rate: 0,
            downloaded: 65536,
            uploaded: 0,
            wasted: 0,
            connected_peers: 1,
            hashed_pieces: 0,
            eta_secs: None,
        }
    }

    #[test]
    fn long_names_are_cut_in_the_table() {
        let mut t = view();
        t.name = "n".repeat(100);
        let table = table(&[t]);
        assert!(table.lines().nth(1).unwrap().contains(&format!("{}…", "n".repeat(39))), "{table}");
    }
}
