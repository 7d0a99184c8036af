//! Messages from the peer: validation and state changes.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_core::{Bitfield, BlockRef, BLOCK_SIZE};
use ccbt_wire::ext::metadata::MetadataMessage;
use ccbt_wire::ext::pex::PexMessage;
use ccbt_wire::ext::ExtHandshake;
use ccbt_wire::Message;

use super::{PeerConn, PeerError, PeerEvent, MAX_ALLOWED_FAST, OUR_UT_METADATA, OUR_UT_PEX};

impl PeerConn {
    /// Handles one decoded message from the peer at `now`. An `Err` means the peer broke the
    /// protocol and the connection must be closed.
    pub fn handle_message(&mut self, now: Instant, msg: Message) -> Result<(), PeerError> {
        self.touch(now);
        self.last_received = self.last_received.max(now);
        let name = msg.name();
        match msg {
            Message::KeepAlive => {}
            Message::Port(port) => self.events.push_back(PeerEvent::Port(port)),
            Message::Extended { id, payload } => self.on_extended(id, payload)?,
            Message::Bitfield(bytes) => self.on_bitfield(name, &bytes)?,
            Message::HaveAll => {
                self.require_fast(name)?;
                if self.have_all_seen {
                    return Err(PeerError::InvalidAvailability { message: name });
                }
                self.have_all_seen = true;
                self.availability_seen = true;
                if !self.is_seed() {
                    // Once per connection (a second HaveAll is an error).
                    self.peer_has = Bitfield::full(self.lengths().num_pieces());
                    self.peer_have_count = self.lengths().num_pieces();
                    self.events.push_back(PeerEvent::HaveAll);
                }
            }
            Message::HaveNone => {
                self.require_fast(name)?;
                if self.availability_seen {
                    return Err(PeerError::InvalidAvailability { message: name });
                }
                self.availability_seen = true;
                self.events.push_back(PeerEvent::HaveNone);
            }
            other => self.on_message(now, name, other)?,
        }
        Ok(())
    }

    /// Every message but the availability ones.
    fn on_message(&mut self, now: Instant, name: &'static str, msg: Message) -> Result<(), PeerError> {
        match msg {
            Message::Choke => self.on_choke(),
            Message::Unchoke => {
                if self.peer_choking {
                    self.peer_choking = false;
                    self.events.push_back(PeerEvent::Unchoked);
                }
            }
            Message::Interested => self.on_interest(true),
            Message::NotInterested => self.on_interest(false),
            Message::Have { piece } => {
                let piece = self.check_piece(name, piece)?;
                self.availability_seen = true;
                if self.peer_has.set(piece) {
                    self.peer_have_count = self.peer_have_count.saturating_add(1);
                    self.events.push_back(PeerEvent::Have(piece));
                }
            }
            Message::Request(b) => {
                let block = self.check_block(name, b.piece, b.offset, b.len)?;
                self.on_request(block)?;
            }
            Message::Cancel(b) => {
                let block = self.check_block(name, b.piece, b.offset, b.len)?;
                // BEP 6: every request gets exactly one answer, a cancelled one a Reject.
                if self.theirs.remove(&block) && self.opts.fast_extension {
                    self.send(Message::Reject(block));
                }
            }
            Message::Piece { piece, offset, data } => {
                let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
                let block = self.check_block(name, piece, offset, len)?;
                self.on_piece(now, block, data)?;
            }
            Message::Reject(b) => {
                self.require_fast(name)?;
                let block = self.check_block(name, b.piece, b.offset, b.len)?;
                self.on_reject(block)?;
            }
            Message::Suggest { piece } => {
                self.require_fast(name)?;
                let piece = self.check_piece(name, piece)?;
                self.events.push_back(PeerEvent::Suggest(piece));
            }
            Message::AllowedFast { piece } => {
                self.require_fast(name)?;
                let piece = self.check_piece(name, piece)?;
                if !self.allowed_fast.contains(&piece) && self.allowed_fast.len() < MAX_ALLOWED_FAST {
                    self.allowed_fast.push(piece);
                    self.events.push_back(PeerEvent::AllowedFast(piece));
                }
            }
            // Whether the connection speaks v2 is the engine's knowledge (the handshake's info
            // hash and reserved bit), so it vets these events.
            Message::HashRequest(req) => self.events.push_back(PeerEvent::HashRequest(req)),
            Message::Hashes(hashes) => self.events.push_back(PeerEvent::Hashes(hashes)),
            Message::HashReject(req) => self.events.push_back(PeerEvent::HashReject(req)),
            // Routed by `handle_message`; nothing else reaches here.
            Message::KeepAlive
            | Message::Port(_)
            | Message::Extended { .. }
            | Message::Bitfield(_)
            | Message::HaveAll
            | Message::HaveNone => {}
        }
        Ok(())
    }

