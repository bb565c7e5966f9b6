// SPDX-License-Identifier: GPL-2.0

//! PMD entries: [`PmdPtr`], a pointer to the PMD entry of an address in a locked VMA, its
//! walk and allocation (`pmd_alloc()`, `pte_alloc()`), splitting and waiting on a huge PMD;
//! and [`HugePmdLock`], a huge PMD under its lock (`pmd_trans_huge_lock()`).
//!
//! # Invariants
//!
//! A [`PmdPtr`] points into a PMD table of an address that lies in a read-locked VMA (or in a
//! VMA found under the mmap read lock); such tables are freed only once the VMA is gone
//! (`free_pgtables()`), so the pointer stays valid while the VMA guard or the mmap lock guard
//! lives. The PMD *value* may change at any time unless its lock is held.
//!
//! Lock order: the PMD lock is a page-table spinlock (item 5 of `super::super`); a
//! [`HugePmdLock`] borrows [`MayBlock`], so nothing sleeps while it is held.

use super::*;

/// A pointer to the PMD entry that covers an address of a read-locked VMA.
///
/// # Invariants
///
/// `pmd` points to a PMD entry of `mm` for an address inside one of the VMAs of the
/// [`MoveVmas`] borrowed for `'g`; the PMD table stays allocated for `'g`.
#[derive(Clone, Copy)]
pub(crate) struct PmdPtr<'g> {
    pub(super) pmd: NonNull<bindings::pmd_t>,
    mm: &'g Mm,
}

impl<'g> PmdPtr<'g> {
    /// The PMD entry for `addr`, if the upper levels exist (`mm_find_pmd()`).
    ///
    /// `addr` must lie in one of `vmas`' VMAs; else `None`.
    pub(crate) fn find(vmas: &'g MoveVmas<'_>, addr: u64) -> Option<Self> {
        if !vmas.dst().contains(addr) && !vmas.src().contains(addr) {
            return None;
        }
        // SAFETY: `addr` is in a read-locked VMA of the mm, whose upper page-table levels
        // cannot be freed meanwhile; the walk only reads them.
        let pmd = NonNull::new(unsafe { c::pgmove_mm_find_pmd(vmas.mm().as_ptr(), addr as _) })?;
        // INVARIANT: `addr` is in a VMA locked for `'g`.
        Some(Self { pmd, mm: vmas.mm() })
    }

    /// The PMD entry for `addr` of `vma`, found under the mmap read lock, without allocating.
    ///
    /// Returns the entry (or `None` if an upper level is missing or huge) and the address
    /// where the walk goes on: the end of this PMD's range, or of the missing upper-level
    /// entry's, capped at `end`. `(None, end)` if `addr` is not in `vma`, so a walk always
    /// makes progress.
    pub(crate) fn walk(
        mmap: &'g MmapReadGuard<'_>,
        vma: &'g Vma,
        addr: u64,
        end: u64,
    ) -> (Option<Self>, u64) {
        if !vma.contains(addr) {
            return (None, end);
        }
        let mut next = 0;
        // SAFETY: `addr` is in `vma`, which the held mmap lock keeps in the tree, so the
        // upper page-table levels it walks cannot be freed; the walk only reads them.
        let pmd = unsafe { c::pgmove_pmd_walk(mmap.mm().as_ptr(), addr as _, end as _, &mut next) };
        let next = next as u64;
        // INVARIANT: `addr` is in a VMA that the mmap lock borrowed for `'g` keeps alive.
        (
            NonNull::new(pmd).map(|pmd| Self { pmd, mm: mmap.mm() }),
            next,
        )
    }

