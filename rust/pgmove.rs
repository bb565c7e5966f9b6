// SPDX-License-Identifier: GPL-2.0

//! pgmove: move anonymous pages and reclaim empty page tables through `/dev/pgmove`.
//!
//! This crate root registers the misc device and dispatches its ioctls. Each open file serves
//! the mm of the process that opened it: an ioctl from a task with another mm fails with
//! `EPERM`, so a file passed to another process grants it nothing.

use kernel::{c_str, prelude::*, types::ForeignOwnable, uaccess::UserSlice};

mod c;
mod miscdev;
mod mm;
mod move_pages;
mod reclaim;
mod uapi;

use miscdev::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration};
use mm::{MayBlock, Mm, MmGrab, MmUsers};
use move_pages::MoveRequest;
use reclaim::{ReclaimCounts, ReclaimRequest};

module! {
    type: PgMove,
    name: "pgmove",
    author: "The pgmove authors",
    description: "Move anonymous pages and reclaim empty page tables",
    license: "GPL",
}

/// The module: owns the `/dev/pgmove` registration.
struct PgMove {
    _dev: Pin<KBox<MiscDeviceRegistration<PgMoveDevice>>>,
}

impl kernel::Module for PgMove {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: reading a module parameter that only the module loader writes, before init.
        let mode = unsafe { c::pgmove_param_mode() };
        if mode & !0o777 != 0 {
            pr_err!(
                "mode={:#o}: only permission bits (0..=0777) are allowed\n",
                mode
            );
            return Err(EINVAL);
        }
        let opts = MiscDeviceOptions {
            name: c_str!("pgmove"),
            mode,
        };
        let dev = KBox::pin_init(MiscDeviceRegistration::register(opts, module), GFP_KERNEL)?;
        pr_info!(
            "/dev/pgmove ready (ABI {}, mode {:#o})\n",
            uapi::ABI_VERSION,
            mode
        );
        Ok(Self { _dev: dev })
    }
}

/// The device: what `/dev/pgmove`'s files do.
struct PgMoveDevice;

/// The state of one open `/dev/pgmove` file.
struct PgMoveFile {
    /// The mm of the process that opened the file: the only mm its ioctls act on.
    owner: MmGrab,
}

impl MiscDevice for PgMoveDevice {
    type Ptr = KBox<PgMoveFile>;

    fn open() -> Result<Self::Ptr> {
        let owner = MmGrab::current().ok_or(EPERM)?;
        Ok(KBox::new(PgMoveFile { owner }, GFP_KERNEL)?)
    }

    fn ioctl(
        file: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        cmd: u32,
        arg: usize,
    ) -> Result<isize> {
        if !file.owner.is_current() {
            return Err(EPERM);
        }
        match cmd {
            uapi::IOC_INFO => info(arg),
            uapi::IOC_MOVE => move_ioctl(&file.owner, arg),
            uapi::IOC_RECLAIM => reclaim_ioctl(&file.owner, arg),
            _ => Err(ENOTTY),
        }
    }
}

/// `PGMOVE_IOC_INFO`: writes the ABI version and feature bits to `arg`.
fn info(arg: usize) -> Result<isize> {
    let info = uapi::Info {
        abi_version: uapi::ABI_VERSION,
        reserved: 0,
        features: uapi::FEATURES,
    };
    UserSlice::new(arg, core::mem::size_of::<uapi::Info>())
        .writer()
        .write(&info)?;
    Ok(0)
}

