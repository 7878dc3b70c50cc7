//! The clone at the heart of every spawn (see `spawn` for a program's process, `helper` for
//! taskmaster's own short-lived helpers): `clone(CLONE_VM | CLONE_VFORK)` on a stack of its own,
//! the way posix_spawn does, so nothing of taskmaster's memory is copied and taskmaster sleeps
//! only until the child has exec'd (or failed to, which it writes into the shared memory before
//! it exits).
//!
//! The child shares taskmaster's memory until it execs, while taskmaster sleeps. So the child may
//! only make system calls on data prepared before the clone: it must not allocate, lock, panic or
//! unwind, or it would corrupt the parent's heap; each unsafe step below says how it keeps to that.
//!
//! It shares taskmaster's descriptor table too (CLONE_FILES), and its first act is to take a
//! table of its own holding only the lowest few descriptors (close_range(2) with
//! CLOSE_RANGE_UNSHARE): the three `Slots` where taskmaster put the program's standard
//! descriptors just before. A clone that copied the whole table, and an exec that then closed
//! it, would cost each spawn time in proportion to the descriptors taskmaster holds: two per
//! process it runs (taskmaster(1), IMPLEMENTATION NOTES).

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::unistd::Pid;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

/// Three descriptors at low numbers, reserved when taskmaster starts (each /dev/null between
/// spawns), and a /dev/null to put back in them.
struct Slots {
    slots: [OwnedFd; 3],
    null: OwnedFd,
}

static SLOTS: OnceLock<Slots> = OnceLock::new();

/// Slots above this would make each child copy too much of the table: spawns go without them.
const MAX_SLOT: RawFd = 64;

/// Reserves the slots; called once, early, while the lowest descriptor numbers are free. Without
/// them (numbers taken, or no /dev/null) every spawn copies the whole table, as before.
pub(crate) fn reserve_slots() {
    let open =
        || nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, nix::sys::stat::Mode::empty());
    if let (Ok(a), Ok(b), Ok(c), Ok(null)) = (open(), open(), open(), open())
        && [&a, &b, &c].iter().all(|fd| fd.as_raw_fd() < MAX_SLOT)
    {
        let _ = SLOTS.set(Slots { slots: [a, b, c], null });
    }
}

/// Puts `stdio` in the slots for a clone; the slots' numbers, or None to go without.
fn fill_slots(stdio: [&OwnedFd; 3]) -> Option<[RawFd; 3]> {
    let slots = SLOTS.get()?;
    for (slot, from) in slots.slots.iter().zip(stdio) {
        // SAFETY: dup3(2) on two open descriptors; the slot is taskmaster's own /dev/null, which
        // it replaces (a single thread: nothing else opens or closes meanwhile).
        if unsafe { libc::dup3(from.as_raw_fd(), slot.as_raw_fd(), libc::O_CLOEXEC) } < 0 {
            empty_slots();
            return None;
        }
    }
    Some(slots.slots.each_ref().map(AsRawFd::as_raw_fd))
}

/// /dev/null back in every slot: taskmaster must not keep a child's pipe open there.
fn empty_slots() {
    if let Some(slots) = SLOTS.get() {
        for slot in &slots.slots {
            // SAFETY: dup3(2) of taskmaster's /dev/null onto its own slot.
            unsafe { libc::dup3(slots.null.as_fd().as_raw_fd(), slot.as_raw_fd(), libc::O_CLOEXEC) };
        }
    }
}

/// The step of the child's set-up that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stage {
    Chdir,
    /// The program's limit number N (in the order of `Prepared::rlimits`).
    Rlimit(usize),
    Exec,
    Setup,
    /// The credentials of `user` (see `Credentials`), step by step.
    Setgroups,
    Setgid,
    Setuid,
}

/// What the child reads and writes: shared with the parent, which sleeps meanwhile.
struct Shared<'a> {
    prepared: &'a Prepared,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    parent: Pid,
    /// The descriptors to make 0, 1 and 2: the slots (in a shared table), or the originals.
    stdio: [RawFd; 3],
    /// With slots: the table is shared, and the child keeps the descriptors below this.
    keep_below: Option<RawFd>,
    failure: Option<(Stage, i32)>,
}

