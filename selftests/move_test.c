// SPDX-License-Identifier: GPL-2.0
/*
 * PGMOVE_IOC_MOVE: what moves, how it looks afterwards, and every errno of
 * Documentation/move.rst, each reached by a test.
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "pgmove_harness.h"
#include "move_util.h"

FIXTURE(move)
{
	int fd;
};

FIXTURE_SETUP(move)
{
	self->fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", PGMOVE_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(move)
{
	close(self->fd);
}

TEST_F(move, info_reports_feat_move)
{
	struct pgmove_info info;

	ASSERT_EQ(0, ioctl(self->fd, PGMOVE_IOC_INFO, &info));
	ASSERT_TRUE(info.features & PGMOVE_FEAT_MOVE);
}

#define EXPECT_FAIL(r, e)                                                                  \
	do {                                                                               \
		ASSERT_EQ(-1, (r).ret);                                                    \
		ASSERT_EQ((e), (r).err);                                                   \
		ASSERT_EQ(-(long long)(e), (r).moved) TH_LOG("moved must say -errno");     \
	} while (0)

/* Moves n pages; dst gets src's contents and PFNs, src reads as zero (as none). */
static void move_n_pages(struct __test_metadata *_metadata, int fd, unsigned long n)
{
	unsigned long len = n * PAGE;
	char *src = map_anon(len, false, false), *dst = map_anon(len, false, false);
	uint64_t *pfns = calloc(n, sizeof(*pfns));
	struct move_res r;

	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	fill_pages(src, len, 0xabc + n);
	for (unsigned long i = 0; i < n; i++) {
		pfns[i] = pfn_of(src + i * PAGE);
		ASSERT_NE(0, pfns[i]);
	}
	r = pgmove_do_move(fd, (unsigned long)dst, (unsigned long)src, len, 0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d moved %lld", r.err, r.moved);
	ASSERT_EQ((long long)len, r.moved);
	for (unsigned long i = 0; i < n; i++) {
		ASSERT_EQ(pfns[i], pfn_of(dst + i * PAGE)) TH_LOG("page %lu was copied", i);
		ASSERT_EQ(0, pagemap_entry(src + i * PAGE) & (PM_PRESENT | PM_SWAP));
	}
	ASSERT_EQ(-1, check_pages(dst, len, 0xabc + n));
	ASSERT_TRUE(all_zero(src, len));
	free(pfns);
	munmap(src, len);
	munmap(dst, len);
}

TEST_F(move, one_page) { move_n_pages(_metadata, self->fd, 1); }
TEST_F(move, pages_511) { move_n_pages(_metadata, self->fd, 511); }
TEST_F(move, pages_512) { move_n_pages(_metadata, self->fd, 512); }
TEST_F(move, pages_513) { move_n_pages(_metadata, self->fd, 513); }
/* 10.6 s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(move, pages_8192, 45) { move_n_pages(_metadata, self->fd, 8192); }

/* Overlapping move towards lower addresses, within one VMA: ascending order makes it work
 * (each source page has been moved away by the time the destination reaches it). */
TEST_F(move, overlap_towards_lower_addresses)
{
	unsigned long len = 64 * PAGE;
	char *p = map_anon(len + 8 * PAGE, false, false);
	struct move_res r;

	ASSERT_NE(NULL, p);
	fill_pages(p + 8 * PAGE, len, 77);
	r = pgmove_do_move(self->fd, (unsigned long)p, (unsigned long)p + 8 * PAGE, len, 0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d", r.err);
	ASSERT_EQ((long long)len, r.moved);
	ASSERT_EQ(-1, check_pages(p, len, 77));
	ASSERT_TRUE(all_zero(p + len, 8 * PAGE));
	/* Towards higher addresses the first destination page is a source page: EEXIST. */
	r = pgmove_do_move(self->fd, (unsigned long)p + 8 * PAGE, (unsigned long)p, len, 0);
	EXPECT_FAIL(r, EEXIST);
	munmap(p, len + 8 * PAGE);
}

/* The rmap names the destination: reclaim and read back, compaction, fork. */
TEST_F(move, rmap_pageout_then_read)
{
	unsigned long len = 256 * PAGE;
	char *src = map_anon(len, false, false), *dst = map_anon(len, false, false);

	if (!have_swap())
		SKIP(return, "no swap in this system (the VM sets up zram)");
	fill_pages(src, len, 5);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, len, 0).ret);
	/* A stale anon rmap would make reclaim miss the mapping: nothing gets swapped. */
	ASSERT_GT(page_out(dst, len), len / PAGE / 2);
	ASSERT_EQ(-1, check_pages(dst, len, 5));
}

TEST_F(move, rmap_compaction_then_read)
{
	unsigned long len = 1024 * PAGE;
	char *src = map_anon(len, false, false), *dst = map_anon(len, false, false);

	fill_pages(src, len, 6);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, len, 0).ret);
	ASSERT_EQ(0, write_file("/proc/sys/vm/compact_memory", "1"));
	ASSERT_EQ(-1, check_pages(dst, len, 6));
	/* Migration, too, walks the rmap; a page it could not find would stay put (no harm)
	 * but one found at the wrong address would corrupt: contents are the oracle. */
	ASSERT_TRUE(all_zero(src, len));
}

TEST_F(move, rmap_fork_child_sees_contents)
{
	unsigned long len = 128 * PAGE;
	char *src = map_anon(len, false, false), *dst = map_anon(len, false, false);
	int status;
	pid_t pid;

	fill_pages(src, len, 7);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, len, 0).ret);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		_exit(check_pages(dst, len, 7) == -1 && all_zero(src, len) ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* The parent still has its pages after the child's COW view is gone. */
	ASSERT_EQ(-1, check_pages(dst, len, 7));
}

