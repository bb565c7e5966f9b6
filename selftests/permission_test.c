// SPDX-License-Identifier: GPL-2.0
/*
 * Who may use /dev/pgmove, on what, and what its ioctls write back (Documentation/pgmove.rst,
 * "The device" and "Errors common to every ioctl"; Documentation/reclaim.rst, "Rights"):
 *
 * - with the default `mode` (0600) an unprivileged user cannot open the node (EACCES); with
 *   mode=0666 it can, and its file works on its own mm only;
 * - a file received over a Unix socket (SCM_RIGHTS), by a process forked before the file was
 *   opened or by the opener's parent, or kept across exec, grants nothing: every ioctl fails
 *   with EPERM and writes nothing, while the opener's file keeps working;
 * - RECLAIM through a pidfd follows process_madvise()'s rules for every combination of user,
 *   capability and target (the matrix at pidfd_reclaim_matrix), with the file opened as root
 *   before dropping privileges and opened after dropping them (mode=0666);
 * - the out fields are written exactly, reserved fields are zero, and no byte outside the
 *   struct changes (each argument ends a page that a PROT_NONE page follows).
 *
 * "Unprivileged" is a forked child that drops to uid/gid 65534 with no supplementary groups and
 * no capabilities; capabilities are kept across setresuid() with PR_SET_KEEPCAPS and set with
 * the raw capset syscall. The tests that reload the module need PGMOVE_KO, the path of
 * pgmove.ko (tools/vm-run sets it), and put the module back with the parameters it had.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "pgmove_harness.h"
#include "move_util.h"

#define NOBODY 65534	/* the unprivileged user of these tests */
#define OTHER_UID 65533	/* another unprivileged user, owner of a RECLAIM target */
#define THIRD_UID 65532	/* a third one: a caller that owns no target */
#define TABLES 2	/* empty PTE tables in each RECLAIM target */
#define BIT(cap) (1ULL << (cap))
#define ALL_CAPS (~0ULL)	/* for become(): every capability the process has */
#define EXEC_ENV "PGMOVE_PERM_EXEC"

/* ---- Loading and unloading the module ---- */

static int mod_load(const char *ko, const char *args)
{
	int ret = pgmove_module_load(ko, args);

	pgmove_udev_settle();
	return ret;
}

/* rmmod; a file that an exiting process still releases may delay it for a moment. */
static int mod_unload(void)
{
	int ret = -1;

	for (int i = 0; i < 100; i++) {
		ret = syscall(SYS_delete_module, "pgmove", O_NONBLOCK);
		if (!ret || (errno != EWOULDBLOCK && errno != EAGAIN))
			break;
		usleep(100 * 1000);
	}
	pgmove_udev_settle();
	return ret;
}

static bool mod_loaded(void)
{
	return access("/sys/module/pgmove", F_OK) == 0;
}

static long long mod_mode(void)
{
	return pgmove_read_number("/sys/module/pgmove/parameters/mode", 10);
}

/* How the module was loaded when a test started, to put it back so in teardown. */
struct modstate {
	char ko[512];	/* PGMOVE_KO; empty when not set */
	char args[64];	/* the parameters it had ("mode=0600") */
	bool changed;	/* reloaded with other parameters */
};

static bool mod_save(struct modstate *m)
{
	const char *ko = getenv("PGMOVE_KO");
	long long mode = mod_mode();

	snprintf(m->ko, sizeof(m->ko), "%s", ko ? ko : "");
	m->changed = false;
	if (mode < 0)
		return false;
	snprintf(m->args, sizeof(m->args), "mode=0%llo", mode);
	return true;
}

static int mod_reload(struct modstate *m, const char *args)
{
	m->changed = true;
	if (mod_loaded() && mod_unload())
		return -1;
	return mod_load(m->ko, args);
}

/* Runs in the harness's parent process, after every file of the test is closed. */
static void mod_restore(struct __test_metadata *_metadata, struct modstate *m)
{
	if (!m->ko[0] || (!m->changed && mod_loaded()))
		return;
	if (mod_loaded() && mod_unload()) {
		TH_LOG("cannot unload pgmove to restore %s: %s", m->args, strerror(errno));
		return;
	}
	if (mod_load(m->ko, m->args))
		TH_LOG("could not reload %s %s: %s", m->ko, m->args, strerror(errno));
}

/* ---- Identities ---- */

static int caps_get(uint64_t *eff, uint64_t *perm)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	return 0;
}

/* Effective = permitted = caps, inheritable empty. */
static int caps_set(uint64_t caps)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ .effective = caps, .permitted = caps },
		{ .effective = caps >> 32, .permitted = caps >> 32 },
	};

	return syscall(SYS_capset, &h, d);
}

/* Root's full capability set (the permitted set of the test process). */
static uint64_t full_caps(void)
{
	uint64_t eff, perm;

	return caps_get(&eff, &perm) ? 0 : perm;
}

/*
 * Turns the calling process into user and group `uid` (no supplementary groups when not 0)
 * with exactly the capabilities `caps & what it has` in its effective and permitted sets
 * (ALL_CAPS: all of them), kept across setresuid() with PR_SET_KEEPCAPS. Checks the result.
 * 0 on success, else -1.
 */
static int become(uid_t uid, uint64_t caps)
{
	uint64_t eff, perm;
	uid_t r, e, s;

	if (caps_get(&eff, &perm))
		return -1;
	caps &= perm;
	if (uid && (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL) ||
		    setresgid(uid, uid, uid) || setresuid(uid, uid, uid) ||
		    prctl(PR_SET_KEEPCAPS, 0)))
		return -1;
	if (caps_set(caps) || caps_get(&eff, &perm) || eff != caps || perm != caps)
		return -1;
	if (getresuid(&r, &e, &s) || r != uid || e != uid || s != uid)
		return -1;
	return 0;
}

/* ---- Children that report why they failed ---- */

static char *report;	/* a shared page: the first failure a child reports, after an int */
#define REPORT (report + sizeof(int))

static void __attribute__((noreturn, format(printf, 1, 2))) child_fail(const char *fmt, ...)
{
	va_list ap;

	if (report && __sync_bool_compare_and_swap((int *)report, 0, 1)) {
		int n = snprintf(REPORT, PAGE - sizeof(int), "pid %d: ", getpid());

		va_start(ap, fmt);
		vsnprintf(REPORT + n, PAGE - sizeof(int) - n, fmt, ap);
		va_end(ap);
	}
	_exit(1);
}

