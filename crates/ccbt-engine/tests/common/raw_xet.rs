//! A raw BitTorrent connection speaking `xet_cas`, for tests that play the asking side by hand.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use ccbt_core::InfoHash;
use ccbt_wire::ext::xet_cas::XetMessage;
use ccbt_wire::ext::{ExtHandshake, XetHandshake, XET_CAS};
use ccbt_wire::{Handshake, Message, MessageDecoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The extended id the test peer receives `xet_cas` under.
pub const THEIR_XET: u8 = 7;

pub struct RawXetPeer {
    pub stream: TcpStream,
    decoder: MessageDecoder,
    buf: BytesMut,
    /// The remote's id for `xet_cas`, from its extension handshake.
    pub remote_xet: u8,
    /// The info hash of the remote's handshake.
    pub remote_info_hash: InfoHash,
}

impl RawXetPeer {
    /// Connects from `ip` (each test peer its own address and peer id) and sends our handshake
    /// for `info_hash` with an extension handshake offering `xet_cas`. None when the remote
    /// closes before answering with its handshake and extension handshake.
    pub async fn connect(ip: &str, addr: SocketAddr, info_hash: InfoHash) -> Option<RawXetPeer> {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
        let mut stream = socket.connect(addr).await.unwrap();
        let mut out = BytesMut::new();
        let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
        Handshake::new(info_hash, ccbt_core::PeerId([last; 20])).encode(&mut out);
        let hs = ExtHandshake {
            m: vec![(XET_CAS.into(), THEIR_XET)],
            xet: Some(XetHandshake {
                v: 1,
                cdc: Some("xet-gear-64k".into()),
                mm: Some(139_264),
                rq: Some(64),
            }),
            ..Default::default()
        };
        ccbt_wire::encode(&Message::Extended { id: 0, payload: hs.encode() }, &mut out);
        stream.write_all(&out).await.ok()?;
        let mut theirs = [0u8; Handshake::LEN];
        let read = tokio::time::timeout(Duration::from_secs(20), stream.read_exact(&mut theirs)).await;
        read.expect("the remote went silent").ok()?;
        let remote_info_hash = Handshake::decode(&theirs).unwrap().unwrap().info_hash;
        let mut peer = RawXetPeer {
            stream,
            decoder: MessageDecoder::new(1 << 20),
            buf: BytesMut::new(),
            remote_xet: 0,
            remote_info_hash,
        };
        loop {
            if let Message::Extended { id: 0, payload } = peer.next().await? {
                let theirs = ExtHandshake::decode(&payload).unwrap();
                peer.remote_xet = theirs.extension_id(XET_CAS).expect("the remote offers xet_cas");
                return Some(peer);
            }
        }
    }

    /// The next message, or None once the remote closed the connection.
    pub async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(msg) = self.decoder.decode(&mut self.buf).unwrap() {
                return Some(msg);
            }
            let read =
                tokio::time::timeout(Duration::from_secs(20), self.stream.read_buf(&mut self.buf)).await;
            match read.expect("the remote went silent") {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    pub async fn send(&mut self, msg: Message) {
        let mut out = BytesMut::new();
        ccbt_wire::encode(&msg, &mut out);
        self.stream.write_all(&out).await.unwrap();
    }

    pub async fn send_xet(&mut self, msg: &XetMessage) {
        let id = self.remote_xet;
        self.send(Message::Extended { id, payload: msg.encode() }).await;
    }

    /// The next `xet_cas` message (other messages skipped).
    pub async fn next_xet(&mut self) -> Option<XetMessage> {
        loop {
            if let Message::Extended { id: THEIR_XET, payload } = self.next().await? {
                return Some(XetMessage::decode(&payload).unwrap());
            }
        }
    }
}
