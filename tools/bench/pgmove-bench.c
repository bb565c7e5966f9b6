// SPDX-License-Identifier: GPL-2.0
/*
 * pgmove-bench: how fast /dev/pgmove moves anonymous pages and frees empty PTE tables,
 * next to what Linux 6.12 offers for the same job.
 *
 * Moves (each case --reps times, in rounds of every case once; the median, min and max of
 * the operation alone, timed with CLOCK_MONOTONIC; mapping, populating, registering and
 * checking are not timed):
 *
 *   move-4k            --size MiB of 4 kB pages (MADV_NOHUGEPAGE), src and dst 2 MiB aligned
 *   move-4k-unaligned  the same with dst 4 kB past a 2 MiB boundary
 *   move-thp           --size MiB of PMD-mapped THPs (MADV_HUGEPAGE), both 2 MiB aligned
 *
 * each moved from a populated src to an unpopulated dst by
 *
 *   pgmove-MOVE          one PGMOVE_IOC_MOVE of the range (continued after EAGAIN)
 *   pgmove-MOVEV         the range cut into objects of 4..64 kB (fixed seed), each put at
 *                        another dst offset (shuffled, as a compacting GC does), moved by
 *                        PGMOVE_IOC_MOVEV calls of up to PGMOVE_MOVEV_MAX entries
 *   pgmove-MOVE-objects  the same objects, one PGMOVE_IOC_MOVE each
 *   UFFDIO_MOVE          one UFFDIO_MOVE of the range, dst registered with a userfaultfd
 *   UFFDIO_MOVE-objects  the same objects, one UFFDIO_MOVE each
 *   mremap               mremap(MREMAP_MAYMOVE | MREMAP_FIXED) of src onto dst
 *   memcpy+DONTNEED      memcpy() to dst, then MADV_DONTNEED of src
 *
 * (move-thp: pgmove-MOVE, UFFDIO_MOVE and mremap only). After every run a sample of dst
 * pages (every 64th, the first and the last) must hold src's tags and src must read as
 * zero; on the first run of each case the sampled dst pages must also have the PFNs src
 * had (not for memcpy). A failed check or syscall ends the program with status 1.
 *
 * The same moves with mutators (layouts move-4k+mut, move-4k-unaligned+mut, move-thp+mut;
 * the same methods and checks): --mutators N threads of this process (default: one per
 * other CPU this process may run on), mutator i pinned to the allowed CPU (1 + i) % ncpus
 * and the mover to the first one ("CPU 0"), each writing one word per page of its own 64 kB
 * buffer (populated when the program starts, MADV_NOHUGEPAGE) in a loop. As the cases run
 * in rounds, the mutators are started for each run once its setup is done, run through the
 * timed move and are stopped after it: they have the mm loaded, take no fault, and every
 * TLB flush of the move has to interrupt them. Each counts its loops; a run during whose
 * timed move a mutator's CPU made none (on a CPU it shares with other mutators: none of
 * them; those on the mover's CPU are not checked) does not count and is repeated, and the
 * program fails after 3 such runs in a row. With no CPU for a mutator (1 CPU, or
 * --mutators 0) the +mut cases are n/a. +mut/no-mut: a +mut median over the same method's
 * without mutators.
 *
 * Two concurrent movers (4 kB pages, aligned, each moving --size MiB; pgmove-MOVE, and
 * UFFDIO_MOVE as the peer), thread 0 (the main thread) on the first allowed CPU, thread 1
 * on the second, released together by a barrier:
 *
 *   move-4k-2movers-1vma   halves of one VMA: a src of 2 x --size, each thread moves its
 *                          half into its half of one dst VMA of 2 x --size
 *   move-4k-2movers-2vmas  each thread its own src and dst VMAs of --size
 *
 * reporting each thread's time, the wall time (first start to last end: the case's time)
 * and the scaling, (2 x --size / wall time) / (--size / the time of one mover alone), from
 * the medians, where the mover alone is thread 0 moving its range in the same layout with
 * the other range unpopulated, timed in each run before the concurrent move (2 is perfect,
 * 1 no gain). Both threads' ranges are verified as above.
 *
 * TLB flushes and calls of every move case: the kernel's TLB-flush vm events (x86,
 * CONFIG_DEBUG_TLBFLUSH) from /proc/vmstat, read right before and right after the timed
 * operation of each run (after the setup and the mutators' start, before the verification;
 * of the concurrent cases, around the concurrent move): nr_tlb_remote_flush ("rounds":
 * flushes that had to reach other CPUs, counted even when every other CPU was idle in
 * lazy-TLB mode and got no IPI), nr_tlb_remote_flush_received (the IPIs handled),
 * nr_tlb_local_flush_all and nr_tlb_local_flush_one (on the flushing CPU: full flushes, and
 * pages flushed one at a time), with the calls the method made in the timed part (its
 * ioctls, EAGAIN continuations included; mremap and memcpy+DONTNEED: the one syscall each
 * makes). Reported for the median-time run of each case (for an even --reps, the faster of
 * the two middle runs): rounds per call and per MiB, IPIs, local flushes and calls per MiB
 * moved. The counters are system-wide sums over all CPUs: whatever else runs in the VM
 * meanwhile (kernel threads, another process's munmap) counts too. Without
 * CONFIG_DEBUG_TLBFLUSH the counters are n/a; the calls are still reported.
 *
 * Empty PTE tables:
 *
 *   reclaim-upstream   the workload of upstream's PT_RECLAIM series: --reclaim-gib GiB of
 *                      MAP_NORESERVE 4 kB pages, "write a byte in each page of 2 MiB;
 *                      MADV_DONTNEED the 2 MiB" over the whole area (MADV_DONTNEED frees no
 *                      table on 6.12), then one PGMOVE_IOC_RECLAIM over the area; run once
 *   reclaim-piecemeal  --size MiB populated, emptied by 4 kB MADV_DONTNEEDs in random
 *                      order, then one PGMOVE_IOC_RECLAIM; --reps times
 *
 * reporting VmPTE before, after MADV_DONTNEED (the peer: it frees nothing) and after
 * RECLAIM, the tables freed, the RECLAIM time and the time per freed table.
 *
 * Run it as root in the VM with pgmove.ko loaded; from the top of the repository:
 *
 *   make bench                                       the perf kernel; JSON in bench.json
 *   make bench BENCH_ARGS="--reps 3 --only move"
 *   make bench BENCH_ARGS="--only +mut,2movers --mutators 1"
 *   tools/vm-run tools/bench/pgmove-bench --size 16 --reps 3 --reclaim-gib 1
 *                                                    (the debug kernel: slow, keep it small)
 *
 * Progress goes to stderr, the tables to stdout (times and ratios; flushes and calls; the
 * concurrent movers; the reclaim cases), and with --json FILE the same data as JSON. There,
 * a move case has, besides size (bytes moved per run: both movers' in the 2movers cases),
 * reps, status, the times and the ratios: counters_run (the index in times_s of the run the
 * counts are of), calls, calls_per_mib, and tlb: null without CONFIG_DEBUG_TLBFLUSH, else
 * remote_flush, remote_flush_received, local_flush_all, local_flush_one, each of these also
 * _per_mib, and remote_flush_per_call. A +mut case also has vs_no_mutators (+mut/no-mut)
 * and mutators {threads, mover_cpu, cpus, least_loops (the fewest loops a mutator CPU made
 * in the timed move), runs_repeated}; a 2movers case movers {vmas, cpus, bytes_each,
 * scaling, threads (each one's times, as the case's), alone (the same)}. At the top: cpus
 * (those this process may run on), mutators, tlb_counters (and tlb_counters_reason when
 * false), counters_run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <linux/pgmove.h>
#include <linux/userfaultfd.h>

#define PAGE 4096UL
#define PMD (2UL << 20)
#define SAMPLE_STRIDE 64	/* verify every 64th page (and the last) */
#define MAX_REPS 1000
#define PROGRESS_STEP (512UL << 20)
#define MAX_MUTATORS 256
#define MUT_BUF (64UL << 10)	/* each mutator's buffer */
#define MUT_ATTEMPTS 3		/* runs in a row with an idle mutator before giving up */

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PM_PRESENT (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)

static struct {
	unsigned long size;		/* bytes moved per run, and of reclaim-piecemeal */
	int reps;
	unsigned long reclaim_gib;	/* reclaim-upstream */
	const char *json;
	const char *only;		/* comma-separated substrings of case names */
	int mutators;			/* threads of the +mut cases; -1: one per other CPU */
} opt = {
	.size = 64UL << 20,
	.reps = 5,
	.reclaim_gib = 8,
	.mutators = -1,
};

static int devfd = -1;
static struct pgmove_info info;
static struct utsname uts;
static const char *cur = "setup";	/* the case running, for error messages */

static const struct {
	unsigned long long bit;
	const char *name;
} feature_names[] = {
	{ PGMOVE_FEAT_MOVE, "move" },
	{ PGMOVE_FEAT_RECLAIM, "reclaim" },
	{ PGMOVE_FEAT_RECLAIM_ZEROPAGE, "reclaim-zeropage" },
	{ PGMOVE_FEAT_MOVEV, "movev" },
};

/* ---------------------------------------------------------------------------------------- */
/* Errors, time, memory, random numbers                                                       */

