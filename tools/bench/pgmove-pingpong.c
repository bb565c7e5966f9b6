// SPDX-License-Identifier: GPL-2.0
/*
 * pgmove-pingpong: moves one populated range back and forth between two places, N times,
 * with nothing else in between, so that a profile of the run (tools/bench/profile) shows
 * the move itself and not the setup. Populates once, checks the contents at the end.
 *
 *   pgmove-pingpong [--thp] [--unaligned] [--uffd] [--objects] [--mib M] [--rounds N]
 *
 * --thp: THP-backed (MADV_HUGEPAGE); --unaligned: the destination is a page off a PMD
 * boundary; --uffd: UFFDIO_MOVE (destination registered) instead of PGMOVE_IOC_MOVE;
 * --objects: the range cut into objects of 1..16 pages that go to shuffled places at the
 * destination (as pgmove-bench's MOVEV case), moved there and back by PGMOVE_IOC_MOVEV calls
 * of up to PGMOVE_MOVEV_MAX entries (with --uffd: one UFFDIO_MOVE per object).
 * Prints the time per one-way move.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/userfaultfd.h>
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

#include <linux/pgmove.h>

#define PAGE 4096UL
#define PMD (2UL << 20)

static void die(const char *what)
{
	fprintf(stderr, "pgmove-pingpong: %s: %s\n", what, strerror(errno));
	exit(1);
}

static char *map_aligned(size_t len, bool thp)
{
	char *p = mmap(NULL, len + 2 * PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	p = (char *)(((uintptr_t)p + PMD - 1) & ~(PMD - 1));
	madvise(p, len + PMD, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	return p;
}

/* The objects of --objects: [src_off, src_off + len) goes to dst_off. */
struct object {
	size_t src_off, dst_off, len;
};

static uint64_t rnd(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ULL + 1442695040888963407ULL;
	return *seed >> 33;
}

/* Cuts [0, len) into objects of 1..16 pages in order, placed at shuffled offsets. */
static struct object *make_objects(size_t len, size_t *n)
{
	struct object *o = calloc(len / PAGE, sizeof(*o));
	size_t *order, off = 0, d = 0, k = 0;
	uint64_t seed = 0x70696e67706f6e67ULL;

	if (!o)
		die("calloc");
	for (; off < len; k++) {
		size_t l = (1 + rnd(&seed) % 16) * PAGE;

		o[k].src_off = off;
		o[k].len = l < len - off ? l : len - off;
		off += o[k].len;
	}
	order = calloc(k, sizeof(*order));
	if (!order)
		die("calloc");
	for (size_t i = 0; i < k; i++)
		order[i] = i;
	for (size_t i = k - 1; i > 0; i--) {
		size_t j = rnd(&seed) % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < k; i++) {
		o[order[i]].dst_off = d;
		d += o[order[i]].len;
	}
	free(order);
	*n = k;
	return o;
}

/* The objects moved from src to dst (back: from dst to src), as MOVEV calls. */
static void movev(int fd, struct pgmove_move *v, struct object *o, size_t n, char *dst,
		  char *src, bool back)
{
	for (size_t i = 0; i < n; i++) {
		char *from = back ? dst + o[i].dst_off : src + o[i].src_off;
		char *to = back ? src + o[i].src_off : dst + o[i].dst_off;

		v[i] = (struct pgmove_move){ .dst = (uintptr_t)to, .src = (uintptr_t)from,
					     .len = o[i].len };
	}
	for (size_t i = 0; i < n; i += PGMOVE_MOVEV_MAX) {
		struct pgmove_movev mv = {
			.moves = (uintptr_t)(v + i),
			.count = n - i < PGMOVE_MOVEV_MAX ? n - i : PGMOVE_MOVEV_MAX,
		};

		if (ioctl(fd, PGMOVE_IOC_MOVEV, &mv))
			die("PGMOVE_IOC_MOVEV (no EAGAIN expected: nothing else runs)");
	}
}