    /// The mm the entry belongs to.
    pub(in crate::mm) fn mm(&self) -> &'g Mm {
        self.mm
    }

    /// The raw entry pointer, for the rest of the `mm` layer.
    pub(in crate::mm) fn as_ptr(&self) -> *mut bindings::pmd_t {
        self.pmd.as_ptr()
    }

    /// The PMD entry for `addr`, allocating the upper levels (`ENOMEM` if that fails).
    ///
    /// `addr` must lie in one of `vmas`' VMAs; else `EINVAL`.
    pub(crate) fn alloc(vmas: &'g MoveVmas<'_>, addr: u64) -> Result<Self> {
        if !vmas.dst().contains(addr) && !vmas.src().contains(addr) {
            return Err(EINVAL);
        }
        // SAFETY: `addr` is in a read-locked VMA; allocating page-table levels under a VMA
        // read lock is what page faults do.
        let pmd = NonNull::new(unsafe { c::pgmove_mm_alloc_pmd(vmas.mm().as_ptr(), addr as _) })
            .ok_or(ENOMEM)?;
        // INVARIANT: `addr` is in a VMA locked for `'g`.
        Ok(Self { pmd, mm: vmas.mm() })
    }

    /// `pmdp_get_lockless()`.
    pub(crate) fn get_lockless(&self) -> PmdVal {
        // SAFETY: `pmd` is valid (type invariant); the read is designed to race.
        PmdVal(unsafe { c::pgmove_pmdp_get_lockless(self.pmd.as_ptr()) })
    }

    /// `pmdp_get()`: a racy read, for a first look.
    pub(crate) fn get(&self) -> PmdVal {
        // SAFETY: as in `get_lockless`.
        PmdVal(unsafe { c::pgmove_pmdp_get(self.pmd.as_ptr()) })
    }

    /// `pte_alloc()`: installs an empty PTE table if the entry is none (`ENOMEM`).
    pub(crate) fn alloc_pte_table(&self) -> Result {
        // SAFETY: `pmd` is a valid entry of `mm` (type invariant); `__pte_alloc()` takes the
        // PMD lock and rechecks before installing.
        match unsafe { c::pgmove_pte_alloc(self.mm.as_ptr(), self.pmd.as_ptr()) } {
            0 => Ok(()),
            _ => Err(ENOMEM),
        }
    }

    /// `pmd_trans_huge_lock()`: the PMD lock, if the entry is a huge or swap PMD.
    pub(crate) fn lock_huge<'t>(
        &'t self,
        vma: &'t Vma,
        _mb: &'t MayBlock,
    ) -> Option<HugePmdLock<'t>> {
        // SAFETY: `pmd` is valid and `vma` covers it; returns the lock held, or NULL.
        let ptl = NonNull::new(unsafe {
            c::pgmove_pmd_trans_huge_lock(self.pmd.as_ptr(), vma.as_ptr())
        })?;
        // INVARIANT: the lock returned is held and is `pmd`'s.
        Some(HugePmdLock {
            pmd: self,
            ptl,
            _not_send: PhantomData,
        })
    }

    /// `split_huge_pmd()`: splits a huge PMD into a PTE table (a no-op if it is not huge).
    pub(crate) fn split_huge(&self, vma: &Vma, addr: u64, _mb: &mut MayBlock) {
        // SAFETY: `pmd` is valid, `vma` (read-locked) covers `addr`; the split takes its own
        // locks and may sleep, which `&mut MayBlock` allows.
        unsafe { c::pgmove_split_huge_pmd(vma.as_ptr(), self.pmd.as_ptr(), addr as _) };
    }

    /// Maps the PTE table and finds the entry for `addr`; `None` if the PMD no longer points
    /// to a PTE table (it became none or huge). The PMD value it mapped from is recorded.
    pub(crate) fn map_pte<'t>(&'t self, addr: u64, _mb: &'t MayBlock) -> Option<PteMap<'t>> {
        let mut pmdval = bindings::pmd_t { pmd: 0 };
        // SAFETY: `pmd` is valid; `__pte_offset_map()` takes the RCU read lock and returns
        // NULL (having dropped it) if there is no PTE table.
        let pte = NonNull::new(unsafe {
            c::__pte_offset_map(self.pmd.as_ptr(), addr as _, &mut pmdval)
        })?;
        // SAFETY: `pmdval` is the PMD value the table was mapped from, as `pte_lockptr()`
        // expects (this is 6.14's `pte_offset_map_rw_nolock()`).
        let ptl = unsafe { c::pgmove_pte_lockptr(self.mm.as_ptr(), &mut pmdval) };
        let Some(ptl) = NonNull::new(ptl) else {
            // SAFETY: mapped just above, unmapped once (never: a table always has a lock).
            unsafe { c::pgmove_pte_unmap(pte.as_ptr()) };
            return None;
        };
        let ptrs = c::PGMOVE_PTRS_PER_PTE as u64;
        let left = (ptrs - (addr / c::PGMOVE_PAGE_SIZE as u64) % ptrs) as usize;
        // INVARIANT: mapped (RCU read lock held) until `Drop` calls `pte_unmap()`; `left`
        // entries from `pte` on lie in the table.
        Some(PteMap {
            pte,
            addr,
            left,
            ptl,
            pmd: self,
            pmdval: PmdVal(pmdval),
            _mb: PhantomData,
        })
    }

    /// `migration_entry_wait()`: waits until the migration entry at `addr` is gone.
    pub(crate) fn wait_migration_pte(&self, addr: u64, _mb: &mut MayBlock) {
        // SAFETY: `pmd` is valid; the function maps and locks the table itself and sleeps,
        // which `&mut MayBlock` allows.
        unsafe { c::migration_entry_wait(self.mm.as_ptr(), self.pmd.as_ptr(), addr as _) };
    }

    /// `pmd_migration_entry_wait()`: waits until the PMD migration entry is gone.
    ///
    /// (6.12's `move_pages_huge_pmd()` passes a stack copy of the entry here, whose lock is
    /// looked up from the stack address; this passes the entry itself.)
    pub(crate) fn wait_migration_pmd(&self, _mb: &mut MayBlock) {
        // SAFETY: `pmd` is the real entry (type invariant); the function locks and sleeps.
        unsafe { c::pmd_migration_entry_wait(self.mm.as_ptr(), self.pmd.as_ptr()) };
    }

    pub(in crate::mm) fn lockptr(&self) -> NonNull<bindings::spinlock_t> {
        // SAFETY: `pmd` is a valid entry of `mm`.
        let ptl = unsafe { c::pgmove_pmd_lockptr(self.mm.as_ptr(), self.pmd.as_ptr()) };
        NonNull::new(ptl).expect("pmd_lockptr() is never NULL")
    }
}

/// The PMD lock of a huge or swap PMD, from [`PmdPtr::lock_huge`].
///
/// # Invariants
///
/// `ptl` is `pmd`'s lock and is held by us until `Drop`.
pub(crate) struct HugePmdLock<'t> {
    pmd: &'t PmdPtr<'t>,
    ptl: NonNull<bindings::spinlock_t>,
    _not_send: PhantomData<*mut ()>,
}

impl HugePmdLock<'_> {
    /// The entry's value.
    pub(crate) fn get(&self) -> PmdVal {
        self.pmd.get()
    }

    /// The folio a present huge PMD maps (a PMD migration entry maps none).
    pub(crate) fn folio(&self) -> Option<&Folio> {
        let val = self.get();
        if !val.is_present() {
            return None;
        }
        // SAFETY: the entry is present and we hold its lock, so the folio it maps stays
        // mapped (and allocated) while `self` is borrowed.
        Some(unsafe { Folio::from_raw(c::pgmove_pmd_folio(val.0)) })
    }
}

impl Drop for HugePmdLock<'_> {
    fn drop(&mut self) {
        // SAFETY: held by us (type invariant).
        unsafe { c::pgmove_spin_unlock(self.ptl.as_ptr()) };
    }
}
