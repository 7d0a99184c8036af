//! The DHT (BEP 5): the tokio driver of `ccbt-dht`'s sans-IO [`DhtNode`].
//!
//! [`start`] binds the UDP socket, restores the node id and routing table from
//! `state_dir/dht.dat` and spawns one task that owns the node: it moves datagrams between the
//! socket and the node, fires the node's timer, runs commands from [`DhtHandle`]s, resolves the
//! bootstrap routers in the background and saves the routing table every few minutes and on
//! shutdown. Nothing here makes protocol decisions; those are the node's.
//!
//! Every channel is bounded: commands wait for room, and peers found by a lookup are dropped
//! (not queued) when the consumer does not keep up, so a slow torrent never stalls the node.
//!
//! Logging: `debug` shows the bound address, the restored table, bootstrap, and every lookup
//! with its result; `trace` shows send/receive errors and dropped datagrams.

mod driver;
pub(crate) mod items;
pub mod key_file;
mod state;

#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_dht::routing::is_valid_node_addr;
use ccbt_dht::{DhtNode, DhtOptions, DhtStatus, NodeId};
use rand::Rng as _;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::options::SessionOptions;
use driver::{Command, Driver};

/// Ports tried after `dht_port` when it is taken.
const PORT_ATTEMPTS: u16 = 50;
/// Commands waiting for the node task.
const COMMAND_CAPACITY: usize = 256;
/// Batches of peers waiting for the consumer of one lookup; more are dropped.
const PEERS_CAPACITY: usize = 32;
/// How long one bootstrap host name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the DHT could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DhtStartError {
    /// Every port of the range is taken.
    #[error("no free udp port for the dht on {host} in {first}..={last}")]
    NoFreePort {
        /// The address we tried to bind.
        host: IpAddr,
        /// `dht_port`.
        first: u16,
        /// The last port tried.
        last: u16,
        /// The error of the last attempt.
        #[source]
        source: io::Error,
    },
    /// Binding failed for another reason than the port being taken.
    #[error("cannot bind the dht socket to {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

/// A handle to the running DHT node. Cheap to clone; the node stops when [`DhtHandle::shutdown`]
/// is called or every handle is dropped (it saves its table in both cases).
#[derive(Clone, Debug)]
pub(crate) struct DhtHandle {
    commands: mpsc::Sender<Command>,
    local_addr: SocketAddr,
}

impl DhtHandle {
    /// Starts a `get_peers` lookup of `info_hash`. Peers arrive in batches as they are found
    /// (each address once per lookup); the channel closes when the lookup ends (or at once if
    /// the node has stopped or has too many lookups running).
    pub(crate) async fn get_peers(&self, info_hash: InfoHash) -> mpsc::Receiver<Vec<SocketAddr>> {
        let (tx, rx) = mpsc::channel(PEERS_CAPACITY);
        // A stopped node drops `tx`, which closes `rx`: the caller just sees no peers.
        let _ = self.commands.send(Command::GetPeers { info_hash, peers: tx }).await;
        rx
    }

    /// Announces that we serve `info_hash` on TCP `port` (`0`: the DHT's UDP port, BEP 5
    /// `implied_port`). Reports the peers found on the way like [`DhtHandle::get_peers`]; the
    /// channel closes once the `announce_peer` queries are sent. Repeat every ~15-30 minutes.
    pub(crate) async fn announce(&self, info_hash: InfoHash, port: u16) -> mpsc::Receiver<Vec<SocketAddr>> {
        let (tx, rx) = mpsc::channel(PEERS_CAPACITY);
        let _ = self.commands.send(Command::Announce { info_hash, port, peers: tx }).await;
        rx
    }

    /// Offers a node heard of elsewhere (a peer's BEP 5 `Port` message): it is pinged and joins
    /// the routing table if it answers (never used as a bootstrap router). Useful while the table
    /// is small, ignored otherwise ([`DhtNode::add_node`]). Never waits: dropped when the node is
    /// busy.
    pub(crate) fn add_node(&self, addr: SocketAddr) {
        let _ = self.commands.try_send(Command::AddNode(addr));
    }

