// SPDX-License-Identifier: GPL-2.0
/*
 * PGMOVE_IOC_RECLAIM: which PTE tables it frees and which it keeps, the accounting (VmPTE,
 * PageTables), other processes through a pidfd and the rights that needs, every errno of
 * Documentation/reclaim.rst, and MOVE's PGMOVE_MOVE_RECLAIM_SRC.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "pgmove_harness.h"
#include "move_util.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << 26)
#endif

FIXTURE(reclaim)
{
	int fd;
};

FIXTURE_SETUP(reclaim)
{
	self->fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", PGMOVE_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(reclaim)
{
	close(self->fd);
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/*
 * Write-faults every page (a PTE table per 2 MiB): MADV_POPULATE_WRITE, which runs the
 * same fault path as a store without trapping 512 times (much faster under TCG).
 */
static void touch(char *p, unsigned long len)
{
	if (madvise(p, len, MADV_POPULATE_WRITE))
		for (unsigned long off = 0; off < len; off += PAGE)
			p[off] = 1;
}

/* Reads every page (maps the shared zero page where nothing is mapped). */
static void read_touch(const char *p, unsigned long len)
{
	for (unsigned long off = 0; off < len; off += PAGE)
		(void)*(volatile const char *)(p + off);
}

/* The range of a mapping named in /proc/self/maps ("[vvar]"); false if there is none. */
static bool find_mapping(const char *name, unsigned long *start, unsigned long *end)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (n && line[n - 1] == '\n')
			line[--n] = 0;
		if (n >= strlen(name) && !strcmp(line + n - strlen(name), name))
			found = sscanf(line, "%lx-%lx", start, end) == 2;
	}
	fclose(f);
	return found;
}

/* A large PMD-aligned MAP_NORESERVE area of 4 kB pages (no THP). */
static char *map_big(unsigned long len)
{
	char *p = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	p = (char *)(((unsigned long)p + PMD - 1) & ~(PMD - 1));
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define EXPECT_RECLAIM_FAIL(res, e)                                                        \
	do {                                                                               \
		ASSERT_EQ(-1, (res).ret);                                                  \
		ASSERT_EQ((e), (res).err);                                                 \
		ASSERT_EQ(0, (res).r.scanned) TH_LOG("out fields must be written (zero)"); \
		ASSERT_EQ(0, (res).r.freed);                                               \
		ASSERT_EQ(0, (res).r.busy);                                                \
		ASSERT_EQ(0, (res).r.ineligible);                                          \
	} while (0)

TEST_F(reclaim, info_reports_feat_reclaim)
{
	struct pgmove_info info;

	ASSERT_EQ(0, ioctl(self->fd, PGMOVE_IOC_INFO, &info));
	ASSERT_TRUE(info.features & PGMOVE_FEAT_RECLAIM);
	ASSERT_TRUE(info.features & PGMOVE_FEAT_RECLAIM_ZEROPAGE);
}

/*
 * The workload of upstream's PT_RECLAIM series: 8 GiB, "touch 2 MiB; MADV_DONTNEED 2 MiB".
 * On 6.12 every table stays (VmPTE ~16 MB); RECLAIM must free at least 99% of the VmPTE
 * bytes, and VmPTE must fall by exactly 4 kB per table it says it freed. PageTables in
 * /proc/meminfo follows once the RCU grace period has passed.
 */
/* 114 s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(reclaim, upstream_workload_8g, 460)
{
	unsigned long size = 8UL << 30, tables = size / PMD;
	char *p = map_big(size);
	long long before, after, pt_before, pt_after = 0;
	struct reclaim_res res;
	double t;

	ASSERT_NE(NULL, p) TH_LOG("mmap 8 GiB: %s", strerror(errno));
	t = now();
	for (unsigned long off = 0; off < size; off += PMD) {
		touch(p + off, PMD);
		ASSERT_EQ(0, madvise(p + off, PMD, MADV_DONTNEED));
		pgmove_progress("touched and DONTNEEDed %lu of 8192 MiB", (off + PMD) >> 20);
	}
	TH_LOG("touch + DONTNEED of 8 GiB took %.1f s", now() - t);
	before = vmpte_kb(0);
	ASSERT_GE(before, (long long)tables * 4) TH_LOG("MADV_DONTNEED freed tables on 6.12?");
	pt_before = pgmove_read_keyed("/proc/meminfo", "PageTables:");
	t = now();
	res = pgmove_do_reclaim(self->fd, p, size, 0);
	t = now() - t;
	after = vmpte_kb(0);
	ASSERT_EQ(0, res.ret) TH_LOG("errno %d", res.err);
	TH_LOG("VmPTE %lld kB -> %lld kB; scanned %llu freed %llu busy %llu ineligible %llu; %.3f s",
	       before, after, res.r.scanned, res.r.freed, res.r.busy, res.r.ineligible, t);
	ASSERT_EQ(tables, res.r.freed);
	ASSERT_EQ(tables, res.r.scanned);
	ASSERT_EQ(0, res.r.busy);
	ASSERT_EQ(0, res.r.ineligible);
	ASSERT_EQ((long long)res.r.freed * 4, before - after) TH_LOG("counters and VmPTE disagree");
	ASSERT_GE((before - after) * 100, before * 99) TH_LOG("less than 99%% of VmPTE freed");
	/* PageTables drops once the tables are really freed, after an RCU grace period. */
	for (int i = 0; i < 100; i++) {
		pt_after = pgmove_read_keyed("/proc/meminfo", "PageTables:");
		if (pt_before - pt_after >= (long long)tables * 4 - 1024)
			break;
		usleep(50000);
	}
	TH_LOG("PageTables %lld kB -> %lld kB", pt_before, pt_after);
	ASSERT_GE(pt_before - pt_after, (long long)tables * 4 - 1024);
	ASSERT_TRUE(all_zero(p, PMD));
	munmap(p, size);
}

