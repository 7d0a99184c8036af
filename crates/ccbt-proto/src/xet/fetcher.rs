//! Asking one peer for chunks, manifests and QUERYs over `xet_cas`, and checking its answers.
//!
//! Every request gets a fresh id (never reused on the connection) and the peer answers each
//! with exactly one message. An answer to nothing we asked, or naming another chunk or root
//! than its request, is a protocol violation; so are wrong bytes for a chunk id and a manifest
//! that does not hash to its root. Nothing is handed out unverified: a chunk only after
//! `chunk_id(bytes) == id`, a manifest only whole and after `file_hash(entries) == root`.
//!
//! Memory per peer: one entry per outstanding request (at most the peer's `rq`), the entries of
//! manifests being fetched (bounded by what the caller allows per file), and the last
//! [`REMEMBERED_CANCELS`] cancelled request ids.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;
use ccbt_wire::ext::xet_cas::{RejectReason, XetMessage, MAX_CHUNK_LEN, MAX_MANIFEST_ENTRIES, MAX_QUERY_IDS};
use ccbt_wire::WireError;
use ccbt_xet::consts::MIN_CHUNK_SIZE;
use ccbt_xet::{chunk_id, file_hash, ChunkId, ChunkRef};
use thiserror::Error;

use super::{hex, XetPeerCaps};

/// Cancelled request ids remembered, so an answer that crossed our CANCEL is ignored rather
/// than taken for an unsolicited one. Four pipelines' worth.
pub const REMEMBERED_CANCELS: usize = 4 * super::MAX_RQ as usize;

/// Most manifest entries a file of `size` bytes can have: every chunk but the last is at least
/// 8 KiB. The bound to pass to [`XetFetcher::request_manifest`] when the size is known.
pub fn max_manifest_entries(size: u64) -> u32 {
    u32::try_from(size.div_ceil(MIN_CHUNK_SIZE as u64)).unwrap_or(u32::MAX)
}

/// The peer broke the protocol: penalise it and close the connection.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum XetViolation {
    /// A message that does not decode (truncated, over a cap, trailing bytes, ...).
    #[error(transparent)]
    Malformed(#[from] WireError),
    /// An answer to a request id we never sent or that was already answered.
    #[error("unsolicited xet_cas {msg} for request {req}")]
    Unsolicited { msg: &'static str, req: u32 },
    /// An answer of the wrong kind, or naming another chunk, root, offset or page than the
    /// request it answers.
    #[error("xet_cas {msg} does not match request {req} ({what})")]
    Mismatch { msg: &'static str, req: u32, what: &'static str },
    /// Bytes that do not hash to the chunk id they were sent for.
    #[error("chunk {id} has wrong bytes")]
    WrongChunkBytes { id: String },
    /// A chunk of another length than its manifest entry says.
    #[error("chunk {id} has {got} bytes, its manifest says {expected}")]
    ChunkLength { id: String, expected: u32, got: usize },
    /// A manifest page that cannot be part of the manifest asked for.
    #[error("manifest of {root} is inconsistent: {what}")]
    BadManifestPage { root: String, what: &'static str },
    /// A whole manifest whose entries do not hash to its root (or sum to the file's size).
    #[error("manifest does not match its root {root}")]
    ManifestMismatch { root: String },
    /// A second HAVE_MAP for the same file.
    #[error("second HAVE_MAP for {root}")]
    RepeatedHaveMap { root: String },
    /// A HAVE_MAP whose chunk count is not the file's (its manifest has `expected` entries).
    #[error("HAVE_MAP for {root} covers {got} chunks, the file has {expected}")]
    HaveMapSize { root: String, got: u32, expected: u32 },
    /// A HAVE_RANGE running past the file's last chunk.
    #[error("HAVE_RANGE for {root} runs to chunk {end}, the file has {n}")]
    HaveOutOfRange { root: String, end: u64, n: u32 },
    /// A QUERY_REPLY with another number of answers than ids asked.
    #[error("QUERY_REPLY for request {req} has {got} answers for {asked} ids")]
    QueryReplyCount { req: u32, asked: usize, got: usize },
}

/// Requests the caller may not make (its own mistakes, not the peer's).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchError {
    /// As many requests outstanding as the peer's `rq` allows: wait for answers.
    #[error("{0} xet_cas requests are outstanding, the peer's limit")]
    PipelineFull(u32),
    /// The chunk or manifest is already being asked of this peer.
    #[error("already requested from this peer")]
    Duplicate,
    /// A chunk length outside 1..=128 KiB.
    #[error("chunk length {0} is outside 1..=131072")]
    BadLength(u32),
    /// A QUERY of no ids, or more than 256.
    #[error("a QUERY asks 1..=256 ids, not {0}")]
    BadQuery(usize),
}

/// What became of an answer that broke no rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchEvent {
    /// A chunk, verified against its id.
    Chunk { id: ChunkId, data: Bytes },
    /// The peer refused the chunk (benign): ask someone else (absent, choked) or later (overload).
    ChunkRejected { id: ChunkId, reason: RejectReason },
    /// A page of a manifest was accepted; send this MANIFEST_REQ for the next one.
    ManifestProgress { next: XetMessage },
    /// A whole manifest, verified against its root (and the file's size, when given).
    Manifest { root: ChunkId, entries: Vec<ChunkRef> },
    /// The peer refused the manifest (benign): ask someone else.
    ManifestRejected { root: ChunkId, reason: RejectReason },
    /// Which of the ids a QUERY asked the peer says it holds, in order.
    QueryReply { ids: Vec<ChunkId>, have: Vec<bool> },
    /// The peer refused a QUERY (overload: too many ids lately).
    QueryRejected { ids: Vec<ChunkId>, reason: RejectReason },
    /// An answer to a request we cancelled: ignored.
    Late,
}

