//! [`FileStorage`]: a torrent's files on disk, written with positioned vectored writes, read
//! with `pread` and hashed in place through read-only memory maps (`file_read.rs`).
//!
//! A file is mapped only once it has its full length and no holes (its allocated blocks cover
//! it), and a map is read only through [`crate::fault::feed_from_map`], which survives the
//! `SIGBUS` of a page the kernel cannot back (a file truncated by another process, a hole on a
//! full tmpfs): that hash is redone with `pread` and the file is not read through its map again.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use ccbt_core::{Bitfield, FileLayout, FileSlice, Lengths};
use memmap2::Mmap;

use crate::copy::kernel_copy;
use crate::io::pwritev_all;
use crate::ownership::{open_file, open_read_only, open_writable, Origin, Ownership, PieceSpan};
use crate::path::{resolve, Resolved};
use crate::{Fed, Preallocate, Storage, StorageError, StorageOptions};
use write::sub_slices;

#[path = "file_read.rs"]
mod read;
#[path = "file_write.rs"]
mod write;

/// One entry of the layout as stored on disk.
struct StoredFile {
    /// Where the file lives (for opening and for error messages).
    path: PathBuf,
    length: u64,
    /// BEP 47 padding: never created, reads as zeros, writes are dropped.
    padding: bool,
    /// Empty for padding files, deferred files, and, when checking existing data, for missing
    /// files; for a `lazy` file until its first use. Read-only for a foreign file (see [`Origin`]).
    handle: OnceLock<File>,
    /// The file was on disk (found or created) when the storage was opened, and its handle was
    /// let go: it is opened again on first use. An idle torrent holds no descriptor, so a
    /// session can keep thousands of torrents (tens of thousands of files) without running
    /// into the process's limit on open files.
    lazy: bool,
    /// How the file was found; `Created` for padding and read-only storage (nothing to guard).
    origin: Origin,
    /// A handle opened after the storage: a foreign file's read-write handle once its data
    /// verified, or a deferred file's once a write created it.
    claimed: OnceLock<File>,
    /// Read-only map, made on the first read after the file reached its full length.
    map: OnceLock<Mmap>,
    /// Mapping failed once (e.g. a filesystem without mmap), or a read through the map faulted:
    /// use pread from then on.
    map_failed: AtomicBool,
    /// Taken around every write into the file, so the hash workers queue (sleeping) for a file
    /// instead of all entering the kernel at once and spinning on the inode's lock there.
    write_lock: Mutex<()>,
    /// The file's `O_DIRECT` write descriptor (config `direct_io`), opened on the first write;
    /// `None` when its filesystem refuses direct I/O.
    direct: OnceLock<Option<File>>,
    /// A direct write was refused (the device wants a larger alignment): write buffered from now on.
    direct_failed: AtomicBool,
}

/// A torrent's data as files under a root directory.
///
/// A file already longer than the torrent says is cut to the torrent's length once it is the
/// torrent's to write (see [`shorten`]): otherwise a new version written in place over a longer
/// old file would keep the old tail, every piece verifying but the file not being the torrent's
/// content. Files the torrent may not write are never cut: a foreign file (the user's, see
/// [`Ownership`]) until its data verified, a file the torrent lists as empty, a skipped file,
/// padding, and everything in read-only storage ([`FileStorage::open_existing`]).
pub struct FileStorage {
    root: PathBuf,
    layout: FileLayout,
    files: Vec<StoredFile>,
    options: StorageOptions,
    read_only: bool,
    /// Serialises the creation of deferred files, so two writes touching one never race.
    creating: Mutex<()>,
    /// Told the layout index of every deferred file a write created (see [`FileStorage::on_create`]).
    on_create: Option<CreatedHook>,
}

/// See [`FileStorage::on_create`].
pub type CreatedHook = Box<dyn Fn(usize) + Send + Sync>;

