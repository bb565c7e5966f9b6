// SPDX-License-Identifier: GPL-2.0
/*
 * RECLAIM against every concurrent page-table walker a process can start: while one thread
 * reclaims a region in a loop (with and without PGMOVE_RECLAIM_ZEROPAGE), others fault and
 * write it, read it through GUP-fast (vmsplice), process_vm_readv and /proc/self/pagemap,
 * move pages with MOVE (RECLAIM_SRC too), mprotect part of it, fork children that read it,
 * and khugepaged scans it with no sleep. No page may be lost or show another page's data,
 * and VmPTE must fall by exactly 4 kB per table RECLAIM says it freed. (UFFDIO_MOVE is not
 * among them: RECLAIM frees nothing in an mm with a userfaultfd-registered VMA, which
 * reclaim_test's uffd cases check.)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "pgmove_harness.h"
#include "move_util.h"

#define R_TABLES 16		/* the region writers own: 12 tables of 4 kB pages, 4 THP */
#define THP_TABLES 4
#define M_PAGES 64		/* each of the mover's two areas */
#define WRITERS 2
#define SECONDS 12

struct stress {
	int fd;
	char *r;		/* R_TABLES * PMD */
	char *m1, *m2;		/* the mover's areas, M_PAGES each */
	char *u;		/* the mover's third area, M_PAGES */
	atomic_bool stop;
	atomic_long reclaims, freed, reads, moves, forks, writes, mprotects;
	atomic_int failures;
	const char *remote_via;	/* how remote_reader read */
	char failure[256];
};

#define R_PAGES (R_TABLES * PMD / PAGE)

/* The tag of page i of R at generation gen: the index (+1) in the low half, never 0. */
static inline unsigned long tag(unsigned long i, unsigned long gen)
{
	return (i + 1) | gen << 32;
}

static void write_tag(char *page, unsigned long t)
{
	unsigned long *w = (unsigned long *)page;

	w[0] = t;
	w[1] = ~t;
	w[PAGE / sizeof(long) - 1] = t * 31;
}

/* Whole-page check for the owner: exactly tag t, or all zero when t == 0. */
static bool page_is(const char *page, unsigned long t)
{
	const unsigned long *w = (const unsigned long *)page;

	if (!t)
		return all_zero(page, PAGE);
	return w[0] == t && w[1] == ~t && w[PAGE / sizeof(long) - 1] == t * 31;
}

/* Check for readers racing the owner: zero, or some generation of this page's tag. */
static bool page_plausible(const char *page, unsigned long i)
{
	unsigned long w0 = *(const unsigned long *)page;

	return w0 == 0 || (w0 & 0xffffffffUL) == i + 1;
}

static void fail(struct stress *s, const char *what, unsigned long i)
{
	int err = errno;

	if (atomic_fetch_add(&s->failures, 1) == 0)
		snprintf(s->failure, sizeof(s->failure), "%s (page %lu, errno %d)", what, i, err);
	atomic_store(&s->stop, true);
}

struct writer {
	struct stress *s;
	int id;
	unsigned long *expect;	/* per page of R: the tag it must hold (0: zero) */
};

/* The writer that owns page i of R: tables are dealt out in turn. */
static inline int owner(unsigned long i)
{
	return (i / (PMD / PAGE)) % WRITERS;
}

/*
 * Owns the tables t % WRITERS == id of R: writes, zaps and checks their pages, and now and
 * then empties a whole table (which RECLAIM then frees under the next fault).
 */
static void *writer(void *arg)
{
	struct writer *w = arg;
	struct stress *s = w->s;
	unsigned int seed = 77 + w->id;
	unsigned long gen = 1, per_table = PMD / PAGE;

	while (!atomic_load(&s->stop)) {
		unsigned long t = (rand_r(&seed) % (R_TABLES / WRITERS)) * WRITERS + w->id;
		unsigned long i = t * per_table + rand_r(&seed) % per_table;
		char *page = s->r + i * PAGE;

		if (rand_r(&seed) % 64 == 0) {
			if (madvise(s->r + t * PMD, PMD, MADV_DONTNEED))
				fail(s, "MADV_DONTNEED of a table", i);
			memset(&w->expect[t * per_table], 0, per_table * sizeof(w->expect[0]));
		}
		switch (rand_r(&seed) % 4) {
		case 0:
		case 1:
			w->expect[i] = tag(i, gen++);
			write_tag(page, w->expect[i]);
			atomic_fetch_add(&s->writes, 1);
			break;
		case 2:
			if (madvise(page, PAGE, MADV_DONTNEED))
				fail(s, "MADV_DONTNEED", i);
			w->expect[i] = 0;
			break;
		}
		if (!page_is(page, w->expect[i]))
			fail(s, "writer: page lost its contents", i);
	}
	return NULL;
}

