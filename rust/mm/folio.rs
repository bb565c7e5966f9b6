// SPDX-License-Identifier: GPL-2.0

//! Folios, their locks and references, and the anon_vma write lock.
//!
//! [`Folio`] is a borrowed folio, valid while whatever handed it out (a page-table lock that
//! maps it, or a reference) lives. [`FolioRef`] owns a reference (`folio_get()`),
//! [`LockedFolio`] a reference and the folio lock. [`AnonVmaRef`] owns a reference on an
//! anon_vma (`folio_get_anon_vma()`), [`LockedAnonVma`] a reference and its write lock,
//! which keeps rmap walkers that do not take the folio lock (`folio_referenced()`,
//! `split_huge_page()`) away while a move rewrites the folio's `mapping` and `index`.
//!
//! Lock order: folio lock, then anon_vma write lock, then page-table locks. Taking a folio or
//! anon_vma lock may sleep and so needs `&mut MayBlock`; `try_lock` variants never sleep.

use super::{vma::Vma, MayBlock};
use crate::c;
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{bindings, prelude::*, types::Opaque};

/// A snapshot of a folio's size, anon, exclusive and pin bits ([`Folio::state`]).
#[derive(Clone, Copy)]
pub(crate) struct FolioState(u32);

impl FolioState {
    fn has(self, bit: u32) -> bool {
        self.0 & bit != 0
    }

    /// A PMD-sized THP's conditions to move: large (the folio `pmd_folio()` gives is its
    /// head), anonymous, exclusive, not pinned (`move_pages_huge_pmd()`'s).
    pub(crate) fn is_movable_huge(self) -> bool {
        self.has(c::pgmove_folio_state_PGMOVE_FOLIO_LARGE)
            && self.has(c::pgmove_folio_state_PGMOVE_FOLIO_ANON)
            && self.has(c::pgmove_folio_state_PGMOVE_FOLIO_ANON_EXCLUSIVE)
            && !self.has(c::pgmove_folio_state_PGMOVE_FOLIO_MAYBE_PINNED)
    }

    /// A small (order-0) anonymous folio, exclusive to its one mapping, and not pinned:
    /// what the batched paths move (`move_present_pte()`'s conditions).
    pub(crate) fn is_movable_small(self) -> bool {
        !self.has(c::pgmove_folio_state_PGMOVE_FOLIO_LARGE)
            && self.has(c::pgmove_folio_state_PGMOVE_FOLIO_ANON)
            && self.has(c::pgmove_folio_state_PGMOVE_FOLIO_ANON_EXCLUSIVE)
            && !self.has(c::pgmove_folio_state_PGMOVE_FOLIO_MAYBE_PINNED)
    }
}

/// A folio found through a PTE by [`Folio::read_pte`]: its state, and the root of its
/// anon_vma tree if the lookup locked it (the caller then holds the folio lock).
pub(crate) struct ReadFolio<'a> {
    pub(super) folio: &'a Folio,
    pub(super) state: FolioState,
    pub(super) locked_root: Option<NonNull<bindings::anon_vma>>,
}

/// A folio, borrowed while something keeps it alive.
///
/// # Invariants
///
/// Every `&Folio` points to a folio that is not freed during the borrow.
#[repr(transparent)]
pub(crate) struct Folio(Opaque<bindings::folio>);

impl Folio {
    /// Borrows a folio.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid folio that stays allocated for `'a`.
    pub(super) unsafe fn from_raw<'a>(ptr: *mut bindings::folio) -> &'a Folio {
        // SAFETY: the caller guarantees validity for `'a`; `Folio` is transparent.
        unsafe { &*ptr.cast::<Folio>() }
    }

    /// The raw pointer, for the rest of the `mm` layer.
    pub(super) fn as_ptr(&self) -> *mut bindings::folio {
        self.0.get()
    }

    /// Takes a reference (`folio_get()`).
    pub(crate) fn get(&self) -> FolioRef {
        // SAFETY: the folio is alive for the borrow (type invariant), so its refcount is
        // positive and may be raised.
        unsafe { c::pgmove_folio_get(self.as_ptr()) };
        // INVARIANT: the reference taken just above.
        FolioRef(NonNull::from(&self.0).cast())
    }

