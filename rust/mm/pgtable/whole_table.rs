// SPDX-License-Identifier: GPL-2.0

//! Whole PTE tables: [`PmdPairLock::move_tables`] detaches up to [`TABLES_PER_RUN`] PTE
//! tables from the source PMDs and links them at the destination, rewriting their entries in
//! place, as mremap's `move_normal_pmd()` moves a table; [`WholeTable`] is one detached (or
//! about to be) table with its lock.
//!
//! # Invariants
//!
//! Only under the mmap write lock with both VMAs write-locked (`MoveVmas::is_exclusive`):
//! 6.12's `handle_pte_fault()` does not recheck the PMD, so a fault must not hold a PMD
//! value from before the move. Rmap walkers are kept out by the anon_vma tree lock and the
//! folio locks, GUP-fast by the cleared PMD (it rechecks the PMD after it pins). A detached
//! table is reached by nothing but us and stale TLB paths until it is linked: its entries
//! are rewritten in place, each cleared atomically first when its value changes. A table
//! whose folio got pinned goes back unchanged, with every table after it.
//!
//! Lock order: the anon_vma tree write lock (the caller's), both PMD-table locks, then each
//! table's own PTE lock with subclass 2, one table at a time.

use super::*;

/// A source PTE table of [`PmdPairLock::move_tables`], mapped and locked under its PMD's lock
/// while its entries are checked, then detached from that PMD and unlocked.
///
/// # Invariants
///
/// `pte` is the table's first entry, mapped by `__pte_offset_map()` (RCU read lock held)
/// until `Drop`; `ptl` is the table's lock, held by us if `locked`.
struct WholeTable {
    pte: NonNull<bindings::pte_t>,
    ptl: NonNull<bindings::spinlock_t>,
    locked: bool,
}

impl WholeTable {
    /// Maps the PTE table that `pmd` (for `addr`) points to and takes its lock, unless it is
    /// one of the PMD locks `pair` holds already. `None` if the PMD holds no table.
    ///
    /// # Safety
    ///
    /// `pmd` is an entry of a PMD table whose lock `pair` holds, for `addr` of `mm`.
    unsafe fn lock(
        mm: *mut bindings::mm_struct,
        pmd: *mut bindings::pmd_t,
        addr: u64,
        pair: &PmdPairLock<'_>,
    ) -> Option<Self> {
        let mut mapped_from = bindings::pmd_t { pmd: 0 };
        // SAFETY: we hold the PMD's lock, so a table it points to stays there while we map
        // it; `__pte_offset_map()` takes the RCU read lock (and fails on anything else).
        let pte = NonNull::new(unsafe { c::__pte_offset_map(pmd, addr as _, &mut mapped_from) })?;
        // SAFETY: `mapped_from` is the value the table was mapped from.
        let ptl = unsafe { c::pgmove_pte_lockptr(mm, &mut mapped_from) };
        let Some(ptl) = NonNull::new(ptl) else {
            // SAFETY: mapped just above.
            unsafe { c::pgmove_pte_unmap(pte.as_ptr()) };
            return None;
        };
        let locked = ptl != pair.dst.lockptr() && ptl != pair.src.lockptr();
        if locked {
            // SAFETY: the table's own lock, after the two PMD locks.
            unsafe { c::pgmove_spin_lock_third(ptl.as_ptr()) };
        }
        // INVARIANT: mapped above; locked if `locked`.
        Some(Self { pte, ptl, locked })
    }

    fn entry_ptr(&self, i: usize) -> *mut bindings::pte_t {
        assert!(i < c::PGMOVE_PTRS_PER_PTE as usize);
        // SAFETY: `i` is within the table, whose first entry `pte` is (type invariant).
        unsafe { self.pte.as_ptr().add(i) }
    }

    /// Drops the table's lock, once the table is detached: nothing else reaches it then.
    fn unlock(&mut self) {
        if self.locked {
            // SAFETY: held by us (type invariant).
            unsafe { c::pgmove_spin_unlock(self.ptl.as_ptr()) };
            self.locked = false;
        }
    }
}