/* Loops RECLAIM over all areas, alternating PGMOVE_RECLAIM_ZEROPAGE. */
static void *reclaimer(void *arg)
{
	struct stress *s = arg;
	unsigned long n = 0;

	while (!atomic_load(&s->stop)) {
		struct reclaim_res res = pgmove_do_reclaim(s->fd, s->r, R_TABLES * PMD,
							   n++ & 1 ? PGMOVE_RECLAIM_ZEROPAGE : 0);
		struct reclaim_res res2 = pgmove_do_reclaim(s->fd, s->m1, 4 * PMD, 0);

		if (res.ret || res2.ret)
			fail(s, "RECLAIM failed", 0);
		atomic_fetch_add(&s->freed, res.r.freed + res2.r.freed);
		atomic_fetch_add(&s->reclaims, 2);
	}
	return NULL;
}

/* Reads random pages of R through GUP-fast: vmsplice into a pipe, then read the pipe. */
static void *gup_fast_reader(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 5;
	static __thread char buf[PAGE];
	int p[2];

	if (pipe(p))
		return fail(s, "pipe", 0), NULL;
	fcntl(p[1], F_SETPIPE_SZ, 16 * PAGE);
	while (!atomic_load(&s->stop)) {
		unsigned long i = rand_r(&seed) % R_PAGES;
		struct iovec iov = { s->r + i * PAGE, PAGE };

		if (vmsplice(p[1], &iov, 1, 0) != PAGE || read(p[0], buf, PAGE) != PAGE) {
			fail(s, "vmsplice", i);
			break;
		}
		if (!page_plausible(buf, i))
			fail(s, "GUP-fast read another page's data", i);
		atomic_fetch_add(&s->reads, 1);
	}
	close(p[0]);
	close(p[1]);
	return NULL;
}

/*
 * Reads random pages of R through GUP on the mm (process_vm_readv, or /proc/self/mem where
 * the kernel lacks CONFIG_CROSS_MEMORY_ATTACH: both pin with get_user_pages_remote()) and
 * walks /proc/self/pagemap.
 */
static void *remote_reader(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 6;
	static __thread char buf[PAGE];
	int pagemap = open("/proc/self/pagemap", O_RDONLY), mem = open("/proc/self/mem", O_RDONLY);
	uint64_t *entries = malloc(R_PAGES * sizeof(*entries));
	bool pvr = true;

	while (!atomic_load(&s->stop)) {
		unsigned long i = rand_r(&seed) % R_PAGES;
		struct iovec local = { buf, PAGE }, remote = { s->r + i * PAGE, PAGE };
		ssize_t got = -1;

		if (pvr) {
			got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
			pvr = !(got < 0 && errno == ENOSYS);
		}
		if (!pvr)
			got = pread(mem, buf, PAGE, (unsigned long)remote.iov_base);
		if (got != PAGE) {
			fail(s, pvr ? "process_vm_readv" : "read /proc/self/mem", i);
			break;
		}
		if (!page_plausible(buf, i))
			fail(s, "process_vm_readv read another page's data", i);
		if (pread(pagemap, entries, R_PAGES * sizeof(*entries),
			  (unsigned long)s->r / PAGE * sizeof(*entries)) !=
		    (ssize_t)(R_PAGES * sizeof(*entries)))
			fail(s, "pagemap read", i);
		atomic_fetch_add(&s->reads, 1);
	}
	s->remote_via = pvr ? "process_vm_readv" : "/proc/self/mem";
	free(entries);
	close(mem);
	close(pagemap);
	return NULL;
}

/*
 * Moves M_PAGES tagged pages m1 -> m2, m2 -> u, u -> m1 (the last with
 * PGMOVE_MOVE_RECLAIM_SRC), checking them after each step.
 */
static void *mover(void *arg)
{
	struct stress *s = arg;
	unsigned long len = M_PAGES * PAGE;

	fill_pages(s->m1, len, 99);
	while (!atomic_load(&s->stop)) {
		struct move_res r;

		r = pgmove_do_move(s->fd, (unsigned long)s->m2, (unsigned long)s->m1, len, 0);
		if (r.ret || check_pages(s->m2, len, 99) != -1)
			fail(s, "MOVE m1 -> m2", r.err);
		r = pgmove_do_move(s->fd, (unsigned long)s->u, (unsigned long)s->m2, len, 0);
		if (r.ret || check_pages(s->u, len, 99) != -1)
			fail(s, "MOVE m2 -> u", r.err);
		r = pgmove_do_move(s->fd, (unsigned long)s->m1, (unsigned long)s->u, len,
				   PGMOVE_MOVE_RECLAIM_SRC);
		if (r.ret || check_pages(s->m1, len, 99) != -1)
			fail(s, "MOVE u -> m1", r.err);
		atomic_fetch_add(&s->moves, 3);
	}
	return NULL;
}

/* Toggles PROT_EXEC on tables 4-5 of R: VMA splits and merges under the mmap write lock. */
static void *protector(void *arg)
{
	struct stress *s = arg;
	bool exec = false;

	while (!atomic_load(&s->stop)) {
		exec = !exec;
		if (mprotect(s->r + 4 * PMD, 2 * PMD,
			     PROT_READ | PROT_WRITE | (exec ? PROT_EXEC : 0)))
			fail(s, "mprotect", 0);
		atomic_fetch_add(&s->mprotects, 1);
		usleep(1000);
	}
	mprotect(s->r + 4 * PMD, 2 * PMD, PROT_READ | PROT_WRITE);
	return NULL;
}

