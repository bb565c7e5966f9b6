// SPDX-License-Identifier: GPL-2.0

//! The race points' state and their debugfs file (compiled with `--cfg pgmove_race_points`
//! only): what a point does when a task reaches it ([`reached_sleepable`],
//! [`reached_atomic`]) and the commands that arm it ([`Registration`]).
//!
//! # Invariants
//!
//! Each point's completion is initialised by [`Registration::new`] before the debugfs file
//! exists, and a point does nothing until a command arms it through that file, so no task
//! waits on an uninitialised completion. It is reinitialised only when the point is armed
//! while no task is stopped at it (`EBUSY` otherwise), so a stopped task always waits on the
//! completion that `release` completes.

use super::Point;
use crate::mm::MayBlock;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, Ordering};
use kernel::{
    alloc::KVec,
    bindings, c_str,
    error::from_result,
    ffi::{c_char, c_void},
    prelude::*,
    types::Opaque,
    uaccess::UserSlice,
    ThisModule,
};

/// `mode`: disarmed.
const OFF: u32 = 0;
/// `mode`: armed to stop.
const STOP: u32 = 1;
/// `mode`: armed to delay.
const DELAY: u32 = 2;
/// `mode`: armed to stop, and a task has stopped (it stops once per arming).
const FIRED: u32 = 3;

/// `state`: no task stopped since the point was armed.
const IDLE: u32 = 0;
/// `state`: a task is stopped at the point.
const STOPPED: u32 = 1;
/// `state`: a task was stopped and has gone on.
const PASSED: u32 = 2;

/// The longest stop at an atomic point (RCU stall reports start at 21 s).
const ATOMIC_STOP_MS: u32 = 10_000;
/// The longest stop at a sleepable point.
const SLEEPABLE_STOP_MS: u32 = 60_000;
/// The longest delay at an atomic point (busy-waited), and at a sleepable one: `delay`
/// refuses longer ones (`EINVAL`), so an armed delay is never longer.
const ATOMIC_DELAY_MAX_US: u32 = 10_000;
const SLEEPABLE_DELAY_MAX_US: u32 = 1_000_000;

/// One point's arming and what happened at it.
struct PointState {
    mode: AtomicU32,
    tgid: AtomicI32,
    skip: AtomicU32,
    delay_us: AtomicU32,
    hits: AtomicU32,
    state: AtomicU32,
    contended: AtomicBool,
    /// A `hold`: the stop ends by itself after this many milliseconds (0: a `stop`).
    hold_ms: AtomicU32,
    /// When the stopped task went on (`ktime_get()`, CLOCK_MONOTONIC nanoseconds).
    passed_ns: AtomicI64,
    timeouts: AtomicU32,
    /// Completed by `release`/`off`; what a stopped task waits for.
    release: Opaque<bindings::completion>,
}

impl PointState {
    const fn new() -> Self {
        Self {
            mode: AtomicU32::new(OFF),
            tgid: AtomicI32::new(0),
            skip: AtomicU32::new(0),
            delay_us: AtomicU32::new(0),
            hits: AtomicU32::new(0),
            state: AtomicU32::new(IDLE),
            contended: AtomicBool::new(false),
            hold_ms: AtomicU32::new(0),
            passed_ns: AtomicI64::new(0),
            timeouts: AtomicU32::new(0),
            release: Opaque::uninit(),
        }
    }
}

/// Every point's state, indexed by `Point as usize`.
struct Points([PointState; Point::COUNT]);

// SAFETY: the atomics are shared as such; the completions are only used through the kernel's
// completion functions, which do their own locking, after `Registration::new` initialised
// them (module invariant).
unsafe impl Sync for Points {}

const NEW_POINT: PointState = PointState::new();
static POINTS: Points = Points([NEW_POINT; Point::COUNT]);

fn state(point: Point) -> &'static PointState {
    &POINTS.0[point as usize]
}

/// The thread-group id of the calling task (in the initial pid namespace).
fn current_tgid() -> i32 {
    // SAFETY: reads the calling task's own tgid, always allowed.
    unsafe { crate::c::pgmove_current_tgid() }
}

