// SPDX-License-Identifier: GPL-2.0

//! Page tables: PMD entries, mapped PTE tables, their locks, and the primitive moves of one
//! entry from a source to a destination.
//!
//! # Invariants this module upholds
//!
//! - A [`PmdPtr`] points into a PMD table of an address that lies in a read-locked VMA (or in
//!   a VMA found under the mmap read lock); such tables are freed only once the VMA is gone
//!   (`free_pgtables()`), so the pointer stays valid while the VMA guard or the mmap lock
//!   guard lives.
//! - A [`PteMap`] is a PTE table mapped with `__pte_offset_map()`, which holds the RCU read
//!   lock until `pte_unmap()`: the table may be detached meanwhile (by khugepaged, by
//!   pgmove's RECLAIM) but not freed, since both free tables only after an RCU grace period.
//!   It borrows [`MayBlock`], so nothing can sleep while it is mapped.
//! - An entry is changed only with its table's lock held and after re-checking, under that
//!   lock, that the entry is still the one the caller decided on (`pte_same()`/`pmd_same()`)
//!   and, for a PTE destination, that the PMD still points to the mapped table
//!   (`pmd_same()` against the value the table was mapped from; 6.14 added this recheck to
//!   UFFDIO_MOVE). A table detached meanwhile is therefore never written to.
//! - The primitive moves ([`PtePairLock::move_present`], [`PtePairLock::move_zero`],
//!   [`PtePairLock::move_swap`], [`PmdPairLock::move_huge`]) check their own preconditions
//!   under the locks (the folio given is the one mapped at the source, it is exclusive and
//!   not pinned), so a caller cannot make them map a page at the wrong place.
//!
//! Lock order: two PTE (or PMD) locks are taken in the order of the lock addresses, the
//! second with `SINGLE_DEPTH_NESTING`, as `double_pt_lock()` does; when both tables share
//! one lock it is taken once.
//!
//! # Files
//!
//! - `entry.rs`: entry values and what an entry is ([`PmdVal`], [`PteVal`], [`PteKind`],
//!   [`SwapPte`]);
//! - `pmd.rs`: [`PmdPtr`] (walk, allocation, huge-PMD split and wait) and [`HugePmdLock`];
//! - `pte.rs`: [`PteMap`], [`PteLock`] and the two-lock order;
//! - `pair.rs`: [`PtePairLock`] and [`PmdPairLock`] with the per-entry moves;
//! - `run.rs`: [`RunScratch`], the listed entries of a batch, PTE runs;
//! - `huge_run.rs`: THP runs;
//! - `whole_table.rs`: whole-table moves.

use super::{
    folio::{Folio, LockedAnonVma, LockedFolio, ReadFolio, VmaAnonVmaLock},
    mmap::MmapReadGuard,
    swap::SwapDevice,
    tlb::{full_barrier, DeferredFlush},
    vma::{MoveVmas, Vma},
    MayBlock, Mm,
};
use crate::{c, race::Point};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, prelude::*};

mod entry;
mod huge_run;
mod pair;
mod pmd;
mod pte;
mod run;
mod whole_table;

pub(crate) use entry::{PmdVal, PteKind, PteVal, SwapPte};
pub(crate) use pair::{spin_contended, KeptSide, PmdPairLock, PtePairLock};
pub(crate) use pmd::PmdPtr;
pub(crate) use pte::{KeptPteLock, PteMap};
pub(crate) use run::{RunScratch, TABLES_PER_RUN};
// What the files share among themselves (items marked `pub(super)`).
use self::{entry::*, huge_run::*, pte::*, run::*};

// The per-entry loops of the batched paths live in `.text.hot.pgmove`, which starts on a page
// of its own and is smaller than a page (so is the C side's, rust/helpers.c): no loop block
// straddles a page boundary. Under QEMU's TCG, which the benchmarks run on, a translated block
// that spans two guest pages cannot be chained to, so every iteration through such a block
// leaves the translated code (it once cost the whole-table move 38% of its time);
// on hardware this only keeps the hot code together.
// The THP-run loop has a page-aligned section of its own (`.text.hot.pgmove.huge`), for room.
core::arch::global_asm!(
    ".pushsection .text.hot.pgmove,\"ax\",@progbits",
    ".balign 4096",
    ".popsection",
    ".pushsection .text.hot.pgmove.huge,\"ax\",@progbits",
    ".balign 4096",
    ".popsection"
);
