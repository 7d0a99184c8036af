//! DHT datagrams: the KRPC decoder and a whole node must survive anything from the network.

#![no_main]

use std::net::SocketAddr;
use std::time::Instant;

use ccbt_dht::{DhtNode, DhtOptions, NodeId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ccbt_dht::krpc::decode(data);
    let now = Instant::now();
    let mut node = DhtNode::new(NodeId([7; 20]), DhtOptions::default(), now, 1);
    let from: SocketAddr = "10.0.0.1:6881".parse().expect("valid address");
    node.handle_datagram(now, from, data);
    while node.poll_transmit().is_some() {}
    while node.poll_event().is_some() {}
});
