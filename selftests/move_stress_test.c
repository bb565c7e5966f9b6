// SPDX-License-Identifier: GPL-2.0
/*
 * MOVE under concurrency: movers shuffle tagged pages around one VMA (with PGMOVE_IOC_MOVE
 * one range at a time, and with PGMOVE_IOC_MOVEV many at once) while other threads
 * fault, write, MADV_DONTNEED, MADV_PAGEOUT, mprotect and fork. Every page carries a unique
 * tag and a checksum; no operation of the others can create or destroy a tag, so at the end
 * (and in every forked child's view) a census must find each tag exactly once.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include "pgmove_harness.h"
#include "move_util.h"

#define SLOTS 1024UL		/* tagged area: slots, half of them holding a tag at start */
#define TAGS (SLOTS / 2)
#define SCRATCH 512UL		/* scratch pages after it in the same VMA */
#define SECONDS 12

struct stress {
	int fd;
	char *area;		/* SLOTS tagged slots, then SCRATCH scratch pages */
	atomic_bool stop;
	atomic_long moves, moved_pages, movevs, forks, bad_errno, child_failures;
	atomic_int last_bad_errno;
};

static uint64_t tag_sum(uint64_t tag)
{
	return tag * 0x9e3779b97f4a7c15ULL ^ 0x5bd1e995;
}

static void tag_page(char *p, uint64_t tag)
{
	uint64_t *w = (uint64_t *)p;

	w[0] = tag + 1;		/* never zero */
	w[PAGE / 8 - 1] = tag_sum(tag);
}

/* Counts tags in the area: counts[t] for valid tags; returns the number of invalid pages. */
static long census(const char *area, unsigned int *counts)
{
	long invalid = 0;

	memset(counts, 0, TAGS * sizeof(*counts));
	for (unsigned long i = 0; i < SLOTS; i++) {
		const uint64_t *w = (const uint64_t *)(area + i * PAGE);

		if (!w[0] && !w[PAGE / 8 - 1])
			continue;	/* a hole, or a page only the writers' zero-adds created */
		if (w[0] - 1 >= TAGS || w[PAGE / 8 - 1] != tag_sum(w[0] - 1)) {
			invalid++;
			continue;
		}
		counts[w[0] - 1]++;
	}
	return invalid;
}

static unsigned int rnd(unsigned int *seed, unsigned int n)
{
	return rand_r(seed) % n;
}

static void *mover(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = (unsigned int)(uintptr_t)pthread_self();

	while (!s->stop) {
		unsigned long from = rnd(&seed, SLOTS), to = rnd(&seed, SLOTS);
		unsigned long n = 1 + rnd(&seed, 4);
		struct move_res r;

		if (from + n > SLOTS || to + n > SLOTS)
			continue;
		r = pgmove_do_move(s->fd, (unsigned long)s->area + to * PAGE,
				   (unsigned long)s->area + from * PAGE, n * PAGE,
				   rnd(&seed, 2) ? PGMOVE_MOVE_ALLOW_SRC_HOLES : 0);
		s->moves++;
		if (r.moved > 0)
			s->moved_pages += r.moved / PAGE;
		if (r.ret && r.err != EEXIST && r.err != ENOENT && r.err != EBUSY &&
		    r.err != EAGAIN) {
			s->bad_errno++;
			s->last_bad_errno = r.err;
		}
		if (r.ret && r.err == EAGAIN && r.moved < 0) {
			s->bad_errno++;
			s->last_bad_errno = -1000;
		}
	}
	return NULL;
}

/* Vectors of up to 32 moves of 1..32 pages each, some overlapping one another. */
static void *vector_mover(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 17;
	struct pgmove_move m[32];

	while (!s->stop) {
		unsigned int count = 1 + rnd(&seed, 32), i;
		struct pgmove_movev v = { .moves = (unsigned long)m, .count = count,
					  .completed = ~0ULL };
		int ret, err;

		for (i = 0; i < count; i++) {
			unsigned long n = 1 + rnd(&seed, 32);
			unsigned long from = rnd(&seed, SLOTS - n), to = rnd(&seed, SLOTS - n);

			m[i] = (struct pgmove_move){ .dst = (unsigned long)s->area + to * PAGE,
						     .src = (unsigned long)s->area + from * PAGE,
						     .len = n * PAGE, .moved = MOVED_UNSET,
						     .flags = rnd(&seed, 2) ? PGMOVE_MOVE_ALLOW_SRC_HOLES : 0 };
		}
		ret = ioctl(s->fd, PGMOVE_IOC_MOVEV, &v);
		err = ret ? errno : 0;
		s->movevs++;
		/* completed entries moved all; the one that stopped the call says why; the
		 * ones after it are untouched. */
		for (i = 0; i < count; i++) {
			bool ok;

			if (i < v.completed)
				ok = m[i].moved == (long long)m[i].len;
			else if (i == v.completed && ret)
				ok = err == EAGAIN ? m[i].moved > 0 && m[i].moved < (long long)m[i].len
						   : m[i].moved == -err;
			else
				ok = m[i].moved == MOVED_UNSET;
			if (m[i].moved > 0 && i <= v.completed)
				s->moved_pages += m[i].moved / PAGE;
			if (!ok || v.completed > count || (!ret && v.completed != count)) {
				s->bad_errno++;
				s->last_bad_errno = -2000 - (int)i;
			}
		}
		if (ret && err != EEXIST && err != ENOENT && err != EBUSY && err != EAGAIN) {
			s->bad_errno++;
			s->last_bad_errno = err;
		}
	}
	return NULL;
}

