// SPDX-License-Identifier: GPL-2.0
/*
 * Static-inline wrappers and module parameters for pgmove's Rust code; see helpers.h.
 */
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/debug.h>

#include "helpers.h"

/*
 * The helpers the batched move paths call for every entry go in .text.hot.pgmove, which
 * starts on a page of its own (see the comment on the section in rust/mm/pgtable.rs).
 */
#define PGMOVE_HOT __section(".text.hot.pgmove")
asm(".pushsection .text.hot.pgmove,\"ax\",@progbits\n\t.balign 4096\n\t.popsection");

#ifndef CONFIG_PER_VMA_LOCK
#error "pgmove needs CONFIG_PER_VMA_LOCK (its VMA locking follows UFFDIO_MOVE's per-VMA path)"
#endif

static ushort mode = 0600;
module_param(mode, ushort, 0444);
MODULE_PARM_DESC(mode, "permissions of /dev/pgmove (default 0600)");

umode_t pgmove_param_mode(void)
{
	return mode;
}

struct mm_struct *pgmove_current_mm(void)
{
	return current->mm;
}

void pgmove_mmgrab(struct mm_struct *mm)
{
	mmgrab(mm);
}

void pgmove_mmdrop(struct mm_struct *mm)
{
	mmdrop(mm);
}

bool pgmove_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

void pgmove_cond_resched(void)
{
	cond_resched();
}

bool pgmove_need_resched(void)
{
	return need_resched();
}

void pgmove_put_task_struct(struct task_struct *task)
{
	put_task_struct(task);
}

void pgmove_mmput(struct mm_struct *mm)
{
	mmput(mm);
}

void pgmove_mmap_read_lock(struct mm_struct *mm)
{
	mmap_read_lock(mm);
}

int pgmove_mmap_read_lock_killable(struct mm_struct *mm)
{
	return mmap_read_lock_killable(mm);
}

int pgmove_mmap_write_lock_killable(struct mm_struct *mm)
{
	return mmap_write_lock_killable(mm);
}

void pgmove_mmap_write_unlock(struct mm_struct *mm)
{
	mmap_write_unlock(mm);
}

/* Excludes per-VMA-lock readers (page faults) until the mmap write lock is dropped. */
void pgmove_vma_start_write(struct vm_area_struct *vma)
{
	vma_start_write(vma);
}

bool pgmove_mmap_lock_is_contended(struct mm_struct *mm)
{
	return mmap_lock_is_contended(mm);
}

struct vm_area_struct *pgmove_find_vma(struct mm_struct *mm, unsigned long addr)
{
	return find_vma(mm, addr);
}

void pgmove_mmap_read_unlock(struct mm_struct *mm)
{
	mmap_read_unlock(mm);
}

struct vm_area_struct *pgmove_vma_lookup(struct mm_struct *mm, unsigned long addr)
{
	return vma_lookup(mm, addr);
}

/* As uffd_lock_vma(): under the mmap lock no vma_start_write() can run, so take vm_lock. */
void pgmove_vma_read_lock_under_mmap(struct vm_area_struct *vma, bool nested)
{
	if (nested)
		down_read_nested(&vma->vm_lock->lock, SINGLE_DEPTH_NESTING);
	else
		down_read(&vma->vm_lock->lock);
}

void pgmove_vma_end_read(struct vm_area_struct *vma)
{
	vma_end_read(vma);
}

int pgmove_anon_vma_prepare(struct vm_area_struct *vma)
{
	return anon_vma_prepare(vma);
}

/* Registered with a userfaultfd in any mode (or still carrying a context). */
bool pgmove_vma_uffd_registered(const struct vm_area_struct *vma)
{
#ifdef CONFIG_USERFAULTFD
	return userfaultfd_armed((struct vm_area_struct *)vma) || vma->vm_userfaultfd_ctx.ctx;
#else
	return false;
#endif
}

/* mm/rmap.c's mm_find_pmd(), which 6.12 keeps internal. */
pmd_t *pgmove_mm_find_pmd(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d;
	pud_t *pud;

	if (!pgd_present(*pgd))
		return NULL;
	p4d = p4d_offset(pgd, addr);
	if (!p4d_present(*p4d))
		return NULL;
	pud = pud_offset(p4d, addr);
	if (!pud_present(*pud))
		return NULL;
	return pmd_offset(pud, addr);
}

