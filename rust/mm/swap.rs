// SPDX-License-Identifier: GPL-2.0

//! Swap devices and the swap cache.
//!
//! [`SwapDevice`] holds `get_swap_device()`'s reference, which keeps a swap device from being
//! swapped off (its `swap_map` freed) while a move looks at a swap entry of it.

use super::folio::FolioRef;
use crate::c;
use core::ptr::NonNull;
use kernel::bindings;

/// A reference that keeps a swap device from being swapped off.
///
/// # Invariants
///
/// `self.0` is a swap device on which this value holds a `get_swap_device()` reference.
pub(crate) struct SwapDevice(NonNull<bindings::swap_info_struct>);

impl SwapDevice {
    /// `get_swap_device()` for the device of `entry`; `None` if it is being swapped off.
    pub(crate) fn get(entry: bindings::swp_entry_t) -> Option<Self> {
        // SAFETY: `get_swap_device()` validates any entry value itself.
        let si = unsafe { c::get_swap_device(entry) };
        // INVARIANT: non-NULL means the reference was taken.
        NonNull::new(si).map(Self)
    }

    /// Whether `entry`'s `swap_map` slot says a folio is (or is being put) in the swap cache.
    pub(crate) fn has_cache(&self, entry: bindings::swp_entry_t) -> bool {
        // SAFETY: the device cannot be swapped off while we hold the reference, so its
        // `swap_map` is valid; `entry` belongs to it (it was looked up from it).
        unsafe { c::pgmove_swap_has_cache(self.0.as_ptr(), entry) }
    }

    /// The folio in the swap cache for `entry`, with a reference, if any.
    pub(crate) fn cache_folio(&self, entry: bindings::swp_entry_t) -> Option<FolioRef> {
        // SAFETY: the device is alive (reference held), so its swap address space is; the
        // lookup returns a referenced folio or NULL.
        let folio = NonNull::new(unsafe { c::pgmove_swap_cache_get_folio(entry) })?;
        // SAFETY: `filemap_get_folio()` returned a folio with a reference for us.
        Some(unsafe { FolioRef::from_owned(folio) })
    }
}

impl Drop for SwapDevice {
    fn drop(&mut self) {
        // SAFETY: we hold the reference (type invariant); dropped exactly once.
        unsafe { c::pgmove_put_swap_device(self.0.as_ptr()) };
    }
}