    /// `folio_test_large()`: more than one page.
    pub(crate) fn is_large(&self) -> bool {
        // SAFETY: reading the flags of a live folio.
        unsafe { c::pgmove_folio_test_large(self.as_ptr()) }
    }

    /// `folio_test_anon()`.
    pub(crate) fn is_anon(&self) -> bool {
        // SAFETY: reading the mapping bits of a live folio.
        unsafe { c::pgmove_folio_test_anon(self.as_ptr()) }
    }

    /// `folio_test_head()`: the head of a large folio.
    pub(crate) fn is_head(&self) -> bool {
        // SAFETY: reading the flags of a live folio.
        unsafe { c::pgmove_folio_test_head(self.as_ptr()) }
    }

    /// `PageAnonExclusive()` of the folio's first page: mapped by exactly one process and
    /// not shared with a KSM stable tree or a fork child.
    pub(crate) fn is_anon_exclusive(&self) -> bool {
        // SAFETY: reading the flags of a live folio's first page.
        unsafe { c::pgmove_folio_anon_exclusive(self.as_ptr()) }
    }

    /// Whether `PageAnonExclusive()` holds for every page of the folio.
    pub(crate) fn all_anon_exclusive(&self) -> bool {
        // SAFETY: reading the flags of a live folio's pages.
        unsafe { c::pgmove_folio_all_anon_exclusive(self.as_ptr()) }
    }

    /// `folio_nr_pages()`.
    pub(crate) fn nr_pages(&self) -> usize {
        // SAFETY: reading the order of a live folio.
        // CAST: a page count, at most a PMD's worth here.
        unsafe { c::pgmove_folio_nr_pages(self.as_ptr()) as usize }
    }

    /// `folio_mapcount()`: how many page-table entries map pages of the folio.
    pub(crate) fn mapcount(&self) -> i32 {
        // SAFETY: reading the mapcounts of a live folio.
        unsafe { c::pgmove_folio_mapcount(self.as_ptr()) }
    }

    /// `folio_pfn()`: the PFN of the first page.
    pub(crate) fn pfn(&self) -> u64 {
        // SAFETY: address arithmetic on a live folio.
        unsafe { c::pgmove_folio_pfn(self.as_ptr()) as u64 }
    }

    /// `folio_maybe_dma_pinned()`: possibly pinned with FOLL_PIN (io_uring, O_DIRECT, RDMA).
    pub(crate) fn maybe_dma_pinned(&self) -> bool {
        // SAFETY: reading the refcount/pincount of a live folio.
        unsafe { c::pgmove_folio_maybe_dma_pinned(self.as_ptr()) }
    }

    /// The tests the batched move paths make of a folio ([`FolioState`]), in one call.
    pub(crate) fn state(&self) -> FolioState {
        // SAFETY: reads the flags, mapping and refcount of a live folio.
        FolioState(unsafe { c::pgmove_folio_state(self.as_ptr()) })
    }