/*
 * The PMD entry for addr (a PMD table exists), or NULL with *next set to where the missing
 * or huge upper-level entry ends (capped at end), so a walk skips it in one step.
 */
pmd_t *pgmove_pmd_walk(struct mm_struct *mm, unsigned long addr, unsigned long end,
		       unsigned long *next)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d;
	pud_t *pud;

	*next = pgd_addr_end(addr, end);
	if (!pgd_present(*pgd))
		return NULL;
	p4d = p4d_offset(pgd, addr);
	*next = p4d_addr_end(addr, end);
	if (!p4d_present(*p4d))
		return NULL;
	pud = pud_offset(p4d, addr);
	*next = pud_addr_end(addr, end);
	if (!pud_present(*pud) || pud_leaf(*pud))
		return NULL;
	*next = pmd_addr_end(addr, end);
	return pmd_offset(pud, addr);
}

/* mm/userfaultfd.c's mm_alloc_pmd(). */
pmd_t *pgmove_mm_alloc_pmd(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d = p4d_alloc(mm, pgd, addr);
	pud_t *pud;

	if (!p4d)
		return NULL;
	pud = pud_alloc(mm, p4d, addr);
	if (!pud)
		return NULL;
	return pmd_alloc(mm, pud, addr);
}

int pgmove_pte_alloc(struct mm_struct *mm, pmd_t *pmd)
{
	return pte_alloc(mm, pmd);
}

pmd_t pgmove_pmdp_get_lockless(pmd_t *pmd)
{
	return pmdp_get_lockless(pmd);
}

pmd_t pgmove_pmdp_get(pmd_t *pmd)
{
	return pmdp_get(pmd);
}

bool pgmove_pmd_none(pmd_t pmd)
{
	return pmd_none(pmd);
}

bool pgmove_pmd_present(pmd_t pmd)
{
	return pmd_present(pmd);
}

bool pgmove_pmd_trans_huge(pmd_t pmd)
{
	return pmd_trans_huge(pmd);
}

bool pgmove_pmd_devmap(pmd_t pmd)
{
	return pmd_devmap(pmd);
}

bool pgmove_is_pmd_migration_entry(pmd_t pmd)
{
	return is_pmd_migration_entry(pmd);
}

bool pgmove_is_huge_zero_pmd(pmd_t pmd)
{
	return is_huge_zero_pmd(pmd);
}

bool pgmove_pmd_same(pmd_t a, pmd_t b)
{
	return pmd_same(a, b);
}

/* The entry points to a PTE table (not none, not a leaf, not a swap or bad entry). */
bool pgmove_pmd_is_table(pmd_t pmd)
{
	return pmd_present(pmd) && !pmd_leaf(pmd) && !pmd_bad(pmd);
}

struct page *pgmove_pmd_pgtable(pmd_t pmd)
{
	return pmd_pgtable(pmd);
}

void pgmove_pmd_clear(pmd_t *pmd)
{
	pmd_clear(pmd);
}

void pgmove_mm_dec_nr_ptes(struct mm_struct *mm)
{
	mm_dec_nr_ptes(mm);
}

/*
 * x86's <asm/tlbflush.h> hides its flush API from modules (#ifndef MODULE); this is its
 * declaration, for the symbol the test kernel's export patch exports (Documentation/kernel.rst).
 */
extern void flush_tlb_mm_range(struct mm_struct *mm, unsigned long start, unsigned long end,
			       unsigned int stride_shift, bool freed_tables);

/*
 * Flush [start, end) of mm (4 kB stride): for the source entries MOVE's batched paths
 * cleared (rust/mm/tlb.rs), and after RECLAIM detached tables or zapped zero pages
 * (rust/mm/pte_table.rs). freed_tables when PMDs that pointed to PTE tables were cleared:
 * it reaches lazy-TLB CPUs and paging-structure caches too.
 */
void pgmove_flush_tlb_mm_range(struct mm_struct *mm, unsigned long start, unsigned long end,
			       bool freed_tables)
{
	flush_tlb_mm_range(mm, start, end, PAGE_SHIFT, freed_tables);
}

/* folio_put() of each of n folios held until that flush. */
void pgmove_folios_put_array(struct folio **folios, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		folio_put(folios[i]);
}

/*
 * mmu_gather's announcement of a deferred flush: while it is raised, a concurrent
 * tlb_finish_mmu() (MADV_DONTNEED finding the entries already none) flushes everything
 * itself (mm_tlb_flush_nested()) instead of trusting that nothing was mapped.
 */
