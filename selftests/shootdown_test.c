// SPDX-License-Identifier: GPL-2.0
/*
 * One shootdown round per call: MOVE and MOVEV flush the TLB of the source once, at the end
 * of the call, holding every moved folio until then (Documentation/move.rst, "One shootdown
 * round per call").
 *
 * What a user can check of that:
 *  - a thread on another CPU that reads the source while it moves sees each page's own data
 *    or zeros, never another page's; once the call has returned it sees zeros (its stale TLB
 *    entries are gone: QEMU's TLB keeps them until a flush reaches that CPU);
 *  - the destination has the source's contents and PFNs, and the counts are exact;
 *  - with a thread of the process running on the other CPU (so that every flush of the mm
 *    must interrupt it), /proc/vmstat's nr_tlb_remote_flush (CONFIG_DEBUG_TLBFLUSH) grows by
 *    one per call, where one round per run or per entry would be tens or hundreds.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "pgmove_harness.h"
#include "move_util.h"

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* A thread that keeps running on CPU 1 with the mm loaded, touching only its own memory. */
struct mutator {
	pthread_t th;
	atomic_bool stop;
	atomic_long loops;
	atomic_int cpu;		/* where it last ran */
	char *buf;
};

static void *mutator_fn(void *arg)
{
	struct mutator *m = arg;

	pin_to_cpu(1);
	while (!atomic_load(&m->stop)) {
		for (unsigned long off = 0; off < 16 * PAGE; off += PAGE)
			(*(volatile long *)(m->buf + off))++;
		atomic_fetch_add(&m->loops, 1);
		atomic_store(&m->cpu, sched_getcpu());
	}
	return NULL;
}

FIXTURE(shootdown)
{
	int fd;
	struct mutator mut;
	long long loops_before;
};

FIXTURE_SETUP(shootdown)
{
	self->fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", PGMOVE_DEV, strerror(errno));
	self->mut.buf = NULL;
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs a second CPU for the thread that every flush must interrupt");
	if (pgmove_vmstat("nr_tlb_remote_flush") < 0)
		SKIP(return, "no nr_tlb_remote_flush in /proc/vmstat (the kernel lacks "
			     "CONFIG_DEBUG_TLBFLUSH; both test kernels have it)");
	pin_to_cpu(0);
	self->mut.buf = map_anon(16 * PAGE, false, false);
	ASSERT_NE(NULL, self->mut.buf);
	memset(self->mut.buf, 1, 16 * PAGE);
	ASSERT_EQ(0, pthread_create(&self->mut.th, NULL, mutator_fn, &self->mut));
	/* Wait until it runs on CPU 1. */
	while (atomic_load(&self->mut.loops) < 1000)
		sched_yield();
}

FIXTURE_TEARDOWN(shootdown)
{
	if (self->mut.buf) {
		atomic_store(&self->mut.stop, true);
		pthread_join(self->mut.th, NULL);
	}
	close(self->fd);
}

/* The shootdown rounds a call made, and that the mutator kept running meanwhile. */
struct rounds {
	long long before, received, local_all, local_one, loops;
};

static struct rounds rounds_start(FIXTURE_DATA(shootdown) *self)
{
	return (struct rounds){ pgmove_vmstat("nr_tlb_remote_flush"),
				pgmove_vmstat("nr_tlb_remote_flush_received"),
				pgmove_vmstat("nr_tlb_local_flush_all"),
				pgmove_vmstat("nr_tlb_local_flush_one"),
				atomic_load(&self->mut.loops) };
}

static long long rounds_end(struct __test_metadata *_metadata, FIXTURE_DATA(shootdown) *self,
			    struct rounds r, bool must_run)
{
	long long n = pgmove_vmstat("nr_tlb_remote_flush") - r.before;

	/* A call of a few microseconds may fall where the mutator is off its CPU. */
	if (must_run)
		EXPECT_LT(r.loops, atomic_load(&self->mut.loops)) TH_LOG("the mutator did not run");
	TH_LOG("remote flush rounds %lld, IPIs received %lld, local flushes: all %lld, one %lld; "
	       "mutator loops %lld, on CPU %d", n,
	       pgmove_vmstat("nr_tlb_remote_flush_received") - r.received,
	       pgmove_vmstat("nr_tlb_local_flush_all") - r.local_all,
	       pgmove_vmstat("nr_tlb_local_flush_one") - r.local_one,
	       (long long)(atomic_load(&self->mut.loops) - r.loops), atomic_load(&self->mut.cpu));
	return n;
}

