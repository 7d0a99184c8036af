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
use ccbt_proto::candidates::{CandidateList, CandidateOptions, EvictionOptions, Source};
use ccbt_proto::picker::FilePriority;
use ccbt_proto::swarm::{FileSpans, Swarm, SwarmAction};
use ccbt_storage::{HashPool, PieceOutcome, PieceVerdict, Storage};
use rand::SeedableRng;
use tokio::sync::{broadcast, mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use super::check;
use super::checkpointing::{CheckpointSpec, Checkpointer};
use super::connect::connect_outgoing;
use super::counters::{Counters, RateSampler};
use super::discovery::Discovery;
use super::first_data::Clock;
use super::{TorrentInner, TorrentShared};
use crate::budget::{ConnectionBudget, Direction, NoSlot};
use crate::lifecycle::Lifecycle;
use crate::options::TorrentLayerOptions;
use crate::peer::{CloseReason, PeerCommand};
use crate::resume::ResumePlan;
use crate::sync::lock;
use crate::{Event, SessionOptions, TorrentError, TorrentId};

mod recheck;
mod xet_phase;

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
    /// Hash all the data again (see `task/recheck.rs`); the reply says why not now.
    Recheck(oneshot::Sender<Result<(), &'static str>>),
    /// Announce now (trackers and DHT); the reply is false while paused.
    Reannounce(oneshot::Sender<bool>),
    /// Changes file priorities; the reply names a file index that does not exist.
    SetFilePriorities(Vec<(u32, FilePriority)>, oneshot::Sender<Result<(), String>>),
    Shutdown(oneshot::Sender<()>),
    /// The Xet chunk phase ended (`xet_chunks`): the pieces it held go back to the picker (those
    /// it completed were reported verified already), and the peers that sent wrong chunks are
    /// banned.
    XetChunksDone {
        held: Vec<u32>,
        liars: Vec<IpAddr>,
    },
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
    /// The session's options, current and future.
    pub options: watch::Receiver<Arc<SessionOptions>>,
    pub listen_port: u16,
    pub peer_id: PeerId,
    pub pool: Arc<HashPool>,
    pub events: broadcast::Sender<Event>,
    pub peers: Vec<SocketAddr>,
    /// Addresses banned from the start, never dialled or accepted: the metadata liars of the
    /// magnet link this torrent came from.
    pub initial_banned_ips: Vec<IpAddr>,
    /// What to do with the data already on disk before downloading.
    pub check: DataCheck,
    pub budget: Arc<ConnectionBudget>,
    pub dht: Option<crate::dht::DhtHandle>,
    /// The session's Xet chunk store (`xet_enabled`).
    pub xet: Option<Arc<ccbt_xetstore::XetStore>>,
    /// The session's discovery keys (poked when files are indexed).
    pub xet_keys: Arc<crate::xet_discovery::XetKeys>,
    /// The session, for the chunk phase's holder look-ups.
    pub xet_session: std::sync::Weak<crate::session::SessionInner>,
    pub limits: Arc<crate::limits::SessionLimits>,
    pub selection: super::Selection,
    /// Pieces near the read position first (`AddTorrent::streaming`, else `streaming_mode`).
    pub streaming: bool,
    /// None: no checkpoints (`checkpoint_enabled` off).
    pub checkpoint: Option<CheckpointSpec>,
    /// Paused from the start (`AddTorrent::paused`): checked, but no connection or
    /// announce before `Resume`.
    pub paused: bool,
}

/// How a torrent learns which pieces it already has.
pub(crate) enum DataCheck {
    /// Nothing on disk: no piece.
    Nothing,
    /// Hash every piece.
    Full,
    /// Trust a checkpoint, hashing a sample and the pieces of changed files (see `resume.rs`).
    Resume(ResumePlan),
}

/// No slot is free: when a candidate waits, closes the connection the swarm chooses (see
/// `ccbt_proto::swarm` health: first a useless one, no interest either way and no payload for
/// `useless_peer_timeout`; else a settled one that misbehaves: snubbing us, hash failures or
/// protocol errors, the least healthy first). Honest peers that give or take data are kept.
fn evict_useless(options: &SessionOptions, inner: &TorrentInner, now: Instant) {
    if !inner.candidates.has_due(now) {
        return;
    }
    let eviction = EvictionOptions { idle_after: options.useless_peer_timeout };
    let Some(key) = inner.swarm.choose_eviction(now, eviction) else { return };
    if let Some(slot) = inner.peers.get(&key) {
        tracing::debug!(addr = %slot.addr, "evicting a useless or misbehaving peer: a candidate waits");
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
    let layout = torrent.layout();
    let data_files = layout.files().iter().filter(|f| !f.is_padding);
    swarm.set_files(FileSpans::new(data_files.map(|f| (f.offset, f.length))));
    // A new swarm has no started piece, so there is nothing to cancel.
    let _ = swarm.set_piece_priorities(selection.piece_priorities());
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
    let options = spec.options.borrow().clone();
    let layer_options = TorrentLayerOptions::new(&options, &spec.torrent);
    let empty = Bitfield::new(lengths.num_pieces());
    let swarm = new_swarm(&layer_options, &spec.torrent, empty, &spec.selection, &spec.initial_banned_ips);
    let mut candidates = CandidateList::new(CandidateOptions {
        max_candidates: options.max_peer_candidates,
        ssrf_mitigation: options.ssrf_mitigation,
    });
    // Liars found while fetching a magnet's metadata: never dialled, refused before the handshake.
    for &ip in &spec.initial_banned_ips {
        candidates.ban(ip);
    }
    let hash_server = crate::peer::hash_answers::server_for(&spec.torrent);
    let xet_chunks = super::xet::chunk_positions(&spec.torrent);
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
            streaming: super::streaming::StreamingState::new(spec.streaming),
            selection: spec.selection,
        }),
        actions_ready: Notify::new(),
        have_watch: watch::channel(0).0,
        counters: Counters::default(),
        first_data: Default::default(),
        events: spec.events,
        commands: cmd_tx,
        piece_done: done_tx,
        pending_verify: Default::default(),
        budget: spec.budget,
        dht: spec.dht,
        xet: spec.xet,
        xet_keys: spec.xet_keys,
        xet_session: spec.xet_session,
        xet_chunks,
        limits: spec.limits,
        listen_port: spec.listen_port,
        trackers: Mutex::new(Vec::new()),
        traced_peers: Mutex::default(),
        hash_server,
    });
    let interval = shared.options().checkpoint_interval;
    let task = TorrentTask {
        shared: shared.clone(),
        options: shared.options.clone(),
        applied: options,
        commands: cmd_rx,
        done: done_rx,
        initial_banned_ips: spec.initial_banned_ips,
        just_completed: false,
        checkpointer: spec.checkpoint.map(|c| Checkpointer::new(c, interval)),
        recheck: None,
        hold_next: Vec::new(),
        chunk_phase: None,
    };
    let handle = tokio::spawn(task.run(spec.peers, spec.check, spec.paused));
    (shared, handle)
}

