//! `ccbt xet publish OLD.torrent NEW_PATH -o NEW.torrent`: make the next version of a Xet
//! torrent, linked to the old one, and announce it as the publisher's BEP 46 item (docs/xet.md,
//! "Publishing and following"); with `--seed`, serve it and put the item again every hour.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use ccbt_config::Effective;
use ccbt_engine::bep46::{encode_hex, encode_info_hash_value, MutableLink};
use ccbt_engine::dht_item::{Item, MutableItem, SigningKey};
use ccbt_engine::{follow_id, AddTorrent, Session};
use ccbt_metainfo::{MetaVersion, SimilarHash, Torrent, XetPublisher};

use super::live;
use super::Exit;
use crate::args::CreateArgs;
use crate::options::{explicit_dht_port, session_options};
use crate::progress::ProgressConfig;
use crate::xet_args::{XetCreateArgs, XetPublishArgs};

/// Deadline of one DHT lookup (get or put).
const LOOKUP: Duration = Duration::from_secs(60);
/// How long to wait for the DHT node to know some other node before the first lookup.
const JOIN_WAIT: Duration = Duration::from_secs(30);
/// Items live 2 hours on storing nodes: a publisher puts them again every hour.
const REPUT_EVERY: Duration = Duration::from_secs(3600);

/// Runs `ccbt xet publish`.
pub async fn run(args: &XetPublishArgs, settings: &Effective) -> anyhow::Result<Exit> {
    anyhow::ensure!(
        !args.engine.discovery.no_dht,
        "publishing puts an item in the DHT: --no-dht cannot apply"
    );
    let old = read_torrent(&args.old)?;
    anyhow::ensure!(
        old.version.has_v2() && old.xet.is_some(),
        "{} is not a Xet torrent (make the first version with `ccbt create --xet`)",
        args.old.display()
    );
    let key_path = args.key.clone().unwrap_or_else(|| default_key_path(settings));
    let key = ccbt_engine::load_or_create_key(&key_path)?;
    let publisher = publisher_for(&old, &key, args.salt.as_deref())
        .with_context(|| format!("cannot publish a new version of {}", args.old.display()))?;
    if args.seed {
        check_seedable(&args.path, &old.name)?;
    }
    let create = create_args(&old, args);
    let new = super::create::make(&create, ProgressConfig::new(&args.progress), Some(publisher.clone()))?;

    let mut options = session_options(settings);
    options.enable_dht = true;
    if !args.seed {
        (options.listen_port, options.listen_port_explicit) = (0, false);
    }
    let session = super::session_lock::new_session(options).await?;
    let result = publish_and_serve(&session, settings, args, &key, &publisher, new).await;
    live::shut_down(session).await;
    result
}

async fn publish_and_serve(
    session: &Session,
    settings: &Effective,
    args: &XetPublishArgs,
    key: &SigningKey,
    publisher: &XetPublisher,
    new: Torrent,
) -> anyhow::Result<Exit> {
    live::check_dht_port(session, explicit_dht_port(settings)).await?;
    wait_for_nodes(session).await?;
    let found = session.dht_get_mutable(publisher.public_key, &publisher.salt, LOOKUP).await?;
    let seq = found.as_ref().map_or(0, |item| item.seq.max(0)) + 1;
    let value = encode_info_hash_value(&follow_id(&new));
    let item = key
        .sign_item(&publisher.salt, seq, value)
        .map_err(|e| anyhow::anyhow!("cannot sign the item: {e:?}"))?;
    put(session, item.clone()).await?;
    let link = MutableLink { public_key: publisher.public_key, salt: publisher.salt.clone() };
    println!("published version {seq}: {link}");
    println!("info hash: {}", encode_hex(&follow_id(&new).0));
    if !args.seed {
        return Ok(Exit::Success);
    }
    let save_path = args.path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let peers = crate::peer_addr::resolve_all(&args.engine.network.peers).await?;
    let mut add = AddTorrent::new(new).save_path(save_path).peers(peers);
    add.check_existing = true;
    session.add_torrent(add).await.context("cannot seed the new version")?;
    println!("seeding from {}; Ctrl-C stops", args.path.display());
    let mut every_hour = tokio::time::interval(REPUT_EVERY);
    every_hour.tick().await;
    loop {
        tokio::select! {
            signal = live::shutdown_signal() => {
                eprintln!("{signal}: stopping");
                return Ok(Exit::Success);
            }
            _ = every_hour.tick() => {
                if let Err(e) = put(session, item.clone()).await {
                    eprintln!("warning: putting the item again failed: {e:#}");
                }
            }
        }
    }
}