    /// Decodes an extension message here, outside the torrent's lock, into a typed event.
    /// Undecodable payloads and ids we never advertised are dropped: only the extension suffers.
    fn on_extended(&mut self, id: u8, payload: Bytes) -> Result<(), PeerError> {
        if !self.opts.extension_protocol {
            return Err(PeerError::ExtensionProtocolNotNegotiated { id });
        }
        let event = match id {
            0 => ExtHandshake::decode(&payload).ok().map(PeerEvent::ExtendedHandshake),
            OUR_UT_METADATA => match MetadataMessage::decode(payload) {
                // Data and Reject answer requests, which a torrent connection never sends.
                Ok(MetadataMessage::Request { piece }) => Some(PeerEvent::MetadataRequest { piece }),
                _ => None,
            },
            OUR_UT_PEX => PexMessage::decode(&payload).ok().map(PeerEvent::Pex),
            _ => None,
        };
        self.events.extend(event);
        Ok(())
    }

    /// The first availability message sets what the peer has; a later Bitfield may only add
    /// pieces, reported one by one (see the module docs).
    fn on_bitfield(&mut self, name: &'static str, bytes: &[u8]) -> Result<(), PeerError> {
        let bitfield = Bitfield::from_bytes(bytes, self.lengths().num_pieces())
            .map_err(|source| PeerError::InvalidBitfield { source })?;
        if !self.availability_seen {
            self.availability_seen = true;
            self.peer_have_count = bitfield.count_ones();
            self.peer_has = bitfield.clone();
            self.events.push_back(PeerEvent::Bitfield(bitfield));
            return Ok(());
        }
        let withdrawn =
            self.peer_has.as_bytes().iter().zip(bitfield.as_bytes()).any(|(old, new)| old & !new != 0);
        if withdrawn {
            return Err(PeerError::InvalidAvailability { message: name });
        }
        for piece in bitfield.iter_ones() {
            if self.peer_has.set(piece) {
                self.peer_have_count = self.peer_have_count.saturating_add(1);
                self.events.push_back(PeerEvent::Have(piece));
            }
        }
        Ok(())
    }

    fn on_choke(&mut self) {
        if self.peer_choking {
            return;
        }
        self.peer_choking = true;
        self.events.push_back(PeerEvent::Choked);
        // Without BEP 6 a choke silently discards our requests; with it each still gets a
        // Piece or a Reject, so they stay outstanding.
        if !self.opts.fast_extension {
            let released = self.ours.take_all();
            if !released.is_empty() {
                for block in &released {
                    self.abandoned.insert(*block);
                }
                self.events.push_back(PeerEvent::RequestsReleased(released));
            }
        }
    }

    fn on_interest(&mut self, interested: bool) {
        if self.peer_interested != interested {
            self.peer_interested = interested;
            self.events.push_back(PeerEvent::Interested(interested));
        }
    }

