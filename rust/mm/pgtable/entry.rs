// SPDX-License-Identifier: GPL-2.0

//! Page-table entry values: [`PmdVal`], [`PteVal`] and what an entry is ([`PteKind`],
//! [`SwapPte`]), and the reads of a mapped PTE entry the move paths classify by.
//!
//! Values are plain copies of an entry: nothing here touches the page tables except
//! [`read_entry`] and [`read_src_entry`], which read (and, for the batched paths, try to lock
//! the folio of) an entry of a table the caller holds mapped. Deciding on a value is only
//! ever followed by a recheck of it under the table's lock (`pte_same()`/`pmd_same()`).
//!
//! Lock order: none taken here, except the folio trylock of [`read_src_entry`] (never waited
//! for), under the page-table locks, which the anon_vma tree lock the caller holds makes
//! deadlock-free (see `super::super` item 4).

use super::*;

/// A PMD entry's value.
#[derive(Clone, Copy)]
pub(crate) struct PmdVal(pub(in crate::mm) bindings::pmd_t);

impl PmdVal {
    /// `pmd_none()`.
    pub(crate) fn is_none(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pmd_none(self.0) }
    }

    /// `pmd_present()`.
    pub(crate) fn is_present(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pmd_present(self.0) }
    }

    /// `pmd_trans_huge()`: maps a THP or the huge zero page.
    pub(crate) fn is_trans_huge(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pmd_trans_huge(self.0) }
    }

    /// `pmd_devmap()`.
    pub(crate) fn is_devmap(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pmd_devmap(self.0) }
    }

    /// `is_pmd_migration_entry()`.
    pub(crate) fn is_migration_entry(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_is_pmd_migration_entry(self.0) }
    }

    /// `is_huge_zero_pmd()`.
    pub(crate) fn is_huge_zero(self) -> bool {
        // SAFETY: a pure function of the value (and of the huge zero page's pfn).
        unsafe { c::pgmove_is_huge_zero_pmd(self.0) }
    }

    /// `pmd_same()`.
    pub(crate) fn same(self, other: PmdVal) -> bool {
        // SAFETY: a pure function of the values.
        unsafe { c::pgmove_pmd_same(self.0, other.0) }
    }

    /// Points to a PTE table: present, not a leaf (THP, huge zero page), not bad.
    pub(crate) fn is_table(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pmd_is_table(self.0) }
    }

    /// The raw value, for the rest of the `mm` layer.
    pub(in crate::mm) fn raw(self) -> bindings::pmd_t {
        self.0
    }
}

/// A PTE's value.
#[derive(Clone, Copy)]
pub(crate) struct PteVal(pub(in crate::mm) bindings::pte_t);

/// What a PTE holds, in one helper call (the batched paths' classification of every entry).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum PteKind {
    /// `pte_none()`.
    None,
    /// Present, maps the shared zero page.
    Zero,
    /// Present, maps anything else.
    Page,
    /// Not present and not none: a swap, migration or device entry, a marker.
    Other,
}

impl PteKind {
    fn from_c(kind: c::pgmove_pte_kind) -> Self {
        match kind {
            c::pgmove_pte_kind_PGMOVE_PTE_NONE => Self::None,
            c::pgmove_pte_kind_PGMOVE_PTE_ZERO => Self::Zero,
            c::pgmove_pte_kind_PGMOVE_PTE_PAGE => Self::Page,
            _ => Self::Other,
        }
    }
}

/// Reads the entry at `ptr` (`ptep_get()`) and classifies it.
///
/// # Safety
///
/// `ptr` is an entry of a mapped PTE table.
pub(super) unsafe fn read_entry(ptr: *mut bindings::pte_t) -> (PteKind, PteVal) {
    let mut val = bindings::pte_t { pte: 0 };
    // SAFETY: `ptr` is a mapped entry (caller); `val` is ours.
    let kind = unsafe { c::pgmove_ptep_get_kind(ptr, &mut val) };
    (PteKind::from_c(kind), PteVal(val))
}

/// Reads a source entry of a batch: its kind and value and, if it maps a page, the folio
/// as [`Folio::read_pte`] found (and maybe locked) it.
///
/// # Safety
///
/// As for [`Folio::read_pte`].
#[inline(always)]
pub(super) unsafe fn read_src_entry<'a>(
    vma: &Vma,
    ptr: *mut bindings::pte_t,
) -> (PteKind, PteVal, Option<ReadFolio<'a>>) {
    // SAFETY: as the caller guarantees.
    let (kind, val, folio) = unsafe { Folio::read_pte(vma, ptr) };
    (PteKind::from_c(kind), PteVal(val), folio)
}

/// What a non-present PTE holds.
pub(crate) enum SwapPte {
    /// A swap entry; `exclusive` if only this mapping refers to it.
    Swap {
        entry: bindings::swp_entry_t,
        exclusive: bool,
    },
    /// A migration entry: the folio is being migrated; wait and retry.
    Migration,
    /// Anything else: a PTE marker, a hwpoison or device entry.
    Other,
}

impl PteVal {
    /// `pte_none()`.
    pub(crate) fn is_none(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pte_none(self.0) }
    }

    /// `pte_present()`.
    pub(crate) fn is_present(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pte_present(self.0) }
    }

    /// `pte_pfn()`.
    pub(crate) fn pfn(self) -> u64 {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pte_pfn(self.0) as u64 }
    }

    /// `pte_special()`: maps no refcounted page (the zero page, a PFN mapping).
    pub(crate) fn is_special(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pte_special(self.0) }
    }

    /// Maps the shared zero page.
    pub(crate) fn is_zero_page(self) -> bool {
        // SAFETY: a pure function of the value.
        unsafe { c::pgmove_pte_is_zero_pfn(self.0) }
    }

    /// `pte_same()`.
    pub(crate) fn same(self, other: PteVal) -> bool {
        // SAFETY: a pure function of the values.
        unsafe { c::pgmove_pte_same(self.0, other.0) }
    }

    /// Decodes a non-present, non-none PTE.
    pub(crate) fn swap(self) -> SwapPte {
        let mut entry = bindings::swp_entry_t { val: 0 };
        // SAFETY: a pure function of the value; writes `entry`.
        match unsafe { c::pgmove_pte_swp_kind(self.0, &mut entry) } {
            c::pgmove_swp_kind_PGMOVE_SWP_SWAP => SwapPte::Swap {
                entry,
                // SAFETY: a pure function of the value.
                exclusive: unsafe { c::pgmove_pte_swp_exclusive(self.0) },
            },
            c::pgmove_swp_kind_PGMOVE_SWP_MIGRATION => SwapPte::Migration,
            _ => SwapPte::Other,
        }
    }
}
