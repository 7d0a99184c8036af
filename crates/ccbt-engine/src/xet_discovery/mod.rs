//! Discovery of Xet chunk holders across torrents (docs/xet.md, "Discovery of chunk holders").
//!
//! A session with a chunk store announces, over the DHT, the file key of every xet root its
//! store holds whole and the anchor keys of those files (`ccbt_xet::announce_plan`, at most
//! [`MAX_ANNOUNCE_KEYS`]), again every 30 minutes and soon after a torrent indexes files. An
//! incoming handshake whose info hash is one of those keys is answered by an **xet-only**
//! connection (`serve.rs`): no pieces, only `xet_cas`, and only the chunks and manifests of the
//! files the key stands for.
//!
//! The keys also go to the trackers of the session's public torrents that hold their files
//! (`trackers.rs`, policy `ccbt_xet::tracker_plan`), and [`find_holders`]'s callers also ask
//! those trackers (`lookup.rs`).

mod lookup;
pub(crate) mod serve;
mod trackers;

pub(crate) use lookup::{ask_trackers, merge_holders, Asker};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ccbt_core::InfoHash;
use ccbt_core::PeerId;
use ccbt_xet::{anchor_ids, announce_plan, tracker_plan, ChunkId, TorrentTrackers, MAX_ANNOUNCE_KEYS};
use ccbt_xetstore::{FileId, XetStore};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::dht::DhtHandle;
use crate::sync::lock;

/// How often the keys are announced again (research §5.4: BEP 5 peers expire after ~30 min).
const REFRESH: Duration = Duration::from_secs(30 * 60);
/// After a change, the next rounds come this soon: the DHT may still be bootstrapping, and an
/// announce to an empty routing table reaches nobody.
const QUICK_REFRESH: Duration = Duration::from_secs(15);
/// Quick rounds after a change.
const QUICK_ROUNDS: u32 = 3;
/// Waits this long after a change for others (a torrent indexes its files one by one).
const DEBOUNCE: Duration = Duration::from_secs(1);
/// Announces running at once (each is a DHT lookup of its own).
const PARALLEL_ANNOUNCES: usize = 8;
/// Xet-only connections served at once; more are refused after their handshake prefix.
pub(crate) const MAX_XET_ONLY_CONNECTIONS: usize = 32;

/// What one discovery key stands for: the roots whose file key or anchor it is, and the
/// indexed files with those roots. An xet-only connection for the key serves only these.
#[derive(Debug, Default)]
pub(crate) struct Scope {
    pub(crate) roots: HashSet<ChunkId>,
    pub(crate) files: HashSet<FileId>,
}

/// Keys in announce order, and each key's scope.
type KeyPlan = (Vec<InfoHash>, HashMap<InfoHash, Arc<Scope>>);

/// The keys this session announces and answers for, shared by the announcer, the listener and
/// the torrents (which say when they indexed files).
#[derive(Debug)]
pub(crate) struct XetKeys {
    /// Key -> scope, in announce priority order (file keys first).
    scopes: Mutex<KeyPlan>,
    /// Poked when the store's files change.
    pub(crate) changed: Notify,
    /// Slots of xet-only connections.
    pub(crate) slots: Arc<Semaphore>,
    /// The trackers that get keys, and their tasks.
    trackers: Mutex<trackers::TrackerDrivers>,
    /// Slots of tracker requests.
    requests: Arc<Semaphore>,
}

impl XetKeys {
    pub(crate) fn new() -> Arc<XetKeys> {
        Arc::new(XetKeys {
            scopes: Mutex::new((Vec::new(), HashMap::new())),
            changed: Notify::new(),
            slots: Arc::new(Semaphore::new(MAX_XET_ONLY_CONNECTIONS)),
            trackers: Mutex::default(),
            requests: trackers::request_slots(),
        })
    }

    /// What `key` stands for, if we announce it.
    pub(crate) fn scope(&self, key: &InfoHash) -> Option<Arc<Scope>> {
        lock(&self.scopes).1.get(key).cloned()
    }

    /// The keys announced now, file keys first.
    pub(crate) fn keys(&self) -> Vec<InfoHash> {
        lock(&self.scopes).0.clone()
    }

    /// The keys each tracker gets now: `(announce URL, keys)`.
    pub(crate) fn tracker_keys(&self) -> Vec<(String, Vec<InfoHash>)> {
        lock(&self.trackers).plan()
    }

    /// Sends `stopped` for every key to every tracker that got keys (at most a few seconds),
    /// on the way out. Stop the announcer first, or it plans again.
    pub(crate) async fn stop_trackers(&self) {
        let drivers = lock(&self.trackers).take();
        trackers::stop_all(drivers).await;
    }

    fn replace(&self, order: Vec<InfoHash>, scopes: HashMap<InfoHash, Arc<Scope>>) {
        *lock(&self.scopes) = (order, scopes);
    }
}