/* The moved PTE is soft-dirty, present or swap. */
TEST_F(move, soft_dirty_present_and_swap)
{
	unsigned long len = 8 * PAGE;
	char *src = map_anon(len, false, false), *dst = map_anon(len, false, false);

	fill_pages(src, len, 8);
	ASSERT_EQ(0, clear_soft_dirty());
	ASSERT_EQ(0, pagemap_entry(src) & PM_SOFT_DIRTY) TH_LOG("kernel without soft-dirty");
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, len, 0).ret);
	for (unsigned long off = 0; off < len; off += PAGE)
		ASSERT_TRUE(pagemap_entry(dst + off) & PM_SOFT_DIRTY);
	if (!have_swap())
		return;
	ASSERT_EQ(len / PAGE, page_out(dst, len));
	ASSERT_EQ(0, clear_soft_dirty());
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)src, (unsigned long)dst, len, 0).ret);
	for (unsigned long off = 0; off < len; off += PAGE) {
		uint64_t e = pagemap_entry(src + off);

		ASSERT_TRUE(e & PM_SWAP);
		ASSERT_TRUE(e & PM_SOFT_DIRTY);
	}
	ASSERT_EQ(-1, check_pages(src, len, 8));
}

/* ----- errnos ----- */

TEST_F(move, einval_arguments)
{
	char *a = map_anon(4 * PAGE, false, false), *b = map_anon(4 * PAGE, false, false);
	unsigned long d = (unsigned long)b, s = (unsigned long)a;

	fill_pages(a, 4 * PAGE, 1);
	EXPECT_FAIL(pgmove_do_move(self->fd, d + 1, s, PAGE, 0), EINVAL);
	EXPECT_FAIL(pgmove_do_move(self->fd, d, s + 8, PAGE, 0), EINVAL);
	EXPECT_FAIL(pgmove_do_move(self->fd, d, s, PAGE + 1, 0), EINVAL);
	EXPECT_FAIL(pgmove_do_move(self->fd, d, s, 0, 0), EINVAL);
	EXPECT_FAIL(pgmove_do_move(self->fd, d, s, -PAGE, 0), EINVAL);
	EXPECT_FAIL(pgmove_do_move(self->fd, d, 0xfffffffffffff000UL, 2 * PAGE, 0), EINVAL);
	EXPECT_FAIL(pgmove_do_move(self->fd, d, s, PAGE, 1ULL << 7), EINVAL);
	EXPECT_FAIL(pgmove_do_move(self->fd, d, s, PAGE, 1ULL << 63), EINVAL);
	/* Nothing moved. */
	ASSERT_EQ(-1, check_pages(a, 4 * PAGE, 1));
}

TEST_F(move, einval_file_backed_and_shared)
{
	char *a = map_anon(PAGE, false, false);
	int mfd = memfd_create("pgmove", 0);
	char *file, *shared;

	ASSERT_GE(mfd, 0);
	ASSERT_EQ(0, ftruncate(mfd, PAGE));
	file = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd, 0);
	shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, file);
	ASSERT_NE(MAP_FAILED, shared);
	fill_pages(a, PAGE, 2);
	file[0] = shared[0] = 1;
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)a, (unsigned long)file, PAGE, 0), EINVAL);
	madvise(a, PAGE, MADV_DONTNEED);
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)file + 0, (unsigned long)a, PAGE, 0), EINVAL);
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)a, (unsigned long)shared, PAGE, 0), EINVAL);
	close(mfd);
}

TEST_F(move, einval_protection_and_mlock_mismatch)
{
	char *a = map_anon(PAGE, false, false), *b = map_anon(PAGE, false, false);
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	fill_pages(a, PAGE, 3);
	ASSERT_EQ(0, mprotect(b, PAGE, PROT_READ));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PAGE, 0), EINVAL);
	ASSERT_EQ(0, mprotect(b, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PAGE, 0), EINVAL);
	/* Both read-only: same flags, but not writable. */
	ASSERT_EQ(0, mprotect(b, PAGE, PROT_READ));
	ASSERT_EQ(0, mprotect(a, PAGE, PROT_READ));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PAGE, 0), EINVAL);
	ASSERT_EQ(0, mprotect(a, PAGE, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, mprotect(b, PAGE, PROT_READ | PROT_WRITE));
	setrlimit(RLIMIT_MEMLOCK, &rl);
	/* MLOCK_ONFAULT: locked (VM_LOCKED) without populating b. */
	ASSERT_EQ(0, syscall(__NR_mlock2, a, PAGE, 1 /* MLOCK_ONFAULT */));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PAGE, 0), EINVAL);
	ASSERT_EQ(0, syscall(__NR_mlock2, b, PAGE, 1 /* MLOCK_ONFAULT */));
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PAGE, 0).ret);
	ASSERT_EQ(-1, check_pages(b, PAGE, 3));
}

TEST_F(move, einval_range_across_two_vmas)
{
	char *a = map_anon(8 * PAGE, false, false), *b = map_anon(8 * PAGE, false, false);

	fill_pages(a, 8 * PAGE, 4);
	/* Split src into two VMAs by protection. */
	ASSERT_EQ(0, mprotect(a + 4 * PAGE, 4 * PAGE, PROT_READ));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, 8 * PAGE, 0), EINVAL);
	ASSERT_EQ(0, mprotect(a + 4 * PAGE, 4 * PAGE, PROT_READ | PROT_WRITE));
	/* dst across its end into the unmapped. */
	ASSERT_EQ(0, munmap(b + 4 * PAGE, 4 * PAGE));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, 8 * PAGE, 0), EINVAL);
}

