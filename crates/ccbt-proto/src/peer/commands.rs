//! Commands from the torrent logic (choking, interest, requests, serving).

use std::time::Instant;

use bytes::Bytes;
use ccbt_core::BlockRef;
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::Message;

use super::{PeerConn, MAX_ALLOWED_FAST};

impl PeerConn {
    /// Tells the peer whether we are interested; sends only on change.
    pub fn set_interested(&mut self, interested: bool) {
        if self.am_interested != interested {
            self.am_interested = interested;
            self.send(if interested { Message::Interested } else { Message::NotInterested });
        }
    }

    /// Chokes the peer (on change only). Its queued requests are dropped; with the fast
    /// extension each is answered by a Reject, except those for pieces we granted as
    /// allowed-fast, which stay queued.
    pub fn choke(&mut self) {
        if self.am_choking {
            return;
        }
        self.am_choking = true;
        self.send(Message::Choke);
        if self.opts.fast_extension {
            let granted = &self.granted_fast;
            let rejected = self.theirs.take_where(|b| !granted.contains(&b.piece));
            for block in rejected {
                self.send(Message::Reject(block));
            }
        } else {
            self.theirs.take_where(|_| true);
        }
    }

    /// Unchokes the peer (on change only) and forgives its earlier refused requests.
    pub fn unchoke(&mut self) {
        if !self.am_choking {
            return;
        }
        self.am_choking = false;
        self.stats.refused_requests = 0;
        self.send(Message::Unchoke);
    }

    /// How many more blocks to request now: 0 while the peer chokes us, else the pipeline
    /// depth minus our outstanding requests. While choked, see [`PeerConn::allowed_fast_capacity`].
    pub fn request_capacity(&self) -> usize {
        if self.peer_choking {
            0
        } else {
            self.free_slots()
        }
    }

    /// How many blocks of [`PeerConn::allowed_fast`] pieces we may request while the peer
    /// chokes us (0 when it does not choke us: use [`PeerConn::request_capacity`] then).
    pub fn allowed_fast_capacity(&self) -> usize {
        if self.peer_choking && self.opts.fast_extension && !self.allowed_fast.is_empty() {
            self.free_slots()
        } else {
            0
        }
    }

    fn free_slots(&self) -> usize {
        (self.pipeline_depth as usize).saturating_sub(self.ours.len())
    }

    /// Sends a Request for `block` and tracks it as outstanding until `now + request_timeout`.
    /// Returns `false` and sends nothing if the block is not one of the torrent's 16 KiB blocks
    /// ([`Lengths::is_canonical_block`](ccbt_core::Lengths::is_canonical_block)),
    /// is already outstanding, the pipeline is full, or the peer chokes us and the piece is
    /// not allowed-fast: the caller's capacity check was stale.
    pub fn request(&mut self, now: Instant, block: BlockRef) -> bool {
        self.touch(now);
        let valid = self.lengths().is_canonical_block(&block);
        let may =
            !self.peer_choking || (self.opts.fast_extension && self.allowed_fast.contains(&block.piece));
        if !valid || !may || self.free_slots() == 0 || self.ours.contains(&block) {
            return false;
        }
        // A block we gave up on and ask for again: its answer is wanted again.
        self.abandoned.remove(&block);
        self.ours.push(block, now);
        self.send(Message::Request(block));
        true
    }

    /// Withdraws an outstanding request (endgame: the block came from another peer). Sends
    /// Cancel; a Piece or Reject that still arrives for it is expected and not held against
    /// the peer. Does nothing if `block` is not outstanding.
    pub fn cancel(&mut self, block: BlockRef) {
        if self.ours.remove(&block) {
            self.abandoned.insert(block);
            self.send(Message::Cancel(block));
        }
    }

    /// We verified `piece`: send Have (always, even if the peer has it: libtorrent does the
    /// same, and it tells the peer what we can serve) and serve it from now on.
    pub fn have(&mut self, piece: u32) {
        if self.lengths().validate_piece(piece).is_some() {
            self.our_have.set(piece);
            self.send(Message::Have { piece });
        }
    }

    /// Grants the peer an allowed-fast piece (BEP 6): it may request it while we choke it.
    /// The engine computes the set (it needs the peer's IP and the info hash). Ignored without
    /// the fast extension, for invalid pieces, repeats, or beyond a small cap.
    pub fn allow_fast(&mut self, piece: u32) {
        let ok = self.opts.fast_extension
            && self.lengths().validate_piece(piece).is_some()
            && !self.granted_fast.contains(&piece)
            && self.granted_fast.len() < MAX_ALLOWED_FAST;
        if ok {
            self.granted_fast.push(piece);
            self.send(Message::AllowedFast { piece });
        }
    }

    /// The engine read a block the peer requested: queue the Piece, unless the request was
    /// cancelled or choked away meanwhile (then the data is dropped). Data of the wrong length
    /// is treated like [`PeerConn::reject_request`].
    pub fn serve_block(&mut self, block: BlockRef, data: Bytes) {
        if data.len() != block.len as usize {
            self.reject_request(block);
            return;
        }
        if !self.theirs.remove(&block) {
            return;
        }
        let len = u64::from(block.len);
        self.stats.uploaded = self.stats.uploaded.saturating_add(len);
        self.upload.record(self.last_now, len);
        self.send(Message::Piece { piece: block.piece, offset: block.offset, data });
    }

    /// The engine cannot serve a queued request (for example a disk read failed): forget it
    /// and, with the fast extension, tell the peer with a Reject.
    pub fn reject_request(&mut self, block: BlockRef) {
        if self.theirs.remove(&block) && self.opts.fast_extension {
            self.send(Message::Reject(block));
        }
    }

    /// Sends a BEP 10 extension message with the peer's id for that extension. Dropped if the
    /// extension protocol was not negotiated.
    pub fn send_extended(&mut self, id: u8, payload: Bytes) {
        if self.opts.extension_protocol {
            self.send(Message::Extended { id, payload });
        }
    }

    /// Sends a BEP 9 `ut_metadata` message with the peer's id for that extension; a data reply
    /// counts in [`PeerConn::queued_metadata_replies`] until polled. Dropped if the extension
    /// protocol was not negotiated.
    pub fn send_metadata(&mut self, id: u8, msg: MetadataMessage) {
        if self.opts.extension_protocol {
            let reply = matches!(msg, MetadataMessage::Data { .. });
            self.enqueue(Message::Extended { id, payload: msg.encode() }, reply);
        }
    }

    /// Sends a BEP 52 message: a `hash request` from
    /// [`PieceLayerFetcher`](crate::hashes::PieceLayerFetcher), or the `hashes` or `hash
    /// reject` that [`HashServer::respond`](crate::hashes::HashServer::respond) makes. Only for
    /// connections that speak v2 (the engine knows from the handshake); other messages are
    /// not sent.
    pub fn send_hash_message(&mut self, msg: Message) {
        if matches!(msg, Message::HashRequest(_) | Message::Hashes(_) | Message::HashReject(_)) {
            self.send(msg);
        }
    }

    /// The peer's `reqq` from its extension handshake: how many requests it queues. The
    /// pipeline depth never exceeds it (even below `min_pipeline_depth`), since requests
    /// beyond it would be dropped.
    pub fn set_peer_max_requests(&mut self, reqq: u32) {
        self.peer_reqq = Some(reqq);
        self.pipeline_depth = self.clamp_depth(self.pipeline_depth);
    }
}
