//! The chunk phase of a Xet torrent (docs/xet.md, "Fetching chunks from peers"). After the
//! local fill, the pieces that got some bytes from the chunk store but lack chunks it does not
//! hold are held out of the piece picker, and their missing chunks are asked of peers that
//! speak `xet_cas`: the torrent's own swarm, and holders found under the chunks' discovery keys
//! (xet-only connections). [`ChunkSchedule`] decides which chunk is asked of which peer;
//! [`ccbt_proto::xet::XetFetcher`] checks every chunk against its id before it is written, and
//! only into the held pieces. A piece whose chunks are all in is hashed with its piece hash and
//! reported verified as any downloaded piece; a peer that sends wrong bytes is dropped and
//! banned from the torrent.
//!
//! The phase only saves bandwidth, so it never holds a download up for long: it runs beside
//! the normal download (which fetches every other piece meanwhile), ends when every chunk is
//! in, when no peer can give more, or after [`PHASE_LIMIT`], and hands the pieces it did not
//! complete back to the picker. Its connections are short-lived, outside the socket pump; the
//! bytes they read draw from the session's download limiter.

mod conn;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ccbt_core::{InfoHash, PeerId};
use ccbt_metainfo::Torrent;
use ccbt_proto::xet::ChunkSchedule;
use ccbt_proto::PeerKey;
use ccbt_storage::{PieceOutcome, PieceVerdict};
use ccbt_xet::fill::plan_fill;
use ccbt_xet::{anchor_key, file_key, is_anchor, ChunkId};
use tokio::sync::{mpsc, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use super::{PieceDone, TorrentCommand, TorrentShared};
use crate::sync::lock;

/// The phase gives up after this long; the pieces it did not complete are downloaded.
pub(crate) const PHASE_LIMIT: Duration = Duration::from_secs(30);
/// Connections asking for chunks at once.
const CONNECTIONS: usize = 6;
/// Swarm peers tried in one phase.
const MAX_SWARM_PEERS: usize = 8;
/// Discovery keys looked up in one phase, and holders tried per key.
const MAX_KEYS: usize = 8;
const HOLDERS_PER_KEY: usize = 4;
/// How long one discovery look-up may last.
const LOOKUP_LIMIT: Duration = Duration::from_secs(5);
/// With no connection running and no look-up left, the phase waits this long from its start
/// for swarm addresses (trackers, the DHT) before it gives up.
const GRACE: Duration = Duration::from_secs(3);

/// Each chunk to fetch: its length, and its runs `(stream offset, offset in the chunk, length)`.
pub(crate) type ChunkRuns = HashMap<ChunkId, (u32, Vec<(u64, u32, u32)>)>;

/// The chunks the partly filled pieces lack, where they go, and where to look for them.
#[derive(Debug)]
pub(crate) struct ChunkPlan {
    /// The pieces to hold out of the picker: filled partly from the store, missing chunks.
    pub pieces: Vec<u32>,
    /// Each missing chunk's length and runs `(stream offset, offset in the chunk, length)`
    /// inside held pieces.
    pub chunks: ChunkRuns,
    /// Discovery keys to look holders up under: the file keys of the files lacking chunks,
    /// then the anchor key at or before each missing chunk (each key once).
    pub keys: Vec<[u8; 20]>,
}

impl ChunkPlan {
    /// The plan for `partial` pieces, given the chunks the store did not hold (`absent`) and
    /// which pieces are `missing`: the absent chunks overlapping partial pieces are fetched,
    /// and a missing piece those chunks cover entirely (a small piece inside a large chunk) is
    /// filled by them too rather than downloaded. None when there is nothing to fetch.
    pub(crate) fn new(
        torrent: &Torrent,
        partial: &[u32],
        absent: &HashSet<ChunkId>,
        missing: &dyn Fn(u32) -> bool,
    ) -> Option<ChunkPlan> {
        if partial.is_empty() || absent.is_empty() {
            return None;
        }
        let lengths = torrent.lengths();
        let piece_length = lengths.piece_length();
        let partial: BTreeSet<u32> = partial.iter().copied().collect();
        let files = manifests(torrent);
        // The absent chunks that partial pieces need.
        let mut fetched: HashSet<ChunkId> = HashSet::new();
        for (_, offset, manifest) in &files {
            for fill in plan_fill(manifest, *offset, piece_length, |p| partial.contains(&p)) {
                if absent.contains(&manifest[fill.chunk].id) {
                    fetched.insert(manifest[fill.chunk].id);
                }
            }
        }
        let mut held = partial.clone();
        held.extend(covered_pieces(&files, &fetched, &lengths, &partial, missing));
        let mut chunks = ChunkRuns::new();
        let (mut keys, mut pieces) = (Vec::new(), BTreeSet::new());
        for (root, offset, manifest) in &files {
            let mut anchors = Vec::new();
            for fill in plan_fill(manifest, *offset, piece_length, |p| held.contains(&p)) {
                let chunk = manifest[fill.chunk];
                if !fetched.contains(&chunk.id) {
                    continue;
                }
                let entry = chunks.entry(chunk.id).or_insert((chunk.len, Vec::new()));
                for (offset, len) in fill.runs {
                    let start = fill.stream_offset + u64::from(offset);
                    entry.1.push((start, offset, len));
                    let pl = u64::from(piece_length);
                    pieces.extend((start / pl..=(start + u64::from(len) - 1) / pl).map(|p| p as u32));
                }
                let anchor = (0..=fill.chunk).rev().find(|&i| is_anchor(i, &manifest[i].id)).unwrap_or(0);
                anchors.push(anchor_key(&manifest[anchor].id));
            }
            if !anchors.is_empty() {
                keys.push(file_key(root));
                keys.extend(anchors);
            }
        }
        let mut seen = HashSet::new();
        keys.retain(|k| seen.insert(*k));
        let pieces: Vec<u32> = pieces.into_iter().filter(|p| held.contains(p)).collect();
        (!chunks.is_empty()).then_some(ChunkPlan { pieces, chunks, keys })
    }
}

/// Each file with a manifest: its xet root, its offset in the byte stream, its chunks.
fn manifests(torrent: &Torrent) -> Vec<(ChunkId, u64, &[ccbt_xet::ChunkRef])> {
    let layout = torrent.layout();
    let mut files = Vec::new();
    for (index, file) in layout.files().iter().enumerate() {
        let Some(root) = torrent.xet_root_of(index) else { continue };
        if let Some(manifest) = torrent.xet_layers.get(&root) {
            files.push((root, file.offset, manifest.as_slice()));
        }
    }
    files
}

/// Missing pieces, not partial, whose every byte lies in `fetched` chunks.
fn covered_pieces(
    files: &[(ChunkId, u64, &[ccbt_xet::ChunkRef])],
    fetched: &HashSet<ChunkId>,
    lengths: &ccbt_core::Lengths,
    partial: &BTreeSet<u32>,
    missing: &dyn Fn(u32) -> bool,
) -> Vec<u32> {
    let piece_length = lengths.piece_length();
    let mut covered: HashMap<u32, u64> = HashMap::new();
    for (_, offset, manifest) in files {
        let candidate = |p: u32| missing(p) && !partial.contains(&p);
        for fill in plan_fill(manifest, *offset, piece_length, candidate) {
            if !fetched.contains(&manifest[fill.chunk].id) {
                continue;
            }
            for (offset, len) in fill.runs {
                let start = fill.stream_offset + u64::from(offset);
                let pl = u64::from(piece_length);
                for piece in start / pl..=(start + u64::from(len) - 1) / pl {
                    let from = start.max(piece * pl);
                    let to = (start + u64::from(len)).min((piece + 1) * pl);
                    *covered.entry(piece as u32).or_default() += to - from;
                }
            }
        }
    }
    covered
        .into_iter()
        .filter(|&(p, bytes)| {
            lengths.validate_piece(p).is_some_and(|v| u64::from(lengths.piece_len(v)) == bytes)
        })
        .map(|(p, _)| p)
        .collect()
}

/// Where a connection goes: a peer of the swarm (under the torrent's id) or a holder found
/// under a discovery key (an xet-only connection under that key).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    pub addr: SocketAddr,
    pub info_hash: InfoHash,
    pub holder: bool,
}

