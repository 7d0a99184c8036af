//! Bencode (BEP 3) for ccbt: a zero-copy borrowed decoder, an encoder, and the raw byte span of
//! a top-level key (the info hash is always taken over the original bytes of the info
//! dictionary, never over a re-encoding).
//!
//! The decoder is strict where leniency would make two byte strings mean the same value
//! (leading zeros, `-0`, duplicate keys) and practical where real torrents deviate from the
//! spec (unsorted dictionary keys are accepted and their order is kept). Because every accepted
//! input is canonical apart from key order, `encode(&decode(x)?) == x` for every accepted `x`.
//!
//! This crate is sans-IO and has no dependencies besides `thiserror`.

// Unit tests take `Instant::now()` once as their virtual clock's origin; product code may not
// (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]

mod decode;
mod encode;
mod error;
mod owned;
mod value;

pub use decode::{decode, decode_prefix, raw_value_of_key, MAX_DEPTH};
pub use encode::{encode, encode_to};
pub use error::BencodeError;
pub use owned::OwnedValue;
pub use value::{Dict, Value};

#[cfg(test)]
mod tests;
