//! Answering one peer's `xet_cas` requests from our chunk store.
//!
//! The rules (docs/xet.md): a request is answered by exactly one CHUNK, MANIFEST, QUERY_REPLY
//! or REJECT, never by silence. CHUNK_REQ obeys the BEP 3 choke state, checked before the store
//! so a choked peer learns nothing about what we hold, and at most `rq` reads are outstanding.
//! QUERY is the cheap way to probe what we hold, so it is answered truthfully only to peers we
//! have reason to trust (they share a torrent with us, or sent us data), and within a per-peer
//! budget of ids per minute; everyone else gets a reply with every bit clear, which they cannot
//! tell from "holds none of these".
//!
//! Memory per peer: one entry per outstanding read, at most `max_outstanding`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_wire::ext::xet_cas::{RejectReason, XetMessage, MAX_MANIFEST_ENTRIES};
use ccbt_xet::{chunk_id, ChunkId, ChunkRef};

use super::DEFAULT_RQ;

/// QUERY ids a peer may ask per minute before it is told to slow down (REJECT overload).
/// Sixteen full QUERYs a minute: plenty for looking up a changed file's missing chunks.
pub const DEFAULT_QUERY_IDS_PER_MINUTE: u32 = 4096;

/// QUERY ids a peer may ask at once after being idle: two full QUERYs.
pub const DEFAULT_QUERY_BURST: u32 = 512;

/// What the server needs from the chunk store (the engine's chunk index).
pub trait ChunkStore {
    /// The length of chunk `id`, if we hold it and can serve it.
    fn chunk_len(&self, id: &ChunkId) -> Option<u32>;
    /// The manifest entries `start..start + count` of file `root` (fewer at its end) and its
    /// total entry count, if we hold that file's manifest.
    fn manifest_page(&self, root: &ChunkId, start: u32, count: u32) -> Option<ManifestPage>;
}

/// A page of a manifest as the store gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestPage {
    /// Entries in the whole manifest.
    pub total: u32,
    /// The entries asked for, from the requested start.
    pub entries: Vec<ChunkRef>,
}

/// Limits of one peer's requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Chunk reads outstanding at once; more are refused with REJECT overload. What we
    /// advertise as `rq` in our handshake.
    pub max_outstanding: u32,
    /// QUERY ids answered per minute (the token bucket's refill).
    pub query_ids_per_minute: u32,
    /// QUERY ids answered at once (the bucket's depth, at least one full QUERY).
    pub query_burst: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_outstanding: DEFAULT_RQ,
            query_ids_per_minute: DEFAULT_QUERY_IDS_PER_MINUTE,
            query_burst: DEFAULT_QUERY_BURST,
        }
    }
}

/// A chunk read the engine must do for an accepted CHUNK_REQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRequest {
    /// The peer's request id, to hand back to [`XetServer::complete_read`].
    pub req: u32,
    /// The chunk to read, whole: it is verified against its id before any of it is sent.
    pub id: ChunkId,
    /// Its length as the store gave it.
    pub chunk_len: u32,
    /// The part to send: `off..off + len` of the chunk (`len` is never 0 here).
    pub off: u32,
    pub len: u32,
}

/// What to do about one incoming message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAction {
    /// Send this answer (MANIFEST, QUERY_REPLY or REJECT).
    Send(XetMessage),
    /// Read this chunk from the store, then call [`XetServer::complete_read`] (or
    /// [`XetServer::read_failed`]).
    Read(ReadRequest),
    /// Nothing to send (a CANCEL, or a message that is not a request).
    Nothing,
}

/// What to do with a chunk the engine read for a [`ReadRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Send this CHUNK.
    Send(XetMessage),
    /// The request was cancelled or dropped by a choke meanwhile: send nothing.
    Dropped,
    /// The bytes read are not the chunk: our store is stale (a file changed behind our back).
    /// Send the REJECT absent carried here, and re-check the store's entries for the chunk.
    Stale(XetMessage),
}

