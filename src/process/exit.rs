//! How a process ended, read from a raw wait status, and how that is said in logs and `status`.
//! Signals are kept as numbers: a child killed by a realtime signal is still reaped and reported
//! (`terminated by SIGRTMIN+3`), where an enum of the standard signals would fail.

use nix::sys::signal::Signal;
use std::fmt;

/// The end of one run of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitKind {
    /// It called exit with this status.
    Code(i32),
    /// Signal number `signo` ended it.
    Signal { signo: i32, core_dumped: bool },
}

impl ExitKind {
    /// The end described by a raw `waitpid` status, or `None` when the status is not an end
    /// (stopped, continued).
    pub(crate) fn from_raw(status: i32) -> Option<ExitKind> {
        if libc::WIFEXITED(status) {
            Some(ExitKind::Code(libc::WEXITSTATUS(status)))
        } else if libc::WIFSIGNALED(status) {
            Some(ExitKind::Signal { signo: libc::WTERMSIG(status), core_dumped: libc::WCOREDUMP(status) })
        } else {
            None
        }
    }

    #[cfg(test)]
    pub(crate) const fn killed_by(signal: Signal) -> ExitKind {
        ExitKind::Signal { signo: signal as i32, core_dumped: false }
    }

    pub(crate) fn code(self) -> Option<i32> {
        match self {
            ExitKind::Code(code) => Some(code),
            ExitKind::Signal { .. } => None,
        }
    }

    pub(crate) fn signo(self) -> Option<i32> {
        match self {
            ExitKind::Code(_) => None,
            ExitKind::Signal { signo, .. } => Some(signo),
        }
    }
}

/// `SIGKILL`, `SIGRTMIN+3`, or `signal 99` for a number no signal has.
pub(crate) fn signal_name(signo: i32) -> String {
    match Signal::try_from(signo) {
        Ok(signal) => signal.as_str().to_string(),
        Err(_) if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signo) => {
            format!("SIGRTMIN+{}", signo - libc::SIGRTMIN())
        }
        Err(_) => format!("signal {signo}"),
    }
}

/// `exit status 3`, `terminated by SIGKILL`, `terminated by SIGSEGV (core dumped)`.
impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            ExitKind::Code(code) => write!(f, "exit status {code}"),
            ExitKind::Signal { signo, core_dumped: false } => {
                write!(f, "terminated by {}", signal_name(*signo))
            }
            ExitKind::Signal { signo, core_dumped: true } => {
                write!(f, "terminated by {} (core dumped)", signal_name(*signo))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_raw_wait_statuses() {
        assert_eq!(ExitKind::from_raw(3 << 8), Some(ExitKind::Code(3)));
        assert_eq!(ExitKind::from_raw(9), Some(ExitKind::killed_by(Signal::SIGKILL)));
        assert_eq!(ExitKind::from_raw(11 | 0x80), Some(ExitKind::Signal { signo: 11, core_dumped: true }));
        assert_eq!(ExitKind::from_raw((19 << 8) | 0x7f), None, "stopped is not an end");
    }

    #[test]
    fn says_it_as_supervisord_does() {
        assert_eq!(ExitKind::Code(0).to_string(), "exit status 0");
        let term = ExitKind::killed_by(Signal::SIGTERM);
        assert_eq!(term.to_string(), "terminated by SIGTERM");
        let segv = ExitKind::Signal { signo: 11, core_dumped: true };
        assert_eq!(segv.to_string(), "terminated by SIGSEGV (core dumped)");
        assert_eq!((term.code(), term.signo()), (None, Some(15)));
    }

    #[test]
    fn realtime_and_unknown_signals_have_names_too() {
        assert_eq!(signal_name(libc::SIGRTMIN() + 3), "SIGRTMIN+3");
        assert_eq!(signal_name(200), "signal 200");
    }
}
