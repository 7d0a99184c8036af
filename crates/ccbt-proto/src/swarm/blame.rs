//! Who sent the bad data of a piece that failed its hash check.
//!
//! A piece sent entirely by one peer convicts that peer at once (one strike). A piece assembled
//! from several peers proves only that one of them lied, so instead of striking everyone (which
//! bans honest peers that happened to share pieces with a liar) its blocks are kept as evidence:
//! when the piece later passes its hash check, every kept block that differs from the verified
//! data names its sender, who is then banned outright. Evidence memory is bounded; beyond the
//! bound a mixed failure is simply retried.

use std::collections::HashMap;

use bytes::Bytes;

use crate::PeerKey;

/// Most bytes of failed pieces kept as evidence.
const MAX_EVIDENCE_BYTES: u64 = 8 * 1024 * 1024;

/// A piece handed out for hashing.
pub(super) struct Verifying {
    /// The sender of each block, in block order.
    pub(super) senders: Vec<PeerKey>,
    pub(super) len: u64,
    /// The blocks, kept only when they may be needed as evidence or to judge evidence: for
    /// pieces from several peers, and for pieces that failed before.
    pub(super) blocks: Option<Vec<Bytes>>,
}

/// What a failed or verified piece says about its senders.
pub(super) enum Verdict {
    /// One peer sent all of it: strike it.
    Strike(PeerKey),
    /// These peers sent blocks that differ from the verified data: ban them.
    Liars(Vec<PeerKey>),
    Nothing,
}

/// Evidence kept from failed pieces with several senders.
#[derive(Default)]
pub(super) struct Blame {
    evidence: HashMap<u32, Vec<(PeerKey, Bytes)>>,
    bytes: u64,
}

impl Blame {
    /// Whether the blocks of `piece`, about to be hashed, must be kept.
    pub(super) fn keep_blocks(&self, piece: u32, senders: &[PeerKey]) -> bool {
        self.evidence.contains_key(&piece) || senders.windows(2).any(|w| w[0] != w[1])
    }

    /// The piece failed its hash check.
    pub(super) fn on_failed(&mut self, piece: u32, v: Verifying) -> Verdict {
        let first = v.senders.first().copied();
        if let Some(peer) = first.filter(|p| v.senders.iter().all(|s| s == p)) {
            return Verdict::Strike(peer);
        }
        let Some(blocks) = v.blocks else { return Verdict::Nothing };
        if !self.evidence.contains_key(&piece) && self.bytes + v.len <= MAX_EVIDENCE_BYTES {
            self.bytes += v.len;
            self.evidence.insert(piece, v.senders.into_iter().zip(blocks).collect());
        }
        Verdict::Nothing
    }

    /// The piece passed its hash check: judge the evidence kept for it, if any.
    pub(super) fn on_verified(&mut self, piece: u32, v: &Verifying) -> Verdict {
        let Some(evidence) = self.evidence.remove(&piece) else { return Verdict::Nothing };
        self.bytes = self.bytes.saturating_sub(v.len);
        let Some(good) = &v.blocks else { return Verdict::Nothing };
        let mut liars: Vec<PeerKey> = Vec::new();
        for ((sender, bad), good) in evidence.iter().zip(good) {
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
}
