//! Asking trackers for the holders of a discovery key (docs/xet.md, "Asking"): a tracker only
//! lists peers to a peer that announces, so the asker announces the key (`left=1` unless it
//! holds the key's files itself) and, when it does not hold them, leaves again with `stopped`
//! right after the answer, so that it is not listed as a holder of what it lacks.

use std::net::SocketAddr;
use std::time::Duration;

use ccbt_core::{InfoHash, PeerId};
use ccbt_tracker::{AnnounceEvent, AnnounceJob, AnnounceRequest};
use rand::Rng;

use crate::tracker::{http_agent_unpooled, perform, TransportOptions};

/// Who asks, and what it tells the trackers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asker {
    pub(crate) peer_id: PeerId,
    pub(crate) port: u16,
    /// We announce the key ourselves (we hold its files): ask as a seeder and stay listed.
    pub(crate) holds_key: bool,
}

/// Announces `key` to each of `urls` at once and gathers the addresses they list (each once,
/// at most `max`, never our own port on a loopback or unspecified address), for at most
/// `limit`; trackers that have not answered by then are left out.
pub(crate) async fn ask_trackers(
    urls: Vec<String>,
    key: InfoHash,
    asker: Asker,
    limit: Duration,
    max: usize,
) -> Vec<SocketAddr> {
    if urls.is_empty() || max == 0 {
        return Vec::new();
    }
    let transport = TransportOptions::default();
    let agent = http_agent_unpooled(&transport);
    let announce_key: u32 = rand::thread_rng().gen();
    let request = |event, numwant| AnnounceRequest {
        info_hash: key,
        peer_id: asker.peer_id,
        port: asker.port,
        uploaded: 0,
        downloaded: 0,
        left: u64::from(!asker.holds_key),
        event,
        numwant,
        key: announce_key,
        tracker_id: None,
        compact: true,
    };
    let mut asked = tokio::task::JoinSet::new();
    for url in urls {
        let job = AnnounceJob { url, request: request(AnnounceEvent::Started, Some(max as u32)) };
        let (agent, transport) = (agent.clone(), transport.clone());
        let stop = (!asker.holds_key).then(|| request(AnnounceEvent::Stopped, Some(0)));
        asked.spawn(async move {
            let (job, session, result) = perform(agent.clone(), transport.clone(), job, None).await;
            if let Some(request) = stop.filter(|_| result.is_ok()) {
                // Leave in the background: the answer is what the caller waits for.
                let job = AnnounceJob { url: job.url.clone(), request };
                tokio::spawn(perform(agent, transport, job, session));
            }
            match result {
                Ok(response) => response.peers,
                Err(e) => {
                    tracing::debug!(tracker = %job.url, %key, error = %e, "xet: tracker look-up failed");
                    Vec::new()
                }
            }
        });
    }
    let deadline = tokio::time::Instant::now() + limit;
    let mut found: Vec<SocketAddr> = Vec::new();
    while let Ok(Some(done)) = tokio::time::timeout_at(deadline, asked.join_next()).await {
        let Ok(peers) = done else { continue };
        for addr in peers {
            if found.len() < max && !found.contains(&addr) && !is_ourselves(addr, asker.port) {
                found.push(addr);
            }
        }
    }
    found
}

/// Our own listing as a tracker may echo it back (it sees a loopback or unspecified address
/// when we share its host).
fn is_ourselves(addr: SocketAddr, port: u16) -> bool {
    addr.port() == port && (addr.ip().is_loopback() || addr.ip().is_unspecified())
}

/// `first` then the addresses of `more` it lacks, at most `max` in all.
pub(crate) fn merge_holders(
    mut first: Vec<SocketAddr>,
    more: Vec<SocketAddr>,
    max: usize,
) -> Vec<SocketAddr> {
    first.truncate(max);
    for addr in more {
        if first.len() < max && !first.contains(&addr) {
            first.push(addr);
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_holders_are_unique_and_capped() {
        let a = |n: u16| SocketAddr::from(([10, 0, 0, 1], n));
        assert_eq!(merge_holders(vec![a(1), a(2)], vec![a(2), a(3), a(4)], 3), vec![a(1), a(2), a(3)]);
        assert_eq!(merge_holders(vec![a(1), a(2), a(3)], vec![a(4)], 2), vec![a(1), a(2)]);
        assert!(is_ourselves(SocketAddr::from(([127, 0, 0, 1], 5)), 5));
        assert!(!is_ourselves(SocketAddr::from(([127, 0, 0, 1], 6)), 5));
        assert!(!is_ourselves(a(5), 5));
    }
}
