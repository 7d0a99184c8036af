//! One xet-only connection: a peer that found us under a discovery key (docs/xet.md,
//! "Xet-only connections"). It gets our handshake with that key, a HAVE_NONE (or no bitfield),
//! an extension handshake offering only `xet_cas`, an UNCHOKE, and answers to its `xet_cas`
//! requests from the chunk store, limited to the files the key stands for ([`Scope`]). Every
//! other BitTorrent message is ignored: there are no pieces here.
//!
//! The answering rules are those of a torrent connection (`peer/xet_answers.rs` and the
//! sans-IO `XetServer`: bounded queue, `rq`, QUERY budget, each chunk checked against its id
//! before it is sent); chunk bytes draw from the session's upload limiter.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use ccbt_core::PeerId;
use ccbt_proto::peer::OUR_XET_CAS;
use ccbt_proto::xet::{our_handshake, ChunkStore, ManifestPage, DEFAULT_RQ};
use ccbt_wire::ext::xet_cas::MAX_XET_MESSAGE;
use ccbt_wire::ext::{ExtHandshake, XET_CAS};
use ccbt_wire::{HandshakePrefix, Message, MessageDecoder};
use ccbt_xet::ChunkId;
use ccbt_xetstore::XetStore;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Scope;
use crate::budget::{ConnectionBudget, HandshakePermit};
use crate::limits::{Direction, SessionLimits};
use crate::peer::handshake;
use crate::peer::xet_answers::{ChunkSource, XetAnswers};
use crate::TorrentId;

/// A peer silent this long is dropped (it sends keep-alives every 2 minutes if it wants to stay).
const IDLE: Duration = Duration::from_secs(150);
/// A write that makes no progress for this long ends the connection.
const WRITE_STALL: Duration = Duration::from_secs(60);
/// Answers made ahead of the socket: two whole chunks.
const ROOM: usize = 2 * MAX_XET_MESSAGE;
/// The limiter's name for xet-only traffic (no torrent of ours has id `u64::MAX`).
const XET_ONLY: TorrentId = TorrentId(u64::MAX);

/// What an xet-only connection needs from the session.
pub(crate) struct ServeContext {
    pub(crate) store: Arc<XetStore>,
    pub(crate) scope: Arc<Scope>,
    pub(crate) peer_id: PeerId,
    pub(crate) budget: Arc<ConnectionBudget>,
    pub(crate) limits: Arc<SessionLimits>,
    pub(crate) slots: Arc<tokio::sync::Semaphore>,
}

