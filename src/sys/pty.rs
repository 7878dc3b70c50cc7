//! Pseudo-terminals for programs with `tty: true` (taskmaster(1), ATTACH). Taskmaster opens the
//! pair; the child only makes the terminal side its standard streams and its controlling
//! terminal (see `clone`). Taskmaster keeps the master side: read like a pipe for the output,
//! written with the keys of whoever is attached, and told the window size of their terminal.
//! Both ends are close-on-exec; the master is non-blocking, so that a program that does not read
//! its keys never stops taskmaster.

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::stat::Mode;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// A terminal size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowSize {
    pub(crate) rows: u16,
    pub(crate) cols: u16,
}

/// The size a program's terminal has until someone attaches.
pub(crate) const DEFAULT_SIZE: WindowSize = WindowSize { rows: 24, cols: 80 };

/// Both sides of a new pseudo-terminal, the terminal side given to `owner` (uid) when taskmaster
/// is root and the program runs as someone else (so that it may open its own terminal again, as
/// `tty` or `ssh` do).
pub(crate) struct Pair {
    pub(crate) master: OwnedFd,
    pub(crate) terminal: OwnedFd,
}

pub(crate) fn open_pair(owner: Option<u32>) -> nix::Result<Pair> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let name = ptsname_r(&master)?;
    let terminal = open(name.as_str(), OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC, Mode::empty())?;
    let master = OwnedFd::from(master);
    set_nonblocking(&master)?;
    if let Some(uid) = owner.filter(|_| nix::unistd::geteuid().is_root()) {
        nix::unistd::fchown(&terminal, Some(uid.into()), None)?;
    }
    set_size(borrow(&master), DEFAULT_SIZE)?;
    Ok(Pair { master, terminal })
}

fn borrow(fd: &OwnedFd) -> BorrowedFd<'_> {
    std::os::fd::AsFd::as_fd(fd)
}

fn set_nonblocking(fd: &OwnedFd) -> nix::Result<()> {
    use nix::fcntl::{FcntlArg, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(|_| ())
}

/// Tells the terminal its window size; the program gets SIGWINCH if it changed.
pub(crate) fn set_size(fd: BorrowedFd, size: WindowSize) -> nix::Result<()> {
    let winsize = libc::winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one `winsize` through the pointer, which points to one.
    match unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &winsize) } {
        -1 => Err(Errno::last()),
        _ => Ok(()),
    }
}

/// The window size of a terminal (the user's, or a program's); `None` when it is no terminal or
/// does not know (a serial line says 0×0).
pub(crate) fn size_of(fd: BorrowedFd) -> Option<WindowSize> {
    let mut winsize = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points to one.
    let done = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut winsize) };
    match done == 0 && winsize.ws_row > 0 && winsize.ws_col > 0 {
        true => Some(WindowSize { rows: winsize.ws_row, cols: winsize.ws_col }),
        false => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn a_pair_carries_bytes_both_ways_and_knows_its_size() {
        let pair = open_pair(None).expect("a pseudo-terminal");
        assert_eq!(size_of(borrow(&pair.terminal)), Some(DEFAULT_SIZE));
        set_size(borrow(&pair.master), WindowSize { rows: 40, cols: 100 }).expect("resized");
        assert_eq!(size_of(borrow(&pair.terminal)), Some(WindowSize { rows: 40, cols: 100 }));
        let mut terminal = std::fs::File::from(pair.terminal);
        terminal.write_all(b"hi\n").expect("written");
        let mut master = std::fs::File::from(pair.master);
        let mut buf = [0u8; 16];
        let mut got = Vec::new();
        while !got.ends_with(b"\r\n") {
            use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
            let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(&master), PollFlags::POLLIN)];
            assert!(matches!(poll(&mut fds, PollTimeout::from(5000u16)), Ok(1)), "the bytes came back");
            match master.read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
        }
        // The terminal's own line discipline turns \n into \r\n, as on any terminal.
        assert_eq!(got, b"hi\r\n");
    }
}
