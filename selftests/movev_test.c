// SPDX-License-Identifier: GPL-2.0
/*
 * PGMOVE_IOC_MOVEV: many moves in one call, in order, each entry with its own `moved`;
 * where the call stops, what `completed` says, which entries are written, and every errno of
 * the vector itself (Documentation/move.rst).
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include "pgmove_harness.h"
#include "move_util.h"

FIXTURE(movev)
{
	int fd;
};

FIXTURE_SETUP(movev)
{
	self->fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", PGMOVE_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(movev)
{
	close(self->fd);
}

/* The outcome of one MOVEV. */
struct movev_res {
	int ret, err;
	unsigned long long completed;
};

static struct movev_res do_movev(int fd, struct pgmove_move *m, unsigned int count,
				 unsigned int flags)
{
	struct pgmove_movev v = { .moves = (unsigned long)m, .count = count, .flags = flags,
				  .completed = ~0ULL };
	struct movev_res r;

	r.ret = ioctl(fd, PGMOVE_IOC_MOVEV, &v);
	r.err = r.ret ? errno : 0;
	r.completed = v.completed;
	return r;
}

static struct pgmove_move entry(const char *dst, const char *src, unsigned long len,
				unsigned long long flags)
{
	return (struct pgmove_move){ .dst = (unsigned long)dst, .src = (unsigned long)src,
				     .len = len, .flags = flags, .moved = MOVED_UNSET };
}

TEST_F(movev, info_reports_feat_movev)
{
	struct pgmove_info info;

	ASSERT_EQ(0, ioctl(self->fd, PGMOVE_IOC_INFO, &info));
	ASSERT_TRUE(info.features & PGMOVE_FEAT_MOVEV);
}

/*
 * A compactor's call: objects of 1..16 pages, laid out back to back, each moved to a
 * different place. With dst_in_order the entries go through the objects in a shuffled
 * order and put them side by side at dst (live objects copied into a free region: entries
 * share their destination's PTE table); else they take the objects in address order and
 * put each at a shuffled place (entries share their source's table). Every object arrives
 * whole (contents and PFNs) and the source is left empty.
 */
