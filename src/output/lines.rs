//! Output cut into lines, for the destinations that need whole lines: a file with timestamps,
//! syslog (a message per line). A line not yet ended is held, and let go as it is after
//! `PARTIAL_WAIT` or when its stream ends (taskmaster(1), CHILD LOGS). A rotated file needs no
//! framing: it is cut only where a line ends (see `files`).

use crate::supervisor::Now;
use std::time::{Duration, Instant, SystemTime};

/// How long an unfinished line waits for its end before it is written as it is.
pub(crate) const PARTIAL_WAIT: Duration = Duration::from_secs(1);
/// An unfinished line longer than this is written as it is at once: a program that never ends
/// its lines must not grow taskmaster.
const MAX_PARTIAL: usize = 64 * 1024;

/// `2026-11-26T05:30:12.345Z `: what a stamped line starts with.
pub(crate) const STAMP_LEN: usize = 25;

/// One stream's cutting into lines.
#[derive(Debug)]
pub(crate) struct Framer {
    stamps: bool,
    /// The start of a line not ended yet.
    pending: Vec<u8>,
    /// When its first byte was read.
    since: Option<Now>,
    /// Part of the current line was let go already (see `PARTIAL_WAIT`): what follows continues
    /// it, without a timestamp of its own.
    continues: bool,
}

impl Framer {
    pub(crate) fn new(stamps: bool) -> Framer {
        Framer { stamps, pending: Vec::new(), since: None, continues: false }
    }

    /// Stamps lines from the next one on, or stops.
    pub(crate) fn stamp(&mut self, stamps: bool) {
        self.stamps = stamps;
    }

    /// Takes bytes read at `now`; appends to `out` every line they end (stamped if asked). The
    /// rest waits for its end.
    pub(crate) fn feed(&mut self, bytes: &[u8], now: Now, out: &mut Vec<u8>) {
        let Some(last) = memchr::memrchr(b'\n', bytes) else {
            if self.pending.is_empty() {
                self.since = Some(now);
            }
            self.pending.extend_from_slice(bytes);
            if self.pending.len() > MAX_PARTIAL {
                self.flush(out);
            }
            return;
        };
        let (ended, rest) = bytes.split_at(last + 1);
        let mut lines = memchr::memchr_iter(b'\n', ended);
        let mut start = 0;
        if !self.pending.is_empty() || self.continues {
            // The line held from an earlier read ends here: stamped with its own time.
            let end = lines.next().map_or(ended.len(), |i| i + 1);
            let stamp = self.since.take().unwrap_or(now);
            self.start_line(out, stamp);
            out.extend_from_slice(&self.pending);
            out.extend_from_slice(&ended[..end]);
            self.pending.clear();
            self.continues = false;
            self.shrink();
            start = end;
        }
        match self.stamps {
            false => out.extend_from_slice(&ended[start..]),
            true => {
                let stamp = stamp_of(now.wall);
                for end in lines.map(|i| i + 1) {
                    out.extend_from_slice(&stamp);
                    out.extend_from_slice(&ended[start..end]);
                    start = end;
                }
            }
        }
        if !rest.is_empty() {
            self.since = Some(now);
            self.pending.extend_from_slice(rest);
        }
    }

    /// Lets the unfinished line go as it is (its wait is over, or its stream ended).
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            return;
        }
        if let Some(since) = self.since.take() {
            self.start_line(out, since);
        }
        out.append(&mut self.pending);
        self.continues = true;
        self.shrink();
    }

    /// A long line held once does not keep its memory for ever.
    fn shrink(&mut self) {
        if self.pending.capacity() > 4096 {
            self.pending = Vec::new();
        }
    }

    /// When the unfinished line is to be let go, if there is one.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.since.filter(|_| !self.pending.is_empty()).map(|s| s.mono + PARTIAL_WAIT)
    }

    fn start_line(&self, out: &mut Vec<u8>, at: Now) {
        if self.stamps && !self.continues {
            out.extend_from_slice(&stamp_of(at.wall));
        }
    }
}

/// The timestamp a line read at `wall` starts with: ISO 8601, UTC, milliseconds, then a space.
pub(crate) fn stamp_of(wall: SystemTime) -> [u8; STAMP_LEN] {
    let time = chrono::DateTime::<chrono::Utc>::from(wall);
    let text = time.format("%Y-%m-%dT%H:%M:%S%.3fZ ").to_string();
    let mut stamp = [b' '; STAMP_LEN];
    let n = text.len().min(STAMP_LEN);
    stamp[..n].copy_from_slice(&text.as_bytes()[..n]);
    stamp
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Now {
        let base = Now { mono: Instant::now(), wall: SystemTime::UNIX_EPOCH };
        Now { mono: base.mono + Duration::from_millis(ms), wall: base.wall + Duration::from_millis(ms) }
    }

    fn fed(framer: &mut Framer, parts: &[(&str, u64)]) -> String {
        let mut out = Vec::new();
        for (bytes, ms) in parts {
            framer.feed(bytes.as_bytes(), at(*ms), &mut out);
        }
        String::from_utf8(out).expect("text")
    }

    #[test]
    fn stamps_are_iso_8601_utc_with_milliseconds() {
        let wall = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_000_212_345);
        assert_eq!(&stamp_of(wall), b"2026-11-18T11:10:12.345Z ");
    }

    #[test]
    fn lines_are_stamped_with_the_time_their_first_byte_was_read() {
        let mut f = Framer::new(true);
        let out = fed(&mut f, &[("one\ntw", 5), ("o\nthree\nfo", 1007)]);
        assert_eq!(
            out,
            "1970-01-01T00:00:00.005Z one\n1970-01-01T00:00:00.005Z two\n\
             1970-01-01T00:00:01.007Z three\n"
        );
        assert!(f.deadline().is_some(), "`fo` waits");
        let mut rest = Vec::new();
        f.flush(&mut rest);
        assert_eq!(String::from_utf8(rest).expect("text"), "1970-01-01T00:00:01.007Z fo");
        // The end of the line let go continues it, without a second stamp.
        assert_eq!(fed(&mut f, &[("ur\nfive\n", 3000)]), "ur\n1970-01-01T00:00:03.000Z five\n");
        assert_eq!(f.deadline(), None);
    }

    #[test]
    fn without_stamps_whole_lines_pass_and_the_rest_waits() {
        let mut f = Framer::new(false);
        assert_eq!(fed(&mut f, &[("a\nb", 0), ("c", 1), ("\nd\n", 2)]), "a\nbc\nd\n");
        assert_eq!(fed(&mut f, &[("no end", 3)]), "");
        let first = f.deadline().expect("a deadline");
        fed(&mut f, &[(" yet", 500)]);
        assert_eq!(f.deadline(), Some(first), "counted from the line's first byte");
    }

    #[test]
    fn an_endless_line_is_let_go_in_pieces() {
        let mut f = Framer::new(false);
        let long = "x".repeat(MAX_PARTIAL + 1);
        assert_eq!(fed(&mut f, &[(&long, 0)]).len(), MAX_PARTIAL + 1);
        assert_eq!(f.deadline(), None);
    }
}
