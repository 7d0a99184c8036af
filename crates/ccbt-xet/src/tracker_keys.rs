//! Which discovery keys go to which BitTorrent trackers, and which trackers to ask for a key
//! (docs/xet.md, "Discovery of chunk holders").
//!
//! A key is announced, as `info_hash`, to the trackers of the torrents that hold a file the key
//! stands for (the file's own key, or one of its anchors): whoever looks for that content most
//! likely knows one of those torrents and its trackers. Never to the trackers of a private
//! torrent (BEP 27: a private tracker is for its own swarm; other info hashes there would leak
//! what else the client holds), even when a public torrent lists the same URL.

use std::collections::{HashMap, HashSet};

use crate::discovery::{anchor_key, file_key, is_anchor};
use crate::hash::{ChunkId, ChunkRef};

/// Most keys announced to one tracker: about 8 GiB of held content with all its anchors, and
/// as many announces per interval as a client seeding 128 torrents there sends.
pub const MAX_KEYS_PER_TRACKER: usize = 128;
/// Most trackers that get keys, over all torrents.
pub const MAX_KEY_TRACKERS: usize = 16;
/// Most trackers asked for the holders of one key.
pub const MAX_LOOKUP_TRACKERS: usize = 8;

/// A torrent of the session as the tracker policy sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TorrentTrackers {
    /// The torrent is private (BEP 27): its trackers never get keys.
    pub private: bool,
    /// Its usable announce URLs, tier by tier in the metainfo's order.
    pub trackers: Vec<String>,
    /// The xet roots of its files.
    pub roots: Vec<ChunkId>,
}

/// The URLs of every private torrent, compared without ASCII case.
fn private_urls(torrents: &[TorrentTrackers]) -> HashSet<String> {
    torrents
        .iter()
        .filter(|t| t.private)
        .flat_map(|t| t.trackers.iter().map(|u| u.to_ascii_lowercase()))
        .collect()
}

/// The trackers each key goes to. `keys` are the announced keys in priority order (as
/// `announce_plan` gives them: file keys first), each with the xet roots of the files it stands
/// for. A public torrent's trackers get the keys of its files, in that order, at most
/// [`MAX_KEYS_PER_TRACKER`] per tracker; at most [`MAX_KEY_TRACKERS`] trackers in all, taken in
/// the order of `torrents` and of their tiers. Trackers of private torrents get nothing.
/// Returns `(url, keys in priority order)` per tracker that gets any.
pub fn tracker_plan(
    keys: &[([u8; 20], Vec<ChunkId>)],
    torrents: &[TorrentTrackers],
) -> Vec<(String, Vec<[u8; 20]>)> {
    let forbidden = private_urls(torrents);
    // Per tracker (in first-seen order), the indices into `keys` it gets.
    let mut urls: Vec<String> = Vec::new();
    let mut wanted: HashMap<String, HashSet<usize>> = HashMap::new();
    for torrent in torrents.iter().filter(|t| !t.private) {
        let roots: HashSet<&ChunkId> = torrent.roots.iter().collect();
        let mine: Vec<usize> =
            (0..keys.len()).filter(|&i| keys[i].1.iter().any(|root| roots.contains(root))).collect();
        if mine.is_empty() {
            continue;
        }
        for url in &torrent.trackers {
            let folded = url.to_ascii_lowercase();
            if forbidden.contains(&folded) {
                continue;
            }
            if !wanted.contains_key(&folded) {
                if urls.len() >= MAX_KEY_TRACKERS {
                    continue;
                }
                urls.push(url.clone());
                wanted.insert(folded.clone(), HashSet::new());
            }
            wanted.get_mut(&folded).expect("inserted above").extend(mine.iter().copied());
        }
    }
    urls.into_iter()
        .map(|url| {
            let mut indices: Vec<usize> = wanted[&url.to_ascii_lowercase()].iter().copied().collect();
            indices.sort_unstable();
            indices.truncate(MAX_KEYS_PER_TRACKER);
            let keys = indices.into_iter().map(|i| keys[i].0).collect();
            (url, keys)
        })
        .collect()
}

/// Whether `key` is the file key of `root` or the anchor key of one of the anchors of its
/// manifest `chunks` (when known).
pub fn key_stands_for(key: &[u8; 20], root: &ChunkId, chunks: Option<&[ChunkRef]>) -> bool {
    if file_key(root) == *key {
        return true;
    }
    let Some(chunks) = chunks else { return false };
    chunks.iter().enumerate().any(|(i, c)| is_anchor(i, &c.id) && anchor_key(&c.id) == *key)
}

/// The trackers to ask for the holders of a key: those of the public torrents at the indices
/// `holding` (the torrents whose files the key stands for, see [`key_stands_for`]), in that
/// order, each once, never one that a private torrent of `torrents` lists, at most
/// [`MAX_LOOKUP_TRACKERS`].
pub fn lookup_trackers(torrents: &[TorrentTrackers], holding: &[usize]) -> Vec<String> {
    let forbidden = private_urls(torrents);
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for torrent in holding.iter().filter_map(|&i| torrents.get(i)).filter(|t| !t.private) {
        for url in &torrent.trackers {
            let folded = url.to_ascii_lowercase();
            if out.len() < MAX_LOOKUP_TRACKERS && !forbidden.contains(&folded) && seen.insert(folded) {
                out.push(url.clone());
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "tracker_keys_tests.rs"]
mod tests;
