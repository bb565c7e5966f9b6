// SPDX-License-Identifier: GPL-2.0

//! The thin unsafe layer between pgmove's algorithms and the kernel's mm.
//!
//! Each submodule owns one kernel object or lock and states the invariants it upholds; code
//! outside `mm` holds no raw kernel pointers and writes no `unsafe`.
//!
//! # Lock order
//!
//! The order below is the kernel's own (see the header of `mm/rmap.c` and `mm/userfaultfd.c`);
//! every guard in this module is taken in it, and a guard that would sleep cannot be taken
//! while a mapped PTE table or a spinlock is held (see [`MayBlock`]):
//!
//! 1. per-VMA read locks of the destination, then of the source VMA ([`vma::MoveVmas`]), or
//!    the mmap read lock while looking both up; for a request with whole-table moves the
//!    mmap write lock and both VMAs write-locked instead ([`vma::MoveVmas::lock_exclusive`]);
//!    RECLAIM holds the mmap read lock ([`mmap::MmapReadGuard`]) and takes no per-VMA lock;
//! 2. mmu-notifier invalidation of what one step may clear ([`notifier::invalidate`]),
//!    which may be held across sleeping locks, as UFFDIO_MOVE does;
//! 3. the folio lock ([`folio::LockedFolio`]);
//! 4. the anon_vma write lock of the folio's anon_vma ([`folio::LockedAnonVma`]), or, for a
//!    batched run or a whole-table move, of the source VMA's anon_vma tree
//!    ([`folio::VmaAnonVmaLock`]), whose folios are then only *tried* (never waited for) under
//!    the page-table locks, so the reversed order cannot deadlock;
//! 5. page-table spinlocks: the PMD lock, or the two PTE locks of source and destination
//!    in address order of the locks, the second with `SINGLE_DEPTH_NESTING`
//!    ([`pgtable::PtePairLock`], [`pgtable::PmdPairLock`]); a source table kept locked
//!    across MOVEV entries ([`pgtable::KeptPteLock`]) takes each destination's lock after it
//!    only in that order, and otherwise only tries it; for a whole-table move the two
//!    PMD locks, then the table's own lock with subclass 2; for RECLAIM the PMD lock, then
//!    the PTE table's own lock with `SINGLE_DEPTH_NESTING` ([`pte_table::LockedPteTable`]).
//!
//! MOVE's batched paths owe one TLB flush per call ([`tlb::DeferredFlush`]), done at the end
//! of the call under the VMA locks, or under the page-table locks when a batch is full.

pub(crate) mod folio;
pub(crate) mod mm_ref;
pub(crate) mod mmap;
pub(crate) mod notifier;
pub(crate) mod pgtable;
pub(crate) mod pte_table;
pub(crate) mod swap;
pub(crate) mod task;
pub(crate) mod tlb;
pub(crate) mod vma;

pub(crate) use mm_ref::{Mm, MmGrab, MmUsers};
pub(crate) use task::MayBlock;
