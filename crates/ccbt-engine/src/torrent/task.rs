//! The torrent task: checks existing data, keeps connections to known peers, applies the
//! swarm's torrent-wide actions and piece verification results, runs the swarm's timers (the
//! choker) and samples rates. It owns the torrent's life-cycle.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccbt_core::{Bitfield, PeerId};
use ccbt_metainfo::Torrent;
use ccbt_proto::candidates::{choose_eviction, CandidateList, CandidateOptions, EvictionOptions, Source};
use ccbt_proto::swarm::{Swarm, SwarmAction};
use ccbt_storage::{HashPool, PieceOutcome, PieceVerdict, Storage};
use rand::SeedableRng;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use super::connect::connect_outgoing;
use super::counters::{Counters, RateSampler};
use super::discovery::Discovery;
use super::{TorrentInner, TorrentShared};
use crate::budget::{ConnectionBudget, Direction, NoSlot};
use crate::lifecycle::Lifecycle;
use crate::options::{pex_enabled, TorrentLayerOptions};
use crate::peer::{CloseReason, PeerCommand};
use crate::sync::lock;
use crate::{Event, SessionOptions, TorrentError, TorrentId};

/// Messages to a torrent task.
#[derive(Debug)]
pub(crate) enum TorrentCommand {
    /// Candidates the user gave (exempt from the SSRF mitigation).
    UserPeers(Vec<SocketAddr>),
    /// `ourselves`: the address turned out to be our own listen address (PEX and trackers list
    /// us too); it is never dialled again.
    ConnectFailed {
        addr: SocketAddr,
        reason: String,
        ourselves: bool,
    },
    PeerClosed {
        addr: SocketAddr,
        outgoing: bool,
        reason: String,
    },
    Pause,
    Resume,
    Shutdown(oneshot::Sender<()>),
}

/// A hash pool result on its way back to the torrent task.
pub(crate) struct PieceDone(pub PieceOutcome);

/// Least time between early re-announces asked for by the torrent.
const REANNOUNCE_SPACING: Duration = Duration::from_secs(60);
/// Below this many connections a downloading torrent looks for more peers.
const FEW_PEERS: usize = 5;
/// Window of the rate sampler, in one-second samples.
const RATE_WINDOW: usize = 5;

/// Everything needed to start a torrent.
pub(crate) struct TorrentSpec {
    pub id: TorrentId,
    pub torrent: Arc<Torrent>,
    pub save_path: std::path::PathBuf,
    pub storage: Arc<dyn Storage>,
    pub options: Arc<SessionOptions>,
    pub listen_port: u16,
    pub peer_id: PeerId,
    pub pool: Arc<HashPool>,
    pub events: broadcast::Sender<Event>,
    pub peers: Vec<SocketAddr>,
    /// Addresses banned from the start, never dialled or accepted: the metadata liars of the
    /// magnet link this torrent came from.
    pub initial_banned_ips: Vec<IpAddr>,
    /// Hash the data already on disk before downloading.
    pub check: bool,
    pub budget: Arc<ConnectionBudget>,
    pub dht: Option<crate::dht::DhtHandle>,
    pub limits: Arc<crate::limits::SessionLimits>,
    pub selection: super::Selection,
}

/// No slot is free: when a candidate waits, closes the connection that has been useless longest
/// (no interest either way, no payload for `useless_peer_timeout`), if there is one. Peers that
/// give or take data are never chosen.
fn evict_useless(options: &SessionOptions, inner: &TorrentInner, now: Instant) {
    if !inner.candidates.has_due(now) {
        return;
    }
    let eviction = EvictionOptions { idle_after: options.useless_peer_timeout };
    let Some(key) = choose_eviction(now, &inner.swarm.activity(), eviction) else { return };
    if let Some(slot) = inner.peers.get(&key) {
        tracing::debug!(addr = %slot.addr, "evicting a useless peer: a candidate waits");
        let _ = slot.commands.try_send(PeerCommand::Close(CloseReason::Useless));
    }
}

fn new_swarm(
    layers: &TorrentLayerOptions,
    torrent: &Torrent,
    have: Bitfield,
    selection: &super::Selection,
    banned: &[IpAddr],
) -> Swarm {
    let mut swarm = Swarm::new(torrent.lengths(), have, layers.swarm.clone());
    swarm.set_metadata(bytes::Bytes::copy_from_slice(&torrent.info_bytes));
    swarm.set_wanted(selection.wanted().cloned());
    for &ip in banned {
        swarm.ban_ip(ip);
    }
    swarm
}

