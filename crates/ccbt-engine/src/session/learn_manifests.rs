//! A torrent added with its metadata (a `.torrent`, a checkpoint) whose `info.xet` names files
//! whose chunk manifests it lacks (`xet layers` missing or incomplete). With the session's chunk
//! store on, the manifests are learned from peers before the download starts, exactly as for a
//! magnet link (`xet_manifests.rs`), so the local fill and the chunk phase can reuse chunks the
//! store holds instead of downloading every byte.
//!
//! Meanwhile the torrent is listed as fetching metadata (a `Resolving` entry: status, pause,
//! resume, `add_peers` and removal work as for a magnet link). Peers come from the torrent's
//! own sources: the peers given with it or added later, its trackers and, unless it is private,
//! the DHT; the torrent has no connection yet, so none of ours is open at a peer and refused as
//! a second one with our peer id. The phase is bounded (`xet_manifests::PHASE_LIMIT`); a peer
//! that sends a false manifest is banned from the download. The manifests learned are saved in
//! `<state_dir>/torrents/<info hash>.torrent` with the rest of the torrent, and the torrent's
//! checkpoints name that file as its source, so a restart asks nothing.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use ccbt_metainfo::{Magnet, Torrent};
use ccbt_proto::candidates::{refused_by_ssrf_mitigation, Source};
use tokio::sync::mpsc;

use super::{replace_entry, start_active, SessionInner, Start, TorrentEntry};
use crate::magnet::{self, MetaShared, ResolverCommand};
use crate::resume::ResumeData;
use crate::torrent::{spawn_dht_lookups, usable_tiers, Selection};
use crate::tracker::{spawn_announcer, AnnounceTarget, AnnouncerOptions, TrackerStats};
use crate::xet_manifests::{fetch_xet_layers, PeerFeed};
use crate::SessionError;

/// Most peers found during the phase handed on to the download (as many as a magnet's
/// metadata phase remembers).
const MAX_FOUND: usize = ccbt_proto::metadata::MAX_CANDIDATES;

/// Whether `torrent` should learn its manifests before it starts: the session has a chunk
/// store to reuse chunks from, manifests are missing, and the checkpoint it resumes from (if
/// any) does not say every piece is there already (nothing would be downloaded).
pub(super) fn wanted(inner: &SessionInner, torrent: &Torrent, resume: Option<&ResumeData>) -> bool {
    inner.xet.is_some()
        && !torrent.missing_xet_layers().is_empty()
        && !resume.is_some_and(|r| !r.verified.is_empty() && r.verified.all())
}

/// Lists the torrent as fetching metadata and starts learning its manifests; the download
/// starts when that ends (same id). A file selection that does not fit the torrent is refused
/// now, as it would be without the phase.
pub(super) fn start(
    inner: &Arc<SessionInner>,
    id: crate::TorrentId,
    torrent: Torrent,
    save_path: PathBuf,
    start: Start,
) -> Result<TorrentEntry, SessionError> {
    Selection::new(&torrent, &start.files).map_err(SessionError::InvalidSelection)?;
    let magnet = Magnet::from_torrent(&torrent);
    let spec = super::resolve_spec(inner, id, magnet.clone(), save_path.clone(), start.paused, true);
    let (meta, commands) = magnet::new_resolver(&spec);
    // Recorded like a magnet link still resolving, so a stop during the phase loses nothing; a
    // torrent given as bytes, with no file to name, could not be resumed from such a record.
    let recordable = inner.options().checkpoint_enabled && start.origin.torrent_file.is_some();
    let pending = recordable.then(|| {
        let (options, save_path, source) = (inner.options(), save_path.clone(), start.origin.clone());
        move |paused| crate::checkpoint::save_pending_magnet(&options, &magnet, &save_path, source, paused)
    });
    let task =
        tokio::spawn(run(Arc::downgrade(inner), meta.clone(), commands, torrent, save_path, start, pending));
    Ok(TorrentEntry::Resolving { shared: meta, task })
}

/// The phase, then the download.
async fn run(
    weak: Weak<SessionInner>,
    meta: Arc<MetaShared>,
    mut commands: mpsc::Receiver<ResolverCommand>,
    mut torrent: Torrent,
    save_path: PathBuf,
    mut start: Start,
    pending: Option<impl FnOnce(bool) + Clone + Send + 'static>,
) {
    super::save_pending_and_wait_unpaused(&meta, pending).await;
    let Some(inner) = weak.upgrade() else { return };
    let before = torrent.xet_layers.len();
    tracing::info!(
        torrent = %torrent.name,
        files = torrent.missing_xet_layers().len(),
        "fetching xet chunk manifests from peers before downloading"
    );
    let (found, liars) = learn(&inner, &meta, &mut commands, &mut torrent, start.peers.clone()).await;
    if torrent.xet_layers.len() > before {
        let state_dir = inner.options().state_dir.clone();
        if let Some(path) = save_torrent(&state_dir, &torrent).await {
            // Checkpoints name the file with the manifests: a restart reads them from it.
            start.origin.torrent_file = Some(path);
        }
    }
    for addr in found {
        if !start.peers.contains(&addr) {
            start.peers.push(addr);
        }
    }
    start.banned_ips = liars;
    start.paused = false;
    let started = start_active(&inner, meta.id, Arc::new(torrent), save_path, start).await;
    replace_entry(&inner, meta.id, &meta, started);
}

