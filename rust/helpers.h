/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of pgmove: what 6.12 gives a Rust module only as static inline functions
 * or macros, and the misc-device, mm and uAPI declarations that its Rust bindings lack.
 *
 * bindgen reads this header at build time and generates rust/c.rs's declarations from it,
 * so a signature that does not match helpers.c or the kernel fails the build.
 * Every helper is a few lines that only forward to the kernel; no logic lives here.
 * Pointers are passed through unchanged: the Rust caller upholds the kernel function's
 * own rules (locks held, references owned), as rust/mm/ documents type by type.
 */
#ifndef PGMOVE_HELPERS_H
#define PGMOVE_HELPERS_H

#include <linux/mm.h>	/* first: the other mm headers assume it */
#include <linux/fs.h>
#include <linux/huge_mm.h>
#include <linux/migrate.h>
#include <linux/capability.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/userfaultfd_k.h>
#include <linux/miscdevice.h>
#include <linux/mm_types.h>
#include <linux/mm_inline.h>
#include <linux/mmu_notifier.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/types.h>
#include <linux/completion.h>
#include <linux/debugfs.h>

#include "../include/uapi/linux/pgmove.h"

#ifdef __BINDGEN__
/* uAPI constants for Rust: bindgen cannot expand the _IOR()/_IOWR() macros, clang can. */
const unsigned int PGMOVE_RS_IOC_INFO = PGMOVE_IOC_INFO;
const unsigned int PGMOVE_RS_IOC_MOVE = PGMOVE_IOC_MOVE;
const unsigned int PGMOVE_RS_IOC_RECLAIM = PGMOVE_IOC_RECLAIM;
const unsigned int PGMOVE_RS_IOC_MOVEV = PGMOVE_IOC_MOVEV;
/* Kernel constants that are expressions bindgen does not evaluate. */
const unsigned long PGMOVE_PAGE_SIZE = PAGE_SIZE;
const unsigned long PGMOVE_PMD_SIZE = PMD_SIZE;
const unsigned int PGMOVE_PTRS_PER_PTE = PTRS_PER_PTE;
const unsigned int PGMOVE_PTRS_PER_PMD = PTRS_PER_PMD;
const unsigned int PGMOVE_PTRACE_MODE_READ_FSCREDS = PTRACE_MODE_READ_FSCREDS;
const int PGMOVE_CAP_SYS_NICE = CAP_SYS_NICE;
const unsigned long PGMOVE_VM_ACCESS_FLAGS = VM_ACCESS_FLAGS;
const unsigned long PGMOVE_VM_WRITE = VM_WRITE;
const unsigned long PGMOVE_VM_SHARED = VM_SHARED;
const unsigned long PGMOVE_VM_LOCKED = VM_LOCKED;
/* VMAs whose contents MOVE never touches (UFFDIO_MOVE's vma_move_compatible()). */
const unsigned long PGMOVE_VM_UNMOVABLE = VM_PFNMAP | VM_IO | VM_HUGETLB | VM_MIXEDMAP |
					  VM_SHADOW_STACK;
/* VMAs whose page tables RECLAIM never frees (besides file-backed and uffd-registered). */
const unsigned long PGMOVE_VM_NO_RECLAIM = VM_SHARED | VM_HUGETLB | VM_PFNMAP | VM_IO |
					   VM_MIXEDMAP;
#endif

/* The `mode` module parameter as given (6.12's module! macro has no parameters). */
umode_t pgmove_param_mode(void);

/* Tasks and mm_structs. */
struct mm_struct *pgmove_current_mm(void);
void pgmove_mmgrab(struct mm_struct *mm);
void pgmove_mmdrop(struct mm_struct *mm);
bool pgmove_fatal_signal_pending(void);
void pgmove_cond_resched(void);
bool pgmove_need_resched(void);
void pgmove_put_task_struct(struct task_struct *task);
void pgmove_mmput(struct mm_struct *mm);

/* mmap lock and per-VMA locks. */
void pgmove_mmap_read_lock(struct mm_struct *mm);
void pgmove_mmap_read_unlock(struct mm_struct *mm);
int pgmove_mmap_read_lock_killable(struct mm_struct *mm);
int pgmove_mmap_write_lock_killable(struct mm_struct *mm);
void pgmove_mmap_write_unlock(struct mm_struct *mm);
void pgmove_vma_start_write(struct vm_area_struct *vma);
bool pgmove_mmap_lock_is_contended(struct mm_struct *mm);
struct vm_area_struct *pgmove_find_vma(struct mm_struct *mm, unsigned long addr);
struct vm_area_struct *pgmove_vma_lookup(struct mm_struct *mm, unsigned long addr);
void pgmove_vma_read_lock_under_mmap(struct vm_area_struct *vma, bool nested);
void pgmove_vma_end_read(struct vm_area_struct *vma);
int pgmove_anon_vma_prepare(struct vm_area_struct *vma);

/* VMA fields. */
bool pgmove_vma_uffd_registered(const struct vm_area_struct *vma);

