//! A log file rotated by size: `ccbt.log` until it would pass `max_bytes`, then `ccbt.log` →
//! `ccbt.log.1` → `ccbt.log.2` ..., never more than `max_files` files in all. The disk a log takes
//! is bounded by about `max_bytes × max_files` (a file passes `max_bytes` only by one record when
//! that record alone is larger).
//!
//! Hand-written rather than a crate: tracing-appender rotates by time only, and the size-based
//! crates do not follow a file deleted or moved away by someone else (logrotate), nor move the
//! process's stdout and stderr along, which the detached daemon needs (its panics and plain lines
//! must land in the current file, not in a rotated one).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::os::unix::io::AsRawFd as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use tracing_subscriber::fmt::MakeWriter;

/// How large one file grows and how many files are kept (the current one included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_bytes: u64,
    pub max_files: u32,
}

/// The open log file and where it is.
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    limits: Limits,
    file: File,
    /// (device, inode) of `file`, to notice that `path` is no longer it.
    identity: (u64, u64),
    /// Point stdout and stderr at each newly opened file (the detached daemon's output).
    redirect_stdio: bool,
    /// The last record could not be written (and that was reported).
    failing: bool,
}

impl RotatingFile {
    /// Opens (creating it and its folder) the log at `path` for appending, deletes numbered
    /// files a larger `max_files` of an earlier run left beyond the limit, and rotates a file
    /// already full (what is written through stdout before the first record must not grow it).
    pub fn open(path: &Path, limits: Limits, redirect_stdio: bool) -> io::Result<RotatingFile> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)?;
        }
        let (file, identity) = open_append(path)?;
        let mut log =
            RotatingFile { path: path.to_path_buf(), limits, file, identity, redirect_stdio, failing: false };
        log.remove_beyond_limit()?;
        if log.file.metadata()?.len() >= limits.max_bytes {
            log.rotate()?;
        } else {
            log.redirect()?;
        }
        Ok(log)
    }

    /// Appends one whole record, rotating first when it would make the file pass the limit.
    pub fn write_record(&mut self, record: &[u8]) -> io::Result<()> {
        let size = self.current_size()?;
        if size > 0 && size.saturating_add(record.len() as u64) > self.limits.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(record)
    }

    /// Writes a record. A failure (disk full, folder gone read-only) loses the record and is
    /// reported on stderr once until a record is written again: logging never fails the program
    /// (tracing-subscriber would print every failed record, with `eprintln!`, which panics when
    /// stderr is that same full disk).
    pub fn write_or_report(&mut self, record: &[u8]) {
        match self.write_record(record) {
            Ok(()) => self.failing = false,
            Err(e) if !self.failing => {
                self.failing = true;
                let path = self.path.display();
                let line = format!("warning: cannot write the log file {path}: {e}; records are lost until it can be written again\n");
                let _ = io::stderr().write_all(line.as_bytes());
            }
            Err(_) => {}
        }
    }

    /// The size of the file at `path`, opening it again first when it was deleted or replaced
    /// (read from the path, so what other descriptors of the file wrote counts too).
    fn current_size(&mut self) -> io::Result<u64> {
        match fs::metadata(&self.path) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.identity => return Ok(meta.len()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.reopen()?;
        Ok(self.file.metadata()?.len())
    }

    /// Shifts the numbered files up by one (the oldest falls off) and starts a new file.
    fn rotate(&mut self) -> io::Result<()> {
        let kept = self.limits.max_files.max(1);
        if kept == 1 {
            remove_if_present(&self.path)?;
        } else {
            remove_if_present(&numbered(&self.path, kept - 1))?;
            for n in (1..kept - 1).rev() {
                rename_if_present(&numbered(&self.path, n), &numbered(&self.path, n + 1))?;
            }
            rename_if_present(&self.path, &numbered(&self.path, 1))?;
        }
        self.reopen()
    }

    fn reopen(&mut self) -> io::Result<()> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)?;
        }
        (self.file, self.identity) = open_append(&self.path)?;
        self.redirect()
    }

    /// Points file descriptors 1 and 2 at the current file when asked to.
    fn redirect(&self) -> io::Result<()> {
        if !self.redirect_stdio {
            return Ok(());
        }
        let fd = self.file.as_raw_fd();
        for target in [libc::STDOUT_FILENO, libc::STDERR_FILENO] {
            // SAFETY: dup2 on two valid descriptors; 1 and 2 are the process's own, replaced
            // atomically, and no Rust object owns them.
            if unsafe { libc::dup2(fd, target) } == -1 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Deletes `<name>.N` for N ≥ `max_files` in the log's folder: only rotation creates such
    /// names next to the log.
    fn remove_beyond_limit(&self) -> io::Result<()> {
        let (Some(dir), Some(name)) = (self.path.parent(), self.path.file_name()) else { return Ok(()) };
        let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
        let prefix = format!("{}.", name.to_string_lossy());
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let entry_name = entry.file_name();
            let entry_name = entry_name.to_string_lossy();
            let Some(number) = entry_name.strip_prefix(&prefix) else { continue };
            let beyond = !number.is_empty()
                && number.bytes().all(|b| b.is_ascii_digit())
                && number.parse::<u64>().map_or(true, |n| n >= u64::from(self.limits.max_files));
            if beyond && entry.file_type()?.is_file() {
                remove_if_present(&entry.path())?;
            }
        }
        Ok(())
    }
}

