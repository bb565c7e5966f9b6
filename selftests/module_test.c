// SPDX-License-Identifier: GPL-2.0
/*
 * pgmove.ko as a module: the `mode` parameter sets the node's permissions (and only
 * permission bits are accepted), rmmod is refused while a file is open, and 100 cycles of
 * load, use from several processes and unload leave nothing behind.
 *
 * These tests unload and reload the module; they need PGMOVE_KO, the path of pgmove.ko
 * (tools/vm-run sets it), and put the module back as they found it, parameter included.
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>

#include "move_util.h"
#include "pgmove_harness.h"

static int load(const char *ko, const char *args)
{
	int ret = pgmove_module_load(ko, args);

	pgmove_udev_settle();
	return ret;
}

static int unpgmove_module_load(void)
{
	return syscall(SYS_delete_module, "pgmove", O_NONBLOCK);
}

static int unload(void)
{
	int ret = unpgmove_module_load();

	pgmove_udev_settle();
	return ret;
}

static int loaded(void)
{
	return access("/sys/module/pgmove", F_OK) == 0;
}

FIXTURE(module) {
	const char *ko;
	char args[64];	/* the parameters the module was loaded with */
};

FIXTURE_SETUP(module)
{
	long long mode;

	self->ko = getenv("PGMOVE_KO");
	if (!self->ko)
		SKIP(return, "PGMOVE_KO (path of pgmove.ko) is not set; run through tools/vm-run");
	ASSERT_TRUE(loaded()) TH_LOG("pgmove is not loaded");
	mode = pgmove_read_number("/sys/module/pgmove/parameters/mode", 10);
	ASSERT_GE(mode, 0);
	snprintf(self->args, sizeof(self->args), "mode=0%llo", mode);
}

FIXTURE_TEARDOWN(module)
{
	if (self->ko && !loaded() && load(self->ko, self->args))
		TH_LOG("could not reload %s %s: %s", self->ko, self->args, strerror(errno));
}

TEST_F(module, rmmod_refused_while_open)
{
	int fd = open(PGMOVE_DEV, O_RDWR);

	ASSERT_GE(fd, 0);
	errno = 0;
	EXPECT_EQ(-1, unload());
	EXPECT_EQ(EWOULDBLOCK, errno) TH_LOG("rmmod with an open file: %s", strerror(errno));
	EXPECT_TRUE(loaded());
	/* The open file still works. */
	struct pgmove_info info;
	EXPECT_EQ(0, ioctl(fd, PGMOVE_IOC_INFO, &info));
	close(fd);
	ASSERT_EQ(0, unload()) TH_LOG("rmmod after close: %s", strerror(errno));
	EXPECT_FALSE(loaded());
	EXPECT_NE(0, access(PGMOVE_DEV, F_OK)) TH_LOG("%s outlived the module", PGMOVE_DEV);
	ASSERT_EQ(0, load(self->ko, self->args)) TH_LOG("reload: %s", strerror(errno));
}

TEST_F(module, mode_parameter_sets_node_permissions)
{
	static const unsigned int modes[] = { 0640, 0666, 0600 };
	struct stat st;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		char args[32];

		snprintf(args, sizeof(args), "mode=0%o", modes[i]);
		ASSERT_EQ(0, unload()) TH_LOG("rmmod: %s", strerror(errno));
		ASSERT_EQ(0, load(self->ko, args)) TH_LOG("insmod %s: %s", args, strerror(errno));
		ASSERT_EQ(0, stat(PGMOVE_DEV, &st));
		EXPECT_EQ(modes[i], st.st_mode & 07777) TH_LOG("%s gave %o", args, st.st_mode & 07777);
		EXPECT_EQ(modes[i], pgmove_read_number("/sys/module/pgmove/parameters/mode", 10));
	}
	ASSERT_EQ(0, unload());
	ASSERT_EQ(0, load(self->ko, self->args));
}

