//! One task per connection: moves bytes between the socket and a sans-IO `PeerConn`, and hands
//! the connection to the torrent's `Swarm` after every batch of input. No protocol decisions here.

pub(crate) mod handshake;

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use ccbt_core::BlockRef;
use ccbt_proto::peer::{PeerConn, PeerConnOptions};
use ccbt_proto::swarm::SwarmAction;
use ccbt_proto::PeerKey;
use ccbt_wire::{Handshake, MessageDecoder};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::torrent::TorrentShared;

/// Commands other tasks send to a connection task.
#[derive(Debug)]
pub(crate) enum PeerCommand {
    /// Endgame: the block arrived from another peer.
    Cancel(BlockRef),
    Choke,
    Unchoke,
    /// Close the connection with this reason.
    Close(&'static str),
}

/// Capacity of each connection's command channel. Commands are small and rare (choke changes,
/// endgame cancels); a full channel drops a cancel, which only costs a duplicate block.
pub(crate) const PEER_COMMAND_CAPACITY: usize = 64;

/// Upload reads go to the blocking pool in batches of up to this many blocks (one task per batch
/// instead of one per block), with at most `MAX_READ_BATCHES` batches in flight per connection:
/// together they bound the memory a greedy peer can pin (here 2 x 32 x 16 KiB).
const READ_BATCH: usize = 32;
const MAX_READ_BATCHES: usize = 2;

/// Upload reads waiting for a batch slot (the size of the request queue we advertise).
const MAX_PENDING_READS: usize = 500;

type ReadBatch = Vec<(BlockRef, Result<Bytes, ccbt_storage::StorageError>)>;

/// Read buffer growth step; blocks are split off it without copying.
const READ_CHUNK: usize = 256 * 1024;

/// Stop reading the socket and reading blocks from disk while this much encoded output waits
/// to be written: a peer that requests faster than it reads is slowed down, and a connection's
/// memory stays bounded (this, plus the reads in flight).
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// Why a connection ended.
#[derive(Debug)]
pub(crate) struct PeerEnd {
    pub reason: String,
}

impl PeerEnd {
    fn new(reason: impl std::fmt::Display) -> PeerEnd {
        PeerEnd { reason: reason.to_string() }
    }
}

/// Drives one established connection until it ends. `theirs` is the peer's handshake.
pub(crate) async fn run_peer(
    shared: Arc<TorrentShared>,
    key: PeerKey,
    stream: TcpStream,
    theirs: Handshake,
    outgoing: bool,
    mut commands: mpsc::Receiver<PeerCommand>,
) -> PeerEnd {
    let _ = stream.set_nodelay(true);
    let opts = &shared.options;
    let mut conn_opts = PeerConnOptions::new(shared.lengths);
    conn_opts.fast_extension = theirs.supports_fast();
    conn_opts.extension_protocol = theirs.supports_extensions();
    conn_opts.min_pipeline_depth = opts.pipeline_depth;
    conn_opts.max_pipeline_depth = opts.max_pipeline_depth;
    conn_opts.request_timeout = opts.request_timeout;
    let now = Instant::now();
    let mut conn = PeerConn::new(conn_opts, now);
    let mut have_generation = shared.have_watch.subscribe();
    let mut haves_sent;
    let Ok(remote) = stream.peer_addr() else { return PeerEnd::new("the connection has no peer address") };
    let peer_ip = Some(remote.ip());
    let mut conn_port_message = None;
    {
        let mut inner = shared.inner.lock().expect("torrent lock poisoned");
        conn.start(now, inner.swarm.have(), Some(shared.ext_handshake.clone()));
        haves_sent = inner.have_log.len();
        inner.swarm.add_peer(key, remote.ip());
        if let Some(dht) = &shared.dht {
            if theirs.supports_dht() {
                // BEP 5: tell DHT-capable peers where our node listens.
                conn_port_message = Some(dht.local_addr().port());
            }
        }
        if let Ok(addr) = stream.peer_addr() {
            inner.swarm.set_peer_addr(key, now, addr, outgoing);
        }
    }
    have_generation.borrow_and_update();

    let mut decoder = MessageDecoder::new(ccbt_wire::DEFAULT_MAX_FRAME);
    let mut rbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut wbuf = BytesMut::with_capacity(64 * 1024);
    // Sent right after the opening messages `start` queued (the availability message must be
    // first, BEP 6).
    let mut pending_port = conn_port_message;
    let mut reads: JoinSet<ReadBatch> = JoinSet::new();
    let mut pending_reads: std::collections::VecDeque<BlockRef> = Default::default();
    let mut actions = Vec::new();
    let mut last_down = 0u64;
    let mut last_up = 0u64;
    // Wakes the loop for time-based work the swarm does (peer exchange once a minute).
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));

    let end = loop {
        // Let the swarm see what happened and fill the request pipeline.
        {
            let mut guard = shared.inner.lock().expect("torrent lock poisoned");
            let inner = &mut *guard;
            for &piece in &inner.have_log[haves_sent..] {
                conn.have(piece);
            }
            haves_sent = inner.have_log.len();
            let useless =
                inner.swarm.handle_conn(Instant::now(), key, &mut conn, &mut inner.rng, &mut actions);
            for action in actions.drain(..) {
                match action {
                    SwarmAction::Verify { piece, blocks } => shared.submit_verify(piece, blocks),
                    SwarmAction::Cancel { peer, block } => {
                        if let Some(p) = inner.peers.get(&peer) {
                            let _ = p.commands.try_send(PeerCommand::Cancel(block));
                        }
                    }
                    SwarmAction::Read { block } => {
                        // A peer that requests and cancels in a loop could otherwise queue reads
                        // without end: beyond the request-queue size, refuse instead.
                        if pending_reads.len() < MAX_PENDING_READS {
                            pending_reads.push_back(block);
                        } else {
                            conn.reject_request(block);
                        }
                    }
                    SwarmAction::DhtNode { port } => {
                        if let (Some(dht), Some(ip)) = (&shared.dht, peer_ip) {
                            dht.add_node(std::net::SocketAddr::new(ip, port));
                        }
                    }
                    SwarmAction::NewPeers(peers) => {
                        let _ = shared.commands.try_send(crate::torrent::TorrentCommand::AddPeers(peers));
                    }
                }
            }
            if inner.swarm.freed_requests() {
                shared.have_watch.send_modify(|g| *g += 1);
            }
            if useless {
                break PeerEnd::new("both sides are seeds");
            }
        }
        let stats = conn.stats();
        shared.counters.add_down(stats.downloaded - last_down);
        shared.counters.add_up(stats.uploaded - last_up);
        last_down = stats.downloaded;
        last_up = stats.uploaded;
        while reads.len() < MAX_READ_BATCHES && !pending_reads.is_empty() && wbuf.len() < MAX_WRITE_BUFFER {
            let n = pending_reads.len().min(READ_BATCH);
            let batch: Vec<BlockRef> = pending_reads.drain(..n).collect();
            let storage = shared.storage.clone();
            let piece_length = shared.lengths.piece_length() as u64;
            reads.spawn_blocking(move || {
                batch
                    .into_iter()
                    .map(|b| {
                        let offset = b.piece as u64 * piece_length + b.offset as u64;
                        (b, storage.read(offset, b.len as usize))
                    })
                    .collect()
            });
        }
        while let Some(msg) = conn.poll_transmit() {
            ccbt_wire::encode(&msg, &mut wbuf);
        }
        if let Some(port) = pending_port.take() {
            ccbt_wire::encode(&ccbt_wire::Message::Port(port), &mut wbuf);
        }

        let deadline = conn.poll_timeout().map(tokio::time::Instant::from_std);
        let want_read = wbuf.len() < MAX_WRITE_BUFFER;
        tokio::select! {
            ready = stream.readable(), if want_read => {
                if let Err(e) = ready { break PeerEnd::new(e); }
                if rbuf.capacity() - rbuf.len() < 32 * 1024 {
                    rbuf.reserve(READ_CHUNK);
                }
                match stream.try_read_buf(&mut rbuf) {
                    Ok(0) => break PeerEnd::new("peer closed the connection"),
                    Ok(_) => {
                        let now = Instant::now();
                        let mut failed = None;
                        loop {
                            match decoder.decode(&mut rbuf) {
                                Ok(Some(msg)) => {
                                    tracing::trace!(peer = key.0, msg = %MessageSummary(&msg), "received");
                                    if let Err(e) = conn.handle_message(now, msg) {
                                        failed = Some(PeerEnd::new(e));
                                        break;
                                    }
                                }
                                Ok(None) => break,
                                Err(e) => {
                                    failed = Some(PeerEnd::new(e));
                                    break;
                                }
                            }
                        }
                        if let Some(end) = failed { break end; }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => break PeerEnd::new(e),
                }
            }
            ready = stream.writable(), if !wbuf.is_empty() => {
                if let Err(e) = ready { break PeerEnd::new(e); }
                match stream.try_write(&wbuf) {
                    Ok(n) => { let _ = wbuf.split_to(n); }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => break PeerEnd::new(e),
                }
            }
            cmd = commands.recv() => match cmd {
                Some(PeerCommand::Cancel(block)) => conn.cancel(block),
                Some(PeerCommand::Choke) => conn.choke(),
                Some(PeerCommand::Unchoke) => conn.unchoke(),
                Some(PeerCommand::Close(reason)) => break PeerEnd::new(reason),
                None => break PeerEnd::new("torrent stopped"),
            },
            changed = have_generation.changed() => {
                if changed.is_err() { break PeerEnd::new("torrent stopped"); }
                have_generation.borrow_and_update();
            }
            Some(done) = reads.join_next(), if !reads.is_empty() => match done {
                Ok(batch) => {
                    for (block, data) in batch {
                        match data {
                            Ok(data) => conn.serve_block(block, data),
                            Err(e) => {
                                // Our storage, not the peer, failed: refuse this block only.
                                tracing::warn!(error = %e, "cannot read a block to upload");
                                conn.reject_request(block);
                            }
                        }
                    }
                }
                Err(e) => break PeerEnd::new(format!("upload read task failed: {e}")),
            },
            _ = tick.tick() => {}
            _ = sleep_until(deadline) => {
                if let Err(e) = conn.handle_timeout(Instant::now()) { break PeerEnd::new(e); }
            }
        }
    };
    shared.inner.lock().expect("torrent lock poisoned").swarm.remove_peer(key);
    // Its requests are free again: wake the other connections to pick them.
    shared.have_watch.send_modify(|g| *g += 1);
    end
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// A one-line description of a message for per-peer tracing (no payload dumps).
struct MessageSummary<'a>(&'a ccbt_wire::Message);

impl std::fmt::Display for MessageSummary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use ccbt_wire::Message as M;
        match self.0 {
            M::Bitfield(b) => write!(f, "bitfield ({} bytes)", b.len()),
            M::Piece { piece, offset, data } => write!(f, "piece {piece}+{offset} ({} bytes)", data.len()),
            M::Extended { id, payload } => write!(f, "extended id {id} ({} bytes)", payload.len()),
            other => write!(f, "{other:?}"),
        }
    }
}
