// SPDX-License-Identifier: GPL-2.0

//! Runs of huge PMDs: [`PmdPairLock::move_huge_run`] moves PMD-mapped THPs (and the huge zero
//! page) under one pair of PMD-table locks with one TLB flush at the end of the run (not
//! deferred to the end of the call: see there), and the helpers that build and link a moved
//! huge PMD (with its deposited PTE table).
//!
//! # Invariants
//!
//! As for PTE runs (`run.rs`): the listed THPs are locked and of the source VMA's anon_vma
//! tree, cleared atomically, checked for pins after a full barrier (a pinned THP and every
//! PMD after it go back); the run's range is flushed at its end, with the call's
//! [`DeferredFlush`], before the locks go (so no THP needs holding). Both
//! addresses are PMD aligned and every PMD of the run lies in the two locked PMD tables.
//!
//! Lock order: the anon_vma tree write lock (the caller's), then both PMD-table locks.

use super::*;

impl PmdPairLock<'_> {
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
        crate::race::atomic(Point::HugeRunListed, || self.contended());
        scratch.flush.announce();
        for (i, e) in run.entries_mut().iter_mut().enumerate() {
            let addr = src_addr + i as u64 * pmd_size;
            // SAFETY: an entry of the locked source table, the huge PMD checked above.
            e.old =
                PmdVal(unsafe { c::pgmove_pmdp_huge_get_and_clear(mm, addr as _, src_pmd.add(i)) });
        }
        // No flush yet (one for the whole run, at its end); the barrier orders the clearing
        // before the pin check (GUP-fast rechecks the PMD after it pins). A pinned THP, and
        // every PMD after it, goes back where it was.
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
        // A THP run pays its flush now, before its locks go: THPs held to the end of the call
        // would make another task's split fail (EBUSY) meanwhile, and a fault at the source
        // could map 4 kB pages where another CPU still caches the 2 MiB entry. One round per
        // run of up to 512 THPs (a MOVE of contiguous THPs: one). The THPs need no reference
        // for it: each stays mapped at its destination under the PMD lock held until then.
        scratch.flush.flush();
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
pub(super) unsafe fn moved_huge_pmd(
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
pub(super) unsafe fn link_moved_huge_pmd(
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
