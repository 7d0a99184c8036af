//! Cuts a condition into tokens, each with its byte range, so every error can point at a place.
//! Numbers take their unit here (`10 KiB` is one token worth 10240).

use super::{CmpOp, ConditionError, ErrorKind};

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Value,
    And,
    Or,
    Not,
    LParen,
    RParen,
    Op(CmpOp),
    /// A number with its unit already applied.
    Number(f64),
}

impl Tok {
    /// How an error message names this token.
    pub(crate) fn describe(&self, text: &str) -> String {
        match self {
            Tok::Number(_) => format!("the number `{text}`"),
            _ => format!("`{text}`"),
        }
    }
}

/// A token and where it is in the condition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

/// Byte units, multiplier of each. Decimal (`kB`, `MB`) and binary (`KiB`, `MiB`) prefixes; a
/// rate may be written with `/s` (`10 KiB/s`), which changes nothing: rates are per second.
const UNITS: &[(&str, f64)] = &[
    ("B", 1.0),
    ("kB", 1e3),
    ("KB", 1e3),
    ("MB", 1e6),
    ("GB", 1e9),
    ("TB", 1e12),
    ("KiB", 1024.0),
    ("MiB", 1_048_576.0),
    ("GiB", 1_073_741_824.0),
    ("TiB", 1_099_511_627_776.0),
];

/// The units, for error messages.
pub(crate) fn unit_list() -> String {
    UNITS.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

fn unit_factor(word: &str) -> Option<f64> {
    let base = word.strip_suffix("/s").unwrap_or(word);
    UNITS.iter().find(|(name, _)| *name == base).map(|(_, factor)| *factor)
}

/// Splits `text` into tokens. `text` is already known to be short (the caller checks the length).
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, ConditionError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let tok = match b {
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            b'(' => Tok::LParen,
            b')' => Tok::RParen,
            b'<' | b'>' | b'=' | b'!' => {
                let (op, len) = operator(bytes, i)?;
                i += len;
                tokens.push(Token { tok: Tok::Op(op), start, end: i });
                continue;
            }
            b'0'..=b'9' | b'-' | b'.' => {
                let (value, end) = number(text, i)?;
                i = end;
                tokens.push(Token { tok: Tok::Number(value), start, end });
                continue;
            }
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let end = word_end(bytes, i);
                let tok = keyword(&text[i..end], i)?;
                i = end;
                tokens.push(Token { tok, start, end });
                continue;
            }
            _ => {
                let found = text[i..].chars().next().unwrap_or('?');
                return Err(ConditionError::new(i, ErrorKind::UnexpectedChar(found)));
            }
        };
        i += 1;
        tokens.push(Token { tok, start, end: i });
    }
    Ok(tokens)
}

fn operator(bytes: &[u8], i: usize) -> Result<(CmpOp, usize), ConditionError> {
    let next_is_eq = bytes.get(i + 1) == Some(&b'=');
    match (bytes[i], next_is_eq) {
        (b'<', true) => Ok((CmpOp::Le, 2)),
        (b'<', false) => Ok((CmpOp::Lt, 1)),
        (b'>', true) => Ok((CmpOp::Ge, 2)),
        (b'>', false) => Ok((CmpOp::Gt, 1)),
        (b'=', true) => Ok((CmpOp::Eq, 2)),
        (b'!', true) => Ok((CmpOp::Ne, 2)),
        // A lone `=` or `!`: say which operators exist rather than "unexpected character".
        (other, _) => Err(ConditionError::new(i, ErrorKind::LoneOperator(char::from(other)))),
    }
}

fn word_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    i
}

fn keyword(word: &str, at: usize) -> Result<Tok, ConditionError> {
    match word {
        "value" => Ok(Tok::Value),
        "and" => Ok(Tok::And),
        "or" => Ok(Tok::Or),
        "not" => Ok(Tok::Not),
        _ if unit_factor(word).is_some() => Err(ConditionError::new(at, ErrorKind::UnitWithoutNumber)),
        // A unit in the wrong case (`10 kib`): list the units rather than the keywords.
        _ if UNITS
            .iter()
            .any(|(unit, _)| unit.eq_ignore_ascii_case(word.strip_suffix("/s").unwrap_or(word))) =>
        {
            Err(ConditionError::new(at, ErrorKind::UnknownUnit(word.to_owned())))
        }
        _ => Err(ConditionError::new(at, ErrorKind::UnknownWord(word.to_owned()))),
    }
}

/// A number, its optional fraction and its optional unit (next to it or after spaces). Returns the
/// value and the end of the token.
fn number(text: &str, start: usize) -> Result<(f64, usize), ConditionError> {
    let bytes = text.as_bytes();
    let mut i = start;
    if bytes[i] == b'-' {
        i += 1;
    }
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    let mut frac_digits = 0;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = i - frac_start;
    }
    let digits = &text[start..i];
    if int_digits == 0 || (i > int_start + int_digits && frac_digits == 0) {
        return Err(ConditionError::new(start, ErrorKind::BadNumber(digits.to_owned())));
    }
    let mut value: f64 =
        digits.parse().map_err(|_| ConditionError::new(start, ErrorKind::BadNumber(digits.to_owned())))?;
    let (factor, end) = unit(text, i)?;
    value *= factor;
    if !value.is_finite() {
        return Err(ConditionError::new(start, ErrorKind::BadNumber(text[start..end].to_owned())));
    }
    Ok((value, end))
}

/// The unit after a number ending at `i`: `(factor, end)`; `(1, i)` when there is none.
fn unit(text: &str, i: usize) -> Result<(f64, usize), ConditionError> {
    let bytes = text.as_bytes();
    match bytes.get(i) {
        Some(b'%') => return Err(ConditionError::new(i, ErrorKind::Percent)),
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
            // Glued to the number: it must be a unit (`10kib` is a typo, not two tokens).
            let end = unit_end(bytes, i);
            let word = &text[i..end];
            return match unit_factor(word) {
                Some(factor) => Ok((factor, end)),
                None => Err(ConditionError::new(i, ErrorKind::UnknownUnit(word.to_owned()))),
            };
        }
        _ => {}
    }
    // After spaces, a unit belongs to the number; any other word (`and`) is left for the parser.
    let mut j = i;
    while j < bytes.len() && (bytes[j] == b' ' || bytes[j] == b'\t') {
        j += 1;
    }
    if j > i && j < bytes.len() && bytes[j].is_ascii_alphabetic() {
        let end = unit_end(bytes, j);
        if let Some(factor) = unit_factor(&text[j..end]) {
            return Ok((factor, end));
        }
    }
    Ok((1.0, i))
}

/// The end of a unit word, with its optional `/s`.
fn unit_end(bytes: &[u8], i: usize) -> usize {
    let end = word_end(bytes, i);
    if bytes.get(end) == Some(&b'/') && bytes.get(end + 1) == Some(&b's') {
        let after = end + 2;
        if !matches!(bytes.get(after), Some(b) if b.is_ascii_alphanumeric() || *b == b'_') {
            return after;
        }
    }
    end
}
