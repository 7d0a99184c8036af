//! BEP 52 `hash request`s from a peer: answered from the torrent's piece layers by the
//! sans-IO [`HashServer`], queued here until the pump sends them.
//!
//! Only a connection on which both sides set the v2 bit speaks these messages (libtorrent drops
//! a peer that sends them on a v1 connection); a request on any other connection, or for a
//! torrent whose layers we do not know, gets a `hash reject`. The queue is bounded: a peer
//! asking faster than it reads gets its extra requests dropped, never more memory.

use std::collections::VecDeque;

use ccbt_proto::hashes::HashServer;
use ccbt_wire::{HashRequest, Message};

/// Answers waiting to be sent on one connection, at most this many.
const MAX_QUEUED_ANSWERS: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct HashAnswers {
    queue: VecDeque<Message>,
}

impl HashAnswers {
    /// Queues the answer to `req`: its hashes from `server`, or a reject when there is no
    /// server (no v2 on this connection, or no layers). Dropped when the queue is full.
    pub(crate) fn on_request(&mut self, server: Option<&HashServer>, req: &HashRequest) {
        if self.queue.len() >= MAX_QUEUED_ANSWERS {
            tracing::debug!("hash request dropped: too many answers queued");
            return;
        }
        let answer = match server {
            Some(server) => server.respond(req),
            None => Message::HashReject(*req),
        };
        self.queue.push_back(answer);
    }

    /// The next answer to send.
    pub(crate) fn pop(&mut self) -> Option<Message> {
        self.queue.pop_front()
    }
}

/// The hash server of a torrent: its piece layers, when it has a v2 part and they are known.
pub(crate) fn server_for(torrent: &ccbt_metainfo::Torrent) -> Option<HashServer> {
    if !torrent.version.has_v2() || !torrent.missing_piece_layers().is_empty() {
        return None;
    }
    let piece_length = u64::from(torrent.piece_length);
    let mut seen = std::collections::BTreeSet::new();
    let files = torrent.files.iter().filter(|f| f.length > piece_length).filter_map(|f| {
        let root = f.pieces_root?;
        let layer = torrent.piece_layers.get(&root)?;
        seen.insert(root).then_some((root, f.length, layer.as_slice()))
    });
    match HashServer::new(torrent.piece_length, files) {
        Ok(server) => Some(server),
        Err(e) => {
            tracing::warn!(error = %e, "cannot serve this torrent's piece layers");
            None
        }
    }
}