/* Page-table walk and allocation down to the PMD. */
pmd_t *pgmove_mm_find_pmd(struct mm_struct *mm, unsigned long addr);
pmd_t *pgmove_pmd_walk(struct mm_struct *mm, unsigned long addr, unsigned long end,
		       unsigned long *next);
pmd_t *pgmove_mm_alloc_pmd(struct mm_struct *mm, unsigned long addr);
int pgmove_pte_alloc(struct mm_struct *mm, pmd_t *pmd);

/* PMD values and the PMD lock. */
pmd_t pgmove_pmdp_get_lockless(pmd_t *pmd);
pmd_t pgmove_pmdp_get(pmd_t *pmd);
bool pgmove_pmd_none(pmd_t pmd);
bool pgmove_pmd_present(pmd_t pmd);
bool pgmove_pmd_trans_huge(pmd_t pmd);
bool pgmove_pmd_devmap(pmd_t pmd);
bool pgmove_is_pmd_migration_entry(pmd_t pmd);
bool pgmove_is_huge_zero_pmd(pmd_t pmd);
bool pgmove_pmd_same(pmd_t a, pmd_t b);
bool pgmove_pmd_is_table(pmd_t pmd);
struct page *pgmove_pmd_pgtable(pmd_t pmd);
void pgmove_pmd_clear(pmd_t *pmd);
void pgmove_mm_dec_nr_ptes(struct mm_struct *mm);
void pgmove_flush_tlb_mm_range(struct mm_struct *mm, unsigned long start, unsigned long end,
			       bool freed_tables);
void pgmove_flush_tlb_range(struct vm_area_struct *vma, unsigned long start, unsigned long end);
struct folio *pgmove_pmd_folio(pmd_t pmd);
struct page *pgmove_pmd_page(pmd_t pmd);
spinlock_t *pgmove_pte_lockptr(struct mm_struct *mm, pmd_t *pmdval);
spinlock_t *pgmove_pmd_lockptr(struct mm_struct *mm, pmd_t *pmd);
spinlock_t *pgmove_pmd_trans_huge_lock(pmd_t *pmd, struct vm_area_struct *vma);
void pgmove_split_huge_pmd(struct vm_area_struct *vma, pmd_t *pmd, unsigned long addr);
pmd_t pgmove_mk_huge_pmd(struct page *page, struct vm_area_struct *vma, bool dirty_writable);
void pgmove_set_pmd_at(struct mm_struct *mm, unsigned long addr, pmd_t *pmd, pmd_t val);
pmd_t pgmove_pmdp_huge_get_and_clear(struct mm_struct *mm, unsigned long addr, pmd_t *pmd);

/* PTE values, mapped PTE tables and PTE locks. */
pte_t pgmove_ptep_get(pte_t *pte);
void pgmove_pte_unmap(pte_t *pte);
bool pgmove_pte_none(pte_t pte);
bool pgmove_pte_present(pte_t pte);
bool pgmove_pte_same(pte_t a, pte_t b);
bool pgmove_pte_dirty(pte_t pte);
bool pgmove_pte_is_zero_pfn(pte_t pte);
bool pgmove_pte_swp_exclusive(pte_t pte);
pte_t pgmove_mk_moved_pte(struct folio *folio, struct vm_area_struct *vma, bool dirty);
pte_t pgmove_mk_moved_pte_idx(struct folio *folio, unsigned long idx, struct vm_area_struct *vma,
			      bool dirty);
pte_t pgmove_mk_zero_pte(unsigned long addr, struct vm_area_struct *vma);
pte_t pgmove_pte_swp_mksoft_dirty(pte_t pte);
pte_t pgmove_ptep_get_and_clear(struct mm_struct *mm, unsigned long addr, pte_t *pte);
void pgmove_set_pte_at(struct mm_struct *mm, unsigned long addr, pte_t *pte, pte_t val);
void pgmove_move_entry(struct mm_struct *mm, unsigned long addr, pte_t *pte,
		       struct folio *folio, struct vm_area_struct *vma, pte_t old);
void pgmove_move_entry_in_place(struct mm_struct *mm, unsigned long addr, pte_t *pte,
				struct folio *folio, struct vm_area_struct *vma);
/* What a PTE holds: pte_none(), pte_present() and is_zero_pfn() in one call (hot paths). */
enum pgmove_pte_kind {
	PGMOVE_PTE_NONE,
	PGMOVE_PTE_ZERO,	/* present, maps the shared zero page */
	PGMOVE_PTE_PAGE,	/* present, maps anything else */
	PGMOVE_PTE_OTHER,	/* not present: swap, migration or device entry, marker */
};
enum pgmove_pte_kind pgmove_ptep_get_kind(pte_t *pte, pte_t *val);
/* For entries of a VMA that MOVE accepts (anonymous, not VM_PFNMAP or VM_MIXEDMAP). */
enum pgmove_pte_kind pgmove_ptep_get_folio(pte_t *pte, pte_t *val, struct folio **folio,
					   unsigned int *state, struct anon_vma **locked_root);