/// Puts the signed item; fails when no node stored it.
async fn put(session: &Session, item: MutableItem) -> anyhow::Result<()> {
    let outcome = session.dht_put_item(Item::Mutable(item), None, LOOKUP).await?;
    if outcome.refused.iter().any(|(_, code)| *code == 302) {
        eprintln!("warning: some nodes hold a newer version of this item (error 302)");
    }
    anyhow::ensure!(
        outcome.stored > 0,
        "no DHT node stored the item ({} asked, {} refused)",
        outcome.asked,
        outcome.refused.len()
    );
    Ok(())
}

/// Waits until the DHT node knows another node (a lookup from an empty table finds nothing).
async fn wait_for_nodes(session: &Session) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + JOIN_WAIT;
    loop {
        let info = session.dht_status().await.context("the dht did not start")?;
        if info.good_nodes + info.questionable_nodes > 0 {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "the DHT node found no other node in {} s (check --dht-bootstrap and the network)",
            JOIN_WAIT.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub(super) fn read_torrent(path: &Path) -> anyhow::Result<Torrent> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    Torrent::from_bytes(&bytes).with_context(|| format!("{} is not a valid torrent", path.display()))
}

/// `xet/publisher.key` in the state folder.
fn default_key_path(settings: &Effective) -> PathBuf {
    settings.config().disk.state_dir.join("xet").join("publisher.key")
}

/// The publisher of the new version: `key`, and the salt given or else OLD's. A key or salt
/// other than the ones OLD names is refused: followers of OLD poll those.
fn publisher_for(old: &Torrent, key: &SigningKey, salt: Option<&str>) -> anyhow::Result<XetPublisher> {
    let public_key = key.public_key();
    let named = old.xet.as_ref().and_then(|x| x.publisher.as_ref());
    if let Some(named) = named {
        anyhow::ensure!(
            named.public_key == public_key,
            "it names the publisher key {}, but the key file holds {} (pass --key with the right file)",
            encode_hex(&named.public_key),
            encode_hex(&public_key)
        );
        if let Some(salt) = salt {
            anyhow::ensure!(
                salt.as_bytes() == named.salt.as_slice(),
                "it names the salt {:?}, not {salt:?}: its followers would not see the new version",
                String::from_utf8_lossy(&named.salt)
            );
        }
    }
    let salt = match (salt, named) {
        (Some(s), _) => s.as_bytes().to_vec(),
        (None, Some(named)) => named.salt.clone(),
        (None, None) => Vec::new(),
    };
    Ok(XetPublisher { public_key, salt })
}

/// Seeding reads NEW_PATH as `<parent>/<dataset name>`: it must carry the name.
fn check_seedable(path: &Path, name: &str) -> anyhow::Result<()> {
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    anyhow::ensure!(
        file_name.as_deref() == Some(name),
        "--seed serves {} as the dataset `{name}`, so it must be named `{name}`",
        path.display()
    );
    Ok(())
}

/// `ccbt create` arguments making NEW like OLD: its version, piece size, name, trackers and
/// privacy; `info.xet.prev` and `similar` naming OLD, OLD's collections kept.
fn create_args(old: &Torrent, args: &XetPublishArgs) -> CreateArgs {
    let old_v2 = old.info_hash_v2;
    CreateArgs {
        path: args.path.clone(),
        output: args.output.clone(),
        force: args.force,
        piece_size: Some(u64::from(old.piece_length)),
        trackers: old.trackers.iter().map(|tier| tier.join(",")).collect(),
        private: old.private,
        comment: None,
        name: Some(old.name.clone()),
        hash_workers: args.engine.tuning.hash_workers.and_then(|n| u16::try_from(n).ok()),
        v2: old.version == MetaVersion::V2,
        hybrid: old.version == MetaVersion::Hybrid,
        xet: XetCreateArgs {
            xet: true,
            xet_prev: old_v2,
            xet_key: None,
            xet_salt: None,
            similar: old_v2.map(SimilarHash::V2).into_iter().collect(),
            collections: old.collections.clone(),
        },
        progress: crate::args::ProgressArgs {
            quiet: args.progress.quiet,
            progress_interval: args.progress.progress_interval,
        },
    }
}
