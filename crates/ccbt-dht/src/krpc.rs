//! KRPC messages (BEP 5): bencoded dictionaries carried in single UDP datagrams.
//!
//! Decoding is strict about the types and lengths of the keys it knows and ignores keys it does
//! not know (BEP 42 `ip`, BEP 32 `nodes6`, ...). BEP 44 `get`/`put` are in [`krpc_items`](self)
//! (see `krpc_items.rs`). Only IPv4 is handled: compact
//! IPv6 peers (18 bytes) in `values` are skipped. BEP 32 (IPv6 DHT) is future work.

use std::net::{Ipv4Addr, SocketAddrV4};

use ccbt_bencode::{decode as bdecode, Dict, OwnedValue, Value};
use ccbt_core::InfoHash;

use crate::error::lossy;
use crate::item::{Item, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::{KrpcError, NodeId};

#[path = "krpc_items.rs"]
mod items;

/// Length of one compact node entry: 20-byte id, 4-byte IPv4 address, 2-byte port.
pub const COMPACT_NODE_LEN: usize = 26;
/// Length of one compact IPv4 peer: 4-byte address, 2-byte port.
pub const COMPACT_PEER_LEN: usize = 6;
/// Longest transaction id accepted from a remote node. Ours are 2 bytes; real clients use up
/// to 4-8. The limit keeps replies to hostile queries small.
pub const MAX_TID_LEN: usize = 32;
/// Longest token accepted (ours are [`crate::token::TOKEN_LEN`] bytes, others' up to 20ish).
pub const MAX_TOKEN_LEN: usize = 64;

/// Error code: generic error.
pub const ERROR_GENERIC: i64 = 201;
/// Error code: server error.
pub const ERROR_SERVER: i64 = 202;
/// Error code: protocol error (malformed packet, invalid arguments, bad token).
pub const ERROR_PROTOCOL: i64 = 203;
/// Error code: method unknown.
pub const ERROR_METHOD_UNKNOWN: i64 = 204;
/// Error code (BEP 44): message (`v`) too big.
pub const ERROR_MESSAGE_TOO_BIG: i64 = 205;
/// Error code (BEP 44): invalid signature.
pub const ERROR_INVALID_SIGNATURE: i64 = 206;
/// Error code (BEP 44): salt too big.
pub const ERROR_SALT_TOO_BIG: i64 = 207;
/// Error code (BEP 44): the `cas` does not match the stored sequence number.
pub const ERROR_CAS_MISMATCH: i64 = 301;
/// Error code (BEP 44): sequence number less than the stored one.
pub const ERROR_SEQ_TOO_LOW: i64 = 302;

/// A node as carried in `nodes`: id and IPv4 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CompactNode {
    /// The node's id.
    pub id: NodeId,
    /// Its UDP address.
    pub addr: SocketAddrV4,
}

/// One KRPC message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Transaction id `t`, echoed by the responder.
    pub tid: Vec<u8>,
    /// Client version `v`, if sent.
    pub version: Option<Vec<u8>>,
    /// BEP 43 read-only flag `ro`: the sender answers no queries and must not be added to
    /// routing tables.
    pub read_only: bool,
    /// The query, response or error.
    pub body: Body,
}

/// The three kinds of KRPC message (`y` = `q`, `r`, `e`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// `y = q`.
    Query(Query),
    /// `y = r`.
    Response(Response),
    /// `y = e`.
    Error(ErrorReply),
}

/// The four BEP 5 queries and the two of BEP 44.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// `ping`.
    Ping {
        /// Querying node's id.
        id: NodeId,
    },
    /// `find_node`.
    FindNode {
        /// Querying node's id.
        id: NodeId,
        /// The id whose closest nodes are wanted.
        target: NodeId,
    },
    /// `get_peers`.
    GetPeers {
        /// Querying node's id.
        id: NodeId,
        /// The torrent.
        info_hash: InfoHash,
    },
    /// `announce_peer`.
    AnnouncePeer {
        /// Querying node's id.
        id: NodeId,
        /// The torrent.
        info_hash: InfoHash,
        /// The peer's port; ignored when `implied_port` is set (may then be 0).
        port: u16,
        /// Use the UDP source port instead of `port` (for peers behind NAT, uTP).
        implied_port: bool,
        /// The token from an earlier `get_peers` response of the queried node.
        token: Vec<u8>,
    },
    /// BEP 44 `get`: the item stored under `target`, and the closest nodes.
    Get {
        /// Querying node's id.
        id: NodeId,
        /// SHA-1 of the value (immutable) or of key and salt (mutable).
        target: NodeId,
        /// Only send a mutable item whose sequence number is greater than this.
        seq: Option<i64>,
    },
    /// BEP 44 `put`: store `item` (already signed if mutable).
    Put {
        /// Querying node's id.
        id: NodeId,
        /// The token from an earlier `get` response of the queried node.
        token: Vec<u8>,
        /// The item. Its sizes and signature are the storing node's to check: decoding
        /// accepts any values of the right types, so that the error code can say what is wrong.
        item: Item,
        /// Compare-and-swap: store only if the current sequence number is this (mutable only).
        cas: Option<i64>,
    },
}

