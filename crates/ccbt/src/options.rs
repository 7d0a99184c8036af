//! Command-line flags → `SessionOptions`. This is the only place where a flag maps to an engine
//! option, so the config file layer (defaults < file < `CCBT_*` env < flags) slots in by passing
//! its result as `base`.

use std::path::Path;

use ccbt_engine::{PieceSelection, Preallocate, SessionOptions};

use crate::args::{DiscoveryArgs, EngineArgs, NetworkArgs, PieceSelectionArg, PreallocateArg, TuningArgs};

/// Applies the flags the user gave on top of `base`; flags not given leave `base` unchanged.
/// `download_dir` is the folder named by `-o`/`-d`.
pub fn session_options(base: SessionOptions, flags: &EngineArgs, download_dir: &Path) -> SessionOptions {
    let mut opts = base;
    opts.download_dir = download_dir.to_owned();
    apply_network(&mut opts, &flags.network);
    apply_discovery(&mut opts, &flags.discovery);
    apply_tuning(&mut opts, &flags.tuning);
    opts
}

fn apply_network(opts: &mut SessionOptions, flags: &NetworkArgs) {
    if let Some(port) = flags.listen_port {
        opts.listen_port = port;
        // A port the user named must be used or fail loudly, never silently replaced.
        opts.listen_port_explicit = true;
    }
    if let Some(port) = flags.dht_port {
        // Checked after the session starts (`commands::live::check_dht_port`): the same rule.
        opts.dht_port = port;
    }
}

fn apply_discovery(opts: &mut SessionOptions, flags: &DiscoveryArgs) {
    if flags.no_trackers {
        opts.enable_http_trackers = false;
        opts.enable_udp_trackers = false;
    }
    if flags.no_dht {
        opts.enable_dht = false;
    }
    if !flags.dht_bootstrap.is_empty() {
        opts.dht_bootstrap_nodes = flags.dht_bootstrap.clone();
    }
    if flags.no_pex {
        opts.enable_pex = false;
    }
    if let Some(dir) = &flags.state_dir {
        opts.state_dir = dir.clone();
    }
}

fn apply_tuning(opts: &mut SessionOptions, flags: &TuningArgs) {
    if let Some(depth) = flags.pipeline_depth {
        opts.pipeline_depth = depth;
        // The adaptive pipeline starts at `pipeline_depth` and may grow to the maximum; keep
        // the pair valid when the user asks for a deeper start than the default maximum.
        opts.max_pipeline_depth = opts.max_pipeline_depth.max(depth);
    }
    if let Some(selection) = flags.piece_selection {
        opts.piece_selection = piece_selection(selection);
    }
    if let Some(workers) = flags.hash_workers {
        opts.hash_workers = workers;
    }
    if let Some(mode) = flags.preallocate {
        opts.preallocate = preallocate(mode);
    }
    if flags.no_mmap {
        opts.use_mmap = false;
    }
    if let Some(slots) = flags.max_upload_slots {
        opts.max_upload_slots = slots;
    }
}

fn piece_selection(arg: PieceSelectionArg) -> PieceSelection {
    match arg {
        PieceSelectionArg::RarestFirst => PieceSelection::RarestFirst,
        PieceSelectionArg::Sequential => PieceSelection::Sequential,
        PieceSelectionArg::RoundRobin => PieceSelection::RoundRobin,
    }
}

fn preallocate(arg: PreallocateArg) -> Preallocate {
    match arg {
        PreallocateArg::None => Preallocate::None,
        PreallocateArg::Sparse => Preallocate::Sparse,
        PreallocateArg::Full => Preallocate::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_flags_keep_the_defaults() {
        let opts = session_options(SessionOptions::default(), &EngineArgs::default(), Path::new("dl"));
        let default = SessionOptions::default();
        assert_eq!(opts.download_dir, Path::new("dl"));
        assert_eq!(opts.listen_port, default.listen_port);
        assert!(!opts.listen_port_explicit);
        assert_eq!(opts.pipeline_depth, default.pipeline_depth);
        assert!(opts.use_mmap);
        assert!(opts.validate().is_ok());
    }

    #[test]
    fn flags_map_to_fields() {
        let flags = EngineArgs {
            network: NetworkArgs { peers: Vec::new(), listen_port: Some(7000), dht_port: Some(7001) },
            discovery: DiscoveryArgs {
                no_trackers: true,
                no_dht: true,
                dht_bootstrap: vec!["127.0.0.1:7002".into()],
                no_pex: true,
                state_dir: Some("/tmp/state".into()),
            },
            tuning: TuningArgs {
                pipeline_depth: Some(500),
                piece_selection: Some(PieceSelectionArg::Sequential),
                hash_workers: Some(2),
                preallocate: Some(PreallocateArg::Full),
                no_mmap: true,
                max_upload_slots: Some(0),
            },
        };
        let opts = session_options(SessionOptions::default(), &flags, Path::new("."));
        assert_eq!(opts.listen_port, 7000);
        assert!(opts.listen_port_explicit);
        assert!(
            !opts.enable_http_trackers && !opts.enable_udp_trackers && !opts.enable_dht && !opts.enable_pex
        );
        assert_eq!(opts.dht_port, 7001);
        assert_eq!(opts.dht_bootstrap_nodes, ["127.0.0.1:7002"]);
        assert_eq!(opts.state_dir, Path::new("/tmp/state"));
        assert_eq!(opts.pipeline_depth, 500);
        assert!(opts.max_pipeline_depth >= 500);
        assert_eq!(opts.piece_selection, PieceSelection::Sequential);
        assert_eq!(opts.hash_workers, 2);
        assert_eq!(opts.preallocate, Preallocate::Full);
        assert!(!opts.use_mmap);
        assert_eq!(opts.max_upload_slots, 0);
        assert!(opts.validate().is_ok());
    }

    #[test]
    fn out_of_range_flags_are_named_by_validation() {
        let tuning = TuningArgs { pipeline_depth: Some(0), ..TuningArgs::default() };
        let flags = EngineArgs { tuning, ..EngineArgs::default() };
        let opts = session_options(SessionOptions::default(), &flags, Path::new("."));
        let err = opts.validate().unwrap_err().to_string();
        assert!(err.contains("pipeline_depth"), "{err}");
    }
}
