/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kselftest_harness.h as pgmove's tests use it: include this instead of the harness.
 *
 * It adds three things, none of which changes what a test checks:
 *
 * - Timeouts that follow the machine. Every case's timeout (TEST_F_TIMEOUT, else the
 *   harness's 30 s) is a time measured on the reference machine with a margin (the comment
 *   at each TEST_F_TIMEOUT says what the case cost there); before the cases run it is
 *   multiplied by PGMOVE_TIME_SCALE, the factor the calibration step (selftests/calibrate,
 *   run by tools/vm-run --calibrate) found for this machine. A factor below 1 is not applied:
 *   a faster machine keeps the reference timeouts.
 * - A hang that says it is a hang. When a case times out, the harness kills its process
 *   group; just before that, the kernel stacks of every task of the group and of every task
 *   in uninterruptible sleep (D) anywhere are written to stderr. The same happens when the
 *   kselftest runner's per-program timeout sends the program SIGTERM. The case still fails.
 * - Progress lines for long cases (pgmove_progress()): what was done and the seconds since
 *   the case started, so a slow run and a stuck one look different in the log.
 */
#ifndef PGMOVE_HARNESS_H
#define PGMOVE_HARNESS_H

#ifdef __KSELFTEST_HARNESS_H
#error "include pgmove_harness.h instead of kselftest_harness.h"
#endif

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/*
 * The harness's timeout handler ends a case with kill(-pid, SIGKILL). Route that one call
 * through pgmove_harness_kill() so the stuck tasks' stacks are taken before they die; every
 * other kill() is the real one (the macro is undefined right after the harness).
 */
static int pgmove_harness_kill(pid_t pid, int sig);
#define kill(pid, sig) pgmove_harness_kill(pid, sig)
#include "kselftest_harness.h"
#undef kill

/* Copies the file at path to stderr, each line indented; returns 0 if it could be read. */
static inline int pgmove_dump_file(const char *path, const char *indent)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		fprintf(stderr, "%s%s", indent, line);
	fclose(f);
	return 0;
}

/*
 * Reads /proc/PID/task/TID/stat: the state letter and the process group. comm may hold
 * spaces and parentheses, so the fields are counted from the last ')'.
 */
static inline int pgmove_task_stat(int pid, int tid, char *state, int *pgrp)
{
	char path[64], buf[1024];
	size_t n;
	char *p;
	FILE *f;
	int ppid;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c %d %d", state, &ppid, pgrp) != 3)
		return -1;
	return 0;
}

/*
 * The kernel stacks of the tasks that matter for a hang, to stderr: every thread of every
 * process in process group pgrp (the case that timed out, its threads and children), and
 * every thread anywhere in uninterruptible sleep (what the case may be waiting on).
 */
static inline void pgmove_dump_stacks(pid_t pgrp)
{
	struct dirent *pe, *te;
	DIR *procs = opendir("/proc"), *tasks;
	char path[64];
	int dumped = 0;

	fprintf(stderr, "# kernel stacks of process group %d and of every task in D state:\n", pgrp);
	if (!procs)
		return;
	while ((pe = readdir(procs))) {
		int pid = atoi(pe->d_name);

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task", pid);
		tasks = opendir(path);
		while (tasks && (te = readdir(tasks))) {
			int tid = atoi(te->d_name), pg;
			char state;

			if (tid <= 0 || pgmove_task_stat(pid, tid, &state, &pg) ||
			    (pg != pgrp && state != 'D'))
				continue;
			snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
			fprintf(stderr, "#   task %d/%d state %c, comm ", pid, tid, state);
			if (pgmove_dump_file(path, ""))
				fprintf(stderr, "?\n");
			snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", pid, tid);
			if (pgmove_dump_file(path, "#     "))
				fprintf(stderr, "#     (no %s)\n", path);
			dumped++;
		}
		if (tasks)
			closedir(tasks);
	}
	closedir(procs);
	fprintf(stderr, "# (%d tasks)\n", dumped);
}

static int pgmove_harness_kill(pid_t pid, int sig)
{
	struct __test_metadata *t = __active_test;

	if (sig == SIGKILL && t && t->timed_out && pid == -t->pid) {
		fprintf(stderr, "# %s: timed out after %d s (scaled timeout); it may be stuck\n",
			t->name, t->timeout);
		pgmove_dump_stacks(t->pid);
	}
	return kill(pid, sig);
}

/* The kselftest runner's per-program timeout: dump, end the running case, fail. */
static void pgmove_program_timeout(int sig)
{
	struct __test_metadata *t = __active_test;

	fprintf(stderr, "# program timeout (signal %d from the kselftest runner)%s%s\n", sig,
		t ? " during " : "", t ? t->name : "");
	if (t) {
		pgmove_dump_stacks(t->pid);
		kill(-t->pid, SIGKILL);
	}
	_exit(KSFT_FAIL);
}

/* PGMOVE_TIME_SCALE: the calibrated slowness of this machine against the reference one. */
static inline double pgmove_time_scale(void)
{
	const char *s = getenv("PGMOVE_TIME_SCALE");
	double f = s ? strtod(s, NULL) : 1.0;

	return f > 1.0 ? f : 1.0;
}

/* Scales every case's timeout by the calibration factor; installs the program-timeout dump. */
static inline void pgmove_harness_setup(void)
{
	double scale = pgmove_time_scale();
	struct __fixture_metadata *f;
	struct __test_metadata *t;

	for (f = __fixture_list; f; f = f->next)
		for (t = f->tests; t; t = t->next)
			t->timeout = (int)(t->timeout * scale + 0.999);
	if (!getenv("PGMOVE_TIME_SCALE"))
		ksft_print_msg("PGMOVE_TIME_SCALE unset: reference timeouts (tools/vm-run --calibrate sets it)\n");
	else
		ksft_print_msg("case timeouts scaled by %.2f (PGMOVE_TIME_SCALE=%s)\n", scale,
			       getenv("PGMOVE_TIME_SCALE"));
	signal(SIGTERM, pgmove_program_timeout);
}

#undef TEST_HARNESS_MAIN
#define TEST_HARNESS_MAIN                                \
	int main(int argc, char **argv)                  \
	{                                                \
		pgmove_harness_setup();                  \
		return test_harness_run(argc, argv);     \
	}

/* Seconds on CLOCK_MONOTONIC. */
static inline double pgmove_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * A progress line of a long case: "# progress: <what> (<s> s)", at most one every 10 s (and
 * always the first), counted from the first call in the process. Call it as often as you
 * like from the case's loop; final=true prints regardless (the case's total).
 */
static inline void pgmove_progress_at(bool final, const char *fmt, ...)
{
	static double start, last;
	double now = pgmove_now();
	va_list ap;

	if (!start)
		start = last = now;
	else if (!final && now - last < 10)
		return;
	last = now;
	fprintf(stderr, "# progress: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (%.0f s)\n", now - start);
}
#define pgmove_progress(...) pgmove_progress_at(false, __VA_ARGS__)
#define pgmove_progress_done(...) pgmove_progress_at(true, __VA_ARGS__)

#endif /* PGMOVE_HARNESS_H */
