// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl fuzzing: every field of PGMOVE_IOC_INFO, MOVE, RECLAIM and MOVEV, and the argument
 * pointer itself, with boundary and random values: 0, 1, PAGE_SIZE - 1, unaligned values,
 * the TASK_SIZE edges of 4- and 5-level paging, kernel and non-canonical addresses, sums
 * that wrap, every single flag bit and random ones, non-zero reserved fields, pidfds that
 * are no pidfd or name a zombie, MOVEV counts up to 0xffffffff, and NULL, kernel, unmapped,
 * read-only and page-straddling pointers; and unknown commands with the pgmove magic.
 *
 * Every call must succeed or fail with an errno that Documentation/pgmove.rst, move.rst and
 * reclaim.rst list for that ioctl, and with one the case at hand calls for (an argument the
 * docs reject must be rejected; a valid RECLAIM must succeed); the out fields must follow
 * their documented conventions (MOVE's `moved`, MOVEV's `completed` and per-entry `moved`,
 * RECLAIM's counters); a struct the kernel cannot read is not written. Pages moved inside the
 * fuzz arena are never lost or duplicated (a census after each epoch), and a tagged region
 * the fuzzer never names keeps its contents and PFNs. tools/vm-run fails the run on any
 * kernel-log finding.
 *
 * Phase 1 sweeps each field over its boundary values with the other fields valid; phase 2
 * makes PGMOVE_FUZZ_CALLS random calls (default 100000). PGMOVE_FUZZ_SEED (default: from the
 * clock) makes a run reproducible; the seed is printed at the start, and a failure prints
 * the seed, the call number, the ioctl and every field. PGMOVE_FUZZ_TRACE=N prints each call
 * from call N on.
 *
 * The fuzzer itself must survive real moves, so it never names an address that may lie in
 * one of its own mappings: a MOVE or RECLAIM range starts in the fuzz arena (contents
 * expendable), in the PROT_NONE guards around it, in the never-mapped first 64 KiB, at or
 * above TASK_SIZE, or at a user address that /proc/self/maps shows far from every mapping;
 * struct and array pointers are its own buffers or bad. (A range that starts there and is
 * long enough to reach other mappings must be refused by the module: it must lie in one VMA.)
 */
#define _GNU_SOURCE
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#include "pgmove_harness.h"
#include "move_util.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef TCGETS
#define TCGETS 0x5401
#endif

#define ARENA_PAGES	1024UL		/* 4 MiB, PMD aligned: two PTE tables */
#define SENT_PAGES	64UL		/* the region the fuzzer never names */
#define SENT_SEED	0x5e47151UL
#define GUARD		(2 * PMD)	/* PROT_NONE around the arena and the sentinel */
#define ABUF_PAGES	12UL		/* room for PGMOVE_MOVEV_MAX + 1 entries */
#define IMG_ENTRIES	(PGMOVE_MOVEV_MAX + 1)
#define EPOCH_CALLS	2000UL		/* calls between census and repopulation of the arena */
#define DEFAULT_CALLS	100000UL
#define MAX_LOGGED	40		/* failures printed in full */
#define MAXFD		64		/* fds classified for random pidfd values */
#define NMAPS		512
#define ARENA_MAGIC	0xf022a7e4a0000000ULL

#define MOVE_FLAGS	(PGMOVE_MOVE_ALLOW_SRC_HOLES | PGMOVE_MOVE_RECLAIM_SRC)
#define RECLAIM_FLAGS	PGMOVE_RECLAIM_ZEROPAGE
#define KNOWN_FEATURES	(PGMOVE_FEAT_MOVE | PGMOVE_FEAT_RECLAIM | PGMOVE_FEAT_RECLAIM_ZEROPAGE | \
			 PGMOVE_FEAT_MOVEV)

/* An errno (or 0 for success) as a bit of a set. */
#define B(e)		(1ULL << (e))
#define OK		B(0)

enum ioc { I_INFO, I_MOVE, I_RECLAIM, I_MOVEV, I_UNKNOWN, NIOC };
static const char *const ioc_name[NIOC] = { "INFO", "MOVE", "RECLAIM", "MOVEV", "unknown" };

/*
 * What the documentation allows each ioctl to return, whatever the arguments:
 * - every ioctl: EPERM (another mm), EFAULT (the argument is not readable/writable for the
 *   whole struct): pgmove.rst, "Errors common to every ioctl";
 * - INFO: nothing else (pgmove.rst, "PGMOVE_IOC_INFO");
 * - MOVE: move.rst, "Errors": EINVAL ENOENT EEXIST EBUSY EFAULT ENOMEM EAGAIN EINTR EPERM;
 * - MOVEV: move.rst, "PGMOVE_IOC_MOVEV": EINVAL EFAULT ENOMEM for the vector, and an entry's
 *   own errors, which are MOVE's;
 * - RECLAIM: reclaim.rst, "Errors": EINVAL EBADF ESRCH EPERM EINTR EFAULT ("No other errno");
 * - an unknown command: ENOTTY (pgmove.rst; EPERM from another mm comes first).
 */
#define MOVE_DOC	(OK | B(EINVAL) | B(ENOENT) | B(EEXIST) | B(EBUSY) | B(EFAULT) | B(ENOMEM) | \
			 B(EAGAIN) | B(EINTR) | B(EPERM))
static const uint64_t doc_allowed[NIOC] = {
	[I_INFO] = OK | B(EPERM) | B(EFAULT),
	[I_MOVE] = MOVE_DOC,
	[I_RECLAIM] = OK | B(EINVAL) | B(EBADF) | B(ESRCH) | B(EPERM) | B(EINTR) | B(EFAULT),
	[I_MOVEV] = MOVE_DOC,
	[I_UNKNOWN] = B(ENOTTY) | B(EPERM),
};

/* Where a struct (or MOVEV's array) lives. */
enum place { P_GOOD, P_UNALIGNED, P_ARENA, P_RO, P_STRADDLE, P_PROTNONE, P_NULL, P_LOW,
	     P_KERNEL, P_NONCANON, P_EDGE, NPLACE };
static const char *const place_name[NPLACE] = {
	"good", "unaligned", "in-arena", "read-only", "straddles-PROT_NONE", "PROT_NONE", "NULL",
	"unmapped-low", "kernel", "non-canonical", "straddles-TASK_SIZE",
};

static bool place_readable(enum place p)
{
	return p == P_GOOD || p == P_UNALIGNED || p == P_ARENA || p == P_RO;
}

static bool place_writable(enum place p)
{
	return p == P_GOOD || p == P_UNALIGNED || p == P_ARENA;
}

/* What a RECLAIM pidfd names. */
enum pfk { PF_OWN, PF_NEG, PF_NOTPIDFD, PF_CLOSED, PF_SELF, PF_CHILD, PF_ZOMBIE, PF_REAPED,
	   PF_KTHREAD, PF_OTHER, NPF };
static const char *const pfk_name[NPF] = {
	"-1 (own mm)", "negative", "not a pidfd", "closed fd", "pidfd of self", "pidfd of a child",
	"pidfd of a zombie", "pidfd of a reaped child", "pidfd of kthreadd", "unknown pidfd",
};

/*
 * Addresses above the user address space (x86_64 kernel halves of 4- and 5-level paging),
 * and non-canonical ones (some are unmapped user addresses under 5-level paging).
 */
static const uint64_t kernel_addrs[] = {
	0xff00000000000000ULL, 0xff11000000000000ULL, 0xffff800000000000ULL,
	0xffff888000000000ULL, 0xffffc90000000000ULL, 0xffffea0000000000ULL,
	0xfffffe0000000000ULL, 0xffffffff80000000ULL, 0xffffffff81000000ULL,
	0xffffffffff600000ULL /* vsyscall */, 0xfffffffffffff000ULL, 0xffffffffffffffffULL,
	0xfffffffffffffff8ULL, 0xffffffffffffffc0ULL,
};
static const uint64_t noncanon_addrs[] = {
	0x8000000000000000ULL, 0x0100000000000000ULL, 0x7ffffffffffff000ULL,
	0x1000000000000000ULL, 0xdead000000000000ULL, 0x00ff800000000000ULL,
};
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* The last call, for failure reports and traces. */
struct rec {
	enum ioc ioc;
	unsigned int cmd;
	enum place p, ap;	/* struct and (MOVEV) array placement */
	uint64_t arg, moves;	/* the pointers the kernel got */
	size_t avail;		/* straddle: readable bytes */
	enum pfk pk;
	union {
		struct pgmove_move mv;
		struct pgmove_reclaim rc;
		struct pgmove_movev vv;
	} in, out;
	int ret, err;
	uint64_t expected;
};

struct fz {
	struct __test_metadata *md;
	int fd;
	uint64_t seed;
	unsigned long random_calls, call, sweep_calls, trace_from;
	bool default_calls;
	uint64_t task_size;
	bool la57;

	char *resv, *arena, *sent;
	size_t resv_len, arena_len;
	unsigned long npages;
	uint64_t sent_pfn[SENT_PAGES];
	char *sbuf;		/* a RW page, then a PROT_NONE page */
	char *ro_w, *ro_r;	/* one memfd page: a writable view, a read-only view */
	char *abuf;		/* ABUF_PAGES RW, then a PROT_NONE page */
	char *aro_w, *aro_r;	/* ABUF_PAGES of memfd, writable and read-only views */

	struct { uint64_t lo, hi; } maps[NMAPS];
	int nmaps;

	pid_t child, zombie, reaped;
	int pidfd_self, pidfd_child, pidfd_zombie, pidfd_reaped, pidfd_kthread;
	int devnull, closed_fd;
	enum pfk fdkind[MAXFD];