/// Creates the torrent's shared state and starts its task.
pub(crate) fn spawn_torrent(spec: TorrentSpec) -> (Arc<TorrentShared>, JoinHandle<()>) {
    let lengths = spec.torrent.lengths();
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let layer_options = TorrentLayerOptions::new(&spec.options, &spec.torrent);
    let empty = Bitfield::new(lengths.num_pieces());
    let swarm = new_swarm(&layer_options, &spec.torrent, empty, &spec.selection, &spec.initial_banned_ips);
    let ext_handshake = ccbt_proto::swarm::our_ext_handshake(
        spec.listen_port,
        Some(spec.torrent.info_bytes.len() as u64),
        pex_enabled(&spec.options, &spec.torrent),
        concat!("ccbt ", env!("CARGO_PKG_VERSION")),
    );
    let mut candidates = CandidateList::new(CandidateOptions {
        max_candidates: spec.options.max_peer_candidates,
        ssrf_mitigation: spec.options.ssrf_mitigation,
    });
    // Liars found while fetching a magnet's metadata: never dialled, refused before the handshake.
    for &ip in &spec.initial_banned_ips {
        candidates.ban(ip);
    }
    let shared = Arc::new(TorrentShared {
        id: spec.id,
        torrent: spec.torrent,
        lengths,
        save_path: spec.save_path,
        options: spec.options,
        layer_options,
        peer_id: spec.peer_id,
        storage: spec.storage,
        pool: spec.pool,
        inner: Mutex::new(TorrentInner {
            // Connections are accepted once the task has started (after the check).
            lifecycle: Lifecycle::Checking,
            swarm,
            have_log: Vec::new(),
            peers: HashMap::new(),
            rng: rand::rngs::SmallRng::from_entropy(),
            torrent_actions: Vec::new(),
            candidates,
        }),
        actions_ready: Notify::new(),
        have_watch: watch::channel(0).0,
        counters: Counters::default(),
        events: spec.events,
        commands: cmd_tx,
        piece_done: done_tx,
        ext_handshake,
        pending_verify: Default::default(),
        budget: spec.budget,
        dht: spec.dht,
        limits: spec.limits,
        listen_port: spec.listen_port,
        trackers: Mutex::new(Vec::new()),
        selection: spec.selection,
    });
    let task = TorrentTask {
        shared: shared.clone(),
        commands: cmd_rx,
        done: done_rx,
        initial_banned_ips: spec.initial_banned_ips,
        just_completed: false,
    };
    let handle = tokio::spawn(task.run(spec.peers, spec.check));
    (shared, handle)
}

struct TorrentTask {
    shared: Arc<TorrentShared>,
    commands: mpsc::Receiver<TorrentCommand>,
    done: mpsc::UnboundedReceiver<PieceDone>,
    /// [`TorrentSpec::initial_banned_ips`], for the swarm made after the data check.
    initial_banned_ips: Vec<IpAddr>,
    /// Set when the last piece was verified, so the run loop tells the trackers.
    just_completed: bool,
}

impl TorrentTask {
    async fn run(mut self, peers: Vec<SocketAddr>, check: bool) {
        let shared = self.shared.clone();
        if check {
            match self.check_existing().await {
                Ok(have) => self.start_with(have),
                Err(error) => {
                    tracing::error!(torrent = %shared.torrent.name, %error, "checking failed");
                    shared.set_lifecycle(Lifecycle::Failed(Arc::new(error)));
                }
            }
        } else {
            self.start_with(Bitfield::new(shared.lengths.num_pieces()));
        }
        self.add_peers(Source::User, peers);
        let (discovery, mut discovered) = Discovery::start(&shared, shared.dht.clone());
        let mut second = tokio::time::interval(Duration::from_secs(1));
        let mut sampler = RateSampler::new(RATE_WINDOW);
        let mut next_reannounce = Instant::now() + REANNOUNCE_SPACING;
        loop {
            if std::mem::take(&mut self.just_completed) {
                discovery.completed().await;
            }
            let swarm_timer = lock(&shared.inner).swarm.poll_timeout().map(tokio::time::Instant::from_std);
            tokio::select! {
                Some(PieceDone(outcome)) = self.done.recv() => self.on_piece_done(outcome),
                _ = shared.actions_ready.notified() => self.apply_torrent_actions(),
                Some(peers) = discovered.recv() => self.add_peers(Source::Tracker, peers),
                cmd = self.commands.recv() => match cmd {
                    Some(TorrentCommand::Shutdown(ack)) => {
                        self.shutdown().await;
                        discovery.stop().await;
                        let _ = ack.send(());
                        return;
                    }
                    Some(cmd) => self.on_command(cmd),
                    None => return,
                },
                _ = sleep_until(swarm_timer) => self.on_swarm_timer(),
                _ = second.tick() => {
                    let now = Instant::now();
                    sampler.sample(now, &shared.counters);
                    self.connect_due();
                    *lock(&shared.trackers) = discovery.trackers();
                    // Short of peers while downloading: ask the trackers again, at most once a
                    // minute from here (the announcer also honours the trackers' min interval).
                    if self.wants_more_peers() && now >= next_reannounce {
                        next_reannounce = now + REANNOUNCE_SPACING;
                        discovery.reannounce();
                    }
                }
            }
        }
    }

