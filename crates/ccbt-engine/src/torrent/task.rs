//! The torrent task: checks existing data, keeps connections to known peers, applies piece
//! verification results, runs the choker and samples rates.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ccbt_core::{Bitfield, PeerId};
use ccbt_metainfo::Torrent;
use ccbt_proto::candidates::{choose_eviction, CandidateList, CandidateOptions, EvictionOptions, Source};
use ccbt_proto::picker::PickerOptions;
use ccbt_proto::swarm::{Swarm, SwarmOptions};
use ccbt_storage::{HashPool, PieceOutcome, PieceVerdict, Storage};
use rand::SeedableRng;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::connect::connect_outgoing;
use super::counters::{Counters, RateSampler};
use super::discovery::Discovery;
use super::{TorrentInner, TorrentShared};
use crate::budget::{ConnectionBudget, Direction, NoSlot};
use crate::peer::PeerCommand;
use crate::{Event, SessionOptions, TorrentId, TorrentState};

/// Messages to a torrent task.
#[derive(Debug)]
pub(crate) enum TorrentCommand {
    /// Candidates learnt from peer exchange.
    AddPeers(Vec<SocketAddr>),
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

/// How often the choker runs (BEP 3 clients use 10 s).
const RECHOKE_INTERVAL: Duration = Duration::from_secs(10);
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
    /// Hash the data already on disk before downloading.
    pub check: bool,
    pub budget: Arc<ConnectionBudget>,
    pub dht: Option<crate::dht::DhtHandle>,
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
        let _ = slot.commands.try_send(PeerCommand::Close("useless while a candidate waits"));
    }
}

/// PEX runs only when enabled and never for private torrents (BEP 27).
fn pex_enabled(options: &SessionOptions, torrent: &Torrent) -> bool {
    options.enable_pex && !torrent.private
}

fn new_swarm(
    options: &SessionOptions,
    torrent: &Torrent,
    have: Bitfield,
    selection: &super::Selection,
) -> Swarm {
    let mut swarm = Swarm::new(torrent.lengths(), have, swarm_options(options, torrent));
    swarm.set_metadata(bytes::Bytes::copy_from_slice(&torrent.info_bytes));
    swarm.set_wanted(selection.wanted().cloned());
    swarm
}

fn swarm_options(options: &SessionOptions, torrent: &Torrent) -> SwarmOptions {
    SwarmOptions {
        pex: pex_enabled(options, torrent),
        picker: PickerOptions {
            selection: options.piece_selection,
            endgame_duplicates: options.endgame_duplicates,
            endgame_threshold: options.endgame_threshold,
        },
        max_upload_slots: options.max_upload_slots,
        max_buffered_bytes: options.max_buffered_kib as u64 * 1024,
        max_hash_failures: options.max_hash_failures,
    }
}

/// Creates the torrent's shared state and starts its task.
pub(crate) fn spawn_torrent(spec: TorrentSpec) -> (Arc<TorrentShared>, JoinHandle<()>) {
    let lengths = spec.torrent.lengths();
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let swarm = new_swarm(&spec.options, &spec.torrent, Bitfield::new(lengths.num_pieces()), &spec.selection);
    let ext_handshake = ccbt_proto::swarm::our_ext_handshake(
        spec.listen_port,
        Some(spec.torrent.info_bytes.len() as u64),
        pex_enabled(&spec.options, &spec.torrent),
        concat!("ccbt ", env!("CARGO_PKG_VERSION")),
    );
    let candidates = CandidateList::new(CandidateOptions {
        max_candidates: spec.options.max_peer_candidates,
        ssrf_mitigation: spec.options.ssrf_mitigation,
    });
    let shared = Arc::new(TorrentShared {
        id: spec.id,
        torrent: spec.torrent,
        lengths,
        save_path: spec.save_path,
        options: spec.options,
        peer_id: spec.peer_id,
        storage: spec.storage,
        pool: spec.pool,
        inner: Mutex::new(TorrentInner {
            swarm,
            have_log: Vec::new(),
            peers: HashMap::new(),
            rng: rand::rngs::SmallRng::from_entropy(),
            accepting: false,
            candidates,
        }),
        have_watch: watch::channel(0).0,
        counters: Counters::default(),
        state: Mutex::new(if spec.check { TorrentState::Checking } else { TorrentState::Downloading }),
        events: spec.events,
        commands: cmd_tx,
        piece_done: done_tx,
        ext_handshake,
        pending_verify: Default::default(),
        budget: spec.budget,
        dht: spec.dht,
        listen_port: spec.listen_port,
        trackers: Mutex::new(Vec::new()),
        selection: spec.selection,
    });
    let task = TorrentTask {
        shared: shared.clone(),
        commands: cmd_rx,
        done: done_rx,
        paused: false,
        just_completed: false,
    };
    let handle = tokio::spawn(task.run(spec.peers, spec.check));
    (shared, handle)
}

