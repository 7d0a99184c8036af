use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ccbt_core::PeerId;
use ccbt_metainfo::Torrent;
use ccbt_storage::{FileStorage, HashPool, Storage, StorageOptions};
use rand::RngCore;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use crate::budget::ConnectionBudget;
use crate::listener;
use crate::torrent::{spawn_torrent, TorrentCommand, TorrentShared, TorrentSpec};
use crate::{Event, PeerInfo, SessionError, SessionOptions, TorrentError, TorrentId, TorrentStatus};

/// What to add to a session.
#[derive(Clone, Debug)]
pub struct AddTorrent {
    pub torrent: Torrent,
    /// Folder the torrent's files go in (default: the session's `download_dir`).
    pub save_path: Option<PathBuf>,
    /// Peers to connect to right away (besides those that connect to us).
    pub peers: Vec<SocketAddr>,
    /// Check data already on disk before downloading (default true). A fresh download into an
    /// empty folder can skip it.
    pub check_existing: bool,
}

impl AddTorrent {
    pub fn new(torrent: Torrent) -> AddTorrent {
        AddTorrent { torrent, save_path: None, peers: Vec::new(), check_existing: true }
    }

    /// Reads and parses a `.torrent` file.
    pub fn from_file(path: &Path) -> Result<AddTorrent, SessionError> {
        let bytes = std::fs::read(path)
            .map_err(|source| SessionError::ReadTorrentFile { path: path.to_owned(), source })?;
        let torrent = Torrent::from_bytes(&bytes)
            .map_err(|source| SessionError::InvalidTorrent { path: path.to_owned(), source })?;
        Ok(AddTorrent::new(torrent))
    }

    pub fn save_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.save_path = Some(path.into());
        self
    }

    pub fn peers(mut self, peers: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.peers.extend(peers);
        self
    }
}

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

struct TorrentEntry {
    shared: Arc<TorrentShared>,
    task: JoinHandle<()>,
}

pub(crate) struct SessionInner {
    options: Arc<SessionOptions>,
    peer_id: PeerId,
    listen_addr: SocketAddr,
    torrents: Mutex<HashMap<TorrentId, TorrentEntry>>,
    events: broadcast::Sender<Event>,
    pool: Arc<HashPool>,
    next_id: AtomicU64,
    listener: Mutex<Option<JoinHandle<()>>>,
    pub(crate) budget: Arc<ConnectionBudget>,
}

impl SessionInner {
    pub(crate) fn options(&self) -> &SessionOptions {
        &self.options
    }

