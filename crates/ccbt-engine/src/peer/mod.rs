//! One task per connection. [`run_peer`] is the driver: it wires a sans-IO `PeerConn` to the
//! torrent's `Swarm` ([`TorrentConn`]) and hands both to the socket pump (`pump.rs`). No protocol
//! decisions here; endgame cancels go straight to the other connection, and actions that concern
//! the whole torrent (verify, new peers) to the torrent task, which applies them.

mod end;
pub(crate) mod handshake;
pub(crate) mod hash_answers;
mod out_queue;
pub(crate) mod pump;
mod rate;
pub(crate) mod request_gauge;
#[cfg(test)]
mod tests;
pub(crate) mod trace;
mod uploads;
pub(crate) mod xet_answers;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use ccbt_core::BlockRef;
use ccbt_proto::peer::{PeerConn, PeerConnOptions};
use ccbt_proto::swarm::SwarmAction;
use ccbt_proto::PeerKey;
use ccbt_wire::{Handshake, Message};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::sync::lock;
use crate::torrent::{TorrentInner, TorrentShared};
pub(crate) use end::{CloseReason, ConnEnd};
use pump::{Machine, PumpLimits};
use request_gauge::RequestGauge;
use trace::{Direction, PeerTracer};
use uploads::UploadReads;

/// Commands other tasks send to a connection task.
#[derive(Debug)]
pub(crate) enum PeerCommand {
    /// Endgame: the block arrived from another peer.
    Cancel(BlockRef),
    Choke,
    Unchoke,
    Close(CloseReason),
    /// Start tracing this connection (`Session::trace_peer`), unless it already is.
    StartTrace,
    /// Stop tracing this connection.
    StopTrace,
}

/// Capacity of each connection's command channel. Commands are small and rare (choke changes,
/// endgame cancels); a full channel drops a cancel, which only costs a duplicate block.
pub(crate) const PEER_COMMAND_CAPACITY: usize = 64;

/// Most bytes queued for one peer: encoded output plus upload reads in flight. Past it we stop
/// reading from the peer, so a peer that requests faster than it reads is slowed down.
pub(crate) const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// Most output one incoming message can make us queue: a 16 KiB block or `ut_metadata` piece,
/// with its headers.
const MAX_OUTPUT_PER_MESSAGE: usize = 16 * 1024 + 128;

/// The pump's bounds for torrent connections.
pub(crate) const LIMITS: PumpLimits = PumpLimits {
    cap: MAX_WRITE_BUFFER,
    max_output_per_message: MAX_OUTPUT_PER_MESSAGE,
    max_frame: ccbt_wire::DEFAULT_MAX_FRAME,
};

/// Drives one established connection until it ends. `theirs` is the peer's handshake.
pub(crate) async fn run_peer(
    shared: Arc<TorrentShared>,
    key: PeerKey,
    stream: TcpStream,
    theirs: Handshake,
    outgoing: bool,
    commands: mpsc::Receiver<PeerCommand>,
) -> ConnEnd {
    let _ = stream.set_nodelay(true);
    // Strikes and bans are keyed by the sender's IP: a connection whose address is unknown
    // (the socket already failed) cannot be accounted for.
    let Ok(remote) = stream.peer_addr() else {
        return ConnEnd::Io(std::io::Error::other("the connection has no peer address"));
    };
    let (gauge, requests) = {
        let inner = lock(&shared.inner);
        // Whichever way the connection came (a dial of an address learnt before the ban, or an
        // incoming one), a banned address is not served.
        if inner.swarm.is_banned(remote.ip()) {
            return ConnEnd::Closed(CloseReason::Banned);
        }
        let slot = inner.peers.get(&key);
        (
            slot.map(|s| s.send_queue.clone()).unwrap_or_default(),
            slot.map(|s| s.requests.clone()).unwrap_or_default(),
        )
    };
    // The handshake already went both ways: charged, as it could not be refused.
    let rate = shared.limits.register(shared.id, Handshake::LEN as u64);
    let mut machine = TorrentConn::start(shared.clone(), key, remote, &theirs, outgoing, commands, requests);
    if shared.traces_peer(remote) {
        machine.tracer = Some(trace_from_handshake(&shared, remote, &theirs, outgoing));
    }
    let end = pump::run(&stream, &mut machine, LIMITS, &gauge, &rate).await;
    if let Some(tracer) = &mut machine.tracer {
        tracer.note(&format!("connection closed: {end}"));
    }
    lock(&shared.inner).swarm.remove_peer(key);
    // Its requests are free again: wake the other connections to pick them.
    shared.have_watch.send_modify(|g| *g += 1);
    end
}

