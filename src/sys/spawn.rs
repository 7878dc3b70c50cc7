//! Spawning a child (taskmaster(1), PROCESS STATES): its own session and process group (no
//! controlling terminal), its user (PRIVILEGES), stdin from /dev/null,
//! stdout and stderr into pipes, every signal at its default disposition with an empty mask, no
//! descriptor but 0, 1 and 2, the configured umask, working directory and environment, and SIGKILL
//! if taskmaster dies. Signals stay blocked from before the clone until the child has reset every
//! handler, so a signal sent at once to the new pid is delivered to the program (or kills it),
//! never to a copy of taskmaster's handlers. Exec failures come back as errors, never panics.
//!
//! The child shares taskmaster's memory (`CLONE_VM`) until it execs, while taskmaster sleeps
//! (`CLONE_VFORK`). So the child may only make system calls on data prepared before the clone: it
//! must not allocate, lock, panic or unwind, or it would corrupt the parent's heap; each unsafe
//! step below says how it keeps to that.

use crate::config::ProgramSpec;
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::sys::stat::Mode;
use nix::unistd::{Pid, pipe2};
use std::ffi::{CString, OsString};
use std::fmt;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// A child that was started: its pid and the read ends of its output pipes.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) pid: Pid,
    pub(crate) stdout: OwnedFd,
    pub(crate) stderr: OwnedFd,
}

/// The step of the child's set-up that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Chdir,
    Exec,
    Setup,
    /// The credentials of `user` (see `Credentials`), step by step.
    Setgroups,
    Setgid,
    Setuid,
}

/// Why a process could not be started; `Display` is the reason a person reads after
/// `spawnerr:` and in `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpawnError {
    /// No such command (as written, or in PATH).
    NotFound(String),
    Directory(PathBuf),
    NotExecutable(PathBuf),
    /// The program's user could not run it (or reach it).
    NotExecutableBy {
        path: PathBuf,
        user: String,
    },
    /// The command could not even be looked at.
    Inaccessible {
        path: PathBuf,
        why: String,
    },
    /// A NUL byte in the command or the environment (which no program can be given).
    NulByte,
    /// Taskmaster itself ran short (a pipe, /dev/null, the clone, the signal mask).
    Resource {
        what: &'static str,
        errno: Errno,
    },
    Chdir {
        dir: PathBuf,
        errno: Errno,
    },
    Exec {
        program: PathBuf,
        errno: Errno,
    },
    /// The child could not set itself up (its standard streams, group, parent-death signal).
    Setup(Errno),
    /// The child could not take the program's user (the step: setgroups, setgid or setuid); it
    /// never runs with part of them.
    Credentials {
        step: &'static str,
        user: String,
        errno: Errno,
    },
    /// A step the program's user was not allowed (to enter its folder, to run its command).
    AsUser {
        error: Box<SpawnError>,
        user: String,
    },
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            SpawnError::NotFound(program) => write!(f, "can't find command '{program}'"),
            SpawnError::Directory(path) => write!(f, "command at '{}' is a directory", path.display()),
            SpawnError::NotExecutable(path) => write!(f, "command at '{}' is not executable", path.display()),
            SpawnError::NotExecutableBy { path, user } => {
                write!(f, "command at '{}' is not executable by user '{user}'", path.display())
            }
            SpawnError::Inaccessible { path, why } => {
                write!(f, "can't run command '{}': {why}", path.display())
            }
            SpawnError::NulByte => write!(f, "a NUL byte in the command or its environment"),
            SpawnError::Resource { what, errno } => write!(f, "couldn't {what}: {}", errno.desc()),
            SpawnError::Chdir { dir, errno } => {
                write!(f, "couldn't chdir to {}: {}", dir.display(), errno.desc())
            }
            SpawnError::Exec { program, errno } => {
                write!(f, "couldn't exec {}: {}", program.display(), errno.desc())
            }
            SpawnError::Setup(errno) => write!(f, "couldn't set up the process: {}", errno.desc()),
            SpawnError::Credentials { step, user, errno } => {
                write!(f, "couldn't become user '{user}' ({step}): {}", errno.desc())
            }
            SpawnError::AsUser { error, user } => write!(f, "{error} (as user '{user}')"),
        }
    }
}

impl std::error::Error for SpawnError {}

/// What the child reads and writes: shared with the parent, which sleeps meanwhile.
struct Shared<'a> {
    prepared: &'a Prepared,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    parent: Pid,
    stdio: [&'a OwnedFd; 3],
    failure: Option<(Stage, i32)>,
}