#define CHILD_CHECK(cond, fmt, ...)                                                        \
	do {                                                                               \
		if (!(cond))                                                               \
			child_fail("line %d: %s: " fmt, __LINE__, #cond, ##__VA_ARGS__);   \
	} while (0)

/* Runs fn(arg) in a forked child; its exit status (0: passed); REPORT says why not. */
static int in_child(void (*fn)(void *), void *arg)
{
	int status;
	pid_t pid;

	memset(report, 0, PAGE);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		fn(arg);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- Using the device ---- */

static void unmap_anon(char *a, unsigned long len)
{
	munmap(a - PAGE, len + 2 * PAGE);	/* map_anon()'s guards; the alignment slack stays */
}

/* A PMD-aligned area of `n` PTE tables, all empty (a page touched in each, then DONTNEED). */
static char *empty_tables(unsigned int n)
{
	char *p = map_anon(n * PMD, true, false);

	if (!p)
		return NULL;
	for (unsigned int i = 0; i < n; i++)
		p[i * PMD] = 1;
	return madvise(p, n * PMD, MADV_DONTNEED) ? NULL : p;
}

/*
 * Real use of the caller's own mm through fd: INFO, a MOVE of 4 pages (the contents arrive,
 * the source reads zero), a RECLAIM(pidfd -1) of TABLES empty tables (VmPTE drops by 4 kB
 * each), a MOVEV of one page. NULL if all worked, else what did not.
 */
static const char *use_own_mm(int fd)
{
	static char why[256];
	char *src = map_anon(4 * PAGE, false, false), *dst = map_anon(4 * PAGE, false, false);
	char *tables = empty_tables(TABLES);
	struct pgmove_info info = { 0 };
	struct pgmove_move e;
	struct pgmove_movev v;
	struct reclaim_res r;
	struct move_res m;
	long long pte;

	if (!src || !dst || !tables)
		return "mmap";
	if (ioctl(fd, PGMOVE_IOC_INFO, &info))
		return snprintf(why, sizeof(why), "INFO: %s", strerror(errno)), why;
	if (info.abi_version != PGMOVE_ABI_VERSION || info.reserved)
		return snprintf(why, sizeof(why), "INFO: abi %u reserved %u", info.abi_version,
				info.reserved), why;
	fill_pages(src, 4 * PAGE, 71);
	m = pgmove_do_move(fd, (unsigned long)dst, (unsigned long)src, 4 * PAGE, 0);
	if (m.ret || m.moved != (long long)(4 * PAGE))
		return snprintf(why, sizeof(why), "MOVE: %s, moved %lld", strerror(m.err),
				m.moved), why;
	if (check_pages(dst, 4 * PAGE, 71) != -1 || !all_zero(src, 4 * PAGE))
		return "MOVE: contents did not move";
	pte = vmpte_kb(0);
	r = pgmove_do_reclaim(fd, tables, TABLES * PMD, 0);
	if (r.ret || r.r.freed != TABLES || pte - vmpte_kb(0) != TABLES * 4)
		return snprintf(why, sizeof(why), "RECLAIM: %s, freed %llu, VmPTE %lld -> %lld",
				strerror(r.err), r.r.freed, pte, vmpte_kb(0)), why;
	/* MOVEV: one page back (the read above mapped the zero page at src: drop it). */
	if (madvise(src, PAGE, MADV_DONTNEED))
		return "madvise";
	e = (struct pgmove_move){ .dst = (unsigned long)src, .src = (unsigned long)dst,
				  .len = PAGE, .moved = MOVED_UNSET };
	v = (struct pgmove_movev){ .moves = (unsigned long)&e, .count = 1, .completed = ~0ULL };
	if (ioctl(fd, PGMOVE_IOC_MOVEV, &v) || v.completed != 1 || e.moved != (long long)PAGE)
		return snprintf(why, sizeof(why), "MOVEV: %s, completed %llu, moved %lld",
				strerror(errno), v.completed, e.moved), why;
	if (check_pages(src, PAGE, 71) != -1)
		return "MOVEV: contents did not move";
	unmap_anon(src, 4 * PAGE);
	unmap_anon(dst, 4 * PAGE);
	unmap_anon(tables, TABLES * PMD);
	return NULL;
}

/*
 * Every pgmove ioctl on fd, which a task of another mm opened: each must fail with EPERM (the
 * mm check comes first, also before an unknown command and a bad pointer) and leave its
 * argument, the entries it points to, and the memory it names as they were. NULL if so,
 * else what went wrong.
 */
static const char *all_ioctls_eperm(int fd)
{
	static char why[256];
	char *src = map_anon(PAGE, false, false), *dst = map_anon(PAGE, false, false);
	char *tables = empty_tables(TABLES);
	int self_pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	struct pgmove_info info;
	struct pgmove_move mv, ent, ent0;
	struct pgmove_movev v;
	struct pgmove_reclaim r, rs;
	char copy[sizeof(struct pgmove_reclaim)];
	long long pte;
	struct {
		unsigned long cmd;
		void *arg;
		size_t size;
		const char *name;
	} calls[] = {
		{ PGMOVE_IOC_INFO, &info, sizeof(info), "INFO" },
		{ PGMOVE_IOC_INFO, NULL, 0, "INFO(NULL)" },
		{ PGMOVE_IOC_MOVE, &mv, sizeof(mv), "MOVE" },
		{ PGMOVE_IOC_RECLAIM, &r, sizeof(r), "RECLAIM(pidfd -1)" },
		{ PGMOVE_IOC_RECLAIM, &rs, sizeof(rs), "RECLAIM(own pidfd)" },
		{ PGMOVE_IOC_MOVEV, &v, sizeof(v), "MOVEV" },
		{ _IO(PGMOVE_IOC_MAGIC, 0x7f), NULL, 0, "unknown command" },
	};

	if (!src || !dst || !tables || self_pidfd < 0)
		return "setup (mmap, pidfd_open)";
	fill_pages(src, PAGE, 72);
	memset(&info, 0x5a, sizeof(info));
	mv = (struct pgmove_move){ .dst = (unsigned long)dst, .src = (unsigned long)src,
				   .len = PAGE, .moved = MOVED_UNSET };
	ent = mv;
	ent0 = ent;
	v = (struct pgmove_movev){ .moves = (unsigned long)&ent, .count = 1, .completed = ~0ULL };
	r = (struct pgmove_reclaim){ .start = (unsigned long)tables, .len = TABLES * PMD,
				     .pidfd = -1, .scanned = ~0ULL, .freed = ~0ULL,
				     .busy = ~0ULL, .ineligible = ~0ULL };
	rs = r;
	rs.pidfd = self_pidfd;
	pte = vmpte_kb(0);
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		int ret;

		memcpy(copy, calls[i].arg ? calls[i].arg : copy, calls[i].size);
		errno = 0;
		ret = ioctl(fd, calls[i].cmd, calls[i].arg);
		if (ret != -1 || errno != EPERM)
			return snprintf(why, sizeof(why), "%s returned %d (%s), not EPERM",
					calls[i].name, ret, strerror(errno)), why;
		if (calls[i].size && memcmp(copy, calls[i].arg, calls[i].size))
			return snprintf(why, sizeof(why), "%s failed but wrote its argument",
					calls[i].name), why;
	}
	if (memcmp(&ent, &ent0, sizeof(ent)))
		return "MOVEV wrote its entry";
	if (vmpte_kb(0) != pte)
		return "RECLAIM freed tables";
	if (check_pages(src, PAGE, 72) != -1 || !all_zero(dst, PAGE))
		return "MOVE moved the page";
	close(self_pidfd);
	unmap_anon(src, PAGE);
	unmap_anon(dst, PAGE);
	unmap_anon(tables, TABLES * PMD);
	return NULL;
}

/* ---- SCM_RIGHTS ---- */

static int send_fd(int sock, int fd)
{
	char c = 'f';
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	memset(&u, 0, sizeof(u));
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/*
 * This program exec'd by file_kept_across_exec_grants_nothing, with EXEC_ENV="<fd>:<report
 * fd>": fd was opened by this same process before exec, i.e. by the mm exec replaced.
 * Runs before the harness's main and writes what went wrong (nothing: all fine).
 */
static void exec_helper(const char *arg)
{
	int fd = -1, rep = -1, own;
	const char *msg;

	if (sscanf(arg, "%d:%d", &fd, &rep) != 2)
		_exit(2);
	msg = all_ioctls_eperm(fd);
	if (!msg) {
		own = open(PGMOVE_DEV, O_RDWR);
		msg = own < 0 ? "open after exec failed" : use_own_mm(own);
	}
	if (msg && write(rep, msg, strlen(msg)) < 0)
		_exit(3);
	_exit(msg ? 1 : 0);
}

static void __attribute__((constructor)) permission_test_init(void)
{
	const char *exec_arg = getenv(EXEC_ENV);

	if (exec_arg)
		exec_helper(exec_arg);
	report = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (report == MAP_FAILED)
		report = NULL;
}

/* ---- Default mode and mode=0666 ---- */

FIXTURE(perm)
{
	struct modstate m;
};

FIXTURE_SETUP(perm)
{
	ASSERT_NE(NULL, report);
	ASSERT_TRUE(mod_save(&self->m)) TH_LOG("pgmove is not loaded");
}

FIXTURE_TEARDOWN_PARENT(perm)
{
	mod_restore(_metadata, &self->m);
}

static void unprivileged_open_denied(void *arg)
{
	static const int flags[] = { O_RDWR, O_RDONLY, O_WRONLY };

	CHILD_CHECK(!become(NOBODY, 0), "become %d: %s", NOBODY, strerror(errno));
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		int fd;

		errno = 0;
		fd = open(PGMOVE_DEV, flags[i]);
		CHILD_CHECK(fd == -1 && errno == EACCES, "open(%#x) as %d: fd %d, %s (want EACCES)",
			    flags[i], NOBODY, fd, strerror(errno));
	}
}

/* A file opened as root before dropping privileges is the process's own mm's: it works. */
static void open_as_root_then_drop(void *arg)
{
	int fd = open(PGMOVE_DEV, O_RDWR);
	const char *msg;

	CHILD_CHECK(fd >= 0, "open as root: %s", strerror(errno));
	CHILD_CHECK(!become(NOBODY, 0), "become %d: %s", NOBODY, strerror(errno));
	msg = use_own_mm(fd);
	CHILD_CHECK(!msg, "%s", msg);
}

/*
 * The module's default `mode` (rust/helpers.c, Documentation/pgmove.rst) is 0600: loaded with
 * no parameter, the node is root's 0600 and user 65534 without capabilities gets EACCES for
 * every access mode; a file root opened keeps working after root drops to 65534.
 */
TEST_F(perm, default_mode_denies_unprivileged_open)
{
	struct stat st;

	if (!self->m.ko[0])
		SKIP(return, "PGMOVE_KO (path of pgmove.ko) is not set; run through tools/vm-run");
	ASSERT_EQ(0, mod_reload(&self->m, "")) TH_LOG("reload without parameters: %s", strerror(errno));
	EXPECT_EQ(0600, mod_mode()) TH_LOG("the default mode is %llo, documented 0600", mod_mode());
	ASSERT_EQ(0, stat(PGMOVE_DEV, &st)) TH_LOG("stat: %s", strerror(errno));
	EXPECT_EQ(0600, st.st_mode & 07777) TH_LOG("node mode %o", st.st_mode & 07777);
	EXPECT_EQ(0, st.st_uid);
	EXPECT_EQ(0, in_child(unprivileged_open_denied, NULL)) TH_LOG("%s", REPORT);
	EXPECT_EQ(0, in_child(open_as_root_then_drop, NULL)) TH_LOG("%s", REPORT);
}

static void *thread_info(void *arg)
{
	struct pgmove_info info = { 0 };

	if (ioctl(*(int *)arg, PGMOVE_IOC_INFO, &info) || info.abi_version != PGMOVE_ABI_VERSION)
		return (void *)1;
	return NULL;
}

static void inherited_from_unprivileged(void *arg)
{
	int fd = *(int *)arg, own;
	const char *msg = all_ioctls_eperm(fd);

	CHILD_CHECK(!msg, "inherited file of an unprivileged parent: %s", msg);
	own = open(PGMOVE_DEV, O_RDWR);
	CHILD_CHECK(own >= 0, "own open: %s", strerror(errno));
	msg = use_own_mm(own);
	CHILD_CHECK(!msg, "own file: %s", msg);
}

static void unprivileged_uses_own_mm(void *arg)
{
	uint64_t eff, perm;
	pthread_t th;
	void *tret;
	const char *msg;
	int fd, status;
	pid_t pid;

	CHILD_CHECK(!become(NOBODY, 0), "become %d: %s", NOBODY, strerror(errno));
	CHILD_CHECK(!caps_get(&eff, &perm) && !eff && !perm, "capabilities left: %llx %llx",
		    (unsigned long long)eff, (unsigned long long)perm);
	fd = open(PGMOVE_DEV, O_RDWR);
	CHILD_CHECK(fd >= 0, "open as %d with mode=0666: %s", NOBODY, strerror(errno));
	msg = use_own_mm(fd);
	CHILD_CHECK(!msg, "own file: %s", msg);
	/* A thread shares the mm. */
	CHILD_CHECK(!pthread_create(&th, NULL, thread_info, &fd), "pthread_create");
	CHILD_CHECK(!pthread_join(th, &tret) && !tret, "INFO from a thread of the opener failed");
	/* A forked child of the same user is another mm: EPERM. */
	pid = fork();
	CHILD_CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (!pid) {
		inherited_from_unprivileged(&fd);
		_exit(0);
	}
	CHILD_CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && !WEXITSTATUS(status),
		    "the forked child failed");
	/* And the opener's file still works. */
	msg = use_own_mm(fd);
	CHILD_CHECK(!msg, "own file after the child: %s", msg);
}

