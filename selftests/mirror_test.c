// SPDX-License-Identifier: GPL-2.0
/*
 * Secondary MMUs: MOVE and RECLAIM tell mmu notifiers what they clear, and handle the PTE
 * kinds a device leaves behind.
 *
 * The secondary MMU is the test kernel's lib/test_hmm (CONFIG_TEST_HMM): /dev/hmm_dmirror0
 * keeps its own copy of the process's page tables, filled by hmm_range_fault() and cleared
 * by its mmu-interval notifier. HMM_DMIRROR_READ reads through that copy and faults only
 * where the copy has no entry. So after a MOVE the mirror must read the source as the CPU
 * does (zeros: a fresh fault), not the page that moved away; after RECLAIM with ZEROPAGE it
 * must see what the CPU wrote since, not the zero page. A missing or short invalidation
 * shows up as the old data.
 *
 * HMM_DMIRROR_MIGRATE_TO_DEV and HMM_DMIRROR_EXCLUSIVE leave device-private and
 * device-exclusive entries in the PTEs: MOVE fails on them exactly as 6.12's UFFDIO_MOVE
 * does (EFAULT, after the pages before them), and RECLAIM keeps their tables.
 */
#define _GNU_SOURCE
#include <test_hmm_uapi.h>

#include "pgmove_harness.h"
#include "move_util.h"

#define DMIRROR_DEV "/dev/hmm_dmirror0"

/* One HMM_DMIRROR_* command on npages from addr; buf is the device side's buffer. */
static int dmirror(int fd, unsigned long request, void *addr, void *buf, unsigned long npages,
		   uint64_t *faults)
{
	struct hmm_dmirror_cmd cmd = { .addr = (uintptr_t)addr, .ptr = (uintptr_t)buf,
				       .npages = npages };
	int ret;

	do
		ret = ioctl(fd, request, &cmd);
	while (ret && errno == EINTR);
	if (ret)
		return -errno;
	if (faults)
		*faults = cmd.faults;
	return (int)cmd.cpages;
}

/* /dev/pgmove (which must open) and the mirror device (-1 when the kernel has none). */
static void open_devices(struct __test_metadata *_metadata, int *fd, int *dmirror)
{
	*fd = open(PGMOVE_DEV, O_RDWR);
	ASSERT_GE(*fd, 0) TH_LOG("open %s: %s", PGMOVE_DEV, strerror(errno));
	*dmirror = open(DMIRROR_DEV, O_RDWR);
}

#define SKIP_WITHOUT_DMIRROR(self)                                                          \
	do {                                                                                \
		if ((self)->dmirror < 0)                                                    \
			SKIP(return, "%s: %s (the kernel lacks CONFIG_TEST_HMM; the debug "  \
				     "test kernel has it)", DMIRROR_DEV, strerror(errno));  \
	} while (0)

static void close_devices(int fd, int dmirror)
{
	close(fd);
	if (dmirror >= 0)
		close(dmirror);
}

FIXTURE(mirror)
{
	int fd;
	int dmirror;
};

FIXTURE_SETUP(mirror)
{
	open_devices(_metadata, &self->fd, &self->dmirror);
	SKIP_WITHOUT_DMIRROR(self);
}

FIXTURE_TEARDOWN(mirror)
{
	close_devices(self->fd, self->dmirror);
}

/* The shapes of a move, one per path of MOVE: each must invalidate what it clears. */
FIXTURE_VARIANT(mirror)
{
	unsigned long pages;
	bool pmd_aligned;	/* both ranges start on a PMD boundary */
	unsigned long dst_off;	/* pages added to the destination's start */
	bool thp;
};

/* Single pages and PTE runs into a destination one page off: no table moves whole. */
FIXTURE_VARIANT_ADD(mirror, unaligned_pages)
{
	.pages = 700, .pmd_aligned = true, .dst_off = 1,
};

/* A PTE run that starts on a PMD boundary but is shorter than a table. */
FIXTURE_VARIANT_ADD(mirror, aligned_run)
{
	.pages = 300, .pmd_aligned = true,
};

