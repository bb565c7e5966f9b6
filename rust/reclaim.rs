// SPDX-License-Identifier: GPL-2.0

//! RECLAIM: free the empty PTE tables that map a range of an address space.
//!
//! The walk holds the mmap read lock, visits the VMAs that intersect the range in address
//! order, skips missing upper-level tables in one step, and looks at each PTE table once
//! (a table shared by two VMAs is visited with the first). A table is freed when all its
//! entries are none (with `zeropage`: none or the shared zero page, which is zapped first),
//! and only when every VMA that it maps is eligible ([`crate::mm::vma::Vma::may_free_page_tables`]) and no
//! VMA of the mm is registered with a userfaultfd ([`MmapReadGuard::mm_has_userfaultfd`],
//! looked at each time the mmap lock is taken): then every table counts as ineligible.
//! The locking protocol is in `mm::pte_table`; Documentation/reclaim.rst explains it and
//! which walkers it is safe against.
//!
//! Every [`STEPS_PER_LOCK`] PMD entries the walk checks for a fatal signal (`EINTR`, with
//! the counters of what was done) and drops the mmap lock for a moment when a writer waits
//! for it, when the CPU is wanted elsewhere, or every [`ROUNDS_PER_RELOCK`] rounds.

use crate::c;
use crate::mm::{
    mmap::MmapReadGuard,
    notifier,
    pgtable::PmdPtr,
    pte_table::{FreedTables, LockedPteTable},
    MayBlock, Mm,
};
use crate::race::{self, Point};
use kernel::prelude::*;

/// The size of the range one PTE table maps.
const PMD_SIZE: u64 = c::PGMOVE_PMD_SIZE as u64;

/// PMD entries visited between two looks at signals and lock contention.
const STEPS_PER_LOCK: u32 = 256;

/// Rounds of [`STEPS_PER_LOCK`] after which the mmap lock is dropped for a moment even when
/// nobody seems to wait for it (a writer queued behind readers is not always visible).
const ROUNDS_PER_RELOCK: u32 = 32;

/// What to reclaim.
pub(crate) struct ReclaimRequest {
    /// Start of the range, page aligned.
    pub(crate) start: u64,
    /// End of the range (exclusive), above `start`.
    pub(crate) end: u64,
    /// Also free tables whose entries are all none or the shared zero page.
    pub(crate) zeropage: bool,
}

/// What a reclaim did (the out fields of `struct pgmove_reclaim`).
#[derive(Default)]
pub(crate) struct ReclaimCounts {
    /// PTE tables found in the range: `freed + busy + ineligible`.
    pub(crate) scanned: u64,
    /// Tables freed.
    pub(crate) freed: u64,
    /// Tables kept because an entry is in use.
    pub(crate) busy: u64,
    /// Tables kept because a VMA they map may not be reclaimed.
    pub(crate) ineligible: u64,
}

/// Frees the empty PTE tables that map any part of `[req.start, req.end)` of `mm`.
///
/// `Err(EINTR)` when a fatal signal stops it; `counts` holds what was done either way.
pub(crate) fn reclaim(
    mm: &Mm,
    req: &ReclaimRequest,
    counts: &mut ReclaimCounts,
    mb: &mut MayBlock,
) -> Result {
    let mut mmap = MmapReadGuard::lock(mm, mb)?;
    let mut freed = FreedTables::new(mm);
    let mut walk = Walk {
        addr: req.start,
        last_table: None,
        mm_has_userfaultfd: mmap.mm_has_userfaultfd(),
    };
    let mut rounds = 0;
    while walk.addr < req.end {
        reclaim_some(&mmap, &mut freed, &mut walk, req, counts, mb);
        if walk.addr >= req.end {
            break;
        }
        if mb.fatal_signal_pending() {
            return Err(EINTR);
        }
        rounds += 1;
        if rounds == ROUNDS_PER_RELOCK || mmap.is_contended() || mb.need_resched() {
            rounds = 0;
            freed.flush();
            mmap = mmap.relock(mb)?;
            walk.mm_has_userfaultfd = mmap.mm_has_userfaultfd();
        }
    }
    Ok(())
}

/// Where a walk is.
struct Walk {
    /// The next address to look at.
    addr: u64,
    /// The start of the last PTE table looked at: a table shared by two VMAs is looked at
    /// once, with the first.
    last_table: Option<u64>,
    /// Whether a VMA of the mm was registered with a userfaultfd when the mmap lock was
    /// taken (it cannot change while the lock is held).
    mm_has_userfaultfd: bool,
}