/*
 * At most this many rounds per call: the call's own one, and one more for anything else
 * in the VM that flushes a multi-CPU mm meanwhile (nr_tlb_remote_flush is system-wide).
 */
#define MAX_ROUNDS 2

/* Moves len bytes of 4 kB pages with one MOVE, dst dst_off pages past a PMD boundary. */
static void one_move(struct __test_metadata *_metadata, FIXTURE_DATA(shootdown) *self,
		     unsigned long len, unsigned long dst_off)
{
	char *src = map_anon(len, true, false);
	char *dmap = map_anon(len + dst_off * PAGE, true, false), *dst = dmap + dst_off * PAGE;
	uint64_t first = 0, last = 0;
	struct move_res r;
	struct rounds rs;
	long long n;

	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dmap);
	fill_pages(src, len, 0x5d0 + dst_off);
	first = pfn_of(src);
	last = pfn_of(src + len - PAGE);
	rs = rounds_start(self);
	r = pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, len, 0);
	n = rounds_end(_metadata, self, rs, true);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d moved %lld", r.err, r.moved);
	ASSERT_EQ((long long)len, r.moved);
	ASSERT_EQ(first, pfn_of(dst));
	ASSERT_EQ(last, pfn_of(dst + len - PAGE));
	ASSERT_EQ(-1, check_pages(dst, len, 0x5d0 + dst_off));
	ASSERT_TRUE(all_zero(src, len));
	TH_LOG("%lu MiB, dst %lu pages off: %lld shootdown rounds", len >> 20, dst_off, n);
	ASSERT_LE(n, MAX_ROUNDS) TH_LOG("more than one shootdown round per call");
	munmap(src, len);
	munmap(dmap, len + dst_off * PAGE);
}

/* 32 MiB in PTE runs: two per 2 MiB (the destination's tables straddle the source's). */
TEST_F(shootdown, unaligned_move_is_one_round)
{
	one_move(_metadata, self, 16 * PMD, 1);
}

/* Whole PTE tables: 64 MiB, 4 runs of 8 tables. */
TEST_F_TIMEOUT(shootdown, whole_table_move_is_one_round, 60)
{
	one_move(_metadata, self, 32 * PMD, 0);
}

/* Objects of 4..64 kB put at shuffled destinations, one MOVEV entry each. */
TEST_F(shootdown, movev_of_objects_is_one_round)
{
	unsigned long len = 8 * PMD, npages = len / PAGE, nobj = 0, off = 0;
	struct pgmove_move *m = calloc(npages, sizeof(*m));
	unsigned long *dst_off = calloc(npages, sizeof(*dst_off));
	unsigned long *src_off = calloc(npages, sizeof(*src_off));
	char *src = map_anon(len, true, false), *dst = map_anon(len, true, false);
	unsigned int seed = 7, done = 0;
	struct rounds rs;
	long long n;

	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	fill_pages(src, len, 0x0b1);
	while (off < npages) {
		unsigned long pages = 1 + rand_r(&seed) % 16;

		if (pages > npages - off)
			pages = npages - off;
		src_off[nobj] = off;
		dst_off[nobj] = pages;	/* the size, for now */
		off += pages;
		nobj++;
	}
	/* Shuffle the objects' order, then lay them out in that order at the destination. */
	for (unsigned long i = nobj - 1; i > 0; i--) {
		unsigned long j = rand_r(&seed) % (i + 1), t;

		t = src_off[i], src_off[i] = src_off[j], src_off[j] = t;
		t = dst_off[i], dst_off[i] = dst_off[j], dst_off[j] = t;
	}
	off = 0;
	for (unsigned long i = 0; i < nobj; i++) {
		unsigned long pages = dst_off[i];

		m[i] = (struct pgmove_move){ .dst = (unsigned long)dst + off * PAGE,
					     .src = (unsigned long)src + src_off[i] * PAGE,
					     .len = pages * PAGE, .moved = MOVED_UNSET };
		dst_off[i] = off;
		off += pages;
	}
	while (done < nobj) {
		unsigned int count = nobj - done > PGMOVE_MOVEV_MAX ? PGMOVE_MOVEV_MAX : nobj - done;
		struct pgmove_movev v = { .moves = (unsigned long)(m + done), .count = count };

		rs = rounds_start(self);
		ASSERT_EQ(0, ioctl(self->fd, PGMOVE_IOC_MOVEV, &v)) TH_LOG("errno %d", errno);
		n = rounds_end(_metadata, self, rs, true);
		ASSERT_EQ(count, v.completed);
		TH_LOG("MOVEV of %u objects: %lld shootdown rounds", count, n);
		ASSERT_LE(n, MAX_ROUNDS) TH_LOG("more than one shootdown round per call");
		done += count;
	}
	for (unsigned long i = 0; i < nobj; i++) {
		ASSERT_EQ((long long)m[i].len, m[i].moved);
		ASSERT_EQ(-1, check_pages_from(dst + dst_off[i] * PAGE, src_off[i], m[i].len, 0x0b1))
			TH_LOG("object %lu", i);
	}
	ASSERT_TRUE(all_zero(src, len));
	free(m);
	free(dst_off);
	free(src_off);
	munmap(src, len);
	munmap(dst, len);
}