/// `ccbt.log` → `ccbt.log.N`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Logs may name peers and torrents: readable by the user only.
fn open_append(path: &Path) -> io::Result<(File, (u64, u64))> {
    let file = OpenOptions::new().create(true).append(true).mode(0o600).open(path)?;
    let meta = file.metadata()?;
    Ok((file, (meta.dev(), meta.ino())))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_present(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The rotating file shared by the threads that log: each record is written under the lock, in
/// one piece.
#[derive(Debug)]
pub struct RotatingLog(Mutex<RotatingFile>);

impl RotatingLog {
    pub fn new(file: RotatingFile) -> RotatingLog {
        RotatingLog(Mutex::new(file))
    }
}

impl<'a> MakeWriter<'a> for RotatingLog {
    type Writer = RecordWriter<'a>;

    fn make_writer(&'a self) -> RecordWriter<'a> {
        // A thread that panicked while logging leaves the file usable: take it anyway.
        RecordWriter(self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

/// One record's access to the file. The formatter hands over each record with a single
/// `write_all`, which is what rotation is decided on.
pub struct RecordWriter<'a>(MutexGuard<'a, RotatingFile>);

impl Write for RecordWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_or_report(buf);
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_or_report(buf);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits { max_bytes: 100, max_files: 3 };

    fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap_or_default()
    }

    /// Names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn record(n: usize) -> String {
        format!("record {n:03} {}\n", "x".repeat(28))
    }

    #[test]
    fn rotates_by_size_and_keeps_at_most_max_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ccbt.log");
        let mut log = RotatingFile::open(&path, LIMITS, false).unwrap();
        // 40-byte records: two fit in 100 bytes, the third starts a new file.
        for n in 0..10 {
            log.write_record(record(n).as_bytes()).unwrap();
        }
        assert_eq!(names(dir.path()), ["ccbt.log", "ccbt.log.1", "ccbt.log.2"]);
        assert_eq!(read(&path), record(8) + &record(9));
        assert_eq!(read(&numbered(&path, 1)), record(6) + &record(7));
        assert_eq!(read(&numbered(&path, 2)), record(4) + &record(5));
        for name in names(dir.path()) {
            assert!(fs::metadata(dir.path().join(name)).unwrap().len() <= LIMITS.max_bytes);
        }
    }

    #[test]
    fn a_record_larger_than_the_limit_gets_a_file_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.log");
        let mut log = RotatingFile::open(&path, LIMITS, false).unwrap();
        log.write_record(b"small\n").unwrap();
        let big = "y".repeat(250) + "\n";
        log.write_record(big.as_bytes()).unwrap();
        log.write_record(b"after\n").unwrap();
        assert_eq!(read(&path), "after\n");
        assert_eq!(read(&numbered(&path, 1)), big);
        assert_eq!(read(&numbered(&path, 2)), "small\n");
    }

    #[test]
    fn one_file_starts_over_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.log");
        let mut log = RotatingFile::open(&path, Limits { max_bytes: 100, max_files: 1 }, false).unwrap();
        for n in 0..5 {
            log.write_record(record(n).as_bytes()).unwrap();
        }
        assert_eq!(names(dir.path()), ["one.log"]);
        assert_eq!(read(&path), record(4));
    }

    #[test]
    fn continues_an_existing_file_and_rotates_it_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ccbt.log");
        fs::write(&path, "x".repeat(90)).unwrap();
        let mut log = RotatingFile::open(&path, LIMITS, false).unwrap();
        log.write_record(b"new\n").unwrap();
        assert_eq!(read(&path), "x".repeat(90) + "new\n");
        log.write_record(record(0).as_bytes()).unwrap();
        assert_eq!(read(&path), record(0));
        assert_eq!(read(&numbered(&path, 1)), "x".repeat(90) + "new\n");
    }

    #[test]
    fn a_full_file_is_rotated_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ccbt.log");
        fs::write(&path, "x".repeat(100)).unwrap();
        RotatingFile::open(&path, LIMITS, false).unwrap();
        assert_eq!(read(&path), "");
        assert_eq!(read(&numbered(&path, 1)), "x".repeat(100));
    }

    #[test]
    fn files_beyond_a_smaller_limit_are_removed_at_open_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ccbt.log");
        for name in ["ccbt.log.1", "ccbt.log.2", "ccbt.log.3", "ccbt.log.17", "ccbt.log.old", "ccbt.log."] {
            fs::write(dir.path().join(name), name).unwrap();
        }
        fs::write(dir.path().join("other.log.9"), "keep").unwrap();
        RotatingFile::open(&path, LIMITS, false).unwrap();
        assert_eq!(
            names(dir.path()),
            ["ccbt.log", "ccbt.log.", "ccbt.log.1", "ccbt.log.2", "ccbt.log.old", "other.log.9"]
        );
    }

    #[test]
    fn a_deleted_or_moved_file_is_opened_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/ccbt.log");
        let mut log = RotatingFile::open(&path, LIMITS, false).unwrap();
        log.write_record(b"one\n").unwrap();
        fs::remove_file(&path).unwrap();
        log.write_record(b"two\n").unwrap();
        assert_eq!(read(&path), "two\n");
        // logrotate's way: the file is renamed, the next record goes to a new file at the path.
        fs::rename(&path, dir.path().join("moved.log")).unwrap();
        log.write_record(b"three\n").unwrap();
        assert_eq!(read(&path), "three\n");
        assert_eq!(read(&dir.path().join("moved.log")), "two\n");
        // Even its folder may go.
        fs::remove_dir_all(dir.path().join("logs")).unwrap();
        log.write_record(b"four\n").unwrap();
        assert_eq!(read(&path), "four\n");
    }

    #[test]
    fn a_failing_write_loses_the_record_without_failing_the_caller() {
        // /dev/full refuses every write with ENOSPC, as a full disk does.
        let log = RotatingLog::new(RotatingFile::open(Path::new("/dev/full"), LIMITS, false).unwrap());
        let mut writer = log.make_writer();
        assert!(writer.0.write_record(b"lost\n").is_err());
        assert!(writer.write_all(b"lost too\n").is_ok());
        assert!(writer.0.failing);
    }

    #[test]
    fn the_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ccbt.log");
        RotatingFile::open(&path, LIMITS, false).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    }

    #[test]
    fn the_writer_hands_whole_records_to_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ccbt.log");
        let log = RotatingLog::new(RotatingFile::open(&path, LIMITS, false).unwrap());
        for n in 0..4 {
            log.make_writer().write_all(record(n).as_bytes()).unwrap();
        }
        assert_eq!(read(&path), record(2) + &record(3));
        assert_eq!(read(&numbered(&path, 1)), record(0) + &record(1));
    }
}