static void scattered_objects(struct __test_metadata *_metadata, int fd, unsigned int nobj,
			      bool pmd_aligned, bool dst_in_order)
{
	struct pgmove_move *m = calloc(nobj, sizeof(*m));
	unsigned long *pages = calloc(nobj, sizeof(*pages)), *off = calloc(nobj, sizeof(*off));
	unsigned long *dst_at = calloc(nobj, sizeof(*dst_at));
	unsigned int *order = calloc(nobj, sizeof(*order)), seed = 42 + nobj;
	unsigned long total = 0, at = 0;
	uint64_t *pfn;
	char *src, *dst;
	struct movev_res r;

	for (unsigned int i = 0; i < nobj; i++) {
		pages[i] = 1 + rand_r(&seed) % 16;
		off[i] = total;
		total += pages[i];
		order[i] = i;
	}
	for (unsigned int i = nobj - 1; i > 0; i--) {
		unsigned int j = rand_r(&seed) % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	src = map_anon(total * PAGE, pmd_aligned, false);
	dst = map_anon(total * PAGE, pmd_aligned, false);
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	fill_pages(src, total * PAGE, 77);
	pfn = calloc(total, sizeof(*pfn));
	for (unsigned long p = 0; p < total; p++)
		pfn[p] = pfn_of(src + p * PAGE);
	/* Object order[k] goes to the k-th place at dst; entry k moves it (dst_in_order) or
	 * entry order[k] does (objects in address order). */
	for (unsigned int k = 0; k < nobj; k++) {
		unsigned int o = order[k];

		dst_at[o] = at;
		at += pages[o];
	}
	for (unsigned int k = 0; k < nobj; k++) {
		unsigned int o = dst_in_order ? order[k] : k;

		m[k] = entry(dst + dst_at[o] * PAGE, src + off[o] * PAGE, pages[o] * PAGE, 0);
	}
	r = do_movev(fd, m, nobj, 0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d completed %llu", r.err, r.completed);
	ASSERT_EQ(nobj, r.completed);
	for (unsigned int k = 0; k < nobj; k++) {
		ASSERT_EQ((long long)m[k].len, m[k].moved) TH_LOG("entry %u", k);
	}
	for (unsigned int o = 0; o < nobj; o++) {
		for (unsigned long p = 0; p < pages[o]; p++) {
			char *d = dst + (dst_at[o] + p) * PAGE;

			ASSERT_EQ(-1, check_pages_from(d, off[o] + p, PAGE, 77))
				TH_LOG("object %u page %lu has the wrong contents", o, p);
			ASSERT_EQ(pfn[off[o] + p], pfn_of(d)) TH_LOG("object %u page %lu copied", o, p);
		}
	}
	for (unsigned long p = 0; p < total; p++)
		ASSERT_EQ(0, pagemap_entry(src + p * PAGE) & (PM_PRESENT | PM_SWAP));
	munmap(src, total * PAGE);
	munmap(dst, total * PAGE);
	free(m);
	free(pages);
	free(off);
	free(dst_at);
	free(order);
	free(pfn);
}

TEST_F(movev, scattered_objects) { scattered_objects(_metadata, self->fd, 300, false, true); }
TEST_F(movev, scattered_objects_sources_in_order)
{
	scattered_objects(_metadata, self->fd, 300, false, false);
}
/* 11.7 s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(movev, scattered_objects_max_count, 50)
{
	scattered_objects(_metadata, self->fd, PGMOVE_MOVEV_MAX, true, true);
}
TEST_F_TIMEOUT(movev, scattered_objects_max_count_sources_in_order, 50)
{
	scattered_objects(_metadata, self->fd, PGMOVE_MOVEV_MAX, true, false);
}

/*
 * Four entries of four pages that share a PTE table: their sources' (one source table,
 * destinations in two tables) or, in the second variant, their destinations' (sources in
 * four tables). Entry 2 meets, at its third page, a destination page that is populated
 * (EAGAIN, moved = 2 pages) or, with `hole`, a source hole, which it crosses when the entry
 * allows holes (all four complete) and stops at otherwise (EAGAIN, moved = 2 pages).
 */
enum shared_stop { STOP_DST_POPULATED, STOP_SRC_HOLE, CROSS_SRC_HOLE };

static void shared_table_entries(struct __test_metadata *_metadata, int fd, bool shared_dst,
				 enum shared_stop stop)
{
	/* Page offsets: the sources, and the destinations. */
	static const unsigned long src_shared[4] = { 0, 4, 8, 12 };
	static const unsigned long dst_scattered[4] = { 512 + 8, 0, 512 + 20, 40 };
	static const unsigned long src_scattered[4] = { 1024 + 4, 0, 1536 + 8, 512 + 12 };
	static const unsigned long dst_shared[4] = { 0, 4, 8, 12 };
	const unsigned long *so = shared_dst ? src_scattered : src_shared;
	const unsigned long *dso = shared_dst ? dst_shared : dst_scattered;
	char *src = map_anon(4 * PMD, true, false), *dst = map_anon(2 * PMD, true, false);
	bool crosses = stop == CROSS_SRC_HOLE;
	unsigned long long flags = crosses ? PGMOVE_MOVE_ALLOW_SRC_HOLES : 0;
	uint64_t pfn[4][4];
	struct pgmove_move m[4];
	struct movev_res r;

	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	for (int e = 0; e < 4; e++) {
		fill_pages(src + so[e] * PAGE, 4 * PAGE, 40 + e);
		for (int p = 0; p < 4; p++)
			pfn[e][p] = pfn_of(src + (so[e] + p) * PAGE);
		m[e] = entry(dst + dso[e] * PAGE, src + so[e] * PAGE, 4 * PAGE, flags);
	}
	/* Both destination tables exist (the entries do not allocate them). */
	memset(dst, 1, PAGE);
	memset(dst + PMD, 1, PAGE);
	ASSERT_EQ(0, madvise(dst, PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, madvise(dst + PMD, PAGE, MADV_DONTNEED));
	if (stop == STOP_DST_POPULATED)
		dst[(dso[2] + 2) * PAGE] = 1;
	else
		ASSERT_EQ(0, madvise(src + (so[2] + 2) * PAGE, PAGE, MADV_DONTNEED));
	r = do_movev(fd, m, 4, 0);
	if (crosses) {
		ASSERT_EQ(0, r.ret) TH_LOG("errno %d completed %llu", r.err, r.completed);
		ASSERT_EQ(4, r.completed);
	} else {
		ASSERT_EQ(-1, r.ret);
		ASSERT_EQ(EAGAIN, r.err);
		ASSERT_EQ(2, r.completed);
		ASSERT_EQ(2 * PAGE, m[2].moved);
		ASSERT_EQ(MOVED_UNSET, m[3].moved);
	}
	for (int e = 0; e < 4; e++) {
		int moved = e < 2 || crosses ? 4 : e == 2 ? 2 : 0;

		if (e < 2 || crosses) {
			ASSERT_EQ(4 * PAGE, m[e].moved) TH_LOG("entry %d", e);
		}
		for (int p = 0; p < 4; p++) {
			char *d = dst + (dso[e] + p) * PAGE, *s = src + (so[e] + p) * PAGE;
			bool hole = e == 2 && p == 2 && stop != STOP_DST_POPULATED;

			if (hole) {
				ASSERT_EQ(0, pagemap_entry(s) & PM_PRESENT);
				ASSERT_EQ(0, pagemap_entry(d) & PM_PRESENT)
					TH_LOG("the source hole is not a hole at the destination");
				continue;
			}
			if (p >= moved) {
				ASSERT_EQ(pfn[e][p], pfn_of(s)) TH_LOG("entry %d page %d", e, p);
				ASSERT_EQ(-1, check_pages_from(s, p, PAGE, 40 + e));
				continue;
			}
			ASSERT_EQ(pfn[e][p], pfn_of(d)) TH_LOG("entry %d page %d", e, p);
			ASSERT_EQ(-1, check_pages_from(d, p, PAGE, 40 + e));
			ASSERT_EQ(0, pagemap_entry(s) & PM_PRESENT) TH_LOG("entry %d page %d", e, p);
		}
	}
	if (stop == STOP_DST_POPULATED)
		ASSERT_EQ(1, dst[(dso[2] + 2) * PAGE]);
	munmap(src, 4 * PMD);
	munmap(dst, 2 * PMD);
}

TEST_F(movev, shared_src_table_dst_populated)
{
	shared_table_entries(_metadata, self->fd, false, STOP_DST_POPULATED);
}
TEST_F(movev, shared_src_table_src_hole)
{
	shared_table_entries(_metadata, self->fd, false, STOP_SRC_HOLE);
}
TEST_F(movev, shared_src_table_src_hole_allowed)
{
	shared_table_entries(_metadata, self->fd, false, CROSS_SRC_HOLE);
}
TEST_F(movev, shared_dst_table_dst_populated)
{
	shared_table_entries(_metadata, self->fd, true, STOP_DST_POPULATED);
}
TEST_F(movev, shared_dst_table_src_hole)
{
	shared_table_entries(_metadata, self->fd, true, STOP_SRC_HOLE);
}
TEST_F(movev, shared_dst_table_src_hole_allowed)
{
	shared_table_entries(_metadata, self->fd, true, CROSS_SRC_HOLE);
}

/* Errors of the vector itself: nothing is looked at, nothing moves, completed is 0. */
TEST_F(movev, einval_count_and_flags)
{
	char *src = map_anon(4 * PAGE, false, false), *dst = map_anon(4 * PAGE, false, false);
	static struct pgmove_move m[PGMOVE_MOVEV_MAX + 1];
	struct movev_res r;

	fill_pages(src, 4 * PAGE, 3);
	for (unsigned int i = 0; i <= PGMOVE_MOVEV_MAX; i++)
		m[i] = entry(dst, src, PAGE, 0);
	r = do_movev(self->fd, m, 0, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EINVAL, r.err);
	ASSERT_EQ(0, r.completed);
	r = do_movev(self->fd, m, PGMOVE_MOVEV_MAX + 1, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EINVAL, r.err);
	ASSERT_EQ(0, r.completed);
	r = do_movev(self->fd, m, 1, 1);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EINVAL, r.err);
	ASSERT_EQ(0, r.completed);
	ASSERT_EQ(MOVED_UNSET, m[0].moved) TH_LOG("a rejected vector's entries are not written");
	ASSERT_EQ(-1, check_pages(src, 4 * PAGE, 3));
	ASSERT_TRUE(all_zero(dst, 4 * PAGE));
}

/*
 * Bad pointers: the argument itself, a NULL array, an array whose last entry lies on an
 * unmapped page. All entries are read before any moves, so nothing moves.
 */
TEST_F(movev, efault_bad_pointers)
{
	char *src = map_anon(4 * PAGE, false, false), *dst = map_anon(4 * PAGE, false, false);
	char *arr = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct pgmove_move *m;
	struct movev_res r;

	ASSERT_NE(MAP_FAILED, arr);
	fill_pages(src, 4 * PAGE, 4);
	ASSERT_EQ(-1, ioctl(self->fd, PGMOVE_IOC_MOVEV, (void *)8));
	ASSERT_EQ(EFAULT, errno);
	r = do_movev(self->fd, NULL, 1, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EFAULT, r.err);
	ASSERT_EQ(0, r.completed);
	/* Two entries, the second straddling into the unmapped second page. */
	ASSERT_EQ(0, munmap(arr + PAGE, PAGE));
	m = (struct pgmove_move *)(arr + PAGE - sizeof(*m) - 8);
	m[0] = entry(dst, src, PAGE, 0);
	r = do_movev(self->fd, m, 2, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EFAULT, r.err);
	ASSERT_EQ(0, r.completed);
	ASSERT_EQ(MOVED_UNSET, m[0].moved);
	ASSERT_EQ(-1, check_pages(src, 4 * PAGE, 4)) TH_LOG("an entry moved before the array was read");
	munmap(arr, PAGE);
}

/*
 * Entry 2 of 5 is invalid: entries 0 and 1 complete, entry 2 says -EINVAL, entries 3 and 4
 * are neither performed nor written.
 */
/* Entries that can be read but whose moved cannot be written: the moves happen, EFAULT,
 * and completed counts them. */
TEST_F(movev, efault_moved_unwritable_counts_completed)
{
	char *src = map_anon(4 * PAGE, false, false), *dst = map_anon(4 * PAGE, false, false);
	struct pgmove_move *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct movev_res r;

	ASSERT_NE(MAP_FAILED, m);
	fill_pages(src, 4 * PAGE, 41);
	m[0] = entry(dst, src, 2 * PAGE, 0);
	m[1] = entry(dst + 2 * PAGE, src + 2 * PAGE, 2 * PAGE, 0);
	ASSERT_EQ(0, mprotect(m, PAGE, PROT_READ));
	r = do_movev(self->fd, m, 2, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EFAULT, r.err);
	EXPECT_EQ(2, r.completed) TH_LOG("the moves happened; completed must say so");
	ASSERT_EQ(-1, check_pages(dst, 4 * PAGE, 41));
	ASSERT_TRUE(all_zero(src, 4 * PAGE));
	munmap(m, PAGE);
}

TEST_F(movev, stops_at_invalid_entry)
{
	char *src = map_anon(10 * PAGE, false, false), *dst = map_anon(10 * PAGE, false, false);
	struct pgmove_move m[5];
	struct movev_res r;

	fill_pages(src, 10 * PAGE, 5);
	for (int i = 0; i < 5; i++)
		m[i] = entry(dst + 2 * i * PAGE, src + 2 * i * PAGE, 2 * PAGE, 0);
	m[2].dst += 8;
	r = do_movev(self->fd, m, 5, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EINVAL, r.err);
	ASSERT_EQ(2, r.completed);
	ASSERT_EQ(2 * PAGE, m[0].moved);
	ASSERT_EQ(2 * PAGE, m[1].moved);
	ASSERT_EQ(-EINVAL, m[2].moved);
	ASSERT_EQ(MOVED_UNSET, m[3].moved);
	ASSERT_EQ(MOVED_UNSET, m[4].moved);
	ASSERT_EQ(-1, check_pages(dst, 4 * PAGE, 5));
	ASSERT_TRUE(all_zero(src, 4 * PAGE));
	ASSERT_EQ(-1, check_pages_from(src + 4 * PAGE, 4, 6 * PAGE, 5));
	ASSERT_TRUE(all_zero(dst + 4 * PAGE, 6 * PAGE));
}

/* Entry 1 meets a populated destination page half-way: EAGAIN, its `moved` says how far. */
TEST_F(movev, partial_entry_gives_eagain)
{
	char *src = map_anon(12 * PAGE, false, false), *dst = map_anon(12 * PAGE, false, false);
	struct pgmove_move m[3];
	struct movev_res r;

	fill_pages(src, 12 * PAGE, 6);
	dst[7 * PAGE] = 1;
	for (int i = 0; i < 3; i++)
		m[i] = entry(dst + 4 * i * PAGE, src + 4 * i * PAGE, 4 * PAGE, 0);
	r = do_movev(self->fd, m, 3, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EAGAIN, r.err);
	ASSERT_EQ(1, r.completed);
	ASSERT_EQ(4 * PAGE, m[0].moved);
	ASSERT_EQ(3 * PAGE, m[1].moved);
	ASSERT_EQ(MOVED_UNSET, m[2].moved);
	ASSERT_EQ(-1, check_pages(dst, 7 * PAGE, 6));
	ASSERT_EQ(-1, check_pages_from(src + 7 * PAGE, 7, 5 * PAGE, 6));
}

/*
 * Adjacent entries (each starting where the one before ends, at source and destination)
 * move as one request; each still gets what it would get alone. Entry 1 meets a populated
 * destination at its first page: it fails with EEXIST (moved = -EEXIST), not EAGAIN, and
 * entry 0 completed. Entry 3 differs from entry 2 only in its flags: not merged, and never
 * reached.
 */
TEST_F(movev, adjacent_entries_stop_as_alone)
{
	char *src = map_anon(16 * PAGE, false, false), *dst = map_anon(16 * PAGE, false, false);
	struct pgmove_move m[4];
	struct movev_res r;

	fill_pages(src, 16 * PAGE, 9);
	dst[4 * PAGE] = 1;
	for (int i = 0; i < 4; i++)
		m[i] = entry(dst + 4 * i * PAGE, src + 4 * i * PAGE, 4 * PAGE,
			     i == 3 ? PGMOVE_MOVE_ALLOW_SRC_HOLES : 0);
	r = do_movev(self->fd, m, 4, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EEXIST, r.err);
	ASSERT_EQ(1, r.completed);
	ASSERT_EQ(4 * PAGE, m[0].moved);
	ASSERT_EQ(-EEXIST, m[1].moved);
	ASSERT_EQ(MOVED_UNSET, m[2].moved);
	ASSERT_EQ(MOVED_UNSET, m[3].moved);
	ASSERT_EQ(-1, check_pages(dst, 4 * PAGE, 9));
	ASSERT_EQ(-1, check_pages_from(src + 4 * PAGE, 4, 12 * PAGE, 9));

	/* The rest, now that the destination page is gone: entries 1..3 all complete. */
	ASSERT_EQ(0, madvise(dst + 4 * PAGE, PAGE, MADV_DONTNEED));
	for (int i = 1; i < 4; i++)
		m[i].moved = MOVED_UNSET;
	r = do_movev(self->fd, m + 1, 3, 0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d", r.err);
	ASSERT_EQ(3, r.completed);
	for (int i = 1; i < 4; i++) {
		ASSERT_EQ(4 * PAGE, m[i].moved);
	}
	ASSERT_EQ(-1, check_pages(dst, 16 * PAGE, 9));
	ASSERT_TRUE(all_zero(src, 16 * PAGE));
}

/*
 * Adjacent entries whose sources lie in two VMAs (split by MADV_HUGEPAGE on the second
 * half): merged they would cross the end of a VMA (EINVAL); each alone is valid, and so is
 * the outcome: both complete.
 */
TEST_F(movev, adjacent_entries_across_vmas_complete)
{
	char *src = map_anon(8 * PAGE, false, false), *dst = map_anon(8 * PAGE, false, false);
	struct pgmove_move m[3];
	struct movev_res r;

	ASSERT_EQ(0, madvise(src + 4 * PAGE, 4 * PAGE, MADV_HUGEPAGE));
	fill_pages(src, 8 * PAGE, 13);
	m[0] = entry(dst, src, 4 * PAGE, 0);
	m[1] = entry(dst + 4 * PAGE, src + 4 * PAGE, 2 * PAGE, 0);
	m[2] = entry(dst + 6 * PAGE, src + 6 * PAGE, 2 * PAGE, 0);
	r = do_movev(self->fd, m, 3, 0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d completed %llu", r.err, r.completed);
	ASSERT_EQ(3, r.completed);
	ASSERT_EQ(4 * PAGE, m[0].moved);
	ASSERT_EQ(2 * PAGE, m[1].moved);
	ASSERT_EQ(2 * PAGE, m[2].moved);
	ASSERT_EQ(-1, check_pages(dst, 8 * PAGE, 13));
	ASSERT_TRUE(all_zero(src, 8 * PAGE));
}

/*
 * Entries that hop between two pairs of VMAs and back (the module keeps the VMA locks of
 * one entry for the next only when both ranges stay in the same VMAs), and an entry that
 * moves pages back into its own source VMA.
 */
TEST_F(movev, entries_across_vma_pairs)
{
	char *a = map_anon(8 * PAGE, false, false), *b = map_anon(8 * PAGE, false, false);
	char *c = map_anon(8 * PAGE, false, false), *d = map_anon(8 * PAGE, false, false);
	struct pgmove_move m[9];
	struct movev_res r;

	fill_pages(a, 8 * PAGE, 7);
	fill_pages(c, 8 * PAGE, 8);
	for (int i = 0; i < 4; i++) {
		m[2 * i] = entry(b + 2 * i * PAGE, a + 2 * i * PAGE, 2 * PAGE, 0);
		m[2 * i + 1] = entry(d + 2 * i * PAGE, c + 2 * i * PAGE, 2 * PAGE, 0);
	}
	/* Back from b into a's first page. */
	m[8] = entry(a, b, PAGE, 0);
	r = do_movev(self->fd, m, 9, 0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d completed %llu", r.err, r.completed);
	ASSERT_EQ(9, r.completed);
	ASSERT_EQ(-1, check_pages(a, PAGE, 7));
	ASSERT_EQ(-1, check_pages_from(b + PAGE, 1, 7 * PAGE, 7));
	ASSERT_EQ(-1, check_pages(d, 8 * PAGE, 8));
	ASSERT_TRUE(all_zero(c, 8 * PAGE));
	ASSERT_TRUE(all_zero(a + PAGE, 7 * PAGE));
	ASSERT_TRUE(all_zero(b, PAGE));
}

/*
 * An aligned 2 MiB entry after a small one (whose VMA locks it reuses) moves its table whole,
 * as MOVE alone would: the destination's empty table is freed and no table is allocated,
 * so VmPTE falls by one table; the small entry before it shares no table with it.
 */
TEST_F(movev, aligned_table_entry_moves_whole)
{
	char *src = map_anon(2 * PMD, true, false), *dst = map_anon(2 * PMD, true, false);
	struct pgmove_move m[2];
	long long before, after;
	struct movev_res r;

	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	fill_pages(src, PMD + 4 * PAGE, 21);
	/* Both destination tables exist and are empty. */
	memset(dst, 1, PMD + PAGE);
	ASSERT_EQ(0, madvise(dst, PMD + PAGE, MADV_DONTNEED));
	before = vmpte_kb(0);
	m[0] = entry(dst + PMD, src + PMD, 4 * PAGE, 0);
	m[1] = entry(dst, src, PMD, 0);
	r = do_movev(self->fd, m, 2, 0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d completed %llu", r.err, r.completed);
	after = vmpte_kb(0);
	ASSERT_EQ(before - 4, after)
		TH_LOG("VmPTE %lld -> %lld kB: the 2 MiB entry did not move its table whole",
		       before, after);
	ASSERT_EQ(-1, check_pages(dst, PMD + 4 * PAGE, 21));
	ASSERT_TRUE(all_zero(src, PMD + 4 * PAGE));
}

/* An entry with PGMOVE_MOVE_RECLAIM_SRC frees the source table it emptied; the entries
 * after it go on. */
TEST_F(movev, reclaim_src_entry)
{
	char *src = map_anon(2 * PMD, true, false), *dst = map_anon(2 * PMD, true, false);
	struct pgmove_move m[2];
	long long before, after;
	struct movev_res r;

	ASSERT_EQ(0, madvise(src, 2 * PMD, MADV_NOHUGEPAGE));
	ASSERT_EQ(0, madvise(dst, 2 * PMD, MADV_NOHUGEPAGE));
	fill_pages(src, PMD + 4 * PAGE, 9);
	/* Give dst its tables now (6.12's DONTNEED keeps them), so only src's count changes. */
	memset(dst, 1, PMD + PAGE);
	ASSERT_EQ(0, madvise(dst, PMD + PAGE, MADV_DONTNEED));
	before = vmpte_kb(0);
	m[0] = entry(dst, src, PMD, PGMOVE_MOVE_RECLAIM_SRC);
	m[1] = entry(dst + PMD, src + PMD, 4 * PAGE, 0);
	r = do_movev(self->fd, m, 2, 0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d completed %llu", r.err, r.completed);
	after = vmpte_kb(0);
	/*
	 * One table fewer: entry 0 is aligned, so its table moved whole and dst's empty one was
	 * freed (through the run path, RECLAIM_SRC would have freed the emptied source table).
	 */
	ASSERT_EQ(before - 4, after) TH_LOG("VmPTE %lld -> %lld kB", before, after);
	ASSERT_EQ(-1, check_pages(dst, PMD + 4 * PAGE, 9));
	ASSERT_TRUE(all_zero(src, PMD + 4 * PAGE));
}

TEST_HARNESS_MAIN