/* Faults and writes without creating tags: reads, and atomic adds of zero (a write fault
 * that breaks COW sharing after a fork, or maps a zero-filled page in a hole). */
static void *writer(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 7;

	while (!s->stop) {
		char *p = s->area + rnd(&seed, SLOTS) * PAGE;

		if (rnd(&seed, 2))
			atomic_fetch_add((_Atomic uint64_t *)(p + 8), 0);
		else
			(void)*(volatile uint64_t *)(p + 16);
		/* Each fault in a hole leaves a page there that blocks moves into it (EEXIST):
		 * keep the rate modest so the movers keep finding room. */
		usleep(500);
	}
	return NULL;
}

static void *pager(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 11;

	while (!s->stop) {
		unsigned long i = rnd(&seed, SLOTS - 64);

		madvise(s->area + i * PAGE, 64 * PAGE, MADV_PAGEOUT);
		usleep(2000);
	}
	return NULL;
}

/* DONTNEED and mprotect in the scratch part of the same VMA: splits and merges the VMA,
 * frees pages next to the movers'. */
static void *scratcher(void *arg)
{
	struct stress *s = arg;
	char *scratch = s->area + SLOTS * PAGE;
	unsigned int seed = 13;

	while (!s->stop) {
		unsigned long i = rnd(&seed, SCRATCH - 8);

		memset(scratch + i * PAGE, 1, 8 * PAGE);
		madvise(scratch + i * PAGE, 8 * PAGE, MADV_DONTNEED);
		mprotect(scratch + i * PAGE, PAGE, PROT_READ);
		mprotect(scratch + i * PAGE, PAGE, PROT_READ | PROT_WRITE);
	}
	return NULL;
}

static void *forker(void *arg)
{
	struct stress *s = arg;

	while (!s->stop) {
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			static unsigned int counts[TAGS];
			long invalid = census(s->area, counts);

			for (unsigned long t = 0; t < TAGS; t++)
				if (counts[t] != 1)
					_exit(1);
			_exit(invalid ? 2 : 0);
		}
		if (pid < 0)
			continue;
		waitpid(pid, &status, 0);
		s->forks++;
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			s->child_failures++;
		usleep(200000);
	}
	return NULL;
}

FIXTURE(stress) {
	int unused;
};

FIXTURE_SETUP(stress) {}
FIXTURE_TEARDOWN(stress) {}

/* 12 (a 12 s stress) s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(stress, concurrent_moves_keep_every_page_once, 60)
{
	static unsigned int counts[TAGS];
	struct stress s = { 0 };
	pthread_t t[8];
	int nt = 0;
	long invalid;

	s.fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(s.fd, 0);
	s.area = map_anon((SLOTS + SCRATCH) * PAGE, false, false);
	ASSERT_NE(NULL, s.area);
	for (unsigned long tag = 0; tag < TAGS; tag++)
		tag_page(s.area + 2 * tag * PAGE, tag);

	pthread_create(&t[nt++], NULL, mover, &s);
	pthread_create(&t[nt++], NULL, mover, &s);
	pthread_create(&t[nt++], NULL, vector_mover, &s);
	pthread_create(&t[nt++], NULL, writer, &s);
	if (have_swap())
		pthread_create(&t[nt++], NULL, pager, &s);
	pthread_create(&t[nt++], NULL, scratcher, &s);
	pthread_create(&t[nt++], NULL, forker, &s);
	sleep(SECONDS);
	s.stop = true;
	while (nt--)
		pthread_join(t[nt], NULL);

	TH_LOG("%ld moves, %ld MOVEVs, %ld pages moved, %ld forks checked", (long)s.moves,
	       (long)s.movevs, (long)s.moved_pages, (long)s.forks);
	ASSERT_EQ(0, s.bad_errno) TH_LOG("unexpected errno %d", (int)s.last_bad_errno);
	ASSERT_GT(s.moved_pages, 100) TH_LOG("the movers hardly moved anything");
	ASSERT_GT(s.movevs, 10);
	ASSERT_GT(s.forks, 0);
	ASSERT_EQ(0, s.child_failures) TH_LOG("a forked child's census failed");
	invalid = census(s.area, counts);
	ASSERT_EQ(0, invalid);
	for (unsigned long tag = 0; tag < TAGS; tag++) {
		ASSERT_EQ(1, counts[tag]) TH_LOG("tag %lu found %u times", tag, counts[tag]);
	}
	close(s.fd);
}

TEST_HARNESS_MAIN
