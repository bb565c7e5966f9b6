// SPDX-License-Identifier: GPL-2.0

//! Race points: named places in MOVE and RECLAIM where a test holds the calling task, or
//! delays it, so that another task acts inside the window that the place opens, every time
//! instead of by chance. Documentation/reliability.rst lists the points, the window each one
//! opens and the test (selftests/race_test.c) that uses it.
//!
//! Compiled in only with `--cfg pgmove_race_points` (Kbuild: `PGMOVE_RACE_POINTS=y`, which
//! the debug build sets and the perf build does not); without it every point is an empty
//! inline function, and there is no debugfs file.
//!
//! # Control
//!
//! `/sys/kernel/debug/pgmove/race_points` (root only). Reading it lists the points, one per
//! line: `name context mode tgid skip delay_us hits state contended timeouts passed_ns`
//! (`passed_ns`: when the last stopped task went on, CLOCK_MONOTONIC). Writing it
//! takes one command per write:
//!
//! * `stop NAME TGID [SKIP]`: the `SKIP + 1`-th task of process `TGID` to reach the point
//!   stops there until `release NAME` (one stop per arming);
//! * `hold NAME TGID MS [SKIP]`: as `stop`, but the stop also ends by itself after `MS`
//!   milliseconds, not counted as a timeout (with two CPUs, one spinning at an atomic
//!   point and one spinning for its lock, nobody is left to release it);
//! * `delay NAME TGID USECS`: every task of `TGID` that reaches the point waits `USECS`;
//! * `release NAME`: the stopped task goes on;
//! * `off NAME`, `off all`: disarm (releasing a stopped task).
//!
//! Only tasks of the armed process are affected, so the rest of the system (the reclaim
//! daemon, other tests) runs as usual.
//!
//! # Waiting
//!
//! A point is *sleepable* (no spinlock, no RCU read lock held: a [`MayBlock`] token proves it;
//! the stopped task sleeps on a completion) or *atomic* (under page-table locks, or with a
//! PTE table mapped, which holds the RCU read lock: it spins on the completion with
//! interrupts enabled, so TLB-flush IPIs are served meanwhile). An atomic point reports
//! `contended` when another task waits for a lock the stopped task holds: a test can then
//! release it knowing the other task is inside the window. (For spinlocks only with the
//! queued spinlock: a guest without paravirtual spinlocks, such as one under QEMU's TCG,
//! uses a test-and-set lock whose waiters leave no trace; folio-lock waiters always do.) A stop is bounded: 10 s at an
//! atomic point (RCU stall reports start at 21 s), 60 s at a sleepable one; a stop that runs
//! out goes on and is counted in `timeouts`, which every test checks is 0.
//!
//! Lock order: none of its own; a point takes no lock.

use crate::mm::MayBlock;

/// The race points, each a window of MOVE or RECLAIM (Documentation/reliability.rst).
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Point {
    /// A batched PTE run has mapped both PTE tables (RCU) and taken no lock yet; or, for
    /// MOVEV entries that share a table, holds that table's lock and has mapped the entry's
    /// table on the other side, not yet locked. Atomic.
    RunMapped,
    /// A batched PTE run has checked its entries and locked their folios, both PTE locks
    /// held, and has not yet cleared the source entries. Atomic.
    RunListed,
    /// A whole-table move has checked the first source table's entries and locked their
    /// folios (mmap write lock, both PMD locks and the table's lock held), and has not yet
    /// cleared its PMD. Atomic.
    TablesListed,
    /// A run of THPs has checked and locked its source PMDs' folios under both PMD locks,
    /// and has not yet cleared the PMDs. Atomic.
    HugeRunListed,
    /// MOVE has seen a PMD-mapped THP at the source without its lock, and is about to take
    /// the PMD locks (which recheck it). Sleepable.
    HugeSeen,
    /// A batched run is about to unlock its folios, page-table locks held, its pages
    /// written at the destination. Atomic; `contended` when a folio lock has a waiter.
    BatchUnlock,
    /// Between two steps of a MOVE while the call owes the TLB flush of source entries it
    /// has cleared (no page-table lock held). Sleepable.
    FlushPending,
    /// A MOVE has dropped its VMA locks (or the mmap write lock) in the middle of a call.
    /// Sleepable.
    VmasReleased,
    /// The per-page path has read a swap entry at the source and holds its swap device,
    /// before it looks the entry up in the swap cache (PTE tables mapped). Atomic.
    SwapEntryRead,
    /// RECLAIM has found a PTE table all none, its PMD lock and PTE lock held, and has not
    /// yet cleared the PMD. Atomic.
    ReclaimScanned,
}

#[cfg_attr(not(pgmove_race_points), allow(dead_code))]
impl Point {
    const COUNT: usize = 10;
    const ALL: [Point; Self::COUNT] = [
        Point::RunMapped,
        Point::RunListed,
        Point::TablesListed,
        Point::HugeRunListed,
        Point::HugeSeen,
        Point::BatchUnlock,
        Point::FlushPending,
        Point::VmasReleased,
        Point::SwapEntryRead,
        Point::ReclaimScanned,
    ];

    /// The point's name in the debugfs file.
    fn name(self) -> &'static str {
        match self {
            Point::RunMapped => "run_mapped",
            Point::RunListed => "run_listed",
            Point::TablesListed => "tables_listed",
            Point::HugeRunListed => "huge_run_listed",
            Point::HugeSeen => "huge_seen",
            Point::BatchUnlock => "batch_unlock",
            Point::FlushPending => "flush_pending",
            Point::VmasReleased => "vmas_released",
            Point::SwapEntryRead => "swap_entry_read",
            Point::ReclaimScanned => "reclaim_scanned",
        }
    }

    /// Whether the point is reached with a spinlock or the RCU read lock held.
    fn is_atomic(self) -> bool {
        !matches!(
            self,
            Point::HugeSeen | Point::FlushPending | Point::VmasReleased
        )
    }
}

#[cfg(pgmove_race_points)]
mod points;
#[cfg(pgmove_race_points)]
pub(crate) use points::Registration;

/// The race point `point` in a sleepable context (`mb` proves it).
#[inline(always)]
pub(crate) fn sleepable(point: Point, mb: &mut MayBlock) {
    #[cfg(pgmove_race_points)]
    points::reached_sleepable(point, mb);
    #[cfg(not(pgmove_race_points))]
    let _ = (point, mb);
}

/// The race point `point` under a spinlock or the RCU read lock; `contended` says whether
/// another task waits for something the caller holds (called while stopped).
#[inline(always)]
pub(crate) fn atomic(point: Point, contended: impl FnMut() -> bool) {
    #[cfg(pgmove_race_points)]
    points::reached_atomic(point, contended);
    #[cfg(not(pgmove_race_points))]
    let _ = (point, contended);
}

/// Without race points: nothing to register.
#[cfg(not(pgmove_race_points))]
pub(crate) struct Registration;

#[cfg(not(pgmove_race_points))]
impl Registration {
    pub(crate) fn new(_module: &'static kernel::ThisModule) -> kernel::error::Result<Self> {
        Ok(Self)
    }
}
