//! The metadata phase of a magnet link: find peers (the magnet's `x.pe`, explicit peers, and
//! whatever trackers, the DHT and PEX report), fetch the info dictionary from several of them in
//! parallel with `ut_metadata` (BEP 9), check it against the info hash, save the `.torrent`, and
//! hand the torrent to the session to download like any other.

mod conn;
mod layers;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod xet_tests;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccbt_core::{InfoHash, PeerId};
use ccbt_metainfo::{Magnet, Torrent};
use ccbt_proto::candidates::Source;
use ccbt_proto::metadata::{MetadataCandidates, MetadataFetcher};
use ccbt_proto::PeerKey;
use tokio::sync::{mpsc, watch, Notify};

use crate::lifecycle::Lifecycle;
use crate::limits::SessionLimits;
use crate::sync::lock;
use crate::torrent::usable_tiers;
use crate::tracker::{spawn_announcer, AnnounceTarget, AnnouncerHandle, AnnouncerOptions, TrackerStats};
use crate::{SessionOptions, TorrentId, TorrentStatus};

/// Connections used at once to fetch metadata.
const MAX_METADATA_CONNECTIONS: usize = 8;

/// Messages to a resolver task.
#[derive(Debug)]
pub(crate) enum ResolverCommand {
    /// Candidates and where they came from (the user, or peer exchange).
    AddPeers(Source, Vec<SocketAddr>),
}

/// Fetch state shared by the metadata connections.
pub(crate) struct MetaState {
    fetcher: MetadataFetcher,
    /// The verified metadata, for the resolver to take.
    metadata: Option<Vec<u8>>,
}

/// What the resolver and its connections share; also the source of status snapshots.
pub(crate) struct MetaShared {
    pub id: TorrentId,
    pub info_hash: InfoHash,
    /// Every id the magnet names on the wire (v1 and truncated v2 when it has both).
    pub ids: Vec<InfoHash>,
    /// The magnet names a v2 hash: handshakes set the BEP 52 bit.
    v2: bool,
    pub name: String,
    pub save_path: PathBuf,
    peer_id: PeerId,
    listen_port: u16,
    pex: bool,
    options: Arc<SessionOptions>,
    dht: Option<crate::dht::DhtHandle>,
    /// The session's rate limiters.
    limits: Arc<SessionLimits>,
    state: Mutex<MetaState>,
    /// Bumped when the fetch changed in a way other connections must look at.
    wake: watch::Sender<u64>,
    /// Signalled when the metadata verified.
    verified: Notify,
    done: AtomicBool,
    connected: AtomicUsize,
    pub(crate) commands: mpsc::Sender<ResolverCommand>,
    pub(crate) failed: Mutex<Option<String>>,
    /// Added paused and not resumed yet: the fetch has not started (see `Session::resume`).
    pub(crate) paused: watch::Sender<bool>,
    /// The session's Xet chunk store is open: a Xet torrent's chunk manifests are worth asking
    /// peers for (`xet_manifests.rs`).
    xet_store: bool,
}

impl MetaShared {
    /// Reserved bits of the metadata connections' handshakes (v2: the magnet names a v2 hash).
    pub(crate) fn handshake_bits(&self) -> crate::peer::handshake::Bits {
        crate::peer::handshake::Bits { dht: self.dht.is_some(), v2: self.v2 }
    }

    /// Who we are on the connections that ask for Xet manifests.
    pub(crate) fn dialer(&self) -> Arc<crate::xet_manifests::Dialer> {
        Arc::new(crate::xet_manifests::Dialer {
            peer_id: self.peer_id,
            listen_port: self.listen_port,
            dht: self.dht.is_some(),
            options: self.options.clone(),
        })
    }

    pub(crate) fn status(&self) -> TorrentStatus {
        let lifecycle = match lock(&self.failed).clone() {
            Some(reason) => Lifecycle::Failed(std::sync::Arc::new(crate::TorrentError::Metadata { reason })),
            None if *self.paused.borrow() => Lifecycle::Paused,
            None => Lifecycle::FetchingMetadata,
        };
        let state = lifecycle.public_state(false);
        TorrentStatus {
            id: self.id,
            info_hash: self.info_hash,
            name: self.name.clone(),
            save_path: self.save_path.clone(),
            state,
            pieces_have: 0,
            pieces_total: 0,
            bytes_have: 0,
            total_bytes: 0,
            progress: 0.0,
            download_rate: 0,
            upload_rate: 0,
            downloaded: 0,
            uploaded: 0,
            wasted: 0,
            connected_peers: self.connected.load(Ordering::Relaxed),
            hash_failures: 0,
            banned_peers: 0,
            hashed_pieces: 0,
        }
    }
}