#[derive(Debug, thiserror::Error)]
enum ServeEnd {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Wire(#[from] ccbt_wire::WireError),
    #[error("{0}")]
    Xet(#[from] crate::peer::xet_answers::XetEnd),
    #[error("idle")]
    Idle,
    #[error("closed by the peer")]
    Closed,
}

/// Answers one incoming connection whose handshake named a key we announce.
pub(crate) async fn run(
    ctx: ServeContext,
    mut stream: TcpStream,
    addr: SocketAddr,
    prefix: HandshakePrefix,
    permit: HandshakePermit,
    deadline: tokio::time::Instant,
) {
    let Ok(_slot) = ctx.slots.clone().try_acquire_owned() else {
        tracing::debug!(%addr, "xet-only connection refused: all slots taken");
        return;
    };
    let limit = deadline.saturating_duration_since(tokio::time::Instant::now());
    let bits = handshake::Bits::default();
    let theirs = tokio::select! {
        theirs = handshake::finish_incoming(&mut stream, prefix, ctx.peer_id, bits, limit) => theirs,
        _ = permit.evicted() => return,
    };
    let theirs = match theirs {
        Ok(theirs) if theirs.supports_extensions() => theirs,
        Ok(_) => return tracing::debug!(%addr, "xet-only peer without BEP 10"),
        Err(e) => return tracing::debug!(%addr, error = %e, "xet-only handshake failed"),
    };
    let Ok(_permit) = ctx.budget.establish(permit) else { return };
    let rate = ctx.limits.register(XET_ONLY, ccbt_wire::Handshake::LEN as u64);
    let mut conn = Conn { stream, rate, answers: XetAnswers::new(Instant::now()) };
    let source = ScopedStore { store: &ctx.store, scope: &ctx.scope };
    let end = conn.serve(&source, theirs.supports_fast()).await;
    tracing::debug!(%addr, reason = %end, "xet-only connection closed");
}

struct Conn {
    stream: TcpStream,
    rate: crate::limits::ConnRate,
    answers: XetAnswers,
}

impl Conn {
    async fn serve(&mut self, source: &ScopedStore<'_>, fast: bool) -> ServeEnd {
        match self.serve_inner(source, fast).await {
            Ok(()) => ServeEnd::Closed,
            Err(end) => end,
        }
    }

    async fn serve_inner(&mut self, source: &ScopedStore<'_>, fast: bool) -> Result<(), ServeEnd> {
        let mut out = BytesMut::new();
        if fast {
            ccbt_wire::encode(&Message::HaveNone, &mut out);
        }
        let ours = ExtHandshake {
            m: vec![(XET_CAS.to_owned(), OUR_XET_CAS)],
            v: Some(concat!("ccbt/", env!("CARGO_PKG_VERSION")).to_owned()),
            xet: Some(our_handshake(DEFAULT_RQ)),
            ..ExtHandshake::default()
        };
        ccbt_wire::encode(&Message::Extended { id: 0, payload: ours.encode() }, &mut out);
        ccbt_wire::encode(&Message::Unchoke, &mut out);
        self.send(out.freeze()).await?;
        self.answers.set_choked(false);

        let mut decoder = MessageDecoder::new(MAX_XET_MESSAGE as u32);
        let mut buf = BytesMut::with_capacity(16 * 1024);
        loop {
            while let Some(msg) = decoder.decode(&mut buf)? {
                self.on_message(msg)?;
            }
            self.flush_answers(source).await?;
            let read = tokio::time::timeout(IDLE, self.stream.read_buf(&mut buf)).await;
            match read.map_err(|_| ServeEnd::Idle)? {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn on_message(&mut self, msg: Message) -> Result<(), ServeEnd> {
        match msg {
            Message::Extended { id: 0, payload } => self.answers.on_ext_handshake(&payload),
            Message::Extended { id: OUR_XET_CAS, payload } => self.answers.on_message(&payload)?,
            // No pieces, no other extensions: everything else is ignored.
            _ => {}
        }
        Ok(())
    }

    /// Answers every queued request, [`ROOM`] bytes at a time.
    async fn flush_answers(&mut self, source: &ScopedStore<'_>) -> Result<(), ServeEnd> {
        loop {
            self.answers.start_output(source, ROOM, Instant::now());
            if !self.answers.has_ready() {
                return Ok(());
            }
            let mut out = BytesMut::new();
            while let Some(msg) = self.answers.pop() {
                ccbt_wire::encode(&msg, &mut out);
            }
            self.send(out.freeze()).await?;
        }
    }

    /// Writes `bytes` as the upload limiter allows.
    async fn send(&mut self, mut bytes: Bytes) -> Result<(), ServeEnd> {
        while !bytes.is_empty() {
            match self.rate.request(Direction::Up, Instant::now(), bytes.len() as u64) {
                ccbt_proto::limit::Decision::Grant { bytes: granted } => {
                    let part = bytes.split_to((granted as usize).clamp(1, bytes.len()));
                    let write = tokio::time::timeout(WRITE_STALL, self.stream.write_all(&part)).await;
                    write.map_err(|_| ServeEnd::Idle)??;
                }
                ccbt_proto::limit::Decision::WaitUntil(at) => {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                }
            }
        }
        Ok(())
    }
}

/// The chunk store seen through one key: chunks of the key's files and their manifests only.
/// Anything else is "absent", so a peer that knows one key cannot probe for other content.
struct ScopedStore<'a> {
    store: &'a XetStore,
    scope: &'a Scope,
}

impl ChunkStore for ScopedStore<'_> {
    fn chunk_len(&self, id: &ChunkId) -> Option<u32> {
        let locations = self.store.lookup(id).ok()?;
        // Retired chunks (in packs) belong to no live file, so to no key's scope.
        let in_scope = |l: &&ccbt_xetstore::Location| match l.holder {
            ccbt_xetstore::Holder::File(file) => self.scope.files.contains(&file),
            ccbt_xetstore::Holder::Pack(_) => false,
        };
        locations.iter().find(in_scope).map(|l| l.len)
    }

    fn manifest_page(&self, root: &ChunkId, start: u32, count: u32) -> Option<ManifestPage> {
        if !self.scope.roots.contains(root) {
            return None;
        }
        let chunks = self.store.manifest(root).ok()??;
        let total = u32::try_from(chunks.len()).ok()?;
        let from = (start as usize).min(chunks.len());
        let to = from.saturating_add(count as usize).min(chunks.len());
        Some(ManifestPage { total, entries: chunks[from..to].to_vec() })
    }
}

impl ChunkSource for ScopedStore<'_> {
    fn read(&self, id: &ChunkId, _len: u32) -> Option<Bytes> {
        self.store.read_chunk(id).ok().flatten().map(Bytes::from)
    }
}
