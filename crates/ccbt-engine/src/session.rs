use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ccbt_core::PeerId;
use ccbt_metainfo::Torrent;
use ccbt_storage::{HashPool, StorageOptions};
use rand::RngCore;
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;

use crate::add::{AddTorrent, TorrentSource};
use crate::budget::ConnectionBudget;
use crate::dht::DhtHandle;
use crate::limits::SessionLimits;
use crate::listener;
use crate::magnet::{self, MetaShared};
use crate::sync::lock;
use crate::torrent::{TorrentCommand, TorrentShared};
use crate::{
    Event, FileInfo, FilePriority, ScrapeInfo, SessionError, SessionOptions, TorrentFileReader, TorrentId,
    TorrentStatus, TrackerInfo,
};

mod items_api;
mod learn_manifests;
mod limits_api;
mod ops_api;
mod peers_api;
mod pieces_api;
mod reconfigure;
mod snapshot_api;
mod start;
mod trace_api;
mod xet_api;
mod xet_commit;
mod xet_follow;
mod xet_hooks;
mod xet_journal;
mod xet_switch;
mod xet_trackers;
use start::{replace_entry, start_active, start_resolving, write_state_torrent, Start};
pub(crate) use start::{resolve_spec, save_pending_and_wait_unpaused};
pub(crate) use xet_api::{xet_find_holders, xet_roots_of};
pub use xet_api::{XetApiError, XetCleanupReport, XetFill, XetRootStats, XetStats};
pub use xet_commit::{XetSwitchRecorder, XetSwitched};
pub use xet_follow::{follow_id, XetFollowError, XetFollowHandle, XetFollowSpec, XetFollowStatus};
#[cfg(feature = "test-hooks")]
pub use xet_hooks::held::{hold_xet_commit, XetCommitHold};
pub use xet_switch::STAGING_DIR as XET_STAGING_DIR;

use limits_api::budget_limits;
pub use snapshot_api::SnapshotSource;

/// A running ccbt engine: owns torrents, the listener and the hash pool.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use ccbt_engine::{AddTorrent, Session, SessionOptions};
/// let session = Session::new(SessionOptions::default()).await?;
/// let add = AddTorrent::from_file("ubuntu.torrent".as_ref())?.save_path("downloads");
/// let id = session.add_torrent(add).await?;
/// println!("{:.1}%", session.status(id)?.progress * 100.0);
/// session.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Session {
    inner: Arc<SessionInner>,
}

/// A torrent of the session: resolving a magnet link, or running.
enum TorrentEntry {
    Resolving { shared: Arc<MetaShared>, task: JoinHandle<()> },
    Active { shared: Arc<TorrentShared>, task: JoinHandle<()> },
}

impl TorrentEntry {
    fn status(&self) -> TorrentStatus {
        match self {
            TorrentEntry::Resolving { shared, .. } => shared.status(),
            TorrentEntry::Active { shared, .. } => shared.status(),
        }
    }

    /// Every id the torrent is known by (a hybrid has two), as kept in `info_hashes`.
    fn ids(&self) -> Vec<ccbt_core::InfoHash> {
        match self {
            TorrentEntry::Resolving { shared, .. } => shared.ids.clone(),
            TorrentEntry::Active { shared, .. } => shared.torrent.wire_ids(),
        }
    }
}

pub(crate) struct SessionInner {
    /// The options in force; [`Session::reconfigure`] replaces them and every torrent task
    /// watches them.
    options: watch::Sender<Arc<SessionOptions>>,
    peer_id: PeerId,
    listen_addr: SocketAddr,
    torrents: Mutex<HashMap<TorrentId, TorrentEntry>>,
    /// The info hashes of `torrents` (and of adds under way): a duplicate is refused without a
    /// scan, which with 10,000 torrents made adding them quadratic. Never locked with `torrents`.
    info_hashes: Mutex<std::collections::HashSet<ccbt_core::InfoHash>>,
    events: broadcast::Sender<Event>,
    pool: Arc<HashPool>,
    next_id: AtomicU64,
    listener: Mutex<Option<JoinHandle<()>>>,
    pub(crate) budget: Arc<ConnectionBudget>,
    dht: Option<DhtHandle>,
    /// The Xet chunk store, if `xet_store_dir` is set and it opened.
    xet: Option<Arc<ccbt_xetstore::XetStore>>,
    /// The Xet discovery keys we announce and answer xet-only connections for.
    pub(crate) xet_keys: Arc<crate::xet_discovery::XetKeys>,
    xet_announcer: Mutex<Option<JoinHandle<()>>>,
    /// The download and upload limiters every connection draws from.
    limits: Arc<SessionLimits>,
    retired: snapshot_api::Retired,
}

