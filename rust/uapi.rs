// SPDX-License-Identifier: GPL-2.0

//! pgmove's uAPI as Rust types, checked against `include/uapi/linux/pgmove.h`.
//!
//! The C header is the contract. Every struct here is `#[repr(C)]` and asserted at build time
//! to have the C struct's size and each field's offset; every ioctl number comes from the C
//! header through bindgen and is checked against the Rust struct's size.

use crate::c;
use kernel::{ioctl, types::AsBytes};

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

/// `PGMOVE_FEAT_*` bits this build supports (none yet).
pub(crate) const FEATURES: u64 = 0;
