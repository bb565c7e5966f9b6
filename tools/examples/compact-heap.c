// SPDX-License-Identifier: GPL-2.0
/*
 * compact-heap: a small concurrent mark-compact collector in the style of ART's, to show
 * UFFDIO_MOVE at work and to time it with and without libpgmove-uffd (tools/uffd-compat):
 *
 *   compact-heap [--mib N] [--mutators N]
 *   LD_PRELOAD=tools/uffd-compat/libpgmove-uffd.so compact-heap ...
 *
 * The heap (from-space) holds N MiB (default 64) of 64-byte objects; every other one is
 * live. After a mark phase that records, for each to-space page, the first live object
 * that goes there, the live objects are compacted into the to-space, a region registered
 * with a userfaultfd in MISSING mode, while mutator threads (default 2) already read it:
 *
 * - the worker thread compacts the to-space page by page into staging pages (a separate
 *   anonymous mapping, at the same offset), and every 2 MiB moves the run of pages it
 *   staged into place with one UFFDIO_MOVE;
 * - a mutator that touches a to-space page not in place yet faults; the fault-handler
 *   thread reads the uffd message, compacts that page itself if the worker has not got to
 *   it, and moves the staged page into place with UFFDIO_MOVE, which wakes the mutator;
 * - each mutator walks the whole to-space (from a different start) and checks every
 *   object; any wrong byte fails the run (exit 1).
 *
 * A page's state (below) says who compacts and who moves it: each step is claimed with a
 * compare-and-swap, so every page is compacted once and moved once.
 * Prints the mark and compaction times and the moves; the last line is machine-readable:
 *   compact-heap: mib=64 mutators=2 moves=... seconds=... verified=ok
 * where seconds is the compaction: from the start of the concurrent phase until the whole
 * to-space is in place. `make run` runs it both ways (Documentation/uffd-compat.rst).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define PMD (2UL << 20)
#define CHUNK_PAGES (PMD / PAGE)	/* the worker moves up to 2 MiB per call */
#define OBJ_SIZE 64
#define OBJS_PER_PAGE (PAGE / OBJ_SIZE)

struct obj {
	uint64_t id;		/* index in the from-space */
	uint64_t live;		/* set by the "program"; the mark phase reads it */
	uint64_t payload[6];	/* a function of id, checked by the mutators */
};

/* To-space page states; each transition is one thread's claim. */
enum { EMPTY, COMPACTING, STAGED, CLAIMED, MOVED };

static struct {
	char *from, *to, *stage;
	size_t nobjs, nlive, npages, to_len;
	uint64_t *live_bits;		/* mark bitmap over the from-space */
	size_t *first;			/* per to-space page: its first live from-space object */
	_Atomic unsigned char *state;	/* per to-space page */
	int uffd, stop_pipe[2];
	atomic_ulong moves, worker_pages, fault_pages, faults;
	atomic_bool failed;
} h;

static void die(const char *what)
{
	fprintf(stderr, "compact-heap: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t payload(uint64_t id, int i)
{
	return (id + 1) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)i << 56;
}

/* A private anonymous region of len bytes, 2 MiB aligned, in 4 kB pages. */
static char *map_region(size_t len)
{
	char *p = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	p = (char *)(((uintptr_t)p + PMD - 1) & ~(PMD - 1));
	if (madvise(p, len, MADV_NOHUGEPAGE))
		die("madvise");
	return p;
}

/* UFFDIO_MOVE all of [src, src + len) to dst, continuing after a partial move. */
static void move_pages(char *dst, char *src, size_t len)
{
	while (len) {
		struct uffdio_move m = {
			.dst = (uintptr_t)dst, .src = (uintptr_t)src, .len = len,
		};

		atomic_fetch_add(&h.moves, 1);
		if (ioctl(h.uffd, UFFDIO_MOVE, &m) == 0)
			return;
		if (errno != EAGAIN)
			die("UFFDIO_MOVE");
		if (m.move > 0) {	/* a part moved: go on from there */
			dst += m.move;
			src += m.move;
			len -= m.move;
		}
	}
}

/* Copy the live objects that belong on to-space page p into its staging page. */
static void compact_page(size_t p)
{
	struct obj *out = (struct obj *)(h.stage + p * PAGE);
	const struct obj *from = (const struct obj *)h.from;
	size_t i = h.first[p], k;

	for (k = 0; k < OBJS_PER_PAGE && p * OBJS_PER_PAGE + k < h.nlive; k++, i++) {
		while (!(h.live_bits[i / 64] >> (i % 64) & 1))
			i++;
		out[k] = from[i];
	}
}

/* Get page p into place now (a mutator faulted there). */
static void resolve_fault(size_t p)
{
	unsigned char s;

	for (;;) {
		s = EMPTY;
		if (atomic_compare_exchange_strong(&h.state[p], &s, COMPACTING)) {
			compact_page(p);
			atomic_store(&h.state[p], STAGED);
			continue;
		}
		if (s == STAGED && atomic_compare_exchange_strong(&h.state[p], &s, CLAIMED)) {
			move_pages(h.to + p * PAGE, h.stage + p * PAGE, PAGE);
			atomic_fetch_add(&h.fault_pages, 1);
			atomic_store(&h.state[p], MOVED);
			return;
		}
		if (s == MOVED) {
			/* The worker moved it, which woke the faulter; a wake costs nothing. */
			struct uffdio_range r = { .start = (uintptr_t)h.to + p * PAGE, .len = PAGE };

			if (ioctl(h.uffd, UFFDIO_WAKE, &r))
				die("UFFDIO_WAKE");
			return;
		}
		sched_yield();	/* the worker is compacting or moving it */
	}
}

static void *fault_handler(void *arg)
{
	struct pollfd pfd[2] = {
		{ .fd = h.uffd, .events = POLLIN }, { .fd = h.stop_pipe[0], .events = POLLIN },
	};
	struct uffd_msg msg;

	(void)arg;
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (pfd[1].revents)
			return NULL;
		if (read(h.uffd, &msg, sizeof(msg)) != sizeof(msg)) {
			if (errno == EAGAIN)
				continue;
			die("read uffd");
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT) {
			fprintf(stderr, "compact-heap: unexpected uffd event %u\n", msg.event);
			exit(1);
		}
		atomic_fetch_add(&h.faults, 1);
		resolve_fault((msg.arg.pagefault.address - (uintptr_t)h.to) / PAGE);
	}
}