void pgmove_inc_tlb_flush_pending(struct mm_struct *mm)
{
	inc_tlb_flush_pending(mm);
}

void pgmove_dec_tlb_flush_pending(struct mm_struct *mm)
{
	dec_tlb_flush_pending(mm);
}

/* smp_mb(), between clearing entries and checking for pins (paired with GUP-fast). */
void pgmove_smp_mb(void)
{
	smp_mb();
}

/*
 * flush_tlb_range() (hidden from modules like flush_tlb_mm_range): flush [start, end) of a
 * VMA's mm after PTEs were cleared there. MOVE's VMAs are never hugetlb: 4 kB stride.
 */
void pgmove_flush_tlb_range(struct vm_area_struct *vma, unsigned long start, unsigned long end)
{
	flush_tlb_mm_range(vma->vm_mm, start, end, PAGE_SHIFT, false);
}

pmd_t pgmove_pmdp_huge_get_and_clear(struct mm_struct *mm, unsigned long addr, pmd_t *pmd)
{
	return pmdp_huge_get_and_clear(mm, addr, pmd);
}

struct folio *pgmove_pmd_folio(pmd_t pmd)
{
	return pmd_folio(pmd);
}

struct page *pgmove_pmd_page(pmd_t pmd)
{
	return pmd_page(pmd);
}

/* With the PMD value a table was mapped from: 6.14's pte_offset_map_rw_nolock() half. */
spinlock_t *pgmove_pte_lockptr(struct mm_struct *mm, pmd_t *pmdval)
{
	return pte_lockptr(mm, pmdval);
}

spinlock_t *pgmove_pmd_lockptr(struct mm_struct *mm, pmd_t *pmd)
{
	return pmd_lockptr(mm, pmd);
}

spinlock_t *pgmove_pmd_trans_huge_lock(pmd_t *pmd, struct vm_area_struct *vma)
{
	return pmd_trans_huge_lock(pmd, vma);
}

void pgmove_split_huge_pmd(struct vm_area_struct *vma, pmd_t *pmd, unsigned long addr)
{
	split_huge_pmd(vma, pmd, addr);
}

/* The PMD move_pages_huge_pmd() builds: dirty and writable for a folio (as mremap), plain for the huge zero page. */
pmd_t pgmove_mk_huge_pmd(struct page *page, struct vm_area_struct *vma, bool dirty_writable)
{
	pmd_t pmd = mk_huge_pmd(page, vma->vm_page_prot);

	return dirty_writable ? pmd_mkwrite(pmd_mkdirty(pmd), vma) : pmd;
}

void pgmove_set_pmd_at(struct mm_struct *mm, unsigned long addr, pmd_t *pmd, pmd_t val)
{
	set_pmd_at(mm, addr, pmd, val);
}

pte_t pgmove_ptep_get(pte_t *pte)
{
	return ptep_get(pte);
}

void pgmove_pte_unmap(pte_t *pte)
{
	pte_unmap(pte);
}

bool pgmove_pte_none(pte_t pte)
{
	return pte_none(pte);
}

bool pgmove_pte_present(pte_t pte)
{
	return pte_present(pte);
}

bool pgmove_pte_same(pte_t a, pte_t b)
{
	return pte_same(a, b);
}

bool pgmove_pte_dirty(pte_t pte)
{
	return pte_dirty(pte);
}

bool pgmove_pte_is_zero_pfn(pte_t pte)
{
	return is_zero_pfn(pte_pfn(pte));
}

bool pgmove_pte_swp_exclusive(pte_t pte)
{
	return pte_swp_exclusive(pte);
}

/* The PTE move_present_pte() builds: soft-dirty, writable, dirty only if the source was. */
pte_t pgmove_mk_moved_pte(struct folio *folio, struct vm_area_struct *vma, bool dirty)
{
	return pgmove_mk_moved_pte_idx(folio, 0, vma, dirty);
}

