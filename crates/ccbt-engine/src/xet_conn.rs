//! One short-lived `xet_cas` connection opened by us, outside the pump: the phase that
//! learns manifests (`xet_manifests.rs`) and the chunk phase (`torrent/xet_chunks/`) both
//! speak through it. Socket, framing, our extension handshake offering only `xet_cas`, and an
//! optional place in the download limiter.

use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use ccbt_proto::xet::{negotiate, our_handshake, XetPeerCaps, XetViolation, DEFAULT_RQ, OUR_XET_CAS};
use ccbt_wire::ext::xet_cas::{RejectReason, XetMessage};
use ccbt_wire::ext::{ExtHandshake, XET_CAS};
use ccbt_wire::{Message, MessageDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::limits::{ConnRate, Direction};

/// What [`XetConn::next`] reports when the peer closed its side.
pub(crate) const CLOSED: &str = "peer closed the connection";
/// Bytes read at once when a limiter meters the reads.
const READ_AT_ONCE: usize = 64 * 1024;

/// Why an exchange over an [`XetConn`] ended early.
pub(crate) enum End {
    /// The peer broke the `xet_cas` rules (a bad page or chunk, a manifest not matching its
    /// root, an unsolicited answer, an undecodable or oversized message).
    Violation(XetViolation),
    /// The connection failed or the peer went silent.
    Other(String),
}

impl From<String> for End {
    fn from(reason: String) -> End {
        End::Other(reason)
    }
}

/// A connection's socket and framing, and with `rate` its place in the download limiter.
pub(crate) struct XetConn {
    pub stream: TcpStream,
    rate: Option<ConnRate>,
    decoder: MessageDecoder,
    input: BytesMut,
}

impl XetConn {
    pub fn new(stream: TcpStream, rate: Option<ConnRate>, max_frame: u32) -> XetConn {
        XetConn { stream, rate, decoder: MessageDecoder::new(max_frame), input: BytesMut::new() }
    }

    /// The next message. Cancel-safe: bytes read stay in `input`.
    pub async fn next(&mut self) -> Result<Message, String> {
        loop {
            match self.decoder.decode(&mut self.input) {
                Ok(Some(msg)) => return Ok(msg),
                Ok(None) => {}
                Err(e) => return Err(format!("invalid message: {e}")),
            }
            self.read().await?;
        }
    }

    /// Reads what the download limiter grants (waiting for it if it must), or what arrives.
    async fn read(&mut self) -> Result<(), String> {
        let Some(rate) = self.rate.as_ref() else {
            return read_result(self.stream.read_buf(&mut self.input).await);
        };
        loop {
            let now = std::time::Instant::now();
            match rate.request(Direction::Down, now, READ_AT_ONCE as u64) {
                ccbt_proto::limit::Decision::Grant { bytes } => {
                    let granted = (bytes as usize).clamp(1, READ_AT_ONCE);
                    self.input.reserve(granted);
                    let read = self.stream.read_buf(&mut (&mut self.input).limit(granted)).await;
                    let moved = *read.as_ref().unwrap_or(&0);
                    rate.give_back(Direction::Down, now, (granted - moved) as u64);
                    return read_result(read);
                }
                ccbt_proto::limit::Decision::WaitUntil(at) => {
                    tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
                }
            }
        }
    }

    pub async fn send(&mut self, msg: &Message) -> Result<(), String> {
        let mut out = BytesMut::new();
        ccbt_wire::encode(msg, &mut out);
        self.stream.write_all(out.chunk()).await.map_err(|e| format!("write failed: {e}"))
    }

    pub async fn send_xet(&mut self, ext_id: u8, msg: &XetMessage) -> Result<(), String> {
        self.send(&Message::Extended { id: ext_id, payload: msg.encode() }).await
    }

    /// Sends our extension handshake (`xet_cas` only: nothing else is served here) and reads
    /// the peer's; `None` when it does not speak our version of the extension.
    pub async fn negotiate_xet(&mut self, listen_port: u16) -> Result<Option<XetPeerCaps>, String> {
        let ours = ExtHandshake {
            m: vec![(XET_CAS.to_string(), OUR_XET_CAS)],
            v: Some(concat!("ccbt ", env!("CARGO_PKG_VERSION")).into()),
            p: Some(listen_port),
            xet: Some(our_handshake(DEFAULT_RQ)),
            ..ExtHandshake::default()
        };
        self.send(&Message::Extended { id: 0, payload: ours.encode() }).await?;
        loop {
            if let Message::Extended { id: 0, payload } = self.next().await? {
                let theirs =
                    ExtHandshake::decode(&payload).map_err(|e| format!("bad extension handshake: {e}"))?;
                return Ok(negotiate(&theirs));
            }
        }
    }

    /// Half-closes and waits (at most `wait`) until the peer closes its side: its end of this
    /// connection is then gone before we dial it again, which it would refuse while a
    /// connection with our peer id is open.
    pub async fn close(&mut self, wait: Duration) {
        let _ = self.stream.shutdown().await;
        let mut sink = [0u8; 4096];
        let drain = async { while matches!(self.stream.read(&mut sink).await, Ok(n) if n > 0) {} };
        let _ = tokio::time::timeout(wait, drain).await;
    }
}

fn read_result(read: std::io::Result<usize>) -> Result<(), String> {
    match read {
        Ok(0) => Err(CLOSED.into()),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("read failed: {e}")),
    }
}

/// The REJECT answering a peer's request on a connection that serves nothing
/// (the manifest and chunk phases ask, they never answer).
pub(crate) fn refusal(request: &XetMessage) -> XetMessage {
    let (req, id) = match request {
        XetMessage::ManifestReq { req, root, .. } => (*req, *root),
        XetMessage::ChunkReq { req, id, .. } => (*req, *id),
        XetMessage::Query { req, .. } => (*req, [0; 32]),
        _ => (0, [0; 32]),
    };
    XetMessage::Reject { req, id, reason: RejectReason::Absent }
}
