// SPDX-License-Identifier: GPL-2.0

//! MOVE's per-PMD path: a source PMD that maps a THP (or the huge zero page), or a PMD
//! migration entry, looked at under its lock ([`huge_pmd_step`]) and moved whole
//! ([`move_huge_pmd`]), as 6.12's `move_pages_huge_pmd()` does; splitting and waiting are
//! decided here and done by the caller (`move_step`), with no lock held.

use super::*;

/// What to do with a source PMD, decided under its lock (which no sleeping may happen under).
pub(super) enum HugeStep {
    /// Not a huge or swap PMD: take the PTE path.
    NotHuge,
    Fail(Error),
    /// Split it into a PTE table first (and redo the step).
    Split,
    /// A PMD migration entry: wait for it to go, then retry.
    WaitMigration,
    /// Move it whole; `folio` is the THP (with a reference), `None` for the huge zero page.
    Move {
        src_pmdval: PmdVal,
        folio: Option<FolioRef>,
    },
}

/// Looks at the source PMD under its lock, as `move_pages()` and the start of
/// `move_pages_huge_pmd()` do.
pub(super) fn huge_pmd_step(
    vmas: &MoveVmas<'_>,
    src_pmd: &PmdPtr<'_>,
    dst_pmdval: PmdVal,
    dst_addr: u64,
    src_addr: u64,
    src_end: u64,
    mb: &MayBlock,
) -> HugeStep {
    let Some(huge) = src_pmd.lock_huge(vmas.src(), mb) else {
        return HugeStep::NotHuge;
    };
    let src_pmdval = huge.get();
    if src_pmdval.is_devmap() {
        return HugeStep::Fail(ENOENT);
    }
    if move_splits_huge_pmd(dst_addr, src_addr, src_end) || !dst_pmdval.is_none() {
        // A PMD migration entry maps no folio (6.12 once passed it to pmd_folio()); the
        // huge zero page is never exclusive (6.12 once treated it as an anon folio).
        if let Some(folio) = huge.folio() {
            if !folio.is_huge_zero() && !folio.is_anon_exclusive() {
                return HugeStep::Fail(EBUSY);
            }
        }
        return HugeStep::Split;
    }
    if !src_pmdval.is_trans_huge() {
        if src_pmdval.is_migration_entry() {
            return HugeStep::WaitMigration;
        }
        return HugeStep::Fail(ENOENT);
    }
    if src_pmdval.is_huge_zero() {
        return HugeStep::Move {
            src_pmdval,
            folio: None,
        };
    }
    match huge.folio() {
        Some(folio) if folio.is_anon_exclusive() => HugeStep::Move {
            src_pmdval,
            folio: Some(folio.get()),
        },
        Some(_) => HugeStep::Fail(EBUSY),
        None => HugeStep::Fail(EAGAIN),
    }
}

/// Moves a whole PMD-mapped THP (or the huge zero page), as `move_pages_huge_pmd()`; the
/// destination PMD was none when looked at.
#[allow(clippy::too_many_arguments)]
pub(super) fn move_huge_pmd(
    vmas: &MoveVmas<'_>,
    dst_pmd: &PmdPtr<'_>,
    src_pmd: &PmdPtr<'_>,
    dst_pmdval: PmdVal,
    src_pmdval: PmdVal,
    folio: Option<FolioRef>,
    dst_addr: u64,
    src_addr: u64,
    mb: &mut MayBlock,
) -> Result {
    {
        let mut locked: Option<LockedFolio> = None;
        let mut anon_vma: Option<LockedAnonVma> = None;
        if let Some(folio) = folio {
            let folio = locked.insert(folio.lock(mb));
            // split_huge_page() walks the anon_vma chain without the folio lock: keep it
            // out with the anon_vma lock.
            let av = folio.anon_vma().ok_or(EAGAIN)?;
            anon_vma = Some(av.lock_write(mb));
        }
        let mut pair = PmdPairLock::lock(dst_pmd, src_pmd, mb);
        let folio = match (locked.as_mut(), anon_vma.as_ref()) {
            (Some(f), Some(a)) => Some((f, a)),
            _ => None,
        };
        pair.move_huge(vmas, dst_addr, src_addr, dst_pmdval, src_pmdval, folio)
    }
}
