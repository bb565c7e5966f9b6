// SPDX-License-Identifier: GPL-2.0
/*
 * MOVE's whole-table path: when source and destination are PMD aligned over a whole 2 MiB of
 * 4 kB pages and every entry can move, the PTE table itself moves (no table is allocated at
 * the destination: VmPTE does not grow). The result must be the per-page path's: contents,
 * PFNs, pagemap state. Anything unusual in the table (a pinned page, a swap entry, a hole
 * without ALLOW_SRC_HOLES) leaves it to the per-page path, with the same outcome as
 * UFFDIO_MOVE's. A race test faults on the source while tables move away under it.
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>
#include <time.h>

#include "pgmove_harness.h"
#include "move_util.h"

FIXTURE(table)
{
	int fd;
	char *src, *dst;
};

#define AREA (4 * PMD)

FIXTURE_SETUP(table)
{
	self->fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", PGMOVE_DEV, strerror(errno));
	self->src = map_anon(AREA, true, false);
	self->dst = map_anon(AREA, true, false);
	ASSERT_NE(NULL, self->src);
	ASSERT_NE(NULL, self->dst);
}

FIXTURE_TEARDOWN(table)
{
	munmap(self->src, AREA);
	munmap(self->dst, AREA);
	close(self->fd);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Two tables of pages (a few zero-page entries among them) move; VmPTE stays the same. */
TEST_F(table, moved_whole_no_table_allocated)
{
	unsigned long n = 2 * PMD / PAGE;
	uint64_t *pfn = calloc(n, sizeof(*pfn));
	long long before, after;
	struct move_res r;

	fill_pages(self->src, 2 * PMD, 21);
	/* Zero-page entries: a page dropped and read back. */
	madvise(self->src + 100 * PAGE, PAGE, MADV_DONTNEED);
	(void)*(volatile char *)(self->src + 100 * PAGE);
	for (unsigned long i = 0; i < n; i++)
		pfn[i] = pfn_of(self->src + i * PAGE);
	before = vmpte_kb(0);
	r = pgmove_do_move(self->fd, (unsigned long)self->dst, (unsigned long)self->src, 2 * PMD, 0);
	after = vmpte_kb(0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d moved %lld", r.err, r.moved);
	ASSERT_EQ(2 * PMD, r.moved);
	ASSERT_EQ(before, after) TH_LOG("VmPTE %lld -> %lld kB: a table was allocated", before, after);
	for (unsigned long i = 0; i < n; i++) {
		if (i == 100)
			continue;
		ASSERT_EQ(pfn[i], pfn_of(self->dst + i * PAGE)) TH_LOG("page %lu copied", i);
	}
	ASSERT_EQ(-1, check_pages(self->dst, 100 * PAGE, 21));
	ASSERT_TRUE(all_zero(self->dst + 100 * PAGE, PAGE));
	ASSERT_EQ(-1, check_pages_from(self->dst + 101 * PAGE, 101, 2 * PMD - 101 * PAGE, 21));
	ASSERT_TRUE(all_zero(self->src, 2 * PMD));
	/* The rmap names the destination: page out and read back, fork and read. */
	if (have_swap()) {
		ASSERT_GT(page_out(self->dst, PMD), 256);
		ASSERT_EQ(-1, check_pages(self->dst, 100 * PAGE, 21));
	}
	free(pfn);
}

/* An empty table left at the destination by MADV_DONTNEED is freed and replaced. */
TEST_F(table, into_empty_destination_table)
{
	long long before, after;

	fill_pages(self->src, PMD, 22);
	memset(self->dst, 1, PMD);
	ASSERT_EQ(0, madvise(self->dst, PMD, MADV_DONTNEED));
	before = vmpte_kb(0);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)self->dst, (unsigned long)self->src,
				    PMD, 0).ret);
	after = vmpte_kb(0);
	ASSERT_EQ(before - 4, after) TH_LOG("VmPTE %lld -> %lld kB", before, after);
	ASSERT_EQ(-1, check_pages(self->dst, PMD, 22));
	ASSERT_TRUE(all_zero(self->src, PMD));
}