/*
 * 8 THPs in one MOVE, moved back and forth: one run of huge PMDs, which flushes at its end
 * (a THP run does not hold its THPs to the end of the call; Documentation/move.rst), so one
 * round per call. A call this short (under a millisecond) can fall where the mutator is off
 * its CPU (then no CPU needs an IPI and the count is 0): at least one call must have
 * interrupted it. At least 6 calls, and up to 40 until one did (make check of 2026-12-05,
 * later: once all of the first 6 counted none, where every call of three runs by hand did).
 */
TEST_F(shootdown, thp_run_is_one_round)
{
	unsigned long nr = 8, len = nr * PMD;
	char *a = map_anon(len, true, true), *b = map_anon(len, true, true);
	long long n, most = 0, calls_with_ipis = 0;
	int calls = 0;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	fill_pages(a, len, 0x7e9);
	for (unsigned long i = 0; i < nr; i++)
		if (!is_thp(a + i * PMD))
			SKIP(return, "no THP at the source (THP disabled or memory fragmented)");
	for (int r = 0; r < 40 && (r < 6 || !calls_with_ipis); r++) {
		char *src = r % 2 ? b : a, *dst = r % 2 ? a : b;
		struct rounds rs;
		struct move_res mr;

		rs = rounds_start(self);
		mr = pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, len, 0);
		n = rounds_end(_metadata, self, rs, false);
		ASSERT_EQ(0, mr.ret) TH_LOG("errno %d moved %lld", mr.err, mr.moved);
		for (unsigned long i = 0; i < nr; i++) {
			ASSERT_TRUE(is_thp(dst + i * PMD)) TH_LOG("THP %lu was split", i);
		}
		ASSERT_EQ(-1, check_pages(dst, len, 0x7e9));
		most = n > most ? n : most;
		calls_with_ipis += n > 0;
		calls++;
	}
	TH_LOG("MOVE of %lu THPs, %d calls: at most %lld shootdown rounds per call, %lld calls "
	       "interrupted the mutator", nr, calls, most, calls_with_ipis);
	ASSERT_LE(most, MAX_ROUNDS) TH_LOG("more than one shootdown round per call");
	ASSERT_LT(0, calls_with_ipis) TH_LOG("no call found the mutator on its CPU");
	munmap(a, len);
	munmap(b, len);
}

/*
 * The reader: on CPU 1, reads the first word of every page of the source over and over
 * while it moves. Word w of page i is TAG(i) (or 0 once moved and faulted in again):
 * anything else is another page's data.
 */
#define RD_PAGES 1024
#define TAG(i) (0x7a6000000000UL | (i))
struct reader {
	char *src;
	atomic_int phase;	/* 1: read; 2: read once more, all must be zero, then 0 */
	atomic_bool stop;
	atomic_long reads, bad, stale_after;
	long bad_i, bad_v;
};