    /// Hashes the data already on disk (parallel, on the blocking pool).
    async fn check_existing(&self) -> Result<Bitfield, TorrentError> {
        let shared = self.shared.clone();
        let workers = shared.options.hash_workers;
        tokio::task::spawn_blocking(move || {
            let progress = |done: u32| shared.counters.checked_pieces.store(done as u64, Relaxed);
            let have = ccbt_storage::check_pieces(
                shared.storage.as_ref(),
                &shared.lengths,
                &shared.torrent.piece_hashes,
                workers,
                &progress,
            )
            .map_err(TorrentError::Storage)?;
            // Files that existed before ccbt may be written only if their data verified.
            shared
                .storage
                .claim_verified(&have, shared.selection.wanted(), &shared.lengths)
                .map_err(TorrentError::Storage)?;
            Ok(have)
        })
        .await
        .map_err(|e| TorrentError::TaskFailed { task: "data check", reason: e.to_string() })?
    }

    fn start_with(&mut self, have: Bitfield) {
        let shared = &self.shared;
        let (pieces, bytes) = shared.selection.counted(&shared.lengths, &have);
        shared.counters.pieces_have.store(u64::from(pieces), Relaxed);
        shared.counters.bytes_have.store(bytes, Relaxed);
        let complete = shared.update(|inner| {
            let banned = &self.initial_banned_ips;
            inner.swarm = new_swarm(&shared.layer_options, &shared.torrent, have, &shared.selection, banned);
            shared.counters.banned_peers.store(inner.swarm.banned_ips().count() as u64, Relaxed);
            // Starts the swarm's timers (the first choker round).
            inner.swarm.handle_timeout(Instant::now(), &mut inner.rng);
            inner.lifecycle = Lifecycle::Active;
            inner.swarm.is_complete()
        });
        if complete {
            shared.emit(Event::TorrentCompleted { id: shared.id });
        }
    }

    fn on_command(&mut self, cmd: TorrentCommand) {
        match cmd {
            TorrentCommand::UserPeers(peers) => self.add_peers(Source::User, peers),
            TorrentCommand::ConnectFailed { addr, ourselves: true, .. } => {
                tracing::debug!(%addr, "this address is ours; not dialling it again");
                lock(&self.shared.inner).candidates.handle_ourselves(addr);
            }
            TorrentCommand::ConnectFailed { addr, reason, ourselves: false }
            | TorrentCommand::PeerClosed { addr, reason, outgoing: true } => {
                tracing::debug!(%addr, %reason, "peer gone");
                let mut inner = lock(&self.shared.inner);
                inner.candidates.handle_ended(Instant::now(), addr);
            }
            TorrentCommand::PeerClosed { outgoing: false, .. } => {}
            TorrentCommand::Pause => {
                // Only a running torrent pauses: a failed one keeps its error.
                if matches!(lock(&self.shared.inner).lifecycle, Lifecycle::Active) {
                    self.close_all(Lifecycle::Paused, CloseReason::Paused);
                }
            }
            TorrentCommand::Resume => {
                let resumed = self.shared.update(|inner| {
                    let paused = matches!(inner.lifecycle, Lifecycle::Paused);
                    if paused {
                        inner.lifecycle = Lifecycle::Active;
                    }
                    paused
                });
                if resumed {
                    lock(&self.shared.inner).candidates.retry_all(Instant::now());
                    self.connect_due();
                }
            }
            TorrentCommand::Shutdown(_) => {}
        }
    }

