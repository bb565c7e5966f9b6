// SPDX-License-Identifier: GPL-2.0

//! Page tables: PMD entries, mapped PTE tables, their locks, and the primitive moves of one
//! entry from a source to a destination.
//!
//! # Invariants this module upholds
//!
//! - A [`PmdPtr`] points into a PMD table of an address that lies in a read-locked VMA (or in
//!   a VMA found under the mmap read lock); such tables are freed only once the VMA is gone
//!   (`free_pgtables()`), so the pointer stays valid while the VMA guard or the mmap lock
//!   guard lives.
//! - A [`PteMap`] is a PTE table mapped with `__pte_offset_map()`, which holds the RCU read
//!   lock until `pte_unmap()`: the table may be detached meanwhile (by khugepaged, by
//!   pgmove's RECLAIM) but not freed, since both free tables only after an RCU grace period.
//!   It borrows [`MayBlock`], so nothing can sleep while it is mapped.
//! - An entry is changed only with its table's lock held and after re-checking, under that
//!   lock, that the entry is still the one the caller decided on (`pte_same()`/`pmd_same()`)
//!   and, for a PTE destination, that the PMD still points to the mapped table
//!   (`pmd_same()` against the value the table was mapped from; 6.14 added this recheck to
//!   UFFDIO_MOVE). A table detached meanwhile is therefore never written to.
//! - The primitive moves ([`PtePairLock::move_present`], [`PtePairLock::move_zero`],
//!   [`PtePairLock::move_swap`], [`PmdPairLock::move_huge`]) check their own preconditions
//!   under the locks (the folio given is the one mapped at the source, it is exclusive and
//!   not pinned), so a caller cannot make them map a page at the wrong place.
//!
//! Lock order: two PTE (or PMD) locks are taken in the order of the lock addresses, the
//! second with `SINGLE_DEPTH_NESTING`, as `double_pt_lock()` does; when both tables share
//! one lock it is taken once.

use super::{
    folio::{Folio, LockedAnonVma, LockedFolio, ReadFolio, VmaAnonVmaLock},
    mmap::MmapReadGuard,
    swap::SwapDevice,
    tlb::{full_barrier, DeferredFlush},
    vma::{MoveVmas, Vma},
    MayBlock, Mm,
};
use crate::c;
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, prelude::*};

// The per-entry loops of the batched paths live in `.text.hot.pgmove`, which starts on a page
// of its own and is smaller than a page (so is the C side's, rust/helpers.c): no loop block
// straddles a page boundary. Under QEMU's TCG, which the benchmarks run on, a translated block
// that spans two guest pages cannot be chained to, so every iteration through such a block
// leaves the translated code (it once cost the whole-table move 38% of its time);
// on hardware this only keeps the hot code together.
// The THP-run loop has a page-aligned section of its own (`.text.hot.pgmove.huge`), for room.
core::arch::global_asm!(
    ".pushsection .text.hot.pgmove,\"ax\",@progbits",
    ".balign 4096",
    ".popsection",
    ".pushsection .text.hot.pgmove.huge,\"ax\",@progbits",
    ".balign 4096",
    ".popsection"
);

/// A PMD entry's value.
#[derive(Clone, Copy)]
pub(crate) struct PmdVal(pub(super) bindings::pmd_t);

impl PmdVal {
    /// `pmd_none()`.
    pub(crate) fn is_none(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pmd_none(self.0) }
    }

    /// `pmd_present()`.
    pub(crate) fn is_present(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pmd_present(self.0) }
    }

    /// `pmd_trans_huge()`: maps a THP or the huge zero page.
    pub(crate) fn is_trans_huge(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pmd_trans_huge(self.0) }
    }

    /// `pmd_devmap()`.
    pub(crate) fn is_devmap(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pmd_devmap(self.0) }
    }

    /// `is_pmd_migration_entry()`.
    pub(crate) fn is_migration_entry(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_is_pmd_migration_entry(self.0) }
    }

    /// `is_huge_zero_pmd()`.
    pub(crate) fn is_huge_zero(self) -> bool {
        // SAFETY: a pure function of the value (and of the huge zero page's pfn).
        unsafe { c::pgmove_is_huge_zero_pmd(self.0) }
    }

    /// `pmd_same()`.
    pub(crate) fn same(self, other: PmdVal) -> bool {
        // SAFETY: a pure function of the values.
        unsafe { c::pgmove_pmd_same(self.0, other.0) }
    }

    /// Points to a PTE table: present, not a leaf (THP, huge zero page), not bad.
    pub(crate) fn is_table(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pmd_is_table(self.0) }
    }

    /// The raw value, for the rest of the `mm` layer.
    pub(super) fn raw(self) -> bindings::pmd_t {
        self.0
    }
}

/// A PTE's value.
#[derive(Clone, Copy)]
pub(crate) struct PteVal(pub(super) bindings::pte_t);

/// What a PTE holds, in one helper call (the batched paths' classification of every entry).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PteKind {
    /// `pte_none()`.
    None,
    /// Present, maps the shared zero page.
    Zero,
    /// Present, maps anything else.
    Page,
    /// Not present and not none: a swap, migration or device entry, a marker.
    Other,
}

impl PteKind {
    fn from_c(kind: c::pgmove_pte_kind) -> Self {
        match kind {
            c::pgmove_pte_kind_PGMOVE_PTE_NONE => Self::None,
            c::pgmove_pte_kind_PGMOVE_PTE_ZERO => Self::Zero,
            c::pgmove_pte_kind_PGMOVE_PTE_PAGE => Self::Page,
            _ => Self::Other,
        }
    }
}

/// Reads the entry at `ptr` (`ptep_get()`) and classifies it.
///
/// # Safety
///
/// `ptr` is an entry of a mapped PTE table.
unsafe fn read_entry(ptr: *mut bindings::pte_t) -> (PteKind, PteVal) {
    let mut val = bindings::pte_t { pte: 0 };
    // SAFETY: `ptr` is a mapped entry (caller); `val` is ours.
    let kind = unsafe { c::pgmove_ptep_get_kind(ptr, &mut val) };
    (PteKind::from_c(kind), PteVal(val))
}

/// Reads a source entry of a batch: its kind and value and, if it maps a page, the folio
/// as [`Folio::read_pte`] found (and maybe locked) it.
///
/// # Safety
///
/// As for [`Folio::read_pte`].
#[inline(always)]
unsafe fn read_src_entry<'a>(
    vma: &Vma,
    ptr: *mut bindings::pte_t,
) -> (PteKind, PteVal, Option<ReadFolio<'a>>) {
    // SAFETY: as the caller guarantees.
    let (kind, val, folio) = unsafe { Folio::read_pte(vma, ptr) };
    (PteKind::from_c(kind), PteVal(val), folio)
}

/// What a non-present PTE holds.
pub(crate) enum SwapPte {
    /// A swap entry; `exclusive` if only this mapping refers to it.
    Swap {
        entry: bindings::swp_entry_t,
        exclusive: bool,
    },
    /// A migration entry: the folio is being migrated; wait and retry.
    Migration,
    /// Anything else: a PTE marker, a hwpoison or device entry.
    Other,
}

impl PteVal {
    /// `pte_none()`.
    pub(crate) fn is_none(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pte_none(self.0) }
    }

    /// `pte_present()`.
    pub(crate) fn is_present(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pte_present(self.0) }
    }

    /// `pte_pfn()`.
    pub(crate) fn pfn(self) -> u64 {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pte_pfn(self.0) as u64 }
    }

    /// `pte_special()`: maps no refcounted page (the zero page, a PFN mapping).
    pub(crate) fn is_special(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pte_special(self.0) }
    }

    /// Maps the shared zero page.
    pub(crate) fn is_zero_page(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pte_is_zero_pfn(self.0) }
    }

    /// `pte_same()`.
    pub(crate) fn same(self, other: PteVal) -> bool {
        // SAFETY: a pure function of the values.
        unsafe { c::pgmove_pte_same(self.0, other.0) }
    }

    /// Decodes a non-present, non-none PTE.
    pub(crate) fn swap(self) -> SwapPte {
        let mut entry = bindings::swp_entry_t { val: 0 };
        // SAFETY: a pure function of the value; writes `entry`.
        match unsafe { c::pgmove_pte_swp_kind(self.0, &mut entry) } {
            c::pgmove_swp_kind_PGMOVE_SWP_SWAP => SwapPte::Swap {
                entry,
                // SAFETY: a pure function of the value.
                exclusive: unsafe { c::pgmove_pte_swp_exclusive(self.0) },
            },
            c::pgmove_swp_kind_PGMOVE_SWP_MIGRATION => SwapPte::Migration,
            _ => SwapPte::Other,
        }
    }
}

