//! The effective configuration → `SessionOptions`, field by field. The sections are destructured
//! without `..`, so a key added to the schema does not compile until it is mapped here (or bound
//! to `_` where another part of the binary reads it, with a comment saying which).

use ccbt_config::{Config, Discovery, Disk, Effective, Limits, Network, Observability, Origin, Strategy};
use ccbt_engine::checkpoints::CheckpointFormat;
use ccbt_engine::{PieceSelection, Preallocate, SeedChoking, SessionOptions, TorrentLimits};

/// The session settings of `effective`. A port set by any layer above the defaults is explicit:
/// it must be free, never silently replaced by the next one.
pub fn session_options(effective: &Effective) -> SessionOptions {
    let mut opts = SessionOptions::default();
    let Config { network, disk, strategy, discovery, limits, observability, daemon: _, xet } =
        effective.config().clone();
    // `[daemon]` is read by `ccbt daemon start` (commands/daemon), not by the session.
    // `xet_cache_size_mib` is enforced by `ccbt xet cleanup` (commands/xet_store.rs), through
    // the daemon's session when one runs.
    opts.xet_store_dir = xet.xet_enabled.then(|| effective.xet_store_dir());
    opts.xet_cache_bytes = xet.xet_cache_size_mib.saturating_mul(1024 * 1024);
    opts.xet_tracker_announce = xet.xet_tracker_announce;
    apply_network(&mut opts, network);
    apply_disk(&mut opts, disk);
    // Unset, it follows `state_dir` from whichever layer set that.
    opts.checkpoint_dir = effective.checkpoint_dir();
    apply_strategy(&mut opts, strategy);
    apply_discovery(&mut opts, discovery);
    apply_limits(&mut opts, limits);
    // The log level and the log file are installed by `logging`, reload is the command's
    // (`reload.rs`). The alert service reads its keys itself (`alerts/mod.rs`).
    let Observability {
        log_level: _,
        config_reload: _,
        enable_metrics: _,
        metrics_port: _,
        metrics_host: _,
        log_file: _,
        log_format: _,
        log_max_size_mib: _,
        log_max_files: _,
        alerts_rules_path: _,
        alerts_history_size: _,
        enable_peer_tracing,
        peer_trace_max_mib,
    } = observability;
    opts.peer_tracing = enable_peer_tracing;
    opts.peer_trace_max_bytes = u64::from(peer_trace_max_mib) * 1024 * 1024;
    opts.listen_port_explicit = is_set(effective, "listen_port");
    opts
}

/// The limits of each torrent the command adds (`limits.torrent_*_kib`), in bytes/s.
pub fn torrent_limits(effective: &Effective) -> TorrentLimits {
    let limits = &effective.config().limits;
    TorrentLimits { download: limits.torrent_down_kib * 1024, upload: limits.torrent_up_kib * 1024 }
}

/// The DHT port the user set (file, environment or flag), which must then be the one bound.
pub fn explicit_dht_port(effective: &Effective) -> Option<u16> {
    is_set(effective, "dht_port").then_some(effective.config().discovery.dht_port)
}

fn is_set(effective: &Effective, key: &str) -> bool {
    effective.origin(key).is_some_and(|origin| *origin != Origin::Default)
}

fn apply_network(opts: &mut SessionOptions, network: Network) {
    let Network {
        listen_port,
        listen_host,
        max_peers_per_torrent,
        max_global_peers,
        max_handshakes,
        max_connections_per_ip,
        max_connects_per_sec,
        max_peer_candidates,
        pipeline_depth,
        max_pipeline_depth,
        block_size_kib,
        max_upload_slots,
        unchoke_interval,
        optimistic_unchoke_interval,
        snub_timeout,
        seed_choking,
        connection_timeout,
        handshake_timeout,
        request_timeout,
        useless_peer_timeout,
        ssrf_mitigation,
    } = network;
    opts.listen_port = listen_port;
    opts.listen_host = listen_host;
    opts.max_peers_per_torrent = max_peers_per_torrent;
    opts.max_global_peers = max_global_peers;
    opts.max_connects_per_sec = max_connects_per_sec;
    opts.max_peer_candidates = max_peer_candidates;
    opts.pipeline_depth = pipeline_depth;
    opts.max_pipeline_depth = max_pipeline_depth;
    opts.block_size_kib = block_size_kib;
    opts.max_upload_slots = max_upload_slots;
    opts.unchoke_interval = unchoke_interval.duration();
    opts.optimistic_unchoke_interval = optimistic_unchoke_interval.duration();
    opts.snub_timeout = snub_timeout.duration();
    opts.seed_choking = match seed_choking {
        ccbt_config::SeedChoking::RoundRobin => SeedChoking::RoundRobin,
        ccbt_config::SeedChoking::FastestUpload => SeedChoking::FastestUpload,
    };
    opts.max_handshakes = max_handshakes;
    opts.max_connections_per_ip = max_connections_per_ip;
    opts.connection_timeout = connection_timeout.duration();
    opts.handshake_timeout = handshake_timeout.duration();
    opts.useless_peer_timeout = useless_peer_timeout.duration();
    opts.ssrf_mitigation = ssrf_mitigation;
    opts.request_timeout = request_timeout.duration();
}

