//! Copying out of a memory map without dying of `SIGBUS`.
//!
//! Touching a mapped page that the kernel cannot back raises `SIGBUS`, whose default action kills
//! the process. Two everyday events do that to a read-only file map: another process truncates
//! the file while we seed it, or the map covers a hole of a sparse file on a full tmpfs (a read
//! fault on tmpfs allocates a page; `pread` of a hole does not). Neither may take down the session.
//!
//! Bytes are read from a map only through [`feed_from_map`] (hashing in place). It marks the source range in a thread-local before reading; a
//! process-wide `SIGBUS` handler that finds the faulting address inside the marked range counts
//! the fault, puts a zero page in place of the unbackable one (so the read can finish) and
//! returns. The read then reports failure, the caller stops using that map and reads
//! with `pread`, which sees the file as it really is (short, or a hole). A fault anywhere else is
//! passed to the handler that was installed before ours, or to the default action, as if we had
//! never been there.
//!
//! The fault counter is global and bumped before the page is replaced, so a reader on another
//! thread that copied the zero page also sees the counter move and distrusts its copy (it reads
//! again with `pread` but keeps its map: the fault was not necessarily in its file).

use std::cell::Cell;
use std::sync::atomic::{compiler_fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Faults absorbed so far, process-wide.
static FAULTS: AtomicU64 = AtomicU64::new(0);
/// The system page size, read once when the handler is installed.
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(4096);
/// What `SIGBUS` did before our handler, for faults that are not ours. `None` if installing failed.
static PREVIOUS: OnceLock<Option<libc::sigaction>> = OnceLock::new();

thread_local! {
    /// The map range this thread is copying from, `(start, end)`; `(0, 0)` outside a copy. Const
    /// initialised and without a destructor, so the handler can read it safely.
    static GUARDED: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// Set by the handler when it absorbed a fault of this thread's guarded range.
    static FAULTED_HERE: Cell<bool> = const { Cell::new(false) };
}

/// Why a copy out of a map cannot be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MapFault {
    /// A page of this range could not be read: the map must not be used again.
    Here,
    /// Another thread's map faulted meanwhile; this copy may have read its zero page. Read
    /// again another way; the map itself may be fine.
    Elsewhere,
    /// Nothing was copied: the fault handler could not be installed (maps are never read
    /// then), or the lengths differ.
    NoHandler,
}

/// Hands `src` (bytes of a memory map) to `consume` without copying them, for hashing. On a
/// fault `consume` has seen zeros where a page could not be read: whatever it computed is not
/// the file's, and the caller starts over with `pread`. `consume` must not read a map itself
/// (the guard covers one range per thread).
pub(crate) fn feed_from_map(src: &[u8], consume: &mut dyn FnMut(&[u8])) -> Result<(), MapFault> {
    read_from_map(src, |src| consume(src))
}

/// Runs `read` over `src` with `src` guarded: a `SIGBUS` inside it is absorbed (see the module
/// docs) and reported afterwards.
fn read_from_map(src: &[u8], read: impl FnOnce(&[u8])) -> Result<(), MapFault> {
    if !installed() {
        return Err(MapFault::NoHandler);
    }
    let before = FAULTS.load(Ordering::SeqCst);
    let start = src.as_ptr() as usize;
    FAULTED_HERE.with(|f| f.set(false));
    let guard = Guard::new(start, start.saturating_add(src.len()));
    read(src);
    drop(guard);
    if FAULTED_HERE.with(Cell::get) {
        Err(MapFault::Here)
    } else if FAULTS.load(Ordering::SeqCst) != before {
        Err(MapFault::Elsewhere)
    } else {
        Ok(())
    }
}

/// Marks a range as guarded for this thread until dropped, also when the reader unwinds.
struct Guard;

impl Guard {
    fn new(start: usize, end: usize) -> Guard {
        GUARDED.with(|g| g.set((start, end)));
        compiler_fence(Ordering::SeqCst);
        Guard
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        compiler_fence(Ordering::SeqCst);
        GUARDED.with(|g| g.set((0, 0)));
    }
}