/* Tables emptied by 4 kB MADV_DONTNEEDs in random order: all freed, contents zero. */
TEST_F(reclaim, piecemeal_dontneed_random_order)
{
	unsigned long len = 32 * PMD, n = len / PAGE;
	char *p = map_anon(len, true, false);
	unsigned int *order = malloc(n * sizeof(*order));
	long long before, after;
	struct reclaim_res res;

	ASSERT_NE(NULL, p);
	fill_pages(p, len, 7);
	for (unsigned long i = 0; i < n; i++)
		order[i] = i;
	srand(12345);
	for (unsigned long i = n - 1; i > 0; i--) {
		unsigned long j = rand() % (i + 1);
		unsigned int t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (unsigned long i = 0; i < n; i++)
		ASSERT_EQ(0, madvise(p + order[i] * PAGE, PAGE, MADV_DONTNEED));
	before = vmpte_kb(0);
	res = pgmove_do_reclaim(self->fd, p, len, 0);
	after = vmpte_kb(0);
	ASSERT_EQ(0, res.ret);
	ASSERT_EQ(32, res.r.freed);
	ASSERT_EQ(32, res.r.scanned);
	ASSERT_EQ(128, before - after);
	ASSERT_TRUE(all_zero(p, len));
	/* Faulting again builds new tables. */
	fill_pages(p, len, 8);
	ASSERT_EQ(-1, check_pages(p, len, 8));
	ASSERT_EQ(before, vmpte_kb(0));
	free(order);
}

/* Tables emptied by MADV_FREE once reclaim discarded the (clean, lazily freed) pages. */
TEST_F(reclaim, piecemeal_madv_free_discarded)
{
	unsigned long len = 16 * PMD;
	char *p = map_anon(len, true, false);
	long long before, after;
	struct reclaim_res res;
	unsigned long present = 0;

	ASSERT_NE(NULL, p);
	fill_pages(p, len, 9);
	ASSERT_EQ(0, madvise(p, len, MADV_FREE));
	/*
	 * MADV_PAGEOUT discards lazily freed clean pages instead of swapping them; a page that
	 * was briefly off the LRU (a per-CPU batch) is skipped, so try a few times.
	 */
	for (int tries = 0; tries < 10; tries++) {
		ASSERT_EQ(0, madvise(p, len, MADV_PAGEOUT));
		present = 0;
		for (unsigned long off = 0; off < len; off += PAGE)
			present += !!(pagemap_entry(p + off) & (PM_PRESENT | PM_SWAP));
		if (!present)
			break;
	}
	ASSERT_EQ(0, present) TH_LOG("%lu pages were not discarded", present);
	before = vmpte_kb(0);
	res = pgmove_do_reclaim(self->fd, p, len, 0);
	after = vmpte_kb(0);
	ASSERT_EQ(0, res.ret);
	ASSERT_EQ(16, res.r.freed);
	ASSERT_EQ(0, res.r.busy);
	ASSERT_EQ(64, before - after);
	ASSERT_TRUE(all_zero(p, len));
}

static sigjmp_buf sigbus_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(sigbus_jmp, 1);
}

/* Whether reading the byte at p raises SIGBUS (a poison marker). */
static bool read_sigbus(const char *p)
{
	struct sigaction sa = { .sa_handler = on_sigbus }, old;
	bool bus = false;

	sigaction(SIGBUS, &sa, &old);
	if (sigsetjmp(sigbus_jmp, 1))
		bus = true;
	else
		(void)*(volatile const char *)p;
	sigaction(SIGBUS, &old, NULL);
	return bus;
}

/* Installs a poison PTE marker at p (UFFDIO_POISON), then unregisters; false if unsupported. */
static bool poison_marker(char *p)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_POISON };
	struct uffdio_range range = { .start = (unsigned long)p, .len = PAGE };
	struct uffdio_poison poison = { .range = range };
	int uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	bool ok;

	if (uffd < 0)
		return false;
	ok = !ioctl(uffd, UFFDIO_API, &api) && (api.features & UFFD_FEATURE_POISON) &&
	     !uffd_register(uffd, (unsigned long)p, PAGE) &&
	     !ioctl(uffd, UFFDIO_POISON, &poison) &&
	     !ioctl(uffd, UFFDIO_UNREGISTER, &range);
	close(uffd);
	return ok;
}

/*
 * One live page, a swap entry, or a PTE marker keeps its table; an empty table next to
 * them goes. Contents everywhere unchanged.
 */
TEST_F(reclaim, entry_in_use_keeps_table)
{
	unsigned long len = 4 * PMD;
	char *p = map_anon(len, true, false);
	long long before, after;
	struct reclaim_res res;
	bool swapped = have_swap(), marker;

	ASSERT_NE(NULL, p);
	fill_pages(p, len, 11);
	/* Table 0: one live page (the last one, so the whole table is looked at). */
	ASSERT_EQ(0, madvise(p, PMD - PAGE, MADV_DONTNEED));
	/* Table 1: one page swapped out. */
	ASSERT_EQ(0, madvise(p + PMD, PMD - PAGE, MADV_DONTNEED));
	if (swapped)
		swapped = page_out(p + 2 * PMD - PAGE, PAGE) == 1;
	/* Table 2: only a poison marker. */
	ASSERT_EQ(0, madvise(p + 2 * PMD, PMD, MADV_DONTNEED));
	marker = poison_marker(p + 3 * PMD - PAGE);
	/* Table 3: empty. */
	ASSERT_EQ(0, madvise(p + 3 * PMD, PMD, MADV_DONTNEED));
	before = vmpte_kb(0);
	res = pgmove_do_reclaim(self->fd, p, len, PGMOVE_RECLAIM_ZEROPAGE);
	after = vmpte_kb(0);
	ASSERT_EQ(0, res.ret);
	TH_LOG("swap entry %s, marker %s; freed %llu busy %llu", swapped ? "yes" : "no",
	       marker ? "yes" : "no", res.r.freed, res.r.busy);
	ASSERT_EQ(4, res.r.scanned);
	ASSERT_EQ(2 - marker, res.r.freed);
	ASSERT_EQ(2 + marker, res.r.busy);
	ASSERT_EQ((long long)res.r.freed * 4, before - after);
	ASSERT_EQ(-1, check_pages_from(p + PMD - PAGE, 511, PAGE, 11));
	if (swapped) {
		ASSERT_TRUE(pagemap_entry(p + 2 * PMD - PAGE) & PM_SWAP);
	}
	ASSERT_EQ(-1, check_pages_from(p + 2 * PMD - PAGE, 1023, PAGE, 11));
	if (marker) {
		ASSERT_TRUE(read_sigbus(p + 3 * PMD - PAGE)) TH_LOG("the poison marker is gone");
	}
	ASSERT_TRUE(all_zero(p, PMD - PAGE));
	ASSERT_TRUE(all_zero(p + 3 * PMD, PMD));
	if (!swapped || !marker)
		SKIP(return, "%s%s", swapped ? "" : "no swap entry (no swap); ",
		     marker ? "" : "no UFFDIO_POISON marker");
}

