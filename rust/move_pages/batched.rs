// SPDX-License-Identifier: GPL-2.0

//! MOVE's batched steps: the locks a run needs (the source VMA's anon_vma tree, the pair of
//! PMD or PTE locks), taken in order, around the runs of `mm::pgtable` (THP runs, whole
//! tables, PTE runs), whose TLB flush the call's `DeferredFlush` owes. Each returns how much
//! moved; 0 leaves the step to the per-PMD or per-page path.

use super::*;

/// The batched THP path: moves the run of PMD-mapped THPs (and huge zero pages) from
/// `src_addr` on, up to the end of either PMD table or of the request, under one pair of PMD
/// locks, with the source VMA's anon_vma tree write-locked and one TLB flush; returns the
/// PMDs moved, 0 when the one at `src_addr` needs the per-PMD path.
#[allow(clippy::too_many_arguments)]
pub(super) fn move_huge_run(
    vmas: &MoveVmas<'_>,
    dst_pmd: &PmdPtr<'_>,
    src_pmd: &PmdPtr<'_>,
    dst_addr: u64,
    src_addr: u64,
    src_end: u64,
    scratch: &mut RunScratch<'_>,
    mb: &mut MayBlock,
) -> usize {
    let left = (src_end.wrapping_sub(src_addr) / PMD_SIZE) as usize;
    // Allocated and taken before the PMD locks: they may sleep.
    scratch.reserve_pmds(left, mb);
    let Some(anon_vma) = VmaAnonVmaLock::lock(vmas.src(), mb) else {
        return 0;
    };
    let mut pair = PmdPairLock::lock(dst_pmd, src_pmd, mb);
    pair.move_huge_run(vmas, dst_addr, src_addr, left, &anon_vma, scratch)
}

/// The whole-table path: with the mmap write lock held, moves the PTE tables that map the
/// 2 MiB ranges from `src_addr` on (up to `src_end`) to `dst_addr` on, as long as every entry
/// in each can move, with one TLB flush for up to [`TABLES_PER_RUN`](crate::mm::pgtable::TABLES_PER_RUN) tables. An empty table at
/// the first destination is freed first (as RECLAIM would). Returns the tables moved; with 0
/// nothing changed and the run and per-page paths take over.
#[allow(clippy::too_many_arguments)]
pub(super) fn move_tables(
    vmas: &MoveVmas<'_>,
    dst_pmd: &PmdPtr<'_>,
    src_pmd: &PmdPtr<'_>,
    dst_addr: u64,
    src_addr: u64,
    src_end: u64,
    allow_src_holes: bool,
    scratch: &mut RunScratch<'_>,
    mb: &mut MayBlock,
) -> usize {
    if !src_pmd.get().is_table() {
        return 0;
    }
    if dst_pmd.get().is_table() {
        let Some(table) = LockedPteTable::lock(dst_pmd, dst_addr, mb) else {
            return 0;
        };
        let mut freed = FreedTables::new(vmas.mm());
        // A destination table in use stays: the per-page path reports EEXIST.
        if table.detach(&mut freed).is_err() {
            return 0;
        }
    }
    let Some(anon_vma) = VmaAnonVmaLock::lock(vmas.src(), mb) else {
        return 0;
    };
    let mut pair = PmdPairLock::lock(dst_pmd, src_pmd, mb);
    // Room for the tables' entries and folios: reserved by `Mover::move_part` for the part,
    // before the mmap write lock (without it fewer tables move, or none).
    let max = (src_end.wrapping_sub(src_addr) / PMD_SIZE) as usize;
    pair.move_tables(
        vmas,
        dst_addr,
        src_addr,
        max,
        allow_src_holes,
        &anon_vma,
        scratch,
    )
}

/// The batched path: moves the run of ordinary entries from `src_addr` on (up to the end of
/// either PTE table or of the request) under one pair of PTE locks, with the source VMA's
/// anon_vma tree write-locked and one TLB flush; returns the pages moved, 0 when the entry
/// at `src_addr` needs the per-page path.
#[allow(clippy::too_many_arguments)]
pub(super) fn move_run(
    vmas: &MoveVmas<'_>,
    dst_pmd: &PmdPtr<'_>,
    src_pmd: &PmdPtr<'_>,
    dst_addr: u64,
    src_addr: u64,
    left: usize,
    scratch: &mut RunScratch<'_>,
    mb: &mut MayBlock,
) -> usize {
    // Room for the run, and for the request's folios until its flush: allocated before any
    // lock is taken.
    scratch.reserve_ptes(left.min(c::PGMOVE_PTRS_PER_PTE as usize), left, mb);
    // Taken before the tables are mapped: it may sleep. Dropped at the end of the run,
    // before the per-page path takes any folio lock (folio locks come first in lock order).
    let Some(anon_vma) = VmaAnonVmaLock::lock(vmas.src(), mb) else {
        return 0;
    };
    let Some(dst_map) = dst_pmd.map_pte(dst_addr, mb) else {
        return 0;
    };
    let Some(src_map) = src_pmd.map_pte(src_addr, mb) else {
        return 0;
    };
    race::atomic(Point::RunMapped, || false);
    let mut pair = PtePairLock::lock(&dst_map, &src_map);
    pair.move_run(vmas, dst_addr, src_addr, left, &anon_vma, scratch)
}
