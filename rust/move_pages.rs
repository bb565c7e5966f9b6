// SPDX-License-Identifier: GPL-2.0

//! MOVE: move anonymous pages from one range of the caller's mm to another.
//!
//! The semantics are UFFDIO_MOVE's in 6.12.117 (mm/userfaultfd.c `move_pages()`,
//! `move_pages_pte()`, mm/huge_memory.c `move_pages_huge_pmd()`), except that the
//! destination needs no userfaultfd registration; Documentation/move.rst has the table of
//! cases and errnos and the locking protocol. Pages are processed in ascending address
//! order, one PTE (or one whole PMD-mapped THP) at a time; `EAGAIN` from a step means
//! "something changed under us, look again" and is retried at once, up to
//! [`MAX_RETRIES_WITHOUT_PROGRESS`] times in a row at one address: then the request ends
//! with `EAGAIN` and what it moved, and the caller may call again. Nothing that is bound to
//! fail again (a folio that a pin keeps from splitting) is `EAGAIN`: that is `EBUSY`.
//!
//! Everything here is safe Rust over the `mm` layer: it decides what to do with an entry and
//! asks `mm` to do it, and `mm` rechecks under the page-table locks.
//!
//! This file owns the request (the VMA locks, the loop over steps, the notifier range of
//! each step, the choice of path); the paths live beside it: `move_pages/batched.rs` (runs
//! of PTEs, whole tables and THPs), `move_pages/huge.rs` (one huge PMD), `move_pages/pte.rs`
//! (one PTE), and `move_pages/kept_table.rs` (MOVEV's small entries that share a source or
//! a destination PTE table, moved with its lock kept across them, before the request path).

use crate::c;
use crate::mm::{
    folio::{AnonVmaRef, FolioRef, LockedAnonVma, LockedFolio, VmaAnonVmaLock},
    notifier,
    pgtable::{PmdPairLock, PmdPtr, PmdVal, PtePairLock, PteVal, RunScratch, SwapPte},
    pte_table::{FreedTables, LockedPteTable},
    swap::SwapDevice,
    vma::MoveVmas,
    MayBlock, Mm,
};
use crate::race::{self, Point};
use kernel::prelude::*;

const PAGE_SIZE: u64 = c::PGMOVE_PAGE_SIZE as u64;
const PMD_SIZE: u64 = c::PGMOVE_PMD_SIZE as u64;

/// A validated MOVE request.
#[derive(Clone, Copy)]
pub(crate) struct MoveRequest {
    pub(crate) dst: u64,
    pub(crate) src: u64,
    pub(crate) len: u64,
    /// `PGMOVE_MOVE_ALLOW_SRC_HOLES`: a source hole counts as moved instead of `ENOENT`.
    pub(crate) allow_src_holes: bool,
}

/// What a MOVE did: the bytes moved, and the error that stopped it, if any.
pub(crate) struct MoveOutcome {
    pub(crate) moved: u64,
    pub(crate) error: Option<Error>,
}

/// UFFDIO_MOVE's `validate_range()` for one of the two ranges: page aligned, non-empty,
/// inside the user address space, not wrapping.
pub(crate) fn validate_range(mm: &Mm, start: u64, len: u64) -> Result {
    let task_size = mm.task_size();
    if start % PAGE_SIZE != 0 || len % PAGE_SIZE != 0 || len == 0 {
        return Err(EINVAL);
    }
    if start >= task_size || len > task_size - start || start.checked_add(len).is_none() {
        return Err(EINVAL);
    }
    Ok(())
}

