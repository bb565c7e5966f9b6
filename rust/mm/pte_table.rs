// SPDX-License-Identifier: GPL-2.0

//! Whole PTE tables: locking one to look at all its entries, detaching an empty one from its
//! PMD, and freeing detached tables after a TLB flush and an RCU grace period.
//!
//! # The protocol (6.12, x86_64)
//!
//! Since 6.5 every walker that maps a PTE table either holds the PMD lock, or maps it under
//! RCU (`pte_offset_map*()`) and, before it writes an entry, takes the PTE lock and either
//! rechecks the PMD (`pte_offset_map_lock()`) or checks that the entry is still the non-none
//! value it decided on (`pte_same()`). A table may therefore be detached under the mmap
//! *read* lock, as khugepaged's `retract_page_tables()` and 6.14's `mm/pt_reclaim.c` do:
//!
//! 1. the caller holds the mmap read lock ([`super::mmap::MmapReadGuard`]): the PMD table
//!    stays allocated, and mremap, fork, munmap's `free_pgtables()` and khugepaged's
//!    collapse (all under the mmap write lock) are kept out;
//! 2. [`LockedPteTable::lock`] takes the PMD lock (no `pte_alloc()` can install or a THP
//!    collapse replace the table meanwhile), checks the PMD still points to a PTE table,
//!    maps it and takes its PTE lock, nested, when it is a different lock;
//! 3. under both locks the caller looks at all 512 entries; [`LockedPteTable::zap_zero_pages`]
//!    clears mappings of the shared zero page (with `page_table_check` accounting) and
//!    flushes the TLB over the table's range before the locks are dropped: a CPU could
//!    otherwise keep reading the zero page through a stale entry after another thread
//!    faulted in, wrote and published a new page at that address;
//! 4. [`LockedPteTable::detach`] checks again, under the locks, that every entry is none,
//!    clears the PMD, drops both locks and hands the table to a [`FreedTables`] batch;
//! 5. [`FreedTables::flush`] flushes the TLB over the batch's range with `freed_tables`
//!    set (so lazy-TLB CPUs and IOMMU paging-structure caches drop the table too),
//!    subtracts each table from the mm's page-table bytes (`VmPTE`), and frees it with
//!    `pte_free_defer()`, after an RCU grace period, so a walker that mapped it before
//!    step 4 reads a valid, all-none table. GUP-fast is one of those walkers: its IRQ-off
//!    section is an RCU read-side section, which the grace period waits for. The flush's
//!    IPI is not what holds it off: with `CONFIG_KVM_GUEST`'s paravirtual flush a preempted
//!    vCPU is not interrupted at all.
//!
//! Never `tlb_remove_table()`/`pte_free_tlb()`: on 6.12 x86 without PARAVIRT they free right
//! after the IPI, not after RCU, and `pte_offset_map()` readers would touch freed memory.
//!
//! Why all-none is required: the 6.12 walkers that map without the PMD lock and do not
//! recheck the PMD (`handle_pte_fault()`, `page_vma_mapped_walk()`, UFFDIO_MOVE's source)
//! only act on an entry they found non-none and find again with `pte_same()`; a detached
//! all-none table gives them nothing. Writers of none entries (`do_anonymous_page()`,
//! `wp_page_copy()`, `set_pte_range()`, pgmove's MOVE) recheck the PMD. The exceptions are
//! 6.12's UFFDIO_MOVE: its destination is written without a PMD recheck, and its source PMD
//! is re-read with `WARN_ON_ONCE(pmd_none())` after the table was mapped, and a source may
//! be any private anonymous VMA of the mm. RECLAIM therefore frees nothing in an mm while
//! any of its VMAs is registered with a userfaultfd (`MmapReadGuard::mm_has_userfaultfd`).
//!
//! Lock order: mmap read lock, PMD lock, PTE lock (`SINGLE_DEPTH_NESTING`), as
//! `retract_page_tables()`.

use super::{
    pgtable::{spin_contended, PmdPtr, PmdVal, PteVal},
    MayBlock, Mm,
};
use crate::c;
use core::{marker::PhantomData, ptr::NonNull};
use kernel::bindings;

/// Entries of a PTE table per kind, as counted by [`LockedPteTable::census`].
#[derive(Default, Clone, Copy)]
pub(crate) struct Census {
    /// `pte_none()` entries.
    pub(crate) none: u32,
    /// Present mappings of the shared zero page.
    pub(crate) zero_page: u32,
    /// Anything else: present pages, swap, migration and device entries, PTE markers.
    /// The count stops at the first such entry (a table with one is kept anyway).
    pub(crate) in_use: u32,
}