fn apply_disk(opts: &mut SessionOptions, disk: Disk) {
    let Disk {
        download_dir,
        state_dir,
        preallocate,
        write_batch_kib,
        use_mmap,
        direct_io,
        hash_workers,
        max_buffered_kib,
        checkpoint_enabled,
        // Resolved against `state_dir` by `Effective::checkpoint_dir`.
        checkpoint_dir: _,
        checkpoint_format,
        checkpoint_interval,
        // Read by `ccbt checkpoints clean`, not by the session.
        checkpoint_retention_days: _,
        checkpoint_delete_on_completion,
        resume_verify_sample,
    } = disk;
    opts.checkpoint_enabled = checkpoint_enabled;
    opts.checkpoint_format = match checkpoint_format {
        ccbt_config::CheckpointFormat::Json => CheckpointFormat::Json,
        ccbt_config::CheckpointFormat::Binary => CheckpointFormat::Binary,
        ccbt_config::CheckpointFormat::Both => CheckpointFormat::Both,
    };
    opts.checkpoint_interval = checkpoint_interval.duration();
    opts.checkpoint_delete_on_completion = checkpoint_delete_on_completion;
    opts.resume_verify_sample = resume_verify_sample;
    opts.download_dir = download_dir;
    opts.state_dir = state_dir;
    opts.preallocate = match preallocate {
        ccbt_config::Preallocate::None => Preallocate::None,
        ccbt_config::Preallocate::Sparse => Preallocate::Sparse,
        ccbt_config::Preallocate::Full => Preallocate::Full,
    };
    opts.write_batch_kib = write_batch_kib;
    opts.use_mmap = use_mmap;
    opts.direct_io = direct_io;
    opts.hash_workers = hash_workers;
    opts.max_buffered_kib = max_buffered_kib;
}

fn apply_strategy(opts: &mut SessionOptions, strategy: Strategy) {
    let Strategy {
        piece_selection,
        streaming_mode,
        endgame_duplicates,
        endgame_threshold,
        max_hash_failures,
    } = strategy;
    opts.piece_selection = match piece_selection {
        ccbt_config::PieceSelection::RarestFirst => PieceSelection::RarestFirst,
        ccbt_config::PieceSelection::Sequential => PieceSelection::Sequential,
        ccbt_config::PieceSelection::RoundRobin => PieceSelection::RoundRobin,
    };
    opts.endgame_duplicates = endgame_duplicates;
    opts.endgame_threshold = endgame_threshold;
    opts.max_hash_failures = max_hash_failures;
    opts.streaming_mode = streaming_mode;
}

fn apply_discovery(opts: &mut SessionOptions, discovery: Discovery) {
    let Discovery {
        enable_http_trackers,
        enable_udp_trackers,
        enable_dht,
        dht_port,
        dht_bootstrap_nodes,
        enable_pex,
        max_metadata_kib,
    } = discovery;
    opts.enable_http_trackers = enable_http_trackers;
    opts.enable_udp_trackers = enable_udp_trackers;
    opts.enable_dht = enable_dht;
    opts.dht_port = dht_port;
    opts.dht_bootstrap_nodes = dht_bootstrap_nodes;
    opts.enable_pex = enable_pex;
    opts.max_metadata_kib = max_metadata_kib;
}

