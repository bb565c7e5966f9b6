// SPDX-License-Identifier: GPL-2.0

//! MOVEV's entries that share a PTE table: a compactor's objects are small, and either
//! their sources lie side by side (objects slid down in address order) or their
//! destinations do (scattered live objects copied into a free region). Consecutive small
//! entries (each within one source and one destination PTE table) whose sources, or whose
//! destinations, lie in one table move with that table kept mapped and locked across them,
//! under one mmu-notifier range and one lock of the source VMA's anon_vma tree; each entry
//! then only maps and locks its table on the other side and moves its pages as one run
//! ([`PtePairLock::move_run`]), under the call's one deferred flush.
//!
//! Nothing here waits or decides an error: whatever an entry cannot move this way (a hole,
//! an entry the run refuses, a destination with no PTE table yet, a lock that would be
//! taken out of order and is busy, other VMAs) ends the batch, and the request path
//! ([`Mover::move_range`]) does the rest of that entry with the waits and errnos it knows.
//! Pages move in the same order either way, so an entry gets what it would have got alone.

use super::*;
use crate::mm::pgtable::{KeptPteLock, KeptSide};

/// Whether the request lies in one source and one destination PTE table (and so moves as
/// one run at most), and is not a whole aligned 2 MiB (which the request path may move as
/// a whole table, or as a THP).
fn in_one_table_each(req: &MoveRequest) -> bool {
    let last = req.len - PAGE_SIZE;
    let whole_table = req.src % PMD_SIZE == 0 && req.dst % PMD_SIZE == 0 && req.len == PMD_SIZE;
    req.src / PMD_SIZE == (req.src + last) / PMD_SIZE
        && req.dst / PMD_SIZE == (req.dst + last) / PMD_SIZE
        && !whole_table
}

/// The most pages one stretch moves under the shared table's lock: a table's worth, as one
/// run of the request path (a stretch whose entries move pages back and forth inside the
/// shared table could otherwise hold the lock for 1024 entries of 512 pages).
const STRETCH_PAGES: u64 = c::PGMOVE_PTRS_PER_PTE as u64;

/// Whether `vmas` (the VMA read locks kept from the last request) hold the request, and
/// UFFDIO_MOVE's checks of them pass for it.
fn fits(vmas: &MoveVmas<'_>, req: &MoveRequest) -> bool {
    !vmas.is_exclusive() && holds(vmas, req) && check_vmas(vmas, req).is_ok()
}

/// The request's address on `side`.
fn addr_on(req: &MoveRequest, side: KeptSide) -> u64 {
    match side {
        KeptSide::Src => req.src,
        KeptSide::Dst => req.dst,
    }
}

/// The other side.
fn opposite(side: KeptSide) -> KeptSide {
    match side {
        KeptSide::Src => KeptSide::Dst,
        KeptSide::Dst => KeptSide::Src,
    }
}

/// The table on `side` of the request (its index in the address space).
fn table_of(req: &MoveRequest, side: KeptSide) -> u64 {
    addr_on(req, side) / PMD_SIZE
}

impl Mover<'_> {
    /// Moves, from the first on, the requests of `reqs` that move whole with a shared table
    /// kept locked (with the VMA read locks kept from the last request); returns how many
    /// moved whole, and the bytes moved of the next one (which the caller goes on with
    /// through [`Self::move_range`], from there).
    ///
    /// `reqs` are the requests from here on: validated, `None` for one that must take the
    /// request path (the batch stops there).
    pub(crate) fn move_entries(
        &mut self,
        reqs: &[Option<MoveRequest>],
        mb: &mut MayBlock,
    ) -> (usize, u64) {
        let mut whole = 0;
        loop {
            let Self { vmas, scratch, .. } = self;
            let Some(vmas) = vmas.as_ref() else {
                return (whole, 0);
            };
            let rest = &reqs[whole..];
            let Some(Some(first)) = rest.first() else {
                return (whole, 0);
            };
            // The side whose table the next entry shares with the first, the source's if
            // neither (a stretch of one).
            let side = match rest.get(1) {
                Some(Some(next))
                    if table_of(next, KeptSide::Src) != table_of(first, KeptSide::Src)
                        && table_of(next, KeptSide::Dst) == table_of(first, KeptSide::Dst) =>
                {
                    KeptSide::Dst
                }
                _ => KeptSide::Src,
            };
            let table = table_of(first, side);
            let mut listed = 0;
            let count = rest
                .iter()
                .map_while(Option::as_ref)
                .take_while(|r| {
                    listed += r.len / PAGE_SIZE;
                    listed <= STRETCH_PAGES
                        && table_of(r, side) == table
                        && in_one_table_each(r)
                        && fits(vmas, r)
                })
                .count();
            if count == 0 {
                return (whole, 0);
            }
            let stretch = rest[..count].iter().flatten();
            let (start, end, pages) = stretch.clone().fold((u64::MAX, 0, 0), |(s, e, p), r| {
                let pages = (r.len / PAGE_SIZE) as usize;
                (r.src.min(s), (r.src + r.len).max(e), p + pages)
            });
            // Each run is at most a table; the folios of all are held until the flush.
            scratch.reserve_ptes(c::PGMOVE_PTRS_PER_PTE as usize, pages, mb);
            // One invalidation for what this hold of the shared table's lock may clear.
            let (n, part) = notifier::invalidate(vmas.mm(), start, end, || {
                move_stretch(vmas, side, stretch, scratch, mb)
            });
            whole += n;
            mb.cond_resched();
            if scratch.flush.owes() {
                race::sleepable(Point::FlushPending, mb);
            }
            if n < count || mb.fatal_signal_pending() {
                return (whole, part);
            }
        }
    }
}

/// Moves the entries of `stretch` (which share their table on `side`) from the first on,
/// with that table locked throughout; returns how many moved whole, and the bytes moved of
/// the next one.
fn move_stretch<'r>(
    vmas: &MoveVmas<'_>,
    side: KeptSide,
    mut stretch: impl Iterator<Item = &'r MoveRequest>,
    scratch: &mut RunScratch<'_>,
    mb: &mut MayBlock,
) -> (usize, u64) {
    let Some(first) = stretch.next() else {
        return (0, 0);
    };
    let kept_addr = addr_on(first, side);
    // A table that is not there yet (a destination never written) is the request path's.
    let Some(kept_pmd) = PmdPtr::find(vmas, kept_addr) else {
        return (0, 0);
    };
    // Taken before any table is mapped: it may sleep.
    let Some(anon_vma) = VmaAnonVmaLock::lock(vmas.src(), mb) else {
        return (0, 0);
    };
    let Some(kept_map) = kept_pmd.map_pte(kept_addr, mb) else {
        return (0, 0);
    };
    let mut kept = KeptPteLock::lock(kept_map);
    let mut whole = 0;
    for req in Iterator::chain(core::iter::once(first), stretch) {
        let other_addr = addr_on(req, opposite(side));
        let Some(other_pmd) = PmdPtr::find(vmas, other_addr) else {
            break;
        };
        let Some(other_map) = other_pmd.map_pte(other_addr, mb) else {
            break;
        };
        race::atomic(Point::RunMapped, || false);
        let Some(mut pair) = kept.pair_with(side, addr_on(req, side), &other_map) else {
            break;
        };
        let pages = (req.len / PAGE_SIZE) as usize;
        let moved = pair.move_run(vmas, req.dst, req.src, pages, &anon_vma, scratch);
        if moved < pages {
            return (whole, moved as u64 * PAGE_SIZE);
        }
        whole += 1;
    }
    (whole, 0)
}