/* Whole PTE tables, detached and linked at the destination. */
FIXTURE_VARIANT_ADD(mirror, whole_tables)
{
	.pages = 4 * 512, .pmd_aligned = true,
};

/* PMD-mapped THPs, moved as huge PMDs. */
FIXTURE_VARIANT_ADD(mirror, thps)
{
	.pages = 2 * 512, .pmd_aligned = true, .thp = true,
};

TEST_F(mirror, move_drops_the_source_from_the_mirror)
{
	unsigned long len = variant->pages * PAGE, dlen = len + variant->dst_off * PAGE;
	char *src = map_anon(len, variant->pmd_aligned, variant->thp);
	char *dmap = map_anon(dlen, variant->pmd_aligned, false);
	char *dst = dmap + variant->dst_off * PAGE;
	char *view = malloc(len);
	uint64_t faults;
	struct move_res r;

	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dmap);
	ASSERT_NE(NULL, view);
	fill_pages(src, len, 0x3170);
	if (variant->thp && !is_thp(src))
		SKIP(return, "no THP at the source (THP disabled or memory fragmented)");

	/* The device reads the source: its mirror now maps every source page. */
	ASSERT_EQ((int)variant->pages, dmirror(self->dmirror, HMM_DMIRROR_READ, src, view,
					       variant->pages, &faults));
	ASSERT_EQ(-1, check_pages(view, len, 0x3170)) TH_LOG("the mirror read wrong data");
	ASSERT_EQ((int)variant->pages, dmirror(self->dmirror, HMM_DMIRROR_READ, src, view,
					       variant->pages, &faults));
	ASSERT_EQ(0, faults) TH_LOG("a second read must come from the mirror's own entries");

	r = pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, len, 0);
	ASSERT_EQ(0, r.ret) TH_LOG("errno %d moved %lld", r.err, r.moved);

	/* Every source entry the mirror had is gone: reading faults, and finds none (zeros). */
	memset(view, 0x5a, len);
	ASSERT_EQ((int)variant->pages, dmirror(self->dmirror, HMM_DMIRROR_READ, src, view,
					       variant->pages, &faults));
	ASSERT_TRUE(all_zero(view, len))
		TH_LOG("the mirror still maps pages that moved away from the source");
	ASSERT_LT(0, faults) TH_LOG("the mirror was not invalidated");
	/* The destination reads the same through the mirror as through the CPU. */
	ASSERT_EQ((int)variant->pages, dmirror(self->dmirror, HMM_DMIRROR_READ, dst, view,
					       variant->pages, NULL));
	ASSERT_EQ(-1, check_pages(view, len, 0x3170));
	ASSERT_EQ(-1, check_pages(dst, len, 0x3170));
	free(view);
	munmap(src, len);
	munmap(dmap, dlen);
}

FIXTURE(mirror_reclaim)
{
	int fd;
	int dmirror;
};

FIXTURE_SETUP(mirror_reclaim)
{
	open_devices(_metadata, &self->fd, &self->dmirror);
	SKIP_WITHOUT_DMIRROR(self);
}

FIXTURE_TEARDOWN(mirror_reclaim)
{
	close_devices(self->fd, self->dmirror);
}

/*
 * A table of zero pages that the device has read: RECLAIM with ZEROPAGE frees it, the CPU
 * then writes every page, and the device must read what was written.
 */