TEST_F(move, enoent_unmapped_and_holes)
{
	char *a = map_anon(8 * PAGE, false, false), *b = map_anon(8 * PAGE, false, false);
	char *gap = map_anon(PAGE, false, false);
	struct move_res r;

	ASSERT_EQ(0, munmap(gap, PAGE));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)gap, PAGE, 0), ENOENT);
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)gap, (unsigned long)a, PAGE, 0), ENOENT);
	/* A never-touched source page: a hole. */
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PAGE, 0), ENOENT);
	fill_pages(a, 8 * PAGE, 9);
	madvise(a + 2 * PAGE, 2 * PAGE, MADV_DONTNEED);
	r = pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, 8 * PAGE, 0);
	ASSERT_EQ(EAGAIN, r.err);
	ASSERT_EQ(2 * PAGE, r.moved);
	r = pgmove_do_move(self->fd, (unsigned long)b + 2 * PAGE, (unsigned long)a + 2 * PAGE,
			   6 * PAGE, PGMOVE_MOVE_ALLOW_SRC_HOLES);
	ASSERT_EQ(0, r.ret);
	ASSERT_EQ(6 * PAGE, r.moved);
	ASSERT_EQ(-1, check_pages(b, 2 * PAGE, 9));
	ASSERT_TRUE(all_zero(b + 2 * PAGE, 2 * PAGE));
	ASSERT_EQ(-1, check_pages_from(b + 4 * PAGE, 4, 4 * PAGE, 9));
	ASSERT_TRUE(all_zero(a, 8 * PAGE));
}

TEST_F(move, eexist_dst_populated_and_eagain_partial)
{
	char *a = map_anon(8 * PAGE, false, false), *b = map_anon(8 * PAGE, false, false);
	struct move_res r;

	fill_pages(a, 8 * PAGE, 10);
	b[5 * PAGE] = 1;
	r = pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, 8 * PAGE, 0);
	ASSERT_EQ(-1, r.ret);
	ASSERT_EQ(EAGAIN, r.err);
	ASSERT_EQ(5 * PAGE, r.moved) TH_LOG("moved must count the progress");
	r = pgmove_do_move(self->fd, (unsigned long)b + r.moved, (unsigned long)a + r.moved,
			   3 * PAGE, 0);
	EXPECT_FAIL(r, EEXIST);
	ASSERT_EQ(-1, check_pages(b, 5 * PAGE, 10));
	ASSERT_EQ(1, b[5 * PAGE]);
	ASSERT_EQ(-1, check_pages_from(a + 5 * PAGE, 5, 3 * PAGE, 10));
}

TEST_F(move, ebusy_shared_after_fork)
{
	char *a = map_anon(4 * PAGE, false, false), *b = map_anon(4 * PAGE, false, false);
	int pipefd[2], status;
	pid_t pid;
	char c;

	fill_pages(a, 4 * PAGE, 11);
	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		read(pipefd[0], &c, 1);
		_exit(check_pages(a, 4 * PAGE, 11) == -1 ? 0 : 1);
	}
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, 4 * PAGE, 0), EBUSY);
	write(pipefd[1], "x", 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	/* Once the child is gone the pages are shared no more, but still not exclusive until
	 * written (PageAnonExclusive is set again on write fault). */
	for (unsigned long off = 0; off < 4 * PAGE; off += PAGE)
		a[off + 8] ^= 0;
	fill_pages(a, 4 * PAGE, 11);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, 4 * PAGE, 0).ret);
	ASSERT_EQ(-1, check_pages(b, 4 * PAGE, 11));
}

TEST_F(move, ebusy_ksm_merged)
{
	unsigned long len = 16 * PAGE;
	char *a = map_anon(len, false, false), *b = map_anon(len, false, false);
	bool merged = false;

	if (access("/sys/kernel/mm/ksm/run", W_OK))
		SKIP(return, "no KSM in this kernel");
	memset(a, 0x5c, len);
	ASSERT_EQ(0, write_file("/sys/kernel/mm/ksm/sleep_millisecs", "10"));
	ASSERT_EQ(0, write_file("/sys/kernel/mm/ksm/pages_to_scan", "10000"));
	ASSERT_EQ(0, write_file("/sys/kernel/mm/ksm/run", "1"));
	ASSERT_EQ(0, madvise(a, len, MADV_MERGEABLE));
	for (int i = 0; i < 600 && !merged; i++) {
		usleep(50000);
		merged = kpageflags(pfn_of(a)) & (1ULL << KPF_KSM_BIT);
	}
	write_file("/sys/kernel/mm/ksm/run", "2");
	ASSERT_TRUE(merged) TH_LOG("ksmd did not merge within 30 s");
	/* run=2 unmerged everything; merge again and keep ksmd stopped while we move. */
	ASSERT_EQ(0, write_file("/sys/kernel/mm/ksm/run", "1"));
	merged = false;
	for (int i = 0; i < 600 && !merged; i++) {
		usleep(50000);
		merged = kpageflags(pfn_of(a)) & (1ULL << KPF_KSM_BIT);
	}
	ASSERT_EQ(0, write_file("/sys/kernel/mm/ksm/run", "0"));
	ASSERT_TRUE(merged);
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PAGE, 0), EBUSY);
	ASSERT_EQ(0x5c, a[0]);
	write_file("/sys/kernel/mm/ksm/run", "2");
}

