// SPDX-License-Identifier: GPL-2.0
/*
 * pgmove: the command-line tool for /dev/pgmove.
 *   pgmove info                                   ABI version and features of the module
 *   pgmove reclaim --pid PID [--zeropage] [RANGE]  free PID's empty PTE tables, showing VmPTE
 *                                                   before and after and the counters
 * RANGE is START-END or START+LEN (hex with 0x, or decimal, with k/M/G/T suffixes for LEN);
 * the default is the whole address space.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/pgmove.h>

static const struct {
	unsigned long long bit;
	const char *name;
} features[] = {
	{ PGMOVE_FEAT_MOVE, "move" },
	{ PGMOVE_FEAT_RECLAIM, "reclaim" },
	{ PGMOVE_FEAT_RECLAIM_ZEROPAGE, "reclaim-zeropage" },
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

/* VmPTE of a process in kB, or -1 if it cannot be read. */
static long long vmpte_kb(int pid)
{
	char path[64], line[256];
	long long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmPTE:", 6))
			kb = strtoll(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* A number with an optional k/M/G/T suffix (powers of 1024); false if malformed. */
static bool parse_size(const char *s, unsigned long long *v)
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

/* START-END or START+LEN. */
static bool parse_range(const char *s, unsigned long long *start, unsigned long long *len)
{
	char buf[128], *sep;
	unsigned long long b;

	snprintf(buf, sizeof(buf), "%s", s);
	sep = strpbrk(buf, "-+");
	if (!sep)
		return false;
	*sep = 0;
	if (!parse_size(buf, start) || !parse_size(sep + 1, &b))
		return false;
	if (s[sep - buf] == '+')
		*len = b;
	else if (b > *start)
		*len = b - *start;
	else
		return false;
	return true;
}

static int cmd_reclaim(int argc, char **argv)
{
	struct pgmove_reclaim r = { .start = 0, .len = 1ULL << 56, .pidfd = -1 };
	long long before, after;
	struct timespec t0, t1;
	int pid = 0, fd, ret, err;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--pid") && i + 1 < argc) {
			pid = atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--zeropage")) {
			r.flags |= PGMOVE_RECLAIM_ZEROPAGE;
		} else if (parse_range(argv[i], (unsigned long long *)&r.start,
				       (unsigned long long *)&r.len)) {
			continue;
		} else {
			fprintf(stderr, "pgmove reclaim: bad argument '%s'\n", argv[i]);
			return 2;
		}
	}
	if (pid <= 0) {
		fprintf(stderr, "pgmove reclaim: --pid PID is required\n");
		return 2;
	}
	fd = open_dev();
	r.pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (r.pidfd < 0) {
		fprintf(stderr, "pgmove reclaim: process %d: %s\n", pid,
			errno == ESRCH ? "no such process" : strerror(errno));
		return 1;
	}
	before = vmpte_kb(pid);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = ioctl(fd, PGMOVE_IOC_RECLAIM, &r);
	err = errno;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	after = vmpte_kb(pid);
	if (ret && err != EINTR) {
		fprintf(stderr, "pgmove reclaim: process %d: %s\n", pid,
			err == EPERM ? "permission denied: RECLAIM of another process needs ptrace "
				       "read access to it (the same user, or CAP_SYS_PTRACE) and "
				       "CAP_SYS_NICE, as process_madvise()" :
			err == ESRCH ? "the process has exited" :
			err == EINVAL ? "invalid range or flags" : strerror(err));
		return 1;
	}
	printf("process %d, range %#llx-%#llx%s\n", pid, (unsigned long long)r.start,
	       (unsigned long long)(r.start + r.len),
	       r.flags & PGMOVE_RECLAIM_ZEROPAGE ? ", zero-page tables too" : "");
	printf("VmPTE:      %lld kB -> %lld kB\n", before, after);
	printf("scanned:    %llu PTE tables\n", (unsigned long long)r.scanned);
	printf("freed:      %llu (%llu kB)\n", (unsigned long long)r.freed,
	       (unsigned long long)r.freed * 4);
	printf("busy:       %llu\n", (unsigned long long)r.busy);
	printf("ineligible: %llu\n", (unsigned long long)r.ineligible);
	printf("time:       %.3f s\n",
	       (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (ret) {
		printf("interrupted by a signal: the counts above are what was done\n");
		return 1;
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: pgmove info\n"
		     "       pgmove reclaim --pid PID [--zeropage] [START-END | START+LEN]\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "info"))
		return cmd_info();
	if (!strcmp(argv[1], "reclaim"))
		return cmd_reclaim(argc, argv);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "pgmove: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