/// Performs a sequence of moves in one mm, keeping the VMA locks of one move for the next
/// when its ranges lie in the same VMAs (`PGMOVE_IOC_MOVEV`), and the scratch space of the
/// batched path.
///
/// The batched paths' TLB flush is deferred to the end of the call (one shootdown round),
/// with the moved folios held until then (`mm::tlb`): it is done when the mover is dropped,
/// whenever it drops its VMA locks (between whole-table and per-page stretches, between
/// MOVEV entries in other VMAs), and before a step splits a folio (which a held reference
/// would make fail).
pub(crate) struct Mover<'m> {
    mm: &'m Mm,
    /// Declared before `vmas`: dropped (flushed) while the VMA locks are still held.
    scratch: RunScratch<'m>,
    vmas: Option<MoveVmas<'m>>,
}

impl<'m> Mover<'m> {
    /// A mover for `mm` (the caller's own); its scratch space grows with what its moves meet.
    pub(crate) fn new(mm: &'m Mm) -> Self {
        Self {
            mm,
            scratch: RunScratch::new(mm),
            vmas: None,
        }
    }

    /// Drops the VMA locks kept from the last move (before anything that takes the mmap
    /// lock: a VMA read lock must not be held while waiting for it).
    pub(crate) fn release(&mut self) {
        self.release_vmas();
    }

    /// Flushes what the batched paths owe, then drops the VMA locks: a PTE table moved whole
    /// is, once the mmap write lock is gone, a destination table that other threads fill,
    /// and a CPU that still had the source's path to it cached would find their pages
    /// through the source address (pages this call does not hold).
    fn release_vmas(&mut self) {
        if self.vmas.is_some() {
            self.scratch.flush.flush();
        }
        self.vmas = None;
    }

    /// Moves `req.len` bytes from `req.src` to `req.dst`.
    ///
    /// Runs under the two VMAs' read locks until it meets a PTE table that could move whole
    /// (source and destination PMD aligned, 2 MiB left, a table at the source); then it
    /// retakes the VMAs under the mmap write lock, which whole-table moves need, and goes
    /// on from there as long as tables move whole. At the first step that moves no whole
    /// table (a THP, a table that cannot go, the unaligned rest) it drops back to the VMA
    /// read locks, so that faults elsewhere in the mm, and this request's own sleeps (folio
    /// locks, migration waits, splits), do not wait on the write lock. A request of THPs or
    /// of unaligned ranges never takes the write lock.
    pub(crate) fn move_range(&mut self, req: &MoveRequest, mb: &mut MayBlock) -> MoveOutcome {
        let mut done = 0u64;
        let mut exclusive = false;
        let mut no_whole_table_at = None;
        loop {
            let part = MoveRequest {
                dst: req.dst + done,
                src: req.src + done,
                len: req.len - done,
                allow_src_holes: req.allow_src_holes,
            };
            let outcome = self.move_part(&part, exclusive, no_whole_table_at, mb);
            done += outcome.moved;
            match outcome.error {
                Some(e) if e == WANT_EXCLUSIVE && !exclusive => exclusive = true,
                Some(e) if e == WANT_SHARED && exclusive => {
                    exclusive = false;
                    no_whole_table_at = Some(req.src + done);
                }
                // Never leak out: each is asked for only in the other mode.
                Some(e) if e == WANT_EXCLUSIVE || e == WANT_SHARED => {
                    return MoveOutcome {
                        moved: done,
                        error: Some(EAGAIN),
                    }
                }
                error => return MoveOutcome { moved: done, error },
            }
        }
    }