/* A page pinned with FOLL_PIN by an io_uring fixed buffer. */
TEST_F(move, ebusy_pinned_io_uring_buffer)
{
	struct io_uring_params params = { 0 };
	char *a = map_anon(4 * PAGE, false, false), *b = map_anon(4 * PAGE, false, false);
	struct iovec iov = { .iov_base = a, .iov_len = 2 * PAGE };
	int ring;

	fill_pages(a, 4 * PAGE, 12);
	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0)
		SKIP(return, "io_uring_setup: %s", strerror(errno));
	ASSERT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, 2 * PAGE, 0), EBUSY);
	/* The unpinned pages after it move. */
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b + 2 * PAGE,
				    (unsigned long)a + 2 * PAGE, 2 * PAGE, 0).ret);
	ASSERT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0));
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, 2 * PAGE, 0).ret);
	ASSERT_EQ(-1, check_pages(b, 4 * PAGE, 12));
	close(ring);
}

/*
 * A large folio that cannot be split must give EBUSY, never a retry without end (6.12's
 * split_folio() says EAGAIN for extra references, which a pin may hold for ever): a THP
 * with its sixth page pinned by an io_uring buffer, moved one page off alignment (its PMD
 * is split, the folio cannot be), and the same pinned THP moved aligned onto a destination
 * PMD that holds an empty PTE table (it cannot move whole there). Nothing moves; after
 * the pin is gone both moves work. move_diff_test checks UFFDIO_MOVE says the same.
 */
TEST_F(move, thp_pinned_unsplittable_is_ebusy)
{
	char *a = map_anon(PMD, true, true), *b = map_anon(2 * PMD, true, false);
	struct io_uring_params params = { 0 };
	struct iovec iov;
	uint64_t pfn;
	int ring;

	ASSERT_TRUE(a && b);
	fill_pages(a, PMD, 17);
	if (!is_thp(a))
		SKIP(return, "no THP at the source (THP disabled or memory fragmented)");
	pfn = pfn_of(a);
	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0)
		SKIP(return, "io_uring_setup: %s", strerror(errno));
	iov.iov_base = a + 5 * PAGE;
	iov.iov_len = PAGE;
	ASSERT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b + PAGE, (unsigned long)a + PAGE,
				   PAGE, 0), EBUSY);
	b[PMD] = 1;
	ASSERT_EQ(0, madvise(b + PMD, PAGE, MADV_DONTNEED));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b + PMD, (unsigned long)a, PMD, 0),
		    EBUSY);
	ASSERT_EQ(pfn, pfn_of(a)) TH_LOG("the source moved or was copied");
	ASSERT_EQ(-1, check_pages(a, PMD, 17));
	ASSERT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0));
	close(ring);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b + PAGE, (unsigned long)a + PAGE,
				    PAGE, 0).ret);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b + PMD + 2 * PAGE,
				    (unsigned long)a + 2 * PAGE, PMD - 2 * PAGE, 0).ret);
	ASSERT_EQ(-1, check_pages_from(b + PAGE, 1, PAGE, 17));
	ASSERT_EQ(-1, check_pages_from(b + PMD + 2 * PAGE, 2, PMD - 2 * PAGE, 17));
	ASSERT_EQ(pfn + 1, pfn_of(b + PAGE));
}

/* A PTE marker (UFFDIO_POISON's) at the source. */
TEST_F(move, efault_pte_marker)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_POISON };
	char *a = map_anon(2 * PAGE, false, false), *b = map_anon(2 * PAGE, false, false);
	struct uffdio_poison poison = { .range = { (unsigned long)a, PAGE } };
	int uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	ASSERT_GE(uffd, 0);
	if (ioctl(uffd, UFFDIO_API, &api))
		SKIP(return, "no UFFD_FEATURE_POISON");
	ASSERT_EQ(0, uffd_register(uffd, (unsigned long)a, 2 * PAGE));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_POISON, &poison));
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PAGE, 0), EFAULT);
	close(uffd);
}

TEST_F(move, efault_bad_argument_pointer)
{
	ASSERT_EQ(-1, ioctl(self->fd, PGMOVE_IOC_MOVE, (void *)16));
	ASSERT_EQ(EFAULT, errno);
}

/* ----- what moves ----- */

TEST_F(move, zero_page)
{
	char *a = map_anon(4 * PAGE, false, false), *b = map_anon(4 * PAGE, false, false);
	volatile char c;
	uint64_t zpfn;

	c = a[0];
	c = a[PAGE];
	(void)c;
	zpfn = pfn_of(a);
	ASSERT_NE(0, zpfn);
	ASSERT_TRUE(kpageflags(zpfn) & (1ULL << KPF_ZERO_PAGE_BIT));
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, 2 * PAGE, 0).ret);
	ASSERT_EQ(zpfn, pfn_of(b));
	ASSERT_EQ(zpfn, pfn_of(b + PAGE));
	ASSERT_EQ(0, pagemap_entry(a) & PM_PRESENT);
	/* Writing the moved zero page gives a fresh page there. */
	b[0] = 1;
	ASSERT_NE(zpfn, pfn_of(b));
}

