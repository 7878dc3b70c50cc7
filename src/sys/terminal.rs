//! The terminal as the line editor sees it (linefeed's `Terminal`), written here so that the
//! terminal can never stop taskmaster. Output goes to a descriptor of its own on the terminal,
//! non-blocking, through a queue: a terminal that does not take it (Ctrl-S, a stalled ssh
//! session, a paused tmux) keeps it queued up to a limit, past which it is dropped and said so
//! once the terminal takes output again; supervision goes on meanwhile. Input is stdin, read
//! only when it has bytes. No signal handler is installed: the event loop has its own.

use linefeed::terminal::{CursorMode, RawRead, SignalSet, Size, Terminal, TerminalReader, TerminalWriter};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::Mode;
use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Output queued for a terminal that does not take it, at most; more is dropped.
const QUEUE_LIMIT: usize = 1024 * 1024;

pub(crate) struct Tty {
    /// Our own open file description of the terminal: non-blocking without touching the one
    /// the shell that started taskmaster shares with us.
    out: Arc<OwnedFd>,
    name: String,
    reading: Mutex<()>,
    output: Arc<Mutex<Output>>,
}

/// What the terminal has not taken yet.
#[derive(Default)]
pub(crate) struct Output {
    queue: Vec<u8>,
    /// Output was dropped since the queue was last empty.
    dropped: bool,
}

/// What a flush found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flushed {
    /// Everything was taken.
    All,
    /// Everything was taken, and output had been dropped before: say so.
    AllAfterLoss,
    /// Some waits for the terminal to take more.
    Waiting,
}

impl Output {
    fn push(&mut self, bytes: &[u8]) {
        match self.queue.len() + bytes.len() > QUEUE_LIMIT {
            true => self.dropped = true,
            false => self.queue.extend_from_slice(bytes),
        }
    }

    /// Writes what the terminal takes now. An error means the terminal is gone: the queue is
    /// dropped with it.
    fn flush(&mut self, fd: BorrowedFd) -> io::Result<Flushed> {
        let mut sent = 0;
        let result = loop {
            if sent == self.queue.len() {
                break Ok(());
            }
            match nix::unistd::write(fd, &self.queue[sent..]) {
                Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => sent += n,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => break Ok(()),
                Err(e) => break Err(io::Error::from(e)),
            }
        };
        if let Err(e) = result {
            self.queue = Vec::new();
            return Err(e);
        }
        self.queue.drain(..sent);
        if !self.queue.is_empty() {
            return Ok(Flushed::Waiting);
        }
        self.queue.shrink_to(64 * 1024);
        Ok(match std::mem::take(&mut self.dropped) {
            true => Flushed::AllAfterLoss,
            false => Flushed::All,
        })
    }
}

impl Tty {
    /// The terminal on stdin and stdout. Fails when either is not one.
    pub(crate) fn open() -> io::Result<Tty> {
        let stdin = io::stdin();
        termios::tcgetattr(stdin.as_fd())?;
        let path = nix::unistd::ttyname(io::stdout().as_fd())?;
        let flags = OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC;
        let out = open(&path, flags, Mode::empty())?;
        let name = std::env::var("TERM").unwrap_or_else(|_| "unknown".to_string());
        let output = Arc::new(Mutex::new(Output::default()));
        Ok(Tty { out: Arc::new(out), name, reading: Mutex::new(()), output })
    }

    /// The queue, for the event loop to flush when the terminal takes more.
    pub(crate) fn pending(&self) -> Pending {
        Pending { out: self.out.clone(), output: self.output.clone() }
    }
}

/// A handle on the queued output, kept by the event loop.
#[derive(Clone)]
pub(crate) struct Pending {
    out: Arc<OwnedFd>,
    output: Arc<Mutex<Output>>,
}

impl Pending {
    /// The descriptor output goes to, for the event loop to hear when the terminal takes more.
    pub(crate) fn out_fd(&self) -> RawFd {
        self.out.as_raw_fd()
    }

    /// Sends what the terminal takes now.
    pub(crate) fn flush(&self) -> io::Result<Flushed> {
        lock(&self.output).flush(self.out.as_fd())
    }
}

fn lock(output: &Mutex<Output>) -> MutexGuard<'_, Output> {
    output.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Character mode: no echo, no line buffering, no Ctrl-S/Ctrl-Q flow control (a stopped
/// terminal is what this module is about), keys that send signals kept unless `block_signals`.
pub(crate) fn character_mode(mode: &Termios, block_signals: bool) -> Termios {
    let mut raw = mode.clone();
    raw.local_flags.remove(LocalFlags::ICANON | LocalFlags::ECHO);
    raw.input_flags.remove(InputFlags::ICRNL | InputFlags::INLCR | InputFlags::IXON);
    match block_signals {
        true => raw.local_flags.remove(LocalFlags::ISIG),
        false => raw.local_flags.insert(LocalFlags::ISIG),
    }
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
        Box::new(Reader { _lock: self.reading.lock().unwrap_or_else(PoisonError::into_inner) })
    }

    fn lock_write<'a>(&'a self) -> Box<dyn TerminalWriter<Self> + 'a> {
        Box::new(Writer { out: self.out.as_fd(), output: lock(&self.output) })
    }
}

struct Reader<'a> {
    _lock: MutexGuard<'a, ()>,
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
        let mut chunk = [0u8; 4096];
        loop {
            match nix::unistd::read(io::stdin().as_fd(), &mut chunk) {
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    return Ok(RawRead::Bytes(n));
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return Ok(RawRead::Bytes(0)),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn wait_for_input(&mut self, timeout: Option<Duration>) -> io::Result<bool> {
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
        let mut size = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ writes one `winsize` through the pointer, which points to one.
        let done = unsafe { libc::ioctl(self.out.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
        match done {
            -1 => Err(io::Error::last_os_error()),
            // A terminal that does not know its size (a serial line) is taken as 80×24.
            _ if size.ws_col == 0 => Ok(Size { lines: 24, columns: 80 }),
            _ => Ok(Size { lines: usize::from(size.ws_row), columns: usize::from(size.ws_col) }),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terminal_that_takes_nothing_gets_a_bounded_queue_and_the_loss_is_reported() {
        // A pipe nobody reads stands for a stopped terminal.
        let (reader, writer) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap();
        let mut output = Output::default();
        let line = [b'x'; 1000];
        let mut waiting = false;
        for _ in 0..3000 {
            output.push(&line);
            waiting |= output.flush(writer.as_fd()).unwrap() == Flushed::Waiting;
        }
        assert!(waiting, "the pipe filled up");
        assert!(output.queue.len() <= QUEUE_LIMIT, "{}", output.queue.len());
        assert!(output.dropped);
        // The terminal takes output again: the queue drains, then the loss is told once.
        let mut sink = [0u8; 65536];
        let mut flushed = Flushed::Waiting;
        for _ in 0..10_000 {
            while nix::unistd::read(reader.as_fd(), &mut sink).is_ok_and(|n| n > 0) {}
            flushed = output.flush(writer.as_fd()).unwrap();
            if flushed != Flushed::Waiting {
                break;
            }
        }
        assert_eq!(flushed, Flushed::AllAfterLoss);
        output.push(b"more");
        assert_eq!(output.flush(writer.as_fd()).unwrap(), Flushed::All);
    }

    #[test]
    fn a_terminal_gone_drops_what_was_queued() {
        let (reader, writer) = nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap();
        drop(reader);
        let mut output = Output::default();
        output.push(b"line\n");
        assert!(output.flush(writer.as_fd()).is_err());
        assert!(output.queue.is_empty());
    }
}
