// SPDX-License-Identifier: GPL-2.0

//! The two locks of a move, held together, and the primitive moves of one entry under them:
//! [`PtePairLock`] (source and destination PTE locks: [`PtePairLock::move_present`],
//! [`PtePairLock::move_large`], [`PtePairLock::move_zero`], [`PtePairLock::move_swap`]) and
//! [`PmdPairLock`] (source and destination PMD locks: [`PmdPairLock::move_huge`]). The
//! batched moves under the same locks live in `run.rs`, `huge_run.rs` and `whole_table.rs`.
//!
//! # Invariants
//!
//! Each primitive move checks its own preconditions under the locks: both entries are still
//! the values the caller decided on (`pte_same()`/`pmd_same()`), the destination PMD still
//! points to the mapped table, and the folio given is the one mapped at the source, is
//! exclusive and not pinned (checked again after the entry is cleared, when GUP-fast may
//! have pinned it: the entry is then put back). A caller cannot make them map a page at the
//! wrong place. These per-entry moves flush the TLB themselves (`ptep_clear_flush()`), as
//! UFFDIO_MOVE does.
//!
//! Lock order: page-table spinlocks (item 5 of `super::super`), in lock-address order
//! ([`double_lock`]); the folio lock and the anon_vma lock are the caller's, taken before.

use super::*;

/// The locks of a destination and a source PTE table, held together.
///
/// # Invariants
///
/// `dst.ptl` and `src.ptl` are held by us (once if equal) until `Drop`; with `kept`, that
/// side's lock belongs to the [`KeptPteLock`] its map is borrowed from, which holds it for
/// longer, and `Drop` releases the other side's only (if it is another lock).
pub(crate) struct PtePairLock<'m> {
    pub(super) dst: &'m PteMap<'m>,
    pub(super) src: &'m PteMap<'m>,
    pub(super) kept: Option<KeptSide>,
}

/// The side of a [`PtePairLock`] whose table a [`KeptPteLock`] keeps locked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeptSide {
    Src,
    Dst,
}

impl<'m> PtePairLock<'m> {
    /// `double_pt_lock()`.
    pub(crate) fn lock(dst: &'m PteMap<'m>, src: &'m PteMap<'m>) -> Self {
        double_lock(dst.ptl, src.ptl);
        // INVARIANT: both taken just above.
        Self {
            dst,
            src,
            kept: None,
        }
    }

    /// Whether another task waits for either lock (for a race point).
    pub(crate) fn contended(&self) -> bool {
        spin_contended(self.dst.ptl) || spin_contended(self.src.ptl)
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

impl Drop for PtePairLock<'_> {
    fn drop(&mut self) {
        // INVARIANT upheld: releases exactly what `lock` (or `KeptPteLock`) took.
        let (dst, src) = (self.dst.ptl, self.src.ptl);
        let other = match self.kept {
            None => return double_unlock(dst, src),
            Some(KeptSide::Src) => dst,
            Some(KeptSide::Dst) => src,
        };
        if dst != src {
            // SAFETY: taken for this pair by `KeptPteLock`; the kept side's lock stays.
            unsafe { c::pgmove_spin_unlock(other.as_ptr()) };
        }
    }
}

/// The locks of a destination and a source PMD, held together, for a whole-PMD move.
///
/// # Invariants
///
/// The PMD locks of `dst` and `src` are held by us (once if equal) until `Drop`.
pub(crate) struct PmdPairLock<'p> {
    pub(super) dst: &'p PmdPtr<'p>,
    pub(super) src: &'p PmdPtr<'p>,
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

    /// Whether another task waits for either PMD lock (for a race point).
    pub(crate) fn contended(&self) -> bool {
        spin_contended(self.dst.lockptr()) || spin_contended(self.src.lockptr())
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
}

impl Drop for PmdPairLock<'_> {
    fn drop(&mut self) {
        double_unlock(self.dst.lockptr(), self.src.lockptr());
    }
}

/// Whether another task waits for `lock`, which the caller holds (`spin_is_contended()`).
pub(crate) fn spin_contended(lock: NonNull<bindings::spinlock_t>) -> bool {
    // SAFETY: the caller holds the lock, so it is a live, initialised spinlock; this only
    // reads its state.
    unsafe { c::pgmove_spin_is_contended(lock.as_ptr()) }
}
