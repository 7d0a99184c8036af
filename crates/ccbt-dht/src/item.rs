//! BEP 44 items: arbitrary data stored in the DHT.
//!
//! An immutable item is a bencoded value `v` stored under SHA-1(v). A mutable item is stored
//! under SHA-1(k ‖ salt), where `k` is an ed25519 public key; it carries a sequence number
//! `seq` and a signature `sig` of the buffer [`signing_buffer`] builds, so anyone can check it
//! and only the key's owner can change it. `v` is at most [`MAX_VALUE_LEN`] bytes bencoded and
//! the salt at most [`MAX_SALT_LEN`] bytes.
//!
//! Values are kept as their bencoded bytes, in canonical form (sorted keys): the signature
//! covers those bytes, and a value that re-encodes differently could not be forwarded intact.

use ring::signature::{Ed25519KeyPair, KeyPair as _, UnparsedPublicKey, ED25519};
use sha1::{Digest, Sha1};

use crate::NodeId;

/// Longest bencoded `v` (BEP 44: 1000 bytes).
pub const MAX_VALUE_LEN: usize = 1000;
/// Longest salt (BEP 44: 64 bytes).
pub const MAX_SALT_LEN: usize = 64;
/// Length of an ed25519 public key `k`.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an ed25519 signature `sig`.
pub const SIGNATURE_LEN: usize = 64;
/// Length of an ed25519 seed (the private key as RFC 8032 defines it).
pub const SEED_LEN: usize = 32;

/// Why an item (or a value offered as one) is unusable.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ItemError {
    /// `v` is longer than [`MAX_VALUE_LEN`] bytes bencoded.
    #[error("value is {len} bytes bencoded, more than the {MAX_VALUE_LEN} BEP 44 allows")]
    ValueTooBig {
        /// Its length.
        len: usize,
    },
    /// `v` is not one canonical bencoded value (sorted keys, no trailing bytes).
    #[error("value is not canonical bencode")]
    NotCanonical,
    /// The salt is longer than [`MAX_SALT_LEN`] bytes.
    #[error("salt is {len} bytes, more than the {MAX_SALT_LEN} BEP 44 allows")]
    SaltTooBig {
        /// Its length.
        len: usize,
    },
    /// The signature does not match `k`, `salt`, `seq` and `v`.
    #[error("invalid signature")]
    BadSignature,
    /// A negative sequence number (BEP 44 numbers start at 0 and only grow).
    #[error("negative sequence number {seq}")]
    NegativeSeq {
        /// The number.
        seq: i64,
    },
}

/// Checks that `v` is one bencoded value in canonical form and at most [`MAX_VALUE_LEN`] bytes.
pub fn check_value(v: &[u8]) -> Result<(), ItemError> {
    if v.len() > MAX_VALUE_LEN {
        return Err(ItemError::ValueTooBig { len: v.len() });
    }
    let value = ccbt_bencode::decode(v).map_err(|_| ItemError::NotCanonical)?;
    // The decoder keeps key order; the owned form sorts. Equal bytes mean sorted keys.
    if value.to_owned_value().to_bytes() != v {
        return Err(ItemError::NotCanonical);
    }
    Ok(())
}

/// Where an immutable item lives: SHA-1 of its bencoded value.
pub fn immutable_target(v: &[u8]) -> NodeId {
    NodeId(Sha1::digest(v).into())
}

/// Where a mutable item lives: SHA-1(k ‖ salt).
pub fn mutable_target(k: &[u8; PUBLIC_KEY_LEN], salt: &[u8]) -> NodeId {
    let mut h = Sha1::new();
    h.update(k);
    h.update(salt);
    NodeId(h.finalize().into())
}

/// The bytes a mutable item's signature covers: `4:salt<len>:<salt>` (only for a non-empty
/// salt), then `3:seqi<seq>e1:v` and the bencoded value (BEP 44).
pub fn signing_buffer(salt: &[u8], seq: i64, v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(salt.len() + v.len() + 40);
    if !salt.is_empty() {
        out.extend_from_slice(format!("4:salt{}:", salt.len()).as_bytes());
        out.extend_from_slice(salt);
    }
    out.extend_from_slice(format!("3:seqi{seq}e1:v").as_bytes());
    out.extend_from_slice(v);
    out
}