impl FileStorage {
    /// Creates the folder tree under `root` and opens/creates every non-padding file,
    /// preallocating per `options`. Existing files are opened (one that is ours and longer than
    /// the torrent says is cut to its length); one that holds data is foreign (read-only until
    /// claimed, see [`Ownership`]) unless listed in `ownership`.
    /// Files in [`Ownership::deferred`] that do not exist are neither created nor given a folder
    /// now: the first write touching one creates it (see [`FileStorage::on_create`]).
    pub fn create(
        root: &Path,
        layout: &FileLayout,
        options: StorageOptions,
        ownership: &Ownership,
    ) -> Result<FileStorage, StorageError> {
        fs::create_dir_all(root).map_err(|e| StorageError::io(root, "create directory", e))?;
        let root = fs::canonicalize(root).map_err(|e| StorageError::io(root, "resolve", e))?;
        let mut files = Vec::with_capacity(layout.files().len());
        for (index, f) in layout.files().iter().enumerate() {
            if f.is_padding {
                let path = root.join(f.path.iter().collect::<PathBuf>());
                files.push(StoredFile::new(path, f.length, true, None));
                continue;
            }
            let deferred = ownership.deferred.contains(&index);
            let path = match resolve(&root, &f.path, !deferred)? {
                Resolved::Path(p) if !deferred || p.symlink_metadata().is_ok() => p,
                // Skipped and absent (its folder may be absent too): created by a write, if any.
                Resolved::Path(p) if deferred => {
                    files.push(StoredFile::deferred(p, f.length));
                    continue;
                }
                Resolved::Missing(_) if deferred => {
                    let p = root.join(f.path.iter().collect::<PathBuf>());
                    files.push(StoredFile::deferred(p, f.length));
                    continue;
                }
                // resolve only reports a missing parent when asked not to create it.
                Resolved::Path(p) | Resolved::Missing(p) => return Err(StorageError::Missing { path: p }),
            };
            let may_write = ownership.overwrite || ownership.owned.contains(&index);
            let (file, origin) = open_file(&path, f.length, may_write)?;
            // Ours (or the user allowed overwriting) and wanted: the tail past the torrent's
            // length is a stale version's. Not an empty torrent file that is not ours: `open_file`
            // calls that `Owned` only because nothing will ever be written into it.
            if may_write && origin == (Origin::Owned { had_data: true }) && !deferred {
                shorten(&file, &path, f.length)?;
            }
            // A skipped file is not grown: it only ever holds the bytes of shared pieces.
            if origin != Origin::Foreign && !deferred {
                preallocate(&file, &path, f.length, options.preallocate)?;
            }
            drop(file);
            let mut stored = StoredFile::new(path, f.length, false, None);
            stored.origin = origin;
            stored.lazy = true;
            files.push(stored);
        }
        Ok(FileStorage {
            root,
            layout: layout.clone(),
            files,
            options,
            read_only: false,
            creating: Mutex::new(()),
            on_create: None,
        })
    }

    /// Whether any file existed with data before this storage was opened (then it is worth
    /// checking).
    pub fn had_data(&self) -> bool {
        self.files.iter().any(|f| matches!(f.origin, Origin::Owned { had_data: true } | Origin::Foreign))
    }

    /// Whether some file existed with data that ccbt did not write: it must be checked and
    /// claimed ([`Storage::claim_verified`]) before the torrent may write into it.
    pub fn has_foreign(&self) -> bool {
        self.files.iter().any(|f| f.origin == Origin::Foreign)
    }

    /// Layout indices of the files ccbt may write without checking them first: created now,
    /// owned before, or overwritten with the user's consent. The caller records them so a later
    /// run knows its own partial files ([`Ownership::owned`]). Zero-length files are never
    /// written, so never listed.
    pub fn owned_files(&self) -> Vec<usize> {
        let owned = |f: &StoredFile| {
            let ours = match f.origin {
                Origin::Created | Origin::Owned { .. } => true,
                Origin::Deferred => f.claimed.get().is_some(),
                Origin::Foreign => false,
            };
            !f.padding && f.length > 0 && ours
        };
        self.files.iter().enumerate().filter(|(_, f)| owned(f)).map(|(i, _)| i).collect()
    }