static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "\npgmove-bench: %s: ", cur);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* die() with the current errno appended; errno is read before anything can change it. */
#define die_errno(fmt, ...)                                                                \
	do {                                                                               \
		int __e = errno;                                                           \
		die(fmt ": %s (errno %d)", ##__VA_ARGS__, strerror(__e), __e);             \
	} while (0)

static void __attribute__((format(printf, 1, 2))) warn(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pgmove-bench: %s: warning: ", cur);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static double now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts))
		die_errno("clock_gettime");
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		die("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

/* splitmix64: small, good enough, and the same sequence everywhere for a given seed. */
static uint64_t rnd(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A random permutation of 0..n-1 (Fisher-Yates). */
static uint32_t *permutation(size_t n, uint64_t *state)
{
	uint32_t *p = xcalloc(n, sizeof(*p));

	for (size_t i = 0; i < n; i++)
		p[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd(state) % i;
		uint32_t t = p[i - 1];

		p[i - 1] = p[j];
		p[j] = t;
	}
	return p;
}

/* ---------------------------------------------------------------------------------------- */
/* /proc and /sys                                                                             */

/* A whole small file into buf (NUL terminated); false if it cannot be read. */
static bool read_small_file(const char *path, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	return true;
}

/*
 * VmPTE of this process in kB. Read without stdio, so that no malloc() between two readings
 * can grow the heap and with it the page tables being counted.
 */
static long long vmpte_kb(void)
{
	static char buf[8192];
	char *s;

	if (!read_small_file("/proc/self/status", buf, sizeof(buf)))
		die_errno("/proc/self/status");
	s = strstr(buf, "\nVmPTE:");
	if (!s)
		die("no VmPTE in /proc/self/status");
	return strtoll(s + 7, NULL, 10);
}

/* AnonHugePages (PMD-mapped THP) in kB of the VMA that contains addr, from /proc/self/smaps. */
static long long anon_huge_kb(const void *addr)
{
	unsigned long start, end, a = (unsigned long)addr;
	long long kb = -1;
	bool in = false;
	char line[512];
	FILE *f = fopen("/proc/self/smaps", "re");

	if (!f)
		die_errno("/proc/self/smaps");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			if (in)
				break;
			in = start <= a && a < end;
		} else if (in && !strncmp(line, "AnonHugePages:", 14)) {
			kb = strtoll(line + 14, NULL, 10);
		}
	}
	fclose(f);
	if (kb < 0)
		die("no AnonHugePages for %p in /proc/self/smaps", addr);
	return kb;
}

/* The PFN of each of the npages pages from p, 0 where nothing is present (pagemap). */
static uint64_t *read_pfns(const char *p, size_t npages)
{
	uint64_t *e = xcalloc(npages, sizeof(*e));
	size_t want = npages * sizeof(*e), got = 0;
	off_t off = (uintptr_t)p / PAGE * sizeof(*e);
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		die_errno("/proc/self/pagemap");
	while (got < want) {
		ssize_t n = pread(fd, (char *)e + got, want - got, off + got);

		if (n < 0)
			die_errno("pread /proc/self/pagemap");
		if (n == 0)
			die("short read of /proc/self/pagemap");
		got += n;
	}
	close(fd);
	for (size_t i = 0; i < npages; i++)
		e[i] = (e[i] & PM_PRESENT) ? e[i] & PM_PFN_MASK : 0;
	return e;
}

#define THP_ENABLED "/sys/kernel/mm/transparent_hugepage/enabled"
static bool thp_was_never;

static void thp_restore(void)
{
	int fd = open(THP_ENABLED, O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, "never", 5) != 5)
		fprintf(stderr, "pgmove-bench: could not set %s back to never: %s\n", THP_ENABLED,
			strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* NULL when THP can be used (set to madvise if it was never), else why not. */
static const char *thp_setup(void)
{
	static char why[160];
	char buf[256];
	int fd;

	if (!read_small_file(THP_ENABLED, buf, sizeof(buf)))
		return "THP not available (no " THP_ENABLED ")";
	if (!strstr(buf, "[never]"))
		return NULL;
	fd = open(THP_ENABLED, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "madvise", 7) != 7) {
		snprintf(why, sizeof(why), "THP not available (disabled, and writing madvise to %s failed: %s)",
			 THP_ENABLED, strerror(errno));
		if (fd >= 0)
			close(fd);
		return why;
	}
	close(fd);
	thp_was_never = true;
	atexit(thp_restore);
	fprintf(stderr, "pgmove-bench: THP was disabled; set to madvise for this run\n");
	return NULL;
}

/*
 * The TLB-flush vm events of /proc/vmstat (x86, CONFIG_DEBUG_TLBFLUSH; include/linux/
 * vm_event_item.h, mm/vmstat.c, counted in arch/x86/mm/tlb.c), sums over all CPUs.
 */
enum tlb_event { TLB_REMOTE, TLB_RECEIVED, TLB_LOCAL_ALL, TLB_LOCAL_ONE, NR_TLB_EVENTS };

static const char *const tlb_events[NR_TLB_EVENTS] = {
	[TLB_REMOTE] = "nr_tlb_remote_flush",		/* a flush sent to other CPUs */
	[TLB_RECEIVED] = "nr_tlb_remote_flush_received",	/* a flush IPI handled */
	[TLB_LOCAL_ALL] = "nr_tlb_local_flush_all",	/* a full flush by the flushing CPU */
	[TLB_LOCAL_ONE] = "nr_tlb_local_flush_one",	/* a page flushed by the flushing CPU */
};

/* The JSON names of the events: the vmstat names without "nr_tlb_". */
static const char *const tlb_keys[NR_TLB_EVENTS] = {
	[TLB_REMOTE] = "remote_flush",
	[TLB_RECEIVED] = "remote_flush_received",
	[TLB_LOCAL_ALL] = "local_flush_all",
	[TLB_LOCAL_ONE] = "local_flush_one",
};

static bool have_tlb;	/* /proc/vmstat has them: the kernel has CONFIG_DEBUG_TLBFLUSH */
#define NO_TLB_EVENTS \
	"/proc/vmstat has no nr_tlb_* counters: the kernel lacks CONFIG_DEBUG_TLBFLUSH"

/*
 * The events into v; false if /proc/vmstat lacks one. Read without stdio, into a static
 * buffer, so that a reading between two others allocates nothing and faults on nothing new.
 */
static bool tlb_read_events(uint64_t v[NR_TLB_EVENTS])
{
	static char buf[32768];
	char key[64];

	if (!read_small_file("/proc/vmstat", buf, sizeof(buf)))
		die_errno("/proc/vmstat");
	if (strlen(buf) >= sizeof(buf) - 1)
		die("/proc/vmstat is larger than %zu bytes", sizeof(buf) - 1);
	for (int k = 0; k < NR_TLB_EVENTS; k++) {
		/* "\nname ": nr_tlb_remote_flush is a prefix of nr_tlb_remote_flush_received */
		int n = snprintf(key, sizeof(key), "\n%s ", tlb_events[k]);
		const char *s = strstr(buf, key);

		if (!s)
			return false;
		v[k] = strtoull(s + n, NULL, 10);
	}
	return true;
}

/* Whether the kernel counts the events; says once when it does not. */
static void tlb_setup(void)
{
	uint64_t v[NR_TLB_EVENTS];

	have_tlb = tlb_read_events(v);
	if (!have_tlb)
		fprintf(stderr, "pgmove-bench: " NO_TLB_EVENTS ": TLB-flush counts n/a\n");
}

/* The events now (zeros without CONFIG_DEBUG_TLBFLUSH), for the deltas of a timed part. */
static void tlb_sample(uint64_t v[NR_TLB_EVENTS])
{
	memset(v, 0, NR_TLB_EVENTS * sizeof(v[0]));
	if (have_tlb && !tlb_read_events(v))
		die("the nr_tlb_* counters went missing from /proc/vmstat");
}

/* ---------------------------------------------------------------------------------------- */
/* CPUs and mutators                                                                          */

static cpu_set_t orig_affinity;	/* this process's, at the start */
static int cpus[CPU_SETSIZE];	/* the CPUs in it: the mover's is cpus[0] */
static int ncpus;

static void cpus_setup(void)
{
	if (sched_getaffinity(0, sizeof(orig_affinity), &orig_affinity))
		die_errno("sched_getaffinity");
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &orig_affinity))
			cpus[ncpus++] = cpu;
	if (!ncpus)
		die("sched_getaffinity: no CPU");
}

/* Pins the calling thread to cpu. */
static void pin_to(int cpu)
{
	cpu_set_t set;
	int e;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	e = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (e) {
		errno = e;
		die_errno("pthread_setaffinity_np CPU %d", cpu);
	}
}

/* Lets the calling thread run where it could at the start. */
static void unpin(void)
{
	int e = pthread_setaffinity_np(pthread_self(), sizeof(orig_affinity), &orig_affinity);

	if (e) {
		errno = e;
		die_errno("pthread_setaffinity_np (back to the first affinity)");
	}
}

/*
 * A mutator: a thread of this process on a CPU of its own (when there are enough), writing
 * one word per page of its own populated buffer in a loop: it has the mm loaded, faults on
 * nothing, and every TLB flush of this mm must interrupt it. iters counts its loops.
 */
struct mutator {
	_Atomic unsigned long iters;	/* first, in a cache line of its own */
	pthread_t thread;
	int cpu;
	char *buf;
} __attribute__((aligned(64)));

static struct mutator *muts;
static int nmuts;
static atomic_bool muts_stop;

static void *mutator_main(void *arg)
{
	struct mutator *m = arg;
	unsigned long n = 0;

	pin_to(m->cpu);
	while (!atomic_load_explicit(&muts_stop, memory_order_relaxed)) {
		for (size_t off = 0; off < MUT_BUF; off += PAGE)
			*(volatile unsigned long *)(m->buf + off) = n;
		atomic_store_explicit(&m->iters, ++n, memory_order_relaxed);
	}
	return NULL;
}

/* The mutators' CPUs and buffers, populated (and kept: no fault on them later). */
static void mutators_setup(int n)
{
	muts = aligned_alloc(64, sizeof(*muts) * n);
	if (!muts)
		die("out of memory (%d mutators)", n);
	memset(muts, 0, sizeof(*muts) * n);
	nmuts = n;
	for (int i = 0; i < n; i++) {
		struct mutator *m = &muts[i];

		m->cpu = cpus[(1 + i) % ncpus];
		m->buf = mmap(NULL, MUT_BUF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			      -1, 0);
		if (m->buf == MAP_FAILED)
			die_errno("mmap %lu kB for mutator %d", MUT_BUF >> 10, i);
		/* No THP, so khugepaged has no reason to touch it. */
		if (madvise(m->buf, MUT_BUF, MADV_NOHUGEPAGE))
			die_errno("madvise(MADV_NOHUGEPAGE) mutator %d", i);
		memset(m->buf, 1, MUT_BUF);
	}
	if (n > ncpus - 1)
		warn("%d mutators on %d other CPU%s: some share a CPU%s, so not each runs through "
		     "every move; each CPU is checked for one that ran", n, ncpus - 1,
		     ncpus - 1 == 1 ? "" : "s", n >= ncpus ? " (and some the mover's)" : "");
}

/* Starts the mutators; returns once each has looped at least once. */
static void mutators_start(void)
{
	double deadline = now() + 10;
	int e;

	atomic_store(&muts_stop, false);
	for (int i = 0; i < nmuts; i++) {
		atomic_store(&muts[i].iters, 0);
		e = pthread_create(&muts[i].thread, NULL, mutator_main, &muts[i]);
		if (e) {
			errno = e;
			die_errno("pthread_create (mutator %d)", i);
		}
	}
	for (int i = 0; i < nmuts; i++)
		while (!atomic_load(&muts[i].iters)) {
			if (now() > deadline)
				die("mutator %d (CPU %d) did not start in 10 s", i, muts[i].cpu);
			usleep(100);
		}
}

static void mutators_stop(void)
{
	atomic_store(&muts_stop, true);
	for (int i = 0; i < nmuts; i++) {
		int e = pthread_join(muts[i].thread, NULL);

		if (e) {
			errno = e;
			die_errno("pthread_join (mutator %d)", i);
		}
	}
}

static void mutators_snapshot(unsigned long *v)
{
	for (int i = 0; i < nmuts; i++)
		v[i] = atomic_load_explicit(&muts[i].iters, memory_order_relaxed);
}

/*
 * Whether the mutators ran between the two snapshots: on each CPU other than the mover's
 * that has mutators, one of them looped at least once. *least: the fewest loops a CPU's
 * mutators made (the most of that CPU's); *idle: a mutator of a CPU where none ran.
 */