/* Forks children that read all of R; each page must be plausible. */
static void *forker(void *arg)
{
	struct stress *s = arg;

	while (!atomic_load(&s->stop)) {
		int status;
		pid_t child = fork();

		if (!child) {
			for (unsigned long i = 0; i < R_PAGES; i++)
				if (!page_plausible(s->r + i * PAGE, i))
					_exit(1);
			_exit(0);
		}
		if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
		    WEXITSTATUS(status))
			fail(s, "a forked child saw another page's data", 0);
		atomic_fetch_add(&s->forks, 1);
		usleep(20000);
	}
	return NULL;
}

/* khugepaged's scan and alloc sleeps, set to 0 for the test and restored after. */
static const char *const khugepaged_knobs[] = {
	"/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs",
	"/sys/kernel/mm/transparent_hugepage/khugepaged/alloc_sleep_millisecs",
};

FIXTURE(walkers) {};
FIXTURE_SETUP(walkers) {}
FIXTURE_TEARDOWN(walkers) {}

/* 12.4 s (a 12 s stress) on the reference machine; 4x, scaled by the calibration. */
TEST_F_TIMEOUT(walkers, reclaim_races_every_walker, 50)
{
	struct stress *s = calloc(1, sizeof(*s));
	struct writer w[WRITERS];
	pthread_t th[WRITERS + 6];
	char old[2][32] = { "10000", "60000" };
	long long before, after;
	struct reclaim_res res;
	int n = 0;

	s->fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(s->fd, 0);
	s->r = map_anon(R_TABLES * PMD, true, false);
	s->m1 = map_anon(4 * PMD, true, false);
	s->m2 = map_anon(M_PAGES * PAGE, false, false);
	s->u = map_anon(M_PAGES * PAGE, false, false);
	ASSERT_TRUE(s->r && s->m1 && s->m2 && s->u);
	/* The forker's children must not share the mover's pages (MOVE would say EBUSY). */
	ASSERT_EQ(0, madvise(s->m1, 4 * PMD, MADV_DONTFORK));
	ASSERT_EQ(0, madvise(s->m2, M_PAGES * PAGE, MADV_DONTFORK));
	ASSERT_EQ(0, madvise(s->u, M_PAGES * PAGE, MADV_DONTFORK));
	ASSERT_EQ(0, madvise(s->r + (R_TABLES - THP_TABLES) * PMD, THP_TABLES * PMD,
			     MADV_HUGEPAGE));
	for (int k = 0; k < 2; k++) {
		read_file(khugepaged_knobs[k], old[k], sizeof(old[k]));
		write_file(khugepaged_knobs[k], "0");
	}
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){ s, i, calloc(R_PAGES, sizeof(unsigned long)) };
		pthread_create(&th[n++], NULL, writer, &w[i]);
	}
	pthread_create(&th[n++], NULL, reclaimer, s);
	pthread_create(&th[n++], NULL, gup_fast_reader, s);
	pthread_create(&th[n++], NULL, remote_reader, s);
	pthread_create(&th[n++], NULL, mover, s);
	pthread_create(&th[n++], NULL, protector, s);
	pthread_create(&th[n++], NULL, forker, s);
	for (int t = 0; t < SECONDS * 10 && !atomic_load(&s->stop); t++)
		usleep(100000);
	atomic_store(&s->stop, true);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (int k = 0; k < 2; k++)
		write_file(khugepaged_knobs[k], old[k]);
	TH_LOG("%ld reclaims freed %ld tables; %ld writes, %ld reads (GUP-fast, %s, pagemap), "
	       "%ld moves, %ld mprotects, %ld forks", s->reclaims, s->freed, s->writes, s->reads,
	       s->remote_via, s->moves, s->mprotects, s->forks);
	ASSERT_EQ(0, s->failures) TH_LOG("%s", s->failure);
	/* Every page holds what its writer last put there. */
	for (unsigned long i = 0; i < R_PAGES; i++) {
		ASSERT_TRUE(page_is(s->r + i * PAGE, w[owner(i)].expect[i])) TH_LOG("page %lu", i);
	}
	ASSERT_EQ(-1, check_pages(s->m1, M_PAGES * PAGE, 99));
	ASSERT_GT(s->freed, 0);
	ASSERT_GT(s->reads, 0);
	ASSERT_GT(s->moves, 0);
	ASSERT_GT(s->forks, 0);
	/* Empty everything; VmPTE falls by 4 kB per freed table, exactly. */
	ASSERT_EQ(0, madvise(s->r, R_TABLES * PMD, MADV_DONTNEED));
	ASSERT_EQ(0, madvise(s->m1, 4 * PMD, MADV_DONTNEED));
	before = vmpte_kb(0);
	res = pgmove_do_reclaim(s->fd, s->r, R_TABLES * PMD, 0);
	after = vmpte_kb(0);
	ASSERT_EQ(0, res.ret);
	ASSERT_EQ(0, res.r.busy);
	ASSERT_EQ((long long)res.r.freed * 4, before - after);
	close(s->fd);
}

TEST_HARNESS_MAIN