TEST_F(move, swap_entry)
{
	unsigned long len = 32 * PAGE;
	char *a = map_anon(len, false, false), *b = map_anon(len, false, false);

	if (!have_swap())
		SKIP(return, "no swap");
	fill_pages(a, len, 13);
	ASSERT_EQ(len / PAGE, page_out(a, len));
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, len, 0).ret);
	for (unsigned long off = 0; off < len; off += PAGE) {
		ASSERT_TRUE(pagemap_entry(b + off) & PM_SWAP);
		ASSERT_EQ(0, pagemap_entry(a + off) & (PM_SWAP | PM_PRESENT));
	}
	ASSERT_EQ(-1, check_pages(b, len, 13));
	ASSERT_TRUE(all_zero(a, len));
}

/* A swapped-out page read back into the swap cache (MADV_WILLNEED) but not mapped. */
TEST_F(move, swap_cache_folio)
{
	unsigned long len = 32 * PAGE;
	char *a = map_anon(len, false, false), *b = map_anon(len, false, false);

	if (!have_swap())
		SKIP(return, "no swap");
	fill_pages(a, len, 14);
	ASSERT_EQ(len / PAGE, page_out(a, len));
	ASSERT_EQ(0, madvise(a, len, MADV_WILLNEED));
	usleep(100000);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, len, 0).ret);
	/* The swap-cache folio's rmap must name b: page it out from there again and read. */
	ASSERT_EQ(-1, check_pages(b, len, 14));
	page_out(b, len);
	ASSERT_EQ(0, write_file("/proc/sys/vm/compact_memory", "1"));
	ASSERT_EQ(-1, check_pages(b, len, 14));
	ASSERT_TRUE(all_zero(a, len));
}

/*
 * Four 64 kB mTHPs moved between 64 kB-aligned ranges move whole: same PFNs, and each is
 * still one large folio at the destination (kpageflags: THP, a compound head every 16
 * pages), where UFFDIO_MOVE would have split them. A move that covers only part of a
 * folio, or an unaligned one, still splits it (mthp_split).
 */
TEST_F(move, mthp_moved_whole)
{
	unsigned long len = 64 * PAGE;
	char *a = map_anon(len, true, false), *b = map_anon(len, true, false);
	uint64_t pfns[64];

	if (!fill_pages_mthp(a, len, 23))
		SKIP(return, "no 64 kB mTHP in this kernel");
	for (int i = 0; i < 64; i++)
		pfns[i] = pfn_of(a + i * PAGE);
	for (int i = 0; i < 64; i++)
		if (pfns[i] != pfns[i / 16 * 16] + i % 16 || !(kpageflags(pfns[i]) & (1ULL << KPF_THP_BIT)))
			SKIP(return, "no 64 kB folios were allocated");
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, len, 0).ret);
	for (int i = 0; i < 64; i++) {
		uint64_t f;

		ASSERT_EQ(pfns[i], pfn_of(b + i * PAGE)) TH_LOG("page %d was copied", i);
		f = kpageflags(pfns[i]);
		ASSERT_TRUE(f & (1ULL << KPF_THP_BIT)) TH_LOG("page %d's folio was split", i);
		ASSERT_EQ(i % 16 == 0, !!(f & (1ULL << 15))) TH_LOG("page %d: compound head?", i);
	}
	ASSERT_EQ(-1, check_pages(b, len, 23));
	ASSERT_TRUE(all_zero(a, len));
	/* The rmap names b: page out from there and read back. */
	page_out(b, len);
	ASSERT_EQ(-1, check_pages(b, len, 23));
}

/* A PMD-mapped THP moves whole between aligned ranges, and stays a THP. */
TEST_F(move, thp_moved_whole)
{
	char *a = map_anon(2 * PMD, true, true), *b = map_anon(2 * PMD, true, true);
	uint64_t pfn;

	fill_pages(a, PMD, 15);
	if (!is_thp(a))
		SKIP(return, "no THP at the source (THP disabled or memory fragmented)");
	pfn = pfn_of(a);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PMD, 0).ret);
	ASSERT_TRUE(is_thp(b));
	ASSERT_EQ(pfn, pfn_of(b));
	ASSERT_EQ(pfn + 511, pfn_of(b + PMD - PAGE));
	ASSERT_EQ(-1, check_pages(b, PMD, 15));
	ASSERT_TRUE(all_zero(a, PMD));
	/* The rmap of the THP names b. */
	if (have_swap()) {
		ASSERT_GT(page_out(b, PMD), PMD / PAGE / 2);
		ASSERT_EQ(-1, check_pages(b, PMD, 15));
	}
}

/*
 * Eight THPs in one request move as a run (one PMD-lock pair, one flush): every one stays
 * a THP with its PFNs, the rmap names the destination; with the sixth pinned by an io_uring
 * buffer the run stops there: moved = 5 THPs and, as UFFDIO_MOVE reports a partial move,
 * EAGAIN; the rest stays, and moves once the pin is gone.
 */