/*
 * Migration entries keep their tables: compaction migrates pages (each alone in its table)
 * while RECLAIM loops over them; no table with a page or a migration entry is freed, and
 * every page keeps its contents.
 */
/* 56 s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(reclaim, migration_entries_keep_tables, 240)
{
	unsigned long tables = 64, len = tables * PMD, migrated = 0;
	char *p = map_anon(len, true, false);
	uint64_t *pfns = calloc(tables, sizeof(*pfns));
	int rounds = 0, attempt;

	ASSERT_NE(NULL, p);
	/*
	 * Compaction only migrates pages below the point where its scanners meet: where the
	 * allocator put them decides. Each attempt takes fresh pages (freeing a filler around
	 * them first, so they land amid free memory) until compaction moves some.
	 */
	for (attempt = 0; attempt < 4 && !migrated; attempt++) {
		unsigned long filler_len = 256UL << 20;
		char *filler = map_anon(filler_len, false, false);
		pid_t compactor;
		double end;

		ASSERT_EQ(0, madvise(p, len, MADV_DONTNEED));
		for (unsigned long off = 0; filler && off < filler_len; off += PAGE)
			filler[off] = 1;
		for (unsigned long t = 0; t < tables; t++) {
			fill_pages(p + t * PMD + (t % 512) * PAGE, PAGE, 12 + t + attempt);
			pfns[t] = pfn_of(p + t * PMD + (t % 512) * PAGE);
		}
		if (filler)
			munmap(filler, filler_len);
		compactor = fork();
		ASSERT_GE(compactor, 0);
		if (!compactor) {
			for (;;)
				write_file("/proc/sys/vm/compact_memory", "1");
		}
		end = now() + 4;
		while (now() < end) {
			struct reclaim_res res = pgmove_do_reclaim(self->fd, p, len, 0);

			ASSERT_EQ(0, res.ret);
			ASSERT_EQ(0, res.r.freed);
			ASSERT_EQ(tables, res.r.busy);
			rounds++;
		}
		kill(compactor, SIGKILL);
		waitpid(compactor, NULL, 0);
		pgmove_progress_done("attempt %d: %d reclaim rounds under compaction", attempt + 1,
				     rounds);
		for (unsigned long t = 0; t < tables; t++) {
			char *page = p + t * PMD + (t % 512) * PAGE;

			ASSERT_EQ(-1, check_pages_from(page, 0, PAGE, 12 + t + attempt))
				TH_LOG("table %lu", t);
			migrated += pfn_of(page) != pfns[t];
		}
	}
	TH_LOG("%d reclaim rounds in %d attempts, %lu pages migrated meanwhile", rounds, attempt,
	       migrated);
	if (!migrated)
		SKIP(return, "compaction migrated none of the pages");
}

/* Zero-page tables: kept without PGMOVE_RECLAIM_ZEROPAGE, freed with it, reading zeros. */
TEST_F(reclaim, zeropage_flag)
{
	unsigned long len = 8 * PMD;
	char *p = map_anon(len, true, false);
	long long before, after;
	struct reclaim_res res;
	uint64_t zpfn;

	ASSERT_NE(NULL, p);
	read_touch(p, len);
	zpfn = pfn_of(p);
	ASSERT_TRUE(kpageflags(zpfn) & (1ULL << KPF_ZERO_PAGE_BIT));
	/* The last table also holds one live page: kept even with the flag. */
	p[len - PAGE] = 5;
	before = vmpte_kb(0);
	res = pgmove_do_reclaim(self->fd, p, len, 0);
	ASSERT_EQ(0, res.ret);
	ASSERT_EQ(0, res.r.freed);
	ASSERT_EQ(8, res.r.busy);
	ASSERT_EQ(before, vmpte_kb(0));
	res = pgmove_do_reclaim(self->fd, p, len, PGMOVE_RECLAIM_ZEROPAGE);
	after = vmpte_kb(0);
	ASSERT_EQ(0, res.ret);
	ASSERT_EQ(7, res.r.freed);
	ASSERT_EQ(1, res.r.busy);
	ASSERT_EQ(28, before - after);
	ASSERT_EQ(0, pagemap_entry(p) & PM_PRESENT) TH_LOG("zero page still mapped");
	ASSERT_EQ(zpfn, pfn_of(p + len - 2 * PAGE)) TH_LOG("kept table lost its zero pages");
	ASSERT_TRUE(all_zero(p, len - PAGE));
	ASSERT_EQ(5, p[len - PAGE]);
}

/* The kinds of ineligible VMA a test can create here. */
enum kind { FILE_PRIVATE, FILE_SHARED, SHARED_ANON, UFFD_REGISTERED, NKINDS };
static const char *const kind_names[] = { "file MAP_PRIVATE", "file MAP_SHARED",
					  "MAP_SHARED|MAP_ANONYMOUS", "userfaultfd-registered" };

/*
 * A VMA of one kind at a PMD-aligned address, so its tables map only it, filled with
 * fill_pages(seed); NULL on failure.
 */
