// SPDX-License-Identifier: GPL-2.0
/*
 * pgmove reclaimd: frees empty page tables automatically, as a service with a policy.
 *
 * Every --interval seconds a pass reads VmPTE and VmRSS of every process (or of those in
 * --cgroup, or named by --pid) and reclaims, through a pidfd, each one whose page tables
 * are at least --min-pte and large against its RSS (VmPTE > --ratio x VmRSS). A process is
 * reclaimed range by range (its VMAs from /proc/PID/maps, at most CHUNK bytes per call), and
 * a pass stops starting new calls once it has spent --budget ms in them; the next pass goes
 * on where it stopped. Documentation/reclaimd.rst has the whole interface.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/pgmove.h>

#include "cli.h"

/* At most this much address space per RECLAIM call: a bound on how far a pass overruns. */
#define CHUNK (256ULL << 20)
#define CAP_SYS_NICE_BIT 23

struct opts {
	double interval;		/* seconds between passes */
	unsigned long long min_pte;	/* bytes */
	double ratio;			/* VmPTE / VmRSS above which a process is reclaimed */
	long budget_ms;			/* RECLAIM time per pass */
	bool zeropage, once, dry_run, verbose;
	const char *cgroup, *stats;
	int *pids, npids;
};

/* Totals over the daemon's life (the --stats file). */
struct totals {
	unsigned long long passes, reclaims, tables, scanned, no_right, exited, errors, budget_stops;
	double seconds;
};

/* Where a pass that ran out of budget stopped: the process (pid and start time) and address. */
struct resume {
	int pid;
	unsigned long long starttime, addr;
};

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

void reclaimd_usage(FILE *out)
{
	fprintf(out,
		"usage: pgmove reclaimd [--interval SEC] [--min-pte SIZE] [--ratio R] [--budget MS]\n"
		"                       [--zeropage] [--once] [--dry-run] [--verbose]\n"
		"                       [--cgroup PATH | --pid PID...] [--stats FILE]\n"
		"  --interval SEC  seconds between passes (default 30)\n"
		"  --min-pte SIZE  reclaim only processes with at least this much VmPTE (default 1M)\n"
		"  --ratio R       ... and VmPTE > R x VmRSS (default 0.01)\n"
		"  --budget MS     at most MS ms of RECLAIM calls per pass; the next pass goes on\n"
		"                  where this one stopped (default 100)\n"
		"  --zeropage      also free tables that map only the zero page (PGMOVE_RECLAIM_ZEROPAGE)\n"
		"  --once          one pass, then exit (scripts, cron)\n"
		"  --dry-run       print what would be reclaimed, reclaim nothing\n"
		"  --verbose       also print why processes are skipped\n"
		"  --cgroup PATH   only processes of this cgroup (v2 directory) and its descendants\n"
		"  --pid PID       only this process (repeatable)\n"
		"  --stats FILE    write totals in the Prometheus text format after every pass\n"
		"Needs CAP_SYS_NICE (root). Exit: 0 done, 2 bad arguments, 3 no /dev/pgmove,\n"
		"4 not allowed; SIGTERM ends it cleanly after the call in progress.\n");
}

static bool parse_double(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return !errno && end != s && !*end && *v >= 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned long long n;

		if (!strcmp(a, "--zeropage")) {
			o->zeropage = true;
		} else if (!strcmp(a, "--once")) {
			o->once = true;
		} else if (!strcmp(a, "--dry-run")) {
			o->dry_run = true;
		} else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			o->verbose = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			reclaimd_usage(stdout);
			exit(0);
		} else if (!v) {
			fprintf(stderr, "pgmove reclaimd: '%s' needs a value or is unknown\n", a);
			return -1;
		} else if (!strcmp(a, "--interval")) {
			if (!parse_double(v, &o->interval) || o->interval <= 0)
				goto bad;
			i++;
		} else if (!strcmp(a, "--ratio")) {
			if (!parse_double(v, &o->ratio))
				goto bad;
			i++;
		} else if (!strcmp(a, "--min-pte")) {
			if (!parse_size(v, &o->min_pte))
				goto bad;
			i++;
		} else if (!strcmp(a, "--budget")) {
			if (!parse_size(v, &n) || !n)
				goto bad;
			o->budget_ms = n;
			i++;
		} else if (!strcmp(a, "--cgroup")) {
			o->cgroup = v;
			i++;
		} else if (!strcmp(a, "--stats")) {
			o->stats = v;
			i++;
		} else if (!strcmp(a, "--pid")) {
			int pid = atoi(v);

			if (pid <= 0)
				goto bad;
			o->pids = realloc(o->pids, (o->npids + 1) * sizeof(int));
			o->pids[o->npids++] = pid;
			i++;
		} else {
			fprintf(stderr, "pgmove reclaimd: unknown option '%s'\n", a);
			return -1;
		}
		continue;