/* 8.4 s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(move, thp_run_moved_whole_and_stops_at_pin, 35)
{
	const int n = 8;
	char *a = map_anon(n * PMD, true, true), *b = map_anon(n * PMD, true, true);
	struct io_uring_params params = { 0 };
	struct iovec iov;
	uint64_t pfn[8];
	struct move_res r;
	int ring;

	fill_pages(a, n * PMD, 16);
	for (int i = 0; i < n; i++) {
		if (!is_thp(a + i * PMD))
			SKIP(return, "no THP at the source (THP disabled or memory fragmented)");
		pfn[i] = pfn_of(a + i * PMD);
	}
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, n * PMD, 0).ret);
	for (int i = 0; i < n; i++) {
		ASSERT_TRUE(is_thp(b + i * PMD)) TH_LOG("THP %d", i);
		ASSERT_EQ(pfn[i], pfn_of(b + i * PMD)) TH_LOG("THP %d", i);
		ASSERT_EQ(pfn[i] + 511, pfn_of(b + (i + 1) * PMD - PAGE)) TH_LOG("THP %d", i);
	}
	ASSERT_EQ(-1, check_pages(b, n * PMD, 16));
	ASSERT_TRUE(all_zero(a, n * PMD));
	/* Reading a mapped the (huge) zero page there: empty it again. */
	ASSERT_EQ(0, madvise(a, n * PMD, MADV_DONTNEED));

	/* Back, with the sixth pinned. */
	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0)
		SKIP(return, "io_uring_setup: %s", strerror(errno));
	iov.iov_base = b + 5 * PMD + 3 * PAGE;
	iov.iov_len = PAGE;
	ASSERT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1));
	r = pgmove_do_move(self->fd, (unsigned long)a, (unsigned long)b, n * PMD, 0);
	EXPECT_EQ(-1, r.ret);
	EXPECT_EQ(EAGAIN, r.err);
	EXPECT_EQ(5 * PMD, r.moved);
	/* Then the pinned THP itself: EBUSY, nothing moved. */
	EXPECT_FAIL(pgmove_do_move(self->fd, (unsigned long)a + 5 * PMD, (unsigned long)b + 5 * PMD,
				   3 * PMD, 0), EBUSY);
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(pfn[i], pfn_of((i < 5 ? a : b) + i * PMD)) TH_LOG("THP %d", i);
	}
	ASSERT_EQ(0, syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0));
	close(ring);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)a + 5 * PMD,
				    (unsigned long)b + 5 * PMD, 3 * PMD, 0).ret);
	ASSERT_EQ(-1, check_pages(a, n * PMD, 16));
	for (int i = 0; i < n; i++) {
		ASSERT_TRUE(is_thp(a + i * PMD)) TH_LOG("THP %d", i);
	}
	/* The rmap of every THP names a. */
	if (have_swap()) {
		ASSERT_GT(page_out(a, n * PMD), n * PMD / PAGE / 2);
		ASSERT_EQ(-1, check_pages(a, n * PMD, 16));
	}
}

/* Misaligned: the THP is split, its pages move one by one, same PFNs. */
TEST_F(move, thp_split_when_misaligned)
{
	char *a = map_anon(2 * PMD, true, true), *b = map_anon(2 * PMD, true, true);
	uint64_t pfn;

	/* Small pages at b: keep khugepaged from collapsing them (new PFNs) before the check. */
	madvise(b, 2 * PMD, MADV_NOHUGEPAGE);
	fill_pages(a, PMD, 16);
	if (!is_thp(a))
		SKIP(return, "no THP at the source");
	pfn = pfn_of(a + PAGE);
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b + PAGE, (unsigned long)a + PAGE,
				    PMD - 2 * PAGE, 0).ret);
	ASSERT_FALSE(is_thp(b + PAGE));
	ASSERT_EQ(pfn, pfn_of(b + PAGE));
	ASSERT_EQ(-1, check_pages(a, PAGE, 16));
	ASSERT_EQ(-1, check_pages_from(b + PAGE, 1, PMD - 2 * PAGE, 16));
	ASSERT_TRUE(all_zero(a + PAGE, PMD - 2 * PAGE));
}

/* Shorter than a PMD from an aligned start: split too. */
TEST_F(move, thp_split_when_short)
{
	char *a = map_anon(2 * PMD, true, true), *b = map_anon(2 * PMD, true, true);

	fill_pages(a, PMD, 17);
	if (!is_thp(a))
		SKIP(return, "no THP at the source");
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PMD / 2, 0).ret);
	ASSERT_EQ(-1, check_pages(b, PMD / 2, 17));
	ASSERT_EQ(-1, check_pages_from(a + PMD / 2, 256, PAGE, 17));
}

static bool huge_zero_enabled(void)
{
	return pgmove_read_number("/sys/kernel/mm/transparent_hugepage/use_zero_page", 10) == 1;
}

/* The huge zero page moves whole (6.12 once dereferenced a NULL folio for it). */
TEST_F(move, huge_zero_page_whole)
{
	char *a = map_anon(2 * PMD, true, true), *b = map_anon(2 * PMD, true, true);
	volatile char c = a[0];
	uint64_t zpfn = pfn_of(a);

	(void)c;
	if (!huge_zero_enabled() || !is_thp(a))
		SKIP(return, "no huge zero page");
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b, (unsigned long)a, PMD, 0).ret);
	ASSERT_EQ(zpfn, pfn_of(b));
	ASSERT_TRUE(all_zero(b, PMD));
	ASSERT_EQ(0, pagemap_entry(a) & PM_PRESENT);
}

/* Split path: 6.12 once treated the huge zero page as an exclusive anon folio (EBUSY/BUG). */
TEST_F(move, huge_zero_page_split)
{
	char *a = map_anon(2 * PMD, true, true), *b = map_anon(2 * PMD, true, true);
	volatile char c = a[0];

	(void)c;
	if (!huge_zero_enabled() || !is_thp(a))
		SKIP(return, "no huge zero page");
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b + PAGE, (unsigned long)a + PAGE,
				    4 * PAGE, 0).ret);
	ASSERT_TRUE(kpageflags(pfn_of(b + PAGE)) & (1ULL << KPF_ZERO_PAGE_BIT));
	ASSERT_TRUE(all_zero(b, PMD));
}