    /// Reads the entry at `ptep` (`ptep_get()`) and classifies it; for an entry that maps a
    /// page, also the folio of it with its [`FolioState`], and tries to lock that folio as
    /// [`Folio::try_lock_anon_root`] does: all in one call. The third element is the folio,
    /// its state, and the root of its anon_vma tree if the folio is now locked.
    ///
    /// The folio is what `vm_normal_folio()` gives for a VMA that MOVE accepts (anonymous,
    /// not `VM_PFNMAP` or `VM_MIXEDMAP`): that of the entry's pfn, none for a special entry
    /// (which the batched paths leave to the per-page path).
    ///
    /// # Safety
    ///
    /// `ptep` is an entry of `vma`, one of the VMAs of a [`MoveVmas`](super::vma::MoveVmas)
    /// (so MOVE accepts it), in a mapped PTE table whose lock the caller holds for `'a` (so
    /// the folio stays mapped, and allocated, meanwhile). A folio returned locked must be
    /// unlocked by the caller ([`Folio::unlock`]) before that lock goes.
    pub(super) unsafe fn read_pte<'a>(
        _vma: &Vma,
        ptep: *mut bindings::pte_t,
    ) -> (c::pgmove_pte_kind, bindings::pte_t, Option<ReadFolio<'a>>) {
        let mut val = bindings::pte_t { pte: 0 };
        let (mut folio, mut state, mut root) = (core::ptr::null_mut(), 0, core::ptr::null_mut());
        // SAFETY: `ptep` is a mapped entry of a VMA MOVE accepts, locked (caller); the rest is
        // ours.
        let kind =
            unsafe { c::pgmove_ptep_get_folio(ptep, &mut val, &mut folio, &mut state, &mut root) };
        let read = (!folio.is_null()).then(|| ReadFolio {
            // SAFETY: mapped by the entry, whose table lock the caller holds for `'a`.
            folio: unsafe { Folio::from_raw(folio) },
            state: FolioState(state),
            locked_root: NonNull::new(root),
        });
        (kind, val, read)
    }

    /// Tries to lock the folio without sleeping or taking a reference, and returns the root
    /// of the anon_vma tree it is mapped through, read under that lock; `None`, with the
    /// folio not locked, if the lock is taken or the folio is not anonymous.
    ///
    /// # Safety
    ///
    /// The folio must stay allocated until the caller unlocks it with [`Folio::unlock`]
    /// (a page-table lock held over an entry that maps it, for the whole time, does that).
    pub(super) unsafe fn try_lock_anon_root(&self) -> Option<NonNull<bindings::anon_vma>> {
        // SAFETY: the folio is alive (type invariant); the bit lock never sleeps; `mapping` is
        // read under it.
        NonNull::new(unsafe { c::pgmove_folio_trylock_anon_root(self.as_ptr()) })
    }

    /// Unlocks a folio locked with [`Folio::try_lock_anon_root`].
    ///
    /// # Safety
    ///
    /// The caller locked the folio and has not unlocked it since.
    pub(super) unsafe fn unlock(&self) {
        // SAFETY: locked by the caller, alive (type invariant).
        unsafe { c::folio_unlock(self.as_ptr()) };
    }

    /// Rewrites the anon rmap of a locked folio for `vma` at `addr`, as
    /// [`LockedFolio::move_anon_rmap`] does.
    ///
    /// # Safety
    ///
    /// The caller holds the folio lock; `vma` has an anon_vma.
    pub(super) unsafe fn move_anon_rmap_locked(&self, vma: &Vma, addr: u64) {
        // SAFETY: the folio is locked (caller) and alive; `vma` is locked with an anon_vma, as
        // `folio_move_anon_rmap()` requires; `index` is under the folio lock.
        unsafe { c::pgmove_folio_move_anon_rmap_at(self.as_ptr(), vma.as_ptr(), addr as _) };
    }

    /// `is_huge_zero_folio()`.
    pub(crate) fn is_huge_zero(&self) -> bool {
        // SAFETY: compares the pointer with the huge zero folio; no dereference.
        unsafe { c::pgmove_is_huge_zero_folio(self.as_ptr()) }
    }
}

/// An owned reference on a folio.
///
/// # Invariants
///
/// `self.0` is a folio on which this value owns one reference.
pub(crate) struct FolioRef(NonNull<bindings::folio>);

impl FolioRef {
    /// Adopts a reference the caller owns.
    ///
    /// # Safety
    ///
    /// `ptr` is a folio on which the caller owns one reference, which passes to the result.
    pub(super) unsafe fn from_owned(ptr: NonNull<bindings::folio>) -> Self {
        // INVARIANT: the caller hands over its reference.
        Self(ptr)
    }

    /// Tries to lock the folio without sleeping; gives the reference back on failure.
    pub(crate) fn try_lock(self) -> core::result::Result<LockedFolio, FolioRef> {
        // SAFETY: we own a reference, so the folio is alive.
        if unsafe { c::pgmove_folio_trylock(self.0.as_ptr()) } {
            // INVARIANT: locked just above; the reference moves into the guard.
            Ok(LockedFolio(self))
        } else {
            Err(self)
        }
    }