/// Everything a resolver needs.
pub(crate) struct ResolveSpec {
    pub id: TorrentId,
    pub magnet: Magnet,
    pub save_path: PathBuf,
    pub peer_id: PeerId,
    pub listen_port: u16,
    pub options: Arc<SessionOptions>,
    pub dht: Option<crate::dht::DhtHandle>,
    pub limits: Arc<SessionLimits>,
    /// Added paused: nothing is fetched before `Session::resume`.
    pub paused: bool,
    /// The session's Xet chunk store is open.
    pub xet_store: bool,
}

/// Starts resolving; returns the shared state and a receiver for peers the caller should feed
/// in (the command sender is in the shared state).
pub(crate) fn new_resolver(spec: &ResolveSpec) -> (Arc<MetaShared>, mpsc::Receiver<ResolverCommand>) {
    let (tx, rx) = mpsc::channel(64);
    let max = spec.options.max_metadata_kib as u64 * 1024;
    let shared = Arc::new(MetaShared {
        id: spec.id,
        info_hash: spec.magnet.info_hash,
        ids: spec.magnet.wire_ids(),
        // An id of unknown kind may be a v2 one: say we speak v2.
        v2: spec.magnet.info_hash_v2.is_some() || spec.magnet.any_version,
        name: spec.magnet.display_name.clone().unwrap_or_else(|| spec.magnet.info_hash.to_hex()),
        save_path: spec.save_path.clone(),
        peer_id: spec.peer_id,
        listen_port: spec.listen_port,
        pex: spec.options.enable_pex,
        options: spec.options.clone(),
        // `enable_dht` as it is now (it may have been switched off since the session started).
        dht: spec.dht.clone().filter(|_| spec.options.enable_dht),
        limits: spec.limits.clone(),
        state: Mutex::new(MetaState {
            fetcher: MetadataFetcher::new(magnet_target(&spec.magnet), max),
            metadata: None,
        }),
        wake: watch::channel(0).0,
        verified: Notify::new(),
        done: AtomicBool::new(false),
        connected: AtomicUsize::new(0),
        commands: tx,
        failed: Mutex::new(None),
        paused: watch::channel(spec.paused).0,
        xet_store: spec.xet_store,
    });
    (shared, rx)
}

/// The hashes the metadata must match: the magnet's v1 and/or v2 info hash.
fn magnet_target(magnet: &Magnet) -> ccbt_proto::metadata::MetadataTarget {
    if magnet.any_version {
        return ccbt_proto::metadata::MetadataTarget::AnyVersion(magnet.info_hash);
    }
    ccbt_proto::metadata::MetadataTarget::from_hashes(magnet.info_hash_v1(), magnet.info_hash_v2)
        .unwrap_or_else(|| magnet.info_hash.into())
}

/// The outcome of the metadata phase.
pub(crate) struct Resolved {
    pub torrent: Torrent,
    /// Every peer address learnt, for the download phase.
    pub peers: Vec<SocketAddr>,
    /// Addresses proven to have sent metadata that differs from the verified info dictionary:
    /// the download phase must never dial or accept them.
    pub liars: Vec<IpAddr>,
}