/* A destination table with one page in it: EEXIST at that page, as UFFDIO_MOVE. */
TEST_F(table, populated_destination_table_gives_eexist)
{
	struct move_res r;

	fill_pages(self->src, PMD, 23);
	self->dst[300 * PAGE] = 5;
	r = pgmove_do_move(self->fd, (unsigned long)self->dst, (unsigned long)self->src, PMD, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EAGAIN, r.err);
	ASSERT_EQ(300 * PAGE, r.moved);
	ASSERT_EQ(-1, check_pages(self->dst, 300 * PAGE, 23));
	ASSERT_EQ(-1, check_pages_from(self->src + 300 * PAGE, 300, PMD - 300 * PAGE, 23));
}

/* Holes: with ALLOW_SRC_HOLES the table moves with them; without, ENOENT at the hole. */
TEST_F(table, holes)
{
	struct move_res r;
	long long before;

	fill_pages(self->src, 2 * PMD, 24);
	madvise(self->src + 7 * PAGE, 3 * PAGE, MADV_DONTNEED);
	madvise(self->src + PMD + 9 * PAGE, PAGE, MADV_DONTNEED);
	r = pgmove_do_move(self->fd, (unsigned long)self->dst, (unsigned long)self->src, PMD, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EAGAIN, r.err);
	ASSERT_EQ(7 * PAGE, r.moved);
	before = vmpte_kb(0);
	r = pgmove_do_move(self->fd, (unsigned long)self->dst + PMD, (unsigned long)self->src + PMD,
			   PMD, PGMOVE_MOVE_ALLOW_SRC_HOLES);
	ASSERT_EQ(0, r.ret);
	ASSERT_EQ(before, vmpte_kb(0)) TH_LOG("the table with a hole did not move whole");
	ASSERT_EQ(-1, check_pages_from(self->dst + PMD, 512, 9 * PAGE, 24));
	ASSERT_EQ(0, pagemap_entry(self->dst + PMD + 9 * PAGE) & (PM_PRESENT | PM_SWAP));
	ASSERT_EQ(-1, check_pages_from(self->dst + PMD + 10 * PAGE, 522, PMD - 10 * PAGE, 24));
}

/* A pinned page keeps the table where it is: the per-page path stops at it (EBUSY). */
TEST_F(table, pinned_page_falls_back)
{
	struct io_uring_params params = { 0 };
	struct iovec iov = { .iov_base = self->src + 200 * PAGE, .iov_len = PAGE };
	struct move_res r;
	int ring;

	fill_pages(self->src, PMD, 25);
	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0)
		SKIP(return, "io_uring_setup: %s", strerror(errno));
	ASSERT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1));
	r = pgmove_do_move(self->fd, (unsigned long)self->dst, (unsigned long)self->src, PMD, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EAGAIN, r.err);
	ASSERT_EQ(200 * PAGE, r.moved);
	ASSERT_EQ(-1, check_pages(self->dst, 200 * PAGE, 25));
	ASSERT_EQ(-1, check_pages_from(self->src + 200 * PAGE, 200, PMD - 200 * PAGE, 25));
	close(ring);
}

/*
 * Tables move in runs (one TLB flush for several): a page pinned in the third of four tables
 * ends the run there (the pin is seen while the third table is checked). The two tables
 * before it move whole, the third stays where it was, and the per-page path stops at the
 * pinned page; once it is unpinned the rest moves, the last table whole again. (A pin that
 * arrives between the check and the flush, which puts detached tables back, is a race this
 * test cannot make happen.)
 */