/// KiB/s in the file, bytes/s in the engine. The torrent keys go to each added torrent
/// ([`torrent_limits`]).
fn apply_limits(opts: &mut SessionOptions, limits: Limits) {
    let Limits {
        global_down_kib,
        global_up_kib,
        torrent_down_kib: _,
        torrent_up_kib: _,
        peer_down_kib,
        peer_up_kib,
    } = limits;
    opts.global_down_rate = global_down_kib * 1024;
    opts.global_up_rate = global_up_kib * 1024;
    opts.peer_down_rate = peer_down_kib * 1024;
    opts.peer_up_rate = peer_up_kib * 1024;
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use ccbt_config::{load, ConfigFile, Sources};

    use super::*;

    fn effective(file: &str, cli: &[(&str, &str)]) -> Effective {
        let file = Some(ConfigFile { path: "ccbt.toml".into(), text: file.into() });
        let cli = cli.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        load(&Sources { file, cli, ..Sources::default() }).unwrap()
    }

    #[test]
    fn defaults_give_valid_options_with_free_ports() {
        let opts = session_options(&effective("", &[]));
        assert_eq!(opts.listen_port, 6881);
        assert!(!opts.listen_port_explicit);
        assert!(opts.use_mmap && opts.enable_dht);
        assert!(opts.validate().is_ok());
    }

    #[test]
    fn every_layer_maps_to_fields() {
        let file = "[network]\nlisten_port = 7000\nrequest_timeout = 9\n[disk]\nuse_mmap = false\n\
                    [strategy]\nendgame_threshold = 3\n[discovery]\nmax_metadata_kib = 64\n";
        let cli = [
            ("dht_port", "7001"),
            ("piece_selection", "sequential"),
            ("download_dir", "dl"),
            ("streaming_mode", "true"),
        ];
        let effective = effective(file, &cli);
        let opts = session_options(&effective);
        assert_eq!((opts.listen_port, opts.listen_port_explicit), (7000, true));
        assert_eq!(opts.request_timeout, std::time::Duration::from_secs(9));
        assert!(!opts.use_mmap);
        assert_eq!(opts.endgame_threshold, 3);
        assert_eq!(opts.max_metadata_kib, 64);
        assert_eq!(opts.dht_port, 7001);
        assert_eq!(explicit_dht_port(&effective), Some(7001));
        assert_eq!(opts.piece_selection, PieceSelection::Sequential);
        assert!(opts.streaming_mode);
        assert_eq!(opts.download_dir, Path::new("dl"));
        assert!(opts.validate().is_ok());
    }

    #[test]
    fn choker_keys_map_to_fields() {
        let file = "[network]\nunchoke_interval = 5\noptimistic_unchoke_interval = 20\nsnub_timeout = 45\n\
                    seed_choking = \"fastest_upload\"\n";
        let opts = session_options(&effective(file, &[]));
        assert_eq!(opts.unchoke_interval, std::time::Duration::from_secs(5));
        assert_eq!(opts.optimistic_unchoke_interval, std::time::Duration::from_secs(20));
        assert_eq!(opts.snub_timeout, std::time::Duration::from_secs(45));
        assert_eq!(opts.seed_choking, SeedChoking::FastestUpload);
        assert!(opts.validate().is_ok());
        let defaults = session_options(&effective("", &[]));
        assert_eq!(defaults.seed_choking, SeedChoking::RoundRobin);
        assert_eq!(defaults.unchoke_interval, std::time::Duration::from_secs(10));
    }

    #[test]
    fn checkpoint_keys_map_and_the_folder_follows_state_dir() {
        let file = "[disk]\nstate_dir = \"/s\"\ncheckpoint_format = \"both\"\ncheckpoint_interval = 5\n\
                    resume_verify_sample = 3\ncheckpoint_delete_on_completion = true\n";
        let opts = session_options(&effective(file, &[("checkpoint_enabled", "false")]));
        assert_eq!(opts.checkpoint_dir, Path::new("/s/checkpoints"));
        assert_eq!(opts.checkpoint_format, CheckpointFormat::Both);
        assert_eq!(opts.checkpoint_interval, std::time::Duration::from_secs(5));
        assert_eq!(opts.resume_verify_sample, 3);
        assert!(opts.checkpoint_delete_on_completion && !opts.checkpoint_enabled);
        let opts = session_options(&effective(file, &[("checkpoint_dir", "/c")]));
        assert_eq!(opts.checkpoint_dir, Path::new("/c"));
    }

    #[test]
    fn limits_map_from_kib_to_bytes() {
        let file = "[limits]\nglobal_up_kib = 64\npeer_down_kib = 32\ntorrent_up_kib = 8\n";
        let effective = effective(file, &[("global_down_kib", "256")]);
        let opts = session_options(&effective);
        assert_eq!((opts.global_down_rate, opts.global_up_rate), (256 * 1024, 64 * 1024));
        assert_eq!((opts.peer_down_rate, opts.peer_up_rate), (32 * 1024, 0));
        assert_eq!(torrent_limits(&effective), TorrentLimits { download: 0, upload: 8 * 1024 });
        assert!(opts.validate().is_ok());
    }
}
