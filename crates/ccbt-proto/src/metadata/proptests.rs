//! Random event orders against the fetcher, for v1, v2 and hybrid targets: it never panics,
//! holds at most one copy of the metadata, whatever it completes with is exactly the original
//! metadata, and every address it names a liar did send a wrong piece that was taken.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ccbt_core::{InfoHash, InfoHashV2};
use ccbt_wire::ext::metadata::{MetadataMessage, METADATA_PIECE_LEN};
use proptest::prelude::*;
use sha1::{Digest, Sha1};
use sha2::Sha256;

use super::*;
use crate::PeerKey;

#[derive(Clone, Debug)]
enum Op {
    Add {
        peer: u8,
        lies_about_size: bool,
    },
    Remove {
        peer: u8,
    },
    Tick {
        ms: u16,
    },
    Request,
    /// Answers a pending request; `again` leaves it pending so it may be answered twice.
    Answer {
        index: usize,
        lie: bool,
        again: bool,
    },
    Reject {
        index: usize,
    },
    Drop {
        index: usize,
    },
    Garbage {
        peer: u8,
        piece: u32,
        total_size: u64,
        len: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => (0..6u8, any::<bool>()).prop_map(|(peer, lies_about_size)| Op::Add { peer, lies_about_size }),
        1 => (0..6u8).prop_map(|peer| Op::Remove { peer }),
        1 => (0..15_000u16).prop_map(|ms| Op::Tick { ms }),
        2 => Just(Op::Request),
        4 => (any::<usize>(), prop::bool::weighted(0.05), prop::bool::weighted(0.2))
            .prop_map(|(index, lie, again)| Op::Answer { index, lie, again }),
        1 => any::<usize>().prop_map(|index| Op::Reject { index }),
        1 => any::<usize>().prop_map(|index| Op::Drop { index }),
        1 => (0..7u8, 0..8u32, 0..100_000u64, 0..20_000u16)
            .prop_map(|(peer, piece, total_size, len)| Op::Garbage { peer, piece, total_size, len }),
    ]
}

struct Harness {
    fetcher: MetadataFetcher,
    server: MetadataServer,
    original: Vec<u8>,
    now: Instant,
    pending: Vec<(PeerKey, u32)>,
    completed: bool,
    /// Whether the fetcher may have stored a wrong piece; only then may the hash check fail.
    lied: bool,
    /// Addresses that sent a wrong piece the fetcher took.
    liars: BTreeSet<IpAddr>,
}

/// Peers 0..6 share four addresses, so that several connections come from one host.
fn ip_of(key: PeerKey) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (key.0 % 4) as u8))
}

/// The target of `original` for a v1 (0), v2 (1) or hybrid (2) magnet.
fn target_of(original: &[u8], kind: u8) -> MetadataTarget {
    let v1 = InfoHash(Sha1::digest(original).into());
    let v2 = InfoHashV2(Sha256::digest(original).into());
    match kind % 3 {
        0 => MetadataTarget::V1(v1),
        1 => MetadataTarget::V2(v2),
        _ => MetadataTarget::Hybrid(v1, v2),
    }
}

impl Harness {
    fn new(original: Vec<u8>, kind: u8) -> Harness {
        Harness {
            fetcher: MetadataFetcher::new(target_of(&original, kind), 200_000),
            server: MetadataServer::new(Bytes::from(original.clone())),
            original,
            now: Instant::now(),
            pending: Vec::new(),
            completed: false,
            lied: false,
            liars: BTreeSet::new(),
        }
    }

    fn take(&mut self, index: usize) -> Option<(PeerKey, u32)> {
        (!self.pending.is_empty()).then(|| self.pending.swap_remove(index % self.pending.len()))
    }

