// SPDX-License-Identifier: GPL-2.0

//! The TLB flush that MOVE's batched paths owe for the source entries they cleared, paid
//! once per ioctl instead of once per run.
//!
//! A batched run (a PTE run, a run of whole PTE tables, a run of THPs) clears its source
//! entries under its page-table locks and writes the destination at once; the flush of the
//! source range is recorded in a [`DeferredFlush`] and done when the batch is flushed: when
//! the ioctl ends (the batch is dropped), before the call drops its VMA locks (a moved table
//! must not be filled by others while a CPU may still reach it from the source), at the end
//! of a THP run (no THP is held past its run), when the batch is full, and before a split.
//! This is `mmu_gather`'s model:
//!
//! * Every folio whose source entry was cleared and not yet flushed is *held* (a reference,
//!   `folio_get()`), so it cannot be freed, reused or migrated (migration fails on the extra
//!   reference) while a stale TLB entry of another CPU may still reach it through the source
//!   address; such an entry reaches that folio's own data, never another page's. Only
//!   after the flush are the references dropped.
//! * The flush covers every source range the batch recorded (their union: one shootdown
//!   round), with `freed_tables` when a PMD that pointed to a PTE table was cleared, so
//!   that paging-structure caches (and lazy-TLB CPUs) drop the old path to the moved table.
//! * Nothing is freed by MOVE in the meantime: a moved PTE table is linked again at the
//!   destination; tables that RECLAIM_SRC frees go through their own flush (`pte_table`).
//!
//! What the batched paths do instead of flushing before they write the destination (see
//! `pgtable.rs` and Documentation/move.rst, "One shootdown round per call"):
//!
//! * The pin check needs no flush: entries are cleared with an atomic exchange, then a full
//!   barrier ([`full_barrier`]), then `folio_maybe_dma_pinned()`; GUP-fast pins, then
//!   (after its barrier in `try_grab_folio_fast()`) rechecks the PMD and the PTE. Either we
//!   see its pin (the entry goes back) or it sees the cleared entry (it drops the pin):
//!   the argument of `__folio_try_share_anon_rmap()` in include/linux/rmap.h.
//! * The hardware can set a dirty bit through a stale entry only if the entry it cached was
//!   already dirty (x86 sets A/D with a locked update of the entry in memory and faults if
//!   the entry is no longer present), so the value cleared atomically is final; entries of
//!   a detached table are therefore cleared atomically too before they are rewritten.
//!
//! Lock order: none of its own. Recording and holding happen under the page-table locks;
//! [`DeferredFlush::flush`] sends IPIs and puts folios, in process context with IRQs on,
//! under any of the module's locks or none.

use super::{MayBlock, Mm};
use crate::c;
use core::ptr::NonNull;
use kernel::{
    alloc::{flags::GFP_NOWAIT, KVVec},
    bindings,
    prelude::*,
};

/// The most folios one batch holds: one shootdown round per 256 MiB of 4 kB pages at most.
const MAX_HELD: usize = 65536;

/// Source ranges cleared by MOVE and not yet flushed, with the folios they mapped.
///
/// # Invariants
///
/// Each of `held[..]` is a folio on which this batch holds a reference. Every source entry
/// cleared by a batched path since the last flush lies in `[start, end)` (empty when
/// `start >= end`), and its folio, if it mapped one other than the zero page, is held;
/// `tables` is set if a PMD that pointed to a PTE table was cleared among them. While any
/// is recorded, `pending` is set: the mm's `tlb_flush_pending` counts this batch.
pub(crate) struct DeferredFlush<'m> {
    mm: &'m Mm,
    held: KVVec<NonNull<bindings::folio>>,
    start: u64,
    end: u64,
    tables: bool,
    /// `inc_tlb_flush_pending()` was done for this batch and not yet undone.
    pending: bool,
}

impl<'m> DeferredFlush<'m> {
    /// An empty batch for moves in `mm`, with no room to hold folios yet
    /// ([`Self::reserve`]).
    pub(crate) fn new(mm: &'m Mm) -> Self {
        // INVARIANT: nothing held, nothing recorded.
        Self {
            mm,
            held: KVVec::new(),
            start: u64::MAX,
            end: 0,
            tables: false,
            pending: false,
        }
    }