	unsigned long epoch, epoch_start;
	bool census_dirty;
	uint8_t populated[ARENA_PAGES];
	uint16_t seen[ARENA_PAGES];

	unsigned long calls[NIOC], hist[NIOC][135], failures, total;
	struct rec rec;
	struct pgmove_move img[IMG_ENTRIES];	/* MOVEV entries as written */
	struct pgmove_move back[IMG_ENTRIES];	/* and as read back */
};

static struct fz *g_fz;	/* for the crash handler */

/* splitmix64: small, fast, and the same sequence for the same seed everywhere. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int pct)
{
	return below(100) < pct;
}

static const char *ename(int e)
{
	static char buf[16];

	switch (e) {
	case 0: return "success";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case EACCES: return "EACCES";
	case EOVERFLOW: return "EOVERFLOW";
	case ERANGE: return "ERANGE";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	}
	snprintf(buf, sizeof(buf), "errno %d", e);
	return buf;
}

static char *fmt_set(uint64_t set, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (int e = 0; e < 64; e++)
		if (set & B(e))
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%s", n ? "," : "{", ename(e));
	snprintf(buf + n, n < len ? len - n : 0, n ? "}" : "{}");
	return buf;
}

/* The last call, every field in and out, as one line. */
static void describe(struct fz *fz, char *buf, size_t len)
{
	const struct rec *r = &fz->rec;
	size_t n;
	char set[160];

	n = snprintf(buf, len, "%s cmd %#x arg %#llx (%s", ioc_name[r->ioc], r->cmd,
		     (unsigned long long)r->arg, place_name[r->p]);
	if (r->p == P_STRADDLE)
		n += snprintf(buf + n, len - n, ", %zu bytes readable", r->avail);
	n += snprintf(buf + n, len - n, ")");
	switch (r->ioc) {
	case I_MOVE:
		n += snprintf(buf + n, len - n,
			      " dst %#llx src %#llx len %#llx flags %#llx; out moved %lld",
			      (unsigned long long)r->in.mv.dst, (unsigned long long)r->in.mv.src,
			      (unsigned long long)r->in.mv.len, (unsigned long long)r->in.mv.flags,
			      (long long)r->out.mv.moved);
		break;
	case I_RECLAIM:
		n += snprintf(buf + n, len - n,
			      " start %#llx len %#llx flags %#llx pidfd %d (%s) reserved %#x;"
			      " out scanned %llu freed %llu busy %llu ineligible %llu",
			      (unsigned long long)r->in.rc.start, (unsigned long long)r->in.rc.len,
			      (unsigned long long)r->in.rc.flags, r->in.rc.pidfd, pfk_name[r->pk],
			      r->in.rc.reserved, (unsigned long long)r->out.rc.scanned,
			      (unsigned long long)r->out.rc.freed, (unsigned long long)r->out.rc.busy,
			      (unsigned long long)r->out.rc.ineligible);
		break;
	case I_MOVEV: {
		unsigned int shown = 0;

		n += snprintf(buf + n, len - n,
			      " moves %#llx (%s) count %u flags %#x; out completed %llu",
			      (unsigned long long)r->in.vv.moves, place_name[r->ap], r->in.vv.count,
			      r->in.vv.flags, (unsigned long long)r->out.vv.completed);
		for (unsigned int i = 0; i < r->in.vv.count && i < IMG_ENTRIES && shown < 6; i++) {
			if (i >= 3 && i != r->out.vv.completed && i + 1 != r->out.vv.completed)
				continue;
			n += snprintf(buf + n, n < len ? len - n : 0,
				      "; [%u] dst %#llx src %#llx len %#llx flags %#llx moved %lld", i,
				      (unsigned long long)fz->img[i].dst,
				      (unsigned long long)fz->img[i].src,
				      (unsigned long long)fz->img[i].len,
				      (unsigned long long)fz->img[i].flags,
				      (long long)fz->back[i].moved);
			shown++;
		}
		break;
	}
	default:
		break;
	}
	if (n < len)
		snprintf(buf + n, len - n, " -> ret %d %s; allowed %s", r->ret,
			 r->ret ? ename(r->err) : "", fmt_set(r->expected, set, sizeof(set)));
}