#[derive(Debug)]
struct ManifestFetch {
    root: ChunkId,
    max_entries: u32,
    file_size: Option<u64>,
    total: Option<u32>,
    entries: Vec<ChunkRef>,
    /// Entries the outstanding MANIFEST_REQ asked for.
    asked: u32,
}

#[derive(Debug)]
enum Pending {
    Chunk { id: ChunkId, len: Option<u32> },
    Manifest(ManifestFetch),
    Query(Vec<ChunkId>),
}

/// Asks one peer for chunks, manifests and QUERYs.
#[derive(Debug)]
pub struct XetFetcher {
    rq: u32,
    next_req: u32,
    pending: BTreeMap<u32, Pending>,
    cancelled: VecDeque<u32>,
}

impl XetFetcher {
    /// A fetcher for a peer that negotiated the extension.
    pub fn new(caps: &XetPeerCaps) -> XetFetcher {
        XetFetcher { rq: caps.rq.max(1), next_req: 0, pending: BTreeMap::new(), cancelled: VecDeque::new() }
    }

    /// Requests outstanding at the peer.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// Whether another request may be sent now.
    pub fn has_room(&self) -> bool {
        self.pending.len() < self.rq as usize
    }

    /// The chunks asked of this peer and not answered yet (to ask elsewhere when it goes).
    pub fn pending_chunks(&self) -> Vec<ChunkId> {
        self.pending
            .values()
            .filter_map(|p| if let Pending::Chunk { id, .. } = p { Some(*id) } else { None })
            .collect()
    }

    fn issue(&mut self, pending: Pending) -> Result<u32, FetchError> {
        if !self.has_room() {
            return Err(FetchError::PipelineFull(self.rq));
        }
        let req = self.next_req;
        self.next_req = self.next_req.wrapping_add(1);
        self.pending.insert(req, pending);
        Ok(req)
    }

    /// The CHUNK_REQ for the whole chunk `id`; `len` is its length when a manifest gave it (the
    /// answer must then have exactly that many bytes).
    pub fn request_chunk(&mut self, id: ChunkId, len: Option<u32>) -> Result<XetMessage, FetchError> {
        if let Some(len) = len.filter(|&l| l == 0 || l > MAX_CHUNK_LEN) {
            return Err(FetchError::BadLength(len));
        }
        if self.pending.values().any(|p| matches!(p, Pending::Chunk { id: other, .. } if *other == id)) {
            return Err(FetchError::Duplicate);
        }
        let req = self.issue(Pending::Chunk { id, len })?;
        Ok(XetMessage::ChunkReq { req, id, off: 0, len: 0 })
    }