/// A tracer for a connection traced from its start: the handshakes both ways, in the order
/// they went (the outgoing side speaks first).
fn trace_from_handshake(
    shared: &TorrentShared,
    remote: SocketAddr,
    theirs: &Handshake,
    outgoing: bool,
) -> PeerTracer {
    let mut tracer = shared.start_tracer(remote);
    let way = if outgoing { "outgoing" } else { "incoming" };
    tracer.note(&format!("connection established ({way}) with {remote}"));
    let ours = handshake::ours(shared.torrent.info_hash, shared.peer_id, shared.handshake_bits());
    let (first, second) = if outgoing {
        ((Direction::Send, &ours), (Direction::Recv, theirs))
    } else {
        ((Direction::Recv, theirs), (Direction::Send, &ours))
    };
    tracer.handshake(first.0, first.1);
    tracer.handshake(second.0, second.1);
    tracer
}

/// Tells connection `peer` to withdraw its request for `block` (endgame: another connection
/// delivered it). A full command channel drops the cancel, which only costs a duplicate block.
pub(crate) fn send_cancel(inner: &TorrentInner, peer: PeerKey, block: BlockRef) {
    if let Some(slot) = inner.peers.get(&peer) {
        let _ = slot.commands.try_send(PeerCommand::Cancel(block));
    }
}

/// A torrent connection as the pump drives it: the peer machine, the swarm behind the torrent
/// lock, the torrent's commands and the connection's upload reads.
struct TorrentConn {
    shared: Arc<TorrentShared>,
    key: PeerKey,
    conn: PeerConn,
    peer_ip: Option<IpAddr>,
    remote: SocketAddr,
    /// Set while this connection is traced: untraced, each message costs one test of `None`.
    tracer: Option<PeerTracer>,
    commands: mpsc::Receiver<PeerCommand>,
    have_generation: watch::Receiver<u64>,
    /// How many entries of the torrent's `have_log` this peer was told about.
    haves_sent: usize,
    uploads: UploadReads,
    /// Our BEP 5 Port message, sent after the opening messages (the availability message must
    /// be first, BEP 6).
    pending_port: Option<u16>,
    /// The swarm's next timer for this peer (peer exchange).
    swarm_deadline: Option<Instant>,
    last_down: u64,
    last_up: u64,
    actions: Vec<SwarmAction>,
    /// The connection's request queue lengths, for the torrent's peer list.
    requests: Arc<RequestGauge>,
    /// Both sides set the BEP 52 v2 bit: hash requests may be answered.
    speaks_v2: bool,
    /// Answers to the peer's hash requests, waiting to be sent.
    hash_answers: hash_answers::HashAnswers,
    /// The peer's `xet_cas` requests and our answers (Xet torrents).
    xet: xet_answers::XetAnswers,
}

impl TorrentConn {
    fn start(
        shared: Arc<TorrentShared>,
        key: PeerKey,
        remote: std::net::SocketAddr,
        theirs: &Handshake,
        outgoing: bool,
        commands: mpsc::Receiver<PeerCommand>,
        requests: Arc<RequestGauge>,
    ) -> TorrentConn {
        let conn_opts = PeerConnOptions {
            fast_extension: theirs.supports_fast(),
            extension_protocol: theirs.supports_extensions(),
            ..shared.layer_options.peer_conn.clone()
        };
        let now = Instant::now();
        let mut conn = PeerConn::new(conn_opts, now);
        let mut have_generation = shared.have_watch.subscribe();
        let peer_addr = Some(remote);
        // BEP 5: tell DHT-capable peers where our node listens.
        let pending_port =
            shared.dht.as_ref().filter(|_| theirs.supports_dht()).map(|d| d.local_addr().port());
        let haves_sent = {
            let mut inner = lock(&shared.inner);
            conn.start(now, inner.swarm.have(), Some(shared.ext_handshake()));
            inner.swarm.add_peer(key, remote.ip());
            if let Some(addr) = peer_addr {
                inner.swarm.set_peer_addr(key, now, addr, outgoing);
            }
            inner.have_log.len()
        };
        have_generation.borrow_and_update();
        // libtorrent's rule: a connection is v2 when it uses the truncated v2 hash, or when the
        // peer sets the v2 bit (it does not echo the bit when answering the v2 hash).
        let v2_id = shared.torrent.info_hash_v2.map(|v2| v2.truncated());
        let speaks_v2 = v2_id.is_some() && (theirs.supports_v2() || v2_id == Some(theirs.info_hash));
        TorrentConn {
            uploads: UploadReads::new(shared.storage.clone(), shared.lengths),
            shared,
            key,
            conn,
            peer_ip: peer_addr.map(|a| a.ip()),
            remote,
            tracer: None,
            commands,
            have_generation,
            haves_sent,
            pending_port,
            swarm_deadline: None,
            last_down: 0,
            last_up: 0,
            actions: Vec::new(),
            requests,
            speaks_v2,
            hash_answers: Default::default(),
            xet: xet_answers::XetAnswers::new(now),
        }
    }

