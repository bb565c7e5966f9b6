// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failures inside MOVE, MOVEV and RECLAIM: every allocation a call reaches is made
 * to fail, one at a time, and the call must fail cleanly.
 *
 * The kernel's fail-nth (/proc/thread-self/fail-nth, CONFIG_FAULT_INJECTION with FAILSLAB
 * and FAIL_PAGE_ALLOC) makes the n-th slab or page allocation of the calling task fail. A
 * sweep runs a scenario with n = 1, 2, 3, ... until a call ends without reaching its n-th
 * allocation: then every allocation the call makes (page tables, anon_vma and its chain,
 * the module's own buffers, whatever the kernel functions it calls allocate) has been made
 * to fail once. After each call:
 *  - the outcome is one the documentation allows for a failed allocation: success (the
 *    failure was absorbed by a fallback), ENOMEM with nothing moved (moved == -ENOMEM), or
 *    EAGAIN with 0 < moved < len (partial progress);
 *  - the rest of the move, repeated without injection, succeeds, and then every page is at
 *    its destination exactly once with its contents and its PFN, and the source reads as
 *    zeros: no page was lost, duplicated or copied.
 * Failure of the table allocation must be reported as ENOMEM (nothing moved) or EAGAIN
 * (partial), which the first scenario requires to see.
 *
 * The debugfs knobs are set so that fail-nth reaches the allocations MOVE makes (order-0
 * pages, GFP_KERNEL allocations: by default fail_page_alloc ignores both) and does not
 * print a stack for each injected failure; they are restored afterwards.
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "pgmove_test.h"
#include "move_util.h"
#include "pgmove_harness.h"

#define FI_MAX_PAGES 512
#define FI_MAX_N 4000

static const char *const knobs[] = {
	"/sys/kernel/debug/failslab/ignore-gfp-wait",
	"/sys/kernel/debug/failslab/verbose",
	"/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait",
	"/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem",
	"/sys/kernel/debug/fail_page_alloc/min-order",
	"/sys/kernel/debug/fail_page_alloc/verbose",
};
static const char *const knob_values[] = { "N", "0", "N", "N", "0", "0" };
#define NKNOBS (sizeof(knobs) / sizeof(knobs[0]))

/* One case: what a scenario prepared, and what its call returned. */
struct fi_case {
	char *src_map, *dst_map;	/* the mappings, for munmap */
	unsigned long src_maplen, dst_maplen;
	char *src, *dst;
	unsigned long len;		/* bytes to move */
	unsigned long seed;
	unsigned long long flags;
	uint64_t pfn[FI_MAX_PAGES];	/* the source's PFNs, 0 where not present */
	/* MOVEV: entries of len / nents bytes each */
	int nents;
	/* the outcome */
	int ret, err;
	long long moved;		/* MOVE; for MOVEV: the bytes of the entries done */
	unsigned int completed;		/* MOVEV */
};

struct fi_stats {
	int sites;		/* allocations made to fail */
	int absorbed;		/* ... after which the call still succeeded */
	int enomem, eagain;	/* ... after which it failed with ENOMEM, or moved part */
};

FIXTURE(inject) {
	int fd;
	int nth;
	char saved[NKNOBS][32];
};

FIXTURE_SETUP(inject)
{
	char path[64];

	self->nth = -1;
	self->fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", PGMOVE_DEV, strerror(errno));
	snprintf(path, sizeof(path), "/proc/self/task/%ld/fail-nth", (long)syscall(SYS_gettid));
	self->nth = open(path, O_RDWR);
	if (self->nth < 0)
		SKIP(return, "%s: %s (kernel without CONFIG_FAULT_INJECTION)", path, strerror(errno));
	for (size_t i = 0; i < NKNOBS; i++) {
		self->saved[i][0] = 0;
		if (read_file(knobs[i], self->saved[i], sizeof(self->saved[i])))
			SKIP(return, "%s unreadable (no FAILSLAB/FAIL_PAGE_ALLOC in debugfs)", knobs[i]);
		ASSERT_EQ(0, write_file(knobs[i], knob_values[i])) TH_LOG("%s", knobs[i]);
	}
}

FIXTURE_TEARDOWN(inject)
{
	for (size_t i = 0; i < NKNOBS; i++)
		if (self->saved[i][0])
			write_file(knobs[i], self->saved[i]);
	if (self->nth >= 0)
		close(self->nth);
	close(self->fd);
}

static void set_nth(int fd, int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	if (pwrite(fd, buf, len, 0) != len)
		abort();
}

/* What is left of the fail-nth count: 0 once the failure was injected. */
static int get_nth(int fd)
{
	char buf[16] = "";

	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		abort();
	return atoi(buf);
}

/*
 * A mapping in an address range with no page tables yet above it when far is set (a hint in
 * an unused 512 GiB region, so the move allocates the PUD and PMD tables too), else anywhere.
 * Never touched: it has no anon_vma, so the move prepares one.
 */
static char *map_fresh(unsigned long len, unsigned long *maplen, bool far)
{
	unsigned long hint = far ? 0x5a0000000000UL : 0;
	char *p = mmap((void *)hint, len + PMD, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	*maplen = len + PMD;
	madvise(p, len + PMD, MADV_NOHUGEPAGE);
	return p;
}

/* Source pages with tags, and their PFNs. */
static int fill_src(struct fi_case *c)
{
	fill_pages(c->src, c->len, c->seed);
	for (unsigned long i = 0; i < c->len / PAGE; i++)
		c->pfn[i] = pfn_of(c->src + i * PAGE);
	return 0;
}

/*
 * The whole move is done (after the rest was repeated without injection): every page at
 * its destination with its tag and its PFN, the source reading as zeros. Returns NULL or
 * what is wrong.
 */
static const char *check_moved(struct fi_case *c, long *bad)
{
	*bad = check_pages(c->dst, c->len, c->seed);
	if (*bad >= 0)
		return "a page is not at its destination with its contents";
	for (unsigned long i = 0; i < c->len / PAGE; i++) {
		if (c->pfn[i] && pfn_of(c->dst + i * PAGE) != c->pfn[i]) {
			*bad = i;
			return "a page changed PFN: copied, not moved";
		}
	}
	if (!all_zero(c->src, c->len)) {
		*bad = -1;
		return "the source does not read as zeros";
	}
	return NULL;
}

/* A scenario: prepares a case, performs its call, finishes it without injection. */
struct scenario {
	const char *name;
	int (*prepare)(struct fi_case *c);
	void (*call)(int fd, struct fi_case *c);
	/* NULL or what is wrong with the outcome; finishes what the call left */
	const char *(*finish)(int fd, struct fi_case *c);
	const char *(*check)(struct fi_case *c, long *bad);
};

static void call_move(int fd, struct fi_case *c)
{
	struct move_res r = pgmove_do_move(fd, (unsigned long)c->dst, (unsigned long)c->src,
					   c->len, c->flags);

	c->ret = r.ret;
	c->err = r.err;
	c->moved = r.moved;
}

/* The return convention after an injected failure, then the rest of the move. */
static const char *finish_move(int fd, struct fi_case *c)
{
	unsigned long done = 0;
	struct move_res r;

	if (c->ret == 0) {
		if (c->moved != (long long)c->len)
			return "success with moved != len";
		return NULL;
	}
	if (c->err == ENOMEM) {
		if (c->moved != -ENOMEM)
			return "ENOMEM with moved != -ENOMEM";
	} else if (c->err == EAGAIN) {
		if (c->moved <= 0 || c->moved >= (long long)c->len || c->moved % PAGE)
			return "EAGAIN with moved not in (0, len) or not page aligned";
		done = c->moved;
	} else {
		return "an errno other than ENOMEM or EAGAIN";
	}
	r = pgmove_do_move(fd, (unsigned long)c->dst + done, (unsigned long)c->src + done,
			   c->len - done, c->flags);
	if (r.ret || r.moved != (long long)(c->len - done))
		return "the rest of the move, without injection, failed";
	return NULL;
}

/*
 * npages to a destination never touched, half of them before its PMD boundary and half
 * after (two tables to allocate).
 */
static int prep_fresh(struct fi_case *c, bool far, unsigned long npages)
{
	c->len = npages * PAGE;
	c->src_map = c->src = map_anon(c->len, false, false);
	c->src_maplen = c->len;
	c->dst_map = map_fresh(2 * PMD, &c->dst_maplen, far);
	if (!c->src_map || !c->dst_map)
		return -1;
	c->dst = (char *)(((unsigned long)c->dst_map + PMD - 1) & ~(PMD - 1)) + PMD - c->len / 2;
	return fill_src(c);
}

static int prep_fresh_near(struct fi_case *c) { return prep_fresh(c, false, 4); }
static int prep_fresh_far(struct fi_case *c) { return prep_fresh(c, true, 4); }

/* 3 pages from the middle of a THP: the PMD and the folio are split. */
static int prep_thp(struct fi_case *c)
{
	char *thp = map_anon(PMD, true, true);

	if (!thp)
		return -1;
	memset(thp, 1, PMD);
	if (!is_thp(thp))
		return 1;
	c->src_map = thp;
	c->src_maplen = PMD;
	c->src = thp + 5 * PAGE;
	c->len = 3 * PAGE;
	c->dst_map = map_fresh(PMD, &c->dst_maplen, false);
	if (!c->dst_map)
		return -1;
	c->dst = c->dst_map;
	return fill_src(c);
}

/* 8 swapped-out pages (swap entries, some maybe back in the swap cache). */
static int prep_swap(struct fi_case *c)
{
	c->len = 8 * PAGE;
	c->src_map = c->src = map_anon(c->len, false, false);
	c->src_maplen = c->len;
	c->dst_map = map_fresh(PMD, &c->dst_maplen, false);
	if (!c->src || !c->dst_map)
		return -1;
	c->dst = c->dst_map;
	fill_pages(c->src, c->len, c->seed);
	memset(c->pfn, 0, sizeof(c->pfn));	/* swapped pages have no PFN to keep */
	if (page_out(c->src, c->len) == 0)
		return 1;
	return 0;
}

/* A whole source table to an aligned, empty destination PMD: the table itself moves. */
static int prep_table(struct fi_case *c)
{
	c->len = PMD;
	c->src_map = c->src = map_anon(PMD, true, false);
	c->src_maplen = PMD;
	c->dst_map = map_fresh(2 * PMD, &c->dst_maplen, false);
	if (!c->src || !c->dst_map)
		return -1;
	c->dst = (char *)(((unsigned long)c->dst_map + PMD - 1) & ~(PMD - 1));
	return fill_src(c);
}

/* 64 pages moved by a page's offset (batched runs), freeing the emptied source table. */
static int prep_reclaim_src(struct fi_case *c)
{
	c->len = 64 * PAGE;
	c->flags = PGMOVE_MOVE_RECLAIM_SRC;
	c->src_map = map_anon(PMD, true, false);
	c->src_maplen = PMD;
	c->dst_map = map_fresh(2 * PMD, &c->dst_maplen, false);
	if (!c->src_map || !c->dst_map)
		return -1;
	c->src = c->src_map;
	c->dst = c->dst_map + PAGE;
	return fill_src(c);
}

/* MOVEV: 8 entries of 2 pages each, scattered over two fresh destination tables. */
static int prep_movev(struct fi_case *c)
{
	c->nents = 8;
	return prep_fresh(c, false, 16);
}

static void call_movev(int fd, struct fi_case *c)
{
	struct pgmove_move m[8];
	struct pgmove_movev v = { .moves = (uintptr_t)m, .count = c->nents, .completed = ~0ULL };
	unsigned long per = c->len / c->nents;

	for (int i = 0; i < c->nents; i++)
		m[i] = (struct pgmove_move){ .dst = (uintptr_t)c->dst + i * per,
					     .src = (uintptr_t)c->src + i * per,
					     .len = per, .moved = MOVED_UNSET };
	c->ret = ioctl(fd, PGMOVE_IOC_MOVEV, &v);
	c->err = c->ret ? errno : 0;
	c->completed = v.completed;
	c->moved = c->completed * per;
	if (c->ret && c->completed < (unsigned int)c->nents) {
		long long em = m[c->completed].moved;
		bool untouched = true;

		for (int i = 0; i < c->nents; i++)
			untouched &= m[i].moved == MOVED_UNSET;
		/*
		 * The entry that stopped the call follows its own convention, unless the
		 * vector's copy could not be allocated: then nothing was performed or written.
		 */
		if (c->err == ENOMEM && c->completed == 0 && untouched)
			;
		else if ((c->err == EAGAIN && (em <= 0 || em >= (long long)per)) ||
		    (c->err == ENOMEM && em != -ENOMEM))
			c->completed = ~0U;	/* flagged below */
		else if (c->err == EAGAIN)
			c->moved += em;
	}
}

static const char *finish_movev(int fd, struct fi_case *c)
{
	struct move_res r;

	if (c->completed == ~0U || (c->ret == 0 && c->completed != (unsigned int)c->nents))
		return "MOVEV's completed or the stopping entry's moved break the convention";
	if (c->ret == 0)
		return NULL;
	if (c->err != ENOMEM && c->err != EAGAIN)
		return "an errno other than ENOMEM or EAGAIN";
	if (c->completed >= (unsigned int)c->nents)
		return "a failed MOVEV reports every entry completed";
	r = pgmove_do_move(fd, (unsigned long)c->dst + c->moved, (unsigned long)c->src + c->moved,
			   c->len - c->moved, 0);
	if (r.ret)
		return "the rest of the moves, without injection, failed";
	return NULL;
}

/*
 * RECLAIM (ZEROPAGE, through a pidfd of the caller itself) of 4 MiB: 2 empty tables, one
 * of zero pages, one with data. It moves nothing; the data must stay and a second reclaim
 * without injection must free what the first left.
 */
static int prep_reclaim(struct fi_case *c)
{
	c->len = 2 * PMD;
	c->src_map = c->src = map_anon(4 * PMD, true, false);
	c->src_maplen = 4 * PMD;
	if (!c->src)
		return -1;
	memset(c->src, 1, 2 * PMD);
	madvise(c->src, 2 * PMD, MADV_DONTNEED);
	for (unsigned long off = 0; off < PMD; off += PAGE)
		(void)*(volatile char *)(c->src + 2 * PMD + off);	/* zero pages */
	fill_pages(c->src + 3 * PMD, PMD, c->seed);
	return 0;
}

static void call_reclaim(int fd, struct fi_case *c)
{
	int pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	struct reclaim_res r = pgmove_do_reclaim_pid(fd, pidfd, (unsigned long)c->src, 4 * PMD,
						     PGMOVE_RECLAIM_ZEROPAGE);

	close(pidfd);
	c->ret = r.ret;
	c->err = r.err;
	c->moved = r.ret ? -r.err : (long long)r.r.freed;
	if (!r.ret && (r.r.freed > r.r.scanned || r.r.freed > 3))
		c->err = -1;	/* counters out of range */
}

static const char *finish_reclaim(int fd, struct fi_case *c)
{
	struct reclaim_res r;

	if (c->ret == 0 && c->err == -1)
		return "RECLAIM's counters are out of range";
	if (c->ret && c->err != ENOMEM)
		return "an errno other than ENOMEM";
	r = pgmove_do_reclaim(fd, c->src, 4 * PMD, PGMOVE_RECLAIM_ZEROPAGE);
	if (r.ret)
		return "RECLAIM without injection failed";
	if (c->ret == 0 && c->moved + (long long)r.r.freed != 3)
		return "the two reclaims together did not free exactly the 3 empty tables";
	if (c->ret && r.r.freed > 3)
		return "the reclaim after a failed one freed more than the 3 empty tables";
	r = pgmove_do_reclaim(fd, c->src, 4 * PMD, PGMOVE_RECLAIM_ZEROPAGE);
	if (r.ret || r.r.freed != 0 || r.r.scanned != 1)
		return "a third reclaim found more than the data table";
	return NULL;
}

static const char *check_reclaim(struct fi_case *c, long *bad)
{
	*bad = check_pages(c->src + 3 * PMD, PMD, c->seed);
	if (*bad >= 0)
		return "the data table lost contents";
	*bad = -1;
	if (!all_zero(c->src, 3 * PMD))
		return "the empty part does not read as zeros";
	return NULL;
}

static void release(struct fi_case *c)
{
	if (c->src_map)
		munmap(c->src_map, c->src_maplen);
	if (c->dst_map)
		munmap(c->dst_map, c->dst_maplen);
}

/*
 * Runs the scenario with n = 1, 2, ... until its call no longer reaches the n-th allocation.
 * Returns the number of allocations made to fail; 0 after a SKIP.
 */
static int sweep(struct __test_metadata *_metadata, FIXTURE_DATA(inject) *self,
		 const struct scenario *sc, struct fi_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (int n = 1; n <= FI_MAX_N; n++) {
		struct fi_case *c = calloc(1, sizeof(*c));
		const char *why;
		long bad = -1;
		int left, r;

		ASSERT_NE(NULL, c);
		c->seed = 0xfa17 + n;
		r = sc->prepare(c);
		ASSERT_GE(r, 0) TH_LOG("%s: preparing n=%d failed: %s", sc->name, n, strerror(errno));
		if (r > 0) {
			release(c);
			free(c);
			SKIP(return 0, "%s: the source could not be set up (no THP or no swap)",
			     sc->name);
		}
		set_nth(self->nth, n);
		sc->call(self->fd, c);
		left = get_nth(self->nth);
		set_nth(self->nth, 0);

		why = sc->finish(self->fd, c);
		if (!why)
			why = sc->check(c, &bad);
		EXPECT_EQ(NULL, why) TH_LOG("%s, allocation %d failed: %s (ret %d, %s, moved %lld, page %ld)",
					    sc->name, n, why, c->ret, strerror(c->err), c->moved, bad);
		if (left == 0) {
			st->sites++;
			if (c->ret == 0)
				st->absorbed++;
			else if (c->err == ENOMEM)
				st->enomem++;
			else
				st->eagain++;
		}
		release(c);
		free(c);
		if (why || left != 0)
			break;
	}
	TH_LOG("%s: %d allocations failed one at a time: %d absorbed, %d ENOMEM, %d partial (EAGAIN)",
	       sc->name, st->sites, st->absorbed, st->enomem, st->eagain);
	EXPECT_LT(st->sites, FI_MAX_N) TH_LOG("%s: the sweep did not end", sc->name);
	/* Every scenario allocates something: none reached means fail-nth did not work. */
	EXPECT_GE(st->sites, 1) TH_LOG("%s: no allocation was made to fail", sc->name);
	return st->sites;
}

/*
 * A slab allocation that first needs a page from the page allocator is two allocations to
 * fail-nth, and whether it needs one depends on the allocator's state: the index of a given
 * allocation can shift by one or two between two calls of a sweep, so that a sweep steps
 * over it (seen for the second table, whose allocations follow the run's small buffers:
 * 2 sweeps in 12 found no partial move). Up to 3 sweeps, until one fails that table.
 */
#define FRESH_SWEEPS 3

TEST_F(inject, move_to_fresh_destination)
{
	const struct scenario sc = { "move 4 pages to a fresh destination", prep_fresh_near,
				     call_move, finish_move, check_moved };
	struct fi_stats st;

	for (int i = 0; i < FRESH_SWEEPS; i++) {
		sweep(_metadata, self, &sc, &st);
		if (st.eagain >= 1)
			break;
		TH_LOG("sweep %d of %d failed no allocation of the second table", i + 1,
		       FRESH_SWEEPS);
	}
	/* The destination's anon_vma and its two tables must have been reached. */
	EXPECT_GE(st.enomem, 1) TH_LOG("no allocation failure gave ENOMEM with nothing moved");
	EXPECT_GE(st.eagain, 1) TH_LOG("failing the second table's allocation gave no partial move");
}

TEST_F(inject, move_to_fresh_upper_tables)
{
	const struct scenario sc = { "move to a fresh 512 GiB region", prep_fresh_far,
				     call_move, finish_move, check_moved };
	struct fi_stats st;

	sweep(_metadata, self, &sc, &st);
	EXPECT_GE(st.enomem, 1);
}

TEST_F(inject, move_splits_thp)
{
	const struct scenario sc = { "move 3 pages out of a THP", prep_thp, call_move,
				     finish_move, check_moved };
	struct fi_stats st;

	sweep(_metadata, self, &sc, &st);
}

TEST_F(inject, move_swap_entries)
{
	const struct scenario sc = { "move 8 swapped-out pages", prep_swap, call_move,
				     finish_move, check_moved };
	struct fi_stats st;

	if (!have_swap())
		SKIP(return, "no swap in this system");
	sweep(_metadata, self, &sc, &st);
}

TEST_F(inject, move_whole_table)
{
	const struct scenario sc = { "move a whole table", prep_table, call_move, finish_move,
				     check_moved };
	struct fi_stats st;

	sweep(_metadata, self, &sc, &st);
}

TEST_F(inject, move_reclaim_src)
{
	const struct scenario sc = { "move with RECLAIM_SRC", prep_reclaim_src, call_move,
				     finish_move, check_moved };
	struct fi_stats st;

	sweep(_metadata, self, &sc, &st);
}

TEST_F(inject, movev_scattered)
{
	const struct scenario sc = { "MOVEV of 8 entries", prep_movev, call_movev, finish_movev,
				     check_moved };
	struct fi_stats st;

	sweep(_metadata, self, &sc, &st);
	EXPECT_GE(st.enomem + st.eagain, 1) TH_LOG("no allocation failure failed the MOVEV");
}

TEST_F(inject, reclaim_pidfd_zeropage)
{
	const struct scenario sc = { "RECLAIM through a pidfd", prep_reclaim, call_reclaim,
				     finish_reclaim, check_reclaim };
	struct fi_stats st;

	sweep(_metadata, self, &sc, &st);
}

TEST_HARNESS_MAIN