/* Compact the to-space in order, moving each 2 MiB's staged run in one call. */
static void *worker(void *arg)
{
	size_t c, p, q, end;
	unsigned char s;

	(void)arg;
	for (c = 0; c < h.npages; c += CHUNK_PAGES) {
		end = c + CHUNK_PAGES < h.npages ? c + CHUNK_PAGES : h.npages;
		for (p = c; p < end; p++) {
			s = EMPTY;
			if (atomic_compare_exchange_strong(&h.state[p], &s, COMPACTING)) {
				compact_page(p);
				atomic_store(&h.state[p], STAGED);
			}
		}
		for (p = c; p < end; p = q) {
			s = STAGED;
			q = p + 1;
			if (!atomic_compare_exchange_strong(&h.state[p], &s, CLAIMED))
				continue;	/* the fault handler has it */
			for (; q < end; q++) {
				s = STAGED;
				if (!atomic_compare_exchange_strong(&h.state[q], &s, CLAIMED))
					break;
			}
			move_pages(h.to + p * PAGE, h.stage + p * PAGE, (q - p) * PAGE);
			atomic_fetch_add(&h.worker_pages, q - p);
			while (p < q)
				atomic_store(&h.state[p++], MOVED);
		}
	}
	/* Pages the fault handler claimed may still be on their way. */
	for (p = 0; p < h.npages; p++)
		while (atomic_load(&h.state[p]) != MOVED)
			sched_yield();
	return NULL;
}

/* Walk the whole to-space from page `start`, checking every object. */
static void *mutator(void *arg)
{
	size_t start = (size_t)arg, i, p, k, n;
	const struct obj *o;
	bool bad;
	int j;

	for (i = 0; i < h.npages; i++) {
		p = (start + i) % h.npages;
		o = (const struct obj *)(h.to + p * PAGE);
		for (k = 0; k < OBJS_PER_PAGE; k++) {
			n = p * OBJS_PER_PAGE + k;	/* the n-th live object: id 2n */
			if (n >= h.nlive)
				break;
			bad = o[k].id != 2 * n || o[k].live != 1;
			for (j = 0; j < 6 && !bad; j++)
				bad = o[k].payload[j] != payload(2 * n, j);
			if (bad) {
				if (!atomic_exchange(&h.failed, true))
					fprintf(stderr, "compact-heap: to-space object %zu (page %zu) "
						"has id %llu, expected %zu\n", n, p,
						(unsigned long long)o[k].id, 2 * n);
				return NULL;
			}
		}
	}
	return NULL;
}