    /// A snapshot of the node, `None` if it has stopped.
    pub(crate) async fn status(&self) -> Option<DhtStatus> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Status(tx)).await.ok()?;
        rx.await.ok()
    }

    /// The bound UDP address (the port to advertise in the BEP 5 `Port` message).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Saves the routing table and stops the node; returns once that is done (at once if it has
    /// already stopped).
    pub(crate) async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts the DHT node of a session: binds `listen_host:dht_port` (or the next free port up to
/// +50), restores `state_dir/dht.dat` (a missing or corrupt file means a fresh node, never an
/// error), spawns the node task and the background resolution of `dht_bootstrap_nodes`.
/// Must be called inside a tokio runtime. The DHT is IPv4 only: an IPv6 `listen_host` binds
/// the IPv4 wildcard instead.
pub(crate) async fn start(options: &SessionOptions) -> Result<DhtHandle, DhtStartError> {
    let host = match options.listen_host {
        IpAddr::V4(ip) => IpAddr::V4(ip),
        IpAddr::V6(_) => {
            tracing::debug!(host = %options.listen_host, "the dht is ipv4 only, binding 0.0.0.0");
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    };
    let socket = bind(host, options.dht_port).await?;
    let local_addr = socket
        .local_addr()
        .map_err(|source| DhtStartError::Bind { addr: SocketAddr::new(host, 0), source })?;

    let path = state::state_path(&options.state_dir);
    let load_path = path.clone();
    let loaded = tokio::task::spawn_blocking(move || state::load(&load_path)).await;
    let saved = match loaded.unwrap_or(Ok(None)) {
        Ok(saved) => {
            if saved.is_none() {
                tracing::debug!(path = %path.display(), "no saved dht state, starting with a new node id");
            }
            saved
        }
        Err(e) => {
            tracing::warn!(error = %e, "ignoring the saved dht state, starting with a new node id");
            None
        }
    };
    let now = tokio::time::Instant::now().into_std();
    let mut rng = rand::thread_rng();
    let seed = rng.gen();
    let keep_saved_nodes = saved.as_ref().is_some_and(|s| !s.nodes.is_empty());
    let node = match saved {
        Some(saved) => {
            tracing::debug!(id = %saved.id, nodes = saved.nodes.len(), "restored the dht routing table");
            DhtNode::with_routing_table(saved.id, DhtOptions::default(), now, seed, &saved.nodes)
        }
        None => DhtNode::new(NodeId::random(&mut rng), DhtOptions::default(), now, seed),
    };
    tracing::debug!(addr = %local_addr, id = %node.id(), "dht node listening");

    let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
    let driver = Driver::new(node, socket, rx, path, options.dht_bootstrap_nodes.clone(), keep_saved_nodes);
    tokio::spawn(driver.run());
    Ok(DhtHandle { commands: tx, local_addr })
}

/// Binds `host:port`, or the next free port up to `port + 50` (port 0: any free port).
async fn bind(host: IpAddr, port: u16) -> Result<UdpSocket, DhtStartError> {
    let last = if port == 0 { 0 } else { port.saturating_add(PORT_ATTEMPTS) };
    let mut last_err = None;
    for p in port..=last {
        let addr = SocketAddr::new(host, p);
        match UdpSocket::bind(addr).await {
            Ok(socket) => {
                if p != port {
                    // Debug only: the port is usually taken by another client that also holds
                    // the TCP listen port, whose move the listener already warns about.
                    tracing::debug!(port, used = p, "dht port taken, using the next free one");
                }
                return Ok(socket);
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_err = Some(e),
            Err(source) => return Err(DhtStartError::Bind { addr, source }),
        }
    }
    let source = last_err.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse));
    Err(DhtStartError::NoFreePort { host, first: port, last, source })
}

/// Resolves `host:port` strings (names or literal addresses) to the IPv4 addresses usable as DHT
/// nodes, in parallel, each within a timeout. Failures are logged at debug level only: on an
/// offline machine this simply returns nothing.
pub(crate) async fn bootstrap_addrs(hosts: &[String]) -> Vec<SocketAddr> {
    let mut lookups = JoinSet::new();
    for host in hosts {
        let host = host.clone();
        lookups.spawn(async move {
            match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host(host.as_str())).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(e)) => {
                    tracing::debug!(%host, error = %e, "cannot resolve dht bootstrap node");
                    Vec::new()
                }
                Err(_) => {
                    tracing::debug!(%host, "resolving dht bootstrap node timed out");
                    Vec::new()
                }
            }
        });
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    while let Some(result) = lookups.join_next().await {
        for addr in result.unwrap_or_default() {
            if is_valid_node_addr(&addr) && seen.insert(addr) {
                out.push(addr);
            }
        }
    }
    out
}
