// SPDX-License-Identifier: GPL-2.0

//! MOVE's per-page path, as 6.12's `move_pages_pte()`: one source entry (a page, the zero
//! page, a swap entry, a large folio that moves whole) at a time, with the folio lock and its
//! anon_vma lock waited for outside the page-table locks ([`Attempt`]): [`move_pte`] loops
//! over [`try_move_pte`], which decides under the locks and says what to wait for.

use super::*;

/// What one attempt at moving a PTE ended with: a result, or a lock to wait for (which
/// must happen with no PTE table mapped) before the next attempt.
pub(super) enum Attempt {
    Done(Result),
    /// A whole large folio of this many pages moved.
    MovedLarge(usize),
    LockFolio(FolioRef),
    LockAnonVma(AnonVmaRef),
    SplitFolio,
    WaitMigration,
    /// Room for the cleared entries of a large folio of this many pages that moves whole
    /// ([`RunScratch::reserve_ptes`]): to be allocated before the next attempt.
    ReserveRoom(usize),
}

/// Moves the PTE at `src_addr` to `dst_addr`, as `move_pages_pte()`; returns the pages
/// moved: 1, or all of a large folio's that moves whole (within the `left` pages of the
/// request).
#[allow(clippy::too_many_arguments)]
pub(super) fn move_pte(
    vmas: &MoveVmas<'_>,
    dst_pmd: &PmdPtr<'_>,
    src_pmd: &PmdPtr<'_>,
    dst_addr: u64,
    src_addr: u64,
    left: usize,
    allow_src_holes: bool,
    scratch: &mut RunScratch<'_>,
    mb: &mut MayBlock,
) -> Result<usize> {
    {
        // Declared in lock order, so they are released in reverse (anon_vma, then folio).
        let mut folio = LockedSource::default();
        let mut anon_vma: Option<LockedAnonVma> = None;
        loop {
            let attempt = try_move_pte(
                vmas,
                dst_pmd,
                src_pmd,
                dst_addr,
                src_addr,
                left,
                allow_src_holes,
                &mut folio,
                &mut anon_vma,
                scratch,
                mb,
            );
            match attempt {
                Attempt::Done(res) => return res.map(|()| 1),
                Attempt::MovedLarge(pages) => return Ok(pages),
                Attempt::LockFolio(f) => folio.folio = Some(f.lock(mb)),
                Attempt::LockAnonVma(av) => anon_vma = Some(av.lock_write(mb)),
                Attempt::SplitFolio => {
                    anon_vma = None;
                    split_source(&mut folio, scratch, mb)?;
                }
                Attempt::WaitMigration => {
                    src_pmd.wait_migration_pte(src_addr, mb);
                    return Err(EAGAIN);
                }
                Attempt::ReserveRoom(nr) => {
                    // Not allocated under the anon_vma lock (reclaim walks anon rmaps).
                    anon_vma = None;
                    scratch.reserve_ptes(nr, 0, mb);
                    // Without the room it is split, as UFFDIO_MOVE splits every large folio.
                    if scratch.capacity() < nr {
                        split_source(&mut folio, scratch, mb)?;
                    }
                }
            }
        }
    }
}

/// Splits the large folio locked in `src` (`split_folio()`, which takes the anon_vma lock
/// itself and can sleep: the caller holds none); the folio must then be looked up again.
/// `EBUSY` for a pinned folio, which would only fail the split (extra references).
fn split_source(src: &mut LockedSource, scratch: &mut RunScratch<'_>, mb: &mut MayBlock) -> Result {
    let mut large = src.folio.take().ok_or(EAGAIN)?;
    src.pte = None;
    if large.maybe_dma_pinned() {
        return Err(EBUSY);
    }
    // Nor may this call hold it (moved here earlier, its flush deferred).
    scratch.flush.flush();
    large.split(mb)
}

/// The source folio held across attempts, with the PTE it was found through.
#[derive(Default)]
pub(super) struct LockedSource {
    folio: Option<LockedFolio>,
    pte: Option<PteVal>,
}