static void setup_uffd(void)
{
	int flags = O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY;
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MOVE };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)h.to, .len = h.to_len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	h.uffd = syscall(SYS_userfaultfd, flags);
	if (h.uffd < 0) {	/* no unprivileged userfaultfd(2): try /dev/userfaultfd */
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);

		if (dev < 0)
			die("userfaultfd and /dev/userfaultfd");
		h.uffd = ioctl(dev, USERFAULTFD_IOC_NEW, flags);
		close(dev);
		if (h.uffd < 0)
			die("USERFAULTFD_IOC_NEW");
	}
	if (ioctl(h.uffd, UFFDIO_API, &api))
		die("UFFDIO_API with UFFD_FEATURE_MOVE (a kernel before 6.8?)");
	if (ioctl(h.uffd, UFFDIO_REGISTER, &reg))
		die("UFFDIO_REGISTER");
	if (!(reg.ioctls & (1ULL << _UFFDIO_MOVE))) {
		fprintf(stderr, "compact-heap: UFFDIO_MOVE not offered on the to-space\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mib", required_argument, NULL, 'm' },
		{ "mutators", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	unsigned long mib = 64, nmut = 2, i;
	pthread_t handler, work, *muts;
	double t0, t1, t2;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'm')
			mib = strtoul(optarg, NULL, 0);
		else if (c == 't')
			nmut = strtoul(optarg, NULL, 0);
		else {
			fprintf(stderr, "usage: compact-heap [--mib N] [--mutators N]\n");
			return 2;
		}
	}
	if (mib < 1 || mib > 16384 || nmut < 1 || nmut > 256) {
		fprintf(stderr, "compact-heap: --mib 1..16384, --mutators 1..256\n");
		return 2;
	}

	/* The program ran: a from-space full of objects, every other one still live. */
	h.nobjs = (mib << 20) / OBJ_SIZE;
	h.from = map_region(mib << 20);
	for (i = 0; i < h.nobjs; i++) {
		struct obj *o = (struct obj *)h.from + i;

		o->id = i;
		o->live = !(i & 1);
		for (int j = 0; j < 6; j++)
			o->payload[j] = payload(i, j);
	}

	/* Mark: the live bitmap, and where each to-space page starts in the from-space. */
	t0 = now();
	h.live_bits = calloc(h.nobjs / 64 + 1, sizeof(uint64_t));
	h.first = calloc(h.nobjs / OBJS_PER_PAGE + 1, sizeof(size_t));
	if (!h.live_bits || !h.first)
		die("calloc");
	for (i = 0; i < h.nobjs; i++) {
		if (!((struct obj *)h.from)[i].live)
			continue;
		h.live_bits[i / 64] |= 1ULL << (i % 64);
		if (h.nlive % OBJS_PER_PAGE == 0)
			h.first[h.nlive / OBJS_PER_PAGE] = i;
		h.nlive++;
	}
	h.npages = (h.nlive + OBJS_PER_PAGE - 1) / OBJS_PER_PAGE;
	h.to_len = (h.npages * PAGE + PMD - 1) & ~(PMD - 1);
	h.to = map_region(h.to_len);
	h.stage = map_region(h.to_len);
	h.state = calloc(h.npages, 1);
	if (!h.state)
		die("calloc");
	setup_uffd();
	if (pipe2(h.stop_pipe, O_CLOEXEC))
		die("pipe");
	printf("compact-heap: %lu MiB heap, %zu objects of %d B, %zu live -> %zu to-space pages\n",
	       mib, h.nobjs, OBJ_SIZE, h.nlive, h.npages);

	/* Compact, concurrently with the mutators. */
	t1 = now();
	muts = calloc(nmut, sizeof(*muts));
	if (!muts || pthread_create(&handler, NULL, fault_handler, NULL) ||
	    pthread_create(&work, NULL, worker, NULL))
		die("pthread_create");
	for (i = 0; i < nmut; i++)
		if (pthread_create(&muts[i], NULL, mutator, (void *)(i * h.npages / nmut)))
			die("pthread_create");
	pthread_join(work, NULL);
	t2 = now();
	for (i = 0; i < nmut; i++)
		pthread_join(muts[i], NULL);
	if (write(h.stop_pipe[1], "x", 1) != 1)
		die("write");
	pthread_join(handler, NULL);

	printf("compact-heap: mark %.3f s; compaction %.3f s: %lu UFFDIO_MOVE calls, worker moved "
	       "%lu pages, %lu faults, %lu pages moved on a fault\n", t1 - t0, t2 - t1,
	       atomic_load(&h.moves), atomic_load(&h.worker_pages), atomic_load(&h.faults),
	       atomic_load(&h.fault_pages));
	if (!atomic_load(&h.failed))
		printf("compact-heap: %lu mutators checked all %zu live objects\n", nmut, h.nlive);
	printf("compact-heap: mib=%lu mutators=%lu moves=%lu seconds=%.3f verified=%s\n", mib, nmut,
	       atomic_load(&h.moves), t2 - t1, atomic_load(&h.failed) ? "FAILED" : "ok");
	return atomic_load(&h.failed) ? 1 : 0;
}
