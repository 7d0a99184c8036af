//! `ccbt dht status`: runs a DHT node for a few seconds and prints what it knows.

use std::time::Duration;

use anyhow::Context as _;
use ccbt_config::Effective;
use ccbt_engine::DhtInfo;

use super::hint::{unresolved_hosts, DhtView};
use super::Exit;
use crate::args::DhtStatusArgs;
use crate::options::{explicit_dht_port, session_options};

/// Runs `ccbt dht status` with the configuration (its `--dht-port`, `--dht-bootstrap` and
/// `--state-dir` flags are part of it). No torrent is added, so no TCP port is needed.
pub async fn status(args: &DhtStatusArgs, settings: &Effective) -> anyhow::Result<Exit> {
    let mut options = session_options(settings);
    (options.listen_port, options.listen_port_explicit, options.enable_dht) = (0, false, true);
    let hosts = options.dht_bootstrap_nodes.clone();
    let session = super::session_lock::new_session(options).await?;
    if let Err(e) = super::live::check_dht_port(&session, explicit_dht_port(settings)).await {
        session.shutdown().await;
        return Err(e);
    }
    tokio::time::sleep(Duration::from_secs(args.wait)).await;
    let info = session.dht_status().await;
    session.shutdown().await;
    let info = info.context("the dht did not start (see the warning above)")?;
    print!("{}", describe(&info));
    // An empty routing table says why, as far as we can tell: no network, or no answer.
    let mut view = DhtView::of(Some(&info));
    if let DhtView::Empty { unresolved } = &mut view {
        *unresolved = unresolved_hosts(&hosts).await;
    }
    if let Some(reason) = view.empty_reason() {
        println!("no nodes: {reason}");
    }
    Ok(Exit::Success)
}

fn describe(s: &DhtInfo) -> String {
    let mut out = format!(
        "node id       {}\nlistening on  udp {}\nnodes         {} good, {} questionable\n\
         lookups       {} active\nstored        {} info hashes, {} peers, {} items\nqueries       {} in, {} out\n",
        s.node_id,
        s.local_addr,
        s.good_nodes,
        s.questionable_nodes,
        s.active_lookups,
        s.stored_info_hashes,
        s.stored_peers,
        s.stored_items,
        s.queries_in,
        s.queries_out
    );
    out.push_str(&format!("buckets       {}\n", s.buckets.len()));
    for (index, nodes) in s.buckets.iter().filter(|(_, n)| *n > 0) {
        out.push_str(&format!("  bucket {index:>3}: {nodes} nodes\n"));
    }
    out
}