impl Drop for WholeTable {
    fn drop(&mut self) {
        self.unlock();
        // SAFETY: mapped by `__pte_offset_map()` (type invariant); unmapped once.
        unsafe { c::pgmove_pte_unmap(self.pte.as_ptr()) };
    }
}

impl PmdPairLock<'_> {
    /// Moves the whole PTE tables that map `[src_addr, src_addr + n * PMD_SIZE)` so that they
    /// map `[dst_addr, dst_addr + n * PMD_SIZE)`, as mremap's `move_normal_pmd()` does, for
    /// as many tables `n` as can move, up to `max`, to the end of either PMD table, and to
    /// [`TABLES_PER_RUN`]: a table can move when its destination PMD is none and every entry
    /// of it can move: the zero page, a small exclusive anonymous folio of `anon_vma`'s tree
    /// that is not pinned and can be locked without waiting, or (with `allow_src_holes`)
    /// none. Each entry is rewritten as the per-page path writes it (destination protection,
    /// writable, soft-dirty, dirty only if it was) and each folio's rmap moved, so the
    /// result is the per-page path's, with no TLB flush (the call's [`DeferredFlush`] covers
    /// them) and no table allocated. Returns `n`; with 0 nothing changed.
    ///
    /// `vmas` must be exclusive ([`MoveVmas::lock_exclusive`], checked): a page fault could
    /// otherwise find an entry in a moved table through a PMD it read before, and act on it
    /// at the old address (6.12's `handle_pte_fault()` does not recheck the PMD). Rmap
    /// walkers are kept out by the anon_vma tree lock and the folio locks; the hardware and
    /// GUP-fast by the cleared PMD (it rechecks the PMD after it pins; a full barrier orders
    /// the clearing before our pin check).
    /// Each table is detached (its source PMD cleared, under its lock) once its entries are
    /// checked; from then on nothing but us reaches it, so its lock is dropped (only one
    /// table lock is held at a time) and its entries are rewritten in place, each cleared
    /// atomically first (stale TLB paths may set A/D bits until the call's flush), before it
    /// is linked at the destination.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn move_tables(
        &mut self,
        vmas: &MoveVmas<'_>,
        dst_addr: u64,
        src_addr: u64,
        max: usize,
        allow_src_holes: bool,
        anon_vma: &VmaAnonVmaLock<'_>,
        scratch: &mut RunScratch<'_>,
    ) -> usize {
        let ptrs = c::PGMOVE_PTRS_PER_PTE as usize;
        let per_table = c::PGMOVE_PTRS_PER_PMD as usize;
        let pmd_size = c::PGMOVE_PMD_SIZE as u64;
        if !vmas.is_exclusive() || src_addr % pmd_size != 0 || dst_addr % pmd_size != 0 {
            return 0;
        }
        let (src_vma, dst_vma) = (vmas.src(), vmas.dst());
        // Every 2 MiB range lies in its VMA, so no other VMA maps through any of the tables.
        if src_addr < src_vma.start() || dst_addr < dst_vma.start() {
            return 0;
        }
        let in_vma = |addr: u64, vma: &Vma| (vma.end().saturating_sub(addr) / pmd_size) as usize;
        // The entries left in each PMD table from the given one on: `self` holds their locks.
        let left = |addr: u64| per_table - ((addr / pmd_size) as usize & (per_table - 1));
        let max = max
            .min(in_vma(src_addr, src_vma))
            .min(in_vma(dst_addr, dst_vma))
            .min(left(src_addr))
            .min(left(dst_addr))
            .min(scratch.tables())
            .min(TABLES_PER_RUN);
        scratch.flush.make_room(max * ptrs);
        let max = max.min(scratch.flush.room() / ptrs);
        let mm = vmas.mm().as_ptr();
        let (src_pmd, dst_pmd) = (self.src.as_ptr(), self.dst.as_ptr());
        let root = anon_vma.root();
        let mut tables: [Option<WholeTable>; TABLES_PER_RUN] = Default::default();
        let mut src_pmdvals = [PmdVal(bindings::pmd_t { pmd: 0 }); TABLES_PER_RUN];
        // INVARIANT: folios are added locked, mapped by entries of tables we hold: locked,
        // or detached by us (only we reach them).
        scratch.flush.announce();
        let mut run = RunFolios::new(scratch.ptes.as_mut_slice(), scratch.folios.as_mut_slice());
        let mut n = 0;
        while n < max {
            let src_t = src_addr + n as u64 * pmd_size;
            // SAFETY: `n` is below the entries left in both PMD tables, which are allocated
            // while the VMAs are locked (`PmdPtr` invariant); we hold their locks.
            let (dst_p, src_p) = unsafe { (dst_pmd.add(n), src_pmd.add(n)) };
            // SAFETY: as above.
            let (dst_val, src_val) =
                unsafe { (c::pgmove_pmdp_get(dst_p), c::pgmove_pmdp_get(src_p)) };
            if !PmdVal(dst_val).is_none() || !PmdVal(src_val).is_table() {
                break;
            }
            // SAFETY: `src_p` is an entry of the source PMD table, whose lock we hold.
            let Some(mut table) = (unsafe { WholeTable::lock(mm, src_p, src_t, self) }) else {
                break;
            };
            if !list_table(&mut run, &table, src_vma, allow_src_holes, root) {
                // Unlists (and unlocks) what this table listed; the run ends before it.
                run.truncate(n * ptrs);
                break;
            }
            crate::race::atomic(Point::TablesListed, || {
                self.contended() || (table.locked && spin_contended(table.ptl))
            });
            // Detach it; stale TLB entries of the source range go with the call's flush.
            // SAFETY: both PMD locks and the table's lock are held; `src_p` points to it.
            unsafe { c::pgmove_pmd_clear(src_p) };
            table.unlock();
            tables[n] = Some(table);
            src_pmdvals[n] = PmdVal(src_val);
            n += 1;
        }
        if n == 0 {
            return 0;
        }
        // No flush here: the call's flush covers these PMDs (paging-structure caches too),
        // done before the mmap write lock goes (`Mover::release_vmas`): until then nothing
        // but this call can put a page into a moved table. The folios are held until it. Until then a CPU may still reach a table
        // through a stale path of the source range, read its entries and set accessed or
        // dirty bits in them: `rewrite_table` clears each entry atomically before it writes
        // it. GUP-fast rechecks the PMD after it pins; the barrier orders the PMDs' clearing
        // before the pin check, so a pin taken before is seen. A pinned folio's table, and
        // every table after it, goes back unchanged; the per-page path will stop at the
        // pinned page.
        full_barrier();
        let moved = (run.first_pinned() / ptrs).min(n);
        let restored = moved as u64 * pmd_size;
        // SAFETY: restores the PMDs cleared above (`moved <= n <= max`), under the same locks.
        unsafe {
            link_tables(
                mm,
                src_addr + restored,
                src_pmd.add(moved),
                &src_pmdvals[moved..n],
            )
        };
        run.truncate(moved * ptrs);
        for (t, table) in tables.iter().enumerate().take(moved) {
            if let Some(table) = table {
                let entries = &run.entries()[t * ptrs..(t + 1) * ptrs];
                let dst_t = dst_addr + t as u64 * pmd_size;
                // SAFETY: the table's entries are listed, their folios held until the flush
                // (below); no PMD points to the table until it is linked at the destination
                // below, so only we and stale TLB paths reach it.
                unsafe { rewrite_table(mm, entries, table, dst_vma, dst_t) };
            }
        }
        // SAFETY: both PMD locks are held and the destination PMDs are none (checked under
        // them, `moved <= n`); the tables, with their entries, now map the destination range.
        unsafe { link_tables(mm, dst_addr, dst_pmd, &src_pmdvals[..moved]) };
        scratch
            .flush
            .cleared(src_addr, src_addr + moved as u64 * pmd_size, true);
        run.hold_moved(moved * ptrs, &mut scratch.flush);
        // `run` unlocks the folios, then `tables` are unmapped, before the PMD locks go.
        drop(run);
        drop(tables);
        moved
    }
}

