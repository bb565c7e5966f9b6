// SPDX-License-Identifier: GPL-2.0
/*
 * /dev/pgmove as a device: its node, PGMOVE_IOC_INFO, unknown ioctls, bad user pointers,
 * ioctls from another mm, and open/close cycles that must leak nothing.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "pgmove_test.h"
#include "pgmove_harness.h"

FIXTURE(dev) {
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = open(PGMOVE_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s (is pgmove.ko loaded?)", PGMOVE_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(dev)
{
	close(self->fd);
}

/* The node is a character device of the misc major with the mode the `mode` parameter gave. */
TEST(node_mode_matches_parameter)
{
	long long mode = pgmove_read_number("/sys/module/pgmove/parameters/mode", 10);
	struct stat st;

	pgmove_udev_settle();
	ASSERT_GE(mode, 0) TH_LOG("cannot read /sys/module/pgmove/parameters/mode");
	ASSERT_EQ(0, stat(PGMOVE_DEV, &st)) TH_LOG("stat %s: %s", PGMOVE_DEV, strerror(errno));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(10, major(st.st_rdev)) TH_LOG("not a misc device: major %u", major(st.st_rdev));
	EXPECT_EQ(mode, st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
}

TEST_F(dev, info_reports_abi_version)
{
	struct pgmove_info info;

	memset(&info, 0xa5, sizeof(info));
	ASSERT_EQ(0, ioctl(self->fd, PGMOVE_IOC_INFO, &info)) TH_LOG("INFO: %s", strerror(errno));
	EXPECT_EQ(PGMOVE_ABI_VERSION, info.abi_version);
	EXPECT_EQ(0, info.reserved);
	/* MOVE and RECLAIM are there, and no bit outside the ones this header defines. */
	EXPECT_EQ(PGMOVE_FEAT_MOVE | PGMOVE_FEAT_RECLAIM | PGMOVE_FEAT_RECLAIM_ZEROPAGE |
		  PGMOVE_FEAT_MOVEV,
		  info.features);
}

TEST_F(dev, unknown_ioctl_is_enotty)
{
	struct pgmove_info info;
	unsigned int bad[] = {
		_IO(PGMOVE_IOC_MAGIC, 0x7f),
		_IOR(PGMOVE_IOC_MAGIC, 0x00, __u32),		/* INFO's number with another size */
		_IOW(PGMOVE_IOC_MAGIC, 0x00, struct pgmove_info),	/* INFO with another direction */
		_IOR('x', 0x00, struct pgmove_info),		/* another magic */
		TCGETS,
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, bad[i], &info)) TH_LOG("cmd %#x", bad[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("cmd %#x: %s", bad[i], strerror(errno));
	}
}

TEST_F(dev, bad_user_pointer_is_efault)
{
	long page = sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *bad[4];

	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, munmap(map + page, page));
	ASSERT_EQ(0, mprotect(map, page, PROT_READ));
	bad[0] = NULL;
	bad[1] = (void *)-4096L;			/* a kernel address */
	bad[2] = map + page - 8;			/* straddles into the unmapped page */
	bad[3] = map;					/* read-only */
	for (size_t i = 0; i < 4; i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, PGMOVE_IOC_INFO, bad[i])) TH_LOG("pointer %p", bad[i]);
		EXPECT_EQ(EFAULT, errno) TH_LOG("pointer %p: %s", bad[i], strerror(errno));
	}
	munmap(map, page);
}

/* A file opened by the parent grants a forked child (another mm) nothing. */
TEST_F(dev, ioctl_from_another_mm_is_eperm)
{
	int status;
	pid_t pid = fork();

	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct pgmove_info info = { 0 };
		int fd;

		if (ioctl(self->fd, PGMOVE_IOC_INFO, &info) != -1 || errno != EPERM)
			_exit(1);	/* the inherited file worked for another mm */
		if (info.abi_version != 0)
			_exit(2);	/* and wrote to it */
		fd = open(PGMOVE_DEV, O_RDWR);
		if (fd < 0 || ioctl(fd, PGMOVE_IOC_INFO, &info) != 0)
			_exit(3);	/* the child's own file must work */
		if (info.abi_version != PGMOVE_ABI_VERSION)
			_exit(4);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("1: inherited fd not EPERM, 2: wrote, 3/4: own fd failed");
	/* The parent's file still works for the parent. */
	struct pgmove_info info;
	EXPECT_EQ(0, ioctl(self->fd, PGMOVE_IOC_INFO, &info));
}

/*
 * 1000 open/close cycles, spread over 100 processes, leak nothing. Each open allocates the
 * file and the per-file state, which holds a reference on the opener's mm_struct: a leaked
 * file shows as 1000 more "filp" objects, a leaked state (or mm reference) as 100 more
 * "mm_struct" objects once the processes are gone. Small kmalloc caches are too busy with
 * the rest of the system to be compared.
 */
TEST(open_close_cycles_leak_nothing)
{
	const char *caches[] = { "mm_struct", "filp" };
	const int ncaches = sizeof(caches) / sizeof(caches[0]);
	long long before[2], after[2];
	int status, procs = 100, cycles = 10;

	if (pgmove_slab_active("filp") < 0 || pgmove_slab_active("mm_struct") < 0)
		SKIP(return, "/proc/slabinfo lists no filp or mm_struct cache (SLUB_DEBUG off?)");
	/* Warm up: let every cache reach its steady state. */
	for (int i = 0; i < 20; i++)
		close(open(PGMOVE_DEV, O_RDWR));
	for (int c = 0; c < ncaches; c++)
		before[c] = pgmove_slab_active(caches[c]);
	for (int p = 0; p < procs; p++) {
		pid_t pid = fork();

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			for (int i = 0; i < cycles; i++) {
				struct pgmove_info info;
				int fd = open(PGMOVE_DEV, O_RDWR);

				if (fd < 0 || ioctl(fd, PGMOVE_IOC_INFO, &info))
					_exit(1);
				if (i + 1 < cycles)
					close(fd);	/* the last one is closed by exit */
			}
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	usleep(200 * 1000);	/* files are released by task work and RCU */
	for (int c = 0; c < ncaches; c++) {
		after[c] = pgmove_slab_active(caches[c]);
		TH_LOG("%s: %lld -> %lld", caches[c], before[c], after[c]);
		EXPECT_LT(after[c] - before[c], 32) TH_LOG("%s grew by %lld", caches[c], after[c] - before[c]);
	}
}

TEST_HARNESS_MAIN