/// Runs the torrent's discovery and asks the peers it finds for the missing manifests. Returns
/// the peers found (for the download) and those that lied.
async fn learn(
    inner: &SessionInner,
    meta: &MetaShared,
    commands: &mut mpsc::Receiver<ResolverCommand>,
    torrent: &mut Torrent,
    given: Vec<SocketAddr>,
) -> (Vec<SocketAddr>, Vec<IpAddr>) {
    let options = inner.options();
    let (found_tx, mut found_rx) = mpsc::channel::<Vec<SocketAddr>>(32);
    let tiers = usable_tiers(&options, &torrent.trackers);
    let announcer = (!tiers.is_empty()).then(|| {
        let port = inner.listen_addr.port();
        let target = AnnounceTarget { tiers, info_hash: torrent.info_hash, peer_id: inner.peer_id, port };
        // What is on disk is not checked yet: we count as a leecher.
        let stats = || TrackerStats { uploaded: 0, downloaded: 0, left: 1 };
        spawn_announcer(target, AnnouncerOptions::default(), stats, found_tx.clone())
    });
    // BEP 27: a private torrent's peers come from its trackers only.
    let dht = inner.dht.clone().filter(|_| options.enable_dht && !torrent.private);
    let lookups: Vec<_> = dht
        .iter()
        .flat_map(|dht| torrent.wire_ids().into_iter().map(move |id| (dht.clone(), id)))
        .map(|(dht, id)| spawn_dht_lookups(dht, id, None, Duration::from_secs(30), found_tx.clone()))
        .collect();
    let (feed_tx, feed_rx) = mpsc::channel(32);
    let mut found = Found { ssrf_mitigation: options.ssrf_mitigation, addrs: Vec::new() };
    let feed = PeerFeed { known: given, more: Some(feed_rx) };
    let dialer = meta.dialer();
    let liars = {
        let fetch = fetch_xet_layers(&dialer, torrent, feed);
        let forward = forward_peers(commands, &mut found_rx, &feed_tx, &mut found);
        tokio::select! {
            liars = fetch => liars,
            never = forward => match never {},
        }
    };
    if let Some(a) = announcer {
        a.stop().await;
    }
    lookups.iter().for_each(tokio::task::JoinHandle::abort);
    let addrs = found.addrs.into_iter().filter(|a| !liars.contains(&a.ip())).collect();
    (addrs, liars)
}

/// The peers discovery found during the phase, filtered as a magnet's metadata phase filters
/// them (no local service named by a remote party when `ssrf_mitigation` is on).
struct Found {
    ssrf_mitigation: bool,
    addrs: Vec<SocketAddr>,
}

impl Found {
    /// The new acceptable ones of `peers`, remembered.
    fn take(&mut self, source: Source, peers: Vec<SocketAddr>) -> Vec<SocketAddr> {
        let refused = |a: &SocketAddr| {
            let remote = source != Source::User;
            a.port() == 0
                || a.ip().is_unspecified()
                || a.ip().is_multicast()
                || (self.ssrf_mitigation && remote && refused_by_ssrf_mitigation(*a))
        };
        let fresh: Vec<SocketAddr> =
            peers.into_iter().filter(|a| !refused(a) && !self.addrs.contains(a)).collect();
        let room = MAX_FOUND.saturating_sub(self.addrs.len());
        self.addrs.extend(fresh.iter().take(room));
        fresh
    }
}

/// Hands what the user, the trackers and the DHT report to the phase, until the phase ends.
async fn forward_peers(
    commands: &mut mpsc::Receiver<ResolverCommand>,
    found_rx: &mut mpsc::Receiver<Vec<SocketAddr>>,
    feed: &mpsc::Sender<Vec<SocketAddr>>,
    found: &mut Found,
) -> std::convert::Infallible {
    loop {
        let fresh = tokio::select! {
            Some(ResolverCommand::AddPeers(source, peers)) = commands.recv() => found.take(source, peers),
            // Trackers and the DHT share this channel; both are remote parties alike.
            Some(peers) = found_rx.recv() => found.take(Source::Tracker, peers),
            else => std::future::pending().await,
        };
        if !fresh.is_empty() {
            // The phase dials each peer once and drops what it cannot take.
            let _ = feed.send(fresh).await;
        }
    }
}

/// Saves the torrent with the manifests learned as `<state_dir>/torrents/<info hash>.torrent`
/// (as a magnet link's metadata is saved); its path, or None if it could not be written.
async fn save_torrent(state_dir: &Path, torrent: &Torrent) -> Option<PathBuf> {
    let bytes = torrent_file_bytes(torrent);
    super::write_state_torrent(state_dir, &torrent.info_hash, bytes).await
}