bad:
		fprintf(stderr, "pgmove reclaimd: bad value '%s' for %s\n", v, a);
		return -1;
	}
	if (o->cgroup && o->npids) {
		fprintf(stderr, "pgmove reclaimd: --cgroup and --pid exclude each other\n");
		return -1;
	}
	return 0;
}

/* Whether this process has CAP_SYS_NICE in its effective set. */
static bool have_cap_sys_nice(void)
{
	char line[256];
	bool ok = false;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7))
			ok = strtoull(line + 7, NULL, 16) >> CAP_SYS_NICE_BIT & 1;
	if (f)
		fclose(f);
	return ok;
}

/* comm and start time (clock ticks since boot) of a process; false if it is gone. */
static bool proc_identity(int pid, char *comm, size_t len, unsigned long long *starttime)
{
	char path[64], buf[1024], *p, *q;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strchr(buf, '(');
	q = strrchr(buf, ')');
	if (!p || !q || q < p)
		return false;
	snprintf(comm, len, "%.*s", (int)(q - p - 1), p + 1);
	/* Field 22 is starttime; q + 2 is field 3. */
	p = q + 2;
	for (int field = 3; field < 22 && p; field++) {
		p = strchr(p, ' ');
		if (p)
			p++;
	}
	*starttime = p ? strtoull(p, NULL, 10) : 0;
	return true;
}

/* Appends the pids of cgroup directory dir and its descendants to *pids. */
static void cgroup_pids(const char *dir, int **pids, int *n)
{
	char path[4096];
	struct dirent *e;
	DIR *d;
	FILE *f;
	int pid;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "r");
	while (f && fscanf(f, "%d", &pid) == 1) {
		*pids = realloc(*pids, (*n + 1) * sizeof(int));
		(*pids)[(*n)++] = pid;
	}
	if (f)
		fclose(f);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		if (e->d_type != DT_DIR || e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		cgroup_pids(path, pids, n);
	}
	if (d)
		closedir(d);
}

/* The processes a pass looks at, in pid order. */
static int candidates(const struct opts *o, int **pids)
{
	struct dirent *e;
	int n = 0;
	DIR *d;

	*pids = NULL;
	if (o->npids) {
		*pids = malloc(o->npids * sizeof(int));
		memcpy(*pids, o->pids, o->npids * sizeof(int));
		return o->npids;
	}
	if (o->cgroup) {
		cgroup_pids(o->cgroup, pids, &n);
		return n;
	}
	d = opendir("/proc");
	while (d && (e = readdir(d))) {
		int pid = atoi(e->d_name);

		if (pid > 0) {
			*pids = realloc(*pids, (n + 1) * sizeof(int));
			(*pids)[n++] = pid;
		}
	}
	if (d)
		closedir(d);
	return n;
}

/* /proc/PID/maps read range by range, with the line read ahead. */
struct maps {
	FILE *f;
	bool ahead;
	unsigned long long a, b;	/* the VMA read ahead */
};

/* The next VMA below the top of the user address space; false at the end. */
static bool next_vma(struct maps *m)
{
	static const unsigned long long user_top = 1ULL << 56;
	char line[512];

	if (m->ahead) {
		m->ahead = false;
		return true;
	}
	while (fgets(line, sizeof(line), m->f))
		if (sscanf(line, "%llx-%llx", &m->a, &m->b) == 2 && m->a < user_top)
			return true;
	return false;
}

/*
 * The next range to reclaim: VMAs less than CHUNK apart are taken together, since RECLAIM
 * skips what lies between them at no cost. False at the end.
 */
static bool next_range(struct maps *m, unsigned long long *lo, unsigned long long *hi)
{
	if (!next_vma(m))
		return false;
	*lo = m->a;
	*hi = m->b;
	while (next_vma(m)) {
		if (m->a - *hi >= CHUNK) {
			m->ahead = true;
			break;
		}
		*hi = m->b;
	}
	return true;
}