/// A pointer to the PMD entry that covers an address of a read-locked VMA.
///
/// # Invariants
///
/// `pmd` points to a PMD entry of `mm` for an address inside one of the VMAs of the
/// [`MoveVmas`] borrowed for `'g`; the PMD table stays allocated for `'g`.
#[derive(Clone, Copy)]
pub(crate) struct PmdPtr<'g> {
    pmd: NonNull<bindings::pmd_t>,
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
    pub(super) fn mm(&self) -> &'g Mm {
        self.mm
    }

    /// The raw entry pointer, for the rest of the `mm` layer.
    pub(super) fn as_ptr(&self) -> *mut bindings::pmd_t {
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
        let ptrs = c::PGMOVE_PTRS_PER_PTE as u64;
        let left = (ptrs - (addr / c::PGMOVE_PAGE_SIZE as u64) % ptrs) as usize;
        // INVARIANT: mapped (RCU read lock held) until `Drop` calls `pte_unmap()`; `left`
        // entries from `pte` on lie in the table.
        Some(PteMap {
            pte,
            left,
            ptl: NonNull::new(ptl)?,
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

    pub(super) fn lockptr(&self) -> NonNull<bindings::spinlock_t> {
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

/// A mapped PTE table, positioned at one entry.
///
/// # Invariants
///
/// `pte` was returned by `__pte_offset_map()` for `pmd`, whose value then was `pmdval`, and
/// is unmapped by `Drop`; `ptl` is that table's lock. The RCU read lock is held meanwhile.
/// The `left` entries from `pte` on (`pte` included) lie in the same table.
pub(crate) struct PteMap<'t> {
    pte: NonNull<bindings::pte_t>,
    left: usize,
    ptl: NonNull<bindings::spinlock_t>,
    pmd: &'t PmdPtr<'t>,
    pmdval: PmdVal,
    _mb: PhantomData<&'t MayBlock>,
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

    fn get(&self) -> PteVal {
        // SAFETY: the table is mapped (type invariant).
        PteVal(unsafe { c::pgmove_ptep_get(self.pte.as_ptr()) })
    }

    /// The `i`-th entry from the mapped one on (`i < self.left`, checked).
    fn entry_ptr(&self, i: usize) -> *mut bindings::pte_t {
        assert!(i < self.left);
        // SAFETY: `i < left`, so the entry lies in the same mapped table (type invariant).
        unsafe { self.pte.as_ptr().add(i) }
    }

    /// The value of the `i`-th entry from the mapped one on.
    fn get_at(&self, i: usize) -> PteVal {
        // SAFETY: the entry lies in the mapped table (`entry_ptr` checks).
        PteVal(unsafe { c::pgmove_ptep_get(self.entry_ptr(i)) })
    }

    /// The kind and value of the `i`-th entry from the mapped one on.
    fn read_at(&self, i: usize) -> (PteKind, PteVal) {
        // SAFETY: the entry lies in the mapped table (`entry_ptr` checks).
        unsafe { read_entry(self.entry_ptr(i)) }
    }

    /// Whether the PMD still points to the table this map was made from.
    fn pmd_unchanged(&self) -> bool {
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
fn double_lock(a: NonNull<bindings::spinlock_t>, b: NonNull<bindings::spinlock_t>) {
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
fn double_unlock(a: NonNull<bindings::spinlock_t>, b: NonNull<bindings::spinlock_t>) {
    // SAFETY: both (or the one shared) are held by the caller.
    unsafe { c::pgmove_spin_unlock(a.as_ptr()) };
    if a != b {
        // SAFETY: as above.
        unsafe { c::pgmove_spin_unlock(b.as_ptr()) };
    }
}

/// The locks of a destination and a source PTE table, held together.
///
/// # Invariants
///
/// `dst.ptl` and `src.ptl` are held by us (once if equal) until `Drop`.
pub(crate) struct PtePairLock<'m> {
    dst: &'m PteMap<'m>,
    src: &'m PteMap<'m>,
}

impl<'m> PtePairLock<'m> {
    /// `double_pt_lock()`.
    pub(crate) fn lock(dst: &'m PteMap<'m>, src: &'m PteMap<'m>) -> Self {
        double_lock(dst.ptl, src.ptl);
        // INVARIANT: both taken just above.
        Self { dst, src }
    }

    /// Whether the source still holds `src`, the destination `dst`, and the destination PMD
    /// still points to the table that was mapped (else the table may have been detached and
    /// an entry written into it would be lost).
    fn stable(&self, dst: PteVal, src: PteVal) -> bool {
        self.src.get().same(src) && self.dst.get().same(dst) && self.dst.pmd_unchanged()
    }

    /// Moves the present anonymous page mapped at `src_addr` to `dst_addr`, as
    /// `move_present_pte()`: `EAGAIN` if either entry (or the destination PMD) changed
    /// since `dst`/`src` were read, `EBUSY` if the folio is large, shared or maybe pinned.
    /// `folio` must be the folio `src` maps (checked), locked; `_anon_vma` its anon_vma,
    /// write-locked.
    pub(crate) fn move_present(
        &mut self,
        vmas: &MoveVmas<'_>,
        dst_addr: u64,
        src_addr: u64,
        dst: PteVal,
        src: PteVal,
        folio: &mut LockedFolio,
        _anon_vma: &LockedAnonVma,
    ) -> Result {
        if !self.stable(dst, src) || !dst.is_none() {
            return Err(EAGAIN);
        }
        if folio.is_large() || folio.maybe_dma_pinned() || !folio.is_anon_exclusive() {
            return Err(EBUSY);
        }
        // SAFETY: `src` is the current, present entry at `src_addr` (checked under the lock).
        let mapped = unsafe { c::vm_normal_folio(vmas.src().as_ptr(), src_addr as _, src.0) };
        if mapped != folio.as_ptr() || !folio.is_anon() {
            return Err(EAGAIN);
        }
        let (mm, src_pte, dst_pte) = (
            vmas.mm().as_ptr(),
            self.src.pte.as_ptr(),
            self.dst.pte.as_ptr(),
        );
        // SAFETY: we hold the source table's lock; the entry maps `folio`.
        let old = unsafe { c::ptep_clear_flush(vmas.src().as_ptr(), src_addr as _, src_pte) };
        if folio.maybe_dma_pinned() {
            // Pinned by GUP-fast before the flush: put the entry back and fail.
            // SAFETY: restores the entry cleared above, under the same lock.
            unsafe { c::pgmove_set_pte_at(mm, src_addr as _, src_pte, old) };
            return Err(EBUSY);
        }
        folio.move_anon_rmap(vmas.dst(), dst_addr);
        // SAFETY: reads the dirty bit of the cleared value.
        let dirty = unsafe { c::pgmove_pte_dirty(old) };
        // SAFETY: builds the destination entry for the (locked, exclusive) folio; writes it
        // into the destination slot, which is none and locked, whose PMD is unchanged.
        unsafe {
            let new = c::pgmove_mk_moved_pte(folio.as_ptr(), vmas.dst().as_ptr(), dirty);
            c::pgmove_set_pte_at(mm, dst_addr as _, dst_pte, new);
        }
        Ok(())
    }

    /// Moves a PTE-mapped large folio (mTHP) whole: the `nr` entries that map it from
    /// `src_addr` on, with one TLB flush and one rmap rewrite, instead of splitting it.
    ///
    /// Only when the folio qualifies, all checked here under both locks: `src` maps its first
    /// page; both addresses are aligned to its size; the request has `max` pages left, at
    /// least `nr`; the `nr` source entries map its pages in order and nothing else maps it
    /// (mapcount `nr`); every page is exclusive; it is anonymous and not pinned; the `nr`
    /// destination slots are none. `None` otherwise (the caller splits it, as
    /// `UFFDIO_MOVE` does), also when a pin shows up after the flush (the entries are put
    /// back first); `Some(Err(EAGAIN))` if an entry changed since it was read. Each moved
    /// entry is what [`Self::move_present`] writes for a small folio: the destination's
    /// protection, writable, soft-dirty, dirty only if it was. `folio` is locked, `_anon_vma`
    /// its anon_vma, write-locked; `scratch` holds the cleared entries.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn move_large(
        &mut self,
        vmas: &MoveVmas<'_>,
        dst_addr: u64,
        src_addr: u64,
        dst: PteVal,
        src: PteVal,
        folio: &mut LockedFolio,
        _anon_vma: &LockedAnonVma,
        max: usize,
        scratch: &mut RunScratch<'_>,
    ) -> Option<Result<usize>> {
        if !self.stable(dst, src) || !dst.is_none() {
            return Some(Err(EAGAIN));
        }
        let nr = folio.nr_pages();
        let size = (nr as u64).wrapping_mul(c::PGMOVE_PAGE_SIZE as u64);
        // A folio's size is a power of two: both addresses aligned to it.
        if nr < 2
            || nr > max
            || nr > self.src.left
            || nr > self.dst.left
            || nr > scratch.capacity()
            || (src_addr | dst_addr) & size.wrapping_sub(1) != 0
            || !folio.is_anon()
            || folio.maybe_dma_pinned()
            || folio.mapcount() != nr as i32
            || !folio.all_anon_exclusive()
            || src.pfn() != folio.pfn()
        {
            return None;
        }
        for i in 0..nr {
            let (d, s) = (self.dst.get_at(i), self.src.get_at(i));
            if !d.is_none()
                || !s.is_present()
                || s.is_special()
                || s.pfn() != folio.pfn() + i as u64
            {
                return None;
            }
        }
        let (mm, page) = (vmas.mm().as_ptr(), c::PGMOVE_PAGE_SIZE as u64);
        // The first `nr` slots (the capacity was checked above) keep the cleared values.
        let olds = &mut scratch.ptes.as_mut_slice()[..nr];
        for (i, e) in olds.iter_mut().enumerate() {
            let addr = src_addr + i as u64 * page;
            // SAFETY: we hold the source table's lock; the entry maps page `i` of the folio.
            e.old = PteVal(unsafe {
                c::pgmove_ptep_get_and_clear(mm, addr as _, self.src.entry_ptr(i))
            });
        }
        // SAFETY: the source VMA is locked; the range is the entries just cleared.
        unsafe {
            c::pgmove_flush_tlb_range(vmas.src().as_ptr(), src_addr as _, (src_addr + size) as _)
        };
        if folio.maybe_dma_pinned() {
            // Pinned by GUP-fast before the flush: put every entry back, leave it to the split.
            for (i, e) in olds.iter().enumerate() {
                // SAFETY: restores the entry cleared above, under the same lock.
                unsafe {
                    c::pgmove_set_pte_at(
                        mm,
                        (src_addr + i as u64 * page) as _,
                        self.src.entry_ptr(i),
                        e.old.0,
                    )
                };
            }
            return None;
        }
        folio.move_anon_rmap(vmas.dst(), dst_addr);
        for (i, e) in olds.iter().enumerate() {
            let addr = dst_addr + i as u64 * page;
            // SAFETY: builds the entry for page `i` of the locked, exclusive folio from the
            // cleared value's dirty bit, and writes it into a destination slot that is none,
            // locked, in a table still linked from its PMD (checked above, same locks).
            unsafe {
                let dirty = c::pgmove_pte_dirty(e.old.0);
                let new =
                    c::pgmove_mk_moved_pte_idx(folio.as_ptr(), i as _, vmas.dst().as_ptr(), dirty);
                c::pgmove_set_pte_at(mm, addr as _, self.dst.entry_ptr(i), new);
            }
        }
        Some(Ok(nr))
    }

    /// Moves a mapping of the shared zero page, as `move_zeropage_pte()`: `EAGAIN` if the
    /// entries changed or `src` is not the zero page.
    pub(crate) fn move_zero(
        &mut self,
        vmas: &MoveVmas<'_>,
        dst_addr: u64,
        src_addr: u64,
        dst: PteVal,
        src: PteVal,
    ) -> Result {
        if !self.stable(dst, src) || !dst.is_none() || !src.is_present() || !src.is_zero_page() {
            return Err(EAGAIN);
        }
        // SAFETY: we hold both locks; the source maps the zero page (no folio, no rmap) and
        // the destination slot is none in a table still linked from its PMD.
        unsafe {
            let zero = c::pgmove_mk_zero_pte(dst_addr as _, vmas.dst().as_ptr());
            c::ptep_clear_flush(vmas.src().as_ptr(), src_addr as _, self.src.pte.as_ptr());
            c::pgmove_set_pte_at(
                vmas.mm().as_ptr(),
                dst_addr as _,
                self.dst.pte.as_ptr(),
                zero,
            );
        }
        Ok(())
    }

    /// Moves an exclusive swap entry, as `move_swap_pte()`: `EAGAIN` if the entries changed,
    /// if `cache` is no longer the swap-cache folio of the entry, or (without `cache`) if a
    /// folio entered the swap cache meanwhile. `EBUSY` if the entry is not exclusive.
    pub(crate) fn move_swap(
        &mut self,
        vmas: &MoveVmas<'_>,
        dst_addr: u64,
        src_addr: u64,
        dst: PteVal,
        src: PteVal,
        si: &SwapDevice,
        cache: Option<&mut LockedFolio>,
    ) -> Result {
        let SwapPte::Swap { entry, exclusive } = src.swap() else {
            return Err(EAGAIN);
        };
        if !exclusive {
            return Err(EBUSY);
        }
        if src.is_present() || !self.stable(dst, src) || !dst.is_none() {
            return Err(EAGAIN);
        }
        match cache {
            // The folio stays in the swap cache: a swap-in at the destination will find it
            // there, so its rmap must already name the destination.
            // (A folio read ahead into the swap cache was never mapped and has no anon
            // mapping yet; it gets the destination's, as in `move_swap_pte()`.)
            Some(folio) => {
                if !folio.is_swap_cache_of(entry) {
                    return Err(EAGAIN);
                }
                folio.move_anon_rmap(vmas.dst(), dst_addr);
            }
            // A folio may have entered the swap cache since we looked: the PTE lock we hold
            // orders us after the swap_map update (see `move_swap_pte()`).
            None => {
                if si.has_cache(entry) {
                    return Err(EAGAIN);
                }
            }
        }
        let mm = vmas.mm().as_ptr();
        // SAFETY: we hold both locks; the source is this exclusive swap entry, the
        // destination slot is none in a table still linked from its PMD. A swap entry is not
        // cached by any TLB, so no flush is needed.
        unsafe {
            let old = c::pgmove_ptep_get_and_clear(mm, src_addr as _, self.src.pte.as_ptr());
            let new = c::pgmove_pte_swp_mksoft_dirty(old);
            c::pgmove_set_pte_at(mm, dst_addr as _, self.dst.pte.as_ptr(), new);
        }
        Ok(())
    }
}

/// One entry of a run (or of a whole table) being moved: what the source entry held and the
/// folio it maps, locked by the [`RunFolios`] list it is in (`None` for the shared zero page
/// and for a hole).
#[derive(Clone, Copy)]
struct RunEntry {
    folio: Option<NonNull<bindings::folio>>,
    kind: PteKind,
    old: PteVal,
}

impl RunEntry {
    const EMPTY: Self = Self {
        folio: None,
        kind: PteKind::None,
        old: PteVal(bindings::pte_t { pte: 0 }),
    };
}

/// One PMD of a run of huge PMDs being moved: the source entry's value and the THP it maps,
/// locked by the [`RunFolios`] list it is in (`None` for the huge zero page).
#[derive(Clone, Copy)]
struct HugeEntry {
    folio: Option<NonNull<bindings::folio>>,
    old: PmdVal,
}

impl HugeEntry {
    const EMPTY: Self = Self {
        folio: None,
        old: PmdVal(bindings::pmd_t { pmd: 0 }),
    };
}

/// An entry of a batch, whose folio (if any) the batch holds locked.
trait Batched: Copy {
    fn folio(&self) -> Option<NonNull<bindings::folio>>;
}

impl Batched for RunEntry {
    fn folio(&self) -> Option<NonNull<bindings::folio>> {
        self.folio
    }
}

impl Batched for HugeEntry {
    fn folio(&self) -> Option<NonNull<bindings::folio>> {
        self.folio
    }
}

/// Room for one batch's entries, allocated before any lock is taken and reused: PTEs (a run
/// never crosses a PTE table, so at most a table's worth) and huge PMDs (at most a PMD
/// table's worth).
pub(crate) struct RunScratch<'m> {
    ptes: KVVec<RunEntry>,
    pmds: KVVec<HugeEntry>,
    /// The folios of the listed entries, side by side, for the one-call pin check.
    folios: KVVec<Option<NonNull<bindings::folio>>>,
    /// The TLB flush the runs owe for the source entries they cleared, and the folios held
    /// until it (one shootdown round per call).
    pub(crate) flush: DeferredFlush<'m>,
}

/// The most whole PTE tables [`PmdPairLock::move_tables`] moves under one pair of PMD locks.
pub(crate) const TABLES_PER_RUN: usize = 8;

/// `n` copies of `empty`, allocated at once (with vmalloc if kmalloc cannot).
fn filled<E: Copy>(n: usize, empty: E) -> Result<KVVec<E>> {
    let mut v = KVVec::with_capacity(n, GFP_KERNEL)?;
    for _ in 0..n {
        // Within the capacity: does not allocate.
        v.push(empty, GFP_KERNEL)?;
    }
    Ok(v)
}

impl<'m> RunScratch<'m> {
    /// Room for batches of moves in `mm` of up to `pages` pages each: a run of PTEs, of
    /// whole PTE tables (up to [`TABLES_PER_RUN`] of them) or of huge PMDs; `total` pages
    /// in the whole call, whose folios the deferred flush holds.
    pub(crate) fn new(mm: &'m Mm, pages: u64, total: u64) -> Result<Self> {
        let per_pmd = u64::from(c::PGMOVE_PTRS_PER_PTE);
        let ptes = pages.clamp(1, TABLES_PER_RUN as u64 * per_pmd) as usize;
        let pmds = (pages / per_pmd).clamp(1, u64::from(c::PGMOVE_PTRS_PER_PMD)) as usize;
        Ok(Self {
            ptes: filled(ptes, RunEntry::EMPTY)?,
            pmds: filled(pmds, HugeEntry::EMPTY)?,
            folios: filled(ptes.max(pmds), None)?,
            flush: DeferredFlush::new(mm, total)?,
        })
    }

    /// How many PTEs a run may have.
    fn capacity(&self) -> usize {
        self.ptes.len()
    }

    /// How many whole PTE tables a run may have.
    fn tables(&self) -> usize {
        self.ptes.len() / c::PGMOVE_PTRS_PER_PTE as usize
    }
}

/// The entries of a batch, whose folios are locked, while [`PtePairLock::move_run`],
/// [`PmdPairLock::move_tables`] or [`PmdPairLock::move_huge_run`] works on them; `Drop`
/// unlocks every folio.
///
/// # Invariants
///
/// Every folio of the first `len` entries is locked by us and mapped by an entry (at the
/// source, or at the destination once moved, or cleared in between) of a table whose lock
/// the caller that created this value holds for as long as this value lives, so the folios
/// stay allocated until `Drop` unlocks them.
struct RunFolios<'s, E: Batched> {
    slots: &'s mut [E],
    /// `folios[i]` is `slots[i].folio()`, for `i < len`.
    folios: &'s mut [Option<NonNull<bindings::folio>>],
    len: usize,
}

impl<'s, E: Batched> RunFolios<'s, E> {
    fn new(slots: &'s mut [E], folios: &'s mut [Option<NonNull<bindings::folio>>]) -> Self {
        // INVARIANT: no entry listed yet.
        Self {
            slots,
            folios,
            len: 0,
        }
    }

    /// Holds the folios of the first `n` listed entries (those that moved) in `flush`, until
    /// it flushes the source entries that mapped them.
    fn hold_moved(&self, n: usize, flush: &mut DeferredFlush<'_>) {
        for folio in self.folios[..n.min(self.len)].iter().flatten() {
            // SAFETY: listed folios are locked and allocated (type invariant); the caller
            // made room for the run (`DeferredFlush::make_room`, at most that many listed).
            unsafe { flush.hold(*folio) };
        }
    }

    /// The index of the first listed folio that may be pinned (`folio_maybe_dma_pinned()`),
    /// `len` if none: one call for the whole batch.
    #[inline(always)]
    fn first_pinned(&self) -> usize {
        let listed = &self.folios[..self.len];
        // SAFETY: `Option<NonNull<folio>>` is laid out as a folio pointer, NULL for `None`;
        // every listed folio is locked and allocated (type invariant).
        let first = unsafe {
            c::pgmove_first_maybe_pinned(
                listed.as_ptr().cast::<*mut bindings::folio>().cast_mut(),
                listed.len() as _,
            )
        };
        (first as usize).min(self.len)
    }

    fn entries(&self) -> &[E] {
        &self.slots[..self.len]
    }

    /// Unlists the entries from the `n`th on, unlocking their folios (in one call).
    fn truncate(&mut self, n: usize) {
        if n >= self.len {
            return;
        }
        let unlisted = &self.folios[n..self.len];
        // SAFETY: `Option<NonNull<folio>>` is laid out as a folio pointer, NULL for `None`;
        // every listed folio is locked by us and allocated (type invariant), and is unlocked
        // once: it is unlisted right after.
        unsafe {
            c::pgmove_folios_unlock(
                unlisted.as_ptr().cast::<*mut bindings::folio>().cast_mut(),
                unlisted.len() as _,
            )
        };
        // INVARIANT: the entries left are still locked.
        self.len = n;
    }

    fn entries_mut(&mut self) -> &mut [E] {
        &mut self.slots[..self.len]
    }

    /// Adds an entry whose folio (if any) the caller locked; false if there is no room (the
    /// scratch is sized for the request), and then the folio is unlocked here.
    fn push(&mut self, entry: E) -> bool {
        if let (Some(slot), Some(folio)) =
            (self.slots.get_mut(self.len), self.folios.get_mut(self.len))
        {
            *slot = entry;
            *folio = entry.folio();
            self.len += 1;
            return true;
        }
        if let Some(folio) = entry.folio() {
            // SAFETY: locked by the caller and allocated (its table's lock is held), not listed.
            unsafe { Folio::from_raw(folio.as_ptr()).unlock() };
        }
        false
    }
}

/// The folio a present, non-zero-page source entry maps (`read`, from [`read_src_entry`],
/// which tried its lock), locked, if a run or a whole-table move may take it: small,
/// anonymous, exclusive, not pinned, lockable without waiting, and of the anon_vma tree
/// whose root is `root`. `None` (with nothing locked: the lookup's lock is dropped) otherwise.
///
/// The caller holds the lock of the table `val` was read from, and keeps it until it has
/// listed the folio in a [`RunFolios`] (which unlocks it before that lock goes).
#[inline(always)]
fn lock_movable_folio(
    read: Option<ReadFolio<'_>>,
    root: NonNull<bindings::anon_vma>,
) -> Option<NonNull<bindings::folio>> {
    let read = read?;
    // Not locked: contended, or not anonymous.
    let folio_root = read.locked_root?;
    // Under the folio lock `mapping` is stable: only folios of the locked tree move (an
    // exclusive folio of another tree is left to the per-page path).
    if !read.state.is_movable_small() || folio_root != root {
        // SAFETY: locked by the lookup, not handed out.
        unsafe { read.folio.unlock() };
        return None;
    }
    NonNull::new(read.folio.as_ptr())
}

/// Where [`write_moved_entry`] takes the source entry's last value from.
#[derive(Clone, Copy)]
enum LastValue {
    /// The value it had when it was cleared.
    Cleared(PteVal),
    /// The entry being rewritten, in a detached table (where nothing changes it any more).
    InPlace,
}

/// Moves the rmap of a listed entry's folio to `dst_addr` of `dst_vma` (nothing for the zero
/// page) and writes at `ptep` the entry `move_present_pte()` writes: the folio with the
/// destination's protection, writable, soft-dirty, dirty if the source entry's last value
/// was; or the zero page.
///
/// # Safety
///
/// `e` is listed in a [`RunFolios`] (its folio is locked and allocated) and its source entry
/// was cleared atomically (`Cleared`, with the value it held), or lies in a detached table
/// (`InPlace`: cleared atomically here); `ptep` is the destination entry, in a table whose
/// lock the caller holds and which is linked (or about to be linked) at `dst_addr`. Stale
/// TLB entries of the source address may remain until the call's flush: the caller holds the
/// folio until then ([`DeferredFlush`]).
#[inline(always)]
unsafe fn write_moved_entry(
    mm: *mut bindings::mm_struct,
    e: &RunEntry,
    last: LastValue,
    dst_vma: &Vma,
    dst_addr: u64,
    ptep: *mut bindings::pte_t,
) {
    let folio = e.folio.map_or(core::ptr::null_mut(), |f| f.as_ptr());
    let (vma, addr) = (dst_vma.as_ptr(), dst_addr as _);
    match last {
        // SAFETY: the folio (if any) is locked and allocated, and `MoveVmas` gave the
        // destination an anon_vma, as `folio_move_anon_rmap()` requires; `ptep` is the
        // destination entry, locked (caller).
        LastValue::Cleared(old) => unsafe {
            c::pgmove_move_entry(mm, addr, ptep, folio, vma, old.0)
        },
        // SAFETY: as above; the entry at `ptep` is the source entry itself, final (caller).
        LastValue::InPlace => unsafe { c::pgmove_move_entry_in_place(mm, addr, ptep, folio, vma) },
    }
}

impl<E: Batched> Drop for RunFolios<'_, E> {
    fn drop(&mut self) {
        self.truncate(0);
    }
}

impl PtePairLock<'_> {
    /// Moves a run of consecutive entries from the source table to the destination table,
    /// as a batch of [`Self::move_present`] and [`Self::move_zero`] with no TLB flush of its own
    /// (the call's [`DeferredFlush`] covers it, holding the folios): from
    /// the mapped entries on, up to `max` of them, as long as the destination slot is none
    /// and the source maps the zero page or a small exclusive anonymous folio of
    /// `anon_vma`'s tree that is not pinned and can be locked without waiting. Returns how
    /// many entries moved; 0 leaves the first one to the per-page path, which knows what to
    /// do with anything else (and which error to give).
    ///
    /// Entries are moved in ascending order: a folio found pinned after the clearing stays
    /// where it was, and so does every entry after it.
    #[inline(never)]
    #[link_section = ".text.hot.pgmove"]
    pub(crate) fn move_run(
        &mut self,
        vmas: &MoveVmas<'_>,
        dst_addr: u64,
        src_addr: u64,
        max: usize,
        anon_vma: &VmaAnonVmaLock<'_>,
        scratch: &mut RunScratch<'_>,
    ) -> usize {
        // A detached destination table must not be written to.
        if !self.dst.pmd_unchanged() {
            return 0;
        }
        let page = c::PGMOVE_PAGE_SIZE as u64;
        let max = max.min(self.dst.left).min(self.src.left);
        scratch.flush.make_room(max);
        let max = max.min(scratch.flush.room());
        let (src_vma, dst_vma) = (vmas.src(), vmas.dst());
        let root = anon_vma.root();
        // INVARIANT: folios are added locked, mapped by source entries under our locks.
        let mut run = RunFolios::new(scratch.ptes.as_mut_slice(), scratch.folios.as_mut_slice());
        for i in 0..max {
            if self.dst.read_at(i).0 != PteKind::None {
                break;
            }
            // SAFETY: the entry lies in the mapped table (`entry_ptr` checks), which we hold
            // locked until `run` is gone; a folio the lookup locks goes to
            // `lock_movable_folio()`, which lists it in `run` or unlocks it.
            let (kind, src, folio) = unsafe { read_src_entry(src_vma, self.src.entry_ptr(i)) };
            let folio = match kind {
                PteKind::Zero => None,
                PteKind::Page => match lock_movable_folio(folio, root) {
                    Some(folio) => Some(folio),
                    None => break,
                },
                PteKind::None | PteKind::Other => break,
            };
            if !run.push(RunEntry {
                folio,
                kind,
                old: src,
            }) {
                break;
            }
        }
        let n = run.len;
        if n == 0 {
            return 0;
        }
        let mm = vmas.mm().as_ptr();
        scratch.flush.announce();
        // Clear the run at the source; keep what each entry held (the hardware may have set
        // its dirty bit since it was read).
        for (i, e) in run.entries_mut().iter_mut().enumerate() {
            let addr = src_addr + i as u64 * page;
            // SAFETY: we hold the source table's lock; the entry is the one checked above.
            e.old = PteVal(unsafe {
                c::pgmove_ptep_get_and_clear(mm, addr as _, self.src.entry_ptr(i))
            });
        }
        // No flush here: the call's one flush covers the run (`scratch.flush`), and the
        // folios are held until it. The exchanges above and this barrier order the clearing
        // before the pin check: a GUP-fast pin taken before the clearing is seen here, one
        // taken after it is dropped by GUP-fast's own recheck of the entry. A pinned folio,
        // and every entry after it, goes back where it was.
        full_barrier();
        let moved = run.first_pinned();
        for (i, e) in run.entries().iter().enumerate() {
            let (src_i, dst_i) = (src_addr + i as u64 * page, dst_addr + i as u64 * page);
            if i >= moved {
                // SAFETY: restores the entry cleared above, under the same lock.
                unsafe { c::pgmove_set_pte_at(mm, src_i as _, self.src.entry_ptr(i), e.old.0) };
                continue;
            }
            // SAFETY: listed and cleared atomically at the source, held below until the
            // flush; the destination slot is none (checked under the lock we still hold) in
            // a table still linked from its PMD (checked above, under the same lock).
            unsafe {
                write_moved_entry(
                    mm,
                    e,
                    LastValue::Cleared(e.old),
                    dst_vma,
                    dst_i,
                    self.dst.entry_ptr(i),
                )
            };
        }
        scratch
            .flush
            .cleared(src_addr, src_addr + moved as u64 * page, false);
        run.hold_moved(moved, &mut scratch.flush);
        moved
    }
}