/// What the phase's connections share.
pub(crate) struct Phase {
    pub shared: Arc<TorrentShared>,
    pub schedule: Mutex<ChunkSchedule>,
    /// Bumped when a chunk arrives or a peer leaves, so idle connections look again.
    pub changed: watch::Sender<u64>,
    /// Where each wanted chunk goes.
    chunks: ChunkRuns,
    /// Per held piece, the chunk runs still to write into it.
    remaining: Mutex<HashMap<u32, u32>>,
    /// Our peer id on the phase's connections: not the torrent's, whose connection to the same
    /// peer may be open (a peer keeps one connection per peer id).
    pub peer_id: PeerId,
    /// Peers that sent wrong chunk bytes.
    pub liars: Mutex<Vec<IpAddr>>,
    /// Pieces verified by the phase.
    verified: Mutex<Vec<u32>>,
    /// Chunks delivered and still being written (and their pieces hashed).
    pub writing: std::sync::atomic::AtomicUsize,
}

impl Phase {
    pub(crate) fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Writes a verified chunk into the held pieces it covers, then hashes the pieces it
    /// completed and reports those that verify to the torrent task.
    pub(crate) async fn write_chunk(&self, id: ChunkId, data: Bytes, from_holder: bool) {
        let Some((_, runs)) = self.chunks.get(&id) else { return };
        let runs = runs.clone();
        let storage = self.shared.storage.clone();
        let len = data.len() as u64;
        let written = tokio::task::spawn_blocking(move || {
            for &(stream_offset, offset, len) in &runs {
                let (from, to) = (offset as usize, offset as usize + len as usize);
                if to > data.len() {
                    return Err("chunk shorter than its runs".to_string());
                }
                storage.write(stream_offset, &[data.slice(from..to)]).map_err(|e| e.to_string())?;
            }
            Ok(runs)
        })
        .await;
        let runs = match written {
            Ok(Ok(runs)) => runs,
            Ok(Err(e)) => return tracing::warn!(error = %e, "xet: cannot write a fetched chunk"),
            Err(_) => return,
        };
        let counters = &self.shared.counters;
        let counter = if from_holder { &counters.xet_holder_bytes } else { &counters.xet_swarm_bytes };
        counter.fetch_add(len, Relaxed);
        let piece_length = u64::from(self.shared.lengths.piece_length());
        let complete: Vec<u32> = {
            let mut remaining = lock(&self.remaining);
            let mut complete = Vec::new();
            for &(start, _, len) in &runs {
                for piece in start / piece_length..=(start + u64::from(len) - 1) / piece_length {
                    let piece = piece as u32;
                    if let Some(n) = remaining.get_mut(&piece) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            remaining.remove(&piece);
                            complete.push(piece);
                        }
                    }
                }
            }
            complete
        };
        if !complete.is_empty() {
            self.verify(complete).await;
        }
    }

    /// Hashes `pieces` (every byte is on disk now) and reports those that verify.
    async fn verify(&self, pieces: Vec<u32>) {
        let shared = self.shared.clone();
        let checked = tokio::task::spawn_blocking(move || {
            shared.counters.hashed_pieces.fetch_add(pieces.len() as u64, Relaxed);
            let checks = |i: u32| shared.torrent.piece_check(i);
            ccbt_storage::check_listed(shared.storage.as_ref(), &shared.lengths, &checks, &pieces, 1, &|_| {})
        })
        .await;
        let Ok(Ok(good)) = checked else { return };
        for piece in good {
            lock(&self.verified).push(piece);
            self.shared.counters.xet_peer_pieces.fetch_add(1, Relaxed);
            // As any piece the hash pool verified: the torrent task marks it had and tells peers.
            self.shared.pending_verify.fetch_add(1, Relaxed);
            let outcome = PieceOutcome { piece, result: Ok(PieceVerdict::Verified), block_hashes: None };
            let _ = self.shared.piece_done.send(PieceDone(outcome));
        }
    }
}