struct TorrentTask {
    shared: Arc<TorrentShared>,
    /// Tells the task when `Session::reconfigure` changed the options.
    options: watch::Receiver<Arc<SessionOptions>>,
    /// The options the task last applied (to see what changed).
    applied: Arc<SessionOptions>,
    commands: mpsc::Receiver<TorrentCommand>,
    done: mpsc::UnboundedReceiver<PieceDone>,
    /// [`TorrentSpec::initial_banned_ips`], for the swarm made after the data check.
    initial_banned_ips: Vec<IpAddr>,
    /// Set when the last piece was verified, so the run loop tells the trackers.
    just_completed: bool,
    /// None when checkpoints are off.
    checkpointer: Option<Checkpointer>,
    /// A recheck asked for by the user, while it runs.
    recheck: Option<recheck::Recheck>,
    /// Pieces the next `start_with` holds out of the picker for the Xet chunk phase.
    hold_next: Vec<u32>,
    /// The running Xet chunk phase and the pieces it holds (`task/xet_phase.rs`).
    chunk_phase: Option<(JoinHandle<()>, Vec<u32>)>,
}

impl TorrentTask {
    async fn run(mut self, peers: Vec<SocketAddr>, check: DataCheck, paused: bool) {
        let shared = self.shared.clone();
        // A resume that trusted every claimed piece and found no file changed knows what the
        // checkpoint on disk says: nothing to write at once.
        let unchanged = match &check {
            DataCheck::Resume(plan) if plan.changed.is_empty() => Some(plan.trusted.clone()),
            _ => None,
        };
        let have = match check {
            DataCheck::Nothing => Ok(Bitfield::new(shared.lengths.num_pieces())),
            DataCheck::Full => check::check_existing(&shared).await,
            DataCheck::Resume(plan) => check::resume_existing(&shared, plan).await,
        };
        // Chunks of this torrent already on this machine (another torrent, an older version).
        let (have, mut chunk_plan) = match have {
            Ok(have) => {
                let (have, plan) = super::xet::fill_from_store(&shared, have).await;
                (Ok(have), plan)
            }
            Err(e) => (Err(e), None),
        };
        match have {
            Ok(have) => {
                let as_checkpointed = unchanged.as_ref() == Some(&have);
                // Pieces filled partly from the chunk store wait for their chunks from peers.
                if let Some(plan) = chunk_plan.as_mut().filter(|_| !paused) {
                    self.hold_next = std::mem::take(&mut plan.pieces);
                }
                self.start_with(have, paused, true);
                if let Some(plan) = chunk_plan.as_mut() {
                    plan.pieces = std::mem::take(&mut self.hold_next);
                }
                if let Some(c) = self.checkpointer.as_mut() {
                    c.paused = paused;
                    c.ready = true;
                    if as_checkpointed {
                        c.resumed_unchanged();
                    }
                }
                // At once: what the check found, and the files ccbt created, survive a crash.
                if !as_checkpointed {
                    self.write_checkpoint();
                }
            }
            Err(error) => {
                tracing::error!(torrent = %shared.torrent.name, %error, "checking failed");
                shared.set_lifecycle(Lifecycle::Failed(Arc::new(error)));
            }
        }
        self.add_peers(Source::User, peers);
        if let Some(plan) = chunk_plan.filter(|_| !paused) {
            self.start_chunk_phase(plan);
        }
        let running = !matches!(lock(&shared.inner).lifecycle, Lifecycle::Paused);
        let (mut discovery, mut discovered) = Discovery::start(&shared, shared.dht.clone(), running);
        let mut second = tokio::time::interval(Duration::from_secs(1));
        let mut sampler = RateSampler::new(RATE_WINDOW);
        let mut next_reannounce = Instant::now() + REANNOUNCE_SPACING;
        loop {
            if std::mem::take(&mut self.just_completed) {
                discovery.completed().await;
            }
            let swarm_timer = lock(&shared.inner).swarm.poll_timeout().map(tokio::time::Instant::from_std);
            let writing = self.checkpointer.as_ref().is_some_and(Checkpointer::writing);
            tokio::select! {
                Some(PieceDone(outcome)) = self.done.recv() => self.on_piece_done(outcome),
                _ = checkpoint_written(&mut self.checkpointer), if writing => {
                    if self.checkpointer.as_mut().is_some_and(Checkpointer::take_again) {
                        self.write_checkpoint();
                    }
                }
                _ = shared.actions_ready.notified() => self.apply_torrent_actions(),
                Some(peers) = discovered.recv() => self.add_peers(Source::Tracker, peers),
                Ok(()) = self.options.changed() => self.on_options_changed(&mut discovery),
                cmd = self.commands.recv() => match cmd {
                    Some(TorrentCommand::Shutdown(ack)) => {
                        self.stop_chunk_phase();
                        self.shutdown().await;
                        discovery.stop().await;
                        let _ = ack.send(());
                        return;
                    }
                    Some(cmd) => self.on_command(cmd, &mut discovery),
                    None => return,
                },
                have = recheck::finished(&mut self.recheck) => self.on_recheck_done(have, &mut discovery),
                _ = sleep_until(swarm_timer) => self.on_swarm_timer(),
                _ = second.tick() => {
                    let now = Instant::now();
                    sampler.sample(now, &shared.counters);
                    if self.checkpointer.as_ref().is_some_and(|c| c.due(now)) {
                        self.write_checkpoint();
                    }
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

    /// Starts the swarm with the pieces `have`; the torrent becomes active, or paused.
    /// `tell_complete`: emit `TorrentCompleted` if nothing is missing (not after a recheck).
    fn start_with(&mut self, have: Bitfield, paused: bool, tell_complete: bool) {
        let shared = &self.shared;
        // The options now: they may have changed during the check.
        let layers = TorrentLayerOptions::new(&shared.options(), &shared.torrent);
        let hold = std::mem::take(&mut self.hold_next);
        let (complete, held) = shared.update(|inner| {
            let (pieces, bytes) = inner.selection.counted(&shared.lengths, &have);
            shared.counters.pieces_have.store(u64::from(pieces), Relaxed);
            shared.counters.bytes_have.store(bytes, Relaxed);
            let banned = &self.initial_banned_ips;
            inner.swarm = new_swarm(&layers, &shared.torrent, have, &inner.selection, banned);
            super::streaming::apply(inner, &shared.torrent);
            shared.counters.banned_peers.store(inner.swarm.banned_ips().count() as u64, Relaxed);
            // Starts the swarm's timers (the first choker round).
            inner.swarm.handle_timeout(Instant::now(), &mut inner.rng);
            // Before any connection can pick them (the Xet chunk phase fills them).
            let held = inner.swarm.hold_pieces(&hold);
            inner.lifecycle = if paused { Lifecycle::Paused } else { Lifecycle::Active };
            (inner.swarm.is_complete(), held)
        });
        self.hold_next = held;
        // File readers that waited through the check see the pieces found on disk.
        shared.have_watch.send_modify(|g| *g += 1);
        let now = Instant::now();
        shared.first_data.update(|c| if paused || complete { c.stop() } else { c.start(now) });
        if complete && tell_complete {
            shared.emit(Event::TorrentCompleted { id: shared.id });
            super::xet::index_complete_files(shared);
        }
    }

    fn on_command(&mut self, cmd: TorrentCommand, discovery: &mut Discovery) {
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
                // A recheck ends paused.
                if let Some(r) = self.recheck.as_mut() {
                    r.paused = true;
                }
                // Only a running torrent pauses: a failed one keeps its error.
                if matches!(lock(&self.shared.inner).lifecycle, Lifecycle::Active) {
                    self.stop_chunk_phase();
                    self.close_all(Lifecycle::Paused, CloseReason::Paused);
                    self.shared.first_data.update(Clock::stop);
                    discovery.pause();
                    if let Some(c) = self.checkpointer.as_mut() {
                        c.paused = true;
                    }
                    self.write_checkpoint();
                }
            }
            TorrentCommand::Resume => {
                let (resumed, complete) = self.shared.update(|inner| {
                    let paused = matches!(inner.lifecycle, Lifecycle::Paused);
                    if paused {
                        inner.lifecycle = Lifecycle::Active;
                    }
                    (paused, inner.swarm.is_complete())
                });
                if resumed {
                    let now = Instant::now();
                    self.shared.first_data.update(|c| if complete { c.stop() } else { c.start(now) });
                    if let Some(c) = self.checkpointer.as_mut() {
                        c.paused = false;
                        c.touch();
                    }
                    lock(&self.shared.inner).candidates.retry_all(Instant::now());
                    discovery.resume(&self.shared);
                    self.connect_due();
                }
                // A recheck of a paused torrent ends active.
                if let Some(r) = self.recheck.as_mut() {
                    r.paused = false;
                }
            }
            TorrentCommand::Recheck(reply) => {
                let _ = reply.send(self.start_recheck());
            }
            TorrentCommand::Reannounce(reply) => {
                let _ = reply.send(discovery.announce_now(&self.shared));
            }
            TorrentCommand::SetFilePriorities(changes, reply) => {
                let _ = reply.send(self.set_file_priorities(&changes));
            }
            TorrentCommand::Shutdown(_) => {}
            TorrentCommand::XetChunksDone { held, liars } => self.on_chunks_done(held, liars),
        }
    }

    /// Applies options changed by `Session::reconfigure`: the swarm's (choker, picker, bans,
    /// PEX), the per-torrent connection count (the least useful connections beyond a lowered
    /// one are closed; a raised one dials at once), and the discovery switches.
    fn on_options_changed(&mut self, discovery: &mut Discovery) {
        let new = self.options.borrow_and_update().clone();
        let old = std::mem::replace(&mut self.applied, new.clone());
        let shared = self.shared.clone();
        let swarm_options = TorrentLayerOptions::new(&new, &shared.torrent).swarm;
        let excess = {
            let mut inner = lock(&shared.inner);
            inner.swarm.set_options(Instant::now(), swarm_options);
            inner.peers.len().saturating_sub(new.max_peers_per_torrent)
        };
        shared.close_excess(excess);
        discovery.apply_options(&shared, &old, &new);
        self.connect_due();
    }

    /// Applies new file priorities (see `priorities.rs`), then forwards the cancels, tells
    /// of completion, or looks for peers again when the torrent has something to fetch again.
    fn set_file_priorities(&mut self, changes: &[(u32, FilePriority)]) -> Result<(), String> {
        let shared = self.shared.clone();
        let change = shared.apply_file_priorities(changes)?;
        self.apply_torrent_actions();
        if change.completed {
            tracing::info!(torrent = %shared.torrent.name, "download complete (the rest is skipped)");
            shared.emit(Event::TorrentCompleted { id: shared.id });
            super::xet::index_complete_files(&shared);
            self.just_completed = true;
        }
        if change.reopened {
            self.connect_due();
        }
        Ok(())
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
                let options = shared.options();
                let room = inner.peers.len() + dialled < options.max_peers_per_torrent;
                if !inner.lifecycle.accepts_connections() {
                    return;
                }
                if !room || !shared.budget.has_room() {
                    if dialled == 0 {
                        evict_useless(&options, &inner, now);
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
                let (completed, running, wanted) = shared.update(|inner| {
                    inner.have_log.push(piece);
                    let was_complete = inner.swarm.is_complete();
                    let complete = inner.swarm.on_piece_verified(piece, block_hashes);
                    let proven = inner.swarm.take_banned();
                    self.ban(inner, proven, "sent blocks that differ from the verified piece");
                    let running = matches!(inner.lifecycle, Lifecycle::Active);
                    (complete && !was_complete, running, inner.selection.contains(piece))
                });
                if let Some(p) = shared.lengths.validate_piece(piece).filter(|_| wanted) {
                    shared.counters.pieces_have.fetch_add(1, Relaxed);
                    shared.counters.bytes_have.fetch_add(shared.lengths.piece_len(p) as u64, Relaxed);
                }
                let len = shared.lengths.validate_piece(piece).map_or(0, |p| shared.lengths.piece_len(p));
                let batch_full =
                    self.checkpointer.as_mut().is_some_and(|c| c.piece_verified(piece, u64::from(len)));
                shared.have_watch.send_modify(|g| *g += 1);
                let now = Instant::now();
                shared.first_data.update(|c| c.on_piece(now));
                tracing::debug!(torrent = %shared.torrent.name, piece, "piece verified");
                shared.emit(Event::PieceVerified { id: shared.id, piece });
                if completed && running {
                    tracing::info!(torrent = %shared.torrent.name, "download complete");
                    if self.checkpointer.is_some() {
                        // The checkpoint flushes what it lists.
                        self.write_checkpoint();
                    } else {
                        let storage = shared.storage.clone();
                        tokio::task::spawn_blocking(move || storage.flush());
                    }
                    shared.emit(Event::TorrentCompleted { id: shared.id });
                    super::xet::index_complete_files(&shared);
                    self.just_completed = true;
                } else if batch_full {
                    self.write_checkpoint();
                }
            }
            Ok(PieceVerdict::HashMismatch) => {
                shared.counters.hash_failures.fetch_add(1, Relaxed);
                let len = shared.lengths.validate_piece(piece).map_or(0, |p| shared.lengths.piece_len(p));
                shared.counters.hash_failed_bytes.fetch_add(u64::from(len), Relaxed);
                tracing::warn!(torrent = %shared.torrent.name, piece, "piece failed its hash check");
                shared.emit(Event::HashFailed { id: shared.id, piece });
                let mut inner = lock(&shared.inner);
                let banned = inner.swarm.on_piece_failed(piece, block_hashes);
                self.ban(&mut inner, banned, "sent data failing its hash checks");
                drop(inner);
                shared.have_watch.send_modify(|g| *g += 1);
            }
            Ok(PieceVerdict::Unverifiable) => {
                // No hash to check it against yet (a v2 piece whose layer is unknown): the data
                // was dropped unwritten, and nothing proves it wrong, so no peer is struck.
                tracing::debug!(torrent = %shared.torrent.name, piece, "piece dropped: no hash to check it against yet");
                lock(&shared.inner).swarm.on_piece_unverifiable(piece);
                shared.have_watch.send_modify(|g| *g += 1);
            }
            Err(e) => {
                // Every piece in flight fails the same way (a full disk): report the first only.
                // A piece drained at shutdown is not a new state either (reporting it made a
                // failed torrent emit its error twice).
                match shared.update(|inner| inner.lifecycle.clone()) {
                    Lifecycle::Failed(_) => {
                        tracing::debug!(torrent = %shared.torrent.name, piece, error = %e, "after the torrent's error");
                        return;
                    }
                    Lifecycle::Stopped => {
                        tracing::warn!(torrent = %shared.torrent.name, piece, error = %e, "cannot write a piece while shutting down");
                        return;
                    }
                    _ => {}
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

    /// Applies the swarm actions connection tasks left for the whole torrent: pieces to verify
    /// and peers learnt through PEX.
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
                    // Connections send their cancels themselves; one left here still goes out.
                    SwarmAction::Cancel { peer, block } => crate::peer::send_cancel(&inner, peer, block),
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
        // File readers waiting for a piece look again: a stopped or failed torrent ends them.
        self.shared.have_watch.send_modify(|g| *g += 1);
    }

    /// Closes connections, lets pieces in the hash pool finish (their data is verified work),
    /// and flushes the files.
    async fn shutdown(&mut self) {
        // A failed torrent stays failed: its error is what a last status should show.
        let failed = match &lock(&self.shared.inner).lifecycle {
            Lifecycle::Failed(e) => Some(e.clone()),
            _ => None,
        };
        self.close_all(failed.map_or(Lifecycle::Stopped, Lifecycle::Failed), CloseReason::ShuttingDown);
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
        let shared = self.shared.clone();
        if let Some(c) = self.checkpointer.as_mut() {
            c.write_now(&shared).await;
        }
    }

    /// Starts writing the checkpoint (see `checkpointing.rs`), if checkpoints are on.
    fn write_checkpoint(&mut self) {
        let shared = self.shared.clone();
        if let Some(c) = self.checkpointer.as_mut() {
            c.start(&shared);
        }
    }
}

/// Waits for the running checkpoint write (forever without checkpoints).
async fn checkpoint_written(checkpointer: &mut Option<Checkpointer>) {
    match checkpointer {
        Some(c) => c.written().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