    /// Locks the folio, sleeping if needed.
    pub(crate) fn lock(self, _may_block: &mut MayBlock) -> LockedFolio {
        // SAFETY: we own a reference; `&mut MayBlock` proves we may sleep.
        unsafe { c::pgmove_folio_lock(self.0.as_ptr()) };
        // INVARIANT: locked just above; the reference moves into the guard.
        LockedFolio(self)
    }
}

impl core::ops::Deref for FolioRef {
    type Target = Folio;
    fn deref(&self) -> &Folio {
        // SAFETY: we own a reference, so the folio lives as long as `self`.
        unsafe { Folio::from_raw(self.0.as_ptr()) }
    }
}

impl Drop for FolioRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant); it is dropped exactly once.
        unsafe { c::pgmove_folio_put(self.0.as_ptr()) };
    }
}

/// A folio that this value holds a reference on and has locked.
///
/// # Invariants
///
/// The folio of `self.0` is locked by us; `Drop` unlocks it before the reference goes.
pub(crate) struct LockedFolio(FolioRef);

impl LockedFolio {
    /// `split_folio()`: splits a large folio into order-0 folios. The folio stays locked
    /// and referenced (it is then the first small folio).
    ///
    /// `EBUSY` when it cannot, including where `split_folio()` says `EAGAIN` (references
    /// beyond the mappings'): those may be held forever (a pin, a pipe), so retrying could
    /// spin without end; 6.12's UFFDIO_MOVE makes the same conversion.
    pub(crate) fn split(&mut self, _may_block: &mut MayBlock) -> Result {
        // SAFETY: the folio is locked and referenced by us (type invariant), as
        // `split_folio()` requires; `&mut MayBlock` proves we may sleep.
        match kernel::error::to_result(unsafe { c::pgmove_split_folio(self.0 .0.as_ptr()) }) {
            Err(EAGAIN) => Err(EBUSY),
            res => res,
        }
    }

    /// `folio_get_anon_vma()`: a reference on the folio's anon_vma, `None` if the folio
    /// was unmapped meanwhile.
    pub(crate) fn anon_vma(&self) -> Option<AnonVmaRef> {
        // SAFETY: the folio is referenced; the function takes its own RCU read lock.
        let av = unsafe { c::folio_get_anon_vma(self.0 .0.as_ptr()) };
        // INVARIANT: a non-NULL result carries a reference for us.
        NonNull::new(av).map(AnonVmaRef)
    }

    /// Whether the folio is still in the swap cache for swap entry `entry`.
    pub(crate) fn is_swap_cache_of(&self, entry: bindings::swp_entry_t) -> bool {
        // SAFETY: reading the flags and `swap` of a folio we hold locked.
        unsafe { c::pgmove_folio_is_swap_entry(self.0 .0.as_ptr(), entry) }
    }

    /// Rewrites the folio's anon rmap for `vma` at `addr`: `folio_move_anon_rmap()` (its
    /// `mapping` becomes `vma`'s anon_vma) and `index = linear_page_index(vma, addr)`.
    ///
    /// Called by the page-table layer with both page-table locks held, so no page-table
    /// walker sees the folio half-moved; the folio lock (held) keeps locked rmap walkers out.
    pub(super) fn move_anon_rmap(&mut self, vma: &Vma, addr: u64) {
        // SAFETY: the folio is locked (type invariant) and `vma` is read-locked with an
        // anon_vma (`MoveVmas` prepared it), as `folio_move_anon_rmap()` requires; `index` is
        // protected by the folio lock.
        unsafe { c::pgmove_folio_move_anon_rmap_at(self.0 .0.as_ptr(), vma.as_ptr(), addr as _) };
    }
}

impl core::ops::Deref for LockedFolio {
    type Target = Folio;
    fn deref(&self) -> &Folio {
        &self.0
    }
}

impl Drop for LockedFolio {
    fn drop(&mut self) {
        // SAFETY: the folio is locked by us (type invariant); our reference (dropped after
        // this, with the field) keeps it alive across the unlock.
        unsafe { c::folio_unlock(self.0 .0.as_ptr()) };
    }
}

/// An owned reference on an anon_vma.
///
/// # Invariants
///
/// `self.0` is an anon_vma on which this value owns one reference.
pub(crate) struct AnonVmaRef(NonNull<bindings::anon_vma>);

