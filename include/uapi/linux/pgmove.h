/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * pgmove: move anonymous pages and reclaim empty page tables through /dev/pgmove.
 *
 * This header is the contract between the pgmove module and userspace: the module's
 * Rust checks its own view of every struct against it at build time, and the tests and
 * tools include it. Documentation/pgmove.rst describes every ioctl, field, flag and errno.
 *
 * Every ioctl acts on the mm of the process that opened the file; an ioctl issued by a
 * task with another mm fails with EPERM.
 */
#ifndef _UAPI_LINUX_PGMOVE_H
#define _UAPI_LINUX_PGMOVE_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define PGMOVE_IOC_MAGIC 0xB9
#define PGMOVE_ABI_VERSION 1

/* PGMOVE_IOC_INFO: what this build of the module is and can do. */
struct pgmove_info {
	__u32 abi_version;	/* PGMOVE_ABI_VERSION */
	__u32 reserved;		/* zero */
	__u64 features;		/* PGMOVE_FEAT_* bits that this build supports */
};

#define PGMOVE_IOC_INFO _IOR(PGMOVE_IOC_MAGIC, 0x00, struct pgmove_info)

/*
 * PGMOVE_IOC_MOVE: move anonymous pages from [src, src + len) to [dst, dst + len), as
 * UFFDIO_MOVE does, without userfaultfd registration. Returns 0 when moved == len; fails
 * with EAGAIN when 0 < moved < len (continue at src + moved); else fails with the error,
 * and moved = -errno. See Documentation/move.rst for every case and errno.
 */
struct pgmove_move {
        __u64 dst;      /* page aligned */
        __u64 src;      /* page aligned */
        __u64 len;      /* page aligned, > 0 */
        __u64 flags;    /* PGMOVE_MOVE_* */
        __s64 moved;    /* out: bytes moved; -errno when nothing moved */
};
#define PGMOVE_MOVE_ALLOW_SRC_HOLES (1ULL << 0)
#define PGMOVE_IOC_MOVE _IOWR(PGMOVE_IOC_MAGIC, 0x01, struct pgmove_move)
#define PGMOVE_FEAT_MOVE (1ULL << 0)     /* in pgmove_info.features */

/*
 * PGMOVE_IOC_RECLAIM: free the empty PTE page tables that map any part of
 * [start, start + len) in the caller's mm, or (pidfd >= 0) in the mm of the process the pidfd
 * names. Only private anonymous VMAs qualify. The out fields count what was done even
 * when the call fails with EINTR. See Documentation/reclaim.rst.
 */
struct pgmove_reclaim {
        __u64 start;      /* page aligned */
        __u64 len;        /* page aligned, > 0; may span many VMAs and holes */
        __u64 flags;      /* PGMOVE_RECLAIM_* */
        __s32 pidfd;      /* -1: the caller's own mm; else a pidfd naming the target process */
        __u32 reserved;   /* must be zero */
        __u64 scanned;    /* out: PTE tables examined */
        __u64 freed;      /* out: PTE tables freed */
        __u64 busy;       /* out: tables kept because an entry is in use */
        __u64 ineligible; /* out: tables in VMAs that may not be reclaimed */
};
#define PGMOVE_RECLAIM_ZEROPAGE (1ULL << 0) /* also free tables whose entries are all none or the zero page */
#define PGMOVE_IOC_RECLAIM _IOWR(PGMOVE_IOC_MAGIC, 0x02, struct pgmove_reclaim)
#define PGMOVE_FEAT_RECLAIM          (1ULL << 1)
#define PGMOVE_FEAT_RECLAIM_ZEROPAGE (1ULL << 2)
#define PGMOVE_MOVE_RECLAIM_SRC      (1ULL << 1) /* MOVE flag: free source tables that the move emptied */

/*
 * PGMOVE_IOC_MOVEV: count MOVEs in one call, given as an array of struct pgmove_move and
 * done in array order; a garbage collector compacting many objects makes one call. Each
 * entry is a MOVE with its own flags and gets its own moved written, exactly as
 * PGMOVE_IOC_MOVE would write it. Returns 0 when every entry moved all its bytes. Else the
 * call fails with the error of the first entry that did not (EAGAIN if that entry moved a
 * part), completed counts the entries before it, and the entries after it are neither
 * looked at nor written. See Documentation/move.rst.
 */
struct pgmove_movev {
        __u64 moves;      /* user pointer to struct pgmove_move[count] */
        __u32 count;      /* 1..PGMOVE_MOVEV_MAX */
        __u32 flags;      /* must be zero */
        __u64 completed;  /* out: entries moved in full */
};
#define PGMOVE_MOVEV_MAX 1024
#define PGMOVE_IOC_MOVEV _IOWR(PGMOVE_IOC_MAGIC, 0x03, struct pgmove_movev)
#define PGMOVE_FEAT_MOVEV (1ULL << 3)

#endif /* _UAPI_LINUX_PGMOVE_H */