/// Whether `sig` is `k`'s signature of ([`signing_buffer`]) `salt`, `seq`, `v`.
pub fn verify(k: &[u8; PUBLIC_KEY_LEN], salt: &[u8], seq: i64, v: &[u8], sig: &[u8; SIGNATURE_LEN]) -> bool {
    UnparsedPublicKey::new(&ED25519, k).verify(&signing_buffer(salt, seq, v), sig).is_ok()
}

/// An ed25519 key of a publisher, made from its 32-byte seed.
pub struct SigningKey {
    seed: [u8; SEED_LEN],
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    // The seed is the secret: only the public half is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("public_key", &self.public_key()).finish_non_exhaustive()
    }
}

impl Clone for SigningKey {
    fn clone(&self) -> SigningKey {
        SigningKey::from_seed(&self.seed)
    }
}

impl SigningKey {
    /// The key of `seed` (every 32-byte string is a valid seed).
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> SigningKey {
        // `from_seed_unchecked` only fails for a seed of the wrong length, which the type rules out.
        let pair = match Ed25519KeyPair::from_seed_unchecked(seed) {
            Ok(pair) => pair,
            Err(_) => unreachable!("a 32-byte ed25519 seed is always accepted"),
        };
        SigningKey { seed: *seed, pair }
    }

    /// The seed (the secret to keep).
    pub fn seed(&self) -> &[u8; SEED_LEN] {
        &self.seed
    }

    /// The public key `k`.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        let mut k = [0u8; PUBLIC_KEY_LEN];
        k.copy_from_slice(self.pair.public_key().as_ref());
        k
    }

    /// Signs `data`.
    pub fn sign(&self, data: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut sig = [0u8; SIGNATURE_LEN];
        sig.copy_from_slice(self.pair.sign(data).as_ref());
        sig
    }

    /// A signed mutable item of value `v` (bencoded) under `salt` with sequence number `seq`.
    pub fn sign_item(&self, salt: &[u8], seq: i64, v: Vec<u8>) -> Result<MutableItem, ItemError> {
        check_value(&v)?;
        if salt.len() > MAX_SALT_LEN {
            return Err(ItemError::SaltTooBig { len: salt.len() });
        }
        if seq < 0 {
            return Err(ItemError::NegativeSeq { seq });
        }
        let sig = self.sign(&signing_buffer(salt, seq, &v));
        Ok(MutableItem { k: self.public_key(), salt: salt.to_vec(), seq, v, sig })
    }
}

/// A signed mutable item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MutableItem {
    /// The publisher's public key.
    pub k: [u8; PUBLIC_KEY_LEN],
    /// The salt (empty for none).
    pub salt: Vec<u8>,
    /// The sequence number: a newer value has a higher one.
    pub seq: i64,
    /// The value, bencoded.
    pub v: Vec<u8>,
    /// The signature of ([`signing_buffer`]) salt, seq and v by `k`.
    pub sig: [u8; SIGNATURE_LEN],
}

impl MutableItem {
    /// Where it lives.
    pub fn target(&self) -> NodeId {
        mutable_target(&self.k, &self.salt)
    }

    /// Checks sizes, canonical form, sequence number and signature.
    pub fn validate(&self) -> Result<(), ItemError> {
        check_value(&self.v)?;
        if self.salt.len() > MAX_SALT_LEN {
            return Err(ItemError::SaltTooBig { len: self.salt.len() });
        }
        if self.seq < 0 {
            return Err(ItemError::NegativeSeq { seq: self.seq });
        }
        if !verify(&self.k, &self.salt, self.seq, &self.v, &self.sig) {
            return Err(ItemError::BadSignature);
        }
        Ok(())
    }
}

/// A stored or found item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    /// Stored under SHA-1 of its value (bencoded).
    Immutable(Vec<u8>),
    /// Stored under SHA-1(k ‖ salt).
    Mutable(MutableItem),
}

impl Item {
    /// Where it lives.
    pub fn target(&self) -> NodeId {
        match self {
            Item::Immutable(v) => immutable_target(v),
            Item::Mutable(m) => m.target(),
        }
    }

    /// The value, bencoded.
    pub fn value(&self) -> &[u8] {
        match self {
            Item::Immutable(v) => v,
            Item::Mutable(m) => &m.v,
        }
    }

    /// Checks the item as a whole ([`check_value`], and [`MutableItem::validate`]).
    pub fn validate(&self) -> Result<(), ItemError> {
        match self {
            Item::Immutable(v) => check_value(v),
            Item::Mutable(m) => m.validate(),
        }
    }
}

#[cfg(test)]
#[path = "item_tests.rs"]
mod tests;