    /// Layout indices of the files this storage created: absent when it was opened, or
    /// skipped and then created by a write. Unlike [`FileStorage::owned_files`] this leaves out
    /// files that existed before (empty ones, overwritten ones) and lists zero-length files: the
    /// caller records them so that deleting the torrent's data deletes only what ccbt made.
    pub fn created_files(&self) -> Vec<usize> {
        let created = |f: &StoredFile| match f.origin {
            Origin::Created => true,
            Origin::Deferred => f.claimed.get().is_some(),
            Origin::Owned { .. } | Origin::Foreign => false,
        };
        self.files.iter().enumerate().filter(|(_, f)| !f.padding && created(f)).map(|(i, _)| i).collect()
    }

    /// Opens existing files read-only for checking (seed/verify): missing or short files are not
    /// an error; reading their range fails with [`StorageError::Missing`] so the piece counts as bad.
    /// Writing to such storage fails with [`StorageError::ReadOnly`].
    pub fn open_existing(
        root: &Path,
        layout: &FileLayout,
        options: StorageOptions,
    ) -> Result<FileStorage, StorageError> {
        let canonical = match fs::canonicalize(root) {
            Ok(r) => Some(r),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(StorageError::io(root, "resolve", e)),
        };
        let base = canonical.clone().unwrap_or_else(|| root.to_path_buf());
        let mut files = Vec::with_capacity(layout.files().len());
        for f in layout.files() {
            let joined = base.join(f.path.iter().collect::<PathBuf>());
            if f.is_padding {
                files.push(StoredFile::new(joined, f.length, true, None));
                continue;
            }
            let resolved = match &canonical {
                Some(r) => resolve(r, &f.path, false)?,
                None => Resolved::Missing(joined.clone()),
            };
            let stored = match resolved {
                Resolved::Missing(_) => StoredFile::new(joined, f.length, false, None),
                Resolved::Path(path) => {
                    let opened = OpenOptions::new()
                        .read(true)
                        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                        .open(&path);
                    match opened {
                        Ok(file) => StoredFile::new(path, f.length, false, Some(file)),
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {
                            StoredFile::new(path, f.length, false, None)
                        }
                        Err(e) => return Err(StorageError::io(path, "open", e)),
                    }
                }
            };
            files.push(stored);
        }
        Ok(FileStorage {
            root: base,
            layout: layout.clone(),
            files,
            options,
            read_only: true,
            creating: Mutex::new(()),
            on_create: None,
        })
    }

    /// Calls `hook` with the layout index of each deferred file right after a write created it
    /// and before any byte is written into it, so the caller can record the file as its own.
    pub fn on_create(&mut self, hook: CreatedHook) {
        self.on_create = Some(hook);
    }

    /// Whether file `index` exists on disk for this storage: false for padding files, and for
    /// deferred files no write has created yet.
    pub fn is_created(&self, index: usize) -> bool {
        self.files.get(index).is_some_and(StoredFile::on_disk)
    }

    /// The download root, resolved (canonical unless opened read-only on a missing folder).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The layout this storage serves.
    pub fn layout(&self) -> &FileLayout {
        &self.layout
    }

    /// The on-disk path of file `index` of the layout.
    pub fn file_path(&self, index: usize) -> Option<&Path> {
        self.files.get(index).map(|f| f.path.as_path())
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<(), StorageError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.layout.total_length() => Ok(()),
            _ => Err(StorageError::OutOfRange { offset, len }),
        }
    }

    fn file(&self, slice: &FileSlice) -> Result<&StoredFile, StorageError> {
        // Slices come from our own layout, so the index is always valid; stay panic-free anyway.
        self.files
            .get(slice.file_index)
            .ok_or(StorageError::OutOfRange { offset: slice.range_offset, len: slice.len })
    }
}

impl FileStorage {
    /// The write handle of deferred file `index`, creating the file (and its folders) on the
    /// first call. A file that appeared meanwhile with data is not ours: `NotOurs`.
    fn create_deferred<'a>(&self, index: usize, f: &'a StoredFile) -> Result<&'a File, StorageError> {
        if let Some(handle) = f.claimed.get() {
            return Ok(handle);
        }
        let _creating = self.creating.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(handle) = f.claimed.get() {
            return Ok(handle);
        }
        let components = self.layout.files().get(index).map(|l| l.path.as_slice()).unwrap_or_default();
        let path = match resolve(&self.root, components, true)? {
            Resolved::Path(p) => p,
            Resolved::Missing(p) => return Err(StorageError::Missing { path: p }),
        };
        let (file, origin) = open_file(&path, f.length, false)?;
        if origin == Origin::Foreign {
            return Err(StorageError::NotOurs { path });
        }
        // Recorded before the first byte lands in it, so a restart knows the file is ccbt's.
        if let Some(hook) = &self.on_create {
            hook(index);
        }
        tracing::debug!(path = %path.display(), "created a skipped file for the bytes of a shared piece");
        Ok(f.claimed.get_or_init(|| file))
    }
}