impl Drop for PtePairLock<'_> {
    fn drop(&mut self) {
        // INVARIANT upheld: releases exactly what `lock` took.
        double_unlock(self.dst.ptl, self.src.ptl);
    }
}

/// The locks of a destination and a source PMD, held together, for a whole-PMD move.
///
/// # Invariants
///
/// The PMD locks of `dst` and `src` are held by us (once if equal) until `Drop`.
pub(crate) struct PmdPairLock<'p> {
    dst: &'p PmdPtr<'p>,
    src: &'p PmdPtr<'p>,
    _mb: PhantomData<&'p MayBlock>,
}

impl<'p> PmdPairLock<'p> {
    /// Takes both PMD locks in address order.
    pub(crate) fn lock(dst: &'p PmdPtr<'p>, src: &'p PmdPtr<'p>, _mb: &'p MayBlock) -> Self {
        double_lock(dst.lockptr(), src.lockptr());
        // INVARIANT: both taken just above.
        Self {
            dst,
            src,
            _mb: PhantomData,
        }
    }

    /// Moves the huge PMD at `src_addr` to `dst_addr`, as `move_pages_huge_pmd()` does under
    /// its locks: `EAGAIN` if either PMD changed since `dst`/`src` were read, `EBUSY` if the
    /// folio is shared or maybe pinned. `folio` is the THP `src` maps (checked), locked,
    /// with its anon_vma write-locked; `None` for the huge zero page (checked).
    pub(crate) fn move_huge(
        &mut self,
        vmas: &MoveVmas<'_>,
        dst_addr: u64,
        src_addr: u64,
        dst: PmdVal,
        src: PmdVal,
        folio: Option<(&mut LockedFolio, &LockedAnonVma)>,
    ) -> Result {
        if !self.src.get().same(src) || !self.dst.get().same(dst) || !dst.is_none() {
            return Err(EAGAIN);
        }
        if !src.is_trans_huge() {
            return Err(EAGAIN);
        }
        let (mm, src_pmd, dst_pmd) = (
            vmas.mm().as_ptr(),
            self.src.pmd.as_ptr(),
            self.dst.pmd.as_ptr(),
        );
        let new = match folio {
            Some((folio, _anon_vma)) => {
                // SAFETY: `src` is present and huge (checked under the lock).
                if unsafe { c::pgmove_pmd_folio(src.0) } != folio.as_ptr() {
                    return Err(EAGAIN);
                }
                if folio.maybe_dma_pinned() || !folio.is_anon_exclusive() {
                    return Err(EBUSY);
                }
                if !folio.is_head() || !folio.is_anon() {
                    return Err(EBUSY);
                }
                // SAFETY: we hold the source PMD lock; the entry maps `folio`.
                let old = unsafe {
                    c::pmdp_huge_clear_flush(vmas.src().as_ptr(), src_addr as _, src_pmd)
                };
                if folio.maybe_dma_pinned() {
                    // SAFETY: restores the entry cleared above, under the same lock.
                    unsafe { c::pgmove_set_pmd_at(mm, src_addr as _, src_pmd, old) };
                    return Err(EBUSY);
                }
                folio.move_anon_rmap(vmas.dst(), dst_addr);
                // SAFETY: `old` mapped `folio`, a THP.
                unsafe { moved_huge_pmd(NonNull::new(folio.as_ptr()), PmdVal(old), vmas.dst()) }
            }
            None => {
                if !src.is_huge_zero() {
                    return Err(EAGAIN);
                }
                // SAFETY: we hold the source PMD lock; the entry maps the huge zero page,
                // which has no rmap to rewrite.
                let old = unsafe {
                    c::pmdp_huge_clear_flush(vmas.src().as_ptr(), src_addr as _, src_pmd)
                };
                // SAFETY: `old` mapped the huge zero page.
                unsafe { moved_huge_pmd(None, PmdVal(old), vmas.dst()) }
            }
        };
        // SAFETY: both PMD locks are held; the destination is none (checked); the source was
        // the huge PMD just cleared.
        unsafe { link_moved_huge_pmd(mm, dst_addr, dst_pmd, src_pmd, new) };
        Ok(())
    }

