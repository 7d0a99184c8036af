//! Availability messages (Bitfield, HaveAll, HaveNone, Have) after the first one: a repeat may
//! only add pieces (aria2 sends a whole Bitfield instead of many Haves), never take them back,
//! and costs the torrent no more than the pieces it adds.

use bytes::Bytes;
use ccbt_core::Bitfield;
use ccbt_wire::Message;

use super::{lengths, options, Harness};
use crate::peer::{PeerError, PeerEvent};

fn bitfield(pieces: impl IntoIterator<Item = u32>) -> Message {
    let mut bf = Bitfield::new(lengths().num_pieces());
    for p in pieces {
        bf.set(p);
    }
    Message::Bitfield(Bytes::copy_from_slice(bf.as_bytes()))
}

fn repeated(message: &'static str) -> PeerError {
    PeerError::InvalidAvailability { message }
}

#[test]
fn a_second_have_none_or_have_all_is_a_protocol_error() {
    let n = lengths().num_pieces();
    let cases: [(Vec<Message>, Message); 6] = [
        (vec![Message::HaveNone], Message::HaveNone),
        (vec![Message::HaveAll], Message::HaveAll),
        (vec![Message::HaveAll], Message::HaveNone),
        (vec![Message::Have { piece: 2 }], Message::HaveNone),
        (vec![bitfield([1])], Message::HaveNone),
        (vec![bitfield(0..n)], Message::HaveNone),
    ];
    for (before, last) in cases {
        let mut h = Harness::new(options(true, false));
        for msg in before.clone() {
            h.recv(0.0, msg).expect("first availability");
        }
        let name = last.name();
        assert_eq!(h.recv(0.0, last), Err(repeated(name)), "after {before:?}");
    }
}

#[test]
fn a_bitfield_that_takes_pieces_back_is_a_protocol_error() {
    let n = lengths().num_pieces();
    let mut h = Harness::new(options(true, false));
    h.recv(0.0, bitfield([0, 1])).unwrap();
    assert_eq!(h.recv(0.0, bitfield([0])), Err(repeated("bitfield")));

    let mut h = Harness::new(options(true, false));
    h.recv(0.0, Message::Have { piece: 4 }).unwrap();
    assert_eq!(h.recv(0.0, bitfield([0])), Err(repeated("bitfield")));

    let mut h = Harness::new(options(true, false));
    h.recv(0.0, Message::HaveAll).unwrap();
    assert_eq!(h.recv(0.0, bitfield(1..n)), Err(repeated("bitfield")));
}

#[test]
fn a_later_bitfield_reports_only_the_new_pieces_as_haves() {
    let n = lengths().num_pieces();
    // aria2: HaveNone, then Haves, then a whole Bitfield instead of many Haves.
    let mut h = Harness::new(options(true, false));
    h.recv(0.0, Message::HaveNone).unwrap();
    h.recv(0.0, Message::Have { piece: 1 }).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::HaveNone, PeerEvent::Have(1)]);
    h.recv(0.0, bitfield([0, 1, 5])).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Have(0), PeerEvent::Have(5)]);
    assert_eq!(h.conn.peer_has().count_ones(), 3);
    // The same bitfield again, any number of times: nothing for the torrent to do.
    for _ in 0..1000 {
        h.recv(0.0, bitfield([0, 1, 5])).unwrap();
    }
    assert_eq!(h.ev(), vec![]);
    // Done downloading: aria2 sends HaveAll once; after that only a full bitfield is consistent.
    h.recv(0.0, Message::HaveAll).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::HaveAll]);
    assert!(h.conn.is_seed());
    h.recv(0.0, bitfield(0..n)).unwrap();
    assert_eq!(h.ev(), vec![]);
}

#[test]
fn have_all_after_every_piece_was_announced_changes_nothing() {
    let n = lengths().num_pieces();
    let mut h = Harness::new(options(true, false));
    h.recv(0.0, bitfield(0..n)).unwrap();
    h.ev();
    h.recv(0.0, Message::HaveAll).unwrap();
    assert_eq!(h.ev(), vec![]);
    assert_eq!(h.recv(0.0, Message::HaveAll), Err(repeated("have all")));
}
