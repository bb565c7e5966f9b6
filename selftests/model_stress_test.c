// SPDX-License-Identifier: GPL-2.0
/*
 * Model-checked stress: threads run random operations on the real mm while a shadow model
 * predicts every page's contents and every call's outcome.
 *
 * Each thread owns a region: 3 chunks of 2 MiB in arena A (plain private anonymous memory)
 * and 1 chunk in arena B. The case runs twice, half the operations each time: in variant
 * `uffd` arena B is registered with a userfaultfd in write-protect mode, so that UFFDIO_MOVE
 * can move into it, and RECLAIM must free nothing anywhere in the mm (6.12's UFFDIO_MOVE
 * cannot take a source table freed under it: Documentation/reclaim.rst); in variant
 * `no_uffd` nothing is registered, UFFDIO_MOVE's share of operations goes to MOVE, and
 * RECLAIM frees tables in both arenas while the other threads work. The chunks are PMD aligned,
 * so no two threads share a PTE table; they do share the VMAs, the mmap and VMA locks, the
 * upper page tables, the anon_vma and the LRU. The model of a thread is exact for its own
 * region, because nothing else writes there; it knows per page:
 *   NONE (no page), ZERO (the shared zero page) or DATA (a page with a tag, 0 for zeros),
 *   whether the page may be shared with a forked child (then a move may be EBUSY), whether it
 *   may belong to a large folio (collapsed: a move may be EBUSY while it is in the swap
 *   cache), and which pages are mprotect'ed read-only (VMA boundaries).
 * Operations (weights in op_table): reads and writes checking and setting tags; MOVE of
 * random ranges (aligned 2 MiB ones too, so whole tables and THPs move; with and without
 * ALLOW_SRC_HOLES and RECLAIM_SRC), invalid MOVEs (misaligned, zero, wrapping, unknown
 * flags, across a VMA boundary, read-only); MOVEV of up to 8 entries; UFFDIO_MOVE; RECLAIM
 * with and without ZEROPAGE; MADV_DONTNEED, MADV_PAGEOUT, MADV_COLLAPSE; mprotect toggles;
 * fork, the child checking its copy of the thread's region against the model.
 * A MOVE's outcome is predicted page by page in ascending order as UFFDIO_MOVE defines it
 * (EEXIST at a populated destination, ENOENT at a source hole, EBUSY at a shared page,
 * EAGAIN with `moved` after progress). Where the kernel may legitimately choose (a page that
 * may be shared because some thread forked meanwhile; ENOENT instead of EEXIST when the
 * source's whole table is empty; whether MADV_COLLAPSE succeeds) the model accepts each
 * allowed outcome and continues from the one observed.
 *
 * Seeded and reproducible per thread: PGMOVE_STRESS_SEED (default: time), PGMOVE_STRESS_OPS
 * (total operations of both variants, default 100000), PGMOVE_STRESS_THREADS (default 4). A mismatch prints
 * the seed, the thread, the operation number, the operation and the thread's last 16
 * operations. `make stress N=...` runs any number and prints operations per second.
 */
#define _GNU_SOURCE
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "pgmove_harness.h"
#include "move_util.h"

#define CHUNK_PAGES 512
#define CHUNKS_A 3
#define CHUNKS_B 1
#define NPAGES ((CHUNKS_A + CHUNKS_B) * CHUNK_PAGES)
#define PAGES_A (CHUNKS_A * CHUNK_PAGES)
#define MAX_THREADS 8
#define LOG_OPS 16

enum pstate { P_NONE, P_ZERO, P_DATA };
#define F_SHARED 1	/* may not be exclusive: a fork happened since it was last proven */
#define F_LARGE 2	/* may be part of a large folio (MADV_COLLAPSE made one) */
#define F_MAYBE_GONE 4	/* ZERO or zero-filled DATA that a RECLAIM with ZEROPAGE may have zapped */

struct mpage {
	uint64_t tag;	/* P_DATA: the tag written, 0 for a zero-filled page */
	uint8_t state;
	uint8_t flags;
};

/* An operation's outcome as the kernel reported it. */
struct outcome {
	int ret, err;
	long long moved;
};

struct worker {
	int id;
	uint64_t rng;
	long ops, max_ops;
	char *a, *b;			/* this thread's part of arena A and of arena B */
	struct mpage m[NPAGES];		/* the model */
	struct mpage sim[NPAGES];	/* scratch copy for predictions */
	bool ro[NPAGES];		/* mprotect'ed read-only */
	int ro_first, ro_n;		/* the read-only range, if ro_n */
	uint64_t last_gen;		/* fork generation seen by the last operation */
	uint64_t next_tag;
	char log[LOG_OPS][160];
	long counts[16];
	long moved_pages, ebusy_tolerated, collapses, zero_remapped;
	long outcomes[5];		/* moves: complete, partial, EEXIST, ENOENT, other errors */
	char failure[1024];
};

static struct {
	int fd, uffd, pagemap;
	uint64_t zero_pfn;	/* the shared zero page's PFN */
	char *arena_a, *arena_b;
	bool registered;	/* arena B is registered with the userfaultfd (variant uffd) */
	int nthreads;
	unsigned long long seed;
	atomic_bool stop;
	atomic_ulong fork_gen;	/* odd while a fork is in progress */
	atomic_long forks;
} g;

enum op { OP_READ, OP_WRITE, OP_MOVE, OP_MOVE_BAD, OP_MOVEV, OP_UFFD_MOVE, OP_DONTNEED,
	  OP_PAGEOUT, OP_COLLAPSE, OP_RECLAIM, OP_MPROTECT, OP_FORK, NOPS };
