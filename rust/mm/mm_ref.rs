// SPDX-License-Identifier: GPL-2.0

//! `struct mm_struct`: references to it and the calling task's address space.
//!
//! [`MmGrab`] holds an `mmgrab()` reference: the `mm_struct` stays allocated (so its address
//! cannot be reused by another process's mm while we hold it), but its address space may be
//! torn down. It is what an open `/dev/pgmove` file keeps to know whose mm it serves.
//! [`Mm`] is a borrowed `mm_struct` whose address space is alive for the borrow: the one
//! [`MmGrab::current`] hands out is the calling task's own, which cannot exit during the call.

use crate::c;
use core::ptr::NonNull;
use kernel::{bindings, error::from_err_ptr, prelude::*, types::Opaque};

/// A `struct mm_struct` whose address space (`mm_users > 0`) is alive while it is borrowed.
///
/// # Invariants
///
/// Every `&Mm` points to an `mm_struct` with `mm_users > 0` for the whole borrow.
#[repr(transparent)]
pub(crate) struct Mm(Opaque<bindings::mm_struct>);

impl Mm {
    /// The raw `mm_struct` pointer, for the rest of the `mm` layer.
    pub(super) fn as_ptr(&self) -> *mut bindings::mm_struct {
        self.0.get()
    }

    /// `mm->task_size`: the end of the user address space.
    pub(crate) fn task_size(&self) -> u64 {
        // SAFETY: by the type invariant the mm is alive; `task_size` is set at exec and not
        // written after.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.task_size as u64 }
    }
}

/// An `mmgrab()` reference to an `mm_struct`.
///
/// # Invariants
///
/// `self.0` points to an `mm_struct` on which this value owns one `mm_count` reference
/// (taken by `mmgrab()`, given back by `mmdrop()` on drop).
pub(crate) struct MmGrab(NonNull<bindings::mm_struct>);

// SAFETY: an `mm_count` reference may be taken in one task and dropped in another; `mmdrop()`
// may be called from any task context.
unsafe impl Send for MmGrab {}
// SAFETY: `&MmGrab` only allows comparing the pointer, which is immutable.
unsafe impl Sync for MmGrab {}

impl MmGrab {
    /// Grabs the calling task's mm; `None` for a task without one (a kernel thread).
    pub(crate) fn current() -> Option<Self> {
        // SAFETY: reading `current->mm` of the calling task is always allowed.
        let mm = NonNull::new(unsafe { c::pgmove_current_mm() })?;
        // SAFETY: `mm` is the calling task's mm, alive while this task runs; `mmgrab()` takes
        // the `mm_count` reference that the type invariant records.
        unsafe { c::pgmove_mmgrab(mm.as_ptr()) };
        // INVARIANT: we took one `mm_count` reference on `mm` just above.
        Some(Self(mm))
    }

    /// Whether this is the calling task's mm.
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: reading `current->mm` of the calling task is always allowed.
        let current = unsafe { c::pgmove_current_mm() };
        core::ptr::eq(current, self.0.as_ptr())
    }

    /// The address space, if it is the calling task's own (else `None`).
    ///
    /// The borrow cannot outlive the call that made it in practice: the caller is the task
    /// whose mm this is, and its `mm_users` reference lasts until it exits, which it cannot
    /// do while it runs this code.
    pub(crate) fn as_current(&self) -> Option<&Mm> {
        if !self.is_current() {
            return None;
        }
        // SAFETY: `self.0` is the calling task's mm (checked above), which holds an
        // `mm_users` reference for as long as the task runs; `Mm` is `repr(transparent)`
        // over `Opaque<mm_struct>`.
        // INVARIANT: `mm_users > 0` while the calling task runs, which covers the borrow.
        Some(unsafe { &*self.0.as_ptr().cast::<Mm>() })
    }
}

impl Drop for MmGrab {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own one `mm_count` reference on `self.0`; it is
        // given back exactly once, here.
        unsafe { c::pgmove_mmdrop(self.0.as_ptr()) };
    }
}

/// An `mmget()` reference (`mm_users`) to another process's address space: the address
/// space stays alive (its VMAs and page tables are not torn down) until this is dropped.
///
/// # Invariants
///
/// `self.0` points to an `mm_struct` on which this value owns one `mm_users` reference,
/// given back by `mmput()` on drop.
pub(crate) struct MmUsers(NonNull<bindings::mm_struct>);

impl MmUsers {
    /// The address space of the process `pidfd` names, with the rights
    /// `process_madvise()` asks for on 6.12: ptrace read access with the caller's fs
    /// credentials (`mm_access(PTRACE_MODE_READ_FSCREDS)`), and `CAP_SYS_NICE` unless it is
    /// the caller's own mm.
    ///
    /// `EBADF` if `pidfd` is not a pidfd, `ESRCH` if the process is gone or has no mm any
    /// more, `EPERM` without the rights (where `process_madvise()` says `EACCES` for the
    /// ptrace check), `EINTR` if a fatal signal interrupts the wait for the target's exec.
    pub(crate) fn from_pidfd(pidfd: i32) -> Result<Self> {
        let mut f_flags = 0;
        // SAFETY: `pidfd_get_task()` looks the fd up in the caller's table and returns a
        // task reference, or an error pointer.
        let task = from_err_ptr(unsafe { bindings::pidfd_get_task(pidfd, &mut f_flags) })?;
        // SAFETY: `task` is a valid task we hold a reference on.
        let mm = unsafe { bindings::mm_access(task, c::PGMOVE_PTRACE_MODE_READ_FSCREDS) };
        // SAFETY: we own the reference `pidfd_get_task()` returned; released once, here.
        unsafe { c::pgmove_put_task_struct(task) };
        let mm = match from_err_ptr(mm) {
            Err(e) if e == EACCES => return Err(EPERM),
            res => NonNull::new(res?).ok_or(ESRCH)?,
        };
        // INVARIANT: `mm_access()` returned `mm` with an `mm_users` reference.
        let users = Self(mm);
        // SAFETY: reading `current->mm` of the calling task is always allowed.
        let own = core::ptr::eq(unsafe { c::pgmove_current_mm() }, mm.as_ptr());
        // SAFETY: `capable()` checks the caller's effective capability (and audits it).
        if !own && !unsafe { bindings::capable(c::PGMOVE_CAP_SYS_NICE) } {
            return Err(EPERM);
        }
        Ok(users)
    }

    /// The address space, alive while `self` is borrowed.
    pub(crate) fn mm(&self) -> &Mm {
        // SAFETY: we own an `mm_users` reference (type invariant); `Mm` is transparent.
        // INVARIANT: `mm_users > 0` while `self` lives, which covers the borrow.
        unsafe { &*self.0.as_ptr().cast::<Mm>() }
    }
}

impl Drop for MmUsers {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own one `mm_users` reference, given back once.
        // `mmput()` may sleep (the last reference tears the address space down); `MmUsers`
        // is only held in ioctl context.
        unsafe { c::pgmove_mmput(self.0.as_ptr()) };
    }
}
