//! Spawning a child (SPEC §3): its own process group, stdin from /dev/null, stdout and stderr
//! into pipes, every signal at its default disposition with an empty mask, no descriptor but
//! 0, 1 and 2, the configured umask, working directory and environment, and SIGKILL if
//! taskmaster dies. Signals stay blocked from before `fork` until the child has reset every
//! handler, so a signal sent at once to the new pid is delivered to the program (or kills it),
//! never to a copy of taskmaster's handlers. Exec failures come back through a pipe as errors.

use crate::config::{ProgramSpec, describe_io};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::sys::stat::Mode;
use nix::unistd::{ForkResult, Pid, fork, pipe2};
use std::ffi::{CString, OsString};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// A child that was started: its pid and the read ends of its output pipes.
#[derive(Debug)]
pub struct Child {
    pub pid: Pid,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// What the child reports back before exec when a step fails.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Stage {
    Chdir = 1,
    Exec = 2,
    Setup = 3,
}

/// Starts one process of `spec` and waits until it has exec'd. The error is the reason a person
/// reads after `spawnerr:`. `nofile`: the (soft, hard) open-file limit the program gets.
pub fn spawn(spec: &ProgramSpec, nofile: (u64, u64)) -> Result<Child, String> {
    fork_child(spec, nofile)?.wait_exec()
}

/// A child forked and on its way to exec.
#[derive(Debug)]
pub struct Forked {
    pid: Pid,
    stdout: OwnedFd,
    stderr: OwnedFd,
    /// Closes at exec; carries the failure when there is one.
    report: OwnedFd,
    program: PathBuf,
    workingdir: Option<PathBuf>,
}

/// Forks a child for `spec` without waiting for its exec, so that several can be started side
/// by side (`wait_exec` tells how each went).
pub fn fork_child(spec: &ProgramSpec, nofile: (u64, u64)) -> Result<Forked, String> {
    let path_var = spec.env.get("PATH").map(OsString::from).or_else(|| std::env::var_os("PATH"));
    let program = resolve(spec.cmd.program(), path_var.as_deref())?;
    let mut prepared = Prepared::new(spec, &program)?;
    prepared.nofile = libc::rlimit { rlim_cur: nofile.0, rlim_max: nofile.1 };
    let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("couldn't create a pipe: {}", e.desc()));
    let ((out_r, out_w), (err_r, err_w), (report_r, report_w)) = (pipe()?, pipe()?, pipe()?);
    let null = open("/dev/null", OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| format!("couldn't open /dev/null: {}", e.desc()))?;
    let parent = nix::unistd::getpid();
    let argv = pointers(&prepared.argv);
    let envp = pointers(&prepared.envp);

    let mut old_mask = SigSet::empty();
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), Some(&mut old_mask))
        .map_err(|e| format!("couldn't block signals: {}", e.desc()))?;
    // SAFETY: taskmaster has a single thread, so the child is a complete copy with no lock held
    // by another thread; it only makes system calls on data prepared above, then execs or exits.
    let forked = unsafe { fork() };
    if let Ok(ForkResult::Child) = forked {
        let (stage, errno) = child(&prepared, &argv, &envp, parent, [&null, &out_w, &err_w], &report_w);
        let mut report = [stage as u8; 5];
        report[1..].copy_from_slice(&errno.to_le_bytes());
        // SAFETY: write(2) and _exit(2), in the child that failed to exec.
        unsafe {
            libc::write(REPORT_FD, report.as_ptr().cast(), report.len());
            libc::_exit(127);
        }
    }
    let restored = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old_mask), None);
    drop((out_w, err_w, report_w, null));
    let pid = match forked {
        Ok(ForkResult::Parent { child }) => child,
        Ok(ForkResult::Child) => unreachable!("the child never gets here"),
        Err(e) => return Err(format!("couldn't fork: {}", e.desc())),
    };
    restored.map_err(|e| format!("couldn't restore the signal mask: {}", e.desc()))?;
    Ok(Forked {
        pid,
        stdout: out_r,
        stderr: err_r,
        report: report_r,
        program,
        workingdir: spec.workingdir.clone(),
    })
}

