// SPDX-License-Identifier: GPL-2.0
/*
 * pgmove-pingpong: moves one populated range back and forth between two places, N times,
 * with nothing else in between, so that a profile of the run (tools/bench/profile) shows
 * the move itself and not the setup. Populates once, checks the contents at the end.
 *
 *   pgmove-pingpong [--thp] [--unaligned] [--uffd] [--mib M] [--rounds N]
 *
 * --thp: THP-backed (MADV_HUGEPAGE); --unaligned: the destination is a page off a PMD
 * boundary; --uffd: UFFDIO_MOVE (destination registered) instead of PGMOVE_IOC_MOVE.
 * Prints the time per round trip.
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
		{ "rounds", required_argument, NULL, 'r' }, { 0 }
	};
	bool thp = false, unaligned = false, use_uffd = false;
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
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long r = 0; r < rounds; r++) {
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
	printf("%s %s%s, %zu MiB: %.3f ms per one-way move (%ld round trips)\n",
	       use_uffd ? "UFFDIO_MOVE" : "pgmove MOVE", thp ? "THP" : "4 kB",
	       unaligned ? " unaligned" : "", len >> 20,
	       ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / (2.0 * rounds),
	       rounds);
	return 0;
}
