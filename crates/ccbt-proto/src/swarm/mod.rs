//! Per-torrent swarm logic: the glue between every [`PeerConn`] of a torrent, the [`Picker`] and
//! the [`Choker`]. The engine holds one `Swarm` per torrent (behind a mutex shared by the
//! torrent's connection tasks) and calls it after feeding a connection; the swarm makes every
//! protocol decision (interest, which blocks to request, unchoking, cancels, bans) and hands the
//! engine only I/O work to do as [`SwarmAction`]s.
//!
//! Invariants:
//! - A block's data is copied into its piece's buffer only if the picker called it fresh; a piece
//!   is handed out for verification exactly once, when its last block arrives, and its buffer
//!   leaves the swarm then.
//! - `buffered_bytes` counts the buffers of started pieces (one buffer of the piece's length
//!   each, taken from the torrent's pool of reused buffers when its first block is requested,
//!   given back if the picker forgets the piece) plus pieces handed out for verification and not
//!   yet reported back. No new piece is started while starting it would exceed the budget, so a
//!   slow disk slows requesting instead of growing memory; but one piece may always start when
//!   nothing is buffered, so a piece larger than the budget still downloads.
//! - Strikes and bans are kept by IP address and outlive connections (see `blame.rs`).
//! - A peer's availability is added to the picker exactly once (bitfield, have-all or haves) and
//!   removed exactly once in [`Swarm::remove_peer`].

mod blame;
mod buffers;
mod choking;
mod ext;
mod health;
mod live;
mod page_phase;
mod piece_pool;
mod selection;
#[cfg(test)]
mod tests;
mod unverifiable;
mod view;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_core::{Bitfield, BlockRef, Lengths};
use rand::Rng;

use crate::choker::{Choker, ChokerOptions};
use crate::metadata::MetadataServer;
use crate::peer::{PeerConn, PeerEvent};
use crate::picker::{BlockReceived, Picker, PickerOptions};
use crate::PeerKey;
pub use blame::BlockHash;
use blame::{Blame, Verdict, Verifying};
use buffers::PieceBuffers;
use ccbt_wire::ext::pex::PexFlags;
use ext::PeerExt;
pub use ext::{our_ext_handshake, OUR_UT_METADATA, OUR_UT_PEX};
use page_phase::page_phase;
pub use page_phase::FileSpans;
pub use view::PeerSummary;

/// Settings of a [`Swarm`].
#[derive(Clone, Debug)]
pub struct SwarmOptions {
    pub picker: PickerOptions,
    /// The choker: upload slots (0 = unlimited), its intervals, snub timeout and seeding mode.
    pub choker: ChokerOptions,
    /// Bytes of piece data we may hold in memory before we stop starting new pieces.
    pub max_buffered_bytes: u64,
    /// Hash failures a peer may contribute to before it is banned.
    pub max_hash_failures: u32,
    /// Exchange peers with BEP 11 (never for private torrents, BEP 27).
    pub pex: bool,
}

/// I/O the engine must perform for the swarm.
#[derive(Debug)]
pub enum SwarmAction {
    /// Hash `blocks` (the whole piece, in order: one slice of its buffer) and write them if the
    /// hash matches; report back with [`Swarm::on_piece_verified`] or [`Swarm::on_piece_failed`].
    /// When `block_hashes` is set, also compute the SHA-1 of each 16 KiB block and pass them back: evidence against a sender
    /// of a piece that came from several addresses (the swarm does no O(piece) work itself).
    Verify { piece: u32, blocks: Vec<Bytes>, block_hashes: bool },
    /// Tell another connection to cancel its request for `block` (endgame).
    Cancel { peer: PeerKey, block: BlockRef },
    /// Read `block` from storage and give it to the connection that was passed in
    /// (`PeerConn::serve_block`).
    Read { block: BlockRef },
    /// Peers learnt through peer exchange: connection candidates.
    NewPeers(Vec<SocketAddr>),
    /// The peer runs a DHT node on this UDP port of its address (BEP 5 Port message).
    DhtNode { port: u16 },
}