impl StoredFile {
    fn new(path: PathBuf, length: u64, padding: bool, handle: Option<File>) -> Self {
        let opened = OnceLock::new();
        if let Some(handle) = handle {
            let _ = opened.set(handle);
        }
        StoredFile {
            path,
            length,
            padding,
            handle: opened,
            lazy: false,
            origin: Origin::Created,
            claimed: OnceLock::new(),
            map: OnceLock::new(),
            map_failed: AtomicBool::new(false),
            write_lock: Mutex::new(()),
            direct: OnceLock::new(),
            direct_failed: AtomicBool::new(false),
        }
    }

    /// fdatasync of the file's write handle (nothing to do for padding or a file never written).
    /// A lazy file not opened yet may still hold data only in the page cache (written by an
    /// earlier run that crashed, found by the check): it is synced through a passing handle.
    fn sync(&self) -> Result<(), StorageError> {
        let sync = |handle: &File| handle.sync_data().map_err(|e| StorageError::io(&self.path, "fsync", e));
        match self.claimed.get().or(self.handle.get()) {
            Some(handle) => sync(handle),
            None if self.lazy => match open_read_only(&self.path) {
                Ok(handle) => sync(&handle),
                Err(StorageError::Missing { .. }) => Ok(()),
                Err(e) => Err(e),
            },
            None => Ok(()),
        }
    }

    /// Whether the file exists on disk for this storage (not padding, not a deferred file no
    /// write created).
    fn on_disk(&self) -> bool {
        self.lazy || self.handle.get().is_some() || self.claimed.get().is_some()
    }

    /// The file's own handle (read-only for a foreign file), opened now if it is lazy. A lazy
    /// file gone since the storage opened is `Missing`.
    fn own_handle(&self) -> Result<Option<&File>, StorageError> {
        if let Some(handle) = self.handle.get() {
            return Ok(Some(handle));
        }
        let opened = match self.origin {
            _ if !self.lazy => return Ok(None),
            Origin::Deferred => return Ok(None),
            Origin::Foreign => open_read_only(&self.path)?,
            Origin::Created | Origin::Owned { .. } => open_writable(&self.path).map_err(|e| match e {
                StorageError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                    StorageError::Missing { path: self.path.clone() }
                }
                other => other,
            })?,
        };
        // Two threads may open it at once: the loser's handle is dropped.
        let _ = self.handle.set(opened);
        Ok(self.handle.get())
    }

    /// A skipped file that does not exist (yet).
    fn deferred(path: PathBuf, length: u64) -> Self {
        StoredFile { origin: Origin::Deferred, ..StoredFile::new(path, length, false, None) }
    }

    /// The handle reads go through: none for padding and for files not on disk.
    fn reader(&self) -> Result<Option<&File>, StorageError> {
        match self.claimed.get() {
            Some(handle) => Ok(Some(handle)),
            None => self.own_handle(),
        }
    }

    /// The handle writes go through: none for a foreign file not claimed yet, or a deferred
    /// file not created yet.
    fn writer(&self) -> Result<&File, StorageError> {
        let handle = match self.origin {
            Origin::Foreign | Origin::Deferred => self.claimed.get(),
            Origin::Created | Origin::Owned { .. } => self.own_handle()?,
        };
        handle.ok_or_else(|| match self.origin {
            Origin::Foreign => StorageError::NotOurs { path: self.path.clone() },
            _ => StorageError::Missing { path: self.path.clone() },
        })
    }
}

