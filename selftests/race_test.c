// SPDX-License-Identifier: GPL-2.0
/*
 * Race windows, opened on purpose: each case holds a pgmove call at one named place in its
 * code, runs what another task could run there, lets the call go on, and checks the exact
 * outcome.
 *
 * Race points. The debug build (PGMOVE_RACE_POINTS=y) has named points in its code where a
 * task of an armed process can be held: `stop NAME TGID` written to
 * /sys/kernel/debug/pgmove/race_points makes the first task of TGID that gets there wait
 * until `release NAME` (race_util.h has the file's format and commands). An `atomic` point
 * is inside a section that may not sleep (page-table spinlocks, RCU): the task spins there,
 * preemption off, for at most 10 s. A `sleepable` point holds no spinlock: the task sleeps,
 * for at most 60 s. Either way the module lets the task go by itself after that and counts
 * it in `timeouts`; a case whose window was closed that way fails, since its racer then ran
 * after the window rather than in it. The file also says how often the point was reached
 * (`hits`) and whether, while it held the task, another task waited for a page-table lock
 * or folio lock that the held task holds (`contended`).
 *
 * A case:
 *  1. sets up memory, records the PFNs and contents, and starts its threads: the mover (the
 *     pgmove ioctl) and the racers, each pinned to a CPU and waiting for its turn. They are
 *     started before the window because creating a thread maps its stack, which needs the
 *     mmap lock that a mover may hold in the window;
 *  2. arms the point for getpid() and lets the mover go; waits until the point says
 *     `stopped` (the mover is held there);
 *  3. lets a racer do its one thing (pin a page, zap, fault, reclaim, soft-offline) and waits
 *     for it, within the window: a racer that needs something the mover holds does not
 *     finish until the mover goes on, and fails the case;
 *  4. releases the point, waits for the mover, checks that the point was reached (hits >= 1)
 *     and never timed out, and checks errno, `moved`, contents, PFNs, pagemap, RECLAIM's
 *     counts and VmPTE against what the module must give.
 * Every case disarms all points in its teardown (and its setup), so a failing case leaves
 * nothing armed.
 *
 * CPUs. At an atomic point the held mover spins with preemption off: it keeps its CPU, so
 * the main thread and the racers run on another one (these cases need 2 CPUs; the VM has 2).
 * Where the racer itself spins on a lock the held task holds (reclaim_scanned_fault,
 * reclaim_scanned_move) or may (tables_listed_fault), the point is armed with `hold`, which
 * ends the stop by itself after a set time, and the case checks that the racer began before
 * that and ended after. The two cases about stale TLB entries (flush_pending_dontneed,
 * vmas_released_stale) run a reader on a second CPU whose TLB caches the source while the
 * mover sleeps at its point, and count the kernel's TLB shootdown rounds (the emulator's
 * TLB drops a stale entry within the window, so the reader alone would not tell).
 *
 * Partial moves are reported as MOVE (and UFFDIO_MOVE) report them: a call that moved some
 * pages and then met an error fails with EAGAIN and `moved` = the bytes it moved; the call
 * that continues from there gets the error itself, with nothing moved (`moved` = -errno).
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include "pgmove_harness.h"
#include "move_util.h"
#include "race_util.h"

#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE 101
#endif

/*
 * Safety nets, in milliseconds on the reference machine (scaled by PGMOVE_TIME_SCALE). What
 * they wait for takes microseconds when the module works.
 */
#define REACH_MS 20000	/* the mover gets to its point */
#define RACER_MS 5000	/* a racer's syscall or fault, inside the window (capped below the hold) */
#define RETURN_MS 20000	/* the mover, or a task that waited for it, returns after the release */

/*
 * Case timeouts. A passing case takes about a second (the whole program, 16 cases, 17 s in
 * make check of 2026-12-05; the `hold` cases hold for HOLD_MS). This covers the safety nets
 * of a failing one (reaching the point, the window, the return: ~50 s at an atomic point,
 * ~90 s at a sleepable one), which a case that times out would not report.
 */
#define CASE_TIMEOUT 120

#define ATOMIC_WHY                                                                          \
	"the mover is held at an atomic point, spinning with preemption off on its CPU; "  \
	"the thread that releases it needs another"

/* ---------------------------------------------------------------------------------------- */
/* CPUs                                                                                     */

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* The first max CPUs this process may run on, into cpus; how many there are. */
static int allowed_cpus(int *cpus, int max)
{
	cpu_set_t set;
	int n = 0;

	if (sched_getaffinity(0, sizeof(set), &set))
		return 0;
	for (int c = 0; c < CPU_SETSIZE && n < max; c++)
		if (CPU_ISSET(c, &set))
			cpus[n++] = c;
	return n;
}

#define NEED_CPUS(cpus, n, why)                                                             \
	do {                                                                                \
		if (allowed_cpus(cpus, 3) < (n))                                            \
			SKIP(return, "needs %d CPUs: %s", (n), why);                        \
	} while (0)

/*
 * A PMD-aligned 2 MiB of anonymous memory (no THP) for a mover held at an atomic point: the
 * PTE tables it locks then map nothing but this range, so no other access of the process
 * (a fault of the main thread) can need a lock the held mover keeps; the mapping from
 * map_anon() of a smaller length would leave the rest of its table to other mappings.
 */
static char *map_table(void)
{
	return map_anon(PMD, true, false);
}

/* ---------------------------------------------------------------------------------------- */
/* Jobs: the mover and the racers, one thread each, pinned, started before the window        */

struct job {
	const char *what;		/* for the messages */
	void (*fn)(struct job *j);
	int cpu;
	/* what it works on */
	int fd;				/* /dev/pgmove, or the io_uring */
	char *dst, *src;		/* MOVE; src is the address of the other jobs */
	unsigned long len;
	unsigned long long flags;	/* MOVE */
	struct pgmove_move *vec;	/* MOVEV: the entries, and how many */
	unsigned int count;
	unsigned long long completed;	/* MOVEV */
	int advice;			/* madvise */
	long val;			/* write: the value; read: the page's index for the tag */
	unsigned long seed;		/* read: the fill_pages() seed */
	struct iovec iov;		/* pin */
	/* what it found */
	struct move_res move;
	struct reclaim_res reclaim;
	int ret, err;
	long bad;			/* read: check_pages_from() of the page read */
	uint64_t pfn;			/* read: the PFN mapped there after the read */
	long long t_start, t_end;	/* write, MOVE: CLOCK_MONOTONIC ns before and after */
	/* control */
	pthread_t th;
	pid_t tid;			/* for /proc/self/task/TID when it seems stuck */
	bool started;
	atomic_bool ready, go, done;
};

static void *job_thread(void *arg)
{
	struct job *j = arg;

	pin_to_cpu(j->cpu);
	(void)pgmove_now();
	race_prefault_stack();
	j->tid = gettid();
	atomic_store(&j->ready, true);
	while (!atomic_load(&j->go))
		usleep(200);
	j->fn(j);
	atomic_store(&j->done, true);
	return NULL;
}

/*
 * A job, its thread running on cpu and waiting for job_go(); the caller fills in what it
 * works on meanwhile. On the heap, not in the case's frame: an ASSERT leaves that frame
 * while the thread may still be writing its results. Returns once the thread runs (its
 * stack, and the page table under it, exist: VmPTE counts them from now on).
 */
static struct job *job_new(struct __test_metadata *_metadata, const char *what,
			   void (*fn)(struct job *), int cpu)
{
	struct job *j = calloc(1, sizeof(*j));

	ASSERT_NE(NULL, j);
	j->what = what;
	j->fn = fn;
	j->cpu = cpu;
	ASSERT_EQ(0, pthread_create(&j->th, NULL, job_thread, j));
	j->started = true;
	while (!atomic_load(&j->ready))
		usleep(100);
	return j;
}

static void job_go(struct job *j)
{
	atomic_store(&j->go, true);
}

/* Waits up to ms (already scaled) for the job to finish; whether it did. */
static bool job_wait(struct job *j, long ms)
{
	double end = pgmove_now() + ms / 1000.0;

	for (;;) {
		if (atomic_load(&j->done))
			return true;
		if (pgmove_now() > end)
			return false;
		usleep(RACE_POLL_US);
	}
}

static void job_join(struct job *j)
{
	if (j->started)
		pthread_join(j->th, NULL);
	j->started = false;
}


static void do_reclaim(struct job *j)
{
	j->reclaim = pgmove_do_reclaim(j->fd, j->src, j->len, 0);
}

/* IORING_REGISTER_BUFFERS of j->iov: pin_user_pages_fast(), GUP-fast, no lock. */
static void do_pin(struct job *j)
{
	j->ret = syscall(__NR_io_uring_register, j->fd, IORING_REGISTER_BUFFERS, &j->iov, 1);
	j->err = j->ret < 0 ? errno : 0;
}