static const char *const op_names[NOPS] = {
	"read", "write", "move", "move-invalid", "movev", "uffdio-move", "dontneed",
	"pageout", "collapse", "reclaim", "mprotect", "fork",
};
/* Weights out of 10000. */
static const int op_weight[NOPS] = { 2000, 1900, 2300, 400, 700, 600, 700, 450, 60, 600,
				     287, 3 };

static uint64_t rnd64(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng * 0x2545f4914f6cdd1dULL;
}

static unsigned long rnd(struct worker *w, unsigned long n)
{
	return rnd64(w) % n;
}

static char *addr_of(struct worker *w, int i)
{
	return i < PAGES_A ? w->a + (unsigned long)i * PAGE : w->b + (unsigned long)(i - PAGES_A) * PAGE;
}

static int part_of(int i)
{
	return i >= PAGES_A;
}

static void note(struct worker *w, const char *fmt, ...)
{
	va_list ap;
	char *slot = w->log[w->ops % LOG_OPS];

	va_start(ap, fmt);
	vsnprintf(slot, sizeof(w->log[0]), fmt, ap);
	va_end(ap);
}

static bool fail(struct worker *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->failure[0])
		return false;
	n = snprintf(w->failure, sizeof(w->failure), "seed %llu thread %d op %ld (%s): ",
		     g.seed, w->id, w->ops, w->log[w->ops % LOG_OPS]);
	va_start(ap, fmt);
	vsnprintf(w->failure + n, sizeof(w->failure) - n, fmt, ap);
	va_end(ap);
	atomic_store(&g.stop, true);
	return false;
}

/* Page contents: a tag (never 0 for a written page), its complement, a checksum. */
static void write_tag(char *p, uint64_t tag)
{
	uint64_t *q = (uint64_t *)p;

	q[0] = tag;
	q[1] = ~tag;
	q[PAGE / 8 - 1] = tag * 31 + 7;
}

static bool page_holds(const char *p, uint64_t tag)
{
	const uint64_t *q = (const uint64_t *)p;

	if (!tag)
		return !q[0] && !q[1] && !q[PAGE / 8 - 1] && !q[PAGE / 16];
	return q[0] == tag && q[1] == ~tag && q[PAGE / 8 - 1] == tag * 31 + 7;
}

static uint64_t expected_tag(const struct mpage *mp)
{
	return mp->state == P_DATA ? mp->tag : 0;
}

/* All pages of i's 2 MiB chunk are NONE in the model m. */
static bool chunk_all(const struct mpage *m, int i, bool zero_too)
{
	int c = i / CHUNK_PAGES * CHUNK_PAGES;

	for (int k = c; k < c + CHUNK_PAGES; k++)
		if (m[k].state != P_NONE && !(zero_too && m[k].state == P_ZERO))
			return false;
	return true;
}

/* Whether any page of i's 2 MiB chunk has one of flags. */
static bool chunk_any(const struct mpage *m, int i, int flags)
{
	int c = i / CHUNK_PAGES * CHUNK_PAGES;

	for (int k = c; k < c + CHUNK_PAGES; k++)
		if (m[k].flags & flags)
			return true;
	return false;
}

static void mark_all_shared(struct worker *w)
{
	for (int i = 0; i < NPAGES; i++)
		if (w->m[i].state == P_DATA)
			w->m[i].flags |= F_SHARED;
}

/* ---- MOVE: prediction ---------------------------------------------------------------- */

/*
 * Whether a move of n pages from s to d (page indices of this thread) passes the VMA
 * checks: each range inside one VMA (same part, same protection throughout), the same
 * protection at both ends, writable; for UFFDIO_MOVE the destination registered (part B).
 */
static bool vmas_qualify(struct worker *w, int d, int s, int n, bool uffd)
{
	if (part_of(s) != part_of(s + n - 1) || part_of(d) != part_of(d + n - 1))
		return false;
	for (int k = 1; k < n; k++)
		if (w->ro[s + k] != w->ro[s] || w->ro[d + k] != w->ro[d])
			return false;
	if (w->ro[s] || w->ro[d])
		return false;
	return !uffd || part_of(d) == 1;
}

/*
 * Checks the outcome o of a move of n pages from s to d against the model, and applies
 * it. holes: ALLOW_SRC_HOLES. overlap: a fork ran during the call (any DATA page may then
 * be found shared). uffd: UFFDIO_MOVE, whose `move` field is only checked on EAGAIN.
 */
