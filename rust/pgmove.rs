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
mod race;
mod reclaim;
mod uapi;

use miscdev::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration};
use mm::{MayBlock, Mm, MmGrab, MmUsers};
use move_pages::{MoveOutcome, MoveRequest, Mover};
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
    /// Declared first: deregistered (no new ioctl) before the race points' file goes.
    _dev: Pin<KBox<MiscDeviceRegistration<PgMoveDevice>>>,
    /// The race points' debugfs file (nothing in a build without race points).
    _race: race::Registration,
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
        let race = race::Registration::new(module)?;
        let dev = KBox::pin_init(MiscDeviceRegistration::register(opts, module), GFP_KERNEL)?;
        pr_info!(
            "/dev/pgmove ready (ABI {}, mode {:#o})\n",
            uapi::ABI_VERSION,
            mode
        );
        Ok(Self {
            _dev: dev,
            _race: race,
        })
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
            uapi::IOC_MOVEV => movev_ioctl(&file.owner, arg),
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
    // SAFETY: the ioctl handler runs in process context and holds no lock yet.
    let mut mb = unsafe { MayBlock::ioctl_context() };
    let outcome = move_one(mm, &mut Mover::new(mm), &req, &mut mb);
    let (moved, res) = move_result(&outcome, req.len);
    let moved_at = arg.wrapping_add(core::mem::offset_of!(uapi::Move, moved));
    UserSlice::new(moved_at, core::mem::size_of::<i64>())
        .writer()
        .write(&moved)?;
    res.map(|()| 0)
}

/// The request a `struct pgmove_move` makes, checked as UFFDIO_MOVE checks its argument.
fn move_request(mm: &Mm, req: &uapi::Move) -> Result<MoveRequest> {
    move_pages::validate_range(mm, req.dst, req.len)?;
    move_pages::validate_range(mm, req.src, req.len)?;
    if req.flags & !uapi::MOVE_FLAGS != 0 {
        return Err(EINVAL);
    }
    Ok(MoveRequest {
        dst: req.dst,
        src: req.src,
        len: req.len,
        allow_src_holes: req.flags & uapi::MOVE_ALLOW_SRC_HOLES != 0,
    })
}

/// Checks one `struct pgmove_move` and performs it with `mover`.
fn move_one(mm: &Mm, mover: &mut Mover<'_>, req: &uapi::Move, mb: &mut MayBlock) -> MoveOutcome {
    let request = match move_request(mm, req) {
        Ok(request) => request,
        Err(e) => {
            return MoveOutcome {
                moved: 0,
                error: Some(e),
            }
        }
    };
    let outcome = mover.move_range(&request, mb);
    if req.flags & uapi::MOVE_RECLAIM_SRC != 0 && outcome.moved > 0 {
        // RECLAIM takes the mmap lock: no VMA lock may be held meanwhile.
        mover.release();
        // Best effort: the move is done; a fatal signal may cut the reclaim short.
        let _ = reclaim::reclaim(
            mm,
            &ReclaimRequest {
                start: req.src,
                end: req.src + outcome.moved,
                zeropage: false,
            },
            &mut ReclaimCounts::default(),
            mb,
        );
    }
    outcome
}

/// What a move's `moved` field gets, and what the ioctl returns for it: 0 when all `len`
/// bytes moved, `EAGAIN` after a part, else the error (and `moved = -errno`).
fn move_result(outcome: &MoveOutcome, len: u64) -> (i64, Result) {
    // Nothing moved means there is an error (the loop stops only on one, or when done).
    let error = outcome.error.unwrap_or(EINVAL);
    match outcome.moved {
        0 => (i64::from(error.to_errno()), Err(error)),
        m if m == len => (m as i64, Ok(())),
        m => (m as i64, Err(EAGAIN)),
    }
}

/// `PGMOVE_IOC_MOVEV`: reads a `struct pgmove_movev` and its entries, performs them in
/// order, writes each performed entry's `moved` and then `completed`.
///
/// Once the struct was read `completed` is always written (0 after an argument error).
fn movev_ioctl(owner: &MmGrab, arg: usize) -> Result<isize> {
    let req: uapi::MoveV = UserSlice::new(arg, core::mem::size_of::<uapi::MoveV>())
        .reader()
        .read()?;
    let mut completed = 0u64;
    let res = match owner.as_current() {
        Some(mm) => movev_entries(mm, &req, &mut completed),
        None => Err(EPERM),
    };
    let completed_at = arg.wrapping_add(core::mem::offset_of!(uapi::MoveV, completed));
    UserSlice::new(completed_at, core::mem::size_of::<u64>())
        .writer()
        .write(&completed)?;
    res.map(|()| 0)
}

