//! Which missing chunks to ask of which peer (docs/xet.md, "Fetching chunks from peers").
//!
//! After the local fill, the pieces a Xet torrent could fill only partly from its chunk store
//! lack a few chunks. The engine connects to peers that speak `xet_cas` (the torrent's swarm,
//! and holders found under discovery keys) with one [`XetFetcher`] each, which checks every
//! chunk against its id. This schedule decides, per peer: first QUERY which of the wanted
//! chunks it holds (at most [`QUERY_IDS_PER_PEER`] ids, within the answerer's QUERY budget),
//! then CHUNK_REQ the ones it said it holds, each chunk asked of one peer at a time and at most
//! [`CHUNKS_PER_PEER`] (and the peer's `rq`) in flight per peer. A REJECT, a peer leaving or a
//! QUERY saying "no" moves the chunk to another peer; an overloaded peer gets fewer requests.
//!
//! Memory: one entry per wanted chunk (the caller bounds them by the pieces it works on), and
//! per connected peer what it said about them.
//!
//! [`XetFetcher`]: super::XetFetcher

use std::collections::{BTreeMap, BTreeSet};

use ccbt_wire::ext::xet_cas::{RejectReason, MAX_QUERY_IDS};
use ccbt_xet::ChunkId;

use crate::PeerKey;

/// Chunks asked of one peer at once (and never more than its `rq`): 16 whole chunks are 2 MiB
/// in flight, enough for a loopback or LAN link, and a slow peer holds up only that many.
pub const CHUNKS_PER_PEER: u32 = 16;

/// Ids QUERYed of one peer: two full QUERYs, the burst of ccbt's QUERY budget (512 ids), so
/// they are never refused for overload. Chunks beyond them are asked without a QUERY.
pub const QUERY_IDS_PER_PEER: usize = 2 * MAX_QUERY_IDS as usize;

/// Overloaded answers (REJECT 3) a peer may give before it is not asked any more.
const MAX_OVERLOADS: u32 = 8;

/// A chunk to ask a peer for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkAsk {
    pub id: ChunkId,
    /// Its length from the manifest: the answer must have exactly these bytes.
    pub len: u32,
}

#[derive(Debug)]
struct Wanted {
    len: u32,
    /// The peer asked for it now, if any.
    asking: Option<PeerKey>,
    /// Peers that lack it, refused it, or left while asked: never asked for it again.
    tried: BTreeSet<PeerKey>,
}

#[derive(Debug, Default)]
struct Peer {
    /// Chunks asked now.
    in_flight: u32,
    /// Most chunks in flight (lowered when the peer says it is overloaded).
    limit: u32,
    /// Ids it said it holds.
    holds: BTreeSet<ChunkId>,
    /// Ids covered by a QUERY sent to it (answered or not).
    queried: BTreeSet<ChunkId>,
    /// QUERYs sent and not answered.
    queries_out: u32,
    /// Whether its QUERYs were planned (only once per peer).
    query_planned: bool,
    overloads: u32,
}

/// The chunks still missing and who is being asked for them.
#[derive(Debug, Default)]
pub struct ChunkSchedule {
    wanted: BTreeMap<ChunkId, Wanted>,
    peers: BTreeMap<PeerKey, Peer>,
    delivered: usize,
}

impl ChunkSchedule {
    /// A schedule for the chunks `(id, length)` to fetch (duplicates count once).
    pub fn new(chunks: impl IntoIterator<Item = (ChunkId, u32)>) -> ChunkSchedule {
        let wanted = chunks
            .into_iter()
            .map(|(id, len)| (id, Wanted { len, asking: None, tried: BTreeSet::new() }))
            .collect();
        ChunkSchedule { wanted, ..ChunkSchedule::default() }
    }

    /// A peer that negotiated `xet_cas` joined; `rq` is the requests it accepts outstanding.
    pub fn add_peer(&mut self, key: PeerKey, rq: u32) {
        let limit = rq.clamp(1, CHUNKS_PER_PEER);
        self.peers.insert(key, Peer { limit, ..Peer::default() });
    }

    /// The peer left or was dropped: the chunks asked of it go to others, and it is not asked
    /// for them again.
    pub fn remove_peer(&mut self, key: PeerKey) {
        self.peers.remove(&key);
        for wanted in self.wanted.values_mut() {
            if wanted.asking == Some(key) {
                wanted.asking = None;
                wanted.tried.insert(key);
            }
        }
    }