void pgmove_spin_lock(spinlock_t *lock);
void pgmove_spin_lock_nested(spinlock_t *lock);
bool pgmove_spin_trylock(spinlock_t *lock);
void pgmove_spin_lock_third(spinlock_t *lock);
void pgmove_spin_unlock(spinlock_t *lock);

/* Swap entries, swap devices and the swap cache. */
enum pgmove_swp_kind {
	PGMOVE_SWP_SWAP,	/* a swap entry */
	PGMOVE_SWP_MIGRATION,	/* a migration entry: wait for it */
	PGMOVE_SWP_OTHER,	/* PTE marker, hwpoison, device entry... */
};
enum pgmove_swp_kind pgmove_pte_swp_kind(pte_t pte, swp_entry_t *entry);
void pgmove_put_swap_device(struct swap_info_struct *si);
bool pgmove_swap_has_cache(struct swap_info_struct *si, swp_entry_t entry);
struct folio *pgmove_swap_cache_get_folio(swp_entry_t entry);
bool pgmove_folio_is_swap_entry(struct folio *folio, swp_entry_t entry);

/* Folios. */
struct page *pgmove_folio_page(struct folio *folio);
void pgmove_folio_get(struct folio *folio);
void pgmove_folio_put(struct folio *folio);
bool pgmove_folio_trylock(struct folio *folio);
void pgmove_folio_lock(struct folio *folio);
bool pgmove_folio_test_large(struct folio *folio);
bool pgmove_folio_test_anon(struct folio *folio);
bool pgmove_folio_test_head(struct folio *folio);
bool pgmove_folio_anon_exclusive(struct folio *folio);
bool pgmove_folio_all_anon_exclusive(struct folio *folio);
long pgmove_folio_nr_pages(struct folio *folio);
int pgmove_folio_mapcount(struct folio *folio);
unsigned long pgmove_folio_pfn(struct folio *folio);
unsigned long pgmove_pte_pfn(pte_t pte);
bool pgmove_pte_special(pte_t pte);
bool pgmove_folio_maybe_dma_pinned(struct folio *folio);
unsigned int pgmove_first_maybe_pinned(struct folio **folios, unsigned int n);
void pgmove_folios_unlock(struct folio **folios, unsigned int n);
/* The folio tests of the hot paths in one call: a mask of these bits. */
enum pgmove_folio_state {
	PGMOVE_FOLIO_LARGE = 1,			/* folio_test_large() */
	PGMOVE_FOLIO_ANON = 2,			/* folio_test_anon() */
	PGMOVE_FOLIO_ANON_EXCLUSIVE = 4,	/* anon and PageAnonExclusive() (first page) */
	PGMOVE_FOLIO_MAYBE_PINNED = 8,		/* folio_maybe_dma_pinned() */
};
unsigned int pgmove_folio_state(struct folio *folio);
struct anon_vma *pgmove_folio_trylock_anon_root(struct folio *folio);
void pgmove_folio_move_anon_rmap_at(struct folio *folio, struct vm_area_struct *vma,
				    unsigned long addr);
bool pgmove_is_huge_zero_folio(struct folio *folio);
int pgmove_split_folio(struct folio *folio);

/* anon_vma. */
bool pgmove_anon_vma_trylock_write(struct anon_vma *anon_vma);
void pgmove_anon_vma_lock_write(struct anon_vma *anon_vma);
void pgmove_anon_vma_unlock_write(struct anon_vma *anon_vma);
struct anon_vma *pgmove_anon_vma_root(struct anon_vma *anon_vma);
void pgmove_put_anon_vma(struct anon_vma *anon_vma);

/* mmu notifiers (no-ops when the kernel has none). */
void pgmove_mmu_notifier_start(struct mmu_notifier_range *range, struct mm_struct *mm,
			       unsigned long start, unsigned long end);
void pgmove_mmu_notifier_end(struct mmu_notifier_range *range);

/* The deferred TLB flush of MOVE's batched paths (rust/mm/tlb.rs). */
void pgmove_folios_put_array(struct folio **folios, unsigned int n);
void pgmove_inc_tlb_flush_pending(struct mm_struct *mm);
void pgmove_dec_tlb_flush_pending(struct mm_struct *mm);
void pgmove_smp_mb(void);

/* WARN_ON_ONCE() for an invariant of the module's own that Rust cannot state in types. */
bool pgmove_warn_on_once(bool cond);

/* Race points (rust/race.rs; used only in a build with PGMOVE_RACE_POINTS=y). */
pid_t pgmove_current_tgid(void);
unsigned long pgmove_jiffies(void);
void pgmove_show_thread_group(void);
void pgmove_init_completion(struct completion *x);
void pgmove_reinit_completion(struct completion *x);
bool pgmove_spin_is_contended(spinlock_t *lock);
bool pgmove_folios_have_waiters(struct folio **folios, unsigned int n);

#endif /* PGMOVE_HELPERS_H */