static void do_madvise(struct job *j)
{
	j->ret = madvise(j->src, j->len, j->advice);
	j->err = j->ret ? errno : 0;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* A store to a page: a write fault where nothing is mapped; when it began and ended. */
static void do_write(struct job *j)
{
	j->t_start = now_ns();
	*(volatile long *)j->src = j->val;
	j->t_end = now_ns();
}

static void do_move(struct job *j)
{
	j->t_start = now_ns();
	j->move = pgmove_do_move(j->fd, (unsigned long)j->dst, (unsigned long)j->src, j->len,
				 j->flags);
	j->t_end = now_ns();
}

static void do_movev(struct job *j)
{
	struct pgmove_movev v = { .moves = (unsigned long)j->vec, .count = j->count,
				  .completed = ~0ULL };

	j->ret = ioctl(j->fd, PGMOVE_IOC_MOVEV, &v);
	j->err = j->ret ? errno : 0;
	j->completed = v.completed;
}

/* Reads the page at src (a fault if it is not present); what it holds and its PFN after. */
static void do_read(struct job *j)
{
	j->bad = check_pages_from(j->src, j->val, PAGE, j->seed);
	j->pfn = pfn_of(j->src);
}

/*
 * A fork() of the process: the child exits at once (fork() has made the process's pages
 * shared with it by then); the caller reaps it (pid in j->ret).
 */
static void do_fork(struct job *j)
{
	pid_t pid = fork();

	if (pid == 0)
		_exit(0);
	j->ret = pid;
	j->err = pid < 0 ? errno : 0;
}

/* mprotect(src, len, val): the job's `val` is the protection. */
static void do_mprotect(struct job *j)
{
	j->ret = mprotect(j->src, j->len, (int)j->val);
	j->err = j->ret ? errno : 0;
}

/* A MOVE of len bytes from src to dst, on cpu, waiting for job_go(). */
static struct job *mover_new(struct __test_metadata *_metadata, int fd, char *dst, char *src,
			     unsigned long len, int cpu)
{
	struct job *j = job_new(_metadata, "MOVE", do_move, cpu);

	j->fd = fd;
	j->dst = dst;
	j->src = src;
	j->len = len;
	return j;
}

/* A MOVEV of count entries, on cpu, waiting for job_go(). */
static struct job *movev_mover_new(struct __test_metadata *_metadata, int fd,
				   struct pgmove_move *vec, unsigned int count, int cpu)
{
	struct job *j = job_new(_metadata, "MOVEV", do_movev, cpu);

	j->fd = fd;
	j->vec = vec;
	j->count = count;
	return j;
}

/* A RECLAIM of [start, start + len) of the caller's mm, on cpu. */
static struct job *reclaimer_new(struct __test_metadata *_metadata, const char *what, int fd,
				 char *start, unsigned long len, int cpu)
{
	struct job *j = job_new(_metadata, what, do_reclaim, cpu);

	j->fd = fd;
	j->src = start;
	j->len = len;
	return j;
}

/* madvise(addr, len, advice), on cpu. */
static struct job *madviser_new(struct __test_metadata *_metadata, const char *what, char *addr,
				unsigned long len, int advice, int cpu)
{
	struct job *j = job_new(_metadata, what, do_madvise, cpu);

	j->src = addr;
	j->len = len;
	j->advice = advice;
	return j;
}

/* A store of val to addr (a write fault where nothing is mapped), timed, on cpu. */
static struct job *writer_new(struct __test_metadata *_metadata, const char *what, char *addr,
			      long val, int cpu)
{
	struct job *j = job_new(_metadata, what, do_write, cpu);

	j->src = addr;
	j->val = val;
	return j;
}

/* IORING_REGISTER_BUFFERS of the one page at addr on ring, on cpu. */
static struct job *pinner_new(struct __test_metadata *_metadata, int ring, char *addr, int cpu)
{
	struct job *j = job_new(_metadata, "the io_uring buffer registration (GUP-fast pin)",
				do_pin, cpu);

	j->fd = ring;
	j->iov = (struct iovec){ .iov_base = addr, .iov_len = PAGE };
	return j;
}

/* ---------------------------------------------------------------------------------------- */
/* The window                                                                               */

static void log_point(struct __test_metadata *_metadata, const char *point)
{
	struct race_point p;
	int err = race_read(point, &p);

	if (err) {
		TH_LOG("%s: cannot read it: %s; %s reads:", point, strerror(-err), RACE_POINTS_PATH);
		pgmove_dump_file(RACE_POINTS_PATH, "#   ");
		return;
	}
	TH_LOG("%s (%s): mode %s, tgid %ld, hits %lu, state %s, contended %d, timeouts %lu",
	       p.name, p.context, p.mode, p.tgid, p.hits, p.state, p.contended, p.timeouts);
}

/*
 * Arms point for this process (to stop at its (skip+1)-th hit), lets the mover go and waits
 * until the point holds it.
 */
static void arm_and_reach_nth(struct __test_metadata *_metadata, const char *point,
			      unsigned int skip, struct job *mover)
{
	int err = race_cmd("stop %s %d %u", point, getpid(), skip);

	if (err) {
		log_point(_metadata, point);
		ASSERT_EQ(0, err) TH_LOG("stop %s %d %u: %s", point, getpid(), skip,
					 strerror(-err));
	}
	job_go(mover);
	err = race_wait_state_or(point, "stopped", REACH_MS, &mover->done);
	if (err) {
		log_point(_metadata, point);
		if (atomic_load(&mover->done) && mover->fn == do_move)
			TH_LOG("MOVE returned (ret %d errno %d moved %lld) without being held at %s",
			       mover->move.ret, mover->move.err, mover->move.moved, point);
		else if (atomic_load(&mover->done))
			TH_LOG("RECLAIM returned (ret %d errno %d scanned %llu freed %llu) without "
			       "being held at %s", mover->reclaim.ret, mover->reclaim.err,
			       mover->reclaim.r.scanned, mover->reclaim.r.freed, point);
		ASSERT_EQ(0, err) TH_LOG("%s never held at %s: %s", mover->what, point, strerror(-err));
	}
}

/* The same, at the first hit. */
static void arm_and_reach(struct __test_metadata *_metadata, const char *point,
			  struct job *mover)
{
	arm_and_reach_nth(_metadata, point, 0, mover);
}

/* Where a job's thread is (its kernel stack and state), for a racer that seems stuck. */
static void log_job(struct __test_metadata *_metadata, struct job *j)
{
	char path[64], buf[2048];

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", j->tid);
	if (read_file(path, buf, sizeof(buf)) == 0)
		TH_LOG("%s is slow; %s: %s", j->what, path, buf);
	snprintf(path, sizeof(path), "/proc/self/task/%d/stack", j->tid);
	if (read_file(path, buf, sizeof(buf)) == 0)
		TH_LOG("%s: %s", path, buf);
}

/*
 * Lets the racer go while point holds the mover, and waits for it (within the hold): it
 * must finish while the mover is still held there.
 */
static void race_in_window(struct __test_metadata *_metadata, const char *point,
			   struct job *racer)
{
	struct race_point p;
	long ms;

	ASSERT_EQ(0, race_read(point, &p));
	ms = race_window_ms(&p, RACER_MS);
	job_go(racer);
	if (!job_wait(racer, ms / 4))
		log_job(_metadata, racer);
	if (!job_wait(racer, ms - ms / 4)) {
		log_point(_metadata, point);
		ASSERT_TRUE(false) TH_LOG("%s did not finish within %ld ms while %s held the "
					  "mover: it waits for something the mover holds",
					  racer->what, ms, point);
	}
	ASSERT_EQ(0, race_read(point, &p));
	ASSERT_STREQ("stopped", p.state)
		TH_LOG("%s finished only after %s let the mover go (state %s, timeouts %lu): it "
		       "waited for something the held task holds", racer->what, point, p.state,
		       p.timeouts);
}

/*
 * Waits (within the hold) until point reports contended == 1, while checking that waiter,
 * which must be blocked on what the held task holds, has not finished.
 */
static void wait_contended(struct __test_metadata *_metadata, const char *point,
			   struct job *waiter, const char *finished_early)
{
	struct race_point p;
	double end;

	ASSERT_EQ(0, race_read(point, &p));
	end = pgmove_now() + race_window_ms(&p, RACER_MS) / 1000.0;
	for (;;) {
		ASSERT_EQ(0, race_read(point, &p));
		if (atomic_load(&waiter->done)) {
			log_point(_metadata, point);
			ASSERT_TRUE(false) TH_LOG("%s (ret %d, errno %d)", finished_early, waiter->ret,
						  waiter->err);
		}
		if (p.contended == 1)
			break;
		if (strcmp(p.state, "stopped") || pgmove_now() > end) {
			log_point(_metadata, point);
			ASSERT_TRUE(false) TH_LOG("%s never reported a waiter for what it holds "
						  "(%s is still running)", point, waiter->what);
		}
		usleep(RACE_POLL_US);
	}
}

/*
 * Releases point, waits for the mover and checks the point: reached (hits >= 1), held and
 * released by us (state passed, no timeout). Disarms it; its last line goes to *after.
 */
static void release_and_join(struct __test_metadata *_metadata, const char *point,
			     struct job *mover, struct race_point *after)
{
	struct race_point p;
	int err = race_cmd("release %s", point);

	ASSERT_EQ(0, err) TH_LOG("release %s: %s", point, strerror(-err));
	if (!job_wait(mover, race_scaled_ms(RETURN_MS))) {
		log_point(_metadata, point);
		ASSERT_TRUE(false) TH_LOG("%s did not return within %ld ms of the release of %s",
					  mover->what, race_scaled_ms(RETURN_MS), point);
	}
	job_join(mover);
	ASSERT_EQ(0, race_read(point, &p));
	TH_LOG("%s (%s): hits %lu, state %s, contended %d, timeouts %lu, mode %s", p.name,
	       p.context, p.hits, p.state, p.contended, p.timeouts, p.mode);
	ASSERT_LE(1UL, p.hits) TH_LOG("%s was never reached", point);
	ASSERT_EQ(0UL, p.timeouts)
		TH_LOG("%s let the mover go by itself: the race ran after the window closed", point);
	ASSERT_STREQ("passed", p.state);
	ASSERT_EQ(0, race_cmd("off %s", point));
	if (after)
		*after = p;
}

/*
 * For a window whose racer spins on a lock the held task holds: with two CPUs both are then
 * spinning, no thread is left to release the point (and under QEMU a spinning waiter leaves
 * no trace in the lock for `contended`), so the point is armed with `hold`, which ends the
 * stop by itself after HOLD_MS, and says when (passed_ns). The racer must begin before that
 * and end after it.
 */
#define HOLD_MS 1000	/* reference machine; the racer starts within a few ms of the hold */

/* HOLD_MS scaled, below the module's 10 s at an atomic point. */
static long hold_ms(void)
{
	long ms = race_scaled_ms(HOLD_MS);

	return ms > 9000 ? 9000 : ms;
}

/* Arms point with `hold ms` and lets holder go until the point holds it. */
static void hold_and_reach(struct __test_metadata *_metadata, const char *point, long ms,
			   struct job *holder)
{
	int err = race_cmd("hold %s %d %ld", point, getpid(), ms);

	ASSERT_EQ(0, err) TH_LOG("hold %s: %s", point, strerror(-err));
	job_go(holder);
	err = race_wait_state_or(point, "stopped", REACH_MS, &holder->done);
	if (err) {
		log_point(_metadata, point);
		ASSERT_EQ(0, err) TH_LOG("%s never held at %s: %s", holder->what, point,
					 strerror(-err));
	}
}

/*
 * After a hold of ms at point: the hold ended by itself (no timeout), and racer (its
 * t_start and t_end) began in it and ended after it; else early says what went wrong.
 * Disarms the point.
 */
static void expect_across_hold(struct __test_metadata *_metadata, const char *point, long ms,
			       struct job *racer, const char *early)
{
	struct race_point pt;

	ASSERT_EQ(0, race_read(point, &pt));
	log_point(_metadata, point);
	TH_LOG("%s from %+.3f ms to %+.3f ms of the end of the %ld ms hold", racer->what,
	       (racer->t_start - pt.passed_ns) / 1e6, (racer->t_end - pt.passed_ns) / 1e6, ms);
	ASSERT_LE(1UL, pt.hits);
	ASSERT_EQ(0UL, pt.timeouts);
	ASSERT_STREQ("passed", pt.state);
	ASSERT_LT(racer->t_start, pt.passed_ns)
		TH_LOG("%s began only after the hold of %ld ms: the window was not raced",
		       racer->what, ms);
	ASSERT_GT(racer->t_end, pt.passed_ns) TH_LOG("%s", early);
	ASSERT_EQ(0, race_cmd("off %s", point));
}

/*
 * The whole of a held window: holds holder at point for ms (hold_and_reach()), lets racer
 * go, waits for both, then expect_across_hold().
 */
static void race_across_hold(struct __test_metadata *_metadata, const char *point, long ms,
			     struct job *holder, struct job *racer, const char *early)
{
	hold_and_reach(_metadata, point, ms, holder);
	job_go(racer);
	ASSERT_TRUE(job_wait(racer, race_scaled_ms(RETURN_MS) + ms))
		TH_LOG("%s did not finish", racer->what);
	job_join(racer);
	ASSERT_TRUE(job_wait(holder, race_scaled_ms(RETURN_MS)))
		TH_LOG("%s did not return", holder->what);
	job_join(holder);
	expect_across_hold(_metadata, point, ms, racer, early);
}

/* ---------------------------------------------------------------------------------------- */
/* Oracles                                                                                  */

/* The PFNs of n pages from p (all present). */
static uint64_t *record_pfns(struct __test_metadata *_metadata, const char *p, unsigned long n)
{
	uint64_t *pfn = calloc(n, sizeof(*pfn));

	ASSERT_NE(NULL, pfn);
	for (unsigned long i = 0; i < n; i++) {
		pfn[i] = pfn_of(p + i * PAGE);
		ASSERT_NE(0, pfn[i]) TH_LOG("page %lu not present (PFNs need root)", i);
	}
	return pfn;
}

/* Pages first..first+n-1 of the filled range are mapped at at, with their PFNs. */
static void expect_pfns(struct __test_metadata *_metadata, const char *where, const char *at,
			unsigned long first, unsigned long n, const uint64_t *pfn)
{
	for (unsigned long i = 0; i < n; i++) {
		uint64_t now = pfn_of(at + i * PAGE);

		ASSERT_EQ(pfn[first + i], now)
			TH_LOG("page %lu at the %s: PFN %#llx, expected %#llx (%s)", first + i,
			       where, (unsigned long long)now, (unsigned long long)pfn[first + i],
			       now ? "another page" : "not present");
	}
}

/* As expect_pfns(), and the pages hold what fill_pages() wrote there. */
static void expect_pages(struct __test_metadata *_metadata, const char *where, const char *at,
			 unsigned long first, unsigned long n, const uint64_t *pfn,
			 unsigned long seed)
{
	long bad;

	expect_pfns(_metadata, where, at, first, n, pfn);
	bad = check_pages_from(at, first, n * PAGE, seed);
	ASSERT_EQ(-1, bad) TH_LOG("page %ld at the %s does not hold its contents", bad, where);
}

/* Nothing (no page, no swap entry) is mapped at n pages from p; reads nothing. */
static void expect_none(struct __test_metadata *_metadata, const char *where, const char *p,
			unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		uint64_t e = pagemap_entry(p + i * PAGE);

		ASSERT_EQ(0, e & (PM_PRESENT | PM_SWAP))
			TH_LOG("page %lu of the %s is mapped (pagemap %#llx)", i, where,
			       (unsigned long long)e);
	}
}

