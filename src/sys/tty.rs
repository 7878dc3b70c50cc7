//! The terminal's modes. Between line-editor steps the terminal must already be in the mode the
//! editor wants (no canonical buffering, no echo), or the kernel would echo keys and hold them
//! until Enter; the original mode is restored at exit, also after a panic.

use nix::sys::termios::{self, SetArg, Termios};
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::sync::Mutex;

/// The mode found at start, for the restore (a panic hook has no other way to reach it).
static ORIGINAL: Mutex<Option<Termios>> = Mutex::new(None);

/// Puts stdin's terminal in the editor's character mode (see `terminal::character_mode`) and
/// remembers how it was.
pub(crate) fn enter_raw() -> nix::Result<()> {
    let stdin = std::io::stdin();
    let original = termios::tcgetattr(stdin.as_fd())?;
    let raw = super::terminal::character_mode(&original, false);
    termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)?;
    if let Ok(mut saved) = ORIGINAL.lock() {
        saved.get_or_insert(original);
    }
    install_panic_restore();
    Ok(())
}

/// Puts the terminal in the editor's mode again, after a stop and continue (a shell that stopped
/// us put it back in its own mode).
pub(crate) fn reenter_raw() {
    let stdin = std::io::stdin();
    if !is_foreground() {
        return;
    }
    if let Ok(now) = termios::tcgetattr(stdin.as_fd()) {
        let _ =
            termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &super::terminal::character_mode(&now, false));
    }
}

/// Whether taskmaster is the terminal's foreground job. Continued in the background (`bg`, or
/// `kill -CONT` of a stopped job), changing the terminal's mode or reading it would stop it
/// again (SIGTTOU, SIGTTIN); the `fg` that brings it back sends SIGCONT again.
pub(crate) fn is_foreground() -> bool {
    let stdin = std::io::stdin();
    nix::unistd::tcgetpgrp(stdin.as_fd()).is_ok_and(|pgrp| pgrp == nix::unistd::getpgrp())
}

/// The shell attaches to a process: with `keys`, every key is the process's (Ctrl-C, Ctrl-Z,
/// Ctrl-V included: no signal, no special key); without, Ctrl-C stays a signal to leave by.
/// Returns the mode to go back to.
pub(crate) fn enter_attached(keys: bool) -> Option<Termios> {
    let stdin = std::io::stdin();
    let before = termios::tcgetattr(stdin.as_fd()).ok()?;
    termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &attached_mode(&before, keys)).ok()?;
    Some(before)
}

/// The mode of a terminal attached to a process, from the mode it had before.
pub(crate) fn attached_mode(before: &Termios, keys: bool) -> Termios {
    let mut mode = super::terminal::character_mode(before, keys);
    if keys {
        mode.local_flags.remove(termios::LocalFlags::IEXTEN);
    }
    mode
}

/// Attached again after a stop and continue (the shell that stopped taskmaster put its own
/// mode back meanwhile); `before` is what `enter_attached` returned.
pub(crate) fn reenter_attached(before: &Termios, keys: bool) {
    if is_foreground() {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &attached_mode(before, keys));
    }
}

/// Back from an attachment, to the mode `enter_attached` returned.
pub(crate) fn leave_attached(mode: &Termios) {
    let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, mode);
}

/// Puts the terminal back as it was found. Harmless when nothing was changed.
pub(crate) fn restore() {
    let saved = ORIGINAL.lock().ok().and_then(|mut s| s.take());
    if let Some(original) = saved {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &original);
    }
}

fn install_panic_restore() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
}

/// Whether the controlling terminal on stdin has gone away (the window was closed).
pub(crate) fn is_gone() -> bool {
    let stdin = std::io::stdin();
    !stdin.is_terminal() || termios::tcgetattr(stdin.as_fd()).is_err()
}

/// Puts the user's terminal back if the client dies attached, however it dies (even by
/// SIGKILL, which no handler sees): a small process of its own, forked before the terminal's
/// mode is changed, waits on a pipe; the client's end closes when the client ends, and unless
/// the client said "done" first, the watchdog restores the mode it was given.
pub(crate) struct Watchdog {
    done: Option<std::os::fd::OwnedFd>,
    pid: nix::unistd::Pid,
}

impl Watchdog {
    /// Starts the watchdog over stdin's terminal, to restore `mode`. `None` when it cannot
    /// (no pipe, no fork): the client still restores the mode itself on every way out it sees.
    pub(crate) fn start(mode: &Termios) -> Option<Watchdog> {
        use nix::unistd::{ForkResult, fork, pipe2};
        let (read_end, write_end) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
        // SAFETY: taskmasterctl runs one thread, so the child is a whole copy of it; the child
        // only makes system calls (read, tcsetattr, sigaction) and leaves by _exit(2), running
        // nothing of the parent's.
        match unsafe { fork() }.ok()? {
            ForkResult::Child => {
                drop(write_end);
                for signal in [libc::SIGINT, libc::SIGQUIT, libc::SIGTSTP, libc::SIGHUP, libc::SIGWINCH] {
                    // SAFETY: SIG_IGN for a signal number; no handler runs.
                    unsafe { libc::signal(signal, libc::SIG_IGN) };
                }
                let mut byte = [0u8; 1];
                let said = loop {
                    match nix::unistd::read(&read_end, &mut byte) {
                        Err(nix::errno::Errno::EINTR) => {}
                        other => break other,
                    }
                };
                if said == Ok(0) {
                    let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, mode);
                }
                // SAFETY: _exit(2) ends the watchdog without running the parent's destructors.
                unsafe { libc::_exit(0) }
            }
            ForkResult::Parent { child } => Some(Watchdog { done: Some(write_end), pid: child }),
        }
    }
}

impl Drop for Watchdog {
    /// The client restored the terminal itself: the watchdog leaves it alone and ends.
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = nix::unistd::write(&done, b"x");
        }
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}