/* What reclaiming one process did. */
struct outcome {
	unsigned long long freed, scanned;
	double seconds;
	int err;		/* 0, or the errno that ended it (EPERM, ESRCH, ...) */
	bool out_of_budget;	/* stopped at *next for the budget */
};

/*
 * Reclaims the VMAs of pid from address *next on, chunk by chunk, until done, an error, a
 * SIGTERM, or the pass's budget (*spent against budget seconds) runs out; *next is then
 * where to go on.
 */
static struct outcome reclaim_process(int fd, int pid, const struct opts *o,
				      unsigned long long *next, double *spent, double budget)
{
	struct outcome out = { 0 };
	unsigned long long lo = 0, hi = 0;
	struct maps maps = { 0 };
	char path[64];
	int pidfd;

	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		out.err = errno;
		return out;
	}
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps.f = fopen(path, "r");
	if (!maps.f) {
		out.err = errno == ENOENT ? ESRCH : errno;
		close(pidfd);
		return out;
	}
	while (!out.err && !out.out_of_budget && !stop && next_range(&maps, &lo, &hi)) {
		if (hi <= *next)
			continue;
		for (lo = lo > *next ? lo : *next; lo < hi && !stop; lo += CHUNK) {
			struct pgmove_reclaim r = { .start = lo, .pidfd = pidfd };
			double t0;

			if (*spent >= budget) {
				out.out_of_budget = true;
				*next = lo;
				break;
			}
			r.len = hi - lo < CHUNK ? hi - lo : CHUNK;
			r.flags = o->zeropage ? PGMOVE_RECLAIM_ZEROPAGE : 0;
			t0 = now_s();
			if (ioctl(fd, PGMOVE_IOC_RECLAIM, &r))
				out.err = errno;
			out.seconds += now_s() - t0;
			*spent += now_s() - t0;
			out.freed += r.freed;
			out.scanned += r.scanned;
			if (out.err)
				break;
		}
	}
	if (!out.out_of_budget)
		*next = 0;
	fclose(maps.f);
	close(pidfd);
	return out;
}

static void write_stats(const char *file, const struct totals *t)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", file);
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "reclaimd: --stats %s: %s\n", file, strerror(errno));
		return;
	}
#define COUNTER(name, help, fmt, val)                                                   \
	fprintf(f, "# HELP pgmove_reclaimd_" name " " help "\n# TYPE pgmove_reclaimd_" name \
		   " counter\npgmove_reclaimd_" name " " fmt "\n", val)
	COUNTER("passes_total", "Passes over the processes.", "%llu", t->passes);
	COUNTER("reclaims_total", "Processes reclaimed (a process counts once per pass).", "%llu",
		t->reclaims);
	COUNTER("tables_freed_total", "PTE tables freed.", "%llu", t->tables);
	COUNTER("freed_bytes_total", "Page-table bytes freed (VmPTE).", "%llu", t->tables * 4096);
	COUNTER("tables_scanned_total", "PTE tables looked at.", "%llu", t->scanned);
	COUNTER("reclaim_seconds_total", "Time spent in RECLAIM calls.", "%.6f", t->seconds);
	COUNTER("skipped_no_right_total", "Processes skipped for want of the right (EPERM).",
		"%llu", t->no_right);
	COUNTER("skipped_exited_total", "Processes that exited during a pass (ESRCH).", "%llu",
		t->exited);
	COUNTER("errors_total", "RECLAIM calls that failed for any other reason.", "%llu",
		t->errors);
	COUNTER("budget_stops_total", "Passes that stopped for the budget.", "%llu",
		t->budget_stops);
#undef COUNTER
	if (fclose(f) || rename(tmp, file))
		fprintf(stderr, "reclaimd: --stats %s: %s\n", file, strerror(errno));
}