    /// The first MANIFEST_REQ of a fetch of file `root`'s manifest, of at most `max_entries`
    /// entries (see [`max_manifest_entries`]); `file_size`, when known, is checked against the
    /// sum of the entries' lengths.
    pub fn request_manifest(
        &mut self,
        root: ChunkId,
        max_entries: u32,
        file_size: Option<u64>,
    ) -> Result<XetMessage, FetchError> {
        if self.pending.values().any(|p| matches!(p, Pending::Manifest(m) if m.root == root)) {
            return Err(FetchError::Duplicate);
        }
        let asked = max_entries.clamp(1, MAX_MANIFEST_ENTRIES);
        let fetch = ManifestFetch { root, max_entries, file_size, total: None, entries: Vec::new(), asked };
        let req = self.issue(Pending::Manifest(fetch))?;
        Ok(XetMessage::ManifestReq { req, root, start: 0, count: asked })
    }

    /// The QUERY asking whether the peer holds `ids` (1..=256 of them).
    pub fn query(&mut self, ids: Vec<ChunkId>) -> Result<XetMessage, FetchError> {
        if ids.is_empty() || ids.len() > usize::from(MAX_QUERY_IDS) {
            return Err(FetchError::BadQuery(ids.len()));
        }
        let req = self.issue(Pending::Query(ids.clone()))?;
        Ok(XetMessage::Query { req, ids })
    }

    /// Stops asking for chunk `id`: the CANCEL to send, if it was outstanding.
    pub fn cancel_chunk(&mut self, id: &ChunkId) -> Option<XetMessage> {
        let req = self.pending.iter().find_map(|(&req, p)| match p {
            Pending::Chunk { id: other, .. } if other == id => Some(req),
            _ => None,
        })?;
        Some(self.cancel(req))
    }

    /// Stops fetching the manifest of `root`: the CANCEL to send, if it was being fetched.
    pub fn cancel_manifest(&mut self, root: &ChunkId) -> Option<XetMessage> {
        let req = self.pending.iter().find_map(|(&req, p)| match p {
            Pending::Manifest(m) if m.root == *root => Some(req),
            _ => None,
        })?;
        Some(self.cancel(req))
    }

    fn cancel(&mut self, req: u32) -> XetMessage {
        self.pending.remove(&req);
        if self.cancelled.len() == REMEMBERED_CANCELS {
            self.cancelled.pop_front();
        }
        self.cancelled.push_back(req);
        XetMessage::Cancel { req }
    }

    /// Checks an answer from the peer (see [`super::is_answer`]) against its request.
    pub fn on_answer(&mut self, msg: XetMessage) -> Result<FetchEvent, XetViolation> {
        let (req, name) = match &msg {
            XetMessage::Chunk { req, .. }
            | XetMessage::Manifest { req, .. }
            | XetMessage::QueryReply { req, .. }
            | XetMessage::Reject { req, .. } => (*req, msg.name()),
            other => return Err(XetViolation::Unsolicited { msg: other.name(), req: 0 }),
        };
        let Some(pending) = self.pending.remove(&req) else {
            if self.cancelled.contains(&req) {
                return Ok(FetchEvent::Late);
            }
            return Err(XetViolation::Unsolicited { msg: name, req });
        };
        match (pending, msg) {
            (pending, XetMessage::Reject { id, reason, .. }) => rejected(pending, req, id, reason),
            (Pending::Chunk { id: want, len }, XetMessage::Chunk { id, off, data, .. }) => {
                check_chunk(req, want, len, id, off, data)
            }
            (Pending::Manifest(fetch), XetMessage::Manifest { root, total, start, entries, .. }) => {
                self.manifest_page(req, fetch, root, total, start, entries)
            }
            (Pending::Query(ids), XetMessage::QueryReply { have, .. }) => {
                if have.len() != ids.len() {
                    return Err(XetViolation::QueryReplyCount { req, asked: ids.len(), got: have.len() });
                }
                Ok(FetchEvent::QueryReply { ids, have })
            }
            (_, msg) => Err(XetViolation::Mismatch { msg: msg.name(), req, what: "answer type" }),
        }
    }