/* A partial move: EAGAIN with the bytes moved. */
#define ASSERT_PARTIAL(r, bytes)                                                           \
	do {                                                                               \
		ASSERT_EQ(-1, (r).ret) TH_LOG("moved all (%lld)", (r).moved);              \
		ASSERT_EQ(EAGAIN, (r).err) TH_LOG("errno %d (%s), moved %lld", (r).err,    \
						  strerror((r).err), (r).moved);            \
		ASSERT_EQ((long long)(bytes), (r).moved);                                  \
	} while (0)

/* Nothing moved: the error, and moved = -errno. */
#define ASSERT_FAILS_WITH(r, e)                                                            \
	do {                                                                               \
		ASSERT_EQ(-1, (r).ret);                                                    \
		ASSERT_EQ((e), (r).err) TH_LOG("errno %d (%s)", (r).err, strerror((r).err)); \
		ASSERT_EQ(-(long long)(e), (r).moved);                                     \
	} while (0)

#define ASSERT_MOVED_ALL(r, bytes)                                                         \
	do {                                                                               \
		ASSERT_EQ(0, (r).ret) TH_LOG("errno %d (%s), moved %lld", (r).err,         \
					     strerror((r).err), (r).moved);                \
		ASSERT_EQ((long long)(bytes), (r).moved);                                  \
	} while (0)

/* An io_uring for fixed buffers, or -1. */
static int ring_open(void)
{
	struct io_uring_params params = { 0 };

	return syscall(__NR_io_uring_setup, 4, &params);
}

static int ring_unregister(int ring)
{
	return syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* The reader of the stale-TLB cases: on its own CPU, reads the source so its TLB caches it   */

enum { RD_IDLE, RD_LOOP };

struct reader {
	pthread_t th;
	int cpu;
	const char *p;
	unsigned long pages;	/* RD_LOOP reads the first word of pages [0, pages), over and over */
	atomic_int phase;	/* what the main thread asks */
	atomic_int at;		/* what the reader does now: RD_IDLE means it touches nothing of p */
	atomic_bool stop;
	atomic_long passes;
	/* RD_LOOP: passes that began and ended with mark set, and what they read non-zero */
	atomic_bool mark;
	unsigned long counted;	/* only pages [0, counted) count */
	atomic_long marked_passes, marked_nonzero;
	long first_bad, first_val;
	bool started;
};

static void *reader_fn(void *arg)
{
	struct reader *rd = arg;

	pin_to_cpu(rd->cpu);
	while (!atomic_load(&rd->stop)) {
		int ph = atomic_load(&rd->phase);

		atomic_store(&rd->at, ph);
		if (ph == RD_LOOP) {
			bool marked = atomic_load(&rd->mark);
			long n = 0;

			for (unsigned long i = 0; i < rd->pages; i++) {
				long v = *(volatile const long *)(rd->p + i * PAGE);

				if (v && marked && i < rd->counted && !n++) {
					rd->first_bad = i;
					rd->first_val = v;
				}
			}
			atomic_fetch_add(&rd->passes, 1);
			if (marked && atomic_load(&rd->mark)) {
				atomic_fetch_add(&rd->marked_nonzero, n);
				atomic_fetch_add(&rd->marked_passes, 1);
			}
		}
		/* RD_IDLE: spin here, on this CPU, in this mm, touching only *rd. */
	}
	return NULL;
}

/* A reader of pages [0, pages) from p on cpu, idle until reader_hammer(); on the heap. */
static struct reader *reader_new(struct __test_metadata *_metadata, const char *p,
				 unsigned long pages, int cpu)
{
	struct reader *rd = calloc(1, sizeof(*rd));

	ASSERT_NE(NULL, rd);
	rd->p = p;
	rd->pages = pages;
	rd->cpu = cpu;
	ASSERT_EQ(0, pthread_create(&rd->th, NULL, reader_fn, rd));
	rd->started = true;
	return rd;
}

/* Waits (ms, scaled) until cond holds; whether it did. */
#define WAIT_UNTIL(cond, ms)                                                               \
	({                                                                                 \
		double __end = pgmove_now() + race_scaled_ms(ms) / 1000.0;                 \
		bool __ok;                                                                 \
		while (!(__ok = (cond)) && pgmove_now() < __end)                           \
			usleep(RACE_POLL_US);                                              \
		__ok;                                                                      \
	})

/*
 * The reader reads its pages over and over, and goes on doing so: entries its TLB caches
 * stay hot there (a TLB entry left alone may be dropped for reasons of the emulator's own).
 */
static void reader_hammer(struct __test_metadata *_metadata, struct reader *rd)
{
	long passes = atomic_load(&rd->passes);

	atomic_store(&rd->phase, RD_LOOP);
	ASSERT_TRUE(WAIT_UNTIL(atomic_load(&rd->passes) >= passes + 3, REACH_MS))
		TH_LOG("the reader did not run on CPU %d", rd->cpu);
}

/*
 * How many non-zero words the hammering reader reads in pages [0, counted) in its passes
 * that begin after this call, at least two (what it reads from now on, with whatever its
 * TLB still caches).
 */
static long reader_marked(struct __test_metadata *_metadata, struct reader *rd,
			  unsigned long counted, long ms)
{
	rd->counted = counted;
	atomic_store(&rd->marked_passes, 0);
	atomic_store(&rd->marked_nonzero, 0);
	atomic_store(&rd->mark, true);
	ASSERT_TRUE(WAIT_UNTIL(atomic_load(&rd->marked_passes) >= 2, ms))
		TH_LOG("the reader's passes did not finish within %ld ms", ms);
	atomic_store(&rd->mark, false);
	return atomic_load(&rd->marked_nonzero);
}

/* Pages [0, n) of p no longer map the given PFNs (none, or a fresh zero page). */
static void expect_moved_away(struct __test_metadata *_metadata, const char *where,
			      const char *p, unsigned long n, const uint64_t *pfn)
{
	for (unsigned long i = 0; i < n; i++) {
		uint64_t now = pfn_of(p + i * PAGE);

		ASSERT_NE(pfn[i], now) TH_LOG("%s page %lu still maps PFN %#llx", where, i,
					     (unsigned long long)now);
	}
}

/*
 * A thread that keeps the reader's CPU in the mm's CPU mask: it loops on that CPU touching
 * nothing but its own counters (a reader of no pages). A flush of the mm then counts as a
 * shootdown round even while the reader itself sleeps (in a fault that waits for the mmap
 * lock) and another process's task could otherwise have the CPU.
 */
static struct reader *cpu_keeper_new(struct __test_metadata *_metadata, int cpu)
{
	struct reader *k = reader_new(_metadata, NULL, 0, cpu);

	reader_hammer(_metadata, k);
	return k;
}

static void reader_stop(struct reader *rd)
{
	if (!rd->started)
		return;
	atomic_store(&rd->stop, true);
	pthread_join(rd->th, NULL);
	rd->started = false;
}

/* ---------------------------------------------------------------------------------------- */

FIXTURE(race)
{
	int fd;
};

FIXTURE_SETUP(race)
{
	self->fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", PGMOVE_DEV, strerror(errno));
	if (!race_available()) {
		/* make check of the debug flavour builds them in: then they must be there. */
		const char *built = getenv("PGMOVE_RACE_POINTS");

		ASSERT_FALSE(built && !strcmp(built, "y"))
			TH_LOG("the module was built with race points (PGMOVE_RACE_POINTS=y) but "
			       "%s is missing", RACE_POINTS_PATH);
		SKIP(return, RACE_SKIP_REASON);
	}
	/* A case killed for its timeout had no teardown: start from nothing armed. */
	ASSERT_EQ(0, race_off_all());
}

FIXTURE_TEARDOWN(race)
{
	int err = race_off_all();

	if (err)
		TH_LOG("off all: %s: a point may still be armed", strerror(-err));
	close(self->fd);
}

/* ---------------------------------------------------------------------------------------- */
/* The cases                                                                                */

/*
 * run_listed (atomic): a batched PTE run has checked its entries and locked their folios,
 * with both PTE locks held, and has not cleared the source entries yet.
 * Racer: pins source page 10 with an io_uring fixed buffer. GUP-fast takes no lock, so the
 * pin lands in the middle of the listed run.
 * The module: after clearing the entries, a full barrier, then the pin check sees page 10
 * pinned; page 10 and every entry after it go back to the source, pages 0..9 move. The
 * per-page path then refuses page 10 (EBUSY), so the call reports a partial move of 10
 * pages; the call from page 10 on gets EBUSY, and once the buffer is unregistered the rest
 * moves.
 * MOVE of 64 pages, source PMD aligned, destination one page past a PMD boundary (the run
 * path; no whole table).
 */
TEST_F_TIMEOUT(race, run_listed_pin, CASE_TIMEOUT)
{
	const unsigned long n = 64, pin = 10, seed = 0xace1000000000001UL;
	char *src = map_table();
	char *dmap = map_table(), *dst = dmap + PAGE;
	struct job *mover, *pinner;
	struct move_res r;
	uint64_t *pfn;
	int cpus[3], ring;

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dmap);
	pin_to_cpu(cpus[0]);
	fill_pages(src, n * PAGE, seed);
	pfn = record_pfns(_metadata, src, n);
	ring = ring_open();
	if (ring < 0)
		SKIP(return, "io_uring_setup: %s", strerror(errno));
	mover = mover_new(_metadata, self->fd, dst, src, n * PAGE, cpus[1]);
	pinner = pinner_new(_metadata, ring, src + pin * PAGE, cpus[0]);

	arm_and_reach(_metadata, "run_listed", mover);
	race_in_window(_metadata, "run_listed", pinner);
	ASSERT_EQ(0, pinner->ret) TH_LOG("IORING_REGISTER_BUFFERS: %s", strerror(pinner->err));
	release_and_join(_metadata, "run_listed", mover, NULL);
	job_join(pinner);

	r = mover->move;
	TH_LOG("MOVE of %lu pages, page %lu pinned in the window: ret %d errno %d moved %lld "
	       "(%lld pages)", n, pin, r.ret, r.err, r.moved, r.moved / (long long)PAGE);
	ASSERT_PARTIAL(r, pin * PAGE);
	expect_pages(_metadata, "destination", dst, 0, pin, pfn, seed);
	expect_none(_metadata, "source", src, pin);
	expect_pages(_metadata, "source", src + pin * PAGE, pin, n - pin, pfn, seed);
	expect_none(_metadata, "destination", dst + pin * PAGE, n - pin);

	/* From the pinned page on: EBUSY, nothing moves; the pinned page stays as it was. */
	r = pgmove_do_move(self->fd, (unsigned long)dst + pin * PAGE,
			   (unsigned long)src + pin * PAGE, (n - pin) * PAGE, 0);
	ASSERT_FAILS_WITH(r, EBUSY);
	expect_pages(_metadata, "source", src + pin * PAGE, pin, n - pin, pfn, seed);

	/* Unpinned, the rest moves. */
	ASSERT_EQ(0, ring_unregister(ring));
	close(ring);
	r = pgmove_do_move(self->fd, (unsigned long)dst + pin * PAGE,
			   (unsigned long)src + pin * PAGE, (n - pin) * PAGE, 0);
	ASSERT_MOVED_ALL(r, (n - pin) * PAGE);
	expect_pages(_metadata, "destination", dst, 0, n, pfn, seed);
	expect_none(_metadata, "source", src, n);
	free(pfn);
}

/*
 * tables_listed (atomic): a whole-table move, under the mmap write lock, has checked the
 * first source table's entries and locked their folios, and has not cleared its PMD yet.
 * Racer: pins page 100 of that table with an io_uring fixed buffer (GUP-fast: it needs
 * neither the mmap lock nor any page-table lock).
 * The module: after clearing the PMDs, a full barrier, then the pin check sees the pin;
 * the pinned table and the one after it go back to their source PMDs unchanged, the call
 * drops the write lock, and the batched path moves pages 0..99 and stops at the pinned
 * page: a partial move of 100 pages, then EBUSY from page 100 on.
 * MOVE of 4 MiB (two whole PTE tables, no THP, every page filled), source and destination
 * PMD aligned, nothing at the destination.
 */
