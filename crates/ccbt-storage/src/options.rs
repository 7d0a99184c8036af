use std::fmt;
use std::str::FromStr;

use thiserror::Error;

/// How files are sized when a torrent's storage is created (config `disk.preallocate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Preallocate {
    /// Files grow as pieces are written.
    None,
    /// Files get their final length at once but no blocks are reserved (`set_len`).
    #[default]
    Sparse,
    /// Blocks are reserved up front (`posix_fallocate`), so a full disk shows at start
    /// instead of in the middle of a download; falls back to `Sparse` where unsupported.
    Full,
}

impl Preallocate {
    /// The config spelling: `"none"`, `"sparse"` or `"full"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Preallocate::None => "none",
            Preallocate::Sparse => "sparse",
            Preallocate::Full => "full",
        }
    }
}

impl fmt::Display for Preallocate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `preallocate` value that is not one of the known modes.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("unknown preallocate mode {value:?}, expected \"none\", \"sparse\" or \"full\"")]
pub struct ParsePreallocateError {
    /// The rejected value.
    pub value: String,
}

impl FromStr for Preallocate {
    type Err = ParsePreallocateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Preallocate::None),
            "sparse" => Ok(Preallocate::Sparse),
            "full" => Ok(Preallocate::Full),
            other => Err(ParsePreallocateError { value: other.to_owned() }),
        }
    }
}

/// Options of a [`FileStorage`](crate::FileStorage).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageOptions {
    /// How files are sized at creation. Default [`Preallocate::Sparse`].
    pub preallocate: Preallocate,
    /// Hash complete files in place through a read-only memory map instead of reading them
    /// with `pread` (uploads always use `pread`). Default `true`.
    pub use_mmap: bool,
    /// Largest number of KiB one positioned vectored write carries. Default 1024.
    pub write_batch_kib: u32,
    /// Write the 4 KiB-aligned part of each write with `O_DIRECT`, past the page cache (see the
    /// `direct` module); files whose filesystem refuses it are written buffered. Default `true`
    /// (config `disk.direct_io`: measured in docs/benchmarks.md, issue 15).
    pub direct_io: bool,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            preallocate: Preallocate::Sparse,
            use_mmap: true,
            write_batch_kib: 1024,
            direct_io: true,
        }
    }
}

impl StorageOptions {
    /// `write_batch_kib` in bytes, at least one block so a write always makes progress.
    pub(crate) fn write_batch_bytes(&self) -> usize {
        let kib = usize::try_from(self.write_batch_kib).unwrap_or(usize::MAX);
        kib.saturating_mul(1024).max(16 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preallocate_round_trips() {
        for p in [Preallocate::None, Preallocate::Sparse, Preallocate::Full] {
            assert_eq!(p.to_string().parse::<Preallocate>(), Ok(p));
        }
        assert_eq!("Full".parse::<Preallocate>(), Err(ParsePreallocateError { value: "Full".into() }));
        assert_eq!(StorageOptions::default().preallocate, Preallocate::Sparse);
    }

    #[test]
    fn batch_has_a_floor() {
        let o = StorageOptions { write_batch_kib: 0, ..StorageOptions::default() };
        assert_eq!(o.write_batch_bytes(), 16 * 1024);
        assert_eq!(StorageOptions::default().write_batch_bytes(), 1024 * 1024);
    }
}
