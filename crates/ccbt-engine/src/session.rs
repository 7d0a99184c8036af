use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Weak;
use std::sync::{Arc, Mutex};

use ccbt_core::PeerId;
use ccbt_metainfo::{Magnet, Torrent};
use ccbt_storage::{HashPool, Storage, StorageOptions};
use rand::RngCore;
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;

use crate::add::{AddTorrent, TorrentSource};
use crate::budget::ConnectionBudget;
use crate::dht::DhtHandle;
use crate::limits::SessionLimits;
use crate::listener;
use crate::magnet::{self, MetaShared, ResolveSpec};
use crate::ownership;
use crate::resume::ResumeData;
use crate::sync::lock;
use crate::torrent::{
    file_entries, spawn_torrent, CheckpointSpec, DataCheck, FileChoice, Selection, TorrentCommand,
    TorrentShared, TorrentSpec,
};
use crate::{
    Event, FileInfo, FilePriority, ScrapeInfo, SessionError, SessionOptions, TorrentError, TorrentFileReader,
    TorrentId, TorrentStatus, TrackerInfo,
};

mod items_api;
mod learn_manifests;
mod limits_api;
mod ops_api;
mod peers_api;
mod pieces_api;
mod reconfigure;
mod snapshot_api;
mod trace_api;
mod xet_api;
mod xet_commit;
mod xet_follow;
mod xet_hooks;
mod xet_journal;
mod xet_switch;
mod xet_trackers;
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

/// How a torrent with metadata starts.
struct Start {
    peers: Vec<SocketAddr>,
    /// Addresses the torrent never dials or accepts (a magnet's metadata liars).
    banned_ips: Vec<std::net::IpAddr>,
    check_existing: bool,
    /// The user's file selection and priorities.
    files: FileChoice,
    /// Write into pre-existing files that ccbt did not create (`AddTorrent::overwrite`).
    overwrite: bool,
    /// Pieces near the read position first.
    streaming: bool,
    /// A checkpoint's pieces and file stamps (`AddTorrent::resume`).
    resume: Option<ResumeData>,
    /// Where the torrent came from, for its checkpoints.
    origin: ccbt_checkpoint::Source,
    /// `AddTorrent::paused`.
    paused: bool,
}

