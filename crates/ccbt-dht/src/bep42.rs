//! BEP 42 (DHT security extension): a node id is tied to the node's IP address.
//!
//! The first 21 bits of a conforming id are the CRC32-C of the masked IP address combined with
//! three random bits `r` that are repeated in the id's last byte. Someone who controls few IP
//! addresses therefore cannot choose ids next to a target to capture its lookups. Addresses of
//! local networks are exempt (their nodes cannot know their public address). The routing table
//! prefers conforming nodes; it does not refuse others, since many deployed clients still pick
//! random ids.

use std::net::{IpAddr, Ipv4Addr};

use rand::Rng;

use crate::NodeId;

/// IPv4 mask of BEP 42: the high bits of each octet that enter the hash.
const V4_MASK: [u8; 4] = [0x03, 0x0f, 0x3f, 0xff];

/// CRC32-C (Castagnoli), bitwise: at most 4 bytes are hashed per check, so a table buys nothing.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// The 32-bit hash whose top 21 bits a conforming id starts with, for `ip` and the id's last
/// byte `rand`.
fn prefix_hash(ip: Ipv4Addr, rand: u8) -> u32 {
    let mut masked = ip.octets();
    for (o, m) in masked.iter_mut().zip(V4_MASK) {
        *o &= m;
    }
    masked[0] |= (rand & 0x07) << 5;
    crc32c(&masked)
}

/// Whether BEP 42 exempts `ip` (local, private and link-local networks).
pub fn is_exempt(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => ip.is_private() || ip.is_loopback() || ip.is_link_local(),
        // IPv6 nodes are not held by this node (BEP 32 is future work); nothing to prefer.
        IpAddr::V6(_) => true,
    }
}

/// Whether `id` conforms to BEP 42 for a node at `ip` (always true for exempt addresses).
pub fn id_matches_ip(id: &NodeId, ip: IpAddr) -> bool {
    let IpAddr::V4(v4) = ip else { return true };
    if is_exempt(ip) {
        return true;
    }
    let hash = prefix_hash(v4, id.0[19]).to_be_bytes();
    id.0[0] == hash[0] && id.0[1] == hash[1] && (id.0[2] & 0xf8) == (hash[2] & 0xf8)
}

/// A random id conforming to BEP 42 for a node whose public address is `ip`.
pub fn id_for_ip(ip: Ipv4Addr, rng: &mut impl Rng) -> NodeId {
    let mut id = NodeId::random(rng);
    let hash = prefix_hash(ip, id.0[19]).to_be_bytes();
    id.0[0] = hash[0];
    id.0[1] = hash[1];
    id.0[2] = (hash[2] & 0xf8) | (id.0[2] & 0x07);
    id
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::SeedableRng;

    use super::*;

    fn hex_id(s: &str) -> NodeId {
        let mut id = [0u8; 20];
        for (i, b) in id.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        NodeId(id)
    }

    /// The examples of BEP 42 (only the first 21 bits and the last byte are determined).
    const VECTORS: [(&str, &str); 5] = [
        ("124.31.75.21", "5fbfbff10c5d6a4ec8a88e4c6ab4c28b95eee401"),
        ("21.75.31.124", "5a3ce9c14e7a08645677bbd1cfe7d8f956d53256"),
        ("65.23.51.170", "a5d43220bc8f112a3d426c84764f8c2a1150e616"),
        ("84.124.73.14", "1b0321dd1bb1fe518101ceef99462b947a01ff41"),
        ("43.213.53.83", "e56f6cbf5b7c4be0237986d5243b87aa6d51305a"),
    ];

    #[test]
    fn bep42_examples_conform() {
        for (ip, id) in VECTORS {
            let ip: IpAddr = ip.parse().unwrap();
            let id = hex_id(id);
            assert!(id_matches_ip(&id, ip), "{ip} {id}");
            let mut other = id;
            other.0[1] ^= 0x01;
            assert!(!id_matches_ip(&other, ip), "a changed prefix no longer conforms");
        }
        assert!(!id_matches_ip(&hex_id(VECTORS[0].1), "21.75.31.124".parse().unwrap()));
    }

    #[test]
    fn generated_ids_conform_and_local_addresses_are_exempt() {
        let mut rng = SmallRng::seed_from_u64(1);
        for ip in ["1.2.3.4", "203.0.113.9", "8.8.8.8"] {
            let ip: Ipv4Addr = ip.parse().unwrap();
            for _ in 0..20 {
                assert!(id_matches_ip(&id_for_ip(ip, &mut rng), IpAddr::V4(ip)));
            }
        }
        let random = NodeId([0x11; 20]);
        assert!(!id_matches_ip(&random, "1.2.3.4".parse().unwrap()));
        for local in ["10.0.0.1", "192.168.1.1", "172.16.5.5", "127.0.0.1", "169.254.0.1"] {
            assert!(id_matches_ip(&random, local.parse().unwrap()), "{local} is exempt");
        }
    }
}
