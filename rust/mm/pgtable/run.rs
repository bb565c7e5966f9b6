// SPDX-License-Identifier: GPL-2.0

//! Runs of entries: the scratch space of a call ([`RunScratch`], which also owns the call's
//! [`DeferredFlush`]), the listed entries of a batch with their folios locked
//! ([`RunFolios`]), and [`PtePairLock::move_run`], a run of PTEs moved under one pair of
//! PTE locks with no TLB flush of its own.
//!
//! # Invariants
//!
//! A [`RunFolios`] lists entries whose folios it holds locked (or none: the zero page, a
//! hole), each mapped by a source entry under a lock the caller holds or in a table only the
//! caller reaches; it unlocks each exactly once (truncated, or dropped). Entries of a run are
//! cleared with atomic exchanges, then (after a full barrier) checked for pins; a pinned
//! folio and every entry after it go back, so pages move in ascending order. The folios of
//! the entries that moved are held by the call's [`DeferredFlush`] until its flush.
//!
//! Lock order: the source VMA's anon_vma tree write lock (the caller's), then the PTE-lock
//! pair; folios are only tried under them (never waited for).

use super::*;

/// One entry of a run (or of a whole table) being moved: what the source entry held and the
/// folio it maps, locked by the [`RunFolios`] list it is in (`None` for the shared zero page
/// and for a hole).
#[derive(Clone, Copy)]
pub(super) struct RunEntry {
    pub(super) folio: Option<NonNull<bindings::folio>>,
    pub(super) kind: PteKind,
    pub(super) old: PteVal,
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
pub(super) struct HugeEntry {
    pub(super) folio: Option<NonNull<bindings::folio>>,
    pub(super) old: PmdVal,
}

impl HugeEntry {
    const EMPTY: Self = Self {
        folio: None,
        old: PmdVal(bindings::pmd_t { pmd: 0 }),
    };
}

/// An entry of a batch, whose folio (if any) the batch holds locked.
pub(super) trait Batched: Copy {
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

/// Room for one batch's entries, grown before any lock is taken to what the batches of the
/// call meet, and reused: PTEs (a run never crosses a PTE table, so at most a table's worth;
/// whole tables at most [`TABLES_PER_RUN`] tables' worth) and huge PMDs (at most a PMD
/// table's worth). A call that meets only THPs allocates no room for PTEs, and one that
/// moves a few pages none for a whole table.
pub(crate) struct RunScratch<'m> {
    pub(super) ptes: KVVec<RunEntry>,
    pub(super) pmds: KVVec<HugeEntry>,
    /// The folios of the listed entries, side by side, for the one-call pin check.
    pub(super) folios: KVVec<Option<NonNull<bindings::folio>>>,
    /// The TLB flush the runs owe for the source entries they cleared, and the folios held
    /// until it (one shootdown round per call).
    pub(crate) flush: DeferredFlush<'m>,
}

/// The most whole PTE tables [`PmdPairLock::move_tables`] moves under one pair of PMD locks.
pub(crate) const TABLES_PER_RUN: usize = 8;

/// Grows `v` to at least `n` copies of `empty` (a failed allocation leaves it shorter: the
/// batch is then shorter, or left to the per-page path).
fn grow_to<E: Copy>(v: &mut KVVec<E>, n: usize, empty: E) {
    if v.len() < n {
        let _ = v.extend_with(n - v.len(), empty, GFP_KERNEL);
    }
}

impl<'m> RunScratch<'m> {
    /// Room for the batches of moves in `mm`; nothing is allocated until a batch asks for
    /// it ([`Self::reserve_ptes`], [`Self::reserve_pmds`]).
    pub(crate) fn new(mm: &'m Mm) -> Self {
        Self {
            ptes: KVVec::new(),
            pmds: KVVec::new(),
            folios: KVVec::new(),
            flush: DeferredFlush::new(mm),
        }
    }

