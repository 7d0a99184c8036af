//! Sequences of availability messages (Bitfield, HaveAll, HaveNone, Have) from one peer, fed to
//! a `PeerConn` and the `Swarm` as the engine does: never a panic, each piece reaches the swarm
//! at most once, and a whole-availability event at most once per kind.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use bytes::Bytes;
use ccbt_core::{Bitfield, Lengths};
use ccbt_proto::choker::ChokerOptions;
use ccbt_proto::peer::{PeerConn, PeerConnOptions, PeerEvent};
use ccbt_proto::picker::PickerOptions;
use ccbt_proto::swarm::{Swarm, SwarmOptions};
use ccbt_proto::PeerKey;
use ccbt_wire::Message;
use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// The next message of the sequence, or None when the input is used up.
fn next_message(data: &mut &[u8], pieces: u32) -> Option<Message> {
    let (&op, rest) = data.split_first()?;
    *data = rest;
    Some(match op % 5 {
        0 => Message::HaveAll,
        1 => Message::HaveNone,
        2 => {
            let (&p, rest) = data.split_first()?;
            *data = rest;
            // Sometimes out of range, to reach the index check.
            Message::Have { piece: u32::from(p) % (pieces + 2) }
        }
        3 => {
            let len = (pieces as usize).div_ceil(8);
            let take = len.min(data.len());
            let (bits, rest) = data.split_at(take);
            *data = rest;
            Message::Bitfield(Bytes::copy_from_slice(bits))
        }
        _ => Message::Unchoke,
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, mut data)) = input.split_first() else { return };
    let pieces = u32::from(first % 64) + 1;
    let lengths = Lengths::new(u64::from(pieces) * 32768, 32768).expect("valid geometry");
    let now = Instant::now();
    let options = SwarmOptions {
        picker: PickerOptions::default(),
        choker: ChokerOptions::new(4),
        max_buffered_bytes: 1 << 20,
        max_hash_failures: 3,
        pex: false,
    };
    let mut swarm = Swarm::new(lengths, Bitfield::new(pieces), options);
    let conn_options =
        PeerConnOptions { fast_extension: true, extension_protocol: true, ..PeerConnOptions::new(lengths) };
    let mut conn = PeerConn::new(conn_options.clone(), now);
    conn.start(now, &Bitfield::new(pieces), None);
    // An identical connection fed the same messages, whose events are counted (the swarm
    // drains the real one's).
    let mut shadow = PeerConn::new(conn_options, now);
    let key = PeerKey(1);
    swarm.add_peer(key, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut rng = StdRng::seed_from_u64(0);
    let (mut haves, mut whole, mut have_all) = (0u32, 0u32, 0u32);
    while let Some(msg) = next_message(&mut data, pieces) {
        let result = conn.handle_message(now, msg.clone());
        assert_eq!(result, shadow.handle_message(now, msg));
        if result.is_err() {
            break;
        }
        while let Some(event) = shadow.poll_event() {
            match event {
                PeerEvent::Have(_) => haves += 1,
                PeerEvent::Bitfield(_) | PeerEvent::HaveNone => whole += 1,
                PeerEvent::HaveAll => have_all += 1,
                _ => {}
            }
        }
        assert!(whole <= 1, "a second whole availability reached the swarm");
        assert!(have_all <= 1, "a second HaveAll reached the swarm");
        assert!(haves <= pieces, "a piece reached the swarm twice");
        assert_eq!(conn.is_seed(), conn.peer_has().all());
        let mut actions = Vec::new();
        swarm.handle_conn(now, key, &mut conn, &mut rng, &mut actions);
    }
    swarm.remove_peer(key);
});
