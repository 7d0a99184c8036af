use std::collections::HashSet;

use crate::error::key_for_error;
use crate::{BencodeError, Dict, Value};

/// Deepest nesting of lists and dictionaries the decoder accepts. Real messages and torrents
/// nest a handful of levels; the limit keeps hostile input (`llll...`) from exhausting the stack.
pub const MAX_DEPTH: usize = 256;

/// Decodes `input`, which must hold exactly one value.
pub fn decode(input: &[u8]) -> Result<Value<'_>, BencodeError> {
    let mut d = Decoder { input, pos: 0 };
    let value = d.value(0)?;
    d.finish()?;
    Ok(value)
}

/// Decodes the value at the start of `input` and returns it with the number of bytes it took.
/// Whatever follows is left alone (ut_metadata puts raw piece data after its dictionary).
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), BencodeError> {
    let mut d = Decoder { input, pos: 0 };
    let value = d.value(0)?;
    Ok((value, d.pos))
}

/// The exact original bytes of the value of `key` in the top-level dictionary of `input`, or
/// `None` if the key is absent. The whole input is validated as by [`decode`]. This is what the
/// info hash is computed over: re-encoding could differ from the original (e.g. key order).
pub fn raw_value_of_key<'a>(input: &'a [u8], key: &[u8]) -> Result<Option<&'a [u8]>, BencodeError> {
    let mut d = Decoder { input, pos: 0 };
    if d.peek()? != b'd' {
        // Report a malformed input as such rather than as "not a dictionary".
        d.value(0)?;
        d.finish()?;
        return Err(BencodeError::NotADict);
    }
    let mut span = None;
    d.dict(0, |k, start, end| {
        if k == key {
            span = Some((start, end));
        }
    })?;
    d.finish()?;
    Ok(span.and_then(|(start, end)| input.get(start..end)))
}

