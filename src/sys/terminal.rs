//! The terminal as the line editor sees it (linefeed's `Terminal`), written here so that the
//! terminal can never stop taskmaster: output goes through an `Outbox` (a terminal that stops
//! taking it keeps it queued, then dropped, and supervision goes on). Input is stdin, read
//! only when it has bytes. No signal handler is installed: the event loop has its own.

use super::outbox::{Outbox, Output};
use super::typing::Typing;
use linefeed::terminal::{CursorMode, RawRead, SignalSet, Size, Terminal, TerminalReader, TerminalWriter};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub(crate) struct Tty {
    /// Output, through our own non-blocking open of the terminal.
    outbox: Outbox,
    name: String,
    typing: Mutex<Typing>,
    signs: Signs,
}

/// What the editor and the terminal tell each other between steps.
#[derive(Clone, Default)]
pub(crate) struct Signs {
    /// The window changed size: the next read reports it, and the line is redrawn in place.
    pub(crate) resized: Arc<AtomicBool>,
    /// A line grew past `LINE_LIMIT` and is being dropped: the editor empties its line.
    pub(crate) overflowed: Arc<AtomicBool>,
    /// The bytes on the editor's line after its last step, for the reader to count from.
    pub(crate) line_length: Arc<AtomicUsize>,
}

impl Tty {
    /// The terminal on stdin and stdout. Fails when either is not one.
    pub(crate) fn open() -> io::Result<Tty> {
        termios::tcgetattr(io::stdin().as_fd())?;
        let outbox = Outbox::terminal()?;
        let name = std::env::var("TERM").unwrap_or_else(|_| "unknown".to_string());
        Ok(Tty { outbox, name, typing: Mutex::new(Typing::default()), signs: Signs::default() })
    }

    /// The queue, for the owner to flush when the terminal takes more.
    pub(crate) fn outbox(&self) -> Outbox {
        self.outbox.clone()
    }

    pub(crate) fn signs(&self) -> Signs {
        self.signs.clone()
    }
}

/// Character mode: no echo, no line buffering, no Ctrl-S/Ctrl-Q flow control (a stopped
/// terminal is what this module is about), no Ctrl-Z and no Ctrl-\; Ctrl-C is a signal unless
/// `block_signals` (then every key is a byte).
pub(crate) fn character_mode(mode: &Termios, block_signals: bool) -> Termios {
    let mut raw = mode.clone();
    raw.local_flags.remove(LocalFlags::ICANON | LocalFlags::ECHO);
    raw.input_flags.remove(InputFlags::ICRNL | InputFlags::INLCR | InputFlags::IXON);
    match block_signals {
        true => raw.local_flags.remove(LocalFlags::ISIG),
        false => raw.local_flags.insert(LocalFlags::ISIG),
    }
    // Ctrl-Z is no key here: a suspended taskmaster supervises nothing; nor is Ctrl-\, one key
    // that would stop every program (taskmaster(1), SIGNALS).
    raw.control_chars[SpecialCharacterIndices::VSUSP as usize] = 0;
    raw.control_chars[SpecialCharacterIndices::VQUIT as usize] = 0;
    raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 0;
    raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
    raw
}

impl Terminal for Tty {
    type PrepareState = Termios;

    fn name(&self) -> &str {
        &self.name
    }

    fn lock_read<'a>(&'a self) -> Box<dyn TerminalReader<Self> + 'a> {
        let typing = self.typing.lock().unwrap_or_else(PoisonError::into_inner);
        Box::new(Reader { typing, signs: &self.signs, out: self.outbox.fd() })
    }

    fn lock_write<'a>(&'a self) -> Box<dyn TerminalWriter<Self> + 'a> {
        let (out, output) = self.outbox.lock();
        Box::new(Writer { out, output })
    }
}

struct Reader<'a> {
    typing: MutexGuard<'a, Typing>,
    signs: &'a Signs,
    out: BorrowedFd<'a>,
}

impl Reader<'_> {
    fn set_mode(block_signals: bool) -> io::Result<Termios> {
        let stdin = io::stdin();
        let before = termios::tcgetattr(stdin.as_fd())?;
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &character_mode(&before, block_signals))?;
        Ok(before)
    }
}

