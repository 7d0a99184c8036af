//! One metadata piece while it is fetched: the request outstanding for it, and every copy
//! received, by the addresses that sent it.
//!
//! Only one copy's bytes are held (the one the most distinct addresses sent); the others are
//! remembered by digest. When a rival digest overtakes the leader, the copy that made it overtake
//! is the one just received, so its bytes are at hand to replace the leader's. Copies are told
//! apart by SHA-256, not SHA-1: with SHA-1 collisions within reach, a liar could send two
//! different copies under one digest and have its lie counted as agreement.
//!
//! Invariants: `data` is `Some` exactly when `leader` is; `leader` is a key of `copies`; one
//! address appears in at most one digest's set (a second copy from the same address is ignored).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::PeerKey;

/// A copy's SHA-256.
type Digest32 = [u8; 32];

/// A request outstanding at one peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Request {
    pub peer: PeerKey,
    pub deadline: Instant,
}

#[derive(Debug, Default)]
pub(super) struct Piece {
    pub request: Option<Request>,
    /// The bytes of the leading copy, copied out of whatever buffer they arrived in.
    data: Option<Box<[u8]>>,
    leader: Option<Digest32>,
    copies: BTreeMap<Digest32, BTreeSet<IpAddr>>,
}

impl Piece {
    /// Whether `ip` already sent a copy of this piece (its vote is counted; asking again buys
    /// nothing).
    pub fn has_copy_from(&self, ip: IpAddr) -> bool {
        self.copies.values().any(|ips| ips.contains(&ip))
    }

    /// Whether the leading copy was sent by at least `quorum` distinct addresses and by more
    /// addresses than any other copy.
    pub fn is_settled(&self, quorum: usize) -> bool {
        let Some(leader) = self.leader else { return false };
        let votes = self.votes(&leader);
        votes >= quorum && self.copies.iter().all(|(digest, ips)| *digest == leader || ips.len() < votes)
    }

    fn votes(&self, digest: &Digest32) -> usize {
        self.copies.get(digest).map_or(0, BTreeSet::len)
    }

    /// Records a copy from `ip`. The bytes are copied only if they become the leading copy. A
    /// second copy from an address that already sent one is ignored.
    pub fn add_copy(&mut self, ip: IpAddr, bytes: &[u8]) {
        if self.has_copy_from(ip) {
            return;
        }
        let digest: Digest32 = Sha256::digest(bytes).into();
        self.copies.entry(digest).or_default().insert(ip);
        let leads = match self.leader {
            None => true,
            Some(leader) => leader != digest && self.votes(&digest) > self.votes(&leader),
        };
        if leads {
            self.leader = Some(digest);
            self.data = Some(bytes.into());
        }
    }

    /// Bytes of payload held.
    pub fn held_bytes(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len())
    }

    /// The leading copy's bytes.
    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_deref()
    }

    /// Addresses that sent a copy other than the leading one.
    pub fn dissenters(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.copies
            .iter()
            .filter(move |(digest, _)| Some(**digest) != self.leader)
            .flat_map(|(_, ips)| ips.iter().copied())
    }

    /// Addresses that sent the leading copy.
    pub fn supporters(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.leader.iter().filter_map(|l| self.copies.get(l)).flat_map(|ips| ips.iter().copied())
    }
}