/// A PTE table with its PMD lock and its PTE lock held, mapped.
///
/// # Invariants
///
/// The PMD lock of `pmd` (`pmd_ptl`) and the table's lock `ptl` (taken once if they are the
/// same lock) are held until `Drop`; `pmd` points to the table whose first entry `pte` maps
/// and whose value is `pmdval`, which cannot change while the PMD lock is held. `start` is
/// the first address the table maps. The table is mapped (RCU read lock held) until `Drop`.
pub(crate) struct LockedPteTable<'t> {
    pmd: &'t PmdPtr<'t>,
    pmd_ptl: NonNull<bindings::spinlock_t>,
    ptl: NonNull<bindings::spinlock_t>,
    pte: NonNull<bindings::pte_t>,
    pmdval: PmdVal,
    start: u64,
    _mb: PhantomData<&'t MayBlock>,
}

impl<'t> LockedPteTable<'t> {
    /// Locks the PTE table that `pmd` points to, which maps `[start, start + PMD_SIZE)`;
    /// `None` if the PMD no longer points to a PTE table (it became none, a THP or a
    /// migration entry).
    pub(crate) fn lock(pmd: &'t PmdPtr<'t>, start: u64, _mb: &'t MayBlock) -> Option<Self> {
        let pmd_ptl = pmd.lockptr();
        // SAFETY: the PMD table stays allocated while `pmd` lives (`PmdPtr` invariant).
        unsafe { c::pgmove_spin_lock(pmd_ptl.as_ptr()) };
        let mut pmdval = pmd.get().raw();
        let mut mapped = None;
        if PmdVal(pmdval).is_table() {
            // SAFETY: the PMD lock is held and the entry points to a PTE table, so the table
            // cannot be detached or replaced while we map it; `__pte_offset_map()` takes the
            // RCU read lock, dropped by `pte_unmap()` in `Drop`.
            let pte = unsafe { c::__pte_offset_map(pmd.as_ptr(), start as _, &mut pmdval) };
            // SAFETY: `pmdval` is the value the table was mapped from.
            let ptl = unsafe { c::pgmove_pte_lockptr(pmd.mm().as_ptr(), &mut pmdval) };
            mapped = NonNull::new(pte).zip(NonNull::new(ptl));
        }
        let Some((pte, ptl)) = mapped else {
            // SAFETY: taken above.
            unsafe { c::pgmove_spin_unlock(pmd_ptl.as_ptr()) };
            return None;
        };
        if ptl != pmd_ptl {
            // SAFETY: the table's own lock, after its PMD's lock, as `retract_page_tables()`.
            unsafe { c::pgmove_spin_lock_nested(ptl.as_ptr()) };
        }
        // INVARIANT: both locks held, table mapped from `pmdval` under the PMD lock.
        Some(Self {
            pmd,
            pmd_ptl,
            ptl,
            pte,
            pmdval: PmdVal(pmdval),
            start,
            _mb: PhantomData,
        })
    }

    /// Whether another task waits for the table's lock or its PMD's (for a race point).
    pub(crate) fn contended(&self) -> bool {
        // Both locks are held by us (type invariant), as `spin_contended()` requires.
        spin_contended(self.ptl) || spin_contended(self.pmd_ptl)
    }

    /// The `i`-th entry (`i < PTRS_PER_PTE`), stable while the locks are held.
    fn entry(&self, i: usize) -> PteVal {
        assert!(i < c::PGMOVE_PTRS_PER_PTE as usize);
        // SAFETY: the table is mapped (type invariant) and has `PTRS_PER_PTE` entries.
        PteVal(unsafe { c::pgmove_ptep_get(self.pte.as_ptr().add(i)) })
    }

    /// Counts the table's entries by kind, up to the first entry in use.
    pub(crate) fn census(&self) -> Census {
        let mut census = Census::default();
        for i in 0..c::PGMOVE_PTRS_PER_PTE as usize {
            let pte = self.entry(i);
            if pte.is_none() {
                census.none += 1;
            } else if pte.is_present() && pte.is_zero_page() {
                census.zero_page += 1;
            } else {
                census.in_use = 1;
                break;
            }
        }
        census
    }

    /// Clears every mapping of the shared zero page, then flushes the TLB over the table's
    /// range, before the locks are dropped. The zero page has no rmap and is not counted in
    /// RSS; `ptep_get_and_clear()` keeps `page_table_check` in step.
    ///
    /// The flush cannot wait for the batch: once the locks are dropped another thread may
    /// fault in a new page at a zapped address (the kernel sees none there and flushes
    /// nothing), write it and publish the write, and a CPU still holding the old entry would
    /// read zeros after seeing the publication. The caller ends the mmu-notifier range that
    /// covers the table after this.
    pub(crate) fn zap_zero_pages(&mut self) {
        let mm = self.pmd.mm().as_ptr();
        let mut zapped = 0;
        for i in 0..c::PGMOVE_PTRS_PER_PTE as usize {
            let pte = self.entry(i);
            if pte.is_present() && pte.is_zero_page() {
                let addr = self.start + (i as u64) * c::PGMOVE_PAGE_SIZE as u64;
                // SAFETY: both locks are held; the entry maps the zero page, which nothing
                // else refers to through this entry.
                unsafe { c::pgmove_ptep_get_and_clear(mm, addr as _, self.pte.as_ptr().add(i)) };
                zapped += 1;
            }
        }
        if zapped > 0 {
            let end = self.start + c::PGMOVE_PMD_SIZE as u64;
            // SAFETY: `mm` is alive; flushing with spinlocks held is allowed (IRQs are on),
            // as `ptep_clear_flush()` under the PTE lock does. `freed_tables` is more than
            // the zapped entries need, and costs no extra round.
            unsafe { c::pgmove_flush_tlb_mm_range(mm, self.start as _, end as _, true) };
        }
    }