/// Opens (creating as needed) a torrent's files and starts its task.
async fn start_active(
    inner: &Arc<SessionInner>,
    id: TorrentId,
    torrent: Arc<Torrent>,
    save_path: PathBuf,
    start: Start,
) -> Result<TorrentEntry, SessionError> {
    let selection = Selection::new(&torrent, &start.files).map_err(SessionError::InvalidSelection)?;
    let deferred = selection.deferred_files();
    let storage_options = inner.storage_options();
    let earlier = start.resume.as_ref().map_or_else(Default::default, |r| ccbt_checkpoint::Totals {
        downloaded: r.downloaded,
        uploaded: r.uploaded,
        active_secs: r.active_secs,
    });
    let resume = start.resume;
    let (storage, plan) = {
        let torrent = torrent.clone();
        let root = save_path.clone();
        let state_dir = inner.options().state_dir.clone();
        tokio::task::spawn_blocking(move || {
            let layout = torrent.layout();
            // The files as they are before storage creates missing ones.
            let (plan, created) = crate::resume::prepare(resume, &torrent, &root);
            let storage = ownership::open_storage(
                &state_dir,
                &torrent.info_hash,
                &root,
                &layout,
                storage_options,
                ownership::Claims { overwrite: start.overwrite, created_before: created },
                deferred,
            );
            storage.map(|s| (s, plan))
        })
        .await
        .map_err(|e| TorrentError::TaskFailed { task: "file creation", reason: e.to_string() })
        .and_then(|created| created.map_err(TorrentError::Storage))
        .map_err(SessionError::Torrent)?
    };
    // Existing data is checked if asked, and always when some file is not ccbt's: only verified
    // pieces let the torrent write into it. A checkpoint replaces the check.
    let check = match plan {
        Some(plan) => DataCheck::Resume(plan),
        None if storage.had_data() && (start.check_existing || storage.has_foreign()) => DataCheck::Full,
        None => DataCheck::Nothing,
    };
    let checkpoint = inner.options().checkpoint_enabled.then(|| {
        let mut template = ccbt_checkpoint::Checkpoint::new(
            torrent.info_hash,
            torrent.name.clone(),
            storage.root(),
            torrent.lengths().num_pieces(),
        );
        template.source = start.origin;
        template.info = Some(torrent.info_bytes.clone());
        template.info_hash_v2 = torrent.info_hash_v2;
        // Only learned layers need keeping: a .torrent that carried them is read again anyway,
        // but a magnet's would otherwise be fetched from peers again.
        template.piece_layers = (!torrent.piece_layers.is_empty()).then(|| torrent.piece_layers_bencoded());
        template.files = file_entries(&torrent, &storage.owned_files(), selection.file_priorities());
        template.options.streaming = Some(start.streaming);
        CheckpointSpec {
            template,
            store: ccbt_checkpoint::CheckpointStore::new(&inner.options().checkpoint_dir),
            format: inner.options().checkpoint_format,
            earlier,
        }
    });
    let storage: Arc<dyn Storage> = Arc::new(storage);
    let (is_xet, private) = (torrent.is_xet(), torrent.private);
    let (shared, task) = spawn_torrent(TorrentSpec {
        id,
        torrent,
        save_path,
        storage,
        options: inner.options.subscribe(),
        listen_port: inner.listen_addr.port(),
        peer_id: inner.peer_id,
        pool: inner.pool.clone(),
        events: inner.events.clone(),
        peers: start.peers,
        initial_banned_ips: start.banned_ips,
        check,
        budget: inner.budget.clone(),
        dht: inner.dht.clone(),
        xet: inner.xet.clone(),
        xet_keys: inner.xet_keys.clone(),
        xet_session: Arc::downgrade(inner),
        limits: inner.limits.clone(),
        selection,
        streaming: start.streaming,
        checkpoint,
        paused: start.paused,
    });
    if is_xet || private {
        // The trackers that get discovery keys may change.
        inner.xet_keys.changed.notify_one();
    }
    Ok(TorrentEntry::Active { shared, task })
}

/// What a resolver (a magnet's metadata, or a `.torrent`'s missing Xet manifests) needs from
/// the session.
pub(crate) fn resolve_spec(
    inner: &SessionInner,
    id: TorrentId,
    magnet: Magnet,
    save_path: PathBuf,
    paused: bool,
    xet_store: bool,
) -> ResolveSpec {
    ResolveSpec {
        id,
        magnet,
        save_path,
        peer_id: inner.peer_id,
        listen_port: inner.listen_addr.port(),
        options: inner.options(),
        dht: inner.dht.clone(),
        limits: inner.limits.clone(),
        paused,
        xet_store,
    }
}

/// Saves the pending record of a torrent still resolving (`pending`, when checkpoints are on) with
/// its paused state; if it was added paused, waits until it is resumed and saves it again.
pub(crate) async fn save_pending_and_wait_unpaused(
    meta: &MetaShared,
    pending: Option<impl FnOnce(bool) + Clone + Send + 'static>,
) {
    let paused = *meta.paused.borrow();
    if let Some(save) = pending.clone() {
        let _ = tokio::task::spawn_blocking(move || save(paused)).await;
    }
    if paused {
        // Added paused: nothing until resumed (the sender lives in `meta`, held by the caller).
        let _ = meta.paused.subscribe().wait_for(|p| !p).await;
        if let Some(save) = pending {
            let _ = tokio::task::spawn_blocking(move || save(false)).await;
        }
    }
}