    /// Moves a run of huge PMDs from `src_addr` on to `dst_addr` on, as a batch of
    /// [`Self::move_huge`] with no TLB flush of its own (the call's [`DeferredFlush`]): up to
    /// `max` of them, within both PMD tables
    /// (whose locks `self` holds), as long as the destination PMD is none and the source maps
    /// the huge zero page or a THP that is anonymous, exclusive, not pinned, of `anon_vma`'s
    /// tree and can be locked without waiting. Both addresses are PMD aligned. Returns how
    /// many PMDs moved; 0 leaves the first one to the per-PMD path (which knows what to do
    /// with anything else, and which error to give).
    ///
    /// PMDs move in ascending order: a THP found pinned after the clearing stays where it was,
    /// and so does every PMD after it. Each moved PMD is what [`Self::move_huge`] writes, and
    /// the deposited PTE table moves with it.
    #[inline(never)]
    #[link_section = ".text.hot.pgmove.huge"]
    pub(crate) fn move_huge_run(
        &mut self,
        vmas: &MoveVmas<'_>,
        dst_addr: u64,
        src_addr: u64,
        max: usize,
        anon_vma: &VmaAnonVmaLock<'_>,
        scratch: &mut RunScratch<'_>,
    ) -> usize {
        let pmd_size = c::PGMOVE_PMD_SIZE as u64;
        let per_table = c::PGMOVE_PTRS_PER_PMD as usize;
        if (src_addr | dst_addr) % pmd_size != 0 {
            return 0;
        }
        // The entries left in each PMD table from the given one on: `self` holds their locks.
        let left = |addr: u64| per_table - ((addr / pmd_size) as usize & (per_table - 1));
        let max = max.min(left(src_addr)).min(left(dst_addr));
        scratch.flush.make_room(max);
        let max = max.min(scratch.flush.room());
        let (dst_vma, mm) = (vmas.dst(), vmas.mm().as_ptr());
        let (src_pmd, dst_pmd) = (self.src.as_ptr(), self.dst.as_ptr());
        let root = anon_vma.root();
        // INVARIANT: folios are added locked, mapped by source PMDs under our locks.
        let mut run = RunFolios::new(scratch.pmds.as_mut_slice(), scratch.folios.as_mut_slice());
        for i in 0..max {
            // SAFETY: `i` is below the entries left in the destination PMD table, which is
            // allocated while the VMAs are locked (`PmdPtr` invariant); we hold its lock.
            let dst = PmdVal(unsafe { c::pgmove_pmdp_get(dst_pmd.add(i)) });
            // SAFETY: as above, for the source PMD table.
            let src = PmdVal(unsafe { c::pgmove_pmdp_get(src_pmd.add(i)) });
            if !dst.is_none() || !src.is_trans_huge() || src.is_devmap() {
                break;
            }
            let folio = if src.is_huge_zero() {
                None
            } else {
                // SAFETY: `src` maps a THP (checked), which the locked entry keeps allocated.
                let folio = unsafe { Folio::from_raw(c::pgmove_pmd_folio(src.0)) };
                if !folio.state().is_movable_huge() {
                    break;
                }
                // SAFETY: the folio stays mapped by this entry, under our lock, until it is
                // moved; `run` unlocks it before that lock goes.
                match unsafe { folio.try_lock_anon_root() } {
                    Some(r) if r == root => NonNull::new(folio.as_ptr()),
                    Some(_) => {
                        // SAFETY: locked just above, not handed out.
                        unsafe { folio.unlock() };
                        break;
                    }
                    None => break,
                }
            };
            if !run.push(HugeEntry { folio, old: src }) {
                break;
            }
        }
        let n = run.len;
        if n == 0 {
            return 0;
        }
        scratch.flush.announce();
        for (i, e) in run.entries_mut().iter_mut().enumerate() {
            let addr = src_addr + i as u64 * pmd_size;
            // SAFETY: an entry of the locked source table, the huge PMD checked above.
            e.old =
                PmdVal(unsafe { c::pgmove_pmdp_huge_get_and_clear(mm, addr as _, src_pmd.add(i)) });
        }
        // No flush here, as in `move_run`: the call's one flush covers these PMDs and the
        // THPs are held until it; the barrier orders the clearing before the pin check
        // (GUP-fast rechecks the PMD after it pins). A pinned THP, and every PMD after it,
        // goes back where it was.
        full_barrier();
        let moved = run.first_pinned();
        for (i, e) in run.entries().iter().enumerate() {
            let (src_i, dst_i) = (
                src_addr + i as u64 * pmd_size,
                dst_addr + i as u64 * pmd_size,
            );
            // SAFETY: entries of the two locked tables (as above).
            let (src_p, dst_p) = unsafe { (src_pmd.add(i), dst_pmd.add(i)) };
            if i >= moved {
                // SAFETY: restores the entry cleared above, under the same lock.
                unsafe { c::pgmove_set_pmd_at(mm, src_i as _, src_p, e.old.0) };
                continue;
            }
            if let Some(f) = e.folio {
                // SAFETY: listed folios are locked and allocated (`RunFolios` invariant).
                let folio = unsafe { Folio::from_raw(f.as_ptr()) };
                // SAFETY: the folio is locked; `MoveVmas` gave the destination an anon_vma.
                unsafe { folio.move_anon_rmap_locked(dst_vma, dst_i) };
            }
            // SAFETY: the cleared entry `e.old` mapped the listed THP, or the huge zero page.
            let new = unsafe { moved_huge_pmd(e.folio, e.old, dst_vma) };
            // SAFETY: both PMD locks are held; the destination is none (checked under them);
            // the source is the huge PMD cleared above.
            unsafe { link_moved_huge_pmd(mm, dst_i, dst_p, src_p, new) };
        }
        scratch
            .flush
            .cleared(src_addr, src_addr + moved as u64 * pmd_size, false);
        run.hold_moved(moved, &mut scratch.flush);
        moved
    }
}

