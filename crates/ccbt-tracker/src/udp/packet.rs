//! BEP 15 packets: encoders for what we send, one decoder for what trackers answer.

use std::net::SocketAddr;

use ccbt_core::InfoHash;

use crate::error::bounded_text;
use crate::response::{compact_v4, compact_v6};
use crate::{AnnounceRequest, ScrapeStats, TrackerError};

/// The magic constant that opens every connect request.
pub const PROTOCOL_ID: u64 = 0x0417_2710_1980;
/// Most info hashes one scrape request may carry (BEP 15).
pub const MAX_SCRAPE_HASHES: usize = 74;

/// Action numbers (BEP 15).
pub mod action {
    /// Obtain a connection id.
    pub const CONNECT: u32 = 0;
    /// Announce.
    pub const ANNOUNCE: u32 = 1;
    /// Scrape.
    pub const SCRAPE: u32 = 2;
    /// The tracker reports an error; the rest of the packet is a message.
    pub const ERROR: u32 = 3;
}

/// A connect request.
pub fn encode_connect(transaction_id: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&PROTOCOL_ID.to_be_bytes());
    out.extend_from_slice(&action::CONNECT.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    out
}

/// An announce request (98 bytes). The IP field is 0: the tracker takes the packet's source.
pub fn encode_announce(connection_id: u64, transaction_id: u32, req: &AnnounceRequest) -> Vec<u8> {
    let mut out = Vec::with_capacity(98);
    out.extend_from_slice(&connection_id.to_be_bytes());
    out.extend_from_slice(&action::ANNOUNCE.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    out.extend_from_slice(req.info_hash.as_bytes());
    out.extend_from_slice(req.peer_id.as_bytes());
    out.extend_from_slice(&req.downloaded.to_be_bytes());
    out.extend_from_slice(&req.left.to_be_bytes());
    out.extend_from_slice(&req.uploaded.to_be_bytes());
    out.extend_from_slice(&req.event.as_udp().to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&req.key.to_be_bytes());
    // num_want is a signed field where -1 means "tracker's default".
    let num_want: i32 = req.numwant.map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX));
    out.extend_from_slice(&num_want.to_be_bytes());
    out.extend_from_slice(&req.port.to_be_bytes());
    out
}

/// A scrape request for 1 to [`MAX_SCRAPE_HASHES`] torrents.
pub fn encode_scrape(
    connection_id: u64,
    transaction_id: u32,
    info_hashes: &[InfoHash],
) -> Result<Vec<u8>, TrackerError> {
    if info_hashes.is_empty() || info_hashes.len() > MAX_SCRAPE_HASHES {
        return Err(TrackerError::InvalidRequest(format!(
            "a udp scrape carries 1 to {MAX_SCRAPE_HASHES} info hashes, not {}",
            info_hashes.len()
        )));
    }
    let mut out = Vec::with_capacity(16 + 20 * info_hashes.len());
    out.extend_from_slice(&connection_id.to_be_bytes());
    out.extend_from_slice(&action::SCRAPE.to_be_bytes());
    out.extend_from_slice(&transaction_id.to_be_bytes());
    for hash in info_hashes {
        out.extend_from_slice(hash.as_bytes());
    }
    Ok(out)
}

/// A decoded tracker answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpResponse {
    /// Answer to a connect request.
    Connect {
        /// Echo of our transaction id.
        transaction_id: u32,
        /// The id to put in the following requests.
        connection_id: u64,
    },
    /// Answer to an announce.
    Announce {
        /// Echo of our transaction id.
        transaction_id: u32,
        /// Seconds until the next announce (unclamped).
        interval: u32,
        /// Leechers in the swarm.
        leechers: u32,
        /// Seeders in the swarm.
        seeders: u32,
        /// Peers, at most [`crate::MAX_PEERS`].
        peers: Vec<SocketAddr>,
    },
    /// Answer to a scrape: one entry per requested info hash, in request order.
    Scrape {
        /// Echo of our transaction id.
        transaction_id: u32,
        /// Counters per torrent.
        stats: Vec<ScrapeStats>,
    },
    /// The tracker reports an error.
    Error {
        /// Echo of our transaction id.
        transaction_id: u32,
        /// The tracker's message (lossy UTF-8, length-bounded).
        message: String,
    },
}

