// SPDX-License-Identifier: GPL-2.0
/*
 * Differential: every scenario runs three times on fresh mappings: through the kernel's own
 * UFFDIO_MOVE (destination registered with a userfaultfd), through PGMOVE_IOC_MOVE, and
 * through PGMOVE_IOC_MOVEV with the request as its one entry. All must give the same
 * return, errno, `moved`, memory contents, PFNs (a move, never a copy) and per-page state
 * in /proc/self/pagemap (present, swapped, soft-dirty, exclusive).
 *
 * One deliberate difference: when the arguments are rejected before anything is looked at,
 * UFFDIO_MOVE leaves `move` as it was, pgmove writes -errno (Documentation/move.rst).
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
};

typedef void (*setup_fn)(struct scen *s);

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
static void sc_forked(struct scen *s)
{
	sc_plain(s);
	s->child = fork();
	if (!s->child) {
		pause();
		_exit(0);
	}
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

/*
 * Four 64 kB mTHPs (when the kernel has them): UFFDIO_MOVE splits them, pgmove moves them
 * whole when aligned; the results compared here must not differ.
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
}
/* The same, moved one page off: every folio is split. */
static void sc_mthp_misaligned(struct scen *s)
{
	sc_mthp(s);
	s->to += PAGE;
	s->len -= PAGE;
}
/* The same, with the destination populated inside the third folio. */
static void sc_mthp_dst_busy(struct scen *s)
{
	sc_mthp(s);
	s->dst[40 * PAGE] = 1;
}
/* An aligned mTHP pinned: pgmove does not move it whole, and neither may split it. */
static void sc_mthp_pinned(struct scen *s)
{
	sc_mthp(s);
	pin_src_page(s, 20);
}

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
};

enum via { VIA_UFFD, VIA_MOVE, VIA_MOVEV };
static const char *const via_name[] = { "UFFDIO_MOVE", "MOVE", "MOVEV" };

/* What a run ended with, for comparison. */
struct outcome {
	struct move_res r;
	uint64_t src_sum, dst_sum;	/* FNV-1a of the mappings' contents afterwards */
	uint64_t pm_sum;		/* FNV-1a of the pagemap flag bits of both mappings */
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
		h ^= pagemap_entry(p + i) & PM_STATE_BITS;
		h *= 0x100000001b3ULL;
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

static struct outcome run(int idx, enum via via, int pgfd)
{
	struct scen s = { 0 };
	struct outcome o = { 0 };
	unsigned long n, i;
	uint64_t *before;
	int uffd = -1;

	scenarios[idx].setup(&s);
	n = (s.len > 0 && s.len < (1UL << 30)) ? s.len / PAGE : 0;
	before = calloc(n + 1, sizeof(*before));
	for (i = 0; i < n && !s.src_unmapped; i++)
		if (s.from + i * PAGE >= (unsigned long)s.src &&
		    s.from + i * PAGE < (unsigned long)s.src + s.src_len)
			before[i] = pfn_of((char *)s.from + i * PAGE);
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
		o.r = uffd_do_move(uffd, s.to, s.from, s.len,
				   (s.pgflags & PGMOVE_MOVE_ALLOW_SRC_HOLES ?
				    UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0) |
				   (s.pgflags & ~PGMOVE_MOVE_ALLOW_SRC_HOLES));
		/* Unregister before reading dst: a missing page would wait for a userfault. */
		close(uffd);
		uffd = -1;
	} else if (via == VIA_MOVE) {
		o.r = pgmove_do_move(pgfd, s.to, s.from, s.len, s.pgflags);
	} else {
		o.r = movev_one(pgfd, s.to, s.from, s.len, s.pgflags);
	}
	if (!s.src_unmapped)
		o.src_sum = fnv(s.src, s.src_len);
	if (s.dst_len)
		o.dst_sum = fnv(s.dst, s.dst_len);
	/* After the contents were read: reading a hole maps the zero page in both runs alike. */
	if (!s.src_unmapped)
		o.pm_sum = pagemap_sum(s.src, s.src_len, 0xcbf29ce484222325ULL);
	if (s.dst_len)
		o.pm_sum = pagemap_sum(s.dst, s.dst_len, o.pm_sum);
	o.pfns_moved = true;
	for (i = 0; o.r.moved > 0 && o.r.moved != MOVED_UNSET &&
	     i < (unsigned long)o.r.moved / PAGE && i < n; i++)
		if (before[i] && pfn_of((char *)s.to + i * PAGE) != before[i])
			o.pfns_moved = false;
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
	return o;
}

FIXTURE(diff) {
	int unused;
};

FIXTURE_SETUP(diff) {}
FIXTURE_TEARDOWN(diff) {}

/* 85 s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(diff, uffdio_move_and_pgmove_agree, 340)
{
	int pgfd = open(PGMOVE_DEV, O_RDWR);
	int compared = 0, skipped = 0, uffd = uffd_open();

	ASSERT_GE(pgfd, 0);
	if (uffd < 0)
		SKIP(return, "no UFFDIO_MOVE in this kernel");
	close(uffd);
	for (unsigned int i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		struct outcome u, p;

		if ((scenarios[i].needs_swap && !have_swap()) ||
		    (scenarios[i].needs_thp &&
		     access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK))) {
			skipped++;
			continue;
		}
		u = run(i, VIA_UFFD, pgfd);
		ASSERT_TRUE(u.setup_ok) TH_LOG("%s: could not set up", scenarios[i].name);
		for (enum via v = VIA_MOVE; v <= VIA_MOVEV; v++) {
			const char *name = scenarios[i].name, *how = via_name[v];

			p = run(i, v, pgfd);
			ASSERT_TRUE(p.setup_ok) TH_LOG("%s: could not set up", name);
			TH_LOG("%-22s uffd: ret %d errno %-3d moved %-8lld  %s: ret %d errno %-3d moved %lld",
			       name, u.r.ret, u.r.err, u.r.moved, how, p.r.ret, p.r.err, p.r.moved);
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
		}
		EXPECT_TRUE(u.pfns_moved) TH_LOG("%s: UFFDIO_MOVE copied", scenarios[i].name);
		compared++;
	}
	TH_LOG("%d scenarios compared three ways, %d skipped (no swap or THP)", compared, skipped);
	ASSERT_GT(compared, 31);
	close(pgfd);
}

TEST_HARNESS_MAIN