TEST_F_TIMEOUT(race, tables_listed_pin, CASE_TIMEOUT)
{
	const unsigned long len = 2 * PMD, n = len / PAGE, pin = 100;
	const unsigned long seed = 0xace2000000000002UL;
	char *src = map_anon(len, true, false), *dst = map_anon(len, true, false);
	struct job *mover, *pinner;
	struct move_res r;
	uint64_t *pfn;
	int cpus[3], ring;

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	pin_to_cpu(cpus[0]);
	fill_pages(src, len, seed);
	pfn = record_pfns(_metadata, src, n);
	ring = ring_open();
	if (ring < 0)
		SKIP(return, "io_uring_setup: %s", strerror(errno));
	mover = mover_new(_metadata, self->fd, dst, src, len, cpus[1]);
	pinner = pinner_new(_metadata, ring, src + pin * PAGE, cpus[0]);

	arm_and_reach(_metadata, "tables_listed", mover);
	race_in_window(_metadata, "tables_listed", pinner);
	ASSERT_EQ(0, pinner->ret) TH_LOG("IORING_REGISTER_BUFFERS: %s", strerror(pinner->err));
	release_and_join(_metadata, "tables_listed", mover, NULL);
	job_join(pinner);

	r = mover->move;
	TH_LOG("MOVE of 2 tables, page %lu of the first pinned in the window: ret %d errno %d "
	       "moved %lld (%lld pages)", pin, r.ret, r.err, r.moved, r.moved / (long long)PAGE);
	ASSERT_PARTIAL(r, pin * PAGE);
	expect_pages(_metadata, "destination", dst, 0, pin, pfn, seed);
	expect_none(_metadata, "source", src, pin);
	expect_pages(_metadata, "source", src + pin * PAGE, pin, n - pin, pfn, seed);
	expect_none(_metadata, "destination", dst + pin * PAGE, n - pin);

	r = pgmove_do_move(self->fd, (unsigned long)dst + pin * PAGE,
			   (unsigned long)src + pin * PAGE, len - pin * PAGE, 0);
	ASSERT_FAILS_WITH(r, EBUSY);

	ASSERT_EQ(0, ring_unregister(ring));
	close(ring);
	r = pgmove_do_move(self->fd, (unsigned long)dst + pin * PAGE,
			   (unsigned long)src + pin * PAGE, len - pin * PAGE, 0);
	ASSERT_MOVED_ALL(r, len - pin * PAGE);
	expect_pages(_metadata, "destination", dst, 0, n, pfn, seed);
	expect_none(_metadata, "source", src, n);
	free(pfn);
}

/*
 * tables_listed (atomic), raced by a page fault: a whole-table move (mmap write lock, both
 * VMAs write-locked) has listed every entry of the source table, a hole among them (the
 * MOVE allows source holes), and holds both PMD locks and the table's lock, before it
 * detaches the table.
 * Racer: a thread writes to the hole. A fault that got to the table now would spin on its
 * lock and, once the move dropped it, write its page into the detached table (its entry is
 * still none), which is then linked at the destination: the page would show up there, at
 * an address nobody wrote. The point is armed with `hold` (the write must begin in the hold
 * and end after it).
 * The module: whole tables move only under the mmap write lock with both VMAs write-locked,
 * so the fault finds no per-VMA lock and sleeps in mmap_read_lock() until the call is done;
 * it then faults a new table and page in at the source. MOVE moves all 2 MiB; the hole is
 * still a hole at the destination; the source holds the value; VmPTE: one table more (the
 * moved one and the fault's new one).
 * MOVE of 2 MiB with PGMOVE_MOVE_ALLOW_SRC_HOLES, both PMD aligned, nothing at the
 * destination.
 */
TEST_F_TIMEOUT(race, tables_listed_fault, CASE_TIMEOUT)
{
	const unsigned long n = PMD / PAGE, hole = 300, seed = 0xaced00000000000dUL;
	const long val = 0x7aced0c0ffee;
	char *src = map_table(), *dmap = map_anon(2 * PMD, true, false), *dst = dmap;
	long hold = hold_ms();
	struct job *mover, *writer;
	long long before, after;
	struct move_res r;
	uint64_t *pfn;
	int cpus[3];

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dmap);
	pin_to_cpu(cpus[0]);
	/*
	 * A page in the destination's second table: the PMD table the destination needs then
	 * exists before the call (VmPTE counts PMD tables too: see move_diff_test's
	 * keep_pmd_tables()), and the first table's PMD stays none for the whole table.
	 */
	dmap[PMD] = 1;
	fill_pages(src, PMD, seed);
	ASSERT_EQ(0, madvise(src + hole * PAGE, PAGE, MADV_DONTNEED));
	pfn = record_pfns(_metadata, src, hole);
	mover = mover_new(_metadata, self->fd, dst, src, PMD, cpus[1]);
	mover->flags = PGMOVE_MOVE_ALLOW_SRC_HOLES;
	writer = writer_new(_metadata, "the write fault into the hole", src + hole * PAGE, val,
			    cpus[0]);
	before = vmpte_kb(0);

	race_across_hold(_metadata, "tables_listed", hold, mover, writer,
			 "the write fault completed while the MOVE held the table's locks");
	after = vmpte_kb(0);

	r = mover->move;
	TH_LOG("MOVE: ret %d errno %d moved %lld; VmPTE %lld kB -> %lld kB", r.ret, r.err,
	       r.moved, before, after);
	ASSERT_MOVED_ALL(r, PMD);
	expect_none(_metadata, "destination's hole", dst + hole * PAGE, 1);
	expect_pages(_metadata, "destination", dst, 0, hole, pfn, seed);
	ASSERT_EQ(-1, check_pages_from(dst + (hole + 1) * PAGE, hole + 1, (n - hole - 1) * PAGE,
				       seed));
	ASSERT_EQ(val, *(volatile long *)(src + hole * PAGE)) TH_LOG("the write was lost");
	expect_none(_metadata, "source", src, hole);
	expect_none(_metadata, "source", src + (hole + 1) * PAGE, n - hole - 1);
	ASSERT_EQ(before + PAGE / 1024, after)
		TH_LOG("VmPTE does not count the moved table and the fault's new one");
	free(pfn);
}

/*
 * huge_run_listed (atomic): a run of PMD-mapped THPs has been checked and locked under both
 * PMD locks, and the source PMDs are not cleared yet.
 * Racer: pins one page of the second THP with an io_uring fixed buffer (GUP-fast on the
 * huge PMD, no lock).
 * The module: the pin check after the clear and the barrier sees it; the second THP goes
 * back to its PMD, the first moves whole (still one THP, same PFNs); the per-PMD path then
 * refuses the pinned THP (EBUSY): a partial move of 2 MiB, then EBUSY for the second THP.
 * MOVE of two THPs, source and destination PMD aligned, nothing at the destination.
 */
TEST_F_TIMEOUT(race, huge_run_listed_pin, CASE_TIMEOUT)
{
	const unsigned long len = 2 * PMD, seed = 0xace3000000000003UL;
	char *src = map_anon(len, true, true), *dst = map_anon(len, true, true);
	struct job *mover, *pinner;
	uint64_t thp[2];
	struct move_res r;
	int cpus[3], ring;

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	pin_to_cpu(cpus[0]);
	fill_pages(src, len, seed);
	for (int i = 0; i < 2; i++) {
		if (!is_thp(src + i * PMD))
			SKIP(return, "no THP at the source (THP disabled or memory fragmented)");
		thp[i] = pfn_of(src + i * PMD);
		ASSERT_EQ(thp[i] + 511, pfn_of(src + (i + 1) * PMD - PAGE)) TH_LOG("THP %d", i);
	}
	ring = ring_open();
	if (ring < 0)
		SKIP(return, "io_uring_setup: %s", strerror(errno));
	mover = mover_new(_metadata, self->fd, dst, src, len, cpus[1]);
	pinner = pinner_new(_metadata, ring, src + PMD + 3 * PAGE, cpus[0]);

	arm_and_reach(_metadata, "huge_run_listed", mover);
	race_in_window(_metadata, "huge_run_listed", pinner);
	ASSERT_EQ(0, pinner->ret) TH_LOG("IORING_REGISTER_BUFFERS: %s", strerror(pinner->err));
	release_and_join(_metadata, "huge_run_listed", mover, NULL);
	job_join(pinner);

	r = mover->move;
	TH_LOG("MOVE of 2 THPs, the second pinned in the window: ret %d errno %d moved %lld",
	       r.ret, r.err, r.moved);
	ASSERT_PARTIAL(r, PMD);
	/* THP 1 at the destination, still one THP at its PFNs. */
	ASSERT_TRUE(is_thp(dst)) TH_LOG("the moved THP was split or copied");
	ASSERT_EQ(thp[0], pfn_of(dst));
	ASSERT_EQ(thp[0] + 511, pfn_of(dst + PMD - PAGE));
	ASSERT_EQ(-1, check_pages_from(dst, 0, PMD, seed));
	expect_none(_metadata, "source", src, 1);
	/* THP 2 at the source. */
	ASSERT_TRUE(is_thp(src + PMD));
	ASSERT_EQ(thp[1], pfn_of(src + PMD));
	ASSERT_EQ(thp[1] + 511, pfn_of(src + 2 * PMD - PAGE));
	ASSERT_EQ(-1, check_pages_from(src + PMD, PMD / PAGE, PMD, seed));
	expect_none(_metadata, "destination", dst + PMD, 1);

	r = pgmove_do_move(self->fd, (unsigned long)dst + PMD, (unsigned long)src + PMD, PMD, 0);
	ASSERT_FAILS_WITH(r, EBUSY);

	ASSERT_EQ(0, ring_unregister(ring));
	close(ring);
	r = pgmove_do_move(self->fd, (unsigned long)dst + PMD, (unsigned long)src + PMD, PMD, 0);
	ASSERT_MOVED_ALL(r, PMD);
	ASSERT_TRUE(is_thp(dst + PMD));
	ASSERT_EQ(thp[1], pfn_of(dst + PMD));
	ASSERT_EQ(-1, check_pages(dst, len, seed));
}

/*
 * flush_pending (sleepable): between two steps of a MOVE that owes a TLB flush for source
 * entries it has cleared (the batched paths flush once, at the end of the call); no
 * page-table lock held.
 * Racer: MADV_DONTNEED of those source pages. It finds their entries none and, on its own,
 * would flush nothing; a CPU whose TLB still caches them would go on reaching the moved
 * pages through the source after MADV_DONTNEED returned.
 * The module: while a batch owes a flush, the mm's tlb_flush_pending counts it, so the
 * zap's tlb_finish_mmu() sees a nested flush and flushes the whole mm. Then the MOVE
 * completes: all 1024 pages.
 * MOVE of 1024 pages, source PMD aligned, destination one page past a PMD boundary: the
 * first step moves 511 pages (to the end of the destination's table), then the point.
 * Two oracles, in two zaps:
 * - the flush itself, which carries to any machine: MADV_DONTNEED of the moved pages 256 to
 *   510, which nothing has touched since the MOVE cleared them, must make a TLB shootdown
 *   round (nr_tlb_remote_flush, CONFIG_DEBUG_TLBFLUSH) to the reader's CPU (which a second
 *   thread keeps in the mm's CPU mask, cpu_keeper_new());
 * - a reader on another CPU that reads pages 0 to 255 over and over, before and during the
 *   call, so that its TLB keeps them hot: after MADV_DONTNEED of those returned, its passes
 *   must read zeros. (The reader faults the zero page in where its TLB let go, so this zap
 *   has entries of its own to flush: it is not the one counted.) The emulator's TLB does
 *   not keep a stale entry for the milliseconds of the window (Documentation/
 *   reliability.rst), so under QEMU only the first oracle tells a missing flush; on
 *   hardware both should.
 */
