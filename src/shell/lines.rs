//! Commands read from standard input line by line, without line editing: when stdin is a pipe
//! or a file (`echo status | taskmaster`), or a terminal until the line editor takes over. Reads
//! only what is there (a zero-timeout poll before each read), so the loop never blocks on it.

use super::editor::Typed;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::os::fd::AsFd;

pub(crate) struct LineReader {
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no newline.
    scanned: usize,
    /// A line grew past `LINE_LIMIT`: what is left of it is dropped as it comes.
    dropping: bool,
    /// The last read stopped at its budget with input left: read again without waiting for
    /// news (a writer that blocks in one long write sends none until the pipe is empty).
    more: bool,
    eof: bool,
}

/// A line longer than this is no command: it is dropped, never kept whole in memory
/// (`cat /dev/zero | taskmaster`).
pub(crate) const LINE_LIMIT: usize = 64 * 1024;

impl Default for LineReader {
    fn default() -> Self {
        Self::new()
    }
}

/// At most this much is read from stdin per turn.
const BUDGET: usize = 64 * 1024;

impl LineReader {
    pub(crate) fn new() -> LineReader {
        LineReader { pending: Vec::new(), scanned: 0, dropping: false, more: false, eof: false }
    }

    pub(crate) fn is_eof(&self) -> bool {
        self.eof
    }

    /// Input was left unread by the last `read`.
    pub(crate) fn has_more(&self) -> bool {
        self.more
    }

    /// Reads what stdin has now, up to a budget, and returns the complete lines. A regular file
    /// or a device that epoll cannot watch is read the same way, a budget a turn (`has_more`).
    pub(crate) fn read(&mut self) -> Vec<Typed> {
        let stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        let mut taken = 0;
        self.more = false;
        while !self.eof && taken < BUDGET {
            let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::ZERO) {
                Ok(0) => break,
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {
                    self.eof = true;
                    break;
                }
            }
            match nix::unistd::read(&stdin, &mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    taken += n;
                    self.pending.extend_from_slice(&buf[..n]);
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(nix::errno::Errno::EAGAIN) => break,
                // EIO: the terminal went away.
                Err(_) => self.eof = true,
            }
        }
        self.more = !self.eof && taken >= BUDGET;
        self.split()
    }

    /// The complete lines in what was read, and the lines dropped for their length.
    fn split(&mut self) -> Vec<Typed> {
        let mut typed = Vec::new();
        let mut start = 0;
        let mut from = self.scanned;
        while let Some(i) = self.pending[from..].iter().position(|&b| b == b'\n').map(|i| from + i) {
            match std::mem::take(&mut self.dropping) {
                true => {}
                false => typed.extend(line(&self.pending[start..i])),
            }
            start = i + 1;
            from = start;
        }
        if self.eof && start < self.pending.len() && !self.dropping {
            typed.extend(line(&self.pending[start..]));
            start = self.pending.len();
        }
        self.pending.drain(..start);
        if self.pending.len() > LINE_LIMIT && !self.dropping {
            self.dropping = true;
            typed.push(Typed::TooLong { limit: LINE_LIMIT });
        }
        if self.dropping {
            self.pending.clear();
        }
        self.scanned = self.pending.len();
        typed
    }
}

/// A line as a command, unless blank.
fn line(bytes: &[u8]) -> Option<Typed> {
    let text = String::from_utf8_lossy(bytes).trim().to_string();
    (!text.is_empty()).then_some(Typed::Line(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(texts: &[&str]) -> Vec<Typed> {
        texts.iter().map(|t| Typed::Line(t.to_string())).collect()
    }

    #[test]
    fn lines_come_whole_blank_ones_are_skipped_and_a_line_too_long_is_dropped_to_its_end() {
        let mut r = LineReader::new();
        r.pending.extend_from_slice(b"status\n\n  stop a \nsta");
        assert_eq!(r.split(), lines(&["status", "stop a"]));
        r.pending.extend_from_slice(b"rt b\n");
        assert_eq!(r.split(), lines(&["start b"]));
        r.pending.extend_from_slice(&vec![b'x'; LINE_LIMIT + 1]);
        assert_eq!(r.split(), vec![Typed::TooLong { limit: LINE_LIMIT }]);
        r.pending.extend_from_slice(&vec![b'x'; 10 * LINE_LIMIT]);
        assert_eq!(r.split(), vec![], "said once");
        assert!(r.pending.is_empty(), "never kept");
        r.pending.extend_from_slice(b"xxx\nstatus\nver");
        assert_eq!(r.split(), lines(&["status"]));
        r.eof = true;
        assert_eq!(r.split(), lines(&["ver"]), "the last line needs no newline");
    }
}