impl Query {
    /// The querying node's id.
    pub fn id(&self) -> NodeId {
        match self {
            Query::Ping { id }
            | Query::FindNode { id, .. }
            | Query::GetPeers { id, .. }
            | Query::AnnouncePeer { id, .. }
            | Query::Get { id, .. }
            | Query::Put { id, .. } => *id,
        }
    }

    /// The method name (`q`).
    pub fn method(&self) -> &'static str {
        match self {
            Query::Ping { .. } => "ping",
            Query::FindNode { .. } => "find_node",
            Query::GetPeers { .. } => "get_peers",
            Query::AnnouncePeer { .. } => "announce_peer",
            Query::Get { .. } => "get",
            Query::Put { .. } => "put",
        }
    }
}

/// A response (`r`). KRPC responses do not name the method they answer, so all optional
/// fields of all methods are here; the querier knows what it asked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// Responding node's id.
    pub id: NodeId,
    /// Closest nodes (find_node, get_peers), compact IPv4.
    pub nodes: Vec<CompactNode>,
    /// Peers (get_peers), compact IPv4.
    pub values: Vec<SocketAddrV4>,
    /// Announce or put token (get_peers, get).
    pub token: Option<Vec<u8>>,
    /// BEP 44 `get`: the item's value, bencoded (as received: not yet checked).
    pub v: Option<Vec<u8>>,
    /// BEP 44 `get` of a mutable item: the public key.
    pub k: Option<[u8; PUBLIC_KEY_LEN]>,
    /// BEP 44 `get` of a mutable item: the signature.
    pub sig: Option<[u8; SIGNATURE_LEN]>,
    /// BEP 44 `get` of a mutable item: its sequence number (sent alone when the querier
    /// already has that one or a newer one).
    pub seq: Option<i64>,
}

/// An error message (`e`): `[code, message]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorReply {
    /// 201 generic, 202 server, 203 protocol, 204 method unknown (others are passed through).
    pub code: i64,
    /// Human-readable text (lossy UTF-8).
    pub message: String,
}

impl Message {
    /// Encodes the message (keys sorted, as bencode requires).
    pub fn encode(&self) -> Vec<u8> {
        let mut top = OwnedValue::dict().with("t", self.tid.clone());
        if let Some(v) = &self.version {
            top.insert("v", v.clone());
        }
        if self.read_only {
            top.insert("ro", 1i64);
        }
        match &self.body {
            Body::Query(q) => {
                let mut a = OwnedValue::dict().with("id", q.id().0.to_vec());
                match q {
                    Query::Ping { .. } => {}
                    Query::FindNode { target, .. } => {
                        a.insert("target", target.0.to_vec());
                    }
                    Query::GetPeers { info_hash, .. } => {
                        a.insert("info_hash", info_hash.0.to_vec());
                    }
                    Query::AnnouncePeer { info_hash, port, implied_port, token, .. } => {
                        a.insert("info_hash", info_hash.0.to_vec());
                        a.insert("port", i64::from(*port));
                        a.insert("token", token.clone());
                        if *implied_port {
                            a.insert("implied_port", 1i64);
                        }
                    }
                    Query::Get { .. } | Query::Put { .. } => items::encode_query_args(q, &mut a),
                }
                top.insert("y", "q");
                top.insert("q", q.method());
                top.insert("a", a);
            }
            Body::Response(r) => {
                let mut d = OwnedValue::dict().with("id", r.id.0.to_vec());
                if !r.nodes.is_empty() {
                    d.insert("nodes", encode_nodes(&r.nodes));
                }
                if !r.values.is_empty() {
                    let values = r.values.iter().map(|p| OwnedValue::Bytes(encode_peer(p).to_vec()));
                    d.insert("values", OwnedValue::List(values.collect()));
                }
                if let Some(token) = &r.token {
                    d.insert("token", token.clone());
                }
                items::encode_response_fields(r, &mut d);
                top.insert("y", "r");
                top.insert("r", d);
            }
            Body::Error(e) => {
                let list = vec![OwnedValue::Int(e.code), OwnedValue::from(e.message.as_str())];
                top.insert("y", "e");
                top.insert("e", list);
            }
        }
        top.to_bytes()
    }
}

