use crate::Value;

/// Encodes `value`. Dictionary keys are written in the value's own order, so encoding a decoded
/// value reproduces its input exactly.
pub fn encode(value: &Value<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_to(value, &mut out);
    out
}

/// Appends the encoding of `value` to `out`.
pub fn encode_to(value: &Value<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Int(n) => push_int(out, *n),
        Value::Bytes(b) => push_bytes(out, b),
        Value::List(items) => {
            out.push(b'l');
            for item in items {
                encode_to(item, out);
            }
            out.push(b'e');
        }
        Value::Dict(d) => {
            out.push(b'd');
            for (k, v) in d.iter() {
                push_bytes(out, k);
                encode_to(v, out);
            }
            out.push(b'e');
        }
    }
}

/// `i<n>e`.
pub(crate) fn push_int(out: &mut Vec<u8>, n: i64) {
    out.push(b'i');
    if n < 0 {
        out.push(b'-');
    }
    push_decimal(out, n.unsigned_abs());
    out.push(b'e');
}

/// `<len>:<bytes>`.
pub(crate) fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    push_decimal(out, bytes.len() as u64);
    out.push(b':');
    out.extend_from_slice(bytes);
}

/// Writes `n` in decimal without allocating.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut buf = [0u8; 20]; // u64::MAX has 20 digits
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        let cases: [(i64, &[u8]); 5] = [
            (0, b"i0e"),
            (7, b"i7e"),
            (-42, b"i-42e"),
            (i64::MAX, b"i9223372036854775807e"),
            (i64::MIN, b"i-9223372036854775808e"),
        ];
        for (n, want) in cases {
            assert_eq!(encode(&Value::Int(n)), want);
        }
    }

    #[test]
    fn byte_strings() {
        assert_eq!(encode(&Value::Bytes(b"")), b"0:");
        assert_eq!(encode(&Value::Bytes(b"spam")), b"4:spam");
        assert_eq!(encode(&Value::Bytes(&[0u8; 10])), b"10:\0\0\0\0\0\0\0\0\0\0");
    }
}
