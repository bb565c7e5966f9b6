/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Race points: the debug build's debugfs file that holds a pgmove task at a named place in
 * its code (PGMOVE_RACE_POINTS=y). race_test opens one window at a time with it.
 *
 * The file, /sys/kernel/debug/pgmove/race_points, reads as a header line starting with '#',
 * then one line per point, its fields separated by single spaces, in this order:
 *
 *	name context mode tgid skip delay_us hits state contended timeouts passed_ns
 *
 *	context    atomic | sleepable
 *	mode       off | stop | delay | fired (a stop that has fired; once per arming)
 *	tgid, skip, delay_us, hits, timeouts   decimal; hits counts the times a task of the
 *	           armed tgid reached the point since it was armed
 *	state      idle (not stopped since armed) | stopped (a task is held there now) |
 *	           passed (it was held and has gone on: released or timed out)
 *	contended  0 | 1: while stopped, another task waited for something the held task holds
 *	           (a page-table lock it holds; for batch_unlock the lock of a folio it holds)
 *
 * and takes one command per write(2) (written here without a trailing newline):
 *
 *	stop NAME TGID [SKIP]   the (SKIP+1)-th hit by a task of TGID is held there until
 *	                        released (at most 10 s at an atomic point, 60 s at a sleepable
 *	                        one; then it goes on and `timeouts` counts it)
 *	hold NAME TGID MS [SKIP]  as stop, and the hold also ends by itself after MS ms
 *	                        (not a timeout); passed_ns says when
 *	delay NAME TGID USECS   every hit by TGID waits USECS
 *	release NAME            the held task goes on
 *	off NAME | off all      disarm (and release whatever is held)
 *
 * errors: EINVAL bad syntax, ENOENT unknown name, EBUSY arming a point that holds a task.
 *
 * Nothing here allocates, and the buffers the kernel reads or writes are static and faulted
 * in by race_available(): the tests call these helpers while a mover holds the mmap write
 * lock, and a fault taken in the kernel on a user buffer (copy_to_user) goes straight to
 * mmap_read_lock() (no per-VMA lock from kernel mode on 6.12 x86), which would wait for the
 * mover that the caller is about to release.
 *
 * Timeouts are given as on the reference machine and scaled by the calibration factor the
 * harness applies to the cases' own timeouts (pgmove_time_scale(), PGMOVE_TIME_SCALE).
 */
#ifndef PGMOVE_RACE_UTIL_H
#define PGMOVE_RACE_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pgmove_harness.h"	/* pgmove_time_scale(), pgmove_now() */

#define RACE_POINTS_PATH "/sys/kernel/debug/pgmove/race_points"
#define RACE_SKIP_REASON "pgmove built without race points (PGMOVE_RACE_POINTS=y in the debug build)"

/* How long the module holds a stopped task at most, by the point's context. */
#define RACE_ATOMIC_HOLD_MS 10000
#define RACE_SLEEPABLE_HOLD_MS 60000
/* How often the helpers poll the file. */
#define RACE_POLL_US 1000

struct race_point {
	char name[64];
	char context[16];	/* atomic, sleepable */
	char mode[16];		/* off, stop, delay, fired */
	long tgid;
	unsigned long skip;
	unsigned long delay_us;
	unsigned long hits;
	char state[16];		/* idle, stopped, passed */
	int contended;
	unsigned long timeouts;
	long long passed_ns;	/* when the last held task went on (CLOCK_MONOTONIC) */
};

/* The file's contents and the commands, in memory the kernel never has to fault in. */
static char race_buf[32768];
static char race_cmd_buf[256];

/* Reference milliseconds scaled to this machine. */
static inline long race_scaled_ms(long ref_ms)
{
	return (long)(ref_ms * pgmove_time_scale() + 0.5);
}

/* The longest the module holds a task at this point. */
static inline long race_hold_ms(const struct race_point *p)
{
	return strcmp(p->context, "atomic") ? RACE_SLEEPABLE_HOLD_MS : RACE_ATOMIC_HOLD_MS;
}

/*
 * How long to wait for something that must happen while a task is held at p: ref_ms
 * scaled, but at most 80% of the hold (past that the module lets the task go by itself, and
 * waiting longer would only turn "the racer never got there" into a timeout of the point).
 */
static inline long race_window_ms(const struct race_point *p, long ref_ms)
{
	long ms = race_scaled_ms(ref_ms), cap = race_hold_ms(p) * 8 / 10;

	return ms < cap ? ms : cap;
}

/*
 * Faults in the next 256 kB of the calling thread's stack. A thread that polls the file
 * while a mover holds the mmap write lock must not take a page fault (it would wait for that
 * lock, and the test would stop polling): its stack must already be there however deep the
 * libc calls it makes go.
 */
static void __attribute__((noinline, unused)) race_prefault_stack(void)
{
	volatile char stack[256 * 1024];

	for (size_t i = 0; i < sizeof(stack); i += 4096)
		stack[i] = 0;
}

static inline long race_read_all(void);
static inline int race_parse(const char *line, struct race_point *out);

