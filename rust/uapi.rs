// SPDX-License-Identifier: GPL-2.0

//! pgmove's uAPI as Rust types, checked against `include/uapi/linux/pgmove.h`.
//!
//! The C header is the contract. Every struct here is `#[repr(C)]` and asserted at build time
//! to have the C struct's size and each field's offset; every ioctl number comes from the C
//! header through bindgen and is checked against the Rust struct's size.

use crate::c;
use kernel::{
    ioctl,
    types::{AsBytes, FromBytes},
};

/// Asserts at build time that a Rust uAPI struct has the C struct's size and field offsets.
macro_rules! assert_same_layout {
    ($rust:ty, $c:ty, $($field:ident),+ $(,)?) => {
        const _: () = {
            assert!(core::mem::size_of::<$rust>() == core::mem::size_of::<$c>());
            assert!(core::mem::align_of::<$rust>() == core::mem::align_of::<$c>());
            $(assert!(
                core::mem::offset_of!($rust, $field) == core::mem::offset_of!($c, $field)
            );)+
        };
    };
}

/// `PGMOVE_ABI_VERSION`.
pub(crate) const ABI_VERSION: u32 = c::PGMOVE_ABI_VERSION;
/// `PGMOVE_IOC_MAGIC`.
const IOC_MAGIC: u32 = c::PGMOVE_IOC_MAGIC;

/// `struct pgmove_info`, the answer to `PGMOVE_IOC_INFO`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct Info {
    /// `PGMOVE_ABI_VERSION`.
    pub(crate) abi_version: u32,
    /// Always zero.
    pub(crate) reserved: u32,
    /// `PGMOVE_FEAT_*` bits this build supports.
    pub(crate) features: u64,
}
assert_same_layout!(Info, c::pgmove_info, abi_version, reserved, features);

// SAFETY: `Info` is `repr(C)` with only integer fields and, as asserted by
// `assert_same_layout!` (4 + 4 + 8 bytes, size 16), no padding: every byte is initialised.
unsafe impl AsBytes for Info {}

/// `PGMOVE_IOC_INFO`.
pub(crate) const IOC_INFO: u32 = c::PGMOVE_RS_IOC_INFO;
const _: () = assert!(IOC_INFO == ioctl::_IOR::<Info>(IOC_MAGIC, 0x00));

/// `struct pgmove_move`, the argument of `PGMOVE_IOC_MOVE`.
#[repr(C)]
pub(crate) struct Move {
    /// Destination start, page aligned.
    pub(crate) dst: u64,
    /// Source start, page aligned.
    pub(crate) src: u64,
    /// Length in bytes, page aligned, > 0.
    pub(crate) len: u64,
    /// `PGMOVE_MOVE_*`.
    pub(crate) flags: u64,
    /// Out: bytes moved, or `-errno` when nothing moved.
    pub(crate) moved: i64,
}
assert_same_layout!(Move, c::pgmove_move, dst, src, len, flags, moved);

// SAFETY: `Move` is `repr(C)` with only 64-bit integer fields (asserted: the C struct's
// layout, 40 bytes), so it has no padding and every bit pattern is valid.
unsafe impl FromBytes for Move {}

/// `PGMOVE_MOVE_ALLOW_SRC_HOLES`.
pub(crate) const MOVE_ALLOW_SRC_HOLES: u64 = c::PGMOVE_MOVE_ALLOW_SRC_HOLES as u64;
/// Every `PGMOVE_MOVE_*` flag this build knows.
pub(crate) const MOVE_FLAGS: u64 = MOVE_ALLOW_SRC_HOLES;

/// `PGMOVE_IOC_MOVE`.
pub(crate) const IOC_MOVE: u32 = c::PGMOVE_RS_IOC_MOVE;
const _: () = assert!(IOC_MOVE == ioctl::_IOWR::<Move>(IOC_MAGIC, 0x01));

/// `PGMOVE_FEAT_MOVE`.
pub(crate) const FEAT_MOVE: u64 = c::PGMOVE_FEAT_MOVE as u64;

/// `PGMOVE_FEAT_*` bits this build supports.
pub(crate) const FEATURES: u64 = FEAT_MOVE;