/// An address the swarm banned for sending corrupt data. The engine closes `peers` (its
/// connections at the time) and refuses the address from then on ([`Swarm::is_banned`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Banned {
    pub ip: IpAddr,
    /// The address's strikes (a proven liar gets `max_hash_failures` at once).
    pub failures: u32,
    /// The address's connections now.
    pub peers: Vec<PeerKey>,
}

#[derive(Debug)]
struct SwarmPeer {
    /// The availability we added to the picker for this peer (None while it sent nothing).
    has: Option<Bitfield>,
    is_seed: bool,
    interested: bool,
    unchoked: bool,
    download_rate: u64,
    upload_rate: u64,
    /// Payload counters for the choker's tit-for-tat and snub detection.
    downloaded: u64,
    uploaded: u64,
    ext: PeerExt,
    /// The peer's IP address: blocks are credited, and strikes counted, by address.
    ip: IpAddr,
    /// Whether we are interested in the peer (for eviction, with `interested`).
    am_interested: bool,
    /// Payload bytes moved either way, and when that count last grew (first: when the swarm
    /// first saw the connection).
    payload: u64,
    last_payload: Option<Instant>,
    /// When the swarm first handled the connection (its age for the health score).
    first_seen: Option<Instant>,
    /// The connection's smoothed request latency and tolerated protocol errors.
    request_latency: Option<Duration>,
    protocol_errors: u32,
    /// The connection's `wasted` counter as last seen, so its growth is added to
    /// `Swarm::wasted_bytes` once.
    conn_wasted: u64,
}

/// The per-torrent protocol brain. See the module docs for its invariants.
pub struct Swarm {
    lengths: Lengths,
    picker: Picker,
    choker: Choker,
    options: SwarmOptions,
    peers: HashMap<PeerKey, SwarmPeer>,
    buffers: PieceBuffers,
    /// The torrent's files, for each piece buffer's page phase (see `page_phase.rs`).
    files: FileSpans,
    /// Pieces handed out for verification: who contributed blocks, and their size.
    verifying: HashMap<u32, Verifying>,
    /// Evidence from failed pieces with several senders (see `blame.rs`).
    blame: Blame,
    /// Hash failures by sender address; they outlive the address's connections.
    strikes: HashMap<IpAddr, u32>,
    banned: HashSet<IpAddr>,
    /// Addresses proven to have sent corrupt data when a piece verified (see [`Swarm::take_banned`]).
    proven: Vec<Banned>,
    buffered_bytes: u64,
    scratch: Vec<BlockRef>,
    /// Blocks the connection being handled released during this `handle_conn` call.
    released: Vec<BlockRef>,
    wasted_bytes: u64,
    metadata: Option<MetadataServer>,
    /// When the choker runs next (None until the first [`Swarm::handle_timeout`]).
    next_rechoke: Option<Instant>,
}

/// How many idle piece buffers a torrent keeps for reuse: as many as its buffer budget holds
/// (at least one, for a piece larger than the budget).
fn idle_buffers(lengths: &Lengths, options: &SwarmOptions) -> usize {
    let piece = u64::from(lengths.piece_length()).max(1);
    usize::try_from(options.max_buffered_bytes / piece).unwrap_or(usize::MAX).max(1)
}

impl Swarm {
    /// A swarm for a torrent of geometry `lengths` of which we have the verified pieces `have`.
    pub fn new(lengths: Lengths, have: Bitfield, options: SwarmOptions) -> Swarm {
        let buffers = PieceBuffers::new(lengths.piece_length(), idle_buffers(&lengths, &options));
        Swarm {
            lengths,
            picker: Picker::new(lengths, have, None, options.picker),
            choker: Choker::with_options(options.choker),
            options,
            peers: HashMap::new(),
            buffers,
            files: FileSpans::default(),
            verifying: HashMap::new(),
            blame: Blame::default(),
            strikes: HashMap::new(),
            banned: HashSet::new(),
            proven: Vec::new(),
            buffered_bytes: 0,
            scratch: Vec::new(),
            released: Vec::new(),
            wasted_bytes: 0,
            metadata: None,
            next_rechoke: None,
        }
    }

