// SPDX-License-Identifier: GPL-2.0
/*
 * Differential: every scenario runs three times on fresh mappings: through the kernel's own
 * UFFDIO_MOVE (destination registered with a userfaultfd), through PGMOVE_IOC_MOVE, and
 * through PGMOVE_IOC_MOVEV with the request as its one entry. All must give the same
 * return, errno, `moved`, memory contents, PFNs (a move, never a copy), per-page state
 * in /proc/self/pagemap (present, swapped, soft-dirty, exclusive), the same pages in large
 * folios (KPF_THP in /proc/kpageflags: a THP or mTHP however mapped, or the huge zero page)
 * and the same change of VmPTE over the call.
 *
 * Except where a scenario declares one of pgmove's documented differences
 * (Documentation/move.rst, "Differences from UFFDIO_MOVE"); each is asserted on both sides:
 * - keeps_large: a large folio that the move covers whole and aligned stays one large folio
 *   with MOVE and MOVEV, and is split into small pages by UFFDIO_MOVE;
 * - tables_moved: a PTE table that moves whole is not left behind, empty, at the source as
 *   UFFDIO_MOVE leaves it: VmPTE ends that many tables lower with MOVE and MOVEV.
 * And when the arguments are rejected before anything is looked at, UFFDIO_MOVE leaves
 * `move` as it was, pgmove writes -errno.
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <signal.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "pgmove_harness.h"
#include "move_util.h"

#define NPAGES 16UL

/* A scenario's mappings and request. */
struct scen {
	char *src, *dst;		/* the mappings (src may equal dst) */
	unsigned long src_len, dst_len;	/* their lengths */
	unsigned long from, to, len;	/* the request (addresses) */
	unsigned long long pgflags;	/* PGMOVE_MOVE_* */
	pid_t child;			/* a child sharing pages, killed at the end */
	int ring;			/* an io_uring pinning a page (0: none), closed at the end */
	bool src_unmapped;		/* src was unmapped by the setup */
	unsigned long zap;		/* src pages, from its start, dropped after the move and
					 * before anything reads them (a poison marker: SIGBUS) */
	/* The documented differences this scenario shows (see the top), 0 for none: */
	unsigned long keeps_large;	/* pages from `to` on that large folios moved whole */
	unsigned long tables_moved;	/* PTE tables that pgmove moves whole */
};

typedef void (*setup_fn)(struct scen *s);

/* /proc/self/pagemap and /proc/kpageflags, opened once by the test. */
static int pagemap_fd = -1, kpageflags_fd = -1;

#define KPF_LARGE (1ULL << KPF_THP_BIT)		/* in a THP or mTHP, or the huge zero page */
#define KPF_ZERO (1ULL << KPF_ZERO_PAGE_BIT)	/* the zero page or the huge zero page */

/* The pagemap entry of addr (0 if unreadable). */
static uint64_t pm_entry(unsigned long addr)
{
	uint64_t e = 0;

	if (pread(pagemap_fd, &e, sizeof(e), addr / PAGE * sizeof(e)) != sizeof(e))
		e = 0;
	return e;
}

/* The PFN mapped at addr, 0 if none; its /proc/kpageflags in *flags (0 if none). */
static uint64_t page_at(unsigned long addr, uint64_t *flags)
{
	uint64_t e = pm_entry(addr), pfn = (e & PM_PRESENT) ? PM_PFN(e) : 0;

	*flags = 0;
	if (pfn && pread(kpageflags_fd, flags, sizeof(*flags), pfn * sizeof(*flags)) != sizeof(*flags))
		*flags = 0;
	return pfn;
}

static void pair(struct scen *s, bool thp)
{
	unsigned long len = thp ? 2 * PMD : NPAGES * PAGE;

	s->src = map_anon(len, thp, thp);
	s->dst = map_anon(len, thp, thp);
	s->src_len = s->dst_len = len;
	s->from = (unsigned long)s->src;
	s->to = (unsigned long)s->dst;
	s->len = thp ? PMD : NPAGES * PAGE;
}