/// The destination PMD for a moved huge PMD, as `move_pages_huge_pmd()` (and mremap) write
/// it: the THP's head page with the destination's protection, dirty and writable; or, with no
/// folio, the huge zero page the cleared entry `old` mapped, read-only.
///
/// # Safety
///
/// `folio` (if any) is the THP that `old` mapped; without it, `old` mapped the huge zero page.
unsafe fn moved_huge_pmd(
    folio: Option<NonNull<bindings::folio>>,
    old: PmdVal,
    dst_vma: &Vma,
) -> bindings::pmd_t {
    // SAFETY: builds an entry for a page the caller vouches for (a THP's head or the huge
    // zero page).
    unsafe {
        match folio {
            Some(f) => {
                c::pgmove_mk_huge_pmd(c::pgmove_folio_page(f.as_ptr()), dst_vma.as_ptr(), true)
            }
            None => c::pgmove_mk_huge_pmd(c::pgmove_pmd_page(old.0), dst_vma.as_ptr(), false),
        }
    }
}

/// Writes the moved huge PMD `new` at `dst_pmd` (for `dst_addr`) and moves the PTE table
/// deposited for a later split of it from `src_pmd`'s table to `dst_pmd`'s.
///
/// # Safety
///
/// The caller holds both PMD locks; `dst_pmd` is none; `src_pmd` held the huge PMD that `new`
/// replaces (cleared now), whose deposited table is still there.
unsafe fn link_moved_huge_pmd(
    mm: *mut bindings::mm_struct,
    dst_addr: u64,
    dst_pmd: *mut bindings::pmd_t,
    src_pmd: *mut bindings::pmd_t,
    new: bindings::pmd_t,
) {
    // SAFETY: as the caller guarantees.
    unsafe {
        c::pgmove_set_pmd_at(mm, dst_addr as _, dst_pmd, new);
        let table = c::pgtable_trans_huge_withdraw(mm, src_pmd);
        c::pgtable_trans_huge_deposit(mm, dst_pmd, table);
    }
}