impl Forked {
    /// Waits until the child has exec'd (its report pipe closes) or has failed to.
    pub fn wait_exec(self) -> Result<Child, String> {
        match read_report(&self.report) {
            None => Ok(Child { pid: self.pid, stdout: self.stdout, stderr: self.stderr }),
            Some((stage, errno)) => {
                // The child exits at once after reporting; reap it here so it is never seen as ours.
                let _ = nix::sys::wait::waitpid(self.pid, None);
                Err(explain(stage, errno, self.workingdir.as_deref(), &self.program))
            }
        }
    }
}

/// Everything the child needs, built before fork.
struct Prepared {
    program: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    workingdir: Option<CString>,
    umask: Option<libc::mode_t>,
    nofile: libc::rlimit,
}

impl Prepared {
    fn new(spec: &ProgramSpec, program: &Path) -> Result<Prepared, String> {
        let c = |bytes: &[u8]| CString::new(bytes).map_err(|_| "a NUL byte in the command".to_string());
        let mut env: Vec<(OsString, OsString)> =
            std::env::vars_os().filter(|(k, _)| !spec.env.contains_key(&*k.to_string_lossy())).collect();
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
        })
    }
}

/// Runs in the child between fork and exec. Returns only on failure.
/// Where the child keeps the write end of the report pipe: the lowest descriptor exec closes, so
/// that the parent learns of the exec at its very start and forks the next process while this one
/// is still closing the (many) descriptors it inherited.
const REPORT_FD: libc::c_int = 3;

fn child(
    p: &Prepared,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    parent: Pid,
    stdio: [&OwnedFd; 3],
    report: &OwnedFd,
) -> (Stage, i32) {
    // SAFETY: plain system calls on prepared data; the child is single-threaded.
    unsafe {
        // First the standard descriptors (their sources are above 2: taskmaster keeps 0 to 2
        // open), then the report pipe onto 3, which may have held one of those sources.
        for (to, from) in stdio.iter().enumerate() {
            if libc::dup2(from.as_raw_fd(), to as i32) < 0 {
                libc::_exit(127);
            }
        }
        if report.as_raw_fd() != REPORT_FD && libc::dup3(report.as_raw_fd(), REPORT_FD, libc::O_CLOEXEC) < 0 {
            libc::_exit(127);
        }
        // The raw system call: glibc's wrappers refuse the two realtime signals it keeps for
        // itself, which may still have been inherited as ignored.
        let default_action = [0u64; 4];
        for signo in 1..=libc::SIGRTMAX() {
            if signo != libc::SIGKILL && signo != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signo,
                    default_action.as_ptr(),
                    std::ptr::null::<u8>(),
                    8usize,
                );
            }
        }
        if libc::setpgid(0, 0) != 0 || libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            return (Stage::Setup, Errno::last_raw());
        }
        // Taskmaster died before the line above: do not run unsupervised.
        if libc::getppid() != parent.as_raw() {
            libc::_exit(127);
        }
        if let Some(mask) = p.umask {
            libc::umask(mask);
        }
        libc::setrlimit(libc::RLIMIT_NOFILE, &p.nofile);
        if let Some(dir) = &p.workingdir
            && libc::chdir(dir.as_ptr()) != 0
        {
            return (Stage::Chdir, Errno::last_raw());
        }
        // Descriptors inherited without close-on-exec (from the shell that started taskmaster)
        // must not reach the program either.
        libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, libc::CLOSE_RANGE_CLOEXEC);
        let empty = SigSet::empty();
        libc::sigprocmask(libc::SIG_SETMASK, empty.as_ref(), std::ptr::null_mut());
        libc::execve(p.program.as_ptr(), argv.as_ptr(), envp.as_ptr());
        (Stage::Exec, Errno::last_raw())
    }
}