/* mTHP (64 kB folios): split and moved page by page, same PFNs. */
TEST_F(move, mthp_split)
{
	unsigned long len = 64 * PAGE;
	char *a = map_anon(len, true, false), *b = map_anon(len, true, false);
	uint64_t pfns[64];

	if (!fill_pages_mthp(a, len, 18))
		SKIP(return, "no 64 kB mTHP in this kernel");
	for (int i = 0; i < 64; i++)
		pfns[i] = pfn_of(a + i * PAGE);
	if (pfns[1] != pfns[0] + 1 || pfns[15] != pfns[0] + 15)
		SKIP(return, "no 64 kB folio was allocated");
	ASSERT_EQ(0, pgmove_do_move(self->fd, (unsigned long)b + PAGE, (unsigned long)a + PAGE,
				    len - PAGE, 0).ret);
	for (int i = 1; i < 64; i++)
		ASSERT_EQ(pfns[i], pfn_of(b + i * PAGE));
	ASSERT_EQ(-1, check_pages_from(b + PAGE, 1, len - PAGE, 18));
	ASSERT_EQ(-1, check_pages(a, PAGE, 18));
	ASSERT_TRUE(all_zero(a + PAGE, len - PAGE));
}

/* 6.12 stable fix: waiting for a large folio's lock with a raised refcount livelocked
 * concurrent movers of the same folio. Two threads move halves of one mTHP-backed THP. */
struct half_arg {
	int fd;
	char *dst, *src;
	unsigned long len;
	int ret;
};

static void *move_half(void *p)
{
	struct half_arg *h = p;
	unsigned long done = 0;

	while (done < h->len) {
		struct move_res r = pgmove_do_move(h->fd, (unsigned long)h->dst + done,
						   (unsigned long)h->src + done, h->len - done, 0);
		if (r.ret && r.err != EAGAIN) {
			h->ret = r.err;
			return NULL;
		}
		done += r.moved > 0 ? r.moved : 0;
	}
	h->ret = 0;
	return NULL;
}

TEST_F(move, large_folio_concurrent_movers_no_livelock)
{
	char *a = map_anon(2 * PMD, true, true), *b = map_anon(2 * PMD, true, true);
	struct half_arg h1 = { self->fd, b + PAGE, a + PAGE, PMD / 2 - PAGE, -1 };
	struct half_arg h2 = { self->fd, b + PMD / 2, a + PMD / 2, PMD / 2, -1 };
	pthread_t t1, t2;

	fill_pages(a, PMD, 19);
	if (!is_thp(a))
		SKIP(return, "no THP at the source");
	/* Make it a PTE-mapped large folio: both movers then find it large. */
	ASSERT_EQ(0, mprotect(a + PAGE, PAGE, PROT_READ));
	ASSERT_EQ(0, mprotect(a + PAGE, PAGE, PROT_READ | PROT_WRITE));
	alarm(120);
	pthread_create(&t1, NULL, move_half, &h1);
	pthread_create(&t2, NULL, move_half, &h2);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	alarm(0);
	ASSERT_EQ(0, h1.ret);
	ASSERT_EQ(0, h2.ret);
	ASSERT_EQ(-1, check_pages(a, PAGE, 19));
	ASSERT_EQ(-1, check_pages_from(b + PAGE, 1, PMD - PAGE, 19));
}

/* 6.12 fix: a PMD migration entry at the source was passed to pmd_folio(). Race THP moves
 * (whole and split paths) against compaction, which migrates THPs through PMD migration
 * entries; the contents must survive and the kernel log stay clean. */
static volatile bool compacting;

static void *compactor(void *arg)
{
	(void)arg;
	while (compacting)
		write_file("/proc/sys/vm/compact_memory", "1");
	return NULL;
}

TEST_F(move, thp_moves_race_compaction)
{
	pthread_t t;
	int thps = 0;

	compacting = true;
	pthread_create(&t, NULL, compactor, NULL);
	for (int i = 0; i < 12; i++) {
		char *a = map_anon(2 * PMD, true, true), *b = map_anon(2 * PMD, true, true);
		unsigned long off = (i % 2) ? PAGE : 0;
		unsigned long done = 0, len = PMD - 2 * off;

		fill_pages(a, PMD, 100 + i);
		thps += is_thp(a);
		while (done < len) {
			struct move_res r = pgmove_do_move(self->fd, (unsigned long)b + off + done,
							   (unsigned long)a + off + done,
							   len - done, 0);

			ASSERT_TRUE(r.ret == 0 || r.err == EAGAIN) TH_LOG("errno %d", r.err);
			done += r.moved > 0 ? r.moved : 0;
		}
		ASSERT_EQ(-1, check_pages_from(b + off, off / PAGE, len, 100 + i));
		munmap(a, 2 * PMD);
		munmap(b, 2 * PMD);
	}
	compacting = false;
	pthread_join(t, NULL);
	TH_LOG("%d of 12 sources were THPs", thps);
	ASSERT_GT(thps, 0);
}

/*
 * Regression test of the upstream fix "userfaultfd: fix race of userfaultfd_move and swap
 * cache": a move looks up the swap-cache folio of a swap entry without holding its lock; by
 * the time it holds it, the folio may have left the swap cache and its slot been reused by
 * another page, or a folio may be entering the swap cache for the entry. Moving that folio
 * would map another page's contents at the destination. Here a mover shuttles swapped-out
 * pages between two ranges while one thread reads them into the swap cache behind its back
 * (MADV_WILLNEED on both ranges) and another frees and reuses swap slots (write, page out,
 * MADV_DONTNEED on a third range). Every page must keep its contents.
 */