/// Cuts a file of the torrent that is longer than its `length` in the torrent to that length.
/// Only for a file the torrent may write (or whose data all verified): the caller decides.
fn shorten(file: &File, path: &Path, length: u64) -> Result<(), StorageError> {
    let current = file.metadata().map_err(|e| StorageError::io(path, "stat", e))?.len();
    if current <= length {
        return Ok(());
    }
    file.set_len(length).map_err(|e| StorageError::io(path, "set length", e))?;
    tracing::info!(
        path = %path.display(),
        was = current,
        now = length,
        "file was longer than the torrent says; cut to the torrent's length"
    );
    Ok(())
}

/// [`shorten`] for a foreign file whose every piece verified. Looked at by path (no handle is
/// kept: an idle torrent holds no descriptor) and opened for writing only when it is longer, so
/// a complete file of the right length is never opened read-write.
fn shorten_complete(f: &StoredFile) -> Result<(), StorageError> {
    match fs::symlink_metadata(&f.path) {
        Ok(meta) if meta.is_file() && meta.len() > f.length => {
            shorten(&open_writable(&f.path)?, &f.path, f.length)
        }
        // Gone, replaced by something else (`open_writable` would refuse a link), or not longer.
        _ => Ok(()),
    }
}

/// Sizes a freshly opened file. Files already at least `length` long are left alone.
fn preallocate(file: &File, path: &Path, length: u64, mode: Preallocate) -> Result<(), StorageError> {
    let current = file.metadata().map_err(|e| StorageError::io(path, "stat", e))?.len();
    if current >= length || mode == Preallocate::None {
        return Ok(());
    }
    if mode == Preallocate::Full
        && fallocate(file, length).map_err(|e| StorageError::io(path, "fallocate", e))?
    {
        return Ok(());
    }
    file.set_len(length).map_err(|e| StorageError::io(path, "set length", e))
}

