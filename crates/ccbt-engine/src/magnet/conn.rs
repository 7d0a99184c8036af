//! Drives one connection of the metadata phase: connect, BitTorrent handshake, then the socket
//! pump (`peer/pump.rs`, shared with torrent connections) moves bytes between the socket and the
//! sans-IO [`MetadataConn`], which makes every protocol decision. This file only wires the
//! machine to the resolver: the fetcher's lock, wake-ups and events.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use ccbt_proto::metadata::{ConnEvent, ConnOptions, MetadataConn};
use ccbt_proto::PeerKey;
use ccbt_wire::Message;
use tokio::sync::watch;

use super::{MetaShared, MetaState, ResolverCommand};
use crate::peer::pump::{self, Machine, QueueGauge};
use crate::peer::{handshake, ConnEnd, LIMITS};
use crate::sync::lock;

/// How one metadata connection ended.
pub(super) struct Ended {
    pub addr: SocketAddr,
    /// Why, for the debug log.
    pub reason: String,
    /// Whether the peer delivered at least one metadata piece we took.
    pub served: bool,
}

pub(super) async fn run(shared: Arc<MetaShared>, key: PeerKey, addr: SocketAddr) -> Ended {
    let ended = |reason: String| Ended { addr, reason, served: false };
    let limit = shared.options.connection_timeout;
    let mut stream =
        match tokio::time::timeout(limit, crate::net::connect(addr, shared.options.listen_host)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return ended(format!("connect failed: {e}")),
            Err(_) => return ended("connect timed out".into()),
        };
    let theirs = match handshake::outgoing(
        &mut stream,
        shared.info_hash,
        shared.ids.get(1).copied(),
        shared.peer_id,
        shared.handshake_bits(),
        limit,
    )
    .await
    {
        Ok(h) => h,
        Err(e) => return ended(e.to_string()),
    };
    if !theirs.supports_extensions() {
        return ended("peer does not support the extension protocol (no ut_metadata)".into());
    }
    let _ = stream.set_nodelay(true);
    let opts = ConnOptions {
        listen_port: shared.listen_port,
        pex: shared.pex,
        fast: theirs.supports_fast(),
        client: concat!("ccbt ", env!("CARGO_PKG_VERSION")).into(),
    };
    let mut machine = MetadataMachine::new(shared.clone(), key, addr, &opts);
    shared.connected.fetch_add(1, Ordering::Relaxed);
    // Nobody else reads this connection's queue; the pump needs one to record into.
    let gauge = QueueGauge::default();
    // The handshake already went both ways: charged, as it could not be refused.
    let rate = shared.limits.register(shared.id, ccbt_wire::Handshake::LEN as u64);
    let end = pump::run(&stream, &mut machine, LIMITS, &gauge, &rate).await;
    shared.connected.fetch_sub(1, Ordering::Relaxed);
    machine.conn.close(&mut lock(&shared.state).fetcher);
    shared.wake.send_modify(|g| *g += 1);
    Ended { addr, reason: end.to_string(), served: machine.conn.pieces_delivered() > 0 }
}

/// A metadata connection as the pump drives it. The machine needs the shared fetcher for
/// almost every call, so messages the pump feeds are kept (at most `pump::MESSAGES_PER_STEP`)
/// and handled together in `after_input`, under one short lock per step; what the machine
/// wants to send is taken there too and handed to the pump from `outbox`.
///
/// Output stays small and bounded without help from the pump: requests are limited by the
/// fetcher's per-peer quota and rejects by `MAX_QUEUED_REJECTS`, so the torrent connections'
/// `LIMITS` (which assume a 16 KiB reply per message) bound this connection's queue as well.
pub(super) struct MetadataMachine {
    shared: Arc<MetaShared>,
    conn: MetadataConn,
    addr: SocketAddr,
    inbox: Vec<Message>,
    outbox: VecDeque<Message>,
    /// The machine's next deadline, computed under the lock in `after_input`.
    deadline: Option<Instant>,
    /// Bumped by other connections when the fetch changed (requests freed, metadata done).
    fetch_changed: watch::Receiver<u64>,
}

impl MetadataMachine {
    pub(super) fn new(
        shared: Arc<MetaShared>,
        key: PeerKey,
        addr: SocketAddr,
        opts: &ConnOptions,
    ) -> MetadataMachine {
        let fetch_changed = shared.wake.subscribe();
        MetadataMachine {
            conn: MetadataConn::new(Instant::now(), key, addr, opts),
            shared,
            addr,
            inbox: Vec::with_capacity(pump::MESSAGES_PER_STEP),
            outbox: VecDeque::new(),
            deadline: None,
            fetch_changed,
        }
    }

    /// Hands the machine's events to the resolver.
    fn on_events(&mut self, st: &mut MetaState) {
        let addr = self.addr;
        while let Some(event) = self.conn.poll_event() {
            match event {
                ConnEvent::PieceAccepted { piece, total_size } => {
                    tracing::debug!(%addr, piece, total_size, "metadata piece received");
                }
                ConnEvent::Verified(bytes) => {
                    st.metadata = Some(bytes);
                    self.shared.done.store(true, Ordering::Release);
                    self.shared.verified.notify_one();
                }
                ConnEvent::HashMismatch(failure) => {
                    tracing::warn!(%failure, "metadata failed the info-hash check")
                }
                ConnEvent::Peers(peers) => {
                    tracing::debug!(%addr, count = peers.len(), "peers from PEX during the metadata phase");
                    let _ = self
                        .shared
                        .commands
                        .try_send(ResolverCommand::AddPeers(ccbt_proto::candidates::Source::Pex, peers));
                }
                _ => {}
            }
        }
    }
}

impl Machine for MetadataMachine {
    fn handle_message(&mut self, _now: Instant, msg: Message) -> Result<(), ConnEnd> {
        self.inbox.push(msg);
        Ok(())
    }

    /// Feeds the kept messages, checks the deadlines and the fetch's state, and takes the
    /// requests the fetcher hands this peer: one lock for all of it.
    fn after_input(&mut self, now: Instant) -> Result<(), ConnEnd> {
        let shared = self.shared.clone();
        let mut guard = lock(&shared.state);
        let st = &mut *guard;
        let before = st.fetcher.generation();
        let mut result = Ok(());
        for msg in self.inbox.drain(..) {
            result = self.conn.handle_message(now, msg, &mut st.fetcher);
            if result.is_err() {
                break;
            }
        }
        self.on_events(st);
        let result = result.and_then(|()| self.conn.handle_timeout(now, &st.fetcher));
        if result.is_ok() {
            while let Some(msg) = self.conn.poll_transmit(now, &mut st.fetcher) {
                self.outbox.push_back(msg);
            }
        }
        self.deadline = self.conn.poll_timeout(&st.fetcher);
        let changed = st.fetcher.generation() != before || shared.done.load(Ordering::Acquire);
        drop(guard);
        if changed {
            shared.wake.send_modify(|g| *g += 1);
        }
        result.map_err(ConnEnd::Metadata)
    }

    fn poll_transmit(&mut self) -> Option<Message> {
        self.outbox.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn handle_timeout(&mut self, _now: Instant) -> Result<(), ConnEnd> {
        // The machine's deadlines are checked in `after_input`, which follows every timer.
        Ok(())
    }

    async fn wake(&mut self) -> Result<(), ConnEnd> {
        // The sender lives in `shared`, which this machine holds: it cannot close.
        if self.fetch_changed.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}