    /// Makes room, if the memory can be had, to hold `n` more folios (up to [`MAX_HELD`] in
    /// all) without a flush. Allocates (`GFP_KERNEL`), which `&mut MayBlock` allows: called
    /// before the locks of a batch are taken. Without the memory the batches are bounded by
    /// [`Self::room`] instead.
    pub(crate) fn reserve(&mut self, n: usize, _mb: &mut MayBlock) {
        let n = n.min(MAX_HELD.saturating_sub(self.held.len()));
        let _ = self.held.reserve(n, GFP_KERNEL);
    }

    /// Flushes first if fewer than `n` more folios could be held: a batched path calls it
    /// before it lists a run of up to `n` entries, and then holds at most `n` folios.
    pub(crate) fn make_room(&mut self, n: usize) {
        if self.room() < n {
            self.flush();
        }
    }

    /// How many more folios can be held without a flush.
    pub(crate) fn room(&self) -> usize {
        // The vector's growth may overshoot the bound: a batch holds at most MAX_HELD.
        self.held.capacity().min(MAX_HELD) - self.held.len()
    }

    /// Announces a flush to come (`inc_tlb_flush_pending()`, as `tlb_gather_mmu()` does):
    /// a batched path calls it before it clears entries whose flush it defers, so that a
    /// concurrent `tlb_finish_mmu()` that finds them none still flushes (its nested case).
    pub(crate) fn announce(&mut self) {
        if !self.pending {
            // SAFETY: `mm` is alive; undone by `flush`.
            unsafe { c::pgmove_inc_tlb_flush_pending(self.mm.as_ptr()) };
            self.pending = true;
        }
    }

    /// Whether source entries were cleared and not yet flushed.
    pub(crate) fn owes(&self) -> bool {
        self.start < self.end
    }

    /// Records that source entries in `[start, end)` of `mm` were cleared (after
    /// [`Self::announce`]); `tables`: PMDs that pointed to PTE tables among them.
    pub(crate) fn cleared(&mut self, start: u64, end: u64, tables: bool) {
        if start >= end {
            return;
        }
        self.start = self.start.min(start);
        self.end = self.end.max(end);
        self.tables |= tables;
    }

    /// Holds `folio` (takes a reference) until the next flush.
    ///
    /// # Safety
    ///
    /// `folio` is allocated and referenced by the caller (locked and mapped under a lock
    /// the caller holds, or held otherwise), and [`Self::room`] is not 0.
    pub(crate) unsafe fn hold(&mut self, folio: NonNull<bindings::folio>) {
        // SAFETY: the folio is alive (caller), so its refcount is not zero.
        unsafe { c::pgmove_folio_get(folio.as_ptr()) };
        // Within the capacity (caller): does not allocate, cannot fail.
        if self.held.push(folio, GFP_NOWAIT).is_err() {
            // SAFETY: the reference taken just above, not kept.
            unsafe { c::pgmove_folio_put(folio.as_ptr()) };
            c::warn_on_once(true);
        }
    }

    /// Flushes the recorded range on every CPU that may cache it, then drops the folios held.
    pub(crate) fn flush(&mut self) {
        if self.start < self.end {
            // SAFETY: `mm` is alive (borrowed); process context with IRQs on, where
            // `flush_tlb_mm_range()` may wait for other CPUs.
            unsafe {
                c::pgmove_flush_tlb_mm_range(
                    self.mm.as_ptr(),
                    self.start as _,
                    self.end as _,
                    self.tables,
                )
            };
        }
        if !self.held.is_empty() {
            // SAFETY: `NonNull<folio>` is laid out as a folio pointer; each is held by this
            // batch (type invariant) and put exactly once here, after the flush.
            unsafe {
                c::pgmove_folios_put_array(
                    self.held.as_mut_ptr().cast::<*mut bindings::folio>(),
                    self.held.len() as _,
                )
            };
            // SAFETY: shrinking to 0; the elements are plain pointers (nothing to drop),
            // whose references were put just above.
            unsafe { self.held.set_len(0) };
        }
        if self.pending {
            // SAFETY: raised by `announce`, lowered once, after the flush above.
            unsafe { c::pgmove_dec_tlb_flush_pending(self.mm.as_ptr()) };
            self.pending = false;
        }
        // INVARIANT: nothing held, nothing recorded.
        self.start = u64::MAX;
        self.end = 0;
        self.tables = false;
    }
}

impl Drop for DeferredFlush<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `smp_mb()`: orders the clearing of source entries before the pin check that follows it
/// (paired with GUP-fast's barrier between its pin and its recheck of the entry).
pub(crate) fn full_barrier() {
    // SAFETY: a memory barrier, no memory is accessed.
    unsafe { c::pgmove_smp_mb() };
}