static char *map_kind(enum kind k, unsigned long len, unsigned long seed, int *uffd)
{
	char *reserve = mmap(NULL, len + 2 * PMD, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a = (char *)(((unsigned long)reserve + PMD) & ~(PMD - 1));
	int memfd = -1, flags = MAP_FIXED;
	char *p;

	if (reserve == MAP_FAILED)
		return NULL;
	switch (k) {
	case FILE_PRIVATE:
	case FILE_SHARED:
		memfd = memfd_create("pgmove", 0);
		if (memfd < 0 || ftruncate(memfd, len))
			return NULL;
		flags |= k == FILE_PRIVATE ? MAP_PRIVATE : MAP_SHARED;
		break;
	case SHARED_ANON:
		flags |= MAP_SHARED | MAP_ANONYMOUS;
		break;
	default:
		flags |= MAP_PRIVATE | MAP_ANONYMOUS;
		break;
	}
	p = mmap(a, len, PROT_READ | PROT_WRITE, flags, memfd, 0);
	if (memfd >= 0)
		close(memfd);
	if (p != a)
		return NULL;
	madvise(p, len, MADV_NOHUGEPAGE);
	/* Filled before registering: a fault in a registered range waits for a handler. */
	fill_pages(p, len, seed);
	if (k == UFFD_REGISTERED) {
		*uffd = uffd_open();
		if (*uffd < 0 || uffd_register(*uffd, (unsigned long)p, len))
			return NULL;
	}
	return p;
}

/*
 * Tables of ineligible VMAs are counted as ineligible and left alone, empty or not:
 * file-backed (private and shared), shared anonymous, userfaultfd-registered.
 */
TEST_F(reclaim, ineligible_vmas_untouched)
{
	unsigned long len = 4 * PMD;

	for (int k = 0; k < NKINDS; k++) {
		int uffd = -1;
		char *p = map_kind(k, len, 20 + k, &uffd);
		bool shared = k == FILE_SHARED || k == SHARED_ANON;
		long long before;
		struct reclaim_res res;

		ASSERT_NE(NULL, p) TH_LOG("%s: %s", kind_names[k], strerror(errno));
		/* Tables 0 and 1 emptied; 2 and 3 keep their pages. */
		ASSERT_EQ(0, madvise(p, 2 * PMD, MADV_DONTNEED));
		before = vmpte_kb(0);
		res = pgmove_do_reclaim(self->fd, p, len, PGMOVE_RECLAIM_ZEROPAGE);
		TH_LOG("%-26s scanned %llu freed %llu busy %llu ineligible %llu", kind_names[k],
		       res.r.scanned, res.r.freed, res.r.busy, res.r.ineligible);
		ASSERT_EQ(0, res.ret);
		ASSERT_EQ(4, res.r.scanned) TH_LOG("%s", kind_names[k]);
		ASSERT_EQ(4, res.r.ineligible) TH_LOG("%s", kind_names[k]);
		ASSERT_EQ(0, res.r.freed) TH_LOG("%s", kind_names[k]);
		ASSERT_EQ(before, vmpte_kb(0)) TH_LOG("%s", kind_names[k]);
		/* Unregister before reading: a missing page would wait for a userfault. */
		if (uffd >= 0)
			close(uffd);
		ASSERT_EQ(-1, check_pages_from(p + 2 * PMD, 1024, 2 * PMD, 20 + k));
		if (shared) {
			ASSERT_EQ(-1, check_pages(p, 2 * PMD, 20 + k));
		} else {
			ASSERT_TRUE(all_zero(p, 2 * PMD));
		}
		munmap(p, len);
	}
}

/* A VM_PFNMAP | VM_IO mapping ([vvar]): its table is ineligible, the vDSO still works. */
TEST_F(reclaim, pfnmap_io_vma_untouched)
{
	unsigned long start, end;
	struct timespec ts;
	struct reclaim_res res;
	long long before;

	ASSERT_EQ(0, clock_gettime(CLOCK_MONOTONIC, &ts));
	if (!find_mapping("[vvar]", &start, &end))
		SKIP(return, "no [vvar] mapping");
	before = vmpte_kb(0);
	res = pgmove_do_reclaim(self->fd, (void *)start, end - start, PGMOVE_RECLAIM_ZEROPAGE);
	ASSERT_EQ(0, res.ret);
	TH_LOG("[vvar] %lx-%lx: scanned %llu ineligible %llu", start, end, res.r.scanned,
	       res.r.ineligible);
	ASSERT_GE(res.r.ineligible, 1);
	ASSERT_EQ(res.r.scanned, res.r.ineligible);
	ASSERT_EQ(0, res.r.freed);
	ASSERT_EQ(before, vmpte_kb(0));
	ASSERT_EQ(0, clock_gettime(CLOCK_MONOTONIC, &ts));
}

/* hugetlb: no PTE tables to look at; the huge page and its contents stay. */
TEST_F(reclaim, hugetlb_vma_untouched)
{
	char old[32] = "0";
	char *p;
	struct reclaim_res res;

	read_file("/proc/sys/vm/nr_hugepages", old, sizeof(old));
	write_file("/proc/sys/vm/nr_hugepages", "2");
	p = mmap(NULL, PMD, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
	if (p == MAP_FAILED) {
		write_file("/proc/sys/vm/nr_hugepages", old);
		SKIP(return, "no 2 MiB hugetlb page: %s", strerror(errno));
	}
	fill_pages(p, PMD, 30);
	res = pgmove_do_reclaim(self->fd, p, PMD, PGMOVE_RECLAIM_ZEROPAGE);
	ASSERT_EQ(0, res.ret);
	ASSERT_EQ(0, res.r.scanned);
	ASSERT_EQ(0, res.r.freed);
	ASSERT_EQ(-1, check_pages(p, PMD, 30));
	munmap(p, PMD);
	write_file("/proc/sys/vm/nr_hugepages", old);
}

/* Argument errors: EINVAL, and the out fields are written (zero). */
TEST_F(reclaim, einval_arguments)
{
	char *p = map_anon(PMD, true, false);
	struct pgmove_reclaim r = { .start = (unsigned long)p, .len = PAGE, .pidfd = -1,
				    .reserved = 1 };

	ASSERT_NE(NULL, p);
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim(self->fd, p + 1, PAGE, 0), EINVAL);
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim(self->fd, p, PAGE + 1, 0), EINVAL);
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim(self->fd, p, 0, 0), EINVAL);
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim(self->fd, p, -(unsigned long)p, 0), EINVAL);
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim(self->fd, p, -2 * PAGE, 0), EINVAL);
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim(self->fd, p, PAGE, 1ULL << 1), EINVAL);
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim(self->fd, p, PAGE, 1ULL << 63), EINVAL);
	ASSERT_EQ(-1, ioctl(self->fd, PGMOVE_IOC_RECLAIM, &r));
	ASSERT_EQ(EINVAL, errno);
	/* A pointer to nowhere: EFAULT. */
	ASSERT_EQ(-1, ioctl(self->fd, PGMOVE_IOC_RECLAIM, (void *)16));
	ASSERT_EQ(EFAULT, errno);
}