    /// The torrent an incoming handshake asks for.
    pub(crate) fn find_torrent(&self, info_hash: &ccbt_core::InfoHash) -> Option<Arc<TorrentShared>> {
        let torrents = self.torrents.lock().expect("session lock poisoned");
        torrents.values().find(|t| &t.shared.torrent.info_hash == info_hash).map(|t| t.shared.clone())
    }
}

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
        let pool = HashPool::new(options.hash_workers, queue)
            .map_err(|e| SessionError::Torrent(TorrentError::Storage(e.to_string())))?;
        let budget = ConnectionBudget::new(options.max_global_peers, options.max_connects_per_sec);
        let inner = Arc::new(SessionInner {
            options: Arc::new(options),
            peer_id,
            listen_addr,
            torrents: Mutex::new(HashMap::new()),
            events: broadcast::channel(EVENT_CAPACITY).0,
            pool: Arc::new(pool),
            next_id: AtomicU64::new(1),
            listener: Mutex::new(None),
            budget,
        });
        let task = tokio::spawn(listener::run(listener, Arc::downgrade(&inner)));
        *inner.listener.lock().expect("session lock poisoned") = Some(task);
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

    /// Connections across all torrents.
    pub fn connected_peers(&self) -> usize {
        self.inner.budget.active()
    }

    /// The options the session runs with.
    pub fn options(&self) -> &SessionOptions {
        &self.inner.options
    }

    /// Adds a torrent: opens (creating as needed) its files, then checks, downloads or seeds in
    /// the background. Fails if the files cannot be created or the torrent is already added.
    pub async fn add_torrent(&self, add: AddTorrent) -> Result<TorrentId, SessionError> {
        let inner = &self.inner;
        let info_hash = add.torrent.info_hash;
        if inner.find_torrent(&info_hash).is_some() {
            return Err(SessionError::DuplicateTorrent { info_hash: info_hash.to_hex() });
        }
        let save_path = add.save_path.clone().unwrap_or_else(|| inner.options.download_dir.clone());
        let torrent = Arc::new(add.torrent);
        let storage_options = StorageOptions {
            preallocate: inner.options.preallocate,
            use_mmap: inner.options.use_mmap,
            write_batch_kib: inner.options.write_batch_kib,
        };
        let (storage, existing) = {
            let torrent = torrent.clone();
            let root = save_path.clone();
            tokio::task::spawn_blocking(move || {
                let layout = torrent.layout();
                let existing = any_file_has_data(&root, &layout);
                FileStorage::create(&root, &layout, storage_options).map(|s| (s, existing))
            })
            .await
            .map_err(|e| TorrentError::Storage(e.to_string()))?
            .map_err(|e| TorrentError::Storage(e.to_string()))?
        };
        let id = TorrentId(inner.next_id.fetch_add(1, Ordering::Relaxed));
        let storage: Arc<dyn Storage> = Arc::new(storage);
        let (shared, task) = spawn_torrent(TorrentSpec {
            id,
            torrent: torrent.clone(),
            save_path,
            storage,
            options: inner.options.clone(),
            listen_port: inner.listen_addr.port(),
            peer_id: inner.peer_id,
            pool: inner.pool.clone(),
            events: inner.events.clone(),
            peers: add.peers,
            check: add.check_existing && existing,
            budget: inner.budget.clone(),
        });
        inner.torrents.lock().expect("session lock poisoned").insert(id, TorrentEntry { shared, task });
        let _ = inner.events.send(Event::TorrentAdded { id, name: torrent.name.clone() });
        tracing::info!(%id, name = %torrent.name, %info_hash, "torrent added");
        Ok(id)
    }

    fn shared(&self, id: TorrentId) -> Result<Arc<TorrentShared>, SessionError> {
        let torrents = self.inner.torrents.lock().expect("session lock poisoned");
        torrents.get(&id).map(|t| t.shared.clone()).ok_or(SessionError::UnknownTorrent(id.0))
    }

    /// Connects to more peers for a torrent.
    pub fn add_peers(&self, id: TorrentId, peers: &[SocketAddr]) -> Result<(), SessionError> {
        let shared = self.shared(id)?;
        shared.commands.try_send(TorrentCommand::AddPeers(peers.to_vec())).map_err(|_| SessionError::ShutDown)
    }

    /// A snapshot of one torrent.
    pub fn status(&self, id: TorrentId) -> Result<TorrentStatus, SessionError> {
        Ok(self.shared(id)?.status())
    }

    /// Snapshots of every torrent, by id.
    pub fn torrents(&self) -> Vec<TorrentStatus> {
        let torrents = self.inner.torrents.lock().expect("session lock poisoned");
        let mut all: Vec<TorrentStatus> = torrents.values().map(|t| t.shared.status()).collect();
        all.sort_by_key(|s| s.id);
        all
    }

    /// The connected peers of a torrent.
    pub fn peers(&self, id: TorrentId) -> Result<Vec<PeerInfo>, SessionError> {
        let shared = self.shared(id)?;
        let inner = shared.inner.lock().expect("torrent lock poisoned");
        Ok(inner.peers.values().map(|p| PeerInfo { addr: p.addr, client: p.peer_id.to_string() }).collect())
    }

    /// Events of every torrent. A slow subscriber misses events (it gets `Lagged`), never blocks the engine.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    async fn command(&self, id: TorrentId, cmd: TorrentCommand) -> Result<(), SessionError> {
        let shared = self.shared(id)?;
        shared.commands.send(cmd).await.map_err(|_| SessionError::ShutDown)
    }

    /// Closes a torrent's connections and stops connecting; its verified data stays.
    pub async fn pause(&self, id: TorrentId) -> Result<(), SessionError> {
        self.command(id, TorrentCommand::Pause).await
    }

    /// Undoes [`Session::pause`].
    pub async fn resume(&self, id: TorrentId) -> Result<(), SessionError> {
        self.command(id, TorrentCommand::Resume).await
    }

    /// Removes a torrent from the session after finishing its pending writes (files are kept).
    pub async fn remove(&self, id: TorrentId) -> Result<(), SessionError> {
        let entry = self
            .inner
            .torrents
            .lock()
            .expect("session lock poisoned")
            .remove(&id)
            .ok_or(SessionError::UnknownTorrent(id.0))?;
        stop_torrent(entry).await;
        let _ = self.inner.events.send(Event::TorrentRemoved { id });
        Ok(())
    }

    /// Closes every connection, waits for pending piece writes, flushes files and stops.
    pub async fn shutdown(self) {
        if let Some(listener) = self.inner.listener.lock().expect("session lock poisoned").take() {
            listener.abort();
        }
        let entries: Vec<TorrentEntry> = {
            let mut torrents = self.inner.torrents.lock().expect("session lock poisoned");
            torrents.drain().map(|(_, e)| e).collect()
        };
        for entry in entries {
            stop_torrent(entry).await;
        }
        tracing::info!("session stopped");
    }
}

async fn stop_torrent(entry: TorrentEntry) {
    let (ack_tx, ack_rx) = oneshot::channel();
    if entry.shared.commands.send(TorrentCommand::Shutdown(ack_tx)).await.is_ok() {
        let _ = ack_rx.await;
    }
    let _ = entry.task.await;
}

/// Whether any of the torrent's files already holds data (then it must be checked).
fn any_file_has_data(root: &Path, layout: &ccbt_core::FileLayout) -> bool {
    layout.files().iter().filter(|f| !f.is_padding && f.length > 0).any(|f| {
        let mut path = root.to_path_buf();
        path.extend(&f.path);
        std::fs::metadata(&path).map(|m| m.len() > 0).unwrap_or(false)
    })
}
