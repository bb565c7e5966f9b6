// SPDX-License-Identifier: GPL-2.0

//! VMAs and the per-VMA read locks that keep them stable during a move.
//!
//! [`MoveVmas`] read-locks the VMA that holds the destination address and the one that holds
//! the source address, as UFFDIO_MOVE's `uffd_move_lock()` does: `lock_vma_under_rcu()` for
//! both, and on any failure the mmap read lock, a lookup, and `vm_lock` taken directly
//! (no `vma_start_write()` can run while the mmap lock is held, so this cannot fail), then the
//! mmap lock is dropped. While the guard lives neither VMA can be unmapped, split, merged or
//! have its flags changed, and their page tables down to the PMD level cannot be freed.
//! The destination VMA gets an anon_vma before it is used (`anon_vma_prepare()`).
//!
//! Lock order: destination VMA, then source VMA (nested), as UFFDIO_MOVE; the source is
//! taken with `lock_vma_under_rcu()`, which never waits, so the two cannot deadlock against
//! a writer holding the mmap lock.
//!
//! [`MoveVmas::lock_exclusive`] instead takes what mremap takes to move page tables: the mmap
//! write lock, and `vma_start_write()` on both VMAs, which waits for and then keeps out every
//! per-VMA-lock reader. Nothing that walks this mm's page tables under the mmap lock or a
//! VMA lock (page faults, GUP, /proc walks, madvise, khugepaged, RECLAIM, UFFDIO_MOVE) can
//! run meanwhile; a whole PTE table may then be moved (see `pgtable::PmdPairLock::move_table`).

use super::Mm;
use crate::c;
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, prelude::*, types::Opaque};

/// A VMA, borrowed while a read lock on it (or the mmap lock) is held.
///
/// # Invariants
///
/// Every `&Vma` points to a `vm_area_struct` that is read-locked (its `vm_lock`, or its mm's
/// mmap lock, see [`super::mmap::MmapReadGuard`]) for the whole borrow.
#[repr(transparent)]
pub(crate) struct Vma(Opaque<bindings::vm_area_struct>);