/// The child's stack: it only makes system calls, a few frames deep.
const CHILD_STACK: usize = 64 * 1024;

/// Starts one process of `spec`, the way posix_spawn does: `clone(CLONE_VM | CLONE_VFORK)` on a
/// stack of its own, so nothing of taskmaster's memory is copied, and taskmaster sleeps only until
/// the child has exec'd (or failed to, which it writes into the shared memory before it exits).
/// The error is the reason a person reads after `spawnerr:`. `nofile`: the (soft, hard)
/// open-file limit the program gets.
pub(crate) fn spawn(
    spec: &ProgramSpec,
    identity: &[(&str, String)],
    nofile: (u64, u64),
) -> Result<Child, SpawnError> {
    // A relative command is found from the working folder: a folder that is not there is the
    // problem to name, not the command that cannot be found in it.
    if let Some(dir) = &spec.workingdir
        && let Err(e) = std::fs::metadata(dir).and_then(|m| match m.is_dir() {
            true => Ok(()),
            false => Err(std::io::Error::from_raw_os_error(libc::ENOTDIR)),
        })
    {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT));
        return Err(SpawnError::Chdir { dir: dir.clone(), errno });
    }
    let path_var = spec.env.get("PATH").map(OsString::from).or_else(|| std::env::var_os("PATH"));
    let program = super::lookup::resolve(spec.cmd.program(), path_var.as_deref(), spec.run_as.as_ref())?;
    let mut prepared = Prepared::new(spec, identity, &program)?;
    prepared.nofile = libc::rlimit { rlim_cur: nofile.0, rlim_max: nofile.1 };
    let short = |what| move |errno| SpawnError::Resource { what, errno };
    let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(short("create a pipe"));
    let ((out_r, out_w), (err_r, err_w)) = (pipe()?, pipe()?);
    let null = open("/dev/null", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(short("open /dev/null"))?;
    let argv = pointers(&prepared.argv);
    let envp = pointers(&prepared.envp);
    let mut shared = Shared {
        prepared: &prepared,
        argv: &argv,
        envp: &envp,
        parent: nix::unistd::getpid(),
        stdio: [&null, &out_w, &err_w],
        failure: None,
    };
    let mut stack = vec![0u8; CHILD_STACK];

    let mut old_mask = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), Some(&mut old_mask))
        .map_err(short("block signals"))?;
    // SAFETY: the child runs `child_main` on its own stack (the top of `stack`, 16-byte aligned as
    // the ABI wants) and shares taskmaster's memory, while taskmaster sleeps (CLONE_VFORK) until
    // it execs or exits: nothing is touched by both at once. `shared`, `prepared` and `stack`
    // outlive the call. What the child does keeps to the CLONE_VM rules (see `child`).
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(CHILD_STACK) as usize & !15;
        libc::clone(
            child_main,
            top as *mut libc::c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&mut shared as *mut Shared).cast(),
        )
    };
    let errno = Errno::last();
    let restored = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    let failure = shared.failure;
    drop((out_w, err_w, null, stack));
    if pid < 0 {
        return Err(SpawnError::Resource { what: "fork", errno });
    }
    restored.map_err(short("restore the signal mask"))?;
    let pid = Pid::from_raw(pid);
    match failure {
        None => Ok(Child { pid, stdout: out_r, stderr: err_r }),
        Some((stage, errno)) => {
            // The child has exited; reap it here so it is never seen as one of ours.
            let _ = nix::sys::wait::waitpid(pid, None);
            let errno = Errno::from_raw(errno);
            // Refused to the program's user, not to taskmaster: said, or it reads as nonsense
            // under a root taskmaster.
            let user = prepared.credentials.as_ref().and(spec.run_as.as_ref()).map(|r| r.user.clone());
            let as_user = |error: SpawnError| match (user.clone(), errno) {
                (Some(user), Errno::EACCES | Errno::EPERM) => {
                    SpawnError::AsUser { error: Box::new(error), user }
                }
                _ => error,
            };
            Err(match stage {
                Stage::Chdir => {
                    as_user(SpawnError::Chdir { dir: spec.workingdir.clone().unwrap_or_default(), errno })
                }
                Stage::Exec => as_user(SpawnError::Exec { program, errno }),
                Stage::Setup => SpawnError::Setup(errno),
                Stage::Setgroups | Stage::Setgid | Stage::Setuid => SpawnError::Credentials {
                    step: match stage {
                        Stage::Setgroups => "setgroups",
                        Stage::Setgid => "setgid",
                        _ => "setuid",
                    },
                    user: spec.run_as.as_ref().map_or_else(String::new, |r| r.user.clone()),
                    errno,
                },
            })
        }
    }
}