/// Starts the phase for `plan`: its pieces are held out of the picker already (see
/// `TorrentTask::start_with`); when it ends it sends [`TorrentCommand::XetChunksDone`].
pub(super) fn spawn(shared: Arc<TorrentShared>, plan: ChunkPlan) -> JoinHandle<()> {
    tokio::spawn(async move {
        let held = plan.pieces.clone();
        let keys = phase_keys(&shared, plan.keys.clone());
        let phase = new_phase(&shared, plan);
        run(&phase, keys).await;
        let (delivered, wanted) = lock(&phase.schedule).progress();
        let verified = lock(&phase.verified).len();
        tracing::info!(
            torrent = %shared.torrent.name,
            chunks = delivered,
            wanted,
            pieces = verified,
            held = held.len(),
            "xet: chunk phase over; pieces not completed are downloaded"
        );
        let liars = lock(&phase.liars).clone();
        let _ = shared.commands.send(TorrentCommand::XetChunksDone { held, liars }).await;
    })
}

fn new_phase(shared: &Arc<TorrentShared>, plan: ChunkPlan) -> Arc<Phase> {
    let piece_length = u64::from(shared.lengths.piece_length());
    let mut remaining: HashMap<u32, u32> = HashMap::new();
    for (_, runs) in plan.chunks.values() {
        for &(start, _, len) in runs {
            for piece in start / piece_length..=(start + u64::from(len) - 1) / piece_length {
                *remaining.entry(piece as u32).or_default() += 1;
            }
        }
    }
    let schedule = ChunkSchedule::new(plan.chunks.iter().map(|(id, (len, _))| (*id, *len)));
    let mut random = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
    Arc::new(Phase {
        shared: shared.clone(),
        schedule: Mutex::new(schedule),
        changed: watch::channel(0).0,
        chunks: plan.chunks,
        remaining: Mutex::new(remaining),
        peer_id: PeerId::ccbt(random),
        liars: Mutex::new(Vec::new()),
        verified: Mutex::new(Vec::new()),
        writing: std::sync::atomic::AtomicUsize::new(0),
    })
}

