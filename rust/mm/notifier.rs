// SPDX-License-Identifier: GPL-2.0

//! mmu-notifier invalidation around a change of the page tables.
//!
//! [`invalidate`] runs a closure between `mmu_notifier_invalidate_range_start()` and
//! `_end()` for a range of an mm, so secondary MMUs (KVM, HMM, IOMMU SVA) drop their copies
//! of the entries a move clears. The range lives on this function's stack frame, which does
//! not move while the closure runs. In a kernel without `CONFIG_MMU_NOTIFIER` both calls
//! compile to nothing.

use super::Mm;
use crate::c;
use core::mem::MaybeUninit;
use kernel::bindings;

/// Runs `f` inside an `MMU_NOTIFY_CLEAR` invalidation of `[start, end)` of `mm`.
pub(crate) fn invalidate<T>(mm: &Mm, start: u64, end: u64, f: impl FnOnce() -> T) -> T {
    let mut range = MaybeUninit::<bindings::mmu_notifier_range>::uninit();
    // SAFETY: `mm` is alive; the helper initialises `range` before starting the
    // invalidation; `range` stays at this address until the matching end below.
    unsafe { c::pgmove_mmu_notifier_start(range.as_mut_ptr(), mm.as_ptr(), start as _, end as _) };
    let ret = f();
    // SAFETY: `range` was initialised and started above and is ended exactly once.
    unsafe { c::pgmove_mmu_notifier_end(range.as_mut_ptr()) };
    ret
}