/* pgmove_mk_moved_pte() for page idx of a (large) folio. */
PGMOVE_HOT pte_t pgmove_mk_moved_pte_idx(struct folio *folio, unsigned long idx,
					 struct vm_area_struct *vma, bool dirty)
{
	pte_t pte = mk_pte(folio_page(folio, idx), vma->vm_page_prot);

#ifdef CONFIG_MEM_SOFT_DIRTY
	pte = pte_mksoft_dirty(pte);
#endif
	/*
	 * pte_mkwrite(pte_mkdirty(pte), vma) without x86's out-of-line pte_mkwrite(), which
	 * differs from pte_mkwrite_novma() only for shadow-stack VMAs (MOVE refuses them:
	 * PGMOVE_VM_UNMOVABLE) and in turning a saved-dirty bit into the dirty bit; with the
	 * write bit set first, pte_mkdirty() sets the dirty bit itself. Same entry, one call less
	 * per page.
	 */
	pte = pte_mkwrite_novma(pte);
	if (dirty)
		pte = pte_mkdirty(pte);
	return pte;
}

PGMOVE_HOT pte_t pgmove_mk_zero_pte(unsigned long addr, struct vm_area_struct *vma)
{
	return pte_mkspecial(pfn_pte(my_zero_pfn(addr), vma->vm_page_prot));
}

pte_t pgmove_pte_swp_mksoft_dirty(pte_t pte)
{
#ifdef CONFIG_MEM_SOFT_DIRTY
	pte = pte_swp_mksoft_dirty(pte);
#endif
	return pte;
}

PGMOVE_HOT pte_t pgmove_ptep_get_and_clear(struct mm_struct *mm, unsigned long addr, pte_t *pte)
{
	return ptep_get_and_clear(mm, addr, pte);
}

PGMOVE_HOT void pgmove_set_pte_at(struct mm_struct *mm, unsigned long addr, pte_t *pte, pte_t val)
{
	set_pte_at(mm, addr, pte, val);
}

/*
 * What move_present_pte() does once the source entry (last value old) is cleared: the folio's
 * rmap now names vma at addr, and *pte maps it there (soft-dirty, writable, dirty if old was);
 * with folio NULL, *pte maps the zero page.
 */
static __always_inline void __pgmove_move_entry(struct mm_struct *mm, unsigned long addr,
						pte_t *pte, struct folio *folio,
						struct vm_area_struct *vma, pte_t old)
{
	if (!folio) {
		set_pte_at(mm, addr, pte, pgmove_mk_zero_pte(addr, vma));
		return;
	}
	pgmove_folio_move_anon_rmap_at(folio, vma, addr);
	set_pte_at(mm, addr, pte, pgmove_mk_moved_pte_idx(folio, 0, vma, pte_dirty(old)));
}

PGMOVE_HOT void pgmove_move_entry(struct mm_struct *mm, unsigned long addr, pte_t *pte,
				  struct folio *folio, struct vm_area_struct *vma, pte_t old)
{
	__pgmove_move_entry(mm, addr, pte, folio, vma, old);
}

/*
 * pgmove_move_entry() rewriting *pte itself, in a detached table that a stale TLB path may
 * still reach until the call's flush, where the hardware may set the accessed or dirty bit.
 * When the moved entry is the entry as it is (the same page and protection, already
 * accessed, dirty and writable as the move makes it: the common case, since both VMAs have
 * the same protection), nothing is written and nothing can be lost. Otherwise the entry is
 * cleared atomically first, so a dirty bit set meanwhile is in the value the new entry is
 * built from.
 */
PGMOVE_HOT void pgmove_move_entry_in_place(struct mm_struct *mm, unsigned long addr, pte_t *pte,
					   struct folio *folio, struct vm_area_struct *vma)
{
	pte_t old = ptep_get(pte);

	if (folio && pte_same(old, pgmove_mk_moved_pte_idx(folio, 0, vma, pte_dirty(old)))) {
		pgmove_folio_move_anon_rmap_at(folio, vma, addr);
		return;
	}
	if (!folio && pte_same(old, pgmove_mk_zero_pte(addr, vma)))
		return;
	__pgmove_move_entry(mm, addr, pte, folio, vma, ptep_get_and_clear(mm, addr, pte));
}

static PGMOVE_HOT enum pgmove_pte_kind pgmove_pte_kind(pte_t pte)
{
	if (pte_none(pte))
		return PGMOVE_PTE_NONE;
	if (!pte_present(pte))
		return PGMOVE_PTE_OTHER;
	return is_zero_pfn(pte_pfn(pte)) ? PGMOVE_PTE_ZERO : PGMOVE_PTE_PAGE;
}