    /// One part of [`Self::move_range`], under the VMA read locks or, if `exclusive`, the
    /// mmap write lock (locks kept from the last part are reused when they fit).
    ///
    /// `no_whole_table_at`: a source address where a whole-table move was just refused under
    /// the mmap write lock; the step there goes on under the VMA locks without asking for it
    /// again.
    fn move_part(
        &mut self,
        req: &MoveRequest,
        exclusive: bool,
        no_whole_table_at: Option<u64>,
        mb: &mut MayBlock,
    ) -> MoveOutcome {
        if exclusive {
            // Room for whole tables, allocated before the mmap write lock is taken (or while
            // it is kept from the last part), never under a whole-table step's locks.
            let pages = (req.len / PAGE_SIZE) as usize;
            self.scratch.reserve_ptes(pages, pages, mb);
        }
        let reuse = self
            .vmas
            .as_ref()
            .is_some_and(|v| holds(v, req) && v.is_exclusive() == exclusive);
        if !reuse {
            if self.vmas.is_some() {
                self.release_vmas();
                race::sleepable(Point::VmasReleased, mb);
            }
            let locked = if exclusive {
                MoveVmas::lock_exclusive(self.mm, req.dst, req.src)
            } else {
                MoveVmas::lock(self.mm, req.dst, req.src)
            };
            match locked {
                Ok(vmas) => self.vmas = Some(vmas),
                Err(e) => {
                    return MoveOutcome {
                        moved: 0,
                        error: Some(e),
                    }
                }
            }
        }
        let Some(vmas) = self.vmas.as_ref() else {
            return MoveOutcome {
                moved: 0,
                error: Some(EINVAL),
            };
        };
        move_locked(vmas, req, no_whole_table_at, &mut self.scratch, mb)
    }
}

/// How often a step may give `EAGAIN` in a row at the same address before the request
/// returns `EAGAIN` to its caller. Each retry follows a change another task made (a PTE or
/// PMD that changed, a folio lock or a migration waited for), so a real move needs a few;
/// the bound keeps a request from spinning, possibly under the mmap write lock, on a state
/// that does not change.
const MAX_RETRIES_WITHOUT_PROGRESS: u32 = 1024;

/// What a step under the VMA read locks returns when the next 2 MiB could move as a whole
/// table, which needs the mmap write lock. Internal: the move paths never give `EXDEV`
/// otherwise, and [`Mover::move_range`] never lets it out.
const WANT_EXCLUSIVE: Error = EXDEV;

/// What a step under the mmap write lock returns when it moves no whole table: the rest
/// goes on under the VMA read locks. Internal like [`WANT_EXCLUSIVE`]: the move paths never
/// give `ECHILD` otherwise.
const WANT_SHARED: Error = ECHILD;