/// Concatenated compact node entries.
pub fn encode_nodes(nodes: &[CompactNode]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nodes.len() * COMPACT_NODE_LEN);
    for n in nodes {
        out.extend_from_slice(&n.id.0);
        out.extend_from_slice(&encode_peer(&n.addr));
    }
    out
}

/// One compact IPv4 peer: address then port, big-endian.
pub fn encode_peer(addr: &SocketAddrV4) -> [u8; 6] {
    let [a, b, c, d] = addr.ip().octets();
    let [p0, p1] = addr.port().to_be_bytes();
    [a, b, c, d, p0, p1]
}

fn decode_peer(b: &[u8; 6]) -> SocketAddrV4 {
    let [a, b0, c, d, p0, p1] = *b;
    SocketAddrV4::new(Ipv4Addr::new(a, b0, c, d), u16::from_be_bytes([p0, p1]))
}

/// Parses a `nodes` byte string (a multiple of 26 bytes).
pub fn decode_nodes(bytes: &[u8]) -> Result<Vec<CompactNode>, KrpcError> {
    if bytes.len() % COMPACT_NODE_LEN != 0 {
        return Err(KrpcError::WrongLength { key: "nodes", expected: COMPACT_NODE_LEN, got: bytes.len() });
    }
    let mut out = Vec::with_capacity(bytes.len() / COMPACT_NODE_LEN);
    for chunk in bytes.chunks_exact(COMPACT_NODE_LEN) {
        let (id, peer) = chunk.split_at(20);
        let id: [u8; 20] = id.try_into().map_err(|_| KrpcError::WrongLength {
            key: "nodes",
            expected: COMPACT_NODE_LEN,
            got: chunk.len(),
        })?;
        let peer: &[u8; 6] = peer.try_into().map_err(|_| KrpcError::WrongLength {
            key: "nodes",
            expected: COMPACT_NODE_LEN,
            got: chunk.len(),
        })?;
        out.push(CompactNode { id: NodeId(id), addr: decode_peer(peer) });
    }
    Ok(out)
}

/// Decodes one datagram.
pub fn decode(data: &[u8]) -> Result<Message, KrpcError> {
    let value = bdecode(data).map_err(|source| KrpcError::Bencode { source })?;
    let top = value.as_dict().ok_or(KrpcError::NotADict { key: "message" })?;
    let tid = req_bytes(top, "t")?;
    if tid.len() > MAX_TID_LEN {
        return Err(KrpcError::WrongLength { key: "t", expected: MAX_TID_LEN, got: tid.len() });
    }
    let version = opt_bytes(top, "v")?.map(<[u8]>::to_vec);
    let read_only = opt_int(top, "ro")?.is_some_and(|n| n != 0);
    let body = match req_bytes(top, "y")? {
        b"q" => Body::Query(decode_query(top)?),
        b"r" => Body::Response(decode_response(req_dict(top, "r")?)?),
        b"e" => Body::Error(decode_error(top)?),
        other => return Err(KrpcError::UnknownType { kind: lossy(other) }),
    };
    Ok(Message { tid: tid.to_vec(), version, read_only, body })
}

/// The transaction id of a datagram that is a well-formed bencoded dictionary with `y = q`
/// and a usable `t`, even if the rest of the query is malformed. This is what an error 203
/// reply is addressed with; anything else (garbage, broken responses) gets no reply at all, so
/// two nodes can never bounce errors at each other.
pub fn query_tid(data: &[u8]) -> Option<Vec<u8>> {
    let value = bdecode(data).ok()?;
    let top = value.as_dict()?;
    if top.get(b"y")?.as_bytes()? != b"q" {
        return None;
    }
    let tid = top.get(b"t")?.as_bytes()?;
    (tid.len() <= MAX_TID_LEN).then(|| tid.to_vec())
}

