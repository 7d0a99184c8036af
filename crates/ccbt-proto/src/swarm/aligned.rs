//! A piece buffer aligned to 4096 bytes: the blocks sliced from it start on page boundaries, so
//! the file backend's `O_DIRECT` path (`disk.direct_io`) can hand them to the kernel as they are
//! instead of copying them into an aligned staging buffer first.

use std::alloc::{alloc_zeroed, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

/// Alignment of piece buffers (a page; a multiple of every common disk block size).
const ALIGN: usize = 4096;

/// `len` zeroed bytes on the heap at a 4096-aligned address, owned.
pub(super) struct AlignedBytes {
    ptr: NonNull<u8>,
    len: usize,
    layout: Layout,
}

// SAFETY: the buffer is plain owned memory with no interior mutability; `&mut self` is required
// to change it, so sharing `&AlignedBytes` between threads only allows reads.
unsafe impl Send for AlignedBytes {}
// SAFETY: as above.
unsafe impl Sync for AlignedBytes {}

impl AlignedBytes {
    /// A zeroed buffer of `len` bytes. A length no allocation can hold aborts, as `Vec` does.
    pub(super) fn zeroed(len: usize) -> AlignedBytes {
        let Ok(layout) = Layout::from_size_align(len.max(1), ALIGN) else {
            handle_alloc_error(Layout::new::<u8>())
        };
        // SAFETY: the layout's size is at least 1.
        let raw = unsafe { alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else { handle_alloc_error(layout) };
        AlignedBytes { ptr, len, layout }
    }

    pub(super) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` holds `len` initialised (zeroed) bytes owned by `self`, borrowed mutably.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl AsRef<[u8]> for AlignedBytes {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `ptr` holds `len` initialised bytes owned by `self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBytes {
    fn drop(&mut self) {
        // SAFETY: allocated in `zeroed` with this layout.
        unsafe { dealloc(self.ptr.as_ptr(), self.layout) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_writable() {
        for len in [0, 1, 4095, 16384, 1 << 20] {
            let mut b = AlignedBytes::zeroed(len);
            assert_eq!(b.as_ref().as_ptr() as usize % ALIGN, 0);
            assert_eq!(b.as_ref().len(), len);
            assert!(b.as_ref().iter().all(|&x| x == 0));
            if len > 0 {
                b.as_mut_slice()[len - 1] = 7;
                assert_eq!(b.as_ref()[len - 1], 7);
            }
        }
    }
}
