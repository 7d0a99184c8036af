//! BitTorrent trackers as sans-IO code: HTTP announce and scrape URLs and answers (BEP 3, 7,
//! 23, 48), the UDP tracker protocol with its retransmission machine (BEP 15) and announce-list
//! tiers (BEP 12).
//!
//! No sockets, no clock: the engine moves bytes and time in and out.

// Unit tests take `Instant::now()` once as their virtual clock's origin; product code may not
// (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

mod error;
mod http;
mod response;
mod tiers;
pub mod udp;

pub use error::TrackerError;
pub use http::{
    announce_url, percent_encode_to, scrape_url, tracker_scheme, AnnounceEvent, AnnounceRequest,
    TrackerScheme,
};
pub use response::{
    parse_announce, parse_scrape, AnnounceResponse, ScrapeStats, MAX_INTERVAL, MAX_PEERS, MIN_INTERVAL,
};
pub use tiers::TrackerTiers;
pub use udp::{parse_udp_url, UdpEvent, UdpTracker, UdpTrackerOptions};