/// The child's stack: it only makes system calls, a few frames deep.
const CHILD_STACK: usize = 64 * 1024;

/// Why `launch` did not start a program.
#[derive(Debug)]
pub(super) enum Launch {
    /// Taskmaster itself ran short (the clone, the signal mask).
    Resource { what: &'static str, errno: Errno },
    /// The child failed at `Stage` (and was reaped).
    Failed(Stage, Errno),
}

/// Clones a child that sets itself up as `prepared` says, with `stdio` as its descriptors 0 to 2,
/// and execs; signals stay blocked from before the clone until the child has reset every
/// handler, so a signal sent at once to the new pid is delivered to the program (or kills it),
/// never to a copy of taskmaster's handlers.
pub(super) fn launch(prepared: &Prepared, stdio: [&OwnedFd; 3]) -> Result<Pid, Launch> {
    let argv = pointers(&prepared.argv);
    let envp = pointers(&prepared.envp);
    let slots = fill_slots(stdio);
    let mut shared = Shared {
        prepared,
        argv: &argv,
        envp: &envp,
        parent: nix::unistd::getpid(),
        stdio: slots.unwrap_or_else(|| stdio.map(AsRawFd::as_raw_fd)),
        keep_below: slots.map(|s| s.iter().max().copied().unwrap_or(2) + 1),
        failure: None,
    };
    let files = if slots.is_some() { libc::CLONE_FILES } else { 0 };
    let mut stack = vec![0u8; CHILD_STACK];
    let short = |what| move |errno| Launch::Resource { what, errno };
    let mut old_mask = SigSet::empty();
    if let Err(errno) = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), Some(&mut old_mask)) {
        empty_slots();
        return Err(short("block signals")(errno));
    }
    // SAFETY: the child runs `child_main` on its own stack (the top of `stack`, 16-byte aligned as
    // the ABI wants) and shares taskmaster's memory, while taskmaster sleeps (CLONE_VFORK) until
    // it execs or exits: nothing is touched by both at once. `shared`, `prepared` and `stack`
    // outlive the call. What the child does keeps to the CLONE_VM rules (see `child`).
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(CHILD_STACK) as usize & !15;
        libc::clone(
            child_main,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | files | libc::SIGCHLD,
            (&mut shared as *mut Shared).cast(),
        )
    };
    let errno = Errno::last();
    empty_slots();
    let restored = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    let failure = shared.failure;
    drop(stack);
    if pid < 0 {
        return Err(Launch::Resource { what: "fork", errno });
    }
    restored.map_err(short("restore the signal mask"))?;
    let pid = Pid::from_raw(pid);
    match failure {
        None => Ok(pid),
        Some((stage, errno)) => {
            // The child has exited; reap it here so it is never seen as one of ours.
            let _ = nix::sys::wait::waitpid(pid, None);
            Err(Launch::Failed(stage, Errno::from_raw(errno)))
        }
    }
}

/// The child's entry point: sets itself up and execs; on failure, records why and exits.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Shared` of `spawn`, alive while the parent sleeps.
    let shared = unsafe { &mut *arg.cast::<Shared>() };
    let failed = match shared.keep_below.map(own_table) {
        Some(Err(errno)) => (Stage::Setup, errno),
        _ => child(shared.prepared, shared.argv, shared.envp, shared.parent, shared.stdio),
    };
    shared.failure = Some(failed);
    // SAFETY: _exit(2) ends the child without running anything of the parent's.
    unsafe { libc::_exit(127) }
}

