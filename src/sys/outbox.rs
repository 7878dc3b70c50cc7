//! Output to something that may stop taking it — a terminal after Ctrl-S, a paused tmux, a
//! stalled ssh session, a pipe nobody reads — without ever stopping taskmaster
//! (taskmaster(1), THE SHELL). Writes go to a descriptor of our own, non-blocking, through a
//! queue: what the reader does not take now waits, up to a limit past which it is dropped; the
//! owner listens for the descriptor taking more, and says once that output was lost when the
//! queue has drained. The descriptor is a new open of the same terminal or pipe, so the
//! non-blocking flag never reaches the shell that started taskmaster, which shares stdout. A
//! terminal that may not be opened again (another user's, after `su`) is written through stdout
//! itself, made non-blocking only while taskmaster writes to it.

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::stat::{Mode, SFlag, fstat};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Output queued for a reader that does not take it, at most; past it, more is dropped.
const QUEUE_LIMIT: usize = 1024 * 1024;

/// What the reader has not taken yet.
#[derive(Default)]
pub(crate) struct Output {
    queue: Vec<u8>,
    /// Output was dropped, and that was not told yet.
    dropped: bool,
    /// The descriptor is shared with the shell (stdout itself): non-blocking only during a write.
    shared: bool,
}

impl Output {
    /// Queues `bytes`, or drops them when the queue is already full: one piece, however long
    /// (a status of every process), is never cut, and a loss is never a loss of everything.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        match self.queue.len() >= QUEUE_LIMIT {
            true => self.dropped = true,
            false => self.queue.extend_from_slice(bytes),
        }
    }

    /// Writes what the reader takes now; true when nothing waits. An error means the reader is
    /// gone: the queue goes with it.
    pub(crate) fn flush(&mut self, fd: BorrowedFd) -> io::Result<bool> {
        if self.queue.is_empty() {
            return Ok(true);
        }
        let before = self.shared.then(|| nonblocking(fd)).flatten();
        let written = self.write_out(fd);
        if let Some(flags) = before {
            let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags));
        }
        written
    }

    fn write_out(&mut self, fd: BorrowedFd) -> io::Result<bool> {
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
        if self.queue.is_empty() {
            self.queue.shrink_to(64 * 1024);
        }
        Ok(self.queue.is_empty())
    }

    /// Whether output was dropped and everything since has been taken: the moment to say so,
    /// once.
    fn take_loss(&mut self) -> bool {
        let tell = self.dropped && self.queue.is_empty();
        if tell {
            self.dropped = false;
        }
        tell
    }
}

/// A queue and the descriptor it drains to; clones share both.
#[derive(Clone)]
pub(crate) struct Outbox {
    out: Arc<OwnedFd>,
    output: Arc<Mutex<Output>>,
}