static bool mutators_ran(const unsigned long *before, const unsigned long *after,
			 unsigned long *least, int *idle)
{
	bool ok = true;

	*least = ~0UL;
	for (int i = 0; i < nmuts; i++) {
		unsigned long most = 0;
		bool first = true;

		if (muts[i].cpu == cpus[0])
			continue;
		/* The CPU's first mutator stands for it. */
		for (int j = 0; j < nmuts; j++) {
			if (muts[j].cpu != muts[i].cpu)
				continue;
			if (j < i)
				first = false;
			if (after[j] - before[j] > most)
				most = after[j] - before[j];
		}
		if (!first)
			continue;
		if (most < *least)
			*least = most;
		if (!most && ok) {
			*idle = i;
			ok = false;
		}
	}
	if (*least == ~0UL)
		*least = 0;
	return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Test areas and their contents                                                              */

/*
 * A private anonymous read-write range of len bytes, offset bytes past a 2 MiB boundary,
 * inside a PROT_NONE reservation that fences it by at least a page on each side: src and
 * dst are always distinct VMAs with their own anon_vma.
 */
struct area {
	char *res;		/* the reservation; munmap(res, res_len) frees everything */
	size_t res_len;
	char *p;
};

static void area_map(struct area *a, size_t len, size_t offset, bool thp)
{
	a->res_len = len + offset + PMD + 2 * PAGE;
	a->res = mmap(NULL, a->res_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a->res == MAP_FAILED)
		die_errno("mmap %zu kB", a->res_len >> 10);
	a->p = (char *)((((uintptr_t)a->res + PAGE + PMD - 1) & ~(PMD - 1)) + offset);
	if (mprotect(a->p, len, PROT_READ | PROT_WRITE))
		die_errno("mprotect %p", a->p);
	if (madvise(a->p, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die_errno("madvise(%s) %p", thp ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE", a->p);
}

static void area_unmap(struct area *a)
{
	if (munmap(a->res, a->res_len))
		die_errno("munmap %p", a->res);
}

/* Each page carries a tag (seed ^ its page index in src) in its first two and last words. */
static void tag_page(char *pg, uint64_t tag)
{
	uint64_t *w = (uint64_t *)pg;

	w[0] = tag;
	w[1] = ~tag;
	w[PAGE / sizeof(*w) - 1] = tag * 31;
}

static bool page_has_tag(const char *pg, uint64_t tag)
{
	const uint64_t *w = (const uint64_t *)pg;

	return w[0] == tag && w[1] == ~tag && w[PAGE / sizeof(*w) - 1] == tag * 31;
}

static bool page_is_zero(const char *pg)
{
	const uint64_t *w = (const uint64_t *)pg;

	for (size_t i = 0; i < PAGE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

/* The pages verified: every SAMPLE_STRIDE-th, and the last. */
static size_t next_sample(size_t i, size_t npages)
{
	if (i + 1 >= npages)
		return npages;
	return i + SAMPLE_STRIDE < npages ? i + SAMPLE_STRIDE : npages - 1;
}

/* ---------------------------------------------------------------------------------------- */
/* The objects of the MOVEV and *-objects cases                                               */

struct object {
	size_t src_off, dst_off, len;
};

static struct object *objs;
static size_t nobjs;
static uint32_t *dst_src_page;	/* for each dst page, the src page it receives */

/*
 * Cuts [0, len) into objects of 1..16 pages (the last one maybe shorter), in src order,
 * and lays them out at dst in a shuffled order, so each goes to another offset. The seed
 * is fixed: every run and every case moves the same objects.
 */
static void make_objects(size_t len)
{
	uint64_t seed = 0x70676d6f7665ULL;
	size_t npages = len / PAGE, off = 0, d = 0;
	uint32_t *order;

	objs = xcalloc(npages, sizeof(*objs));
	for (nobjs = 0; off < len; nobjs++) {
		size_t l = (1 + rnd(&seed) % 16) * PAGE;

		if (l > len - off)
			l = len - off;
		objs[nobjs].src_off = off;
		objs[nobjs].len = l;
		off += l;
	}
	order = permutation(nobjs, &seed);
	for (size_t i = 0; i < nobjs; i++) {
		objs[order[i]].dst_off = d;
		d += objs[order[i]].len;
	}
	free(order);
	dst_src_page = xcalloc(npages, sizeof(*dst_src_page));
	for (size_t i = 0; i < nobjs; i++)
		for (size_t k = 0; k < objs[i].len / PAGE; k++)
			dst_src_page[objs[i].dst_off / PAGE + k] = objs[i].src_off / PAGE + k;
}

/* ---------------------------------------------------------------------------------------- */
/* The operations                                                                             */

/* Of the calling thread (the concurrent movers count their own), in the current run: */
static __thread unsigned long eagains;	/* EAGAINs (partial progress) seen */
static __thread unsigned long calls;	/* ioctls made, EAGAIN continuations included */

#define MAX_SPINS 1000		/* EAGAINs in a row without progress before giving up */

/* PGMOVE_IOC_MOVE of [src, src + len) to dst, continued after each partial move. */
static void pgmove_move(uintptr_t dst, uintptr_t src, size_t len)
{
	size_t done = 0;
	int spins = 0;

	while (done < len) {
		struct pgmove_move m = { .dst = dst + done, .src = src + done, .len = len - done };

		calls++;
		if (!ioctl(devfd, PGMOVE_IOC_MOVE, &m))
			return;
		if (errno != EAGAIN)
			die_errno("PGMOVE_IOC_MOVE dst %#lx src %#lx len %#zx (moved %lld)",
				  (unsigned long)m.dst, (unsigned long)m.src, len - done,
				  (long long)m.moved);
		eagains++;
		if (m.moved > 0 && (size_t)m.moved < len - done) {
			done += m.moved;
			spins = 0;
		} else if (++spins > MAX_SPINS) {
			die("PGMOVE_IOC_MOVE: EAGAIN %d times without progress (moved %lld)",
			    spins, (long long)m.moved);
		}
	}
}

/* PGMOVE_IOC_MOVEV over the n entries, PGMOVE_MOVEV_MAX at a time, continued after EAGAIN. */
static void pgmove_movev(struct pgmove_move *v, size_t n)
{
	size_t i = 0;
	int spins = 0;

	while (i < n) {
		struct pgmove_movev mv = {
			.moves = (uintptr_t)(v + i),
			.count = n - i < PGMOVE_MOVEV_MAX ? n - i : PGMOVE_MOVEV_MAX,
		};
		struct pgmove_move *m;

		calls++;
		if (!ioctl(devfd, PGMOVE_IOC_MOVEV, &mv)) {
			i += mv.count;
			spins = 0;
			continue;
		}
		if (mv.completed >= mv.count)
			die_errno("PGMOVE_IOC_MOVEV of %u entries failed, yet completed = %llu",
				  mv.count, (unsigned long long)mv.completed);
		m = &v[i + mv.completed];
		if (errno != EAGAIN)
			die_errno("PGMOVE_IOC_MOVEV entry %zu (dst %#lx src %#lx len %#lx, moved %lld)",
				  i + (size_t)mv.completed, (unsigned long)m->dst,
				  (unsigned long)m->src, (unsigned long)m->len, (long long)m->moved);
		eagains++;
		i += mv.completed;
		if (m->moved > 0 && m->moved < (long long)m->len) {
			m->dst += m->moved;
			m->src += m->moved;
			m->len -= m->moved;
			spins = 0;
		} else if (mv.completed) {
			spins = 0;
		} else if (++spins > MAX_SPINS) {
			die("PGMOVE_IOC_MOVEV: EAGAIN %d times without progress (moved %lld)",
			    spins, (long long)m->moved);
		}
	}
}

/* A userfaultfd with UFFD_FEATURE_MOVE, or -1 with errno set (ENOTSUP: no MOVE). */
static int uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MOVE };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -1;
	if (ioctl(fd, UFFDIO_API, &api)) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	if (!(api.features & UFFD_FEATURE_MOVE)) {
		close(fd);
		errno = ENOTSUP;
		return -1;
	}
	return fd;
}

/* UFFDIO_MOVE of [src, src + len) to dst, continued after each partial move. */
static void uffd_move(int uffd, uintptr_t dst, uintptr_t src, size_t len)
{
	size_t done = 0;
	int spins = 0;

	while (done < len) {
		struct uffdio_move m = { .dst = dst + done, .src = src + done, .len = len - done };

		calls++;
		if (!ioctl(uffd, UFFDIO_MOVE, &m))
			return;
		if (errno != EAGAIN)
			die_errno("UFFDIO_MOVE dst %#lx src %#lx len %#zx (move %lld)",
				  (unsigned long)m.dst, (unsigned long)m.src, len - done,
				  (long long)m.move);
		eagains++;
		if (m.move > 0 && (size_t)m.move < len - done) {
			done += m.move;
			spins = 0;
		} else if (++spins > MAX_SPINS) {
			die("UFFDIO_MOVE: EAGAIN %d times without progress (move %lld)", spins,
			    (long long)m.move);
		}
	}
}

/* ---------------------------------------------------------------------------------------- */
/* The move cases                                                                             */

enum layout {
	L_4K, L_4K_UNALIGNED, L_THP,
	L_4K_MUT, L_4K_UNALIGNED_MUT, L_THP_MUT,
	L_2MOVERS_1VMA, L_2MOVERS_2VMAS,
	NR_LAYOUTS
};
enum method { M_MOVE, M_MOVEV, M_MOVE_OBJ, M_UFFD, M_UFFD_OBJ, M_MREMAP, M_MEMCPY, NR_METHODS };

static const struct {
	const char *name;
	bool unaligned;		/* dst 4 kB past a 2 MiB boundary */
	bool thp;		/* PMD-mapped THPs: pgmove-MOVE, UFFDIO_MOVE and mremap only */
	bool mut;		/* with the mutators running */
	enum layout plain;	/* mut: the same layout without them */
	int vmas;		/* two concurrent movers (pgmove-MOVE and UFFDIO_MOVE only) with
				 * halves of 1 VMA or 2 VMAs each; 0: one mover */
} layouts[NR_LAYOUTS] = {
	[L_4K] = { "move-4k" },
	[L_4K_UNALIGNED] = { "move-4k-unaligned", .unaligned = true },
	[L_THP] = { "move-thp", .thp = true },
	[L_4K_MUT] = { "move-4k+mut", .mut = true, .plain = L_4K },
	[L_4K_UNALIGNED_MUT] = { "move-4k-unaligned+mut", .unaligned = true, .mut = true,
				 .plain = L_4K_UNALIGNED },
	[L_THP_MUT] = { "move-thp+mut", .thp = true, .mut = true, .plain = L_THP },
	[L_2MOVERS_1VMA] = { "move-4k-2movers-1vma", .vmas = 1 },
	[L_2MOVERS_2VMAS] = { "move-4k-2movers-2vmas", .vmas = 2 },
};

static const char *const method_names[NR_METHODS] = {
	[M_MOVE] = "pgmove-MOVE",
	[M_MOVEV] = "pgmove-MOVEV",
	[M_MOVE_OBJ] = "pgmove-MOVE-objects",
	[M_UFFD] = "UFFDIO_MOVE",
	[M_UFFD_OBJ] = "UFFDIO_MOVE-objects",
	[M_MREMAP] = "mremap",
	[M_MEMCPY] = "memcpy+DONTNEED",
};

/* The ratios reported: pgmove's median over a peer's, in the same layout (+mut too). */
static const struct {
	enum method m, peer;
	const char *label;
} ratio_defs[] = {
	{ M_MOVE, M_UFFD, "MOVE/UFFDIO_MOVE" },
	{ M_MOVE, M_MREMAP, "MOVE/mremap" },
	{ M_MOVE, M_MEMCPY, "MOVE/memcpy" },
	{ M_MOVEV, M_UFFD, "MOVEV/UFFDIO_MOVE" },
	{ M_MOVEV, M_UFFD_OBJ, "MOVEV/UFFDIO_MOVE-objects" },
	{ M_MOVEV, M_MOVE_OBJ, "MOVEV/MOVE-objects" },
	{ M_MOVEV, M_MEMCPY, "MOVEV/memcpy" },
	{ M_MOVE_OBJ, M_UFFD_OBJ, "MOVE-objects/UFFDIO_MOVE-objects" },
};

struct stats {
	int n;
	double t[MAX_REPS];
	double median, min, max;
};

/* What else a run of a move case measured, besides its time. */
struct runinfo {
	uint64_t tlb[NR_TLB_EVENTS];	/* the TLB-flush events during the timed part */
	unsigned long calls;		/* ioctls (or syscalls) made in the timed part */
	unsigned long mut_loops;	/* +mut: the fewest loops of a mutator CPU in it */
	double thread[2];		/* concurrent movers: each one's time */
	double alone;			/* concurrent movers: thread 0 alone */
};

struct mcase {
	enum layout layout;
	enum method method;
	char name[64];
	bool selected;		/* by --only */
	char na[192];		/* why there is no result; "" when there is one */
	char note[192];		/* something worth knowing about the result */
	struct stats st;
	struct runinfo run[MAX_REPS];	/* of each run, in st.t's order */
	int median_run;		/* the run whose counters are reported (median_run()) */
	int retries;		/* +mut: runs repeated because a mutator CPU stood still */
	struct stats thread[2], alone;	/* concurrent movers */
};

static struct mcase mcases[NR_LAYOUTS * NR_METHODS];
static int nmcases;

static bool is_objects(enum method m)
{
	return m == M_MOVEV || m == M_MOVE_OBJ || m == M_UFFD_OBJ;
}

static bool is_uffd(enum method m)
{
	return m == M_UFFD || m == M_UFFD_OBJ;
}

static struct mcase *find_mcase(enum layout l, enum method m)
{
	for (int i = 0; i < nmcases; i++)
		if (mcases[i].layout == l && mcases[i].method == m)
			return &mcases[i];
	return NULL;
}

static void compute_stats(struct stats *s)
{
	double v[MAX_REPS];

	memcpy(v, s->t, s->n * sizeof(v[0]));
	for (int i = 1; i < s->n; i++)	/* insertion sort: a handful of values */
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	s->min = v[0];
	s->max = v[s->n - 1];
	s->median = s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

/*
 * The run whose time is the median: for an even number of runs, the faster of the two in
 * the middle (the median time is their mean).
 */
static int median_run(const struct stats *s)
{
	int idx[MAX_REPS];

	for (int i = 0; i < s->n; i++)
		idx[i] = i;
	for (int i = 1; i < s->n; i++)	/* insertion sort, as compute_stats() */
		for (int j = i; j > 0 && s->t[idx[j - 1]] > s->t[idx[j]]; j--) {
			int t = idx[j];

			idx[j] = idx[j - 1];
			idx[j - 1] = t;
		}
	return idx[(s->n - 1) / 2];
}

#define COUNTERS_RUN "the median-time run (even reps: the faster of the middle two)"

/* The bytes a run of the case moves: both movers' of the concurrent cases. */
static size_t moved_bytes(const struct mcase *c)
{
	return layouts[c->layout].vmas ? 2 * opt.size : opt.size;
}

/* Whether [p, p + len) is all PMD-mapped THP; if not, try MADV_COLLAPSE once. */
static bool thp_backed(struct mcase *c, char *p, size_t len)
{
	long long kb = anon_huge_kb(p);

	if (kb >= (long long)(len >> 10))
		return true;
	if (madvise(p, len, MADV_COLLAPSE))
		warn("MADV_COLLAPSE: %s", strerror(errno));
	kb = anon_huge_kb(p);
	if (kb >= (long long)(len >> 10))
		return true;
	snprintf(c->na, sizeof(c->na), "THP not available (only %lld of %zu kB of src PMD-mapped)",
		 kb, len >> 10);
	return false;
}

/* The sampled dst pages hold the tags of the src pages they came from; src reads zero. */
static void verify(const char *src, const char *dst, size_t npages, uint64_t seed,
		   const uint32_t *map, bool src_gone)
{
	for (size_t i = 0; i < npages; i = next_sample(i, npages)) {
		size_t s = map ? map[i] : i;
		const uint64_t *w = (const uint64_t *)(dst + i * PAGE);

		if (!page_has_tag(dst + i * PAGE, seed ^ s))
			die("verification failed: dst page %zu of %zu should hold src page %zu "
			    "(tag %#llx), holds %#llx", i, npages, s,
			    (unsigned long long)(seed ^ s), (unsigned long long)w[0]);
		if (!src_gone && !page_is_zero(src + i * PAGE))
			die("verification failed: src page %zu of %zu is not zero after the move",
			    i, npages);
	}
}

/* The sampled dst pages are the very pages src had (same PFN). */
static void verify_pfns(const char *dst, size_t npages, const uint64_t *src_pfn,
			const uint32_t *map)
{
	uint64_t *dst_pfn = read_pfns(dst, npages);

	for (size_t i = 0; i < npages; i = next_sample(i, npages)) {
		size_t s = map ? map[i] : i;

		if (!src_pfn[s]) {
			warn("PFNs not visible in /proc/self/pagemap (not root?): PFN check skipped");
			break;
		}
		if (dst_pfn[i] != src_pfn[s])
			die("verification failed: dst page %zu has PFN %#llx, src page %zu had %#llx",
			    i, (unsigned long long)dst_pfn[i], s, (unsigned long long)src_pfn[s]);
	}
	free(dst_pfn);
}

/*
 * One run of a move case: its time in seconds, or < 0 when the case turned out n/a; what
 * else it measured in *ri. With mutators, the mover runs on cpus[0] and *idle is the
 * mutator of a CPU where none looped in the timed part (the run does not count), else -1.
 */
static double move_run(struct mcase *c, int rep, uint64_t seed, struct runinfo *ri, int *idle)
{
	size_t len = opt.size, npages = len / PAGE;
	bool thp = layouts[c->layout].thp, mut = layouts[c->layout].mut;
	const uint32_t *map = is_objects(c->method) ? dst_src_page : NULL;
	bool check_pfn = rep == 0 && c->method != M_MEMCPY;
	unsigned long mut_before[MAX_MUTATORS], mut_after[MAX_MUTATORS];
	uint64_t tlb_before[NR_TLB_EVENTS], tlb_after[NR_TLB_EVENTS];
	struct pgmove_move *v = NULL;
	uint64_t *src_pfn = NULL;
	struct area src, dst;
	uintptr_t s, d;
	int uffd = -1;
	double t;

	*idle = -1;
	if (mut)
		pin_to(cpus[0]);
	area_map(&src, len, 0, thp);
	area_map(&dst, len, layouts[c->layout].unaligned ? PAGE : 0, thp);
	s = (uintptr_t)src.p;
	d = (uintptr_t)dst.p;
	for (size_t i = 0; i < npages; i++)
		tag_page(src.p + i * PAGE, seed ^ i);
	if (thp && !thp_backed(c, src.p, len)) {
		area_unmap(&src);
		area_unmap(&dst);
		if (mut)
			unpin();
		return -1;
	}
	if (is_objects(c->method)) {
		v = xcalloc(nobjs, sizeof(*v));
		for (size_t i = 0; i < nobjs; i++)
			v[i] = (struct pgmove_move){ .dst = d + objs[i].dst_off,
						     .src = s + objs[i].src_off,
						     .len = objs[i].len };
	}
	if (is_uffd(c->method)) {
		struct uffdio_register reg = {
			.range = { .start = d, .len = len },
			.mode = UFFDIO_REGISTER_MODE_MISSING,
		};

		uffd = uffd_open();
		if (uffd < 0)
			die_errno("userfaultfd with UFFD_FEATURE_MOVE");
		if (ioctl(uffd, UFFDIO_REGISTER, &reg))
			die_errno("UFFDIO_REGISTER %#lx len %#zx", (unsigned long)d, len);
	}
	if (check_pfn)
		src_pfn = read_pfns(src.p, npages);
	if (mut)
		mutators_start();
	eagains = 0;
	calls = 0;

	/* The counters right around the operation; the mutators' loops closer still. */
	tlb_sample(tlb_before);
	if (mut)
		mutators_snapshot(mut_before);
	t = now();
	switch (c->method) {
	case M_MOVE:
		pgmove_move(d, s, len);
		break;
	case M_MOVEV:
		pgmove_movev(v, nobjs);
		break;
	case M_MOVE_OBJ:
		for (size_t i = 0; i < nobjs; i++)
			pgmove_move(v[i].dst, v[i].src, v[i].len);
		break;
	case M_UFFD:
		uffd_move(uffd, d, s, len);
		break;
	case M_UFFD_OBJ:
		for (size_t i = 0; i < nobjs; i++)
			uffd_move(uffd, v[i].dst, v[i].src, v[i].len);
		break;
	case M_MREMAP:
		calls++;
		if (mremap(src.p, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst.p) != dst.p)
			die_errno("mremap %p -> %p len %#zx", src.p, dst.p, len);
		break;
	case M_MEMCPY:
		memcpy(dst.p, src.p, len);
		calls++;
		if (madvise(src.p, len, MADV_DONTNEED))
			die_errno("madvise(MADV_DONTNEED) %p len %#zx", src.p, len);
		break;
	case NR_METHODS:
		break;
	}
	t = now() - t;
	if (mut)
		mutators_snapshot(mut_after);
	tlb_sample(tlb_after);
	if (mut) {
		mutators_stop();
		unpin();
		if (!mutators_ran(mut_before, mut_after, &ri->mut_loops, idle))
			fprintf(stderr, " (mutator %d on CPU %d did not loop in the move)", *idle,
				muts[*idle].cpu);
	}
	for (int k = 0; k < NR_TLB_EVENTS; k++)
		ri->tlb[k] = tlb_after[k] - tlb_before[k];
	ri->calls = calls;

	/* Unregisters dst: a read of a page that is missing must not wait for a handler. */
	if (uffd >= 0 && close(uffd))
		die_errno("close userfaultfd");
	verify(src.p, dst.p, npages, seed, map, c->method == M_MREMAP);
	if (check_pfn)
		verify_pfns(dst.p, npages, src_pfn, map);
	if (thp && !c->note[0]) {
		long long kb = anon_huge_kb(dst.p);

		if (kb < (long long)(len >> 10))
			snprintf(c->note, sizeof(c->note),
				 "dst only %lld of %zu kB PMD-mapped after the move", kb, len >> 10);
	}
	if (eagains)
		fprintf(stderr, " (%lu EAGAIN)", eagains);
	free(src_pfn);
	free(v);
	area_unmap(&src);
	area_unmap(&dst);
	return t;
}

/*
 * move_run() until no mutator CPU stood still in the timed part (a +mut run in which one
 * did would be a run without it): MUT_ATTEMPTS runs in a row with one that did are fatal.
 */
static double move_run_counted(struct mcase *c, int rep, uint64_t seed, struct runinfo *ri)
{
	for (int attempt = 1;; attempt++) {
		int idle;
		double t = move_run(c, rep, seed, ri, &idle);

		if (t < 0 || idle < 0)
			return t;
		if (attempt == MUT_ATTEMPTS)
			die("mutator %d (CPU %d) did not loop in the timed move in %d runs in a "
			    "row: the +mut times would be those of moves without mutators", idle,
			    muts[idle].cpu, attempt);
		c->retries++;
		fprintf(stderr, " %.6f s, again...", t);
	}
}

/*
 * The concurrent movers: thread 0 is the main thread, on cpus[0]; thread 1 a thread of its
 * own on cpus[1]. A mover's range, and its time.
 */
struct mover {
	const struct mcase *c;
	int uffd;
	uintptr_t src, dst;
	size_t len;
	uint64_t seed;		/* its src pages' tags: seed ^ page index */
	uint64_t *src_pfn;	/* the first run: its src pages' PFNs */
	/* Thread 1's steps, each a barrier the main thread meets it at: */
	pthread_barrier_t *ready;	/* pinned and waiting: the counters are read */
	pthread_barrier_t *go;		/* both released together */
	pthread_barrier_t *done;	/* both done: the counters are read */
	pthread_barrier_t *leave;	/* it may end (its exit's MADV_DONTNEED of its stack
					 * flushes: after the counters) */
	double t0, t1;
	unsigned long calls, eagains;
};

static void mover_move(struct mover *mv)
{
	calls = 0;
	eagains = 0;
	mv->t0 = now();
	if (mv->c->method == M_MOVE)
		pgmove_move(mv->dst, mv->src, mv->len);
	else
		uffd_move(mv->uffd, mv->dst, mv->src, mv->len);
	mv->t1 = now();
	mv->calls = calls;
	mv->eagains = eagains;
}

static void mover_wait(pthread_barrier_t *b)
{
	int e = pthread_barrier_wait(b);

	if (e && e != PTHREAD_BARRIER_SERIAL_THREAD) {
		errno = e;
		die_errno("pthread_barrier_wait");
	}
}

static void *mover_main(void *arg)
{
	struct mover *mv = arg;

	pin_to(cpus[1]);
	mover_wait(mv->ready);
	mover_wait(mv->go);
	mover_move(mv);
	mover_wait(mv->done);
	mover_wait(mv->leave);
	return NULL;
}

/*
 * The two movers' ranges: halves of one src and one dst VMA of 2 x len (vmas 1), or a src
 * and a dst VMA each (vmas 2). The first npop movers' src pages are tagged (populated), and
 * on the first run their PFNs read. Every dst VMA is registered with uffd, if one is given.
 */
static void movers_map(const struct mcase *c, struct area src[2], struct area dst[2],
		       struct mover mv[2], int npop, uint64_t seed, bool check_pfn, int uffd)
{
	int vmas = layouts[c->layout].vmas;
	size_t len = opt.size, npages = len / PAGE, vlen = vmas == 1 ? 2 * len : len;

	for (int k = 0; k < vmas; k++) {
		area_map(&src[k], vlen, 0, false);
		area_map(&dst[k], vlen, 0, false);
		if (uffd >= 0) {
			struct uffdio_register reg = {
				.range = { .start = (uintptr_t)dst[k].p, .len = vlen },
				.mode = UFFDIO_REGISTER_MODE_MISSING,
			};

			if (ioctl(uffd, UFFDIO_REGISTER, &reg))
				die_errno("UFFDIO_REGISTER %p len %#zx", dst[k].p, vlen);
		}
	}
	for (int k = 0; k < 2; k++) {
		struct mover *m = &mv[k];

		*m = (struct mover){
			.c = c,
			.uffd = uffd,
			.src = (uintptr_t)(vmas == 1 ? src[0].p + k * len : src[k].p),
			.dst = (uintptr_t)(vmas == 1 ? dst[0].p + k * len : dst[k].p),
			.len = len,
			.seed = seed ^ ((uint64_t)(k + 1) << 56),
		};
		if (k >= npop)
			continue;
		for (size_t i = 0; i < npages; i++)
			tag_page((char *)m->src + i * PAGE, m->seed ^ i);
		if (check_pfn)
			m->src_pfn = read_pfns((char *)m->src, npages);
	}
}

/* Verifies the first n movers' ranges, then unmaps everything movers_map() mapped. */
static void movers_unmap(const struct mcase *c, struct area src[2], struct area dst[2],
			 struct mover mv[2], int n, int uffd)
{
	size_t npages = opt.size / PAGE;

	/* Unregisters dst: a read of a page that is missing must not wait for a handler. */
	if (uffd >= 0 && close(uffd))
		die_errno("close userfaultfd");
	for (int k = 0; k < n; k++) {
		verify((char *)mv[k].src, (char *)mv[k].dst, npages, mv[k].seed, NULL, false);
		if (mv[k].src_pfn)
			verify_pfns((char *)mv[k].dst, npages, mv[k].src_pfn, NULL);
		free(mv[k].src_pfn);
	}
	for (int k = 0; k < layouts[c->layout].vmas; k++) {
		area_unmap(&src[k]);
		area_unmap(&dst[k]);
	}
}

static int movers_uffd(const struct mcase *c)
{
	int uffd;

	if (c->method != M_UFFD)
		return -1;
	uffd = uffd_open();
	if (uffd < 0)
		die_errno("userfaultfd with UFFD_FEATURE_MOVE");
	return uffd;
}

/*
 * One run of a concurrent-movers case: thread 0 alone first (the other range unpopulated),
 * then, in a fresh layout, both at once, released by a barrier. Returns the wall time of
 * the concurrent part (first start to last end); each thread's time, thread 0's alone and
 * the counters of the concurrent part in *ri.
 */
static double movers_run(struct mcase *c, int rep, uint64_t seed, struct runinfo *ri)
{
	pthread_barrier_t ready, go, done, leave;
	uint64_t tlb_before[NR_TLB_EVENTS], tlb_after[NR_TLB_EVENTS];
	struct area src[2], dst[2];
	struct mover mv[2];
	pthread_t thread;
	int uffd, e;
	double t;

	pin_to(cpus[0]);

	/* Alone. */
	uffd = movers_uffd(c);
	movers_map(c, src, dst, mv, 1, seed, rep == 0, uffd);
	mover_move(&mv[0]);
	ri->alone = mv[0].t1 - mv[0].t0;
	movers_unmap(c, src, dst, mv, 1, uffd);

	/* Together. */
	uffd = movers_uffd(c);
	movers_map(c, src, dst, mv, 2, seed ^ 1, rep == 0, uffd);
	if (pthread_barrier_init(&ready, NULL, 2) || pthread_barrier_init(&go, NULL, 2) ||
	    pthread_barrier_init(&done, NULL, 2) || pthread_barrier_init(&leave, NULL, 2))
		die("pthread_barrier_init failed");
	mv[1].ready = &ready;
	mv[1].go = &go;
	mv[1].done = &done;
	mv[1].leave = &leave;
	e = pthread_create(&thread, NULL, mover_main, &mv[1]);
	if (e) {
		errno = e;
		die_errno("pthread_create (mover 1)");
	}
	mover_wait(&ready);
	tlb_sample(tlb_before);
	mover_wait(&go);
	mover_move(&mv[0]);
	mover_wait(&done);
	tlb_sample(tlb_after);
	mover_wait(&leave);
	e = pthread_join(thread, NULL);
	if (e) {
		errno = e;
		die_errno("pthread_join (mover 1)");
	}
	pthread_barrier_destroy(&ready);
	pthread_barrier_destroy(&go);
	pthread_barrier_destroy(&done);
	pthread_barrier_destroy(&leave);
	unpin();

	t = mv[0].t1 > mv[1].t1 ? mv[0].t1 : mv[1].t1;
	t -= mv[0].t0 < mv[1].t0 ? mv[0].t0 : mv[1].t0;
	for (int k = 0; k < 2; k++)
		ri->thread[k] = mv[k].t1 - mv[k].t0;
	for (int k = 0; k < NR_TLB_EVENTS; k++)
		ri->tlb[k] = tlb_after[k] - tlb_before[k];
	ri->calls = mv[0].calls + mv[1].calls;
	movers_unmap(c, src, dst, mv, 2, uffd);
	if (mv[0].eagains || mv[1].eagains)
		fprintf(stderr, " (%lu + %lu EAGAIN)", mv[0].eagains, mv[1].eagains);
	fprintf(stderr, " (threads %.6f, %.6f s; alone %.6f s)", ri->thread[0], ri->thread[1],
		ri->alone);
	return t;
}

/* ---------------------------------------------------------------------------------------- */
/* The reclaim cases                                                                          */

struct rcase {
	const char *name;
	bool selected;
	char na[192];
	char note[192];
	size_t size;
	size_t tables;			/* PTE tables the workload filled and emptied */
	int reps;
	struct stats st;		/* RECLAIM's time */
	struct stats dontneed;		/* the MADV_DONTNEED phase's time */
	/* of the last run: */
	long long vmpte_base;		/* kB, before the area had tables */
	long long vmpte_filled;		/* kB, populated (piecemeal only; else -1) */
	long long vmpte_emptied;	/* kB, after MADV_DONTNEED emptied them */
	long long vmpte_after;		/* kB, after RECLAIM */
	long long dontneed_freed;	/* tables MADV_DONTNEED freed (from VmPTE) */
	struct pgmove_reclaim r;
};

static struct rcase rc_upstream = { .name = "reclaim-upstream", .vmpte_filled = -1 };
static struct rcase rc_piecemeal = { .name = "reclaim-piecemeal", .vmpte_filled = -1 };

/* RECLAIM of [p, p + len) of this process: its time; the counters in rc->r. */
static double reclaim_run(struct rcase *rc, char *p, size_t len)
{
	double t;

	rc->r = (struct pgmove_reclaim){ .start = (uintptr_t)p, .len = len, .pidfd = -1 };
	t = now();
	if (ioctl(devfd, PGMOVE_IOC_RECLAIM, &rc->r))
		die_errno("PGMOVE_IOC_RECLAIM %p len %#zx", p, len);
	return now() - t;
}

/*
 * What MADV_DONTNEED freed: the VmPTE it gave back, or where the tables were never all
 * there at once (upstream's loop), the tables emptied less the growth of VmPTE (which also
 * counts the PMD tables the area needed, so a kernel that frees nothing shows 0).
 * And whether RECLAIM's counters agree with VmPTE.
 */
static void reclaim_account(struct rcase *rc)
{
	long long kept = (rc->vmpte_emptied - rc->vmpte_base) / 4;

	if (rc->vmpte_filled >= 0)
		rc->dontneed_freed = rc->vmpte_filled > rc->vmpte_emptied ?
				     (rc->vmpte_filled - rc->vmpte_emptied) / 4 : 0;
	else
		rc->dontneed_freed = kept >= (long long)rc->tables ? 0 :
				     (long long)rc->tables - (kept > 0 ? kept : 0);
	if (rc->r.freed != rc->tables && !rc->note[0])
		snprintf(rc->note, sizeof(rc->note), "RECLAIM freed %llu of the %zu emptied tables",
			 (unsigned long long)rc->r.freed, rc->tables);
	if (rc->vmpte_emptied - rc->vmpte_after != (long long)rc->r.freed * 4)
		warn("VmPTE fell by %lld kB, RECLAIM says it freed %llu tables (%llu kB)",
		     rc->vmpte_emptied - rc->vmpte_after, (unsigned long long)rc->r.freed,
		     (unsigned long long)rc->r.freed * 4);
}

/*
 * Upstream's workload: touch 2 MiB, MADV_DONTNEED it, over the whole area; every table
 * stays on 6.12. Then one RECLAIM over the area.
 */
static void reclaim_upstream(struct rcase *rc)
{
	size_t len = opt.reclaim_gib << 30;
	char *res, *p;
	double t0;

	rc->size = len;
	rc->tables = len / PMD;
	rc->reps = 1;
	res = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		die_errno("mmap %lu GiB MAP_NORESERVE", opt.reclaim_gib);
	p = (char *)(((uintptr_t)res + PMD - 1) & ~(PMD - 1));
	if (madvise(p, len, MADV_NOHUGEPAGE))
		die_errno("madvise(MADV_NOHUGEPAGE)");
	fprintf(stderr, "%s: touch 2 MiB + MADV_DONTNEED 2 MiB over %lu GiB\n", rc->name,
		opt.reclaim_gib);
	rc->vmpte_base = vmpte_kb();
	t0 = now();
	for (size_t off = 0; off < len; off += PMD) {
		for (size_t i = 0; i < PMD; i += PAGE)
			p[off + i] = 1;
		if (madvise(p + off, PMD, MADV_DONTNEED))
			die_errno("madvise(MADV_DONTNEED) %p", p + off);
		if ((off + PMD) % PROGRESS_STEP == 0)
			fprintf(stderr, "%s: %zu of %zu MiB (%.1f s)\n", rc->name,
				(off + PMD) >> 20, len >> 20, now() - t0);
	}
	rc->dontneed.t[rc->dontneed.n++] = now() - t0;
	rc->vmpte_emptied = vmpte_kb();
	fprintf(stderr, "%s: RECLAIM...", rc->name);
	rc->st.t[rc->st.n++] = reclaim_run(rc, p, len);
	rc->vmpte_after = vmpte_kb();
	fprintf(stderr, " %.6f s\n", rc->st.t[0]);
	reclaim_account(rc);
	if (munmap(res, len + PMD))
		die_errno("munmap");
}

/* --size MiB populated, emptied by 4 kB MADV_DONTNEEDs in random order, then RECLAIM. */
static void reclaim_piecemeal(struct rcase *rc, int rep, uint64_t seed)
{
	size_t len = opt.size, npages = len / PAGE;
	uint32_t *order = permutation(npages, &seed);
	struct area a;
	double t;

	rc->size = len;
	rc->tables = len / PMD;
	rc->reps = opt.reps;
	area_map(&a, len, 0, false);
	rc->vmpte_base = vmpte_kb();
	for (size_t i = 0; i < npages; i++)
		a.p[i * PAGE] = 1;
	rc->vmpte_filled = vmpte_kb();
	t = now();
	for (size_t i = 0; i < npages; i++)
		if (madvise(a.p + order[i] * PAGE, PAGE, MADV_DONTNEED))
			die_errno("madvise(MADV_DONTNEED) %p", a.p + order[i] * PAGE);
	rc->dontneed.t[rep] = now() - t;
	rc->dontneed.n = rep + 1;
	rc->vmpte_emptied = vmpte_kb();
	rc->st.t[rep] = reclaim_run(rc, a.p, len);
	rc->st.n = rep + 1;
	rc->vmpte_after = vmpte_kb();
	reclaim_account(rc);
	area_unmap(&a);
	free(order);
	fprintf(stderr, " %.6f s (freed %llu)\n", rc->st.t[rep], (unsigned long long)rc->r.freed);
}

/* ---------------------------------------------------------------------------------------- */
/* Output                                                                                     */

static void print_features(FILE *f, const char *sep)
{
	bool first = true;

	for (size_t i = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
		if (info.features & feature_names[i].bit) {
			fprintf(f, "%s%s", first ? "" : sep, feature_names[i].name);
			first = false;
		}
}

/* Ratio label and value for ratio_defs[i] of a layout; false if either side has no result. */
static bool ratio_of(enum layout l, size_t i, double *r)
{
	struct mcase *a = find_mcase(l, ratio_defs[i].m);
	struct mcase *b = find_mcase(l, ratio_defs[i].peer);

	if (!a || !b || !a->st.n || !b->st.n || a->na[0] || b->na[0] || b->st.median <= 0)
		return false;
	*r = a->st.median / b->st.median;
	return true;
}

static void print_size(char *buf, size_t n, size_t bytes)
{
	if (bytes >= (1UL << 30) && !(bytes & ((1UL << 30) - 1)))
		snprintf(buf, n, "%zu GiB", bytes >> 30);
	else
		snprintf(buf, n, "%zu MiB", bytes >> 20);
}

static void print_reclaim(const struct rcase *rc)
{
	if (!rc->selected || rc->na[0] || !rc->st.n)
		return;
	printf("\n%s: %zu PTE tables emptied, %d run%s%s\n", rc->name, rc->tables, rc->st.n,
	       rc->st.n > 1 ? "s (figures of the last; times: median)" : "",
	       rc == &rc_upstream ? " (upstream's PT_RECLAIM workload: touch 2 MiB, MADV_DONTNEED 2 MiB)"
				   : " (4 kB MADV_DONTNEEDs in random order)");
	printf("  VmPTE: %lld kB before", rc->vmpte_base);
	if (rc->vmpte_filled >= 0)
		printf(", %lld kB populated", rc->vmpte_filled);
	printf(", %lld kB after MADV_DONTNEED, %lld kB after RECLAIM\n", rc->vmpte_emptied,
	       rc->vmpte_after);
	printf("  MADV_DONTNEED  freed %lld tables (VmPTE %+lld kB) in %.3f s\n", rc->dontneed_freed,
	       rc->vmpte_emptied - (rc->vmpte_filled >= 0 ? rc->vmpte_filled : rc->vmpte_base),
	       rc->dontneed.median);
	printf("  RECLAIM        freed %llu tables (scanned %llu, busy %llu, ineligible %llu; "
	       "VmPTE %+lld kB) in %.6f s: %.2f µs per table\n",
	       (unsigned long long)rc->r.freed, (unsigned long long)rc->r.scanned,
	       (unsigned long long)rc->r.busy, (unsigned long long)rc->r.ineligible,
	       rc->vmpte_after - rc->vmpte_emptied, rc->st.median,
	       rc->r.freed ? rc->st.median * 1e6 / rc->r.freed : 0.0);
	if (rc->note[0])
		printf("  note: %s\n", rc->note);
}

static int name_width;	/* of the case column: the longest selected name, at least 38 */

static void print_row(const char *name, const char *size, const char *na, const struct stats *st)
{
	printf("%-*s %7s", name_width, name, size);
	if (na[0])
		printf("  n/a: %s", na);
	else
		printf(" %11.6f %11.6f %11.6f", st->median, st->min, st->max);
}

static bool has_result(const struct mcase *c)
{
	return c && c->selected && !c->na[0] && c->st.n;
}

/* +mut: the median with the mutators over the median of the same method without them. */
static bool mut_factor(const struct mcase *c, double *r)
{
	const struct mcase *plain;

	if (!layouts[c->layout].mut)
		return false;
	plain = find_mcase(layouts[c->layout].plain, c->method);
	if (!has_result(c) || !has_result(plain) || plain->st.median <= 0)
		return false;
	*r = c->st.median / plain->st.median;
	return true;
}

/* Concurrent movers: (2 x size / wall time) / (size / time alone), of the medians. */
static double scaling(const struct mcase *c)
{
	return c->st.median > 0 ? 2 * c->alone.median / c->st.median : 0;
}

/* The TLB-flush events and calls per case, of its median-time run. */
static void print_counts(void)
{
	bool any = false;

	for (int i = 0; i < nmcases; i++)
		any |= has_result(&mcases[i]);
	if (!any)
		return;
	printf("\nTLB flushes and calls in the timed part: each case's median-time run (with an "
	       "even number of runs,\nthe faster of the middle two); flush counts are system-wide "
	       "(/proc/vmstat), per MiB moved\n\n");
	printf("%-*s %8s %10s %11s %10s %10s %13s %13s\n", name_width, "case", "calls",
	       "calls/MiB", "rounds/call", "rounds/MiB", "IPIs/MiB", "local-all/MiB",
	       "local-one/MiB");
	for (int i = 0; i < nmcases; i++) {
		struct mcase *c = &mcases[i];
		const struct runinfo *ri = &c->run[c->median_run];
		double mib = moved_bytes(c) / (double)(1UL << 20);

		if (!c->selected)
			continue;
		if (!has_result(c)) {
			printf("%-*s %8s\n", name_width, c->name, "n/a");
			continue;
		}
		printf("%-*s %8lu %10.4g", name_width, c->name, ri->calls, ri->calls / mib);
		if (have_tlb)
			printf(" %11.4g %10.4g %10.4g %13.4g %13.4g",
			       ri->calls ? (double)ri->tlb[TLB_REMOTE] / ri->calls : 0.0,
			       ri->tlb[TLB_REMOTE] / mib, ri->tlb[TLB_RECEIVED] / mib,
			       ri->tlb[TLB_LOCAL_ALL] / mib, ri->tlb[TLB_LOCAL_ONE] / mib);
		else
			printf(" %11s %10s %10s %13s %13s", "n/a", "n/a", "n/a", "n/a", "n/a");
		if (layouts[c->layout].mut) {
			printf("  mutator CPUs looped >= %lu times", ri->mut_loops);
			if (c->retries)
				printf(" (%d run%s repeated: one stood still)", c->retries,
				       c->retries > 1 ? "s" : "");
		}
		printf("\n");
	}
	printf("\ncalls: the ioctls made (MOVE, MOVEV, UFFDIO_MOVE, EAGAIN continuations "
	       "included), or the syscall\n(mremap, the MADV_DONTNEED of memcpy+DONTNEED). rounds: "
	       "nr_tlb_remote_flush, flushes that had to\nreach another CPU (also when none was "
	       "sent an IPI: lazy-TLB CPUs are skipped unless page tables\nwere freed). IPIs: "
	       "nr_tlb_remote_flush_received. local-all, local-one: nr_tlb_local_flush_all\n"
	       "and _one, on the flushing CPU: full flushes, and pages flushed one at a time. "
	       "Anything else\nrunning meanwhile (kernel threads included) counts too.\n");
	if (!have_tlb)
		printf("TLB flushes n/a: " NO_TLB_EVENTS ".\n");
	if (nmuts)
		printf("+mut: %d mutator thread%s (the mover on CPU %d), each writing a word per "
		       "page of its 64 kB in a loop.\n", nmuts, nmuts > 1 ? "s" : "", cpus[0]);
}

/* The concurrent movers: each thread's time, the wall time, one alone, the scaling. */
static void print_movers(void)
{
	char size[32];
	bool any = false;

	for (int i = 0; i < nmcases; i++)
		any |= layouts[mcases[i].layout].vmas && has_result(&mcases[i]);
	if (!any)
		return;
	print_size(size, sizeof(size), opt.size);
	printf("\nConcurrent movers, each moving %s of 4 kB pages, aligned: thread 0 on CPU %d, "
	       "thread 1 on CPU %d\n(medians, seconds; alone: thread 0 with the other range "
	       "unpopulated, before, in each run)\n\n", size, cpus[0], cpus[1]);
	printf("%-*s %11s %11s %11s %11s %8s\n", name_width, "case", "thread 0", "thread 1",
	       "wall", "alone", "scaling");
	for (int i = 0; i < nmcases; i++) {
		struct mcase *c = &mcases[i];

		if (!layouts[c->layout].vmas || !has_result(c))
			continue;
		printf("%-*s %11.6f %11.6f %11.6f %11.6f %8.2f\n", name_width, c->name,
		       c->thread[0].median, c->thread[1].median, c->st.median, c->alone.median,
		       scaling(c));
	}
	printf("\nscaling: (2 x %s / wall time) / (%s / time alone); 2 is perfect, 1 no gain. "
	       "wall: first start to last end.\n", size, size);
}

static void print_table(void)
{
	char size[32];

	name_width = 38;
	for (int i = 0; i < nmcases; i++)
		if (mcases[i].selected && (int)strlen(mcases[i].name) > name_width)
			name_width = strlen(mcases[i].name);
	printf("pgmove-bench: Linux %s %s, pgmove ABI %u, features %#llx (", uts.release,
	       uts.machine, info.abi_version, (unsigned long long)info.features);
	print_features(stdout, " ");
	printf(")\n%d reps per case (reclaim-upstream: 1); seconds of the operation alone\n\n",
	       opt.reps);
	printf("%-*s %7s %11s %11s %11s  %s\n", name_width, "case", "size", "median", "min", "max",
	       "ratios (pgmove/peer)");
	for (int i = 0; i < nmcases; i++) {
		struct mcase *c = &mcases[i];
		double r;

		if (!c->selected)
			continue;
		print_size(size, sizeof(size), moved_bytes(c));
		print_row(c->name, size, c->na, &c->st);
		for (size_t k = 0; !c->na[0] && k < sizeof(ratio_defs) / sizeof(ratio_defs[0]); k++) {
			if (ratio_defs[k].m == c->method && ratio_of(c->layout, k, &r))
				printf("  %s %.2f", ratio_defs[k].label, r);
		}
		if (mut_factor(c, &r))
			printf("  +mut/no-mut %.2f", r);
		if (layouts[c->layout].vmas && has_result(c))
			printf("  scaling %.2f", scaling(c));
		if (c->note[0])
			printf("  [%s]", c->note);
		printf("\n");
	}
	for (struct rcase *rc = &rc_upstream; rc; rc = rc == &rc_upstream ? &rc_piecemeal : NULL) {
		if (!rc->selected)
			continue;
		print_size(size, sizeof(size), rc == &rc_upstream ? opt.reclaim_gib << 30 : opt.size);
		print_row(rc->name, size, rc->na, &rc->st);
		if (!rc->na[0] && rc->r.freed)
			printf("  %.2f µs/table", rc->st.median * 1e6 / rc->r.freed);
		printf("\n");
	}
	printf("\nA ratio is pgmove's median time over the peer's: below 1 means pgmove is faster.\n"
	       "*-objects and MOVEV: %zu objects of 4..64 kB, each moved to another dst offset.\n",
	       nobjs);
	for (int i = 0; i < nmcases; i++)
		if (layouts[mcases[i].layout].mut && has_result(&mcases[i])) {
			printf("+mut/no-mut: the median with the mutators over the median of the "
			       "same method without them.\n");
			break;
		}
	print_counts();
	print_movers();
	print_reclaim(&rc_upstream);
	print_reclaim(&rc_piecemeal);
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", *s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

static void json_stats(FILE *f, const struct stats *st)
{
	fprintf(f, "\"median_s\": %.9g, \"min_s\": %.9g, \"max_s\": %.9g, \"times_s\": [",
		st->median, st->min, st->max);
	for (int i = 0; i < st->n; i++)
		fprintf(f, "%s%.9g", i ? ", " : "", st->t[i]);
	fprintf(f, "]");
}

/* What the moves measured besides their times: counters, mutators, concurrent movers. */
static void json_move_extra(FILE *f, const struct mcase *c)
{
	const struct runinfo *ri = &c->run[c->median_run];
	double mib = moved_bytes(c) / (double)(1UL << 20), r;

	if (layouts[c->layout].mut) {
		fprintf(f, ", \"vs_no_mutators\": ");
		if (mut_factor(c, &r))
			fprintf(f, "%.6g", r);
		else
			fprintf(f, "null");
	}
	fprintf(f, ", \"counters_run\": %d, \"calls\": %lu, \"calls_per_mib\": %.6g, \"tlb\": ",
		c->median_run, ri->calls, ri->calls / mib);
	if (have_tlb) {
		fprintf(f, "{");
		for (int k = 0; k < NR_TLB_EVENTS; k++)
			fprintf(f, "\"%s\": %llu, ", tlb_keys[k], (unsigned long long)ri->tlb[k]);
		fprintf(f, "\"remote_flush_per_call\": %.6g",
			ri->calls ? (double)ri->tlb[TLB_REMOTE] / ri->calls : 0.0);
		for (int k = 0; k < NR_TLB_EVENTS; k++)
			fprintf(f, ", \"%s_per_mib\": %.6g", tlb_keys[k], ri->tlb[k] / mib);
		fprintf(f, "}");
	} else {
		fprintf(f, "null");
	}
	if (layouts[c->layout].mut) {
		fprintf(f, ", \"mutators\": {\"threads\": %d, \"mover_cpu\": %d, \"cpus\": [",
			nmuts, cpus[0]);
		for (int i = 0; i < nmuts; i++)
			fprintf(f, "%s%d", i ? ", " : "", muts[i].cpu);
		fprintf(f, "], \"least_loops\": %lu, \"runs_repeated\": %d}", ri->mut_loops,
			c->retries);
	}
	if (layouts[c->layout].vmas) {
		fprintf(f, ", \"movers\": {\"vmas\": %d, \"cpus\": [%d, %d], \"bytes_each\": %lu, "
			"\"scaling\": %.6g, \"threads\": [", layouts[c->layout].vmas, cpus[0],
			cpus[1], opt.size, scaling(c));
		for (int k = 0; k < 2; k++) {
			fprintf(f, "%s{", k ? ", " : "");
			json_stats(f, &c->thread[k]);
			fprintf(f, "}");
		}
		fprintf(f, "], \"alone\": {");
		json_stats(f, &c->alone);
		fprintf(f, "}}");
	}
}

static void json_reclaim(FILE *f, const struct rcase *rc)
{
	fprintf(f, "\"vmpte_kb\": {\"before\": %lld, ", rc->vmpte_base);
	if (rc->vmpte_filled >= 0)
		fprintf(f, "\"populated\": %lld, ", rc->vmpte_filled);
	fprintf(f, "\"after_dontneed\": %lld, \"after_reclaim\": %lld}, ", rc->vmpte_emptied,
		rc->vmpte_after);
	fprintf(f, "\"tables_emptied\": %zu, \"dontneed_freed\": %lld, \"dontneed_s\": %.9g, ",
		rc->tables, rc->dontneed_freed, rc->dontneed.median);
	fprintf(f, "\"scanned\": %llu, \"freed\": %llu, \"busy\": %llu, \"ineligible\": %llu, ",
		(unsigned long long)rc->r.scanned, (unsigned long long)rc->r.freed,
		(unsigned long long)rc->r.busy, (unsigned long long)rc->r.ineligible);
	fprintf(f, "\"reclaim_s\": %.9g, \"us_per_table\": %.9g, ", rc->st.median,
		rc->r.freed ? rc->st.median * 1e6 / rc->r.freed : 0.0);
}

static void write_json(const char *path)
{
	bool first = true;
	FILE *f = fopen(path, "w");

	if (!f)
		die_errno("%s", path);
	fprintf(f, "{\n  \"kernel\": ");
	json_str(f, uts.release);
	fprintf(f, ",\n  \"machine\": ");
	json_str(f, uts.machine);
	fprintf(f, ",\n  \"pgmove\": {\"abi_version\": %u, \"features\": %llu, \"feature_names\": [",
		info.abi_version, (unsigned long long)info.features);
	for (size_t i = 0, n = 0; i < sizeof(feature_names) / sizeof(feature_names[0]); i++)
		if (info.features & feature_names[i].bit)
			fprintf(f, "%s\"%s\"", n++ ? ", " : "", feature_names[i].name);
	fprintf(f, "]},\n  \"reps\": %d,\n  \"objects\": %zu,\n", opt.reps, nobjs);
	fprintf(f, "  \"cpus\": [");
	for (int i = 0; i < ncpus; i++)
		fprintf(f, "%s%d", i ? ", " : "", cpus[i]);
	fprintf(f, "],\n  \"mutators\": %d,\n  \"tlb_counters\": %s,\n", opt.mutators,
		have_tlb ? "true" : "false");
	if (!have_tlb)
		fprintf(f, "  \"tlb_counters_reason\": \"%s\",\n", NO_TLB_EVENTS);
	fprintf(f, "  \"counters_run\": \"%s\",\n", COUNTERS_RUN);
	fprintf(f, "  \"cases\": {");
	for (int i = 0; i < nmcases; i++) {
		struct mcase *c = &mcases[i];
		bool rfirst = true;

		if (!c->selected)
			continue;
		fprintf(f, "%s\n    ", first ? "" : ",");
		first = false;
		json_str(f, c->name);
		fprintf(f, ": {\"size\": %zu, \"reps\": %d, ", moved_bytes(c), c->st.n);
		if (c->na[0]) {
			fprintf(f, "\"status\": \"n/a\", \"reason\": ");
			json_str(f, c->na);
			fprintf(f, "}");
			continue;
		}
		fprintf(f, "\"status\": \"ok\", ");
		json_stats(f, &c->st);
		fprintf(f, ", \"ratios\": {");
		for (size_t k = 0; k < sizeof(ratio_defs) / sizeof(ratio_defs[0]); k++) {
			double r;

			if (ratio_defs[k].m != c->method || !find_mcase(c->layout, ratio_defs[k].peer))
				continue;
			fprintf(f, "%s\"%s\": ", rfirst ? "" : ", ", ratio_defs[k].label);
			rfirst = false;
			if (ratio_of(c->layout, k, &r))
				fprintf(f, "%.6g", r);
			else
				fprintf(f, "null");
		}
		fprintf(f, "}");
		json_move_extra(f, c);
		if (c->note[0]) {
			fprintf(f, ", \"note\": ");
			json_str(f, c->note);
		}
		fprintf(f, "}");
	}
	for (struct rcase *rc = &rc_upstream; rc; rc = rc == &rc_upstream ? &rc_piecemeal : NULL) {
		if (!rc->selected)
			continue;
		fprintf(f, "%s\n    ", first ? "" : ",");
		first = false;
		json_str(f, rc->name);
		fprintf(f, ": {\"size\": %zu, \"reps\": %d, ",
			rc == &rc_upstream ? opt.reclaim_gib << 30 : opt.size, rc->st.n);
		if (rc->na[0]) {
			fprintf(f, "\"status\": \"n/a\", \"reason\": ");
			json_str(f, rc->na);
			fprintf(f, "}");
			continue;
		}
		fprintf(f, "\"status\": \"ok\", ");
		json_reclaim(f, rc);
		json_stats(f, &rc->st);
		fprintf(f, ", \"ratios\": {}");
		if (rc->note[0]) {
			fprintf(f, ", \"note\": ");
			json_str(f, rc->note);
		}
		fprintf(f, "}");
	}
	fprintf(f, "\n  }\n}\n");
	if (fclose(f))
		die_errno("writing %s", path);
}

/* ---------------------------------------------------------------------------------------- */
/* Main                                                                                       */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: pgmove-bench [--size MiB] [--reps N] [--reclaim-gib N] [--json FILE]\n"
		"                    [--only PATTERN[,PATTERN...]] [--mutators N]\n"
		"Times PGMOVE_IOC_MOVE, PGMOVE_IOC_MOVEV and PGMOVE_IOC_RECLAIM against UFFDIO_MOVE,\n"
		"mremap, memcpy and MADV_DONTNEED. Root, with pgmove.ko loaded (/dev/pgmove).\n"
		"  --size MiB         bytes per move case (per mover of the 2movers cases) and of\n"
		"                     reclaim-piecemeal, a multiple of 2 (default 64)\n"
		"  --reps N           runs per case (default 5; reclaim-upstream runs once)\n"
		"  --reclaim-gib N    size of reclaim-upstream's area (default 8)\n"
		"  --json FILE        also write the results as JSON to FILE\n"
		"  --only PATTERN     run only the cases whose name contains PATTERN (case-sensitive;\n"
		"                     several separated by commas), e.g. move, move-thp, UFFDIO,\n"
		"                     MOVEV, +mut, 2movers, reclaim; move-4k/ for move-4k alone\n"
		"  --mutators N       threads of the +mut cases (default: one per other CPU this\n"
		"                     process may run on; 0: the +mut cases are n/a), at most %d\n"
		"  --help             this text\n"
		"Cases: move-4k/*, move-4k-unaligned/* with pgmove-MOVE, pgmove-MOVEV,\n"
		"pgmove-MOVE-objects, UFFDIO_MOVE, UFFDIO_MOVE-objects, mremap, memcpy+DONTNEED;\n"
		"move-thp/* with pgmove-MOVE, UFFDIO_MOVE, mremap; the same with mutators:\n"
		"move-4k+mut/*, move-4k-unaligned+mut/*, move-thp+mut/* (mutator i on CPU\n"
		"(1 + i) %% ncpus writes a word per page of its 64 kB in a loop while the mover,\n"
		"on CPU 0, moves); two concurrent movers on CPUs 0 and 1, 4 kB pages:\n"
		"move-4k-2movers-1vma/* (halves of one VMA), move-4k-2movers-2vmas/* (a VMA pair\n"
		"each) with pgmove-MOVE, UFFDIO_MOVE; reclaim-upstream, reclaim-piecemeal.\n"
		"Per move case also: the ioctls or syscalls of the timed part and the TLB flushes\n"
		"in it (/proc/vmstat nr_tlb_*, CONFIG_DEBUG_TLBFLUSH; system-wide), of the\n"
		"median-time run, per call and per MiB.\n", MAX_MUTATORS);
}

static unsigned long parse_num(const char *opt_name, const char *s, unsigned long min,
			       unsigned long max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "pgmove-bench: %s wants a number from %lu to %lu, not '%s'\n",
			opt_name, min, max, s);
		exit(2);
	}
	return v;
}

static bool selected(const char *name)
{
	char buf[256], *tok, *save;

	if (!opt.only)
		return true;
	snprintf(buf, sizeof(buf), "%s", opt.only);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (strstr(name, tok))
			return true;
	return false;
}

static void parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "reclaim-gib", required_argument, NULL, 'g' },
		{ "json", required_argument, NULL, 'j' },
		{ "only", required_argument, NULL, 'o' },
		{ "mutators", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			opt.size = parse_num("--size", optarg, 2, 1UL << 20) << 20;
			if (opt.size % PMD) {
				fprintf(stderr, "pgmove-bench: --size must be a multiple of 2 (MiB)\n");
				exit(2);
			}
			break;
		case 'r':
			opt.reps = parse_num("--reps", optarg, 1, MAX_REPS);
			break;
		case 'g':
			opt.reclaim_gib = parse_num("--reclaim-gib", optarg, 1, 1UL << 16);
			break;
		case 'j':
			opt.json = optarg;
			break;
		case 'o':
			opt.only = optarg;
			break;
		case 'm':
			opt.mutators = parse_num("--mutators", optarg, 0, MAX_MUTATORS);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "pgmove-bench: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		exit(2);
	}
}

/* Builds the list of cases and marks those that cannot run here. */
static int setup_cases(void)
{
	const char *uffd_na = NULL, *thp_na = NULL, *mut_na = NULL, *movers_na = NULL;
	static char uffd_why[128];
	bool want_uffd = false, want_thp = false, want_mut = false;
	int nsel = 0;

	for (int l = 0; l < NR_LAYOUTS; l++)
		for (int m = 0; m < NR_METHODS; m++) {
			struct mcase *c = &mcases[nmcases];

			if (layouts[l].thp && m != M_MOVE && m != M_UFFD && m != M_MREMAP)
				continue;
			if (layouts[l].vmas && m != M_MOVE && m != M_UFFD)
				continue;
			c->layout = l;
			c->method = m;
			snprintf(c->name, sizeof(c->name), "%s/%s", layouts[l].name,
				 method_names[m]);
			c->selected = selected(c->name);
			nmcases++;
			if (!c->selected)
				continue;
			nsel++;
			want_uffd |= is_uffd(m);
			want_thp |= layouts[l].thp;
		}
	rc_upstream.selected = selected(rc_upstream.name);
	rc_piecemeal.selected = selected(rc_piecemeal.name);
	nsel += rc_upstream.selected + rc_piecemeal.selected;

	if (want_uffd) {
		int fd = uffd_open();

		if (fd < 0) {
			snprintf(uffd_why, sizeof(uffd_why), "userfaultfd with UFFD_FEATURE_MOVE: %s",
				 strerror(errno));
			uffd_na = uffd_why;
		} else {
			close(fd);
		}
	}
	if (want_thp)
		thp_na = thp_setup();
	if (ncpus < 2) {
		mut_na = opt.mutators ? "no CPU for a mutator but the mover's: this process may "
					"run on 1 CPU only" :
					"no mutator: this process may run on 1 CPU only";
		movers_na = "two concurrent movers need 2 CPUs: this process may run on 1 only";
	} else if (!opt.mutators) {
		mut_na = "no mutator (--mutators 0)";
	}
	for (int i = 0; i < nmcases; i++) {
		struct mcase *c = &mcases[i];
		const char *na = NULL;

		if (!c->selected)
			continue;
		if (c->method == M_MOVEV && !(info.features & PGMOVE_FEAT_MOVEV))
			na = "the module lacks PGMOVE_FEAT_MOVEV";
		else if ((c->method == M_MOVE || c->method == M_MOVE_OBJ) &&
			 !(info.features & PGMOVE_FEAT_MOVE))
			na = "the module lacks PGMOVE_FEAT_MOVE";
		else if (is_uffd(c->method) && uffd_na)
			na = uffd_na;
		else if (layouts[c->layout].thp && thp_na)
			na = thp_na;
		else if (layouts[c->layout].mut && mut_na)
			na = mut_na;
		else if (layouts[c->layout].vmas && movers_na)
			na = movers_na;
		if (na)
			snprintf(c->na, sizeof(c->na), "%s", na);
		else
			want_mut |= layouts[c->layout].mut;
	}
	if (want_mut)
		mutators_setup(opt.mutators);
	if (!(info.features & PGMOVE_FEAT_RECLAIM)) {
		snprintf(rc_upstream.na, sizeof(rc_upstream.na), "the module lacks PGMOVE_FEAT_RECLAIM");
		snprintf(rc_piecemeal.na, sizeof(rc_piecemeal.na), "the module lacks PGMOVE_FEAT_RECLAIM");
	}
	return nsel;
}

int main(int argc, char **argv)
{
	uint64_t seed = 0x62656e6368ULL;	/* the tags; fixed, so a failure can be replayed */
	int nsel, done = 0;

	parse_args(argc, argv);
	if (uname(&uts))
		die_errno("uname");
	devfd = open("/dev/pgmove", O_RDWR | O_CLOEXEC);
	if (devfd < 0)
		die_errno("/dev/pgmove%s", errno == ENOENT ? " (is pgmove.ko loaded?)" : "");
	if (ioctl(devfd, PGMOVE_IOC_INFO, &info))
		die_errno("PGMOVE_IOC_INFO");
	if (info.abi_version != PGMOVE_ABI_VERSION)
		die("the module speaks ABI %u, this program ABI %u", info.abi_version,
		    PGMOVE_ABI_VERSION);
	cpus_setup();
	if (opt.mutators < 0)
		opt.mutators = ncpus - 1;
	nsel = setup_cases();
	if (!nsel)
		die("no case matches --only %s (--help lists them)", opt.only);
	make_objects(opt.size);
	tlb_setup();
	fprintf(stderr, "pgmove-bench: Linux %s, pgmove features %#llx, %lu MiB, %d reps, "
		"%zu objects, %d CPU%s, %d mutator%s\n", uts.release,
		(unsigned long long)info.features, opt.size >> 20, opt.reps, nobjs, ncpus,
		ncpus > 1 ? "s" : "", opt.mutators, opt.mutators == 1 ? "" : "s");

	for (int i = 0; i < nmcases; i++) {
		struct mcase *c = &mcases[i];

		if (!c->selected)
			continue;
		done++;
		if (c->na[0])
			fprintf(stderr, "[%d/%d] %s: n/a: %s\n", done, nsel, c->name, c->na);
	}
	/*
	 * In rounds: every case once per round, in order. The host's speed drifts (TCG), and
	 * a slow spell then falls on every case alike instead of on the few that ran in it.
	 */
	for (int rep = 0; rep < opt.reps; rep++) {
		for (int i = 0; i < nmcases; i++) {
			struct mcase *c = &mcases[i];
			uint64_t s = seed ^ ((uint64_t)i << 48) ^ ((uint64_t)rep << 40);
			struct runinfo *ri = &c->run[c->st.n];
			double t;

			if (!c->selected || c->na[0])
				continue;
			cur = c->name;
			fprintf(stderr, "[round %d/%d] %s...", rep + 1, opt.reps, c->name);
			if (layouts[c->layout].vmas)
				t = movers_run(c, rep, s, ri);
			else
				t = move_run_counted(c, rep, s, ri);
			if (t < 0) {
				/* move_run() said why in c->na: no later round runs the case. */
				fprintf(stderr, " n/a: %s\n", c->na);
				c->st.n = 0;
				continue;
			}
			c->st.t[c->st.n++] = t;
			fprintf(stderr, " %.6f s\n", t);
		}
	}
	for (int i = 0; i < nmcases; i++) {
		struct mcase *c = &mcases[i];

		if (!c->selected || !c->st.n)
			continue;
		compute_stats(&c->st);
		c->median_run = median_run(&c->st);
		if (!layouts[c->layout].vmas)
			continue;
		for (int k = 0; k < 2; k++) {
			for (int r = 0; r < c->st.n; r++)
				c->thread[k].t[r] = c->run[r].thread[k];
			c->thread[k].n = c->st.n;
			compute_stats(&c->thread[k]);
		}
		for (int r = 0; r < c->st.n; r++)
			c->alone.t[r] = c->run[r].alone;
		c->alone.n = c->st.n;
		compute_stats(&c->alone);
	}

	if (rc_upstream.selected) {
		cur = rc_upstream.name;
		done++;
		if (rc_upstream.na[0]) {
			fprintf(stderr, "[%d/%d] %s: n/a: %s\n", done, nsel, cur, rc_upstream.na);
		} else {
			fprintf(stderr, "[%d/%d] %s: 1 run\n", done, nsel, cur);
			reclaim_upstream(&rc_upstream);
			compute_stats(&rc_upstream.st);
			compute_stats(&rc_upstream.dontneed);
		}
	}
	if (rc_piecemeal.selected) {
		cur = rc_piecemeal.name;
		done++;
		if (rc_piecemeal.na[0]) {
			fprintf(stderr, "[%d/%d] %s: n/a: %s\n", done, nsel, cur, rc_piecemeal.na);
		} else {
			for (int rep = 0; rep < opt.reps; rep++) {
				fprintf(stderr, "[%d/%d] %s: rep %d/%d...", done, nsel, cur, rep + 1,
					opt.reps);
				reclaim_piecemeal(&rc_piecemeal, rep, seed ^ rep);
			}
			compute_stats(&rc_piecemeal.st);
			compute_stats(&rc_piecemeal.dontneed);
		}
	}
	cur = "output";
	print_table();
	if (opt.json)
		write_json(opt.json);
	if (close(devfd))
		die_errno("close /dev/pgmove");
	return 0;
}