/// A .torrent of `torrent` with everything ccbt keeps of one (trackers by tier, comment,
/// creator, date, web seeds) and the piece layers and Xet manifests known. Keys in sorted order.
pub(crate) fn torrent_file_bytes(torrent: &Torrent) -> Vec<u8> {
    use ccbt_bencode::OwnedValue;
    let mut out = b"d".to_vec();
    let mut put = |key: &str, value: &[u8]| {
        OwnedValue::bytes(key.as_bytes().to_vec()).encode_to(&mut out);
        out.extend_from_slice(value);
    };
    if let Some(first) = torrent.trackers.iter().flatten().next() {
        put("announce", &OwnedValue::bytes(first.as_bytes().to_vec()).to_bytes());
        let tiers = torrent.trackers.iter().map(|tier| OwnedValue::list(tier.iter().map(String::as_str)));
        put("announce-list", &OwnedValue::list(tiers).to_bytes());
    }
    if let Some(comment) = &torrent.comment {
        put("comment", &OwnedValue::bytes(comment.as_bytes().to_vec()).to_bytes());
    }
    if let Some(creator) = &torrent.created_by {
        put("created by", &OwnedValue::bytes(creator.as_bytes().to_vec()).to_bytes());
    }
    if let Some(date) = torrent.creation_date {
        put("creation date", &OwnedValue::Int(date).to_bytes());
    }
    put("info", &torrent.info_bytes);
    if !torrent.piece_layers.is_empty() {
        put("piece layers", &torrent.piece_layers_bencoded());
    }
    if !torrent.url_list.is_empty() {
        put("url-list", &OwnedValue::list(torrent.url_list.iter().map(String::as_str)).to_bytes());
    }
    if !torrent.xet_layers.is_empty() {
        put("xet layers", &torrent.xet_layers_bencoded());
    }
    out.push(b'e');
    out
}

#[cfg(test)]
mod tests {
    use ccbt_metainfo::{MetaVersion, Torrent, TorrentBuilder, XetBuild};
    use ccbt_xet::FileHasher;

    /// A two-file v2 Xet torrent with every top-level key ccbt keeps; the second file spans
    /// two pieces, so it has a piece layer.
    fn full_torrent() -> Torrent {
        let files: Vec<Vec<u8>> = vec![vec![3u8; 5000], (0..40_000u32).map(|i| (i % 251) as u8).collect()];
        let nodes = files.iter().map(|f| v2_nodes(f)).collect();
        let chunks = files
            .iter()
            .map(|f| {
                let mut hasher = FileHasher::new();
                hasher.update(f);
                hasher.finish().1
            })
            .collect();
        let bytes = TorrentBuilder {
            version: MetaVersion::V2,
            name: "set".into(),
            files: vec![(vec!["a".into()], 5000), (vec!["b".into()], 40_000)],
            piece_length: 32768,
            v2_piece_hashes: nodes,
            trackers: vec![
                vec!["http://a/announce".into(), "http://b/announce".into()],
                vec!["udp://c:1".into()],
            ],
            comment: Some("v2 of the set".into()),
            created_by: Some("test".into()),
            creation_date: Some(1_700_000_000),
            url_list: vec!["http://seed/".into()],
            xet: Some(XetBuild::from_chunks(chunks, None)),
            ..TorrentBuilder::default()
        }
        .build()
        .unwrap();
        Torrent::from_bytes(&bytes).unwrap()
    }

    /// The v2 node of each 32 KiB piece of `bytes` (its root when it fits one piece).
    fn v2_nodes(bytes: &[u8]) -> Vec<ccbt_core::merkle::Node> {
        use ccbt_core::merkle::{file_tree_leaves, leaf_hash, root_from_layer};
        let leaves: Vec<_> = bytes.chunks(16384).map(leaf_hash).collect();
        if bytes.len() <= 32768 {
            return vec![root_from_layer(&leaves, file_tree_leaves(bytes.len() as u64), [0; 32])];
        }
        leaves.chunks(2).map(|l| root_from_layer(l, 2, [0; 32])).collect()
    }

    #[test]
    fn the_saved_torrent_keeps_everything_and_the_manifests_learned() {
        let full = full_torrent();
        assert_eq!(full.xet_layers.len(), 2);
        assert!(!full.piece_layers.is_empty());
        // As added from a .torrent without `xet layers`, then learned from peers.
        let mut learned = full.clone();
        learned.xet_layers.clear();
        for (root, chunks) in &full.xet_layers {
            learned.set_xet_layer(*root, chunks.clone()).unwrap();
        }
        let saved = Torrent::from_bytes(&super::torrent_file_bytes(&learned)).unwrap();
        assert_eq!(saved, full);
        // Nothing learned yet: no `xet layers` key at all, the rest the same.
        learned.xet_layers.clear();
        let saved = Torrent::from_bytes(&super::torrent_file_bytes(&learned)).unwrap();
        assert_eq!(saved.missing_xet_layers().len(), 2);
        assert_eq!(saved.trackers, full.trackers);
        assert_eq!(saved.info_hash_v2, full.info_hash_v2);
    }
}
