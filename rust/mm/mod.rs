// SPDX-License-Identifier: GPL-2.0

//! The thin unsafe layer between pgmove's algorithms and the kernel's mm.
//!
//! Each submodule owns one kernel object or lock and states the invariants it upholds; code
//! outside `mm` holds no raw kernel pointers.

pub(crate) mod mm_ref;

pub(crate) use mm_ref::MmGrab;