/// A source PTE table of [`PmdPairLock::move_tables`], mapped and locked under its PMD's lock
/// while its entries are checked, then detached from that PMD and unlocked.
///
/// # Invariants
///
/// `pte` is the table's first entry, mapped by `__pte_offset_map()` (RCU read lock held)
/// until `Drop`; `ptl` is the table's lock, held by us if `locked`.
struct WholeTable {
    pte: NonNull<bindings::pte_t>,
    ptl: NonNull<bindings::spinlock_t>,
    locked: bool,
}

impl WholeTable {
    /// Maps the PTE table that `pmd` (for `addr`) points to and takes its lock, unless it is
    /// one of the PMD locks `pair` holds already. `None` if the PMD holds no table.
    ///
    /// # Safety
    ///
    /// `pmd` is an entry of a PMD table whose lock `pair` holds, for `addr` of `mm`.
    unsafe fn lock(
        mm: *mut bindings::mm_struct,
        pmd: *mut bindings::pmd_t,
        addr: u64,
        pair: &PmdPairLock<'_>,
    ) -> Option<Self> {
        let mut mapped_from = bindings::pmd_t { pmd: 0 };
        // SAFETY: we hold the PMD's lock, so a table it points to stays there while we map
        // it; `__pte_offset_map()` takes the RCU read lock (and fails on anything else).
        let pte = NonNull::new(unsafe { c::__pte_offset_map(pmd, addr as _, &mut mapped_from) })?;
        // SAFETY: `mapped_from` is the value the table was mapped from.
        let ptl = unsafe { c::pgmove_pte_lockptr(mm, &mut mapped_from) };
        let Some(ptl) = NonNull::new(ptl) else {
            // SAFETY: mapped just above.
            unsafe { c::pgmove_pte_unmap(pte.as_ptr()) };
            return None;
        };
        let locked = ptl != pair.dst.lockptr() && ptl != pair.src.lockptr();
        if locked {
            // SAFETY: the table's own lock, after the two PMD locks.
            unsafe { c::pgmove_spin_lock_third(ptl.as_ptr()) };
        }
        // INVARIANT: mapped above; locked if `locked`.
        Some(Self { pte, ptl, locked })
    }