/* ptep_get() into *val, and pgmove_pte_kind() of it. */
PGMOVE_HOT enum pgmove_pte_kind pgmove_ptep_get_kind(pte_t *pte, pte_t *val)
{
	*val = ptep_get(pte);
	return pgmove_pte_kind(*val);
}

void pgmove_spin_lock(spinlock_t *lock)
{
	spin_lock(lock);
}

void pgmove_spin_lock_nested(spinlock_t *lock)
{
	spin_lock_nested(lock, SINGLE_DEPTH_NESTING);
}

/* A page-table lock taken out of address order: only tried, never waited for. */
bool pgmove_spin_trylock(spinlock_t *lock)
{
	return spin_trylock(lock);
}

/* A third page-table lock of the same class (after two PMD locks). */
void pgmove_spin_lock_third(spinlock_t *lock)
{
	spin_lock_nested(lock, SINGLE_DEPTH_NESTING + 1);
}

void pgmove_spin_unlock(spinlock_t *lock)
{
	spin_unlock(lock);
}

enum pgmove_swp_kind pgmove_pte_swp_kind(pte_t pte, swp_entry_t *entry)
{
	*entry = pte_to_swp_entry(pte);
	if (!non_swap_entry(*entry))
		return PGMOVE_SWP_SWAP;
	if (is_migration_entry(*entry))
		return PGMOVE_SWP_MIGRATION;
	return PGMOVE_SWP_OTHER;
}

void pgmove_put_swap_device(struct swap_info_struct *si)
{
	put_swap_device(si);
}

bool pgmove_swap_has_cache(struct swap_info_struct *si, swp_entry_t entry)
{
	return READ_ONCE(si->swap_map[swp_offset(entry)]) & SWAP_HAS_CACHE;
}

/* mm/swap.h's swap_address_space() and swap_cache_index(), which 6.12 keeps internal. */
extern struct address_space *swapper_spaces[];
#define PGMOVE_SWAP_ADDRESS_SPACE_SHIFT 14

struct folio *pgmove_swap_cache_get_folio(swp_entry_t entry)
{
	struct address_space *space = &swapper_spaces[swp_type(entry)]
		[swp_offset(entry) >> PGMOVE_SWAP_ADDRESS_SPACE_SHIFT];
	pgoff_t index = swp_offset(entry) & ((1UL << PGMOVE_SWAP_ADDRESS_SPACE_SHIFT) - 1);
	struct folio *folio = filemap_get_folio(space, index);

	return IS_ERR(folio) ? NULL : folio;
}

bool pgmove_folio_is_swap_entry(struct folio *folio, swp_entry_t entry)
{
	return folio_test_swapcache(folio) && folio->swap.val == entry.val;
}

struct page *pgmove_folio_page(struct folio *folio)
{
	return &folio->page;
}

void pgmove_folio_get(struct folio *folio)
{
	folio_get(folio);
}

void pgmove_folio_put(struct folio *folio)
{
	folio_put(folio);
}

bool pgmove_folio_trylock(struct folio *folio)
{
	return folio_trylock(folio);
}

void pgmove_folio_lock(struct folio *folio)
{
	folio_lock(folio);
}

bool pgmove_folio_test_large(struct folio *folio)
{
	return folio_test_large(folio);
}

bool pgmove_folio_test_anon(struct folio *folio)
{
	return folio_test_anon(folio);
}

bool pgmove_folio_test_head(struct folio *folio)
{
	return folio_test_head(folio);
}

bool pgmove_folio_anon_exclusive(struct folio *folio)
{
	return PageAnonExclusive(&folio->page);
}

/* Whether every page of the folio is PageAnonExclusive. */
bool pgmove_folio_all_anon_exclusive(struct folio *folio)
{
	long i, nr = folio_nr_pages(folio);

	for (i = 0; i < nr; i++)
		if (!PageAnonExclusive(folio_page(folio, i)))
			return false;
	return true;
}

long pgmove_folio_nr_pages(struct folio *folio)
{
	return folio_nr_pages(folio);
}

int pgmove_folio_mapcount(struct folio *folio)
{
	return folio_mapcount(folio);
}

unsigned long pgmove_folio_pfn(struct folio *folio)
{
	return folio_pfn(folio);
}

unsigned long pgmove_pte_pfn(pte_t pte)
{
	return pte_pfn(pte);
}

bool pgmove_pte_special(pte_t pte)
{
	return pte_special(pte);
}