    /// The QUERYs to send `key` now (each of at most 256 ids), once per peer: the wanted ids it
    /// was not tried for, at most [`QUERY_IDS_PER_PEER`]. Empty when there is nothing to ask.
    pub fn queries_for(&mut self, key: PeerKey) -> Vec<Vec<ChunkId>> {
        let Some(peer) = self.peers.get_mut(&key) else { return Vec::new() };
        if peer.query_planned {
            return Vec::new();
        }
        peer.query_planned = true;
        let ids: Vec<ChunkId> = self
            .wanted
            .iter()
            .filter(|(_, w)| !w.tried.contains(&key))
            .map(|(id, _)| *id)
            .take(QUERY_IDS_PER_PEER)
            .collect();
        peer.queried.extend(ids.iter().copied());
        let queries: Vec<Vec<ChunkId>> = ids.chunks(usize::from(MAX_QUERY_IDS)).map(<[_]>::to_vec).collect();
        peer.queries_out = queries.len() as u32;
        queries
    }

    /// `key` answered a QUERY: which of `ids` it holds. Those it lacks are not asked of it.
    pub fn on_query_reply(&mut self, key: PeerKey, ids: &[ChunkId], have: &[bool]) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        peer.queries_out = peer.queries_out.saturating_sub(1);
        for (id, &held) in ids.iter().zip(have) {
            if held {
                peer.holds.insert(*id);
            } else if let Some(w) = self.wanted.get_mut(id) {
                w.tried.insert(key);
            }
        }
    }

    /// `key` refused a QUERY (overload): its ids may still be asked of it directly.
    pub fn on_query_refused(&mut self, key: PeerKey, ids: &[ChunkId]) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        peer.queries_out = peer.queries_out.saturating_sub(1);
        for id in ids {
            peer.queried.remove(id);
        }
    }

    /// The next chunk to ask `key` for, if it has room: one it said it holds, or (once its
    /// QUERYs are answered) one no QUERY covered; never one asked of another peer now, or one
    /// this peer lacks or refused.
    pub fn next_request(&mut self, key: PeerKey) -> Option<ChunkAsk> {
        let peer = self.peers.get(&key)?;
        if peer.in_flight >= peer.limit {
            return None;
        }
        let unqueried_ok = peer.queries_out == 0;
        let askable = |id: &ChunkId, w: &Wanted| {
            w.asking.is_none()
                && !w.tried.contains(&key)
                && (peer.holds.contains(id) || (unqueried_ok && !peer.queried.contains(id)))
        };
        let (id, wanted) = self.wanted.iter_mut().find(|(id, w)| askable(id, w))?;
        wanted.asking = Some(key);
        let ask = ChunkAsk { id: *id, len: wanted.len };
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.in_flight += 1;
        }
        Some(ask)
    }

    /// `key` delivered chunk `id`, verified by its fetcher. True when the chunk was wanted from
    /// this peer: the caller writes it then (an answer for a chunk no longer asked of it is
    /// dropped).
    pub fn on_chunk(&mut self, key: PeerKey, id: &ChunkId) -> bool {
        match self.wanted.get(id) {
            Some(w) if w.asking == Some(key) => {
                self.wanted.remove(id);
                self.delivered += 1;
                self.answered(key);
                true
            }
            _ => false,
        }
    }

    /// `key` refused chunk `id`: absent, choked or malformed mean another peer is asked;
    /// overload means this peer may be asked again later, with fewer requests in flight.
    pub fn on_refused(&mut self, key: PeerKey, id: &ChunkId, reason: RejectReason) {
        if self.wanted.get(id).map_or(true, |w| w.asking != Some(key)) {
            return;
        }
        let in_flight = self.answered(key);
        let retry = match self.peers.get_mut(&key) {
            Some(peer) if reason == RejectReason::Overload && peer.overloads < MAX_OVERLOADS => {
                peer.overloads += 1;
                peer.limit = in_flight.max(1);
                true
            }
            _ => false,
        };
        if let Some(w) = self.wanted.get_mut(id) {
            w.asking = None;
            if !retry {
                w.tried.insert(key);
            }
        }
    }

    /// One answer from `key` arrived: a slot frees. Returns what is still in flight there.
    fn answered(&mut self, key: PeerKey) -> u32 {
        self.peers.get_mut(&key).map_or(0, |p| {
            p.in_flight = p.in_flight.saturating_sub(1);
            p.in_flight
        })
    }

    /// Whether `key` is asked for something now or may be later: a QUERY or chunk in flight,
    /// or a wanted chunk it was not tried for (one it holds, or one no QUERY covered). A peer
    /// with no work can go.
    pub fn has_work_for(&self, key: PeerKey) -> bool {
        let Some(peer) = self.peers.get(&key) else { return false };
        if peer.in_flight > 0 || peer.queries_out > 0 {
            return true;
        }
        self.wanted.iter().any(|(id, w)| {
            !w.tried.contains(&key)
                && (!peer.query_planned || peer.holds.contains(id) || !peer.queried.contains(id))
        })
    }

    /// Whether every chunk was delivered.
    pub fn is_done(&self) -> bool {
        self.wanted.is_empty()
    }

    /// `(delivered, wanted at the start)`, for logs.
    pub fn progress(&self) -> (usize, usize) {
        (self.delivered, self.delivered + self.wanted.len())
    }
}
