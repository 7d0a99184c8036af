//! How much freed heap memory glibc's allocator keeps before giving it back to the kernel.
//!
//! By default glibc returns the top of the heap as soon as more than 128 KiB of it is free, and
//! raises that bar only after the program frees a large (`mmap`ped) block. A seeder allocates
//! and frees upload buffers all the time (then one per 16 KiB block, now one per run of
//! requested blocks, 16-512 KiB); with the default bar its heap shrank and grew
//! back over and over, every new page faulted in and cleared by the kernel: 0.2 s more system
//! time per GiB seeded (docs/benchmarks.md, issue 15; before in-place hashing, the initial
//! check's 1 MiB read buffers had raised the bar by accident). Keeping up to 8 MiB free, and
//! serving blocks up to 4 MiB from the heap (the dynamic default would settle near there after
//! the first large free anyway), removes that churn without raising the peak: memory kept free
//! is reused, never added to.

/// Most free bytes at the top of the heap before glibc returns them.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 8 << 20;
/// Allocations at least this large get their own `mmap`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 4 << 20;

/// Sets the policy; called once, first thing in `main`. A refusal keeps glibc's defaults.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn apply() {
    // SAFETY: mallopt only changes allocator parameters; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// Other C libraries have their own policies; nothing to set.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn apply() {}