static bool check_move(struct worker *w, int d, int s, int n, bool holes, bool uffd,
		       bool overlap, const struct outcome *o)
{
	int stop = n, err = 0, alt = 0, obs;
	bool may_busy[CHUNK_PAGES * 4];

	if (!vmas_qualify(w, d, s, n, uffd)) {
		if (o->ret != -1 || o->err != EINVAL || (!uffd && o->moved != -EINVAL))
			return fail(w, "expected EINVAL (VMA checks), got ret %d %s moved %lld",
				    o->ret, strerror(o->err), o->moved);
		return true;
	}
	memcpy(w->sim, w->m, sizeof(w->sim));
	for (int k = 0; k < n; k++) {
		struct mpage *sp = &w->sim[s + k], *dp = &w->sim[d + k];

		may_busy[k] = false;
		if (dp->state != P_NONE) {
			err = EEXIST;
			/* A source PMD with no table is ENOENT before the destination is looked at. */
			if (sp->state == P_NONE && !holes && chunk_all(w->sim, s + k, false))
				alt = ENOENT;
			/*
			 * So is a shared PMD-mapped THP EBUSY (it would have to be split first):
			 * the kernel asks its head page, so any page of the chunk may tell.
			 */
			if (sp->state == P_DATA && (sp->flags & F_LARGE) &&
			    (overlap || chunk_any(w->m, s + k, F_SHARED)))
				alt = EBUSY;
		} else if (sp->state == P_NONE) {
			if (holes)
				continue;
			err = ENOENT;
		} else {
			may_busy[k] = sp->state == P_DATA &&
				      (overlap || (sp->flags & (F_SHARED | F_LARGE)));
			*dp = *sp;
			memset(sp, 0, sizeof(*sp));
			continue;
		}
		stop = k;
		break;
	}
	/* The observed stop. */
	if (o->ret == 0) {
		obs = n;
		if (!uffd && o->moved != (long long)n * PAGE)
			return fail(w, "success with moved %lld, not %d pages", o->moved, n);
	} else if (o->err == EAGAIN) {
		if (o->moved <= 0 || o->moved >= (long long)n * PAGE || o->moved % PAGE)
			return fail(w, "EAGAIN with moved %lld of %d pages", o->moved, n);
		obs = o->moved / PAGE;
	} else {
		obs = 0;
		if (!uffd && o->moved != -o->err)
			return fail(w, "%s with moved %lld", strerror(o->err), o->moved);
	}
	if (obs == stop) {
		bool ok = stop == n ? o->ret == 0 :
			  stop > 0 ? o->err == EAGAIN : (o->err == err || (alt && o->err == alt));
		if (!ok) {
			const struct mpage *sp = &w->m[s + stop], *dp = &w->m[d + stop];
			uint64_t se = pagemap_entry(addr_of(w, s + stop));
			uint64_t de = pagemap_entry(addr_of(w, d + stop));

			return fail(w, "predicted %d of %d pages then %s (or %s); got ret %d %s moved %lld "
				    "(src page %d: state %d flags %d, pagemap %#llx%s; dst page %d: "
				    "state %d flags %d, pagemap %#llx)",
				    stop, n, strerror(err), alt ? strerror(alt) : "-", o->ret,
				    strerror(o->err), o->moved, s + stop, sp->state, sp->flags,
				    (unsigned long long)se,
				    (se & PM_PRESENT) && is_thp(addr_of(w, s + stop)) ? " THP" : "",
				    d + stop, dp->state, dp->flags, (unsigned long long)de);
		}
	} else if (obs < stop && may_busy[obs] && o->err == (obs ? EAGAIN : EBUSY)) {
		w->ebusy_tolerated++;
	} else {
		return fail(w, "predicted %d of %d pages then %s; got ret %d %s moved %lld (page %d: state %d flags %d)",
			    stop, n, err ? strerror(err) : "success", o->ret, strerror(o->err), o->moved,
			    obs, obs < n ? w->m[s + obs].state : -1, obs < n ? w->m[s + obs].flags : -1);
	}
	w->outcomes[o->ret == 0 ? 0 : o->err == EAGAIN ? 1 : o->err == EEXIST ? 2 :
		    o->err == ENOENT ? 3 : 4]++;
	/* Apply the first obs steps to the model. */
	for (int k = 0; k < obs; k++) {
		struct mpage *sp = &w->m[s + k], *dp = &w->m[d + k];

		if (sp->state == P_NONE)
			continue;	/* a hole, skipped */
		*dp = *sp;
		if (!overlap)
			dp->flags &= ~F_SHARED;	/* it moved: it was exclusive */
		memset(sp, 0, sizeof(*sp));
		w->moved_pages++;
	}
	return true;
}

/* ---- operations -------------------------------------------------------------------- */

/* A random range of n pages in one part; 2 MiB aligned chunks now and then. */
static int pick_range(struct worker *w, int *n_io, int part)
{
	int base = part ? PAGES_A : 0, size = part ? CHUNKS_B * CHUNK_PAGES : PAGES_A;
	unsigned long r = rnd(w, 100);
	int n;

	if (r < 85) {
		n = r < 60 ? 1 + rnd(w, 16) : 17 + rnd(w, 112);
	} else if (r < 95) {
		/* a whole chunk: whole tables and THPs move, tables are reclaimed */
		*n_io = CHUNK_PAGES;
		return base + rnd(w, size / CHUNK_PAGES) * CHUNK_PAGES;
	} else {
		n = 1 + rnd(w, size);
	}
	*n_io = n;
	return base + rnd(w, size - n + 1);
}

static int pick_part(struct worker *w)
{
	return rnd(w, 4) == 0;
}

static bool op_read(struct worker *w)
{
	int n, i = pick_range(w, &n, pick_part(w));

	if (n > 32)
		n = 32;
	note(w, "read %d+%d", i, n);
	for (int k = i; k < i + n; k++) {
		struct mpage *mp = &w->m[k];

		if (!page_holds(addr_of(w, k), expected_tag(mp)))
			return fail(w, "page %d holds %#llx, the model says %#llx (state %d flags %d)",
				    k, (unsigned long long)*(uint64_t *)addr_of(w, k),
				    (unsigned long long)expected_tag(mp), mp->state, mp->flags);
		if (mp->state == P_NONE)
			mp->state = P_ZERO;	/* a read fault maps the zero page */
	}
	return true;
}

