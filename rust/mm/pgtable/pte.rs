// SPDX-License-Identifier: GPL-2.0

//! Mapped PTE tables: [`PteMap`], a table mapped with `__pte_offset_map()` (holding the RCU
//! read lock until `pte_unmap()`), with the PMD value it was mapped from; [`PteLock`], one
//! table's lock; and the two-lock order of [`double_lock`]/[`double_unlock`].
//!
//! # Invariants
//!
//! A [`PteMap`] may be detached meanwhile (by khugepaged, by pgmove's RECLAIM) but is not
//! freed while mapped: both free tables only after an RCU grace period. It borrows
//! [`MayBlock`], so nothing can sleep while it is mapped. Before an entry is written the
//! destination's PMD is rechecked against the value the table was mapped from
//! ([`PteMap::pmd_unchanged`]; 6.14 added this recheck to UFFDIO_MOVE), so a table detached
//! meanwhile is never written to.
//!
//! Lock order: two PTE (or PMD) locks are taken in the order of the lock addresses, the
//! second with `SINGLE_DEPTH_NESTING`, as `double_pt_lock()` does; when both tables share
//! one lock it is taken once.

use super::*;

/// A mapped PTE table, positioned at one entry.
///
/// # Invariants
///
/// `pte` was returned by `__pte_offset_map()` for `pmd`, whose value then was `pmdval`, and
/// is unmapped by `Drop`; `ptl` is that table's lock. The RCU read lock is held meanwhile.
/// The `left` entries from `pte` on (`pte` included) lie in the same table.
pub(crate) struct PteMap<'t> {
    pub(super) pte: NonNull<bindings::pte_t>,
    pub(super) left: usize,
    pub(super) ptl: NonNull<bindings::spinlock_t>,
    pub(super) pmd: &'t PmdPtr<'t>,
    pub(super) pmdval: PmdVal,
    pub(super) _mb: PhantomData<&'t MayBlock>,
}

impl PteMap<'_> {
    /// Reads the entry under its lock (a snapshot to decide on; recheck before acting).
    pub(crate) fn read(&self) -> PteVal {
        self.lock().get()
    }

    /// Takes the table's lock.
    pub(crate) fn lock(&self) -> PteLock<'_> {
        // SAFETY: `ptl` is the lock of a table that stays allocated while mapped.
        unsafe { c::pgmove_spin_lock(self.ptl.as_ptr()) };
        // INVARIANT: taken just above.
        PteLock { map: self }
    }

    pub(super) fn get(&self) -> PteVal {
        // SAFETY: the table is mapped (type invariant).
        PteVal(unsafe { c::pgmove_ptep_get(self.pte.as_ptr()) })
    }

    /// The `i`-th entry from the mapped one on (`i < self.left`, checked).
    pub(super) fn entry_ptr(&self, i: usize) -> *mut bindings::pte_t {
        assert!(i < self.left);
        // SAFETY: `i < left`, so the entry lies in the same mapped table (type invariant).
        unsafe { self.pte.as_ptr().add(i) }
    }

    /// The value of the `i`-th entry from the mapped one on.
    pub(super) fn get_at(&self, i: usize) -> PteVal {
        // SAFETY: the entry lies in the mapped table (`entry_ptr` checks).
        PteVal(unsafe { c::pgmove_ptep_get(self.entry_ptr(i)) })
    }

    /// The kind and value of the `i`-th entry from the mapped one on.
    pub(super) fn read_at(&self, i: usize) -> (PteKind, PteVal) {
        // SAFETY: the entry lies in the mapped table (`entry_ptr` checks).
        unsafe { read_entry(self.entry_ptr(i)) }
    }

    /// Whether the PMD still points to the table this map was made from.
    pub(super) fn pmd_unchanged(&self) -> bool {
        self.pmd.get_lockless().same(self.pmdval)
    }
}

impl Drop for PteMap<'_> {
    fn drop(&mut self) {
        // SAFETY: mapped by `__pte_offset_map()` (type invariant); unmapped once.
        unsafe { c::pgmove_pte_unmap(self.pte.as_ptr()) };
    }
}

/// The lock of one mapped PTE table.
///
/// # Invariants
///
/// `map.ptl` is held by us until `Drop`.
pub(crate) struct PteLock<'m> {
    map: &'m PteMap<'m>,
}

impl PteLock<'_> {
    /// The entry's value, stable while the lock is held.
    pub(crate) fn get(&self) -> PteVal {
        self.map.get()
    }

    /// `vm_normal_folio()`: the folio the (present) entry `pte` of `vma` at `addr` maps, or
    /// `None` for a special mapping. `pte` must be the current value (checked).
    pub(crate) fn normal_folio(&self, vma: &Vma, addr: u64, pte: PteVal) -> Option<&Folio> {
        let cur = self.get();
        if !cur.same(pte) || !cur.is_present() {
            return None;
        }
        // SAFETY: `cur` is the present entry at `addr` of `vma`, read under the PTE lock.
        let folio = unsafe { c::vm_normal_folio(vma.as_ptr(), addr as _, cur.0) };
        if folio.is_null() {
            return None;
        }
        // SAFETY: the folio is mapped by an entry we hold locked, so it cannot be freed
        // while `self` is borrowed.
        Some(unsafe { Folio::from_raw(folio) })
    }
}

impl Drop for PteLock<'_> {
    fn drop(&mut self) {
        // SAFETY: held by us (type invariant).
        unsafe { c::pgmove_spin_unlock(self.map.ptl.as_ptr()) };
    }
}

/// Takes two page-table locks in address order (once if they are the same lock).
pub(super) fn double_lock(a: NonNull<bindings::spinlock_t>, b: NonNull<bindings::spinlock_t>) {
    let (first, second) = if a.as_ptr() > b.as_ptr() {
        (b, a)
    } else {
        (a, b)
    };
    // SAFETY: both are page-table locks of tables the callers keep allocated.
    unsafe { c::pgmove_spin_lock(first.as_ptr()) };
    if first != second {
        // SAFETY: as above; the second lock of the same class, in address order.
        unsafe { c::pgmove_spin_lock_nested(second.as_ptr()) };
    }
}

/// Releases what [`double_lock`] took.
pub(super) fn double_unlock(a: NonNull<bindings::spinlock_t>, b: NonNull<bindings::spinlock_t>) {
    // SAFETY: both (or the one shared) are held by the caller.
    unsafe { c::pgmove_spin_unlock(a.as_ptr()) };
    if a != b {
        // SAFETY: as above.
        unsafe { c::pgmove_spin_unlock(b.as_ptr()) };
    }
}
