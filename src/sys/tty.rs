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
