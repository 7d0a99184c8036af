//! The UDP tracker protocol (BEP 15): packets and the per-tracker machine.

mod packet;
mod tracker;

pub use packet::{
    action, decode_response, encode_announce, encode_connect, encode_scrape, UdpResponse, MAX_SCRAPE_HASHES,
    PROTOCOL_ID,
};
pub use tracker::{UdpEvent, UdpTracker, UdpTrackerOptions, CONNECTION_ID_LIFETIME};