/// The keys the store's complete files give, with their scopes, in announce order. Reads one
/// manifest at a time (a manifest is ~590 KB per GiB of its file).
fn plan_keys(store: &XetStore) -> ccbt_xetstore::Result<KeyPlan> {
    let mut held = Vec::new();
    let mut files = Vec::new();
    for (root, ids) in store.held_roots()? {
        let Some(manifest) = store.manifest(&root)? else { continue };
        files.push((root, anchor_ids(&manifest)));
        held.push(ids);
    }
    let mut order = Vec::new();
    let mut scopes = HashMap::new();
    for planned in announce_plan(&files, MAX_ANNOUNCE_KEYS) {
        let mut scope = Scope::default();
        for index in planned.files {
            scope.roots.insert(files[index].0);
            scope.files.extend(held[index].iter().copied());
        }
        let key = InfoHash(planned.key);
        order.push(key);
        scopes.insert(key, Arc::new(scope));
    }
    Ok((order, scopes))
}

/// The torrents whose trackers may get keys, as the tracker policy sees them (empty when
/// tracker announces are off).
pub(crate) type TorrentSource = Box<dyn Fn() -> Vec<TorrentTrackers> + Send + Sync>;

/// Who we are to the DHT and trackers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Identity {
    /// Our TCP listen port.
    pub(crate) port: u16,
    /// Our peer id (sent to trackers).
    pub(crate) peer_id: PeerId,
}

/// Starts the announcer: plans the keys, hands each tracker its share (`ccbt_xet::
/// tracker_plan` over `torrents()`), announces each key on the DHT (if there is one) with our
/// TCP port, and repeats every [`REFRESH`] (sooner after a change). Runs until aborted.
pub(crate) fn spawn_announcer(
    store: Arc<XetStore>,
    dht: Option<DhtHandle>,
    me: Identity,
    keys: Arc<XetKeys>,
    torrents: TorrentSource,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut quick = QUICK_ROUNDS;
        loop {
            let planning = store.clone();
            match tokio::task::spawn_blocking(move || plan_keys(&planning)).await {
                Ok(Ok((order, scopes))) => {
                    let plan = plan_trackers(&order, &scopes, &torrents());
                    keys.replace(order.clone(), scopes);
                    lock(&keys.trackers).apply(plan, me.peer_id, me.port, &keys.requests);
                    if !order.is_empty() {
                        tracing::debug!(keys = order.len(), "xet: announcing discovery keys");
                    }
                    if let Some(dht) = &dht {
                        announce_all(dht, order, me.port).await;
                    }
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "xet: cannot list the chunk store's files to announce")
                }
                Err(_) => return,
            }
            let wait = if quick > 0 {
                quick -= 1;
                QUICK_REFRESH
            } else {
                REFRESH
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = keys.changed.notified() => {
                    quick = QUICK_ROUNDS;
                    tokio::time::sleep(DEBOUNCE).await;
                }
            }
        }
    })
}

/// Which keys of `order` each tracker of `torrents` gets.
fn plan_trackers(
    order: &[InfoHash],
    scopes: &HashMap<InfoHash, Arc<Scope>>,
    torrents: &[TorrentTrackers],
) -> Vec<(String, Vec<InfoHash>)> {
    if torrents.is_empty() {
        return Vec::new();
    }
    let keys: Vec<([u8; 20], Vec<ChunkId>)> = order
        .iter()
        .map(|key| {
            let mut roots: Vec<ChunkId> =
                scopes.get(key).map(|s| s.roots.iter().copied().collect()).unwrap_or_default();
            roots.sort_unstable();
            (key.0, roots)
        })
        .collect();
    tracker_plan(&keys, torrents)
        .into_iter()
        .map(|(url, keys)| (url, keys.into_iter().map(InfoHash).collect()))
        .collect()
}

/// Announces every key, [`PARALLEL_ANNOUNCES`] at a time; peers found on the way are ignored
/// (the announcer only makes us findable).
async fn announce_all(dht: &DhtHandle, order: Vec<InfoHash>, port: u16) {
    let mut running = tokio::task::JoinSet::new();
    for key in order {
        if running.len() >= PARALLEL_ANNOUNCES {
            running.join_next().await;
        }
        let dht = dht.clone();
        running.spawn(async move {
            let mut found = dht.announce(key, port).await;
            while found.recv().await.is_some() {}
        });
    }
    while running.join_next().await.is_some() {}
}

/// Looks `key` up in the DHT for up to `limit`: the addresses found (each once), at most `max`.
pub(crate) async fn find_holders(
    dht: &DhtHandle,
    key: InfoHash,
    limit: Duration,
    max: usize,
) -> Vec<std::net::SocketAddr> {
    let mut found = dht.get_peers(key).await;
    let mut out: Vec<std::net::SocketAddr> = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    while out.len() < max {
        match tokio::time::timeout_at(deadline, found.recv()).await {
            Ok(Some(batch)) => {
                for addr in batch {
                    if !out.contains(&addr) && out.len() < max {
                        out.push(addr);
                    }
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    out
}
