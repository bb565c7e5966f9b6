// SPDX-License-Identifier: GPL-2.0

//! Owned references to a `struct mm_struct`.
//!
//! [`MmGrab`] holds an `mmgrab()` reference: the `mm_struct` stays allocated (so its address
//! cannot be reused by another process's mm while we hold it), but its address space may be
//! torn down. It is what an open `/dev/pgmove` file keeps to know whose mm it serves.

use crate::c;
use core::ptr::NonNull;
use kernel::bindings;

/// An `mmgrab()` reference to an `mm_struct`.
///
/// # Invariants
///
/// `self.0` points to an `mm_struct` on which this value owns one `mm_count` reference
/// (taken by `mmgrab()`, given back by `mmdrop()` on drop).
pub(crate) struct MmGrab(NonNull<bindings::mm_struct>);

// SAFETY: an `mm_count` reference may be taken in one task and dropped in another; `mmdrop()`
// may be called from any task context.
unsafe impl Send for MmGrab {}
// SAFETY: `&MmGrab` only allows comparing the pointer, which is immutable.
unsafe impl Sync for MmGrab {}

impl MmGrab {
    /// Grabs the calling task's mm; `None` for a task without one (a kernel thread).
    pub(crate) fn current() -> Option<Self> {
        // SAFETY: reading `current->mm` of the calling task is always allowed.
        let mm = NonNull::new(unsafe { c::pgmove_current_mm() })?;
        // SAFETY: `mm` is the calling task's mm, alive while this task runs; `mmgrab()` takes
        // the `mm_count` reference that the type invariant records.
        unsafe { c::pgmove_mmgrab(mm.as_ptr()) };
        // INVARIANT: we took one `mm_count` reference on `mm` just above.
        Some(Self(mm))
    }

    /// Whether this is the calling task's mm.
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: reading `current->mm` of the calling task is always allowed.
        let current = unsafe { c::pgmove_current_mm() };
        core::ptr::eq(current, self.0.as_ptr())
    }
}

impl Drop for MmGrab {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own one `mm_count` reference on `self.0`; it is
        // given back exactly once, here.
        unsafe { c::pgmove_mmdrop(self.0.as_ptr()) };
    }
}
