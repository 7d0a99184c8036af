//! Learning a Xet torrent's chunk manifests from peers (docs/xet.md, "Learning manifests from
//! peers"). An info dictionary names each file's xet root but not its chunk manifest, without
//! which no chunk of the session's store can be copied into the download: a magnet link's
//! metadata never carries the manifests, and a `.torrent` may lack its `xet layers`. When the
//! store is on, a few peers are asked for the manifests with `xet_cas` MANIFEST_REQs before the
//! download starts (`magnet/` for a magnet link, `session/learn_manifests.rs` for a torrent
//! added with its metadata): [`XetFetcher`] checks every page and folds the whole manifest to
//! its root, the metainfo check (chunk lengths, file length, root) runs again before a manifest
//! is kept, and [`ManifestSchedule`] decides which peer is asked for which root. The manifests
//! learned become part of the torrent and of the `.torrent` saved for it.
//!
//! The phase only saves bandwidth, so it never holds a download up for long: it ends when every
//! manifest is known, when every peer was tried and no new one turned up for [`QUIET`] (or the
//! peers given were all there would be), or after [`PHASE_LIMIT`], and whatever is still
//! missing is simply downloaded. Manifests are small (36 bytes per ~64 KiB chunk), so these
//! connections skip the rate limiters and the socket pump, like the piece-layer phase; reads are
//! bounded by the frame limit, `xet_cas` messages by the codec's caps, and a manifest by what its
//! file's length allows ([`ccbt_proto::xet::max_manifest_entries`]). Peers are dialled once each
//! (at most [`MAX_PEERS`] of them), so a discovery flood cannot keep the phase busy.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccbt_core::PeerId;

use ccbt_metainfo::Torrent;
use ccbt_proto::xet::{
    is_answer, is_request, FetchEvent, ManifestSchedule, XetFetcher, XetPeerCaps, XetViolation, OUR_XET_CAS,
};
use ccbt_proto::PeerKey;
use ccbt_wire::ext::xet_cas::XetMessage;
use ccbt_wire::Message;
use ccbt_xet::ChunkId;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::peer::handshake::{self, Bits};
use crate::sync::lock;
use crate::xet_conn::{refusal, End, XetConn, CLOSED};
use crate::SessionOptions;

/// Connections asking for manifests at once.
const XET_CONNECTIONS: usize = 4;

/// Manifests asked of one peer at once.
const MANIFESTS_PER_PEER: usize = 4;

/// The phase gives up after this long and the download starts with what was learned.
pub(crate) const PHASE_LIMIT: Duration = Duration::from_secs(30);

/// With peers still coming from discovery: once every peer found was asked and none turned up
/// for this long, the phase ends.
pub(crate) const QUIET: Duration = Duration::from_secs(10);

/// Most peers dialled in one phase.
const MAX_PEERS: usize = 200;

/// A peer asked for a manifest that sends no answer for this long is dropped, and the manifest
/// asked of another.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// A peer that closes the connection right after the BitTorrent handshake is dialled again
/// after this long, doubled at each further try.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Dials to one peer at most, the first included.
const ATTEMPTS: u64 = 4;

/// How long a connection that ends waits for the peer to close its side too.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Largest message accepted: a peer's bitfield may be larger than any `xet_cas` message.
const MAX_FRAME: u32 = ccbt_wire::DEFAULT_MAX_FRAME;

struct Shared {
    schedule: Mutex<ManifestSchedule>,
    /// Bumped when a manifest is learned or handed back, so idle connections look again.
    changed: watch::Sender<u64>,
    /// Peers that sent a manifest that does not match its root: proven liars.
    liars: Mutex<Vec<IpAddr>>,
}

impl Shared {
    fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }
}

/// Who we are on the manifest connections.
pub(crate) struct Dialer {
    pub peer_id: PeerId,
    pub listen_port: u16,
    /// The session runs a DHT node (the handshakes' DHT bit).
    pub dht: bool,
    pub options: Arc<SessionOptions>,
}