struct TorrentTask {
    shared: Arc<TorrentShared>,
    commands: mpsc::Receiver<TorrentCommand>,
    done: mpsc::UnboundedReceiver<PieceDone>,
    paused: bool,
    /// Set when the last piece was verified, so the run loop tells the trackers.
    just_completed: bool,
}

impl TorrentTask {
    async fn run(mut self, peers: Vec<SocketAddr>, check: bool) {
        let shared = self.shared.clone();
        if check {
            match self.check_existing().await {
                Ok(have) => self.start_with(have),
                Err(reason) => {
                    tracing::error!(torrent = %shared.torrent.name, %reason, "checking failed");
                    shared.set_state(TorrentState::Error(reason));
                }
            }
        } else {
            self.start_with(Bitfield::new(shared.lengths.num_pieces()));
        }
        self.add_peers(Source::User, peers);
        let (discovery, mut discovered) = Discovery::start(&shared, shared.dht.clone());
        let mut rechoke = tokio::time::interval(RECHOKE_INTERVAL);
        let mut second = tokio::time::interval(Duration::from_secs(1));
        let mut sampler = RateSampler::new(RATE_WINDOW);
        let mut next_reannounce = Instant::now() + REANNOUNCE_SPACING;
        loop {
            if std::mem::take(&mut self.just_completed) {
                discovery.completed().await;
            }
            tokio::select! {
                Some(PieceDone(outcome)) = self.done.recv() => self.on_piece_done(outcome),
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
                _ = rechoke.tick() => self.rechoke(),
                _ = second.tick() => {
                    let now = Instant::now();
                    sampler.sample(now, &shared.counters);
                    self.connect_due();
                    *shared.trackers.lock().expect("trackers lock poisoned") = discovery.trackers();
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
    async fn check_existing(&self) -> Result<Bitfield, String> {
        let shared = self.shared.clone();
        let workers = shared.options.hash_workers;
        tokio::task::spawn_blocking(move || {
            let progress = |done: u32| shared.counters.checked_pieces.store(done as u64, Relaxed);
            ccbt_storage::check_pieces(
                shared.storage.as_ref(),
                &shared.lengths,
                &shared.torrent.piece_hashes,
                workers,
                &progress,
            )
            .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| format!("checking task failed: {e}"))?
    }

    fn start_with(&mut self, have: Bitfield) {
        let shared = &self.shared;
        let (pieces, bytes) = shared.selection.counted(&shared.lengths, &have);
        shared.counters.pieces_have.store(u64::from(pieces), Relaxed);
        shared.counters.bytes_have.store(bytes, Relaxed);
        let complete = {
            let mut inner = shared.inner.lock().expect("torrent lock poisoned");
            inner.swarm = new_swarm(&shared.options, &shared.torrent, have, &shared.selection);
            inner.accepting = true;
            inner.swarm.is_complete()
        };
        if complete {
            shared.set_state(TorrentState::Seeding);
            shared.emit(Event::TorrentCompleted { id: shared.id });
        } else {
            shared.set_state(TorrentState::Downloading);
        }
    }

    fn on_command(&mut self, cmd: TorrentCommand) {
        match cmd {
            TorrentCommand::AddPeers(peers) => self.add_peers(Source::Pex, peers),
            TorrentCommand::UserPeers(peers) => self.add_peers(Source::User, peers),
            TorrentCommand::ConnectFailed { addr, ourselves: true, .. } => {
                tracing::debug!(%addr, "this address is ours; not dialling it again");
                self.shared.inner.lock().expect("torrent lock poisoned").candidates.handle_ourselves(addr);
            }
            TorrentCommand::ConnectFailed { addr, reason, ourselves: false }
            | TorrentCommand::PeerClosed { addr, reason, outgoing: true } => {
                tracing::debug!(%addr, %reason, "peer gone");
                let mut inner = self.shared.inner.lock().expect("torrent lock poisoned");
                inner.candidates.handle_ended(Instant::now(), addr);
            }
            TorrentCommand::PeerClosed { outgoing: false, .. } => {}
            TorrentCommand::Pause => {
                self.paused = true;
                self.close_all("torrent paused");
                self.shared.set_state(TorrentState::Paused);
            }
            TorrentCommand::Resume => {
                if self.paused {
                    self.paused = false;
                    self.shared.inner.lock().expect("torrent lock poisoned").accepting = true;
                    let complete =
                        self.shared.inner.lock().expect("torrent lock poisoned").swarm.is_complete();
                    self.shared.set_state(if complete {
                        TorrentState::Seeding
                    } else {
                        TorrentState::Downloading
                    });
                    self.shared
                        .inner
                        .lock()
                        .expect("torrent lock poisoned")
                        .candidates
                        .retry_all(Instant::now());
                    self.connect_due();
                }
            }
            TorrentCommand::Shutdown(_) => {}
        }
    }

    fn wants_more_peers(&self) -> bool {
        let inner = self.shared.inner.lock().expect("torrent lock poisoned");
        inner.accepting && !inner.swarm.is_complete() && inner.peers.len() < FEW_PEERS
    }

    /// Adds connection candidates (the candidate list bounds, filters and bans them) and dials.
    fn add_peers(&mut self, source: Source, peers: Vec<SocketAddr>) {
        let now = Instant::now();
        let added = self
            .shared
            .inner
            .lock()
            .expect("torrent lock poisoned")
            .candidates
            .handle_discovered(now, source, peers);
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
                let mut inner = shared.inner.lock().expect("torrent lock poisoned");
                let room = inner.peers.len() + dialled < shared.options.max_peers_per_torrent;
                if !inner.accepting || self.paused {
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
                    shared.inner.lock().expect("torrent lock poisoned").candidates.handle_ended(now, addr);
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
        let piece = outcome.piece;
        match outcome.result {
            Ok(PieceVerdict::Verified) => {
                let complete = {
                    let mut inner = shared.inner.lock().expect("torrent lock poisoned");
                    inner.have_log.push(piece);
                    let complete = inner.swarm.on_piece_verified(piece);
                    let proven = inner.swarm.take_banned();
                    self.ban(&mut inner, proven, "sent blocks that differ from the verified piece");
                    complete
                };
                if let Some(p) =
                    shared.lengths.validate_piece(piece).filter(|_| shared.selection.contains(piece))
                {
                    shared.counters.pieces_have.fetch_add(1, Relaxed);
                    shared.counters.bytes_have.fetch_add(shared.lengths.piece_len(p) as u64, Relaxed);
                }
                shared.have_watch.send_modify(|g| *g += 1);
                shared.emit(Event::PieceVerified { id: shared.id, piece });
                let was_downloading =
                    *shared.state.lock().expect("state lock poisoned") == TorrentState::Downloading;
                if complete && was_downloading {
                    tracing::info!(torrent = %shared.torrent.name, "download complete");
                    let storage = shared.storage.clone();
                    tokio::task::spawn_blocking(move || storage.flush());
                    shared.set_state(TorrentState::Seeding);
                    shared.emit(Event::TorrentCompleted { id: shared.id });
                    self.just_completed = true;
                }
            }
            Ok(PieceVerdict::HashMismatch) => {
                shared.counters.hash_failures.fetch_add(1, Relaxed);
                tracing::warn!(torrent = %shared.torrent.name, piece, "piece failed its hash check");
                shared.emit(Event::HashFailed { id: shared.id, piece });
                let mut inner = shared.inner.lock().expect("torrent lock poisoned");
                let banned = inner.swarm.on_piece_failed(piece);
                self.ban(&mut inner, banned, "sent data failing its hash checks");
                drop(inner);
                shared.have_watch.send_modify(|g| *g += 1);
            }
            Err(e) => {
                let reason = format!("cannot write piece {piece}: {e}");
                tracing::error!(torrent = %shared.torrent.name, %reason);
                self.close_all("storage error");
                shared.set_state(TorrentState::Error(reason));
            }
        }
    }

    /// Bans the IPs of peers the swarm found sending corrupt data and closes every connection
    /// from them; the candidate list then refuses them before any handshake completes.
    fn ban(&mut self, inner: &mut TorrentInner, banned: Vec<ccbt_proto::swarm::Banned>, why: &str) {
        let shared = &self.shared;
        for b in banned {
            let Some(addr) = inner.peers.get(&b.peer).map(|slot| slot.addr) else { continue };
            let ip = addr.ip();
            if !inner.candidates.ban(ip) {
                continue; // already banned; its connections are closing
            }
            let reason = format!("{why} ({} strikes)", b.failures);
            tracing::warn!(%addr, %reason, "banning peer (every connection from its IP)");
            for slot in inner.peers.values().filter(|slot| slot.addr.ip() == ip) {
                let _ = slot.commands.try_send(PeerCommand::Close("banned for sending corrupt data"));
                shared.emit(Event::PeerBanned { id: shared.id, addr: slot.addr, reason: reason.clone() });
            }
        }
        shared.counters.banned_peers.store(inner.candidates.banned_count() as u64, Relaxed);
    }

    fn rechoke(&mut self) {
        let inner = &mut *self.shared.inner.lock().expect("torrent lock poisoned");
        let changes = inner.swarm.rechoke(Instant::now(), &mut inner.rng);
        for (key, unchoke) in changes {
            if let Some(slot) = inner.peers.get(&key) {
                let cmd = if unchoke { PeerCommand::Unchoke } else { PeerCommand::Choke };
                let _ = slot.commands.try_send(cmd);
            }
        }
    }

    fn close_all(&mut self, reason: &'static str) {
        let mut inner = self.shared.inner.lock().expect("torrent lock poisoned");
        inner.accepting = false;
        for slot in inner.peers.values() {
            let _ = slot.commands.try_send(PeerCommand::Close(reason));
        }
    }

    /// Closes connections, lets pieces in the hash pool finish (their data is verified work),
    /// and flushes the files.
    async fn shutdown(&mut self) {
        self.close_all("shutting down");
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
