// SPDX-License-Identifier: GPL-2.0

//! The calling task: whether it may sleep, and whether it is being killed.
//!
//! [`MayBlock`] is a token for "this code runs in process context and may sleep". Functions
//! that sleep (folio lock, anon_vma lock, swap waits, splits, `cond_resched`) take it by
//! `&mut`; a mapped PTE table (which holds the RCU read lock) and every page-table spinlock
//! guard borrow it by `&`. The borrow checker therefore rejects any code that would sleep
//! while a PTE table is mapped or a page-table lock is held.

use crate::c;
use core::marker::PhantomData;

/// Proof that the holder runs in a sleepable process context (an ioctl).
///
/// # Invariants
///
/// Created only at the top of an ioctl, where no spinlock and no RCU read lock is held.
pub(crate) struct MayBlock {
    /// Neither `Send` nor `Sync`: the token belongs to the calling task.
    _not_send: PhantomData<*mut ()>,
}

impl MayBlock {
    /// The token for an ioctl handler.
    ///
    /// # Safety
    ///
    /// The caller runs in process context with no spinlock, no RCU read lock and no mapped
    /// PTE table held, and creates one token per ioctl. The guarantee the token gives is
    /// only as good as that: a token made where sleeping is not allowed (or a guard whose
    /// borrow was ended early with `mem::forget`) would let code sleep with a page-table
    /// lock held or a PTE table mapped, and a table mapped across a sleep can be freed
    /// under it (its RCU grace period may end meanwhile).
    pub(crate) unsafe fn ioctl_context() -> Self {
        // INVARIANT: called from the ioctl dispatch, in process context with no lock held.
        Self {
            _not_send: PhantomData,
        }
    }

    /// `cond_resched()`.
    pub(crate) fn cond_resched(&mut self) {
        // SAFETY: `&mut self` proves no PTE map or spinlock guard borrowing this token is
        // alive, so by the type invariant we are in a sleepable context.
        unsafe { c::pgmove_cond_resched() };
    }

    /// `need_resched()`: whether the scheduler wants the CPU back.
    pub(crate) fn need_resched(&self) -> bool {
        // SAFETY: reading the calling task's flags is always allowed.
        unsafe { c::pgmove_need_resched() }
    }

    /// Whether the calling task has a fatal signal pending (it is being killed).
    pub(crate) fn fatal_signal_pending(&self) -> bool {
        // SAFETY: reading the calling task's signal state is always allowed.
        unsafe { c::pgmove_fatal_signal_pending() }
    }
}
