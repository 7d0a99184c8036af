//! `ccbt files | peers | trackers | limits`: what a running daemon's torrents are doing, and
//! the knobs it takes live (file priorities, rate limits), through its API (`remote.rs`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use ccbt_api::{FileList, PeerList, SessionLimitsView, TorrentLimitsView, TrackerList};
use serde_json::{json, Map, Value};

use super::torrents::{cut, printable};
use super::{remote, Exit};
use crate::args::{FilesArgs, LimitsCommandArgs, TorrentArg};
use crate::units::{human_bytes, human_rate};

/// Paths and client names longer than this are cut in tables.
const PATH_WIDTH: usize = 60;
const CLIENT_WIDTH: usize = 24;

pub fn files(args: &FilesArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    let daemon = remote::connect(state_dir)?;
    let list: FileList = if args.priorities.is_empty() {
        daemon.torrent_part(&args.info_hash, "files")?
    } else {
        let body = json!({ "priorities": priority_map(&args.priorities)? });
        daemon.put_torrent_part(&args.info_hash, "files", &body)?
    };
    print!("{}", files_table(&list));
    Ok(Exit::Success)
}

/// `INDEX=PRIORITY` flags as the API's map (a later flag for the same files wins).
fn priority_map(flags: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut map = Map::new();
    for flag in flags {
        let (index, word) = flag.split_once('=').with_context(|| {
            format!("--priority {flag:?}: expected INDEX=PRIORITY, like 0=skip or 2-5=high")
        })?;
        map.insert(index.trim().to_owned(), Value::String(word.trim().to_ascii_lowercase()));
    }
    Ok(map)
}

fn files_table(list: &FileList) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:>5}  {:<8}  {:>6}  {:>10}  PATH", "INDEX", "PRIORITY", "DONE", "SIZE");
    for f in list.files.iter().filter(|f| !f.is_padding) {
        let _ = writeln!(
            out,
            "{:>5}  {:<8}  {:>5.1}%  {:>10}  {}",
            f.index,
            f.priority,
            f.progress * 100.0,
            human_bytes(f.length),
            cut(&printable(&f.path), PATH_WIDTH)
        );
    }
    out
}

pub fn peers(info_hash: &str, state_dir: &Path) -> anyhow::Result<Exit> {
    let list: PeerList = remote::connect(state_dir)?.torrent_part(info_hash, "peers")?;
    if list.peers.is_empty() {
        println!("no connected peers");
        return Ok(Exit::Success);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<40}  {:<CLIENT_WIDTH$}  {:>6}  {:>12}  {:>12}  {:>6}  {:>8}  {:>9}  FLAGS",
        "ADDRESS", "CLIENT", "HAS", "DOWN", "UP", "HEALTH", "LATENCY", "REQS O/I"
    );
    for p in &list.peers {
        let health = p.health.map_or_else(|| "-".to_owned(), |h| h.to_string());
        let latency = p.request_latency_ms.map_or_else(|| "-".to_owned(), |ms| format!("{ms} ms"));
        // Our requests outstanding to it / its requests waiting at our end.
        let requests = format!("{}/{}", p.outstanding_requests, p.queued_peer_requests);
        let _ = writeln!(
            out,
            "{:<40}  {:<CLIENT_WIDTH$}  {:>5.1}%  {:>12}  {:>12}  {:>6}  {:>8}  {:>9}  {}",
            p.addr,
            cut(&printable(&p.client), CLIENT_WIDTH),
            p.progress * 100.0,
            human_rate(p.download_rate),
            human_rate(p.upload_rate),
            health,
            latency,
            requests,
            p.flags.join(",")
        );
    }
    print!("{out}");
    Ok(Exit::Success)
}

pub fn trackers(args: &TorrentArg, state_dir: &Path) -> anyhow::Result<Exit> {
    let list: TrackerList = remote::connect(state_dir)?.torrent_part(&args.info_hash, "trackers")?;
    if list.trackers.is_empty() {
        println!("no trackers");
        return Ok(Exit::Success);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>4}  {:<7}  {:>6}  {:>6}  {:>6}  {:>6}  URL",
        "TIER", "STATUS", "SEEDS", "LEECH", "PEERS", "NEXT"
    );
    let count = |n: Option<u32>| n.map_or_else(|| "-".to_owned(), |n| n.to_string());
    for t in &list.trackers {
        let next = t.next_announce_secs.map_or_else(|| "-".to_owned(), |s| format!("{s}s"));
        let _ = writeln!(
            out,
            "{:>4}  {:<7}  {:>6}  {:>6}  {:>6}  {:>6}  {}",
            t.tier,
            t.status,
            count(t.seeders),
            count(t.leechers),
            t.peers_received,
            next,
            printable(&t.url)
        );
        if let Some(error) = &t.last_error {
            let _ = writeln!(out, "      error: {}", printable(error));
        }
        if let Some(warning) = &t.last_warning {
            let _ = writeln!(out, "      warning: {}", printable(warning));
        }
    }
    print!("{out}");
    Ok(Exit::Success)
}

pub fn limits(args: &LimitsCommandArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    let daemon = remote::connect(state_dir)?;
    let mut body = Map::new();
    if let Some(kib) = args.down {
        body.insert("download".into(), Value::from(kib * 1024));
    }
    if let Some(kib) = args.up {
        body.insert("upload".into(), Value::from(kib * 1024));
    }
    let change = !body.is_empty();
    let body = Value::Object(body);
    match &args.info_hash {
        Some(info_hash) => {
            let view: TorrentLimitsView = if change {
                daemon.put_torrent_part(info_hash, "limits", &body)?
            } else {
                daemon.torrent_part(info_hash, "limits")?
            };
            println!("torrent {}", view.info_hash);
            println!("download: {}", rate(view.download));
            println!("upload:   {}", rate(view.upload));
        }
        None => {
            let view: SessionLimitsView =
                if change { daemon.put("/limits", &body)? } else { daemon.get("/limits")? };
            println!("download:          {}", rate(view.download));
            println!("upload:            {}", rate(view.upload));
            println!("per peer download: {}", rate(view.peer_download));
            println!("per peer upload:   {}", rate(view.peer_upload));
        }
    }
    Ok(Exit::Success)
}

/// A limit for people: `unlimited`, or the rate with its exact KiB/s.
fn rate(bytes_per_sec: u64) -> String {
    if bytes_per_sec == 0 {
        "unlimited".to_owned()
    } else {
        format!("{} ({} KiB/s)", human_rate(bytes_per_sec), bytes_per_sec / 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_flags_become_the_api_map() {
        let map = priority_map(&["0=Skip".into(), "2-5=high".into(), "0=low".into()]).unwrap();
        assert_eq!(Value::Object(map), json!({"0": "low", "2-5": "high"}));
        let e = priority_map(&["3".into()]).unwrap_err().to_string();
        assert!(e.contains("INDEX=PRIORITY"), "{e}");
    }

    #[test]
    fn rates_read_as_unlimited_or_kib() {
        assert_eq!(rate(0), "unlimited");
        assert!(rate(512 * 1024).ends_with("(512 KiB/s)"), "{}", rate(512 * 1024));
    }
}