static void move(int fd, int uffd, char *dst, char *src, size_t len)
{
	size_t done = 0;

	while (done < len) {
		long long moved;
		int ret;

		if (uffd >= 0) {
			struct uffdio_move m = { .dst = (uintptr_t)dst + done,
						 .src = (uintptr_t)src + done, .len = len - done };

			ret = ioctl(uffd, UFFDIO_MOVE, &m);
			moved = m.move;
		} else {
			struct pgmove_move m = { .dst = (uintptr_t)dst + done,
						 .src = (uintptr_t)src + done, .len = len - done };

			ret = ioctl(fd, PGMOVE_IOC_MOVE, &m);
			moved = m.moved;
		}
		if (ret && errno != EAGAIN)
			die("move");
		done += moved > 0 ? moved : 0;
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "thp", no_argument, NULL, 't' }, { "unaligned", no_argument, NULL, 'a' },
		{ "uffd", no_argument, NULL, 'u' }, { "mib", required_argument, NULL, 'm' },
		{ "rounds", required_argument, NULL, 'r' }, { "objects", no_argument, NULL, 'o' },
		{ 0 }
	};
	bool thp = false, unaligned = false, use_uffd = false, objects = false;
	struct pgmove_move *v = NULL;
	struct object *obj = NULL;
	size_t nobj = 0;
	size_t len = 64UL << 20;
	long rounds = 200;
	int fd, uffd = -1, o;
	char *a, *b;
	struct timespec t0, t1;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't': thp = true; break;
		case 'a': unaligned = true; break;
		case 'u': use_uffd = true; break;
		case 'm': len = strtoul(optarg, NULL, 0) << 20; break;
		case 'r': rounds = strtol(optarg, NULL, 0); break;
		case 'o': objects = true; break;
		default: return 2;
		}
	}
	fd = open("/dev/pgmove", O_RDWR);
	if (fd < 0)
		die("/dev/pgmove");
	a = map_aligned(len, thp);
	b = map_aligned(len, thp) + (unaligned ? PAGE : 0);
	for (size_t off = 0; off < len; off += PAGE)
		*(uint64_t *)(a + off) = off + 1;
	if (use_uffd) {
		struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MOVE };
		struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };

		uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
			die("userfaultfd");
		/* Both ranges are destinations in turn. */
		reg.range = (struct uffdio_range){ (uintptr_t)a, len };
		if (ioctl(uffd, UFFDIO_REGISTER, &reg))
			die("UFFDIO_REGISTER");
		reg.range = (struct uffdio_range){ (uintptr_t)b, len };
		if (ioctl(uffd, UFFDIO_REGISTER, &reg))
			die("UFFDIO_REGISTER");
	}
	if (objects) {
		obj = make_objects(len, &nobj);
		v = calloc(nobj, sizeof(*v));
		if (!v)
			die("calloc");
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long r = 0; r < rounds; r++) {
		if (objects && uffd < 0) {
			movev(fd, v, obj, nobj, b, a, false);
			movev(fd, v, obj, nobj, b, a, true);
			continue;
		}
		if (objects) {
			for (size_t i = 0; i < nobj; i++)
				move(fd, uffd, b + obj[i].dst_off, a + obj[i].src_off, obj[i].len);
			for (size_t i = 0; i < nobj; i++)
				move(fd, uffd, a + obj[i].src_off, b + obj[i].dst_off, obj[i].len);
			continue;
		}
		move(fd, uffd, b, a, len);
		move(fd, uffd, a, b, len);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (uffd >= 0)
		close(uffd);	/* unregisters: reading a hole must not wait for a userfault */
	for (size_t off = 0; off < len; off += PAGE)
		if (*(uint64_t *)(a + off) != off + 1) {
			fprintf(stderr, "pgmove-pingpong: page %zu lost its contents\n", off / PAGE);
			return 1;
		}
	printf("%s %s%s%s, %zu MiB: %.3f ms per one-way move (%ld round trips)\n",
	       use_uffd ? "UFFDIO_MOVE" : objects ? "pgmove MOVEV" : "pgmove MOVE",
	       thp ? "THP" : "4 kB", unaligned ? " unaligned" : "",
	       objects ? " objects" : "", len >> 20,
	       ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / (2.0 * rounds),
	       rounds);
	return 0;
}
