//! Signals taskmaster sends, and the ones it ignores on purpose. Every signal whose default
//! action would end taskmaster (and with it, through the parent-death signal, every program) is
//! either handled by the event loop (HUP, INT, QUIT, TERM, USR2, CHLD, WINCH) or ignored here:
//! a stray `kill -USR1` must not take a whole service down. The faults (SEGV, BUS, ILL, FPE,
//! ABRT, TRAP, SYS) keep their default: they mean taskmaster itself is broken. The list is in
//! taskmaster(1), SIGNALS.

use nix::errno::Errno;
use nix::sys::signal::{SigHandler, Signal};
use nix::unistd::Pid;

/// The signals taskmaster ignores.
pub(crate) const IGNORED: &[Signal] = &[
    Signal::SIGUSR1,
    Signal::SIGALRM,
    Signal::SIGPIPE,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGIO,
    Signal::SIGPWR,
    Signal::SIGSTKFLT,
    Signal::SIGXCPU,
    Signal::SIGXFSZ,
];

/// Ignores `IGNORED` and every realtime signal glibc leaves to programs. Children get every
/// signal back at its default before they exec (see `spawn`).
pub(crate) fn ignore_stray_signals() {
    for &signal in IGNORED {
        // SAFETY: SIG_IGN installs no handler code; nothing runs when the signal comes.
        let _ = unsafe { nix::sys::signal::signal(signal, SigHandler::SigIgn) };
    }
    for signo in libc::SIGRTMIN()..=libc::SIGRTMAX() {
        // SAFETY: as above; the realtime numbers have no `Signal` value, so libc is called.
        unsafe { libc::signal(signo, libc::SIG_IGN) };
    }
}

/// Sends `signal` to `pid`, or to the process group it leads. A process that is already gone is
/// not an error.
pub(crate) fn send(pid: Pid, signal: Signal, group: bool) -> Result<(), Errno> {
    let sent = match group {
        true => nix::sys::signal::killpg(pid, signal),
        false => nix::sys::signal::kill(pid, signal),
    };
    match sent {
        Err(Errno::ESRCH) => Ok(()),
        other => other,
    }
}