/* Holes, addresses above the user address space, the whole address space: all fine. */
TEST_F(reclaim, holes_and_whole_address_space)
{
	char *p = map_anon(2 * PMD, true, false);
	struct reclaim_res res;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, munmap(p, 2 * PMD));
	res = pgmove_do_reclaim(self->fd, p, 2 * PMD, 0);
	ASSERT_EQ(0, res.ret);
	ASSERT_EQ(0, res.r.scanned);
	res = pgmove_do_reclaim(self->fd, (void *)0xffff888000000000UL, PMD, 0);
	ASSERT_EQ(0, res.ret);
	ASSERT_EQ(0, res.r.scanned);
	res = pgmove_do_reclaim(self->fd, (void *)PAGE, -2 * PAGE, PGMOVE_RECLAIM_ZEROPAGE);
	ASSERT_EQ(0, res.ret) TH_LOG("errno %d", res.err);
	TH_LOG("whole address space: scanned %llu freed %llu busy %llu ineligible %llu",
	       res.r.scanned, res.r.freed, res.r.busy, res.r.ineligible);
	ASSERT_EQ(res.r.scanned, res.r.freed + res.r.busy + res.r.ineligible);
	ASSERT_GT(res.r.busy, 0);
}

/*
 * MOVE with PGMOVE_MOVE_RECLAIM_SRC frees the source table the move emptied. The destination
 * is one page off the source's PMD offset, so the pages move through the run path (an
 * aligned move would carry the table itself along and leave no table behind).
 */
TEST_F(reclaim, move_reclaim_src_frees_source_table)
{
	char *src = map_anon(PMD, true, false), *area = map_anon(2 * PMD, true, false);
	char *dst = area + PAGE;
	long long before;
	struct move_res m;

	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, area);
	/* dst's two tables exist (empty) first, so the move allocates none. */
	area[0] = 1;
	area[PMD] = 1;
	ASSERT_EQ(0, madvise(area, 2 * PMD, MADV_DONTNEED));
	fill_pages(src, PMD, 40);
	before = vmpte_kb(0);
	m = pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, PMD,
			   PGMOVE_MOVE_RECLAIM_SRC);
	ASSERT_EQ(0, m.ret) TH_LOG("errno %d", m.err);
	ASSERT_EQ(PMD, m.moved);
	ASSERT_EQ(4, before - vmpte_kb(0)) TH_LOG("the source table was not freed");
	ASSERT_EQ(-1, check_pages(dst, PMD, 40));
	ASSERT_TRUE(all_zero(src, PMD));
	/* Without the flag the emptied tables stay (src got a new one when read above). */
	ASSERT_EQ(0, madvise(src, PMD, MADV_DONTNEED));
	before = vmpte_kb(0);
	m = pgmove_do_move(self->fd, (unsigned long)src, (unsigned long)dst, PMD, 0);
	ASSERT_EQ(0, m.ret);
	ASSERT_EQ(before, vmpte_kb(0)) TH_LOG("dst's emptied tables must stay");
	ASSERT_EQ(-1, check_pages(src, PMD, 40));
}

/* Turns a capability on or off in the calling process's effective set. */
static int set_cap_effective(int cap, bool on)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	if (on)
		d[cap / 32].effective |= 1U << (cap % 32);
	else
		d[cap / 32].effective &= ~(1U << (cap % 32));
	return syscall(SYS_capset, &h, d);
}

/* A target process with TARGET_TABLES empty PTE tables at `addr`, waiting for `go`. */
#define TARGET_TABLES 8
struct target {
	pid_t pid;
	int pidfd;
	unsigned long addr;
	int go;		/* write a byte to let it check its memory and exit */
};

static struct target spawn_target(uid_t uid)
{
	struct target t = { .pidfd = -1 };
	int ready[2], go[2];

	if (pipe(ready) || pipe(go))
		return t;
	t.pid = fork();
	if (!t.pid) {
		char *p;
		char c;

		if (uid && (setresgid(uid, uid, uid) || setresuid(uid, uid, uid)))
			_exit(2);
		prctl(PR_SET_DUMPABLE, 1);
		p = map_anon(TARGET_TABLES * PMD, true, false);
		if (!p)
			_exit(3);
		fill_pages(p, TARGET_TABLES * PMD, 50);
		madvise(p, TARGET_TABLES * PMD, MADV_DONTNEED);
		if (write(ready[1], &p, sizeof(p)) != sizeof(p) || read(go[0], &c, 1) != 1)
			_exit(4);
		_exit(all_zero(p, TARGET_TABLES * PMD) ? 0 : 5);
	}
	close(ready[1]);
	close(go[0]);
	if (t.pid > 0 && read(ready[0], &t.addr, sizeof(t.addr)) == sizeof(t.addr))
		t.pidfd = syscall(SYS_pidfd_open, t.pid, 0);
	close(ready[0]);
	t.go = go[1];
	return t;
}

