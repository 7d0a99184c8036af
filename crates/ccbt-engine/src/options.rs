//! Every engine setting in one place. Field names are the config keys of ccbt.toml (the seeds'
//! names), so the TOML loader, `CCBT_*` environment variables and hot reload of a later issue map
//! onto this one type.

mod layers;
mod live;

use std::path::PathBuf;
use std::time::Duration;

use ccbt_proto::choker::SeedChoking;
use ccbt_proto::picker::PieceSelection;
use ccbt_storage::Preallocate;

use crate::error::SessionError;
pub(crate) use layers::{pex_enabled, storage as storage_options, TorrentLayerOptions};
pub use live::Reconfigured;

/// Settings of a [`crate::Session`]. Build with `SessionOptions::default()` and adjust fields,
/// then [`SessionOptions::validate`] (done by `Session::new`) checks ranges and names the bad key.
#[derive(Clone, Debug, PartialEq)]
pub struct SessionOptions {
    // [network]
    /// TCP port for incoming peers (`listen_port`, default 6881).
    pub listen_port: u16,
    /// When the port is taken: `false` (the default when the user did not name a port) tries the
    /// following ports; `true` (the user named it explicitly) fails instead.
    pub listen_port_explicit: bool,
    /// Address to listen on (default all interfaces).
    pub listen_host: std::net::IpAddr,
    /// Maximum connections per torrent (`max_peers_per_torrent`, default 50).
    pub max_peers_per_torrent: usize,
    /// Starting and minimum number of outstanding block requests per peer (`pipeline_depth`, 16).
    pub pipeline_depth: u32,
    /// Upper bound of the adaptive request pipeline (`max_pipeline_depth`, default 128).
    pub max_pipeline_depth: u32,
    /// Request size in KiB (`block_size_kib`). Only 16 is accepted: most peers refuse larger requests.
    pub block_size_kib: u32,
    /// Unchoked peers per torrent (`max_upload_slots`, default 4; 0 = unlimited).
    pub max_upload_slots: usize,
    /// Seconds between two runs of the choker (`unchoke_interval`, default 10 s).
    pub unchoke_interval: Duration,
    /// How long the optimistic unchoke stays with one peer (`optimistic_unchoke_interval`, 30 s).
    pub optimistic_unchoke_interval: Duration,
    /// A peer we want data from that sent nothing for this long is snubbing us: it loses its
    /// upload slot and gets one request at a time (`snub_timeout`, default 60 s).
    pub snub_timeout: Duration,
    /// How upload slots are shared while seeding (`seed_choking`, default round robin).
    pub seed_choking: SeedChoking,
    /// Give up connecting after this long (`connection_timeout`).
    pub connection_timeout: Duration,
    /// A request unanswered this long is given to another peer (`request_timeout`).
    pub request_timeout: Duration,
    // [disk]
    /// Where torrents are saved when `AddTorrent` names no folder (`download_dir`).
    pub download_dir: PathBuf,
    /// `none`, `sparse` or `full` (`preallocate`, default sparse).
    pub preallocate: Preallocate,
    /// Largest positioned vectored write in KiB (`write_batch_kib`, default 1024).
    pub write_batch_kib: u32,
    /// Serve uploads from memory-mapped files (`use_mmap`, default true).
    pub use_mmap: bool,
    /// Write verified pieces with `O_DIRECT` where aligned (`direct_io`, default true).
    pub direct_io: bool,
    /// Threads hashing and writing pieces (`hash_workers`, default: CPU count, at most 4).
    pub hash_workers: usize,
    /// Memory budget in KiB for pieces being downloaded or waiting for hashing
    /// (`max_buffered_kib`, default 8192): beyond it no new piece is started (back-pressure).
    pub max_buffered_kib: u32,
    // [strategy]
    /// `rarest_first`, `sequential` or `round_robin` (`piece_selection`).
    pub piece_selection: PieceSelection,
    /// Peers that may hold a request for the same block in endgame (`endgame_duplicates`, 2).
    pub endgame_duplicates: u32,
    /// Endgame begins when at most this many wanted pieces are not fully requested
    /// (`endgame_threshold`, default 0: when every block is requested).
    pub endgame_threshold: u32,
    /// Hash failures after which a peer is banned (`max_hash_failures`, default 3).
    pub max_hash_failures: u32,
    /// Streaming for every torrent unless `AddTorrent::streaming` says otherwise
    /// (`streaming_mode`, default false): pieces near the read position first, a window of
    /// about 8 MiB (at least 4 pieces) from the first missing piece of the first selected file
    /// or from where a [`crate::TorrentFileReader`] reads, the first and last piece of every
    /// selected file early, rarest first inside and beyond the window.
    pub streaming_mode: bool,
    // [network], connection management
    /// Connections across all torrents (`max_global_peers`, default 200).
    pub max_global_peers: usize,
    /// New outgoing connection attempts per second across the session (`max_connects_per_sec`, 20).
    pub max_connects_per_sec: u32,
    /// Peer addresses remembered per torrent as connection candidates (`max_peer_candidates`, 1000).
    pub max_peer_candidates: usize,
    /// Connections to or from one IP address across the session, handshaking or established
    /// (`max_connections_per_ip`, default 8): one host cannot take every slot.
    pub max_connections_per_ip: usize,
    /// Connections still handshaking, per direction, across the session (`max_handshakes`,
    /// default 32): idle TCP connections wait here, not in `max_global_peers`, and incoming ones
    /// cannot use up the slots of our own dials.
    pub max_handshakes: usize,
    /// Time a connection has to complete its handshake, once TCP is connected
    /// (`handshake_timeout`, default 5 s).
    pub handshake_timeout: Duration,
    /// A connection with no interest either way and no payload for this long is closed when a
    /// candidate waits for its slot (`useless_peer_timeout`, default 120 s).
    pub useless_peer_timeout: Duration,
    /// Refuse peers on loopback or local-network addresses with a privileged port (below 1024)
    /// when a tracker, the DHT or peer exchange names them (`ssrf_mitigation`, default true).
    pub ssrf_mitigation: bool,
    // [discovery]
    /// Announce to HTTP(S) trackers (`enable_http_trackers`, default true).
    pub enable_http_trackers: bool,
    /// Announce to UDP trackers, BEP 15 (`enable_udp_trackers`, default true).
    pub enable_udp_trackers: bool,
    /// Kademlia DHT, BEP 5 (`enable_dht`, default true). Never used for private torrents.
    pub enable_dht: bool,
    /// UDP port of the DHT node (`dht_port`, default 6881; the next free port is used when it is
    /// taken).
    pub dht_port: u16,
    /// `host:port` of DHT routers used when the routing table is empty (`dht_bootstrap_nodes`).
    pub dht_bootstrap_nodes: Vec<String>,
    /// Peer exchange, BEP 11 (`enable_pex`, default true). Never used for private torrents.
    pub enable_pex: bool,
    /// Largest metadata (info dictionary) accepted from peers for magnet links, in KiB
    /// (`max_metadata_kib`, default 16384).
    pub max_metadata_kib: u32,
    /// Folder for state kept across runs: the DHT routing table, .torrent files of magnet
    /// downloads (`state_dir`, default `$XDG_STATE_HOME/ccbt` or `~/.local/state/ccbt`).
    pub state_dir: PathBuf,
    // [disk], checkpoints
    /// Write each torrent's checkpoint (`checkpoint_enabled`, default true; `--no-checkpoint`).
    pub checkpoint_enabled: bool,
    /// Folder of the checkpoints (`checkpoint_dir`, default `<state_dir>/checkpoints`).
    pub checkpoint_dir: PathBuf,
    /// `json`, `binary` or `both` (`checkpoint_format`, default binary).
    pub checkpoint_format: ccbt_checkpoint::CheckpointFormat,
    /// A torrent that verified new pieces writes its checkpoint at least this often
    /// (`checkpoint_interval`, default 30 s). Also after every [`CHECKPOINT_BATCH_PIECES`]
    /// pieces or [`CHECKPOINT_BATCH_BYTES`] bytes verified, on pause, on completion and at
    /// shutdown.
    pub checkpoint_interval: Duration,
    /// Delete a torrent's checkpoint once it is complete (`checkpoint_delete_on_completion`).
    pub checkpoint_delete_on_completion: bool,
    /// Pieces a checkpoint claims that are hashed again, chosen at random, when a torrent
    /// resumes from it (`resume_verify_sample`, default 16; 0 = none). One that fails means the
    /// checkpoint does not describe the data: every piece is checked.
    pub resume_verify_sample: u32,
    // [limits] (bytes/s here; the config file counts KiB/s)
    /// Download rate of the whole session in bytes/s, protocol overhead counted
    /// (`limits.global_down_kib` × 1024; 0 = unlimited). Changed live with
    /// [`crate::Session::set_limits`] (which leaves this field as it was: the limit in force is
    /// [`crate::Session::limits`]) or by a [`crate::Session::reconfigure`] that changes it.
    pub global_down_rate: u64,
    /// Upload rate of the whole session in bytes/s (`limits.global_up_kib` × 1024; 0 = unlimited).
    pub global_up_rate: u64,
    /// Download rate of each connection in bytes/s (`limits.peer_down_kib` × 1024; 0 =
    /// unlimited). Changed live with [`crate::Session::set_peer_limits`].
    pub peer_down_rate: u64,
    /// Upload rate of each connection in bytes/s (`limits.peer_up_kib` × 1024; 0 = unlimited).
    pub peer_up_rate: u64,
    // [observability]
    /// Trace every connection of every torrent to `<state_dir>/traces/<info hash>/<ip>_<port>.log`
    /// (`enable_peer_tracing`, default false; see [`crate::Session::trace_peer`] for one peer).
    /// Connections made after a change follow it.
    pub peer_tracing: bool,
    /// Largest size of one trace file, in bytes (`peer_trace_max_mib` × 1 MiB, default 64 MiB):
    /// the trace then stops with a last line saying so.
    pub peer_trace_max_bytes: u64,
    // [xet]
    /// Folder of the Xet chunk store (`xet_store_dir`, used when `xet_enabled`; None = the Xet
    /// extension is off). Torrents with Xet manifests copy chunks it already knows instead of
    /// downloading them, and complete ones are indexed in it. Read at start.
    pub xet_store_dir: Option<PathBuf>,
    /// Largest size of the chunk store's index, in bytes (`xet_cache_size_mib` × 1 MiB, default
    /// 1 GiB): [`crate::Session::xet_cleanup`] forgets the files indexed longest ago until the
    /// index's live data fits.
    pub xet_cache_bytes: u64,
    /// Announce the discovery keys to, and look them up on, the trackers of the session's
    /// public torrents holding their files (`xet_tracker_announce`, default true; docs/xet.md,
    /// "Discovery of chunk holders"). Never to a private torrent's trackers.
    pub xet_tracker_announce: bool,
}

