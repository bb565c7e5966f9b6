// SPDX-License-Identifier: GPL-2.0
/* Helpers shared by the pgmove tool's commands (cli.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int open_dev(void)
{
	int fd = open("/dev/pgmove", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		int err = errno;

		fprintf(stderr, "pgmove: /dev/pgmove: %s%s\n", strerror(err),
			err == ENOENT ? " (is pgmove.ko loaded?)" :
			err == EACCES ? " (the node's mode is set by the module parameter 'mode')" : "");
		exit(err == ENOENT || err == ENXIO || err == ENODEV ? EXIT_NO_DEVICE :
		     err == EACCES || err == EPERM ? EXIT_NOT_ALLOWED : EXIT_RUNTIME);
	}
	return fd;
}

long long status_kb(int pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':')
			kb = strtoll(line + klen + 1, NULL, 10);
	fclose(f);
	return kb;
}

long long vmpte_kb(int pid)
{
	return status_kb(pid, "VmPTE");
}

bool parse_size(const char *s, unsigned long long *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 'k': case 'K': *v <<= 10; end++; break;
	case 'm': case 'M': *v <<= 20; end++; break;
	case 'g': case 'G': *v <<= 30; end++; break;
	case 't': case 'T': *v <<= 40; end++; break;
	}
	return *end == 0;
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