/// What a task that reached an armed point does.
enum Action {
    Stop(&'static PointState),
    Delay(u32),
}

/// Counts the hit and decides what to do: nothing unless the point is armed for the
/// caller's process.
#[inline(always)]
fn hit(point: Point) -> Option<Action> {
    let s = state(point);
    let mode = s.mode.load(Ordering::Acquire);
    if mode != STOP && mode != DELAY {
        return None;
    }
    if s.tgid.load(Ordering::Relaxed) != current_tgid() {
        return None;
    }
    let earlier = s.hits.fetch_add(1, Ordering::Relaxed);
    if mode == DELAY {
        return Some(Action::Delay(s.delay_us.load(Ordering::Relaxed)));
    }
    if earlier < s.skip.load(Ordering::Relaxed) {
        return None;
    }
    // One stop per arming, even if two tasks of the process get here at once.
    s.mode
        .compare_exchange(STOP, FIRED, Ordering::AcqRel, Ordering::Relaxed)
        .ok()?;
    s.contended.store(false, Ordering::Relaxed);
    s.state.store(STOPPED, Ordering::Release);
    Some(Action::Stop(s))
}

pub(super) fn reached_sleepable(point: Point, _mb: &mut MayBlock) {
    match hit(point) {
        None => {}
        Some(Action::Delay(us)) => {
            // SAFETY: `_mb` proves a sleepable context.
            unsafe {
                if us >= 1000 {
                    bindings::msleep(us / 1000);
                } else {
                    bindings::__udelay(us as _);
                }
            }
        }
        Some(Action::Stop(s)) => {
            let hold = s.hold_ms.load(Ordering::Relaxed);
            let ms = if hold > 0 { hold } else { SLEEPABLE_STOP_MS };
            // SAFETY: the completion was initialised before the point could be armed
            // (module invariant); `_mb` proves we may sleep.
            let left = unsafe {
                bindings::wait_for_completion_killable_timeout(
                    s.release.get(),
                    bindings::__msecs_to_jiffies(ms),
                )
            };
            if left == 0 && hold == 0 {
                s.timeouts.fetch_add(1, Ordering::Relaxed);
            }
            passed(s);
        }
    }
}

pub(super) fn reached_atomic(point: Point, mut contended: impl FnMut() -> bool) {
    match hit(point) {
        None => {}
        Some(Action::Delay(us)) => {
            // SAFETY: busy-waiting is allowed in any context.
            unsafe { bindings::__udelay(us as _) };
        }
        Some(Action::Stop(s)) => {
            // The clock is `jiffies`, a memory read: a clocksource read in the loop can be an
            // emulated device access (HPET under QEMU's TCG) that serialises the other CPUs'
            // device accesses behind this one and starves them.
            let hold = s.hold_ms.load(Ordering::Relaxed);
            let ms = if hold > 0 { hold } else { ATOMIC_STOP_MS };
            // SAFETY: reading `jiffies` and converting milliseconds are allowed in any context.
            let deadline = unsafe {
                crate::c::pgmove_jiffies().wrapping_add(bindings::__msecs_to_jiffies(ms))
            };
            loop {
                // SAFETY: initialised before the point could be armed (module invariant);
                // `completion_done()` only takes the completion's own lock, with IRQs off.
                if unsafe { bindings::completion_done(s.release.get()) } {
                    break;
                }
                if contended() {
                    s.contended.store(true, Ordering::Relaxed);
                }
                // SAFETY: as above.
                let now = unsafe { crate::c::pgmove_jiffies() };
                if (now.wrapping_sub(deadline) as isize) > 0 {
                    if hold == 0 {
                        s.timeouts.fetch_add(1, Ordering::Relaxed);
                        // What the process's other threads were doing meanwhile.
                        pr_info!("race point {}: no release in time\n", point.name());
                        // SAFETY: prints the calling process's threads; any context.
                        unsafe { crate::c::pgmove_show_thread_group() };
                    }
                    break;
                }
                // No `cpu_relax()` (PAUSE): under QEMU's TCG every PAUSE leaves the vCPU's
                // execution loop and retakes QEMU's global lock, and a vCPU doing that
                // millions of times a second starves the other vCPUs' timer interrupts (the
                // task that is to release us then sleeps through its wakeup). On hardware
                // this costs a hyperthread sibling some cycles, in a debug-only spin.
            }
            passed(s);
        }
    }
}

/// Records that the task stopped at `s` goes on, and when.
fn passed(s: &PointState) {
    // SAFETY: reading the clock is allowed in any context.
    let now = unsafe { bindings::ktime_get() };
    s.passed_ns.store(now, Ordering::Relaxed);
    s.state.store(PASSED, Ordering::Release);
}

/// Arms `point` (`mode` `STOP` or `DELAY`) for process `tgid`; `hold_ms`: a stop that
/// ends by itself after that long (0: only `release` or the timeout end it; at most the
/// point's longest stop). `EBUSY` while a task is stopped at it.
fn arm(point: Point, mode: u32, tgid: i32, skip: u32, delay_us: u32, hold_ms: u32) -> Result {
    let s = state(point);
    if hold_ms > by_context(point, ATOMIC_STOP_MS, SLEEPABLE_STOP_MS) {
        return Err(EINVAL);
    }
    if s.state.load(Ordering::Acquire) == STOPPED {
        return Err(EBUSY);
    }
    s.mode.store(OFF, Ordering::Release);
    // SAFETY: initialised by `Registration::new`; no task waits on it (no task is stopped,
    // and none can stop while the mode is `OFF`: module invariant).
    unsafe { crate::c::pgmove_reinit_completion(s.release.get()) };
    s.tgid.store(tgid, Ordering::Relaxed);
    s.skip.store(skip, Ordering::Relaxed);
    s.delay_us.store(delay_us, Ordering::Relaxed);
    s.hits.store(0, Ordering::Relaxed);
    s.timeouts.store(0, Ordering::Relaxed);
    s.contended.store(false, Ordering::Relaxed);
    s.hold_ms.store(hold_ms, Ordering::Relaxed);
    s.passed_ns.store(0, Ordering::Relaxed);
    s.state.store(IDLE, Ordering::Relaxed);
    s.mode.store(mode, Ordering::Release);
    Ok(())
}

/// Lets a task stopped at `point` go on; with `disarm`, also disarms the point.
fn release(point: Point, disarm: bool) {
    let s = state(point);
    if disarm {
        s.mode.store(OFF, Ordering::Release);
    }
    // SAFETY: initialised by `Registration::new` (module invariant).
    unsafe { bindings::complete_all(s.release.get()) };
}

/// One of two limits, by the point's context.
fn by_context(point: Point, atomic: u32, sleepable: u32) -> u32 {
    if point.is_atomic() {
        atomic
    } else {
        sleepable
    }
}

fn find(name: &str) -> Result<Point> {
    Point::ALL
        .iter()
        .copied()
        .find(|p| p.name() == name)
        .ok_or(ENOENT)
}

fn number<T: core::str::FromStr>(word: Option<&str>) -> Result<T> {
    word.ok_or(EINVAL)?.parse().map_err(|_| EINVAL)
}

/// Carries out one command written to the debugfs file.
fn command(text: &str) -> Result {
    let mut words = text.split_ascii_whitespace();
    let verb = words.next().ok_or(EINVAL)?;
    let name = words.next().ok_or(EINVAL)?;
    if verb == "off" && name == "all" {
        for p in Point::ALL {
            release(p, true);
        }
        return words.next().map_or(Ok(()), |_| Err(EINVAL));
    }
    let point = find(name)?;
    let res = match verb {
        "stop" => {
            let tgid = number(words.next())?;
            let skip = words.next().map_or(Ok(0), |w| number(Some(w)))?;
            arm(point, STOP, tgid, skip, 0, 0)
        }
        "hold" => {
            let tgid = number(words.next())?;
            let ms: u32 = number(words.next())?;
            let skip = words.next().map_or(Ok(0), |w| number(Some(w)))?;
            if ms == 0 {
                return Err(EINVAL);
            }
            arm(point, STOP, tgid, skip, 0, ms)
        }
        "delay" => {
            let tgid = number(words.next())?;
            let us: u32 = number(words.next())?;
            if us > by_context(point, ATOMIC_DELAY_MAX_US, SLEEPABLE_DELAY_MAX_US) {
                return Err(EINVAL);
            }
            arm(point, DELAY, tgid, 0, us, 0)
        }
        "release" => {
            release(point, false);
            Ok(())
        }
        "off" => {
            release(point, true);
            Ok(())
        }
        _ => Err(EINVAL),
    };
    res?;
    words.next().map_or(Ok(()), |_| Err(EINVAL))
}

/// A growing text buffer for the debugfs read.
struct Text(KVec<u8>);

impl core::fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| core::fmt::Error)
    }
}

