// SPDX-License-Identifier: GPL-2.0

//! The mmap read lock of an address space, and the VMAs it keeps stable.
//!
//! [`MmapReadGuard`] holds `mmap_read_lock()` on an mm. While it is held no VMA of the mm can
//! be unmapped, split, merged or have its flags changed (all of that needs the mmap write
//! lock), and the page-table levels above the PTE tables (PMD, PUD and P4D tables) that map an
//! address inside a VMA cannot be freed: `free_pgtables()` runs under a downgraded read lock
//! only for VMAs already removed from the tree, and stops at its neighbours' PMD ranges.
//! PTE tables can still change (faults install them under per-VMA locks, khugepaged and
//! RECLAIM detach them): code that maps one follows the rules of `pgtable` and `pte_table`.
//!
//! VMAs found through the guard borrow it, so [`MmapReadGuard::relock`], which drops the lock
//! for a moment, can only be called once no VMA or page-table pointer found under it is alive.
//!
//! Lock order: the mmap lock comes before every page-table lock; this task never takes it
//! while it holds a per-VMA lock of the same mm.

use super::{vma::Vma, MayBlock, Mm};
use crate::c;
use core::marker::PhantomData;
use kernel::prelude::*;

/// The mmap read lock of `mm`, held.
///
/// # Invariants
///
/// `mm`'s `mmap_lock` is held for reading by this task until `Drop`.
pub(crate) struct MmapReadGuard<'m> {
    mm: &'m Mm,
    /// The lock belongs to the task that took it.
    _not_send: PhantomData<*mut ()>,
}

impl<'m> MmapReadGuard<'m> {
    /// `mmap_read_lock_killable()`: `EINTR` if a fatal signal arrives while waiting.
    pub(crate) fn lock(mm: &'m Mm, _mb: &mut MayBlock) -> Result<Self> {
        // SAFETY: `mm` is alive (`Mm` invariant); `&mut MayBlock` proves we may sleep.
        if unsafe { c::pgmove_mmap_read_lock_killable(mm.as_ptr()) } != 0 {
            return Err(EINTR);
        }
        // INVARIANT: taken just above.
        Ok(Self {
            mm,
            _not_send: PhantomData,
        })
    }

    /// The mm whose lock is held.
    pub(crate) fn mm(&self) -> &'m Mm {
        self.mm
    }

    /// `find_vma()`: the first VMA that ends above `addr`, if any.
    pub(crate) fn find_vma(&self, addr: u64) -> Option<&Vma> {
        // SAFETY: the mmap lock is held (type invariant), as `find_vma()` requires.
        let vma = unsafe { c::pgmove_find_vma(self.mm.as_ptr(), addr as _) };
        if vma.is_null() {
            return None;
        }
        // SAFETY: the VMA cannot change or go away while the mmap lock is held, which the
        // borrow of `self` guarantees; `Vma` is `repr(transparent)`.
        Some(unsafe { &*vma.cast::<Vma>() })
    }

    /// Whether any VMA of the mm is registered with a userfaultfd.
    ///
    /// 6.12's UFFDIO_MOVE needs registration only on its destination: its source may be any
    /// private anonymous VMA of the mm, and `move_pages_pte()`, after mapping the source PTE
    /// table without the PMD lock, re-reads the source PMD with
    /// `WARN_ON_ONCE(pmd_none(*src_pmd))`. A table freed under it makes a valid move warn and
    /// fail with `EINVAL`. While the answer is yes, RECLAIM frees no table of this mm. It stays
    /// true while this guard lives: registering a range needs the mmap write lock.
    pub(crate) fn mm_has_userfaultfd(&self) -> bool {
        self.vmas(0, u64::MAX).any(|v| v.has_userfaultfd())
    }

    /// The VMAs that intersect `[start, end)`, in address order.
    pub(crate) fn vmas(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> + '_ {
        core::iter::successors(self.find_vma(start), |v| self.find_vma(v.end()))
            .take_while(move |v| v.start() < end)
    }

    /// Whether another task waits for the mmap lock (a writer, or readers behind one).
    pub(crate) fn is_contended(&self) -> bool {
        // SAFETY: reads the lock's wait list state of a live mm.
        unsafe { c::pgmove_mmap_lock_is_contended(self.mm.as_ptr()) }
    }

    /// Drops the lock, lets others run, and takes it again (`EINTR` on a fatal signal, with
    /// the lock released). Every VMA seen before may have changed afterwards.
    pub(crate) fn relock(self, mb: &mut MayBlock) -> Result<Self> {
        let mm = self.mm;
        drop(self);
        mb.cond_resched();
        Self::lock(mm, mb)
    }
}

impl Drop for MmapReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: held by this task (type invariant), released once.
        unsafe { c::pgmove_mmap_read_unlock(self.mm.as_ptr()) };
    }
}