impl TerminalReader<Tty> for Reader<'_> {
    fn prepare(&mut self, block_signals: bool, _report: SignalSet) -> io::Result<Termios> {
        Reader::set_mode(block_signals)
    }

    unsafe fn prepare_with_lock(
        &mut self,
        _lock: &mut dyn TerminalWriter<Tty>,
        block_signals: bool,
        _report: SignalSet,
    ) -> io::Result<Termios> {
        Reader::set_mode(block_signals)
    }

    fn restore(&mut self, state: Termios) -> io::Result<()> {
        Ok(termios::tcsetattr(io::stdin().as_fd(), SetArg::TCSANOW, &state)?)
    }

    unsafe fn restore_with_lock(
        &mut self,
        _lock: &mut dyn TerminalWriter<Tty>,
        state: Termios,
    ) -> io::Result<()> {
        self.restore(state)
    }

    fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<RawRead> {
        if self.signs.resized.swap(false, Ordering::Relaxed) {
            return Ok(RawRead::Resize(window_size(self.out)?));
        }
        let mut chunk = [0u8; 4096];
        loop {
            match nix::unistd::read(io::stdin().as_fd(), &mut chunk) {
                Ok(n) => {
                    let before = buf.len();
                    self.typing.set_length(self.signs.line_length.load(Ordering::Relaxed));
                    if self.typing.filter(&chunk[..n], buf) {
                        self.signs.overflowed.store(true, Ordering::Relaxed);
                    }
                    return Ok(RawRead::Bytes(buf.len() - before));
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(RawRead::Bytes(0)),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn wait_for_input(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
        if self.signs.resized.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let stdin = io::stdin();
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        let timeout = match timeout {
            None => PollTimeout::NONE,
            Some(t) => PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX),
        };
        match poll(&mut fds, timeout) {
            Ok(n) => Ok(n > 0),
            Err(Errno::EINTR) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

fn window_size(out: BorrowedFd) -> io::Result<Size> {
    let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points to one.
    let done = unsafe { libc::ioctl(out.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    match done {
        -1 => Err(io::Error::last_os_error()),
        // A terminal that does not know its size (a serial line) is taken as 80×24.
        _ if size.ws_col == 0 => Ok(Size { lines: 24, columns: 80 }),
        _ => Ok(Size { lines: usize::from(size.ws_row), columns: usize::from(size.ws_col) }),
    }
}

struct Writer<'a> {
    out: BorrowedFd<'a>,
    output: MutexGuard<'a, Output>,
}

impl Writer<'_> {
    fn push(&mut self, s: &str) -> io::Result<()> {
        self.output.push(s.as_bytes());
        Ok(())
    }

    /// `ESC [ n X`, nothing for 0.
    fn motion(&mut self, n: usize, code: char) -> io::Result<()> {
        match n {
            0 => Ok(()),
            n => self.push(&format!("\x1b[{n}{code}")),
        }
    }
}

impl TerminalWriter<Tty> for Writer<'_> {
    fn size(&self) -> io::Result<Size> {
        window_size(self.out)
    }

    fn clear_screen(&mut self) -> io::Result<()> {
        self.push("\x1b[H\x1b[2J")
    }

    fn clear_to_screen_end(&mut self) -> io::Result<()> {
        self.push("\x1b[J")
    }

    fn move_up(&mut self, n: usize) -> io::Result<()> {
        self.motion(n, 'A')
    }

    fn move_down(&mut self, n: usize) -> io::Result<()> {
        self.motion(n, 'B')
    }

    fn move_left(&mut self, n: usize) -> io::Result<()> {
        self.motion(n, 'D')
    }

    fn move_right(&mut self, n: usize) -> io::Result<()> {
        self.motion(n, 'C')
    }

    fn move_to_first_column(&mut self) -> io::Result<()> {
        self.push("\r")
    }

    fn set_cursor_mode(&mut self, mode: CursorMode) -> io::Result<()> {
        self.push(match mode {
            CursorMode::Normal => "\x1b[?12l\x1b[?25h",
            CursorMode::Invisible => "\x1b[?25l",
            CursorMode::Overwrite => "\x1b[?12;25h",
        })
    }

    fn write(&mut self, s: &str) -> io::Result<()> {
        self.push(s)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.output.flush(self.out).map(|_| ())
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        let _ = self.output.flush(self.out);
    }
}