    fn answer(&mut self, key: PeerKey, piece: u32, lie: bool) {
        let MetadataMessage::Data { piece, total_size, data } = self.server.answer(piece) else {
            self.fetcher.on_reject(self.now, key, piece);
            return;
        };
        let data = if lie { Bytes::from(vec![0x5A; data.len()]) } else { data };
        // Errors are for peers the fetcher does not know; the harness keeps answering anyway.
        let accepted = self.fetcher.on_data(self.now, key, piece, total_size, &data) == Ok(true);
        if lie && accepted {
            self.lied = true;
            self.liars.insert(ip_of(key));
        }
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Add { peer, lies_about_size } => {
                let size = self.server.metadata_size();
                let size = if lies_about_size { size + 1 } else { size };
                let key = PeerKey(peer.into());
                self.fetcher.add_peer(key, ip_of(key), size);
            }
            Op::Remove { peer } => self.fetcher.remove_peer(PeerKey(peer.into())),
            Op::Tick { ms } => self.now += Duration::from_millis(ms.into()),
            Op::Request => {
                self.fetcher.next_requests(self.now, &mut self.pending);
                // After next_requests the timer lies ahead: one in the past would make the
                // engine spin.
                if let Some(deadline) = self.fetcher.poll_timeout() {
                    assert!(deadline > self.now);
                }
            }
            Op::Answer { index, lie, again } => {
                if let Some((key, piece)) = self.take(index) {
                    if again {
                        self.pending.push((key, piece));
                    }
                    self.answer(key, piece, lie);
                }
            }
            Op::Reject { index } => {
                if let Some((key, piece)) = self.take(index) {
                    self.fetcher.on_reject(self.now, key, piece);
                }
            }
            Op::Drop { index } => {
                self.take(index);
            }
            Op::Garbage { peer, piece, total_size, len } => {
                let data = Bytes::from(vec![0xEE; len.into()]);
                let key = PeerKey(peer.into());
                if self.fetcher.on_data(self.now, key, piece, total_size, &data) == Ok(true) {
                    self.lied = true;
                    self.liars.insert(ip_of(key));
                }
            }
        }
        self.check();
    }

    fn check(&mut self) {
        let (have, num_pieces) = self.fetcher.progress();
        assert!(have <= num_pieces);
        let size = self.fetcher.metadata_size().unwrap_or(0);
        assert!(self.fetcher.held_bytes() as u64 <= size);
        match self.fetcher.poll_complete() {
            Some(Ok(bytes)) => {
                assert!(!self.completed, "completed twice");
                assert_eq!(bytes, self.original);
                assert!(self.fetcher.is_done());
                for liar in self.fetcher.liars() {
                    assert!(self.liars.contains(&liar), "{liar} named a liar but never lied");
                }
                self.completed = true;
            }
            Some(Err(MetadataFailure::HashMismatch { contributors, .. })) => {
                assert!(self.lied, "hash mismatch without a lie");
                assert!(!contributors.is_empty());
            }
            None => {}
        }
    }

    /// Removes every peer, adds honest ones on addresses of their own, enough to outvote every
    /// lie and meet the quorum, and serves them until the fetch completes.
    fn finish(&mut self) {
        for peer in 0..8 {
            self.fetcher.remove_peer(PeerKey(peer));
        }
        self.pending.clear();
        let honest = self.fetcher.quorum() + 4;
        for n in 0..honest {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, (n / 200) as u8, (n % 200) as u8 + 1));
            self.fetcher.add_peer(PeerKey(100 + n as u64), ip, self.server.metadata_size());
        }
        for _ in 0..1000 {
            if self.completed {
                return;
            }
            let mut reqs = Vec::new();
            self.fetcher.next_requests(self.now, &mut reqs);
            for (key, piece) in reqs {
                self.answer(key, piece, false);
            }
            self.check();
            self.now += Duration::from_secs(11);
        }
        panic!("fetch did not complete with honest peers");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_event_orders(
        len in 1..(4 * METADATA_PIECE_LEN + 100),
        seed in any::<u8>(),
        kind in 0..3u8,
        ops in proptest::collection::vec(op(), 0..150),
    ) {
        let original: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect();
        let mut h = Harness::new(original, kind);
        for op in ops {
            h.apply(op);
        }
        h.finish();
        prop_assert!(h.completed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// One lying host (with several connections) among honest hosts of their own, answers in
    /// random order: the fetch completes with the original bytes and names exactly the liar
    /// when it lied, never an honest host.
    #[test]
    fn a_liar_is_named_and_honest_hosts_never(
        len in 1..(4 * METADATA_PIECE_LEN + 100),
        honest in 2..5usize,
        liar_conns in 1..4u64,
        kind in 0..3u8,
        picks in proptest::collection::vec(any::<usize>(), 200),
    ) {
        let original: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        let mut h = Harness::new(original.clone(), kind);
        let size = h.server.metadata_size();
        let liar_ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        for n in 0..liar_conns {
            h.fetcher.add_peer(PeerKey(n), liar_ip, size);
        }
        for n in 0..honest {
            let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3 + n as u8));
            h.fetcher.add_peer(PeerKey(100 + n as u64), ip, size);
        }
        let mut pending = Vec::new();
        let mut lied = false;
        for pick in picks {
            if h.fetcher.is_done() {
                break;
            }
            h.fetcher.next_requests(h.now, &mut pending);
            prop_assert!(!pending.is_empty(), "the fetch stalled");
            let (key, piece) = pending.swap_remove(pick % pending.len());
            let MetadataMessage::Data { data, .. } = h.server.answer(piece) else { unreachable!() };
            let data = if key.0 < 100 { lied = true; vec![0x5A; data.len()] } else { data.to_vec() };
            prop_assert_eq!(h.fetcher.on_data(h.now, key, piece, size, &data), Ok(true));
            prop_assert!(h.fetcher.held_bytes() as u64 <= size);
            if let Some(Ok(bytes)) = h.fetcher.poll_complete() {
                prop_assert_eq!(&bytes, &original);
            }
        }
        prop_assert!(h.fetcher.is_done());
        let named: Vec<IpAddr> = h.fetcher.liars().collect();
        prop_assert!(named.iter().all(|&ip| ip == liar_ip));
        // A liar that sent a piece the verified metadata replaced is always named.
        if lied && h.fetcher.quorum() > 1 {
            prop_assert_eq!(named, vec![liar_ip]);
        }
    }
}
