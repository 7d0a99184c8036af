//! A peer's `xet_cas` requests (docs/xet.md): manifests from the torrent's `xet layers`, chunks
//! from the torrent's verified pieces or from the session's chunk store (any torrent's files),
//! and QUERY answers, all decided by the sans-IO [`XetServer`] (choking, `rq`, anti-probing).
//!
//! Requests wait in a bounded queue and are answered in `start_output`, only when the answer
//! fits the room the pump gives: a CHUNK is up to 128 KiB, more than the pump lets one incoming
//! message queue, so answers are made as the peer reads them, never ahead. A peer that floods
//! requests gets REJECT overload. Chunk reads are synchronous reads of at most 128 KiB, like a
//! `ut_metadata` piece; each chunk is checked against its id before it is sent.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use ccbt_proto::xet::{
    is_answer, negotiate, ChunkStore, ManifestPage, ReadOutcome, ServerAction, ServerConfig, XetPeerCaps,
    XetServer,
};
use ccbt_wire::ext::xet_cas::{RejectReason, XetMessage, MAX_CHUNK_LEN};
use ccbt_wire::ext::ExtHandshake;
use ccbt_wire::Message;
use ccbt_xet::ChunkId;
use thiserror::Error;

use crate::sync::lock;
use crate::torrent::TorrentShared;

/// Requests waiting for an answer, at most this many (twice the `rq` we advertise).
const MAX_QUEUED_REQUESTS: usize = 128;