/// The entries of a `PGMOVE_IOC_MOVEV`: all are read before any moves (no user memory is
/// touched while VMA locks are held), moved in order until one does not complete, and the
/// `moved` of each entry performed is written back once the locks are gone.
fn movev_entries(mm: &Mm, req: &uapi::MoveV, completed: &mut u64) -> Result {
    if req.flags != 0 || req.count == 0 || req.count > uapi::MOVEV_MAX {
        return Err(EINVAL);
    }
    let count = req.count as usize;
    let size = core::mem::size_of::<uapi::Move>();
    let mut entries = KVec::with_capacity(count, GFP_KERNEL)?;
    let mut reader = UserSlice::new(req.moves as usize, count * size).reader();
    for _ in 0..count {
        entries.push(reader.read::<uapi::Move>()?, GFP_KERNEL)?;
    }
    let mut results: KVec<i64> = KVec::with_capacity(count, GFP_KERNEL)?;
    let mut error = None;
    {
        let mut groups = KVec::with_capacity(count, GFP_KERNEL)?;
        // What `Mover::move_entries` may move of each group: all of it, unless it is invalid
        // (the request path gives the errno) or asks for RECLAIM_SRC after the move.
        let mut batchable = KVec::with_capacity(count, GFP_KERNEL)?;
        for group in adjacent_groups(mm, &entries) {
            let merged = &group.1;
            let request = move_request(mm, merged)
                .ok()
                .filter(|_| merged.flags & uapi::MOVE_RECLAIM_SRC == 0);
            batchable.push(request, GFP_KERNEL)?;
            groups.push(group, GFP_KERNEL)?;
        }
        let mut mover = Mover::new(mm);
        // SAFETY: the ioctl handler runs in process context and holds no lock yet.
        let mut mb = unsafe { MayBlock::ioctl_context() };
        let mut g = 0;
        'groups: while g < groups.len() {
            // Small entries that need nothing but the move go first through the tables kept
            // locked across entries (`Mover::move_entries`); the request path goes on from
            // the first entry that did not move whole that way.
            let (whole, part) = mover.move_entries(&batchable[g..], &mut mb);
            for (group, _) in &groups[g..g + whole] {
                for entry in group.iter() {
                    results.push(entry.len as i64, GFP_KERNEL)?;
                }
            }
            g += whole;
            let Some((group, merged)) = groups.get(g) else {
                break;
            };
            g += 1;
            let rest = uapi::Move {
                dst: merged.dst + part,
                src: merged.src + part,
                len: merged.len - part,
                ..*merged
            };
            let outcome = move_one(mm, &mut mover, &rest, &mut mb);
            let outcome = MoveOutcome {
                moved: part + outcome.moved,
                error: outcome.error,
            };
            // Each entry of the group gets what it would have got alone: the pages move in
            // the same order, so the request stops at the same page with the same error;
            // except where the merged request meets what one entry alone would not (the
            // end of a VMA, a hole between VMAs: EINVAL, ENOENT): from the entry it stopped
            // in, the group's entries are then moved one by one.
            let by_entry = group.len() > 1 && matches!(outcome.error, Some(EINVAL | ENOENT));
            let mut left = outcome.moved;
            for entry in group.iter() {
                let mut part = MoveOutcome {
                    moved: left.min(entry.len),
                    error: outcome.error,
                };
                left -= part.moved;
                if by_entry && part.moved < entry.len {
                    let rest = uapi::Move {
                        dst: entry.dst + part.moved,
                        src: entry.src + part.moved,
                        len: entry.len - part.moved,
                        ..*entry
                    };
                    let alone = move_one(mm, &mut mover, &rest, &mut mb);
                    part = MoveOutcome {
                        moved: part.moved + alone.moved,
                        error: alone.error,
                    };
                }
                let (moved, res) = move_result(&part, entry.len);
                results.push(moved, GFP_KERNEL)?;
                if let Err(e) = res {
                    error = Some(e);
                    break 'groups;
                }
            }
        }
    }
    // The moves happened: `completed` counts them even when a `moved` cannot be written.
    *completed = (results.len() - usize::from(error.is_some())) as u64;
    let moved_off = core::mem::offset_of!(uapi::Move, moved);
    for (i, moved) in results.iter().enumerate() {
        let at = (req.moves as usize).wrapping_add(i * size + moved_off);
        UserSlice::new(at, core::mem::size_of::<i64>())
            .writer()
            .write(moved)?;
    }
    error.map_or(Ok(()), Err)
}

/// The entries of a MOVEV in groups of consecutive entries that are adjacent (each starts,
/// at source and destination, where the one before ends), valid and with the same flags,
/// each group with the one move that performs it: a run of small objects copied in order
/// then moves as one request (one run per table instead of one per entry).
fn adjacent_groups<'a>(
    mm: &'a Mm,
    entries: &'a [uapi::Move],
) -> impl Iterator<Item = (&'a [uapi::Move], uapi::Move)> + 'a {
    let valid = move |e: &uapi::Move| {
        e.flags & !uapi::MOVE_FLAGS == 0
            && move_pages::validate_range(mm, e.dst, e.len).is_ok()
            && move_pages::validate_range(mm, e.src, e.len).is_ok()
    };
    let mut rest = entries;
    core::iter::from_fn(move || {
        let first = rest.first()?;
        let mut merged = *first;
        let mut n = 1;
        if valid(first) {
            while let Some(next) = rest.get(n) {
                let joins = next.flags == merged.flags
                    && merged.src.checked_add(merged.len) == Some(next.src)
                    && merged.dst.checked_add(merged.len) == Some(next.dst)
                    && valid(next)
                    && valid(&uapi::Move {
                        len: merged.len + next.len,
                        ..merged
                    });
                if !joins {
                    break;
                }
                merged.len += next.len;
                n += 1;
            }
        }
        let (group, tail) = rest.split_at(n);
        rest = tail;
        Some((group, merged))
    })
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
    // SAFETY: the ioctl handler runs in process context and holds no lock yet.
    let mut mb = unsafe { MayBlock::ioctl_context() };
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
