//! One torrent: the state shared by its task and its connection tasks.

mod check;
mod checkpointing;
mod connect;
pub(crate) mod counters;
mod discovery;
pub(crate) mod first_data;
mod peer_trace;
mod priorities;
mod selection;
pub(crate) mod streaming;
mod task;
#[cfg(test)]
pub(crate) mod tests;
mod xet;
mod xet_chunks;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use ccbt_core::{Lengths, PeerId};
use ccbt_metainfo::Torrent;
use ccbt_proto::candidates::{choose_excess, ConnActivity};
use ccbt_proto::swarm::{Swarm, SwarmAction};
use ccbt_proto::PeerKey;
use ccbt_storage::{HashPool, PieceJob, Storage};
use rand::rngs::SmallRng;
use tokio::sync::{broadcast, mpsc, watch, Notify};

use crate::lifecycle::Lifecycle;
use crate::options::{pex_enabled, TorrentLayerOptions};
use crate::peer::pump::QueueGauge;
use crate::peer::request_gauge::RequestGauge;
use crate::peer::{CloseReason, PeerCommand};
use crate::sync::lock;
use crate::{Event, SessionOptions, TorrentId, TorrentState, TorrentStatus};
use counters::Counters;

pub(crate) use checkpointing::{file_entries, from_checkpoint, CheckpointSpec};
pub(crate) use connect::accept_incoming;
pub(crate) use discovery::{resolve_peer_hosts, spawn_dht_lookups, usable_tiers, PEER_HOST_TIMEOUT};
pub(crate) use selection::{verified_bytes, FileChoice, Selection};
pub(crate) use task::{spawn_torrent, DataCheck, PieceDone, TorrentCommand, TorrentSpec};

/// A live connection as the torrent sees it.
pub(crate) struct PeerSlot {
    pub addr: SocketAddr,
    pub peer_id: PeerId,
    pub commands: mpsc::Sender<PeerCommand>,
    /// Bytes queued for the peer, written by its connection task.
    pub send_queue: Arc<QueueGauge>,
    /// Its request queues both ways, written by its connection task.
    pub requests: Arc<RequestGauge>,
}

impl PeerSlot {
    pub(crate) fn new(addr: SocketAddr, peer_id: PeerId, commands: mpsc::Sender<PeerCommand>) -> PeerSlot {
        PeerSlot { addr, peer_id, commands, send_queue: Arc::default(), requests: Arc::default() }
    }
}

/// State under the torrent's one lock: the life-cycle, the swarm and the connection registry.
pub(crate) struct TorrentInner {
    /// Written by the torrent task only (see `lifecycle.rs`).
    pub lifecycle: Lifecycle,
    pub swarm: Swarm,
    /// Pieces verified since the start, in order: each connection announces the ones past its
    /// own position (bounded by the piece count, unlike a channel per connection).
    pub have_log: Vec<u32>,
    pub peers: HashMap<PeerKey, PeerSlot>,
    pub rng: SmallRng,
    /// Connection candidates, their back-off, and the IPs banned for corrupt data (the one place
    /// bans live: dials skip them, handshakes from them are refused).
    pub candidates: ccbt_proto::candidates::CandidateList,
    /// Swarm actions that concern the whole torrent (verify, new peers), left here by
    /// connection tasks for the torrent task, which applies them (woken by `actions_ready`).
    /// Bounded by the swarm's state: pieces under the buffer budget, requested blocks, and
    /// rate-limited PEX messages.
    pub torrent_actions: Vec<SwarmAction>,
    /// Streaming on or off and where readers are (applied again to the swarm made after the check).
    pub streaming: streaming::StreamingState,
    /// The file priorities in force, the pieces they want and the totals progress counts.
    pub selection: Selection,
}

