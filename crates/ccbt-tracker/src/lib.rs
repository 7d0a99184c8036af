//! BitTorrent trackers as sans-IO code: HTTP announce and scrape URLs and answers (BEP 3, 7,
//! 23, 48), the UDP tracker protocol with its retransmission machine (BEP 15), announce-list
//! tiers (BEP 12) and the announce schedule of a torrent ([`AnnounceSchedule`]: events,
//! intervals, back-off, `stopped` on the way out).
//!
//! No sockets, no clock: the engine moves bytes and time in and out.

// Unit tests take `Instant::now()` once as their virtual clock's origin; product code may not
// (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

mod error;
mod http;
mod key_schedule;
mod response;
mod schedule;
mod tiers;
mod tracker_url;
pub mod udp;

pub use error::TrackerError;
pub use http::{announce_url, scrape_request_url, scrape_url, AnnounceEvent, AnnounceRequest};
pub use key_schedule::{key_schedule_options, KeySchedule};
pub use response::{
    parse_announce, parse_scrape, AnnounceResponse, ScrapeStats, MAX_INTERVAL, MAX_PEERS, MIN_INTERVAL,
};
pub use schedule::{
    AnnounceIdentity, AnnounceJob, AnnounceSchedule, ScheduleEvent, ScheduleOptions, TrackerInfo,
    TransferStats,
};
pub use tiers::TrackerTiers;
pub use tracker_url::{
    parse_tracker_url, parse_udp_url, passes_ssrf_rule, percent_encode_to, tracker_scheme, TrackerScheme,
};
pub use udp::{UdpEvent, UdpTracker, UdpTrackerOptions};