/// Walks on for at most [`STEPS_PER_LOCK`] PMD entries.
fn reclaim_some(
    mmap: &MmapReadGuard<'_>,
    freed: &mut FreedTables<'_>,
    walk: &mut Walk,
    req: &ReclaimRequest,
    counts: &mut ReclaimCounts,
    mb: &MayBlock,
) {
    let mut steps = 0;
    while walk.addr < req.end && steps < STEPS_PER_LOCK {
        let Some(vma) = mmap.find_vma(walk.addr) else {
            walk.addr = req.end;
            return;
        };
        if vma.start() >= req.end {
            walk.addr = req.end;
            return;
        }
        walk.addr = walk.addr.max(vma.start());
        let end = req.end.min(vma.end());
        while walk.addr < end && steps < STEPS_PER_LOCK {
            steps += 1;
            let (pmd, next) = PmdPtr::walk(mmap, vma, walk.addr, end);
            let table_start = walk.addr & !(PMD_SIZE - 1);
            walk.addr = next;
            if let Some(pmd) = pmd {
                if walk.last_table != Some(table_start) {
                    walk.last_table = Some(table_start);
                    visit_table(
                        mmap,
                        freed,
                        &pmd,
                        table_start,
                        walk.mm_has_userfaultfd,
                        req,
                        counts,
                        mb,
                    );
                }
            }
        }
    }
}

/// Looks at the PMD entry `pmd`, whose PTE table (if any) maps `[start, start + PMD_SIZE)`;
/// `mm_has_userfaultfd` makes every table ineligible.
#[allow(clippy::too_many_arguments)]
fn visit_table(
    mmap: &MmapReadGuard<'_>,
    freed: &mut FreedTables<'_>,
    pmd: &PmdPtr<'_>,
    start: u64,
    mm_has_userfaultfd: bool,
    req: &ReclaimRequest,
    counts: &mut ReclaimCounts,
    mb: &MayBlock,
) {
    if !pmd.get_lockless().is_table() {
        return;
    }
    let end = start + PMD_SIZE;
    if mm_has_userfaultfd || !all_vmas_eligible(mmap, start, end) {
        counts.scanned += 1;
        counts.ineligible += 1;
        return;
    }
    // mlock() promises the zero page stays mapped too.
    let zeropage = req.zeropage && !any_vma_locked(mmap, start, end);
    let outcome = if zeropage {
        // Zapping zero-page entries changes what secondary MMUs may have mapped.
        notifier::invalidate(mmap.mm(), start, start + PMD_SIZE, || {
            try_free(freed, pmd, start, true, mb)
        })
    } else {
        try_free(freed, pmd, start, false, mb)
    };
    match outcome {
        Outcome::Freed => {
            counts.scanned += 1;
            counts.freed += 1;
        }
        Outcome::Busy => {
            counts.scanned += 1;
            counts.busy += 1;
        }
        Outcome::Gone => {}
    }
}

/// What became of one table.
enum Outcome {
    /// Detached; freed with the batch.
    Freed,
    /// Kept: an entry is in use.
    Busy,
    /// No longer a PTE table when locked (freed or collapsed meanwhile): not counted.
    Gone,
}

/// Frees the table if it is empty (or, with `zeropage`, maps only the zero page).
fn try_free(
    freed: &mut FreedTables<'_>,
    pmd: &PmdPtr<'_>,
    start: u64,
    zeropage: bool,
    mb: &MayBlock,
) -> Outcome {
    let Some(mut table) = LockedPteTable::lock(pmd, start, mb) else {
        return Outcome::Gone;
    };
    let census = table.census();
    if census.in_use > 0 || (census.zero_page > 0 && !zeropage) {
        return Outcome::Busy;
    }
    race::atomic(Point::ReclaimScanned, || table.contended());
    if census.zero_page > 0 {
        table.zap_zero_pages();
    }
    match table.detach(freed) {
        Ok(()) => Outcome::Freed,
        Err(_) => Outcome::Busy,
    }
}

/// Whether a VMA that intersects `[start, end)` is `VM_LOCKED` (mlocked).
fn any_vma_locked(mmap: &MmapReadGuard<'_>, start: u64, end: u64) -> bool {
    let locked = c::PGMOVE_VM_LOCKED as u64;
    mmap.vmas(start, end).any(|v| v.flags() & locked != 0)
}

/// Whether every VMA that intersects `[start, end)` may have its page tables freed.
fn all_vmas_eligible(mmap: &MmapReadGuard<'_>, start: u64, end: u64) -> bool {
    mmap.vmas(start, end).all(|v| v.may_free_page_tables())
}
