//! `ccbt xet follow OLD.torrent|LINK -o DIR`: get the current version of a dataset into DIR,
//! then follow the publisher's BEP 46 item and switch DIR to each new version
//! (`Session::xet_follow`), until Ctrl-C.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use ccbt_config::Effective;
use ccbt_engine::bep46::{decode_info_hash_value, MutableLink};
use ccbt_engine::{AddTorrent, Session, TorrentId, TorrentState, XetFollowSpec, XetFollowStatus};
use ccbt_metainfo::Magnet;

use super::live;
use super::Exit;
use crate::options::{explicit_dht_port, session_options};
use crate::xet_args::XetFollowArgs;

/// Deadline of one DHT lookup.
const LOOKUP: Duration = Duration::from_secs(60);
/// Lookups of the item (and attempts at getting the current version) before giving up.
const FIRST_LOOKUPS: u32 = 5;
/// Pause before getting the current version again.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// Where following starts: the publisher, and the current version if a .torrent named it.
struct Start {
    link: MutableLink,
    torrent: Option<ccbt_metainfo::Torrent>,
}

/// Runs `ccbt xet follow`.
pub async fn run(args: &XetFollowArgs, settings: &Effective) -> anyhow::Result<Exit> {
    anyhow::ensure!(
        !args.engine.discovery.no_dht,
        "following polls an item in the DHT: --no-dht cannot apply"
    );
    let start = parse_source(&args.source)?;
    std::fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let mut options = session_options(settings);
    options.enable_dht = true;
    if options.xet_store_dir.is_none() {
        eprintln!("note: xet_enabled is off: new versions are downloaded whole, not chunk by chunk");
    }
    let session = super::session_lock::new_session(options).await?;
    // Getting the current version stops at once on a signal; a switch's commit, once begun,
    // is waited for (`follow` handles the signal itself from then on).
    let current = tokio::select! {
        current = current_version(&session, settings, args, start) => current.map(Some),
        signal = live::shutdown_signal() => {
            eprintln!("{signal}: stopping");
            Ok(None)
        }
    };
    let result = match current {
        Ok(Some(current)) => follow(&session, args, current).await,
        Ok(None) => Ok(Exit::Success),
        Err(e) => Err(e),
    };
    live::shut_down(session).await;
    result
}

fn parse_source(source: &str) -> anyhow::Result<Start> {
    if source.starts_with("magnet:") {
        let link =
            MutableLink::parse(source).map_err(|e| anyhow::anyhow!("{source} is not a BEP 46 link: {e}"))?;
        return Ok(Start { link, torrent: None });
    }
    let torrent = super::xet_publish::read_torrent(Path::new(source))?;
    let publisher = torrent.xet.as_ref().and_then(|x| x.publisher.clone()).with_context(|| {
        format!("{source} names no publisher (info.xet.pk): follow its publisher's magnet:?xs=urn:btpk: link")
    })?;
    let link = MutableLink { public_key: publisher.public_key, salt: publisher.salt };
    Ok(Start { link, torrent: Some(torrent) })
}

/// The dataset's current version, complete in the output folder: the session's torrent and
/// the item's sequence number of it.
struct Current {
    link: MutableLink,
    id: TorrentId,
    seq: i64,
}

/// Gets the current version into the output folder. A switch a previous run was cut in (its
/// journal is in the folder) is finished first: that version is then the current one, and
/// the folder is not checked against the older version the command line names.
async fn current_version(
    session: &Session,
    settings: &Effective,
    args: &XetFollowArgs,
    start: Start,
) -> anyhow::Result<Current> {
    live::check_dht_port(session, explicit_dht_port(settings)).await?;
    println!("following {}", start.link);
    let finished = session.xet_finish_switch(&args.output, None).await.map_err(|e| {
        anyhow::anyhow!("cannot finish the switch under way in {}: {e}", args.output.display())
    })?;
    if let Some(switched) = finished {
        println!(
            "finished the switch to version {} ({}) a previous run began",
            switched.seq, switched.info_hash
        );
        if let Some(warning) = &switched.warning {
            eprintln!("warning: {warning}");
        }
        wait_complete(session, switched.torrent).await?;
        return Ok(Current { link: start.link, id: switched.torrent, seq: switched.seq });
    }
    let (add, seq) = match start.torrent {
        Some(torrent) => (AddTorrent::new(torrent), 0),
        None => {
            let (ih, seq) = newest_version(session, &start.link).await?;
            (AddTorrent::magnet(Magnet::of_any_version(ih)), seq)
        }
    };
    let peers = crate::peer_addr::resolve_all(&args.engine.network.peers).await?;
    let mut add = add.save_path(&args.output).peers(peers);
    add.check_existing = true;
    let id = get_current(session, add).await?;
    Ok(Current { link: start.link, id, seq })
}