/// Gives the child, which shares taskmaster's table, one of its own with the descriptors below
/// `keep_below` only; the whole table if the kernel is older than 5.9. Before anything else:
/// whatever the child changes in a shared table, it changes in taskmaster's.
fn own_table(keep_below: RawFd) -> Result<(), i32> {
    // SAFETY: close_range(2) with plain integers: unshares this process's table, copying the
    // descriptors below `keep_below`, then closes the rest in the copy only.
    let done = unsafe {
        libc::syscall(libc::SYS_close_range, keep_below as u32, u32::MAX, libc::CLOSE_RANGE_UNSHARE)
    };
    // SAFETY: unshare(2) CLONE_FILES copies the table; taskmaster's is untouched.
    if done != 0 && unsafe { libc::unshare(libc::CLONE_FILES) } != 0 {
        return Err(Errno::last_raw());
    }
    Ok(())
}

/// Everything the child needs, built before the clone (the child allocates nothing).
pub(super) struct Prepared {
    pub(super) program: CString,
    pub(super) argv: Vec<CString>,
    pub(super) envp: Vec<CString>,
    pub(super) workingdir: Option<CString>,
    pub(super) umask: Option<libc::mode_t>,
    pub(super) nofile: libc::rlimit,
    /// The program's `rlimits`, soft and hard alike, set after `nofile`.
    pub(super) rlimits: Vec<(libc::__rlimit_resource_t, libc::rlimit)>,
    /// Every descriptor number below this may be open in taskmaster (its own open-file limit).
    pub(super) fd_limit: libc::c_int,
    /// The empty signal set the program starts with.
    pub(super) no_signals: SigSet,
    /// The program's user, when taskmaster is root and the program has one.
    pub(super) credentials: Option<Credentials>,
    /// Its stdin is a terminal (`tty: true`) to take as its controlling terminal.
    pub(super) controlling_terminal: bool,
}

/// A user to become: every group, then the group, then the user (real, effective and saved, so
/// that the program cannot take root back).
pub(super) struct Credentials {
    pub(super) groups: Vec<libc::gid_t>,
    pub(super) gid: libc::gid_t,
    pub(super) uid: libc::uid_t,
}