bool pgmove_folio_maybe_dma_pinned(struct folio *folio)
{
	return folio_maybe_dma_pinned(folio);
}

/* The index of the first of n folios (NULL ones skipped) that may be pinned; n if none. */
PGMOVE_HOT unsigned int pgmove_first_maybe_pinned(struct folio **folios, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (folios[i] && folio_maybe_dma_pinned(folios[i]))
			break;
	return i;
}

/*
 * folio_unlock() when nobody waits for the lock, inline: one release cmpxchg of the flags
 * that clears PG_locked, done only if PG_waiters is clear (a waiter sets it, atomically,
 * before it re-checks PG_locked and sleeps, so either the cmpxchg sees it and fails, or the
 * waiter sees the lock free). With a waiter, or if the flags changed meanwhile, the kernel's
 * folio_unlock(), which also wakes the waiters.
 */
static __always_inline void pgmove_folio_unlock(struct folio *folio)
{
	unsigned long flags = READ_ONCE(folio->flags);

	VM_BUG_ON_FOLIO(!(flags & (1UL << PG_locked)), folio);
	if (!(flags & (1UL << PG_waiters)) &&
	    try_cmpxchg_release(&folio->flags, &flags, flags & ~(1UL << PG_locked)))
		return;
	folio_unlock(folio);
}

/* Unlocks each folio of folios[0..n) that is not NULL: one call for a batch. */
PGMOVE_HOT void pgmove_folios_unlock(struct folio **folios, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (folios[i])
			pgmove_folio_unlock(folios[i]);
}

static __always_inline unsigned int __pgmove_folio_state(struct folio *folio)
{
	unsigned int state = 0;

	if (folio_test_large(folio))
		state |= PGMOVE_FOLIO_LARGE;
	if (folio_test_anon(folio)) {
		state |= PGMOVE_FOLIO_ANON;
		if (PageAnonExclusive(&folio->page))
			state |= PGMOVE_FOLIO_ANON_EXCLUSIVE;
	}
	if (folio_maybe_dma_pinned(folio))
		state |= PGMOVE_FOLIO_MAYBE_PINNED;
	return state;
}

PGMOVE_HOT unsigned int pgmove_folio_state(struct folio *folio)
{
	return __pgmove_folio_state(folio);
}

/*
 * vm_normal_folio() of a present entry that does not map the zero page, in a VMA that MOVE
 * accepts (anonymous: no vm_ops; not VM_PFNMAP or VM_MIXEDMAP), where vm_normal_page()
 * comes down to this: a special entry maps no normal page, any other one the page of its
 * pfn. The same folio without the two out-of-line calls on the batched paths; a special
 * entry gives NULL and is left to the per-page path (which asks vm_normal_folio()).
 */
static PGMOVE_HOT struct folio *pgmove_anon_normal_folio(pte_t pte)
{
	if (unlikely(pte_special(pte)))
		return NULL;
	return page_folio(pfn_to_page(pte_pfn(pte)));
}

/* pgmove_anon_normal_folio(), and pgmove_folio_state() of it into *state. */
static PGMOVE_HOT struct folio *pgmove_normal_folio_state(pte_t pte, unsigned int *state)
{
	struct folio *folio = pgmove_anon_normal_folio(pte);

	*state = folio ? __pgmove_folio_state(folio) : 0;
	return folio;
}

/* The root of the anon_vma an anon folio is mapped through (NULL if it has none). */
static PGMOVE_HOT struct anon_vma *pgmove_folio_anon_vma_root(struct folio *folio)
{
	/* folio_anon_vma(), which lives in mm/internal.h. */
	unsigned long mapping = (unsigned long)READ_ONCE(folio->mapping);

	if ((mapping & PAGE_MAPPING_FLAGS) != PAGE_MAPPING_ANON)
		return NULL;
	return ((struct anon_vma *)(mapping - PAGE_MAPPING_ANON))->root;
}

/*
 * folio_trylock() and, if taken, the root of the folio's anon_vma tree (above); NULL,
 * with the folio not locked, when either cannot be had.
 */
PGMOVE_HOT struct anon_vma *pgmove_folio_trylock_anon_root(struct folio *folio)
{
	struct anon_vma *root;

	if (!folio_trylock(folio))
		return NULL;
	root = pgmove_folio_anon_vma_root(folio);
	if (!root)
		folio_unlock(folio);
	return root;
}