struct Decoder<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn peek(&self) -> Result<u8, BencodeError> {
        self.input.get(self.pos).copied().ok_or(BencodeError::UnexpectedEof { pos: self.pos })
    }

    fn finish(&self) -> Result<(), BencodeError> {
        if self.pos == self.input.len() {
            Ok(())
        } else {
            Err(BencodeError::TrailingData { pos: self.pos })
        }
    }

    /// Decodes one value; `depth` is the number of containers enclosing it.
    fn value(&mut self, depth: usize) -> Result<Value<'a>, BencodeError> {
        match self.peek()? {
            b'i' => self.int().map(Value::Int),
            b'0'..=b'9' => self.byte_string().map(Value::Bytes),
            b'l' => self.list(depth),
            b'd' => self.dict(depth, |_, _, _| {}),
            byte => Err(BencodeError::UnexpectedByte { byte, pos: self.pos }),
        }
    }

    /// `i<digits>e` with no leading zeros and no `-0`, so every integer has one encoding.
    fn int(&mut self) -> Result<i64, BencodeError> {
        let start = self.pos;
        self.pos += 1; // 'i', checked by the caller
        let negative = self.peek()? == b'-';
        if negative {
            self.pos += 1;
        }
        let digits_start = self.pos;
        // Accumulate as a negative number so that i64::MIN fits.
        let mut acc: i64 = 0;
        loop {
            let byte = self.peek()?;
            match byte {
                b'0'..=b'9' => {
                    if self.pos > digits_start && self.input.get(digits_start) == Some(&b'0') {
                        return Err(BencodeError::InvalidInt { pos: start });
                    }
                    acc = acc
                        .checked_mul(10)
                        .and_then(|a| a.checked_sub(i64::from(byte - b'0')))
                        .ok_or(BencodeError::IntOverflow { pos: start })?;
                    self.pos += 1;
                }
                b'e' => break,
                _ => return Err(BencodeError::InvalidInt { pos: self.pos }),
            }
        }
        let n_digits = self.pos - digits_start;
        if n_digits == 0 || (negative && acc == 0) {
            return Err(BencodeError::InvalidInt { pos: start });
        }
        self.pos += 1; // 'e'
        if negative {
            Ok(acc)
        } else {
            acc.checked_neg().ok_or(BencodeError::IntOverflow { pos: start })
        }
    }

    /// `<len>:<bytes>`, borrowing the bytes from the input.
    fn byte_string(&mut self) -> Result<&'a [u8], BencodeError> {
        let start = self.pos;
        let invalid = BencodeError::InvalidByteStringLength { pos: start };
        let mut len: usize = 0;
        loop {
            let byte = self.peek()?;
            match byte {
                b'0'..=b'9' => {
                    if self.pos > start && self.input.get(start) == Some(&b'0') {
                        return Err(invalid);
                    }
                    len = len
                        .checked_mul(10)
                        .and_then(|l| l.checked_add(usize::from(byte - b'0')))
                        .ok_or_else(|| invalid.clone())?;
                    self.pos += 1;
                }
                b':' if self.pos > start => break,
                _ => return Err(invalid),
            }
        }
        self.pos += 1; // ':'
        let data_start = self.pos;
        let bytes = data_start
            .checked_add(len)
            .and_then(|end| self.input.get(data_start..end))
            .ok_or(BencodeError::UnexpectedEof { pos: self.input.len() })?;
        self.pos = data_start + bytes.len();
        Ok(bytes)
    }

    fn enter(&self, depth: usize) -> Result<(), BencodeError> {
        if depth >= MAX_DEPTH {
            Err(BencodeError::TooDeep { pos: self.pos })
        } else {
            Ok(())
        }
    }

    fn list(&mut self, depth: usize) -> Result<Value<'a>, BencodeError> {
        self.enter(depth)?;
        self.pos += 1; // 'l'
        let mut items = Vec::new();
        while self.peek()? != b'e' {
            items.push(self.value(depth + 1)?);
        }
        self.pos += 1; // 'e'
        Ok(Value::List(items))
    }

    /// Decodes a dictionary, reporting each entry's key and the byte span of its value to
    /// `on_entry` (used by [`raw_value_of_key`]).
    fn dict(
        &mut self,
        depth: usize,
        mut on_entry: impl FnMut(&'a [u8], usize, usize),
    ) -> Result<Value<'a>, BencodeError> {
        self.enter(depth)?;
        self.pos += 1; // 'd'
        let mut entries: Vec<(&'a [u8], Value<'a>)> = Vec::new();
        // While keys arrive sorted (the usual case) a new key greater than the last one cannot
        // be a duplicate; only an out-of-order key switches to a set, keeping this O(n).
        let mut seen: Option<HashSet<&'a [u8]>> = None;
        loop {
            let key_pos = self.pos;
            match self.peek()? {
                b'e' => break,
                b'0'..=b'9' => {}
                b'i' | b'l' | b'd' => return Err(BencodeError::NonStringKey { pos: key_pos }),
                byte => return Err(BencodeError::UnexpectedByte { byte, pos: key_pos }),
            }
            let key = self.byte_string()?;
            let duplicate = match (&mut seen, entries.last()) {
                (Some(set), _) => !set.insert(key),
                (None, Some((last, _))) if key <= *last => {
                    let mut set: HashSet<&'a [u8]> = entries.iter().map(|(k, _)| *k).collect();
                    let duplicate = !set.insert(key);
                    seen = Some(set);
                    duplicate
                }
                (None, _) => false,
            };
            if duplicate {
                return Err(BencodeError::DuplicateKey { key: key_for_error(key), pos: key_pos });
            }
            let value_start = self.pos;
            let value = self.value(depth + 1)?;
            on_entry(key, value_start, self.pos);
            entries.push((key, value));
        }
        self.pos += 1; // 'e'
        Ok(Value::Dict(Dict::from_entries(entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode;

    fn err(input: &[u8]) -> BencodeError {
        match decode(input) {
            Ok(v) => panic!("{:?} decoded to {v:?}", String::from_utf8_lossy(input)),
            Err(e) => e,
        }
    }

    #[test]
    fn golden_values() {
        assert_eq!(decode(b"i42e"), Ok(Value::Int(42)));
        assert_eq!(decode(b"i-42e"), Ok(Value::Int(-42)));
        assert_eq!(decode(b"i0e"), Ok(Value::Int(0)));
        assert_eq!(decode(b"i9223372036854775807e"), Ok(Value::Int(i64::MAX)));
        assert_eq!(decode(b"i-9223372036854775808e"), Ok(Value::Int(i64::MIN)));
        assert_eq!(decode(b"4:spam"), Ok(Value::Bytes(b"spam")));
        assert_eq!(decode(b"0:"), Ok(Value::Bytes(b"")));
        assert_eq!(decode(b"le"), Ok(Value::List(vec![])));
        assert_eq!(decode(b"l4:spami42ee"), Ok(Value::List(vec![Value::Bytes(b"spam"), Value::Int(42)])));
        let d = decode(b"d3:bar4:spam3:fooi42ee").unwrap();
        assert_eq!(d.get(b"bar"), Some(&Value::Bytes(b"spam")));
        assert_eq!(d.get(b"foo"), Some(&Value::Int(42)));
        assert_eq!(decode(b"de").unwrap().as_dict().map(Dict::len), Some(0));
    }

    #[test]
    fn byte_strings_borrow_the_input() {
        let input = b"l3:abce".to_vec();
        let v = decode(&input).unwrap();
        let b = v.as_list().unwrap()[0].as_bytes().unwrap();
        assert_eq!(b.as_ptr(), input[3..].as_ptr());
    }

    #[test]
    fn unsorted_keys_are_accepted_and_kept_in_order() {
        let input = b"d1:bi1e1:ai2e1:ci3ee";
        let v = decode(input).unwrap();
        let keys: Vec<_> = v.as_dict().unwrap().iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![&b"b"[..], b"a", b"c"]);
        assert_eq!(encode(&v), input);
    }

    #[test]
    fn invalid_integers() {
        for (input, pos) in [
            (&b"ie"[..], 0),
            (b"i-e", 0),
            (b"i-0e", 0),
            (b"i00e", 0),
            (b"i01e", 0),
            (b"i-01e", 0),
            (b"i1x2e", 2),
            (b"i+1e", 1),
            (b"i 1e", 1),
            (b"i--1e", 2),
        ] {
            assert_eq!(err(input), BencodeError::InvalidInt { pos }, "{input:?}");
        }
    }

    #[test]
    fn integer_overflow() {
        assert_eq!(err(b"i9223372036854775808e"), BencodeError::IntOverflow { pos: 0 });
        assert_eq!(err(b"i-9223372036854775809e"), BencodeError::IntOverflow { pos: 0 });
        assert_eq!(err(b"li1ei99999999999999999999999ee"), BencodeError::IntOverflow { pos: 4 });
    }

    #[test]
    fn invalid_byte_string_lengths() {
        for (input, pos) in
            [(&b"01:a"[..], 0), (b"00:", 0), (b"l1x:ae", 1), (b"99999999999999999999999999:a", 0)]
        {
            assert_eq!(err(input), BencodeError::InvalidByteStringLength { pos }, "{input:?}");
        }
    }

    #[test]
    fn length_beyond_input_is_eof() {
        assert_eq!(err(b"5:abc"), BencodeError::UnexpectedEof { pos: 5 });
        assert_eq!(err(b"18446744073709551615:a"), BencodeError::UnexpectedEof { pos: 22 });
    }

    #[test]
    fn trailing_data() {
        assert_eq!(err(b"i1ei2e"), BencodeError::TrailingData { pos: 3 });
        assert_eq!(err(b"dex"), BencodeError::TrailingData { pos: 2 });
    }

    #[test]
    fn unexpected_bytes() {
        assert_eq!(err(b""), BencodeError::UnexpectedEof { pos: 0 });
        assert_eq!(err(b"x"), BencodeError::UnexpectedByte { byte: b'x', pos: 0 });
        assert_eq!(err(b"e"), BencodeError::UnexpectedByte { byte: b'e', pos: 0 });
        assert_eq!(err(b"lxe"), BencodeError::UnexpectedByte { byte: b'x', pos: 1 });
        assert_eq!(err(b"d1:ae"), BencodeError::UnexpectedByte { byte: b'e', pos: 4 });
        assert_eq!(err(b"dxe"), BencodeError::UnexpectedByte { byte: b'x', pos: 1 });
    }

    #[test]
    fn non_string_keys() {
        assert_eq!(err(b"di1ei2ee"), BencodeError::NonStringKey { pos: 1 });
        assert_eq!(err(b"d1:ai1elei2ee"), BencodeError::NonStringKey { pos: 7 });
        assert_eq!(err(b"ddei1ee"), BencodeError::NonStringKey { pos: 1 });
    }

    #[test]
    fn duplicate_keys() {
        let dup = |key: &str, pos| BencodeError::DuplicateKey { key: key.into(), pos };
        assert_eq!(err(b"d1:ai1e1:ai2ee"), dup("a", 7));
        // Duplicate found after the keys stopped being sorted.
        assert_eq!(err(b"d1:bi1e1:ai2e1:bi3ee"), dup("b", 13));
        assert_eq!(err(b"d1:ai1e1:ci1e1:bi2e1:ci3ee"), dup("c", 19));
        // Same key in different dictionaries is fine.
        assert!(decode(b"d1:ad1:ai1ee1:bd1:ai1eee").is_ok());
        let long = format!("d100:{k}i1e100:{k}i1ee", k = "k".repeat(100));
        match err(long.as_bytes()) {
            BencodeError::DuplicateKey { key, .. } => assert!(key.chars().count() <= 65),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn nesting_limit() {
        let nested = |n: usize| {
            let mut v = vec![b'l'; n];
            v.extend(vec![b'e'; n]);
            v
        };
        assert!(decode(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(decode(&nested(MAX_DEPTH + 1)), Err(BencodeError::TooDeep { pos: MAX_DEPTH }));
        // Far deeper than any stack could recurse: must fail cleanly, not overflow.
        let deep = vec![b'l'; 1 << 20];
        assert_eq!(decode(&deep), Err(BencodeError::TooDeep { pos: MAX_DEPTH }));
        let mut dicts = b"d1:a".repeat(MAX_DEPTH + 1);
        dicts.extend(b"i1e");
        dicts.extend(b"e".repeat(MAX_DEPTH + 1));
        assert!(matches!(decode(&dicts), Err(BencodeError::TooDeep { .. })));
    }

    #[test]
    fn every_truncation_is_an_error() {
        let input: &[u8] = b"d8:announce3:url4:infod6:lengthi-12e4:name2:\xff\x005:piecel0:i0eleee3:zzzdee";
        assert!(decode(input).is_ok());
        for cut in 0..input.len() {
            assert!(decode(&input[..cut]).is_err(), "cut at {cut}");
            let Err(e) = decode(&input[..cut]) else { unreachable!() };
            assert!(matches!(e, BencodeError::UnexpectedEof { .. }), "cut at {cut}: {e:?}");
            assert!(raw_value_of_key(&input[..cut], b"info").is_err());
        }
    }

    #[test]
    fn prefix_decoding() {
        let input = b"d8:msg_typei1e5:piecei0eeRAW PIECE DATA";
        let (v, used) = decode_prefix(input).unwrap();
        assert_eq!(used, 25);
        assert_eq!(&input[used..], b"RAW PIECE DATA");
        assert_eq!(v.get(b"msg_type").and_then(Value::as_int), Some(1));
        assert_eq!(decode_prefix(b"i1e"), Ok((Value::Int(1), 3)));
        assert!(decode_prefix(b"d8:msg_type").is_err());
    }

    #[test]
    fn raw_spans() {
        // Unsorted keys and an odd spacing of values: the span is the original bytes.
        let input = b"d4:infod6:lengthi5e4:name1:ae8:announce1:ue";
        assert_eq!(raw_value_of_key(input, b"info"), Ok(Some(&b"d6:lengthi5e4:name1:ae"[..])));
        assert_eq!(raw_value_of_key(input, b"announce"), Ok(Some(&b"1:u"[..])));
        assert_eq!(raw_value_of_key(input, b"missing"), Ok(None));
        // Nested keys are not top-level keys.
        assert_eq!(raw_value_of_key(input, b"length"), Ok(None));
        assert_eq!(raw_value_of_key(b"li1ee", b"info"), Err(BencodeError::NotADict));
        assert_eq!(raw_value_of_key(b"x", b"info"), Err(BencodeError::UnexpectedByte { byte: b'x', pos: 0 }));
        assert_eq!(raw_value_of_key(b"dei1e", b"info"), Err(BencodeError::TrailingData { pos: 2 }));
        assert!(matches!(
            raw_value_of_key(b"d4:infoi1e4:infoi2ee", b"info"),
            Err(BencodeError::DuplicateKey { .. })
        ));
    }

    #[test]
    fn error_messages_are_lower_case_and_name_the_position() {
        let msg = err(b"i01e").to_string();
        assert_eq!(msg, "invalid integer at byte 0");
        let msg = err(b"d1:ai1e1:ai2ee").to_string();
        assert_eq!(msg, "duplicate dictionary key \"a\" at byte 7");
    }
}