static void *reader_fn(void *arg)
{
	struct reader *rd = arg;

	pin_to_cpu(1);
	while (!atomic_load(&rd->stop)) {
		int ph = atomic_load(&rd->phase);
		char *src = rd->src;

		if (!ph)
			continue;
		for (long i = 0; i < RD_PAGES; i++) {
			long v = *(volatile long *)(src + i * PAGE);

			if (ph == 2 && v)
				atomic_fetch_add(&rd->stale_after, 1);
			if (v && v != (long)TAG(i) && !atomic_fetch_add(&rd->bad, 1)) {
				rd->bad_i = i;
				rd->bad_v = v;
			}
		}
		atomic_fetch_add(&rd->reads, 1);
		if (ph == 2)
			atomic_store(&rd->phase, 0);
	}
	return NULL;
}

/* 10 rounds of MOVEV back and forth, each page its own entry, in shuffled order. */
#define RD_ROUNDS 10
TEST(movev_source_reader_sees_only_its_own_data)
{
	int fd = open(PGMOVE_DEV, O_RDWR);
	unsigned long len = RD_PAGES * PAGE;
	char *a = map_anon(len, true, false), *b = map_anon(len, true, false);
	struct pgmove_move *m = calloc(RD_PAGES, sizeof(*m));
	unsigned int *order = calloc(RD_PAGES, sizeof(*order)), seed = 3;
	uint64_t *pfn = calloc(RD_PAGES, sizeof(*pfn));
	struct reader *rd = calloc(1, sizeof(*rd));
	pthread_t th;

	ASSERT_GE(fd, 0);
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs a second CPU for the reader");
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	for (long i = 0; i < RD_PAGES; i++) {
		*(long *)(a + i * PAGE) = TAG(i);
		pfn[i] = pfn_of(a + i * PAGE);
		order[i] = i;
	}
	pin_to_cpu(0);
	rd->src = a;
	ASSERT_EQ(0, pthread_create(&th, NULL, reader_fn, rd));
	for (int r = 0; r < RD_ROUNDS; r++) {
		char *from = r % 2 ? b : a, *to = r % 2 ? a : b;
		struct pgmove_movev v = { .moves = (unsigned long)m, .count = RD_PAGES };
		long reads;

		for (long i = RD_PAGES - 1; i > 0; i--) {
			long j = rand_r(&seed) % (i + 1);
			unsigned int t = order[i];

			order[i] = order[j];
			order[j] = t;
		}
		for (long k = 0; k < RD_PAGES; k++)
			m[k] = (struct pgmove_move){ .dst = (unsigned long)to + order[k] * PAGE,
						     .src = (unsigned long)from + order[k] * PAGE,
						     .len = PAGE, .moved = MOVED_UNSET };
		/* The reader fills its TLB with the source, then reads it during the move. */
		rd->src = from;
		atomic_store(&rd->phase, 1);
		for (reads = atomic_load(&rd->reads); atomic_load(&rd->reads) < reads + 2;)
			sched_yield();
		ASSERT_EQ(0, ioctl(fd, PGMOVE_IOC_MOVEV, &v)) TH_LOG("round %d: errno %d", r, errno);
		ASSERT_EQ(RD_PAGES, v.completed);
		/* Back from the call: the source reads as zeros on the reader's CPU too. */
		atomic_store(&rd->phase, 2);
		while (atomic_load(&rd->phase))
			sched_yield();
		ASSERT_EQ(0, atomic_load(&rd->stale_after))
			TH_LOG("round %d: the reader saw moved pages at the source after the call", r);
		ASSERT_EQ(0, atomic_load(&rd->bad))
			TH_LOG("round %d: page %ld read %#lx, another page's data", r, rd->bad_i,
			       rd->bad_v);
		for (long i = 0; i < RD_PAGES; i++) {
			ASSERT_EQ((long long)PAGE, m[i].moved);
			ASSERT_EQ((long)TAG(i), *(long *)(to + i * PAGE)) TH_LOG("page %ld", i);
			ASSERT_EQ(pfn[i], pfn_of(to + i * PAGE)) TH_LOG("page %ld was copied", i);
		}
		/* The reader faulted zero pages in at the source: clear it for the way back. */
		ASSERT_EQ(0, madvise(from, len, MADV_DONTNEED));
	}
	atomic_store(&rd->stop, true);
	pthread_join(th, NULL);
	TH_LOG("%ld passes of the reader over the source", atomic_load(&rd->reads));
	close(fd);
}

TEST_HARNESS_MAIN
