//! The task that owns the [`DhtNode`]: socket, timer, commands, bootstrap resolution, saving.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_dht::item::Item;
use ccbt_dht::{DhtEvent, DhtNode, DhtStatus, LookupId, NodeId, MAX_DATAGRAM};
use tokio::net::UdpSocket;
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{interval_at, sleep_until, Instant, MissedTickBehavior};

use super::state::{self, SavedState};

/// How often the routing table is saved.
const SAVE_EVERY: Duration = Duration::from_secs(5 * 60);
/// While the routing table is empty, the bootstrap host names are resolved again this often
/// (the network or DNS may have come back).
const RESOLVE_RETRY: Duration = Duration::from_secs(3 * 60);
/// Consecutive receive errors after which the loop pauses between receives.
const RECV_ERRORS_BEFORE_PAUSE: u32 = 16;
const RECV_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// A request from a [`super::DhtHandle`].
#[derive(Debug)]
pub(super) enum Command {
    GetPeers { info_hash: InfoHash, peers: mpsc::Sender<Vec<SocketAddr>> },
    Announce { info_hash: InfoHash, port: u16, peers: mpsc::Sender<Vec<SocketAddr>> },
    AddNode(SocketAddr),
    GetItem { wanted: super::items::Wanted, reply: oneshot::Sender<Option<Item>> },
    PutItem { item: Item, cas: Option<i64>, reply: oneshot::Sender<super::items::PutOutcome> },
    Status(oneshot::Sender<DhtStatus>),
    Shutdown(oneshot::Sender<()>),
}

/// The consumer of one lookup's peers.
#[derive(Debug)]
struct Sink {
    peers: mpsc::Sender<Vec<SocketAddr>>,
    announce: bool,
    found: usize,
    dropped: usize,
    started: Instant,
}