/// One attempt of [`move_pte`], with both PTE tables mapped (no sleeping).
#[allow(clippy::too_many_arguments)]
pub(super) fn try_move_pte(
    vmas: &MoveVmas<'_>,
    dst_pmd: &PmdPtr<'_>,
    src_pmd: &PmdPtr<'_>,
    dst_addr: u64,
    src_addr: u64,
    max_pages: usize,
    allow_src_holes: bool,
    src: &mut LockedSource,
    anon_vma: &mut Option<LockedAnonVma>,
    scratch: &mut RunScratch<'_>,
    mb: &MayBlock,
) -> Attempt {
    use Attempt::*;
    // A huge PMD may have appeared (or the table gone) since the caller looked: retry.
    let Some(dst_map) = dst_pmd.map_pte(dst_addr, mb) else {
        return Done(Err(EAGAIN));
    };
    let Some(src_map) = src_pmd.map_pte(src_addr, mb) else {
        return Done(Err(EAGAIN));
    };
    let orig_dst = dst_map.read();
    if !orig_dst.is_none() {
        return Done(Err(EEXIST));
    }
    let orig_src = src_map.read();
    if orig_src.is_none() {
        return Done(if allow_src_holes { Ok(()) } else { Err(ENOENT) });
    }
    // The entry changed since we locked its folio: start over.
    if let Some(pte) = src.pte {
        if !pte.same(orig_src) {
            return Done(Err(EAGAIN));
        }
    }
    if orig_src.is_present() {
        if orig_src.is_zero_page() {
            let mut pair = PtePairLock::lock(&dst_map, &src_map);
            return Done(pair.move_zero(vmas, dst_addr, src_addr, orig_dst, orig_src));
        }
        if src.folio.is_none() {
            let lock = src_map.lock();
            if !lock.get().same(orig_src) {
                return Done(Err(EAGAIN));
            }
            let folio = match lock.normal_folio(vmas.src(), src_addr, orig_src) {
                Some(folio) if folio.is_anon_exclusive() => folio.get(),
                _ => return Done(Err(EBUSY)),
            };
            src.pte = Some(orig_src);
            match folio.try_lock() {
                Ok(locked) => src.folio = Some(locked),
                // Never wait with a raised refcount on a large folio: its split would fail
                // and every mover would retry forever (a 6.12 stable fix).
                Err(folio) if folio.is_large() => {
                    src.pte = None;
                    return Done(Err(EAGAIN));
                }
                Err(folio) => return LockFolio(folio),
            }
            drop(lock);
            if !src.folio.as_ref().is_some_and(|f| f.is_anon()) {
                return Done(Err(EBUSY));
            }
        }
        let Some(folio) = src.folio.as_mut() else {
            return Done(Err(EAGAIN));
        };
        // A large folio moves whole when it may (mTHP without split); else it is split, as
        // UFFDIO_MOVE splits it. The cheap part of the test first: the rest is decided
        // under the PTE locks, after the anon_vma lock.
        let whole = folio.is_large() && {
            let nr = folio.nr_pages();
            // A folio's size is a power of two: both addresses aligned to it.
            let mask = (nr as u64).wrapping_mul(PAGE_SIZE).wrapping_sub(1);
            nr <= max_pages && (src_addr | dst_addr) & mask == 0
        };
        if folio.is_large() && !whole {
            return SplitFolio;
        }
        if whole && scratch.capacity() < folio.nr_pages() {
            return ReserveRoom(folio.nr_pages());
        }
        if anon_vma.is_none() {
            // folio_referenced() walks the anon_vma chain without the folio lock.
            let Some(av) = folio.anon_vma() else {
                return Done(Err(EAGAIN));
            };
            match av.try_lock_write() {
                Ok(locked) => *anon_vma = Some(locked),
                Err(av) => return LockAnonVma(av),
            }
        }
        let Some(av) = anon_vma.as_ref() else {
            return Done(Err(EAGAIN));
        };
        let mut pair = PtePairLock::lock(&dst_map, &src_map);
        if whole {
            return match pair.move_large(
                vmas, dst_addr, src_addr, orig_dst, orig_src, folio, av, max_pages, scratch,
            ) {
                Some(Ok(pages)) => MovedLarge(pages),
                Some(Err(e)) => Done(Err(e)),
                None => SplitFolio,
            };
        }
        return Done(pair.move_present(vmas, dst_addr, src_addr, orig_dst, orig_src, folio, av));
    }
    let entry = match orig_src.swap() {
        SwapPte::Migration => return WaitMigration,
        SwapPte::Other => return Done(Err(EFAULT)),
        SwapPte::Swap {
            exclusive: false, ..
        } => return Done(Err(EBUSY)),
        SwapPte::Swap { entry, .. } => entry,
    };
    let Some(si) = SwapDevice::get(entry) else {
        return Done(Err(EAGAIN));
    };
    race::atomic(Point::SwapEntryRead, || false);
    // A folio in the swap cache must have its rmap moved too: a swap-in at the destination
    // would find it there.
    if src.folio.is_none() {
        if let Some(cached) = si.cache_folio(entry) {
            if cached.is_large() {
                return Done(Err(EBUSY));
            }
            src.pte = Some(orig_src);
            match cached.try_lock() {
                Ok(locked) => src.folio = Some(locked),
                Err(cached) => return LockFolio(cached),
            }
        }
    }
    // The folio may have left the swap cache (and been reused) before we locked it.
    if let Some(folio) = src.folio.as_ref() {
        if !folio.is_swap_cache_of(entry) {
            return Done(Err(EAGAIN));
        }
    }
    let mut pair = PtePairLock::lock(&dst_map, &src_map);
    Done(pair.move_swap(
        vmas,
        dst_addr,
        src_addr,
        orig_dst,
        orig_src,
        &si,
        src.folio.as_mut(),
    ))
}
