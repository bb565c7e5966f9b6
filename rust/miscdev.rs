// SPDX-License-Identifier: GPL-2.0

//! A misc device whose open files carry state, for 6.12 (whose `kernel` crate has none).
//!
//! Shaped like newer kernels' `kernel::miscdevice`: a driver implements [`MiscDevice`], and a
//! [`MiscDeviceRegistration`] is pin-initialised, registers the device and deregisters it when
//! dropped. The C `struct miscdevice` and its `struct file_operations` live inside the
//! registration, which is why it is pinned: the misc core keeps pointers to both.
//!
//! `fops.owner` is set to the registering module, so the VFS holds a module reference for
//! every open file and `rmmod` is refused while one is open (instead of freeing the code
//! that its `release` would run).
//!
//! Locks: none of its own. `misc_register()`/`misc_deregister()` take `misc_mtx`; `open`
//! runs under `misc_mtx` too, so `MiscDevice::open` must not register misc devices.

use crate::c;
use core::{marker::PhantomData, mem::MaybeUninit, ptr::addr_of_mut};
use kernel::{
    bindings,
    error::{from_result, to_result},
    ffi::{c_int, c_long, c_uint, c_ulong, c_void},
    init::pin_init_from_closure,
    prelude::*,
    str::CStr,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

/// A misc device's behaviour: what opening, ioctl and closing a file do.
pub(crate) trait MiscDevice: Sized {
    /// Per-open-file state, stored in `file->private_data`.
    type Ptr: ForeignOwnable + Send + Sync;

    /// Called on `open(2)`; the returned state lives until the file is released.
    fn open() -> Result<Self::Ptr>;

    /// Called on the last close of the file.
    fn release(file: Self::Ptr) {
        drop(file);
    }

    /// Called on `ioctl(2)`; `Ok(n)` returns `n` to userspace.
    fn ioctl(
        file: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        cmd: u32,
        arg: usize,
    ) -> Result<isize>;
}

/// How to register a misc device.
pub(crate) struct MiscDeviceOptions {
    /// Name of the device node under `/dev`.
    pub(crate) name: &'static CStr,
    /// Permissions of the device node (`0` lets the misc core choose its default, `0600`).
    pub(crate) mode: u16,
}

/// A registered misc device; deregistered on drop.
///
/// # Invariants
///
/// `inner` is registered with the misc core (`misc_register()` succeeded) and points to
/// `fops`, which holds the trampolines of `T`; both stay at their address until `drop` has
/// deregistered `inner`.
#[pin_data(PinnedDrop)]
pub(crate) struct MiscDeviceRegistration<T> {
    #[pin]
    fops: Opaque<bindings::file_operations>,
    #[pin]
    inner: Opaque<c::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: the registration is only read by the misc core (under `misc_mtx`) and deregistered
// on drop; no method gives access to its contents, so it may move between and be shared by
// threads.
unsafe impl<T> Send for MiscDeviceRegistration<T> {}
// SAFETY: see `Send`: `&MiscDeviceRegistration` allows nothing.
unsafe impl<T> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers the misc device described by `opts`, owned by `module`.
    pub(crate) fn register(
        opts: MiscDeviceOptions,
        module: &'static ThisModule,
    ) -> impl PinInit<Self, Error> {
        let init = move |slot: *mut Self| {
            // SAFETY: `slot` is valid for writes of a `Self` (pin-init contract), so its fields
            // are too; `Opaque<T>` has the layout of `T`.
            let (fops, misc) = unsafe {
                (
                    Opaque::raw_get(addr_of_mut!((*slot).fops)),
                    Opaque::raw_get(addr_of_mut!((*slot).inner)),
                )
            };
            // SAFETY: all-zeroes is a valid `file_operations` and `miscdevice` (C structs of
            // pointers, integers and optional function pointers, which C zero-initialises).
            let (mut f, mut m): (bindings::file_operations, c::miscdevice) = unsafe {
                (
                    MaybeUninit::zeroed().assume_init(),
                    MaybeUninit::zeroed().assume_init(),
                )
            };
            f.owner = module.as_ptr();
            f.open = Some(fops_open::<T>);
            f.release = Some(fops_release::<T>);
            f.unlocked_ioctl = Some(fops_ioctl::<T>);
            m.minor = c::MISC_DYNAMIC_MINOR as c_int;
            m.name = opts.name.as_char_ptr();
            m.fops = fops;
            m.mode = opts.mode;
            // SAFETY: `fops` and `misc` point into `*slot`, valid for writes and pinned (it
            // will not move until `drop`), so the misc core may keep pointers to them.
            unsafe {
                fops.write(f);
                misc.write(m);
                to_result(c::misc_register(misc))
            }
            // INVARIANT: on success `inner` is registered and points to `fops`.
        };
        // SAFETY: `init` initialises every field of `*slot` or returns an error having
        // registered nothing (the misc core keeps no pointer after a failed `misc_register`),
        // and it does not move `*slot`.
        unsafe { pin_init_from_closure(init) }
    }
}

#[pinned_drop]
impl<T> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: by the type invariant `inner` is registered; it is deregistered once, here.
        unsafe { c::misc_deregister(self.inner.get()) };
    }
}

/// `file_operations.open`.
///
/// # Safety
///
/// Called by the VFS (through `misc_open()`) with a valid `file` being opened.
unsafe extern "C" fn fops_open<T: MiscDevice>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    let state = match T::open() {
        Ok(state) => state,
        Err(err) => return err.to_errno(),
    };
    // SAFETY: `file` is valid (function contract) and not yet visible to other tasks;
    // `private_data` held the miscdevice pointer set by `misc_open()`, which we do not need.
    unsafe { (*file).private_data = state.into_foreign() as *mut c_void };
    0
}

/// `file_operations.release`.
///
/// # Safety
///
/// Called by the VFS once, on the last close of a `file` that `fops_open::<T>` opened.
unsafe extern "C" fn fops_release<T: MiscDevice>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `private_data` was set by `fops_open::<T>` from `T::Ptr::into_foreign`; this is
    // the last use of the file, so no borrow of it is alive and ownership can be taken back.
    let state = unsafe { <T::Ptr as ForeignOwnable>::from_foreign((*file).private_data) };
    T::release(state);
    0
}

/// `file_operations.unlocked_ioctl`.
///
/// # Safety
///
/// Called by the VFS with a `file` opened by `fops_open::<T>` and not yet released.
unsafe extern "C" fn fops_ioctl<T: MiscDevice>(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: `private_data` was set by `fops_open::<T>`; `release` cannot run while the VFS
    // is in an ioctl on the file, so the borrow lasts at most as long as the state.
    let state = unsafe { <T::Ptr as ForeignOwnable>::borrow((*file).private_data) };
    from_result(|| T::ioctl(state, cmd, arg as usize).map(|ret| ret as c_long))
}