/// A NULL-terminated array of pointers into `strings`, as execve wants.
fn pointers(strings: &[CString]) -> Vec<*const libc::c_char> {
    strings.iter().map(|s| s.as_ptr()).chain(std::iter::once(std::ptr::null())).collect()
}

/// Waits for the child to exec (the pipe closes) or to report a failure.
fn read_report(pipe: &OwnedFd) -> Option<(u8, i32)> {
    let mut buf = [0u8; 5];
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(pipe, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => continue,
            Err(_) => break,
        }
    }
    (got == buf.len()).then(|| (buf[0], i32::from_le_bytes([buf[1], buf[2], buf[3], buf[4]])))
}

fn explain(stage: u8, errno: i32, workingdir: Option<&Path>, program: &Path) -> String {
    let why = Errno::from_raw(errno).desc();
    match stage {
        s if s == Stage::Chdir as u8 => {
            let dir = workingdir.unwrap_or(Path::new("?"));
            format!("couldn't chdir to {}: {why}", dir.display())
        }
        s if s == Stage::Exec as u8 => format!("couldn't exec {}: {why}", program.display()),
        _ => format!("couldn't set up the process: {why}"),
    }
}

/// Finds the program as exec would, so that a missing or unusable command is a clear spawn error
/// before anything is forked: a name with a slash is used as it is, a bare name is looked up in
/// PATH (the program's own `env` PATH when it sets one).
pub fn resolve(program: &str, path_var: Option<&std::ffi::OsStr>) -> Result<PathBuf, String> {
    if program.contains('/') {
        return check_executable(Path::new(program)).map(|()| PathBuf::from(program));
    }
    let dirs = path_var.map_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"), OsString::from);
    let mut denied = None;
    for dir in std::env::split_paths(&dirs) {
        let candidate = dir.join(program);
        match check_executable(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if candidate.exists() => denied = denied.or(Some(e)),
            Err(_) => {}
        }
    }
    Err(denied.unwrap_or_else(|| format!("can't find command '{program}'")))
}

fn check_executable(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("can't find command '{shown}'"),
        _ => format!("can't run command '{shown}': {}", describe_io(&e)),
    })?;
    if meta.is_dir() {
        return Err(format!("command at '{shown}' is a directory"));
    }
    match nix::unistd::access(path, nix::unistd::AccessFlags::X_OK) {
        Ok(()) => Ok(()),
        Err(_) => Err(format!("command at '{shown}' is not executable")),
    }
}

/// Sends `signal` to `pid`, or to the process group it leads. A process that is already gone is
/// not an error.
pub fn send(pid: Pid, signal: Signal, group: bool) -> Result<(), Errno> {
    let sent = match group {
        true => nix::sys::signal::killpg(pid, signal),
        false => nix::sys::signal::kill(pid, signal),
    };
    match sent {
        Err(Errno::ESRCH) => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_commands_like_exec() {
        assert_eq!(resolve("sh", Some("/nonexistent:/bin".as_ref())), Ok(PathBuf::from("/bin/sh")));
        assert_eq!(resolve("nosuch_cmd_xyz", None), Err("can't find command 'nosuch_cmd_xyz'".to_string()));
        assert_eq!(resolve("/nonexistent/x", None), Err("can't find command '/nonexistent/x'".to_string()));
        assert_eq!(resolve("/tmp", None), Err("command at '/tmp' is a directory".to_string()));
        let plain = std::env::temp_dir().join(format!("tm-noexec-{}", std::process::id()));
        std::fs::write(&plain, "echo hi").unwrap();
        let shown = plain.to_str().unwrap();
        assert_eq!(resolve(shown, None), Err(format!("command at '{shown}' is not executable")));
        std::fs::remove_file(&plain).unwrap();
    }
}
