// SPDX-License-Identifier: GPL-2.0
/*
 * pgmove: the command-line tool for /dev/pgmove.
 *   pgmove info      ABI version and features of the loaded module
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/pgmove.h>

static const struct {
	unsigned long long bit;
	const char *name;
} features[] = {
	{ 0, NULL },
};

static int open_dev(void)
{
	int fd = open("/dev/pgmove", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "pgmove: /dev/pgmove: %s%s\n", strerror(errno),
			errno == ENOENT ? " (is pgmove.ko loaded?)" :
			errno == EACCES ? " (the node's mode is set by the module parameter 'mode')" : "");
		exit(1);
	}
	return fd;
}

static int cmd_info(void)
{
	struct pgmove_info info;
	int fd = open_dev();

	if (ioctl(fd, PGMOVE_IOC_INFO, &info)) {
		fprintf(stderr, "pgmove: PGMOVE_IOC_INFO: %s\n", strerror(errno));
		return 1;
	}
	printf("abi_version: %u%s\n", info.abi_version,
	       info.abi_version == PGMOVE_ABI_VERSION ? "" : " (this tool speaks another ABI)");
	printf("features:    %#llx", (unsigned long long)info.features);
	for (size_t i = 0; features[i].name; i++)
		if (info.features & features[i].bit)
			printf(" %s", features[i].name);
	printf("\n");
	close(fd);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: pgmove info\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "info"))
		return cmd_info();
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "pgmove: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
