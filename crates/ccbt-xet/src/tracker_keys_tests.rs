use super::*;
use crate::discovery::{anchor_ids, announce_plan};

fn torrent(private: bool, trackers: &[&str], roots: &[u8]) -> TorrentTrackers {
    TorrentTrackers {
        private,
        trackers: trackers.iter().map(|s| s.to_string()).collect(),
        roots: roots.iter().map(|&r| [r; 32]).collect(),
    }
}

fn key(n: u8) -> [u8; 20] {
    [n; 20]
}

/// Key `n` stands for the files with the roots `roots`.
fn keyed(n: u8, roots: &[u8]) -> ([u8; 20], Vec<ChunkId>) {
    (key(n), roots.iter().map(|&r| [r; 32]).collect())
}

#[test]
fn each_torrent_s_trackers_get_the_keys_of_its_files_in_priority_order() {
    let keys = [keyed(1, &[1]), keyed(2, &[2]), keyed(3, &[1, 2]), keyed(4, &[2])];
    let torrents = [
        torrent(false, &["http://a/announce", "udp://b:1"], &[1]),
        torrent(false, &["http://c/announce"], &[2]),
    ];
    let plan = tracker_plan(&keys, &torrents);
    assert_eq!(
        plan,
        vec![
            ("http://a/announce".to_string(), vec![key(1), key(3)]),
            ("udp://b:1".to_string(), vec![key(1), key(3)]),
            ("http://c/announce".to_string(), vec![key(2), key(3), key(4)]),
        ]
    );
}

#[test]
fn a_tracker_shared_by_torrents_gets_their_keys_once_in_priority_order() {
    let keys = [keyed(1, &[1]), keyed(2, &[2]), keyed(3, &[1])];
    let torrents =
        [torrent(false, &["http://t/announce"], &[2]), torrent(false, &["HTTP://T/announce"], &[1])];
    assert_eq!(
        tracker_plan(&keys, &torrents),
        vec![("http://t/announce".to_string(), vec![key(1), key(2), key(3)])]
    );
}

#[test]
fn private_torrents_trackers_never_get_keys_even_when_a_public_torrent_lists_them() {
    let keys = [keyed(1, &[1]), keyed(2, &[2])];
    let torrents = [
        torrent(true, &["http://private/announce?passkey=x"], &[1]),
        torrent(false, &["http://public/announce", "http://Private/announce?passkey=x"], &[1, 2]),
        torrent(true, &["http://other/announce"], &[2]),
    ];
    let plan = tracker_plan(&keys, &torrents);
    assert_eq!(plan, vec![("http://public/announce".to_string(), vec![key(1), key(2)])]);
    // A file held only in private torrents is announced to no tracker at all.
    let only_private = [torrent(true, &["http://private/announce"], &[1])];
    assert!(tracker_plan(&keys, &only_private).is_empty());
}

#[test]
fn torrents_without_held_files_or_trackers_give_nothing() {
    let keys = [keyed(1, &[1])];
    assert!(tracker_plan(&keys, &[torrent(false, &["http://t/announce"], &[9])]).is_empty());
    assert!(tracker_plan(&keys, &[torrent(false, &[], &[1])]).is_empty());
    assert!(tracker_plan(&[], &[torrent(false, &["http://t/announce"], &[1])]).is_empty());
}

#[test]
fn keys_per_tracker_and_trackers_are_capped_keeping_the_first() {
    // 300 keys of one file, from a real plan: the file key first, then anchors.
    let root = [7u8; 32];
    let anchors: Vec<ChunkId> =
        (0..299u32).map(|i| [(i % 251) as u8, (i / 251) as u8, 1, 1].repeat(8).try_into().unwrap()).collect();
    let plan = announce_plan(&[(root, anchors)], 1024);
    assert_eq!(plan.len(), 300);
    let keys: Vec<([u8; 20], Vec<ChunkId>)> = plan.iter().map(|k| (k.key, vec![root])).collect();
    let urls: Vec<String> = (0..40).map(|i| format!("http://t{i}/announce")).collect();
    let url_refs: Vec<&str> = urls.iter().map(String::as_str).collect();
    let got = tracker_plan(&keys, &[torrent(false, &url_refs, &[7])]);
    assert_eq!(got.len(), MAX_KEY_TRACKERS);
    assert_eq!(got[0].0, "http://t0/announce");
    assert_eq!(got[MAX_KEY_TRACKERS - 1].0, format!("http://t{}/announce", MAX_KEY_TRACKERS - 1));
    for (_, keys_of_tracker) in &got {
        assert_eq!(keys_of_tracker.len(), MAX_KEYS_PER_TRACKER);
        assert_eq!(keys_of_tracker[0], file_key(&root));
        let first: Vec<[u8; 20]> = plan.iter().take(MAX_KEYS_PER_TRACKER).map(|k| k.key).collect();
        assert_eq!(keys_of_tracker, &first);
    }
}

#[test]
fn a_key_stands_for_its_file_and_its_anchors_only() {
    // Chunk 0 is always an anchor; chunk 1 is one (last word 2048), chunk 2 is not.
    let mut anchor = [3u8; 32];
    anchor[24..].copy_from_slice(&2048u64.to_le_bytes());
    let mut plain = [4u8; 32];
    plain[24..].copy_from_slice(&2049u64.to_le_bytes());
    let chunks = [
        ChunkRef { id: [2; 32], len: 10 },
        ChunkRef { id: anchor, len: 10 },
        ChunkRef { id: plain, len: 10 },
    ];
    let root = [1u8; 32];
    assert_eq!(anchor_ids(&chunks), vec![[2; 32], anchor]);
    assert!(key_stands_for(&file_key(&root), &root, None));
    assert!(key_stands_for(&anchor_key(&[2; 32]), &root, Some(&chunks)));
    assert!(key_stands_for(&anchor_key(&anchor), &root, Some(&chunks)));
    assert!(!key_stands_for(&anchor_key(&anchor), &root, None));
    assert!(!key_stands_for(&anchor_key(&plain), &root, Some(&chunks)));
    assert!(!key_stands_for(&file_key(&[9; 32]), &root, Some(&chunks)));
}

#[test]
fn lookups_ask_the_public_holding_torrents_trackers_once_each() {
    let torrents = [
        torrent(false, &["http://a/announce", "udp://b:1"], &[1]),
        torrent(true, &["udp://b:1", "http://p/announce"], &[1]),
        torrent(false, &["http://unrelated/announce"], &[5]),
        torrent(false, &["http://A/announce", "http://c/announce", "http://p/announce"], &[1]),
    ];
    assert_eq!(lookup_trackers(&torrents, &[0, 1, 3]), vec!["http://a/announce", "http://c/announce"]);
    assert!(lookup_trackers(&torrents, &[1]).is_empty());
    assert!(lookup_trackers(&torrents, &[]).is_empty());
    assert!(lookup_trackers(&torrents, &[99]).is_empty());
    let many: Vec<String> = (0..20).map(|i| format!("http://t{i}/announce")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(lookup_trackers(&[torrent(false, &refs, &[1])], &[0]).len(), MAX_LOOKUP_TRACKERS);
}
