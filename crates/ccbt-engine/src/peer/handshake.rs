//! Handshake exchange on a fresh TCP connection, before a `PeerConn` exists.

use std::time::Duration;

use bytes::BytesMut;
use ccbt_core::{InfoHash, PeerId};
use ccbt_wire::{Handshake, HandshakePrefix};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why a handshake failed. Only ever drops one connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HandshakeError {
    #[error("i/o error during handshake: {0}")]
    Io(#[from] std::io::Error),
    #[error("handshake timed out")]
    Timeout,
    #[error("invalid handshake: {0}")]
    Invalid(#[from] ccbt_wire::WireError),
    #[error("peer answered for another torrent ({0})")]
    WrongInfoHash(InfoHash),
    #[error("connected to ourselves")]
    SelfConnection,
    #[error("handshake ended early")]
    Incomplete,
}

async fn with_timeout<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, HandshakeError>>,
) -> Result<T, HandshakeError> {
    tokio::time::timeout(limit, fut).await.map_err(|_| HandshakeError::Timeout)?
}

/// The optional reserved bits of our handshake.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Bits {
    /// BEP 5: we run a DHT node.
    pub dht: bool,
    /// BEP 52: the torrent has a v2 part and we speak the v2 hash messages.
    pub v2: bool,
}

/// BEP 52's "supports v2" reserved bit: byte 7, 0x10.
pub(crate) const V2_BIT: u8 = 0x10;

/// Our handshake with the reserved bits `bits` names.
pub(crate) fn ours(info_hash: InfoHash, our_id: PeerId, bits: Bits) -> Handshake {
    let mut h = Handshake::new(info_hash, our_id);
    if bits.dht {
        h.reserved[7] |= 0x01;
    }
    if bits.v2 {
        h.reserved[7] |= V2_BIT;
    }
    h
}

/// Outgoing: send our handshake, read theirs, check the info hash: `info_hash`, or `upgraded`
/// (a hybrid's truncated v2 hash: libtorrent answers a v1 handshake carrying the v2 bit with it,
/// making the connection a v2 one).
pub(crate) async fn outgoing(
    stream: &mut TcpStream,
    info_hash: InfoHash,
    upgraded: Option<InfoHash>,
    our_id: PeerId,
    bits: Bits,
    limit: Duration,
) -> Result<Handshake, HandshakeError> {
    with_timeout(limit, async {
        stream.write_all(&ours(info_hash, our_id, bits).to_bytes()).await?;
        let mut buf = [0u8; Handshake::LEN];
        stream.read_exact(&mut buf).await?;
        let theirs = Handshake::decode(&buf)?.ok_or(HandshakeError::Incomplete)?;
        if theirs.info_hash != info_hash && Some(theirs.info_hash) != upgraded {
            return Err(HandshakeError::WrongInfoHash(theirs.info_hash));
        }
        if theirs.peer_id == our_id {
            return Err(HandshakeError::SelfConnection);
        }
        Ok(theirs)
    })
    .await
}

/// Incoming, first half: read the protocol string, reserved bits and info hash so the caller
/// can find the torrent before answering.
pub(crate) async fn read_incoming_prefix(
    stream: &mut TcpStream,
    limit: Duration,
) -> Result<HandshakePrefix, HandshakeError> {
    with_timeout(limit, async {
        let mut buf = [0u8; HandshakePrefix::LEN];
        stream.read_exact(&mut buf).await?;
        Handshake::decode_prefix(&buf)?.ok_or(HandshakeError::Incomplete)
    })
    .await
}

/// Incoming, second half: answer with our handshake and read the peer id.
pub(crate) async fn finish_incoming(
    stream: &mut TcpStream,
    prefix: HandshakePrefix,
    our_id: PeerId,
    bits: Bits,
    limit: Duration,
) -> Result<Handshake, HandshakeError> {
    with_timeout(limit, async {
        let mut out = BytesMut::with_capacity(Handshake::LEN);
        ours(prefix.info_hash, our_id, bits).encode(&mut out);
        stream.write_all(&out).await?;
        let mut id = [0u8; 20];
        stream.read_exact(&mut id).await?;
        if id == our_id.0 {
            return Err(HandshakeError::SelfConnection);
        }
        Ok(Handshake { reserved: prefix.reserved, info_hash: prefix.info_hash, peer_id: PeerId(id) })
    })
    .await
}