TEST_F(table, pinned_page_in_later_table_of_run)
{
	unsigned long n = AREA / PAGE, pinned = 2 * PMD / PAGE + 7;
	struct io_uring_params params = { 0 };
	struct iovec iov = { .iov_base = self->src + pinned * PAGE, .iov_len = PAGE };
	uint64_t *pfn = calloc(n, sizeof(*pfn));
	long long before, after;
	struct move_res r;
	int ring;

	fill_pages(self->src, AREA, 27);
	for (unsigned long i = 0; i < n; i++)
		pfn[i] = pfn_of(self->src + i * PAGE);
	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0)
		SKIP(return, "io_uring_setup: %s", strerror(errno));
	ASSERT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1));
	before = vmpte_kb(0);
	r = pgmove_do_move(self->fd, (unsigned long)self->dst, (unsigned long)self->src, AREA, 0);
	after = vmpte_kb(0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EAGAIN, r.err);
	ASSERT_EQ(pinned * PAGE, r.moved);
	/* Two tables moved, the third's 7 pages went to a new destination table. */
	ASSERT_EQ(before + 4, after) TH_LOG("VmPTE %lld -> %lld kB", before, after);
	ASSERT_EQ(-1, check_pages(self->dst, pinned * PAGE, 27));
	ASSERT_EQ(-1, check_pages_from(self->src + pinned * PAGE, pinned, AREA - pinned * PAGE,
				       27));
	for (unsigned long i = 0; i < pinned; i++) {
		ASSERT_EQ(pfn[i], pfn_of(self->dst + i * PAGE)) TH_LOG("page %lu copied", i);
	}
	r = pgmove_do_move(self->fd, (unsigned long)self->dst + pinned * PAGE,
			   (unsigned long)self->src + pinned * PAGE, AREA - pinned * PAGE, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EBUSY, r.err);
	ASSERT_EQ(-EBUSY, r.moved);
	/* Unpinned now (closing the ring would unpin later, from a workqueue). */
	ASSERT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0));
	close(ring);
	r = pgmove_do_move(self->fd, (unsigned long)self->dst + pinned * PAGE,
			   (unsigned long)self->src + pinned * PAGE, AREA - pinned * PAGE, 0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d moved %lld", r.err, r.moved);
	/* The rest of the third table page by page, the fourth whole: one more table. */
	ASSERT_EQ(after, vmpte_kb(0));
	ASSERT_EQ(-1, check_pages(self->dst, AREA, 27));
	for (unsigned long i = 0; i < n; i++) {
		ASSERT_EQ(pfn[i], pfn_of(self->dst + i * PAGE)) TH_LOG("page %lu copied", i);
	}
	ASSERT_TRUE(all_zero(self->src, AREA));
	free(pfn);
}

/*
 * A swap entry in the third of four tables ends the run before that table: two tables move
 * whole, the third page by page (its destination table is new), the fourth whole.
 */
TEST_F(table, swap_entry_in_later_table_of_run)
{
	unsigned long swapped = 2 * PMD + 50 * PAGE;
	long long before;

	fill_pages(self->src, AREA, 28);
	if (!have_swap())
		SKIP(return, "no swap in this system");
	if (page_out(self->src + swapped, PAGE) < 1)
		SKIP(return, "MADV_PAGEOUT did not swap the page out");
	before = vmpte_kb(0);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)self->dst, (unsigned long)self->src,
				    AREA, 0).ret);
	ASSERT_EQ(before + 4, vmpte_kb(0));
	ASSERT_TRUE(pagemap_entry(self->dst + swapped) & PM_SWAP);
	ASSERT_EQ(-1, check_pages(self->dst, AREA, 28));
	ASSERT_TRUE(all_zero(self->src, AREA));
}

/* A swap entry in the table: the per-page path moves it; everything arrives. */
TEST_F(table, swap_entry_falls_back)
{
	fill_pages(self->src, PMD, 26);
	if (!have_swap())
		SKIP(return, "no swap in this system");
	if (page_out(self->src + 50 * PAGE, PAGE) < 1)
		SKIP(return, "MADV_PAGEOUT did not swap the page out");
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)self->dst, (unsigned long)self->src,
				    PMD, 0).ret);
	ASSERT_TRUE(pagemap_entry(self->dst + 50 * PAGE) & PM_SWAP);
	ASSERT_EQ(-1, check_pages(self->dst, PMD, 26));
	ASSERT_TRUE(all_zero(self->src, PMD));
}

/*
 * Faults race whole-table moves: readers and zero-adding writers hit random pages of both
 * areas while a mover moves all tables back and forth. A page read must hold its own tag
 * or zero, never another page's; at the end every tag is where the last move put it.
 * The readers' throughput is reported for aligned moves (whole tables, under the mmap
 * write lock) and for moves offset by one page (runs, under VMA read locks).
 */
/* The tag of page i of an area: never zero. */
#define TAG(i) (((unsigned long)(i) << 12) | 0xa5)

struct race {
	char *a, *b;
	atomic_bool stop;
	atomic_long faults, bad;
	bool in_b;		/* where the tags are: the next move goes the other way */
};

static void *faulter(void *arg)
{
	struct race *r = arg;
	unsigned int seed = (unsigned int)(uintptr_t)pthread_self();

	while (!r->stop) {
		unsigned long i = rand_r(&seed) % (AREA / PAGE);
		char *p = (rand_r(&seed) & 1 ? r->a : r->b) + i * PAGE;
		unsigned long w = *(volatile unsigned long *)p;

		if (rand_r(&seed) & 1)
			atomic_fetch_add((_Atomic unsigned long *)(p + 64), 0);
		if (w && w != (TAG(i)))
			r->bad++;
		r->faults++;
	}
	return NULL;
}