/// The node task's state.
pub(super) struct Driver {
    node: DhtNode,
    socket: UdpSocket,
    commands: mpsc::Receiver<Command>,
    sinks: HashMap<LookupId, Sink>,
    /// Callers waiting for a BEP 44 get or put.
    item_waiters: HashMap<LookupId, super::items::Waiter>,
    state_path: PathBuf,
    bootstrap_hosts: Vec<String>,
    resolver: Option<JoinHandle<Vec<SocketAddr>>>,
    /// The state file holds nodes under our id: an empty table must not overwrite them.
    keep_saved_nodes: bool,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Driver {
    pub(super) fn new(
        node: DhtNode,
        socket: UdpSocket,
        commands: mpsc::Receiver<Command>,
        state_path: PathBuf,
        bootstrap_hosts: Vec<String>,
        keep_saved_nodes: bool,
    ) -> Driver {
        Driver {
            node,
            socket,
            commands,
            sinks: HashMap::new(),
            item_waiters: HashMap::new(),
            state_path,
            bootstrap_hosts,
            resolver: None,
            keep_saved_nodes,
        }
    }

    /// Runs until shutdown or until every handle is gone.
    pub(super) async fn run(mut self) {
        // Restored nodes (if any) are used at once; routers join when resolved.
        self.node.bootstrap(now(), &[]);
        self.start_resolver();
        let mut save_tick = interval_at(Instant::now() + SAVE_EVERY, SAVE_EVERY);
        save_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut resolve_tick = interval_at(Instant::now() + RESOLVE_RETRY, RESOLVE_RETRY);
        resolve_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // One byte more than the node accepts, so that an oversized datagram is recognised
        // (recv truncates silently) and dropped rather than parsed truncated.
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        let mut recv_errors = 0u32;
        let ack = loop {
            self.flush().await;
            let deadline = self.node.poll_timeout().map(Instant::from_std);
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => {
                        recv_errors = 0;
                        match buf.get(..len) {
                            Some(data) if len <= MAX_DATAGRAM => self.node.handle_datagram(now(), from, data),
                            _ => tracing::trace!(%from, len, "dropped an oversized dht datagram"),
                        }
                    }
                    // ICMP errors of earlier sends (port unreachable) may surface here; harmless.
                    // A socket that keeps failing must not spin the loop, hence the pause.
                    Err(e) => {
                        tracing::trace!(error = %e, "dht socket receive error");
                        recv_errors = recv_errors.saturating_add(1);
                        if recv_errors >= RECV_ERRORS_BEFORE_PAUSE {
                            tokio::time::sleep(RECV_ERROR_PAUSE).await;
                        }
                    }
                },
                () = sleep_until_opt(deadline) => self.node.handle_timeout(now()),
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown(ack)) => break Some(ack),
                    Some(command) => self.on_command(command),
                    None => break None,
                },
                resolved = join_opt(&mut self.resolver) => {
                    self.resolver = None;
                    self.on_resolved(resolved);
                }
                _ = save_tick.tick() => {
                    self.log_status();
                    self.save().await;
                }
                _ = resolve_tick.tick() => {
                    if self.node.routing_table().is_empty() {
                        self.start_resolver();
                    }
                }
            }
        };
        if let Some(resolver) = self.resolver.take() {
            resolver.abort();
        }
        self.save().await;
        tracing::debug!(addr = ?self.local_addr(), "dht node stopped");
        // Close the socket before acknowledging, so a restart can bind the same port at once.
        drop(self);
        if let Some(ack) = ack {
            let _ = ack.send(());
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::GetPeers { info_hash, peers } => {
                let lookup = self.node.get_peers(now(), info_hash);
                tracing::debug!(%info_hash, lookup = lookup.0, "dht get_peers started");
                self.sinks.insert(lookup, Sink::new(peers, false));
            }
            Command::Announce { info_hash, port, peers } => {
                let lookup = self.node.announce(now(), info_hash, (port != 0).then_some(port));
                tracing::debug!(%info_hash, port, lookup = lookup.0, "dht announce started");
                self.sinks.insert(lookup, Sink::new(peers, true));
            }
            // The node decides (small table, verification budget); our own address is the one
            // thing only the driver knows.
            Command::AddNode(addr) if Some(addr) != self.local_addr() => {
                tracing::trace!(%addr, "dht node offered by a peer");
                self.node.add_node(now(), addr);
            }
            Command::AddNode(_) => {}
            Command::GetItem { wanted, reply } => {
                let lookup = super::items::start_get(&mut self.node, now(), wanted);
                tracing::debug!(lookup = lookup.0, "dht get (bep 44) started");
                self.item_waiters.insert(lookup, super::items::Waiter::Get(reply));
            }
            Command::PutItem { item, cas, reply } => match self.node.put_item(now(), item, cas) {
                Ok(lookup) => {
                    tracing::debug!(lookup = lookup.0, "dht put (bep 44) started");
                    self.item_waiters.insert(lookup, super::items::Waiter::Put(reply));
                }
                // The handle checks items before sending them; dropping `reply` reports it.
                Err(e) => tracing::debug!(error = %e, "dht put of an invalid item refused"),
            },
            Command::Status(reply) => {
                let _ = reply.send(self.node.status());
            }
            // Handled by the loop, which must stop.
            Command::Shutdown(_) => {}
        }
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        self.socket.local_addr().ok()
    }

    fn start_resolver(&mut self) {
        if self.resolver.is_some() || self.bootstrap_hosts.is_empty() {
            return;
        }
        let hosts = self.bootstrap_hosts.clone();
        self.resolver = Some(tokio::spawn(async move { super::bootstrap_addrs(&hosts).await }));
    }

    fn on_resolved(&mut self, addrs: Vec<SocketAddr>) {
        let local = self.local_addr();
        let addrs: Vec<SocketAddr> = addrs.into_iter().filter(|a| Some(*a) != local).collect();
        if addrs.is_empty() {
            tracing::debug!("no dht bootstrap node resolved, retrying later");
            return;
        }
        tracing::debug!(nodes = addrs.len(), "dht bootstrapping through the configured nodes");
        self.node.bootstrap(now(), &addrs);
    }

    /// Sends what the node wants sent and hands its events to the consumers.
    async fn flush(&mut self) {
        while let Some((to, bytes)) = self.node.poll_transmit() {
            // Offline or unreachable: the query times out inside the node; nothing to report.
            if let Err(e) = self.socket.send_to(&bytes, to).await {
                tracing::trace!(%to, error = %e, "dht send failed");
            }
        }
        while let Some(event) = self.node.poll_event() {
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: DhtEvent) {
        match event {
            DhtEvent::Peers { lookup, info_hash, peers } => {
                let Some(sink) = self.sinks.get_mut(&lookup) else { return };
                let count = peers.len();
                sink.found = sink.found.saturating_add(count);
                tracing::trace!(%info_hash, lookup = lookup.0, peers = count, "dht peers found");
                match sink.peers.try_send(peers) {
                    Ok(()) | Err(TrySendError::Closed(_)) => {}
                    Err(TrySendError::Full(_)) => sink.dropped = sink.dropped.saturating_add(count),
                }
            }
            DhtEvent::LookupDone { lookup, info_hash, nodes_queried, rounds, .. } => {
                // Dropping the sender closes the consumer's channel: the lookup is over.
                let Some(sink) = self.sinks.remove(&lookup) else { return };
                tracing::debug!(
                    %info_hash,
                    lookup = lookup.0,
                    announce = sink.announce,
                    peers = sink.found,
                    dropped = sink.dropped,
                    nodes_queried,
                    rounds,
                    elapsed_ms = sink.started.elapsed().as_millis() as u64,
                    "dht lookup done"
                );
            }
            DhtEvent::BootstrapDone { nodes } => tracing::debug!(nodes, "dht bootstrap done"),
            DhtEvent::GetItemDone { lookup, target, item, nodes_queried } => {
                tracing::debug!(lookup = lookup.0, %target, found = item.is_some(), nodes_queried, "dht get done");
                if let Some(super::items::Waiter::Get(reply)) = self.item_waiters.remove(&lookup) {
                    let _ = reply.send(item);
                }
            }
            DhtEvent::PutItemDone { lookup, target, stored, refused, asked } => {
                tracing::debug!(lookup = lookup.0, %target, stored, refused = refused.len(), asked, "dht put done");
                if let Some(super::items::Waiter::Put(reply)) = self.item_waiters.remove(&lookup) {
                    let target: NodeId = target;
                    let _ = reply.send(super::items::PutOutcome { target: target.0, stored, refused, asked });
                }
            }
        }
    }

    fn log_status(&self) {
        let s = self.node.status();
        tracing::debug!(
            good = s.good_nodes,
            questionable = s.questionable_nodes,
            lookups = s.active_lookups,
            stored_peers = s.stored_peers,
            queries_in = s.queries_in,
            queries_out = s.queries_out,
            "dht status"
        );
    }

    /// Saves the id and table. An empty table does not overwrite the saved nodes: after a run
    /// without network the nodes of the last good run are still the best start.
    async fn save(&mut self) {
        let nodes = self.node.routing_table();
        if nodes.is_empty() && self.keep_saved_nodes {
            return;
        }
        let count = nodes.len();
        let bytes = state::encode(&SavedState { id: self.node.id(), nodes });
        let path = self.state_path.clone();
        let written = tokio::task::spawn_blocking(move || state::write_atomic(&path, &bytes)).await;
        match written {
            Ok(Ok(())) => {
                self.keep_saved_nodes = count > 0;
                tracing::debug!(nodes = count, path = %self.state_path.display(), "dht state saved");
            }
            Ok(Err(e)) => {
                tracing::warn!(path = %self.state_path.display(), error = %e, "cannot save the dht state")
            }
            Err(e) => tracing::warn!(error = %e, "dht state save task failed"),
        }
    }
}

impl Sink {
    fn new(peers: mpsc::Sender<Vec<SocketAddr>>, announce: bool) -> Sink {
        Sink { peers, announce, found: 0, dropped: 0, started: Instant::now() }
    }
}

/// Sleeps until `deadline`, forever if there is none.
async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The result of the task in `handle`, or never if there is none. A failed (panicked or
/// aborted) resolver counts as having resolved nothing.
async fn join_opt(handle: &mut Option<JoinHandle<Vec<SocketAddr>>>) -> Vec<SocketAddr> {
    match handle {
        Some(handle) => handle.await.unwrap_or_default(),
        None => std::future::pending().await,
    }
}
