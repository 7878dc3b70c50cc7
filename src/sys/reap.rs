//! Reaping children. A dead child is first looked at without being reaped, so that what is left
//! of its process group can be killed while the zombie still holds the group's number (no new
//! process can take it yet); only then is it reaped.

use crate::process::ExitKind;
use nix::errno::Errno;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// Reaps every child that has ended. `kill_group(pid)` says whether the rest of that child's
/// process group must be killed first (true for the processes taskmaster started). Calls
/// `on_exit` for each one reaped, in order.
pub(crate) fn reap_all(mut kill_group: impl FnMut(Pid) -> bool, mut on_exit: impl FnMut(Pid, ExitKind)) {
    loop {
        let Some(pid) = peek() else { return };
        if kill_group(pid) {
            let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
        }
        let mut status = 0;
        // SAFETY: waitpid(2) writes the status into a local integer.
        let reaped = unsafe { libc::waitpid(pid.as_raw(), &mut status, libc::WNOHANG) };
        match reaped {
            r if r == pid.as_raw() => {
                if let Some(exit) = ExitKind::from_raw(status) {
                    on_exit(pid, exit);
                }
            }
            -1 if Errno::last() == Errno::EINTR => continue,
            _ => return,
        }
    }
}

/// The pid of a child that has ended and is not reaped yet.
fn peek() -> Option<Pid> {
    loop {
        // SAFETY: siginfo_t is plain data; zeroed, as waitid leaves si_pid untouched when
        // nothing is ready.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid(2) with a valid pointer to `info`.
        let r =
            unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOHANG | libc::WNOWAIT) };
        if r < 0 {
            match Errno::last() {
                Errno::EINTR => continue,
                _ => return None,
            }
        }
        // SAFETY: after a successful waitid, si_pid is the valid member.
        let pid = unsafe { info.si_pid() };
        return (pid > 0).then(|| Pid::from_raw(pid));
    }
}

/// Makes taskmaster a child subreaper: what its programs start and leave behind (a daemon's
/// double fork) is handed to taskmaster, reaped by it and killed with its program
/// (taskmaster(1), PROGRAMS THAT ESCAPE). As PID 1 it is so anyway.
pub(crate) fn become_subreaper() -> Result<(), String> {
    // SAFETY: prctl(2) with plain integers; it changes an attribute of this process only.
    match unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } {
        0 => Ok(()),
        _ => Err(format!("cannot become a child subreaper: {}", Errno::last().desc())),
    }
}

/// taskmaster's children now: what it spawned, and what was handed to it. One read of
/// `/proc/self/task/PID/children` (taskmaster has one thread); `None` where the kernel does not
/// have that file.
pub(crate) fn children() -> Option<Vec<Pid>> {
    let pid = std::process::id();
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    Some(text.split_ascii_whitespace().filter_map(|w| w.parse().ok()).map(Pid::from_raw).collect())
}