impl Outbox {
    /// Writes to the terminal stdout is on, through a non-blocking open of its own, or through
    /// stdout itself when the terminal may not be opened again (see the module comment).
    pub(crate) fn terminal() -> io::Result<Outbox> {
        let path = nix::unistd::ttyname(io::stdout().as_fd())?;
        match open(&path, flags(), Mode::empty()) {
            Ok(fd) => Ok(Outbox::new(fd)),
            Err(Errno::EACCES | Errno::EPERM) => {
                let outbox = Outbox::new(io::stdout().as_fd().try_clone_to_owned()?);
                outbox.lock().1.shared = true;
                Ok(outbox)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Writes to stdout when it is a terminal or a pipe, the outputs that can stop taking more.
    /// None for a file (its writes do not wait on a reader) and a socket (which cannot be
    /// opened again): those keep plain writes.
    pub(crate) fn stdout() -> Option<Outbox> {
        let kind = SFlag::from_bits_truncate(fstat(io::stdout().as_fd()).ok()?.st_mode) & SFlag::S_IFMT;
        match kind {
            SFlag::S_IFCHR => Outbox::terminal().ok(),
            // A new open of the pipe through /proc: fails when no one reads it any more.
            SFlag::S_IFIFO => open("/proc/self/fd/1", flags(), Mode::empty()).ok().map(Outbox::new),
            _ => None,
        }
    }

    fn new(out: OwnedFd) -> Outbox {
        Outbox { out: Arc::new(out), output: Arc::new(Mutex::new(Output::default())) }
    }

    /// The descriptor output goes to, for the owner to hear when it takes more.
    pub(crate) fn out_fd(&self) -> RawFd {
        self.out.as_raw_fd()
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.out.as_fd()
    }

    /// The queue and the descriptor, to push and flush several pieces at once.
    pub(crate) fn lock(&self) -> (BorrowedFd<'_>, MutexGuard<'_, Output>) {
        (self.out.as_fd(), self.output.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Queues `bytes` and sends what the reader takes now.
    pub(crate) fn write(&self, bytes: &[u8]) {
        let (fd, mut output) = self.lock();
        output.push(bytes);
        let _ = output.flush(fd);
    }

    /// Queues a few bytes that must get there even past the limit (a note, the terminal's
    /// modes put back), and sends what the reader takes now.
    pub(crate) fn write_past_limit(&self, bytes: &[u8]) {
        let (fd, mut output) = self.lock();
        output.queue.extend_from_slice(bytes);
        let _ = output.flush(fd);
    }

    /// Sends what the reader takes now.
    pub(crate) fn flush(&self) {
        let (fd, mut output) = self.lock();
        let _ = output.flush(fd);
    }

    /// Whether output was lost and the reader has since taken everything: say so now.
    pub(crate) fn take_loss(&self) -> bool {
        self.lock().1.take_loss()
    }

    /// On the way out: gives a reader that is slow, not stopped, a couple of seconds to take
    /// what waits.
    pub(crate) fn finish(&self) {
        for _ in 0..20 {
            let (fd, mut output) = self.lock();
            if output.flush(fd).unwrap_or(true) {
                return;
            }
            let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
            let _ = poll(&mut fds, PollTimeout::from(100u8));
        }
    }
}

/// Sets O_NONBLOCK on `fd`; the flags it had, to be put back.
fn nonblocking(fd: BorrowedFd) -> Option<OFlag> {
    let flags = OFlag::from_bits_truncate(nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).ok()?);
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).ok()?;
    Some(flags)
}

fn flags() -> OFlag {
    OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(OFlag::O_NONBLOCK | OFlag::O_CLOEXEC).unwrap()
    }

    #[test]
    fn a_reader_that_takes_nothing_gets_a_bounded_queue_and_the_loss_is_told_once() {
        let (reader, writer) = pipe();
        let outbox = Outbox::new(writer);
        let line = [b'x'; 1000];
        for _ in 0..3000 {
            outbox.write(&line);
        }
        let (_, output) = outbox.lock();
        assert!(output.queue.len() <= QUEUE_LIMIT + line.len(), "{}", output.queue.len());
        assert!(output.dropped);
        drop(output);
        assert!(!outbox.take_loss(), "nothing is told while output still waits");
        // The reader takes output again: the queue drains, then the loss is told once.
        let mut sink = [0u8; 65536];
        for _ in 0..10_000 {
            while nix::unistd::read(reader.as_fd(), &mut sink).is_ok_and(|n| n > 0) {}
            outbox.flush();
            if outbox.lock().1.queue.is_empty() {
                break;
            }
        }
        assert!(outbox.take_loss());
        assert!(!outbox.take_loss());
    }

    #[test]
    fn one_long_piece_is_kept_whole_when_the_queue_has_room() {
        let (_reader, writer) = pipe();
        let outbox = Outbox::new(writer);
        outbox.write(&vec![b'x'; 3 * QUEUE_LIMIT]);
        let (_, output) = outbox.lock();
        assert!(!output.dropped);
        assert!(output.queue.len() >= 2 * QUEUE_LIMIT, "what the pipe did not take waits");
    }

    #[test]
    fn a_shared_descriptor_is_non_blocking_only_while_written_to() {
        let (reader, writer) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        let outbox = Outbox::new(writer);
        outbox.lock().1.shared = true;
        // More than the pipe holds: a blocking write would never return.
        outbox.write(&vec![b'x'; 200_000]);
        let (fd, output) = outbox.lock();
        assert!(!output.queue.is_empty(), "the rest waits");
        let flags = OFlag::from_bits_truncate(nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFL).unwrap());
        assert!(!flags.contains(OFlag::O_NONBLOCK), "put back as it was");
        drop(reader);
    }

    #[test]
    fn a_reader_gone_drops_what_was_queued() {
        let (reader, writer) = pipe();
        drop(reader);
        let mut output = Output::default();
        output.push(b"line\n");
        assert!(output.flush(writer.as_fd()).is_err());
        assert!(output.queue.is_empty());
    }

    #[test]
    fn finishing_waits_for_a_slow_reader_but_not_for_ever() {
        let (reader, writer) = pipe();
        let outbox = Outbox::new(writer);
        outbox.write(&[b'x'; 100_000]);
        drop(reader);
        outbox.finish();
        let (_reader, writer) = pipe();
        let stalled = Outbox::new(writer);
        stalled.write(&[b'x'; 100_000]);
        stalled.finish();
        assert!(!stalled.lock().1.queue.is_empty(), "a reader that takes nothing is left behind");
    }
}