static bool op_write(struct worker *w)
{
	int n, i = pick_range(w, &n, pick_part(w));

	if (n > 32)
		n = 32;
	note(w, "write %d+%d", i, n);
	for (int k = i; k < i + n; k++) {
		struct mpage *mp = &w->m[k];

		if (w->ro[k])
			continue;
		mp->tag = w->next_tag++;
		write_tag(addr_of(w, k), mp->tag);
		if (mp->state != P_DATA)
			mp->flags = 0;			/* a new small page */
		mp->state = P_DATA;
		mp->flags &= ~F_SHARED;	/* written: exclusive (re-marked if a fork overlapped) */
	}
	return true;
}

static unsigned long long move_flags(struct worker *w, bool *holes)
{
	unsigned long long f = 0;

	*holes = rnd(w, 3) == 0;
	if (*holes)
		f |= PGMOVE_MOVE_ALLOW_SRC_HOLES;
	if (rnd(w, 8) == 0)
		f |= PGMOVE_MOVE_RECLAIM_SRC;
	return f;
}

static void pick_move(struct worker *w, int *d, int *s, int *n)
{
	int ps = pick_part(w), pd = rnd(w, 2) ? ps : pick_part(w);

	*s = pick_range(w, n, ps);
	if (pd == ps && rnd(w, 4) == 0) {
		/* overlapping: a few pages away from the source */
		int lo = ps ? PAGES_A : 0, hi = ps ? NPAGES : PAGES_A;
		int dd = *s + (int)rnd(w, 9) - 4;

		if (dd >= lo && dd + *n <= hi) {
			*d = dd;
			return;
		}
	}
	if (rnd(w, 2)) {
		/* Half of the moves look for an empty destination, so that most of them move. */
		int lo = pd ? PAGES_A : 0, size = pd ? CHUNKS_B * CHUNK_PAGES : PAGES_A;

		for (int tries = 0; *n <= size && tries < 8; tries++) {
			int dd = *n == CHUNK_PAGES ? lo + rnd(w, size / CHUNK_PAGES) * CHUNK_PAGES :
				 lo + rnd(w, size - *n + 1);
			int k = 0;

			while (k < *n && w->m[dd + k].state == P_NONE)
				k++;
			if (k == *n) {
				*d = dd;
				goto out;
			}
		}
	}
	if (*n == CHUNK_PAGES)
		*d = (pd ? PAGES_A : 0) + rnd(w, pd ? CHUNKS_B : CHUNKS_A) * CHUNK_PAGES;
	else {
		int lo = pd ? PAGES_A : 0, size = pd ? CHUNKS_B * CHUNK_PAGES : PAGES_A;

		if (*n > size)
			*n = size;
		*d = lo + rnd(w, size - *n + 1);
	}
out:
	if (*s + *n > (ps ? NPAGES : PAGES_A))
		*n = (ps ? NPAGES : PAGES_A) - *s;
}

static bool op_move(struct worker *w, bool uffd, bool *overlap)
{
	int d, s, n;
	bool holes;
	unsigned long long f = move_flags(w, &holes);
	struct move_res r;
	uint64_t g0 = atomic_load(&g.fork_gen);

	pick_move(w, &d, &s, &n);
	note(w, "%s %d <- %d +%d flags %#llx", uffd ? "uffdio-move" : "move", d, s, n,
	     uffd ? (holes ? (unsigned long long)UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0) : f);
	if (uffd)
		r = uffd_do_move(g.uffd, (unsigned long)addr_of(w, d), (unsigned long)addr_of(w, s),
				 (unsigned long)n * PAGE, holes ? UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES : 0);
	else
		r = pgmove_do_move(g.fd, (unsigned long)addr_of(w, d), (unsigned long)addr_of(w, s),
				   (unsigned long)n * PAGE, f);
	*overlap |= atomic_load(&g.fork_gen) != g0 || (g0 & 1);
	return check_move(w, d, s, n, holes, uffd, *overlap,
			  &(struct outcome){ r.ret, r.err, r.moved });
}

/* MOVEs that must fail before looking at any page: EINVAL with moved = -EINVAL. */
static bool op_move_bad(struct worker *w)
{
	unsigned long dst = (unsigned long)addr_of(w, rnd(w, PAGES_A - 1));
	unsigned long src = (unsigned long)addr_of(w, rnd(w, PAGES_A - 1));
	unsigned long len = PAGE;
	unsigned long long f = 0;
	int kind = rnd(w, 6);
	struct move_res r;

	switch (kind) {
	case 0: dst += 1 + rnd(w, PAGE - 1); break;
	case 1: src += 1 + rnd(w, PAGE - 1); break;
	case 2: len = rnd(w, 2) ? 0 : 1 + rnd(w, PAGE - 1); break;
	case 3: src = -PAGE * (1 + rnd(w, 4)); len = 8 * PAGE; break;	/* wraps */
	case 4: f = 1ULL << (2 + rnd(w, 62)); break;			/* unknown flag */
	case 5: src = 0x00fffffffffff000UL - PAGE * rnd(w, 2); len = 4 * PAGE; break; /* past TASK_SIZE, 5-level too */
	}
	note(w, "move-invalid kind %d dst %#lx src %#lx len %#lx flags %#llx", kind, dst, src, len, f);
	r = pgmove_do_move(g.fd, dst, src, len, f);
	if (r.ret != -1 || r.err != EINVAL || r.moved != -EINVAL)
		return fail(w, "expected EINVAL with moved -EINVAL, got ret %d %s moved %lld", r.ret,
			    strerror(r.err), r.moved);
	return true;
}

