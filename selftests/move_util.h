/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the MOVE and RECLAIM kselftests: issuing PGMOVE_IOC_MOVE, its peer UFFDIO_MOVE
 * and PGMOVE_IOC_RECLAIM, mapping test areas, tagging pages, and the oracles
 * (/proc/self/pagemap, /proc/kpageflags, VmPTE in /proc/PID/status).
 */
#ifndef PGMOVE_MOVE_UTIL_H
#define PGMOVE_MOVE_UTIL_H

#include <linux/userfaultfd.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "pgmove_test.h"

#define PAGE 4096UL
#define PMD (2UL << 20)

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* The outcome of one move: the ioctl's return, its errno, and the `moved` field. */
struct move_res {
	int ret;
	int err;
	long long moved;
};

/* The value `moved` is primed with, to see whether the kernel wrote it. */
#define MOVED_UNSET 0x5a5a5a5a5a5aLL

static inline struct move_res pgmove_do_move(int fd, unsigned long dst, unsigned long src,
					     unsigned long len, unsigned long long flags)
{
	struct pgmove_move m = { .dst = dst, .src = src, .len = len, .flags = flags,
				 .moved = MOVED_UNSET };
	struct move_res r;

	r.ret = ioctl(fd, PGMOVE_IOC_MOVE, &m);
	r.err = r.ret ? errno : 0;
	r.moved = m.moved;
	return r;
}

/* The outcome of one reclaim: the ioctl's return, its errno, and the struct with the counters. */
struct reclaim_res {
	int ret;
	int err;
	struct pgmove_reclaim r;
};

static inline struct reclaim_res pgmove_do_reclaim_pid(int fd, int pidfd, unsigned long start,
						       unsigned long len, unsigned long long flags)
{
	struct reclaim_res res = { .r = { .start = start, .len = len, .flags = flags,
					  .pidfd = pidfd, .scanned = ~0ULL, .freed = ~0ULL,
					  .busy = ~0ULL, .ineligible = ~0ULL } };

	res.ret = ioctl(fd, PGMOVE_IOC_RECLAIM, &res.r);
	res.err = res.ret ? errno : 0;
	return res;
}

/* RECLAIM on the caller's own mm. */
static inline struct reclaim_res pgmove_do_reclaim(int fd, const void *start, unsigned long len,
						   unsigned long long flags)
{
	return pgmove_do_reclaim_pid(fd, -1, (unsigned long)start, len, flags);
}

/* VmPTE of a process (0: the caller) in kB, or -1. */
static inline long long vmpte_kb(pid_t pid)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	return pgmove_read_keyed(path, "VmPTE:");
}

/* A userfaultfd for UFFDIO_MOVE, or -1. */
static inline int uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MOVE };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api) || !(api.features & UFFD_FEATURE_MOVE)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Registers [start, start + len) for missing faults (what UFFDIO_MOVE needs of dst). */
static inline int uffd_register(int uffd, unsigned long start, unsigned long len)
{
	struct uffdio_register reg = { .range = { .start = start, .len = len },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };

	return ioctl(uffd, UFFDIO_REGISTER, &reg);
}

static inline struct move_res uffd_do_move(int uffd, unsigned long dst, unsigned long src,
					   unsigned long len, unsigned long long flags)
{
	struct uffdio_move m = { .dst = dst, .src = src, .len = len, .mode = flags,
				 .move = MOVED_UNSET };
	struct move_res r;

	r.ret = ioctl(uffd, UFFDIO_MOVE, &m);
	r.err = r.ret ? errno : 0;
	r.moved = m.move;
	return r;
}

/*
 * An anonymous private mapping, PMD aligned when asked, MADV_NOHUGEPAGE unless thp.
 * It is fenced by PROT_NONE guard areas, so it never merges with another test mapping:
 * source and destination are distinct VMAs with distinct anon_vmas, and a move that forgot
 * to rewrite the folio's anon_vma would be caught by the rmap tests.
 */