static void sc_plain(struct scen *s) { pair(s, false); fill_pages(s->src, s->len, 1); }
static void sc_one(struct scen *s) { sc_plain(s); s->len = PAGE; }
static void sc_misaligned(struct scen *s) { sc_plain(s); s->to += 8; }
static void sc_zero_len(struct scen *s) { sc_plain(s); s->len = 0; }
static void sc_wrap(struct scen *s) { sc_plain(s); s->len = -PAGE; }
static void sc_unknown_flag(struct scen *s) { sc_plain(s); s->pgflags = 1ULL << 2; }
static void sc_hole(struct scen *s) { sc_plain(s); madvise(s->src + 4 * PAGE, PAGE, MADV_DONTNEED); }
static void sc_hole_allowed(struct scen *s) { sc_hole(s); s->pgflags = PGMOVE_MOVE_ALLOW_SRC_HOLES; }
static void sc_untouched_allowed(struct scen *s) { pair(s, false); s->pgflags = PGMOVE_MOVE_ALLOW_SRC_HOLES; }
static void sc_dst_busy_mid(struct scen *s) { sc_plain(s); s->dst[6 * PAGE] = 1; }
static void sc_dst_busy_first(struct scen *s) { sc_plain(s); s->dst[0] = 1; }
static void sc_prot(struct scen *s) { sc_plain(s); mprotect(s->dst, s->dst_len, PROT_READ); }
static void sc_readonly(struct scen *s)
{
	sc_plain(s);
	mprotect(s->dst, s->dst_len, PROT_READ);
	mprotect(s->src, s->src_len, PROT_READ);
}
static void sc_mlock(struct scen *s) { sc_plain(s); syscall(__NR_mlock2, s->src, s->src_len, 1); }
static void sc_across(struct scen *s) { sc_plain(s); mprotect(s->src + 8 * PAGE, PAGE, PROT_READ); }
static void sc_src_unmapped(struct scen *s)
{
	sc_plain(s);
	munmap(s->src, s->src_len);
	s->src_unmapped = true;
}
static void sc_shared_src(struct scen *s)
{
	pair(s, false);
	munmap(s->src, s->src_len);
	s->src = mmap(NULL, s->src_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	s->from = (unsigned long)s->src;
	fill_pages(s->src, s->len, 2);
}
/* A child that shares every page (and swap entry) of the mm until the end of the run. */
static void share_with_child(struct scen *s)
{
	s->child = fork();
	if (!s->child) {
		pause();
		_exit(0);
	}
}
static void sc_forked(struct scen *s) { sc_plain(s); share_with_child(s); }
/* No page and no page table at the source (ENOENT), the twin of src_untouched_allowed. */
static void sc_untouched(struct scen *s) { pair(s, false); }
/*
 * A PTE marker at the first source page (UFFDIO_POISON through a uffd registered on the
 * source, closed again): EFAULT. The marker is dropped after the move: reading it would
 * raise SIGBUS.
 */
static void sc_poison_marker(struct scen *s)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_POISON };
	int uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_poison poison = { 0 };

	sc_plain(s);
	madvise(s->src, PAGE, MADV_DONTNEED);
	poison.range.start = (unsigned long)s->src;
	poison.range.len = PAGE;
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) ||
	    uffd_register(uffd, (unsigned long)s->src, s->src_len) ||
	    ioctl(uffd, UFFDIO_POISON, &poison))
		s->ring = -1;	/* could not set up */
	if (uffd >= 0)
		close(uffd);
	s->zap = 1;
}
static void sc_zero_pages(struct scen *s)
{
	pair(s, false);
	for (unsigned long i = 0; i < s->len; i += PAGE)
		(void)*(volatile char *)(s->src + i);
}
static void sc_swapped(struct scen *s) { sc_plain(s); page_out(s->src, s->len); }
static void sc_swap_cached(struct scen *s)
{
	sc_swapped(s);
	madvise(s->src, s->len, MADV_WILLNEED);
	usleep(50000);
}
/* Swap entries that a fork made not exclusive: EBUSY. */
static void sc_swap_forked(struct scen *s) { sc_swapped(s); share_with_child(s); }
static void sc_thp(struct scen *s) { pair(s, true); fill_pages(s->src, s->len, 3); }
/*
 * A split THP lands in dst as small pages; khugepaged must not collapse them into a new
 * THP (new PFNs) before the PFNs are compared.
 */
static void sc_thp_split(struct scen *s) { sc_thp(s); madvise(s->dst, s->dst_len, MADV_NOHUGEPAGE); }
static void sc_thp_misaligned(struct scen *s)
{
	sc_thp_split(s);
	s->from += PAGE;
	s->to += PAGE;
	s->len -= 2 * PAGE;
}
static void sc_thp_short(struct scen *s) { sc_thp_split(s); s->len = PMD / 2; }
static void sc_huge_zero(struct scen *s)
{
	pair(s, true);
	(void)*(volatile char *)s->src;
}
/*
 * A THP onto a destination PMD that holds an empty PTE table (a page touched there, then
 * MADV_DONTNEED): both split the PMD; then pgmove moves the PTE-mapped THP whole (one large
 * folio, 512 PTEs) where UFFDIO_MOVE splits it into 512 small pages. (On its way pgmove
 * frees the empty table, trying a whole-table move, and maps the folio in a new one.)
 */
static void sc_thp_onto_empty_table(struct scen *s)
{
	sc_thp_split(s);
	s->dst[0] = 1;
	madvise(s->dst, PAGE, MADV_DONTNEED);
	s->keeps_large = PMD / PAGE;
}
/* The same onto a table with a page in it: the folio is split, 7 pages move, EEXIST. */
static void sc_thp_onto_populated_table(struct scen *s) { sc_thp_split(s); s->dst[7 * PAGE] = 1; }
/* A THP shared with a fork child: EBUSY, whole (aligned) and where it would be split. */
static void sc_thp_forked(struct scen *s) { sc_thp(s); share_with_child(s); }
static void sc_thp_forked_misaligned(struct scen *s) { sc_thp_misaligned(s); share_with_child(s); }
/*
 * The huge zero page at the start of the source (a read fault). Where there is none (THPs
 * or their zero page off) a read can map a zero-filled THP, which a split turns into
 * zero-page PTEs but a whole move would not: the 4 kB zero page is mapped there instead.
 */
static void huge_zero_at_src(struct scen *s)
{
	uint64_t f;

	(void)*(volatile char *)s->src;
	page_at((unsigned long)s->src, &f);
	if ((f & KPF_ZERO) && (f & KPF_LARGE))
		return;
	madvise(s->src, s->src_len, MADV_NOHUGEPAGE);
	madvise(s->src, PMD, MADV_DONTNEED);
	(void)*(volatile char *)s->src;
}
/* The huge zero page moved off alignment: split into zero-page PTEs, which move. */
static void sc_huge_zero_misaligned(struct scen *s)
{
	pair(s, true);
	huge_zero_at_src(s);
	s->from += PAGE;
	s->to += PAGE;
	s->len -= 2 * PAGE;
}
/*
 * The huge zero page onto a destination PMD that holds an empty PTE table: both split it
 * into a table of zero-page PTEs; pgmove then moves that table whole (freeing the empty
 * one at the destination first), UFFDIO_MOVE moves the entries and leaves the table. The
 * source is made MADV_NOHUGEPAGE afterwards: the read of the contents would otherwise map
 * the huge zero page again where pgmove left the PMD none (VmPTE tells the difference).
 */