/// Reserves `length` bytes for `file`. `Ok(false)` means the filesystem cannot, so the caller
/// falls back to a sparse length.
#[cfg(target_os = "linux")]
fn fallocate(file: &File, length: u64) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(length)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large"))?;
    loop {
        // SAFETY: plain syscall wrapper on a descriptor we own; no memory is passed.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
        match rc {
            0 => return Ok(true),
            libc::EINTR => continue,
            libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS => return Ok(false),
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn fallocate(_file: &File, _length: u64) -> io::Result<bool> {
    Ok(false)
}

impl Storage for FileStorage {
    fn write(&self, offset: u64, blocks: &[Bytes]) -> Result<(), StorageError> {
        if self.read_only {
            return Err(StorageError::ReadOnly { path: self.root.clone() });
        }
        let len: u64 = blocks.iter().map(|b| b.len() as u64).sum();
        self.check_range(offset, len)?;
        let batch = self.options.write_batch_bytes();
        for slice in self.layout.slices(offset, len) {
            let f = self.file(&slice)?;
            if f.padding {
                continue;
            }
            let handle = match f.origin {
                Origin::Deferred => self.create_deferred(slice.file_index, f)?,
                _ => f.writer()?,
            };
            let bufs = sub_slices(blocks, slice.range_offset, slice.len);
            f.write_at(handle, slice.file_offset, &bufs, slice.len, batch, self.options.direct_io)
                .map_err(|e| StorageError::io(&f.path, "write", e))?;
        }
        Ok(())
    }

    fn copy_from_file(
        &self,
        offset: u64,
        src: &File,
        src_offset: u64,
        verified: &Bytes,
    ) -> Result<u64, StorageError> {
        if self.read_only {
            return Err(StorageError::ReadOnly { path: self.root.clone() });
        }
        let len = verified.len() as u64;
        self.check_range(offset, len)?;
        let batch = self.options.write_batch_bytes();
        let mut by_kernel = 0;
        for slice in self.layout.slices(offset, len) {
            let f = self.file(&slice)?;
            if f.padding {
                continue;
            }
            let handle = match f.origin {
                Origin::Deferred => self.create_deferred(slice.file_index, f)?,
                _ => f.writer()?,
            };
            let from = slice.range_offset;
            let _queue = f.write_lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let copied = kernel_copy(src, src_offset + from, handle, slice.file_offset, slice.len);
            by_kernel += copied;
            if copied < slice.len {
                // Both bounds lie within `verified` (the slice is part of its range).
                let rest = verified.slice((from + copied) as usize..(from + slice.len) as usize);
                pwritev_all(handle, slice.file_offset + copied, &[&rest], batch)
                    .map_err(|e| StorageError::io(&f.path, "write", e))?;
            }
        }
        Ok(by_kernel)
    }

    fn read(&self, offset: u64, len: usize) -> Result<Bytes, StorageError> {
        let len64 = len as u64;
        self.check_range(offset, len64)?;
        if len == 0 {
            return Ok(Bytes::new());
        }
        // With pread, never out of the map (see file_read.rs: pages read through a map count
        // as the process's memory). One pread per file slice.
        let out_of_range = StorageError::OutOfRange { offset, len: len64 };
        let mut buf = Vec::with_capacity(len);
        for slice in self.layout.slices(offset, len64) {
            if usize::try_from(slice.range_offset).ok() != Some(buf.len()) {
                return Err(out_of_range);
            }
            self.append_slice(&slice, &mut buf)?;
        }
        if buf.len() != len {
            return Err(out_of_range);
        }
        Ok(Bytes::from(buf))
    }

    fn feed(&self, offset: u64, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<Fed, StorageError> {
        self.check_range(offset, len as u64)?;
        let mut buf = Vec::new();
        for slice in self.layout.slices(offset, len as u64) {
            if self.feed_slice(&slice, consume, &mut buf)? == Fed::Unreliable {
                return Ok(Fed::Unreliable);
            }
        }
        Ok(Fed::Exact)
    }

    fn claim_verified(
        &self,
        have: &Bitfield,
        wanted: Option<&Bitfield>,
        lengths: &Lengths,
    ) -> Result<(), StorageError> {
        // Read-only storage has no foreign files to claim, and never changes a file.
        if self.read_only {
            return Ok(());
        }
        let piece_length = u64::from(lengths.piece_length().max(1));
        for (i, f) in self.files.iter().enumerate() {
            if f.origin != Origin::Foreign || f.claimed.get().is_some() {
                continue;
            }
            let offset = self.layout.files().get(i).map_or(0, |l| l.offset);
            let last_byte = offset + f.length.saturating_sub(1);
            let pieces = PieceSpan::new(offset / piece_length, last_byte / piece_length);
            // Complete: it holds exactly the torrent's bytes, and whatever follows them is not the
            // torrent's. Nothing will be written into it; it stays read-only.
            if f.length > 0 && !pieces.any(|p| !have.get(p)) {
                shorten_complete(f)?;
                continue;
            }
            // Not selected: nothing will be written into it; it stays read-only.
            if !pieces.any(|p| !have.get(p) && wanted.map_or(true, |w| w.get(p))) {
                continue;
            }
            if !pieces.any(|p| have.get(p)) {
                return Err(StorageError::NotOurs { path: f.path.clone() });
            }
            let file = open_writable(&f.path)?;
            shorten(&file, &f.path, f.length)?;
            preallocate(&file, &f.path, f.length, self.options.preallocate)?;
            tracing::info!(path = %f.path.display(), "existing file holds verified pieces; continuing it");
            // Only the torrent task claims, once; a lost race would only drop a duplicate handle.
            let _ = f.claimed.set(file);
        }
        Ok(())
    }

    fn create_files(&self, files: &[usize]) -> Result<(), StorageError> {
        if self.read_only {
            return Ok(());
        }
        for &index in files {
            if let Some(f) = self.files.get(index).filter(|f| f.origin == Origin::Deferred) {
                self.create_deferred(index, f)?;
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), StorageError> {
        if self.read_only {
            return Ok(());
        }
        self.files.iter().try_for_each(StoredFile::sync)
    }

    fn flush_ranges(&self, ranges: &[(u64, u64)]) -> Result<(), StorageError> {
        if self.read_only {
            return Ok(());
        }
        let touched: std::collections::BTreeSet<usize> = ranges
            .iter()
            .flat_map(|&(offset, len)| self.layout.slices(offset, len).map(|s| s.file_index))
            .collect();
        touched.into_iter().filter_map(|i| self.files.get(i)).try_for_each(StoredFile::sync)
    }
}
