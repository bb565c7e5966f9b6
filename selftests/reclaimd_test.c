// SPDX-License-Identifier: GPL-2.0
/*
 * pgmove reclaimd, run as an operator runs it (tools/cli/pgmove, Documentation/reclaimd.rst):
 * a process bloated by piecemeal MADV_DONTNEED is brought back to within 64 kB of its
 * baseline VmPTE by one pass (--once) and by the daemon within two intervals; processes
 * under the thresholds are left alone; a process that is gone, one of another user the
 * daemon has no right to, SIGTERM during a pass and the budget all behave as documented.
 */
#define _GNU_SOURCE
#include <linux/capability.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "pgmove_harness.h"
#include "move_util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define NOBODY 65534
#define CAP_SYS_NICE_BIT 23

/* The CLI next to the tests: <repo>/tools/cli/pgmove. */
static const char *cli_path(void)
{
	static char path[4096];
	char exe[2048];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n <= 0)
		return NULL;
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(path, sizeof(path), "%s/../tools/cli/pgmove", exe);
	return access(path, X_OK) ? NULL : path;
}

/*
 * A child process that, on each byte read from *ctl, maps `mib` MiB of 4 kB pages, writes
 * them and gives them back 1 MiB at a time with MADV_DONTNEED (so on 6.12 every PTE table
 * stays) or, with dense, keeps them; it answers each command with one byte on *ack.
 * It dies with its parent's pipe.
 */
static pid_t workload(unsigned long mib, bool dense, int *ctl, int *ack)
{
	int c[2], a[2];
	pid_t pid;

	if (pipe(c) || pipe(a))
		return -1;
	pid = fork();
	if (pid)
		goto parent;
	close(c[1]);
	close(a[0]);
	for (char cmd; read(c[0], &cmd, 1) == 1;) {
		unsigned long len = mib << 20;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			_exit(1);
		madvise(p, len, MADV_NOHUGEPAGE);
		madvise(p, len, MADV_POPULATE_WRITE);
		for (unsigned long off = 0; !dense && off < len; off += 1 << 20)
			madvise(p + off, 1 << 20, MADV_DONTNEED);
		if (write(a[1], "k", 1) != 1)
			_exit(1);
	}
	_exit(0);
parent:
	close(c[0]);
	close(a[1]);
	*ctl = c[1];
	*ack = a[0];
	return pid;
}

/* Tells the workload to bloat (or fill) once more and waits until it has. */
static bool grow(int ctl, int ack)
{
	char b;

	return write(ctl, "g", 1) == 1 && read(ack, &b, 1) == 1;
}

static void end_workload(pid_t pid, int ctl, int ack)
{
	close(ctl);
	close(ack);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * Starts the CLI with args (NULL-terminated) as uid (0: as we are) with capabilities caps;
 * its stdout and stderr go to the pipe whose read end is *fd (opened with pipe_flags).
 */
static pid_t spawn_cli(char *const args[], uid_t uid, uint64_t caps, int pipe_flags, int *fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, pipe_flags))
		return -1;
	pid = fork();
	if (!pid) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		if (uid) {
			struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
			struct __user_cap_data_struct d[2] = { { caps, caps, caps } };

			prctl(PR_SET_KEEPCAPS, 1);
			if (setresgid(uid, uid, uid) || setresuid(uid, uid, uid) ||
			    syscall(SYS_capset, &h, d))
				_exit(99);
			for (int c = 0; c < 64; c++)
				if (caps >> c & 1)
					prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
		}
		execv(args[0], args);
		_exit(98);
	}
	close(p[1]);
	*fd = p[0];
	return pid;
}