static void sc_huge_zero_onto_empty_table(struct scen *s)
{
	uint64_t f;

	pair(s, true);
	madvise(s->dst, s->dst_len, MADV_NOHUGEPAGE);
	s->dst[0] = 1;
	madvise(s->dst, PAGE, MADV_DONTNEED);
	huge_zero_at_src(s);
	page_at((unsigned long)s->src, &f);
	s->tables_moved = (f & KPF_LARGE) ? 1 : 0;
	madvise(s->src, s->src_len, MADV_NOHUGEPAGE);
}
/* Four THPs in a row: pgmove moves them as one run (one flush), UFFDIO_MOVE one by one. */
static void sc_thp_run(struct scen *s)
{
	s->src = map_anon(4 * PMD, true, true);
	s->dst = map_anon(4 * PMD, true, true);
	s->src_len = s->dst_len = 4 * PMD;
	fill_pages(s->src, 4 * PMD, 12);
	s->from = (unsigned long)s->src;
	s->to = (unsigned long)s->dst;
	s->len = 4 * PMD;
}
/* Pins page `page` of the source with an io_uring fixed buffer (FOLL_PIN). */
static void pin_src_page(struct scen *s, unsigned long page)
{
	struct io_uring_params params = { 0 };
	struct iovec iov = { .iov_base = s->src + page * PAGE, .iov_len = PAGE };

	s->ring = syscall(__NR_io_uring_setup, 4, &params);
	if (s->ring < 0 || syscall(__NR_io_uring_register, s->ring, IORING_REGISTER_BUFFERS, &iov, 1))
		s->ring = -1;
}
/* The third THP of the run pinned by an io_uring fixed buffer: moves stop there. */
static void sc_thp_run_pinned(struct scen *s)
{
	sc_thp_run(s);
	pin_src_page(s, 2 * PMD / PAGE + 5);
}
/*
 * Large folios that cannot be split because something holds an extra reference: both
 * moves must say EBUSY (split_folio()'s EAGAIN would be retried for ever). A THP with its
 * sixth page pinned, moved one page off alignment (the PMD is split, then the folio cannot be)...
 */
static void sc_thp_pinned_misaligned(struct scen *s)
{
	sc_thp_split(s);
	pin_src_page(s, 5);
	s->from += PAGE;
	s->to += PAGE;
	s->len = PAGE;
}
/* ... the same THP aligned, onto a destination PMD that holds an empty PTE table ... */
static void sc_thp_pinned_onto_empty_table(struct scen *s)
{
	sc_thp_split(s);
	s->dst[0] = 1;
	madvise(s->dst, PAGE, MADV_DONTNEED);
	pin_src_page(s, 5);
}
/* ... and a THP one of whose pages a pipe still references after vmsplice(). */
static void sc_thp_vmspliced_misaligned(struct scen *s)
{
	struct iovec iov;
	int pipefd[2];

	sc_thp_split(s);
	iov.iov_base = s->src + 5 * PAGE;
	iov.iov_len = PAGE;
	if (pipe(pipefd) || vmsplice(pipefd[1], &iov, 1, 0) != PAGE) {
		s->ring = -1;
		return;
	}
	close(pipefd[0]);
	s->ring = pipefd[1];	/* closed at the end like a ring: the pipe keeps its page till then */
	s->from += PAGE;
	s->to += PAGE;
	s->len = PAGE;
}
/* A page populated in the destination of the third THP: the run stops before it. */
static void sc_thp_run_dst_busy(struct scen *s) { sc_thp_run(s); s->dst[2 * PMD + 7 * PAGE] = 1; }
/* The huge zero page between two THPs. */
static void sc_thp_run_huge_zero(struct scen *s)
{
	sc_thp_run(s);
	madvise(s->src + PMD, PMD, MADV_DONTNEED);
	(void)*(volatile char *)(s->src + PMD);
}
static void sc_overlap_down(struct scen *s)
{
	s->src = s->dst = map_anon(NPAGES * PAGE, false, false);
	s->src_len = NPAGES * PAGE;
	s->dst_len = 0;
	fill_pages(s->src + 4 * PAGE, 12 * PAGE, 4);
	s->from = (unsigned long)s->src + 4 * PAGE;
	s->to = (unsigned long)s->src;
	s->len = 12 * PAGE;
}
static void sc_overlap_up(struct scen *s) { sc_overlap_down(s); s->to = s->from + 2 * PAGE; s->from -= 2 * PAGE; s->len = 8 * PAGE; }
static void sc_same_vma(struct scen *s)
{
	s->src = s->dst = map_anon(2 * NPAGES * PAGE, false, false);
	s->src_len = 2 * NPAGES * PAGE;
	s->dst_len = 0;
	fill_pages(s->src, NPAGES * PAGE, 5);
	s->from = (unsigned long)s->src;
	s->to = s->from + NPAGES * PAGE;
	s->len = NPAGES * PAGE;
}

/*
 * Runs the batched path cuts short: present pages, zero pages and swap entries mixed
 * within one PTE table (the per-page path takes the entries a run cannot).
 */
static void sc_mixed_run(struct scen *s)
{
	sc_plain(s);
	madvise(s->src + 3 * PAGE, 2 * PAGE, MADV_DONTNEED);
	(void)*(volatile char *)(s->src + 3 * PAGE);	/* zero page */
	page_out(s->src + 9 * PAGE, 2 * PAGE);		/* swap entries */
	s->src[12 * PAGE] = 7;				/* dirty again after the fill */
}
/* A page pinned by an io_uring fixed buffer in the middle of a run: moves stop there. */
static void sc_pinned_mid(struct scen *s)
{
	sc_plain(s);
	pin_src_page(s, 6);
}
/* A run across a PTE-table boundary, unaligned at both ends. */
static void sc_across_tables(struct scen *s)
{
	s->src = map_anon(2 * PMD, true, false);
	s->dst = map_anon(2 * PMD, true, false);
	s->src_len = s->dst_len = 2 * PMD;
	fill_pages(s->src, 2 * PMD, 6);
	s->from = (unsigned long)s->src + PMD - 5 * PAGE;
	s->to = (unsigned long)s->dst + PMD - 9 * PAGE;
	s->len = 20 * PAGE;
}