/// Why a peer's `xet_cas` traffic ended its connection.
#[derive(Debug, Error)]
pub(crate) enum XetEnd {
    #[error("undecodable xet_cas message: {0}")]
    Malformed(#[source] ccbt_wire::WireError),
    #[error("xet_cas message from a peer that did not negotiate the extension")]
    NotNegotiated,
    #[error("unsolicited xet_cas {0}: we asked this peer for nothing")]
    Unsolicited(&'static str),
}

/// One connection's `xet_cas` answering side.
pub(crate) struct XetAnswers {
    server: XetServer,
    /// What the peer's extension handshake allows (its id for `xet_cas`), once negotiated.
    caps: Option<XetPeerCaps>,
    requests: VecDeque<XetMessage>,
    ready: VecDeque<Message>,
    ready_bytes: usize,
    choked: bool,
}

/// Where answers come from: the store the server consults, plus the chunk bytes.
pub(crate) trait ChunkSource: ChunkStore {
    /// The chunk's bytes (unchecked: the server checks them against the id).
    fn read(&self, id: &ChunkId, len: u32) -> Option<Bytes>;
}

impl XetAnswers {
    /// Answers for a torrent connection, or for an xet-only one (`xet_discovery`), whose
    /// source only holds what the connection's discovery key stands for. Both count as a shared
    /// torrent in the server's terms: QUERY gets true answers from what the source holds.
    pub(crate) fn new(now: Instant) -> XetAnswers {
        XetAnswers {
            server: XetServer::new(ServerConfig::default(), true, now),
            caps: None,
            requests: VecDeque::new(),
            ready: VecDeque::new(),
            ready_bytes: 0,
            choked: true,
        }
    }

    /// The peer's extension handshake: whether it speaks our version of `xet_cas`.
    pub(crate) fn on_ext_handshake(&mut self, payload: &[u8]) {
        if let Ok(theirs) = ExtHandshake::decode(payload) {
            self.caps = negotiate(&theirs);
        }
    }

    /// One `xet_cas` message from the peer.
    pub(crate) fn on_message(&mut self, payload: &[u8]) -> Result<(), XetEnd> {
        let msg = XetMessage::decode(payload).map_err(XetEnd::Malformed)?;
        let Some(caps) = self.caps else { return Err(XetEnd::NotNegotiated) };
        if is_answer(&msg) {
            return Err(XetEnd::Unsolicited(msg.name()));
        }
        match msg {
            XetMessage::Cancel { req } => self.requests.retain(|r| request_id(r) != Some(req)),
            msg if ccbt_proto::xet::is_request(&msg) => {
                if self.requests.len() >= MAX_QUEUED_REQUESTS {
                    let (req, id) = (request_id(&msg).unwrap_or(0), request_subject(&msg));
                    self.push(caps, XetMessage::Reject { req, id, reason: RejectReason::Overload });
                } else {
                    self.requests.push_back(msg);
                }
            }
            // HAVE_MAP, HAVE_RANGE and UPDATE_HINT matter to a fetching side only.
            _ => {}
        }
        Ok(())
    }

    /// Follows our choke state for the peer (chunk requests of a choked peer are refused).
    pub(crate) fn set_choked(&mut self, choked: bool) {
        if choked != self.choked {
            self.choked = choked;
            let rejects = self.server.set_choked(choked);
            if let Some(caps) = self.caps {
                for reject in rejects {
                    self.push(caps, reject);
                }
            }
        }
    }

    /// Answers queued requests while their answers fit in `room` bytes.
    pub(crate) fn start_output(&mut self, store: &impl ChunkSource, room: usize, now: Instant) {
        let Some(caps) = self.caps else { return };
        while let Some(next) = self.requests.front() {
            if answer_size(next) + self.ready_bytes > room {
                break;
            }
            let Some(msg) = self.requests.pop_front() else { break };
            let answer = match self.server.handle(&msg, store, now) {
                ServerAction::Send(answer) => Some(answer),
                ServerAction::Read(read) => match store.read(&read.id, read.chunk_len) {
                    Some(bytes) => match self.server.complete_read(read.req, &bytes) {
                        ReadOutcome::Send(answer) | ReadOutcome::Stale(answer) => Some(answer),
                        ReadOutcome::Dropped => None,
                    },
                    None => self.server.read_failed(read.req),
                },
                ServerAction::Nothing => None,
            };
            if let Some(answer) = answer {
                self.push(caps, answer);
            }
        }
    }

    fn push(&mut self, caps: XetPeerCaps, msg: XetMessage) {
        let payload = msg.encode();
        self.ready_bytes += payload.len() + 6;
        self.ready.push_back(Message::Extended { id: caps.ext_id, payload });
    }

    /// The next answer to send.
    pub(crate) fn pop(&mut self) -> Option<Message> {
        let msg = self.ready.pop_front()?;
        if let Message::Extended { payload, .. } = &msg {
            self.ready_bytes = self.ready_bytes.saturating_sub(payload.len() + 6);
        }
        Some(msg)
    }

    /// Bytes of answers made and not yet sent.
    pub(crate) fn pending_bytes(&self) -> usize {
        self.ready_bytes
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }
}

fn request_id(msg: &XetMessage) -> Option<u32> {
    match msg {
        XetMessage::ManifestReq { req, .. }
        | XetMessage::ChunkReq { req, .. }
        | XetMessage::Query { req, .. }
        | XetMessage::Cancel { req } => Some(*req),
        _ => None,
    }
}

fn request_subject(msg: &XetMessage) -> ChunkId {
    match msg {
        XetMessage::ManifestReq { root, .. } => *root,
        XetMessage::ChunkReq { id, .. } => *id,
        _ => [0; 32],
    }
}

/// The most bytes the answer to `msg` can take on the wire.
fn answer_size(msg: &XetMessage) -> usize {
    match msg {
        XetMessage::ManifestReq { count, .. } => 64 + 36 * (*count as usize).min(2048),
        XetMessage::ChunkReq { .. } => 96 + MAX_CHUNK_LEN as usize,
        _ => 128,
    }
}

/// What this torrent can serve: chunks of its files in verified pieces, chunks the session's
/// store finds in other files, and the manifests of its `xet layers`.
pub(crate) struct TorrentChunks<'a> {
    pub(crate) shared: &'a TorrentShared,
}

impl TorrentChunks<'_> {
    /// Where chunk `id` lies in this torrent's byte stream, if all of it is verified.
    fn in_torrent(&self, id: &ChunkId) -> Option<(u64, u32)> {
        let &(offset, len) = self.shared.xet_chunks.as_ref()?.get(id)?;
        let piece_length = u64::from(self.shared.lengths.piece_length());
        let (first, last) = (offset / piece_length, (offset + u64::from(len) - 1) / piece_length);
        let inner = lock(&self.shared.inner);
        let have = inner.swarm.have();
        (first..=last).all(|p| u32::try_from(p).is_ok_and(|p| have.get(p))).then_some((offset, len))
    }
}

impl ChunkSource for TorrentChunks<'_> {
    fn read(&self, id: &ChunkId, len: u32) -> Option<Bytes> {
        if let Some((offset, _)) = self.in_torrent(id) {
            return self.shared.storage.read(offset, len as usize).ok();
        }
        let store = self.shared.xet.as_ref()?;
        store.read_chunk(id).ok().flatten().map(Bytes::from)
    }
}

impl ChunkStore for TorrentChunks<'_> {
    fn chunk_len(&self, id: &ChunkId) -> Option<u32> {
        if let Some((_, len)) = self.in_torrent(id) {
            return Some(len);
        }
        let store = self.shared.xet.as_ref()?;
        store.lookup(id).ok()?.first().map(|location| location.len)
    }

    fn manifest_page(&self, root: &ChunkId, start: u32, count: u32) -> Option<ManifestPage> {
        let chunks = self.shared.torrent.xet_layers.get(root)?;
        let total = u32::try_from(chunks.len()).ok()?;
        let from = (start as usize).min(chunks.len());
        let to = from.saturating_add(count as usize).min(chunks.len());
        Some(ManifestPage { total, entries: chunks[from..to].to_vec() })
    }
}