    /// Makes room, if the memory can be had, for a batch of up to `n` PTEs (capped at
    /// [`TABLES_PER_RUN`] tables' worth) and for holding `hold` more folios until the flush
    /// (the caller passes the pages left in its request: the room grows once to what the
    /// request needs, and doubles across a MOVEV's entries). Allocates (`GFP_KERNEL`), which
    /// `&mut MayBlock` allows: no table mapped, no spinlock held.
    pub(crate) fn reserve_ptes(&mut self, n: usize, hold: usize, mb: &mut MayBlock) {
        let n = n.min(TABLES_PER_RUN * c::PGMOVE_PTRS_PER_PTE as usize);
        grow_to(&mut self.ptes, n, RunEntry::EMPTY);
        grow_to(&mut self.folios, n, None);
        self.flush.reserve(hold, mb);
    }

    /// Makes room, if the memory can be had, for a batch of up to `n` huge PMDs (capped at
    /// a PMD table's worth). Allocates, like [`Self::reserve_ptes`].
    pub(crate) fn reserve_pmds(&mut self, n: usize, _mb: &mut MayBlock) {
        let n = n.min(c::PGMOVE_PTRS_PER_PMD as usize);
        grow_to(&mut self.pmds, n, HugeEntry::EMPTY);
        grow_to(&mut self.folios, n, None);
    }

    /// How many PTEs a run may have.
    pub(crate) fn capacity(&self) -> usize {
        self.ptes.len()
    }

    /// How many whole PTE tables a run may have.
    pub(super) fn tables(&self) -> usize {
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
pub(super) struct RunFolios<'s, E: Batched> {
    slots: &'s mut [E],
    /// `folios[i]` is `slots[i].folio()`, for `i < len`.
    folios: &'s mut [Option<NonNull<bindings::folio>>],
    pub(super) len: usize,
}

impl<'s, E: Batched> RunFolios<'s, E> {
    pub(super) fn new(
        slots: &'s mut [E],
        folios: &'s mut [Option<NonNull<bindings::folio>>],
    ) -> Self {
        // INVARIANT: no entry listed yet.
        Self {
            slots,
            folios,
            len: 0,
        }
    }

    /// Holds the folios of the first `n` listed entries (those that moved) in `flush`, until
    /// it flushes the source entries that mapped them.
    pub(super) fn hold_moved(&self, n: usize, flush: &mut DeferredFlush<'_>) {
        for folio in self.folios[..n.min(self.len)].iter().flatten() {
            // SAFETY: listed folios are locked and allocated (type invariant); the caller
            // made room for the run (`DeferredFlush::make_room`, at most that many listed).
            unsafe { flush.hold(*folio) };
        }
    }

    /// The index of the first listed folio that may be pinned (`folio_maybe_dma_pinned()`),
    /// `len` if none: one call for the whole batch.
    #[inline(always)]
    pub(super) fn first_pinned(&self) -> usize {
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

    pub(super) fn entries(&self) -> &[E] {
        &self.slots[..self.len]
    }

    /// Unlists the entries from the `n`th on, unlocking their folios (in one call).
    pub(super) fn truncate(&mut self, n: usize) {
        if n >= self.len {
            return;
        }
        let unlisted = &self.folios[n..self.len];
        crate::race::atomic(Point::BatchUnlock, || {
            // SAFETY: as below: listed folios are locked and allocated.
            unsafe {
                c::pgmove_folios_have_waiters(
                    unlisted.as_ptr().cast::<*mut bindings::folio>().cast_mut(),
                    unlisted.len() as _,
                )
            }
        });
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

    pub(super) fn entries_mut(&mut self) -> &mut [E] {
        &mut self.slots[..self.len]
    }

    /// Adds an entry whose folio (if any) the caller locked; false if there is no room (the
    /// batch reserved what its run may list, less if that memory could not be had), and
    /// then the folio is unlocked here.
    pub(super) fn push(&mut self, entry: E) -> bool {
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
pub(super) fn lock_movable_folio(
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
pub(super) enum LastValue {
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
pub(super) unsafe fn write_moved_entry(
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
        crate::race::atomic(Point::RunListed, || self.contended());
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
