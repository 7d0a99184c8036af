//! The BEP 44 part of the KRPC codec: `get` and `put` queries and the item fields of responses.
//!
//! `v` is any bencoded value. It is carried as its bencoded bytes: decoding re-encodes the
//! parsed value, which gives back the received bytes exactly (the bencode decoder accepts
//! nothing non-canonical except key order, which it keeps).

use ccbt_bencode::{Dict, OwnedValue, Value};

use super::{opt_bytes, opt_int, req_bytes, req_id, wrong_type, Query, Response, MAX_TOKEN_LEN};
use crate::item::{Item, MutableItem, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::{KrpcError, NodeId};

/// `v` as a value to encode. Items are validated before they are sent, so `v` is bencode;
/// should a caller pass anything else, it goes out as a byte string rather than corrupt the
/// message.
fn value_of(v: &[u8]) -> OwnedValue {
    match ccbt_bencode::decode(v) {
        Ok(value) => value.to_owned_value(),
        Err(_) => OwnedValue::Bytes(v.to_vec()),
    }
}

/// Adds the arguments of a `get` or `put` query to `a` (which holds `id`).
pub(super) fn encode_query_args(q: &Query, a: &mut OwnedValue) {
    match q {
        Query::Get { target, seq, .. } => {
            a.insert("target", target.0.to_vec());
            if let Some(seq) = seq {
                a.insert("seq", *seq);
            }
        }
        Query::Put { token, item, cas, .. } => {
            a.insert("token", token.clone());
            a.insert("v", value_of(item.value()));
            if let Item::Mutable(m) = item {
                a.insert("k", m.k.to_vec());
                a.insert("sig", m.sig.to_vec());
                a.insert("seq", m.seq);
                if !m.salt.is_empty() {
                    a.insert("salt", m.salt.clone());
                }
                if let Some(cas) = cas {
                    a.insert("cas", *cas);
                }
            }
        }
        _ => {}
    }
}

/// Adds the item fields of a `get` response to `d`.
pub(super) fn encode_response_fields(r: &Response, d: &mut OwnedValue) {
    if let Some(v) = &r.v {
        d.insert("v", value_of(v));
    }
    if let Some(k) = &r.k {
        d.insert("k", k.to_vec());
    }
    if let Some(sig) = &r.sig {
        d.insert("sig", sig.to_vec());
    }
    if let Some(seq) = r.seq {
        d.insert("seq", seq);
    }
}

fn raw_value(d: &Dict<'_>, key: &'static str) -> Option<Vec<u8>> {
    d.get(key.as_bytes()).map(ccbt_bencode::encode)
}

fn opt_fixed<const N: usize>(d: &Dict<'_>, key: &'static str) -> Result<Option<[u8; N]>, KrpcError> {
    match opt_bytes(d, key)? {
        None => Ok(None),
        Some(b) => {
            b.try_into().map(Some).map_err(|_| KrpcError::WrongLength { key, expected: N, got: b.len() })
        }
    }
}

/// `get`: `target`, optional `seq`.
pub(super) fn decode_get(id: NodeId, a: &Dict<'_>) -> Result<Query, KrpcError> {
    Ok(Query::Get { id, target: NodeId(req_id(a, "target")?), seq: opt_int(a, "seq")? })
}

/// `put`: `token` and `v`; a mutable item also has `k`, `sig`, `seq` and optionally `salt`
/// and `cas`.
pub(super) fn decode_put(id: NodeId, a: &Dict<'_>) -> Result<Query, KrpcError> {
    let token = req_bytes(a, "token")?;
    if token.len() > MAX_TOKEN_LEN {
        return Err(KrpcError::WrongLength { key: "token", expected: MAX_TOKEN_LEN, got: token.len() });
    }
    let v = raw_value(a, "v").ok_or(KrpcError::MissingKey { key: "v" })?;
    let item = match opt_fixed::<PUBLIC_KEY_LEN>(a, "k")? {
        None => Item::Immutable(v),
        Some(k) => {
            let sig = opt_fixed::<SIGNATURE_LEN>(a, "sig")?.ok_or(KrpcError::MissingKey { key: "sig" })?;
            let seq = opt_int(a, "seq")?.ok_or(KrpcError::MissingKey { key: "seq" })?;
            let salt = opt_bytes(a, "salt")?.unwrap_or_default().to_vec();
            Item::Mutable(MutableItem { k, salt, seq, v, sig })
        }
    };
    let cas = match item {
        Item::Mutable(_) => opt_int(a, "cas")?,
        Item::Immutable(_) => None,
    };
    Ok(Query::Put { id, token: token.to_vec(), item, cas })
}

/// The item fields of a response: `v`, `k`, `sig`, `seq`.
#[allow(clippy::type_complexity)]
pub(super) fn decode_response_fields(
    r: &Dict<'_>,
) -> Result<(Option<Vec<u8>>, Option<[u8; 32]>, Option<[u8; 64]>, Option<i64>), KrpcError> {
    let v = raw_value(r, "v");
    let k = opt_fixed::<PUBLIC_KEY_LEN>(r, "k")?;
    let sig = opt_fixed::<SIGNATURE_LEN>(r, "sig")?;
    let seq = match r.get(b"seq") {
        None => None,
        Some(Value::Int(n)) => Some(*n),
        Some(other) => return Err(wrong_type("seq", "integer", other)),
    };
    Ok((v, k, sig, seq))
}