impl Vma {
    /// The raw pointer, for the rest of the `mm` layer.
    pub(super) fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.0.get()
    }

    /// `vm_start`.
    pub(crate) fn start(&self) -> u64 {
        // SAFETY: the VMA is read-locked (type invariant), so it is alive and `vm_start`
        // changes only under its write lock: the read is no data race.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.vm_start as u64 }
    }

    /// `vm_end`.
    pub(crate) fn end(&self) -> u64 {
        // SAFETY: as in `start`.
        unsafe { (*self.as_ptr()).__bindgen_anon_1.__bindgen_anon_1.vm_end as u64 }
    }

    /// Whether `addr` lies in the VMA.
    pub(crate) fn contains(&self, addr: u64) -> bool {
        addr >= self.start() && addr < self.end()
    }

    /// `vm_flags`.
    pub(crate) fn flags(&self) -> u64 {
        // SAFETY: the VMA is read-locked (type invariant): `vm_flags` changes only under its
        // write lock; both members of the union are the same `vm_flags_t`.
        unsafe { (*self.as_ptr()).__bindgen_anon_2.vm_flags as u64 }
    }

    /// `pgprot_val(vm_page_prot)`.
    pub(crate) fn page_prot(&self) -> u64 {
        // SAFETY: as in `flags`.
        unsafe { (*self.as_ptr()).vm_page_prot.pgprot as u64 }
    }

    /// `vma_is_anonymous()`: no `vm_ops`.
    pub(crate) fn is_anonymous(&self) -> bool {
        // SAFETY: as in `flags`.
        unsafe { (*self.as_ptr()).vm_ops.is_null() }
    }

    /// Whether RECLAIM may free PTE tables that map this VMA: a private anonymous VMA that is
    /// not hugetlb, `VM_PFNMAP`, `VM_IO` or `VM_MIXEDMAP` and not registered with a
    /// userfaultfd (6.12's UFFDIO_MOVE writes into a destination table without rechecking
    /// its PMD). File VMAs are left to khugepaged, whose `retract_page_tables()` frees their
    /// tables under rules of its own. This is the per-VMA half of the rule: while any VMA of
    /// the mm is registered, no table of the mm may go
    /// ([`super::mmap::MmapReadGuard::mm_has_userfaultfd`]).
    pub(crate) fn may_free_page_tables(&self) -> bool {
        self.is_anonymous()
            && self.flags() & c::PGMOVE_VM_NO_RECLAIM as u64 == 0
            && !self.has_userfaultfd()
    }

    /// Whether the VMA is registered with a userfaultfd in any mode (or still carries a
    /// context).
    pub(crate) fn has_userfaultfd(&self) -> bool {
        // SAFETY: as in `flags`; registration changes only under the mmap write lock with
        // the VMA write-locked.
        unsafe { c::pgmove_vma_uffd_registered(self.as_ptr()) }
    }

    /// `vma->anon_vma`, read once (`READ_ONCE()`): it is only ever set once, under the mmap
    /// lock or the page-table lock, and then stays for the VMA's life; a racy read is what
    /// `uffd_lock_vma()` does too. Null if the VMA has none yet.
    pub(super) fn anon_vma(&self) -> *mut bindings::anon_vma {
        // SAFETY: the VMA is alive (type invariant); a volatile read of a pointer-sized,
        // aligned field is what the kernel's `READ_ONCE()` is.
        unsafe { core::ptr::addr_of!((*self.as_ptr()).anon_vma).read_volatile() }
    }

    /// Whether the VMA already has an anon_vma.
    fn has_anon_vma(&self) -> bool {
        !self.anon_vma().is_null()
    }
}

/// The read-locked destination and source VMAs of a move.
///
/// # Invariants
///
/// If `exclusive` is false, `dst` is read-locked (its `vm_lock` held for reading) and so is
/// `src`; if they are the same VMA it is locked once. If `exclusive` is true, the mmap lock
/// of `mm` is held for writing and both VMAs are write-locked (`vma_start_write()`). Both
/// belong to `mm`. The destination VMA has an anon_vma unless it is `VM_SHARED`.
pub(crate) struct MoveVmas<'m> {
    mm: &'m Mm,
    dst: NonNull<bindings::vm_area_struct>,
    src: NonNull<bindings::vm_area_struct>,
    exclusive: bool,
    _not_send: PhantomData<*mut ()>,
}

impl<'m> MoveVmas<'m> {
    /// Read-locks the VMAs containing `dst` and `src`.
    ///
    /// `ENOENT` if either address is in no VMA, `ENOMEM` if the destination VMA's anon_vma
    /// could not be allocated.
    pub(crate) fn lock(mm: &'m Mm, dst: u64, src: u64) -> Result<Self> {
        if let Some(dst_vma) = Self::lock_under_rcu(mm, dst) {
            // SAFETY: `dst_vma` is read-locked by `lock_vma_under_rcu()`.
            let dv = unsafe { &*dst_vma.as_ptr().cast::<Vma>() };
            if dv.flags() & c::PGMOVE_VM_SHARED as u64 != 0 || dv.has_anon_vma() {
                if dv.contains(src) {
                    // INVARIANT: one VMA, read-locked once; it has an anon_vma or is shared.
                    return Ok(Self::new(mm, dst_vma, dst_vma));
                }
                // Never wait for the source VMA while holding the destination's: a writer
                // holding the mmap lock may be waiting for the destination (see
                // `uffd_move_lock()`), so only try, and fall back to the mmap lock.
                if let Some(src_vma) = Self::lock_under_rcu(mm, src) {
                    // INVARIANT: both read-locked, distinct VMAs; dst has an anon_vma.
                    return Ok(Self::new(mm, dst_vma, src_vma));
                }
            }
            // SAFETY: we hold the read lock `lock_vma_under_rcu()` took on `dst_vma`.
            unsafe { c::pgmove_vma_end_read(dst_vma.as_ptr()) };
        }
        Self::lock_under_mmap(mm, dst, src)
    }