impl SessionInner {
    /// The options in force now.
    pub(crate) fn options(&self) -> Arc<SessionOptions> {
        self.options.borrow().clone()
    }

    /// The running torrent an incoming handshake asks for (none while a magnet resolves).
    pub(crate) fn find_torrent(&self, info_hash: &ccbt_core::InfoHash) -> Option<Arc<TorrentShared>> {
        let torrents = lock(&self.torrents);
        torrents.values().find_map(|t| match t {
            TorrentEntry::Active { shared, .. } if shared.torrent.answers_to(info_hash) => {
                Some(shared.clone())
            }
            _ => None,
        })
    }

    fn storage_options(&self) -> StorageOptions {
        crate::options::storage_options(&self.options())
    }
}

/// How long [`Session::scrape`] waits for a tracker.
const SCRAPE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Capacity of the event broadcast: subscribers that fall further behind get `Lagged`.
const EVENT_CAPACITY: usize = 4096;

impl Session {
    /// Starts a session: validates options, binds the listener, starts the hash pool.
    pub async fn new(options: SessionOptions) -> Result<Session, SessionError> {
        options.validate()?;
        let listener = listener::bind(&options).await?;
        let listen_addr = listener
            .local_addr()
            .map_err(|source| SessionError::Listen { port: options.listen_port, source })?;
        let mut random = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut random);
        let peer_id = PeerId::ccbt(random);
        // Room for every piece the buffer budget can hold with the smallest piece size.
        let queue = (options.max_buffered_kib as usize / 16).max(64);
        let pool = HashPool::new(options.hash_workers, queue).map_err(SessionError::HashPool)?;
        let budget = ConnectionBudget::new(budget_limits(&options));
        // The DHT is an extra peer source: failing to start it is worth a warning, not an error.
        let dht = if options.enable_dht {
            match crate::dht::start(&options).await {
                Ok(dht) => Some(dht),
                Err(e) => {
                    tracing::warn!(error = %e, "the dht could not start; continuing without it");
                    None
                }
            }
        } else {
            None
        };
        let xet = crate::xet::open_store(&options).await;
        let limits = SessionLimits::new(options.session_limits(), options.peer_limits());
        let inner = Arc::new(SessionInner {
            limits,
            options: watch::channel(Arc::new(options)).0,
            peer_id,
            listen_addr,
            torrents: Mutex::new(HashMap::new()),
            info_hashes: Mutex::default(),
            events: broadcast::channel(EVENT_CAPACITY).0,
            pool: Arc::new(pool),
            next_id: AtomicU64::new(1),
            listener: Mutex::new(None),
            budget,
            dht,
            xet,
            xet_keys: crate::xet_discovery::XetKeys::new(),
            xet_announcer: Mutex::new(None),
            retired: Default::default(),
        });
        let task = tokio::spawn(listener::run(listener, Arc::downgrade(&inner)));
        *lock(&inner.listener) = Some(task);
        if let Some(store) = inner.xet.clone() {
            let keys = inner.xet_keys.clone();
            let me = crate::xet_discovery::Identity { port: listen_addr.port(), peer_id };
            let torrents = xet_trackers::torrent_source(Arc::downgrade(&inner));
            let announcer =
                crate::xet_discovery::spawn_announcer(store, inner.dht.clone(), me, keys, torrents);
            *lock(&inner.xet_announcer) = Some(announcer);
        }
        tracing::info!(%listen_addr, %peer_id, "session started");
        Ok(Session { inner })
    }

    /// The address incoming peers connect to.
    pub fn listen_addr(&self) -> SocketAddr {
        self.inner.listen_addr
    }

    /// Our peer id.
    pub fn peer_id(&self) -> PeerId {
        self.inner.peer_id
    }

    /// Established connections across all torrents.
    pub fn connected_peers(&self) -> usize {
        self.inner.budget.active()
    }

    /// Connections still handshaking, both directions (bounded by `max_handshakes` each way).
    pub fn handshaking_peers(&self) -> usize {
        self.inner.budget.handshaking()
    }

    /// The options the session runs with now (after any [`Session::reconfigure`]).
    pub fn options(&self) -> Arc<SessionOptions> {
        self.inner.options()
    }

    /// Adds a torrent: opens (creating as needed) its files, then checks, downloads or seeds in
    /// the background. A magnet link first fetches its metadata from peers (state
    /// `FetchingMetadata`). Fails if the files cannot be created or the torrent is already added.
    pub async fn add_torrent(&self, add: AddTorrent) -> Result<TorrentId, SessionError> {
        let inner = &self.inner;
        let info_hash = add.info_hash();
        if let TorrentSource::Torrent(torrent) = &add.source {
            let missing = torrent.missing_piece_layers().len();
            if missing > 0 {
                return Err(SessionError::MissingPieceLayers {
                    info_hash: info_hash.to_hex(),
                    files: missing,
                });
            }
        }
        let ids = add.ids();
        {
            let mut known = lock(&inner.info_hashes);
            if let Some(dup) = ids.iter().find(|id| known.contains(id)) {
                return Err(SessionError::DuplicateTorrent { info_hash: dup.to_hex() });
            }
            known.extend(ids.iter().copied());
        }
        let id = TorrentId(inner.next_id.fetch_add(1, Ordering::Relaxed));
        // Before any connection of the torrent exists: none moves a byte unlimited.
        inner.limits.set_torrent(id, add.limits);
        let save_path = add.save_path.clone().unwrap_or_else(|| inner.options().download_dir.clone());
        let name = add.name();
        let files = add.file_choice();
        let entry = match add.source {
            TorrentSource::Torrent(torrent) => {
                let start = Start {
                    peers: add.peers,
                    banned_ips: Vec::new(),
                    check_existing: add.check_existing,
                    files,
                    overwrite: add.overwrite,
                    streaming: add.streaming.unwrap_or(inner.options().streaming_mode),
                    resume: add.resume,
                    origin: add.origin,
                    paused: add.paused,
                };
                // A Xet torrent without its chunk manifests learns them from peers first.
                let started = if learn_manifests::wanted(inner, &torrent, start.resume.as_ref()) {
                    learn_manifests::start(inner, id, *torrent, save_path, start)
                } else {
                    start_active(inner, id, Arc::new(*torrent), save_path, start).await
                };
                match started {
                    Ok(entry) => entry,
                    Err(e) => {
                        inner.limits.remove_torrent(id);
                        ids.iter().for_each(|id| _ = lock(&inner.info_hashes).remove(id));
                        return Err(e);
                    }
                }
            }
            TorrentSource::Magnet(magnet) => {
                let start = Start {
                    peers: add.peers,
                    banned_ips: Vec::new(),
                    check_existing: true,
                    files,
                    overwrite: add.overwrite,
                    streaming: add.streaming.unwrap_or(inner.options().streaming_mode),
                    resume: None,
                    origin: add.origin,
                    paused: add.paused,
                };
                start_resolving(inner, id, *magnet, save_path, start)
            }
        };
        lock(&inner.torrents).insert(id, entry);
        let _ = inner.events.send(Event::TorrentAdded { id, name: name.clone() });
        tracing::info!(%id, %name, %info_hash, "torrent added");
        Ok(id)
    }

    /// Adds the torrent of `checkpoint` where it was, starting from its verified pieces (see
    /// [`AddTorrent::resume_from`]).
    pub async fn resume_from_checkpoint(
        &self,
        checkpoint: ccbt_checkpoint::Checkpoint,
    ) -> Result<TorrentId, SessionError> {
        self.add_torrent(AddTorrent::resume_from(checkpoint)?).await
    }

    /// The checkpoints in the session's `checkpoint_dir` that can be resumed.
    pub fn list_resumable_checkpoints(&self) -> Result<Vec<ccbt_checkpoint::CheckpointEntry>, SessionError> {
        crate::list_resumable_checkpoints(&self.inner.options().checkpoint_dir)
            .map_err(SessionError::Checkpoint)
    }

    /// The running torrent `id`; `MetadataPending` while a magnet link is still resolving.
    fn shared(&self, id: TorrentId) -> Result<Arc<TorrentShared>, SessionError> {
        let torrents = lock(&self.inner.torrents);
        match torrents.get(&id) {
            Some(TorrentEntry::Active { shared, .. }) => Ok(shared.clone()),
            Some(TorrentEntry::Resolving { .. }) => Err(SessionError::MetadataPending(id.0)),
            None => Err(SessionError::UnknownTorrent(id.0)),
        }
    }

    /// A reader of file `file_index` of a running torrent (`AsyncRead + AsyncSeek`): its bytes
    /// in order, each only once its piece is verified, waiting for pieces still downloading.
    /// Turns streaming on for the torrent; reads and seeks move its window (see
    /// [`TorrentFileReader`]). `MetadataPending` while a magnet link resolves.
    pub fn open_file(&self, id: TorrentId, file_index: u32) -> Result<TorrentFileReader, SessionError> {
        TorrentFileReader::open(self.shared(id)?, file_index)
    }

    /// The metadata of a running torrent (name, files, pieces); `MetadataPending` while a
    /// magnet link resolves.
    pub fn metainfo(&self, id: TorrentId) -> Result<Arc<Torrent>, SessionError> {
        Ok(self.shared(id)?.torrent.clone())
    }

    /// Connects to more peers for a torrent (also while its metadata is being fetched).
    pub fn add_peers(&self, id: TorrentId, peers: &[SocketAddr]) -> Result<(), SessionError> {
        let torrents = lock(&self.inner.torrents);
        let sent = match torrents.get(&id) {
            Some(TorrentEntry::Active { shared, .. }) => {
                shared.commands.try_send(TorrentCommand::UserPeers(peers.to_vec())).is_ok()
            }
            Some(TorrentEntry::Resolving { shared, .. }) => shared
                .commands
                .try_send(magnet::ResolverCommand::AddPeers(
                    ccbt_proto::candidates::Source::User,
                    peers.to_vec(),
                ))
                .is_ok(),
            None => return Err(SessionError::UnknownTorrent(id.0)),
        };
        if sent {
            Ok(())
        } else {
            Err(SessionError::ShutDown)
        }
    }

    /// A snapshot of one torrent.
    pub fn status(&self, id: TorrentId) -> Result<TorrentStatus, SessionError> {
        let torrents = lock(&self.inner.torrents);
        torrents.get(&id).map(TorrentEntry::status).ok_or(SessionError::UnknownTorrent(id.0))
    }

    /// Snapshots of every torrent, by id.
    pub fn torrents(&self) -> Vec<TorrentStatus> {
        let torrents = lock(&self.inner.torrents);
        let mut all: Vec<TorrentStatus> = torrents.values().map(TorrentEntry::status).collect();
        all.sort_by_key(|s| s.id);
        all
    }

    /// The pieces of a running torrent that passed their hash check and are on disk: exactly
    /// what a checkpoint may record.
    pub fn verified_pieces(&self, id: TorrentId) -> Result<ccbt_core::Bitfield, SessionError> {
        Ok(lock(&self.shared(id)?.inner).swarm.have().clone())
    }

    /// The files of a running torrent: index, path, length, priority and verified bytes.
    /// `MetadataPending` while a magnet link resolves.
    pub fn files(&self, id: TorrentId) -> Result<Vec<FileInfo>, SessionError> {
        let shared = self.shared(id)?;
        let layout = shared.torrent.layout();
        let spans: Vec<(u64, u64)> = layout.files().iter().map(|f| (f.offset, f.length)).collect();
        let (priorities, verified) = {
            let inner = lock(&shared.inner);
            let verified = crate::torrent::verified_bytes(&shared.lengths, &spans, inner.swarm.have());
            (inner.selection.file_priorities().to_vec(), verified)
        };
        let info = layout.files().iter().zip(priorities).zip(verified).enumerate().map(
            |(i, ((f, priority), bytes))| FileInfo {
                index: i as u32,
                path: f.path.iter().collect(),
                length: f.length,
                priority,
                bytes_verified: bytes,
                is_padding: f.is_padding,
            },
        );
        Ok(info.collect())
    }

    /// Changes the priority of some files of a running torrent, effective at once: skipped
    /// files' outstanding requests are cancelled, newly wanted files are downloaded (their
    /// files created by the first write), and progress counts the new selection. Fails, changing
    /// nothing, if an index does not exist.
    pub async fn set_file_priorities(
        &self,
        id: TorrentId,
        changes: &[(u32, FilePriority)],
    ) -> Result<(), SessionError> {
        let shared = self.shared(id)?;
        let (tx, rx) = oneshot::channel();
        let cmd = TorrentCommand::SetFilePriorities(changes.to_vec(), tx);
        shared.commands.send(cmd).await.map_err(|_| SessionError::ShutDown)?;
        rx.await.map_err(|_| SessionError::ShutDown)?.map_err(SessionError::InvalidSelection)
    }

    /// What each tracker of a running torrent last said.
    pub fn trackers(&self, id: TorrentId) -> Result<Vec<TrackerInfo>, SessionError> {
        Ok(lock(&self.shared(id)?.trackers).clone())
    }

    /// Asks a tracker (http, https or udp URL) for a torrent's seeder/leecher/download counts
    /// (BEP 48 / BEP 15 scrape). Needs no session.
    pub async fn scrape(url: &str, info_hash: ccbt_core::InfoHash) -> Result<ScrapeInfo, SessionError> {
        let err = |reason: String| SessionError::Tracker { url: url.to_string(), reason };
        // An interactive question: bounded well below BEP 15's hour-long retransmit schedule.
        let stats = tokio::time::timeout(SCRAPE_TIMEOUT, crate::tracker::scrape(url, info_hash))
            .await
            .map_err(|_| err(format!("no answer within {} s", SCRAPE_TIMEOUT.as_secs())))?
            .map_err(|e| err(e.to_string()))?;
        Ok(ScrapeInfo {
            complete: stats.complete,
            incomplete: stats.incomplete,
            downloaded: stats.downloaded,
        })
    }

    /// Events of every torrent. A slow subscriber misses events (it gets `Lagged`), never blocks the engine.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    async fn command(&self, id: TorrentId, cmd: TorrentCommand) -> Result<(), SessionError> {
        let shared = self.shared(id)?;
        shared.commands.send(cmd).await.map_err(|_| SessionError::ShutDown)
    }

    /// Closes every connection, waits for pending piece writes, flushes files and stops.
    pub async fn shutdown(self) {
        if let Some(listener) = lock(&self.inner.listener).take() {
            listener.abort();
        }
        if let Some(announcer) = lock(&self.inner.xet_announcer).take() {
            announcer.abort();
        }
        // The trackers that got discovery keys hear `stopped` while the torrents stop.
        let keys = self.inner.xet_keys.clone();
        let trackers = tokio::spawn(async move { keys.stop_trackers().await });
        let entries: Vec<TorrentEntry> = {
            let mut torrents = lock(&self.inner.torrents);
            torrents.drain().map(|(_, e)| e).collect()
        };
        // All at once: with many torrents their last checkpoints (fsyncs) overlap on the blocking pool.
        for stopped in entries.into_iter().map(|e| tokio::spawn(stop_torrent(e))).collect::<Vec<_>>() {
            let _ = stopped.await;
        }
        let _ = trackers.await;
        if let Some(dht) = &self.inner.dht {
            dht.shutdown().await;
        }
        tracing::info!("session stopped");
    }
}

async fn stop_torrent(entry: TorrentEntry) {
    match entry {
        TorrentEntry::Resolving { task, .. } => {
            // Nothing verified to lose: metadata connections simply stop.
            task.abort();
            let _ = task.await;
        }
        TorrentEntry::Active { shared, task } => {
            let (ack_tx, ack_rx) = oneshot::channel();
            if shared.commands.send(TorrentCommand::Shutdown(ack_tx)).await.is_ok() {
                let _ = ack_rx.await;
            }
            let _ = task.await;
        }
    }
}