static inline char *map_anon(unsigned long len, bool pmd_aligned, bool thp)
{
	unsigned long extra = (pmd_aligned ? PMD : 0) + 2 * PAGE;
	char *p = mmap(NULL, len + extra, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *a;

	if (p == MAP_FAILED)
		return NULL;
	a = pmd_aligned ? (char *)(((unsigned long)p + PAGE + PMD - 1) & ~(PMD - 1)) : p + PAGE;
	if (mprotect(a, len, PROT_READ | PROT_WRITE))
		return NULL;
	madvise(a, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return a;
}

/* Writes a tag into every page: the page's index and a seed, repeated. */
static inline void fill_pages(char *p, unsigned long len, unsigned long seed)
{
	for (unsigned long off = 0; off < len; off += PAGE) {
		unsigned long *w = (unsigned long *)(p + off);

		w[0] = seed ^ (off / PAGE);
		w[1] = ~w[0];
		w[PAGE / sizeof(long) - 1] = w[0] * 31;
	}
}

/*
 * Whether every page of [p, p + len) holds what fill_pages(p - first pages, ..., seed)
 * wrote: -1 if so, else the index of the first bad page.
 */
static inline long check_pages_from(const char *p, unsigned long first, unsigned long len,
				    unsigned long seed)
{
	for (unsigned long off = 0; off < len; off += PAGE) {
		const unsigned long *w = (const unsigned long *)(p + off);
		unsigned long t = seed ^ (first + off / PAGE);

		if (w[0] != t || w[1] != ~t || w[PAGE / sizeof(long) - 1] != t * 31)
			return first + off / PAGE;
	}
	return -1;
}

/* check_pages_from() of a whole filled range. */
static inline long check_pages(const char *p, unsigned long len, unsigned long seed)
{
	return check_pages_from(p, 0, len, seed);
}

/* Whether the range reads as zeros. */
static inline bool all_zero(const char *p, unsigned long len)
{
	for (unsigned long i = 0; i < len; i += sizeof(long))
		if (*(const unsigned long *)(p + i))
			return false;
	return true;
}

/* The /proc/self/pagemap entry of an address (0 if unreadable). */
static inline uint64_t pagemap_entry(const void *addr)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), (unsigned long)addr / PAGE * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	return e;
}

#define PM_PRESENT (1ULL << 63)
#define PM_SWAP (1ULL << 62)
#define PM_SOFT_DIRTY (1ULL << 55)
#define PM_EXCLUSIVE (1ULL << 56)
#define PM_PFN(e) ((e) & ((1ULL << 55) - 1))

/* The PFN mapped at addr, 0 if none (root sees real PFNs). */
static inline uint64_t pfn_of(const void *addr)
{
	uint64_t e = pagemap_entry(addr);

	return (e & PM_PRESENT) ? PM_PFN(e) : 0;
}

/* /proc/kpageflags of a PFN. */
static inline uint64_t kpageflags(uint64_t pfn)
{
	uint64_t f = 0;
	int fd = open("/proc/kpageflags", O_RDONLY);

	if (fd < 0)
		return 0;
	if (pread(fd, &f, sizeof(f), pfn * sizeof(f)) != sizeof(f))
		f = 0;
	close(fd);
	return f;
}

#define KPF_THP_BIT 22
#define KPF_ZERO_PAGE_BIT 24
#define KPF_KSM_BIT 21

/*
 * Whether the page at addr is part of a large folio: KPF_THP, which 6.12 sets for every
 * large anonymous folio (a PMD-sized THP or an mTHP, mapped by a PMD or by PTEs) and for
 * the huge zero page. It does not tell a THP still mapped by its PMD from one whose PMD
 * was split.
 */
static inline bool is_thp(const void *addr)
{
	uint64_t pfn = pfn_of(addr);

	return pfn && (kpageflags(pfn) & (1ULL << KPF_THP_BIT));
}

/* Clears the soft-dirty bits of the whole mm. */
static inline int clear_soft_dirty(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	int ret;

	if (fd < 0)
		return -1;
	ret = write(fd, "4", 1) == 1 ? 0 : -1;
	close(fd);
	return ret;
}

/* Writes a string to a sysfs/procfs file; 0 on success. */
static inline int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	int ret;

	if (fd < 0)
		return -1;
	ret = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -1;
	close(fd);
	return ret;
}

/* Reads a short sysfs file into buf; 0 on success. */
static inline int read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return 0;
}

/* Whether there is swap to page out to. */
static inline bool have_swap(void)
{
	return pgmove_read_keyed("/proc/meminfo", "SwapTotal:") > 0;
}

/* Pages a range out (MADV_PAGEOUT); returns how many of its pages are then swapped. */
static inline unsigned long page_out(char *p, unsigned long len)
{
	unsigned long n = 0;

	madvise(p, len, MADV_PAGEOUT);
	for (unsigned long off = 0; off < len; off += PAGE)
		n += !!(pagemap_entry(p + off) & PM_SWAP);
	return n;
}

/*
 * Fills [p, p + len) as fill_pages() does, faulting it in as 64 kB mTHPs when the kernel
 * has them (the knob is set to "always" for the faults, then put back): p must be 64 kB
 * aligned. Returns whether the kernel has 64 kB mTHPs at all.
 */
static inline bool fill_pages_mthp(char *p, unsigned long len, unsigned long seed)
{
	const char *knob = "/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled";
	char old[128];
	bool have = !read_file(knob, old, sizeof(old));

	if (have)
		write_file(knob, "always");
	madvise(p, len, MADV_HUGEPAGE);
	fill_pages(p, len, seed);
	if (have)
		write_file(knob, strstr(old, "[never]") ? "never" : strstr(old, "[always]") ? "always" :
			   strstr(old, "[madvise]") ? "madvise" : "inherit");
	return have;
}

#endif /* PGMOVE_MOVE_UTIL_H */
