//! The protocol constants of Xet chunking and hashing (fixed: changing any changes every id).

/// Average chunk size the cut mask aims at.
pub const TARGET_CHUNK_SIZE: usize = 64 * 1024;
/// No chunk but a file's last is shorter.
pub const MIN_CHUNK_SIZE: usize = TARGET_CHUNK_SIZE / 8;
/// A chunk is cut here when the content gave no cut before.
pub const MAX_CHUNK_SIZE: usize = TARGET_CHUNK_SIZE * 2;
/// The gear hash has a 64-bit state shifted left per byte, so only the last 64 bytes count.
pub const HASH_WINDOW: usize = 64;
/// A cut is where `hash & CUT_MASK == 0`: the 16 top bits (the low bits of a gear hash depend
/// on only the last few bytes). `(target - 1) << leading_zeros(target - 1)`.
pub const CUT_MASK: u64 = 0xFFFF_0000_0000_0000;

/// BLAKE3 key of chunk ids (xet-core `DATA_KEY`).
pub const DATA_KEY: [u8; 32] = [
    0x66, 0x97, 0xf5, 0x77, 0x5b, 0x95, 0x50, 0xde, 0x31, 0x35, 0xcb, 0xac, 0xa5, 0x97, 0x18, 0x1c, 0x9d,
    0xe4, 0x21, 0x10, 0x9b, 0xeb, 0x2b, 0x58, 0xb4, 0xd0, 0xb0, 0x4b, 0x93, 0xad, 0xf2, 0x29,
];
/// BLAKE3 key of the aggregated tree's internal nodes (xet-core `INTERNAL_NODE_HASH`).
pub const INTERNAL_NODE_KEY: [u8; 32] = [
    0x01, 0x7e, 0xc5, 0xc7, 0xa5, 0x47, 0x29, 0x96, 0xfd, 0x94, 0x66, 0x66, 0xb4, 0x8a, 0x02, 0xe6, 0x5d,
    0xdd, 0x53, 0x6f, 0x37, 0xc7, 0x6d, 0xd2, 0xf8, 0x63, 0x52, 0xe6, 0x4a, 0x53, 0x71, 0x3f,
];
/// BLAKE3 key of range verification hashes (xet-core `VERIFICATION_KEY`).
pub const VERIFICATION_KEY: [u8; 32] = [
    0x7f, 0x18, 0x57, 0xd6, 0xce, 0x56, 0xed, 0x66, 0x12, 0x7f, 0xf9, 0x13, 0xe7, 0xa5, 0xc3, 0xf3, 0xa4,
    0xcd, 0x26, 0xd5, 0xb5, 0xdb, 0x49, 0xe6, 0x41, 0x24, 0x98, 0x7f, 0x28, 0xfb, 0x94, 0xc3,
];
/// The aggregated tree's mean branching factor: a group closes on a child whose hash is a
/// multiple of it (from the third child on), or at twice it plus one children.
pub const MEAN_BRANCHING: u64 = 4;
/// A chunk whose id's last little-endian word is a multiple of this is an anchor (xet-core's
/// `MDB_SHARD_GLOBAL_DEDUP_CHUNK_MODULUS`): about one chunk in 1024, one per 64 MiB.
pub const ANCHOR_MODULUS: u64 = 1024;