/// What a torrent's task and connection tasks share.
pub(crate) struct TorrentShared {
    pub id: TorrentId,
    pub torrent: Arc<Torrent>,
    pub lengths: Lengths,
    pub save_path: PathBuf,
    /// The session's options in force (they change on `Session::reconfigure`): read them with
    /// [`TorrentShared::options`].
    pub options: watch::Receiver<Arc<SessionOptions>>,
    /// The per-layer options derived from the options at start. Only the connections' part is
    /// read from here (its settings need a restart); the swarm holds its own, kept current by
    /// the torrent task.
    pub layer_options: TorrentLayerOptions,
    pub peer_id: PeerId,
    pub storage: Arc<dyn Storage>,
    pub pool: Arc<HashPool>,
    pub inner: Mutex<TorrentInner>,
    /// Wakes the torrent task when `TorrentInner::torrent_actions` has work.
    pub actions_ready: Notify,
    /// Bumped whenever pieces were verified or reset, to wake connections that may now send
    /// Haves or request again, and file readers waiting for a piece (also when the torrent
    /// closes, so they see it).
    pub have_watch: watch::Sender<u64>,
    pub counters: Counters,
    /// Time to first byte and to first verified piece since the torrent started downloading.
    pub first_data: first_data::FirstData,
    pub events: broadcast::Sender<Event>,
    pub commands: mpsc::Sender<TorrentCommand>,
    pub piece_done: mpsc::UnboundedSender<PieceDone>,
    /// Pieces handed to the hash pool whose outcome the torrent task has not handled yet.
    pub pending_verify: std::sync::atomic::AtomicU64,
    pub budget: std::sync::Arc<crate::budget::ConnectionBudget>,
    /// The session's DHT node, if enabled (peers' BEP 5 Port messages are fed to it).
    pub dht: Option<crate::dht::DhtHandle>,
    /// The session's Xet chunk store, if `xet_enabled` (see `xet.rs`).
    pub xet: Option<std::sync::Arc<ccbt_xetstore::XetStore>>,
    /// The session's discovery keys: told when this torrent indexes files (`xet_discovery`).
    pub xet_keys: std::sync::Arc<crate::xet_discovery::XetKeys>,
    /// The session, for the chunk phase's holder look-ups (`xet_chunks`).
    pub xet_session: std::sync::Weak<crate::session::SessionInner>,
    /// Where each chunk of the torrent's known manifests lies in its byte stream (offset,
    /// length), for answering `xet_cas` chunk requests; None for a torrent without manifests.
    pub xet_chunks: Option<std::collections::HashMap<ccbt_xet::ChunkId, (u64, u32)>>,
    /// The session's rate limiters, shared by every connection.
    pub limits: std::sync::Arc<crate::limits::SessionLimits>,
    /// The TCP port we accept peers on (announced to trackers and the DHT).
    pub listen_port: u16,
    /// The trackers' last answers, refreshed by the torrent task every second.
    pub trackers: Mutex<Vec<crate::TrackerInfo>>,
    /// Addresses whose connections are traced (`Session::trace_peer`), see `peer_trace.rs`.
    pub traced_peers: Mutex<std::collections::HashSet<SocketAddr>>,
    /// Answers v2 peers' hash requests from the piece layers (None: v1, or layers unknown).
    pub hash_server: Option<ccbt_proto::hashes::HashServer>,
}

impl TorrentInner {
    fn public_state(&self) -> TorrentState {
        self.lifecycle.public_state(self.swarm.is_complete())
    }
}

impl TorrentShared {
    /// The session's options in force now.
    pub(crate) fn options(&self) -> Arc<SessionOptions> {
        self.options.borrow().clone()
    }

    /// Our BEP 10 extension handshake for a new connection (`ut_pex` as the options say now).
    pub(crate) fn ext_handshake(&self) -> Bytes {
        ccbt_proto::swarm::our_ext_handshake(
            self.listen_port,
            Some(self.torrent.info_bytes.len() as u64),
            pex_enabled(&self.options(), &self.torrent),
            concat!("ccbt ", env!("CARGO_PKG_VERSION")),
            // A Xet torrent answers `xet_cas` requests (peer/xet_answers.rs).
            self.torrent.is_xet().then(|| ccbt_proto::xet::our_handshake(ccbt_proto::xet::DEFAULT_RQ)),
        )
    }

    /// Closes the `count` least useful connections (a connection limit was lowered below the
    /// connections open). Their slots free as they end.
    pub(crate) fn close_excess(&self, count: usize) {
        if count == 0 {
            return;
        }
        let inner = lock(&self.inner);
        let now = std::time::Instant::now();
        let activity = inner.swarm.activity();
        // Connections the swarm has not seen move yet count as useless since now.
        let conns: Vec<ConnActivity> = inner
            .peers
            .keys()
            .map(|&key| match activity.binary_search_by_key(&key, |a| a.key) {
                Ok(i) => activity[i],
                Err(_) => {
                    ConnActivity { key, am_interested: false, peer_interested: false, last_payload: now }
                }
            })
            .collect();
        for key in choose_excess(&conns, count) {
            if let Some(slot) = inner.peers.get(&key) {
                tracing::debug!(addr = %slot.addr, "closing a connection: the connection limit was lowered");
                let _ = slot.commands.try_send(PeerCommand::Close(CloseReason::OverLimit));
            }
        }
    }