/* Whole PTE tables at both ends: two tables of 4 kB pages, one with zero-page entries. */
static void sc_whole_tables(struct scen *s)
{
	s->src = map_anon(2 * PMD, true, false);
	s->dst = map_anon(2 * PMD, true, false);
	s->src_len = s->dst_len = 2 * PMD;
	fill_pages(s->src, 2 * PMD, 8);
	madvise(s->src + PMD + 5 * PAGE, 4 * PAGE, MADV_DONTNEED);
	for (int i = 0; i < 4; i++)
		(void)*(volatile char *)(s->src + PMD + (5 + i) * PAGE);
	s->from = (unsigned long)s->src;
	s->to = (unsigned long)s->dst;
	s->len = 2 * PMD;
	s->tables_moved = 2;
}
/* Whole tables with holes, allowed. */
static void sc_whole_tables_holes(struct scen *s)
{
	sc_whole_tables(s);
	madvise(s->src + 17 * PAGE, 2 * PAGE, MADV_DONTNEED);
	s->pgflags = PGMOVE_MOVE_ALLOW_SRC_HOLES;
}
/* Whole tables into a destination whose first table MADV_DONTNEED emptied. */
static void sc_whole_tables_empty_dst(struct scen *s)
{
	sc_whole_tables(s);
	memset(s->dst, 1, PMD);
	madvise(s->dst, PMD, MADV_DONTNEED);
}
/* Holes not allowed: the first table is refused, its pages move up to the hole (ENOENT). */
static void sc_whole_tables_hole(struct scen *s)
{
	sc_whole_tables(s);
	madvise(s->src + 17 * PAGE, 2 * PAGE, MADV_DONTNEED);
	s->tables_moved = 0;
}
/* A page of the second destination table populated: the first table moves, then EEXIST. */
static void sc_whole_tables_dst_busy(struct scen *s)
{
	sc_whole_tables(s);
	s->dst[PMD + 7 * PAGE] = 1;
	s->tables_moved = 1;
}
/* A pinned page in the second table: it goes page by page, up to the pin (EBUSY). */
static void sc_whole_tables_pinned(struct scen *s)
{
	sc_whole_tables(s);
	pin_src_page(s, PMD / PAGE + 100);
	s->tables_moved = 1;
}
/* Swap entries in the first table: it goes page by page, the second whole. */
static void sc_whole_tables_swap(struct scen *s)
{
	sc_whole_tables(s);
	s->tables_moved = page_out(s->src + 10 * PAGE, 2 * PAGE) ? 1 : 2;
}
/* Nine tables: more than one run (at most 8 tables move under one pair of PMD locks). */
static void sc_whole_tables_nine(struct scen *s)
{
	s->src = map_anon(9 * PMD, true, false);
	s->dst = map_anon(9 * PMD, true, false);
	s->src_len = s->dst_len = 9 * PMD;
	fill_pages(s->src, 9 * PMD, 14);
	s->from = (unsigned long)s->src;
	s->to = (unsigned long)s->dst;
	s->len = 9 * PMD;
	s->tables_moved = 9;
}

/*
 * Four 64 kB mTHPs (when the kernel has them): UFFDIO_MOVE splits them, pgmove moves them
 * whole when aligned (the declared difference); everything else must not differ.
 */
static void sc_mthp(struct scen *s)
{
	s->src = map_anon(64 * PAGE, true, true);
	s->dst = map_anon(64 * PAGE, true, true);
	s->src_len = s->dst_len = 64 * PAGE;
	fill_pages_mthp(s->src, 64 * PAGE, 9);
	s->from = (unsigned long)s->src;
	s->to = (unsigned long)s->dst;
	s->len = 64 * PAGE;
	s->keeps_large = 64;
}
/* The same, moved one page off: every folio is split. */
static void sc_mthp_misaligned(struct scen *s)
{
	sc_mthp(s);
	s->to += PAGE;
	s->len -= PAGE;
	s->keeps_large = 0;
}
/* The same, with the destination populated inside the third folio: the first two move whole. */
static void sc_mthp_dst_busy(struct scen *s)
{
	sc_mthp(s);
	s->dst[40 * PAGE] = 1;
	s->keeps_large = 32;
}
/*
 * An aligned mTHP pinned: pgmove does not move it whole, and neither may split it; the
 * first folio, before it, moves whole.
 */
static void sc_mthp_pinned(struct scen *s)
{
	sc_mthp(s);
	pin_src_page(s, 20);
	s->keeps_large = 16;
}

