// SPDX-License-Identifier: GPL-2.0
/*
 * libpgmove-uffd: an LD_PRELOAD library that serves a program's
 * ioctl(uffd, UFFDIO_MOVE, ...) with /dev/pgmove's PGMOVE_IOC_MOVE, writes `move` back and
 * wakes the userfaultfd's waiters as 6.12's userfaultfd_move() does (fs/userfaultfd.c), so
 * that the program sees the kernel's UFFDIO_MOVE except in speed. Everything else goes to
 * the kernel unchanged. Documentation/uffd-compat.rst has the rules and the differences.
 *
 * This file owns: the interposed ioctl(), syscall(), userfaultfd() and close(); the record
 * of the uffds this process created; the lazy, per-process open of /dev/pgmove; the move
 * itself (checks, probe, PGMOVE_IOC_MOVE, write-back, wake); the statistics.
 *
 * A UFFDIO_MOVE is served by pgmove only when all of these hold, else it goes to the
 * kernel as it is (which answers it exactly, since nothing was done):
 *   1. the fd is a uffd this process created (userfaultfd(2) through syscall() or the libc
 *      wrapper, or USERFAULTFD_IOC_NEW), still the same file (fstat: device and inode);
 *   2. its UFFDIO_API is done without the non-cooperative event features (fdinfo);
 *   3. the arguments pass the kernel's validate_range() and mode checks, whatever the
 *      task_size;
 *   4. a probe, the kernel's own UFFDIO_MOVE from dst onto itself, which cannot move
 *      anything, fails as only a destination that passed every check of move_pages() can
 *      fail (ENOENT or EEXIST with move = -errno): dst lies in one VMA registered with this
 *      very uffd, whose mm is the caller's;
 *   5. /dev/pgmove opened in this process (else fall back, or fail with PGMOVE_UFFD_STRICT=1).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/userfaultfd.h>
#include <linux/pgmove.h>

#ifndef __x86_64__
#error "libpgmove-uffd: x86_64 only, as pgmove itself"
#endif

#define LIB "libpgmove-uffd"
#define PAGE_SZ 4096UL
/*
 * The smallest mm->task_size of a 64-bit x86 task: task_size_max() with 4-level paging
 * (arch/x86/include/asm/page_64_types.h). A range below it passes validate_range() on
 * every kernel; a range above it goes to the kernel, which knows its own task_size.
 */
#define LOW_TASK_SIZE ((1UL << 47) - PAGE_SZ)
/* UFFD_FEATURE_INITIALIZED, fs/userfaultfd.c: set in ctx->features by UFFDIO_API. */
#define UFFD_FEATURE_INITIALIZED_BIT (1ULL << 31)
/* Features under which ctx->mmap_changing can be raised (fs/userfaultfd.c). */
#define UFFD_EVENT_FEATURES (UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | \
			     UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP)
#define MAX_FDS 32768
#define MAX_ERRNO 134

/* ---------------------------------------------------------------- the next symbols */

typedef int (*ioctl_fn)(int, unsigned long, ...);
typedef long (*syscall_fn)(long, ...);
typedef int (*close_fn)(int);
typedef int (*uffd_fn)(int);

static void *next_sym(const char *name, bool required)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p && required) {
		static const char msg[] = LIB ": dlsym(RTLD_NEXT) failed\n";

		(void)!write(2, msg, sizeof(msg) - 1);
		abort();
	}
	return p;
}