/* Runs the CLI to its end (see spawn_cli); its output in out; its exit status. */
static int run_cli(char *const args[], uid_t uid, uint64_t caps, char *out, size_t len)
{
	int fd, status;
	size_t got = 0;
	ssize_t n;
	pid_t pid = spawn_cli(args, uid, caps, 0, &fd);

	if (pid < 0)
		return -1;
	while (got + 1 < len && (n = read(fd, out + got, len - 1 - got)) > 0)
		got += n;
	out[got] = 0;
	close(fd);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

FIXTURE(reclaimd)
{
	const char *cli;
	char pidstr[16];
	pid_t pid;
	int ctl, ack;
	long long baseline;
	char out[16384];
};

FIXTURE_SETUP(reclaimd)
{
	self->cli = cli_path();
	if (!self->cli)
		SKIP(return, "no tools/cli/pgmove next to the selftests (make builds it)");
	ASSERT_EQ(0, access(PGMOVE_DEV, F_OK));
	self->pid = 0;
}

FIXTURE_TEARDOWN(reclaimd)
{
	if (self->pid > 0)
		end_workload(self->pid, self->ctl, self->ack);
}

/* Starts a workload of mib MiB; its VmPTE before it maps anything is the baseline. */
static void start(struct __test_metadata *_metadata, FIXTURE_DATA(reclaimd) *self,
		  unsigned long mib, bool dense)
{
	self->pid = workload(mib, dense, &self->ctl, &self->ack);
	ASSERT_GT(self->pid, 0);
	snprintf(self->pidstr, sizeof(self->pidstr), "%d", self->pid);
	usleep(100000);
	self->baseline = vmpte_kb(self->pid);
	ASSERT_GT(self->baseline, 0);
	ASSERT_TRUE(grow(self->ctl, self->ack));
}

/* 128 MiB emptied 1 MiB at a time: 64 PTE tables stay (256 kB). One pass frees them. */
TEST_F(reclaimd, once_brings_a_bloated_process_back)
{
	char *args[] = { (char *)self->cli, "reclaimd", "--once", "--pid", self->pidstr,
			 "--min-pte", "128k", NULL };
	long long bloated, after;

	start(_metadata, self, 128, false);
	bloated = vmpte_kb(self->pid);
	ASSERT_GE(bloated - self->baseline, 256) TH_LOG("the workload did not bloat");
	ASSERT_EQ(0, run_cli(args, 0, 0, self->out, sizeof(self->out))) TH_LOG("%s", self->out);
	after = vmpte_kb(self->pid);
	TH_LOG("VmPTE %lld kB baseline, %lld kB bloated, %lld kB after one pass", self->baseline,
	       bloated, after);
	ASSERT_LE(after - self->baseline, 64) TH_LOG("%s", self->out);
	ASSERT_NE(NULL, strstr(self->out, "tables freed")) TH_LOG("%s", self->out);
}

/* Dense memory (ratio about 1/512) or a VmPTE below --min-pte: not touched, no action line. */
TEST_F(reclaimd, under_the_thresholds_untouched)
{
	char *dense[] = { (char *)self->cli, "reclaimd", "--once", "--verbose", "--pid",
			  self->pidstr, "--min-pte", "128k", NULL };
	char *small[] = { (char *)self->cli, "reclaimd", "--once", "--pid", self->pidstr,
			  "--min-pte", "16M", NULL };
	long long before;

	start(_metadata, self, 128, true);
	before = vmpte_kb(self->pid);
	ASSERT_EQ(0, run_cli(dense, 0, 0, self->out, sizeof(self->out))) TH_LOG("%s", self->out);
	ASSERT_EQ(NULL, strstr(self->out, "tables freed")) TH_LOG("%s", self->out);
	ASSERT_NE(NULL, strstr(self->out, "below --min-pte or --ratio")) TH_LOG("%s", self->out);
	ASSERT_EQ(before, vmpte_kb(self->pid));
	/* Bloated, but under a --min-pte of 16 MiB. */
	ASSERT_TRUE(grow(self->ctl, self->ack));
	before = vmpte_kb(self->pid);
	ASSERT_EQ(0, run_cli(small, 0, 0, self->out, sizeof(self->out))) TH_LOG("%s", self->out);
	ASSERT_EQ(NULL, strstr(self->out, "tables freed")) TH_LOG("%s", self->out);
	ASSERT_EQ(before, vmpte_kb(self->pid));
}

/* A process that is gone (reaped) or a zombie (no mm) is skipped; the pass succeeds. */
TEST_F(reclaimd, exited_processes_are_normal)
{
	pid_t gone = fork(), zombie;
	char gonestr[16], zombiestr[16];

	if (!gone)
		_exit(0);
	ASSERT_EQ(gone, waitpid(gone, NULL, 0));
	zombie = fork();
	if (!zombie)
		_exit(0);
	usleep(200000);
	snprintf(gonestr, sizeof(gonestr), "%d", gone);
	snprintf(zombiestr, sizeof(zombiestr), "%d", zombie);
	{
		char *args[] = { (char *)self->cli, "reclaimd", "--once", "--verbose", "--pid",
				 gonestr, "--pid", zombiestr, "--min-pte", "0", NULL };

		ASSERT_EQ(0, run_cli(args, 0, 0, self->out, sizeof(self->out)))
			TH_LOG("%s", self->out);
	}
	ASSERT_EQ(NULL, strstr(self->out, "failed")) TH_LOG("%s", self->out);
	waitpid(zombie, NULL, 0);
}

/*
 * Rights: without CAP_SYS_NICE the daemon refuses to start (exit 4, says why); as another
 * user with CAP_SYS_NICE it skips a root process it may not ptrace (a debug line, not an
 * error) and leaves it alone.
 */
TEST_F(reclaimd, rights)
{
	char *args[] = { (char *)self->cli, "reclaimd", "--once", "--verbose", "--pid",
			 self->pidstr, "--min-pte", "128k", NULL };
	struct stat st;
	long long before;
	int rc;

	start(_metadata, self, 128, false);
	before = vmpte_kb(self->pid);
	ASSERT_EQ(0, stat(PGMOVE_DEV, &st));
	/* Let the other user open the device (the module's 'mode' does this in production). */
	ASSERT_EQ(0, chmod(PGMOVE_DEV, 0666));
	rc = run_cli(args, NOBODY, 0, self->out, sizeof(self->out));
	EXPECT_EQ(4, rc) TH_LOG("%s", self->out);
	EXPECT_NE(NULL, strstr(self->out, "CAP_SYS_NICE")) TH_LOG("%s", self->out);
	rc = run_cli(args, NOBODY, 1ULL << CAP_SYS_NICE_BIT, self->out, sizeof(self->out));
	chmod(PGMOVE_DEV, st.st_mode & 07777);
	ASSERT_EQ(0, rc) TH_LOG("%s", self->out);
	ASSERT_NE(NULL, strstr(self->out, "no right to reclaim it")) TH_LOG("%s", self->out);
	ASSERT_EQ(before, vmpte_kb(self->pid));
}

/* Reads the daemon's output so far (non-blocking) into out. */
static void drain(int fd, char *out, size_t len)
{
	size_t got = strlen(out);
	ssize_t n;

	while (got + 1 < len && (n = read(fd, out + got, len - 1 - got)) > 0)
		got += n;
	out[got] = 0;
}

/* Starts the daemon with args in the background; its output is read from *fd as it comes. */
static pid_t daemon_start(char *const args[], int *fd)
{
	return spawn_cli(args, 0, 0, O_NONBLOCK, fd);
}

/* SIGTERM, then its exit status within `seconds` (scaled), or -1. */
static int daemon_stop(pid_t pid, double seconds)
{
	int status;

	kill(pid, SIGTERM);
	for (double end = pgmove_now() + seconds * pgmove_time_scale(); pgmove_now() < end;) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

/*
 * The daemon (2 s interval) brings a process that bloats while it runs back within two
 * intervals (plus the time of a pass), writes its totals in the Prometheus text format,
 * and stops cleanly on SIGTERM.
 */
TEST_F(reclaimd, daemon_within_two_intervals)
{
	char stats[] = "/tmp/pgmove-reclaimd-stats.XXXXXX";
	char *args[] = { (char *)self->cli, "reclaimd", "--interval", "2", "--pid", self->pidstr,
			 "--min-pte", "128k", "--stats", stats, NULL };
	double t0, took = -1;
	char text[4096] = "";
	int fd, sfd = mkstemp(stats);
	pid_t d;

	ASSERT_GE(sfd, 0);
	close(sfd);
	self->pid = workload(128, false, &self->ctl, &self->ack);
	ASSERT_GT(self->pid, 0);
	snprintf(self->pidstr, sizeof(self->pidstr), "%d", self->pid);
	usleep(100000);
	self->baseline = vmpte_kb(self->pid);
	self->out[0] = 0;
	d = daemon_start(args, &fd);
	ASSERT_GT(d, 0);
	sleep(1);
	ASSERT_TRUE(grow(self->ctl, self->ack));
	ASSERT_GE(vmpte_kb(self->pid) - self->baseline, 256);
	for (t0 = pgmove_now(); pgmove_now() - t0 < 10 * pgmove_time_scale(); usleep(50000))
		if (vmpte_kb(self->pid) - self->baseline <= 64) {
			took = pgmove_now() - t0;
			break;
		}
	ASSERT_EQ(0, daemon_stop(d, 5));
	drain(fd, self->out, sizeof(self->out));
	TH_LOG("back to baseline %.2f s after the bloat (interval 2 s)", took);
	ASSERT_GE(took, 0) TH_LOG("never reclaimed: %s", self->out);
	ASSERT_LE(took, 4 + 1 * pgmove_time_scale()) TH_LOG("%s", self->out);
	ASSERT_NE(NULL, strstr(self->out, "reclaimd: stopping")) TH_LOG("%s", self->out);
	ASSERT_EQ(0, read_file(stats, text, sizeof(text)));
	ASSERT_NE(NULL, strstr(text, "# TYPE pgmove_reclaimd_tables_freed_total counter"));
	ASSERT_EQ(NULL, strstr(text, "pgmove_reclaimd_tables_freed_total 0\n")) TH_LOG("%s", text);
	unlink(stats);
}

/*
 * The budget: with --budget 1 (ms) every pass stops after its first RECLAIM call that
 * reaches the budget, and the next pass goes on where it stopped, until the process is back.
 * A 512 MiB workload (256 tables) takes 2 calls of 256 MiB at least. SIGTERM during a pass
 * ends the daemon cleanly too.
 */
TEST_F_TIMEOUT(reclaimd, budget_and_sigterm, 120)
{
	char *args[] = { (char *)self->cli, "reclaimd", "--interval", "0.5", "--budget", "1",
			 "--pid", self->pidstr, "--min-pte", "128k", NULL };
	int fd, passes_with_stop = 0;
	double t0;
	pid_t d;
	char *p;

	start(_metadata, self, 512, false);
	self->out[0] = 0;
	d = daemon_start(args, &fd);
	ASSERT_GT(d, 0);
	for (t0 = pgmove_now(); pgmove_now() - t0 < 30 * pgmove_time_scale(); usleep(50000))
		if (vmpte_kb(self->pid) - self->baseline <= 64)
			break;
	drain(fd, self->out, sizeof(self->out));
	for (p = self->out; (p = strstr(p, "budget spent")); p++)
		passes_with_stop++;
	TH_LOG("%d passes stopped for the budget before the process was back; VmPTE %lld kB",
	       passes_with_stop, vmpte_kb(self->pid));
	ASSERT_LE(vmpte_kb(self->pid) - self->baseline, 64) TH_LOG("%s", self->out);
	ASSERT_GE(passes_with_stop, 1) TH_LOG("%s", self->out);
	/* Bloat again and stop it while it works. */
	ASSERT_TRUE(grow(self->ctl, self->ack));
	usleep(600000);
	ASSERT_EQ(0, daemon_stop(d, 5));
	drain(fd, self->out, sizeof(self->out));
	ASSERT_NE(NULL, strstr(self->out, "reclaimd: stopping")) TH_LOG("%s", self->out);
}

TEST_HARNESS_MAIN