    /// Detaches the table from its PMD if every entry is none (checked here, under the
    /// locks), and gives it to `batch` to be flushed and freed. `Err(self)` otherwise.
    pub(crate) fn detach(self, batch: &mut FreedTables<'_>) -> Result<(), Self> {
        let census = self.census();
        if census.none != c::PGMOVE_PTRS_PER_PTE || !core::ptr::eq(self.pmd.mm(), batch.mm) {
            return Err(self);
        }
        // SAFETY: both locks are held, so no walker can be installing an entry or mapping
        // the table through the PMD lock; walkers that mapped it under RCU keep a valid
        // (all-none) table until `pte_free_defer()`'s grace period ends.
        unsafe { c::pgmove_pmd_clear(self.pmd.as_ptr()) };
        // SAFETY: `pmdval` pointed to this PTE table (type invariant).
        let table = unsafe { c::pgmove_pmd_pgtable(self.pmdval.raw()) };
        let start = self.start;
        // Unlock first: adding may flush a full batch, which waits for TLB-flush IPIs.
        drop(self);
        batch.add(table, start);
        Ok(())
    }
}

impl Drop for LockedPteTable<'_> {
    fn drop(&mut self) {
        // SAFETY: held and mapped by us (type invariant); released in the reverse order.
        unsafe {
            if self.ptl != self.pmd_ptl {
                c::pgmove_spin_unlock(self.ptl.as_ptr());
            }
            c::pgmove_pte_unmap(self.pte.as_ptr());
            c::pgmove_spin_unlock(self.pmd_ptl.as_ptr());
        }
    }
}

/// How many detached tables a batch holds before it flushes.
const BATCH: usize = 64;

/// PTE tables detached from `mm`'s page tables, waiting for the TLB flush that lets them be
/// freed. Dropping the batch flushes it, so a detached table is never leaked.
///
/// # Invariants
///
/// `tables[..len]` are PTE tables of `mm` that no PMD points to any more, each detached by
/// [`LockedPteTable::detach`] and not yet freed; they map addresses inside `[start, end)`.
pub(crate) struct FreedTables<'m> {
    mm: &'m Mm,
    tables: [*mut bindings::page; BATCH],
    len: usize,
    start: u64,
    end: u64,
}

impl<'m> FreedTables<'m> {
    /// An empty batch for tables of `mm`.
    pub(crate) fn new(mm: &'m Mm) -> Self {
        Self {
            mm,
            tables: [core::ptr::null_mut(); BATCH],
            len: 0,
            start: u64::MAX,
            end: 0,
        }
    }

    fn add(&mut self, table: *mut bindings::page, start: u64) {
        if self.len == BATCH {
            self.flush();
        }
        self.tables[self.len] = table;
        self.len += 1;
        self.start = self.start.min(start);
        self.end = self.end.max(start + c::PGMOVE_PMD_SIZE as u64);
    }

    /// Flushes the TLB for the batch's range (with `freed_tables`), then for each table
    /// lowers the mm's page-table bytes and frees it after an RCU grace period.
    pub(crate) fn flush(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: `mm` is alive; the flush may be called in any context that may send IPIs
        // (process context, IRQs on). `freed_tables` makes it reach lazy-TLB CPUs too.
        unsafe {
            c::pgmove_flush_tlb_mm_range(self.mm.as_ptr(), self.start as _, self.end as _, true)
        };
        for table in &self.tables[..self.len] {
            // SAFETY: by the type invariant each table is detached, unreachable through the
            // page tables after the flush above, counted in `mm`'s page-table bytes, and
            // freed exactly once here; `pte_free_defer()` waits for an RCU grace period, so
            // walkers that mapped it under RCU finish first.
            unsafe {
                c::pgmove_mm_dec_nr_ptes(self.mm.as_ptr());
                bindings::pte_free_defer(self.mm.as_ptr(), *table);
            }
        }
        // INVARIANT: all freed; the batch is empty again.
        self.len = 0;
        self.start = u64::MAX;
        self.end = 0;
    }
}

impl Drop for FreedTables<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}