/// Answers one peer's `xet_cas` requests.
#[derive(Debug)]
pub struct XetServer {
    config: ServerConfig,
    choked: bool,
    /// The peer shares a torrent with us, or sent us data: QUERY gets true answers.
    trusted: bool,
    /// Accepted CHUNK_REQs whose read has not completed, by request id.
    reads: BTreeMap<u32, ReadRequest>,
    queries: QueryBucket,
}

impl XetServer {
    /// A server for a new connection, which starts choked (BEP 3). `shares_torrent`: the
    /// connection is for a torrent we both have, which makes QUERY answers trusted from the start.
    pub fn new(config: ServerConfig, shares_torrent: bool, now: Instant) -> XetServer {
        XetServer {
            config,
            choked: true,
            trusted: shares_torrent,
            reads: BTreeMap::new(),
            queries: QueryBucket::new(config.query_ids_per_minute, config.query_burst.max(256), now),
        }
    }

    /// The peer sent us data we verified (a piece or a chunk): its QUERYs get true answers.
    pub fn note_received_data(&mut self) {
        self.trusted = true;
    }

    /// Whether QUERYs get true answers.
    pub fn is_trusted(&self) -> bool {
        self.trusted
    }

    /// Chunk reads accepted and not completed.
    pub fn outstanding(&self) -> usize {
        self.reads.len()
    }

    /// Follows our BEP 3 choke state for this peer. Choking refuses every outstanding read:
    /// the REJECT choked messages returned are to be sent, so the peer asks elsewhere at once.
    pub fn set_choked(&mut self, choked: bool) -> Vec<XetMessage> {
        self.choked = choked;
        if !choked {
            return Vec::new();
        }
        std::mem::take(&mut self.reads)
            .into_values()
            .map(|r| reject(r.req, r.id, RejectReason::Choked))
            .collect()
    }

    /// Turns one incoming message into what to do. Only requests do anything (see
    /// [`super::is_request`]); other messages give [`ServerAction::Nothing`].
    pub fn handle(&mut self, msg: &XetMessage, store: &impl ChunkStore, now: Instant) -> ServerAction {
        match msg {
            XetMessage::ManifestReq { req, root, start, count } => {
                ServerAction::Send(manifest(store, *req, root, *start, *count))
            }
            XetMessage::ChunkReq { req, id, off, len } => self.chunk_request(store, *req, id, *off, *len),
            XetMessage::Query { req, ids } => ServerAction::Send(self.query(store, *req, ids, now)),
            XetMessage::Cancel { req } => {
                self.reads.remove(req);
                ServerAction::Nothing
            }
            _ => ServerAction::Nothing,
        }
    }

    fn chunk_request(
        &mut self,
        store: &impl ChunkStore,
        req: u32,
        id: &ChunkId,
        off: u32,
        len: u32,
    ) -> ServerAction {
        // Order matters: a choked or flooding peer is refused before the store is consulted,
        // so the answer says nothing about what we hold.
        let refuse = |reason| ServerAction::Send(reject(req, *id, reason));
        if self.choked {
            return refuse(RejectReason::Choked);
        }
        if self.reads.contains_key(&req) {
            // A request id reused while its answer is pending would make CANCEL ambiguous.
            return refuse(RejectReason::Malformed);
        }
        if self.reads.len() >= self.config.max_outstanding as usize {
            return refuse(RejectReason::Overload);
        }
        let Some(chunk_len) = store.chunk_len(id) else {
            return refuse(RejectReason::Absent);
        };
        let (off, len) = if len == 0 { (0, chunk_len) } else { (off, len) };
        if chunk_len == 0 || u64::from(off) + u64::from(len) > u64::from(chunk_len) {
            return refuse(RejectReason::Malformed);
        }
        let read = ReadRequest { req, id: *id, chunk_len, off, len };
        self.reads.insert(req, read);
        ServerAction::Read(read)
    }