    fn manifest_page(
        &mut self,
        req: u32,
        mut fetch: ManifestFetch,
        root: ChunkId,
        total: u32,
        start: u32,
        entries: Vec<ChunkRef>,
    ) -> Result<FetchEvent, XetViolation> {
        let want = fetch.root;
        let bad = move |what| XetViolation::BadManifestPage { root: hex(&want), what };
        if root != fetch.root {
            return Err(XetViolation::Mismatch { msg: "MANIFEST", req, what: "root" });
        }
        if start as usize != fetch.entries.len() {
            return Err(XetViolation::Mismatch { msg: "MANIFEST", req, what: "start" });
        }
        if fetch.total.is_some_and(|t| t != total) {
            return Err(bad("total changed between pages"));
        }
        if total > fetch.max_entries {
            return Err(bad("more entries than the file can have"));
        }
        if entries.len() > fetch.asked as usize {
            return Err(bad("more entries than asked"));
        }
        if entries.is_empty() && start < total {
            return Err(bad("empty page before the end"));
        }
        fetch.total = Some(total);
        fetch.entries.extend(entries);
        if fetch.entries.len() < total as usize {
            let next_start = fetch.entries.len() as u32;
            fetch.asked = (total - next_start).min(MAX_MANIFEST_ENTRIES);
            let count = fetch.asked;
            // The next page is a new request, in the slot the answered one freed.
            let req = self.issue(Pending::Manifest(fetch)).map_err(|_| bad("no request slot"))?;
            return Ok(FetchEvent::ManifestProgress {
                next: XetMessage::ManifestReq { req, root: want, start: next_start, count },
            });
        }
        let size: u64 = fetch.entries.iter().map(|e| u64::from(e.len)).sum();
        if file_hash(&fetch.entries) != fetch.root || fetch.file_size.is_some_and(|s| s != size) {
            return Err(XetViolation::ManifestMismatch { root: hex(&fetch.root) });
        }
        Ok(FetchEvent::Manifest { root: fetch.root, entries: fetch.entries })
    }
}

/// A REJECT of a pending request: benign, once it names what the request asked for.
fn rejected(
    pending: Pending,
    req: u32,
    id: ChunkId,
    reason: RejectReason,
) -> Result<FetchEvent, XetViolation> {
    let mismatch = || XetViolation::Mismatch { msg: "REJECT", req, what: "id" };
    match pending {
        Pending::Chunk { id: want, .. } if want == id => Ok(FetchEvent::ChunkRejected { id, reason }),
        Pending::Manifest(fetch) if fetch.root == id => Ok(FetchEvent::ManifestRejected { root: id, reason }),
        Pending::Query(ids) if id == [0; 32] => Ok(FetchEvent::QueryRejected { ids, reason }),
        _ => Err(mismatch()),
    }
}

/// A CHUNK answering a whole-chunk request for `want`, verified.
fn check_chunk(
    req: u32,
    want: ChunkId,
    len: Option<u32>,
    id: ChunkId,
    off: u32,
    data: Bytes,
) -> Result<FetchEvent, XetViolation> {
    if id != want {
        return Err(XetViolation::Mismatch { msg: "CHUNK", req, what: "id" });
    }
    if off != 0 {
        return Err(XetViolation::Mismatch { msg: "CHUNK", req, what: "offset" });
    }
    if let Some(expected) = len.filter(|&l| l as usize != data.len()) {
        return Err(XetViolation::ChunkLength { id: hex(&id), expected, got: data.len() });
    }
    if chunk_id(&data) != id {
        return Err(XetViolation::WrongChunkBytes { id: hex(&id) });
    }
    Ok(FetchEvent::Chunk { id, data })
}