    fn entry_ptr(&self, i: usize) -> *mut bindings::pte_t {
        assert!(i < c::PGMOVE_PTRS_PER_PTE as usize);
        // SAFETY: `i` is within the table, whose first entry `pte` is (type invariant).
        unsafe { self.pte.as_ptr().add(i) }
    }

    /// Drops the table's lock, once the table is detached: nothing else reaches it then.
    fn unlock(&mut self) {
        if self.locked {
            // SAFETY: held by us (type invariant).
            unsafe { c::pgmove_spin_unlock(self.ptl.as_ptr()) };
            self.locked = false;
        }
    }
}

impl Drop for WholeTable {
    fn drop(&mut self) {
        self.unlock();
        // SAFETY: mapped by `__pte_offset_map()` (type invariant); unmapped once.
        unsafe { c::pgmove_pte_unmap(self.pte.as_ptr()) };
    }
}

impl PmdPairLock<'_> {
    /// Moves the whole PTE tables that map `[src_addr, src_addr + n * PMD_SIZE)` so that they
    /// map `[dst_addr, dst_addr + n * PMD_SIZE)`, as mremap's `move_normal_pmd()` does, for
    /// as many tables `n` as can move, up to `max`, to the end of either PMD table, and to
    /// [`TABLES_PER_RUN`]: a table can move when its destination PMD is none and every entry
    /// of it can move: the zero page, a small exclusive anonymous folio of `anon_vma`'s tree
    /// that is not pinned and can be locked without waiting, or (with `allow_src_holes`)
    /// none. Each entry is rewritten as the per-page path writes it (destination protection,
    /// writable, soft-dirty, dirty only if it was) and each folio's rmap moved, so the
    /// result is the per-page path's, with no TLB flush (the call's [`DeferredFlush`] covers
    /// them) and no table allocated. Returns `n`; with 0 nothing changed.
    ///
    /// `vmas` must be exclusive ([`MoveVmas::lock_exclusive`], checked): a page fault could
    /// otherwise find an entry in a moved table through a PMD it read before, and act on it
    /// at the old address (6.12's `handle_pte_fault()` does not recheck the PMD). Rmap
    /// walkers are kept out by the anon_vma tree lock and the folio locks; the hardware and
    /// GUP-fast by the cleared PMD (it rechecks the PMD after it pins; a full barrier orders
    /// the clearing before our pin check).
    /// Each table is detached (its source PMD cleared, under its lock) once its entries are
    /// checked; from then on nothing but us reaches it, so its lock is dropped (only one
    /// table lock is held at a time) and its entries are rewritten in place, each cleared
    /// atomically first (stale TLB paths may set A/D bits until the call's flush), before it
    /// is linked at the destination.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn move_tables(
        &mut self,
        vmas: &MoveVmas<'_>,
        dst_addr: u64,
        src_addr: u64,
        max: usize,
        allow_src_holes: bool,
        anon_vma: &VmaAnonVmaLock<'_>,
        scratch: &mut RunScratch<'_>,
    ) -> usize {
        let ptrs = c::PGMOVE_PTRS_PER_PTE as usize;
        let per_table = c::PGMOVE_PTRS_PER_PMD as usize;
        let pmd_size = c::PGMOVE_PMD_SIZE as u64;
        if !vmas.is_exclusive() || src_addr % pmd_size != 0 || dst_addr % pmd_size != 0 {
            return 0;
        }
        let (src_vma, dst_vma) = (vmas.src(), vmas.dst());
        // Every 2 MiB range lies in its VMA, so no other VMA maps through any of the tables.
        if src_addr < src_vma.start() || dst_addr < dst_vma.start() {
            return 0;
        }
        let in_vma = |addr: u64, vma: &Vma| (vma.end().saturating_sub(addr) / pmd_size) as usize;
        // The entries left in each PMD table from the given one on: `self` holds their locks.
        let left = |addr: u64| per_table - ((addr / pmd_size) as usize & (per_table - 1));
        let max = max
            .min(in_vma(src_addr, src_vma))
            .min(in_vma(dst_addr, dst_vma))
            .min(left(src_addr))
            .min(left(dst_addr))
            .min(scratch.tables())
            .min(TABLES_PER_RUN);
        scratch.flush.make_room(max * ptrs);
        let max = max.min(scratch.flush.room() / ptrs);
        let mm = vmas.mm().as_ptr();
        let (src_pmd, dst_pmd) = (self.src.as_ptr(), self.dst.as_ptr());
        let root = anon_vma.root();
        let mut tables: [Option<WholeTable>; TABLES_PER_RUN] = Default::default();
        let mut src_pmdvals = [PmdVal(bindings::pmd_t { pmd: 0 }); TABLES_PER_RUN];
        // INVARIANT: folios are added locked, mapped by entries of tables we hold: locked,
        // or detached by us (only we reach them).
        scratch.flush.announce();
        let mut run = RunFolios::new(scratch.ptes.as_mut_slice(), scratch.folios.as_mut_slice());
        let mut n = 0;
        while n < max {
            let src_t = src_addr + n as u64 * pmd_size;
            // SAFETY: `n` is below the entries left in both PMD tables, which are allocated
            // while the VMAs are locked (`PmdPtr` invariant); we hold their locks.
            let (dst_p, src_p) = unsafe { (dst_pmd.add(n), src_pmd.add(n)) };
            // SAFETY: as above.
            let (dst_val, src_val) =
                unsafe { (c::pgmove_pmdp_get(dst_p), c::pgmove_pmdp_get(src_p)) };
            if !PmdVal(dst_val).is_none() || !PmdVal(src_val).is_table() {
                break;
            }
            // SAFETY: `src_p` is an entry of the source PMD table, whose lock we hold.
            let Some(mut table) = (unsafe { WholeTable::lock(mm, src_p, src_t, self) }) else {
                break;
            };
            if !list_table(&mut run, &table, src_vma, allow_src_holes, root) {
                // Unlists (and unlocks) what this table listed; the run ends before it.
                run.truncate(n * ptrs);
                break;
            }
            // Detach it; stale TLB entries of the source range go with the call's flush.
            // SAFETY: both PMD locks and the table's lock are held; `src_p` points to it.
            unsafe { c::pgmove_pmd_clear(src_p) };
            table.unlock();
            tables[n] = Some(table);
            src_pmdvals[n] = PmdVal(src_val);
            n += 1;
        }
        if n == 0 {
            return 0;
        }
        // No flush here: the call's one flush covers these PMDs (paging-structure caches
        // too) and the folios are held until it. Until then a CPU may still reach a table
        // through a stale path of the source range, read its entries and set accessed or
        // dirty bits in them: `rewrite_table` clears each entry atomically before it writes
        // it. GUP-fast rechecks the PMD after it pins; the barrier orders the PMDs' clearing
        // before the pin check, so a pin taken before is seen. A pinned folio's table, and
        // every table after it, goes back unchanged; the per-page path will stop at the
        // pinned page.
        let moved = (run.first_pinned() / ptrs).min(n);
        let restored = moved as u64 * pmd_size;
        // SAFETY: restores the PMDs cleared above (`moved <= n <= max`), under the same locks.
        unsafe {
            link_tables(
                mm,
                src_addr + restored,
                src_pmd.add(moved),
                &src_pmdvals[moved..n],
            )
        };
        run.truncate(moved * ptrs);
        for (t, table) in tables.iter().enumerate().take(moved) {
            if let Some(table) = table {
                let entries = &run.entries()[t * ptrs..(t + 1) * ptrs];
                let dst_t = dst_addr + t as u64 * pmd_size;
                // SAFETY: the table's entries are listed, their folios held until the flush
                // (below); no PMD points to the table until it is linked at the destination
                // below, so only we and stale TLB paths reach it.
                unsafe { rewrite_table(mm, entries, table, dst_vma, dst_t) };
            }
        }
        // SAFETY: both PMD locks are held and the destination PMDs are none (checked under
        // them, `moved <= n`); the tables, with their entries, now map the destination range.
        unsafe { link_tables(mm, dst_addr, dst_pmd, &src_pmdvals[..moved]) };
        scratch
            .flush
            .cleared(src_addr, src_addr + moved as u64 * pmd_size, true);
        run.hold_moved(moved * ptrs, &mut scratch.flush);
        // `run` unlocks the folios, then `tables` are unmapped, before the PMD locks go.
        drop(run);
        drop(tables);
        moved
    }
}