TEST_F_TIMEOUT(race, flush_pending_dontneed, CASE_TIMEOUT)
{
	const unsigned long n = 1024, step = 511, read = 256, seed = 0xace4000000000004UL;
	char *src = map_anon(n * PAGE, true, false);
	char *dmap = map_anon(n * PAGE + PAGE, true, false), *dst = dmap + PAGE;
	struct job *mover, *zap, *zap_read;
	struct reader *rd, *keeper;
	struct race_point p;
	struct move_res r;
	long long flushes;
	uint64_t *pfn;
	int cpus[3];
	long stale;

	NEED_CPUS(cpus, 2, "a reader on a second CPU whose TLB caches the source");
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dmap);
	pin_to_cpu(cpus[0]);
	fill_pages(src, n * PAGE, seed);
	pfn = record_pfns(_metadata, src, n);
	rd = reader_new(_metadata, src, read, cpus[1]);
	keeper = cpu_keeper_new(_metadata, cpus[1]);
	mover = mover_new(_metadata, self->fd, dst, src, n * PAGE, cpus[0]);
	zap = madviser_new(_metadata, "MADV_DONTNEED of the moved source pages nobody reads",
			   src + read * PAGE, (step - read) * PAGE, MADV_DONTNEED, cpus[0]);
	zap_read = madviser_new(_metadata, "MADV_DONTNEED of the moved source pages read",
				src, read * PAGE, MADV_DONTNEED, cpus[0]);
	reader_hammer(_metadata, rd);

	arm_and_reach(_metadata, "flush_pending", mover);
	/* The first step is done: 511 pages at the destination, none left at their source. */
	expect_pfns(_metadata, "destination", dst, 0, step, pfn);
	expect_pfns(_metadata, "source", src + step * PAGE, step, 1, pfn);
	expect_moved_away(_metadata, "source", src, step, pfn);
	flushes = pgmove_vmstat("nr_tlb_remote_flush");
	ASSERT_LE(0, flushes) TH_LOG("no nr_tlb_remote_flush in /proc/vmstat (the test kernel "
				     "lacks CONFIG_DEBUG_TLBFLUSH)");
	race_in_window(_metadata, "flush_pending", zap);
	flushes = pgmove_vmstat("nr_tlb_remote_flush") - flushes;
	ASSERT_EQ(0, zap->ret) TH_LOG("MADV_DONTNEED: %s", strerror(zap->err));
	race_in_window(_metadata, "flush_pending", zap_read);
	ASSERT_EQ(0, zap_read->ret) TH_LOG("MADV_DONTNEED: %s", strerror(zap_read->err));
	ASSERT_EQ(0, race_read("flush_pending", &p));
	stale = reader_marked(_metadata, rd, read, race_window_ms(&p, RACER_MS));
	TH_LOG("MADV_DONTNEED of the %lu moved pages nobody reads made %lld TLB shootdown "
	       "rounds; after that of the %lu the reader on CPU %d reads, it read %ld non-zero "
	       "words in them", step - read, flushes, read, cpus[1], stale);
	ASSERT_LE(1, flushes)
		TH_LOG("MADV_DONTNEED found the moved entries none and flushed nothing: it did not "
		       "see the flush the MOVE owes (tlb_flush_pending not raised?), so the reader's "
		       "CPU may keep reaching the moved pages through its TLB");
	ASSERT_EQ(0, stale)
		TH_LOG("page %ld read %#lx: MADV_DONTNEED returned without flushing the entries "
		       "the MOVE had cleared (tlb_flush_pending not raised?)", rd->first_bad,
		       rd->first_val);
	ASSERT_EQ(0, race_read("flush_pending", &p));
	ASSERT_STREQ("stopped", p.state) TH_LOG("the reader's pass ended after the window");
	release_and_join(_metadata, "flush_pending", mover, NULL);
	job_join(zap);
	job_join(zap_read);
	reader_stop(rd);
	reader_stop(keeper);

	r = mover->move;
	ASSERT_MOVED_ALL(r, n * PAGE);
	expect_pages(_metadata, "destination", dst, 0, n, pfn, seed);
	free(pfn);
}

/*
 * The MOVE of the vmas_released cases: a whole table and one page, source and destination
 * PMD aligned. The table moves under the mmap write lock, then the call drops it for the
 * last page: the point's second hit.
 */
struct table_and_page {
	int fd;
	char *src, *dst;
	unsigned long seed;
	uint64_t *pfn;
};

#define TP_LEN (PMD + PAGE)
#define TP_TABLE (PMD / PAGE)

static void table_and_page_setup(struct __test_metadata *_metadata, struct table_and_page *t,
				 int fd, unsigned long seed)
{
	t->fd = fd;
	t->seed = seed;
	t->src = map_anon(TP_LEN, true, false);
	t->dst = map_anon(TP_LEN, true, false);
	ASSERT_NE(NULL, t->src);
	ASSERT_NE(NULL, t->dst);
	fill_pages(t->src, TP_LEN, seed);
	t->pfn = record_pfns(_metadata, t->src, TP_LEN / PAGE);
}

/*
 * After a window that leaves the last page where it was: the MOVE stopped after the table
 * (EAGAIN, 2 MiB) with the table's pages at the destination, the last page still at the
 * source, and a MOVE of that page alone fails with err. Then fix() makes it movable
 * again, and it moves.
 */
static void expect_last_page_left(struct __test_metadata *_metadata, struct table_and_page *t,
				  struct job *mover, const char *racer, int err,
				  void (*fix)(struct __test_metadata *, struct table_and_page *))
{
	struct move_res r = mover->move;
	unsigned long last = (unsigned long)t->src + PMD, to = (unsigned long)t->dst + PMD;

	TH_LOG("MOVE with %s in the window: ret %d errno %d moved %lld", racer, r.ret, r.err,
	       r.moved);
	ASSERT_PARTIAL(r, PMD);
	expect_pages(_metadata, "destination", t->dst, 0, TP_TABLE, t->pfn, t->seed);
	expect_none(_metadata, "destination", t->dst + PMD, 1);
	expect_pages(_metadata, "source", t->src + PMD, TP_TABLE, 1, t->pfn, t->seed);
	r = pgmove_do_move(t->fd, to, last, PAGE, 0);
	ASSERT_FAILS_WITH(r, err);
	fix(_metadata, t);
	r = pgmove_do_move(t->fd, to, last, PAGE, 0);
	ASSERT_MOVED_ALL(r, PAGE);
	expect_pages(_metadata, "destination", t->dst, 0, TP_LEN / PAGE, t->pfn, t->seed);
	free(t->pfn);
}

/* vmas_released_fork's fix: a write by the page's one owner makes it exclusive again. */
static void write_last_page(struct __test_metadata *_metadata, struct table_and_page *t)
{
	*(volatile uint64_t *)(t->src + PMD) = *(volatile uint64_t *)(t->src + PMD);
	ASSERT_EQ(t->pfn[TP_TABLE], pfn_of(t->src + PMD)) TH_LOG("the write copied the page");
}

/* vmas_released_mprotect's fix: the destination's last page writable again. */
static void dst_last_page_writable(struct __test_metadata *_metadata, struct table_and_page *t)
{
	ASSERT_EQ(0, mprotect(t->dst + PMD, PAGE, PROT_READ | PROT_WRITE));
}

/*
 * vmas_released (sleepable): a MOVE has dropped its VMA locks in the middle of the call;
 * here the mmap write lock of a whole-table move, before it goes on under the VMA read
 * locks for the unaligned rest.
 * Racer: a reader on another CPU reads the 512 source pages over and over, before and
 * during the call (its TLB keeps them hot); its passes that begin in the window count.
 * The module: it flushes what it owes before it drops the locks (once they are gone, the
 * moved table is a destination table others may fill, and a stale path from the source must
 * not reach it); so the reader sees zeros (none, then a fresh zero page), never the moved
 * pages. Then the last page moves: all moved.
 * MOVE of 2 MiB + 1 page, source and destination PMD aligned: the first 2 MiB move as a
 * whole table under the mmap write lock, then the call drops it for the last page. The
 * call starts under the VMA read locks and drops them too, to take the write lock, before
 * anything moved: that is the point's first hit; the case stops at the second.
 * As in flush_pending_dontneed, the reader alone cannot see a stale entry under the
 * emulator; the call must have made a TLB shootdown round (nr_tlb_remote_flush) by the
 * time it holds no lock. The reader sleeps in a fault while the mmap write lock is held, so
 * a second thread keeps its CPU in the mm's CPU mask (cpu_keeper_new()).
 */
TEST_F_TIMEOUT(race, vmas_released_stale, CASE_TIMEOUT)
{
	const unsigned long len = TP_LEN, n = len / PAGE, table = TP_TABLE;
	const unsigned long seed = 0xace5000000000005UL;
	struct table_and_page t;
	char *src, *dst;
	struct job *mover;
	struct reader *rd, *keeper;
	struct race_point p;
	struct move_res r;
	long long flushes;
	uint64_t *pfn;
	int cpus[3];
	long stale;

	NEED_CPUS(cpus, 2, "a reader on a second CPU whose TLB caches the source");
	pin_to_cpu(cpus[0]);
	table_and_page_setup(_metadata, &t, self->fd, seed);
	src = t.src;
	dst = t.dst;
	pfn = t.pfn;
	rd = reader_new(_metadata, src, table, cpus[1]);
	keeper = cpu_keeper_new(_metadata, cpus[1]);
	mover = mover_new(_metadata, self->fd, dst, src, len, cpus[0]);
	reader_hammer(_metadata, rd);

	flushes = pgmove_vmstat("nr_tlb_remote_flush");
	ASSERT_LE(0, flushes) TH_LOG("no nr_tlb_remote_flush in /proc/vmstat (the test kernel "
				     "lacks CONFIG_DEBUG_TLBFLUSH)");
	arm_and_reach_nth(_metadata, "vmas_released", 1, mover);
	flushes = pgmove_vmstat("nr_tlb_remote_flush") - flushes;
	TH_LOG("the call made %lld TLB shootdown rounds before it dropped the VMA locks",
	       flushes);
	ASSERT_LE(1, flushes)
		TH_LOG("the call dropped its locks before it flushed the moved table: the "
		       "reader's CPU may still reach it through its TLB");
	/* The table has moved: its pages at the destination, none left at the source. */
	expect_pfns(_metadata, "destination", dst, 0, table, pfn);
	expect_moved_away(_metadata, "source", src, table, pfn);
	TH_LOG("in the window the last page is %s", pfn_of(src + table * PAGE) == pfn[table] ?
	       "still at the source" : "no longer at the source");
	ASSERT_EQ(0, race_read("vmas_released", &p));
	stale = reader_marked(_metadata, rd, table, race_window_ms(&p, RACER_MS));
	TH_LOG("with the VMA locks dropped, the reader on CPU %d read %ld non-zero words in its "
	       "passes over the %lu moved source pages", cpus[1], stale, table);
	ASSERT_EQ(0, stale)
		TH_LOG("page %ld read %#lx: the call dropped its locks before flushing the moved "
		       "table", rd->first_bad, rd->first_val);
	ASSERT_EQ(0, race_read("vmas_released", &p));
	ASSERT_STREQ("stopped", p.state) TH_LOG("the reader's pass ended after the window");
	release_and_join(_metadata, "vmas_released", mover, &p);
	ASSERT_LE(2UL, p.hits) TH_LOG("held at the first release of the VMA locks");
	reader_stop(rd);
	reader_stop(keeper);

	r = mover->move;
	ASSERT_MOVED_ALL(r, len);
	expect_pages(_metadata, "destination", dst, 0, n, pfn, seed);
	free(pfn);
}

/*
 * vmas_released (sleepable), raced by fork(): the call holds no lock here (the mmap write
 * lock of a whole-table move dropped, the VMA read locks for the rest not taken yet), so a
 * fork() can run; it makes every page of the process shared with the child (no longer
 * PageAnonExclusive), the source's last page too, and stays so after the child exited.
 * The module: it takes the VMA locks again and finds the last page not exclusive to the
 * process: EBUSY there, as UFFDIO_MOVE gives for a page shared by fork(). So a partial
 * move (EAGAIN, 2 MiB), then EBUSY for the last page, which stays where it was. Once the
 * process has written the page (a write fault on a page mapped once makes it exclusive
 * again, same PFN), it moves.
 * MOVE of 2 MiB + 1 page, source and destination PMD aligned (as vmas_released_stale).
 */
TEST_F_TIMEOUT(race, vmas_released_fork, CASE_TIMEOUT)
{
	struct table_and_page t;
	struct job *mover, *forker;
	int cpus[3];

	ASSERT_LE(1, allowed_cpus(cpus, 3));
	pin_to_cpu(cpus[0]);
	table_and_page_setup(_metadata, &t, self->fd, 0xacef00000000000fUL);
	mover = mover_new(_metadata, self->fd, t.dst, t.src, TP_LEN, cpus[0]);
	forker = job_new(_metadata, "fork()", do_fork, cpus[0]);

	arm_and_reach_nth(_metadata, "vmas_released", 1, mover);
	race_in_window(_metadata, "vmas_released", forker);
	ASSERT_LT(0, forker->ret) TH_LOG("fork: %s", strerror(forker->err));
	release_and_join(_metadata, "vmas_released", mover, NULL);
	job_join(forker);
	ASSERT_EQ(forker->ret, waitpid(forker->ret, NULL, 0));
	expect_last_page_left(_metadata, &t, mover, "a fork()", EBUSY, write_last_page);
}