/* Resolved on first use: a constructor may run after another library's ioctl(). */
#define NEXT(type, name)						\
static type next_##name(void)						\
{									\
	static _Atomic(type) fn;					\
	type f = atomic_load_explicit(&fn, memory_order_relaxed);	\
									\
	if (!f) {							\
		f = (type)next_sym(#name, true);			\
		atomic_store_explicit(&fn, f, memory_order_relaxed);	\
	}								\
	return f;							\
}
NEXT(ioctl_fn, ioctl)
NEXT(syscall_fn, syscall)
NEXT(close_fn, close)

/* ---------------------------------------------------------------- configuration, stats */

static atomic_int cfg_strict = -1, cfg_stats = -1;

static int env_on(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0") != 0;
}

static void config(void)
{
	if (atomic_load_explicit(&cfg_stats, memory_order_relaxed) >= 0)
		return;
	atomic_store(&cfg_strict, env_on("PGMOVE_UFFD_STRICT"));
	atomic_store(&cfg_stats, env_on("PGMOVE_UFFD_STATS"));
}

/* Why a UFFDIO_MOVE went to the kernel. */
enum why {
	WHY_UNTRACKED,	/* not a uffd created in this process, or not the same file any more */
	WHY_UNINIT,	/* UFFDIO_API not done (or fdinfo unreadable) */
	WHY_EVENTS,	/* non-cooperative event features: mmap_changing semantics */
	WHY_ARGS,	/* arguments the kernel rejects before move_pages() (or a high range) */
	WHY_PROBE,	/* the probe did not show a registered destination */
	WHY_NODEV,	/* /dev/pgmove cannot be used (not strict) */
	WHY_REFUSED,	/* pgmove failed with an errno UFFDIO_MOVE does not have, nothing moved */
	WHY_NR
};
static const char *const why_name[WHY_NR] = {
	"untracked", "uninitialized", "events", "args", "probe", "nodev", "refused",
};

static struct {
	atomic_ulong pgmove_calls, pgmove_bytes, pgmove_errors, wakes, wake_errors;
	atomic_ulong kernel_calls, why[WHY_NR], strict_failures;
	atomic_ulong err[MAX_ERRNO + 1];
} stats;

static void count(atomic_ulong *c, unsigned long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* ---------------------------------------------------------------- uffd records */

/*
 * One record per fd number, written when this process creates a uffd there, read without a
 * lock on every UFFDIO_MOVE (a sequence counter; a writer that finds it busy gives up, so a
 * fork that copies a record in the middle of a write leaves a busy record, never a hang).
 * A lost update is harmless: the call then goes to the kernel, or the fstat check below
 * catches the stale record.
 */
enum feat { FEAT_UNKNOWN, FEAT_OK, FEAT_EVENTS };

struct uffd_rec {
	atomic_uint seq;
	atomic_int pid;		/* creating process; 0: no record */
	atomic_uint feat;	/* enum feat */
	_Atomic uint64_t dev, ino;
};

struct rec_snap {
	pid_t pid;
	unsigned int feat;
	uint64_t dev, ino;
};

static struct uffd_rec recs[MAX_FDS];

static bool rec_lock(struct uffd_rec *r, unsigned int *seq)
{
	unsigned int s = atomic_load_explicit(&r->seq, memory_order_relaxed);

	if ((s & 1) || !atomic_compare_exchange_strong_explicit(&r->seq, &s, s + 1,
								 memory_order_relaxed,
								 memory_order_relaxed))
		return false;
	atomic_thread_fence(memory_order_release);
	*seq = s + 2;
	return true;
}

static void rec_unlock(struct uffd_rec *r, unsigned int seq)
{
	atomic_store_explicit(&r->seq, seq, memory_order_release);
}

static bool rec_read(int fd, struct rec_snap *out)
{
	struct uffd_rec *r = &recs[fd];
	unsigned int s1, s2;

	s1 = atomic_load_explicit(&r->seq, memory_order_acquire);
	if (s1 & 1)
		return false;
	out->pid = atomic_load_explicit(&r->pid, memory_order_relaxed);
	out->feat = atomic_load_explicit(&r->feat, memory_order_relaxed);
	out->dev = atomic_load_explicit(&r->dev, memory_order_relaxed);
	out->ino = atomic_load_explicit(&r->ino, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	s2 = atomic_load_explicit(&r->seq, memory_order_relaxed);
	return s1 == s2 && out->pid != 0;
}

static void rec_set(int fd, pid_t pid, const struct stat *st)
{
	struct uffd_rec *r = &recs[fd];
	unsigned int seq;

	if (!rec_lock(r, &seq))
		return;
	atomic_store_explicit(&r->pid, pid, memory_order_relaxed);
	atomic_store_explicit(&r->feat, FEAT_UNKNOWN, memory_order_relaxed);
	atomic_store_explicit(&r->dev, st->st_dev, memory_order_relaxed);
	atomic_store_explicit(&r->ino, st->st_ino, memory_order_relaxed);
	rec_unlock(r, seq);
}

static void rec_set_feat(int fd, const struct rec_snap *snap, enum feat feat)
{
	struct uffd_rec *r = &recs[fd];
	unsigned int seq;

	if (!rec_lock(r, &seq))
		return;
	if (atomic_load_explicit(&r->pid, memory_order_relaxed) == snap->pid &&
	    atomic_load_explicit(&r->ino, memory_order_relaxed) == snap->ino &&
	    atomic_load_explicit(&r->dev, memory_order_relaxed) == snap->dev)
		atomic_store_explicit(&r->feat, feat, memory_order_relaxed);
	rec_unlock(r, seq);
}

static void rec_clear(int fd)
{
	struct uffd_rec *r;
	unsigned int seq;

	if (fd < 0 || fd >= MAX_FDS)
		return;
	r = &recs[fd];
	if (!atomic_load_explicit(&r->pid, memory_order_relaxed) || !rec_lock(r, &seq))
		return;
	atomic_store_explicit(&r->pid, 0, memory_order_relaxed);
	rec_unlock(r, seq);
}

static bool is_anon_inode(const struct stat *st)
{
	/* alloc_anon_inode() (fs/libfs.c): i_mode = S_IRUSR | S_IWUSR, no file type. */
	return (st->st_mode & S_IFMT) == 0;
}

/* A new fd from userfaultfd(2) or USERFAULTFD_IOC_NEW: remember it as this process's. */
static void track_new(int fd)
{
	int saved = errno;
	char path[48], link[64];
	struct stat st;
	ssize_t n;

	if (fd < 0 || fd >= MAX_FDS || fstat(fd, &st) || !is_anon_inode(&st))
		goto out;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		goto out;
	link[n] = '\0';
	if (strcmp(link, "anon_inode:[userfaultfd]") == 0)
		rec_set(fd, getpid(), &st);
out:
	errno = saved;
}

/*
 * The uffd's enabled features, from /proc/self/fdinfo/FD (userfaultfd_show_fdinfo():
 * "API:\t%Lx:%x:%Lx" with ctx->features), of the file with inode INO.
 */
static enum feat read_feat(int fd, uint64_t ino)
{
	char path[48], buf[512], *p, *end;
	unsigned long long features;
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return FEAT_UNKNOWN;
	n = read(f, buf, sizeof(buf) - 1);
	next_close()(f);
	if (n <= 0)
		return FEAT_UNKNOWN;
	buf[n] = '\0';
	p = strstr(buf, "\nino:\t");
	if (!p || strtoull(p + 6, NULL, 10) != ino)
		return FEAT_UNKNOWN;
	p = strstr(buf, "\nAPI:\t");
	if (!p || strtoull(p + 6, &end, 16) != UFFD_API || *end != ':')
		return FEAT_UNKNOWN;
	features = strtoull(end + 1, &end, 16);
	if (*end != ':' || !(features & UFFD_FEATURE_INITIALIZED_BIT))
		return FEAT_UNKNOWN;
	return features & UFFD_EVENT_FEATURES ? FEAT_EVENTS : FEAT_OK;
}

/* Conditions 1 and 2 of the header comment; returns WHY_NR when they hold. */
static enum why uffd_usable(int fd, pid_t pid)
{
	struct rec_snap snap;
	struct stat st;

	if (fd < 0 || fd >= MAX_FDS || !rec_read(fd, &snap) || snap.pid != pid)
		return WHY_UNTRACKED;
	if (fstat(fd, &st) || !is_anon_inode(&st) || st.st_ino != snap.ino ||
	    st.st_dev != snap.dev)
		return WHY_UNTRACKED;
	if (snap.feat == FEAT_UNKNOWN) {
		snap.feat = read_feat(fd, snap.ino);
		if (snap.feat == FEAT_UNKNOWN)
			return WHY_UNINIT;	/* not cached: UFFDIO_API may come later */
		rec_set_feat(fd, &snap, snap.feat);
	}
	return snap.feat == FEAT_OK ? WHY_NR : WHY_EVENTS;
}

/* ---------------------------------------------------------------- /dev/pgmove */

/*
 * (pid << 32) | (u32)(fd, or -errno when it cannot be used); 0: not opened yet. Keyed by
 * pid because a file of /dev/pgmove serves only the mm that opened it: a forked child
 * opens its own (the parent's fd stays open in the child; it may have been reused for
 * something else, so it is not closed).
 */
static _Atomic uint64_t dev_word;
static atomic_int announced_pid;

static int dev_open(void)
{
	struct pgmove_info info = { 0 };
	int fd = open("/dev/pgmove", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (next_ioctl()(fd, PGMOVE_IOC_INFO, &info) || info.abi_version != PGMOVE_ABI_VERSION ||
	    !(info.features & PGMOVE_FEAT_MOVE)) {
		next_close()(fd);
		return -EOPNOTSUPP;
	}
	return fd;
}

/* The device's fd, or -errno. Lazy, thread-safe, once per process. */
static int dev_get(pid_t pid)
{
	uint64_t w = atomic_load_explicit(&dev_word, memory_order_acquire), nw;
	int v;

	while (!w || (pid_t)(w >> 32) != pid) {
		v = dev_open();
		nw = (uint64_t)pid << 32 | (uint32_t)v;
		if (atomic_compare_exchange_strong(&dev_word, &w, nw)) {
			w = nw;
			if (v < 0 && atomic_exchange(&announced_pid, pid) != pid)
				fprintf(stderr, atomic_load(&cfg_strict) ?
					LIB ": /dev/pgmove: %s; PGMOVE_UFFD_STRICT=1: UFFDIO_MOVE fails with it\n" :
					LIB ": /dev/pgmove: %s; UFFDIO_MOVE goes to the kernel\n",
					strerror(-v));
			break;
		}
		if (v >= 0)
			next_close()(v);	/* another thread was first: w is now its word */
	}
	return (int32_t)(uint32_t)w;
}

/* ---------------------------------------------------------------- UFFDIO_MOVE */

/* validate_range() of fs/userfaultfd.c, against the smallest task_size. */
static bool range_ok(uint64_t start, uint64_t len)
{
	return !(start & (PAGE_SZ - 1)) && !(len & (PAGE_SZ - 1)) && len &&
	       start < LOW_TASK_SIZE && len <= LOW_TASK_SIZE - start;
}

/* The errnos with which UFFDIO_MOVE (move_pages()) can fail with nothing moved. */
static bool uffd_move_errno(int err)
{
	switch (err) {
	case EINVAL: case ENOENT: case EEXIST: case EBUSY: case EFAULT: case ENOMEM:
	case EINTR:
		return true;
	}
	return false;
}

static int to_kernel(int fd, unsigned long req, void *arg, enum why why, int saved_errno)
{
	count(&stats.kernel_calls, 1);
	count(&stats.why[why], 1);
	errno = saved_errno;
	return next_ioctl()(fd, req, arg);
}

static void wake(int uffd, uint64_t start, uint64_t len)
{
	struct uffdio_range range = { .start = start, .len = len };

	if (next_ioctl()(uffd, UFFDIO_WAKE, &range))
		count(&stats.wake_errors, 1);
	else
		count(&stats.wakes, 1);
}

static int uffd_move(int fd, unsigned long req, struct uffdio_move *user)
{
	int saved_errno = errno, dev, ret, err;
	struct uffdio_move um, probe;
	struct pgmove_move pm;
	enum why why;
	pid_t pid;

	config();
	pid = getpid();
	why = uffd_usable(fd, pid);
	if (why != WHY_NR)
		return to_kernel(fd, req, user, why, saved_errno);
	dev = dev_get(pid);
	if (dev < 0 && !atomic_load(&cfg_strict))
		return to_kernel(fd, req, user, WHY_NODEV, saved_errno);

	/*
	 * userfaultfd_move(): copy_from_user() of all but "move". A pointer that cannot be
	 * user memory (NULL, the kernel's half) is the kernel's to answer (EFAULT).
	 */
	if ((uintptr_t)user < 65536 || (uintptr_t)user > LOW_TASK_SIZE - sizeof(*user))
		return to_kernel(fd, req, user, WHY_ARGS, saved_errno);
	um.dst = user->dst;
	um.src = user->src;
	um.len = user->len;
	um.mode = user->mode;
	if ((um.mode & ~(UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES | UFFDIO_MOVE_MODE_DONTWAKE)) ||
	    !range_ok(um.dst, um.len) || !range_ok(um.src, um.len))
		return to_kernel(fd, req, user, WHY_ARGS, saved_errno);

	/*
	 * The probe: dst onto itself. move_pages() checks the mm, finds dst's VMA (ENOENT if
	 * none), checks it (VM_SHARED, the range within it, validate_move_areas(): registered
	 * with this ctx, anonymous, writable, ... else EINVAL), then fails at the first page
	 * without changing it: ENOENT (nothing there) or EEXIST (something there).
	 */
	probe = (struct uffdio_move){ .dst = um.dst, .src = um.dst, .len = um.len };
	ret = next_ioctl()(fd, UFFDIO_MOVE, &probe);
	err = errno;
	if (ret == 0 || (err != ENOENT && err != EEXIST) || probe.move != -err)
		return to_kernel(fd, req, user, WHY_PROBE, saved_errno);

	if (dev < 0) {		/* PGMOVE_UFFD_STRICT=1 */
		count(&stats.strict_failures, 1);
		user->move = dev;
		errno = -dev;
		return -1;
	}

	pm = (struct pgmove_move){
		.dst = um.dst, .src = um.src, .len = um.len,
		.flags = um.mode & UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ?
			 PGMOVE_MOVE_ALLOW_SRC_HOLES : 0,
	};
	for (;;) {
		pm.moved = 0;
		ret = next_ioctl()(dev, PGMOVE_IOC_MOVE, &pm);
		err = errno;
		if (pm.moved > 0)		/* all (ret 0), or a part (EAGAIN) */
			break;
		/*
		 * pgmove gives up after 1024 retries at one address with EAGAIN and nothing
		 * moved; move_pages() retries for ever (its "continue" on -EAGAIN): so do we.
		 */
		if (ret && err == EAGAIN && pm.moved == -EAGAIN)
			continue;
		if (ret && pm.moved == -err && uffd_move_errno(err))
			break;			/* nothing moved, an errno of UFFDIO_MOVE's */
		/* Not an answer UFFDIO_MOVE could give (EPERM, ENOTTY...); nothing moved. */
		return to_kernel(fd, req, user, WHY_REFUSED, saved_errno);
	}
	count(&stats.pgmove_calls, 1);

	/* userfaultfd_move(): put_user(ret, &user_uffdio_move->move), then the wake. */
	user->move = pm.moved;
	if (pm.moved < 0) {
		count(&stats.pgmove_errors, 1);
		if (err <= MAX_ERRNO)
			count(&stats.err[err], 1);
		errno = err;
		return -1;
	}
	count(&stats.pgmove_bytes, pm.moved);
	/* range.len = ret; if (!(mode & UFFDIO_MOVE_MODE_DONTWAKE)) wake [dst, dst + ret) */
	if (!(um.mode & UFFDIO_MOVE_MODE_DONTWAKE))
		wake(fd, um.dst, pm.moved);
	/* ret = range.len == uffdio_move.len ? 0 : -EAGAIN */
	if ((uint64_t)pm.moved == um.len) {
		errno = saved_errno;
		return 0;
	}
	count(&stats.pgmove_errors, 1);
	count(&stats.err[EAGAIN], 1);
	errno = EAGAIN;
	return -1;
}

/* ---------------------------------------------------------------- the interposed calls */

static int ioctl_common(int fd, unsigned long req, void *arg)
{
	int ret;

	/* The kernel takes cmd as unsigned int: compare as it does. */
	switch ((unsigned int)req) {
	case UFFDIO_MOVE:
		return uffd_move(fd, req, arg);
	case USERFAULTFD_IOC_NEW:
		ret = next_ioctl()(fd, req, arg);
		if (ret >= 0)
			track_new(ret);
		return ret;
	}
	return next_ioctl()(fd, req, arg);
}

int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	return ioctl_common(fd, req, arg);
}

long syscall(long nr, ...)
{
	long a[6], ret;
	va_list ap;
	int i;

	/* Variadic: take six, as glibc's syscall() does. */
	va_start(ap, nr);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);

	switch (nr) {
	case SYS_ioctl:
		return ioctl_common((int)a[0], (unsigned long)a[1], (void *)a[2]);
	case SYS_userfaultfd:
		ret = next_syscall()(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
		if (ret >= 0)
			track_new((int)ret);
		return ret;
	case SYS_close:
		rec_clear((int)a[0]);
		break;
	}
	return next_syscall()(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* glibc has no userfaultfd() wrapper up to 2.36; one that has it may call the syscall inline. */
int userfaultfd(int flags);
int userfaultfd(int flags)
{
	static _Atomic(uffd_fn) next;
	static atomic_int looked;
	uffd_fn fn;
	int fd;

	if (!atomic_load(&looked)) {
		atomic_store(&next, (uffd_fn)next_sym("userfaultfd", false));
		atomic_store(&looked, 1);
	}
	fn = atomic_load(&next);
	fd = fn ? fn(flags) : (int)next_syscall()(SYS_userfaultfd, flags);
	if (fd >= 0)
		track_new(fd);
	return fd;
}

int close(int fd)
{
	rec_clear(fd);
	return next_close()(fd);
}

/* ---------------------------------------------------------------- setup, report */

static pid_t init_pid;

/* A forked child counts its own calls: it starts from zero, not from its parent's counts. */
static void stats_reset_in_child(void)
{
	memset(&stats, 0, sizeof(stats));
}

__attribute__((constructor)) static void lib_init(void)
{
	config();
	init_pid = getpid();
	pthread_atfork(NULL, NULL, stats_reset_in_child);
}

__attribute__((destructor)) static void lib_report(void)
{
	char errs[512] = "", whys[256] = "";
	size_t n = 0, m = 0;
	int i;

	config();
	if (!atomic_load(&cfg_stats))
		return;
	/* A forked child that never asked for a move stays quiet. */
	if (getpid() != init_pid && !atomic_load(&stats.pgmove_calls) &&
	    !atomic_load(&stats.kernel_calls) && !atomic_load(&stats.strict_failures))
		return;
	for (i = 1; i <= MAX_ERRNO && n < sizeof(errs) - 32; i++) {
		unsigned long c = atomic_load(&stats.err[i]);
		const char *name = strerrorname_np(i);

		if (c)
			n += snprintf(errs + n, sizeof(errs) - n, "%s%s:%lu", n ? "," : "",
				      name ? name : "?", c);
	}
	for (i = 0; i < WHY_NR; i++) {
		unsigned long c = atomic_load(&stats.why[i]);

		if (c)
			m += snprintf(whys + m, sizeof(whys) - m, "%s%s:%lu", m ? "," : "",
				      why_name[i], c);
	}
	fprintf(stderr, LIB ": pid=%d pgmove_calls=%lu pgmove_bytes=%lu pgmove_errors=%lu "
		"errnos=%s wakes=%lu wake_errors=%lu kernel_calls=%lu kernel_why=%s "
		"strict_failures=%lu\n",
		(int)getpid(), atomic_load(&stats.pgmove_calls),
		atomic_load(&stats.pgmove_bytes), atomic_load(&stats.pgmove_errors),
		n ? errs : "none", atomic_load(&stats.wakes), atomic_load(&stats.wake_errors),
		atomic_load(&stats.kernel_calls), m ? whys : "none",
		atomic_load(&stats.strict_failures));
}