/*
 * pgmove_ptep_get_kind() and, for a PGMOVE_PTE_PAGE entry, pgmove_normal_folio_state() of
 * it and pgmove_folio_trylock_anon_root() of that folio (*folio and *locked_root are NULL
 * otherwise; the folio is locked if *locked_root is not NULL).
 */
PGMOVE_HOT enum pgmove_pte_kind pgmove_ptep_get_folio(pte_t *pte, pte_t *val,
						      struct folio **folio, unsigned int *state,
						      struct anon_vma **locked_root)
{
	enum pgmove_pte_kind kind = pgmove_ptep_get_kind(pte, val);

	*folio = NULL;
	*state = 0;
	*locked_root = NULL;
	if (kind == PGMOVE_PTE_PAGE)
		*folio = pgmove_normal_folio_state(*val, state);
	if (*folio)
		*locked_root = pgmove_folio_trylock_anon_root(*folio);
	return kind;
}

/*
 * The folio's anon rmap now names vma at addr: what folio_move_anon_rmap() does (one store,
 * under the folio lock, of the anon_vma and PAGE_MAPPING_ANON together, so that a lockless
 * reader such as folio_test_anon() never sees one without the other), here inline, and the
 * index for addr.
 */
PGMOVE_HOT void pgmove_folio_move_anon_rmap_at(struct folio *folio, struct vm_area_struct *vma,
					       unsigned long addr)
{
	VM_BUG_ON_FOLIO(!folio_test_locked(folio), folio);
	VM_BUG_ON_VMA(!vma->anon_vma, vma);
	WRITE_ONCE(folio->mapping,
		   (struct address_space *)((unsigned long)vma->anon_vma + PAGE_MAPPING_ANON));
	folio->index = linear_page_index(vma, addr);
}

bool pgmove_is_huge_zero_folio(struct folio *folio)
{
	return is_huge_zero_folio(folio);
}

/* split_folio() of an anonymous folio: split_folio_to_list() is one call, not exported. */
int pgmove_split_folio(struct folio *folio)
{
	return split_huge_page_to_list_to_order(&folio->page, NULL, 0);
}

bool pgmove_anon_vma_trylock_write(struct anon_vma *anon_vma)
{
	return anon_vma_trylock_write(anon_vma);
}

void pgmove_anon_vma_lock_write(struct anon_vma *anon_vma)
{
	anon_vma_lock_write(anon_vma);
}

struct anon_vma *pgmove_anon_vma_root(struct anon_vma *anon_vma)
{
	return anon_vma->root;
}

void pgmove_anon_vma_unlock_write(struct anon_vma *anon_vma)
{
	anon_vma_unlock_write(anon_vma);
}

void pgmove_put_anon_vma(struct anon_vma *anon_vma)
{
	put_anon_vma(anon_vma);
}

void pgmove_mmu_notifier_start(struct mmu_notifier_range *range, struct mm_struct *mm,
			       unsigned long start, unsigned long end)
{
	mmu_notifier_range_init(range, MMU_NOTIFY_CLEAR, 0, mm, start, end);
	mmu_notifier_invalidate_range_start(range);
}

void pgmove_mmu_notifier_end(struct mmu_notifier_range *range)
{
	mmu_notifier_invalidate_range_end(range);
}

bool pgmove_warn_on_once(bool cond)
{
	return WARN_ON_ONCE(cond);
}

pid_t pgmove_current_tgid(void)
{
	return task_tgid_nr(current);
}

unsigned long pgmove_jiffies(void)
{
	return READ_ONCE(jiffies);
}

/* The stacks of every thread of the calling process, in the kernel log (sched_show_task()). */
void pgmove_show_thread_group(void)
{
	struct task_struct *t;

	rcu_read_lock();
	for_each_thread(current, t)
		sched_show_task(t);
	rcu_read_unlock();
}

void pgmove_init_completion(struct completion *x)
{
	init_completion(x);
}

void pgmove_reinit_completion(struct completion *x)
{
	reinit_completion(x);
}

/* Whether a task spins (or queues) for the lock, which the caller holds. */
bool pgmove_spin_is_contended(spinlock_t *lock)
{
	return spin_is_contended(lock);
}

/* Whether a task waits for the lock of one of folios[0..n) (NULL entries skipped). */
bool pgmove_folios_have_waiters(struct folio **folios, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (folios[i] && folio_test_waiters(folios[i]))
			return true;
	return false;
}
