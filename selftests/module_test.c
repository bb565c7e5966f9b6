// SPDX-License-Identifier: GPL-2.0
/*
 * pgmove.ko as a module: the `mode` parameter sets the node's permissions (and only
 * permission bits are accepted), and rmmod is refused while a file is open.
 *
 * These tests unload and reload the module; they need PGMOVE_KO, the path of pgmove.ko
 * (tools/vm-run sets it), and put the module back as they found it, parameter included.
 */
#include <sys/stat.h>
#include <sys/syscall.h>

#include "pgmove_test.h"
#include "kselftest_harness.h"

static int load(const char *ko, const char *args)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, args, 0);
	close(fd);
	pgmove_udev_settle();
	return ret;
}

static int unload(void)
{
	int ret = syscall(SYS_delete_module, "pgmove", O_NONBLOCK);

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

TEST_HARNESS_MAIN