    /// Takes the mmap write lock (killable: `EINTR`) and write-locks the VMAs containing
    /// `dst` and `src`, so that no page fault or other page-table walker that needs the mmap
    /// or a VMA lock runs in this mm until the guard is dropped.
    ///
    /// `ENOENT` if either address is in no VMA, `ENOMEM` if the destination VMA's anon_vma
    /// could not be allocated.
    pub(crate) fn lock_exclusive(mm: &'m Mm, dst: u64, src: u64) -> Result<Self> {
        // SAFETY: `mm` is alive; we are in process context (an ioctl) with no lock held.
        if unsafe { c::pgmove_mmap_write_lock_killable(mm.as_ptr()) } != 0 {
            return Err(EINTR);
        }
        let res = Self::lookup_exclusive(mm, dst, src);
        if res.is_err() {
            // SAFETY: taken above; on success the guard's `Drop` releases it.
            unsafe { c::pgmove_mmap_write_unlock(mm.as_ptr()) };
        }
        res
    }

    /// The body of [`Self::lock_exclusive`], with the mmap write lock held.
    fn lookup_exclusive(mm: &'m Mm, dst: u64, src: u64) -> Result<Self> {
        // SAFETY: the mmap lock is held, as `vma_lookup()` requires.
        let dst_vma =
            NonNull::new(unsafe { c::pgmove_vma_lookup(mm.as_ptr(), dst as _) }).ok_or(ENOENT)?;
        // SAFETY: as for `dst_vma`.
        let src_vma =
            NonNull::new(unsafe { c::pgmove_vma_lookup(mm.as_ptr(), src as _) }).ok_or(ENOENT)?;
        // SAFETY: the mmap write lock keeps `dst_vma` alive and its flags stable.
        let dv = unsafe { &*dst_vma.as_ptr().cast::<Vma>() };
        if dv.flags() & c::PGMOVE_VM_SHARED as u64 == 0 {
            // SAFETY: `anon_vma_prepare()` needs the mmap lock (held) and a VMA of `mm`.
            if unsafe { c::pgmove_anon_vma_prepare(dst_vma.as_ptr()) } != 0 {
                return Err(ENOMEM);
            }
        }
        // SAFETY: the mmap write lock is held, as `vma_start_write()` requires; it waits for
        // the VMAs' current readers (we hold no VMA lock) and keeps new ones out until the
        // mmap write lock is released.
        unsafe {
            c::pgmove_vma_start_write(dst_vma.as_ptr());
            c::pgmove_vma_start_write(src_vma.as_ptr());
        }
        // INVARIANT: mmap write lock held, both VMAs write-locked; dst has an anon_vma.
        Ok(Self {
            mm,
            dst: dst_vma,
            src: src_vma,
            exclusive: true,
            _not_send: PhantomData,
        })
    }

    /// Whether the guard holds the mmap write lock ([`Self::lock_exclusive`]).
    pub(crate) fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// `lock_vma_under_rcu()`.
    fn lock_under_rcu(mm: &Mm, addr: u64) -> Option<NonNull<bindings::vm_area_struct>> {
        // SAFETY: `mm` is alive (`Mm` invariant); the function takes the VMA's read lock
        // itself and returns NULL when it cannot.
        NonNull::new(unsafe { c::lock_vma_under_rcu(mm.as_ptr(), addr as _) })
    }