TEST_F(module, mode_parameter_rejects_non_permission_bits)
{
	ASSERT_EQ(0, unload());
	errno = 0;
	EXPECT_EQ(-1, load(self->ko, "mode=04755"));
	EXPECT_EQ(EINVAL, errno) TH_LOG("mode=04755: %s", strerror(errno));
	EXPECT_FALSE(loaded());
	ASSERT_EQ(0, load(self->ko, self->args));
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Whether /proc/modules lists pgmove. */
static bool in_proc_modules(void)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/modules", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, "pgmove ", 7);
	fclose(f);
	return found;
}

/* The minor /proc/misc gives pgmove, or -1 when it lists none. */
static int misc_minor(void)
{
	char line[256], name[64];
	int m, found = -1;
	FILE *f = fopen("/proc/misc", "r");

	if (!f)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "%d %63s", &m, name) == 2 && !strcmp(name, "pgmove"))
			found = m;
	fclose(f);
	return found;
}

/*
 * What one process of a cycle does with its own file: INFO, a MOVE of 4 pages (contents
 * arrive), a RECLAIM of 2 empty PTE tables (both freed). Its exit status says which failed.
 */
static int use_device(void)
{
	char *src = map_anon(4 * PAGE, false, false), *dst = map_anon(4 * PAGE, false, false);
	char *tables = map_anon(2 * PMD, true, false);
	struct pgmove_info info = { 0 };
	struct reclaim_res r;
	struct move_res m;
	int fd = open(PGMOVE_DEV, O_RDWR);

	if (fd < 0)
		return 1;
	if (ioctl(fd, PGMOVE_IOC_INFO, &info) || info.abi_version != PGMOVE_ABI_VERSION)
		return 2;
	if (!src || !dst || !tables)
		return 3;
	fill_pages(src, 4 * PAGE, getpid());
	m = pgmove_do_move(fd, (unsigned long)dst, (unsigned long)src, 4 * PAGE, 0);
	if (m.ret || m.moved != (long long)(4 * PAGE))
		return 4;
	if (check_pages(dst, 4 * PAGE, getpid()) != -1 || !all_zero(src, 4 * PAGE))
		return 5;
	tables[0] = tables[PMD] = 1;
	if (madvise(tables, 2 * PMD, MADV_DONTNEED))
		return 3;
	r = pgmove_do_reclaim(fd, tables, 2 * PMD, 0);
	if (r.ret || r.r.freed != 2)
		return 6;
	return 0;	/* the file is closed by exit */
}

/*
 * 100 cycles of: insmod (with the parameters the module had), 3 processes each open the
 * device and use it (INFO, a real MOVE, RECLAIM) and exit, rmmod. Every rmmod must succeed at
 * once (a reference a file or an mm left would make it EWOULDBLOCK), and after it the node,
 * /sys/module/pgmove, /sys/class/misc/pgmove, the /proc/modules and /proc/misc lines are gone;
 * every load gets the same misc minor (a minor not given back would move it). Over the run,
 * the "mm_struct" and "filp" slab caches stay where they were (each open pins its opener's
 * mm_struct: a per-file state not freed would leave 300 of them; 300 leaked files, 300
 * filps). Cycle 0 warms up and is not measured.
 *
 * The devtmpfs node is created and removed synchronously by misc_register() and
 * misc_deregister(), so the cycles do not wait for udev; udev's events are let settle only
 * before each slab measurement (one `udevadm settle` costs ~0.8 s under TCG: per load and
 * unload it would take 160 of the 190 s).
 */
