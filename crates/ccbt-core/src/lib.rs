//! Pure core types shared by every ccbt crate: identifiers ([`InfoHash`], [`InfoHashV2`], [`PeerId`]),
//! v2 [`merkle`] trees and the [`PieceCheck`] a piece must pass, the piece [`Bitfield`], piece/block geometry ([`Lengths`], [`BlockRef`]) and the mapping
//! from torrent byte ranges to files ([`FileLayout`]).
//!
//! This crate is sans-IO: no sockets, no files, no clock.

// Unit tests take `Instant::now()` once as their virtual clock's origin; product code may not
// (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

mod bitfield;
mod copy;
mod error;
mod geometry;
mod id;
mod layout;
pub mod merkle;
mod sha1_pair;

pub use bitfield::Bitfield;
pub use copy::copy_uncached;
pub use error::CoreError;
pub use geometry::{BlockRef, Lengths, ValidPieceIndex, BLOCK_SIZE};
pub use id::{InfoHash, InfoHashV2, PeerId};
pub use layout::{FileLayout, FileSlice, LayoutFile};
pub use merkle::{PieceCheck, V2PieceCheck};
pub use sha1_pair::{sha1_pair, sha1_pair_supported, Sha1PairStream};