    fn on_request(&mut self, block: BlockRef) -> Result<(), PeerError> {
        if self.theirs.contains(&block) {
            // A duplicate: already queued, one answer is enough.
            return Ok(());
        }
        let allowed = block.len <= self.opts.max_block_len
            && self.our_have.get(block.piece)
            && (!self.am_choking || self.granted_fast.contains(&block.piece))
            && self.theirs.len() < self.opts.max_peer_requests;
        if allowed {
            self.theirs.insert(block);
            self.events.push_back(PeerEvent::Request(block));
            return Ok(());
        }
        if self.opts.fast_extension {
            self.send(Message::Reject(block));
        }
        self.stats.refused_requests = self.stats.refused_requests.saturating_add(1);
        let limit = u32::try_from(self.opts.max_peer_requests).unwrap_or(u32::MAX);
        if self.stats.refused_requests > limit {
            return Err(PeerError::TooManyRefusedRequests { count: self.stats.refused_requests });
        }
        Ok(())
    }

    fn on_piece(&mut self, now: Instant, block: BlockRef, data: Bytes) -> Result<(), PeerError> {
        let len = u64::from(block.len);
        if let Some(sent_at) = self.ours.take(&block) {
            self.record_latency(now.saturating_duration_since(sent_at));
            self.stats.downloaded = self.stats.downloaded.saturating_add(len);
            self.download.record(now, len);
            self.adapt_pipeline(now);
            self.events.push_back(PeerEvent::Block { block, data });
            return Ok(());
        }
        self.stats.wasted = self.stats.wasted.saturating_add(len);
        if self.abandoned.remove(&block) {
            return Ok(());
        }
        self.stats.unrequested_blocks = self.stats.unrequested_blocks.saturating_add(1);
        if self.stats.unrequested_blocks > self.opts.max_unrequested {
            return Err(PeerError::TooManyUnrequested { count: self.stats.unrequested_blocks });
        }
        Ok(())
    }

    fn on_reject(&mut self, block: BlockRef) -> Result<(), PeerError> {
        if self.ours.remove(&block) {
            self.events.push_back(PeerEvent::RequestsReleased(vec![block]));
            return Ok(());
        }
        if self.abandoned.remove(&block) {
            return Ok(());
        }
        self.stats.unexpected_rejects = self.stats.unexpected_rejects.saturating_add(1);
        if self.stats.unexpected_rejects > self.opts.max_unrequested {
            return Err(PeerError::TooManyUnexpectedRejects { count: self.stats.unexpected_rejects });
        }
        Ok(())
    }

    /// Folds one request's round trip into the smoothed latency: the first sample sets it, each
    /// later one moves it by an eighth of the difference (TCP's SRTT gain), so one slow block
    /// does not swing the peer's health score.
    fn record_latency(&mut self, sample: Duration) {
        self.stats.request_latency = Some(match self.stats.request_latency {
            None => sample,
            Some(old) if sample >= old => old + (sample - old) / 8,
            Some(old) => old - (old - sample) / 8,
        });
    }

    /// Sets the pipeline depth to about one second of this peer's delivery.
    fn adapt_pipeline(&mut self, now: Instant) {
        let blocks_per_second = self.download.per_second(now) / u64::from(BLOCK_SIZE);
        self.pipeline_depth = self.clamp_depth(u32::try_from(blocks_per_second).unwrap_or(u32::MAX));
    }

    fn require_fast(&self, name: &'static str) -> Result<(), PeerError> {
        if self.opts.fast_extension {
            Ok(())
        } else {
            Err(PeerError::FastExtensionNotNegotiated { message: name })
        }
    }

    fn check_piece(&self, name: &'static str, piece: u32) -> Result<u32, PeerError> {
        match self.lengths().validate_piece(piece) {
            Some(p) => Ok(p.get()),
            None => {
                Err(PeerError::InvalidPiece { message: name, piece, num_pieces: self.lengths().num_pieces() })
            }
        }
    }

    /// Checks that a block lies inside its piece and is not empty. Its size against
    /// `max_block_len` is a separate, softer rule (see `on_request`).
    fn check_block(
        &self,
        name: &'static str,
        piece: u32,
        offset: u32,
        len: u32,
    ) -> Result<BlockRef, PeerError> {
        self.check_piece(name, piece)?;
        self.lengths().validate_request(piece, offset, len, u32::MAX).ok_or(PeerError::InvalidBlock {
            message: name,
            piece,
            offset,
            len,
        })
    }
}