/*
 * vmas_released (sleepable), raced by mprotect(): the call holds no lock here, so
 * mprotect() can change the destination: its last page becomes read-only (a VMA of its
 * own, split off the destination's).
 * The module: it looks the VMAs up again and checks them again, as for a new request: the
 * protections now differ, EINVAL there (what UFFDIO_MOVE gives for such a pair). So a
 * partial move (EAGAIN, 2 MiB), then EINVAL for the last page, which stays at the source;
 * once the destination is writable again, it moves.
 * MOVE of 2 MiB + 1 page, source and destination PMD aligned (as vmas_released_stale).
 */
TEST_F_TIMEOUT(race, vmas_released_mprotect, CASE_TIMEOUT)
{
	struct table_and_page t;
	struct job *mover, *protector;
	int cpus[3];

	ASSERT_LE(1, allowed_cpus(cpus, 3));
	pin_to_cpu(cpus[0]);
	table_and_page_setup(_metadata, &t, self->fd, 0xacf0000000000010UL);
	mover = mover_new(_metadata, self->fd, t.dst, t.src, TP_LEN, cpus[0]);
	protector = job_new(_metadata, "mprotect() of the destination's last page", do_mprotect,
			    cpus[0]);
	protector->src = t.dst + PMD;
	protector->len = PAGE;
	protector->val = PROT_READ;

	arm_and_reach_nth(_metadata, "vmas_released", 1, mover);
	race_in_window(_metadata, "vmas_released", protector);
	ASSERT_EQ(0, protector->ret) TH_LOG("mprotect: %s", strerror(protector->err));
	release_and_join(_metadata, "vmas_released", mover, NULL);
	job_join(protector);
	expect_last_page_left(_metadata, &t, mover, "an mprotect()", EINVAL,
			      dst_last_page_writable);
}

/*
 * The MOVE of run_mapped_reclaim and reclaim_scanned_move: 16 pages from the start of a
 * table of their own to one page past a PMD boundary, where a PTE table exists and is empty
 * (RECLAIM can free it).
 */
struct into_empty_table {
	char *src, *dst, *dmap;
	unsigned long n, seed;
	uint64_t *pfn;
};

static void into_empty_table_setup(struct __test_metadata *_metadata,
				   struct into_empty_table *t, unsigned long seed)
{
	t->n = 16;
	t->seed = seed;
	t->src = map_table();
	t->dmap = map_anon(PMD, true, false);
	ASSERT_NE(NULL, t->src);
	ASSERT_NE(NULL, t->dmap);
	t->dst = t->dmap + PAGE;
	fill_pages(t->src, t->n * PAGE, seed);
	t->pfn = record_pfns(_metadata, t->src, t->n);
	t->dst[0] = 1;
	ASSERT_EQ(0, madvise(t->dst, PAGE, MADV_DONTNEED));
	expect_none(_metadata, "destination", t->dst, t->n);
}

/*
 * After the race: RECLAIM freed the destination's table, and the MOVE moved all 16 pages
 * (their PFNs and contents) into a new one: VmPTE (before, after) as many tables as before.
 */
static void expect_moved_into_new_table(struct __test_metadata *_metadata,
					struct into_empty_table *t, struct job *reclaimer,
					struct job *mover, long long before, long long after)
{
	struct pgmove_reclaim rc = reclaimer->reclaim.r;
	struct move_res r = mover->move;

	TH_LOG("RECLAIM: ret %d errno %d scanned %llu freed %llu busy %llu ineligible %llu",
	       reclaimer->reclaim.ret, reclaimer->reclaim.err, rc.scanned, rc.freed, rc.busy,
	       rc.ineligible);
	ASSERT_EQ(0, reclaimer->reclaim.ret);
	ASSERT_EQ(1, rc.scanned);
	ASSERT_EQ(1, rc.freed) TH_LOG("the destination's empty table was not freed");
	ASSERT_EQ(0, rc.busy);
	TH_LOG("MOVE: ret %d errno %d moved %lld; VmPTE %lld kB -> %lld kB", r.ret, r.err,
	       r.moved, before, after);
	ASSERT_MOVED_ALL(r, t->n * PAGE);
	expect_pages(_metadata, "destination", t->dst, 0, t->n, t->pfn, t->seed);
	expect_none(_metadata, "source", t->src, t->n);
	/* The destination's table freed, a new one allocated by the retry: as many as before. */
	ASSERT_EQ(before, after)
		TH_LOG("VmPTE does not count one source and one destination table");
	free(t->pfn);
}

/*
 * run_mapped (atomic): a batched PTE run has mapped both PTE tables (under RCU) and taken
 * no lock yet.
 * Racer: RECLAIM of the destination's 2 MiB, whose table exists and is empty: it detaches
 * and frees that table (under the PMD and PTE locks, which the run does not hold yet).
 * The module: under the PTE locks the run rechecks the destination PMD, finds that its
 * table is no longer there, and retries with a new one; all 16 pages move and none is
 * written into the detached table. VmPTE: one table freed, one allocated.
 * MOVE of 16 pages, source PMD aligned, destination one page past a PMD boundary.
 */
TEST_F_TIMEOUT(race, run_mapped_reclaim, CASE_TIMEOUT)
{
	struct into_empty_table t;
	struct job *mover, *reclaimer;
	long long before, after;
	int cpus[3];

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	pin_to_cpu(cpus[0]);
	into_empty_table_setup(_metadata, &t, 0xace6000000000006UL);
	mover = mover_new(_metadata, self->fd, t.dst, t.src, t.n * PAGE, cpus[1]);
	reclaimer = reclaimer_new(_metadata, "RECLAIM of the destination's table", self->fd,
				  t.dmap, PMD, cpus[0]);
	before = vmpte_kb(0);

	arm_and_reach(_metadata, "run_mapped", mover);
	race_in_window(_metadata, "run_mapped", reclaimer);
	release_and_join(_metadata, "run_mapped", mover, NULL);
	job_join(reclaimer);
	after = vmpte_kb(0);
	expect_moved_into_new_table(_metadata, &t, reclaimer, mover, before, after);
}

/*
 * run_mapped, in MOVEV's path for entries that share a table (kept_table.rs): the source
 * table the entries share is locked, the second entry's destination table is mapped (under
 * RCU) and not yet locked.
 * Racer: RECLAIM of that destination's 2 MiB, whose table exists and is empty: it detaches
 * and frees it (under its PMD and PTE locks, which the MOVEV does not hold).
 * The module: the run finds, under the destination's lock, that the PMD no longer points
 * to the table it mapped, moves nothing there, and the request path moves the entry into a
 * new table. Without that recheck its pages would be written into the detached table.
 * MOVEV of two entries of 8 pages from one source table: entry 0 (the request path, which
 * locks the VMAs: its run is the point's first hit) into the first of two destination
 * tables, entry 1 into the second. VmPTE: one table freed, one allocated.
 */
TEST_F_TIMEOUT(race, run_mapped_kept_table_reclaim, CASE_TIMEOUT)
{
	const unsigned long n = 8, seed = 0xace6000000000011UL;
	char *src = map_table(), *dmap = map_anon(2 * PMD, true, false);
	struct pgmove_move m[2];
	struct job *mover, *reclaimer;
	struct pgmove_reclaim rc;
	long long before, after;
	uint64_t *pfn;
	int cpus[3];

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dmap);
	pin_to_cpu(cpus[0]);
	fill_pages(src, 2 * n * PAGE, seed);
	pfn = record_pfns(_metadata, src, 2 * n);
	/* Both destination tables exist and are empty. */
	dmap[0] = 1;
	dmap[PMD] = 1;
	ASSERT_EQ(0, madvise(dmap, 2 * PMD, MADV_DONTNEED));
	m[0] = (struct pgmove_move){ .dst = (unsigned long)dmap + 3 * PAGE,
				     .src = (unsigned long)src, .len = n * PAGE,
				     .moved = MOVED_UNSET };
	m[1] = (struct pgmove_move){ .dst = (unsigned long)dmap + PMD + PAGE,
				     .src = (unsigned long)src + n * PAGE, .len = n * PAGE,
				     .moved = MOVED_UNSET };
	mover = movev_mover_new(_metadata, self->fd, m, 2, cpus[1]);
	reclaimer = reclaimer_new(_metadata, "RECLAIM of the second destination's table",
				  self->fd, dmap + PMD, PMD, cpus[0]);
	before = vmpte_kb(0);

	arm_and_reach_nth(_metadata, "run_mapped", 1, mover);
	race_in_window(_metadata, "run_mapped", reclaimer);
	release_and_join(_metadata, "run_mapped", mover, NULL);
	job_join(reclaimer);
	after = vmpte_kb(0);

	rc = reclaimer->reclaim.r;
	TH_LOG("RECLAIM: ret %d errno %d scanned %llu freed %llu busy %llu", reclaimer->reclaim.ret,
	       reclaimer->reclaim.err, rc.scanned, rc.freed, rc.busy);
	ASSERT_EQ(0, reclaimer->reclaim.ret);
	ASSERT_EQ(1, rc.freed) TH_LOG("the second destination's empty table was not freed");
	TH_LOG("MOVEV: ret %d errno %d completed %llu, moved %lld and %lld; VmPTE %lld -> %lld kB",
	       mover->ret, mover->err, mover->completed, m[0].moved, m[1].moved, before, after);
	ASSERT_EQ(0, mover->ret);
	ASSERT_EQ(2, mover->completed);
	ASSERT_EQ((long long)(n * PAGE), m[0].moved);
	ASSERT_EQ((long long)(n * PAGE), m[1].moved);
	expect_pages(_metadata, "first destination", dmap + 3 * PAGE, 0, n, pfn, seed);
	expect_pages(_metadata, "second destination", dmap + PMD + PAGE, n, n, pfn, seed);
	expect_none(_metadata, "source", src, 2 * n);
	ASSERT_EQ(before, after) TH_LOG("VmPTE: not one table freed and one allocated");
	free(pfn);
}

/*
 * reclaim_scanned (atomic): RECLAIM has found a table all none and holds its PMD lock and
 * its PTE lock, before it clears the PMD.
 * Racer: a thread writes to a page of that range: a write fault on a none entry, which must
 * take the table's PTE lock, so it waits, spinning with preemption off: the point is armed
 * with `hold` (hold_and_reach()), and the write must begin in the hold and end after it: a
 * fault that completes while RECLAIM holds the table's locks has written into the table
 * RECLAIM is about to free.
 * The module: RECLAIM clears the PMD and drops the locks; the fault then finds, under the
 * PTE lock, that the PMD no longer points to that table, and retries on a new one.
 * RECLAIM freed 1; the value is there, the page is present, one table for the range again.
 */
TEST_F_TIMEOUT(race, reclaim_scanned_fault, CASE_TIMEOUT)
{
	const unsigned long at = 7;
	const long val = 0x7ace7c0ffee;
	char *p = map_anon(PMD, true, false);
	long hold = hold_ms();
	struct job *reclaimer, *writer;
	long long before, after;
	struct pgmove_reclaim rc;
	int cpus[3];

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	ASSERT_NE(NULL, p);
	pin_to_cpu(cpus[0]);
	/* An empty PTE table over the range. */
	p[0] = 1;
	ASSERT_EQ(0, madvise(p, PMD, MADV_DONTNEED));
	expect_none(_metadata, "range", p, 1);
	reclaimer = reclaimer_new(_metadata, "RECLAIM", self->fd, p, PMD, cpus[1]);
	/* On the main thread's CPU: while it spins for the lock, nothing else runs there. */
	writer = writer_new(_metadata, "the write fault", p + at * PAGE, val, cpus[0]);
	before = vmpte_kb(0);

	race_across_hold(_metadata, "reclaim_scanned", hold, reclaimer, writer,
			 "the write fault completed while RECLAIM held the table's locks");
	after = vmpte_kb(0);

	rc = reclaimer->reclaim.r;
	TH_LOG("RECLAIM: ret %d errno %d scanned %llu freed %llu busy %llu; VmPTE %lld kB -> "
	       "%lld kB", reclaimer->reclaim.ret, reclaimer->reclaim.err, rc.scanned, rc.freed,
	       rc.busy, before, after);
	ASSERT_EQ(0, reclaimer->reclaim.ret);
	ASSERT_EQ(1, rc.scanned);
	ASSERT_EQ(1, rc.freed);
	ASSERT_EQ(0, rc.busy);
	ASSERT_EQ(val, *(volatile long *)(p + at * PAGE)) TH_LOG("the write was lost");
	ASSERT_TRUE(pagemap_entry(p + at * PAGE) & PM_PRESENT);
	/* The freed table, and the one the fault's retry allocated. */
	ASSERT_EQ(before, after) TH_LOG("VmPTE does not count one table for the range");
}