/* Lets the target check its memory and exit; its exit status (0: contents right). */
static int finish_target(struct target *t)
{
	int status = -1;

	if (write(t->go, "x", 1) != 1)
		kill(t->pid, SIGKILL);
	close(t->go);
	close(t->pidfd);
	waitpid(t->pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * In a forked helper running as `uid` (0: stay root) with or without CAP_SYS_NICE:
 * RECLAIM of the target through its pidfd. Returns 0 on success, else the errno.
 */
static int reclaim_as(struct target *t, uid_t uid, bool cap_sys_nice)
{
	int status;
	pid_t helper = fork();

	if (!helper) {
		int fd = open(PGMOVE_DEV, O_RDWR);	/* while still root */
		struct reclaim_res res;

		if (fd < 0)
			_exit(200);
		if (uid && (prctl(PR_SET_KEEPCAPS, 1) || setresgid(uid, uid, uid) ||
			    setresuid(uid, uid, uid)))
			_exit(201);
		if (set_cap_effective(CAP_SYS_NICE, cap_sys_nice))
			_exit(202);
		res = pgmove_do_reclaim_pid(fd, t->pidfd, t->addr, TARGET_TABLES * PMD, 0);
		if (!res.ret && res.r.freed != TARGET_TABLES)
			_exit(203);
		_exit(res.ret ? res.err : 0);
	}
	waitpid(helper, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

/* A privileged parent reclaims its child's tables through a pidfd. */
TEST_F(reclaim, pidfd_parent_reclaims_child)
{
	struct target t = spawn_target(0);
	struct reclaim_res res;
	long long before;
	int self_pidfd = syscall(SYS_pidfd_open, getpid(), 0);

	ASSERT_GE(t.pidfd, 0) TH_LOG("target: %s", strerror(errno));
	before = vmpte_kb(t.pid);
	res = pgmove_do_reclaim_pid(self->fd, t.pidfd, t.addr, TARGET_TABLES * PMD, 0);
	ASSERT_EQ(0, res.ret) TH_LOG("errno %d", res.err);
	ASSERT_EQ(TARGET_TABLES, res.r.freed);
	ASSERT_EQ(TARGET_TABLES * 4, before - vmpte_kb(t.pid));
	ASSERT_EQ(0, finish_target(&t)) TH_LOG("the child's memory changed");
	/* A pidfd of the caller itself is its own mm. */
	ASSERT_GE(self_pidfd, 0);
	res = pgmove_do_reclaim_pid(self->fd, self_pidfd, PAGE, PAGE, 0);
	ASSERT_EQ(0, res.ret);
	close(self_pidfd);
}

/* Without CAP_SYS_NICE: EPERM for another process (as process_madvise), fine for itself. */
TEST_F(reclaim, pidfd_eperm_without_cap_sys_nice)
{
	struct target t = spawn_target(0);
	long long before;

	ASSERT_GE(t.pidfd, 0);
	before = vmpte_kb(t.pid);
	ASSERT_EQ(EPERM, reclaim_as(&t, 0, false));
	ASSERT_EQ(before, vmpte_kb(t.pid));
	ASSERT_EQ(0, reclaim_as(&t, 0, true));
	ASSERT_EQ(0, finish_target(&t));
}

/* Another user's process: EPERM even with CAP_SYS_NICE; the same user may. */
TEST_F(reclaim, pidfd_eperm_other_user)
{
	struct target t = spawn_target(1000);
	long long before;

	ASSERT_GE(t.pidfd, 0);
	before = vmpte_kb(t.pid);
	ASSERT_EQ(EPERM, reclaim_as(&t, 1001, true));
	ASSERT_EQ(before, vmpte_kb(t.pid));
	ASSERT_EQ(EPERM, reclaim_as(&t, 1000, false));
	ASSERT_EQ(0, reclaim_as(&t, 1000, true));
	ASSERT_EQ(before - TARGET_TABLES * 4, vmpte_kb(t.pid));
	ASSERT_EQ(0, finish_target(&t));
}

/* A process that exited: ESRCH, as a zombie and once reaped. */
TEST_F(reclaim, pidfd_esrch_exited)
{
	pid_t child = fork();
	siginfo_t info;
	int pidfd;

	if (!child)
		_exit(0);
	pidfd = syscall(SYS_pidfd_open, child, 0);
	ASSERT_GE(pidfd, 0);
	ASSERT_EQ(0, waitid(P_PIDFD, pidfd, &info, WEXITED | WNOWAIT));
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim_pid(self->fd, pidfd, PAGE, PAGE, 0), ESRCH);
	ASSERT_EQ(child, waitpid(child, NULL, 0));
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim_pid(self->fd, pidfd, PAGE, PAGE, 0), ESRCH);
	close(pidfd);
}

/* Not a pidfd: EBADF. */
TEST_F(reclaim, pidfd_ebadf)
{
	int null = open("/dev/null", O_RDONLY), closed = dup(null);

	ASSERT_GE(null, 0);
	close(closed);
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim_pid(self->fd, null, PAGE, PAGE, 0), EBADF);
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim_pid(self->fd, closed, PAGE, PAGE, 0), EBADF);
	EXPECT_RECLAIM_FAIL(pgmove_do_reclaim_pid(self->fd, -2, PAGE, PAGE, 0), EBADF);
	close(null);
}

/*
 * SIGKILL stops a whole-address-space RECLAIM promptly. A target process holds many busy
 * PTE tables (one live page each, the last, so every table is read in full); a reclaimer
 * process loops whole-address-space RECLAIMs of the target through a pidfd, reporting the
 * time of its first pass and a byte before each later pass. Killed a tenth into a pass, the
 * reclaimer must be gone within a quarter of a pass (its own exit is cheap: the memory is
 * the target's); without the signal check it would finish the pass first.
 */
TEST_F(reclaim, fatal_signal_stops_reclaim)
{
	unsigned long tables = 16384;
	int ready[2], report[2], status;
	double pass = 0, t0, waited;
	pid_t target, reclaimer;
	long long vmpte;
	char c;

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, pipe(report));
	target = fork();
	if (!target) {
		char *p = map_big(tables * PMD);

		if (!p)
			_exit(3);
		for (unsigned long i = 0; i < tables; i++)
			p[i * PMD + PMD - PAGE] = 1;
		if (write(ready[1], "", 1) != 1)
			_exit(4);
		pause();
		_exit(0);
	}
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &c, 1)) TH_LOG("the target failed");
	vmpte = vmpte_kb(target);
	reclaimer = fork();
	if (!reclaimer) {
		int fd = open(PGMOVE_DEV, O_RDWR), pidfd = syscall(SYS_pidfd_open, target, 0);
		double t = now();

		if (fd < 0 || pidfd < 0 || pgmove_do_reclaim_pid(fd, pidfd, PAGE, -2 * PAGE, 0).ret)
			_exit(3);
		t = now() - t;
		if (write(report[1], &t, sizeof(t)) != sizeof(t))
			_exit(4);
		fcntl(report[1], F_SETFL, O_NONBLOCK);
		for (;;) {
			(void)!write(report[1], "", 1);
			pgmove_do_reclaim_pid(fd, pidfd, PAGE, -2 * PAGE, 0);
		}
	}
	close(report[1]);
	ASSERT_EQ(sizeof(pass), read(report[0], &pass, sizeof(pass))) TH_LOG("reclaimer failed");
	ASSERT_EQ(1, read(report[0], &c, 1));
	usleep(pass * 1e5);
	t0 = now();
	kill(reclaimer, SIGKILL);
	ASSERT_EQ(reclaimer, waitpid(reclaimer, &status, 0));
	waited = now() - t0;
	TH_LOG("a pass over %lu busy tables takes %.3f s; killed a tenth into one: gone after "
	       "%.3f s", tables, pass, waited);
	ASSERT_TRUE(WIFSIGNALED(status));
	ASSERT_EQ(vmpte, vmpte_kb(target)) TH_LOG("busy tables were freed");
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
	ASSERT_GE(pass, 0.1) TH_LOG("a pass is too short to tell");
	ASSERT_LT(waited, pass / 4);
}

