use crate::OwnedValue;

/// A decoded bencode value borrowing its byte strings from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// `i<n>e`.
    Int(i64),
    /// `<len>:<bytes>`.
    Bytes(&'a [u8]),
    /// `l...e`.
    List(Vec<Value<'a>>),
    /// `d...e`, keys in input order.
    Dict(Dict<'a>),
}

/// A decoded dictionary: its `(key, value)` pairs in input order. Keys are unique (the decoder
/// rejects duplicates) but not necessarily sorted, since real torrents are not always sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dict<'a> {
    entries: Vec<(&'a [u8], Value<'a>)>,
}

impl<'a> Dict<'a> {
    /// Wraps pairs that the caller guarantees have unique keys.
    pub(crate) fn from_entries(entries: Vec<(&'a [u8], Value<'a>)>) -> Dict<'a> {
        Dict { entries }
    }

    /// The value of `key`, if present. Linear: bencoded dictionaries are small.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// The `(key, value)` pairs in input order.
    pub fn entries(&self) -> &[(&'a [u8], Value<'a>)] {
        &self.entries
    }

    /// Iterates the `(key, value)` pairs in input order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a [u8], &Value<'a>)> + '_ {
        self.entries.iter().map(|(k, v)| (*k, v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the dictionary has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<'a> Value<'a> {
    /// The integer, if this is an integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8, if this is a byte string holding valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The dictionary, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&Dict<'a>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The value of `key` if this is a dictionary containing it.
    pub fn get(&self, key: &[u8]) -> Option<&Value<'a>> {
        self.as_dict().and_then(|d| d.get(key))
    }

    /// A short name of the variant, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Int(_) => "integer",
            Value::Bytes(_) => "byte string",
            Value::List(_) => "list",
            Value::Dict(_) => "dictionary",
        }
    }

    /// An owned copy. Dictionary keys end up sorted (that is what [`OwnedValue`] stores).
    pub fn to_owned_value(&self) -> OwnedValue {
        match self {
            Value::Int(n) => OwnedValue::Int(*n),
            Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Value::List(items) => OwnedValue::List(items.iter().map(Value::to_owned_value).collect()),
            Value::Dict(d) => {
                OwnedValue::Dict(d.iter().map(|(k, v)| (k.to_vec(), v.to_owned_value())).collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::decode;

    #[test]
    fn accessors() {
        let v = decode(b"d3:agei42e4:name3:bob4:tagsl1:a1:bee").unwrap();
        assert_eq!(v.get(b"age").and_then(|v| v.as_int()), Some(42));
        assert_eq!(v.get(b"name").and_then(|v| v.as_str()), Some("bob"));
        assert_eq!(v.get(b"name").and_then(|v| v.as_bytes()), Some(&b"bob"[..]));
        assert_eq!(v.get(b"tags").and_then(|v| v.as_list()).map(<[_]>::len), Some(2));
        assert!(v.get(b"missing").is_none());
        assert!(v.get(b"age").and_then(|v| v.as_str()).is_none());
        let d = v.as_dict().unwrap();
        assert_eq!(d.len(), 3);
        assert!(d.contains_key(b"tags"));
        assert_eq!(d.iter().map(|(k, _)| k).collect::<Vec<_>>(), vec![&b"age"[..], b"name", b"tags"]);
        assert_eq!(v.kind(), "dictionary");
        assert!(v.as_int().is_none());
    }

    #[test]
    fn non_utf8_as_str_is_none() {
        let v = decode(b"2:\xff\xfe").unwrap();
        assert!(v.as_str().is_none());
        assert_eq!(v.as_bytes(), Some(&b"\xff\xfe"[..]));
    }
}