/*
 * reclaim_scanned (atomic), raced by a MOVE: RECLAIM has found the destination's table all
 * none and holds its PMD lock and its PTE lock, before it clears the PMD.
 * Racer: a MOVE of 16 pages into that table (destination one page past a PMD boundary: a
 * batched PTE run). It maps the table and then waits for its PTE lock, spinning: the point
 * is armed with `hold`, and the MOVE must begin in the hold and end after it.
 * The module: once RECLAIM has detached the table and dropped its locks, the run finds,
 * under the PTE locks, that the destination PMD no longer points to the table it mapped,
 * and retries on a new one: all 16 pages arrive at their PFNs, none is written into the
 * freed table. RECLAIM freed 1; VmPTE as before (one table freed, one allocated).
 * The other order, the MOVE held between mapping and locking and RECLAIM racing, is
 * run_mapped_reclaim.
 */
TEST_F_TIMEOUT(race, reclaim_scanned_move, CASE_TIMEOUT)
{
	struct into_empty_table t;
	long hold = hold_ms();
	struct job *reclaimer, *mover;
	long long before, after;
	int cpus[3];

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	pin_to_cpu(cpus[0]);
	into_empty_table_setup(_metadata, &t, 0xacec00000000000cUL);
	reclaimer = reclaimer_new(_metadata, "RECLAIM of the destination's table", self->fd,
				  t.dmap, PMD, cpus[1]);
	/* On the main thread's CPU: while it spins for the lock, nothing else runs there. */
	mover = mover_new(_metadata, self->fd, t.dst, t.src, t.n * PAGE, cpus[0]);
	before = vmpte_kb(0);

	race_across_hold(_metadata, "reclaim_scanned", hold, reclaimer, mover,
			 "the MOVE completed while RECLAIM held the destination table's locks");
	after = vmpte_kb(0);
	expect_moved_into_new_table(_metadata, &t, reclaimer, mover, before, after);
}

/*
 * batch_unlock (atomic): a batched run has written its pages at the destination and is
 * about to unlock their folios, page-table locks held.
 * Racer: MADV_SOFT_OFFLINE of destination page 5. Memory failure takes a reference with
 * GUP-fast at the destination (no lock), then sleeps in folio_lock() on that page's folio,
 * which the run holds. The point must see the waiter (contended).
 * The module: unlocking the folios wakes the waiter; it then migrates the page (a new PFN
 * with the same contents) or fails with EBUSY/EIO if the MOVE still held the page when it
 * tried: both are fine. It must return, and the MOVE moves all 64 pages.
 * MOVE of 64 pages, source PMD aligned, destination one page past a PMD boundary.
 */
TEST_F_TIMEOUT(race, batch_unlock_waiter, CASE_TIMEOUT)
{
	const unsigned long n = 64, victim = 5, seed = 0xace8000000000008UL;
	char *src = map_table();
	char *dmap = map_table(), *dst = dmap + PAGE;
	struct job *mover, *offliner;
	struct move_res r;
	uint64_t *pfn, now;
	int cpus[3];
	char buf[32];

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dmap);
	if (geteuid())
		SKIP(return, "MADV_SOFT_OFFLINE needs CAP_SYS_ADMIN");
	/* A zero length says whether the kernel knows the advice, and does nothing. */
	if (madvise(dst, 0, MADV_SOFT_OFFLINE)) {
		ASSERT_EQ(EINVAL, errno);
		SKIP(return, "MADV_SOFT_OFFLINE: EINVAL (the kernel lacks CONFIG_MEMORY_FAILURE; "
			     "the debug test kernel has it)");
	}
	if (pgmove_read_number("/proc/sys/vm/enable_soft_offline", 10) == 0)
		SKIP(return, "vm.enable_soft_offline is 0");
	/*
	 * Filled from one CPU, so that page 5 has left that CPU's LRU batch (soft offline
	 * would otherwise drain every CPU's batch first, the mover's spinning CPU included).
	 */
	pin_to_cpu(cpus[0]);
	fill_pages(src, n * PAGE, seed);
	pfn = record_pfns(_metadata, src, n);
	mover = mover_new(_metadata, self->fd, dst, src, n * PAGE, cpus[1]);
	offliner = madviser_new(_metadata, "MADV_SOFT_OFFLINE", dst + victim * PAGE, PAGE,
				MADV_SOFT_OFFLINE, cpus[0]);

	arm_and_reach(_metadata, "batch_unlock", mover);
	job_go(offliner);
	wait_contended(_metadata, "batch_unlock", offliner,
		       "MADV_SOFT_OFFLINE returned before it waited for the locked folio");
	release_and_join(_metadata, "batch_unlock", mover, NULL);
	ASSERT_TRUE(job_wait(offliner, race_scaled_ms(RETURN_MS)))
		TH_LOG("MADV_SOFT_OFFLINE still waits %ld ms after the MOVE unlocked its folios: "
		       "the folio-lock waiter was not woken", race_scaled_ms(RETURN_MS));
	job_join(offliner);

	TH_LOG("MADV_SOFT_OFFLINE of destination page %lu: %s", victim,
	       offliner->ret ? strerror(offliner->err) : "0, the page was replaced");
	ASSERT_TRUE(offliner->ret == 0 || offliner->err == EBUSY || offliner->err == EIO)
		TH_LOG("MADV_SOFT_OFFLINE: errno %d (%s)", offliner->err, strerror(offliner->err));
	r = mover->move;
	ASSERT_MOVED_ALL(r, n * PAGE);
	ASSERT_EQ(-1, check_pages(dst, n * PAGE, seed));
	expect_none(_metadata, "source", src, n);
	for (unsigned long i = 0; i < n; i++) {
		now = pfn_of(dst + i * PAGE);
		if (i == victim && offliner->ret == 0) {
			ASSERT_NE(0, now);
			ASSERT_NE(pfn[i], now) TH_LOG("soft offline succeeded, the PFN is the old one");
		} else {
			ASSERT_EQ(pfn[i], now) TH_LOG("destination page %lu", i);
		}
	}
	/* Best effort: give the offlined page back (hwpoison_inject's debugfs file, if any). */
	if (offliner->ret == 0) {
		snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)pfn[victim]);
		write_file("/sys/kernel/debug/hwpoison/unpoison-pfn", buf);
	}
	free(pfn);
}

/*
 * The swap cases' memory and mover: one page filled with seed's tag and swapped out, at the
 * start of a table of its own (*src), a destination one page into another (*dst), and the
 * MOVE of that page on cpus[1] (the caller runs on cpus[0]).
 */
static struct job *swapped_page_mover(struct __test_metadata *_metadata, int fd,
				      unsigned long seed, const int *cpus, char **src, char **dst)
{
	char *dmap = map_table();

	pin_to_cpu(cpus[0]);
	*src = map_table();
	ASSERT_NE(NULL, *src);
	ASSERT_NE(NULL, dmap);
	*dst = dmap + PAGE;
	fill_pages(*src, PAGE, seed);
	ASSERT_EQ(1, page_out(*src, PAGE)) TH_LOG("MADV_PAGEOUT did not swap the page out");
	ASSERT_TRUE(pagemap_entry(*src) & PM_SWAP);
	return mover_new(_metadata, fd, *dst, *src, PAGE, cpus[1]);
}

/*
 * swap_entry_read (atomic): the per-page path has read a swap entry at the source and holds
 * the swap device, before it looks the entry up in the swap cache.
 * Racer: reads the source page: a swap-in fault, which needs nothing the mover holds, so it
 * finishes inside the window and maps the page at the source again.
 * The module: under the PTE locks it finds the source entry changed (present now), retries,
 * and moves the page that is there: one page moved, its contents at the destination, the
 * PFN the swap-in gave it, nothing left at the source.
 * MOVE of one swapped-out page to a destination at another offset in its PMD.
 */
TEST_F_TIMEOUT(race, swap_entry_read_swapin, CASE_TIMEOUT)
{
	const unsigned long seed = 0xace9000000000009UL;
	struct job *mover, *swapin;
	struct move_res r;
	char *src, *dst;
	int cpus[3];

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	if (!have_swap())
		SKIP(return, "no swap in this system (the VM sets up zram)");
	mover = swapped_page_mover(_metadata, self->fd, seed, cpus, &src, &dst);
	swapin = job_new(_metadata, "the swap-in read of the source", do_read, cpus[0]);
	swapin->src = src;
	swapin->val = 0;
	swapin->seed = seed;

	arm_and_reach(_metadata, "swap_entry_read", mover);
	race_in_window(_metadata, "swap_entry_read", swapin);
	ASSERT_EQ(-1, swapin->bad) TH_LOG("the swap-in read the wrong contents");
	ASSERT_NE(0, swapin->pfn) TH_LOG("the page is not present after the swap-in");
	release_and_join(_metadata, "swap_entry_read", mover, NULL);
	job_join(swapin);

	r = mover->move;
	TH_LOG("MOVE of the page swapped in during the window: ret %d errno %d moved %lld", r.ret,
	       r.err, r.moved);
	ASSERT_MOVED_ALL(r, PAGE);
	ASSERT_EQ(swapin->pfn, pfn_of(dst)) TH_LOG("the destination is not the swapped-in page");
	ASSERT_EQ(-1, check_pages(dst, PAGE, seed));
	expect_none(_metadata, "source", src, 1);
	/*
	 * The page's rmap names the destination: reclaim finds the page there through it and
	 * swaps it out (with the rmap still at the source it cannot unmap it), and it comes
	 * back with its contents.
	 */
	ASSERT_EQ(1, page_out(dst, PAGE))
		TH_LOG("MADV_PAGEOUT could not swap the moved page out: its rmap does not name the "
		       "destination");
	ASSERT_EQ(-1, check_pages(dst, PAGE, seed));
}

/*
 * swap_entry_read (atomic), another racer: MADV_DONTNEED of the source page zaps its swap
 * entry (and frees the swap slot) inside the window, which needs nothing the mover holds.
 * The module: under the PTE locks it finds the source entry changed (none now), retries, and
 * finds nothing to move: ENOENT with nothing moved, the destination empty (an entry moved
 * from the stale value would leave a swap entry of a freed slot there).
 * MOVE of one swapped-out page to a destination at another offset in its PMD.
 */
TEST_F_TIMEOUT(race, swap_entry_read_zap, CASE_TIMEOUT)
{
	const unsigned long seed = 0xace900000000000bUL;
	struct job *mover, *zap;
	struct move_res r;
	char *src, *dst;
	int cpus[3];

	NEED_CPUS(cpus, 2, ATOMIC_WHY);
	if (!have_swap())
		SKIP(return, "no swap in this system (the VM sets up zram)");
	mover = swapped_page_mover(_metadata, self->fd, seed, cpus, &src, &dst);
	zap = madviser_new(_metadata, "MADV_DONTNEED of the swapped-out source page", src, PAGE,
			   MADV_DONTNEED, cpus[0]);

	arm_and_reach(_metadata, "swap_entry_read", mover);
	race_in_window(_metadata, "swap_entry_read", zap);
	ASSERT_EQ(0, zap->ret) TH_LOG("MADV_DONTNEED: %s", strerror(zap->err));
	release_and_join(_metadata, "swap_entry_read", mover, NULL);
	job_join(zap);

	r = mover->move;
	TH_LOG("MOVE of the page zapped during the window: ret %d errno %d moved %lld", r.ret,
	       r.err, r.moved);
	ASSERT_FAILS_WITH(r, ENOENT);
	ASSERT_EQ(0, pagemap_entry(dst) & (PM_PRESENT | PM_SWAP))
		TH_LOG("the destination holds an entry (pagemap %#llx)",
		       (unsigned long long)pagemap_entry(dst));
	ASSERT_EQ(0, pagemap_entry(src) & (PM_PRESENT | PM_SWAP));
	ASSERT_TRUE(all_zero(dst, PAGE));
}