    /// The fallback: look both VMAs up under the mmap read lock and take their `vm_lock`s.
    fn lock_under_mmap(mm: &'m Mm, dst: u64, src: u64) -> Result<Self> {
        // SAFETY: `mm` is alive; we are in process context (an ioctl) with no lock held.
        unsafe { c::pgmove_mmap_read_lock(mm.as_ptr()) };
        let res = Self::lookup_locked(mm, dst, src);
        // SAFETY: taken just above.
        unsafe { c::pgmove_mmap_read_unlock(mm.as_ptr()) };
        res
    }

    /// The body of [`Self::lock_under_mmap`], with the mmap read lock held.
    fn lookup_locked(mm: &'m Mm, dst: u64, src: u64) -> Result<Self> {
        // SAFETY: the mmap lock is held, as `vma_lookup()` requires.
        let dst_vma =
            NonNull::new(unsafe { c::pgmove_vma_lookup(mm.as_ptr(), dst as _) }).ok_or(ENOENT)?;
        // SAFETY: the mmap lock keeps `dst_vma` alive and its flags stable.
        let dv = unsafe { &*dst_vma.as_ptr().cast::<Vma>() };
        if dv.flags() & c::PGMOVE_VM_SHARED as u64 == 0 {
            // SAFETY: `anon_vma_prepare()` needs the mmap lock (held, read) and a VMA of `mm`.
            if unsafe { c::pgmove_anon_vma_prepare(dst_vma.as_ptr()) } != 0 {
                return Err(ENOMEM);
            }
        }
        let src_vma = if dv.contains(src) {
            dst_vma
        } else {
            // SAFETY: as for `dst_vma`.
            NonNull::new(unsafe { c::pgmove_vma_lookup(mm.as_ptr(), src as _) }).ok_or(ENOENT)?
        };
        // SAFETY: under the mmap lock no `vma_start_write()` can run, so `vm_lock` can be
        // taken directly (as `uffd_move_lock()` does); the lock is released by `Drop`.
        unsafe { c::pgmove_vma_read_lock_under_mmap(dst_vma.as_ptr(), false) };
        if src_vma != dst_vma {
            // SAFETY: as above; a second VMA's lock of the same class, hence nested.
            unsafe { c::pgmove_vma_read_lock_under_mmap(src_vma.as_ptr(), true) };
        }
        // INVARIANT: both read-locked (once if the same); dst has an anon_vma or is shared.
        Ok(Self::new(mm, dst_vma, src_vma))
    }

    fn new(
        mm: &'m Mm,
        dst: NonNull<bindings::vm_area_struct>,
        src: NonNull<bindings::vm_area_struct>,
    ) -> Self {
        Self {
            mm,
            dst,
            src,
            exclusive: false,
            _not_send: PhantomData,
        }
    }

    /// The mm both VMAs belong to.
    pub(crate) fn mm(&self) -> &'m Mm {
        self.mm
    }

    /// The destination VMA.
    pub(crate) fn dst(&self) -> &Vma {
        // SAFETY: read-locked while `self` lives (type invariant); `Vma` is transparent.
        unsafe { &*self.dst.as_ptr().cast::<Vma>() }
    }

    /// The source VMA.
    pub(crate) fn src(&self) -> &Vma {
        // SAFETY: as in `dst`.
        unsafe { &*self.src.as_ptr().cast::<Vma>() }
    }
}

impl Drop for MoveVmas<'_> {
    fn drop(&mut self) {
        if self.exclusive {
            // SAFETY: held for writing by us (type invariant); dropping it also ends the
            // VMAs' write locks.
            unsafe { c::pgmove_mmap_write_unlock(self.mm.as_ptr()) };
            return;
        }
        // SAFETY: by the type invariant we hold the read lock of `src`, and of `dst` if it is
        // another VMA; each is released once.
        unsafe { c::pgmove_vma_end_read(self.src.as_ptr()) };
        if self.src != self.dst {
            // SAFETY: as above.
            unsafe { c::pgmove_vma_end_read(self.dst.as_ptr()) };
        }
    }
}