    /// The engine read `chunk` (the whole chunk) for request `req`: the CHUNK to send, once the
    /// bytes are checked against the chunk's id.
    pub fn complete_read(&mut self, req: u32, chunk: &Bytes) -> ReadOutcome {
        let Some(read) = self.reads.remove(&req) else {
            return ReadOutcome::Dropped;
        };
        if chunk.len() != read.chunk_len as usize || chunk_id(chunk) != read.id {
            return ReadOutcome::Stale(reject(req, read.id, RejectReason::Absent));
        }
        let (off, len) = (read.off as usize, read.len as usize);
        ReadOutcome::Send(XetMessage::Chunk {
            req,
            id: read.id,
            off: read.off,
            data: chunk.slice(off..off + len),
        })
    }

    /// The engine could not read the chunk for request `req` (gone from disk): the REJECT
    /// absent to send, unless the request was cancelled meanwhile.
    pub fn read_failed(&mut self, req: u32) -> Option<XetMessage> {
        let read = self.reads.remove(&req)?;
        Some(reject(req, read.id, RejectReason::Absent))
    }

    fn query(&mut self, store: &impl ChunkStore, req: u32, ids: &[ChunkId], now: Instant) -> XetMessage {
        if !self.queries.take(ids.len() as u32, now) {
            return reject(req, [0; 32], RejectReason::Overload);
        }
        let have = if self.trusted {
            ids.iter().map(|id| store.chunk_len(id).is_some()).collect()
        } else {
            vec![false; ids.len()]
        };
        XetMessage::QueryReply { req, have }
    }
}

fn reject(req: u32, id: ChunkId, reason: RejectReason) -> XetMessage {
    XetMessage::Reject { req, id, reason }
}

/// The MANIFEST answering a MANIFEST_REQ, or REJECT absent / malformed.
fn manifest(store: &impl ChunkStore, req: u32, root: &ChunkId, start: u32, count: u32) -> XetMessage {
    let count = count.min(MAX_MANIFEST_ENTRIES);
    let Some(page) = store.manifest_page(root, start, count) else {
        return reject(req, *root, RejectReason::Absent);
    };
    // A start past the end is the asker's mistake; a start at the end of an empty manifest is
    // the one way to learn that a file is empty.
    if start > page.total || (start == page.total && page.total != 0) {
        return reject(req, *root, RejectReason::Malformed);
    }
    let mut entries = page.entries;
    // Keep the page consistent whatever the store returned.
    let room = (page.total - start).min(count) as usize;
    entries.truncate(room);
    XetMessage::Manifest { req, root: *root, total: page.total, start, entries }
}

/// A token bucket of QUERY ids, in units of 1/60,000 id so a per-minute rate refills exactly
/// per millisecond.
#[derive(Debug)]
struct QueryBucket {
    per_minute: u64,
    depth: u64,
    tokens: u64,
    last: Instant,
}

const UNIT: u64 = 60_000;

impl QueryBucket {
    fn new(per_minute: u32, burst: u32, now: Instant) -> QueryBucket {
        let depth = u64::from(burst) * UNIT;
        QueryBucket { per_minute: u64::from(per_minute), depth, tokens: depth, last: now }
    }

    /// Takes `ids` tokens if there are that many (refilled up to `now`).
    fn take(&mut self, ids: u32, now: Instant) -> bool {
        let ms = now.saturating_duration_since(self.last).as_millis();
        let ms = u64::try_from(ms).unwrap_or(u64::MAX);
        self.tokens = self.tokens.saturating_add(ms.saturating_mul(self.per_minute)).min(self.depth);
        // Move the clock only by whole milliseconds credited, so sub-millisecond calls do not
        // lose their refill.
        self.last = self.last.checked_add(Duration::from_millis(ms)).unwrap_or(now);
        let cost = u64::from(ids) * UNIT;
        if self.tokens < cost {
            return false;
        }
        self.tokens -= cost;
        true
    }
}