TEST_F(mirror_reclaim, zeropage_reclaim_drops_the_mirror)
{
	unsigned long len = PMD, pages = len / PAGE;
	char *p = map_anon(len, true, false);
	char *view = malloc(len);
	struct reclaim_res rr;
	uint64_t faults;
	volatile char sink = 0;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, view);
	for (unsigned long i = 0; i < pages; i++)
		sink += ((volatile char *)p)[i * PAGE];
	ASSERT_TRUE(kpageflags(pfn_of(p)) & (1ULL << KPF_ZERO_PAGE_BIT));
	ASSERT_EQ((int)pages, dmirror(self->dmirror, HMM_DMIRROR_READ, p, view, pages, NULL));
	ASSERT_TRUE(all_zero(view, len));

	rr = pgmove_do_reclaim(self->fd, p, len, PGMOVE_RECLAIM_ZEROPAGE);
	ASSERT_EQ(0, rr.ret) TH_LOG("errno %d", rr.err);
	ASSERT_EQ(1, rr.r.freed) TH_LOG("the zero-page table was not freed");

	fill_pages(p, len, 0x2e20);
	ASSERT_EQ((int)pages, dmirror(self->dmirror, HMM_DMIRROR_READ, p, view, pages, &faults));
	ASSERT_EQ(-1, check_pages(view, len, 0x2e20))
		TH_LOG("the mirror still maps the zero page where the CPU wrote");
	ASSERT_LT(0, faults);
	free(view);
	munmap(p, len);
}

/* Device-private entries are in use: RECLAIM keeps their table, and their data comes back. */
TEST_F(mirror_reclaim, device_private_entries_keep_their_table)
{
	unsigned long len = PMD;
	char *p = map_anon(len, true, false);
	char *view = malloc(len);
	struct reclaim_res rr;

	ASSERT_NE(NULL, p);
	ASSERT_NE(NULL, view);
	fill_pages(p, len, 0xd9e);
	/* Only page 7 goes to the device; the others are freed, so the table is all none but one. */
	ASSERT_EQ(0, madvise(p, 7 * PAGE, MADV_DONTNEED));
	ASSERT_EQ(0, madvise(p + 8 * PAGE, len - 8 * PAGE, MADV_DONTNEED));
	ASSERT_EQ(1, dmirror(self->dmirror, HMM_DMIRROR_MIGRATE_TO_DEV, p + 7 * PAGE, view, 1,
			     NULL));
	ASSERT_EQ(0, pagemap_entry(p + 7 * PAGE) & PM_PRESENT) TH_LOG("page 7 is not on the device");

	for (int zp = 0; zp < 2; zp++) {
		rr = pgmove_do_reclaim(self->fd, p, len, zp ? PGMOVE_RECLAIM_ZEROPAGE : 0);
		ASSERT_EQ(0, rr.ret) TH_LOG("errno %d", rr.err);
		ASSERT_EQ(1, rr.r.scanned);
		ASSERT_EQ(0, rr.r.freed) TH_LOG("a table with a device-private entry was freed");
		ASSERT_EQ(1, rr.r.busy);
	}
	/* The CPU's access migrates it back, with its data. */
	ASSERT_EQ(-1, check_pages_from(p + 7 * PAGE, 7, PAGE, 0xd9e));
	ASSERT_TRUE(pagemap_entry(p + 7 * PAGE) & PM_PRESENT);
	free(view);
	munmap(p, len);
}

/*
 * A device entry in the middle of a move's source: MOVE and UFFDIO_MOVE give the same
 * result, the same bytes moved and the same entries on both sides.
 */
FIXTURE(device_entry)
{
	int fd;
	int dmirror;
	int uffd;
};

FIXTURE_VARIANT(device_entry)
{
	unsigned long request;	/* HMM_DMIRROR_MIGRATE_TO_DEV or HMM_DMIRROR_EXCLUSIVE */
	unsigned long pages;
	unsigned long at;	/* the page that the device takes */
};

FIXTURE_VARIANT_ADD(device_entry, private_first_page)
{
	.request = HMM_DMIRROR_MIGRATE_TO_DEV, .pages = 16, .at = 0,
};

FIXTURE_VARIANT_ADD(device_entry, private_in_a_whole_table)
{
	.request = HMM_DMIRROR_MIGRATE_TO_DEV, .pages = 1024, .at = 600,
};

FIXTURE_VARIANT_ADD(device_entry, exclusive_first_page)
{
	.request = HMM_DMIRROR_EXCLUSIVE, .pages = 16, .at = 0,
};

FIXTURE_VARIANT_ADD(device_entry, exclusive_in_a_run)
{
	.request = HMM_DMIRROR_EXCLUSIVE, .pages = 300, .at = 100,
};