/// Points the PMDs from `pmd` on (for `addr` on) at the detached PTE tables `tables` holds,
/// one each: putting tables back at the source, or linking them at the destination.
///
/// # Safety
///
/// `pmd` and the `tables.len() - 1` entries after it lie in one PMD table whose lock the
/// caller holds, each none (cleared by the caller, or checked under that lock); each of
/// `tables` is a PTE table only the caller reaches, whose entries belong at its new place.
unsafe fn link_tables(
    mm: *mut bindings::mm_struct,
    addr: u64,
    pmd: *mut bindings::pmd_t,
    tables: &[PmdVal],
) {
    let pmd_size = c::PGMOVE_PMD_SIZE as u64;
    for (t, val) in tables.iter().enumerate() {
        // SAFETY: an entry of the locked PMD table, none, for the detached table (caller).
        unsafe {
            c::pgmove_set_pmd_at(mm, (addr + t as u64 * pmd_size) as _, pmd.add(t), val.raw())
        };
    }
}

/// Rewrites in place each entry of a detached `table` (listed in `entries`, in order) as
/// [`write_moved_entry`] does, for the destination range from `dst_addr` on.
///
/// # Safety
///
/// `entries` are listed in a [`RunFolios`] and are the table's, which no PMD points to any
/// more; until the caller links it at `dst_addr` only the caller reaches it, and stale TLB
/// paths of its old range, through which the hardware may set accessed or dirty bits (each
/// entry is cleared atomically before it is rewritten); the folios are held until the flush
/// of that range ([`DeferredFlush`]).
#[inline(never)]
#[link_section = ".text.hot.pgmove"]
unsafe fn rewrite_table(
    mm: *mut bindings::mm_struct,
    entries: &[RunEntry],
    table: &WholeTable,
    dst_vma: &Vma,
    dst_addr: u64,
) {
    let page = c::PGMOVE_PAGE_SIZE as u64;
    for (i, e) in entries.iter().enumerate() {
        if e.kind == PteKind::None {
            continue;
        }
        // SAFETY: listed (caller); rewritten in place, in a table only we (and stale TLB
        // paths, which the atomic clearing of the entry accounts for) reach.
        unsafe {
            write_moved_entry(
                mm,
                e,
                LastValue::InPlace,
                dst_vma,
                dst_addr + i as u64 * page,
                table.entry_ptr(i),
            )
        };
    }
}