    /// Applies what concerns this connection only, and endgame cancels (straight to the other
    /// connection's command channel, under the torrent lock already held: a cancel that waited
    /// for the torrent task would arrive a scheduling round later, after more duplicate bytes);
    /// the rest goes to the torrent task.
    fn apply_actions(&mut self, inner: &mut TorrentInner) -> bool {
        let mut for_torrent = false;
        for action in self.actions.drain(..) {
            match action {
                SwarmAction::Cancel { peer, block } => send_cancel(inner, peer, block),
                SwarmAction::Read { block } => {
                    if !self.uploads.push(block) {
                        self.conn.reject_request(block);
                    }
                }
                SwarmAction::DhtNode { port } => {
                    if let (Some(dht), Some(ip)) = (&self.shared.dht, self.peer_ip) {
                        dht.add_node(std::net::SocketAddr::new(ip, port));
                    }
                }
                torrent_wide => {
                    inner.torrent_actions.push(torrent_wide);
                    for_torrent = true;
                }
            }
        }
        for_torrent
    }

    fn update_counters(&mut self) {
        let stats = self.conn.stats();
        if stats.downloaded > self.last_down {
            self.shared.first_data.payload_arrived();
        }
        self.shared.counters.add_down(stats.downloaded - self.last_down);
        self.shared.counters.add_up(stats.uploaded - self.last_up);
        self.last_down = stats.downloaded;
        self.last_up = stats.uploaded;
    }

    fn on_command(&mut self, cmd: Option<PeerCommand>) -> Result<(), ConnEnd> {
        match cmd {
            Some(PeerCommand::Cancel(block)) => self.conn.cancel(block),
            Some(PeerCommand::Choke) => self.conn.choke(),
            Some(PeerCommand::Unchoke) => self.conn.unchoke(),
            Some(PeerCommand::Close(reason)) => return Err(ConnEnd::Closed(reason)),
            Some(PeerCommand::StartTrace) if self.tracer.is_none() => {
                let mut tracer = self.shared.start_tracer(self.remote);
                tracer.note(&format!("trace started on the established connection with {}", self.remote));
                self.tracer = Some(tracer);
            }
            Some(PeerCommand::StartTrace) => {}
            Some(PeerCommand::StopTrace) => {
                if let Some(mut tracer) = self.tracer.take() {
                    tracer.note("trace stopped by request");
                }
            }
            None => return Err(ConnEnd::TorrentStopped),
        }
        Ok(())
    }
}

impl Machine for TorrentConn {
    fn handle_message(&mut self, now: Instant, msg: Message) -> Result<(), ConnEnd> {
        tracing::trace!(peer = self.key.0, msg = %MessageSummary(&msg), "received");
        if let Some(tracer) = &mut self.tracer {
            if !tracer.message(Direction::Recv, &msg) {
                self.tracer = None;
            }
        }
        if let Message::HashRequest(req) = &msg {
            let server = self.shared.hash_server.as_ref().filter(|_| self.speaks_v2);
            self.hash_answers.on_request(server, req);
            return Ok(());
        }
        if self.shared.torrent.is_xet() {
            match &msg {
                // The peer machine reads the handshake too; here only its `xet_cas` part.
                Message::Extended { id: 0, payload } => self.xet.on_ext_handshake(payload),
                Message::Extended { id: ccbt_proto::peer::OUR_XET_CAS, payload } => {
                    return self.xet.on_message(payload).map_err(ConnEnd::Xet);
                }
                _ => {}
            }
        }
        self.conn.handle_message(now, msg).map_err(ConnEnd::Protocol)
    }

