use std::collections::BTreeMap;

use crate::encode::{push_bytes, push_int};

/// An owned bencode value for building messages and torrents. Dictionaries are `BTreeMap`s, so
/// keys are always encoded sorted as BEP 3 requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedValue {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<OwnedValue>),
    /// A dictionary with sorted keys.
    Dict(BTreeMap<Vec<u8>, OwnedValue>),
}

impl OwnedValue {
    /// An empty dictionary, to fill with [`OwnedValue::insert`] or [`OwnedValue::with`].
    pub fn dict() -> OwnedValue {
        OwnedValue::Dict(BTreeMap::new())
    }

    /// A byte string.
    pub fn bytes(b: impl Into<Vec<u8>>) -> OwnedValue {
        OwnedValue::Bytes(b.into())
    }

    /// A list of anything convertible to a value.
    pub fn list<T: Into<OwnedValue>>(items: impl IntoIterator<Item = T>) -> OwnedValue {
        OwnedValue::List(items.into_iter().map(Into::into).collect())
    }

    /// Inserts `key` into a dictionary, returning the previous value. Returns `None` and does
    /// nothing if `self` is not a dictionary.
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<OwnedValue>) -> Option<OwnedValue> {
        match self {
            OwnedValue::Dict(map) => map.insert(key.into(), value.into()),
            _ => None,
        }
    }

    /// Builder form of [`OwnedValue::insert`].
    pub fn with(mut self, key: impl Into<Vec<u8>>, value: impl Into<OwnedValue>) -> OwnedValue {
        self.insert(key, value);
        self
    }

    /// The value of `key` if this is a dictionary containing it.
    pub fn get(&self, key: &[u8]) -> Option<&OwnedValue> {
        match self {
            OwnedValue::Dict(map) => map.get(key),
            _ => None,
        }
    }

    /// Appends the encoding to `out`.
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            OwnedValue::Int(n) => push_int(out, *n),
            OwnedValue::Bytes(b) => push_bytes(out, b),
            OwnedValue::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_to(out);
                }
                out.push(b'e');
            }
            OwnedValue::Dict(map) => {
                out.push(b'd');
                for (k, v) in map {
                    push_bytes(out, k);
                    v.encode_to(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The encoding as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_to(&mut out);
        out
    }
}

impl From<i64> for OwnedValue {
    fn from(n: i64) -> Self {
        OwnedValue::Int(n)
    }
}

impl From<u32> for OwnedValue {
    fn from(n: u32) -> Self {
        OwnedValue::Int(i64::from(n))
    }
}

impl From<&str> for OwnedValue {
    fn from(s: &str) -> Self {
        OwnedValue::Bytes(s.as_bytes().to_vec())
    }
}

impl From<String> for OwnedValue {
    fn from(s: String) -> Self {
        OwnedValue::Bytes(s.into_bytes())
    }
}

impl From<&[u8]> for OwnedValue {
    fn from(b: &[u8]) -> Self {
        OwnedValue::Bytes(b.to_vec())
    }
}

impl From<Vec<u8>> for OwnedValue {
    fn from(b: Vec<u8>) -> Self {
        OwnedValue::Bytes(b)
    }
}

impl From<Vec<OwnedValue>> for OwnedValue {
    fn from(items: Vec<OwnedValue>) -> Self {
        OwnedValue::List(items)
    }
}

impl From<BTreeMap<Vec<u8>, OwnedValue>> for OwnedValue {
    fn from(map: BTreeMap<Vec<u8>, OwnedValue>) -> Self {
        OwnedValue::Dict(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dict_keys_are_sorted() {
        let v = OwnedValue::dict()
            .with("zeta", 1i64)
            .with("alpha", "x")
            .with("mid", OwnedValue::list(["a", "b"]));
        assert_eq!(v.to_bytes(), b"d5:alpha1:x3:midl1:a1:be4:zetai1ee");
        assert_eq!(v.get(b"zeta"), Some(&OwnedValue::Int(1)));
    }

    #[test]
    fn insert_into_non_dict_is_ignored() {
        let mut v = OwnedValue::Int(3);
        assert_eq!(v.insert("k", 1i64), None);
        assert_eq!(v, OwnedValue::Int(3));
        assert!(v.get(b"k").is_none());
    }

    #[test]
    fn insert_replaces() {
        let mut v = OwnedValue::dict();
        assert_eq!(v.insert("k", 1i64), None);
        assert_eq!(v.insert("k", 2i64), Some(OwnedValue::Int(1)));
        assert_eq!(v.to_bytes(), b"d1:ki2ee");
    }
}