/*
 * With mode=0666 user 65534, without capabilities, opens the node; INFO, a real MOVE, a
 * RECLAIM of its own mm and a MOVEV work, also from its thread; its forked child (same user,
 * another mm) gets EPERM from the inherited file, and its own file works.
 */
TEST_F(perm, mode_0666_unprivileged_own_mm_only)
{
	struct stat st;

	if (!self->m.ko[0])
		SKIP(return, "PGMOVE_KO (path of pgmove.ko) is not set; run through tools/vm-run");
	ASSERT_EQ(0, mod_reload(&self->m, "mode=0666")) TH_LOG("reload: %s", strerror(errno));
	ASSERT_EQ(0, stat(PGMOVE_DEV, &st));
	ASSERT_EQ(0666, st.st_mode & 07777) TH_LOG("node mode %o", st.st_mode & 07777);
	EXPECT_EQ(0, in_child(unprivileged_uses_own_mm, NULL)) TH_LOG("%s", REPORT);
}

/* ---- Files passed on ---- */

static void receive_and_try(void *arg)
{
	int sock = *(int *)arg, fd, own;
	const char *msg;
	char c = 'd';

	fd = recv_fd(sock);
	CHILD_CHECK(fd >= 0, "recv_fd: %s", strerror(errno));
	msg = all_ioctls_eperm(fd);
	CHILD_CHECK(!msg, "received file: %s", msg);
	own = open(PGMOVE_DEV, O_RDWR);
	CHILD_CHECK(own >= 0, "own open: %s", strerror(errno));
	msg = use_own_mm(own);
	CHILD_CHECK(!msg, "own file: %s", msg);
	CHILD_CHECK(write(sock, &c, 1) == 1, "write");
}

/*
 * B is forked before A opens the device, so it has the file only through SCM_RIGHTS: every
 * ioctl of B on it fails with EPERM and writes nothing, B's own file works, and A's file still
 * works for A afterwards.
 */