/*
 * The branches of MOVE's paths (rust/move_pages.rs move_step, rust/move_pages/{batched,huge,
 * pte}.rs, rust/mm/pgtable/) and the scenarios that reach them. "-" marks those that a
 * sequential test cannot reach or compare: races, failed allocations, entries that an
 * anonymous VMA cannot hold, or state that UFFDIO_MOVE's side cannot be given. A race is
 * forced open by selftests/race_test where it names a case (race: CASE).
 *
 * The request
 *   range or VMA refused (EINVAL)        misaligned_dst zero_len wrapping_len unknown_flag
 *                                        prot_mismatch both_readonly mlock_mismatch
 *                                        src_across_vmas src_shared
 *   no VMA at the source (ENOENT)        src_unmapped
 *   ENOMEM                               - (fault_inject_test)
 *   fatal signal (EINTR), 1024 retries   - (need another task acting during the call)
 *   in a row (EAGAIN)
 * move_step
 *   no source PMD or table: ENOENT       src_untouched
 *     ALLOW_SRC_HOLES: table allocated   src_untouched_allowed
 *   destination PMD huge: EEXIST         thp_run_dst_populated
 * Whole tables (move_tables, whole_table.rs)
 *   tables move                          whole_tables whole_tables_holes (holes allowed)
 *   more than one run of 8               whole_tables_nine
 *   empty destination table freed first  whole_tables_empty_dst huge_zero_onto_empty_table,
 *                                        thp_onto_empty_table (the table is then refused)
 *   destination table in use: per page   whole_tables_dst_populated
 *   destination PMD not none ends a run  whole_tables_dst_populated
 *   a table refused: hole, swap entry,   whole_tables_hole whole_tables_swap
 *   pinned page, large folio             whole_tables_pinned thp_onto_empty_table
 *   pinned between clearing and check    - (race: tables_listed_pin)
 *   a fault into a listed table waits    - (race: tables_listed_fault)
 * THP runs (move_huge_run, huge_run.rs)
 *   THPs and the huge zero page move     thp_whole thp_run huge_zero_page thp_run_huge_zero
 *   stop at a pinned THP                 thp_run_pinned
 *   stop at a destination PMD not none   thp_run_dst_populated
 *   stop at a THP not exclusive          thp_shared_with_child
 *   pinned between clearing and check    - (race: huge_run_listed_pin)
 *   folio lock contended                 - (race; no case: nothing holds a THP's lock while
 *                                          it stays mapped at the source for long enough)
 *   PMD changed after the lockless look  - (race: huge_seen_split; retried)
 * One huge PMD (huge_pmd_step, move_huge_pmd)
 *   split: misaligned or short           thp_misaligned thp_short huge_zero_misaligned
 *   split: destination PMD holds a table thp_onto_empty_table thp_onto_populated_table
 *                                        thp_pinned_onto_empty_table huge_zero_onto_empty_table
 *   not exclusive, to be split: EBUSY    thp_shared_with_child_misaligned
 *   not exclusive, whole: EBUSY          thp_shared_with_child
 *   pinned (move_huge): EBUSY            thp_run_pinned
 *   moved whole here (a run refused it   - (race: only a contended folio lock makes a run
 *   with nothing wrong with it)            leave a movable THP or huge zero page to it)
 *   PMD migration entry: wait            - (needs a migration in flight: move_test's
 *                                          thp_moves_race_compaction)
 *   devmap PMD: ENOENT                   - (none in an anonymous VMA)
 * PTE runs (move_run, run.rs)
 *   pages and zero pages                 plain one_page same_vma overlap_down mixed_run
 *   bounded by a table end               across_tables
 *   cut by a swap entry                  mixed_run swap_entries whole_tables_swap
 *   cut by a pinned page                 pinned_mid whole_tables_pinned
 *   cut by a populated destination       dst_populated_mid whole_tables_dst_populated
 *   cut by a hole                        src_hole whole_tables_hole
 *   cut by a large folio                 mthp_whole thp_onto_empty_table
 *   no run (source VMA has no anon_vma)  zero_pages
 *   pinned between clearing and check    - (race: run_listed_pin)
 *   destination table freed before the   - (race: run_mapped_reclaim, reclaim_scanned_move;
 *   PTE locks: retried                     retried on a new table)
 *   a waiter on a moved folio's lock     - (race: batch_unlock_waiter; woken)
 * One PTE (try_move_pte, pair.rs)
 *   destination populated: EEXIST        dst_populated_first dst_populated_mid overlap_up
 *   hole: ENOENT, or moved               src_hole / src_hole_allowed src_untouched_allowed
 *   zero page                            zero_pages
 *   small folio                          thp_misaligned mthp_misaligned (after the split)
 *   not exclusive: EBUSY                 shared_with_child
 *   pinned: EBUSY                        pinned_mid whole_tables_pinned
 *   large folio moved whole              mthp_whole mthp_dst_populated mthp_pinned
 *                                        thp_onto_empty_table
 *   large folio split                    thp_misaligned thp_short mthp_misaligned
 *                                        mthp_dst_populated thp_onto_populated_table
 *   large folio pinned: EBUSY, no split  mthp_pinned thp_pinned_misaligned
 *                                        thp_pinned_onto_empty_table
 *   split fails (extra ref): EBUSY       thp_vmspliced_misaligned
 *   large folio lock contended: EAGAIN   - (race; no case, as for THP runs)
 *   swap entry                           swap_entries mixed_run whole_tables_swap
 *   swap entry, folio in swap cache      swap_cache
 *   swap entry, large swap-cache folio   - (a large folio leaves the swap cache as soon as
 *                                          zram has it written; no way to keep it there)
 *   swap entry not exclusive: EBUSY      swap_shared_with_child
 *   migration entry: wait                - (needs a migration in flight)
 *   PTE marker: EFAULT                   src_poison_marker
 *   device-private/exclusive: EFAULT     - (mirror_test, against UFFDIO_MOVE)
 *   hwpoison entry: EFAULT               - (would poison a page of the VM for good; the same
 *                                          branch as the marker)
 *   entry or PMD changed, swap device    - (race: swap_entry_read_swapin and
 *   gone: EAGAIN                           swap_entry_read_zap, the swap entry changed)
 * Between steps
 *   a flush owed while another task zaps - (race: flush_pending_dontneed)
 *   VMA locks dropped mid-call           - (race: vmas_released_stale; flushed first)
 */
