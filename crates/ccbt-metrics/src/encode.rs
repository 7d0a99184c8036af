//! The Prometheus text exposition of a [`SessionSnapshot`]: a fresh registry filled from the
//! snapshot at each scrape, so every figure is read once, from one snapshot.

use ccbt_engine::{SessionSnapshot, TorrentSnapshot, TorrentState};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// At most this many torrents get their own (`info_hash`-labelled) series, the most active
/// first (payload rate, then connected peers, then bytes moved). The session-wide series count
/// every torrent; `ccbt_torrent_series_omitted` says how many torrents have no series of their
/// own. This keeps a scrape's size bounded with thousands of torrents.
pub const TORRENT_SERIES_CAP: usize = 100;

/// The `Content-Type` of [`encode`]'s output (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type Labels = Vec<(&'static str, String)>;

/// The registry of one scrape. The library appends `_total` to counter names.
#[derive(Default)]
struct Builder {
    registry: Registry,
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Builder {
    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        let gauge = Gauge::<i64>::default();
        gauge.set(as_i64(value));
        self.registry.register(name, help, gauge);
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        let counter = Counter::<u64>::default();
        counter.inc_by(value);
        self.registry.register(name, help, counter);
    }

    fn gauges(&mut self, name: &str, help: &str, rows: impl IntoIterator<Item = (Labels, u64)>) {
        let family = Family::<Labels, Gauge>::default();
        for (labels, value) in rows {
            family.get_or_create(&labels).set(as_i64(value));
        }
        self.registry.register(name, help, family);
    }

    fn float_gauges(&mut self, name: &str, help: &str, rows: impl IntoIterator<Item = (Labels, f64)>) {
        let family = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        for (labels, value) in rows {
            family.get_or_create(&labels).set(value);
        }
        self.registry.register(name, help, family);
    }

    fn counters(&mut self, name: &str, help: &str, rows: impl IntoIterator<Item = (Labels, u64)>) {
        let family = Family::<Labels, Counter>::default();
        for (labels, value) in rows {
            family.get_or_create(&labels).inc_by(value);
        }
        self.registry.register(name, help, family);
    }
}

fn label(key: &'static str, value: &str) -> Labels {
    vec![(key, value.to_owned())]
}

/// The name of a state in the `state` label of `ccbt_torrents`.
fn state_name(state: &TorrentState) -> &'static str {
    match state {
        TorrentState::FetchingMetadata => "fetching_metadata",
        TorrentState::Checking => "checking",
        TorrentState::Downloading => "downloading",
        TorrentState::Seeding => "seeding",
        TorrentState::Paused => "paused",
        TorrentState::Error(_) => "error",
    }
}

const STATES: [&str; 6] = ["fetching_metadata", "checking", "downloading", "seeding", "paused", "error"];

/// Encodes the snapshot in the Prometheus text format.
pub fn encode(snapshot: &SessionSnapshot) -> String {
    let mut b = Builder::default();
    session_series(&mut b, snapshot);
    torrent_series(&mut b, &most_active(&snapshot.torrents, TORRENT_SERIES_CAP));
    let mut out = String::new();
    // Writing to a String cannot fail, and every name above is a valid metric name.
    prometheus_text::encode(&mut out, &b.registry).expect("encoding into a String");
    out
}

fn session_series(b: &mut Builder, s: &SessionSnapshot) {
    let t = &s.totals;
    // The seeds' names, exactly.
    b.gauge("ccbt_download_rate_bytes_per_second", "Payload download rate of the session", s.download_rate);
    b.gauge("ccbt_upload_rate_bytes_per_second", "Payload upload rate of the session", s.upload_rate);
    b.gauge("ccbt_connected_peers", "Established peer connections", s.connected_peers as u64);
    let pieces: u64 = s.torrents.iter().map(|t| u64::from(t.status.pieces_have)).sum();
    b.gauge("ccbt_pieces_completed", "Verified pieces of the selected files, all torrents", pieces);
    b.gauge(
        "ccbt_disk_queue_depth",
        "Pieces being hashed and written to disk now",
        s.disk_queue_depth as u64,
    );
    b.gauge("ccbt_hash_queue_depth", "Pieces waiting for a hashing thread", s.hash_queue_depth as u64);
    let outstanding = s.torrents.iter().map(|t| t.outstanding_requests).sum();
    b.gauge(
        "ccbt_requests_outstanding",
        "Block requests to peers not yet answered, all torrents",
        outstanding,
    );
    let queued = s.torrents.iter().map(|t| t.queued_peer_requests).sum();
    b.gauge("ccbt_peer_requests_queued", "Peers' block requests waiting to be served, all torrents", queued);
    // Operators' totals and gauges.
    b.gauge("ccbt_handshaking_peers", "Peer connections still handshaking", s.handshaking_peers as u64);
    b.gauge("ccbt_banned_peers", "IPs banned for sending corrupt data", s.banned_peers);
    b.counter("ccbt_downloaded_bytes", "Payload bytes received", t.downloaded);
    b.counter("ccbt_uploaded_bytes", "Payload bytes sent", t.uploaded);
    b.counter("ccbt_wasted_bytes", "Bytes received and discarded (failed hashes, duplicates)", t.wasted);
    b.counter("ccbt_hash_failed_bytes", "Bytes of pieces that failed their hash check", t.hash_failed_bytes);
    b.counter("ccbt_hash_failures", "Pieces that failed their hash check", t.hash_failures);
    b.counter("ccbt_checkpoint_writes", "Checkpoints written", t.checkpoint_writes);
    let attempts = t.connection_attempts;
    let by_result =
        [(label("result", "success"), attempts.succeeded), (label("result", "failure"), attempts.failed)];
    b.counters("ccbt_connection_attempts", "Outgoing peer connection attempts by result", by_result);
    let by_state = STATES.map(|name| {
        let count = s.torrents.iter().filter(|t| state_name(&t.status.state) == name).count();
        (label("state", name), count as u64)
    });
    b.gauges("ccbt_torrents", "Torrents in the session by state", by_state);
    let announces =
        [(label("result", "success"), t.announces_ok), (label("result", "failure"), t.announces_failed)];
    b.counters("ccbt_tracker_announces", "Tracker announces by result", announces);
    let trackers = s.torrents.iter().flat_map(|t| &t.trackers);
    let failing = trackers.clone().filter(|t| t.last_error.is_some()).count() as u64;
    let working = trackers.count() as u64 - failing;
    let by_status = [(label("status", "working"), working), (label("status", "failing"), failing)];
    b.gauges("ccbt_trackers", "Trackers of the torrents by the outcome of their last announce", by_status);
    let omitted = s.torrents.len().saturating_sub(TORRENT_SERIES_CAP) as u64;
    b.gauge("ccbt_torrent_series_omitted", "Torrents beyond the per-torrent series cap", omitted);
    if let Some(dht) = &s.dht {
        let nodes = [
            (label("state", "good"), dht.good_nodes as u64),
            (label("state", "questionable"), dht.questionable_nodes as u64),
        ];
        b.gauges("ccbt_dht_nodes", "Nodes in the DHT routing table", nodes);
        let queries =
            [(label("direction", "in"), dht.queries_in), (label("direction", "out"), dht.queries_out)];
        b.counters("ccbt_dht_queries", "DHT queries received (in) and sent (out)", queries);
    }
}