    /// Lets the swarm see what happened and fill the request pipeline (one short lock).
    fn after_input(&mut self, now: Instant) -> Result<(), ConnEnd> {
        let shared = self.shared.clone();
        let (useless, for_torrent, freed) = {
            let mut guard = lock(&shared.inner);
            let inner = &mut *guard;
            for &piece in &inner.have_log[self.haves_sent..] {
                self.conn.have(piece);
            }
            self.haves_sent = inner.have_log.len();
            let useless =
                inner.swarm.handle_conn(now, self.key, &mut self.conn, &mut inner.rng, &mut self.actions);
            self.swarm_deadline = inner.swarm.poll_peer_timeout(self.key);
            let for_torrent = self.apply_actions(inner);
            (useless, for_torrent, inner.swarm.freed_requests())
        };
        if for_torrent {
            shared.actions_ready.notify_one();
        }
        if freed {
            shared.have_watch.send_modify(|g| *g += 1);
        }
        self.update_counters();
        self.requests.record(self.conn.outstanding_requests(), self.conn.queued_peer_requests());
        self.xet.set_choked(self.conn.am_choking());
        if useless {
            return Err(ConnEnd::BothSeeds);
        }
        Ok(())
    }

    fn poll_transmit(&mut self) -> Option<Message> {
        let msg = self
            .conn
            .poll_transmit()
            .or_else(|| self.pending_port.take().map(Message::Port))
            .or_else(|| self.hash_answers.pop())
            .or_else(|| self.xet.pop())?;
        if let Some(tracer) = &mut self.tracer {
            if !tracer.message(Direction::Send, &msg) {
                self.tracer = None;
            }
        }
        Some(msg)
    }

    fn pending_output(&self) -> usize {
        self.uploads.in_flight_bytes() + self.xet.pending_bytes()
    }

    fn start_output(&mut self, room: usize) {
        let before = self.uploads.in_flight_bytes();
        self.uploads.start(room);
        let taken = self.uploads.in_flight_bytes().saturating_sub(before);
        let source = xet_answers::TorrentChunks { shared: &self.shared };
        self.xet.start_output(&source, room.saturating_sub(taken), Instant::now());
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.conn.poll_timeout(), self.swarm_deadline].into_iter().flatten().min()
    }

    fn handle_timeout(&mut self, now: Instant) -> Result<(), ConnEnd> {
        // The swarm's timers run in `after_input`, which follows every timer.
        self.conn.handle_timeout(now).map_err(ConnEnd::Protocol)
    }

    async fn wake(&mut self) -> Result<(), ConnEnd> {
        // `xet_cas` answers made in `start_output` go out on the next turn of the pump.
        if self.xet.has_ready() {
            return Ok(());
        }
        tokio::select! {
            cmd = self.commands.recv() => self.on_command(cmd),
            changed = self.have_generation.changed() => {
                self.have_generation.borrow_and_update();
                changed.map_err(|_| ConnEnd::TorrentStopped)
            }
            done = self.uploads.next_done() => {
                for (block, data) in done.map_err(ConnEnd::ReadTask)? {
                    match data {
                        Ok(data) => self.conn.serve_block(block, data),
                        Err(e) => {
                            // Our storage, not the peer, failed: refuse this block only.
                            tracing::warn!(error = %e, "cannot read a block to upload");
                            self.conn.reject_request(block);
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// A one-line description of a message for per-peer tracing (no payload dumps).
struct MessageSummary<'a>(&'a Message);

impl std::fmt::Display for MessageSummary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Message::Bitfield(b) => write!(f, "bitfield ({} bytes)", b.len()),
            Message::Piece { piece, offset, data } => {
                write!(f, "piece {piece}+{offset} ({} bytes)", data.len())
            }
            Message::Extended { id, payload } => write!(f, "extended id {id} ({} bytes)", payload.len()),
            other => write!(f, "{other:?}"),
        }
    }
}