/*
 * An mm with a userfaultfd-registered VMA anywhere: RECLAIM frees no table of it, not even
 * in plain private anonymous VMAs, because 6.12's UFFDIO_MOVE may take any of them as its
 * source and re-reads the source PMD with WARN_ON_ONCE(pmd_none()) after mapping the table
 * (Documentation/reclaim.rst). The caller's own RECLAIM, RECLAIM through its pidfd, and
 * MOVE's RECLAIM_SRC all keep the tables; once the userfaultfd is closed, they go.
 */
TEST_F(reclaim, uffd_registration_anywhere_keeps_every_table)
{
	unsigned long len = 4 * PMD;
	char *p = map_anon(len, true, false), *u = map_anon(4 * PAGE, false, false);
	char *m = map_anon(PMD, true, false), *md = map_anon(2 * PMD, true, false);
	int uffd = uffd_open(), pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	long long before, after;
	struct reclaim_res res;
	struct move_res mv;

	if (uffd < 0)
		SKIP(return, "no userfaultfd with UFFD_FEATURE_MOVE");
	ASSERT_TRUE(p && u && m && md);
	ASSERT_GE(pidfd, 0);
	touch(p, len);
	ASSERT_EQ(0, madvise(p, len, MADV_DONTNEED));
	fill_pages(m, PMD, 31);
	ASSERT_EQ(0, uffd_register(uffd, (unsigned long)u, 4 * PAGE));

	before = vmpte_kb(0);
	res = pgmove_do_reclaim(self->fd, p, len, PGMOVE_RECLAIM_ZEROPAGE);
	ASSERT_EQ(0, res.ret) TH_LOG("errno %d", res.err);
	ASSERT_EQ(4, res.r.scanned);
	ASSERT_EQ(4, res.r.ineligible) TH_LOG("freed %llu busy %llu", res.r.freed, res.r.busy);
	ASSERT_EQ(0, res.r.freed);
	res = pgmove_do_reclaim_pid(self->fd, pidfd, (unsigned long)p, len, 0);
	ASSERT_EQ(0, res.ret) TH_LOG("errno %d", res.err);
	ASSERT_EQ(4, res.r.ineligible) TH_LOG("through the pidfd: freed %llu", res.r.freed);
	ASSERT_EQ(0, res.r.freed);
	ASSERT_EQ(before, vmpte_kb(0));
	/* One page off alignment: the source table is emptied page by page, and stays. */
	mv = pgmove_do_move(self->fd, (unsigned long)md + PAGE, (unsigned long)m, PMD,
			    PGMOVE_MOVE_RECLAIM_SRC);
	ASSERT_EQ(0, mv.ret) TH_LOG("errno %d", mv.err);
	after = vmpte_kb(0);
	ASSERT_EQ(8, after - before) TH_LOG("two destination tables, and the source table kept");
	ASSERT_EQ(-1, check_pages(md + PAGE, PMD, 31));

	close(uffd);
	res = pgmove_do_reclaim(self->fd, p, len, 0);
	ASSERT_EQ(0, res.ret);
	ASSERT_EQ(4, res.r.freed) TH_LOG("ineligible %llu after the userfaultfd was closed",
					  res.r.ineligible);
	res = pgmove_do_reclaim(self->fd, m, PMD, 0);
	ASSERT_EQ(1, res.r.freed);
	ASSERT_EQ(20, after - vmpte_kb(0));
	close(pidfd);
}

struct uffd_race {
	int uffd;
	char *src, *dst;
	atomic_bool stop;
	atomic_long moves, failures;
	int err;
};

/* UFFDIO_MOVE of a 2 MiB hole (ALLOW_SRC_HOLES): 6.12 allocates the source table each time. */
static void *hole_mover(void *arg)
{
	struct uffd_race *r = arg;

	while (!atomic_load(&r->stop)) {
		struct move_res mv = uffd_do_move(r->uffd, (unsigned long)r->dst,
						  (unsigned long)r->src, PMD,
						  UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES);

		if (mv.ret || mv.moved != (long long)PMD) {
			r->err = mv.err;
			atomic_fetch_add(&r->failures, 1);
		}
		atomic_fetch_add(&r->moves, 1);
	}
	return NULL;
}

/*
 * The race itself: one thread moves a hole with UFFDIO_MOVE (its source table allocated by
 * move_pages(), mapped, then its PMD re-read with WARN_ON_ONCE) while this one RECLAIMs the
 * source in a loop for 3 s. Every move must succeed, nothing may be freed, and the kernel
 * log must stay clean (a freed source table gives a WARNING and EINVAL).
 */
TEST_F(reclaim, uffd_move_from_holes_races_reclaim)
{
	struct uffd_race r = { .uffd = uffd_open() };
	long reclaims = 0, freed = 0;
	pthread_t th;
	double t0;

	if (r.uffd < 0)
		SKIP(return, "no userfaultfd with UFFD_FEATURE_MOVE");
	r.src = map_anon(PMD, true, false);
	r.dst = map_anon(PMD, true, false);
	ASSERT_TRUE(r.src && r.dst);
	ASSERT_EQ(0, uffd_register(r.uffd, (unsigned long)r.dst, PMD));
	ASSERT_EQ(0, pthread_create(&th, NULL, hole_mover, &r));
	for (t0 = now(); now() - t0 < 3;) {
		struct reclaim_res res = pgmove_do_reclaim(self->fd, r.src, PMD, 0);

		ASSERT_EQ(0, res.ret);
		freed += res.r.freed;
		reclaims++;
	}
	atomic_store(&r.stop, true);
	pthread_join(th, NULL);
	TH_LOG("%ld UFFDIO_MOVEs of a hole, %ld RECLAIMs freed %ld tables", r.moves, reclaims, freed);
	ASSERT_GT(r.moves, 0);
	ASSERT_EQ(0, r.failures) TH_LOG("a UFFDIO_MOVE failed: errno %d", r.err);
	ASSERT_EQ(0, freed) TH_LOG("RECLAIM freed tables in an mm with a registered VMA");
	close(r.uffd);
}

