// SPDX-License-Identifier: GPL-2.0

//! Mapped PTE tables: [`PteMap`], a table mapped with `__pte_offset_map()` (holding the RCU
//! read lock until `pte_unmap()`), with the PMD value it was mapped from; [`PteLock`], one
//! table's lock; [`KeptPteLock`], a table's lock kept across the runs of several MOVEV
//! entries that share it; and the two-lock order of [`double_lock`]/[`double_unlock`].
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
//! one lock it is taken once. A [`KeptPteLock`] already holds one table's lock when it
//! pairs with the other side's table: it takes that lock after its own only if it comes
//! later in address order, and otherwise only *tries* it (a trylock never waits, so
//! it cannot close a cycle); a failed try ends the kept lock's use, and the caller takes
//! both locks in order the usual way.

use super::*;

/// A mapped PTE table, positioned at one entry.
///
/// # Invariants
///
/// `pte` points into a table returned by `__pte_offset_map()` for `pmd`, whose value then
/// was `pmdval`, and is unmapped by `Drop`; `ptl` is that table's lock. The RCU read lock is
/// held meanwhile. `pte` is the entry for `addr`; the `left` entries from `pte` on (`pte`
/// included) lie in the same table.
pub(crate) struct PteMap<'t> {
    pub(super) pte: NonNull<bindings::pte_t>,
    pub(super) addr: u64,
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

/// A PTE table mapped and locked for the runs of consecutive MOVEV entries that share it:
/// their sources lie in it, or their destinations do. Each run pairs it with the entry's
/// table on the other side ([`Self::pair_with`]).
///
/// # Invariants
///
/// `map.ptl` is held by us until `Drop`.
pub(crate) struct KeptPteLock<'t> {
    map: PteMap<'t>,
}

impl<'t> KeptPteLock<'t> {
    /// Takes the lock of the mapped table.
    pub(crate) fn lock(map: PteMap<'t>) -> Self {
        // SAFETY: `ptl` is the lock of a table that stays allocated while mapped.
        unsafe { c::pgmove_spin_lock(map.ptl.as_ptr()) };
        // INVARIANT: taken just above.
        Self { map }
    }

    /// Whether the entry for `addr` lies in this table.
    fn covers(&self, addr: u64) -> bool {
        let pmd_size = c::PGMOVE_PMD_SIZE as u64;
        addr / pmd_size == self.map.addr / pmd_size
    }

    /// This table, positioned at `addr`, as the `side` of a run, locked together with
    /// `other`, the run's table on the other side; see [`Self::lock_other`] for `None`.
    pub(crate) fn pair_with<'a>(
        &'a mut self,
        side: KeptSide,
        addr: u64,
        other: &'a PteMap<'a>,
    ) -> Option<PtePairLock<'a>> {
        if !self.seek(addr) || !self.lock_other(other) {
            return None;
        }
        let (dst, src) = match side {
            KeptSide::Src => (other, &self.map),
            KeptSide::Dst => (&self.map, other),
        };
        // INVARIANT: `other`'s lock was taken by `lock_other` (or is ours); ours stays held
        // while `self`, which the pair borrows, lives.
        Some(PtePairLock {
            dst,
            src,
            kept: Some(side),
        })
    }

    /// Positions the map at the entry for `addr`; false if this table does not cover it.
    fn seek(&mut self, addr: u64) -> bool {
        if !self.covers(addr) {
            return false;
        }
        let ptrs = c::PGMOVE_PTRS_PER_PTE as u64;
        let index = |addr: u64| ((addr / c::PGMOVE_PAGE_SIZE as u64) % ptrs) as usize;
        let (from, to) = (index(self.map.addr), index(addr));
        // SAFETY: both indexes lie in the one mapped table (same PMD range, checked above).
        let pte = unsafe { self.map.pte.as_ptr().sub(from).add(to) };
        let Some(pte) = NonNull::new(pte) else {
            return false;
        };
        // INVARIANT: `pte` is the entry for `addr` of the same mapped table, `left` counted
        // from it; the mapping itself is unchanged.
        self.map.pte = pte;
        self.map.addr = addr;
        self.map.left = ptrs as usize - to;
        true
    }

    /// Takes `other`'s lock while ours is held: after ours if it comes later in address
    /// order (as [`double_lock`] would), nothing if it is the same lock, and only a try if
    /// it comes earlier. False if the try failed: the caller then drops `self` and takes
    /// both locks in order ([`PtePairLock::lock`]).
    fn lock_other(&self, other: &PteMap<'_>) -> bool {
        let (o, ours) = (other.ptl, self.map.ptl);
        if o == ours {
            return true;
        }
        if o.as_ptr() > ours.as_ptr() {
            // SAFETY: the lock of a table kept allocated while `other` is mapped; taken after
            // ours, in address order.
            unsafe { c::pgmove_spin_lock_nested(o.as_ptr()) };
            return true;
        }
        // SAFETY: as above; out of address order, so only tried.
        unsafe { c::pgmove_spin_trylock(o.as_ptr()) }
    }
}

impl Drop for KeptPteLock<'_> {
    fn drop(&mut self) {
        // SAFETY: held by us (type invariant); the map is unmapped after this.
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