/// The debugfs file's contents.
fn render() -> Result<KVec<u8>> {
    use core::fmt::Write;
    let mut t = Text(KVec::new());
    let mut out = || -> core::fmt::Result {
        writeln!(
            t,
            "# name context mode tgid skip delay_us hits state contended timeouts passed_ns"
        )?;
        for p in Point::ALL {
            let s = state(p);
            let mode = match s.mode.load(Ordering::Acquire) {
                STOP => "stop",
                DELAY => "delay",
                FIRED => "fired",
                _ => "off",
            };
            let st = match s.state.load(Ordering::Acquire) {
                STOPPED => "stopped",
                PASSED => "passed",
                _ => "idle",
            };
            writeln!(
                t,
                "{} {} {} {} {} {} {} {} {} {} {}",
                p.name(),
                if p.is_atomic() { "atomic" } else { "sleepable" },
                mode,
                s.tgid.load(Ordering::Relaxed),
                s.skip.load(Ordering::Relaxed),
                s.delay_us.load(Ordering::Relaxed),
                s.hits.load(Ordering::Relaxed),
                st,
                u8::from(s.contended.load(Ordering::Relaxed)),
                s.timeouts.load(Ordering::Relaxed),
                s.passed_ns.load(Ordering::Relaxed),
            )?;
        }
        Ok(())
    };
    out().map_err(|_| ENOMEM)?;
    Ok(t.0)
}