/// A torrent writes its checkpoint after this many newly verified pieces...
pub const CHECKPOINT_BATCH_PIECES: usize = 64;
/// ... or this many newly verified bytes, whichever comes first (and at least every
/// `checkpoint_interval`): a crash then costs at most this much hashing, never a download.
pub const CHECKPOINT_BATCH_BYTES: u64 = 32 * 1024 * 1024;

/// The well-known public DHT routers (as in libtorrent and Transmission).
pub const DEFAULT_DHT_BOOTSTRAP: &[&str] = &[
    "router.bittorrent.com:6881",
    "dht.transmissionbt.com:6881",
    "router.utorrent.com:6881",
    "dht.libtorrent.org:25401",
];

/// `$XDG_STATE_HOME/ccbt` (`~/.local/state/ccbt`) on Linux, the platform's local data folder
/// elsewhere (`directories` knows each platform's rules); `.ccbt-state` when there is no home.
fn default_state_dir() -> PathBuf {
    directories::ProjectDirs::from("", "", "ccbt")
        .map(|dirs| dirs.state_dir().unwrap_or_else(|| dirs.data_local_dir()).to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".ccbt-state"))
}

fn default_hash_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(1, 4)
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            listen_port: 6881,
            listen_port_explicit: false,
            listen_host: std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            max_peers_per_torrent: 50,
            pipeline_depth: 16,
            max_pipeline_depth: 128,
            block_size_kib: 16,
            max_upload_slots: 4,
            unchoke_interval: Duration::from_secs(10),
            optimistic_unchoke_interval: Duration::from_secs(30),
            snub_timeout: Duration::from_secs(60),
            seed_choking: SeedChoking::RoundRobin,
            connection_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            download_dir: PathBuf::from("."),
            preallocate: Preallocate::Sparse,
            write_batch_kib: 1024,
            use_mmap: true,
            direct_io: true,
            hash_workers: default_hash_workers(),
            max_buffered_kib: 8 * 1024,
            piece_selection: PieceSelection::RarestFirst,
            endgame_duplicates: 2,
            endgame_threshold: 0,
            max_hash_failures: 3,
            streaming_mode: false,
            max_global_peers: 200,
            max_connects_per_sec: 20,
            max_peer_candidates: 1000,
            max_connections_per_ip: 8,
            max_handshakes: 32,
            handshake_timeout: Duration::from_secs(5),
            useless_peer_timeout: Duration::from_secs(120),
            ssrf_mitigation: true,
            enable_http_trackers: true,
            enable_udp_trackers: true,
            enable_dht: true,
            dht_port: 6881,
            dht_bootstrap_nodes: DEFAULT_DHT_BOOTSTRAP.iter().map(|s| s.to_string()).collect(),
            enable_pex: true,
            max_metadata_kib: 16 * 1024,
            checkpoint_dir: default_state_dir().join("checkpoints"),
            state_dir: default_state_dir(),
            checkpoint_enabled: true,
            checkpoint_format: ccbt_checkpoint::CheckpointFormat::Binary,
            checkpoint_interval: Duration::from_secs(30),
            checkpoint_delete_on_completion: false,
            resume_verify_sample: 16,
            global_down_rate: 0,
            global_up_rate: 0,
            peer_down_rate: 0,
            peer_up_rate: 0,
            peer_tracing: false,
            peer_trace_max_bytes: 64 * 1024 * 1024,
            xet_store_dir: None,
            xet_cache_bytes: 1024 * 1024 * 1024,
            xet_tracker_announce: true,
        }
    }
}