    fn wants_more_peers(&self) -> bool {
        let inner = lock(&self.shared.inner);
        inner.lifecycle.accepts_connections() && !inner.swarm.is_complete() && inner.peers.len() < FEW_PEERS
    }

    /// Adds connection candidates (the candidate list bounds, filters and bans them) and dials.
    fn add_peers(&mut self, source: Source, peers: Vec<SocketAddr>) {
        let now = Instant::now();
        let added = lock(&self.shared.inner).candidates.handle_discovered(now, source, peers);
        if added > 0 {
            self.connect_due();
        }
    }

    /// Dials due candidates, up to the per-torrent and session limits. A candidate refused by the
    /// per-IP cap backs off like a failed attempt.
    fn connect_due(&mut self) {
        let shared = &self.shared;
        let now = Instant::now();
        // Dials of this call count against the per-torrent limit before they are registered.
        let mut dialled = 0;
        loop {
            let addr = {
                let mut inner = lock(&shared.inner);
                let room = inner.peers.len() + dialled < shared.options.max_peers_per_torrent;
                if !inner.lifecycle.accepts_connections() {
                    return;
                }
                if !room || !shared.budget.has_room() {
                    if dialled == 0 {
                        evict_useless(&shared.options, &inner, now);
                    }
                    return;
                }
                if !inner.candidates.has_due(now) || !shared.budget.try_dial(now) {
                    return;
                }
                let Some(addr) = inner.candidates.poll_dial(now) else { return };
                addr
            };
            match shared.budget.try_handshake(addr.ip(), Direction::Outgoing) {
                Ok(permit) => {
                    dialled += 1;
                    connect_outgoing(shared.clone(), addr, permit);
                }
                Err(why) => {
                    tracing::debug!(%addr, %why, "not dialling now");
                    lock(&shared.inner).candidates.handle_ended(now, addr);
                    if why == NoSlot::Handshakes {
                        return;
                    }
                }
            }
        }
    }

    fn on_piece_done(&mut self, outcome: PieceOutcome) {
        let shared = self.shared.clone();
        shared.pending_verify.fetch_sub(1, Relaxed);
        let (piece, block_hashes) = (outcome.piece, outcome.block_hashes);
        match outcome.result {
            Ok(PieceVerdict::Verified) => {
                // Completion changes the public state (downloading → seeding): `update` tells.
                let (completed, running) = shared.update(|inner| {
                    inner.have_log.push(piece);
                    let was_complete = inner.swarm.is_complete();
                    let complete = inner.swarm.on_piece_verified(piece, block_hashes);
                    let proven = inner.swarm.take_banned();
                    self.ban(inner, proven, "sent blocks that differ from the verified piece");
                    (complete && !was_complete, matches!(inner.lifecycle, Lifecycle::Active))
                });
                if let Some(p) =
                    shared.lengths.validate_piece(piece).filter(|_| shared.selection.contains(piece))
                {
                    shared.counters.pieces_have.fetch_add(1, Relaxed);
                    shared.counters.bytes_have.fetch_add(shared.lengths.piece_len(p) as u64, Relaxed);
                }
                shared.have_watch.send_modify(|g| *g += 1);
                shared.emit(Event::PieceVerified { id: shared.id, piece });
                if completed && running {
                    tracing::info!(torrent = %shared.torrent.name, "download complete");
                    let storage = shared.storage.clone();
                    tokio::task::spawn_blocking(move || storage.flush());
                    shared.emit(Event::TorrentCompleted { id: shared.id });
                    self.just_completed = true;
                }
            }
            Ok(PieceVerdict::HashMismatch) => {
                shared.counters.hash_failures.fetch_add(1, Relaxed);
                tracing::warn!(torrent = %shared.torrent.name, piece, "piece failed its hash check");
                shared.emit(Event::HashFailed { id: shared.id, piece });
                let mut inner = lock(&shared.inner);
                let banned = inner.swarm.on_piece_failed(piece, block_hashes);
                self.ban(&mut inner, banned, "sent data failing its hash checks");
                drop(inner);
                shared.have_watch.send_modify(|g| *g += 1);
            }
            Err(e) => {
                // Every piece in flight fails the same way (a full disk): report the first only.
                if shared.update(|inner| matches!(inner.lifecycle, Lifecycle::Failed(_))) {
                    tracing::debug!(torrent = %shared.torrent.name, piece, error = %e, "after the torrent's error");
                    return;
                }
                tracing::error!(torrent = %shared.torrent.name, piece, error = %e, "cannot write a piece");
                let failed = Lifecycle::Failed(Arc::new(TorrentError::Storage(e)));
                self.close_all(failed, CloseReason::StorageError);
            }
        }
    }

