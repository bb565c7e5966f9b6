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
#[derive(Clone, Copy)]
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
/// `PGMOVE_MOVE_RECLAIM_SRC`.
pub(crate) const MOVE_RECLAIM_SRC: u64 = c::PGMOVE_MOVE_RECLAIM_SRC as u64;
/// Every `PGMOVE_MOVE_*` flag this build knows.
pub(crate) const MOVE_FLAGS: u64 = MOVE_ALLOW_SRC_HOLES | MOVE_RECLAIM_SRC;

/// `PGMOVE_IOC_MOVE`.
pub(crate) const IOC_MOVE: u32 = c::PGMOVE_RS_IOC_MOVE;
const _: () = assert!(IOC_MOVE == ioctl::_IOWR::<Move>(IOC_MAGIC, 0x01));

/// `struct pgmove_movev`, the argument of `PGMOVE_IOC_MOVEV`.
#[repr(C)]
pub(crate) struct MoveV {
    /// User pointer to `count` `struct pgmove_move`.
    pub(crate) moves: u64,
    /// Number of entries, `1..=MOVEV_MAX`.
    pub(crate) count: u32,
    /// Must be zero.
    pub(crate) flags: u32,
    /// Out: entries moved in full.
    pub(crate) completed: u64,
}
assert_same_layout!(MoveV, c::pgmove_movev, moves, count, flags, completed);

// SAFETY: `MoveV` is `repr(C)` with integer fields only, laid out as the C struct (asserted:
// 8 + 4 + 4 + 8 bytes, size 24), so it has no padding and every bit pattern is valid.
unsafe impl FromBytes for MoveV {}

/// `PGMOVE_MOVEV_MAX`: the most entries one `PGMOVE_IOC_MOVEV` takes.
pub(crate) const MOVEV_MAX: u32 = c::PGMOVE_MOVEV_MAX;

/// `PGMOVE_IOC_MOVEV`.
pub(crate) const IOC_MOVEV: u32 = c::PGMOVE_RS_IOC_MOVEV;
const _: () = assert!(IOC_MOVEV == ioctl::_IOWR::<MoveV>(IOC_MAGIC, 0x03));

/// `struct pgmove_reclaim`, the argument of `PGMOVE_IOC_RECLAIM`.
#[repr(C)]
pub(crate) struct Reclaim {
    /// Start of the range, page aligned.
    pub(crate) start: u64,
    /// Length in bytes, page aligned, > 0.
    pub(crate) len: u64,
    /// `PGMOVE_RECLAIM_*`.
    pub(crate) flags: u64,
    /// -1 for the caller's mm, else a pidfd naming the target process.
    pub(crate) pidfd: i32,
    /// Must be zero.
    pub(crate) reserved: u32,
    /// Out: the counters.
    pub(crate) out: ReclaimOut,
}

/// The out fields of `struct pgmove_reclaim`, written back together.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ReclaimOut {
    /// PTE tables examined.
    pub(crate) scanned: u64,
    /// PTE tables freed.
    pub(crate) freed: u64,
    /// Tables kept because an entry is in use.
    pub(crate) busy: u64,
    /// Tables in VMAs that may not be reclaimed.
    pub(crate) ineligible: u64,
}
assert_same_layout!(
    Reclaim,
    c::pgmove_reclaim,
    start,
    len,
    flags,
    pidfd,
    reserved
);
const _: () = {
    use core::mem::offset_of;
    let out = offset_of!(Reclaim, out);
    assert!(out + offset_of!(ReclaimOut, scanned) == offset_of!(c::pgmove_reclaim, scanned));
    assert!(out + offset_of!(ReclaimOut, freed) == offset_of!(c::pgmove_reclaim, freed));
    assert!(out + offset_of!(ReclaimOut, busy) == offset_of!(c::pgmove_reclaim, busy));
    assert!(out + offset_of!(ReclaimOut, ineligible) == offset_of!(c::pgmove_reclaim, ineligible));
    assert!(core::mem::size_of::<ReclaimOut>() == 32);
};

// SAFETY: `Reclaim` is `repr(C)` with integer fields only, laid out as the C struct (asserted
// above: 8 + 8 + 8 + 4 + 4 + 32 bytes, size 64), so it has no padding and every bit
// pattern is valid.
unsafe impl FromBytes for Reclaim {}
// SAFETY: `ReclaimOut` is `repr(C)` with four `u64` fields (asserted size 32): no padding,
// every byte initialised.
unsafe impl AsBytes for ReclaimOut {}

/// `PGMOVE_RECLAIM_ZEROPAGE`.
pub(crate) const RECLAIM_ZEROPAGE: u64 = c::PGMOVE_RECLAIM_ZEROPAGE as u64;
/// Every `PGMOVE_RECLAIM_*` flag this build knows.
pub(crate) const RECLAIM_FLAGS: u64 = RECLAIM_ZEROPAGE;

/// `PGMOVE_IOC_RECLAIM`.
pub(crate) const IOC_RECLAIM: u32 = c::PGMOVE_RS_IOC_RECLAIM;
const _: () = assert!(IOC_RECLAIM == ioctl::_IOWR::<Reclaim>(IOC_MAGIC, 0x02));

/// `PGMOVE_FEAT_MOVE`.
pub(crate) const FEAT_MOVE: u64 = c::PGMOVE_FEAT_MOVE as u64;
/// `PGMOVE_FEAT_RECLAIM`.
pub(crate) const FEAT_RECLAIM: u64 = c::PGMOVE_FEAT_RECLAIM as u64;
/// `PGMOVE_FEAT_RECLAIM_ZEROPAGE`.
pub(crate) const FEAT_RECLAIM_ZEROPAGE: u64 = c::PGMOVE_FEAT_RECLAIM_ZEROPAGE as u64;

/// `PGMOVE_FEAT_MOVEV`.
pub(crate) const FEAT_MOVEV: u64 = c::PGMOVE_FEAT_MOVEV as u64;

/// `PGMOVE_FEAT_*` bits this build supports.
pub(crate) const FEATURES: u64 = FEAT_MOVE | FEAT_RECLAIM | FEAT_RECLAIM_ZEROPAGE | FEAT_MOVEV;