fn decode_query(top: &Dict<'_>) -> Result<Query, KrpcError> {
    let method = req_bytes(top, "q")?;
    let a = req_dict(top, "a")?;
    let id = NodeId(req_id(a, "id")?);
    Ok(match method {
        b"ping" => Query::Ping { id },
        b"find_node" => Query::FindNode { id, target: NodeId(req_id(a, "target")?) },
        b"get_peers" => Query::GetPeers { id, info_hash: InfoHash(req_id(a, "info_hash")?) },
        b"announce_peer" => {
            let info_hash = InfoHash(req_id(a, "info_hash")?);
            let implied_port = opt_int(a, "implied_port")?.is_some_and(|n| n != 0);
            let port = match opt_int(a, "port")? {
                Some(p) => match u16::try_from(p) {
                    Ok(p) if p != 0 || implied_port => p,
                    _ => return Err(KrpcError::InvalidPort { port: p }),
                },
                None if implied_port => 0,
                None => return Err(KrpcError::MissingKey { key: "port" }),
            };
            let token = req_bytes(a, "token")?;
            if token.len() > MAX_TOKEN_LEN {
                return Err(KrpcError::WrongLength {
                    key: "token",
                    expected: MAX_TOKEN_LEN,
                    got: token.len(),
                });
            }
            Query::AnnouncePeer { id, info_hash, port, implied_port, token: token.to_vec() }
        }
        b"get" => items::decode_get(id, a)?,
        b"put" => items::decode_put(id, a)?,
        other => return Err(KrpcError::UnknownMethod { method: lossy(other) }),
    })
}

fn decode_response(r: &Dict<'_>) -> Result<Response, KrpcError> {
    let id = NodeId(req_id(r, "id")?);
    let nodes = match opt_bytes(r, "nodes")? {
        Some(b) => decode_nodes(b)?,
        None => Vec::new(),
    };
    let mut values = Vec::new();
    if let Some(v) = r.get(b"values") {
        let list = v.as_list().ok_or(wrong_type("values", "list", v))?;
        for item in list {
            let b = item.as_bytes().ok_or(wrong_type("values", "byte string", item))?;
            if let Ok(peer) = <&[u8; COMPACT_PEER_LEN]>::try_from(b) {
                values.push(decode_peer(peer));
            } else if b.len() != 18 {
                // 18 bytes is a compact IPv6 peer (BEP 32), skipped; anything else is broken.
                return Err(KrpcError::WrongLength {
                    key: "values",
                    expected: COMPACT_PEER_LEN,
                    got: b.len(),
                });
            }
        }
    }
    let token = match opt_bytes(r, "token")? {
        Some(t) if t.len() > MAX_TOKEN_LEN => {
            return Err(KrpcError::WrongLength { key: "token", expected: MAX_TOKEN_LEN, got: t.len() })
        }
        t => t.map(<[u8]>::to_vec),
    };
    let (v, k, sig, seq) = items::decode_response_fields(r)?;
    Ok(Response { id, nodes, values, token, v, k, sig, seq })
}

fn decode_error(top: &Dict<'_>) -> Result<ErrorReply, KrpcError> {
    let e = top.get(b"e").ok_or(KrpcError::MissingKey { key: "e" })?;
    let list = e.as_list().ok_or(wrong_type("e", "list", e))?;
    let code = list.first().and_then(Value::as_int).ok_or(KrpcError::MalformedError)?;
    let message = match list.get(1) {
        Some(m) => {
            let b = m.as_bytes().ok_or(KrpcError::MalformedError)?;
            let b = b.get(..256).unwrap_or(b);
            String::from_utf8_lossy(b).into_owned()
        }
        None => String::new(),
    };
    Ok(ErrorReply { code, message })
}

pub(crate) fn wrong_type(key: &'static str, expected: &'static str, found: &Value<'_>) -> KrpcError {
    KrpcError::WrongType { key, expected, found: found.kind() }
}

pub(crate) fn opt_bytes<'a>(d: &Dict<'a>, key: &'static str) -> Result<Option<&'a [u8]>, KrpcError> {
    match d.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v.as_bytes().map(Some).ok_or(wrong_type(key, "byte string", v)),
    }
}

pub(crate) fn req_bytes<'a>(d: &Dict<'a>, key: &'static str) -> Result<&'a [u8], KrpcError> {
    opt_bytes(d, key)?.ok_or(KrpcError::MissingKey { key })
}

pub(crate) fn opt_int(d: &Dict<'_>, key: &'static str) -> Result<Option<i64>, KrpcError> {
    match d.get(key.as_bytes()) {
        None => Ok(None),
        Some(v) => v.as_int().map(Some).ok_or(wrong_type(key, "integer", v)),
    }
}

fn req_dict<'d, 'a>(d: &'d Dict<'a>, key: &'static str) -> Result<&'d Dict<'a>, KrpcError> {
    let v = d.get(key.as_bytes()).ok_or(KrpcError::MissingKey { key })?;
    v.as_dict().ok_or(wrong_type(key, "dictionary", v))
}

pub(crate) fn req_id(d: &Dict<'_>, key: &'static str) -> Result<[u8; 20], KrpcError> {
    let b = req_bytes(d, key)?;
    b.try_into().map_err(|_| KrpcError::WrongLength { key, expected: 20, got: b.len() })
}

#[cfg(test)]
#[path = "krpc_tests.rs"]
mod tests;