impl SessionOptions {
    /// The session-wide limits these options start with.
    pub(crate) fn session_limits(&self) -> crate::RateLimits {
        crate::RateLimits { download: self.global_down_rate, upload: self.global_up_rate }
    }

    /// The per-connection limits these options start with.
    pub(crate) fn peer_limits(&self) -> crate::RateLimits {
        crate::RateLimits { download: self.peer_down_rate, upload: self.peer_up_rate }
    }

    /// Checks every range; the error names the offending key.
    pub fn validate(&self) -> Result<(), SessionError> {
        let bad = |key: &'static str, reason: &'static str| Err(SessionError::InvalidOption { key, reason });
        if self.block_size_kib != 16 {
            return bad("block_size_kib", "only 16 is supported (peers refuse larger requests)");
        }
        if !(1..=1024).contains(&self.pipeline_depth) {
            return bad("pipeline_depth", "must be between 1 and 1024");
        }
        if self.max_pipeline_depth < self.pipeline_depth || self.max_pipeline_depth > 4096 {
            return bad("max_pipeline_depth", "must be between pipeline_depth and 4096");
        }
        if self.max_peers_per_torrent == 0 {
            return bad("max_peers_per_torrent", "must be at least 1");
        }
        if !(1..=256).contains(&self.hash_workers) {
            return bad("hash_workers", "must be between 1 and 256");
        }
        if !(16..=1024 * 1024).contains(&self.write_batch_kib) {
            return bad("write_batch_kib", "must be between 16 and 1048576");
        }
        if self.max_buffered_kib < 1024 {
            return bad("max_buffered_kib", "must be at least 1024");
        }
        if self.max_global_peers == 0 {
            return bad("max_global_peers", "must be at least 1");
        }
        if self.max_connects_per_sec == 0 {
            return bad("max_connects_per_sec", "must be at least 1");
        }
        if !(16..=100_000).contains(&self.max_peer_candidates) {
            return bad("max_peer_candidates", "must be between 16 and 100000");
        }
        if self.max_connections_per_ip == 0 {
            return bad("max_connections_per_ip", "must be at least 1");
        }
        if self.max_handshakes == 0 {
            return bad("max_handshakes", "must be at least 1");
        }
        if self.handshake_timeout.is_zero() {
            return bad("handshake_timeout", "must be more than 0");
        }
        if self.useless_peer_timeout < Duration::from_secs(1) {
            return bad("useless_peer_timeout", "must be at least 1 s");
        }
        if !(16..=256 * 1024).contains(&self.max_metadata_kib) {
            return bad("max_metadata_kib", "must be between 16 and 262144");
        }
        for (key, interval) in [
            ("unchoke_interval", self.unchoke_interval),
            ("optimistic_unchoke_interval", self.optimistic_unchoke_interval),
            ("snub_timeout", self.snub_timeout),
        ] {
            if interval < Duration::from_secs(1) {
                return bad(key, "must be at least 1 s");
            }
        }
        if self.checkpoint_interval < Duration::from_secs(1) {
            return bad("checkpoint_interval", "must be at least 1 s");
        }
        if self.endgame_duplicates == 0 {
            return bad("endgame_duplicates", "must be at least 1");
        }
        let rates = [
            ("global_down_rate", self.global_down_rate),
            ("global_up_rate", self.global_up_rate),
            ("peer_down_rate", self.peer_down_rate),
            ("peer_up_rate", self.peer_up_rate),
        ];
        for (key, rate) in rates {
            if rate != 0 && rate < crate::MIN_RATE_LIMIT {
                return bad(key, "must be 0 (unlimited) or at least 1024 bytes/s");
            }
        }
        Ok(())
    }
}