/// Installs the handler once; whether it is in place.
fn installed() -> bool {
    PREVIOUS.get_or_init(install).is_some()
}

fn install() -> Option<libc::sigaction> {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if let Ok(page) = usize::try_from(page) {
        if page.is_power_of_two() {
            PAGE_SIZE.store(page, Ordering::SeqCst);
        }
    }
    // SAFETY: a zeroed sigaction is a valid value; we fill in the handler, flags and mask, and
    // pass valid pointers to sigaction, which copies them.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigbus as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        libc::sigemptyset(&mut action.sa_mask);
        let mut previous: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGBUS, &action, &mut previous) != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), "cannot install the SIGBUS handler; reads use pread");
            return None;
        }
        Some(previous)
    }
}

/// The `SIGBUS` handler. Only async-signal-safe work: atomics, a thread-local read, `mmap`,
/// `sigaction`.
extern "C" fn on_sigbus(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let addr = unsafe { (*info).si_addr() } as usize;
    let (start, end) = GUARDED.try_with(Cell::get).unwrap_or((0, 0));
    if addr >= start && addr < end {
        FAULTS.fetch_add(1, Ordering::SeqCst);
        let _ = FAULTED_HERE.try_with(|f| f.set(true));
        let page = addr & !(PAGE_SIZE.load(Ordering::SeqCst) - 1);
        // SAFETY: the page lies inside a read-only file map this thread is copying from (checked
        // above); replacing it with an anonymous zero page changes no memory Rust owns elsewhere,
        // and the map's own munmap later removes it with the rest.
        let mapped = unsafe {
            libc::mmap(
                page as *mut libc::c_void,
                PAGE_SIZE.load(Ordering::SeqCst),
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if mapped != libc::MAP_FAILED {
            return;
        }
    }
    forward(signal, info, context);
}

/// Hands a fault that is not ours to whatever handled `SIGBUS` before us.
fn forward(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let previous = PREVIOUS.get().copied().flatten();
    match previous {
        Some(p) if p.sa_sigaction != libc::SIG_DFL && p.sa_sigaction != libc::SIG_IGN => {
            if p.sa_flags & libc::SA_SIGINFO != 0 {
                // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this type.
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    unsafe { std::mem::transmute(p.sa_sigaction) };
                handler(signal, info, context);
            } else {
                // SAFETY: a handler installed without SA_SIGINFO takes only the signal number.
                let handler: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(p.sa_sigaction) };
                handler(signal);
            }
        }
        _ => {
            // Restore the default action and return: the faulting instruction runs again and the
            // kernel delivers SIGBUS with the default action (terminate), as without us.
            // SAFETY: a zeroed sigaction with SIG_DFL is valid; sigaction is async-signal-safe.
            unsafe {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::OpenOptions;

    use crate::io::map_file;

    #[test]
    fn reading_a_truncated_map_fails_instead_of_killing_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 3 * 4096]).unwrap();
        let file = OpenOptions::new().read(true).open(&path).unwrap();
        let map = map_file(&file, 3 * 4096).unwrap();
        let mut seen = Vec::new();
        assert_eq!(feed_from_map(&map[4096..8192], &mut |b| seen.extend_from_slice(b)), Ok(()));
        assert_eq!(seen, vec![7u8; 4096]);
        // Another process truncates the file: the second and third pages have no backing now.
        OpenOptions::new().write(true).open(&path).unwrap().set_len(100).unwrap();
        let mut sum = 0u64;
        let faulted =
            feed_from_map(&map[4096..8192], &mut |b| sum += b.iter().map(|&x| u64::from(x)).sum::<u64>());
        assert_eq!(faulted, Err(MapFault::Here), "the fault is reported");
        assert_eq!(sum, 0, "the reader saw a zero page in place of the lost one");
        let mut head = Vec::new();
        let fed = feed_from_map(&map[..100], &mut |b| head.extend_from_slice(b));
        assert_eq!((fed, head), (Ok(()), vec![7u8; 100]), "the page still backed reads fine");
    }
}