/// The plan's keys, then the file keys of the previous version's files when the session runs
/// that torrent (`info.xet.prev`), at most [`MAX_KEYS`].
fn phase_keys(shared: &TorrentShared, mut keys: Vec<[u8; 20]>) -> Vec<[u8; 20]> {
    if let Some(prev) = shared.torrent.xet.as_ref().and_then(|x| x.prev) {
        for root in crate::session::xet_roots_of(&shared.xet_session, &prev) {
            let key = file_key(&root);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    keys.truncate(MAX_KEYS);
    keys
}

/// Runs connections to swarm peers and holders until the schedule is done, nobody can give
/// more, or [`PHASE_LIMIT`].
async fn run(phase: &Arc<Phase>, keys: Vec<[u8; 20]>) {
    let shared = &phase.shared;
    let start = Instant::now();
    let deadline = start + PHASE_LIMIT;
    let (found_tx, mut found) = mpsc::unbounded_channel::<Target>();
    let lookups = spawn_lookups(shared, keys, found_tx);
    let torrent_id = shared.torrent.info_hash_v2.map_or(shared.torrent.info_hash, |v2| v2.truncated());
    let mut queue: Vec<Target> = Vec::new();
    let mut tried: BTreeSet<(SocketAddr, InfoHash)> = BTreeSet::new();
    let mut swarm_tried = 0;
    let mut tasks = JoinSet::new();
    let mut progress = phase.changed.subscribe();
    let mut next_key = 0u64;
    let mut poll = tokio::time::interval(Duration::from_millis(500));
    loop {
        if swarm_tried < MAX_SWARM_PEERS {
            for addr in swarm_addresses(shared) {
                if swarm_tried < MAX_SWARM_PEERS && tried.insert((addr, torrent_id)) {
                    swarm_tried += 1;
                    queue.push(Target { addr, info_hash: torrent_id, holder: false });
                }
            }
        }
        while let Ok(target) = found.try_recv() {
            if tried.insert((target.addr, target.info_hash)) {
                queue.push(target);
            }
        }
        while tasks.len() < CONNECTIONS && !queue.is_empty() {
            let target = queue.remove(0);
            next_key += 1;
            let key = PeerKey(3_000_000 + next_key);
            let phase = phase.clone();
            tasks.spawn(async move { (target, conn::ask_peer(&phase, target, key).await) });
        }
        let done = lock(&phase.schedule).is_done();
        if done && phase.writing.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            break;
        }
        let idle = tasks.is_empty() && queue.is_empty() && lookups.is_finished();
        if idle && Instant::now() >= start + GRACE {
            break;
        }
        tokio::select! {
            Some(ended) = tasks.join_next() => {
                if let Ok((target, reason)) = ended {
                    tracing::debug!(addr = %target.addr, holder = target.holder, %reason, "xet chunk connection ended");
                }
            }
            _ = progress.changed() => {}
            _ = poll.tick() => {}
            () = tokio::time::sleep_until(deadline) => break,
        }
    }
    lookups.abort();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
}

/// Addresses of the torrent's swarm the phase may dial: its connection candidates (the user's
/// peers, trackers', the DHT's, PEX), banned ones excepted.
fn swarm_addresses(shared: &TorrentShared) -> Vec<SocketAddr> {
    let inner = lock(&shared.inner);
    inner.candidates.addresses().filter(|a| !inner.candidates.is_banned(a.ip())).collect()
}

/// Looks the keys up (through `Session::xet_find_holders`) and sends the holders found.
fn spawn_lookups(
    shared: &Arc<TorrentShared>,
    keys: Vec<[u8; 20]>,
    found: mpsc::UnboundedSender<Target>,
) -> JoinHandle<()> {
    let session = shared.xet_session.clone();
    let own = shared.listen_port;
    tokio::spawn(async move {
        let mut lookups = JoinSet::new();
        for key in keys {
            let session = session.clone();
            lookups.spawn(async move {
                (key, crate::session::xet_find_holders(&session, key, LOOKUP_LIMIT).await)
            });
        }
        while let Some(Ok((key, holders))) = lookups.join_next().await {
            // Our own listener answers our keys too: never dial ourselves.
            let others = holders.into_iter().filter(|a| !(a.ip().is_loopback() && a.port() == own));
            for addr in others.take(HOLDERS_PER_KEY) {
                let _ = found.send(Target { addr, info_hash: InfoHash(key), holder: true });
            }
        }
    })
}
