//! `--select 0,3-5` / `--skip 2`: lists of file indices (as `ccbt info` numbers them).

use std::fmt;

/// The most indices one range may name: far more files than a .torrent within the size limit
/// can list, small enough that a typo like `0-4000000000` cannot exhaust memory.
const MAX_RANGE: u32 = 1 << 20;

/// File indices from a comma-separated list of `N` and `A-B` (inclusive) tokens, in the order
/// given, repeats removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileIndices(pub Vec<u32>);

/// Why a list did not parse: the token at fault and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexListError {
    token: String,
    reason: &'static str,
}

impl fmt::Display for IndexListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}: {} (expected file indices like 0,3-5, as `ccbt info` lists them)",
            self.token, self.reason
        )
    }
}

impl std::error::Error for IndexListError {}

/// Parses `0,3-5` (clap value parser).
pub fn parse_file_indices(text: &str) -> Result<FileIndices, IndexListError> {
    let mut out = Vec::new();
    for raw in text.split(',') {
        let token = raw.trim();
        let err = |reason| IndexListError { token: token.to_string(), reason };
        let number = |s: &str| s.trim().parse::<u32>().map_err(|_| err("not a file index"));
        if token.is_empty() {
            return Err(err("empty entry"));
        }
        match token.split_once('-') {
            None => out.push(number(token)?),
            Some((a, b)) => {
                let (first, last) = (number(a)?, number(b)?);
                if first > last {
                    return Err(err("range ends before it starts"));
                }
                if last - first >= MAX_RANGE {
                    return Err(err("range too long"));
                }
                out.extend(first..=last);
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|i| seen.insert(*i));
    Ok(FileIndices(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges_parse() {
        assert_eq!(parse_file_indices("0,3-5"), Ok(FileIndices(vec![0, 3, 4, 5])));
        assert_eq!(parse_file_indices(" 2 "), Ok(FileIndices(vec![2])));
        assert_eq!(parse_file_indices("7, 1-2,2"), Ok(FileIndices(vec![7, 1, 2])));
        assert_eq!(parse_file_indices("4-4"), Ok(FileIndices(vec![4])));
    }

    #[test]
    fn errors_name_the_bad_token() {
        for (text, token, reason) in [
            ("0,x", "x", "not a file index"),
            ("1,,2", "", "empty entry"),
            ("5-3", "5-3", "range ends before it starts"),
            ("0-4000000000", "0-4000000000", "range too long"),
            ("-1", "-1", "not a file index"),
            ("1-2-3", "1-2-3", "not a file index"),
            ("1.5", "1.5", "not a file index"),
        ] {
            let err = parse_file_indices(text).unwrap_err();
            assert_eq!((err.token.as_str(), err.reason), (token, reason), "{text}");
            assert!(err.to_string().starts_with(&format!("{token:?}: {reason}")), "{err}");
        }
    }
}