/// The peers to ask.
pub(crate) struct PeerFeed {
    /// Known now.
    pub known: Vec<SocketAddr>,
    /// More as discovery finds them (filtered by the sender); `None`: `known` is all.
    pub more: Option<mpsc::Receiver<Vec<SocketAddr>>>,
}

/// Asks the peers of `feed` for the missing Xet manifests of `torrent` and sets those that
/// verify into it. Returns the addresses of peers that sent manifests that do not match their
/// roots.
pub(crate) async fn fetch_xet_layers(
    dialer: &Arc<Dialer>,
    torrent: &mut Torrent,
    feed: PeerFeed,
) -> Vec<IpAddr> {
    let missing = torrent.missing_xet_layers();
    let shared = Arc::new(Shared {
        schedule: Mutex::new(ManifestSchedule::new(missing.iter().map(|&(_, root, size)| (root, size)))),
        changed: watch::channel(0).0,
        liars: Mutex::new(Vec::new()),
    });
    // The truncated v2 hash, as in the piece-layer phase: a Xet torrent always has a v2 part.
    let id = torrent.info_hash_v2.map_or(torrent.info_hash, |v2| v2.truncated());
    let deadline = Instant::now() + PHASE_LIMIT;
    let mut progress = shared.changed.subscribe();
    let mut tasks = tokio::task::JoinSet::new();
    let mut peers = Peers::default();
    peers.add(feed.known);
    let mut more = feed.more;
    // When a peer last turned up or a connection last ended.
    let mut active_at = Instant::now();
    loop {
        while tasks.len() < XET_CONNECTIONS {
            let Some((i, addr)) = peers.next() else { break };
            let (dialer, shared) = (dialer.clone(), shared.clone());
            tasks.spawn(ask_peer_with_retries(dialer, shared, id, PeerKey(2_000_000 + i as u64), addr));
        }
        // Every manifest known, or every peer tried (those lacking `xet_cas` end at once) and
        // none coming, or none came for a while.
        let idle = tasks.is_empty() && peers.queue.is_empty();
        if lock(&shared.schedule).is_done()
            || (idle && (more.is_none() || active_at + QUIET <= Instant::now()))
        {
            break;
        }
        tokio::select! {
            Some(ended) = tasks.join_next() => {
                active_at = Instant::now();
                if let Ok((addr, reason)) = ended {
                    tracing::debug!(%addr, %reason, "xet manifest connection ended");
                }
            }
            _ = progress.changed() => {}
            batch = next_batch(&mut more) => match batch {
                Some(found) => {
                    if peers.add(found) {
                        active_at = Instant::now();
                    }
                }
                None => more = None,
            },
            () = tokio::time::sleep_until(active_at + QUIET), if idle => {}
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    // Connections that are closing get a moment to finish (see `XetConn::close`); then the rest stop.
    let _ = tokio::time::timeout(CLOSE_WAIT, async { while tasks.join_next().await.is_some() {} }).await;
    tasks.abort_all();
    let learned = lock(&shared.schedule).take_learned();
    let (found, all) = (learned.len(), missing.len());
    for (root, entries) in learned {
        // Checked already when it arrived; this is where it becomes part of the torrent.
        if let Err(e) = torrent.set_xet_layer(root, entries) {
            tracing::warn!(error = %e, "a verified xet manifest does not fit the torrent");
        }
    }
    if found < all {
        tracing::info!(
            learned = found,
            missing = all - found,
            "some xet chunk manifests could not be learned from peers: those files download without reusing local chunks"
        );
    } else {
        tracing::info!(files = all, "learned the xet chunk manifests from peers");
    }
    let liars = lock(&shared.liars).clone();
    liars
}

/// The peers of a phase: each dialled once, at most [`MAX_PEERS`].
#[derive(Default)]
struct Peers {
    seen: HashSet<SocketAddr>,
    queue: VecDeque<SocketAddr>,
    dialled: usize,
}

impl Peers {
    /// Queues the addresses not seen before; whether there was one.
    fn add(&mut self, found: Vec<SocketAddr>) -> bool {
        let before = self.queue.len();
        for addr in found {
            if self.seen.len() < MAX_PEERS && self.seen.insert(addr) {
                self.queue.push_back(addr);
            }
        }
        self.queue.len() > before
    }

    /// The next peer to dial and its number.
    fn next(&mut self) -> Option<(usize, SocketAddr)> {
        let addr = self.queue.pop_front()?;
        self.dialled += 1;
        Some((self.dialled, addr))
    }
}

/// The next batch of peers from discovery; never, once there is none to come.
async fn next_batch(more: &mut Option<mpsc::Receiver<Vec<SocketAddr>>>) -> Option<Vec<SocketAddr>> {
    match more {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// [`ask_peer`], and again a little later while the peer closes right after the BitTorrent
/// handshake: most likely a connection of ours (from the metadata phase, or a manifest
/// connection closing) was still open at the peer, which allows one connection per peer id,
/// and that close can take a while to reach it on a busy machine.
async fn ask_peer_with_retries(
    dialer: Arc<Dialer>,
    shared: Arc<Shared>,
    id: ccbt_core::InfoHash,
    key: PeerKey,
    addr: SocketAddr,
) -> (SocketAddr, String) {
    let mut delay = RETRY_AFTER;
    let mut attempt = 0;
    loop {
        let (addr, ended) = ask_peer(&dialer, &shared, id, PeerKey(key.0 + attempt * 1_000_000), addr).await;
        attempt += 1;
        if !matches!(ended, Ended::ClosedEarly) || attempt == ATTEMPTS {
            return (addr, ended.to_string());
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
        if lock(&shared.schedule).is_done() {
            return (addr, "not needed any more".to_string());
        }
    }
}

/// One peer: handshake, extension handshake offering `xet_cas`, then ask for manifests while
/// the schedule has some for it.
async fn ask_peer(
    dialer: &Dialer,
    shared: &Shared,
    id: ccbt_core::InfoHash,
    key: PeerKey,
    addr: SocketAddr,
) -> (SocketAddr, Ended) {
    let end = |reason: String| (addr, Ended::Reason(reason));
    let limit = dialer.options.connection_timeout;
    let stream = tokio::time::timeout(limit, crate::net::connect(addr, dialer.options.listen_host)).await;
    let stream = match stream {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return end(format!("connect failed: {e}")),
        Err(_) => return end("connect timed out".into()),
    };
    let mut conn = XetConn::new(stream, None, MAX_FRAME);
    let bits = Bits { dht: dialer.dht, v2: true };
    match handshake::outgoing(&mut conn.stream, id, None, dialer.peer_id, bits, limit).await {
        Ok(theirs) if theirs.supports_extensions() => {}
        Ok(_) => return end("peer does not speak the extension protocol".into()),
        Err(e) => return end(e.to_string()),
    }
    let ended = talk(dialer, shared, &mut conn, key, addr).await;
    conn.close(CLOSE_WAIT).await;
    (addr, ended)
}

/// After the BitTorrent handshake: negotiate the extension, then ask.
async fn talk(dialer: &Dialer, shared: &Shared, conn: &mut XetConn, key: PeerKey, addr: SocketAddr) -> Ended {
    let limit = dialer.options.connection_timeout;
    let caps = match tokio::time::timeout(limit, conn.negotiate_xet(dialer.listen_port)).await {
        Ok(Ok(Some(caps))) => caps,
        Ok(Ok(None)) => return Ended::Reason("peer does not offer xet_cas".into()),
        Ok(Err(reason)) if reason == CLOSED => return Ended::ClosedEarly,
        Ok(Err(reason)) => return Ended::Reason(reason),
        Err(_) => return Ended::Reason("no extension handshake in time".into()),
    };
    lock(&shared.schedule).add_peer(key);
    let reason = match exchange(shared, conn, key, caps).await {
        Ok(()) => "nothing more to ask".to_string(),
        Err(End::Violation(v)) => {
            if matches!(v, XetViolation::ManifestMismatch { .. } | XetViolation::BadManifestPage { .. }) {
                tracing::warn!(%addr, reason = %v, "peer sent a xet manifest that does not match its root");
                lock(&shared.liars).push(addr.ip());
            }
            format!("dropped: {v}")
        }
        Err(End::Other(reason)) => reason,
    };
    lock(&shared.schedule).remove_peer(key);
    shared.bump();
    Ended::Reason(reason)
}

/// How [`ask_peer`] ended.
enum Ended {
    /// The peer closed the connection before its extension handshake.
    ClosedEarly,
    Reason(String),
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ended::ClosedEarly => f.write_str(CLOSED),
            Ended::Reason(reason) => f.write_str(reason),
        }
    }
}

/// Asks for manifests the schedule hands this peer until it has nothing more for it.
async fn exchange(shared: &Shared, conn: &mut XetConn, key: PeerKey, caps: XetPeerCaps) -> Result<(), End> {
    let mut fetcher = XetFetcher::new(&caps);
    let mut changed = shared.changed.subscribe();
    // Roots asked of this peer and not answered yet, with their files' lengths.
    let mut asked: BTreeMap<ChunkId, u64> = BTreeMap::new();
    let mut last_answer = Instant::now();
    loop {
        while asked.len() < MANIFESTS_PER_PEER && fetcher.has_room() {
            let Some(ask) = lock(&shared.schedule).next_for(key) else { break };
            let Ok(msg) = fetcher.request_manifest(ask.root, ask.max_entries, Some(ask.size)) else {
                // Cannot happen (one request per root, room checked): give the root back.
                lock(&shared.schedule).on_refused(key, ask.root);
                break;
            };
            if asked.is_empty() {
                last_answer = Instant::now();
            }
            asked.insert(ask.root, ask.size);
            conn.send_xet(caps.ext_id, &msg).await?;
        }
        if asked.is_empty() && !lock(&shared.schedule).has_work_for(key) {
            return Ok(());
        }
        // Only a peer that owes us an answer can time out; one waiting for work waits.
        let silent = async {
            if asked.is_empty() {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep_until(last_answer + ANSWER_TIMEOUT).await;
        };
        tokio::select! {
            msg = conn.next() => {
                let Message::Extended { id: OUR_XET_CAS, payload } = msg? else { continue };
                // Refuses a message over the caps (`MAX_XET_MESSAGE`) as malformed.
                let msg = XetMessage::decode(&payload).map_err(|e| End::Violation(e.into()))?;
                if is_answer(&msg) {
                    last_answer = Instant::now();
                    on_answer(shared, conn, key, caps, &mut fetcher, &mut asked, msg).await?;
                } else if is_request(&msg) {
                    // Nothing is served on this connection: every request is refused.
                    conn.send_xet(caps.ext_id, &refusal(&msg)).await?;
                }
            }
            _ = changed.changed() => {}
            () = silent => return Err(End::Other("no answer to a manifest request".into())),
        }
    }
}

/// One answer to our MANIFEST_REQs.
async fn on_answer(
    shared: &Shared,
    conn: &mut XetConn,
    key: PeerKey,
    caps: XetPeerCaps,
    fetcher: &mut XetFetcher,
    asked: &mut BTreeMap<ChunkId, u64>,
    msg: XetMessage,
) -> Result<(), End> {
    match fetcher.on_answer(msg).map_err(End::Violation)? {
        FetchEvent::ManifestProgress { next } => conn.send_xet(caps.ext_id, &next).await?,
        FetchEvent::Manifest { root, entries } => {
            let size = asked.remove(&root).unwrap_or(0);
            // The fetcher folded it to the root; the metainfo rules (chunk lengths) apply too.
            if ccbt_metainfo::check_manifest(&entries, size, &root).is_err() {
                return Err(End::Violation(XetViolation::ManifestMismatch { root: hex(&root) }));
            }
            lock(&shared.schedule).on_manifest(key, root, entries);
            shared.bump();
        }
        FetchEvent::ManifestRejected { root, .. } => {
            asked.remove(&root);
            lock(&shared.schedule).on_refused(key, root);
            shared.bump();
        }
        // Chunks and QUERYs are never asked here: the fetcher refuses answers to them.
        _ => {}
    }
    Ok(())
}

fn hex(id: &ChunkId) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}