/// Runs in the child between the clone and the exec. Returns only on failure. Every call here is
/// a system call on data the parent prepared: nothing allocates, locks or panics (see the module
/// comment).
fn child(
    p: &Prepared,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    parent: Pid,
    stdio: [RawFd; 3],
) -> (Stage, i32) {
    // The standard descriptors first (their sources are above 2: taskmaster keeps 0 to 2 open).
    for (to, from) in stdio.iter().enumerate() {
        // SAFETY: dup2(2) on two descriptors of the child's own table; `from` is open there.
        if unsafe { libc::dup2(*from, to as i32) } < 0 {
            return (Stage::Setup, Errno::last_raw());
        }
    }
    // The raw system call: glibc's wrappers refuse the two realtime signals it keeps for itself,
    // which may still have been inherited as ignored.
    let default_action = [0u64; 4];
    for signo in 1..=libc::SIGRTMAX() {
        if signo != libc::SIGKILL && signo != libc::SIGSTOP {
            // SAFETY: rt_sigaction(2) with a zeroed `struct sigaction` on the stack (SIG_DFL, no
            // flags) and no old action to store; the size is the kernel's sigset (8 bytes).
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signo,
                    default_action.as_ptr(),
                    std::ptr::null::<u8>(),
                    8usize,
                )
            };
        }
    }
    // A session of its own, which is also a process group of its own: no program keeps the
    // terminal taskmaster runs on as its controlling terminal, where it could push keys into
    // taskmaster's shell or the shell behind it (TIOCSTI), or read from it.
    // SAFETY: setsid(2) takes nothing.
    if unsafe { libc::setsid() } < 0 {
        return (Stage::Setup, Errno::last_raw());
    }
    // A program on a terminal of its own (`tty: true`) takes it as its controlling terminal, the
    // one its shell's job control, Ctrl-C and SIGWINCH go through.
    // SAFETY: ioctl(2) TIOCSCTTY on descriptor 0 with an integer argument.
    if p.controlling_terminal && unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return (Stage::Setup, Errno::last_raw());
    }
    // Before the user changes: raising a hard limit takes root.
    // SAFETY: setrlimit(2) reads a prepared `rlimit`; a failure leaves the limit as it was.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &p.nofile) };
    for (n, (resource, limit)) in p.rlimits.iter().enumerate() {
        // SAFETY: setrlimit(2) reads a prepared `rlimit`. A limit the program asked for and
        // cannot have is a failed start, not a program run without it.
        if unsafe { libc::setrlimit(*resource, limit) } != 0 {
            return (Stage::Rlimit(n), Errno::last_raw());
        }
    }
    if let Some(credentials) = &p.credentials
        && let Err(failed) = become_user(credentials)
    {
        return failed;
    }
    // After the user changes, which clears it.
    // SAFETY: prctl(2) takes plain integers.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) } != 0 {
        return (Stage::Setup, Errno::last_raw());
    }
    // Taskmaster died before the parent-death signal was set: do not run unsupervised.
    // SAFETY: getppid(2) cannot fail.
    if unsafe { libc::getppid() } != parent.as_raw() {
        // SAFETY: _exit(2) ends the child without running any of the parent's code.
        unsafe { libc::_exit(127) };
    }
    if let Some(mask) = p.umask {
        // SAFETY: umask(2) takes an integer and cannot fail.
        unsafe { libc::umask(mask) };
    }
    if let Some(dir) = &p.workingdir {
        // SAFETY: chdir(2) on a prepared NUL-terminated path.
        if unsafe { libc::chdir(dir.as_ptr()) } != 0 {
            return (Stage::Chdir, Errno::last_raw());
        }
    }
    close_inherited(p.fd_limit);
    // SAFETY: sigprocmask(2) reads a prepared empty set; the old mask is not asked for.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, p.no_signals.as_ref(), std::ptr::null_mut()) };
    // SAFETY: execve(2) with prepared NUL-terminated strings and NULL-terminated pointer arrays,
    // all alive in the sleeping parent's memory.
    unsafe { libc::execve(p.program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    (Stage::Exec, Errno::last_raw())
}

/// Takes the program's groups, group and user, in that order (each step needs the privileges
/// the next one gives up). The raw system calls: glibc's wrappers would ask every thread of
/// taskmaster to change too, and this child is not one of them.
fn become_user(c: &Credentials) -> Result<(), (Stage, i32)> {
    use libc::{SYS_getegid, SYS_geteuid, SYS_getgid, SYS_getuid};
    // SAFETY: setgroups(2) reads `len` gids from a prepared vector.
    if unsafe { libc::syscall(libc::SYS_setgroups, c.groups.len(), c.groups.as_ptr()) } != 0 {
        return Err((Stage::Setgroups, Errno::last_raw()));
    }
    // SAFETY: setresgid(2) takes plain integers.
    if unsafe { libc::syscall(libc::SYS_setresgid, c.gid, c.gid, c.gid) } != 0 {
        return Err((Stage::Setgid, Errno::last_raw()));
    }
    // SAFETY: setresuid(2) takes plain integers.
    if unsafe { libc::syscall(libc::SYS_setresuid, c.uid, c.uid, c.uid) } != 0 {
        return Err((Stage::Setuid, Errno::last_raw()));
    }
    // What the kernel did, not what was asked: never run with part of the change.
    // SAFETY: getuid(2), geteuid(2), getgid(2) and getegid(2) take nothing and cannot fail.
    let ids =
        unsafe { [SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid].map(|call| libc::syscall(call) as u32) };
    if ids != [c.uid, c.uid, c.gid, c.gid] {
        return Err((Stage::Setuid, libc::EPERM));
    }
    Ok(())
}

/// Descriptors inherited without close-on-exec (from the shell that started taskmaster) must not
/// reach the program: every descriptor from 3 up is marked close-on-exec. close_range(2) does it
/// at once since Linux 5.11; before, each number below `limit` is marked one by one.
fn close_inherited(limit: libc::c_int) {
    // SAFETY: close_range(2) with plain integers; it only sets flags on this process's table.
    let done = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if done == 0 {
        return;
    }
    for fd in 3..limit {
        // SAFETY: fcntl(2) F_SETFD on a number that is open or not (EBADF, ignored).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// A NULL-terminated array of pointers into `strings`, as execve wants.
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
}