/* One pass; returns the seconds spent in RECLAIM calls. */
static double pass(int fd, const struct opts *o, struct totals *t, struct resume *res)
{
	double budget = o->budget_ms / 1000.0, spent = 0;
	int *pids, n = candidates(o, &pids), first = 0;
	bool resuming = res->pid != 0;

	/* Go on where the last pass stopped: with that process, if it is still the same one. */
	for (int i = 0; resuming && i < n; i++)
		if (pids[i] == res->pid)
			first = i;
	for (int k = 0; k < n && !stop; k++) {
		int pid = pids[(first + k) % n];
		unsigned long long start, next = 0;
		long long pte, rss, after;
		char comm[64];
		struct outcome out;

		if (pid == getpid() || !proc_identity(pid, comm, sizeof(comm), &start))
			continue;
		if (resuming && k == 0 && pid == res->pid && start == res->starttime)
			next = res->addr;
		pte = vmpte_kb(pid);
		rss = status_kb(pid, "VmRSS");
		if (pte < 0) {		/* a kernel thread, or gone */
			continue;
		}
		if ((unsigned long long)pte << 10 < o->min_pte || pte <= o->ratio * rss) {
			if (o->verbose)
				printf("reclaimd: debug: pid %d (%s): VmPTE %lld kB, VmRSS %lld kB: "
				       "below --min-pte or --ratio\n", pid, comm, pte, rss);
			continue;
		}
		if (o->dry_run) {
			printf("reclaimd: would reclaim pid %d (%s): VmPTE %lld kB, VmRSS %lld kB\n",
			       pid, comm, pte, rss);
			continue;
		}
		if (spent >= budget) {
			res->pid = pid;
			res->starttime = start;
			res->addr = 0;
			t->budget_stops++;
			goto out;
		}
		out = reclaim_process(fd, pid, o, &next, &spent, budget);
		t->seconds += out.seconds;
		if (out.err == EPERM || out.err == EACCES) {
			t->no_right++;
			if (o->verbose)
				printf("reclaimd: debug: pid %d (%s): no right to reclaim it (%s)\n",
				       pid, comm, strerror(out.err));
			continue;
		}
		if (out.err == ESRCH) {
			t->exited++;
			if (o->verbose)
				printf("reclaimd: debug: pid %d (%s) exited\n", pid, comm);
			continue;
		}
		if (out.err) {
			t->errors++;
			printf("reclaimd: pid %d (%s): RECLAIM failed: %s\n", pid, comm,
			       strerror(out.err));
			continue;
		}
		after = vmpte_kb(pid);
		t->reclaims++;
		t->tables += out.freed;
		t->scanned += out.scanned;
		printf("reclaimd: pid %d (%s): VmPTE %lld kB -> %lld kB, %llu of %llu tables freed, "
		       "%.3f s%s\n", pid, comm, pte, after, out.freed, out.scanned, out.seconds,
		       out.out_of_budget ? "; budget spent, going on next pass" : "");
		if (out.out_of_budget) {
			res->pid = pid;
			res->starttime = start;
			res->addr = next;
			t->budget_stops++;
			goto out;
		}
	}
	res->pid = 0;
out:
	t->passes++;
	fflush(stdout);
	free(pids);
	return spent;
}

int cmd_reclaimd(int argc, char **argv)
{
	struct opts o = { .interval = 30, .min_pte = 1 << 20, .ratio = 0.01, .budget_ms = 100 };
	struct sigaction sa = { .sa_handler = on_term };
	struct totals t = { 0 };
	struct resume res = { 0 };
	int fd;

	if (parse_args(argc, argv, &o))
		return EXIT_USAGE;
	fd = open_dev();
	if (!have_cap_sys_nice()) {
		fprintf(stderr, "pgmove reclaimd: needs CAP_SYS_NICE (run it as root): RECLAIM of "
				"another process needs it, as process_madvise() does\n");
		return EXIT_NOT_ALLOWED;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (o.once)
		printf("reclaimd: one pass");
	else
		printf("reclaimd: a pass every %.1f s", o.interval);
	printf(": VmPTE >= %llu kB and > %.3f x VmRSS, budget %ld ms%s%s\n", o.min_pte >> 10,
	       o.ratio, o.budget_ms, o.zeropage ? ", zero-page tables too" : "",
	       o.dry_run ? ", dry run" : "");
	while (!stop) {
		double t0 = now_s(), spent = pass(fd, &o, &t, &res);

		if (o.verbose)
			printf("reclaimd: debug: pass %llu took %.3f s, %.3f s of it in RECLAIM\n",
			       t.passes, now_s() - t0, spent);
		if (o.stats)
			write_stats(o.stats, &t);
		if (o.once)
			break;
		for (double end = t0 + o.interval; !stop && now_s() < end;) {
			double left = end - now_s();
			struct timespec ts = { (time_t)left, (long)((left - (time_t)left) * 1e9) };

			nanosleep(&ts, NULL);
		}
	}
	if (stop)
		printf("reclaimd: stopping (signal): %llu passes, %llu tables freed\n", t.passes,
		       t.tables);
	if (o.stats)
		write_stats(o.stats, &t);
	close(fd);
	free(o.pids);
	return 0;
}