impl UdpResponse {
    /// The transaction id the answer echoes.
    pub fn transaction_id(&self) -> u32 {
        match self {
            UdpResponse::Connect { transaction_id, .. }
            | UdpResponse::Announce { transaction_id, .. }
            | UdpResponse::Scrape { transaction_id, .. }
            | UdpResponse::Error { transaction_id, .. } => *transaction_id,
        }
    }
}

fn be32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

fn be64(buf: &[u8], at: usize) -> Option<u64> {
    let bytes = buf.get(at..at.checked_add(8)?)?;
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

fn short_packet(what: &str, len: usize) -> TrackerError {
    TrackerError::InvalidResponse(format!("{what} packet of {len} bytes is too short"))
}

/// Decodes a datagram from a tracker. `ipv6_peers` says whether announce answers carry 18-byte
/// peers: BEP 15 ties the peer format to the address family the tracker was reached over.
pub fn decode_response(buf: &[u8], ipv6_peers: bool) -> Result<UdpResponse, TrackerError> {
    let (Some(action), Some(transaction_id)) = (be32(buf, 0), be32(buf, 4)) else {
        return Err(short_packet("udp tracker", buf.len()));
    };
    let body = buf.get(8..).unwrap_or_default();
    match action {
        action::CONNECT => {
            let connection_id = be64(buf, 8).ok_or_else(|| short_packet("connect", buf.len()))?;
            Ok(UdpResponse::Connect { transaction_id, connection_id })
        }
        action::ANNOUNCE => {
            let (Some(interval), Some(leechers), Some(seeders)) =
                (be32(buf, 8), be32(buf, 12), be32(buf, 16))
            else {
                return Err(short_packet("announce", buf.len()));
            };
            let mut peers = Vec::new();
            let list = buf.get(20..).unwrap_or_default();
            if ipv6_peers {
                compact_v6(list, &mut peers)?;
            } else {
                compact_v4(list, &mut peers)?;
            }
            Ok(UdpResponse::Announce { transaction_id, interval, leechers, seeders, peers })
        }
        action::SCRAPE => {
            if body.len() % 12 != 0 {
                return Err(TrackerError::InvalidResponse(format!(
                    "scrape packet body of {} bytes is not a multiple of 12",
                    body.len()
                )));
            }
            let stats = body
                .chunks_exact(12)
                .take(MAX_SCRAPE_HASHES)
                .filter_map(|e| {
                    Some(ScrapeStats {
                        complete: be32(e, 0)?,
                        downloaded: be32(e, 4)?,
                        incomplete: be32(e, 8)?,
                    })
                })
                .collect();
            Ok(UdpResponse::Scrape { transaction_id, stats })
        }
        action::ERROR => Ok(UdpResponse::Error { transaction_id, message: bounded_text(body) }),
        other => Err(TrackerError::InvalidResponse(format!("unknown udp tracker action {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AnnounceEvent;
    use ccbt_core::PeerId;

    fn request() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash([0x11; 20]),
            peer_id: PeerId([0x22; 20]),
            port: 0x1ae1,
            uploaded: 3,
            downloaded: 1,
            left: 2,
            event: AnnounceEvent::Started,
            numwant: None,
            key: 0x0102_0304,
            tracker_id: None,
            compact: true,
        }
    }

    #[test]
    fn golden_connect() {
        assert_eq!(
            encode_connect(0xaabb_ccdd),
            [0, 0, 4, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd]
        );
    }

    #[test]
    fn golden_announce() {
        let p = encode_announce(0x0102_0304_0506_0708, 9, &request());
        let mut want = vec![1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 1, 0, 0, 0, 9];
        want.extend_from_slice(&[0x11; 20]);
        want.extend_from_slice(&[0x22; 20]);
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]); // downloaded
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]); // left
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]); // uploaded
        want.extend_from_slice(&[0, 0, 0, 2]); // started
        want.extend_from_slice(&[0, 0, 0, 0]); // ip
        want.extend_from_slice(&[1, 2, 3, 4]); // key
        want.extend_from_slice(&[0xff; 4]); // num_want -1
        want.extend_from_slice(&[0x1a, 0xe1]);
        assert_eq!(p, want);
        assert_eq!(p.len(), 98);
        let mut req = request();
        req.numwant = Some(u32::MAX);
        let p = encode_announce(0, 0, &req);
        assert_eq!(p[92..96], [0x7f, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn golden_scrape() {
        let p = encode_scrape(7, 8, &[InfoHash([0x33; 20]), InfoHash([0x44; 20])]).unwrap();
        assert_eq!(p[..16], [0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 8]);
        assert_eq!(p[16..36], [0x33; 20]);
        assert_eq!(p[36..], [0x44; 20]);
        assert!(matches!(encode_scrape(1, 1, &[]), Err(TrackerError::InvalidRequest(_))));
        assert!(encode_scrape(1, 1, &[InfoHash([0; 20]); 75]).is_err());
        assert!(encode_scrape(1, 1, &[InfoHash([0; 20]); 74]).is_ok());
    }

    #[test]
    fn decodes_every_answer() {
        let connect = [0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(
            decode_response(&connect, false),
            Ok(UdpResponse::Connect { transaction_id: 5, connection_id: 0x0102_0304_0506_0708 })
        );
        let announce = [0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 7, 8, 0, 0, 0, 2, 0, 0, 0, 3, 127, 0, 0, 1, 0x1a, 0xe1];
        assert_eq!(
            decode_response(&announce, false),
            Ok(UdpResponse::Announce {
                transaction_id: 6,
                interval: 1800,
                leechers: 2,
                seeders: 3,
                peers: vec!["127.0.0.1:6881".parse().unwrap()],
            })
        );
        let scrape = [0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        assert_eq!(
            decode_response(&scrape, false),
            Ok(UdpResponse::Scrape {
                transaction_id: 7,
                stats: vec![ScrapeStats { complete: 1, downloaded: 2, incomplete: 3 }],
            })
        );
        let error = b"\0\0\0\x03\0\0\0\x08bad connection id";
        assert_eq!(
            decode_response(error, false),
            Ok(UdpResponse::Error { transaction_id: 8, message: "bad connection id".into() })
        );
        let mut v6 = announce[..20].to_vec();
        v6.extend_from_slice(&[0; 15]);
        v6.extend_from_slice(&[1, 0x1a, 0xe1]);
        let Ok(UdpResponse::Announce { peers, .. }) = decode_response(&v6, true) else { panic!() };
        assert_eq!(peers, vec!["[::1]:6881".parse().unwrap()]);
    }

    #[test]
    fn short_and_garbage_packets_are_errors() {
        let announce = [0, 0, 0, 1, 0, 0, 0, 6, 0, 0, 7, 8, 0, 0, 0, 2, 0, 0, 0, 3, 127, 0, 0, 1, 0x1a, 0xe1];
        // Every cut of an announce answer: too short for the header, or a partial peer entry.
        for cut in 0..announce.len() {
            if cut == 20 {
                assert!(decode_response(&announce[..cut], false).is_ok(), "empty peer list is fine");
            } else {
                assert!(decode_response(&announce[..cut], false).is_err(), "cut {cut}");
            }
        }
        let connect = [0, 0, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8];
        for cut in 0..connect.len() {
            assert!(decode_response(&connect[..cut], false).is_err(), "cut {cut}");
        }
        assert!(decode_response(&[0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0], false).is_err());
        assert!(decode_response(&[0, 0, 0, 9, 0, 0, 0, 1], false).is_err());
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(buf in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..120)) {
            let _ = decode_response(&buf, false);
            let _ = decode_response(&buf, true);
        }
    }
}