/*
 * huge_seen (sleepable): MOVE has seen a PMD-mapped THP at the source, without its lock,
 * and is about to lock the PMDs.
 * Racer: MADV_DONTNEED of the THP's last 4 kB page, which splits the PMD (the folio stays
 * one large folio, mapped by 511 PTEs).
 * The module: under the PMD locks the source PMD is no longer the one it saw; it retries,
 * finds a PTE table, splits the folio and moves the 511 pages; the last page is none:
 * ENOENT, after 511 pages moved. That is a partial move (EAGAIN, moved = 511 pages), and
 * the call from the last page gets ENOENT. The 511 pages keep the THP's PFNs. UFFDIO_MOVE
 * on the same state gives the same (checked at the end without a race point, when a
 * second THP and userfaultfd can be had).
 * MOVE of 2 MiB, source and destination PMD aligned, nothing at the destination.
 */
TEST_F_TIMEOUT(race, huge_seen_split, CASE_TIMEOUT)
{
	const unsigned long moved = PMD / PAGE - 1, seed = 0xacea00000000000aUL;
	/*
	 * The destination is MADV_NOHUGEPAGE: the 511 pages that land there would otherwise
	 * be a candidate for khugepaged, whose collapse (new PFNs, the hole filled) was seen
	 * once between the checks below.
	 */
	char *src = map_anon(PMD, true, true), *dst = map_anon(PMD, true, false);
	struct job *mover, *split;
	struct move_res r, ur;
	uint64_t thp;
	char *a, *b;
	int cpus[3], ncpus, uffd;

	ncpus = allowed_cpus(cpus, 3);
	ASSERT_LE(1, ncpus);
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	pin_to_cpu(cpus[0]);
	fill_pages(src, PMD, seed);
	if (!is_thp(src))
		SKIP(return, "no THP at the source (THP disabled or memory fragmented)");
	thp = pfn_of(src);
	ASSERT_EQ(thp + moved, pfn_of(src + PMD - PAGE));
	mover = mover_new(_metadata, self->fd, dst, src, PMD, cpus[ncpus > 1 ? 1 : 0]);
	split = madviser_new(_metadata, "MADV_DONTNEED of the THP's last page",
			     src + PMD - PAGE, PAGE, MADV_DONTNEED, cpus[0]);

	arm_and_reach(_metadata, "huge_seen", mover);
	race_in_window(_metadata, "huge_seen", split);
	ASSERT_EQ(0, split->ret) TH_LOG("MADV_DONTNEED: %s", strerror(split->err));
	expect_none(_metadata, "source", src + PMD - PAGE, 1);
	release_and_join(_metadata, "huge_seen", mover, NULL);
	job_join(split);

	r = mover->move;
	TH_LOG("MOVE of the THP split in the window: ret %d errno %d moved %lld (%lld pages)",
	       r.ret, r.err, r.moved, r.moved / (long long)PAGE);
	ASSERT_PARTIAL(r, moved * PAGE);
	for (unsigned long i = 0; i < moved; i++) {
		ASSERT_EQ(thp + i, pfn_of(dst + i * PAGE)) TH_LOG("destination page %lu", i);
	}
	ASSERT_EQ(-1, check_pages_from(dst, 0, moved * PAGE, seed));
	expect_none(_metadata, "source", src, PMD / PAGE);
	expect_none(_metadata, "destination", dst + moved * PAGE, 1);
	r = pgmove_do_move(self->fd, (unsigned long)dst + moved * PAGE,
			   (unsigned long)src + moved * PAGE, PAGE, 0);
	ASSERT_FAILS_WITH(r, ENOENT);

	/* UFFDIO_MOVE on the state the racer left, without a race point. */
	a = map_anon(PMD, true, true);
	b = map_anon(PMD, true, false);
	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	fill_pages(a, PMD, seed);
	uffd = uffd_open();
	if (!is_thp(a) || uffd < 0) {
		TH_LOG("UFFDIO_MOVE comparison left out: %s", uffd < 0 ?
		       "no userfaultfd with UFFD_FEATURE_MOVE" : "no second THP");
		return;
	}
	ASSERT_EQ(0, madvise(a + PMD - PAGE, PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, uffd_register(uffd, (unsigned long)b, PMD));
	ur = uffd_do_move(uffd, (unsigned long)b, (unsigned long)a, PMD, 0);
	TH_LOG("UFFDIO_MOVE of a THP split the same way: ret %d errno %d moved %lld", ur.ret,
	       ur.err, ur.moved);
	ASSERT_PARTIAL(ur, moved * PAGE);
	ASSERT_EQ(-1, check_pages_from(b, 0, moved * PAGE, seed));
	ur = uffd_do_move(uffd, (unsigned long)b + moved * PAGE, (unsigned long)a + moved * PAGE,
			  PAGE, 0);
	ASSERT_FAILS_WITH(ur, ENOENT);
	close(uffd);
}

/*
 * The control file itself, as Documentation/reliability.rst gives it: its errors (EINVAL,
 * ENOENT, EBUSY), `delay` (every hit of the process waits, and goes on by itself), the skip
 * count of `stop`, and the filter by process (another process's MOVE passes a point armed
 * for this one, and is not counted).
 * The MOVE: 1024 pages, source PMD aligned, destination one page past a PMD boundary: it
 * moves in steps of at most one destination table and reaches flush_pending (sleepable)
 * after each step that leaves a flush owed (counted here first, with a delay of 0).
 */
struct ctl_move {
	char *src, *dst;
	uint64_t *pfn;
};

#define CTL_PAGES 1024

static struct ctl_move ctl_setup(struct __test_metadata *_metadata, unsigned long seed)
{
	struct ctl_move m;
	char *dmap = map_anon(CTL_PAGES * PAGE + PAGE, true, false);

	m.src = map_anon(CTL_PAGES * PAGE, true, false);
	ASSERT_NE(NULL, m.src);
	ASSERT_NE(NULL, dmap);
	m.dst = dmap + PAGE;
	fill_pages(m.src, CTL_PAGES * PAGE, seed);
	m.pfn = record_pfns(_metadata, m.src, CTL_PAGES);
	return m;
}

static void ctl_check(struct __test_metadata *_metadata, struct ctl_move *m, struct move_res r,
		      unsigned long seed)
{
	ASSERT_MOVED_ALL(r, CTL_PAGES * PAGE);
	expect_pages(_metadata, "destination", m->dst, 0, CTL_PAGES, m->pfn, seed);
	expect_none(_metadata, "source", m->src, CTL_PAGES);
	free(m->pfn);
}

TEST_F_TIMEOUT(race, control_file, CASE_TIMEOUT)
{
	const unsigned long seed = 0xacee00000000000eUL, delay_ms = 100;
	const pid_t me = getpid();
	struct race_point p;
	struct ctl_move m;
	struct move_res r;
	struct job *mover;
	unsigned long hits;
	int cpus[3], status;
	double t;
	pid_t child;

	ASSERT_LE(1, allowed_cpus(cpus, 3));
	pin_to_cpu(cpus[0]);
	/* Errors. */
	ASSERT_EQ(-ENOENT, race_cmd("stop no_such_point %d", me));
	ASSERT_EQ(-EINVAL, race_cmd("halt flush_pending %d", me));
	ASSERT_EQ(-EINVAL, race_cmd("stop flush_pending"));
	ASSERT_EQ(-EINVAL, race_cmd("stop flush_pending pid"));
	ASSERT_EQ(-EINVAL, race_cmd("hold flush_pending %d 0", me));
	ASSERT_EQ(-EINVAL, race_cmd("hold flush_pending %d %d", me, RACE_SLEEPABLE_HOLD_MS + 1));
	ASSERT_EQ(-EINVAL, race_cmd("hold run_listed %d %d", me, RACE_ATOMIC_HOLD_MS + 1));
	ASSERT_EQ(-EINVAL, race_cmd("delay run_listed %d 10001", me));
	ASSERT_EQ(-EINVAL, race_cmd("delay flush_pending %d 1000001", me));
	ASSERT_EQ(-EINVAL, race_cmd("off"));
	ASSERT_EQ(0, race_read("flush_pending", &p));
	ASSERT_STREQ("off", p.mode) TH_LOG("a failed command armed the point");

	/* delay 0: counts the hits of one MOVE. */
	m = ctl_setup(_metadata, seed);
	ASSERT_EQ(0, race_cmd("delay flush_pending %d 0", me));
	r = pgmove_do_move(self->fd, (unsigned long)m.dst, (unsigned long)m.src,
			   CTL_PAGES * PAGE, 0);
	ctl_check(_metadata, &m, r, seed);
	ASSERT_EQ(0, race_read("flush_pending", &p));
	hits = p.hits;
	TH_LOG("a MOVE of %d pages reaches flush_pending %lu times", CTL_PAGES, hits);
	ASSERT_LE(2UL, hits) TH_LOG("the case needs a MOVE that reaches the point twice");

	/* delay: each hit waits, and the MOVE goes on by itself. */
	m = ctl_setup(_metadata, seed + 1);
	ASSERT_EQ(0, race_cmd("delay flush_pending %d %lu", me, delay_ms * 1000));
	t = pgmove_now();
	r = pgmove_do_move(self->fd, (unsigned long)m.dst, (unsigned long)m.src,
			   CTL_PAGES * PAGE, 0);
	t = pgmove_now() - t;
	ctl_check(_metadata, &m, r, seed + 1);
	ASSERT_EQ(0, race_read("flush_pending", &p));
	TH_LOG("with a delay of %lu ms: %lu hits, the MOVE took %.3f s", delay_ms, p.hits, t);
	ASSERT_EQ(hits, p.hits);
	ASSERT_STREQ("delay", p.mode);
	ASSERT_EQ(0UL, p.timeouts);
	ASSERT_LE(hits * delay_ms / 1000.0, t) TH_LOG("the MOVE did not wait at each hit");
	ASSERT_EQ(0, race_cmd("off flush_pending"));

	/*
	 * Another process's MOVE passes a point armed for this one, uncounted. (The child maps
	 * memory of its own, as what it shares with the parent after fork() would not move,
	 * and opens the device itself: the inherited file serves only the parent's mm.)
	 */
	ASSERT_EQ(0, race_cmd("stop flush_pending %d 1", me));
	child = fork();
	ASSERT_LE(0, child);
	if (child == 0) {
		char *s2 = map_anon(CTL_PAGES * PAGE, true, false);
		char *d2 = map_anon(CTL_PAGES * PAGE + PAGE, true, false);
		int fd = open(PGMOVE_DEV, O_RDWR);	/* the inherited file is the parent's */

		if (!s2 || !d2 || fd < 0)
			_exit(2);
		fill_pages(s2, CTL_PAGES * PAGE, seed + 2);
		r = pgmove_do_move(fd, (unsigned long)d2 + PAGE, (unsigned long)s2,
				   CTL_PAGES * PAGE, 0);
		_exit(r.ret == 0 && r.moved == CTL_PAGES * PAGE &&
		      check_pages_from(d2 + PAGE, 0, CTL_PAGES * PAGE, seed + 2) == -1 ? 0 : 1);
	}
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the child's MOVE failed (status %#x)", status);
	ASSERT_EQ(0, race_read("flush_pending", &p));
	ASSERT_EQ(0UL, p.hits) TH_LOG("the child's hits were counted");
	ASSERT_STREQ("idle", p.state);

	/* Ours stops at its second hit (skip 1); arming it again meanwhile: EBUSY. */
	m = ctl_setup(_metadata, seed + 3);
	mover = mover_new(_metadata, self->fd, m.dst, m.src, CTL_PAGES * PAGE, cpus[0]);
	job_go(mover);
	ASSERT_EQ(0, race_wait_state_or("flush_pending", "stopped", REACH_MS, &mover->done));
	ASSERT_EQ(0, race_read("flush_pending", &p));
	ASSERT_EQ(2UL, p.hits);
	ASSERT_EQ(-EBUSY, race_cmd("stop flush_pending %d", me));
	ASSERT_EQ(-EBUSY, race_cmd("delay flush_pending %d 0", me));
	release_and_join(_metadata, "flush_pending", mover, &p);
	ASSERT_EQ(2UL, p.hits) TH_LOG("hits after the stop were counted (one stop per arming)");
	ctl_check(_metadata, &m, mover->move, seed + 3);
}

TEST_HARNESS_MAIN