static void race_moves(struct __test_metadata *_metadata, int fd, struct race *r,
		       unsigned long off, double *faults_per_s, long *moves)
{
	uint64_t end = now_ns() + 3000000000ULL;
	long start_faults = r->faults;
	uint64_t start = now_ns();

	*moves = 0;
	while (now_ns() < end) {
		char *from = r->in_b ? r->b : r->a, *to = r->in_b ? r->a : r->b;
		unsigned long len = AREA - 2 * off, done = 0;
		int tries = 0;

		/*
		 * Only zero-page entries and zero-filled pages the faulters made can be at `to`
		 * beyond what was moved so far: clear them, move, and again if a faulter
		 * populated the destination in between (EEXIST, or EAGAIN after a part).
		 */
		while (done < len) {
			struct move_res m;

			ASSERT_EQ(0, madvise(to + off + done, len - done, MADV_DONTNEED));
			m = pgmove_do_move(fd, (unsigned long)to + off + done,
					   (unsigned long)from + off + done, len - done,
					   PGMOVE_MOVE_ALLOW_SRC_HOLES);
			if (!m.ret)
				break;
			ASSERT_TRUE(m.err == EEXIST || m.err == EAGAIN) TH_LOG("errno %d", m.err);
			done += m.moved > 0 ? m.moved : 0;
			ASSERT_LT(++tries, 10000);
		}
		r->in_b = !r->in_b;
		(*moves)++;
	}
	*faults_per_s = (r->faults - start_faults) / ((now_ns() - start) / 1e9);
}

TEST_F(table, faults_race_whole_table_moves)
{
	struct race r = { .a = self->src, .b = self->dst };
	double aligned_rate, offset_rate;
	long aligned_moves, offset_moves, found = 0;
	pthread_t t[2];

	/* Tag w[0] = TAG(index) in every page but the first and the last. */
	for (unsigned long i = 1; i < AREA / PAGE - 1; i++)
		*(unsigned long *)(r.a + i * PAGE) = TAG(i);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, faulter, &r);
	race_moves(_metadata, self->fd, &r, 0, &aligned_rate, &aligned_moves);
	race_moves(_metadata, self->fd, &r, PAGE, &offset_rate, &offset_moves);
	r.stop = true;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	TH_LOG("whole tables: %ld moves of 8 MiB, faulters %.0f accesses/s; "
	       "offset by a page: %ld moves, faulters %.0f accesses/s",
	       aligned_moves, aligned_rate, offset_moves, offset_rate);
	ASSERT_EQ(0, r.bad) TH_LOG("a page held another page's tag");
	ASSERT_GT(aligned_moves, 2);
	/* Every tag once, at its own index, in one of the two areas. */
	for (unsigned long i = 1; i < AREA / PAGE - 1; i++) {
		unsigned long wa = *(unsigned long *)(r.a + i * PAGE);
		unsigned long wb = *(unsigned long *)(r.b + i * PAGE);

		ASSERT_TRUE((wa == (TAG(i))) != (wb == (TAG(i))))
			TH_LOG("page %lu: a holds %#lx, b holds %#lx", i, wa, wb);
		ASSERT_TRUE(wa == 0 || wb == 0);
		found++;
	}
	ASSERT_EQ(AREA / PAGE - 2, found);
}

/* A thread that faults fresh pages in an area of its own and records its worst fault. */
struct lat {
	char *area;
	unsigned long len;
	atomic_bool stop;
	atomic_long faults;
	uint64_t worst_ns;
};

static void *lat_faulter(void *arg)
{
	struct lat *l = arg;
	unsigned long off = 0;

	while (!atomic_load(&l->stop)) {
		uint64_t t0 = now_ns(), dt;

		l->area[off] = 1;
		dt = now_ns() - t0;
		if (dt > l->worst_ns)
			l->worst_ns = dt;
		atomic_fetch_add(&l->faults, 1);
		off += PAGE;
		if (off == l->len) {
			madvise(l->area, l->len, MADV_DONTNEED);
			off = 0;
		}
	}
	return NULL;
}