/// The `cap` most active torrents, most active first.
fn most_active(torrents: &[TorrentSnapshot], cap: usize) -> Vec<&TorrentSnapshot> {
    let mut all: Vec<&TorrentSnapshot> = torrents.iter().collect();
    all.sort_by_key(|t| {
        let s = &t.status;
        let key = (s.download_rate + s.upload_rate, s.connected_peers, s.downloaded + s.uploaded);
        (std::cmp::Reverse(key), s.id)
    });
    all.truncate(cap);
    all
}

fn info_hash_label(t: &TorrentSnapshot) -> Labels {
    label("info_hash", &t.status.info_hash.to_string())
}

fn torrent_series(b: &mut Builder, torrents: &[&TorrentSnapshot]) {
    let rows = |f: fn(&TorrentSnapshot) -> u64| -> Vec<(Labels, u64)> {
        torrents.iter().map(|t| (info_hash_label(t), f(t))).collect()
    };
    b.gauges(
        "ccbt_torrent_download_rate_bytes_per_second",
        "Payload download rate of a torrent",
        rows(|t| t.status.download_rate),
    );
    b.gauges(
        "ccbt_torrent_upload_rate_bytes_per_second",
        "Payload upload rate of a torrent",
        rows(|t| t.status.upload_rate),
    );
    b.gauges(
        "ccbt_torrent_connected_peers",
        "Established connections of a torrent",
        rows(|t| t.status.connected_peers as u64),
    );
    b.gauges(
        "ccbt_torrent_pieces_completed",
        "Verified pieces of a torrent's selected files",
        rows(|t| u64::from(t.status.pieces_have)),
    );
    b.gauges(
        "ccbt_torrent_pieces_selected",
        "Pieces of a torrent's selected files",
        rows(|t| u64::from(t.status.pieces_total)),
    );
    b.counters(
        "ccbt_torrent_downloaded_bytes",
        "Payload bytes received for a torrent",
        rows(|t| t.status.downloaded),
    );
    b.counters(
        "ccbt_torrent_uploaded_bytes",
        "Payload bytes sent for a torrent",
        rows(|t| t.status.uploaded),
    );
    b.counters(
        "ccbt_torrent_wasted_bytes",
        "Bytes received and discarded for a torrent",
        rows(|t| t.status.wasted),
    );
    b.counters(
        "ccbt_torrent_hash_failed_bytes",
        "Bytes of a torrent's pieces that failed their hash check",
        rows(|t| t.hash_failed_bytes),
    );
    b.gauges(
        "ccbt_torrent_requests_outstanding",
        "Block requests of a torrent to its peers not yet answered (blocks in flight)",
        rows(|t| t.outstanding_requests),
    );
    b.gauges(
        "ccbt_torrent_peer_requests_queued",
        "Block requests of a torrent's peers waiting to be served",
        rows(|t| t.queued_peer_requests),
    );
    // Only torrents that measured them: a torrent without a first byte yet has no series.
    let seconds = |f: fn(&TorrentSnapshot) -> Option<std::time::Duration>| -> Vec<(Labels, f64)> {
        let row = |t: &&TorrentSnapshot| Some((info_hash_label(t), f(t)?.as_secs_f64()));
        torrents.iter().filter_map(row).collect()
    };
    b.float_gauges(
        "ccbt_torrent_time_to_first_byte_seconds",
        "Time from a torrent's start of downloading to its first payload byte",
        seconds(|t| t.time_to_first_byte),
    );
    b.float_gauges(
        "ccbt_torrent_time_to_first_piece_seconds",
        "Time from a torrent's start of downloading to its first verified piece",
        seconds(|t| t.time_to_first_piece),
    );
    let progress = torrents.iter().map(|t| (info_hash_label(t), t.status.progress));
    b.float_gauges(
        "ccbt_torrent_progress_ratio",
        "Fraction of a torrent's selected bytes verified (0 to 1)",
        progress,
    );
}