/// `PGMOVE_IOC_MOVE`: reads a `struct pgmove_move`, moves, writes `moved` back.
///
/// Once the struct was read, `moved` is always written: the bytes moved, or `-errno` when
/// nothing moved (including the argument checks, which UFFDIO_MOVE leaves unwritten).
fn move_ioctl(owner: &MmGrab, arg: usize) -> Result<isize> {
    let req: uapi::Move = UserSlice::new(arg, core::mem::size_of::<uapi::Move>())
        .reader()
        .read()?;
    let mm = owner.as_current().ok_or(EPERM)?;
    let checked = move_pages::validate_range(mm, req.dst, req.len)
        .and_then(|()| move_pages::validate_range(mm, req.src, req.len))
        .and_then(|()| match req.flags & !uapi::MOVE_FLAGS {
            0 => Ok(()),
            _ => Err(EINVAL),
        });
    let mut mb = MayBlock::ioctl_context();
    let outcome = match checked {
        Ok(()) => {
            let request = MoveRequest {
                dst: req.dst,
                src: req.src,
                len: req.len,
                allow_src_holes: req.flags & uapi::MOVE_ALLOW_SRC_HOLES != 0,
            };
            let outcome = move_pages::move_pages(mm, &request, &mut mb);
            if req.flags & uapi::MOVE_RECLAIM_SRC != 0 && outcome.moved > 0 {
                // Best effort: the move is done; a fatal signal may cut the reclaim short.
                let _ = reclaim::reclaim(
                    mm,
                    &ReclaimRequest {
                        start: req.src,
                        end: req.src + outcome.moved,
                        zeropage: false,
                    },
                    &mut ReclaimCounts::default(),
                    &mut mb,
                );
            }
            outcome
        }
        Err(e) => move_pages::MoveOutcome {
            moved: 0,
            error: Some(e),
        },
    };
    // Nothing moved means there is an error (the loop stops only on one, or when done).
    let error = outcome.error.unwrap_or(EINVAL);
    let moved: i64 = if outcome.moved > 0 {
        outcome.moved as i64
    } else {
        i64::from(error.to_errno())
    };
    let moved_at = arg.wrapping_add(core::mem::offset_of!(uapi::Move, moved));
    UserSlice::new(moved_at, core::mem::size_of::<i64>())
        .writer()
        .write(&moved)?;
    match outcome.moved {
        0 => Err(error),
        m if m == req.len => Ok(0),
        _ => Err(EAGAIN),
    }
}

/// `PGMOVE_IOC_RECLAIM`: reads a `struct pgmove_reclaim`, reclaims, writes the counters back.
///
/// Once the struct was read the out fields are always written: zero after an argument or
/// permission error, what was done after `EINTR`.
fn reclaim_ioctl(owner: &MmGrab, arg: usize) -> Result<isize> {
    let req: uapi::Reclaim = UserSlice::new(arg, core::mem::size_of::<uapi::Reclaim>())
        .reader()
        .read()?;
    let mut counts = ReclaimCounts::default();
    let res = reclaim_checked(owner, &req, &mut counts);
    let out = uapi::ReclaimOut {
        scanned: counts.scanned,
        freed: counts.freed,
        busy: counts.busy,
        ineligible: counts.ineligible,
    };
    let out_at = arg.wrapping_add(core::mem::offset_of!(uapi::Reclaim, out));
    UserSlice::new(out_at, core::mem::size_of::<uapi::ReclaimOut>())
        .writer()
        .write(&out)?;
    res.map(|()| 0)
}

/// Checks the arguments and the rights to the target, then reclaims.
fn reclaim_checked(owner: &MmGrab, req: &uapi::Reclaim, counts: &mut ReclaimCounts) -> Result {
    let page_mask = kernel::page::PAGE_SIZE as u64 - 1;
    let end = req.start.checked_add(req.len).ok_or(EINVAL)?;
    if req.len == 0
        || (req.start | req.len) & page_mask != 0
        || req.flags & !uapi::RECLAIM_FLAGS != 0
        || req.reserved != 0
    {
        return Err(EINVAL);
    }
    let request = ReclaimRequest {
        start: req.start,
        end,
        zeropage: req.flags & uapi::RECLAIM_ZEROPAGE != 0,
    };
    let mut mb = MayBlock::ioctl_context();
    let mut run = |mm: &Mm, mb: &mut MayBlock| reclaim::reclaim(mm, &request, counts, mb);
    match req.pidfd {
        -1 => run(owner.as_current().ok_or(EPERM)?, &mut mb),
        pidfd if pidfd < 0 => Err(EBADF),
        pidfd => {
            let target = MmUsers::from_pidfd(pidfd)?;
            run(target.mm(), &mut mb)
        }
    }
}
