//! The BEP 52 merkle hash messages: `hash request` (21), `hashes` (22) and `hash reject` (23).
//!
//! All three start with the same 48-byte header ([`HashRequest`]): the file's pieces root, then
//! four big-endian u32s: base layer (0 = the 16 KiB leaves), index of the first node in that
//! layer, number of nodes (`length`) and proof layers. `hashes` follows it with `length` nodes
//! of the base layer and then the uncle hashes that prove them, lowest first.
//!
//! `proof layers` counts layers the way libtorrent (the reference implementation) does: the
//! answer carries `proof_layers + 1 - log2(next_power_of_two(length))` uncles (none if that is
//! negative), starting with the sibling of the subtree the requested nodes form. A full proof
//! up to the root of a tree `h` layers above the base is therefore `proof_layers = h - 1`; see
//! [`uncle_count`].

use bytes::{BufMut, BytesMut};
use ccbt_core::merkle::Node;

use crate::WireError;

/// Bytes of the shared header: pieces root (32) and four u32s.
pub const HASH_HEADER_LEN: usize = 48;

/// Most base-layer nodes a `hashes` message may carry. libtorrent refuses requests for more
/// (8192 piece hashes cover a 128 MiB piece's blocks); it bounds what one message can make us
/// buffer and hash.
pub const MAX_HASHES_LENGTH: u32 = 8192;

/// Most uncle hashes a `hashes` message may carry. A file of 2^64 bytes has a tree of 50
/// layers above its 16 KiB leaves; 64 leaves room without letting a peer pad the message.
pub const MAX_PROOF_HASHES: usize = 64;

/// Largest payload of a `hashes` message the decoder accepts (the id byte excluded).
pub const MAX_HASHES_PAYLOAD: usize =
    HASH_HEADER_LEN + (MAX_HASHES_LENGTH as usize + MAX_PROOF_HASHES) * 32;

/// The header of a `hash request`, `hash reject` or `hashes` message: which nodes of which
/// file's tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HashRequest {
    /// The file's pieces root (the root of its merkle tree).
    pub pieces_root: Node,
    /// Layer of the requested nodes: 0 is the 16 KiB leaves, `log2(piece_length / 16 KiB)`
    /// the piece layer.
    pub base_layer: u32,
    /// Index of the first requested node within its layer.
    pub index: u32,
    /// Number of requested nodes.
    pub length: u32,
    /// How far up the tree the proof goes (see the module documentation).
    pub proof_layers: u32,
}

impl HashRequest {
    /// Uncle hashes a `hashes` answer to this request carries (see [`uncle_count`]).
    pub fn uncle_count(&self) -> u32 {
        uncle_count(self.length, self.proof_layers)
    }

    pub(crate) fn put(&self, dst: &mut BytesMut) {
        dst.put_slice(&self.pieces_root);
        dst.put_u32(self.base_layer);
        dst.put_u32(self.index);
        dst.put_u32(self.length);
        dst.put_u32(self.proof_layers);
    }

    /// Reads the header from the first [`HASH_HEADER_LEN`] bytes of `payload`.
    pub(crate) fn read(payload: &[u8]) -> Option<HashRequest> {
        let (root, rest) = payload.split_first_chunk::<32>()?;
        let (fields, _) = rest.split_first_chunk::<16>()?;
        let at = |i: usize| {
            let mut word = [0u8; 4];
            word.copy_from_slice(&fields[i * 4..i * 4 + 4]);
            u32::from_be_bytes(word)
        };
        Some(HashRequest {
            pieces_root: *root,
            base_layer: at(0),
            index: at(1),
            length: at(2),
            proof_layers: at(3),
        })
    }
}

/// Uncle hashes in the answer to a request for `length` nodes with `proof_layers`, as
/// libtorrent computes it: the layers the requested nodes prove by themselves (their subtree's
/// height, `log2` of `length` rounded up to a power of two) do not need uncles, the others need
/// one each, and the subtree's own root layer adds one.
pub fn uncle_count(length: u32, proof_layers: u32) -> u32 {
    let subtree_height = length.max(1).checked_next_power_of_two().map_or(32, u32::trailing_zeros);
    (u64::from(proof_layers) + 1).saturating_sub(u64::from(subtree_height)).min(u64::from(u32::MAX))
        as u32
}

/// A `hashes` message: the header of the request it answers, then `length` base-layer nodes
/// followed by their uncle hashes (lowest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hashes {
    /// The request this answers, as the peer echoes it.
    pub request: HashRequest,
    /// `request.length` base-layer nodes, then the proof. Decoding guarantees there are at
    /// least `request.length` nodes and at most [`MAX_PROOF_HASHES`] more.
    pub nodes: Vec<Node>,
}

impl Hashes {
    /// The requested base-layer nodes (all nodes if fewer than `request.length` were given).
    pub fn base(&self) -> &[Node] {
        let n = (self.request.length as usize).min(self.nodes.len());
        &self.nodes[..n]
    }

    /// The uncle hashes after the base-layer nodes, lowest first.
    pub fn proof(&self) -> &[Node] {
        &self.nodes[self.base().len()..]
    }

    /// Payload bytes after the message id.
    pub fn payload_len(&self) -> usize {
        self.nodes.len().saturating_mul(32).saturating_add(HASH_HEADER_LEN)
    }

    pub(crate) fn put(&self, dst: &mut BytesMut) {
        self.request.put(dst);
        for node in &self.nodes {
            dst.put_slice(node);
        }
    }

    /// Decodes a `hashes` payload (after the id byte) strictly: whole 32-byte nodes, at most
    /// [`MAX_HASHES_LENGTH`] base nodes and at most [`MAX_PROOF_HASHES`] uncles after them.
    ///
    /// The exact number of uncles is not checked here: it is the requester's business, which
    /// compares it with the proof it asked for (libtorrent itself sends one uncle fewer than
    /// [`uncle_count`] when `length` is 1).
    pub fn decode(payload: &[u8]) -> Result<Hashes, WireError> {
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let bad_len = WireError::BadPayloadLength { id: crate::message_id::HASHES, len };
        let request = HashRequest::read(payload).ok_or(bad_len)?;
        let body = &payload[HASH_HEADER_LEN..];
        if body.len() % 32 != 0 {
            return Err(WireError::HashesNotWhole { len: body.len() });
        }
        if request.length == 0 || request.length > MAX_HASHES_LENGTH {
            return Err(WireError::HashesBadLength { length: request.length, max: MAX_HASHES_LENGTH });
        }
        let count = body.len() / 32;
        let length = request.length as usize;
        if count < length || count - length > MAX_PROOF_HASHES {
            return Err(WireError::HashesBadCount { length: request.length, nodes: count });
        }
        let nodes = body.chunks_exact(32).map(|c| <Node>::try_from(c).unwrap_or([0; 32])).collect();
        Ok(Hashes { request, nodes })
    }
}

#[cfg(test)]
#[path = "hashes_tests.rs"]
mod tests;