impl AnonVmaRef {
    /// Tries to take the write lock without sleeping; gives the reference back on failure.
    pub(crate) fn try_lock_write(self) -> core::result::Result<LockedAnonVma, AnonVmaRef> {
        // SAFETY: we own a reference, so the anon_vma (and its root) is alive.
        if unsafe { c::pgmove_anon_vma_trylock_write(self.0.as_ptr()) } {
            // INVARIANT: write-locked just above.
            Ok(LockedAnonVma(self))
        } else {
            Err(self)
        }
    }

    /// Takes the write lock, sleeping if needed.
    pub(crate) fn lock_write(self, _may_block: &mut MayBlock) -> LockedAnonVma {
        // SAFETY: we own a reference; `&mut MayBlock` proves we may sleep.
        unsafe { c::pgmove_anon_vma_lock_write(self.0.as_ptr()) };
        // INVARIANT: write-locked just above.
        LockedAnonVma(self)
    }
}

impl Drop for AnonVmaRef {
    fn drop(&mut self) {
        // SAFETY: we own one reference (type invariant); dropped exactly once.
        unsafe { c::pgmove_put_anon_vma(self.0.as_ptr()) };
    }
}

/// An anon_vma that this value holds a reference on and has write-locked.
///
/// # Invariants
///
/// The anon_vma's root rwsem is write-locked by us; `Drop` unlocks before the reference goes.
pub(crate) struct LockedAnonVma(AnonVmaRef);

/// The write lock of a VMA's own anon_vma tree (the rwsem of its root), held while a run of
/// pages is moved out of the VMA. Every anon folio mapped in the VMA belongs to that tree
/// (`anon_vma_fork()` gives a child's anon_vma its parent's root), so the lock keeps every
/// rmap walker of those folios out, as [`LockedAnonVma`] does for one folio.
///
/// # Invariants
///
/// `anon_vma` is the anon_vma of a VMA read-locked for `'v` (which keeps it allocated: it is
/// freed only with the VMA), and its root's rwsem is write-locked by us until `Drop`;
/// `root` is its root (which never changes).
pub(crate) struct VmaAnonVmaLock<'v> {
    anon_vma: NonNull<bindings::anon_vma>,
    root: NonNull<bindings::anon_vma>,
    _vma: PhantomData<&'v Vma>,
}

impl<'v> VmaAnonVmaLock<'v> {
    /// Write-locks `vma`'s anon_vma tree; `None` if the VMA has no anon_vma (then it maps no
    /// anon folio).
    pub(crate) fn lock(vma: &'v Vma, _may_block: &mut MayBlock) -> Option<Self> {
        // `vma` is read-locked; its anon_vma, once set, stays for its life.
        let anon_vma = NonNull::new(vma.anon_vma())?;
        // SAFETY: the anon_vma lives as long as the VMA; `&mut MayBlock` proves we may sleep.
        unsafe { c::pgmove_anon_vma_lock_write(anon_vma.as_ptr()) };
        // SAFETY: the anon_vma is alive (as above); `root` never changes. (A C helper: the
        // kernel's bindings leave `struct anon_vma` opaque.)
        let root = unsafe { c::pgmove_anon_vma_root(anon_vma.as_ptr()) };
        // INVARIANT: write-locked just above; the anon_vma is the VMA's, `root` its root.
        Some(Self {
            anon_vma,
            root: NonNull::new(root).expect("an anon_vma always has a root"),
            _vma: PhantomData,
        })
    }

    /// The root whose lock is held: a folio of this tree has it as its anon_vma's root.
    pub(super) fn root(&self) -> NonNull<bindings::anon_vma> {
        self.root
    }
}

impl Drop for VmaAnonVmaLock<'_> {
    fn drop(&mut self) {
        // SAFETY: write-locked by us (type invariant); unlocked once.
        unsafe { c::pgmove_anon_vma_unlock_write(self.anon_vma.as_ptr()) };
    }
}

impl Drop for LockedAnonVma {
    fn drop(&mut self) {
        // SAFETY: write-locked by us (type invariant); the reference outlives the unlock.
        unsafe { c::pgmove_anon_vma_unlock_write(self.0 .0.as_ptr()) };
    }
}
