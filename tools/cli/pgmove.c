// SPDX-License-Identifier: GPL-2.0
/*
 * pgmove: the command-line tool for /dev/pgmove.
 *   pgmove info                                   ABI version and features of the module
 *   pgmove reclaim --pid PID [--zeropage] [RANGE]  free PID's empty PTE tables, showing VmPTE
 *                                                   before and after and the counters
 *   pgmove speed [MiB]                            move MiB (default 256) of this process's
 *                                                   memory with MOVE, then with UFFDIO_MOVE,
 *                                                   and print both speeds
 *   pgmove reclaimd [OPTIONS]                      free page tables of bloated processes
 *                                                   automatically (reclaimd.c)
 * Exit codes (all commands, cli.h): 0 done, 1 failed, 2 bad arguments, 3 no /dev/pgmove,
 * 4 not allowed.
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
#include <sys/mman.h>
#include <linux/userfaultfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/pgmove.h>

#include "cli.h"

static const struct {
	unsigned long long bit;
	const char *name;
} features[] = {
	{ PGMOVE_FEAT_MOVE, "move" },
	{ PGMOVE_FEAT_RECLAIM, "reclaim" },
	{ PGMOVE_FEAT_RECLAIM_ZEROPAGE, "reclaim-zeropage" },
	{ PGMOVE_FEAT_MOVEV, "movev" },
	{ 0, NULL },
};

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
			return EXIT_USAGE;
		}
	}
	if (pid <= 0) {
		fprintf(stderr, "pgmove reclaim: --pid PID is required\n");
		return EXIT_USAGE;
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
		return err == EPERM ? EXIT_NOT_ALLOWED : EXIT_RUNTIME;
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

#define SPEED_CHUNK (16UL << 20)

/* Two 2 MiB-aligned private anonymous areas of `len` bytes; the source filled with tags. */
static int speed_areas(unsigned long len, char **src, char **dst)
{
	for (int i = 0; i < 2; i++) {
		char *p = mmap(NULL, len + (2UL << 20), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -1;
		p = (char *)(((unsigned long)p + (2UL << 20) - 1) & ~((2UL << 20) - 1));
		madvise(p, len, MADV_NOHUGEPAGE);
		*(i ? dst : src) = p;
	}
	for (unsigned long off = 0; off < len; off += 4096)
		*(unsigned long *)(*src + off) = off | 1;
	return 0;
}

/*
 * Whether progress may redraw one line with '\r': only on a terminal. In the test VM stderr
 * is never one, so tools/vm-run says in PGMOVE_OUTPUT_TTY whether the host's output is.
 */
static bool progress_on_terminal(void)
{
	const char *tty = getenv("PGMOVE_OUTPUT_TTY");

	return tty ? *tty == '1' : isatty(STDERR_FILENO);
}

/*
 * Moves `len` bytes in 16 MiB steps; returns the seconds it took. Progress goes to stderr:
 * one line redrawn on a terminal, else a whole line at each quarter.
 */
static double speed_run(const char *name, int fd, int uffd, char *dst, char *src,
			unsigned long len)
{
	double t = 0;

	for (unsigned long off = 0; off < len; off += SPEED_CHUNK) {
		struct pgmove_move m = { .dst = (unsigned long)dst + off,
					 .src = (unsigned long)src + off, .len = SPEED_CHUNK };
		struct uffdio_move u = { .dst = m.dst, .src = m.src, .len = SPEED_CHUNK };
		double t0 = now_s();
		int ret = uffd >= 0 ? ioctl(uffd, UFFDIO_MOVE, &u) : ioctl(fd, PGMOVE_IOC_MOVE, &m);

		t += now_s() - t0;
		if (ret) {
			fprintf(stderr, "%s%s: %s\n", progress_on_terminal() ? "\n" : "", name,
				strerror(errno));
			return -1;
		}
		if (progress_on_terminal())
			fprintf(stderr, "\r  %-12s %4lu / %lu MiB", name, (off + SPEED_CHUNK) >> 20,
				len >> 20);
		else if ((off + SPEED_CHUNK) * 4 / len != off * 4 / len)
			fprintf(stderr, "  %-12s %4lu / %lu MiB\n", name, (off + SPEED_CHUNK) >> 20,
				len >> 20);
	}
	for (unsigned long off = 0; off < len; off += 4096)
		if (*(unsigned long *)(dst + off) != (off | 1)) {
			fprintf(stderr, "%s%s: wrong contents at +%#lx\n",
				progress_on_terminal() ? "\n" : "", name, off);
			return -1;
		}
	if (progress_on_terminal())
		fprintf(stderr, "\n");
	return t;
}

static int cmd_speed(int argc, char **argv)
{
	unsigned long mib = argc > 2 ? strtoul(argv[2], NULL, 0) : 256, len;
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_MOVE };
	double t_pg, t_uffd;
	char *src, *dst;
	int fd = open_dev(), uffd;

	if (fd < 0)
		return 1;
	if (!mib || mib % 16) {
		fprintf(stderr, "pgmove speed: MiB must be a non-zero multiple of 16\n");
		return EXIT_USAGE;
	}
	len = mib << 20;
	if (speed_areas(len, &src, &dst)) {
		perror("pgmove speed: mmap");
		return 1;
	}
	t_pg = speed_run("pgmove MOVE", fd, -1, dst, src, len);
	/* The same pages, moved back by UFFDIO_MOVE into the (now empty) first area. */
	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api)) {
		fprintf(stderr, "pgmove speed: no UFFDIO_MOVE in this kernel\n");
		return 1;
	}
	struct uffdio_register reg = { .range = { (unsigned long)src, len },
				       .mode = UFFDIO_REGISTER_MODE_MISSING };
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		perror("pgmove speed: UFFDIO_REGISTER");
		return 1;
	}
	t_uffd = speed_run("UFFDIO_MOVE", fd, uffd, src, dst, len);
	if (t_pg < 0 || t_uffd < 0)
		return 1;
	printf("pgmove MOVE:  %lu MiB in %.3f s (%.2f GiB/s)\n", mib, t_pg, mib / 1024.0 / t_pg);
	printf("UFFDIO_MOVE:  %lu MiB in %.3f s (%.2f GiB/s)\n", mib, t_uffd, mib / 1024.0 / t_uffd);
	printf("pgmove took %.2f of UFFDIO_MOVE's time (%.1fx as fast)\n", t_pg / t_uffd,
	       t_uffd / t_pg);
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: pgmove info\n"
		     "       pgmove reclaim --pid PID [--zeropage] [START-END | START+LEN]\n"
		     "       pgmove speed [MiB]\n"
		     "       pgmove reclaimd [OPTIONS]   (pgmove reclaimd --help)\n"
		     "exit: 0 done, 1 failed, 2 bad arguments, 3 no /dev/pgmove (module not loaded),\n"
		     "      4 not allowed\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
		if (!strcmp(argv[1], "reclaimd"))
			reclaimd_usage(stdout);
		else
			usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "info"))
		return cmd_info();
	if (!strcmp(argv[1], "reclaim"))
		return cmd_reclaim(argc, argv);
	if (!strcmp(argv[1], "speed"))
		return cmd_speed(argc, argv);
	if (!strcmp(argv[1], "reclaimd"))
		return cmd_reclaimd(argc, argv);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "pgmove: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