static const struct {
	const char *name;
	setup_fn setup;
	bool needs_swap, needs_thp;
} scenarios[] = {
	{ "plain", sc_plain }, { "one_page", sc_one }, { "misaligned_dst", sc_misaligned },
	{ "zero_len", sc_zero_len }, { "wrapping_len", sc_wrap },
	{ "unknown_flag", sc_unknown_flag }, { "src_hole", sc_hole },
	{ "src_hole_allowed", sc_hole_allowed }, { "src_untouched_allowed", sc_untouched_allowed },
	{ "dst_populated_mid", sc_dst_busy_mid }, { "dst_populated_first", sc_dst_busy_first },
	{ "prot_mismatch", sc_prot }, { "both_readonly", sc_readonly },
	{ "mlock_mismatch", sc_mlock }, { "src_across_vmas", sc_across },
	{ "src_unmapped", sc_src_unmapped }, { "src_shared", sc_shared_src },
	{ "shared_with_child", sc_forked }, { "zero_pages", sc_zero_pages },
	{ "swap_entries", sc_swapped, true }, { "swap_cache", sc_swap_cached, true },
	{ "thp_whole", sc_thp, false, true }, { "thp_misaligned", sc_thp_misaligned, false, true },
	{ "thp_short", sc_thp_short, false, true }, { "huge_zero_page", sc_huge_zero, false, true },
	{ "overlap_down", sc_overlap_down }, { "overlap_up", sc_overlap_up },
	{ "same_vma", sc_same_vma }, { "mixed_run", sc_mixed_run, true },
	{ "pinned_mid", sc_pinned_mid }, { "across_tables", sc_across_tables },
	{ "whole_tables", sc_whole_tables }, { "whole_tables_holes", sc_whole_tables_holes },
	{ "whole_tables_empty_dst", sc_whole_tables_empty_dst }, { "mthp_whole", sc_mthp },
	{ "mthp_misaligned", sc_mthp_misaligned }, { "mthp_dst_populated", sc_mthp_dst_busy },
	{ "thp_run", sc_thp_run, false, true }, { "thp_run_pinned", sc_thp_run_pinned, false, true },
	{ "thp_run_dst_populated", sc_thp_run_dst_busy, false, true },
	{ "thp_run_huge_zero", sc_thp_run_huge_zero, false, true },
	{ "thp_pinned_misaligned", sc_thp_pinned_misaligned, false, true },
	{ "thp_pinned_onto_empty_table", sc_thp_pinned_onto_empty_table, false, true },
	{ "thp_vmspliced_misaligned", sc_thp_vmspliced_misaligned, false, true },
	{ "mthp_pinned", sc_mthp_pinned },
	{ "src_untouched", sc_untouched }, { "src_poison_marker", sc_poison_marker },
	{ "swap_shared_with_child", sc_swap_forked, true },
	{ "whole_tables_hole", sc_whole_tables_hole },
	{ "whole_tables_dst_populated", sc_whole_tables_dst_busy },
	{ "whole_tables_pinned", sc_whole_tables_pinned },
	{ "whole_tables_swap", sc_whole_tables_swap, true },
	{ "whole_tables_nine", sc_whole_tables_nine },
	{ "thp_onto_empty_table", sc_thp_onto_empty_table, false, true },
	{ "thp_onto_populated_table", sc_thp_onto_populated_table, false, true },
	{ "thp_shared_with_child", sc_thp_forked, false, true },
	{ "thp_shared_with_child_misaligned", sc_thp_forked_misaligned, false, true },
	{ "huge_zero_misaligned", sc_huge_zero_misaligned, false, true },
	{ "huge_zero_onto_empty_table", sc_huge_zero_onto_empty_table, false, true },
};

enum via { VIA_UFFD, VIA_MOVE, VIA_MOVEV };
static const char *const via_name[] = { "UFFDIO_MOVE", "MOVE", "MOVEV" };

/* What a run ended with, for comparison. */
struct outcome {
	struct move_res r;
	uint64_t src_sum, dst_sum;	/* FNV-1a of the mappings' contents afterwards */
	uint64_t pm_sum;		/* FNV-1a of the pagemap flag bits of both mappings */
	uint64_t large_setup;		/* FNV-1a of which pages are in large folios, before */
	uint64_t large_sum;		/* the same afterwards, without the keeps_large range */
	long long vmpte;		/* VmPTE's change over the call, kB */
	bool own_tables;		/* src and dst fill whole 2 MiB tables of their own */
	/* Over the keeps_large range (pages of the destination, from `to`, that moved): */
	unsigned long was_large;	/* pages whose source was in a large folio before */
	unsigned long kept_large;	/* ... and that are in a large folio now */
	unsigned long grew_large;	/* pages that were not, and now are */
	unsigned long keeps_large, tables_moved;	/* what the scenario declared */
	bool pfns_moved;		/* every page present at src before is at dst after */
	bool setup_ok;
};

