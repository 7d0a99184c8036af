//! The piece-layer phase of a v2 magnet link (BEP 52). The info dictionary fetched over
//! ut_metadata names each file's merkle root but not the per-piece hashes below it: before a
//! piece of a file longer than one piece can be verified, its file's piece layer is asked of
//! v2 peers with `hash request`s and every answer is checked against the root
//! ([`PieceLayerFetcher`] makes the decisions; this file moves its messages). The layers then
//! become part of the torrent, and of the `.torrent` saved for it, so a restart asks nothing.
//!
//! Hash traffic is tiny (32 bytes per piece), so these connections skip the rate limiters and
//! the socket pump; their reads are bounded by the codec's frame limit and the fetcher's quota
//! of requests per peer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use ccbt_metainfo::Torrent;
use ccbt_proto::hashes::{MissingLayer, PieceLayerFetcher};
use ccbt_proto::PeerKey;
use ccbt_wire::{Message, MessageDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

use super::MetaShared;
use crate::peer::handshake::{self, Bits};
use crate::sync::lock;

/// Connections asking for piece layers at once.
const LAYER_CONNECTIONS: usize = 4;

/// Largest message accepted on these connections: a `hashes` answer of 512 nodes and its proof
/// is about 17 KiB; a peer's bitfield may be larger, so the usual frame limit applies.
const MAX_FRAME: u32 = ccbt_wire::DEFAULT_MAX_FRAME;

/// Gives up when no peer could deliver the layers within this long.
const PHASE_LIMIT: Duration = Duration::from_secs(120);

struct Shared {
    fetcher: Mutex<PieceLayerFetcher>,
    /// Bumped when a chunk completes or is handed back, so idle connections ask again.
    changed: Notify,
    /// Peers that sent a proof that does not lead to the root.
    liars: Mutex<Vec<std::net::IpAddr>>,
}

/// Fetches the missing piece layers of `torrent` from `peers`; sets them into the torrent.
/// Returns the addresses of peers that sent false hashes.
pub(super) async fn fetch_piece_layers(
    meta: &Arc<MetaShared>,
    torrent: &mut Torrent,
    peers: &[SocketAddr],
) -> Result<Vec<std::net::IpAddr>, String> {
    let missing: Vec<MissingLayer> = torrent
        .missing_piece_layers()
        .into_iter()
        .map(|(file, pieces_root, num_pieces)| MissingLayer {
            file,
            pieces_root,
            num_pieces,
            file_length: torrent.files[file].length,
        })
        .collect();
    let fetcher = PieceLayerFetcher::new(torrent.piece_length, missing)
        .map_err(|e| format!("cannot fetch the piece layers: {e}"))?;
    let shared =
        Arc::new(Shared { fetcher: Mutex::new(fetcher), changed: Notify::new(), liars: Mutex::default() });
    // Asked under the truncated v2 hash: that is what makes a connection a v2 one for
    // libtorrent (it does not echo the v2 reserved bit), also for a hybrid's v1 swarm.
    let id = torrent.info_hash_v2.map_or(torrent.info_hash, |v2| v2.truncated());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let mut next = peers.iter().copied().enumerate();
    loop {
        while tasks.len() < LAYER_CONNECTIONS {
            let Some((i, addr)) = next.next() else { break };
            tasks.spawn(ask_peer_with_retries(meta.clone(), shared.clone(), id, i, addr));
        }
        if lock(&shared.fetcher).is_done() {
            break;
        }
        if tasks.is_empty() || started.elapsed() > PHASE_LIMIT {
            let (done, all) = lock(&shared.fetcher).progress();
            return Err(format!(
                "no v2 peer delivered the piece layers ({done} of {all} parts verified from {} peers)",
                peers.len()
            ));
        }
        tokio::select! {
            Some(ended) = tasks.join_next() => {
                if let Ok((addr, reason)) = ended {
                    tracing::debug!(%addr, %reason, "piece-layer connection ended");
                }
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
    tasks.abort_all();
    let mut fetcher = lock(&shared.fetcher);
    while let Some(done) = fetcher.poll_completed() {
        torrent
            .set_piece_layer(done.pieces_root, done.layer)
            .map_err(|e| format!("a verified piece layer does not fit the torrent: {e}"))?;
    }
    let liars = lock(&shared.liars).clone();
    Ok(liars)
}

/// A peer that refuses us is dialled again after this long, doubled at each further try.
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Dials to one peer at most, the first included.
const ATTEMPTS: u32 = 4;

/// How [`ask_peer`] ended.
enum Asked {
    /// The BitTorrent handshake failed, or the peer closed the connection right after it
    /// without a message (the reason).
    Refused(String),
    /// The connection ended after the peer had spoken, or never got there (the reason).
    Ended(String),
}

impl From<Asked> for String {
    fn from(asked: Asked) -> String {
        match asked {
            Asked::Refused(reason) | Asked::Ended(reason) => reason,
        }
    }
}

/// [`ask_peer`], and again a little later while the peer refuses us: most likely our
/// metadata connection was still open at the peer, which allows one connection per peer id
/// (it answers the handshake, then closes), and that close can take a while to reach it
/// through a busy machine or a proxy.
async fn ask_peer_with_retries(
    meta: Arc<MetaShared>,
    shared: Arc<Shared>,
    id: ccbt_core::InfoHash,
    index: usize,
    addr: SocketAddr,
) -> (SocketAddr, String) {
    let mut delay = RETRY_AFTER;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let key = PeerKey(1_000_000 * u64::from(attempt) + index as u64);
        let (addr, asked) = ask_peer(&meta, &shared, id, key, addr).await;
        let again = matches!(asked, Asked::Refused(_)) && attempt < ATTEMPTS;
        if !again || lock(&shared.fetcher).is_done() {
            return (addr, String::from(asked));
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}

/// One peer: handshake with the v2 bit, then ask for chunks until the fetch is done, the peer
/// leaves, or it lies. Returns the peer's address with how it ended.
async fn ask_peer(
    meta: &MetaShared,
    shared: &Shared,
    id: ccbt_core::InfoHash,
    key: PeerKey,
    addr: SocketAddr,
) -> (SocketAddr, Asked) {
    let limit = meta.options.connection_timeout;
    let stream = tokio::time::timeout(limit, crate::net::connect(addr, meta.options.listen_host)).await;
    let mut stream = match stream {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return (addr, Asked::Ended(format!("connect failed: {e}"))),
        Err(_) => return (addr, Asked::Ended("connect timed out".into())),
    };
    let bits = Bits { dht: meta.dht.is_some(), v2: true };
    // The peer answered for the truncated v2 hash (checked by `outgoing`): it speaks v2.
    if let Err(e) = handshake::outgoing(&mut stream, id, None, meta.peer_id, bits, limit).await {
        return (addr, Asked::Refused(e.to_string()));
    }
    lock(&shared.fetcher).add_peer(key);
    let asked = exchange(shared, &mut stream, key, addr).await;
    lock(&shared.fetcher).remove_peer(key);
    shared.changed.notify_waiters();
    (addr, asked)
}

async fn exchange(shared: &Shared, stream: &mut TcpStream, key: PeerKey, addr: SocketAddr) -> Asked {
    let ended = |reason: &str| Asked::Ended(reason.to_string());
    // A peer refusing a second connection of ours answers the handshake, then closes with
    // nothing said; one that has sent a message has taken us.
    let mut heard = false;
    let mut decoder = MessageDecoder::new(MAX_FRAME);
    let mut input = BytesMut::with_capacity(32 * 1024);
    let mut output = BytesMut::new();
    loop {
        let (requests, deadline, done) = {
            let mut fetcher = lock(&shared.fetcher);
            (fetcher.take_requests(Instant::now(), key), fetcher.next_deadline(), fetcher.is_done())
        };
        if done {
            return ended("piece layers complete");
        }
        for req in requests {
            ccbt_wire::encode(&Message::HashRequest(req), &mut output);
        }
        if !output.is_empty() {
            if let Err(e) = stream.write_all(&output).await {
                return Asked::Ended(format!("write failed: {e}"));
            }
            output.clear();
        }
        let wait = deadline.map_or(Duration::from_secs(5), |d| d.saturating_duration_since(Instant::now()));
        tokio::select! {
            read = stream.read_buf(&mut input) => match read {
                Ok(0) if !heard => return Asked::Refused("peer closed the connection at once".into()),
                Ok(0) => return ended("peer closed the connection"),
                Err(e) => return Asked::Ended(format!("read failed: {e}")),
                Ok(_) => loop {
                    match decoder.decode(&mut input) {
                        Ok(Some(msg)) => {
                            heard = true;
                            if let Err(reason) = on_message(shared, key, addr, msg) {
                                return Asked::Ended(reason);
                            }
                        }
                        Ok(None) => break,
                        Err(e) => return Asked::Ended(format!("invalid message: {e}")),
                    }
                },
            },
            () = shared.changed.notified() => {}
            () = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
        }
    }
}

/// Feeds a `hashes` or `hash reject` to the fetcher; everything else a peer sends on such a
/// connection (bitfield, extension handshake, ...) is of no use here and ignored.
fn on_message(shared: &Shared, key: PeerKey, addr: SocketAddr, msg: Message) -> Result<(), String> {
    let mut fetcher = lock(&shared.fetcher);
    match msg {
        Message::Hashes(hashes) => {
            if let Err(bad) = fetcher.on_hashes(key, &hashes) {
                tracing::warn!(%addr, reason = %bad, "peer sent piece hashes that do not match the file's root");
                lock(&shared.liars).push(addr.ip());
                return Err(format!("false hashes: {bad}"));
            }
            drop(fetcher);
            shared.changed.notify_waiters();
        }
        Message::HashReject(req) => {
            fetcher.on_hash_reject(Instant::now(), key, &req);
            drop(fetcher);
            shared.changed.notify_waiters();
        }
        _ => {}
    }
    Ok(())
}