/// Starts fetching a magnet link's metadata; when it arrives the entry becomes a running torrent
/// with the same id.
fn start_resolving(
    inner: &Arc<SessionInner>,
    id: TorrentId,
    magnet: Magnet,
    save_path: PathBuf,
    start: Start,
) -> TorrentEntry {
    let spec = resolve_spec(inner, id, magnet.clone(), save_path.clone(), start.paused, inner.xet.is_some());
    let (shared, commands) = magnet::new_resolver(&spec);
    let weak: Weak<SessionInner> = Arc::downgrade(inner);
    let meta = shared.clone();
    let pending = inner.options().checkpoint_enabled.then(|| {
        let (options, magnet, save_path) = (inner.options(), magnet.clone(), save_path.clone());
        let source = start.origin.clone();
        move |paused| crate::checkpoint::save_pending_magnet(&options, &magnet, &save_path, source, paused)
    });
    let task = tokio::spawn(async move {
        let Start { peers, files, overwrite, streaming, origin, .. } = start;
        // Before anything else, so it can never land after the torrent's own checkpoints.
        save_pending_and_wait_unpaused(&meta, pending).await;
        let result = magnet::resolve(meta.clone(), commands, magnet.clone(), peers).await;
        let Some(inner) = weak.upgrade() else { return };
        let resolved = match result {
            Ok(r) => r,
            Err(reason) => {
                tracing::error!(%id, %reason, "magnet link failed");
                *lock(&meta.failed) = Some(reason.clone());
                let error = Arc::new(TorrentError::Metadata { reason });
                let _ =
                    inner.events.send(Event::StateChanged { id, state: crate::TorrentState::Error(error) });
                return;
            }
        };
        tracing::info!(%id, name = %resolved.torrent.name, "metadata received");
        let bytes = magnet::torrent_file_bytes(&resolved.torrent, &magnet);
        let saved = write_state_torrent(&inner.options().state_dir, &resolved.torrent.info_hash, bytes).await;
        let mut origin = origin;
        if !resolved.torrent.xet_layers.is_empty() {
            // Checkpoints keep the info dictionary and piece layers but not the Xet manifests
            // learned: naming the saved file lets a restart read them from it.
            origin.torrent_file = saved.or(origin.torrent_file);
        }
        let torrent = Arc::new(resolved.torrent);
        let mut files = files;
        if files.selected.is_none() {
            files.selected = magnet.select_only.clone();
        }
        let start = Start {
            peers: resolved.peers,
            banned_ips: resolved.liars,
            check_existing: true,
            files,
            overwrite,
            streaming,
            resume: None,
            origin,
            paused: false,
        };
        // A hybrid found through one of its ids is known by both from now on.
        lock(&inner.info_hashes).extend(torrent.wire_ids());
        let started = start_active(&inner, id, torrent, save_path, start).await;
        replace_entry(&inner, id, &meta, started);
    });
    TorrentEntry::Resolving { shared, task }
}

/// A resolving entry's torrent started (or failed to): the entry becomes the running torrent;
/// the resolving task (the caller) ends right after.
fn replace_entry(
    inner: &SessionInner,
    id: TorrentId,
    meta: &MetaShared,
    started: Result<TorrentEntry, SessionError>,
) {
    match started {
        Ok(entry) => {
            let mut torrents = lock(&inner.torrents);
            if let Some(slot) = torrents.get_mut(&id) {
                *slot = entry;
            } else if let TorrentEntry::Active { task, .. } = entry {
                // Removed while we were starting: stop what we started.
                task.abort();
            }
        }
        Err(e) => {
            let reason = e.to_string();
            tracing::error!(%id, %reason, "cannot start the torrent after fetching its metadata");
            *lock(&meta.failed) = Some(reason);
        }
    }
}

/// Saves a .torrent whose metadata (or part of it) was learned from peers as
/// `<state_dir>/torrents/<info hash>.torrent` so the download can be resumed or re-seeded
/// without fetching it again; its path, or None if it could not be written.
async fn write_state_torrent(
    state_dir: &Path,
    info_hash: &ccbt_core::InfoHash,
    bytes: Vec<u8>,
) -> Option<PathBuf> {
    let dir = state_dir.join("torrents");
    let path = dir.join(format!("{}.torrent", info_hash.to_hex()));
    let result = tokio::task::spawn_blocking(move || -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(&dir)?;
        let tmp = path.with_extension("torrent.tmp");
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &path)?;
        // Absolute: checkpoints name it, and are read from any working directory.
        Ok(std::fs::canonicalize(&path).unwrap_or(path))
    })
    .await;
    match result {
        Ok(Ok(path)) => {
            tracing::info!(path = %path.display(), "saved the .torrent with the metadata learned from peers");
            Some(path)
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot save the .torrent with the metadata learned from peers");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "saving the .torrent failed");
            None
        }
    }
}