/* Whether the module has race points (the file exists); faults the helpers' buffers in. */
static inline bool race_available(void)
{
	/*
	 * And what the polling loops run or read for the first time in this process: a forked
	 * test process faults in each page of libc's code and of the vDSO's data on its first
	 * use, and in a window where a mover holds the mmap write lock that fault would wait.
	 * (For the same reason nothing is printed inside a window.)
	 */
	(void)pgmove_now();
	usleep(1);
	(void)race_read_all();
	{
		struct race_point p;

		(void)race_parse("x a b 1 2 3 4 c 5 6 7", &p);
	}
	race_prefault_stack();
	memset(race_buf, 0, sizeof(race_buf));
	memset(race_cmd_buf, 0, sizeof(race_cmd_buf));
	mlock(race_buf, sizeof(race_buf));	/* best effort: keep them in */
	mlock(race_cmd_buf, sizeof(race_cmd_buf));
	return access(RACE_POINTS_PATH, F_OK) == 0;
}

/* Writes one command ("stop run_listed 1234"): 0, or -errno (EINVAL, ENOENT, ...). */
static inline int __attribute__((format(printf, 1, 2))) race_cmd(const char *fmt, ...)
{
	va_list ap;
	ssize_t n;
	int fd, len, err = 0;

	va_start(ap, fmt);
	len = vsnprintf(race_cmd_buf, sizeof(race_cmd_buf), fmt, ap);
	va_end(ap);
	if (len < 0 || len >= (int)sizeof(race_cmd_buf))
		return -E2BIG;
	fd = open(RACE_POINTS_PATH, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, race_cmd_buf, len);
	if (n < 0)
		err = -errno;
	else if (n != len)
		err = -EIO;
	close(fd);
	return err;
}

/* The whole file into race_buf (NUL-terminated): its length, or -errno. */
static inline long race_read_all(void)
{
	size_t len = 0;
	ssize_t n;
	int fd = open(RACE_POINTS_PATH, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len < sizeof(race_buf) - 1) {
		n = read(fd, race_buf + len, sizeof(race_buf) - 1 - len);
		if (n < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		if (!n)
			break;
		len += n;
	}
	close(fd);
	race_buf[len] = 0;
	return len;
}

/* Parses one line of the file; 0, or -EINVAL if it does not have the ten fields. */
static inline int race_parse(const char *line, struct race_point *out)
{
	memset(out, 0, sizeof(*out));
	if (sscanf(line, "%63s %15s %15s %ld %lu %lu %lu %15s %d %lu %lld", out->name,
		   out->context, out->mode, &out->tgid, &out->skip, &out->delay_us, &out->hits,
		   out->state, &out->contended, &out->timeouts, &out->passed_ns) != 11)
		return -EINVAL;
	return 0;
}

/* The line of point name: 0; -ENOENT if no line names it; -EINVAL on a line that does not parse. */
static inline int race_read(const char *name, struct race_point *out)
{
	long n = race_read_all();
	char *line, *next;

	if (n < 0)
		return n;
	for (line = race_buf; *line; line = next) {
		size_t nlen = strlen(name);

		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		else
			next = line + strlen(line);
		if (line[0] == '#' || strncmp(line, name, nlen) || line[nlen] != ' ')
			continue;
		return race_parse(line, out);
	}
	return -ENOENT;
}

/*
 * Polls point name every RACE_POLL_US until its state is `state` (0); -ETIMEDOUT after
 * ref_timeout_ms (scaled); -ECANCELED as soon as *give_up is set (the caller's mover
 * returned without getting there: waiting on would be pointless); or race_read()'s error.
 */
static inline int race_wait_state_or(const char *name, const char *state, long ref_timeout_ms,
				      const atomic_bool *give_up)
{
	double end = pgmove_now() + race_scaled_ms(ref_timeout_ms) / 1000.0;
	struct race_point p;
	int err;

	for (;;) {
		err = race_read(name, &p);
		if (err)
			return err;
		if (!strcmp(p.state, state))
			return 0;
		if (give_up && atomic_load(give_up))
			return -ECANCELED;
		if (pgmove_now() > end)
			return -ETIMEDOUT;
		usleep(RACE_POLL_US);
	}
}

static inline int race_wait_state(const char *name, const char *state, long ref_timeout_ms)
{
	return race_wait_state_or(name, state, ref_timeout_ms, NULL);
}

/*
 * Polls point name until it reports contended == 1 (0). Waits ref_timeout_ms scaled, but
 * no longer than race_window_ms() allows for the point: -ETIMEDOUT. -ESRCH as soon as the
 * point no longer holds a task (it let it go by itself: nothing can contend any more).
 */
static inline int race_wait_contended(const char *name, long ref_timeout_ms)
{
	struct race_point p;
	double end;
	int err = race_read(name, &p);

	if (err)
		return err;
	end = pgmove_now() + race_window_ms(&p, ref_timeout_ms) / 1000.0;
	for (;;) {
		if (p.contended == 1)
			return 0;
		if (strcmp(p.state, "stopped"))
			return -ESRCH;
		if (pgmove_now() > end)
			return -ETIMEDOUT;
		usleep(RACE_POLL_US);
		err = race_read(name, &p);
		if (err)
			return err;
	}
}

/* Disarms every point and releases whatever is held. */
static inline int race_off_all(void)
{
	return race_cmd("off all");
}

#endif /* PGMOVE_RACE_UTIL_H */
