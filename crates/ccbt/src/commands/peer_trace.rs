//! `ccbt peers trace INFO_HASH ADDR [--stop]`: per-peer tracing on the running daemon.

use std::path::Path;

use super::{remote, Exit};
use crate::peers_args::PeerTraceArgs;

/// Starts (or stops) tracing the peer and prints the trace file.
pub fn run(args: &PeerTraceArgs, state_dir: &Path) -> anyhow::Result<Exit> {
    let addr: std::net::SocketAddr = args.addr.parse().map_err(|_| {
        anyhow::anyhow!(
            "{:?} is not a peer address: IP:PORT or [IPv6]:PORT (see `ccbt peers INFO_HASH`)",
            args.addr
        )
    })?;
    let view = remote::connect(state_dir)?.peer_trace(&args.info_hash, addr, args.stop)?;
    if args.stop {
        let was = if view.was_tracing { "stopped" } else { "was not traced" };
        println!("{} {was}; trace file: {}", view.addr, view.path.display());
    } else {
        println!("{}", view.path.display());
    }
    Ok(Exit::Success)
}
