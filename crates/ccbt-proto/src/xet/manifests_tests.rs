//! The schedule of manifests a magnet download asks peers for.

use super::{max_manifest_entries, ManifestSchedule};
use crate::PeerKey;
use ccbt_xet::ChunkRef;

const A: [u8; 32] = [1; 32];
const B: [u8; 32] = [2; 32];

fn entries() -> Vec<ChunkRef> {
    vec![ChunkRef { id: [9; 32], len: 10 }]
}

#[test]
fn each_root_is_asked_of_one_peer_at_a_time() {
    let mut s = ManifestSchedule::new([(A, 1 << 20), (B, 100)]);
    let (p, q) = (PeerKey(1), PeerKey(2));
    s.add_peer(p);
    s.add_peer(q);
    let first = s.next_for(p).unwrap();
    assert_eq!((first.root, first.max_entries), (A, max_manifest_entries(1 << 20)));
    assert_eq!(s.next_for(p).unwrap().root, B);
    assert_eq!(s.next_for(p), None);
    // The other peer waits: it may be needed if the first fails.
    assert_eq!(s.next_for(q), None);
    assert!(s.has_work_for(q));
    assert!(s.on_manifest(p, A, entries()));
    assert!(!s.on_manifest(q, B, entries()), "an answer to nothing asked is not taken");
    assert!(s.on_manifest(p, B, entries()));
    assert!(s.is_done());
    assert!(!s.can_progress());
    assert_eq!(s.take_learned().len(), 2);
}

#[test]
fn a_refused_or_dropped_root_moves_to_another_peer_and_never_back() {
    let mut s = ManifestSchedule::new([(A, 100)]);
    let (p, q) = (PeerKey(1), PeerKey(2));
    s.add_peer(p);
    s.add_peer(q);
    assert_eq!(s.next_for(p).unwrap().root, A);
    s.on_refused(p, A);
    assert!(!s.has_work_for(p), "a peer that refused every root can go");
    assert_eq!(s.next_for(p), None);
    assert_eq!(s.next_for(q).unwrap().root, A);
    // The peer lied or left: nobody is left to ask.
    s.remove_peer(q);
    assert!(!s.can_progress());
    assert!(!s.is_done());
    assert_eq!(s.progress(), (0, 1));
    // A new peer can still be asked.
    s.add_peer(PeerKey(3));
    assert!(s.can_progress());
    assert_eq!(s.next_for(PeerKey(3)).unwrap().root, A);
    assert!(!s.on_manifest(q, A, entries()), "a peer that left delivers nothing");
}

#[test]
fn nothing_is_handed_to_an_unknown_peer() {
    let mut s = ManifestSchedule::new([(A, 100)]);
    assert_eq!(s.next_for(PeerKey(7)), None);
    assert!(!s.can_progress());
}