static uint64_t fnv(const char *p, unsigned long len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (unsigned long i = 0; i < len; i += 8) {
		h ^= *(const uint64_t *)(p + i);
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The pagemap bits that describe an entry, not the page it maps (PFNs differ per run). */
#define PM_STATE_BITS (PM_PRESENT | PM_SWAP | (1ULL << 55) | (1ULL << 56))

static uint64_t pagemap_sum(const char *p, unsigned long len, uint64_t h)
{
	for (unsigned long i = 0; i < len; i += PAGE) {
		h ^= pm_entry((unsigned long)p + i) & PM_STATE_BITS;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/*
 * FNV-1a of which pages of the scenario's mappings are in large folios (KPF_LARGE), those
 * in [skip, skip_end) left out.
 */
static uint64_t large_sum(const struct scen *s, unsigned long skip, unsigned long skip_end)
{
	const char *maps[2] = { s->src_unmapped ? NULL : s->src, s->dst_len ? s->dst : NULL };
	unsigned long lens[2] = { s->src_len, s->dst_len };
	uint64_t h = 0xcbf29ce484222325ULL, f;

	for (int m = 0; m < 2; m++) {
		for (unsigned long a = (unsigned long)maps[m];
		     maps[m] && a < (unsigned long)maps[m] + lens[m]; a += PAGE) {
			f = 0;
			if (a < skip || a >= skip_end)
				page_at(a, &f);
			h ^= !!(f & KPF_LARGE);
			h *= 0x100000001b3ULL;
		}
	}
	return h;
}

/* PGMOVE_IOC_MOVEV with one entry, reported as the entry's MOVE would be. */
static struct move_res movev_one(int fd, unsigned long dst, unsigned long src,
				 unsigned long len, unsigned long long flags)
{
	struct pgmove_move m = { .dst = dst, .src = src, .len = len, .flags = flags,
				 .moved = MOVED_UNSET };
	struct pgmove_movev v = { .moves = (unsigned long)&m, .count = 1, .completed = ~0ULL };
	struct move_res r;

	r.ret = ioctl(fd, PGMOVE_IOC_MOVEV, &v);
	r.err = r.ret ? errno : 0;
	r.moved = m.moved;
	/* completed must say whether the entry completed. */
	if (v.completed != (r.ret == 0 ? 1 : 0))
		r.moved = -1000000;
	return r;
}

/*
 * A page of its own in each 1 GiB (one PMD table's reach) that [p, p + len) spans, outside
 * the scenario's mappings, touched: the PMD tables the call could need then exist before
 * it, so VmPTE's change over the call counts PTE tables only (which is what the scenarios
 * declare). Without them it also depended on where the runs' mappings landed: a run whose
 * destination was the first mapping in its 1 GiB allocated a PMD table, one that reused the
 * addresses of the run before did not (whole_tables_pinned, once). Returns how many of
 * anchors[] it filled (at most max), to unmap after the call.
 */
#define GIB (1UL << 30)
#define MAX_ANCHORS 8

static bool overlaps(unsigned long a, unsigned long len, const char *m, unsigned long mlen)
{
	return m && a + len > (unsigned long)m && a < (unsigned long)m + mlen;
}

static int keep_pmd_tables(const struct scen *s, const char *p, unsigned long len,
			   char **anchors, int n, int max)
{
	unsigned long end = (unsigned long)p + len;

	for (unsigned long gib = (unsigned long)p & ~(GIB - 1); gib < end && n < max; gib += GIB) {
		for (unsigned long a = gib; a < gib + GIB; a += PMD) {
			char *m;

			if (overlaps(a, PMD, s->src, s->src_len) ||
			    overlaps(a, PMD, s->dst, s->dst_len))
				continue;
			/* Read-only: it cannot merge with the scenario's (read-write) mappings. */
			m = mmap((void *)a, PAGE, PROT_READ,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (m == MAP_FAILED)
				continue;
			if (m != (char *)a) {	/* a kernel that ignores the flag */
				munmap(m, PAGE);
				continue;
			}
			(void)*(volatile char *)m;	/* the zero page: a PTE and a PMD table */
			anchors[n++] = m;
			break;
		}
	}
	return n;
}

static struct outcome run(int idx, enum via via, int pgfd)
{
	char *anchors[MAX_ANCHORS];
	int nanchors = 0;
	struct scen s = { 0 };
	struct outcome o = { 0 };
	unsigned long n, i, moved, keep;
	uint64_t *before, *before_flags, f;
	long long vmpte;
	int uffd = -1;

	scenarios[idx].setup(&s);
	o.keeps_large = s.keeps_large;
	o.tables_moved = s.tables_moved;
	/*
	 * VmPTE's change is the scenario's own only if no other mapping shares its PTE tables;
	 * else it depends on where the three setups happened to land.
	 */
	o.own_tables = s.src && s.dst && ((unsigned long)s.src | (unsigned long)s.dst) % PMD == 0 &&
		       (s.src_len | s.dst_len) % PMD == 0;
	n = (s.len > 0 && s.len < (1UL << 30)) ? s.len / PAGE : 0;
	before = calloc(n + 1, sizeof(*before));
	before_flags = calloc(n + 1, sizeof(*before_flags));
	for (i = 0; i < n && !s.src_unmapped; i++)
		if (s.from + i * PAGE >= (unsigned long)s.src &&
		    s.from + i * PAGE < (unsigned long)s.src + s.src_len)
			before[i] = page_at(s.from + i * PAGE, &before_flags[i]);
	o.large_setup = large_sum(&s, 0, 0);
	o.setup_ok = s.ring >= 0;
	if (!o.setup_ok)
		goto out;
	/* Soft-dirty bits are compared: start every run from clear ones. */
	clear_soft_dirty();
	if (via == VIA_UFFD) {
		char *d = s.dst_len ? s.dst : s.src;
		unsigned long dl = s.dst_len ? s.dst_len : s.src_len;

		uffd = uffd_open();
		if (uffd < 0 || uffd_register(uffd, (unsigned long)d, dl)) {
			o.setup_ok = false;
			goto out;
		}
	}
	if (o.own_tables) {
		nanchors = keep_pmd_tables(&s, s.src, s.src_len, anchors, 0, MAX_ANCHORS);
		nanchors = keep_pmd_tables(&s, s.dst, s.dst_len, anchors, nanchors, MAX_ANCHORS);
	}
	vmpte = vmpte_kb(0);
	if (via == VIA_UFFD)
		o.r = uffd_do_move(uffd, s.to, s.from, s.len,
				   (s.pgflags & PGMOVE_MOVE_ALLOW_SRC_HOLES ?
				    UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0) |
				   (s.pgflags & ~PGMOVE_MOVE_ALLOW_SRC_HOLES));
	else if (via == VIA_MOVE)
		o.r = pgmove_do_move(pgfd, s.to, s.from, s.len, s.pgflags);
	else
		o.r = movev_one(pgfd, s.to, s.from, s.len, s.pgflags);
	o.vmpte = vmpte_kb(0) - vmpte;
	while (nanchors > 0)
		munmap(anchors[--nanchors], PAGE);
	/* Unregister before reading dst: a missing page would wait for a userfault. */
	if (uffd >= 0) {
		close(uffd);
		uffd = -1;
	}
	if (s.zap)
		madvise(s.src, s.zap * PAGE, MADV_DONTNEED);
	if (!s.src_unmapped)
		o.src_sum = fnv(s.src, s.src_len);
	if (s.dst_len)
		o.dst_sum = fnv(s.dst, s.dst_len);
	/* After the contents were read: reading a hole maps the zero page in both runs alike. */
	if (!s.src_unmapped)
		o.pm_sum = pagemap_sum(s.src, s.src_len, 0xcbf29ce484222325ULL);
	if (s.dst_len)
		o.pm_sum = pagemap_sum(s.dst, s.dst_len, o.pm_sum);
	moved = (o.r.moved > 0 && o.r.moved != MOVED_UNSET) ? o.r.moved / PAGE : 0;
	moved = moved < n ? moved : n;
	o.pfns_moved = true;
	for (i = 0; i < moved; i++) {
		uint64_t pfn = page_at(s.to + i * PAGE, &f);

		/* A huge zero page that was split maps the 4 kB zero page there. */
		if (before[i] && pfn != before[i] &&
		    !((before_flags[i] & KPF_ZERO) && (before_flags[i] & KPF_LARGE) &&
		      (f & KPF_ZERO) && !(f & KPF_LARGE)))
			o.pfns_moved = false;
	}
	/* The declared range of large folios moved whole: the first keeps_large pages moved. */
	keep = s.keeps_large < moved ? s.keeps_large : moved;
	for (i = 0; i < keep; i++) {
		bool was = (before_flags[i] & KPF_LARGE) && !(before_flags[i] & KPF_ZERO), is;

		page_at(s.to + i * PAGE, &f);
		is = f & KPF_LARGE;
		o.was_large += was;
		o.kept_large += was && is;
		o.grew_large += !was && is;
	}
	o.large_sum = large_sum(&s, s.to, s.to + keep * PAGE);
out:
	if (s.ring > 0)
		close(s.ring);
	if (s.child > 0) {
		kill(s.child, SIGKILL);
		waitpid(s.child, NULL, 0);
	}
	if (uffd >= 0)
		close(uffd);
	if (!s.src_unmapped)
		munmap(s.src, s.src_len);
	if (s.dst_len)
		munmap(s.dst, s.dst_len);
	free(before);
	free(before_flags);
	return o;
}

FIXTURE(diff) {
	int unused;
};

FIXTURE_SETUP(diff) {}
FIXTURE_TEARDOWN(diff) {}

/*
 * 59 scenarios: 99 s in make check of 2026-12-05 (calibration factor 1.12, so about 89 s on
 * the reference machine; Documentation/testing.rst); 4x, scaled by the calibration.
 */
TEST_F_TIMEOUT(diff, uffdio_move_and_pgmove_agree, 360)
{
	int pgfd = open(PGMOVE_DEV, O_RDWR);
	int compared = 0, skipped = 0, differing = 0, uffd = uffd_open();

	ASSERT_GE(pgfd, 0);
	if (uffd < 0)
		SKIP(return, "no UFFDIO_MOVE in this kernel");
	close(uffd);
	pagemap_fd = open("/proc/self/pagemap", O_RDONLY);
	kpageflags_fd = open("/proc/kpageflags", O_RDONLY);
	ASSERT_GE(pagemap_fd, 0);
	ASSERT_GE(kpageflags_fd, 0) TH_LOG("/proc/kpageflags: %s", strerror(errno));
	for (unsigned int i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const char *name = scenarios[i].name;
		struct outcome u, p;

		if ((scenarios[i].needs_swap && !have_swap()) ||
		    (scenarios[i].needs_thp &&
		     access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK))) {
			skipped++;
			continue;
		}
		u = run(i, VIA_UFFD, pgfd);
		ASSERT_TRUE(u.setup_ok) TH_LOG("%s: could not set up", name);
		for (enum via v = VIA_MOVE; v <= VIA_MOVEV; v++) {
			const char *how = via_name[v];

			p = run(i, v, pgfd);
			ASSERT_TRUE(p.setup_ok) TH_LOG("%s: could not set up", name);
			TH_LOG("%-22s uffd: ret %d errno %-3d moved %-8lld VmPTE %+lld kB  "
			       "%s: ret %d errno %-3d moved %lld VmPTE %+lld kB",
			       name, u.r.ret, u.r.err, u.r.moved, u.vmpte, how, p.r.ret, p.r.err,
			       p.r.moved, p.vmpte);
			EXPECT_EQ(u.r.ret, p.r.ret) TH_LOG("%s %s: return", name, how);
			EXPECT_EQ(u.r.err, p.r.err) TH_LOG("%s %s: errno", name, how);
			if (u.r.moved == MOVED_UNSET) {
				/* UFFDIO_MOVE rejected the arguments without writing `move`. */
				EXPECT_EQ(-(long long)u.r.err, p.r.moved) TH_LOG("%s %s", name, how);
			} else {
				EXPECT_EQ(u.r.moved, p.r.moved) TH_LOG("%s %s: moved", name, how);
			}
			EXPECT_EQ(u.src_sum, p.src_sum) TH_LOG("%s %s: source contents", name, how);
			EXPECT_EQ(u.dst_sum, p.dst_sum) TH_LOG("%s %s: destination contents", name, how);
			EXPECT_EQ(u.pm_sum, p.pm_sum) TH_LOG("%s %s: pagemap state", name, how);
			EXPECT_TRUE(p.pfns_moved) TH_LOG("%s %s copied", name, how);
			/*
			 * Which pages are in large folios, outside the declared range; unless
			 * the setups themselves differ (a THP or mTHP that one run got and
			 * another did not), which is not the move's doing.
			 */
			if (u.large_setup == p.large_setup) {
				EXPECT_EQ(u.large_sum, p.large_sum)
					TH_LOG("%s %s: pages in large folios", name, how);
			} else {
				TH_LOG("%s %s: the setups got different large folios: not compared",
				       name, how);
			}
			/* Declared: large folios moved whole stay large (none if none declared). */
			EXPECT_EQ(p.was_large, p.kept_large)
				TH_LOG("%s %s: a large folio moved whole was split", name, how);
			EXPECT_EQ(0, p.grew_large) TH_LOG("%s %s: a small page became large", name, how);
			/* Declared: tables moved whole are not left empty at the source. */
			if (u.own_tables && p.own_tables)
				EXPECT_EQ(u.vmpte - (long long)(p.tables_moved * PAGE / 1024),
					  p.vmpte)
					TH_LOG("%s %s: VmPTE after %lu tables moved whole", name, how,
					       p.tables_moved);
		}
		EXPECT_TRUE(u.pfns_moved) TH_LOG("%s: UFFDIO_MOVE copied", name);
		/* The other side of the declared difference: UFFDIO_MOVE splits them. */
		EXPECT_EQ(0, u.kept_large) TH_LOG("%s: UFFDIO_MOVE kept a large folio", name);
		EXPECT_EQ(0, u.grew_large) TH_LOG("%s: UFFDIO_MOVE made a large folio", name);
		if (u.keeps_large && !u.was_large)
			TH_LOG("%s: no large folio at the source: compared as small pages", name);
		differing += u.was_large || p.tables_moved;
		compared++;
	}
	TH_LOG("%d scenarios compared three ways (%d showing a declared difference), %d skipped "
	       "(no swap or THP)", compared, differing, skipped);
	ASSERT_GT(compared, 37);
	close(kpageflags_fd);
	close(pagemap_fd);
	close(pgfd);
}

TEST_HARNESS_MAIN
