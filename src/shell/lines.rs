//! Commands read from standard input line by line, without line editing: when stdin is a pipe
//! or a file (`echo status | taskmaster`), or a terminal until the line editor takes over. Reads
//! only what is there (a zero-timeout poll before each read), so the loop never blocks on it.

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::os::fd::AsFd;

pub(crate) struct LineReader {
    pending: Vec<u8>,
    eof: bool,
}

impl Default for LineReader {
    fn default() -> Self {
        Self::new()
    }
}

/// At most this much is read from stdin per turn.
const BUDGET: usize = 64 * 1024;

impl LineReader {
    pub(crate) fn new() -> LineReader {
        LineReader { pending: Vec::new(), eof: false }
    }

    pub(crate) fn is_eof(&self) -> bool {
        self.eof
    }

    /// Reads what stdin has now and returns the complete lines. With `blocking`, reads until end
    /// of input (for a regular file, which epoll cannot watch and which never blocks for long).
    pub(crate) fn read(&mut self, blocking: bool) -> Vec<String> {
        let stdin = std::io::stdin();
        let mut buf = [0u8; 4096];
        let mut taken = 0;
        while !self.eof && (blocking || taken < BUDGET) {
            if !blocking {
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
        let mut lines = Vec::new();
        while let Some(i) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=i).collect();
            lines.push(String::from_utf8_lossy(&line[..i]).trim().to_string());
        }
        if self.eof && !self.pending.is_empty() {
            lines.push(String::from_utf8_lossy(&std::mem::take(&mut self.pending)).trim().to_string());
        }
        lines.retain(|l| !l.is_empty());
        lines
    }
}