    /// Reserved bits of this torrent's handshakes: the DHT bit when the session runs a node, the
    /// BEP 52 bit when the torrent has a v2 part.
    pub(crate) fn handshake_bits(&self) -> crate::peer::handshake::Bits {
        crate::peer::handshake::Bits { dht: self.dht.is_some(), v2: self.torrent.version.has_v2() }
    }

    /// Hands a complete piece to the hash pool; the result comes back to the torrent task.
    pub(crate) fn submit_verify(&self, piece: u32, blocks: Vec<Bytes>, block_hashes: bool) {
        let Some(expected) = self.torrent.piece_check(piece) else { return };
        let offset = piece as u64 * self.lengths.piece_length() as u64;
        let job = PieceJob { piece, offset, expected, blocks, block_hashes, storage: self.storage.clone() };
        let tx = self.piece_done.clone();
        // The channel is unbounded on purpose: its length is bounded by the swarm's buffer budget
        // (pieces in verification count against it), and a pool thread must never block on it.
        self.pending_verify.fetch_add(1, Relaxed);
        self.counters.hashed_pieces.fetch_add(1, Relaxed);
        let done = move |outcome| {
            let _ = tx.send(PieceDone(outcome));
        };
        if let Err(full) = self.pool.try_submit(job, done) {
            // The queue holds more than the buffer budget allows in practice; if it is full
            // anyway, wait for room on a blocking thread rather than on the runtime.
            let pool = self.pool.clone();
            tokio::task::spawn_blocking(move || pool.submit(*full.job, full.done));
        }
    }

    /// Changes the torrent under its lock with `change` and emits `StateChanged` if the public
    /// state moved (a new life-cycle stage, or completion). Only the torrent task calls it.
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut TorrentInner) -> R) -> R {
        let (result, changed) = {
            let mut inner = lock(&self.inner);
            let before = inner.public_state();
            let result = change(&mut inner);
            let after = inner.public_state();
            (result, (after != before).then_some(after))
        };
        if let Some(state) = changed {
            let _ = self.events.send(Event::StateChanged { id: self.id, state });
        }
        result
    }

    /// Moves the torrent to `lifecycle`.
    pub(crate) fn set_lifecycle(&self, lifecycle: Lifecycle) {
        self.update(|inner| inner.lifecycle = lifecycle);
        // File readers waiting for a piece look again (and fail if the torrent failed).
        self.have_watch.send_modify(|g| *g += 1);
    }

    pub(crate) fn emit(&self, event: Event) {
        let _ = self.events.send(event);
    }

    pub(crate) fn status(&self) -> TorrentStatus {
        let (download_rate, upload_rate) = self.counters.rates();
        let (state, connected_peers, wasted, (pieces_total, total)) = {
            let inner = lock(&self.inner);
            (inner.public_state(), inner.peers.len(), inner.swarm.wasted_bytes(), inner.selection.totals())
        };
        let pieces_have = self.counters.pieces_have.load(Relaxed) as u32;
        let bytes_have = self.counters.bytes_have.load(Relaxed);
        let (pieces_have, bytes_have) = if state == TorrentState::Checking {
            let checked = self.counters.checked_pieces.load(Relaxed) as u32;
            (checked, (checked as u64 * self.lengths.piece_length() as u64).min(total))
        } else {
            (pieces_have, bytes_have)
        };
        TorrentStatus {
            id: self.id,
            info_hash: self.torrent.info_hash,
            name: self.torrent.name.clone(),
            save_path: self.save_path.clone(),
            state,
            pieces_have,
            pieces_total,
            bytes_have,
            total_bytes: total,
            progress: if total == 0 { 1.0 } else { bytes_have as f64 / total as f64 },
            download_rate,
            upload_rate,
            downloaded: self.counters.downloaded(),
            uploaded: self.counters.uploaded(),
            wasted,
            connected_peers,
            hash_failures: self.counters.hash_failures.load(Relaxed) as u32,
            banned_peers: self.counters.banned_peers.load(Relaxed) as usize,
            hashed_pieces: self.counters.hashed_pieces.load(Relaxed),
        }
    }
}