/* 24 s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(module, load_use_unload_cycles_leave_nothing, 100)
{
	const char *caches[] = { "mm_struct", "filp" };
	const int ncaches = sizeof(caches) / sizeof(caches[0]), cycles = 100, procs = 3;
	long long before[2], after[2];
	double t0 = 0, t, tload = 0, tunload = 0, tmax_load = 0;
	int first_minor = -1;
	struct stat st;

	if (pgmove_slab_active("filp") < 0 || pgmove_slab_active("mm_struct") < 0)
		SKIP(return, "/proc/slabinfo lists no filp or mm_struct cache (SLUB_DEBUG off?)");
	ASSERT_EQ(0, unload()) TH_LOG("rmmod: %s", strerror(errno));
	for (int i = 0; i <= cycles; i++) {
		pid_t pids[3];
		int got_minor;

		pgmove_progress("%d of %d load/use/unload cycles", i, cycles);
		if (i == 1) {
			pgmove_udev_settle();
			for (int c = 0; c < ncaches; c++)
				before[c] = pgmove_slab_active(caches[c]);
			t0 = now();
		}
		t = now();
		ASSERT_EQ(0, pgmove_module_load(self->ko, self->args))
			TH_LOG("cycle %d: insmod %s: %s", i, self->args, strerror(errno));
		t = now() - t;
		if (i) {
			tload += t;
			tmax_load = t > tmax_load ? t : tmax_load;
		}
		ASSERT_EQ(0, stat(PGMOVE_DEV, &st)) TH_LOG("cycle %d: no node: %s", i, strerror(errno));
		ASSERT_TRUE(in_proc_modules()) TH_LOG("cycle %d", i);
		got_minor = misc_minor();
		ASSERT_GE(got_minor, 0) TH_LOG("cycle %d: /proc/misc does not list pgmove", i);
		EXPECT_EQ(got_minor, (int)minor(st.st_rdev)) TH_LOG("cycle %d", i);
		if (first_minor < 0)
			first_minor = got_minor;
		EXPECT_EQ(first_minor, got_minor) TH_LOG("cycle %d: minor %d, first %d", i, got_minor,
						     first_minor);
		for (int p = 0; p < procs; p++) {
			pids[p] = fork();
			ASSERT_GE(pids[p], 0);
			if (!pids[p])
				_exit(use_device());
		}
		for (int p = 0; p < procs; p++) {
			int status;

			ASSERT_EQ(pids[p], waitpid(pids[p], &status, 0));
			ASSERT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
				TH_LOG("cycle %d: process %d: status %#x (1 open, 2 INFO, 3 mmap, "
				       "4 MOVE, 5 contents, 6 RECLAIM)", i, p, status);
		}
		t = now();
		ASSERT_EQ(0, unpgmove_module_load()) TH_LOG("cycle %d: rmmod: %s (a reference leaked?)", i,
						       strerror(errno));
		tunload += i ? now() - t : 0;
		ASSERT_FALSE(loaded()) TH_LOG("cycle %d", i);
		ASSERT_FALSE(in_proc_modules()) TH_LOG("cycle %d: /proc/modules lists pgmove", i);
		ASSERT_EQ(-1, misc_minor()) TH_LOG("cycle %d: /proc/misc lists pgmove", i);
		ASSERT_NE(0, access(PGMOVE_DEV, F_OK)) TH_LOG("cycle %d: the node stayed", i);
		ASSERT_NE(0, access("/sys/class/misc/pgmove", F_OK)) TH_LOG("cycle %d", i);
	}
	t = now() - t0;
	pgmove_udev_settle();
	usleep(200 * 1000);	/* RCU-freed objects */
	for (int c = 0; c < ncaches; c++) {
		after[c] = pgmove_slab_active(caches[c]);
		TH_LOG("%s: %lld -> %lld", caches[c], before[c], after[c]);
		EXPECT_LT(after[c] - before[c], 32) TH_LOG("%s grew by %lld over %d cycles",
							   caches[c], after[c] - before[c], cycles);
	}
	TH_LOG("%d cycles in %.1f s: finit_module %.1f s (%.3f s each, at most %.3f s), "
	       "delete_module %.1f s", cycles, t, tload, tload / cycles, tmax_load, tunload);
	ASSERT_EQ(0, load(self->ko, self->args)) TH_LOG("reload: %s", strerror(errno));
}

TEST_HARNESS_MAIN