/// The body of a move, with both VMAs locked ([`MoveVmas`]).
fn move_locked(
    vmas: &MoveVmas<'_>,
    req: &MoveRequest,
    no_whole_table_at: Option<u64>,
    scratch: &mut RunScratch<'_>,
    mb: &mut MayBlock,
) -> MoveOutcome {
    if let Err(e) = check_vmas(vmas, req) {
        return MoveOutcome {
            moved: 0,
            error: Some(e),
        };
    }
    let src_end = req.src + req.len;
    let (mut src_addr, mut dst_addr, mut moved) = (req.src, req.dst, 0u64);
    let mut error = None;
    let mut retries = 0;
    while src_addr < src_end {
        // Secondary MMUs drop what one step may clear, for the time of that step only, so
        // that they can fault the rest of the range back in meanwhile (as 6.12's
        // move_pages_pte() does per page).
        let step_end = step_notifier_end(dst_addr, src_addr, src_end);
        let step = notifier::invalidate(vmas.mm(), src_addr, step_end, || {
            move_step(
                vmas,
                dst_addr,
                src_addr,
                src_end,
                req.allow_src_holes,
                no_whole_table_at == Some(src_addr),
                scratch,
                mb,
            )
        });
        // A step that cleared entries outside its range would leave them in a secondary MMU.
        if let Ok(size) = step {
            c::warn_on_once(src_addr + size > step_end);
        }
        mb.cond_resched();
        if scratch.flush.owes() {
            race::sleepable(Point::FlushPending, mb);
        }
        if mb.fatal_signal_pending() {
            // Do not override a real error.
            error = Some(match step {
                Ok(_) | Err(EAGAIN) => EINTR,
                Err(e) => e,
            });
            break;
        }
        match step {
            Ok(size) => {
                src_addr += size;
                dst_addr += size;
                moved += size;
                retries = 0;
            }
            Err(EAGAIN) if retries < MAX_RETRIES_WITHOUT_PROGRESS => retries += 1,
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    MoveOutcome { moved, error }
}

/// The end of the source range that one [`move_step`] from `src_addr` may clear: runs of
/// whole tables and of THPs stay in one PMD table (1 GiB) and need both ends PMD aligned;
/// anything else stays in one source and one destination PTE table.
fn step_notifier_end(dst_addr: u64, src_addr: u64, src_end: u64) -> u64 {
    let pud_size = PMD_SIZE * c::PGMOVE_PTRS_PER_PMD as u64;
    let left_in = |addr: u64, size: u64| size - addr % size;
    let bound = if src_addr % PMD_SIZE == 0 && dst_addr % PMD_SIZE == 0 {
        left_in(src_addr, pud_size).min(left_in(dst_addr, pud_size))
    } else {
        left_in(src_addr, PMD_SIZE).min(left_in(dst_addr, PMD_SIZE))
    };
    src_addr + bound.min(src_end - src_addr)
}

/// Whether VMA locks kept from an earlier request hold this one's two VMAs (where its
/// ranges start; [`check_vmas`] checks where they end).
fn holds(vmas: &MoveVmas<'_>, req: &MoveRequest) -> bool {
    vmas.dst().contains(req.dst) && vmas.src().contains(req.src)
}

/// UFFDIO_MOVE's checks of the two VMAs (`move_pages()` and `validate_move_areas()`),
/// minus the one that the destination be registered with the userfaultfd.
fn check_vmas(vmas: &MoveVmas<'_>, req: &MoveRequest) -> Result {
    let (src, dst) = (vmas.src(), vmas.dst());
    let shared = c::PGMOVE_VM_SHARED as u64;
    if src.flags() & shared != 0 || req.src + req.len > src.end() {
        return Err(EINVAL);
    }
    if dst.flags() & shared != 0 || req.dst + req.len > dst.end() {
        return Err(EINVAL);
    }
    // The same access flags, protection and mlock state on both sides.
    let access = c::PGMOVE_VM_ACCESS_FLAGS as u64;
    if src.flags() & access != dst.flags() & access || src.page_prot() != dst.page_prot() {
        return Err(EINVAL);
    }
    let locked = c::PGMOVE_VM_LOCKED as u64;
    if src.flags() & locked != dst.flags() & locked {
        return Err(EINVAL);
    }
    // Writable VMAs only (the access flags are equal, so the source tells for both).
    if src.flags() & c::PGMOVE_VM_WRITE as u64 == 0 {
        return Err(EINVAL);
    }
    let unmovable = c::PGMOVE_VM_UNMOVABLE as u64;
    if src.flags() & unmovable != 0 || dst.flags() & unmovable != 0 {
        return Err(EINVAL);
    }
    if !src.is_anonymous() || !dst.is_anonymous() {
        return Err(EINVAL);
    }
    Ok(())
}

/// Whether moving the huge PMD at `src_addr` would need a split first: both ends must be
/// PMD aligned and the rest of the request at least one PMD.
fn move_splits_huge_pmd(dst_addr: u64, src_addr: u64, src_end: u64) -> bool {
    src_addr % PMD_SIZE != 0 || dst_addr % PMD_SIZE != 0 || src_end - src_addr < PMD_SIZE
}

/// One step of the loop: moves the entry at `src_addr`, or a run of entries from it on;
/// returns the bytes it covered (pages, a PMD, or 0 when it only split a huge PMD and the
/// step must be redone).
fn move_step(
    vmas: &MoveVmas<'_>,
    dst_addr: u64,
    src_addr: u64,
    src_end: u64,
    allow_src_holes: bool,
    whole_table_refused: bool,
    scratch: &mut RunScratch<'_>,
    mb: &mut MayBlock,
) -> Result<u64> {
    let src_pmd = match PmdPtr::find(vmas, src_addr) {
        Some(pmd) => pmd,
        None if !allow_src_holes => return Err(ENOENT),
        None => PmdPtr::alloc(vmas, src_addr)?,
    };
    let dst_pmd = PmdPtr::alloc(vmas, dst_addr)?;
    let whole_table = src_addr % PMD_SIZE == 0
        && dst_addr % PMD_SIZE == 0
        && src_end - src_addr >= PMD_SIZE
        && !whole_table_refused
        && src_pmd.get().is_table();
    if whole_table && !vmas.is_exclusive() {
        return Err(WANT_EXCLUSIVE);
    }
    if whole_table {
        let tables = move_tables(
            vmas,
            &dst_pmd,
            &src_pmd,
            dst_addr,
            src_addr,
            src_end,
            allow_src_holes,
            scratch,
            mb,
        );
        if tables > 0 {
            return Ok(tables as u64 * PMD_SIZE);
        }
    }
    // No whole table moves here: the rest needs no mmap write lock (Mover::move_range).
    if vmas.is_exclusive() {
        return Err(WANT_SHARED);
    }
    let dst_pmdval = dst_pmd.get_lockless();
    // Never overwrite a huge destination; if one appears later the rechecks catch it.
    if dst_pmdval.is_trans_huge() {
        return Err(EEXIST);
    }
    // A run of THPs moves under one pair of PMD locks, with one flush.
    if dst_pmdval.is_none()
        && !move_splits_huge_pmd(dst_addr, src_addr, src_end)
        && src_pmd.get_lockless().is_trans_huge()
    {
        race::sleepable(Point::HugeSeen, mb);
        let pmds = move_huge_run(
            vmas, &dst_pmd, &src_pmd, dst_addr, src_addr, src_end, scratch, mb,
        );
        if pmds > 0 {
            return Ok(pmds as u64 * PMD_SIZE);
        }
    }
    match huge_pmd_step(vmas, &src_pmd, dst_pmdval, dst_addr, src_addr, src_end, mb) {
        HugeStep::NotHuge => {}
        HugeStep::Fail(e) => return Err(e),
        HugeStep::Split => {
            src_pmd.split_huge(vmas.src(), src_addr, mb);
            // The PTE path splits the folio itself.
            return Ok(0);
        }
        HugeStep::WaitMigration => {
            src_pmd.wait_migration_pmd(mb);
            return Err(EAGAIN);
        }
        HugeStep::Move { src_pmdval, folio } => {
            return move_huge_pmd(
                vmas, &dst_pmd, &src_pmd, dst_pmdval, src_pmdval, folio, dst_addr, src_addr, mb,
            )
            .map(|()| PMD_SIZE);
        }
    }
    if src_pmd.get().is_none() {
        if !allow_src_holes {
            return Err(ENOENT);
        }
        src_pmd.alloc_pte_table()?;
    }
    dst_pmd.alloc_pte_table()?;
    // The pages left in the request (a step never goes past its end).
    let left = (src_end.wrapping_sub(src_addr) / PAGE_SIZE) as usize;
    let pages = move_run(
        vmas, &dst_pmd, &src_pmd, dst_addr, src_addr, left, scratch, mb,
    );
    if pages > 0 {
        return Ok(pages as u64 * PAGE_SIZE);
    }
    move_pte(
        vmas,
        &dst_pmd,
        &src_pmd,
        dst_addr,
        src_addr,
        left,
        allow_src_holes,
        scratch,
        mb,
    )
    .map(|pages| pages as u64 * PAGE_SIZE)
}

mod batched;
mod huge;
mod kept_table;
mod pte;

use batched::{move_huge_run, move_run, move_tables};
use huge::{huge_pmd_step, move_huge_pmd, HugeStep};
use pte::move_pte;
