/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of pgmove: what 6.12 gives a Rust module only as static inline functions
 * or macros, and the misc-device and uAPI declarations that its Rust bindings lack.
 *
 * bindgen reads this header at build time and generates rust/c.rs's declarations from it,
 * so a signature that does not match helpers.c or the kernel fails the build.
 * Every helper is a few lines that only forward to the kernel; no logic lives here.
 */
#ifndef PGMOVE_HELPERS_H
#define PGMOVE_HELPERS_H

#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm_types.h>
#include <linux/types.h>

#include "../include/uapi/linux/pgmove.h"

#ifdef __BINDGEN__
/* uAPI constants for Rust: bindgen cannot expand the _IOR()/_IOWR() macros, clang can. */
const unsigned int PGMOVE_RS_IOC_INFO = PGMOVE_IOC_INFO;
#endif

/* The `mode` module parameter as given (6.12's module! macro has no parameters). */
umode_t pgmove_param_mode(void);

/* current->mm of the calling task (NULL for a kernel thread). */
struct mm_struct *pgmove_current_mm(void);
/* mmgrab()/mmdrop(): keep an mm_struct (not its address space) alive. */
void pgmove_mmgrab(struct mm_struct *mm);
void pgmove_mmdrop(struct mm_struct *mm);

#endif /* PGMOVE_HELPERS_H */