/*
 * A request that starts with whole tables and goes on with THPs: the tables move under the
 * mmap write lock, then the request drops back to the VMA locks for the THPs (and for the
 * unaligned tail), so every part moves with its PFNs and contents. Meanwhile a thread
 * faults elsewhere in the mm; its worst fault latency during the 64 MiB request and during
 * one of whole tables only (the write lock held throughout) is logged.
 */
#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"

/* Fills len bytes at p with 4 kB pages even in a MADV_HUGEPAGE VMA (THP off meanwhile). */
static bool fill_small(char *p, unsigned long len, unsigned long seed)
{
	char old[64] = "";
	bool ok;

	if (read_file(THP_ENABLED, old, sizeof(old)) || write_file(THP_ENABLED, "never"))
		return false;
	fill_pages(p, len, seed);
	ok = !is_thp(p);
	write_file(THP_ENABLED, strstr(old, "[always]") ? "always" : "madvise");
	return ok;
}

TEST_F_TIMEOUT(table, whole_tables_then_thps_drop_the_write_lock, 60)
{
	unsigned long len = 32 * PMD, tail = 16 * PAGE, tables = 2;
	char *src = map_anon(len + PMD, true, true), *dst = map_anon(len + PMD, true, true);
	struct lat l = { .len = 4 * PMD };
	uint64_t pfn_table, pfn_thp, pfn_tail, t0, mixed_worst;
	double mixed_ms, tables_ms;
	struct move_res r;
	pthread_t th;

	ASSERT_TRUE(src && dst);
	l.area = map_anon(l.len, true, false);
	ASSERT_NE(NULL, l.area);
	/* One VMA: tables of 4 kB pages first, then THPs, then an unaligned tail. */
	ASSERT_TRUE(fill_small(src, tables * PMD, 41)) TH_LOG("cannot turn THP off for a moment");
	fill_pages(src + tables * PMD, len - tables * PMD + tail, 43);
	if (!is_thp(src + tables * PMD) || !is_thp(src + len - PMD))
		SKIP(return, "no THPs at the source (THP disabled or memory fragmented)");
	pfn_table = pfn_of(src + PAGE);
	pfn_thp = pfn_of(src + tables * PMD + 3 * PAGE);
	pfn_tail = pfn_of(src + len + 5 * PAGE);
	ASSERT_EQ(0, pthread_create(&th, NULL, lat_faulter, &l));
	usleep(100000);
	l.worst_ns = 0;
	t0 = now_ns();
	r = pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, len + tail, 0);
	mixed_ms = (now_ns() - t0) / 1e6;
	mixed_worst = l.worst_ns;
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d moved %lld", r.err, r.moved);
	ASSERT_EQ(-1, check_pages(dst, tables * PMD, 41));
	ASSERT_EQ(-1, check_pages(dst + tables * PMD, len - tables * PMD + tail, 43));
	ASSERT_EQ(pfn_table, pfn_of(dst + PAGE));
	ASSERT_EQ(pfn_thp, pfn_of(dst + tables * PMD + 3 * PAGE));
	ASSERT_TRUE(is_thp(dst + tables * PMD)) TH_LOG("the THPs moved whole");
	ASSERT_EQ(pfn_tail, pfn_of(dst + len + 5 * PAGE));
	ASSERT_TRUE(all_zero(src, len + tail));
	/* For comparison: 16 tables of 4 kB pages, all under the write lock. */
	ASSERT_EQ(0, madvise(src, len + tail, MADV_DONTNEED));
	ASSERT_EQ(0, madvise(dst, len + tail, MADV_DONTNEED));
	ASSERT_TRUE(fill_small(src, 16 * PMD, 42));
	l.worst_ns = 0;
	t0 = now_ns();
	r = pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, 16 * PMD, 0);
	tables_ms = (now_ns() - t0) / 1e6;
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d moved %lld", r.err, r.moved);
	ASSERT_EQ(-1, check_pages(dst, 16 * PMD, 42));
	atomic_store(&l.stop, true);
	pthread_join(th, NULL);
	TH_LOG("worst fault of another thread: %.2f ms during a %.1f ms request of %lu tables, "
	       "%lu THPs and a tail; %.2f ms during a %.1f ms request of 16 tables; %ld faults",
	       mixed_worst / 1e6, mixed_ms, tables, len / PMD - tables, l.worst_ns / 1e6, tables_ms,
	       atomic_load(&l.faults));
}

TEST_HARNESS_MAIN