/* mlock() promises the zero page stays mapped: ZEROPAGE keeps the tables of VM_LOCKED VMAs. */
TEST_F(reclaim, zeropage_kept_in_mlocked_vma)
{
	unsigned long len = 2 * PMD;
	char *p = map_anon(len, true, false);
	struct reclaim_res res;
	uint64_t zpfn;

	ASSERT_NE(NULL, p);
	/* MLOCK_ONFAULT: locked without populating, so reads map the zero page. */
	ASSERT_EQ(0, syscall(__NR_mlock2, p, len, 1)) TH_LOG("mlock2: %s", strerror(errno));
	read_touch(p, len);
	zpfn = pfn_of(p);
	ASSERT_TRUE(kpageflags(zpfn) & (1ULL << KPF_ZERO_PAGE_BIT));
	res = pgmove_do_reclaim(self->fd, p, len, PGMOVE_RECLAIM_ZEROPAGE);
	ASSERT_EQ(0, res.ret);
	ASSERT_EQ(0, res.r.freed) TH_LOG("zero pages of a VM_LOCKED VMA were zapped");
	ASSERT_EQ(2, res.r.busy);
	for (unsigned long off = 0; off < len; off += PAGE) {
		ASSERT_EQ(zpfn, pfn_of(p + off)) TH_LOG("page %lu no longer mapped", off / PAGE);
	}
	ASSERT_EQ(0, munlock(p, len));
	res = pgmove_do_reclaim(self->fd, p, len, PGMOVE_RECLAIM_ZEROPAGE);
	ASSERT_EQ(2, res.r.freed) TH_LOG("munlocked: the zero pages go");
}

#define ZT_TABLES 16
#define ZT_ROUNDS 100

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/*
 * A reader, a writer and the reclaimer, each on its own CPU. Per round: every page of 16
 * tables maps the zero page (512 entries to zap per table make the window of a deferred
 * flush long), and the reader keeps reading page k of table k (so its TLB holds those 16
 * entries; page k rather than page 0, so that no two of them compete for one slot of a
 * TLB indexed by address bits, as QEMU's is); RECLAIM with ZEROPAGE zaps and frees the
 * tables while the writer, after a random delay of up to 3 ms, stores a new value into
 * each of those pages and then publishes it in flag[k]. A reader that sees flag[k] and then
 * reads the page must see the value: if the zap's TLB flush waited for the end of the
 * batch, the reader's stale entry would still show the zero page.
 */
#define ZT_PAGE(z, k) ((z)->p + (k) * PMD + (k) * PAGE)
struct zt {
	char *p;
	atomic_long phase;		/* 2r+1: round r runs; even: between rounds */
	atomic_long flag[ZT_TABLES];
	atomic_long written;		/* the last round the writer finished */
	atomic_bool stop;
	atomic_long stale, checks;
	long stale_k, stale_v, stale_f;
};

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *zt_reader(void *arg)
{
	struct zt *z = arg;

	pin_to_cpu(1);
	while (!atomic_load(&z->stop)) {
		for (int k = 0; k < ZT_TABLES; k++) {
			long ph = atomic_load(&z->phase), f, v;

			f = atomic_load_explicit(&z->flag[k], memory_order_acquire);
			v = *(volatile long *)ZT_PAGE(z, k);
			if (!(ph & 1) || atomic_load(&z->phase) != ph || !f)
				continue;
			atomic_fetch_add(&z->checks, 1);
			if (v != f && !atomic_fetch_add(&z->stale, 1)) {
				z->stale_k = k;
				z->stale_v = v;
				z->stale_f = f;
			}
		}
	}
	return NULL;
}

static void *zt_writer(void *arg)
{
	struct zt *z = arg;
	unsigned int seed = 1;
	long done = 0;

	pin_to_cpu(2);
	while (!atomic_load(&z->stop)) {
		long ph = atomic_load(&z->phase);
		double until;

		if (!(ph & 1) || ph / 2 + 1 == done)
			continue;
		for (until = now() + rand_r(&seed) % 3000 / 1e6; now() < until;)
			;
		for (int k = 0; k < ZT_TABLES; k++) {
			*(volatile long *)ZT_PAGE(z, k) = ph / 2 + 1;
			atomic_store_explicit(&z->flag[k], ph / 2 + 1, memory_order_release);
		}
		done = ph / 2 + 1;
		atomic_store(&z->written, done);
	}
	return NULL;
}

/* 19 (3 vCPUs) s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(reclaim, zeropage_zap_is_flushed_before_a_new_page_is_seen, 80)
{
	struct zt *z = calloc(1, sizeof(*z));
	long freed = 0;
	pthread_t th[2];

	if (sysconf(_SC_NPROCESSORS_ONLN) < 3)
		SKIP(return, "needs 3 CPUs (reader, writer, reclaimer each on its own); "
			     "make check runs it in a 3-vCPU VM of its own");
	z->p = map_anon(ZT_TABLES * PMD, true, false);
	ASSERT_NE(NULL, z->p);
	ASSERT_EQ(0, pthread_create(&th[0], NULL, zt_reader, z));
	ASSERT_EQ(0, pthread_create(&th[1], NULL, zt_writer, z));
	pin_to_cpu(0);
	for (long r = 0; r < ZT_ROUNDS; r++) {
		struct reclaim_res res;

		atomic_store(&z->phase, 2 * r + 2);
		ASSERT_EQ(0, madvise(z->p, ZT_TABLES * PMD, MADV_DONTNEED));
		for (int k = 0; k < ZT_TABLES; k++)
			atomic_store(&z->flag[k], 0);
		if (madvise(z->p, ZT_TABLES * PMD, MADV_POPULATE_READ))
			read_touch(z->p, ZT_TABLES * PMD);
		atomic_store(&z->phase, 2 * r + 1);
		res = pgmove_do_reclaim(self->fd, z->p, ZT_TABLES * PMD, PGMOVE_RECLAIM_ZEROPAGE);
		ASSERT_EQ(0, res.ret);
		freed += res.r.freed;
		while (atomic_load(&z->written) != r + 1)
			;
		pgmove_progress("%ld of %d rounds, %ld tables freed, %ld checks", r + 1, ZT_ROUNDS,
				freed, atomic_load(&z->checks));
	}
	atomic_store(&z->stop, true);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	TH_LOG("%d rounds: RECLAIM freed %ld tables of zero pages while they were written; "
	       "%ld published values checked", ZT_ROUNDS, freed, atomic_load(&z->checks));
	ASSERT_GT(freed, 0) TH_LOG("no zero-page table was freed: the race was never run");
	ASSERT_EQ(0, atomic_load(&z->stale))
		TH_LOG("stale reads: page %ld read %ld after its flag said %ld", z->stale_k,
		       z->stale_v, z->stale_f);
}

TEST_HARNESS_MAIN