FIXTURE_SETUP(device_entry)
{
	self->uffd = -1;
	open_devices(_metadata, &self->fd, &self->dmirror);
	SKIP_WITHOUT_DMIRROR(self);
	self->uffd = uffd_open();
	ASSERT_GE(self->uffd, 0) TH_LOG("userfaultfd with UFFD_FEATURE_MOVE: %s", strerror(errno));
}

FIXTURE_TEARDOWN(device_entry)
{
	if (self->uffd >= 0)
		close(self->uffd);
	close_devices(self->fd, self->dmirror);
}

struct device_move {
	struct move_res r;
	uint64_t src_pm[1024], dst_pm[1024];
};

/* Sets up a source with the device's page at variant->at and moves it with MOVE or UFFDIO_MOVE. */
static void device_move(struct __test_metadata *_metadata, FIXTURE_DATA(device_entry) *self,
			const FIXTURE_VARIANT(device_entry) *variant, bool uffd,
			struct device_move *out)
{
	unsigned long len = variant->pages * PAGE;
	char *src = map_anon(len, true, false), *dst = map_anon(len, true, false);
	char *view = malloc(PAGE);

	ASSERT_NE(NULL, src);
	ASSERT_NE(NULL, dst);
	ASSERT_NE(NULL, view);
	fill_pages(src, len, 0xde5);
	ASSERT_EQ(1, dmirror(self->dmirror, variant->request, src + variant->at * PAGE, view, 1,
			     NULL));
	ASSERT_EQ(0, pagemap_entry(src + variant->at * PAGE) & PM_PRESENT)
		TH_LOG("the device did not take page %lu", variant->at);
	if (uffd) {
		ASSERT_EQ(0, uffd_register(self->uffd, (unsigned long)dst, len));
		out->r = uffd_do_move(self->uffd, (unsigned long)dst, (unsigned long)src, len, 0);
	} else {
		out->r = pgmove_do_move(self->fd, (unsigned long)dst, (unsigned long)src, len, 0);
	}
	for (unsigned long i = 0; i < variant->pages; i++) {
		/* Flags only: the PFNs differ between the two runs. */
		out->src_pm[i] = pagemap_entry(src + i * PAGE) & (PM_PRESENT | PM_SWAP | PM_EXCLUSIVE);
		out->dst_pm[i] = pagemap_entry(dst + i * PAGE) & (PM_PRESENT | PM_SWAP | PM_EXCLUSIVE);
	}
	/* Nothing is lost: what moved is at the destination, the rest at the source. */
	for (unsigned long i = 0; i < variant->pages; i++) {
		const char *at = out->dst_pm[i] & PM_PRESENT ? dst : src;

		ASSERT_EQ(-1, check_pages_from(at + i * PAGE, i, PAGE, 0xde5))
			TH_LOG("page %lu lost its data", i);
	}
	free(view);
	munmap(src, len);
	munmap(dst, len);
}

TEST_F(device_entry, move_fails_like_uffdio_move)
{
	static struct device_move want, got;

	device_move(_metadata, self, variant, true, &want);
	device_move(_metadata, self, variant, false, &got);
	ASSERT_EQ(-1, want.r.ret) TH_LOG("UFFDIO_MOVE moved a device entry");
	ASSERT_EQ(want.r.ret, got.r.ret);
	ASSERT_EQ(want.r.err, got.r.err) TH_LOG("UFFDIO_MOVE: errno %d, MOVE: errno %d",
						want.r.err, got.r.err);
	ASSERT_EQ(want.r.moved, got.r.moved);
	ASSERT_EQ(variant->at ? (long long)(variant->at * PAGE) : -EFAULT, got.r.moved);
	for (unsigned long i = 0; i < variant->pages; i++) {
		ASSERT_EQ(want.src_pm[i], got.src_pm[i]) TH_LOG("source page %lu differs", i);
		ASSERT_EQ(want.dst_pm[i], got.dst_pm[i]) TH_LOG("destination page %lu differs", i);
	}
}

TEST_HARNESS_MAIN