/// Follows from `current` until a signal; a switch's commit under way when it comes is
/// finished before this returns (the folder is never left half switched).
async fn follow(session: &Session, args: &XetFollowArgs, current: Current) -> anyhow::Result<Exit> {
    println!("{}: current version complete in {}", session.status(current.id)?.name, args.output.display());
    let spec = XetFollowSpec {
        current_seq: current.seq,
        poll_interval: Duration::from_secs(args.poll_secs),
        lookup_timeout: LOOKUP,
        ..XetFollowSpec::new(
            current.link.public_key,
            current.link.salt.clone(),
            args.output.clone(),
            current.id,
        )
    };
    let handle = session.xet_follow(spec)?;
    let mut watch = handle.watch();
    let mut shown = watch.borrow().clone();
    let signal = live::shutdown_signal();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            changed = watch.changed() => {
                if changed.is_err() {
                    break;
                }
                let now = watch.borrow().clone();
                report(&shown, &now);
                shown = now;
            }
            signal = &mut signal => {
                eprintln!("{signal}: stopping (a switch under way is finished first)");
                let last = handle.stop_and_wait().await;
                report(&shown, &last);
                break;
            }
        }
    }
    Ok(Exit::Success)
}

/// Prints what changed: a version being fetched, a switch, a new failure.
fn report(before: &XetFollowStatus, now: &XetFollowStatus) {
    if now.updating != before.updating {
        if let Some((ih, seq)) = now.updating {
            println!("version {seq} found ({ih}): fetching");
        }
    }
    if now.switches > before.switches {
        println!("switched to version {} ({})", now.seq, now.info_hash);
    }
    if now.last_error != before.last_error {
        if let Some(e) = &now.last_error {
            eprintln!("warning: {e} (trying again at the next poll)");
        }
    }
}

/// The version the item names now, looked up a few times (the DHT node may still be joining).
async fn newest_version(session: &Session, link: &MutableLink) -> anyhow::Result<(ccbt_core::InfoHash, i64)> {
    for attempt in 1..=FIRST_LOOKUPS {
        match session.dht_get_mutable(link.public_key, &link.salt, LOOKUP).await {
            Ok(Some(item)) => {
                let ih = decode_info_hash_value(&item.v)
                    .map_err(|e| anyhow::anyhow!("the publisher's item holds no info hash: {e}"))?;
                return Ok((ih, item.seq));
            }
            Ok(None) => {}
            Err(e) if attempt == FIRST_LOOKUPS => return Err(e.into()),
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    anyhow::bail!("no version of {link} found in the DHT")
}

/// Adds the current version and waits until it is complete; a failure (a magnet whose only
/// peer was still checking its data, say) is tried again a few times.
async fn get_current(session: &Session, add: AddTorrent) -> anyhow::Result<TorrentId> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let id = session.add_torrent(add.clone()).await.context("cannot add the current version")?;
        match wait_complete(session, id).await {
            Ok(()) => return Ok(id),
            Err(e) if attempt < FIRST_LOOKUPS => {
                eprintln!("warning: {e:#}; trying again");
                let _ = session.remove(id).await;
                tokio::time::sleep(RETRY_AFTER).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Waits until the torrent is complete and seeding.
async fn wait_complete(session: &Session, id: TorrentId) -> anyhow::Result<()> {
    loop {
        let status = session.status(id)?;
        if let TorrentState::Error(e) = &status.state {
            anyhow::bail!("{}: {e}", status.name);
        }
        if status.is_complete() && status.state == TorrentState::Seeding {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
