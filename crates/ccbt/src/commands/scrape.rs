//! `ccbt scrape FILE.torrent|INFOHASH [--tracker URL]...`: seeders, leechers and completed
//! downloads as each tracker counts them.

use anyhow::Context as _;
use ccbt_core::InfoHash;
use ccbt_engine::Session;

use super::info::read_torrent;
use super::Exit;
use crate::args::ScrapeArgs;

/// Runs `ccbt scrape`. Exit 1 when no tracker answered.
pub async fn run(args: &ScrapeArgs) -> anyhow::Result<Exit> {
    let (info_hash, mut urls) = target(args)?;
    if !args.trackers.is_empty() {
        urls = args.trackers.clone();
    }
    anyhow::ensure!(
        !urls.is_empty(),
        "no tracker to ask: the torrent lists none; name one with --tracker URL"
    );
    println!("info hash {info_hash}");
    let mut answered = 0;
    for url in &urls {
        match Session::scrape(url, info_hash).await {
            Ok(s) => {
                answered += 1;
                println!(
                    "{url}: {} seeders, {} leechers, {} completed",
                    s.complete, s.incomplete, s.downloaded
                );
            }
            Err(e) => eprintln!("{url}: error: {e}"),
        }
    }
    Ok(if answered > 0 { Exit::Success } else { Exit::Failure })
}

/// The info hash and the torrent's trackers (none for a bare info hash).
fn target(args: &ScrapeArgs) -> anyhow::Result<(InfoHash, Vec<String>)> {
    if let Ok(hash) = args.target.parse::<InfoHash>() {
        return Ok((hash, Vec::new()));
    }
    let torrent = read_torrent(args.target.as_ref())
        .with_context(|| format!("{} is neither an info hash nor a readable .torrent", args.target))?;
    Ok((torrent.info_hash, torrent.trackers.into_iter().flatten().collect()))
}