/// Points the PMDs from `pmd` on (for `addr` on) at the detached PTE tables `tables` holds,
/// one each: putting tables back at the source, or linking them at the destination.
///
/// # Safety
///
/// `pmd` and the `tables.len() - 1` entries after it lie in one PMD table whose lock the
/// caller holds, each none (cleared by the caller, or checked under that lock); each of
/// `tables` is a PTE table only the caller reaches, whose entries belong at its new place.
unsafe fn link_tables(
    mm: *mut bindings::mm_struct,
    addr: u64,
    pmd: *mut bindings::pmd_t,
    tables: &[PmdVal],
) {
    let pmd_size = c::PGMOVE_PMD_SIZE as u64;
    for (t, val) in tables.iter().enumerate() {
        // SAFETY: an entry of the locked PMD table, none, for the detached table (caller).
        unsafe {
            c::pgmove_set_pmd_at(mm, (addr + t as u64 * pmd_size) as _, pmd.add(t), val.raw())
        };
    }
}

/// Rewrites in place each entry of a detached `table` (listed in `entries`, in order) as
/// [`write_moved_entry`] does, for the destination range from `dst_addr` on.
///
/// # Safety
///
/// `entries` are listed in a [`RunFolios`] and are the table's, which no PMD points to any
/// more; until the caller links it at `dst_addr` only the caller reaches it, and stale TLB
/// paths of its old range, through which the hardware may set accessed or dirty bits (each
/// entry is cleared atomically before it is rewritten); the folios are held until the flush
/// of that range ([`DeferredFlush`]).
#[inline(never)]
#[link_section = ".text.hot.pgmove"]
unsafe fn rewrite_table(
    mm: *mut bindings::mm_struct,
    entries: &[RunEntry],
    table: &WholeTable,
    dst_vma: &Vma,
    dst_addr: u64,
) {
    let page = c::PGMOVE_PAGE_SIZE as u64;
    for (i, e) in entries.iter().enumerate() {
        if e.kind == PteKind::None {
            continue;
        }
        // SAFETY: listed (caller); rewritten in place, in a table only we (and stale TLB
        // paths, which the atomic clearing of the entry accounts for) reach.
        unsafe {
            write_moved_entry(
                mm,
                e,
                LastValue::InPlace,
                dst_vma,
                dst_addr + i as u64 * page,
                table.entry_ptr(i),
            )
        };
    }
}

/// Lists every entry of the locked source `table` (of `src_vma`) in `run`, as
/// [`PmdPairLock::move_tables`] needs them: the zero page, a folio that
/// [`lock_movable_folio`] locks, or (with `allow_src_holes`) none. False at the first entry
/// that is none of these, or when `run` is full; what this table listed stays listed.
#[inline(never)]
#[link_section = ".text.hot.pgmove"]
fn list_table(
    run: &mut RunFolios<'_, RunEntry>,
    table: &WholeTable,
    src_vma: &Vma,
    allow_src_holes: bool,
    root: NonNull<bindings::anon_vma>,
) -> bool {
    for i in 0..c::PGMOVE_PTRS_PER_PTE as usize {
        // SAFETY: the entry lies in the mapped table (`entry_ptr` checks), which the caller
        // holds locked and then detaches, keeping it until `run` is gone; a folio the lookup
        // locks goes to `lock_movable_folio()`, which lists it in `run` or unlocks it.
        let (kind, val, folio) = unsafe { read_src_entry(src_vma, table.entry_ptr(i)) };
        let folio = match kind {
            PteKind::None if allow_src_holes => None,
            PteKind::Zero => None,
            PteKind::Page => match lock_movable_folio(folio, root) {
                Some(folio) => Some(folio),
                None => return false,
            },
            PteKind::None | PteKind::Other => return false,
        };
        if !run.push(RunEntry {
            folio,
            kind,
            old: val,
        }) {
            return false;
        }
    }
    true
}

impl Drop for PmdPairLock<'_> {
    fn drop(&mut self) {
        double_unlock(self.dst.lockptr(), self.src.lockptr());
    }
}
