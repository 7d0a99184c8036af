//! Opening messages in both directions.

use bytes::Bytes;
use ccbt_core::{Bitfield, CoreError};
use ccbt_wire::ext::ExtHandshake;
use ccbt_wire::Message;

use super::{lengths, options, Harness};
use crate::peer::{PeerError, PeerEvent};

fn have_some() -> Bitfield {
    let mut b = Bitfield::new(lengths().num_pieces());
    b.set(0);
    b.set(10);
    b
}

fn opening(fast: bool, ext: bool, have: &Bitfield, hs: Option<Bytes>) -> Vec<Message> {
    let mut h = Harness::new(options(fast, ext));
    h.conn.start(h.t0, have, hs);
    h.tx()
}

#[test]
fn fast_extension_sends_have_all_or_have_none() {
    let n = lengths().num_pieces();
    assert_eq!(opening(true, false, &Bitfield::full(n), None), vec![Message::HaveAll]);
    assert_eq!(opening(true, false, &Bitfield::new(n), None), vec![Message::HaveNone]);
    let some = have_some();
    assert_eq!(
        opening(true, false, &some, None),
        vec![Message::Bitfield(Bytes::copy_from_slice(some.as_bytes()))]
    );
}

#[test]
fn without_fast_extension_empty_bitfield_is_skipped() {
    let n = lengths().num_pieces();
    assert_eq!(opening(false, false, &Bitfield::new(n), None), vec![]);
    let full = Bitfield::full(n);
    assert_eq!(
        opening(false, false, &full, None),
        vec![Message::Bitfield(Bytes::copy_from_slice(full.as_bytes()))]
    );
}

#[test]
fn extension_handshake_follows_availability() {
    let n = lengths().num_pieces();
    let hs = Bytes::from_static(b"d1:md11:ut_metadatai1eee");
    let ext = Message::Extended { id: 0, payload: hs.clone() };
    assert_eq!(
        opening(true, true, &Bitfield::full(n), Some(hs.clone())),
        vec![Message::HaveAll, ext.clone()]
    );
    assert_eq!(opening(false, true, &Bitfield::new(n), Some(hs.clone())), vec![ext]);
    // Not negotiated: the payload is not sent.
    assert_eq!(opening(false, false, &Bitfield::new(n), Some(hs)), vec![]);
}

#[test]
fn wrong_length_bitfield_from_engine_is_normalised() {
    let mut long = Bitfield::new(40);
    long.set(1);
    long.set(30);
    let sent = opening(false, false, &long, None);
    let mut expect = Bitfield::new(lengths().num_pieces());
    expect.set(1);
    assert_eq!(sent, vec![Message::Bitfield(Bytes::copy_from_slice(expect.as_bytes()))]);
}

#[test]
fn peer_bitfield_is_reported_and_stored() {
    let mut h = Harness::new(options(false, false));
    let some = have_some();
    h.recv(0.0, Message::Bitfield(Bytes::copy_from_slice(some.as_bytes()))).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::Bitfield(some.clone())]);
    assert_eq!(h.conn.peer_has(), &some);
    assert!(!h.conn.is_seed());
}

#[test]
fn have_all_expands_to_full_bitfield() {
    let mut h = Harness::new(options(true, false));
    h.recv(0.0, Message::HaveAll).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::HaveAll]);
    assert!(h.conn.is_seed());
    assert!(h.conn.peer_has().all());
    // Have after HaveAll adds nothing.
    h.recv(0.0, Message::Have { piece: 3 }).unwrap();
    assert_eq!(h.ev(), vec![]);
}

#[test]
fn have_none_is_reported() {
    let mut h = Harness::new(options(true, false));
    h.recv(0.0, Message::HaveNone).unwrap();
    assert_eq!(h.ev(), vec![PeerEvent::HaveNone]);
    assert!(h.conn.peer_has().none());
}

#[test]
fn have_all_and_have_none_need_fast_extension() {
    for msg in [Message::HaveAll, Message::HaveNone] {
        let mut h = Harness::new(options(false, false));
        let name = if msg == Message::HaveAll { "have all" } else { "have none" };
        assert_eq!(h.recv(0.0, msg), Err(PeerError::FastExtensionNotNegotiated { message: name }));
    }
}

#[test]
fn interest_and_choke_messages_may_precede_availability() {
    // aria2 sends these before its bitfield.
    let full = Bitfield::full(lengths().num_pieces());
    for first in [Message::Unchoke, Message::Interested, Message::AllowedFast { piece: 0 }] {
        let mut h = Harness::new(options(true, false));
        h.recv(0.0, first).unwrap();
        h.recv(0.0, Message::Bitfield(Bytes::copy_from_slice(full.as_bytes()))).unwrap();
        assert!(h.conn.is_seed());
    }
}

#[test]
fn keepalive_extended_and_port_may_precede_bitfield() {
    let mut h = Harness::new(options(false, true));
    h.recv(0.0, Message::KeepAlive).unwrap();
    h.recv(0.0, Message::Extended { id: 0, payload: Bytes::from_static(b"de") }).unwrap();
    h.recv(0.0, Message::Port(6881)).unwrap();
    let full = Bitfield::full(lengths().num_pieces());
    h.recv(0.0, Message::Bitfield(Bytes::copy_from_slice(full.as_bytes()))).unwrap();
    assert_eq!(
        h.ev(),
        vec![
            PeerEvent::ExtendedHandshake(ExtHandshake::default()),
            PeerEvent::Port(6881),
            PeerEvent::Bitfield(full)
        ]
    );
    assert!(h.conn.is_seed());
}

#[test]
fn bitfield_length_and_spare_bits_are_validated() {
    let mut h = Harness::new(options(false, false));
    assert_eq!(
        h.recv(0.0, Message::Bitfield(Bytes::from_static(&[0xff]))),
        Err(PeerError::InvalidBitfield {
            source: CoreError::BitfieldLength { got: 1, expected: 2, pieces: 11 }
        })
    );
    let mut h = Harness::new(options(false, false));
    assert_eq!(
        h.recv(0.0, Message::Bitfield(Bytes::from_static(&[0xff, 0xf0]))),
        Err(PeerError::InvalidBitfield { source: CoreError::BitfieldSpareBits { pieces: 11 } })
    );
}