static bool op_movev(struct worker *w, bool *overlap)
{
	struct pgmove_move m[8];
	int dd[8], ss[8], nn[8];
	bool hh[8];
	int cnt = 1 + rnd(w, 8), ret, err;
	struct pgmove_movev v = { .moves = (uintptr_t)m, .completed = ~0ULL };
	uint64_t g0 = atomic_load(&g.fork_gen);

	for (int e = 0; e < cnt; e++) {
		unsigned long long f = move_flags(w, &hh[e]);

		pick_move(w, &dd[e], &ss[e], &nn[e]);
		if (nn[e] > 64)
			nn[e] = 64;
		m[e] = (struct pgmove_move){ .dst = (uintptr_t)addr_of(w, dd[e]),
					     .src = (uintptr_t)addr_of(w, ss[e]),
					     .len = (unsigned long)nn[e] * PAGE, .flags = f,
					     .moved = MOVED_UNSET };
	}
	v.count = cnt;
	note(w, "movev %d entries, first %d <- %d +%d", cnt, dd[0], ss[0], nn[0]);
	ret = ioctl(g.fd, PGMOVE_IOC_MOVEV, &v);
	err = ret ? errno : 0;
	*overlap |= atomic_load(&g.fork_gen) != g0 || (g0 & 1);
	if (v.completed > (unsigned long long)cnt || (ret == 0) != (v.completed == (unsigned long long)cnt))
		return fail(w, "MOVEV ret %d %s completed %llu of %d", ret, strerror(err),
			    (unsigned long long)v.completed, cnt);
	for (int e = 0; e < cnt; e++) {
		struct outcome o = { 0, 0, m[e].moved };

		if ((unsigned long long)e > v.completed) {
			if (m[e].moved != MOVED_UNSET)
				return fail(w, "MOVEV entry %d after the stop was written", e);
			continue;
		}
		if ((unsigned long long)e == v.completed) {
			o.ret = -1;
			o.err = err;
		}
		note(w, "movev entry %d/%d: %d <- %d +%d flags %#llx", e, cnt, dd[e], ss[e], nn[e],
		     (unsigned long long)m[e].flags);
		if (!check_move(w, dd[e], ss[e], nn[e], hh[e], false, *overlap, &o))
			return false;
	}
	return true;
}

static bool op_dontneed(struct worker *w)
{
	int n, i = pick_range(w, &n, pick_part(w));

	note(w, "dontneed %d+%d", i, n);
	if (madvise(addr_of(w, i), (unsigned long)n * PAGE, MADV_DONTNEED))
		return fail(w, "MADV_DONTNEED: %s", strerror(errno));
	memset(&w->m[i], 0, n * sizeof(w->m[0]));
	return true;
}

static bool op_pageout(struct worker *w)
{
	int n, i = pick_range(w, &n, pick_part(w));

	note(w, "pageout %d+%d", i, n);
	madvise(addr_of(w, i), (unsigned long)n * PAGE, MADV_PAGEOUT);	/* best effort */
	return true;
}

static bool op_collapse(struct worker *w, bool *overlap)
{
	int c = rnd(w, CHUNKS_A + CHUNKS_B) * CHUNK_PAGES;
	uint64_t g0 = atomic_load(&g.fork_gen);
	int ret, err;

	note(w, "collapse %d", c);
	ret = madvise(addr_of(w, c), PMD, MADV_COLLAPSE);
	err = ret ? errno : 0;
	*overlap |= atomic_load(&g.fork_gen) != g0 || (g0 & 1);
	if (ret) {
		/* Allowed to fail (no THP to be had, a page busy): nothing changed. */
		if (err != EAGAIN && err != EINVAL && err != ENOMEM && err != EBUSY)
			return fail(w, "MADV_COLLAPSE: %s", strerror(err));
		return true;
	}
	/*
	 * A chunk split into several VMAs (by the read-only range) is no whole 2 MiB of any
	 * of them: madvise_collapse() then has nothing to do and returns 0.
	 */
	for (int k = c + 1; k < c + CHUNK_PAGES; k++)
		if (w->ro[k] != w->ro[c])
			return true;
	w->collapses++;
	/*
	 * A chunk that already was a PMD-mapped THP is left as it is (MADV_COLLAPSE succeeds
	 * with nothing to do), shared with a child if it was: F_SHARED stays on every page of
	 * a chunk where any page had it. (A new THP would be exclusive; keeping the flag only
	 * makes EBUSY acceptable where it would not occur.)
	 */
	bool shared = false;

	for (int k = c; k < c + CHUNK_PAGES; k++)
		shared |= w->m[k].flags & F_SHARED;
	for (int k = c; k < c + CHUNK_PAGES; k++) {
		struct mpage *mp = &w->m[k];

		if (mp->state != P_DATA)
			mp->tag = 0;
		mp->state = P_DATA;
		mp->flags = F_LARGE | (shared ? F_SHARED : 0);
	}
	return true;
}