/// Lists every entry of the locked source `table` (of `src_vma`) in `run`, as
/// [`PmdPairLock::move_tables`] needs them: the zero page, a folio that
/// [`lock_movable_folio`] locks, or (with `allow_src_holes`) none. False at the first entry
/// that is none of these, or when `run` is full; what this table listed stays listed.
#[inline(never)]
#[link_section = ".text.hot.pgmove"]
fn list_table(
    run: &mut RunFolios<'_, RunEntry>,
    table: &WholeTable,
    src_vma: &Vma,
    allow_src_holes: bool,
    root: NonNull<bindings::anon_vma>,
) -> bool {
    for i in 0..c::PGMOVE_PTRS_PER_PTE as usize {
        // SAFETY: the entry lies in the mapped table (`entry_ptr` checks), which the caller
        // holds locked and then detaches, keeping it until `run` is gone; a folio the lookup
        // locks goes to `lock_movable_folio()`, which lists it in `run` or unlocks it.
        let (kind, val, folio) = unsafe { read_src_entry(src_vma, table.entry_ptr(i)) };
        let folio = match kind {
            PteKind::None if allow_src_holes => None,
            PteKind::Zero => None,
            PteKind::Page => match lock_movable_folio(folio, root) {
                Some(folio) => Some(folio),
                None => return false,
            },
            PteKind::None | PteKind::Other => return false,
        };
        if !run.push(RunEntry {
            folio,
            kind,
            old: val,
        }) {
            return false;
        }
    }
    true
}