static void fuzz_fail(struct fz *fz, const char *fmt, ...)
{
	struct __test_metadata *_metadata = fz->md;
	char msg[512], desc[2048];
	unsigned long replay;
	va_list ap;

	fz->failures++;
	if (fz->failures > MAX_LOGGED) {
		if (fz->failures == MAX_LOGGED + 1)
			TH_LOG("more than %d failures: the rest are counted, not printed", MAX_LOGGED);
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	describe(fz, desc, sizeof(desc));
	replay = fz->call >= fz->sweep_calls ? fz->call - fz->sweep_calls + 1 : 0;
	TH_LOG("FAIL call %lu, seed %llu: %s", fz->call, (unsigned long long)fz->seed, msg);
	TH_LOG("  call %lu: %s", fz->call, desc);
	TH_LOG("  replay: PGMOVE_FUZZ_SEED=%llu PGMOVE_FUZZ_CALLS=%lu PGMOVE_FUZZ_TRACE=%lu",
	       (unsigned long long)fz->seed, replay, fz->call);
}

/* A failure that is not about one call (census, sentinel). */
static void state_fail(struct fz *fz, const char *fmt, ...)
{
	struct __test_metadata *_metadata = fz->md;
	char msg[512];
	va_list ap;

	fz->failures++;
	if (fz->failures > MAX_LOGGED)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	TH_LOG("FAIL after call %lu, seed %llu, epoch %lu: %s", fz->call,
	       (unsigned long long)fz->seed, fz->epoch, msg);
}

static void crash_handler(int sig)
{
	char buf[200];
	int n;

	if (g_fz) {
		n = snprintf(buf, sizeof(buf),
			     "# fuzz_test: signal %d at call %lu, PGMOVE_FUZZ_SEED=%llu "
			     "(the module may have moved or freed the fuzzer's own memory)\n",
			     sig, g_fz->call, (unsigned long long)g_fz->seed);
		if (write(2, buf, n) < 0)
			n = 0;
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/*
 * Accounts one call and checks its outcome against the documented table of the ioctl and
 * against `expected`, the outcomes the documentation allows for these arguments. Returns
 * the errno (0 for success).
 */
static int outcome(struct fz *fz, int ret, int err, uint64_t expected)
{
	struct rec *r = &fz->rec;
	int e = ret == 0 ? 0 : err;

	r->ret = ret;
	r->err = err;
	r->expected = expected;
	fz->calls[r->ioc]++;
	fz->total++;
	fz->hist[r->ioc][e >= 0 && e < 134 ? e : 134]++;
	if (ret != 0 && ret != -1)
		fuzz_fail(fz, "returned %d", ret);
	else if (e < 0 || e >= 64 || !(doc_allowed[r->ioc] & B(e)))
		fuzz_fail(fz, "%s is not documented for %s", ename(e), ioc_name[r->ioc]);
	else if (!(expected & B(e)))
		fuzz_fail(fz, "%s where the documentation calls for %s", ename(e),
			  expected & OK ? "success or one of the listed errnos" : "one of the listed errnos");
	return e;
}

static void trace(struct fz *fz)
{
	struct __test_metadata *_metadata = fz->md;
	char desc[2048];

	if (fz->call < fz->trace_from)
		return;
	describe(fz, desc, sizeof(desc));
	TH_LOG("call %lu: %s", fz->call, desc);
}

/* ---------------------------------------------------------------------------------------- */
/* Addresses                                                                                */

/* Reads /proc/self/maps: every mapping outside the reservation, widened by a margin. */
static void snapshot_maps(struct fz *fz)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	fz->nmaps = 0;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && fz->nmaps < NMAPS) {
		unsigned long lo, hi;
		uint64_t below_m = 16 << 20, above_m = 16 << 20;

		if (sscanf(line, "%lx-%lx", &lo, &hi) != 2)
			continue;
		if (lo >= (unsigned long)fz->resv && hi <= (unsigned long)fz->resv + fz->resv_len)
			continue;
		if (lo >= fz->task_size)
			continue;
		if (strstr(line, "[stack"))
			below_m = 1ULL << 30;	/* it may grow */
		if (strstr(line, "[heap]"))
			above_m = 1ULL << 30;	/* brk */
		fz->maps[fz->nmaps].lo = lo > below_m ? lo - below_m : 0;
		fz->maps[fz->nmaps].hi = hi + above_m;
		fz->nmaps++;
	}
	fclose(f);
}

/*
 * An address the fuzzer may name: a itself unless it may lie in one of the fuzzer's own
 * mappings (or in the sentinel), else an address in the never-mapped first 64 KiB. Depends on
 * no random number, so a replay makes the same choices.
 */
static uint64_t safe_addr(struct fz *fz, uint64_t a)
{
	uint64_t pa = a & ~(PAGE - 1);

	if (a >= fz->task_size)
		return a;
	if (pa >= (uint64_t)fz->sent && pa < (uint64_t)fz->sent + SENT_PAGES * PAGE)
		return 2 * PAGE + (a & (PAGE - 1));
	if (pa >= (uint64_t)fz->resv && pa < (uint64_t)fz->resv + fz->resv_len)
		return a;
	if (pa < 16 * PAGE)
		return a;
	for (int i = 0; i < fz->nmaps; i++)
		if (pa + PAGE > fz->maps[i].lo && pa < fz->maps[i].hi)
			return 2 * PAGE + (a & (PAGE - 1));
	return a;
}

static uint64_t arena_page(struct fz *fz, long i)
{
	return (uint64_t)fz->arena + i * (long)PAGE;
}

/* Fixed boundary addresses: low pages, the TASK_SIZE edges, the arena's edges and guards. */
static int fixed_addrs(struct fz *fz, uint64_t *v)
{
	const uint64_t ts47 = (1ULL << 47) - PAGE, ts56 = (1ULL << 56) - PAGE;
	int n = 0;

	v[n++] = 0;
	v[n++] = 1;
	v[n++] = PAGE - 1;
	v[n++] = PAGE;
	v[n++] = PAGE + 1;
	v[n++] = 15 * PAGE;
	for (long d = -2; d <= 2; d++) {
		v[n++] = ts47 + d * (long)PAGE;
		v[n++] = ts56 + d * (long)PAGE;
		v[n++] = fz->task_size + d * (long)PAGE;
	}
	v[n++] = ts47 - 1;
	v[n++] = ts47 + 1;
	v[n++] = ts56 + 1;
	v[n++] = 1ULL << 47;
	v[n++] = 1ULL << 56;
	v[n++] = fz->task_size - 1;
	for (size_t i = 0; i < NELEM(kernel_addrs); i++)
		v[n++] = kernel_addrs[i];
	for (size_t i = 0; i < NELEM(noncanon_addrs); i++)
		v[n++] = noncanon_addrs[i];
	v[n++] = (uint64_t)fz->resv;			/* the first guard */
	v[n++] = arena_page(fz, -1);
	v[n++] = arena_page(fz, 0);
	v[n++] = arena_page(fz, 0) + 1;
	v[n++] = arena_page(fz, 1) - 1;
	v[n++] = arena_page(fz, fz->npages / 2);
	v[n++] = arena_page(fz, fz->npages - 1);
	v[n++] = arena_page(fz, fz->npages);		/* the guard after it */
	v[n++] = arena_page(fz, fz->npages) - 1;
	v[n++] = arena_page(fz, 512);			/* the second PMD */
	for (int i = 0; i < n; i++)
		v[i] = safe_addr(fz, v[i]);
	return n;
}

/* A fuzzed address for a MOVE's dst or src or a RECLAIM's start. */
static uint64_t gen_addr(struct fz *fz)
{
	uint64_t v[96], a;
	unsigned int r = below(100);

	if (r < 45)
		a = arena_page(fz, below(fz->npages));
	else if (r < 55)
		a = arena_page(fz, (long)below(fz->npages + 8) - 4);
	else if (r < 62)
		a = arena_page(fz, below(fz->npages)) + 1 + below(PAGE - 1);
	else if (r < 85)
		a = v[below(fixed_addrs(fz, v))];
	else if (r < 90)
		a = rnd();
	else if (r < 95)
		a = rnd() & ((1ULL << 47) - 1) & ~(PAGE - 1);
	else
		a = rnd() & ((1ULL << 56) - 1) & ~(PAGE - 1);
	return safe_addr(fz, a);
}

/* Boundary lengths for a range starting at base: tiny, PMD-sized, huge, wrapping, edges. */
static int fixed_lens(struct fz *fz, uint64_t base, uint64_t *v)
{
	int n = 0;

	v[n++] = 0;
	v[n++] = 1;
	v[n++] = PAGE - 1;
	v[n++] = PAGE;
	v[n++] = PAGE + 1;
	v[n++] = 2 * PAGE;
	v[n++] = PMD - PAGE;
	v[n++] = PMD;
	v[n++] = PMD + PAGE;
	v[n++] = 2 * PMD;
	v[n++] = fz->arena_len;
	v[n++] = fz->arena_len + PAGE;
	v[n++] = 1ULL << 47;
	v[n++] = (1ULL << 47) - PAGE;
	v[n++] = 1ULL << 56;
	v[n++] = fz->task_size;
	v[n++] = 1ULL << 63;
	v[n++] = ~0ULL;
	v[n++] = -PAGE;			/* page aligned, wraps from any base but 0 */
	v[n++] = -base;			/* base + len == 2^64 */
	v[n++] = -base + PAGE;		/* wraps past 0 */
	v[n++] = -base - PAGE;		/* the last page below 2^64 */
	v[n++] = fz->task_size - base;	/* ends exactly at TASK_SIZE */
	v[n++] = fz->task_size - base + PAGE;
	v[n++] = fz->task_size - base - PAGE;
	v[n++] = arena_page(fz, fz->npages) - base;	/* to the arena's end */
	v[n++] = arena_page(fz, fz->npages) - base + PAGE;
	return n;
}

static uint64_t gen_len(struct fz *fz, uint64_t base)
{
	uint64_t v[32];
	unsigned int r = below(100);

	if (r < 50)
		return (1 + below(16)) * PAGE;
	if (r < 55)
		return (1 + below(fz->npages)) * PAGE;
	if (r < 90)
		return v[below(fixed_lens(fz, base, v))];
	if (r < 95)
		return rnd();
	return rnd() & ~(PAGE - 1);
}

/* A flags word: known bits, every single bit, all bits, random bits. */
static uint64_t gen_flags(uint64_t known, int bits)
{
	uint64_t all = bits == 64 ? ~0ULL : (1ULL << bits) - 1;
	unsigned int r = below(100);

	if (r < 60)
		return rnd() & known;
	if (r < 85)
		return 1ULL << below(bits);
	if (r < 90)
		return all;
	if (r < 95)
		return rnd() & all;
	return ((1ULL << below(bits)) | (rnd() & known)) & all;
}

/* A MOVE that can really move pages: both ranges inside the arena, small. */
static struct pgmove_move gen_real_move(struct fz *fz)
{
	unsigned long pages = 1 + below(16), s, d;
	struct pgmove_move m = { 0 };

	if (chance(3))
		pages = chance(50) ? 512 : 1 + below(fz->npages);
	s = below(fz->npages - pages + 1);
	d = below(fz->npages - pages + 1);
	if (pages == 512 && chance(70)) {	/* PMD aligned both: a whole-table move */
		s = 512 * below(2);
		d = 512 - s;
	} else if (chance(10)) {		/* overlapping */
		d = s + below(5);
		d = d >= 2 ? d - 2 : d;
		if (d + pages > fz->npages)
			d = fz->npages - pages;
	}
	m.dst = arena_page(fz, d);
	m.src = arena_page(fz, s);
	m.len = pages * PAGE;
	m.flags = below(4);
	return m;
}

static struct pgmove_move gen_move(struct fz *fz)
{
	struct pgmove_move m = gen_real_move(fz);

	if (chance(25))
		return m;
	if (chance(50))
		m.dst = gen_addr(fz);
	if (chance(50))
		m.src = gen_addr(fz);
	if (chance(50))
		m.len = gen_len(fz, chance(50) ? m.dst : m.src);
	if (chance(30))
		m.flags = gen_flags(MOVE_FLAGS, 64);
	return m;
}

/* ---------------------------------------------------------------------------------------- */
/* Struct placement                                                                         */

struct where {
	enum place p;
	uint64_t arg;	/* the pointer the kernel gets */
	char *buf;	/* where the fuzzer writes the struct and reads it back, if anywhere */
	size_t avail;	/* bytes of it there (P_STRADDLE: the readable prefix) */
};

static enum place gen_place(struct fz *fz, bool arena_ok)
{
	unsigned int r = below(1000);

	if (r < 800)
		return P_GOOD;
	if (r < 850)
		return P_UNALIGNED;
	if (r < 875)
		return P_RO;
	if (r < 905)
		return P_STRADDLE;
	if (r < 920)
		return P_PROTNONE;
	if (r < 935)
		return P_NULL;
	if (r < 945)
		return P_LOW;
	if (r < 965)
		return P_KERNEL;
	if (r < 975)
		return P_NONCANON;
	if (r < 985)
		return P_EDGE;
	return arena_ok && fz->epoch % 4 == 1 ? P_ARENA : P_GOOD;
}

/* Pointers the kernel must refuse, for struct and array alike. */
static bool place_bad(struct fz *fz, struct where *w, size_t size)
{
	switch (w->p) {
	case P_NULL:
		w->arg = 0;
		return true;
	case P_LOW:
		w->arg = PAGE + below(14 * PAGE);
		return true;
	case P_KERNEL:
		w->arg = kernel_addrs[below(NELEM(kernel_addrs))];
		return true;
	case P_NONCANON:
		w->arg = safe_addr(fz, noncanon_addrs[below(NELEM(noncanon_addrs))]);
		return true;
	case P_EDGE:
		/* Starts below TASK_SIZE and ends above it. */
		w->arg = fz->task_size - 1 - below(size > 1 ? size - 1 : 1);
		if (safe_addr(fz, w->arg) != w->arg)	/* the page below may be ours */
			w->arg = (uint64_t)fz->sbuf + PAGE;
		return true;
	default:
		return false;
	}
}

static struct where place_struct(struct fz *fz, enum place p, size_t size)
{
	struct where w = { .p = p, .avail = size };
	size_t off = 8 * below((PAGE - size) / 8);

	if (place_bad(fz, &w, size)) {
		w.avail = 0;
		return w;
	}
	switch (p) {
	case P_GOOD:
		w.buf = fz->sbuf + off;
		break;
	case P_UNALIGNED:
		w.buf = fz->sbuf + (off ? off - 8 : 0) + 1 + below(7);
		break;
	case P_ARENA:
		w.buf = (char *)arena_page(fz, below(fz->npages)) + off;
		fz->census_dirty = true;
		break;
	case P_RO:
		w.buf = fz->ro_w + off;
		w.arg = (uint64_t)fz->ro_r + off;
		break;
	case P_STRADDLE:
		w.avail = 1 + below(size - 1);
		w.buf = fz->sbuf + PAGE - w.avail;
		break;
	case P_PROTNONE:
	default:
		w.arg = (uint64_t)fz->sbuf + PAGE + off;
		w.avail = 0;
		break;
	}
	if (w.buf && !w.arg)
		w.arg = (uint64_t)w.buf;
	return w;
}

/* Puts the struct in place (as much of it as is accessible). */
static void put_struct(const struct where *w, const void *s)
{
	if (w->buf)
		memcpy(w->buf, s, w->avail);
}

/* A struct the kernel could not read must not have been written either. */
static void check_straddle(struct fz *fz, const struct where *w, const void *s)
{
	if (w->p == P_STRADDLE && memcmp(w->buf, s, w->avail))
		fuzz_fail(fz, "wrote into the readable part of a struct it could not read");
}

/* ---------------------------------------------------------------------------------------- */
/* The arena: populate, census                                                              */

static uint64_t tag_of(struct fz *fz, unsigned long i)
{
	return ARENA_MAGIC ^ ((uint64_t)fz->epoch << 16) ^ i;
}

static void tag_page(struct fz *fz, unsigned long i)
{
	uint64_t *w = (uint64_t *)arena_page(fz, i);

	w[0] = tag_of(fz, i);
	w[1] = ~w[0];
	w[PAGE / 8 - 1] = w[0] * 31;
	fz->populated[i] = 1;
}

/* Every page tagged this epoch is found exactly once in the arena, and nothing else is. */
static void census(struct fz *fz)
{
	unsigned long bad = 0;

	memset(fz->seen, 0, sizeof(fz->seen));
	for (unsigned long i = 0; i < fz->npages; i++) {
		const uint64_t *w = (const uint64_t *)arena_page(fz, i);
		uint64_t w0 = w[0], w1 = w[1], wl = w[PAGE / 8 - 1], idx;

		if (!w0 && !w1 && !wl)
			continue;
		idx = w0 ^ tag_of(fz, 0);
		if (idx >= fz->npages || w1 != ~w0 || wl != w0 * 31) {
			if (bad++ < 4)
				state_fail(fz, "arena page %lu holds %#llx %#llx %#llx: no page of this epoch",
					   i, (unsigned long long)w0, (unsigned long long)w1,
					   (unsigned long long)wl);
			continue;
		}
		fz->seen[idx]++;
	}
	for (unsigned long i = 0; i < fz->npages; i++)
		if (fz->seen[i] != fz->populated[i] && bad++ < 8)
			state_fail(fz, "the page tagged %lu (populated: %u) is in the arena %u times",
				   i, fz->populated[i], fz->seen[i]);
}

static void check_sentinel(struct fz *fz, bool pfns)
{
	long bad = check_pages(fz->sent, SENT_PAGES * PAGE, SENT_SEED);

	if (bad >= 0)
		state_fail(fz, "sentinel page %ld (never named) changed", bad);
	for (unsigned long i = 0; pfns && i < SENT_PAGES; i++)
		if (pfn_of(fz->sent + i * PAGE) != fz->sent_pfn[i]) {
			state_fail(fz, "sentinel page %lu: PFN %#llx -> %#llx", i,
				   (unsigned long long)fz->sent_pfn[i],
				   (unsigned long long)pfn_of(fz->sent + i * PAGE));
			break;
		}
}

/*
 * Starts an epoch: empties the arena and tags about a third of it in runs. Every fourth
 * epoch the first 2 MiB is faulted in with THP allowed, so moves meet a PMD-mapped THP;
 * THP is then forbidden again, so khugepaged does not fill holes at times of its own
 * choosing (a replay of a seed meets the same arena).
 */
static void populate(struct fz *fz)
{
	bool thp = fz->epoch % 4 == 3;
	unsigned long i = 0;

	madvise(fz->arena, fz->arena_len, MADV_DONTNEED);
	memset(fz->populated, 0, sizeof(fz->populated));
	fz->census_dirty = false;
	if (thp) {
		madvise(fz->arena, fz->arena_len, MADV_HUGEPAGE);
		for (; i < 512; i++)
			tag_page(fz, i);
	}
	madvise(fz->arena, fz->arena_len, MADV_NOHUGEPAGE);
	while (i < fz->npages) {
		unsigned long run = 1 + below(32);
		bool on = chance(35);

		for (; run && i < fz->npages; run--, i++)
			if (on)
				tag_page(fz, i);
	}
	snapshot_maps(fz);
}

static void end_epoch(struct fz *fz)
{
	if (!fz->census_dirty)
		census(fz);
	check_sentinel(fz, false);
	fz->epoch++;
	fz->epoch_start = fz->total;
	populate(fz);
}

/* Before building each call (never between building and issuing it). */
static void tick(struct fz *fz)
{
	if (fz->total - fz->epoch_start >= EPOCH_CALLS)
		end_epoch(fz);
	fz->call = fz->total;
}

/* ---------------------------------------------------------------------------------------- */
/* INFO                                                                                     */

static void run_info(struct fz *fz, enum place p)
{
	struct pgmove_info info, out;
	struct where w;
	uint64_t exp;
	int ret, err, e;

	tick(fz);
	memset(&info, 0xa5, sizeof(info));
	w = place_struct(fz, p, sizeof(info));
	put_struct(&w, &info);
	memset(&fz->rec, 0, sizeof(fz->rec));
	fz->rec.ioc = I_INFO;
	fz->rec.cmd = PGMOVE_IOC_INFO;
	fz->rec.p = p;
	fz->rec.arg = w.arg;
	fz->rec.avail = w.avail;
	ret = ioctl(fz->fd, PGMOVE_IOC_INFO, (unsigned long)w.arg);
	err = errno;
	/* _IOR: the whole struct must be writable (a straddling one may be partly written). */
	exp = place_writable(p) ? OK : B(EFAULT);
	e = outcome(fz, ret, err, exp);
	trace(fz);
	if (e == 0 && w.buf) {
		memcpy(&out, w.buf, sizeof(out));
		if (out.abi_version != PGMOVE_ABI_VERSION || out.reserved != 0 ||
		    (out.features & ~KNOWN_FEATURES))
			fuzz_fail(fz, "INFO wrote abi_version %u reserved %u features %#llx",
				  out.abi_version, out.reserved, (unsigned long long)out.features);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* MOVE                                                                                     */

/* Whether MOVE must accept [a, a + len): page aligned, non-empty, no wrap, in user space. */
static bool move_range_valid(struct fz *fz, uint64_t a, uint64_t len)
{
	return !(a % PAGE) && !(len % PAGE) && len && a < fz->task_size && len <= fz->task_size - a;
}

/*
 * What a range's start implies, for a start below TASK_SIZE: a range in the arena VMA that
 * extends beyond it or one in a PROT_NONE guard (a VMA that does not qualify): EINVAL; an
 * unmapped start (no VMA): ENOENT; a range inside the arena: nothing.
 */
static uint64_t range_class(struct fz *fz, uint64_t a, uint64_t len)
{
	uint64_t pa = a & ~(PAGE - 1), end = arena_page(fz, fz->npages);

	if (a >= fz->task_size)
		return 0;	/* EINVAL: ends beyond the user address space */
	if (pa >= (uint64_t)fz->arena && pa < end)
		return move_range_valid(fz, a, len) && a + len > end ? B(EINVAL) : 0;
	if (pa >= (uint64_t)fz->resv && pa < (uint64_t)fz->resv + fz->resv_len)
		return B(EINVAL);
	return B(ENOENT);
}

/*
 * The outcomes move.rst allows for one MOVE (or MOVEV entry) whose struct was read: each
 * error whose condition holds; when none holds (both ranges inside the arena, known flags),
 * success or what the arena's state may cause (EEXIST, EBUSY, ENOMEM, EAGAIN after a
 * partial move, ENOENT for a hole unless ALLOW_SRC_HOLES).
 */
static uint64_t move_expect(struct fz *fz, const struct pgmove_move *m)
{
	uint64_t e = range_class(fz, m->dst, m->len) | range_class(fz, m->src, m->len);

	if (!move_range_valid(fz, m->dst, m->len) || !move_range_valid(fz, m->src, m->len) ||
	    (m->flags & ~(uint64_t)MOVE_FLAGS))
		e |= B(EINVAL);
	if (e)
		return e;
	e = OK | B(EEXIST) | B(EBUSY) | B(ENOMEM) | B(EAGAIN);
	if (!(m->flags & PGMOVE_MOVE_ALLOW_SRC_HOLES))
		e |= B(ENOENT);
	return e;
}

/* `moved`: len on success, 0 < moved < len with EAGAIN, else -errno. */
static bool moved_ok(const struct pgmove_move *m, long long moved, int e)
{
	if (e == 0)
		return moved == (long long)m->len;
	if (e == EAGAIN)
		return moved > 0 && (uint64_t)moved < m->len;
	return moved == -e;
}

static void run_move(struct fz *fz, const struct pgmove_move *req, enum place p)
{
	struct pgmove_move m = *req;
	struct where w;
	uint64_t exp;
	int ret, err, e;

	m.moved = MOVED_UNSET;
	w = place_struct(fz, p, sizeof(m));
	put_struct(&w, &m);
	memset(&fz->rec, 0, sizeof(fz->rec));
	fz->rec.ioc = I_MOVE;
	fz->rec.cmd = PGMOVE_IOC_MOVE;
	fz->rec.p = p;
	fz->rec.arg = w.arg;
	fz->rec.avail = w.avail;
	fz->rec.in.mv = m;
	fz->rec.out.mv.moved = MOVED_UNSET;
	ret = ioctl(fz->fd, PGMOVE_IOC_MOVE, (unsigned long)w.arg);
	err = errno;
	if (place_writable(p))
		memcpy(&fz->rec.out.mv.moved, w.buf + offsetof(struct pgmove_move, moved), 8);
	/* Unreadable: EFAULT. Read-only: EFAULT, `moved` cannot be written (the move happens). */
	exp = place_writable(p) ? move_expect(fz, &m) : B(EFAULT);
	e = outcome(fz, ret, err, exp);
	trace(fz);
	if (w.p == P_STRADDLE)
		check_straddle(fz, &w, &m);
	if (place_writable(p) && (exp & B(e)) && !moved_ok(&m, fz->rec.out.mv.moved, e))
		fuzz_fail(fz, "moved %lld breaks the convention (len on success, 0 < moved < len "
			  "with EAGAIN, else -errno)", (long long)fz->rec.out.mv.moved);
}

/* ---------------------------------------------------------------------------------------- */
/* RECLAIM                                                                                  */

static int pidfd_of(struct fz *fz, enum pfk k)
{
	switch (k) {
	case PF_OWN: return -1;
	case PF_NEG: {
		static const int neg[] = { -2, -3, -100, INT_MIN, INT_MIN + 1 };

		return neg[below(NELEM(neg))];
	}
	case PF_NOTPIDFD: return chance(50) ? fz->fd : fz->devnull;
	case PF_CLOSED: return chance(50) ? fz->closed_fd : (int)(100000 + below(1 << 30));
	case PF_SELF: return fz->pidfd_self;
	case PF_CHILD: return fz->pidfd_child;
	case PF_ZOMBIE: return fz->pidfd_zombie;
	case PF_REAPED: return fz->pidfd_reaped;
	case PF_KTHREAD: return fz->pidfd_kthread;
	default: return -1;
	}
}

/* A pidfd for RECLAIM and what it names; random small numbers are looked up in fdkind. */
static int gen_pidfd(struct fz *fz, enum pfk *k)
{
	unsigned int r = below(100);
	int fd;

	if (r < 70) {
		*k = PF_OWN;
		return -1;
	}
	if (r < 90) {
		*k = 1 + below(PF_KTHREAD);
		if (*k == PF_KTHREAD && fz->pidfd_kthread < 0)
			*k = PF_SELF;
		return pidfd_of(fz, *k);
	}
	fd = below(MAXFD);
	*k = fz->fdkind[fd];
	return fd;
}

/* The outcomes reclaim.rst allows: must is the errors whose condition holds, may the rest. */
static uint64_t reclaim_expect(struct fz *fz, const struct pgmove_reclaim *r, enum pfk k)
{
	uint64_t must = 0, may = 0;

	if (!r->len || (r->start % PAGE) || (r->len % PAGE) || r->start + r->len < r->start ||
	    (r->flags & ~(uint64_t)RECLAIM_FLAGS) || r->reserved)
		must |= B(EINVAL);
	switch (k) {
	case PF_NEG:
	case PF_NOTPIDFD:
	case PF_CLOSED:
		must |= B(EBADF);
		break;
	case PF_ZOMBIE:
	case PF_REAPED:
		must |= B(ESRCH);
		break;
	case PF_KTHREAD:
		/* Not documented: a live process without an mm (the module says ESRCH). */
		must |= B(ESRCH) | B(EPERM);
		break;
	case PF_CHILD:
		if (geteuid())
			may |= B(EPERM);
		break;
	case PF_OTHER:
		may |= B(ESRCH) | B(EPERM);
		break;
	default:
		break;
	}
	return must ? must | may : OK | may;
}

/* PTE tables that can map part of [start, start + len) below TASK_SIZE. */
static uint64_t table_bound(struct fz *fz, uint64_t start, uint64_t len)
{
	uint64_t end = start + len, lo, hi;

	if (start >= fz->task_size)
		return 0;
	if (end < start || end > fz->task_size)
		end = fz->task_size;
	lo = start & ~(PMD - 1);
	hi = (end + PMD - 1) & ~(PMD - 1);
	return (hi - lo) / PMD;
}

static void run_reclaim(struct fz *fz, const struct pgmove_reclaim *req, enum pfk k, enum place p)
{
	struct pgmove_reclaim r = *req, out;
	long long pte_kb = -1;
	struct where w;
	uint64_t exp, sum;
	int ret, err, e;

	r.scanned = r.freed = r.busy = r.ineligible = ~0ULL;
	w = place_struct(fz, p, sizeof(r));
	put_struct(&w, &r);
	memset(&fz->rec, 0, sizeof(fz->rec));
	fz->rec.ioc = I_RECLAIM;
	fz->rec.cmd = PGMOVE_IOC_RECLAIM;
	fz->rec.p = p;
	fz->rec.arg = w.arg;
	fz->rec.avail = w.avail;
	fz->rec.pk = k;
	fz->rec.in.rc = r;
	fz->rec.out.rc = r;
	exp = place_writable(p) ? reclaim_expect(fz, &r, k) : B(EFAULT);
	/* A range beyond one PMD: every table counted must be one of the target's. */
	if ((exp & OK) && table_bound(fz, r.start, r.len) > 4 &&
	    (k == PF_OWN || k == PF_SELF || k == PF_CHILD))
		pte_kb = vmpte_kb(k == PF_CHILD ? fz->child : 0);
	ret = ioctl(fz->fd, PGMOVE_IOC_RECLAIM, (unsigned long)w.arg);
	err = errno;
	if (place_writable(p))
		memcpy(&fz->rec.out.rc, w.buf, sizeof(out));
	e = outcome(fz, ret, err, exp);
	trace(fz);
	if (w.p == P_STRADDLE)
		check_straddle(fz, &w, &r);
	if (!place_writable(p) || !(exp & B(e)))
		return;
	out = fz->rec.out.rc;
	if (memcmp(&out, &r, offsetof(struct pgmove_reclaim, scanned)))
		fuzz_fail(fz, "RECLAIM changed its in fields");
	if (e == EINVAL || e == EBADF || e == ESRCH || e == EPERM) {
		if (out.scanned || out.freed || out.busy || out.ineligible)
			fuzz_fail(fz, "out fields not zero after %s", ename(e));
		return;
	}
	if (e != 0)
		return;
	sum = out.freed + out.busy + out.ineligible;
	if (out.scanned != sum || out.freed > out.scanned || out.busy > out.scanned ||
	    out.ineligible > out.scanned)
		fuzz_fail(fz, "scanned != freed + busy + ineligible");
	else if (out.scanned > table_bound(fz, r.start, r.len))
		fuzz_fail(fz, "scanned %llu tables, but at most %llu can map the range",
			  (unsigned long long)out.scanned,
			  (unsigned long long)table_bound(fz, r.start, r.len));
	else if (pte_kb >= 0 && out.scanned > (uint64_t)pte_kb / 4 + 2)
		fuzz_fail(fz, "scanned %llu tables, but the target had VmPTE %lld kB (%lld tables)",
			  (unsigned long long)out.scanned, pte_kb, pte_kb / 4);
}

static struct pgmove_reclaim gen_reclaim(struct fz *fz, enum pfk *k)
{
	struct pgmove_reclaim r = { 0 };
	unsigned int s = below(100), l = below(100);

	if (s < 50)
		r.start = arena_page(fz, (long)below(fz->npages + 8) - 4);
	else if (s < 60)
		r.start = 0;
	else
		r.start = gen_addr(fz);
	if (l < 50)
		r.len = (1 + below(2 * fz->npages)) * PAGE;
	else if (l < 55)
		r.len = 1ULL << 56;			/* from 0: the whole address space */
	else if (l < 60)
		r.len = fz->task_size - (r.start < fz->task_size ? r.start : 0);
	else
		r.len = gen_len(fz, r.start);
	r.flags = chance(80) ? below(2) : gen_flags(RECLAIM_FLAGS, 64);
	r.pidfd = gen_pidfd(fz, k);
	if (chance(8))
		r.reserved = chance(50) ? 1U << below(32) : (chance(50) ? ~0U : (uint32_t)rnd());
	return r;
}

/* ---------------------------------------------------------------------------------------- */
/* MOVEV                                                                                    */

static struct where place_array(struct fz *fz, enum place p, uint32_t count)
{
	const size_t room = ABUF_PAGES * PAGE, img = sizeof(fz->img);
	uint64_t size = (uint64_t)count * sizeof(struct pgmove_move);
	struct where w = { .p = p };
	size_t off = 0;

	if (place_bad(fz, &w, size ? size : 1))
		return w;
	if (p == P_STRADDLE && (size < 2 || size > room))
		p = w.p = size > room ? P_GOOD : P_PROTNONE;
	switch (p) {
	case P_GOOD:
	case P_UNALIGNED:
	case P_RO:
		if (size <= room - 64) {
			if (chance(50))	/* the last entry ends on the page before PROT_NONE */
				off = room - size - (p == P_UNALIGNED ? 8 : 0);
			else
				off = 8 * below((room - size) / 8 < 8 ? (room - size) / 8 : 8);
		}
		if (p == P_UNALIGNED)
			off += 1 + below(7);
		w.buf = (p == P_RO ? fz->aro_w : fz->abuf) + off;
		w.arg = (uint64_t)(p == P_RO ? fz->aro_r : fz->abuf) + off;
		w.avail = room - off < size ? room - off : size;
		break;
	case P_STRADDLE: {
		size_t cut = 1 + below(size - 1);	/* bytes on the PROT_NONE page */

		off = room - size + cut;
		w.buf = fz->abuf + off;
		w.arg = (uint64_t)w.buf;
		w.avail = size - cut;
		break;
	}
	default:
		w.arg = (uint64_t)fz->abuf + room + 8 * below(64);
		break;
	}
	if (w.avail > img)
		w.avail = img;
	return w;
}

static uint32_t gen_count(void)
{
	unsigned int r = below(1000);

	if (r < 700)
		return 1 + below(8);
	if (r < 760)
		return 9 + below(56);
	if (r < 780)
		return 65 + below(PGMOVE_MOVEV_MAX - 65);
	if (r < 800)
		return PGMOVE_MOVEV_MAX - below(2);
	if (r < 840)
		return 0;
	if (r < 880)
		return PGMOVE_MOVEV_MAX + 1;
	if (r < 920)
		return 0xffffffff;
	if (r < 960)
		return 1U << below(32);
	return rnd();
}

/*
 * Fills the entry image for count entries: a few generated ones, then (for long vectors)
 * one of the patterns: copies, or a ping-pong between two arena pages that can complete
 * all PGMOVE_MOVEV_MAX entries.
 */
static void gen_entries(struct fz *fz, uint32_t count)
{
	uint32_t n = count < IMG_ENTRIES ? count : IMG_ENTRIES, gen = n <= 64 ? n : 16;
	bool pingpong = n > 64 && chance(50);
	unsigned long a = below(fz->npages), b = below(fz->npages);

	for (uint32_t i = 0; i < gen; i++)
		fz->img[i] = gen_move(fz);
	if (pingpong)
		for (uint32_t i = 0; i < gen; i++)
			fz->img[i] = (struct pgmove_move){
				.dst = arena_page(fz, i % 2 ? a : b), .src = arena_page(fz, i % 2 ? b : a),
				.len = PAGE, .flags = PGMOVE_MOVE_ALLOW_SRC_HOLES };
	for (uint32_t i = gen; i < n; i++)
		fz->img[i] = fz->img[i % gen];
	for (uint32_t i = 0; i < n; i++)
		fz->img[i].moved = MOVED_UNSET;
}

/* Entries of [from, n) that the fuzzer can read back still hold MOVED_UNSET. */
static bool entries_untouched(struct fz *fz, uint32_t from, uint32_t n)
{
	for (uint32_t i = from; i < n; i++)
		if (fz->back[i].moved != MOVED_UNSET)
			return false;
	return true;
}

static void run_movev(struct fz *fz, uint32_t count, uint32_t flags, enum place ap, enum place p)
{
	struct pgmove_movev v = { .count = count, .flags = flags, .completed = ~0ULL }, out;
	const size_t esz = sizeof(struct pgmove_move);
	struct where w, aw;
	uint32_t nread;		/* entries the fuzzer wrote and can read back */
	uint64_t exp;
	int ret, err, e;

	aw = place_array(fz, ap, count);
	v.moves = aw.arg;
	nread = aw.buf ? aw.avail / esz : 0;
	if (aw.buf)
		memcpy(aw.buf, fz->img, aw.avail);
	w = place_struct(fz, p, sizeof(v));
	put_struct(&w, &v);
	memset(&fz->rec, 0, sizeof(fz->rec));
	fz->rec.ioc = I_MOVEV;
	fz->rec.cmd = PGMOVE_IOC_MOVEV;
	fz->rec.p = p;
	fz->rec.ap = aw.p;
	fz->rec.arg = w.arg;
	fz->rec.avail = w.avail;
	fz->rec.in.vv = v;
	fz->rec.out.vv = v;
	memcpy(fz->back, fz->img, nread * esz);
	ret = ioctl(fz->fd, PGMOVE_IOC_MOVEV, (unsigned long)w.arg);
	err = errno;
	if (place_writable(p))
		memcpy(&fz->rec.out.vv, w.buf, sizeof(out));
	if (aw.buf)
		memcpy(fz->back, aw.buf, nread * esz);
	out = fz->rec.out.vv;

	if (!place_writable(p)) {
		/* The struct cannot be read, or completed cannot be written. */
		outcome(fz, ret, err, B(EFAULT));
		trace(fz);
		if (w.p == P_STRADDLE) {
			check_straddle(fz, &w, &v);
			if (aw.buf && aw.p != P_RO && !entries_untouched(fz, 0, nread))
				fuzz_fail(fz, "an entry was written though the struct could not be read");
		}
		return;
	}
	exp = 0;
	if (count == 0 || count > PGMOVE_MOVEV_MAX || flags)
		exp |= B(EINVAL);
	if (!place_readable(aw.p) || aw.avail < (uint64_t)count * esz)
		exp |= B(EFAULT);
	if (exp) {
		/* Nothing is looked at or written; completed is written, 0. */
		e = outcome(fz, ret, err, exp);
		trace(fz);
		if (out.completed != 0)
			fuzz_fail(fz, "completed %llu after a vector error",
				  (unsigned long long)out.completed);
		if (aw.p != P_RO && !entries_untouched(fz, 0, nread))
			fuzz_fail(fz, "an entry was written though the vector was refused");
		return;
	}
	if (aw.p == P_RO) {
		/* The entries are performed; the first moved cannot be written back. */
		outcome(fz, ret, err, B(EFAULT) | B(ENOMEM));
		trace(fz);
		if (out.completed > count)
			fuzz_fail(fz, "completed %llu > count", (unsigned long long)out.completed);
		return;
	}
	/* A vector the kernel must take: the outcome is that of its first incomplete entry. */
	if (ret == 0) {
		exp = OK;
		for (uint32_t i = 0; i < count; i++)
			if (!(move_expect(fz, &fz->img[i]) & OK)) {
				exp = 0;	/* an entry that must fail */
				break;
			}
		e = outcome(fz, ret, err, exp ? exp : B(EINVAL));
		trace(fz);
		if (out.completed != count)
			fuzz_fail(fz, "success with completed %llu", (unsigned long long)out.completed);
		for (uint32_t i = 0; i < count; i++)
			if (fz->back[i].moved != (long long)fz->img[i].len) {
				fuzz_fail(fz, "success, but entry %u has moved %lld", i,
					  (long long)fz->back[i].moved);
				break;
			}
		return;
	}
	if (err == ENOMEM && out.completed == 0 && entries_untouched(fz, 0, count)) {
		outcome(fz, ret, err, B(ENOMEM));	/* no memory for the copied entries */
		trace(fz);
		return;
	}
	if (out.completed >= count) {
		outcome(fz, ret, err, 0);
		trace(fz);
		fuzz_fail(fz, "failed with completed %llu >= count", (unsigned long long)out.completed);
		return;
	}
	{
		uint32_t c = out.completed;

		exp = move_expect(fz, &fz->img[c]) & ~OK;
		e = outcome(fz, ret, err, exp);
		trace(fz);
		for (uint32_t i = 0; i < c; i++) {
			if (!(move_expect(fz, &fz->img[i]) & OK)) {
				fuzz_fail(fz, "entry %u completed, but it must fail", i);
				break;
			}
			if (fz->back[i].moved != (long long)fz->img[i].len) {
				fuzz_fail(fz, "entry %u < completed has moved %lld", i,
					  (long long)fz->back[i].moved);
				break;
			}
		}
		if ((exp & B(e)) && !moved_ok(&fz->img[c], fz->back[c].moved, e))
			fuzz_fail(fz, "entry %u (the one that stopped the vector) has moved %lld", c,
				  (long long)fz->back[c].moved);
		if (!entries_untouched(fz, c + 1, count))
			fuzz_fail(fz, "an entry after the one that stopped the vector was written");
	}
}

static void random_movev(struct fz *fz)
{
	uint32_t count = gen_count(), flags = 0;
	enum place ap = P_GOOD;
	unsigned int r = below(100);

	if (chance(10))
		flags = gen_flags(0, 32);
	if (r >= 85)
		ap = (enum place[]){ P_UNALIGNED, P_RO, P_STRADDLE, P_STRADDLE, P_PROTNONE, P_NULL,
				     P_LOW, P_KERNEL, P_NONCANON, P_EDGE, P_RO, P_UNALIGNED,
				     P_STRADDLE, P_NULL, P_KERNEL }[r - 85];
	gen_entries(fz, count);
	run_movev(fz, count, flags, ap, gen_place(fz, false));
}

/* ---------------------------------------------------------------------------------------- */
/* Unknown commands                                                                         */

static bool is_pgmove_cmd(unsigned int cmd)
{
	return cmd == PGMOVE_IOC_INFO || cmd == PGMOVE_IOC_MOVE || cmd == PGMOVE_IOC_RECLAIM ||
	       cmd == PGMOVE_IOC_MOVEV;
}

static void run_unknown(struct fz *fz, unsigned int cmd, enum place p)
{
	struct pgmove_move bait[2];
	struct where w;
	int ret, err;

	if (is_pgmove_cmd(cmd))
		return;
	tick(fz);
	/* A real move to do, should the module take the command for MOVE. */
	bait[0] = gen_real_move(fz);
	bait[1] = bait[0];
	w = place_struct(fz, p, sizeof(bait));
	put_struct(&w, bait);
	memset(&fz->rec, 0, sizeof(fz->rec));
	fz->rec.ioc = I_UNKNOWN;
	fz->rec.cmd = cmd;
	fz->rec.p = p;
	fz->rec.arg = w.arg;
	fz->rec.avail = w.avail;
	ret = ioctl(fz->fd, cmd, (unsigned long)w.arg);
	err = errno;
	outcome(fz, ret, err, B(ENOTTY));
	trace(fz);
	if (w.buf && !(p == P_ARENA) && memcmp(w.buf, bait, w.avail))
		fuzz_fail(fz, "an unknown command wrote to its argument");
}

static unsigned int gen_cmd(void)
{
	static const unsigned int sizes[] = { 0, 1, 8, 15, 16, 17, 23, 24, 25, 32, 39, 40, 41,
					      48, 63, 64, 65, 128, 0x3fff };
	static const unsigned int foreign[] = {
		_IOR('x', 0x00, struct pgmove_info), _IOWR(0xBA, 0x01, struct pgmove_move),
		_IOWR(0xB8, 0x01, struct pgmove_move), _IOWR(0x39, 0x01, struct pgmove_move),
		TCGETS, 0x0000b900,
	};
	unsigned int r = below(100);

	if (r < 40)
		return _IOC(below(4), PGMOVE_IOC_MAGIC, below(4), sizes[below(NELEM(sizes))]);
	if (r < 80)
		return _IOC(below(4), PGMOVE_IOC_MAGIC, below(256), below(1 << 14));
	if (r < 95)
		return ((unsigned int)rnd() & ~(0xffU << _IOC_TYPESHIFT)) |
		       (PGMOVE_IOC_MAGIC << _IOC_TYPESHIFT);
	return foreign[below(NELEM(foreign))];
}

/* ---------------------------------------------------------------------------------------- */
/* Phase 1: sweeps                                                                          */

static const enum place all_places[] = { P_GOOD, P_UNALIGNED, P_RO, P_STRADDLE, P_PROTNONE,
					 P_NULL, P_LOW, P_KERNEL, P_NONCANON, P_EDGE };

/* One MOVE, through PGMOVE_IOC_MOVE and as the only entry of a PGMOVE_IOC_MOVEV. */
static void move_both(struct fz *fz, const struct pgmove_move *m)
{
	tick(fz);
	run_move(fz, m, P_GOOD);
	tick(fz);
	fz->img[0] = *m;
	fz->img[0].moved = MOVED_UNSET;
	run_movev(fz, 1, 0, P_GOOD, P_GOOD);
}

static void sweep(struct fz *fz)
{
	uint64_t v[96];
	int n;

	/* MOVE fields, each over its boundary values, the others those of a real move. */
	n = fixed_addrs(fz, v);
	for (int i = 0; i < n; i++) {
		struct pgmove_move m = gen_real_move(fz);

		m.dst = v[i];
		move_both(fz, &m);
		m = gen_real_move(fz);
		m.src = v[i];
		move_both(fz, &m);
		m.dst = v[i];	/* both */
		move_both(fz, &m);
	}
	for (int base = 0; base < 3; base++) {
		struct pgmove_move m = gen_real_move(fz);
		__u64 *b = base == 0 ? &m.dst : &m.src;

		if (base == 2)
			m.dst = m.src = fz->task_size - PAGE;	/* lens from the TASK_SIZE edge */
		n = fixed_lens(fz, *b, v);
		for (int i = 0; i < n; i++) {
			m.len = v[i];
			move_both(fz, &m);
		}
	}
	for (int bit = 0; bit < 64; bit++) {
		struct pgmove_move m = gen_real_move(fz);

		m.flags = 1ULL << bit;
		move_both(fz, &m);
		m.flags |= PGMOVE_MOVE_ALLOW_SRC_HOLES;
		move_both(fz, &m);
	}
	for (size_t i = 0; i < NELEM(all_places); i++)
		for (int j = 0; j < 3; j++) {
			struct pgmove_move m = gen_real_move(fz);

			tick(fz);
			run_move(fz, &m, all_places[i]);
		}

	/* RECLAIM fields. */
	n = fixed_addrs(fz, v);
	for (int i = 0; i < n; i++) {
		struct pgmove_reclaim r = { .start = v[i], .len = PMD, .pidfd = -1 };

		tick(fz);
		run_reclaim(fz, &r, PF_OWN, P_GOOD);
		r.len = 1ULL << 56;
		tick(fz);
		run_reclaim(fz, &r, PF_OWN, P_GOOD);
	}
	for (int base = 0; base < 3; base++) {
		uint64_t start = base == 0 ? arena_page(fz, 0) : base == 1 ? 0 : fz->task_size - PAGE;

		n = fixed_lens(fz, start, v);
		for (int i = 0; i < n; i++) {
			struct pgmove_reclaim r = { .start = start, .len = v[i], .pidfd = -1 };

			tick(fz);
			run_reclaim(fz, &r, PF_OWN, P_GOOD);
		}
	}
	for (int bit = 0; bit < 64; bit++) {
		struct pgmove_reclaim r = { .start = arena_page(fz, 0), .len = fz->arena_len,
					    .flags = 1ULL << bit, .pidfd = -1 };

		tick(fz);
		run_reclaim(fz, &r, PF_OWN, P_GOOD);
		if (bit < 32) {
			r.flags = 0;
			r.reserved = 1U << bit;
			tick(fz);
			run_reclaim(fz, &r, PF_OWN, P_GOOD);
		}
	}
	for (int k = 0; k < NPF; k++) {
		for (int j = 0; j < 2; j++) {
			struct pgmove_reclaim r = { .start = j ? 0 : arena_page(fz, 0),
						    .len = j ? 1ULL << 56 : fz->arena_len,
						    .flags = j ? PGMOVE_RECLAIM_ZEROPAGE : 0 };

			if (k == PF_OTHER || (k == PF_KTHREAD && fz->pidfd_kthread < 0))
				continue;
			r.pidfd = pidfd_of(fz, k);
			tick(fz);
			run_reclaim(fz, &r, k, P_GOOD);
		}
	}
	for (int fd = 0; fd < MAXFD; fd++) {
		struct pgmove_reclaim r = { .start = arena_page(fz, 0), .len = PMD, .pidfd = fd };

		tick(fz);
		run_reclaim(fz, &r, fz->fdkind[fd], P_GOOD);
	}
	for (size_t i = 0; i < NELEM(all_places); i++)
		for (int j = 0; j < 3; j++) {
			struct pgmove_reclaim r = { .start = arena_page(fz, 0), .len = PMD,
						    .pidfd = -1 };

			tick(fz);
			run_reclaim(fz, &r, PF_OWN, all_places[i]);
		}

	/* MOVEV: count, flags, the array pointer, the struct pointer. */
	{
		static const uint32_t counts[] = { 0, 1, 2, 3, 64, PGMOVE_MOVEV_MAX - 1,
						   PGMOVE_MOVEV_MAX, PGMOVE_MOVEV_MAX + 1,
						   2 * PGMOVE_MOVEV_MAX, 0x7fffffff, 0x80000000,
						   0xfffffffe, 0xffffffff };

		for (size_t i = 0; i < NELEM(counts); i++)
			for (size_t j = 0; j < NELEM(all_places); j++) {
				tick(fz);
				gen_entries(fz, counts[i]);
				run_movev(fz, counts[i], 0, all_places[j], P_GOOD);
			}
		for (int bit = 0; bit < 32; bit++) {
			tick(fz);
			gen_entries(fz, 2);
			run_movev(fz, 2, 1U << bit, P_GOOD, P_GOOD);
		}
		for (size_t j = 0; j < NELEM(all_places); j++)
			for (int k = 0; k < 3; k++) {
				tick(fz);
				gen_entries(fz, 2);
				run_movev(fz, 2, 0, P_GOOD, all_places[j]);
			}
	}

	/* INFO: the pointer is its only field. */
	for (size_t j = 0; j < NELEM(all_places); j++)
		for (int k = 0; k < 3; k++)
			run_info(fz, all_places[j]);

	/* Every command number with the pgmove magic, each direction, some sizes. */
	{
		static const unsigned int sizes[] = { 0, 16, 24, 40, 64, 8, 41, 0x3fff };

		for (unsigned int dir = 0; dir < 4; dir++)
			for (unsigned int nr = 0; nr < 256; nr++)
				for (size_t s = 0; s < NELEM(sizes); s++)
					if (nr < 4 || s < 2)
						run_unknown(fz, _IOC(dir, PGMOVE_IOC_MAGIC, nr, sizes[s]),
							    P_GOOD);
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Phase 2: random calls                                                                    */

static void random_call(struct fz *fz)
{
	unsigned int r;

	tick(fz);
	r = below(100);
	if (r < 40) {
		struct pgmove_move m = gen_move(fz);

		run_move(fz, &m, gen_place(fz, true));
	} else if (r < 60) {
		random_movev(fz);
	} else if (r < 85) {
		enum pfk k;
		struct pgmove_reclaim rc = gen_reclaim(fz, &k);

		run_reclaim(fz, &rc, k, gen_place(fz, false));
	} else if (r < 90) {
		run_info(fz, gen_place(fz, false));
	} else {
		run_unknown(fz, gen_cmd(), gen_place(fz, false));
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Setup                                                                                    */

static void *map_or_die(struct __test_metadata *_metadata, size_t len, int prot, int flags, int fd)
{
	void *p = mmap(NULL, len, prot, flags, fd, 0);

	ASSERT_NE(MAP_FAILED, p) TH_LOG("mmap %zu bytes: %s", len, strerror(errno));
	return p;
}

/* Two views of a memfd: one writable, one read-only. */
static void map_two_views(struct __test_metadata *_metadata, size_t len, char **w, char **r)
{
	int mfd = memfd_create("pgmove-fuzz", MFD_CLOEXEC);

	ASSERT_GE(mfd, 0) TH_LOG("memfd_create: %s", strerror(errno));
	ASSERT_EQ(0, ftruncate(mfd, len));
	*w = map_or_die(_metadata, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd);
	*r = map_or_die(_metadata, len, PROT_READ, MAP_SHARED, mfd);
	memset(*w, 0, len);
	close(mfd);
}

static pid_t fork_child(bool sleep_forever)
{
	pid_t pid = fork();

	if (pid == 0) {
		if (sleep_forever) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
		_exit(0);
	}
	return pid;
}

static void classify_fds(struct fz *fz)
{
	for (int fd = 0; fd < MAXFD; fd++) {
		char path[64], link[256] = "";
		ssize_t n;

		if (fd == fz->pidfd_self)
			fz->fdkind[fd] = PF_SELF;
		else if (fd == fz->pidfd_child)
			fz->fdkind[fd] = PF_CHILD;
		else if (fd == fz->pidfd_zombie)
			fz->fdkind[fd] = PF_ZOMBIE;
		else if (fd == fz->pidfd_reaped)
			fz->fdkind[fd] = PF_REAPED;
		else if (fd == fz->pidfd_kthread)
			fz->fdkind[fd] = PF_KTHREAD;
		else if (fcntl(fd, F_GETFD) < 0)
			fz->fdkind[fd] = PF_CLOSED;
		else {
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			n = readlink(path, link, sizeof(link) - 1);
			link[n > 0 ? n : 0] = 0;
			fz->fdkind[fd] = strstr(link, "pidfd") ? PF_OTHER : PF_NOTPIDFD;
		}
	}
}

FIXTURE(fuzz)
{
	struct fz *fz;
};

FIXTURE_SETUP(fuzz)
{
	struct pgmove_info info;
	struct fz *fz;
	const char *env;
	struct timespec ts;
	void *probe;
	uint64_t a;

	fz = self->fz = calloc(1, sizeof(*fz));
	ASSERT_NE(NULL, fz);
	fz->md = _metadata;
	fz->fd = open(PGMOVE_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fz->fd, 0) TH_LOG("open %s: %s (is pgmove.ko loaded?)", PGMOVE_DEV, strerror(errno));
	ASSERT_EQ(0, ioctl(fz->fd, PGMOVE_IOC_INFO, &info)) TH_LOG("INFO: %s", strerror(errno));
	if ((info.features & (PGMOVE_FEAT_MOVE | PGMOVE_FEAT_RECLAIM | PGMOVE_FEAT_MOVEV)) !=
	    (PGMOVE_FEAT_MOVE | PGMOVE_FEAT_RECLAIM | PGMOVE_FEAT_MOVEV))
		SKIP(return, "this build lacks MOVE, RECLAIM or MOVEV (features %#llx)",
		     (unsigned long long)info.features);

	/* 5-level paging: a mapping above 47 bits is possible only then. */
	probe = mmap((void *)(1ULL << 50), PAGE, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	fz->la57 = probe == (void *)(1ULL << 50);
	if (probe != MAP_FAILED)
		munmap(probe, PAGE);
	fz->task_size = fz->la57 ? (1ULL << 56) - PAGE : (1ULL << 47) - PAGE;

	env = getenv("PGMOVE_FUZZ_SEED");
	clock_gettime(CLOCK_REALTIME, &ts);
	fz->seed = env && *env ? strtoull(env, NULL, 0) :
		   (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	env = getenv("PGMOVE_FUZZ_CALLS");
	fz->default_calls = !env || !*env;
	fz->random_calls = fz->default_calls ? DEFAULT_CALLS : strtoul(env, NULL, 0);
	env = getenv("PGMOVE_FUZZ_TRACE");
	fz->trace_from = env && *env ? strtoul(env, NULL, 0) : ULONG_MAX;
	rng_state = fz->seed;
	fz->sweep_calls = ULONG_MAX;	/* set when the sweep ends */

	/* [guard][arena, PMD aligned][guard][sentinel][guard], all one reservation. */
	fz->resv_len = 3 * GUARD + PMD + ARENA_PAGES * PAGE + SENT_PAGES * PAGE;
	fz->resv = map_or_die(_metadata, fz->resv_len, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
	a = ((uint64_t)fz->resv + GUARD + PMD - 1) & ~(PMD - 1);
	fz->arena = (char *)a;
	fz->npages = ARENA_PAGES;
	fz->arena_len = ARENA_PAGES * PAGE;
	fz->sent = fz->arena + fz->arena_len + GUARD;
	ASSERT_EQ(0, mprotect(fz->arena, fz->arena_len, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, mprotect(fz->sent, SENT_PAGES * PAGE, PROT_READ | PROT_WRITE));
	madvise(fz->sent, SENT_PAGES * PAGE, MADV_NOHUGEPAGE);

	fz->sbuf = map_or_die(_metadata, 2 * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ASSERT_EQ(0, mprotect(fz->sbuf + PAGE, PAGE, PROT_NONE));
	fz->abuf = map_or_die(_metadata, (ABUF_PAGES + 1) * PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ASSERT_EQ(0, mprotect(fz->abuf + ABUF_PAGES * PAGE, PAGE, PROT_NONE));
	map_two_views(_metadata, PAGE, &fz->ro_w, &fz->ro_r);
	map_two_views(_metadata, ABUF_PAGES * PAGE, &fz->aro_w, &fz->aro_r);

	/* The processes RECLAIM's pidfds name, forked before the arena has any page. */
	fz->child = fork_child(true);
	ASSERT_GE(fz->child, 0);
	fz->zombie = fork_child(false);
	ASSERT_GE(fz->zombie, 0);
	fz->reaped = fork_child(false);
	ASSERT_GE(fz->reaped, 0);
	fz->pidfd_self = syscall(SYS_pidfd_open, getpid(), 0);
	fz->pidfd_child = syscall(SYS_pidfd_open, fz->child, 0);
	fz->pidfd_zombie = syscall(SYS_pidfd_open, fz->zombie, 0);
	fz->pidfd_reaped = syscall(SYS_pidfd_open, fz->reaped, 0);
	ASSERT_GE(fz->pidfd_self, 0) TH_LOG("pidfd_open: %s", strerror(errno));
	ASSERT_GE(fz->pidfd_child, 0);
	ASSERT_GE(fz->pidfd_zombie, 0);
	ASSERT_GE(fz->pidfd_reaped, 0);
	fz->pidfd_kthread = syscall(SYS_pidfd_open, 2, 0);	/* kthreadd, if pid 2 is it */
	{
		char comm[32] = "";

		if (fz->pidfd_kthread >= 0 && (read_file("/proc/2/comm", comm, sizeof(comm)) ||
					       strncmp(comm, "kthreadd", 8))) {
			close(fz->pidfd_kthread);
			fz->pidfd_kthread = -1;
		}
	}
	siginfo_t si;
	ASSERT_EQ(0, waitid(P_PID, fz->zombie, &si, WEXITED | WNOWAIT));
	ASSERT_EQ(fz->reaped, waitpid(fz->reaped, NULL, 0));
	fz->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_GE(fz->devnull, 0);
	fz->closed_fd = 1000;
	while (fcntl(fz->closed_fd, F_GETFD) >= 0)
		fz->closed_fd++;
	classify_fds(fz);

	fill_pages(fz->sent, SENT_PAGES * PAGE, SENT_SEED);
	for (unsigned long i = 0; i < SENT_PAGES; i++)
		fz->sent_pfn[i] = pfn_of(fz->sent + i * PAGE);
	populate(fz);

	g_fz = fz;
	signal(SIGSEGV, crash_handler);
	signal(SIGBUS, crash_handler);
}

FIXTURE_TEARDOWN(fuzz)
{
	struct fz *fz = self->fz;

	if (!fz)
		return;
	g_fz = NULL;
	if (fz->child > 0) {
		kill(fz->child, SIGKILL);
		waitpid(fz->child, NULL, 0);
	}
	if (fz->zombie > 0)
		waitpid(fz->zombie, NULL, 0);
	if (fz->fd >= 0)
		close(fz->fd);
}

static void report(struct fz *fz, double secs)
{
	struct __test_metadata *_metadata = fz->md;
	char set[200], line[1024];

	TH_LOG("%lu calls (%lu in the sweep, %lu random) in %.1f s, %lu epochs, seed %llu, %s",
	       fz->total, fz->sweep_calls, fz->total - fz->sweep_calls, secs, fz->epoch + 1,
	       (unsigned long long)fz->seed, fz->la57 ? "5-level paging" : "4-level paging");
	for (int i = 0; i < NIOC; i++) {
		size_t n = 0;

		for (int e = 0; e < 135; e++)
			if (fz->hist[i][e])
				n += snprintf(line + n, sizeof(line) - n, " %s:%lu",
					      e == 134 ? ">133" : ename(e), fz->hist[i][e]);
		TH_LOG("%-8s %7lu calls:%s", ioc_name[i], fz->calls[i], line);
	}
	for (int i = 0; i < NIOC; i++)
		TH_LOG("%-8s documented outcomes %s", ioc_name[i], fmt_set(doc_allowed[i], set, sizeof(set)));
}

/* 34 s on the reference machine (Documentation/testing.rst); 4x, scaled by the calibration. */
TEST_F_TIMEOUT(fuzz, only_documented_errnos, 140)
{
	struct fz *fz = self->fz;
	struct timespec t0, t1;

	TH_LOG("seed %llu (PGMOVE_FUZZ_SEED), %lu random calls (PGMOVE_FUZZ_CALLS), TASK_SIZE %#llx",
	       (unsigned long long)fz->seed, fz->random_calls, (unsigned long long)fz->task_size);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sweep(fz);
	fz->sweep_calls = fz->total;
	pgmove_progress_done("fuzz: sweep done, %lu calls", fz->total);
	while (fz->total - fz->sweep_calls < fz->random_calls) {
		random_call(fz);
		pgmove_progress("fuzz: %lu of %lu random calls", fz->total - fz->sweep_calls,
				fz->random_calls);
	}
	fz->call = fz->total;
	/* The last epoch's census, the sentinel with its PFNs, and the device still answers. */
	if (!fz->census_dirty)
		census(fz);
	check_sentinel(fz, true);
	run_info(fz, P_GOOD);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	report(fz, t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	EXPECT_EQ(0, fz->failures) TH_LOG("%lu failures (seed %llu); the first %d are printed above",
					   fz->failures, (unsigned long long)fz->seed, MAX_LOGGED);
	if (fz->default_calls)
		EXPECT_LE(100000, fz->total) TH_LOG("the default run must make at least 100000 calls");
}

TEST_HARNESS_MAIN
