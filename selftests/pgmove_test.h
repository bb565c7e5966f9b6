/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared helpers of pgmove's kselftests: opening the device and reading the oracles a
 * user would trust (/proc/self/pagemap, VmPTE, /proc/slabinfo, module parameters).
 */
#ifndef PGMOVE_TEST_H
#define PGMOVE_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/pgmove.h>

#define PGMOVE_DEV "/dev/pgmove"

/* A value in a /proc or /sys file "<key><sep><number>..." (e.g. "VmPTE:\t 12 kB"); -1 if absent. */
static inline long long pgmove_read_keyed(const char *path, const char *key)
{
	char line[512];
	size_t klen = strlen(key);
	long long val = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen)) {
			val = strtoll(line + klen, NULL, 0);
			break;
		}
	}
	fclose(f);
	return val;
}

/*
 * A counter of /proc/vmstat, -1 if the kernel has none by that name (the nr_tlb_* ones need
 * CONFIG_DEBUG_TLBFLUSH). It allocates nothing: stdio's buffers come from malloc(), and a
 * free() that trims the heap unmaps memory, which is a TLB flush of the process's own (a
 * test that counts flushes must not cause one while it reads the count).
 */
static inline long long pgmove_vmstat(const char *name)
{
	static char buf[32768];
	size_t klen = strlen(name), got = 0;
	long long val = -1;
	ssize_t n;
	char *p;
	int fd = open("/proc/vmstat", O_RDONLY);

	if (fd < 0)
		return -1;
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += n;
	close(fd);
	buf[got] = 0;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (!strncmp(p, name, klen) && p[klen] == ' ') {
			val = strtoll(p + klen + 1, NULL, 10);
			break;
		}
	}
	return val;
}

/* The first number in a file (a module parameter, a sysctl); -1 if unreadable. */
static inline long long pgmove_read_number(const char *path, int base)
{
	char buf[64] = "";
	long long val = -1;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		val = strtoll(buf, NULL, base);
	fclose(f);
	return val;
}

/*
 * Active objects of a slab cache in /proc/slabinfo; -1 if the cache is not listed.
 * The cache is shrunk first, which also empties KASAN's quarantine of its freed objects
 * (without that, objects freed a moment ago still count as active).
 */
static inline long long pgmove_slab_active(const char *cache)
{
	char line[512], name[128];
	long long active = -1, v;
	FILE *f;

	snprintf(line, sizeof(line), "/sys/kernel/slab/%s/shrink", cache);
	f = fopen(line, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%127s %lld", name, &v) == 2 && !strcmp(name, cache)) {
			active = v;
			break;
		}
	}
	fclose(f);
	return active;
}

/*
 * Wait until udev (if the system runs it) has handled the pending device events, so that a
 * device node reflects the last module load or unload rather than an event still queued.
 */
static inline void pgmove_udev_settle(void)
{
	int saved = errno;

	if (access("/run/udev/control", F_OK) == 0 &&
	    system("udevadm settle --timeout=30 >/dev/null 2>&1") != 0)
		fprintf(stderr, "# udevadm settle failed\n");
	errno = saved;
}

/* finit_module() of the module file ko with args, without waiting for udev. */
static inline int pgmove_module_load(const char *ko, const char *args)
{
	int fd = open(ko, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = syscall(SYS_finit_module, fd, args, 0);
	close(fd);
	return ret;
}

#endif /* PGMOVE_TEST_H */