struct swap_churn {
	char *a, *b, *c;
	unsigned long len, clen;
	volatile bool stop;
	long willneeds, reuses;
};

static void *swap_reader(void *p)
{
	struct swap_churn *s = p;

	while (!s->stop) {
		madvise(s->a, s->len, MADV_WILLNEED);
		madvise(s->b, s->len, MADV_WILLNEED);
		s->willneeds++;
	}
	return NULL;
}

static void *swap_reuser(void *p)
{
	struct swap_churn *s = p;

	for (unsigned long seed = 1000; !s->stop; seed++) {
		fill_pages(s->c, s->clen, seed);
		madvise(s->c, s->clen, MADV_PAGEOUT);
		if (check_pages(s->c, s->clen, seed) != -1)
			s->reuses = -1;		/* the bystander lost contents */
		madvise(s->c, s->clen, MADV_PAGEOUT);
		madvise(s->c, s->clen, MADV_DONTNEED);	/* frees the slots for reuse */
		if (s->reuses >= 0)
			s->reuses++;
	}
	return NULL;
}

static int move_all(int fd, char *dst, char *src, unsigned long len)
{
	unsigned long done = 0;

	while (done < len) {
		struct move_res r = pgmove_do_move(fd, (unsigned long)dst + done,
						   (unsigned long)src + done, len - done, 0);

		if (r.ret && r.err != EAGAIN)
			return r.err;
		done += r.moved > 0 ? r.moved : 0;
	}
	return 0;
}

/* 12 s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(move, swap_cache_race_moves_the_right_folio, 60)
{
	struct swap_churn s = { .len = 64 * PAGE, .clen = 128 * PAGE };
	pthread_t reader, reuser;
	long swapped = 0, rounds = 200;

	if (!have_swap())
		SKIP(return, "no swap");
	s.a = map_anon(s.len, false, false);
	s.b = map_anon(s.len, false, false);
	s.c = map_anon(s.clen, false, false);
	ASSERT_TRUE(s.a && s.b && s.c);
	fill_pages(s.a, s.len, 77);
	pthread_create(&reader, NULL, swap_reader, &s);
	pthread_create(&reuser, NULL, swap_reuser, &s);
	for (long i = 0; i < rounds; i++) {
		swapped += page_out(s.a, s.len);
		ASSERT_EQ(0, move_all(self->fd, s.b, s.a, s.len)) TH_LOG("round %ld a -> b", i);
		ASSERT_EQ(0, move_all(self->fd, s.a, s.b, s.len)) TH_LOG("round %ld b -> a", i);
		if (i % 16 == 15) {
			long bad = check_pages(s.a, s.len, 77);

			ASSERT_EQ(-1, bad) TH_LOG("round %ld: page %ld holds another page's contents", i, bad);
		}
	}
	s.stop = true;
	pthread_join(reader, NULL);
	pthread_join(reuser, NULL);
	ASSERT_EQ(-1, check_pages(s.a, s.len, 77));
	ASSERT_TRUE(all_zero(s.b, s.len));
	ASSERT_GE(s.reuses, 0) TH_LOG("the slot-reusing bystander lost contents");
	TH_LOG("%ld rounds, %ld swap entries moved there and back, %ld WILLNEED passes, %ld slot reuse cycles",
	       rounds, swapped, s.willneeds, s.reuses);
	ASSERT_GT(swapped, rounds * 32) TH_LOG("too few pages were swapped out to test anything");
}

/*
 * Whole-mTHP moves under concurrency: 4 64 kB folios shuttle between two aligned ranges
 * while compaction migrates them (migration entries at the source) and another thread
 * walks their page tables through pagemap and MADV_COLD (rmap walks of the folios).
 * Contents and the census must survive; the kernel log must stay clean.
 */
static volatile bool mthp_racing;

static void *mthp_disturber(void *p)
{
	char **ab = p;

	while (mthp_racing) {
		write_file("/proc/sys/vm/compact_memory", "1");
		for (int i = 0; i < 2; i++) {
			madvise(ab[i], 64 * PAGE, MADV_COLD);
			(void)pagemap_entry(ab[i] + 17 * PAGE);
		}
	}
	return NULL;
}

TEST_F(move, mthp_moves_race_compaction)
{
	unsigned long len = 64 * PAGE;
	char *ab[2] = { map_anon(len, true, false), map_anon(len, true, false) };
	long whole = 0, rounds = 150;
	pthread_t t;

	if (!fill_pages_mthp(ab[0], len, 29))
		SKIP(return, "no 64 kB mTHP in this kernel");
	if (!(kpageflags(pfn_of(ab[0])) & (1ULL << KPF_THP_BIT)))
		SKIP(return, "no 64 kB folios were allocated");
	mthp_racing = true;
	pthread_create(&t, NULL, mthp_disturber, ab);
	for (long i = 0; i < rounds; i++) {
		char *from = ab[i % 2], *to = ab[(i + 1) % 2];

		ASSERT_EQ(0, move_all(self->fd, to, from, len)) TH_LOG("round %ld", i);
		whole += !!(kpageflags(pfn_of(to + 16 * PAGE)) & (1ULL << KPF_THP_BIT));
	}
	mthp_racing = false;
	pthread_join(t, NULL);
	ASSERT_EQ(-1, check_pages(ab[rounds % 2], len, 29));
	ASSERT_TRUE(all_zero(ab[(rounds + 1) % 2], len));
	TH_LOG("%ld rounds; the second folio was still large after %ld of them", rounds, whole);
}

TEST_HARNESS_MAIN