/// Runs the metadata phase until the metadata is verified. Errors are readable reasons.
pub(crate) async fn resolve(
    shared: Arc<MetaShared>,
    mut commands: mpsc::Receiver<ResolverCommand>,
    magnet: Magnet,
    initial: Vec<SocketAddr>,
) -> Result<Resolved, String> {
    let mut candidates = MetadataCandidates::new(shared.options.ssrf_mitigation);
    let mut running = 0usize;
    let (ended_tx, mut ended_rx) = mpsc::channel::<conn::Ended>(MAX_METADATA_CONNECTIONS * 2);
    let mut next_key = 1u64;
    add_candidates(&mut candidates, Source::User, initial);
    // `x.pe` peers come with the link the user gave.
    add_candidates(&mut candidates, Source::User, resolve_x_pe(&magnet.peers).await);
    let (found_tx, mut found) = mpsc::channel::<Vec<SocketAddr>>(32);
    let announcer = start_announcer(&shared, &magnet, found_tx.clone());
    // A magnet carries no private flag: the DHT is asked (BEP 9 magnets are usually trackerless).
    let dht: Vec<_> = shared
        .dht
        .iter()
        .flat_map(|dht| shared.ids.iter().map(move |&id| (dht.clone(), id)))
        .map(|(dht, id)| {
            crate::torrent::spawn_dht_lookups(dht, id, None, Duration::from_secs(30), found_tx.clone())
        })
        .collect();
    loop {
        let taken = {
            let mut st = lock(&shared.state);
            st.metadata.take().map(|bytes| (bytes, st.fetcher.liars().collect::<Vec<_>>()))
        };
        if let Some((bytes, liars)) = taken {
            shared.done.store(true, Ordering::Release);
            shared.wake.send_modify(|g| *g += 1);
            if let Some(a) = announcer {
                a.stop().await;
            }
            dht.iter().for_each(tokio::task::JoinHandle::abort);
            for &ip in &liars {
                tracing::warn!(%ip, "peer sent metadata pieces that do not match the info hash");
                candidates.ban(ip);
            }
            let mut torrent = torrent_from_metadata(&bytes, &magnet)?;
            // The phases below dial the same peers, which refuse a second connection with our
            // peer id while the first is open: let the metadata connections close first.
            wait_for_ends(&mut running, &mut ended_rx).await;
            let peers: Vec<SocketAddr> = candidates.addrs().collect();
            let mut liars = liars;
            let missing = torrent.missing_piece_layers().len();
            if missing > 0 {
                tracing::info!(files = missing, "fetching piece layers from v2 peers");
                match layers::fetch_piece_layers(&shared, &mut torrent, &peers).await {
                    Ok(found) => liars.extend(found),
                    // A hybrid's SHA-1s still check every piece: it downloads, and answers v2
                    // peers' hash requests with rejects.
                    Err(reason) if torrent.version.has_v1() => {
                        tracing::warn!(%reason, "continuing with the v1 hashes of the hybrid torrent")
                    }
                    Err(reason) => return Err(reason),
                }
            }
            // Chunk manifests only help a session that has chunks to reuse.
            if shared.xet_store && !torrent.missing_xet_layers().is_empty() {
                let missing = torrent.missing_xet_layers().len();
                tracing::info!(files = missing, "fetching xet chunk manifests from peers");
                let honest: Vec<SocketAddr> =
                    peers.iter().copied().filter(|a| !liars.contains(&a.ip())).collect();
                let feed = crate::xet_manifests::PeerFeed { known: honest, more: None };
                liars.extend(
                    crate::xet_manifests::fetch_xet_layers(&shared.dialer(), &mut torrent, feed).await,
                );
            }
            return Ok(Resolved { torrent, peers, liars });
        }
        let now = Instant::now();
        while running < MAX_METADATA_CONNECTIONS {
            let Some(addr) = candidates.next_dial(now) else { break };
            running += 1;
            let key = PeerKey(next_key);
            next_key += 1;
            let (shared, ended) = (shared.clone(), ended_tx.clone());
            tokio::spawn(async move {
                let _ = ended.send(conn::run(shared, key, addr).await).await;
            });
        }
        let next_due = candidates.poll_timeout(now).unwrap_or_else(|| now + Duration::from_secs(60));
        tokio::select! {
            Some(cmd) = commands.recv() => match cmd {
                ResolverCommand::AddPeers(source, peers) => add_candidates(&mut candidates, source, peers),
            },
            // Trackers and the DHT share this channel; both are remote parties alike.
            Some(peers) = found.recv() => add_candidates(&mut candidates, Source::Tracker, peers),
            Some(ended) = ended_rx.recv() => {
                running -= 1;
                tracing::debug!(addr = %ended.addr, reason = %ended.reason, "metadata connection ended");
                candidates.on_closed(Instant::now(), ended.addr, ended.served);
            }
            () = shared.verified.notified() => {}
            () = tokio::time::sleep_until(next_due.into()) => {}
        }
    }
}

/// Waits (briefly) until the `running` metadata connections ended; they end on their own once
/// the metadata is verified.
async fn wait_for_ends(running: &mut usize, ended: &mut mpsc::Receiver<conn::Ended>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while *running > 0 {
        match tokio::time::timeout_at(deadline, ended.recv()).await {
            Ok(Some(_)) => *running -= 1,
            _ => break,
        }
    }
}