static bool op_reclaim(struct worker *w)
{
	int part = pick_part(w), n, i = pick_range(w, &n, part);
	bool zp = rnd(w, 2);
	struct reclaim_res r;

	note(w, "reclaim %d+%d%s", i, n, zp ? " zeropage" : "");
	r = pgmove_do_reclaim(g.fd, addr_of(w, i), (unsigned long)n * PAGE,
			      zp ? PGMOVE_RECLAIM_ZEROPAGE : 0);
	if (r.ret)
		return fail(w, "RECLAIM: %s", strerror(r.err));
	if (r.r.scanned != r.r.freed + r.r.busy + r.r.ineligible)
		return fail(w, "RECLAIM: scanned %llu != freed %llu + busy %llu + ineligible %llu",
			    r.r.scanned, r.r.freed, r.r.busy, r.r.ineligible);
	if (g.registered) {
		/* An mm with a userfaultfd-registered VMA: every table is ineligible. */
		if (r.r.freed || r.r.ineligible != r.r.scanned)
			return fail(w, "RECLAIM in an mm with a userfaultfd-registered VMA: "
				    "freed %llu, ineligible %llu of %llu", r.r.freed,
				    r.r.ineligible, r.r.scanned);
		return true;
	}
	if (r.r.ineligible)
		return fail(w, "RECLAIM found %llu ineligible tables in arena %c", r.r.ineligible,
			    part ? 'B' : 'A');
	if (!zp)
		return true;
	/*
	 * The zero pages of a chunk holding nothing else are zapped with its table. Zero-filled
	 * pages of a collapsed THP may have become zero pages meanwhile (see check_pagemap()):
	 * where the chunk has such pages the outcome is left to the page tables to tell.
	 */
	for (int c = i / CHUNK_PAGES * CHUNK_PAGES; c < i + n; c += CHUNK_PAGES) {
		bool maybe = false, other = false;

		for (int k = c; k < c + CHUNK_PAGES; k++) {
			const struct mpage *mp = &w->m[k];

			if (mp->state == P_DATA && !mp->tag && (mp->flags & F_LARGE))
				maybe = true;
			else if (mp->state == P_DATA)
				other = true;
		}
		if (other)
			continue;
		for (int k = c; k < c + CHUNK_PAGES; k++) {
			if (maybe && w->m[k].state != P_NONE)
				w->m[k].flags |= F_MAYBE_GONE;
			else if (!maybe)
				w->m[k].state = P_NONE;
		}
	}
	return true;
}

static bool op_mprotect(struct worker *w)
{
	if (w->ro_n) {
		note(w, "mprotect rw %d+%d", w->ro_first, w->ro_n);
		if (mprotect(addr_of(w, w->ro_first), (unsigned long)w->ro_n * PAGE,
			     PROT_READ | PROT_WRITE))
			return fail(w, "mprotect RW: %s", strerror(errno));
		memset(&w->ro[w->ro_first], 0, w->ro_n);
		w->ro_n = 0;
		return true;
	}
	w->ro_first = pick_range(w, &w->ro_n, pick_part(w));
	note(w, "mprotect ro %d+%d", w->ro_first, w->ro_n);
	if (mprotect(addr_of(w, w->ro_first), (unsigned long)w->ro_n * PAGE, PROT_READ))
		return fail(w, "mprotect RO: %s", strerror(errno));
	memset(&w->ro[w->ro_first], 1, w->ro_n);
	return true;
}

/* The child checks its copy of this thread's region against the model, then exits. */
static bool op_fork(struct worker *w)
{
	int status;
	pid_t pid;

	note(w, "fork");
	atomic_fetch_add(&g.fork_gen, 1);
	pid = fork();
	if (pid == 0) {
		for (int k = 0; k < NPAGES; k++)
			if (!page_holds(addr_of(w, k), expected_tag(&w->m[k])))
				_exit(100 + (k & 127));
		_exit(0);
	}
	atomic_fetch_add(&g.fork_gen, 1);
	if (pid < 0)
		return fail(w, "fork: %s", strerror(errno));
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return fail(w, "the forked child saw other contents than the model (status %#x)", status);
	atomic_fetch_add(&g.forks, 1);
	return true;
}

/*
 * After every operation: what /proc/self/pagemap shows of the region agrees with the model.
 * none: neither present nor swapped; ZERO: present, the zero page's PFN; DATA: swapped (or
 * a migration entry), or present with another PFN.
 */