TEST(scm_rights_to_process_forked_before_open)
{
	int sv[2], fd, status;
	const char *msg;
	char c;
	pid_t b;

	ASSERT_NE(NULL, report);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	memset(report, 0, PAGE);
	b = fork();
	ASSERT_GE(b, 0);
	if (!b) {
		close(sv[0]);
		receive_and_try(&sv[1]);
		_exit(0);
	}
	close(sv[1]);
	fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(fd, 0) TH_LOG("open: %s", strerror(errno));
	ASSERT_EQ(0, send_fd(sv[0], fd)) TH_LOG("sendmsg: %s", strerror(errno));
	EXPECT_EQ(1, read(sv[0], &c, 1)) TH_LOG("B did not finish");
	ASSERT_EQ(b, waitpid(b, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) TH_LOG("B: %s", REPORT);
	msg = use_own_mm(fd);
	EXPECT_TRUE(msg == NULL) TH_LOG("A's file after B's attempts: %s", msg);
	close(fd);
	close(sv[0]);
}

static void open_and_send(void *arg)
{
	int sock = *(int *)arg, fd = open(PGMOVE_DEV, O_RDWR);
	const char *msg;
	char c;

	CHILD_CHECK(fd >= 0, "open: %s", strerror(errno));
	CHILD_CHECK(!send_fd(sock, fd), "sendmsg: %s", strerror(errno));
	CHILD_CHECK(read(sock, &c, 1) == 1, "the parent did not finish");
	msg = use_own_mm(fd);
	CHILD_CHECK(!msg, "the opener's file after its parent's attempts: %s", msg);
}

/* The opener sends its file to its parent: the parent gets EPERM, the opener's file works. */
TEST(scm_rights_to_parent)
{
	int sv[2], fd, status;
	const char *msg;
	pid_t a;

	ASSERT_NE(NULL, report);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	memset(report, 0, PAGE);
	a = fork();
	ASSERT_GE(a, 0);
	if (!a) {
		close(sv[0]);
		open_and_send(&sv[1]);
		_exit(0);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	ASSERT_GE(fd, 0) TH_LOG("recvmsg: %s", strerror(errno));
	msg = all_ioctls_eperm(fd);
	EXPECT_TRUE(msg == NULL) TH_LOG("the child's file in the parent: %s", msg);
	close(fd);
	EXPECT_EQ(1, write(sv[0], "d", 1));
	ASSERT_EQ(a, waitpid(a, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status)) TH_LOG("opener: %s", REPORT);
	close(sv[0]);
}

/*
 * The same process, another mm: a file kept open across execve() belongs to the mm exec
 * replaced. After exec every ioctl on it fails with EPERM and writes nothing (the file keeps
 * the old mm_struct allocated, so the new mm cannot be mistaken for it); a new open works.
 */
TEST(file_kept_across_exec_grants_nothing)
{
	int rep[2], status;
	char msg[512] = "";
	ssize_t n;
	pid_t c;

	ASSERT_EQ(0, pipe(rep));
	c = fork();
	ASSERT_GE(c, 0);
	if (!c) {
		struct pgmove_info info;
		char env[64], *argv[] = { "permission_test", NULL }, *envp[] = { env, NULL };
		int fd = open(PGMOVE_DEV, O_RDWR);	/* no O_CLOEXEC */

		close(rep[0]);
		if (fd < 0 || ioctl(fd, PGMOVE_IOC_INFO, &info)) {
			dprintf(rep[1], "before exec: %s", strerror(errno));
			_exit(1);
		}
		snprintf(env, sizeof(env), EXEC_ENV "=%d:%d", fd, rep[1]);
		execve("/proc/self/exe", argv, envp);
		dprintf(rep[1], "execve: %s", strerror(errno));
		_exit(1);
	}
	close(rep[1]);
	n = read(rep[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = 0;
	ASSERT_EQ(c, waitpid(c, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("status %#x: %s", status, msg);
	close(rep[0]);
}

/* ---- RECLAIM through a pidfd: the rights ---- */

/*
 * The targets. A fixed target is forked from the test as root and takes its identity; "self"
 * is the caller's own process; "own child" is forked by the caller after it took its
 * identity (same ids and capabilities), and made dumpable.
 */
enum { COL_SELF, COL_OWN_CHILD, COL_NOBODY, COL_NOBODY_NODUMP, COL_NOBODY_CHOWN, COL_OTHER,
       COL_ROOT, NCOLS };

static const struct tkind {
	const char *name;
	uid_t uid;
	uint64_t caps;
	bool dumpable;
} targets[NCOLS] = {
	[COL_SELF] = { "self" },
	[COL_OWN_CHILD] = { "own child" },
	[COL_NOBODY] = { "65534", NOBODY, 0, true },
	[COL_NOBODY_NODUMP] = { "65534 !dumpable", NOBODY, 0, false },
	[COL_NOBODY_CHOWN] = { "65534 +CHOWN", NOBODY, BIT(CAP_CHOWN), true },
	[COL_OTHER] = { "65533", OTHER_UID, 0, true },
	[COL_ROOT] = { "root", 0, ALL_CAPS, true },
};

enum { ROW_ROOT, ROW_ROOT_NONICE, ROW_NOBODY, ROW_NOBODY_NICE, ROW_THIRD, ROW_THIRD_NICE, NROWS };

static const struct ckind {
	const char *name;
	uid_t uid;
	uint64_t caps;
} callers[NROWS] = {
	[ROW_ROOT] = { "root", 0, ALL_CAPS },
	[ROW_ROOT_NONICE] = { "root -SYS_NICE", 0, ALL_CAPS & ~BIT(CAP_SYS_NICE) },
	[ROW_NOBODY] = { "65534", NOBODY, 0 },
	[ROW_NOBODY_NICE] = { "65534 +SYS_NICE", NOBODY, BIT(CAP_SYS_NICE) },
	[ROW_THIRD] = { "65532", THIRD_UID, 0 },
	[ROW_THIRD_NICE] = { "65532 +SYS_NICE", THIRD_UID, BIT(CAP_SYS_NICE) },
};

/*
 * What Documentation/reclaim.rst's rule predicts (0: RECLAIM succeeds, else the errno), the
 * rule being process_madvise()'s on 6.12: mm_access(PTRACE_MODE_READ_FSCREDS), then
 * CAP_SYS_NICE unless the pidfd names the caller itself. Worked out in the kernel:
 *
 * - mm_access() skips the ptrace check when the target's mm is the caller's ("self"), and so
 *   does pgmove's CAP_SYS_NICE check: "self" always succeeds.
 * - __ptrace_may_access() with FSCREDS: the caller's fsuid/fsgid must equal the target's
 *   real, effective and saved uid/gid (all our processes have them equal), or the caller has
 *   CAP_SYS_PTRACE; then the target must be dumpable (SUID_DUMP_USER) or the caller has
 *   CAP_SYS_PTRACE. A process that setresuid()'d from root is non-dumpable (suid_dumpable)
 *   until PR_SET_DUMPABLE: every target here sets its flag explicitly.
 * - then the LSMs. commoncap (always there): the target's permitted capabilities must be a
 *   subset of the caller's effective ones (FSCREDS), or the caller has CAP_SYS_PTRACE; this
 *   is what "65534 +SYS_NICE" -> "65534 +CHOWN" refuses although user and dumpable match.
 *   Yama restricts PTRACE_MODE_ATTACH only, so any ptrace_scope predicts the same for this
 *   READ check (the test kernel has no CONFIG_SECURITY, hence no Yama or other LSM at all;
 *   the scope is logged if the file exists).
 * - a failed ptrace check is EACCES from mm_access(), which pgmove reports as EPERM; a missing
 *   CAP_SYS_NICE is EPERM.
 *
 * The resulting matrix (ok = freed all TABLES tables, VmPTE -4 kB each; EPERM = out fields
 * zero, VmPTE unchanged):
 *
 *   caller \ target   self  own child  65534  65534 !dumpable  65534 +CHOWN  65533  root
 *   root              ok    ok         ok     ok               ok            ok     ok
 *   root -SYS_NICE    ok    EPERM      EPERM  EPERM            EPERM         EPERM  EPERM
 *   65534             ok    EPERM      EPERM  EPERM            EPERM         EPERM  EPERM
 *   65534 +SYS_NICE   ok    ok         ok     EPERM            EPERM         EPERM  EPERM
 *   65532             ok    EPERM      EPERM  EPERM            EPERM         EPERM  EPERM
 *   65532 +SYS_NICE   ok    ok         EPERM  EPERM            EPERM         EPERM  EPERM
 *
 * Why the EPERMs: root -SYS_NICE passes the ptrace check (CAP_SYS_PTRACE) but lacks
 * CAP_SYS_NICE; 65534 and 65532 lack CAP_SYS_NICE everywhere (and the uid for other users'
 * targets); 65534 +SYS_NICE: !dumpable (dumpable check), +CHOWN (commoncap), 65533 and root
 * (uid); 65532 +SYS_NICE: every fixed target has another uid, only its own child matches.
 */
static const int expected[NROWS][NCOLS] = {
	[ROW_ROOT] = { 0, 0, 0, 0, 0, 0, 0 },
	[ROW_ROOT_NONICE] = { 0, EPERM, EPERM, EPERM, EPERM, EPERM, EPERM },
	[ROW_NOBODY] = { 0, EPERM, EPERM, EPERM, EPERM, EPERM, EPERM },
	[ROW_NOBODY_NICE] = { 0, 0, 0, EPERM, EPERM, EPERM, EPERM },
	[ROW_THIRD] = { 0, EPERM, EPERM, EPERM, EPERM, EPERM, EPERM },
	[ROW_THIRD_NICE] = { 0, 0, EPERM, EPERM, EPERM, EPERM, EPERM },
};

/* The rule above as code, from the identities; checked against the table (yama: unused). */
static int predict(const struct ckind *c, const struct tkind *t, uint64_t full, int yama)
{
	uint64_t ccaps = c->caps & full, tcaps = t->caps & full;
	bool ptrace = ccaps & BIT(CAP_SYS_PTRACE);

	(void)yama;	/* Yama looks at PTRACE_MODE_ATTACH only */
	if (t == &targets[COL_SELF])
		return 0;
	if (t == &targets[COL_OWN_CHILD]) {
		/* same ids and capabilities as the caller, dumpable */
		return ccaps & BIT(CAP_SYS_NICE) ? 0 : EPERM;
	}
	if (c->uid != t->uid && !ptrace)
		return EPERM;
	if (!t->dumpable && !ptrace)
		return EPERM;
	if ((tcaps & ~ccaps) && !ptrace)
		return EPERM;
	return ccaps & BIT(CAP_SYS_NICE) ? 0 : EPERM;
}

/* A process with TABLES empty PTE tables, waiting to be told to look at them and exit. */
struct target {
	pid_t pid;
	int pidfd;
	int sock;	/* our end of a socketpair with it */
	unsigned long addr;
	long long pte_before;
};

struct target_report {
	unsigned long addr;
	long long pte;	/* its VmPTE */
	int zero;	/* its tables' range reads as zero */
};

/*
 * Forks a target that becomes uid with caps (keeps the caller's identity when keep), sets its
 * dumpable flag, and closes close_fd. 0 when it is ready, with a pidfd.
 */
static int target_start(struct target *t, bool keep, uid_t uid, uint64_t caps, bool dumpable,
			int close_fd)
{
	struct target_report rep = { 0 };
	int sv[2];

	t->pid = -1;
	t->pidfd = -1;
	t->sock = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (!t->pid) {
		char *p, c;

		close(sv[0]);
		if (close_fd >= 0)
			close(close_fd);
		if (!keep && become(uid, caps))
			_exit(2);
		/* After the credential changes, which reset both. */
		if (prctl(PR_SET_DUMPABLE, dumpable ? 1 : 0) || prctl(PR_SET_PDEATHSIG, SIGKILL))
			_exit(3);
		p = empty_tables(TABLES);
		if (!p)
			_exit(4);
		rep.addr = (unsigned long)p;
		rep.pte = vmpte_kb(0);
		if (write(sv[1], &rep, sizeof(rep)) != sizeof(rep) || read(sv[1], &c, 1) != 1)
			_exit(5);
		rep.pte = vmpte_kb(0);
		rep.zero = all_zero(p, TABLES * PMD);
		_exit(write(sv[1], &rep, sizeof(rep)) == sizeof(rep) ? 0 : 6);
	}
	close(sv[1]);
	t->sock = sv[0];
	if (read(t->sock, &rep, sizeof(rep)) != sizeof(rep))
		return -1;
	t->addr = rep.addr;
	t->pte_before = rep.pte;
	t->pidfd = syscall(SYS_pidfd_open, t->pid, 0);
	return t->pidfd < 0 ? -1 : 0;
}

/* Lets the target check its memory and exit: its VmPTE then, and whether it reads zero. */
static int target_finish(struct target *t, long long *pte_after, int *zero)
{
	struct target_report rep = { .pte = -1 };
	int status = 0;

	if (t->pid <= 0)
		return -1;
	if (write(t->sock, "g", 1) != 1 || read(t->sock, &rep, sizeof(rep)) != sizeof(rep))
		kill(t->pid, SIGKILL);
	waitpid(t->pid, &status, 0);
	close(t->sock);
	close(t->pidfd);
	*pte_after = rep.pte;
	*zero = rep.zero;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* What one caller got for one target. */
struct cell {
	bool run;
	int ret, err;
	struct pgmove_reclaim r;
	long long pte_before, pte_after;
	int zero;
};

struct caller_args {
	const struct ckind *who;
	bool open_after_drop;
	struct target *fixed;	/* [NCOLS], the fixed targets' pidfds and addresses */
	struct cell *cells;	/* [NCOLS], shared with the test */
};

static void record(struct cell *c, struct reclaim_res res)
{
	c->run = true;
	c->ret = res.ret;
	c->err = res.err;
	c->r = res.r;
}

/* The caller: takes its identity, opens the device (before or after), RECLAIMs each target. */
static void caller_run(void *arg)
{
	struct caller_args *a = arg;
	struct cell *cells = a->cells;
	int fd = -1, pidfd;
	struct target child;
	char *p;

	if (!a->open_after_drop)
		fd = open(PGMOVE_DEV, O_RDWR);
	CHILD_CHECK(!become(a->who->uid, a->who->caps), "become %s: %s", a->who->name,
		    strerror(errno));
	if (a->open_after_drop)
		fd = open(PGMOVE_DEV, O_RDWR);
	CHILD_CHECK(fd >= 0, "open %s as %s: %s", a->open_after_drop ? "after" : "before",
		    a->who->name, strerror(errno));

	/* Its own process, through a pidfd of itself. */
	p = empty_tables(TABLES);
	pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	CHILD_CHECK(p && pidfd >= 0, "self target: %s", strerror(errno));
	cells[COL_SELF].pte_before = vmpte_kb(0);
	record(&cells[COL_SELF], pgmove_do_reclaim_pid(fd, pidfd, (unsigned long)p,
						       TABLES * PMD, 0));
	cells[COL_SELF].pte_after = vmpte_kb(0);
	cells[COL_SELF].zero = all_zero(p, TABLES * PMD);
	close(pidfd);

	/* Its own child, with its identity. */
	CHILD_CHECK(!target_start(&child, true, 0, 0, true, fd), "own child: %s", strerror(errno));
	cells[COL_OWN_CHILD].pte_before = child.pte_before;
	record(&cells[COL_OWN_CHILD], pgmove_do_reclaim_pid(fd, child.pidfd, child.addr,
							    TABLES * PMD, 0));
	CHILD_CHECK(!target_finish(&child, &cells[COL_OWN_CHILD].pte_after,
				   &cells[COL_OWN_CHILD].zero), "own child failed");

	/* The fixed targets; the test reads their VmPTE afterwards. */
	for (int col = COL_NOBODY; col < NCOLS; col++)
		record(&cells[col], pgmove_do_reclaim_pid(fd, a->fixed[col].pidfd,
							  a->fixed[col].addr, TABLES * PMD, 0));
	close(fd);
}

FIXTURE(rights)
{
	struct modstate m;
};

FIXTURE_VARIANT(rights)
{
	bool open_after_drop;	/* the caller opens after taking its identity: needs mode=0666 */
};

/* Opened as root in the caller's process, then privileges dropped: the same mm. */
FIXTURE_VARIANT_ADD(rights, opened_before_drop)
{
	.open_after_drop = false,
};

/* Opened by the caller as itself, through mode=0666. */
FIXTURE_VARIANT_ADD(rights, opened_after_drop_mode_0666)
{
	.open_after_drop = true,
};

FIXTURE_SETUP(rights)
{
	ASSERT_NE(NULL, report);
	ASSERT_TRUE(mod_save(&self->m)) TH_LOG("pgmove is not loaded");
	if (variant->open_after_drop && !self->m.ko[0])
		SKIP(return, "PGMOVE_KO (path of pgmove.ko) is not set: cannot reload with mode=0666");
}

FIXTURE_TEARDOWN_PARENT(rights)
{
	mod_restore(_metadata, &self->m);
}

static const char *outcome_name(int e)
{
	return e == 0 ? "ok" : e == EPERM ? "EPERM" : e < 0 ? "-" : strerror(e);
}

/* Checks one cell against what the rule predicts; the errno it got (0: success). */
static int check_cell(struct __test_metadata *_metadata, int row, int col, struct cell *c,
		      int want)
{
	const char *who = callers[row].name, *what = targets[col].name;
	int got;

	EXPECT_TRUE(c->run) TH_LOG("%s -> %s: not run (see the caller's failure)", who, what);
	if (!c->run)
		return -1;
	got = c->ret ? c->err : 0;
	EXPECT_EQ(want, got) TH_LOG("%s -> %s: %s, the rule says %s", who, what,
				    outcome_name(got), outcome_name(want));
	EXPECT_TRUE(c->zero) TH_LOG("%s -> %s: the target's memory changed", who, what);
	if (want == 0 && got == 0) {
		EXPECT_EQ(TABLES, c->r.scanned) TH_LOG("%s -> %s", who, what);
		EXPECT_EQ(TABLES, c->r.freed) TH_LOG("%s -> %s", who, what);
		EXPECT_EQ(0, c->r.busy);
		EXPECT_EQ(0, c->r.ineligible);
		EXPECT_EQ(TABLES * 4, c->pte_before - c->pte_after)
			TH_LOG("%s -> %s: VmPTE %lld -> %lld", who, what, c->pte_before, c->pte_after);
	} else if (got) {
		EXPECT_EQ(0, c->r.scanned) TH_LOG("%s -> %s: out fields not zeroed", who, what);
		EXPECT_EQ(0, c->r.freed);
		EXPECT_EQ(0, c->r.busy);
		EXPECT_EQ(0, c->r.ineligible);
		EXPECT_EQ(c->pte_before, c->pte_after)
			TH_LOG("%s -> %s: VmPTE %lld -> %lld", who, what, c->pte_before, c->pte_after);
	}
	return got;
}

/*
 * Every caller of the matrix above RECLAIMs every target through a pidfd, with its own file.
 * Fresh fixed targets per caller (a success empties them); each cell checks the result, the
 * out fields and the target's VmPTE; the observed matrix is logged.
 */
TEST_F(rights, pidfd_reclaim_matrix)
{
	uint64_t full = full_caps();
	long long yama = pgmove_read_number("/proc/sys/kernel/yama/ptrace_scope", 10);
	int observed[NROWS][NCOLS];
	char line[256];

	ASSERT_TRUE(full & BIT(CAP_SYS_PTRACE)) TH_LOG("the test must run as root");
	if (variant->open_after_drop)	/* here, not in setup: teardown runs once setup completed */
		ASSERT_EQ(0, mod_reload(&self->m, "mode=0666")) TH_LOG("reload: %s", strerror(errno));
	TH_LOG("Yama ptrace_scope: %s%lld (Yama restricts PTRACE_MODE_ATTACH only)",
	       yama < 0 ? "none, " : "", yama);
	for (int row = 0; row < NROWS; row++) {
		for (int col = 0; col < NCOLS; col++) {
			ASSERT_EQ(expected[row][col],
				  predict(&callers[row], &targets[col], full, (int)yama))
				TH_LOG("the table and the rule disagree at %s -> %s",
				       callers[row].name, targets[col].name);
		}
	}

	for (int row = 0; row < NROWS; row++) {
		struct target fixed[NCOLS] = { 0 };
		struct cell *cells = mmap(NULL, sizeof(struct cell) * NCOLS, PROT_READ | PROT_WRITE,
					  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		struct caller_args a = { .who = &callers[row], .fixed = fixed, .cells = cells,
					 .open_after_drop = variant->open_after_drop };
		int status;

		ASSERT_NE(MAP_FAILED, cells);
		for (int col = COL_NOBODY; col < NCOLS; col++) {
			ASSERT_EQ(0, target_start(&fixed[col], false, targets[col].uid,
						  targets[col].caps, targets[col].dumpable, -1))
				TH_LOG("target %s: %s", targets[col].name, strerror(errno));
		}
		status = in_child(caller_run, &a);
		EXPECT_EQ(0, status) TH_LOG("caller %s: %s", callers[row].name, REPORT);
		for (int col = COL_NOBODY; col < NCOLS; col++) {
			cells[col].pte_before = fixed[col].pte_before;
			EXPECT_EQ(0, target_finish(&fixed[col], &cells[col].pte_after,
						   &cells[col].zero))
				TH_LOG("target %s failed", targets[col].name);
		}
		for (int col = 0; col < NCOLS; col++)
			observed[row][col] = check_cell(_metadata, row, col, &cells[col],
							expected[row][col]);
		munmap(cells, sizeof(struct cell) * NCOLS);
	}

	snprintf(line, sizeof(line), "%-16s", "caller\\target");
	for (int col = 0; col < NCOLS; col++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line), " %-16s", targets[col].name);
	TH_LOG("%s", line);
	for (int row = 0; row < NROWS; row++) {
		snprintf(line, sizeof(line), "%-16s", callers[row].name);
		for (int col = 0; col < NCOLS; col++) {
			char c[32];

			snprintf(c, sizeof(c), "%s%s", outcome_name(observed[row][col]),
				 observed[row][col] == expected[row][col] ? "" : " (!)");
			snprintf(line + strlen(line), sizeof(line) - strlen(line), " %-16s", c);
		}
		TH_LOG("%s", line);
	}
}

/* ---- What the ioctls write ---- */

FIXTURE(out)
{
	int fd;
};

FIXTURE_SETUP(out)
{
	self->fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", PGMOVE_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(out)
{
	close(self->fd);
}

/*
 * Room for an ioctl argument of `size` bytes at the very end of a page filled with 0xA5, with
 * a PROT_NONE page after it: a write beyond the struct faults (the call would fail with
 * EFAULT), a write before it shows in the page. *page is the page.
 */
static void *arg_at_page_end(size_t size, char **page)
{
	char *p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || mprotect(p + PAGE, PAGE, PROT_NONE))
		return NULL;
	memset(p, 0xa5, PAGE);
	*page = p;
	return p + PAGE - size;
}

/* The first offset at which two pages differ, or -1. */
static long first_diff(const char *a, const char *b)
{
	for (long i = 0; i < (long)PAGE; i++)
		if (a[i] != b[i])
			return i;
	return -1;
}

/* INFO writes its 16 bytes, reserved zero, and nothing else. */
TEST_F(out, info_writes_exactly_its_struct)
{
	char *page, expect[PAGE];
	struct pgmove_info *info = arg_at_page_end(sizeof(*info), &page), want;

	ASSERT_NE(NULL, info);
	memcpy(expect, page, PAGE);
	ASSERT_EQ(0, ioctl(self->fd, PGMOVE_IOC_INFO, info)) TH_LOG("INFO: %s", strerror(errno));
	EXPECT_EQ(PGMOVE_ABI_VERSION, info->abi_version);
	EXPECT_EQ(0, info->reserved) TH_LOG("reserved carries %#x", info->reserved);
	EXPECT_EQ(0, info->features & ~(PGMOVE_FEAT_MOVE | PGMOVE_FEAT_RECLAIM |
					PGMOVE_FEAT_RECLAIM_ZEROPAGE | PGMOVE_FEAT_MOVEV))
		TH_LOG("unknown feature bits %#llx", (unsigned long long)info->features);
	want = (struct pgmove_info){ .abi_version = PGMOVE_ABI_VERSION,
				     .features = info->features };
	memcpy(expect + PAGE - sizeof(want), &want, sizeof(want));
	EXPECT_EQ(-1, first_diff(expect, page)) TH_LOG("byte %ld of the page differs",
						       first_diff(expect, page));
	munmap(page, 2 * PAGE);
}

/*
 * RECLAIM's out fields get exactly the counts: 3 tables of a private area, 2 of them empty
 * (scanned 3, freed 2, busy 1), then 1 table of a shared area (scanned 1, ineligible 1). The in
 * fields, reserved included, are not written; after EINVAL (reserved = 1) the out fields are
 * zero and reserved is still 1.
 */
TEST_F(out, reclaim_out_fields_exact)
{
	char *page, expect[PAGE], *priv = map_anon(3 * PMD, true, false), *res, *shared;
	struct pgmove_reclaim *r = arg_at_page_end(sizeof(*r), &page), in;
	long long pte;

	ASSERT_NE(NULL, r);
	ASSERT_NE(NULL, priv);
	for (int i = 0; i < 3; i++)
		priv[i * PMD] = 1;
	ASSERT_EQ(0, madvise(priv, 2 * PMD, MADV_DONTNEED));
	/* A PMD-aligned shared anonymous mapping with one table. */
	res = mmap(NULL, 2 * PMD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	shared = mmap((void *)(((unsigned long)res + PMD - 1) & ~(PMD - 1)), PMD,
		      PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_NE(MAP_FAILED, shared);
	madvise(shared, PMD, MADV_NOHUGEPAGE);
	shared[0] = 1;

	struct {
		char *start;
		unsigned long long scanned, freed, busy, ineligible;
		long long pte_kb;
	} cases[] = {
		{ priv, 3, 2, 1, 0, 8 },
		{ shared, 1, 0, 0, 1, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned long len = cases[i].scanned * PMD;

		in = (struct pgmove_reclaim){ .start = (unsigned long)cases[i].start, .len = len,
					      .pidfd = -1, .scanned = ~0ULL, .freed = ~0ULL,
					      .busy = ~0ULL, .ineligible = ~0ULL };
		memcpy(r, &in, sizeof(in));
		memcpy(expect, page, PAGE);
		pte = vmpte_kb(0);
		ASSERT_EQ(0, ioctl(self->fd, PGMOVE_IOC_RECLAIM, r)) TH_LOG("case %zu: %s", i,
									   strerror(errno));
		EXPECT_EQ(cases[i].pte_kb, pte - vmpte_kb(0)) TH_LOG("case %zu: VmPTE", i);
		TH_LOG("case %zu: scanned %llu freed %llu busy %llu ineligible %llu", i,
		       r->scanned, r->freed, r->busy, r->ineligible);
		in.scanned = cases[i].scanned;
		in.freed = cases[i].freed;
		in.busy = cases[i].busy;
		in.ineligible = cases[i].ineligible;
		memcpy(expect + PAGE - sizeof(in), &in, sizeof(in));
		EXPECT_EQ(-1, first_diff(expect, page))
			TH_LOG("case %zu: byte %ld of the page is not what the counts give", i,
			       first_diff(expect, page));
	}

	/* EINVAL: out fields zero, the in fields (reserved = 1) as they were. */
	in = (struct pgmove_reclaim){ .start = (unsigned long)priv, .len = PMD, .pidfd = -1,
				      .reserved = 1, .scanned = ~0ULL, .freed = ~0ULL,
				      .busy = ~0ULL, .ineligible = ~0ULL };
	memcpy(r, &in, sizeof(in));
	memcpy(expect, page, PAGE);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, PGMOVE_IOC_RECLAIM, r));
	EXPECT_EQ(EINVAL, errno);
	in.scanned = in.freed = in.busy = in.ineligible = 0;
	memcpy(expect + PAGE - sizeof(in), &in, sizeof(in));
	EXPECT_EQ(-1, first_diff(expect, page)) TH_LOG("EINVAL: byte %ld differs",
						       first_diff(expect, page));
	munmap(page, 2 * PAGE);
}

/*
 * MOVE writes `moved` and nothing else: len on success, the bytes moved with EAGAIN, -errno
 * when nothing moved (ENOENT, and EINVAL for an argument error).
 */
TEST_F(out, move_writes_only_moved)
{
	char *page, expect[PAGE];
	struct pgmove_move *m = arg_at_page_end(sizeof(*m), &page), in;
	char *src = map_anon(8 * PAGE, false, false), *dst = map_anon(8 * PAGE, false, false);

	ASSERT_NE(NULL, m);
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	/* src pages 0-1 and 4-5 populated; 2-3 and 6-7 not. */
	fill_pages(src, 2 * PAGE, 80);
	fill_pages(src + 4 * PAGE, 2 * PAGE, 81);

	struct {
		unsigned long dst, src, len;
		int ret, err;
		long long moved;
	} cases[] = {
		{ 0, 0, 2 * PAGE, 0, 0, 2 * PAGE },			/* all moved */
		{ 4, 4, 3 * PAGE, -1, EAGAIN, 2 * PAGE },		/* 2 of 3 */
		{ 2, 2, PAGE, -1, ENOENT, -ENOENT },			/* nothing there */
		{ 6, 6, 0, -1, EINVAL, -EINVAL },			/* len 0 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;

		in = (struct pgmove_move){ .dst = (unsigned long)dst + cases[i].dst * PAGE,
					   .src = (unsigned long)src + cases[i].src * PAGE,
					   .len = cases[i].len, .moved = MOVED_UNSET };
		memcpy(m, &in, sizeof(in));
		memcpy(expect, page, PAGE);
		errno = 0;
		ret = ioctl(self->fd, PGMOVE_IOC_MOVE, m);
		EXPECT_EQ(cases[i].ret, ret) TH_LOG("case %zu: %s", i, strerror(errno));
		if (cases[i].ret)
			EXPECT_EQ(cases[i].err, errno) TH_LOG("case %zu: %s", i, strerror(errno));
		EXPECT_EQ(cases[i].moved, m->moved) TH_LOG("case %zu", i);
		in.moved = cases[i].moved;
		memcpy(expect + PAGE - sizeof(in), &in, sizeof(in));
		EXPECT_EQ(-1, first_diff(expect, page))
			TH_LOG("case %zu: byte %ld of the page differs", i, first_diff(expect, page));
	}
	EXPECT_EQ(-1, check_pages(dst, 2 * PAGE, 80));
	EXPECT_EQ(-1, check_pages(dst + 4 * PAGE, 2 * PAGE, 81));
	munmap(page, 2 * PAGE);
}

/*
 * MOVEV writes `completed` and each performed entry's `moved`, nothing else: entry 0 moves,
 * entry 1 moves a part (EAGAIN), entry 2 is neither performed nor written (completed 1); a
 * vector that completes (completed = count); count 0 and nonzero flags (EINVAL, completed 0,
 * no entry written). Both the struct and the entries end a page.
 */
TEST_F(out, movev_writes_only_completed_and_moved)
{
	char *vpage, *epage, vexpect[PAGE], eexpect[PAGE];
	struct pgmove_movev *v = arg_at_page_end(sizeof(*v), &vpage), vin;
	struct pgmove_move *e = arg_at_page_end(3 * sizeof(*e), &epage), ein[3];
	char *src = map_anon(8 * PAGE, false, false), *dst = map_anon(8 * PAGE, false, false);

	ASSERT_NE(NULL, v);
	ASSERT_NE(NULL, e);
	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	fill_pages(src, 2 * PAGE, 90);		/* pages 0, 1; 2 is a hole */
	fill_pages(src + 4 * PAGE, PAGE, 91);	/* page 4 */
	ein[0] = (struct pgmove_move){ .dst = (unsigned long)dst, .src = (unsigned long)src,
				       .len = PAGE, .moved = MOVED_UNSET };
	ein[1] = (struct pgmove_move){ .dst = (unsigned long)dst + PAGE,
				       .src = (unsigned long)src + PAGE, .len = 2 * PAGE,
				       .moved = MOVED_UNSET };
	ein[2] = (struct pgmove_move){ .dst = (unsigned long)dst + 4 * PAGE,
				       .src = (unsigned long)src + 4 * PAGE, .len = PAGE,
				       .moved = MOVED_UNSET };

	/* Stops at entry 1. */
	memcpy(e, ein, sizeof(ein));
	vin = (struct pgmove_movev){ .moves = (unsigned long)e, .count = 3, .completed = ~0ULL };
	memcpy(v, &vin, sizeof(vin));
	memcpy(vexpect, vpage, PAGE);
	memcpy(eexpect, epage, PAGE);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->fd, PGMOVE_IOC_MOVEV, v));
	EXPECT_EQ(EAGAIN, errno) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(1, v->completed);
	EXPECT_EQ(PAGE, e[0].moved);
	EXPECT_EQ(PAGE, e[1].moved);
	EXPECT_EQ(MOVED_UNSET, e[2].moved) TH_LOG("entry 2 was written");
	vin.completed = 1;
	memcpy(vexpect + PAGE - sizeof(vin), &vin, sizeof(vin));
	ein[0].moved = PAGE;
	ein[1].moved = PAGE;
	memcpy(eexpect + PAGE - sizeof(ein), ein, sizeof(ein));
	EXPECT_EQ(-1, first_diff(vexpect, vpage)) TH_LOG("struct page: byte %ld differs",
							 first_diff(vexpect, vpage));
	EXPECT_EQ(-1, first_diff(eexpect, epage)) TH_LOG("entries page: byte %ld differs",
							 first_diff(eexpect, epage));
	EXPECT_EQ(-1, check_pages(src + 4 * PAGE, PAGE, 91)) TH_LOG("entry 2 was performed");
	EXPECT_TRUE(all_zero(dst + 4 * PAGE, PAGE));

	/* A vector that completes: entry 2 alone, then back (dst was read: zero page there). */
	ASSERT_EQ(0, madvise(dst + 4 * PAGE, PAGE, MADV_DONTNEED));
	ein[0] = ein[2];
	ein[1] = (struct pgmove_move){ .dst = ein[2].src, .src = ein[2].dst, .len = PAGE,
				       .moved = MOVED_UNSET };
	memcpy(e + 1, ein, 2 * sizeof(ein[0]));
	vin = (struct pgmove_movev){ .moves = (unsigned long)(e + 1), .count = 2,
				     .completed = ~0ULL };
	memcpy(v, &vin, sizeof(vin));
	memcpy(vexpect, vpage, PAGE);
	memcpy(eexpect, epage, PAGE);
	EXPECT_EQ(0, ioctl(self->fd, PGMOVE_IOC_MOVEV, v)) TH_LOG("%s", strerror(errno));
	vin.completed = 2;
	memcpy(vexpect + PAGE - sizeof(vin), &vin, sizeof(vin));
	ein[0].moved = ein[1].moved = PAGE;
	memcpy(eexpect + PAGE - 2 * sizeof(ein[0]), ein, 2 * sizeof(ein[0]));
	EXPECT_EQ(-1, first_diff(vexpect, vpage)) TH_LOG("byte %ld differs", first_diff(vexpect, vpage));
	EXPECT_EQ(-1, first_diff(eexpect, epage)) TH_LOG("byte %ld differs", first_diff(eexpect, epage));
	EXPECT_EQ(-1, check_pages(src + 4 * PAGE, PAGE, 91));

	/* count 0, flags 1: EINVAL, completed 0, no entry written. */
	for (int i = 0; i < 2; i++) {
		vin = (struct pgmove_movev){ .moves = (unsigned long)(e + 1), .count = i ? 1 : 0,
					     .flags = i, .completed = ~0ULL };
		memcpy(v, &vin, sizeof(vin));
		memcpy(vexpect, vpage, PAGE);
		memcpy(eexpect, epage, PAGE);
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, PGMOVE_IOC_MOVEV, v));
		EXPECT_EQ(EINVAL, errno) TH_LOG("count %u flags %u: %s", vin.count, vin.flags,
						strerror(errno));
		vin.completed = 0;
		memcpy(vexpect + PAGE - sizeof(vin), &vin, sizeof(vin));
		EXPECT_EQ(-1, first_diff(vexpect, vpage)) TH_LOG("count %u flags %u: byte %ld differs",
								 vin.count, vin.flags,
								 first_diff(vexpect, vpage));
		EXPECT_EQ(-1, first_diff(eexpect, epage)) TH_LOG("an entry was written");
	}
	munmap(vpage, 2 * PAGE);
	munmap(epage, 2 * PAGE);
}

TEST_HARNESS_MAIN
