//! One connection of the chunk phase: the BitTorrent handshake under the torrent's id (a swarm
//! peer) or a discovery key (a holder), an extension handshake offering only `xet_cas`, then
//! QUERYs and CHUNK_REQs as the [`ChunkSchedule`](ccbt_proto::xet::ChunkSchedule) hands them
//! out. A swarm peer is sent Interested and asked for chunks once it unchokes us (CHUNK_REQ
//! obeys the choke state); a holder unchokes at once. Requests the peer sends us are refused:
//! nothing is served here.

use std::time::Duration;

use ccbt_proto::xet::{
    is_answer, is_request, FetchEvent, XetFetcher, XetPeerCaps, XetViolation, OUR_XET_CAS,
};
use ccbt_proto::PeerKey;
use ccbt_wire::ext::xet_cas::{RejectReason, XetMessage};
use ccbt_wire::Message;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::{Phase, Target};
use crate::peer::handshake::{self, Bits};
use crate::sync::lock;
use crate::xet_conn::{refusal, End, XetConn};

/// A peer that owes an answer and sends nothing for this long is dropped; its chunks go to
/// others.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest message accepted: a swarm peer's bitfield may be larger than any `xet_cas` message.
const MAX_FRAME: u32 = ccbt_wire::DEFAULT_MAX_FRAME;

/// Asks one peer for chunks while the schedule has some for it; returns why it ended.
pub(super) async fn ask_peer(phase: &Phase, target: Target, key: PeerKey) -> String {
    let shared = &phase.shared;
    let options = shared.options();
    let limit = options.connection_timeout;
    let stream = tokio::time::timeout(limit, crate::net::connect(target.addr, options.listen_host)).await;
    let mut stream = match stream {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return format!("connect failed: {e}"),
        Err(_) => return "connect timed out".into(),
    };
    let bits = Bits { dht: false, v2: !target.holder && shared.torrent.version.has_v2() };
    match handshake::outgoing(&mut stream, target.info_hash, None, phase.peer_id, bits, limit).await {
        Ok(theirs) if theirs.supports_extensions() => {}
        Ok(_) => return "peer does not speak the extension protocol".into(),
        Err(e) => return e.to_string(),
    }
    let rate = shared.limits.register(shared.id, ccbt_wire::Handshake::LEN as u64);
    let mut conn = XetConn::new(stream, Some(rate), MAX_FRAME);
    let caps = match tokio::time::timeout(limit, conn.negotiate_xet(shared.listen_port)).await {
        Ok(Ok(Some(caps))) => caps,
        Ok(Ok(None)) => return "peer does not offer xet_cas".into(),
        Ok(Err(reason)) => return reason,
        Err(_) => return "no extension handshake in time".into(),
    };
    lock(&phase.schedule).add_peer(key, caps.rq);
    let reason = match exchange(phase, &mut conn, key, caps, target).await {
        Ok(()) => "nothing more to ask".to_string(),
        Err(End::Violation(v)) => {
            if matches!(v, XetViolation::WrongChunkBytes { .. } | XetViolation::ChunkLength { .. }) {
                tracing::warn!(addr = %target.addr, reason = %v, "peer sent a wrong xet chunk: dropped and banned");
                lock(&phase.liars).push(target.addr.ip());
            }
            format!("dropped: {v}")
        }
        Err(End::Other(reason)) => reason,
    };
    lock(&phase.schedule).remove_peer(key);
    phase.bump();
    let _ = conn.stream.shutdown().await;
    reason
}

/// QUERYs, then chunk requests, until the schedule has nothing more for this peer.
async fn exchange(
    phase: &Phase,
    conn: &mut XetConn,
    key: PeerKey,
    caps: XetPeerCaps,
    target: Target,
) -> Result<(), End> {
    let mut fetcher = XetFetcher::new(&caps);
    let mut changed = phase.changed.subscribe();
    // A holder unchokes right after its handshake; a swarm peer once its choker lets us in.
    let mut unchoked = false;
    if !target.holder {
        conn.send(&Message::Interested).await?;
    }
    let queries = lock(&phase.schedule).queries_for(key);
    for ids in queries {
        let Ok(msg) = fetcher.query(ids.clone()) else {
            lock(&phase.schedule).on_query_refused(key, &ids);
            continue;
        };
        conn.send_xet(caps.ext_id, &msg).await?;
    }
    let mut last_answer = Instant::now();
    loop {
        while unchoked && fetcher.has_room() {
            let Some(ask) = lock(&phase.schedule).next_request(key) else { break };
            let Ok(msg) = fetcher.request_chunk(ask.id, Some(ask.len)) else {
                lock(&phase.schedule).on_refused(key, &ask.id, RejectReason::Absent);
                break;
            };
            if fetcher.outstanding() == 1 {
                last_answer = Instant::now();
            }
            conn.send_xet(caps.ext_id, &msg).await?;
        }
        if fetcher.outstanding() == 0 && !lock(&phase.schedule).has_work_for(key) {
            return Ok(());
        }
        // Only a peer that owes us an answer can time out; one that chokes us may keep us
        // waiting until the phase ends.
        let owing = fetcher.outstanding() > 0;
        let silent = async {
            if !owing {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep_until(last_answer + ANSWER_TIMEOUT).await;
        };
        tokio::select! {
            msg = conn.next() => match msg? {
                Message::Unchoke => unchoked = true,
                Message::Choke => unchoked = false,
                Message::Extended { id: OUR_XET_CAS, payload } => {
                    let msg = XetMessage::decode(&payload).map_err(|e| End::Violation(e.into()))?;
                    if is_answer(&msg) {
                        last_answer = Instant::now();
                        let event = fetcher.on_answer(msg).map_err(End::Violation)?;
                        on_event(phase, key, target, event).await;
                    } else if is_request(&msg) {
                        conn.send_xet(caps.ext_id, &refusal(&msg)).await?;
                    }
                }
                _ => {}
            },
            _ = changed.changed() => {}
            () = silent => return Err(End::Other("no answer to a chunk request".into())),
        }
    }
}

/// One verified answer: a chunk is written, a refusal or QUERY reply goes to the schedule.
async fn on_event(phase: &Phase, key: PeerKey, target: Target, event: FetchEvent) {
    match event {
        FetchEvent::Chunk { id, data } => {
            // Checked against its id (and its manifest length) by the fetcher.
            // Counted as being written under the schedule's lock, so the phase never sees every
            // chunk delivered while the last one is still on its way to the disk.
            let wanted = {
                let mut schedule = lock(&phase.schedule);
                let wanted = schedule.on_chunk(key, &id);
                if wanted {
                    phase.writing.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                wanted
            };
            if wanted {
                phase.write_chunk(id, data, target.holder).await;
                phase.writing.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            }
            phase.bump();
        }
        FetchEvent::ChunkRejected { id, reason } => {
            lock(&phase.schedule).on_refused(key, &id, reason);
            phase.bump();
        }
        FetchEvent::QueryReply { ids, have } => lock(&phase.schedule).on_query_reply(key, &ids, &have),
        FetchEvent::QueryRejected { ids, .. } => lock(&phase.schedule).on_query_refused(key, &ids),
        // Manifests are never asked here: the fetcher refuses answers to them.
        _ => {}
    }
}
