//! Which file manifests a magnet download still needs, and which peer to ask for each
//! (docs/xet.md, "Learning manifests from peers").
//!
//! A magnet link's info dictionary names each file's xet root but not its chunk manifest. The
//! engine connects to a few peers that speak `xet_cas` and asks them with one [`XetFetcher`]
//! each (which checks every page and the whole manifest against its root); this schedule hands
//! each missing root to one peer at a time, moves it to another peer when the first refuses it,
//! leaves or lies, and says when nothing more can be learned from the peers connected.
//!
//! Memory: one entry per missing root and per connected peer, plus the verified manifests,
//! which the caller bounds per file with [`super::max_manifest_entries`].
//!
//! [`XetFetcher`]: super::XetFetcher

use std::collections::{BTreeMap, BTreeSet};

use ccbt_xet::{ChunkId, ChunkRef};

use crate::PeerKey;

use super::max_manifest_entries;

/// A manifest to ask a peer for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestAsk {
    /// The file's xet root.
    pub root: ChunkId,
    /// The file's length, which the manifest's entries must add up to.
    pub size: u64,
    /// Most entries a manifest of the file can have.
    pub max_entries: u32,
}

#[derive(Debug)]
struct Wanted {
    size: u64,
    /// The peer asked for it now, if any.
    asking: Option<PeerKey>,
    /// Peers that refused it, left while asked, or lied about it: never asked for it again.
    tried: BTreeSet<PeerKey>,
}

/// The manifests still missing and who is being asked for them.
#[derive(Debug, Default)]
pub struct ManifestSchedule {
    wanted: BTreeMap<ChunkId, Wanted>,
    learned: BTreeMap<ChunkId, Vec<ChunkRef>>,
    peers: BTreeSet<PeerKey>,
}

impl ManifestSchedule {
    /// A schedule for the files `(xet root, length)` whose manifests are missing.
    pub fn new(files: impl IntoIterator<Item = (ChunkId, u64)>) -> ManifestSchedule {
        let wanted = files
            .into_iter()
            .map(|(root, size)| (root, Wanted { size, asking: None, tried: BTreeSet::new() }))
            .collect();
        ManifestSchedule { wanted, ..ManifestSchedule::default() }
    }

    /// A peer that negotiated `xet_cas` joined.
    pub fn add_peer(&mut self, key: PeerKey) {
        self.peers.insert(key);
    }

    /// The peer left (or was dropped): what it was asked goes back to the others, and it is not
    /// asked for those roots again.
    pub fn remove_peer(&mut self, key: PeerKey) {
        self.peers.remove(&key);
        for wanted in self.wanted.values_mut() {
            if wanted.asking == Some(key) {
                wanted.asking = None;
                wanted.tried.insert(key);
            }
        }
    }

    /// The next manifest to ask `key` for: one not being asked of anyone and not tried with
    /// this peer. `None` when there is none now (see [`Self::has_work_for`]).
    pub fn next_for(&mut self, key: PeerKey) -> Option<ManifestAsk> {
        if !self.peers.contains(&key) {
            return None;
        }
        let (root, wanted) =
            self.wanted.iter_mut().find(|(_, w)| w.asking.is_none() && !w.tried.contains(&key))?;
        wanted.asking = Some(key);
        Some(ManifestAsk { root: *root, size: wanted.size, max_entries: max_manifest_entries(wanted.size) })
    }

    /// Whether `key` is asked for something now or may be asked later (a root another peer is
    /// being asked for and that this one was not tried for). A peer with no work can go.
    pub fn has_work_for(&self, key: PeerKey) -> bool {
        self.peers.contains(&key) && self.wanted.values().any(|w| !w.tried.contains(&key))
    }

    /// `key` delivered the manifest of `root`, verified against the root and the file's length
    /// by the caller. Answers from a peer not asked for `root` are ignored.
    pub fn on_manifest(&mut self, key: PeerKey, root: ChunkId, entries: Vec<ChunkRef>) -> bool {
        match self.wanted.get(&root) {
            Some(w) if w.asking == Some(key) => {
                self.wanted.remove(&root);
                self.learned.insert(root, entries);
                true
            }
            _ => false,
        }
    }

    /// `key` refused the manifest of `root` (it does not have it): someone else is asked.
    pub fn on_refused(&mut self, key: PeerKey, root: ChunkId) {
        if let Some(w) = self.wanted.get_mut(&root) {
            if w.asking == Some(key) {
                w.asking = None;
            }
            w.tried.insert(key);
        }
    }

    /// Whether every manifest was learned.
    pub fn is_done(&self) -> bool {
        self.wanted.is_empty()
    }

    /// Whether a manifest can still be learned from the peers connected now.
    pub fn can_progress(&self) -> bool {
        self.peers.iter().any(|&key| self.has_work_for(key))
    }

    /// `(learned, wanted at the start)`, for logs.
    pub fn progress(&self) -> (usize, usize) {
        (self.learned.len(), self.learned.len() + self.wanted.len())
    }

    /// The verified manifests, by root.
    pub fn take_learned(&mut self) -> BTreeMap<ChunkId, Vec<ChunkRef>> {
        std::mem::take(&mut self.learned)
    }
}
