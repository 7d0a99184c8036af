//! Who sent the bad data of a piece that failed its hash check.
//!
//! Senders are IP addresses, not connections: a liar that disconnects before the verdict, or
//! reconnects with a new peer id, is still the same sender.
//!
//! A piece sent entirely by one address convicts it at once (one strike). A piece assembled
//! from several addresses proves only that one of them lied, so instead of striking everyone
//! (which bans honest peers that happened to share pieces with a liar) a SHA-1 of each of its
//! blocks is kept as evidence: when the piece later passes its hash check, every kept block
//! whose hash differs from the verified block's names its sender, who is then banned outright.
//! Hashes, not blocks, are kept, so evidence costs 20 bytes a block for any piece size; the
//! number of kept hashes is bounded, and beyond the bound a mixed failure is simply retried.
//!
//! The swarm never hashes: hashing a piece is O(piece) work, and the swarm runs under the
//! torrent lock. It asks for block hashes in the verify action (`block_hashes`) when they may
//! be needed, and the hash pool, which hashes the piece anyway, computes them off the lock and
//! hands them back with the outcome.

use std::collections::HashMap;
use std::net::IpAddr;

/// Most block hashes kept as evidence (20 bytes each plus the sender: about 2.5 MiB, enough
/// for four failed 256 MiB pieces or thousands of common ones).
const MAX_EVIDENCE_BLOCKS: usize = 1 << 16;

/// The SHA-1 of one block.
pub type BlockHash = [u8; 20];

/// A piece handed out for hashing.
pub(super) struct Verifying {
    /// The sender of each block, in block order.
    pub(super) senders: Vec<IpAddr>,
    /// The bytes the piece holds against the buffer budget.
    pub(super) len: u64,
    /// Whether block hashes were asked for: they may be needed as evidence (several senders)
    /// or to judge evidence (the piece failed before).
    pub(super) wants_hashes: bool,
}

/// What a failed or verified piece says about its senders.
pub(super) enum Verdict {
    /// One address sent all of it: strike it.
    Strike(IpAddr),
    /// These addresses sent blocks that differ from the verified data: ban them.
    Liars(Vec<IpAddr>),
    Nothing,
}

/// Evidence kept from failed pieces with several senders.
#[derive(Default)]
pub(super) struct Blame {
    evidence: HashMap<u32, Vec<(IpAddr, BlockHash)>>,
    /// Hashes held in `evidence`.
    blocks: usize,
}

impl Blame {
    /// The record of a piece about to be hashed, asking for block hashes when they may be needed.
    pub(super) fn verifying(&self, piece: u32, senders: Vec<IpAddr>, len: u64) -> Verifying {
        let wants_hashes = self.evidence.contains_key(&piece) || senders.windows(2).any(|w| w[0] != w[1]);
        Verifying { senders, len, wants_hashes }
    }

    /// The piece failed its hash check. `hashes` are its block hashes, if they were asked for.
    pub(super) fn on_failed(&mut self, piece: u32, v: Verifying, hashes: Option<Vec<BlockHash>>) -> Verdict {
        let first = v.senders.first().copied();
        if let Some(ip) = first.filter(|ip| v.senders.iter().all(|s| s == ip)) {
            return Verdict::Strike(ip);
        }
        let Some(hashes) = usable(&v, hashes) else { return Verdict::Nothing };
        if !self.evidence.contains_key(&piece) && self.blocks + hashes.len() <= MAX_EVIDENCE_BLOCKS {
            self.blocks += hashes.len();
            self.evidence.insert(piece, v.senders.into_iter().zip(hashes).collect());
        }
        Verdict::Nothing
    }

    /// The piece passed its hash check: judge the evidence kept for it, if any, against its
    /// block hashes.
    pub(super) fn on_verified(
        &mut self,
        piece: u32,
        v: &Verifying,
        hashes: Option<Vec<BlockHash>>,
    ) -> Verdict {
        let Some(evidence) = self.evidence.remove(&piece) else { return Verdict::Nothing };
        self.blocks = self.blocks.saturating_sub(evidence.len());
        let Some(good) = usable(v, hashes) else { return Verdict::Nothing };
        let mut liars: Vec<IpAddr> = Vec::new();
        for ((sender, bad), good) in evidence.iter().zip(&good) {
            if bad != good && !liars.contains(sender) {
                liars.push(*sender);
            }
        }
        if liars.is_empty() {
            Verdict::Nothing
        } else {
            Verdict::Liars(liars)
        }
    }

    /// Block hashes held as evidence.
    #[cfg(test)]
    pub(super) fn evidence_blocks(&self) -> usize {
        self.blocks
    }
}

/// Block hashes the verifier returned, if they were asked for and there is one per block
/// (anything else cannot be matched to senders and is not used as evidence).
fn usable(v: &Verifying, hashes: Option<Vec<BlockHash>>) -> Option<Vec<BlockHash>> {
    hashes.filter(|h| v.wants_hashes && h.len() == v.senders.len())
}