static bool check_pagemap(struct worker *w)
{
	static __thread uint64_t e[NPAGES];

	if (pread(g.pagemap, e, PAGES_A * 8, (uintptr_t)w->a / PAGE * 8) != PAGES_A * 8 ||
	    pread(g.pagemap, e + PAGES_A, (NPAGES - PAGES_A) * 8, (uintptr_t)w->b / PAGE * 8) !=
		    (NPAGES - PAGES_A) * 8)
		return fail(w, "pagemap: %s", strerror(errno));
	for (int k = 0; k < NPAGES; k++) {
		int st = e[k] & PM_SWAP ? P_DATA : !(e[k] & PM_PRESENT) ? P_NONE :
			 PM_PFN(e[k]) == g.zero_pfn ? P_ZERO : P_DATA;

		struct mpage *mp = &w->m[k];
		bool zero_data = mp->state == P_DATA && !mp->tag && (mp->flags & F_LARGE);

		/*
		 * Splitting a THP maps its zero-filled subpages to the shared zero page (6.12's
		 * RMP_USE_SHARED_ZEROPAGE); the deferred-split shrinker does it to underused
		 * THPs at any time. After a RECLAIM with ZEROPAGE such pages may be gone.
		 */
		if (st == P_ZERO && zero_data) {
			*mp = (struct mpage){ .state = P_ZERO };
			w->zero_remapped++;
		} else if (st == P_NONE && (mp->flags & F_MAYBE_GONE)) {
			*mp = (struct mpage){ .state = P_NONE };
		}
		mp->flags &= ~F_MAYBE_GONE;
		if (st != w->m[k].state)
			return fail(w, "after it, page %d is %s in the page tables, %s in the model (pagemap %#llx)",
				    k, (const char *[]){ "none", "the zero page", "a page" }[st],
				    (const char *[]){ "none", "the zero page", "a page" }[w->m[k].state],
				    (unsigned long long)e[k]);
	}
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->last_gen = atomic_load(&g.fork_gen);
	for (w->ops = 0; w->ops < w->max_ops && !atomic_load(&g.stop); w->ops++) {
		int pick = rnd(w, 10000), op = 0;
		uint64_t g0 = atomic_load(&g.fork_gen);
		bool overlap = false, ok;

		if (w->id == 0)
			pgmove_progress("thread 0: %ld of %ld operations", w->ops, w->max_ops);
		while (pick >= op_weight[op])
			pick -= op_weight[op++];
		if (g0 != w->last_gen || (g0 & 1))
			mark_all_shared(w);	/* a fork happened since the last operation */
		switch (op) {
		case OP_READ: ok = op_read(w); break;
		case OP_WRITE: ok = op_write(w); break;
		case OP_MOVE: ok = op_move(w, false, &overlap); break;
		case OP_MOVE_BAD: ok = op_move_bad(w); break;
		case OP_MOVEV: ok = op_movev(w, &overlap); break;
		case OP_UFFD_MOVE: ok = op_move(w, g.registered, &overlap); break;
		case OP_DONTNEED: ok = op_dontneed(w); break;
		case OP_PAGEOUT: ok = op_pageout(w); break;
		case OP_COLLAPSE: ok = op_collapse(w, &overlap); break;
		case OP_RECLAIM: ok = op_reclaim(w); break;
		case OP_MPROTECT: ok = op_mprotect(w); break;
		default: ok = op_fork(w); break;
		}
		if (!ok || !check_pagemap(w))
			break;
		w->counts[op]++;
		w->last_gen = atomic_load(&g.fork_gen);
		if (overlap || w->last_gen != g0)
			mark_all_shared(w);
	}
	/* Final check of every page (reading holes maps zero pages: nothing follows). */
	for (int k = 0; k < NPAGES && !w->failure[0]; k++)
		if (!page_holds(addr_of(w, k), expected_tag(&w->m[k])))
			fail(w, "final check: page %d holds %#llx, the model says %#llx (state %d)", k,
			     (unsigned long long)*(uint64_t *)addr_of(w, k),
			     (unsigned long long)expected_tag(&w->m[k]), w->m[k].state);
	return NULL;
}

/* The zero page's PFN: what reading untouched memory maps (0 if pagemap hides PFNs). */
static uint64_t zero_page_pfn(void)
{
	char *z = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t pfn;

	if (z == MAP_FAILED || *(volatile char *)z)
		return 0;
	pfn = PM_PFN(pagemap_entry(z));
	munmap(z, PAGE);
	return pfn;
}