    /// Bans the IPs of peers the swarm found sending corrupt data and closes every connection
    /// from them; the candidate list then refuses them before any handshake completes.
    fn ban(&mut self, inner: &mut TorrentInner, banned: Vec<ccbt_proto::swarm::Banned>, why: &str) {
        let shared = &self.shared;
        for b in banned {
            let ip = b.ip;
            if !inner.candidates.ban(ip) {
                continue; // already banned; its connections are closing
            }
            let reason = format!("{why} ({} strikes)", b.failures);
            tracing::warn!(%ip, %reason, "banning address (every connection from it)");
            for slot in inner.peers.values().filter(|slot| slot.addr.ip() == ip) {
                tracing::warn!(addr = %slot.addr, %reason, "banning peer");
                let _ = slot.commands.try_send(PeerCommand::Close(CloseReason::Banned));
                shared.emit(Event::PeerBanned { id: shared.id, addr: slot.addr, reason: reason.clone() });
            }
        }
        shared.counters.banned_peers.store(inner.candidates.banned_count() as u64, Relaxed);
    }

    /// Runs the swarm's timers (the choker) and forwards choke changes to the connections.
    fn on_swarm_timer(&mut self) {
        let inner = &mut *lock(&self.shared.inner);
        let changes = inner.swarm.handle_timeout(Instant::now(), &mut inner.rng);
        for (key, unchoke) in changes {
            if let Some(slot) = inner.peers.get(&key) {
                let cmd = if unchoke { PeerCommand::Unchoke } else { PeerCommand::Choke };
                let _ = slot.commands.try_send(cmd);
            }
        }
    }

    /// Applies the swarm actions connection tasks left for the whole torrent: pieces to verify,
    /// endgame cancels to other connections, and peers learnt through PEX.
    fn apply_torrent_actions(&mut self) {
        let shared = self.shared.clone();
        let mut verify = Vec::new();
        let mut new_peers = Vec::new();
        {
            let mut inner = lock(&shared.inner);
            let actions = std::mem::take(&mut inner.torrent_actions);
            for action in actions {
                match action {
                    SwarmAction::Verify { piece, blocks, block_hashes } => {
                        verify.push((piece, blocks, block_hashes))
                    }
                    SwarmAction::Cancel { peer, block } => {
                        if let Some(slot) = inner.peers.get(&peer) {
                            let _ = slot.commands.try_send(PeerCommand::Cancel(block));
                        }
                    }
                    SwarmAction::NewPeers(peers) => new_peers.extend(peers),
                    // Connection-level actions are applied by their connection.
                    SwarmAction::Read { .. } | SwarmAction::DhtNode { .. } => {}
                }
            }
        }
        for (piece, blocks, block_hashes) in verify {
            shared.submit_verify(piece, blocks, block_hashes);
        }
        if !new_peers.is_empty() {
            self.add_peers(Source::Pex, new_peers);
        }
    }

    /// Moves to `lifecycle` (which accepts no connections) and closes every connection.
    fn close_all(&mut self, lifecycle: Lifecycle, reason: CloseReason) {
        self.shared.update(|inner| {
            inner.lifecycle = lifecycle;
            for slot in inner.peers.values() {
                let _ = slot.commands.try_send(PeerCommand::Close(reason));
            }
        });
    }

    /// Closes connections, lets pieces in the hash pool finish (their data is verified work),
    /// and flushes the files.
    async fn shutdown(&mut self) {
        self.close_all(Lifecycle::Stopped, CloseReason::ShuttingDown);
        // Pieces connections completed but the task has not handed to the pool yet are
        // verified work too.
        self.apply_torrent_actions();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while self.shared.pending_verify.load(Relaxed) > 0 {
            match tokio::time::timeout_at(deadline, self.done.recv()).await {
                Ok(Some(PieceDone(outcome))) => self.on_piece_done(outcome),
                _ => break,
            }
        }
        let storage = self.shared.storage.clone();
        if let Ok(Err(e)) = tokio::task::spawn_blocking(move || storage.flush()).await {
            tracing::warn!(error = %e, "flushing files at shutdown failed");
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
