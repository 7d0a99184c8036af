//! A file's size and modification time, as a checkpoint records them and as a resume compares
//! them: a file missing, shorter, or modified after the checkpoint is rechecked (that file only).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt as _;

use crate::FileStamp;

/// How a file on disk compares with what a checkpoint recorded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StampCheck {
    /// Same size and no later modification: the pieces the checkpoint claims in it stand.
    Unchanged,
    /// Not there (or not a regular file).
    Missing,
    /// Shorter than recorded: data the checkpoint counted may be gone.
    Shorter { size: u64 },
    /// Longer, or modified after the checkpoint was written: something else wrote to it.
    Modified,
}

impl StampCheck {
    /// Whether the file's pieces must be checked again before they are trusted.
    pub fn needs_recheck(self) -> bool {
        self != StampCheck::Unchanged
    }
}

impl FileStamp {
    /// The size and modification time of `meta`.
    pub fn of(meta: &Metadata) -> FileStamp {
        FileStamp {
            size: meta.len(),
            mtime_secs: meta.mtime(),
            mtime_nanos: meta.mtime_nsec().clamp(0, 999_999_999) as u32,
        }
    }

    /// Compares the file now (`None`: it does not exist) with this recorded stamp.
    pub fn check(&self, now: Option<&Metadata>) -> StampCheck {
        let Some(meta) = now.filter(|m| m.is_file()) else { return StampCheck::Missing };
        let current = FileStamp::of(meta);
        if current.size < self.size {
            StampCheck::Shorter { size: current.size }
        } else if current.size > self.size
            || (current.mtime_secs, current.mtime_nanos) > (self.mtime_secs, self.mtime_nanos)
        {
            StampCheck::Modified
        } else {
            StampCheck::Unchanged
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn missing_shorter_longer_and_touched_files_need_a_recheck() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        let meta = || std::fs::metadata(&path).unwrap();
        let stamp = FileStamp::of(&meta());
        assert_eq!(stamp.check(Some(&meta())), StampCheck::Unchanged);
        assert_eq!(stamp.check(None), StampCheck::Missing);
        assert_eq!(stamp.check(Some(&std::fs::metadata(dir.path()).unwrap())), StampCheck::Missing);

        let file = std::fs::File::options().write(true).open(&path).unwrap();
        let later = SystemTime::now() + Duration::from_secs(60);
        file.set_modified(later).unwrap();
        assert_eq!(stamp.check(Some(&meta())), StampCheck::Modified);
        file.set_len(3).unwrap();
        assert_eq!(stamp.check(Some(&meta())), StampCheck::Shorter { size: 3 });
        file.set_len(9).unwrap();
        assert_eq!(stamp.check(Some(&meta())), StampCheck::Modified);
        assert!(StampCheck::Modified.needs_recheck() && !StampCheck::Unchanged.needs_recheck());
    }
}