/// Announces to the magnet's trackers (`tr`) while the metadata is fetched. The size is
/// unknown, so `left` is reported as 1 byte: we are a leecher.
fn start_announcer(
    shared: &MetaShared,
    magnet: &Magnet,
    found: mpsc::Sender<Vec<SocketAddr>>,
) -> Option<AnnouncerHandle> {
    let tiers: Vec<Vec<String>> = magnet.trackers.iter().map(|t| vec![t.clone()]).collect();
    let tiers = usable_tiers(&shared.options, &tiers);
    if tiers.is_empty() {
        return None;
    }
    let target = AnnounceTarget {
        tiers,
        info_hash: shared.info_hash,
        peer_id: shared.peer_id,
        port: shared.listen_port,
    };
    let stats = || TrackerStats { uploaded: 0, downloaded: 0, left: 1 };
    Some(spawn_announcer(target, AnnouncerOptions::default(), stats, found))
}

fn add_candidates(candidates: &mut MetadataCandidates, source: Source, peers: Vec<SocketAddr>) {
    let now = Instant::now();
    for addr in peers {
        candidates.add(now, source, addr);
    }
}

/// Resolves the magnet's `x.pe` peers (`host:port`); unresolvable ones are logged and skipped.
async fn resolve_x_pe(peers: &[String]) -> Vec<SocketAddr> {
    crate::torrent::resolve_peer_hosts(peers, crate::torrent::PEER_HOST_TIMEOUT).await
}

/// A .torrent of `torrent` with the magnet's trackers and the piece layers and Xet chunk
/// manifests known (learned from peers for a v2 magnet), as saved in the state folder.
pub(crate) fn torrent_file_bytes(torrent: &Torrent, magnet: &Magnet) -> Vec<u8> {
    let layers = (!torrent.piece_layers.is_empty()).then(|| torrent.piece_layers_bencoded());
    let mut bytes = info_file_bytes(&torrent.info_bytes, layers.as_deref(), magnet);
    if !torrent.xet_layers.is_empty() {
        // `xet layers` sorts after every key `info_file_bytes` writes: it goes last, before the
        // dictionary's closing `e`.
        bytes.pop();
        ccbt_bencode::OwnedValue::bytes(b"xet layers".to_vec()).encode_to(&mut bytes);
        bytes.extend_from_slice(&torrent.xet_layers_bencoded());
        bytes.push(b'e');
    }
    bytes
}

/// Wraps verified info-dictionary bytes (and a bencoded `piece layers` dictionary, if any) into
/// a .torrent with the magnet's trackers, so a magnet download is validated exactly like a
/// .torrent file (paths, geometry, layers against their roots).
pub(crate) fn info_file_bytes(info: &[u8], piece_layers: Option<&[u8]>, magnet: &Magnet) -> Vec<u8> {
    use ccbt_bencode::OwnedValue;
    let mut out = b"d".to_vec();
    if let Some(first) = magnet.trackers.first() {
        OwnedValue::bytes(b"announce".to_vec()).encode_to(&mut out);
        OwnedValue::bytes(first.as_bytes().to_vec()).encode_to(&mut out);
        OwnedValue::bytes(b"announce-list".to_vec()).encode_to(&mut out);
        let tiers = magnet.trackers.iter().map(|t| OwnedValue::list([t.as_str()]));
        OwnedValue::list(tiers).encode_to(&mut out);
    }
    OwnedValue::bytes(b"info".to_vec()).encode_to(&mut out);
    out.extend_from_slice(info);
    if let Some(layers) = piece_layers {
        OwnedValue::bytes(b"piece layers".to_vec()).encode_to(&mut out);
        out.extend_from_slice(layers);
    }
    out.push(b'e');
    out
}

fn torrent_from_metadata(info: &[u8], magnet: &Magnet) -> Result<Torrent, String> {
    let bytes = info_file_bytes(info, None, magnet);
    let torrent = Torrent::from_bytes(&bytes)
        .map_err(|e| format!("the metadata peers sent is not a valid torrent: {e}"))?;
    // Every hash the magnet names must be the torrent's (a btmh-only magnet of a hybrid names
    // only its v2 hash; the torrent then goes by its v1 hash too).
    let v1_ok = magnet.info_hash_v1().map_or(true, |v1| torrent.version.has_v1() && torrent.info_hash == v1);
    let v2_ok = magnet.info_hash_v2.map_or(true, |v2| torrent.info_hash_v2 == Some(v2));
    let any_ok = !magnet.any_version || torrent.answers_to(&magnet.info_hash);
    if !(v1_ok && v2_ok && any_ok) {
        return Err("metadata does not match the magnet's info hash".into());
    }
    Ok(torrent)
}