    /// The torrent's data files, so that each piece buffer starts where `O_DIRECT` can write
    /// it as it is (see [`FileSpans`]). Without them buffers are page-aligned, which suits a
    /// single-file torrent.
    pub fn set_files(&mut self, files: FileSpans) {
        self.files = files;
    }

    /// When [`Swarm::handle_timeout`] has work next: the next choker round. None until the
    /// first `handle_timeout`, which the engine calls when the torrent starts. The engine keeps
    /// no protocol timer of its own: it sleeps until this instant.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_rechoke
    }

    /// When the swarm has timed work for the connection `key` (its next peer-exchange message):
    /// the engine's connection task wakes then and hands the connection to
    /// [`Swarm::handle_conn`], which does the work.
    pub fn poll_peer_timeout(&self, key: PeerKey) -> Option<Instant> {
        self.peers.get(&key).and_then(|p| p.ext.next_pex(self.options.pex))
    }

    /// Registers a new connection from `ip`.
    pub fn add_peer(&mut self, key: PeerKey, ip: IpAddr) {
        self.peers.insert(
            key,
            SwarmPeer {
                has: None,
                is_seed: false,
                interested: false,
                unchoked: false,
                download_rate: 0,
                upload_rate: 0,
                downloaded: 0,
                uploaded: 0,
                ext: PeerExt::default(),
                ip,
                am_interested: false,
                payload: 0,
                last_payload: None,
                first_seen: None,
                request_latency: None,
                protocol_errors: 0,
                conn_wasted: 0,
            },
        );
    }

    /// Tells the swarm a connection's address: `outgoing` connections were dialled at the
    /// peer's listen address (which PEX then advertises); incoming ones come from an ephemeral
    /// port, and the listen port arrives later in the peer's extension handshake.
    pub fn set_peer_addr(&mut self, key: PeerKey, now: Instant, addr: SocketAddr, outgoing: bool) {
        let pex = self.options.pex;
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.ip = addr.ip();
            if outgoing {
                peer.ext.set_listen_addr(now, addr, pex);
            }
        }
    }

    /// Restricts downloading to `wanted` pieces (None = all); completion then means every
    /// wanted piece is verified.
    pub fn set_wanted(&mut self, wanted: Option<Bitfield>) {
        self.picker.set_wanted(wanted);
    }

    /// Gives the swarm the torrent's info dictionary so it can serve `ut_metadata` requests.
    pub fn set_metadata(&mut self, info_bytes: Bytes) {
        self.metadata = Some(MetadataServer::new(info_bytes));
    }

    /// Forgets a connection: its requests go back to the picker, its availability is removed.
    /// Its address's strikes stay.
    pub fn remove_peer(&mut self, key: PeerKey) {
        if self.picker.on_peer_gone(key) > 0 {
            for piece in self.buffers.pieces() {
                self.drop_buffer_if_forgotten(piece);
            }
        }
        if let Some(mut peer) = self.peers.remove(&key) {
            clear_availability(&mut self.picker, &mut peer);
        }
    }

    /// Drains `conn`'s events, updates availability, stores blocks, decides interest and
    /// unchoking, and fills `conn`'s request pipeline. Returns whether the connection is useless
    /// (both sides have everything) and may be closed.
    pub fn handle_conn(
        &mut self,
        now: Instant,
        key: PeerKey,
        conn: &mut PeerConn,
        rng: &mut impl Rng,
        actions: &mut Vec<SwarmAction>,
    ) -> bool {
        self.released.clear();
        while let Some(event) = conn.poll_event() {
            self.on_event(now, key, conn, event, actions);
        }
        let stats = conn.stats();
        let interesting = self.picker.is_interesting(conn.peer_has());
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.download_rate = stats.download_rate;
            peer.upload_rate = stats.upload_rate;
            peer.am_interested = interesting;
            let payload = stats.downloaded + stats.uploaded;
            if peer.last_payload.is_none() || payload != peer.payload {
                peer.payload = payload;
                peer.last_payload = Some(now);
            }
            peer.downloaded = stats.downloaded;
            peer.uploaded = stats.uploaded;
            peer.first_seen.get_or_insert(now);
            peer.request_latency = stats.request_latency;
            peer.protocol_errors = stats.protocol_errors();
            // Late answers to cancelled or released requests, which the connection drops.
            self.wasted_bytes += stats.wasted.saturating_sub(peer.conn_wasted);
            peer.conn_wasted = stats.wasted;
        }
        self.maybe_send_pex(now, key, conn);
        conn.set_interested(interesting);
        if interesting {
            self.fill_requests(now, key, conn, rng);
        }
        self.is_complete() && conn.is_seed()
    }

    fn on_event(
        &mut self,
        now: Instant,
        key: PeerKey,
        conn: &mut PeerConn,
        event: PeerEvent,
        actions: &mut Vec<SwarmAction>,
    ) {
        let Some(peer) = self.peers.get_mut(&key) else { return };
        match event {
            // A whole-availability message replaces what the peer announced before (aria2 sends
            // HaveNone, Haves, then a Bitfield again).
            PeerEvent::Bitfield(bf) => {
                clear_availability(&mut self.picker, peer);
                self.picker.add_peer_bitfield(&bf);
                peer.has = Some(bf);
            }
            PeerEvent::HaveAll => {
                clear_availability(&mut self.picker, peer);
                peer.is_seed = true;
                self.picker.add_seed();
            }
            PeerEvent::HaveNone => clear_availability(&mut self.picker, peer),
            PeerEvent::Have(piece) => {
                if !peer.is_seed {
                    let has = peer.has.get_or_insert_with(|| Bitfield::new(self.lengths.num_pieces()));
                    if has.set(piece) {
                        self.picker.add_peer_have(piece);
                    }
                }
            }
            PeerEvent::Block { block, data } => {
                let ip = peer.ip;
                self.on_block(key, ip, block, data, actions);
            }
            PeerEvent::Request(block) => actions.push(SwarmAction::Read { block }),
            PeerEvent::RequestsReleased(blocks) => {
                for block in blocks {
                    self.picker.on_request_released(key, block);
                    self.drop_buffer_if_forgotten(block.piece);
                    self.released.push(block);
                }
            }
            PeerEvent::Interested(interested) => {
                peer.interested = interested;
                let slots = self.options.choker.max_upload_slots;
                let unchoked = self.peers.values().filter(|p| p.unchoked).count();
                if let Some(peer) = self.peers.get_mut(&key) {
                    if interested && !peer.unchoked && (slots == 0 || unchoked < slots) {
                        // A free slot: do not make a new peer wait for the next choker round.
                        peer.unchoked = true;
                        conn.unchoke();
                    }
                }
            }
            PeerEvent::ExtendedHandshake(hs) => {
                peer.ext.on_handshake(now, &hs, conn, Some(peer.ip), self.options.pex);
            }
            PeerEvent::MetadataRequest { piece } => {
                peer.ext.on_metadata_request(piece, conn, self.metadata.as_ref());
            }
            PeerEvent::Pex(msg) if self.options.pex => {
                let found = peer.ext.on_pex(now, &msg);
                if !found.is_empty() {
                    actions.push(SwarmAction::NewPeers(found));
                }
            }
            // PEX switched off while running: messages from peers told otherwise are ignored.
            PeerEvent::Pex(_) => {}
            PeerEvent::Choked | PeerEvent::Unchoked | PeerEvent::Suggest(_) | PeerEvent::AllowedFast(_) => {}
            PeerEvent::Port(port) => actions.push(SwarmAction::DhtNode { port }),
            // BEP 52 hash exchange is not wired into the swarm yet: these are dropped as the
            // decoder used to drop ids 21-23 (see `crate::hashes` for the machines).
            PeerEvent::HashRequest(_) | PeerEvent::Hashes(_) | PeerEvent::HashReject(_) => {}
        }
    }

    /// Sends this peer the PEX diff of our connected peers when one is due (at most once a
    /// minute per peer; the list is only built then).
    fn maybe_send_pex(&mut self, now: Instant, key: PeerKey, conn: &mut PeerConn) {
        if !self.options.pex || !self.peers.get(&key).is_some_and(|p| p.ext.pex_due(now)) {
            return;
        }
        let connected: Vec<(SocketAddr, PexFlags)> = self
            .peers
            .values()
            .filter_map(|p| {
                let flags = if p.is_seed { PexFlags(0x02) } else { PexFlags(0) };
                p.ext.listen_addr.map(|a| (a, flags))
            })
            .collect();
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.ext.send_pex(now, &connected, conn);
        }
    }

    fn on_block(
        &mut self,
        key: PeerKey,
        ip: IpAddr,
        block: BlockRef,
        data: Bytes,
        actions: &mut Vec<SwarmAction>,
    ) {
        match self.picker.on_block_received(key, block) {
            BlockReceived::Fresh { piece_complete, cancel } => {
                for peer in cancel {
                    actions.push(SwarmAction::Cancel { peer, block });
                }
                self.reserve_buffer(block.piece);
                // A copy: the block's bytes are a slice of the connection's read buffer, which
                // must not stay pinned (and uncounted) while the piece waits for its other blocks.
                self.buffers.insert(block, &data, ip);
                if piece_complete {
                    self.hand_out(block.piece, actions);
                }
            }
            BlockReceived::Duplicate | BlockReceived::Unexpected => {
                self.wasted_bytes += data.len() as u64;
            }
        }
    }

    /// Hands a complete piece out for verification.
    fn hand_out(&mut self, piece: u32, actions: &mut Vec<SwarmAction>) {
        let Some(vp) = self.lengths.validate_piece(piece) else { return };
        if let Some(complete) = self.buffers.take(piece) {
            let len = self.lengths.piece_len(vp) as u64;
            let v = self.blame.verifying(piece, complete.senders, len);
            let block_hashes = v.wants_hashes;
            self.verifying.insert(piece, v);
            actions.push(SwarmAction::Verify { piece, blocks: vec![complete.data], block_hashes });
        }
    }

    /// Allocates a started piece's buffer and counts it against the budget.
    fn reserve_buffer(&mut self, piece: u32) {
        let Some(vp) = self.lengths.validate_piece(piece) else { return };
        let len = self.lengths.piece_len(vp);
        let phase = page_phase(&self.files, self.lengths.piece_offset(vp), len.into());
        if self.buffers.reserve(piece, len as usize, self.lengths.blocks_in_piece(vp), phase) {
            self.buffered_bytes += u64::from(len);
        }
    }

    /// Frees the buffer of a piece the picker forgot (every request released, nothing received).
    fn drop_buffer_if_forgotten(&mut self, piece: u32) {
        if self.picker.is_started(piece) {
            return;
        }
        if let Some(vp) = self.lengths.validate_piece(piece) {
            if self.buffers.remove(piece) {
                self.buffered_bytes = self.buffered_bytes.saturating_sub(self.lengths.piece_len(vp).into());
            }
        }
    }

    /// Whether starting `piece` now would take the buffers past the budget. One pick may start
    /// several new pieces while the budget has room for one; their blocks beyond the budget go
    /// back to the picker, so the budget (and the piece buffers behind it) is never exceeded,
    /// except by the one piece that may start when nothing is buffered.
    fn over_budget(&self, piece: u32) -> bool {
        if self.buffers.has(piece) || self.buffered_bytes == 0 {
            return false;
        }
        let len = self.lengths.validate_piece(piece).map_or(0, |vp| u64::from(self.lengths.piece_len(vp)));
        self.buffered_bytes + len > self.options.max_buffered_bytes
    }

    fn fill_requests(&mut self, now: Instant, key: PeerKey, conn: &mut PeerConn, rng: &mut impl Rng) {
        let mut capacity = conn.request_capacity();
        if self.choker.is_snubbed(key, now) {
            // One request at a time: enough to notice the peer coming back, too little to
            // strand blocks with it.
            capacity = capacity.min(1usize.saturating_sub(conn.outstanding_requests()));
        }
        if capacity == 0 {
            return;
        }
        let piece_length = u64::from(self.lengths.piece_length());
        let mut may_start = self.buffered_bytes + piece_length <= self.options.max_buffered_bytes;
        if !may_start && self.buffered_bytes == 0 {
            // A piece larger than the whole budget: one at a time, or it would never download.
            // Nothing buffered means nothing is started, so these blocks all start one piece.
            may_start = true;
            capacity = capacity.min(self.lengths.piece_length().div_ceil(ccbt_core::BLOCK_SIZE) as usize);
        }
        self.scratch.clear();
        let has = conn.peer_has();
        self.picker.pick_fresh_blocks(key, has, capacity, may_start, rng, &mut self.scratch);
        if self.scratch.is_empty() && conn.outstanding_requests() == 0 {
            // Endgame duplicates only for a peer with nothing else to do, one at a time (as
            // libtorrent): every duplicate may arrive in full after its cancel (the peer sent
            // it already), so this bounds the waste to one block per idle peer.
            self.picker.pick_duplicate_blocks(key, has, 1, &mut self.scratch);
        }
        let picked = std::mem::take(&mut self.scratch);
        for &block in &picked {
            // The connection refuses stale requests (e.g. the peer choked us meanwhile); give
            // such blocks straight back so they are not stranded as requested. Blocks this peer
            // just gave up on (timed out, rejected) go back too: the picker would otherwise hand
            // them straight back to it (it owns their pieces) and they would never reach
            // another peer.
            if self.released.contains(&block) || self.over_budget(block.piece) || !conn.request(now, block) {
                self.picker.on_request_released(key, block);
                self.drop_buffer_if_forgotten(block.piece);
            } else {
                self.reserve_buffer(block.piece);
            }
        }
        self.scratch = picked;
    }

    /// The piece hashed correctly and is on disk. Returns whether the torrent is now complete.
    /// If the piece had failed before with blocks from several addresses, the senders of blocks
    /// that differ from the good data are now known: see [`Swarm::take_banned`]. `block_hashes`
    /// are the piece's block hashes when its verify action asked for them (else `None`).
    pub fn on_piece_verified(&mut self, piece: u32, block_hashes: Option<Vec<BlockHash>>) -> bool {
        if let Some(v) = self.verifying.remove(&piece) {
            self.buffered_bytes = self.buffered_bytes.saturating_sub(v.len);
            if let Verdict::Liars(liars) = self.blame.on_verified(piece, &v, block_hashes) {
                for ip in liars {
                    // Proof, not suspicion: ban outright.
                    let strikes = self.strikes.entry(ip).or_default();
                    *strikes = (*strikes).max(self.options.max_hash_failures);
                    let failures = *strikes;
                    if let Some(banned) = self.ban(ip, failures) {
                        self.proven.push(banned);
                    }
                }
            }
        }
        self.picker.on_piece_verified(piece);
        self.picker.is_complete()
    }

    /// Addresses proven to have sent corrupt blocks by [`Swarm::on_piece_verified`], to be banned.
    pub fn take_banned(&mut self) -> Vec<Banned> {
        std::mem::take(&mut self.proven)
    }

    /// The piece failed its hash check: it is downloaded again. A piece sent entirely from one
    /// address gives that address a strike, whether or not it is still connected; a piece from
    /// several addresses is kept as evidence until the piece verifies (see `blame.rs`), so
    /// honest peers that shared it are not struck. Returns the addresses that reached
    /// `max_hash_failures` now. `block_hashes` are the piece's block hashes when its verify
    /// action asked for them (else `None`).
    pub fn on_piece_failed(&mut self, piece: u32, block_hashes: Option<Vec<BlockHash>>) -> Vec<Banned> {
        let mut banned = Vec::new();
        if let Some(v) = self.verifying.remove(&piece) {
            self.buffered_bytes = self.buffered_bytes.saturating_sub(v.len);
            self.wasted_bytes += v.len;
            if let Verdict::Strike(ip) = self.blame.on_failed(piece, v, block_hashes) {
                let strikes = self.strikes.entry(ip).or_default();
                *strikes = strikes.saturating_add(1);
                let failures = *strikes;
                if failures >= self.options.max_hash_failures {
                    banned.extend(self.ban(ip, failures));
                }
            }
        }
        self.picker.on_piece_failed(piece);
        banned
    }

    /// Bans `ip` unless it already is; returns the ban with the address's connections now.
    fn ban(&mut self, ip: IpAddr, failures: u32) -> Option<Banned> {
        if !self.banned.insert(ip) {
            return None;
        }
        let mut peers: Vec<PeerKey> =
            self.peers.iter().filter(|(_, p)| p.ip == ip).map(|(&k, _)| k).collect();
        peers.sort_unstable();
        Some(Banned { ip, failures, peers })
    }

    /// Bans `ip` for lying before the swarm existed (a proven metadata liar of the magnet phase):
    /// from now on [`Swarm::is_banned`] refuses it. Returns whether it was not banned yet.
    pub fn ban_ip(&mut self, ip: IpAddr) -> bool {
        self.banned.insert(ip)
    }

    /// Whether `ip` is banned for sending corrupt data: its connections must be refused.
    pub fn is_banned(&self, ip: IpAddr) -> bool {
        self.banned.contains(&ip)
    }

    /// Every banned address.
    pub fn banned_ips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.banned.iter().copied()
    }

    /// Strikes (hash failures) counted against `ip`.
    pub fn strikes(&self, ip: IpAddr) -> u32 {
        self.strikes.get(&ip).copied().unwrap_or(0)
    }

    /// Whether the last [`Swarm::handle_conn`] gave requests back to the picker (choke, reject,
    /// timeout): other connections, possibly idle, should be asked to pick again.
    pub fn freed_requests(&self) -> bool {
        !self.released.is_empty()
    }

    pub fn have(&self) -> &Bitfield {
        self.picker.have()
    }
    /// Connected peers having `piece`, seeds included.
    pub fn availability(&self, piece: u32) -> u32 {
        self.picker.availability(piece)
    }
    pub fn is_complete(&self) -> bool {
        self.picker.is_complete()
    }
    pub fn in_endgame(&self) -> bool {
        self.picker.in_endgame()
    }
    pub fn buffered_bytes(&self) -> u64 {
        self.buffered_bytes
    }
    /// Bytes received and thrown away: duplicates, unrequested blocks and failed pieces.
    pub fn wasted_bytes(&self) -> u64 {
        self.wasted_bytes
    }
    pub fn peer_count(&self) -> usize {
        self.peers.len()
    }
}

/// Takes a peer's announced availability back out of the picker.
fn clear_availability(picker: &mut Picker, peer: &mut SwarmPeer) {
    if peer.is_seed {
        picker.remove_seed();
        peer.is_seed = false;
    } else if let Some(has) = peer.has.take() {
        picker.remove_peer_bitfield(&has);
    }
}