static unsigned long long env_num(const char *name, unsigned long long dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* A PMD-aligned arena of len bytes. */
static char *map_arena(unsigned long len)
{
	char *p = mmap(NULL, len + PMD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	return (char *)(((unsigned long)p + PMD - 1) & ~(PMD - 1));
}

/*
 * THP must not come from faults (the model predicts 4 kB zero pages and pages), only from
 * MADV_COLLAPSE, which ignores these settings: "always" anywhere is turned to "madvise"
 * (top level) or "never" (a size) for the test.
 */
struct thp_knob {
	char path[128];
	char saved[16];
};

static int thp_knobs_fix(struct thp_knob *k, int max)
{
	static const char *const sizes[] = { "16", "32", "64", "128", "256", "512", "1024", "2048" };
	int n = 0;

	for (int i = -1; i < (int)(sizeof(sizes) / sizeof(sizes[0])) && n < max; i++) {
		char buf[128];

		if (i < 0)
			snprintf(k[n].path, sizeof(k[n].path), "/sys/kernel/mm/transparent_hugepage/enabled");
		else
			snprintf(k[n].path, sizeof(k[n].path),
				 "/sys/kernel/mm/transparent_hugepage/hugepages-%skB/enabled", sizes[i]);
		if (read_file(k[n].path, buf, sizeof(buf)) || !strstr(buf, "[always]"))
			continue;
		strcpy(k[n].saved, "always");
		if (write_file(k[n].path, i < 0 ? "madvise" : "never"))
			return -1;
		n++;
	}
	return n;
}

FIXTURE(model) {};
FIXTURE_SETUP(model) {}
FIXTURE_TEARDOWN(model) {}
FIXTURE_VARIANT(model) {
	bool uffd;	/* arena B registered with a userfaultfd: UFFDIO_MOVE on, RECLAIM frees nothing */
};
FIXTURE_VARIANT_ADD(model, uffd) { .uffd = true };
FIXTURE_VARIANT_ADD(model, no_uffd) { .uffd = false };

/* The timeout follows the number of operations asked for: see main(). */
TEST_F_TIMEOUT(model, checked_random_operations, 30)
{
	unsigned long long total = env_num("PGMOVE_STRESS_OPS", 100000) / 2;
	struct worker *w[MAX_THREADS];
	pthread_t t[MAX_THREADS];
	struct thp_knob knobs[9];
	struct uffdio_register reg;
	struct timespec t0, t1;
	long counts[NOPS] = { 0 }, moved = 0, tolerated = 0, collapses = 0, done = 0, remapped = 0;
	long outcomes[5] = { 0 };
	int nknobs;
	double secs;

	g.seed = env_num("PGMOVE_STRESS_SEED", (unsigned long long)time(NULL));
	g.nthreads = env_num("PGMOVE_STRESS_THREADS", 4);
	ASSERT_GE(g.nthreads, 1);
	ASSERT_LE(g.nthreads, MAX_THREADS);
	TH_LOG("seed %llu, %llu operations, %d threads (PGMOVE_STRESS_SEED, _OPS, _THREADS)",
	       g.seed, total, g.nthreads);
	g.fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(g.fd, 0);
	g.pagemap = open("/proc/self/pagemap", O_RDONLY);
	ASSERT_GE(g.pagemap, 0);
	g.zero_pfn = zero_page_pfn();
	ASSERT_NE(0, g.zero_pfn) TH_LOG("pagemap shows no PFNs (not root?)");
	g.registered = variant->uffd;
	g.uffd = -1;
	if (g.registered) {
		g.uffd = uffd_open();
		if (g.uffd < 0)
			SKIP(return, "no userfaultfd with UFFD_FEATURE_MOVE");
	}
	nknobs = thp_knobs_fix(knobs, 9);
	ASSERT_GE(nknobs, 0) TH_LOG("could not keep THP from page faults");

	g.arena_a = map_arena((unsigned long)g.nthreads * CHUNKS_A * PMD);
	g.arena_b = map_arena((unsigned long)g.nthreads * CHUNKS_B * PMD);
	ASSERT_NE(NULL, g.arena_a);
	ASSERT_NE(NULL, g.arena_b);
	/*
	 * Give each arena its anon_vma before any thread splits it with mprotect: pieces split
	 * off later share it, so they merge again when the protection is restored. (Pieces that
	 * got anon_vmas of their own by racing first faults would stay separate VMAs.)
	 */
	*(volatile char *)g.arena_a = 1;
	*(volatile char *)g.arena_b = 1;
	ASSERT_EQ(0, madvise(g.arena_a, PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, madvise(g.arena_b, PAGE, MADV_DONTNEED));
	reg = (struct uffdio_register){ .range = { .start = (uintptr_t)g.arena_b,
						   .len = (unsigned long)g.nthreads * CHUNKS_B * PMD },
					.mode = UFFDIO_REGISTER_MODE_WP };
	if (g.registered)
		ASSERT_EQ(0, ioctl(g.uffd, UFFDIO_REGISTER, &reg))
			TH_LOG("UFFDIO_REGISTER: %s", strerror(errno));

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < g.nthreads; i++) {
		w[i] = calloc(1, sizeof(*w[i]));
		ASSERT_NE(NULL, w[i]);
		w[i]->id = i;
		w[i]->rng = (g.seed + 1) * 0x9e3779b97f4a7c15ULL + (i + 1) * 0xbf58476d1ce4e5b9ULL;
		w[i]->max_ops = total / g.nthreads;
		w[i]->a = g.arena_a + (unsigned long)i * CHUNKS_A * PMD;
		w[i]->b = g.arena_b + (unsigned long)i * CHUNKS_B * PMD;
		w[i]->next_tag = ((uint64_t)(i + 1) << 48) | 1;
		ASSERT_EQ(0, pthread_create(&t[i], NULL, worker_main, w[i]));
	}
	for (int i = 0; i < g.nthreads; i++)
		pthread_join(t[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;

	for (int i = 0; i < nknobs; i++)
		write_file(knobs[i].path, knobs[i].saved);
	for (int i = 0; i < g.nthreads; i++) {
		if (w[i]->failure[0]) {
			TH_LOG("MISMATCH %s", w[i]->failure);
			TH_LOG("thread %d's last operations, oldest first:", i);
			for (long k = w[i]->ops - LOG_OPS + 1; k <= w[i]->ops; k++)
				if (k >= 0)
					TH_LOG("  op %ld: %s", k, w[i]->log[k % LOG_OPS]);
		}
		EXPECT_EQ(0, w[i]->failure[0]);
		for (int o = 0; o < NOPS; o++)
			counts[o] += w[i]->counts[o];
		done += w[i]->ops;
		moved += w[i]->moved_pages;
		tolerated += w[i]->ebusy_tolerated;
		collapses += w[i]->collapses;
		remapped += w[i]->zero_remapped;
		for (int o = 0; o < 5; o++)
			outcomes[o] += w[i]->outcomes[o];
	}
	for (int o = 0; o < NOPS; o++)
		TH_LOG("%-13s %ld", op_names[o], counts[o]);
	TH_LOG("moves (MOVE, MOVEV entries, UFFDIO_MOVE past the VMA checks): %ld complete, %ld partial, %ld EEXIST, %ld ENOENT, %ld EBUSY or other",
	       outcomes[0], outcomes[1], outcomes[2], outcomes[3], outcomes[4]);
	TH_LOG("%ld operations in %.1f s (%.0f per second), %ld pages moved, %ld forks, %ld collapses, %ld EBUSY on possibly shared pages, %ld zero-filled THP pages remapped to the zero page",
	       done, secs, done / secs, moved, (long)atomic_load(&g.forks), collapses, tolerated,
	       remapped);
	EXPECT_GE(done, (long)(total / g.nthreads * g.nthreads));
}

/*
 * The case's timeout grows with PGMOVE_STRESS_OPS (make stress N=...; each variant runs half
 * of them): 50,000 operations took 57-61 s on the reference machine (Documentation/testing.rst),
 * about 1.2 ms each; MODEL_TIMEOUT_MS_PER_OP is 4 times that, plus 60 s for the setup; then
 * scaled by the calibration like every other case.
 */
#define MODEL_TIMEOUT_MS_PER_OP 5
int main(int argc, char **argv)
{
	unsigned long long ops = env_num("PGMOVE_STRESS_OPS", 100000);

	_model_checked_random_operations_object->timeout = 60 + ops / 2 * MODEL_TIMEOUT_MS_PER_OP / 1000;
	pgmove_harness_setup();
	return test_harness_run(argc, argv);
}
