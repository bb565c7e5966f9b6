// SPDX-License-Identifier: GPL-2.0
/*
 * How slow is this machine? tools/vm-run --calibrate runs this in the VM before the tests,
 * with pgmove.ko loaded, and exports what it prints last, PGMOVE_TIME_SCALE=<factor>, to
 * the tests: every case's timeout is multiplied by it (pgmove_harness.h), and so is the
 * kselftest runner's per-program timeout (selftests/Makefile).
 *
 * The work is what the tests do most: two threads (always two, whatever the CPU count, so
 * a guest with one vCPU measures the contention that the tests' threads will meet) each
 * populate 32 MiB of 4 kB pages, move them with PGMOVE_IOC_MOVE, check them and unmap
 * both areas: 64 MiB populated and moved per round. The factor is the median of ROUNDS
 * rounds over REFERENCE_S, the median measured on the reference machine, where every
 * timeout of the suite was measured (Documentation/testing.rst gives the machine).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/pgmove.h>

#define ROUNDS 5
#define THREADS 2
#define AREA (32UL << 20)
#define PMD_SIZE_ (2UL << 20)
#define PAGE 4096UL
/* Median round on the reference machine (2026-12-04, 2 cores, debug kernel under TCG). */
#define REFERENCE_S 0.75

static int dev;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A 2 MiB-aligned private anonymous area of AREA bytes, kept on 4 kB pages. */
static char *area(void)
{
	char *p = mmap(NULL, AREA + PMD_SIZE_, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	p = (char *)(((unsigned long)p + PMD_SIZE_ - 1) & ~(PMD_SIZE_ - 1));
	madvise(p, AREA, MADV_NOHUGEPAGE);
	return p;
}

/* One thread's share of a round; returns NULL, or a message saying what went wrong. */
static void *work(void *arg)
{
	char *src = area(), *dst = area();
	struct pgmove_move m = { .len = AREA };

	(void)arg;
	if (!src || !dst)
		return "mmap failed";
	for (unsigned long off = 0; off < AREA; off += PAGE)
		*(unsigned long *)(src + off) = off | 1;
	m.src = (unsigned long)src;
	m.dst = (unsigned long)dst;
	while (ioctl(dev, PGMOVE_IOC_MOVE, &m)) {
		if (errno != EAGAIN)
			return "PGMOVE_IOC_MOVE failed";
		m.src += m.moved;
		m.dst += m.moved;
		m.len -= m.moved;
		m.moved = 0;
	}
	for (unsigned long off = 0; off < AREA; off += PAGE)
		if (*(unsigned long *)(dst + off) != (off | 1))
			return "moved contents differ";
	munmap(src, AREA);
	munmap(dst, AREA);
	return NULL;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	double t[ROUNDS], scale;

	dev = open("/dev/pgmove", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		perror("calibrate: /dev/pgmove");
		return 1;
	}
	for (int r = 0; r < ROUNDS; r++) {
		pthread_t th[THREADS];
		double t0 = now_s();

		for (int i = 0; i < THREADS; i++)
			pthread_create(&th[i], NULL, work, NULL);
		for (int i = 0; i < THREADS; i++) {
			void *err;

			pthread_join(th[i], &err);
			if (err) {
				fprintf(stderr, "calibrate: %s: %s\n", (char *)err, strerror(errno));
				return 1;
			}
		}
		t[r] = now_s() - t0;
	}
	qsort(t, ROUNDS, sizeof(t[0]), cmp);
	scale = t[ROUNDS / 2] / REFERENCE_S;
	printf("calibrate: %d rounds of populating and moving %lu MiB in %d threads: "
	       "median %.3f s (min %.3f, max %.3f), reference %.3f s\n", ROUNDS,
	       THREADS * AREA >> 20, THREADS, t[ROUNDS / 2], t[0], t[ROUNDS - 1], REFERENCE_S);
	printf("PGMOVE_TIME_SCALE=%.2f\n", scale);
	return 0;
}
