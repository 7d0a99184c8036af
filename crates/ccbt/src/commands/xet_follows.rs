//! The daemon's follows: `ccbt xet follow` handed to a daemon running on the state folder
//! (`POST /api/v1/xet/follows`, returning once the daemon accepted it), `ccbt xet follows`
//! (`GET`) and `ccbt xet unfollow ID` (`DELETE`). Without a daemon, `follow` runs in this
//! process (`xet_follow.rs`) and the other two have nothing to ask.

use std::path::Path;

use anyhow::Context as _;
use base64::Engine as _;
use ccbt_api::{XetFollowList, XetFollowRequest, XetFollowView};

use super::remote::{self, Daemon};
use super::Exit;
use crate::units::{format_utc, human_duration};
use crate::xet_args::XetFollowArgs;

/// `ccbt xet follow` through the daemon: the .torrent is sent in the request (the daemon
/// needs no access to it), the folder made absolute here.
pub fn follow(args: &XetFollowArgs, daemon: &Daemon) -> anyhow::Result<Exit> {
    let dir = std::path::absolute(&args.output)
        .with_context(|| format!("cannot resolve the folder {}", args.output.display()))?;
    let peers = if args.engine.network.peers.is_empty() {
        Vec::new()
    } else {
        // Only name lookups: no session runs here, one thread does.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?
            .block_on(crate::peer_addr::resolve_all(&args.engine.network.peers))?
    };
    let mut request = XetFollowRequest {
        dir: Some(dir),
        poll_secs: Some(args.poll_secs),
        peers: peers.iter().map(ToString::to_string).collect(),
        ..XetFollowRequest::default()
    };
    if args.source.starts_with("magnet:") {
        request.source = args.source.clone();
    } else {
        let bytes = std::fs::read(&args.source).with_context(|| format!("cannot read {}", args.source))?;
        request.torrent = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
    }
    let body = serde_json::to_value(&request).context("cannot encode the request")?;
    let view: XetFollowView = daemon.post("/xet/follows", &body)?;
    println!("the daemon ({}) follows {} into {}", daemon.url(), view.link, view.dir.display());
    println!("id:    {}", view.id);
    println!("state: {}", view.state);
    println!("(`ccbt xet follows` shows how it goes; `ccbt xet unfollow {}` stops it)", view.id);
    Ok(Exit::Success)
}

/// `ccbt xet follows`.
pub fn list(state_dir: &Path) -> anyhow::Result<Exit> {
    let daemon = remote::connect(state_dir)?;
    let list: XetFollowList = daemon.get("/xet/follows")?;
    if list.follows.is_empty() {
        println!("the daemon follows no dataset");
        return Ok(Exit::Success);
    }
    println!("{:<16}  {:<10}  {:>6}  FOLDER", "ID", "STATE", "SEQ");
    for f in &list.follows {
        print_follow(f, unix_now());
    }
    Ok(Exit::Success)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn print_follow(f: &XetFollowView, now: u64) {
    println!("{:<16}  {:<10}  {:>6}  {}", f.id, f.state, f.seq, f.dir.display());
    println!("  link:      {}", f.link);
    match (&f.torrent, &f.info_hash) {
        (Some(t), _) => println!("  version:   {} ({})", t.name, t.info_hash),
        (None, Some(ih)) => println!("  version:   {ih}"),
        (None, None) => println!("  version:   not known yet"),
    }
    if let Some(u) = &f.updating {
        println!("  fetching:  version {} ({})", u.seq, u.info_hash);
    }
    let last = match f.last_poll {
        Some(at) => format!(
            "{} ago ({})",
            human_duration(now.saturating_sub(at)),
            i64::try_from(at).ok().and_then(format_utc).unwrap_or_default()
        ),
        None => "never".into(),
    };
    println!("  last poll: {last}; {} polls, {} switches, every {} s", f.polls, f.switches, f.poll_secs);
    if let Some(e) = &f.last_error {
        println!("  error:     {e}");
    }
}

/// `ccbt xet unfollow ID`.
pub fn unfollow(id: &str, state_dir: &Path) -> anyhow::Result<Exit> {
    anyhow::ensure!(
        !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{id:?} is not a follow id (`ccbt xet follows` lists them)"
    );
    let daemon = remote::connect(state_dir)?;
    daemon.delete(&format!("/xet/follows/{id}"))?;
    println!("follow {id} stopped; the folder's files and the torrent of its version stay");
    Ok(Exit::Success)
}