/// `file_operations.read` of the debugfs file.
///
/// # Safety
///
/// Called by the VFS (through debugfs) with a user buffer of `count` bytes and a valid `ppos`.
unsafe extern "C" fn fops_read(
    _file: *mut bindings::file,
    buf: *mut c_char,
    count: usize,
    ppos: *mut bindings::loff_t,
) -> isize {
    from_result(|| {
        let text = render()?;
        // SAFETY: `buf`, `count` and `ppos` come from the VFS (function contract); `text` is
        // a kernel buffer of `text.len()` bytes.
        Ok(unsafe {
            bindings::simple_read_from_buffer(
                buf.cast::<c_void>(),
                count,
                ppos,
                text.as_ptr().cast::<c_void>(),
                text.len(),
            )
        })
    })
}

/// `file_operations.write` of the debugfs file: one command.
///
/// # Safety
///
/// Called by the VFS (through debugfs) with a user buffer of `count` bytes.
unsafe extern "C" fn fops_write(
    _file: *mut bindings::file,
    buf: *const c_char,
    count: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    from_result(|| {
        let mut kbuf = [0u8; 128];
        let text = kbuf.get_mut(..count).ok_or(EINVAL)?;
        UserSlice::new(buf as usize, count)
            .reader()
            .read_slice(text)?;
        command(core::str::from_utf8(text).map_err(|_| EINVAL)?)?;
        Ok(count as isize)
    })
}

/// The debugfs directory `pgmove` with the `race_points` file; removed on drop.
///
/// # Invariants
///
/// `dir` was returned by `debugfs_create_dir()` (an error pointer if debugfs refused it);
/// the file in it uses `*fops`, which lives until `drop` has removed the file.
pub(crate) struct Registration {
    dir: *mut bindings::dentry,
    _fops: KBox<bindings::file_operations>,
}

// SAFETY: the dentry pointer is only passed to `debugfs_remove()`, once, on drop; the fops are
// only read by the VFS.
unsafe impl Send for Registration {}
// SAFETY: `&Registration` allows nothing.
unsafe impl Sync for Registration {}

impl Registration {
    /// Initialises the points and creates their debugfs file, owned by `module`.
    pub(crate) fn new(module: &'static ThisModule) -> Result<Self> {
        for p in Point::ALL {
            // SAFETY: the completion is not in use: no point is armed before the file exists.
            unsafe { crate::c::pgmove_init_completion(state(p).release.get()) };
        }
        // SAFETY: all-zeroes is a valid `file_operations` (pointers and optional functions).
        let mut fops: bindings::file_operations = unsafe { core::mem::zeroed() };
        fops.owner = module.as_ptr();
        fops.read = Some(fops_read);
        fops.write = Some(fops_write);
        let fops = KBox::new(fops, GFP_KERNEL)?;
        // SAFETY: a NUL-terminated name; no parent (the debugfs root).
        let dir = unsafe {
            crate::c::debugfs_create_dir(c_str!("pgmove").as_char_ptr(), core::ptr::null_mut())
        };
        // SAFETY: `dir` is a directory (or an error pointer, which debugfs then refuses);
        // `fops` lives in its box until `drop` has removed the file.
        unsafe {
            crate::c::debugfs_create_file(
                c_str!("race_points").as_char_ptr(),
                0o600,
                dir,
                core::ptr::null_mut(),
                &*fops,
            )
        };
        // INVARIANT: `dir` from `debugfs_create_dir()`; the file uses `fops`.
        Ok(Self { dir, _fops: fops })
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: `dir` came from `debugfs_create_dir()` (type invariant); removing it waits
        // for the file's readers and writers, after which the fops are unused.
        unsafe { crate::c::debugfs_remove(self.dir) };
        // No ioctl can be running (the module is going), so no task is stopped; release
        // anything anyway.
        for p in Point::ALL {
            release(p, true);
        }
    }
}
