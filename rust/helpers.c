// SPDX-License-Identifier: GPL-2.0
/*
 * Static-inline wrappers and module parameters for pgmove's Rust code; see helpers.h.
 */
#include <linux/moduleparam.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>

#include "helpers.h"

static ushort mode = 0600;
module_param(mode, ushort, 0444);
MODULE_PARM_DESC(mode, "permissions of /dev/pgmove (default 0600)");

umode_t pgmove_param_mode(void)
{
	return mode;
}

struct mm_struct *pgmove_current_mm(void)
{
	return current->mm;
}

void pgmove_mmgrab(struct mm_struct *mm)
{
	mmgrab(mm);
}

void pgmove_mmdrop(struct mm_struct *mm)
{
	mmdrop(mm);
}