/// The child's entry point: sets itself up and execs; on failure, records why and exits.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` is the `Shared` of `spawn`, alive while the parent sleeps.
    let shared = unsafe { &mut *arg.cast::<Shared>() };
    let (stage, errno) = child(shared.prepared, shared.argv, shared.envp, shared.parent, shared.stdio);
    shared.failure = Some((stage, errno));
    // SAFETY: _exit(2) ends the child without running anything of the parent's.
    unsafe { libc::_exit(127) }
}

/// Everything the child needs, built before the clone (the child allocates nothing).
struct Prepared {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    workingdir: Option<CString>,
    umask: Option<libc::mode_t>,
    nofile: libc::rlimit,
    /// Every descriptor number below this may be open in taskmaster (its own open-file limit).
    fd_limit: libc::c_int,
    /// The empty signal set the program starts with.
    no_signals: SigSet,
    /// The program's user, when taskmaster is root and the program has one.
    credentials: Option<Credentials>,
}

/// A user to become: every group, then the group, then the user (real, effective and saved, so
/// that the program cannot take root back).
struct Credentials {
    groups: Vec<libc::gid_t>,
    gid: libc::gid_t,
    uid: libc::uid_t,
}

impl Prepared {
    /// The environment is taskmaster's own, then `identity` (who the process is: its name and
    /// its user's HOME, USER, LOGNAME, SHELL), then the program's `env`, each later one winning.
    fn new(spec: &ProgramSpec, identity: &[(&str, String)], program: &Path) -> Result<Prepared, SpawnError> {
        let c = |bytes: &[u8]| CString::new(bytes).map_err(|_| SpawnError::NulByte);
        let user_env: Vec<(&str, String)> = spec.run_as.iter().flat_map(|r| r.environment()).collect();
        let identity: Vec<&(&str, String)> = identity.iter().chain(user_env.iter()).collect();
        let set_later = |key: &str| spec.env.contains_key(key) || identity.iter().any(|(k, _)| *k == key);
        let mut env: Vec<(OsString, OsString)> =
            std::env::vars_os().filter(|(k, _)| !set_later(&k.to_string_lossy())).collect();
        env.extend(
            identity
                .iter()
                .filter(|(k, _)| !spec.env.contains_key(*k))
                .map(|(k, v)| (OsString::from(k), OsString::from(v))),
        );
        // Only root changes users; otherwise the configuration allowed only taskmaster's own.
        let credentials = spec
            .run_as
            .as_ref()
            .filter(|_| nix::unistd::geteuid().is_root())
            .map(|r| Credentials { groups: r.groups.clone(), gid: r.gid, uid: r.uid });
        env.extend(spec.env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))));
        Ok(Prepared {
            program: c(program.as_os_str().as_bytes())?,
            argv: spec.cmd.argv.iter().map(|a| c(a.as_bytes())).collect::<Result<_, _>>()?,
            envp: env
                .into_iter()
                .map(|(k, v)| c(&[k.into_vec(), b"=".to_vec(), v.into_vec()].concat()))
                .collect::<Result<_, _>>()?,
            workingdir: spec.workingdir.as_ref().map(|d| c(d.as_os_str().as_bytes())).transpose()?,
            umask: spec.umask.map(|m| m.0 as libc::mode_t),
            nofile: libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY },
            fd_limit: nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
                .map_or(1024, |(soft, _)| libc::c_int::try_from(soft).unwrap_or(libc::c_int::MAX)),
            no_signals: SigSet::empty(),
            credentials,
        })
    }
}

/// Runs in the child between the clone and the exec. Returns only on failure. Every call here is
/// a system call on data the parent prepared: nothing allocates, locks or panics (see the module
/// comment).
fn child(
    p: &Prepared,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    parent: Pid,
    stdio: [&OwnedFd; 3],
) -> (Stage, i32) {
    // The standard descriptors first (their sources are above 2: taskmaster keeps 0 to 2 open).
    for (to, from) in stdio.iter().enumerate() {
        // SAFETY: dup2(2) on two descriptors; `from` is open (the parent holds it).
        if unsafe { libc::dup2(from.as_raw_fd(), to as i32) } < 0 {
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
    // Before the user changes: raising a hard limit takes root.
    // SAFETY: setrlimit(2) reads a prepared `rlimit`; a failure leaves the limit as it was.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &p.nofile) };
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
