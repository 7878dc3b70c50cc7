//! The last output of each process, kept in memory (taskmaster(1), COMMANDS: `tail`): the last
//! `tail_bytes` of its stdout and of its stderr, whether the output goes to a file or is
//! dropped. Memory is taken as output arrives (a process that printed nothing costs nothing) and
//! never exceeds the limit. A process started again goes on in the same tail, as a log would.
//! Pure: capture feeds it what it read.

use std::collections::{HashMap, VecDeque};

/// Which stream of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// The last bytes of one stream.
#[derive(Debug, Default)]
struct Ring {
    bytes: VecDeque<u8>,
    /// Bytes were dropped from the front: its first line may be a part of one.
    cut: bool,
}

impl Ring {
    fn push(&mut self, more: &[u8], limit: usize) {
        let over = (self.bytes.len() + more.len()).saturating_sub(limit);
        self.cut |= over > 0;
        let more = &more[more.len().saturating_sub(limit)..];
        self.bytes.drain(..over.min(self.bytes.len()));
        self.bytes.extend(more);
    }

    /// The last `count` lines, within the last `max_bytes` (a line cut by either limit at the
    /// front is dropped; an unfinished one at the end is kept). Only those bytes are looked at:
    /// the cost follows what is asked for, not what is kept.
    fn last_lines(&self, count: usize, max_bytes: usize) -> Vec<String> {
        let len = self.bytes.len();
        let floor = len.saturating_sub(max_bytes);
        // A newline that ends the ring ends its last line, not an empty one after it.
        let end = if self.bytes.back() == Some(&b'\n') { len - 1 } else { len };
        let mut start = floor;
        let mut seen = 0;
        let mut whole = floor == 0 && !self.cut;
        for i in (floor..end).rev() {
            if self.bytes[i] == b'\n' {
                seen += 1;
                if seen == count {
                    start = i + 1;
                    whole = true;
                    break;
                }
            }
        }
        if count == 0 || len == 0 {
            return Vec::new();
        }
        let slice: Vec<u8> = self.bytes.range(start..len).copied().collect();
        let text = String::from_utf8_lossy(&slice);
        let mut lines: Vec<&str> = text.split_terminator('\n').collect();
        // Cut at the front by a limit, not at a newline: a part of a line.
        if !whole
            && !lines.is_empty()
            && (start > 0 || self.cut)
            && (start == 0 || self.bytes[start - 1] != b'\n')
        {
            lines.remove(0);
        }
        let skip = lines.len().saturating_sub(count);
        lines[skip..].iter().map(|l| l.trim_end_matches('\r').to_string()).collect()
    }
}

impl Ring {
    /// The last `count` lines as they were written (escape sequences, carriage returns and
    /// all), for a terminal to show again; a line cut at the front by the limit is left out.
    fn last_bytes(&self, count: usize) -> Vec<u8> {
        let len = self.bytes.len();
        let end = if self.bytes.back() == Some(&b'\n') { len.saturating_sub(1) } else { len };
        let mut start = None;
        let mut seen = 0;
        for i in (0..end).rev() {
            if self.bytes[i] == b'\n' {
                seen += 1;
                if seen == count {
                    start = Some(i + 1);
                    break;
                }
            }
        }
        let start = match start {
            _ if count == 0 => return Vec::new(),
            Some(start) => start,
            None if !self.cut => 0,
            None => self.bytes.iter().position(|&b| b == b'\n').map_or(len, |i| i + 1),
        };
        self.bytes.range(start..).copied().collect()
    }
}

/// The tails of every process, by process name and stream.
#[derive(Debug, Default)]
pub(crate) struct Tails {
    rings: HashMap<(String, Stream), Ring>,
}

impl Tails {
    /// Keeps `bytes`, the newest output of `name`'s `stream`, within `limit` bytes (0: nothing).
    pub(crate) fn push(&mut self, name: &str, stream: Stream, bytes: &[u8], limit: usize) {
        if limit == 0 || bytes.is_empty() {
            return;
        }
        self.rings.entry((name.to_string(), stream)).or_default().push(bytes, limit);
    }

    /// The last `count` lines of `name`'s `stream`; none when it printed nothing (yet).
    pub(crate) fn last_lines(&self, name: &str, stream: Stream, count: usize) -> Vec<String> {
        self.last_lines_within(name, stream, count, usize::MAX)
    }

    /// The same, within its last `max_bytes`.
    pub(crate) fn last_lines_within(
        &self,
        name: &str,
        stream: Stream,
        count: usize,
        max_bytes: usize,
    ) -> Vec<String> {
        let ring = self.rings.get(&(name.to_string(), stream));
        ring.map_or_else(Vec::new, |ring| ring.last_lines(count, max_bytes))
    }

    /// The last `count` lines of `name`'s `stream` as they were written (see `Ring::last_bytes`).
    pub(crate) fn last_bytes(&self, name: &str, stream: Stream, count: usize) -> Vec<u8> {
        self.rings.get(&(name.to_string(), stream)).map_or_else(Vec::new, |ring| ring.last_bytes(count))
    }

    /// A process goes by another name: its output with it.
    pub(crate) fn rename(&mut self, from: &str, to: &str) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            if let Some(ring) = self.rings.remove(&(from.to_string(), stream)) {
                self.rings.insert((to.to_string(), stream), ring);
            }
        }
    }

    /// Forgets one name's output.
    pub(crate) fn remove(&mut self, name: &str) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            self.rings.remove(&(name.to_string(), stream));
        }
    }

    /// Forgets the processes whose names `keep` refuses (a program removed by a reload).
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.rings.retain(|(name, _), _| keep(name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_lines_are_kept_within_the_limit() {
        let mut t = Tails::default();
        for i in 0..100 {
            t.push("web", Stream::Stdout, format!("line {i}\n").as_bytes(), 64);
        }
        let lines = t.last_lines("web", Stream::Stdout, 3);
        assert_eq!(lines, ["line 97", "line 98", "line 99"]);
        let all = t.last_lines("web", Stream::Stdout, 100);
        assert!(all.iter().all(|l| l.starts_with("line ")), "no line cut at the front: {all:?}");
        assert!(all.len() < 10);
    }

    #[test]
    fn streams_and_processes_are_apart_and_silence_costs_nothing() {
        let mut t = Tails::default();
        t.push("web", Stream::Stderr, b"oops\nhalf", 1024);
        assert_eq!(t.last_lines("web", Stream::Stderr, 10), ["oops", "half"], "an unfinished line too");
        assert!(t.last_lines("web", Stream::Stdout, 10).is_empty());
        assert!(t.last_lines("db", Stream::Stderr, 10).is_empty());
        t.push("db", Stream::Stdout, b"x\n", 0);
        assert!(t.rings.len() == 1, "a limit of 0 keeps nothing");
        t.retain(|name| name != "web");
        assert!(t.last_lines("web", Stream::Stderr, 10).is_empty());
    }

    #[test]
    fn only_the_end_is_read_within_a_byte_budget() {
        let mut t = Tails::default();
        for i in 0..10_000 {
            t.push("a", Stream::Stdout, format!("line {i}\n").as_bytes(), 1 << 20);
        }
        assert_eq!(t.last_lines_within("a", Stream::Stdout, 2, 1 << 20), ["line 9998", "line 9999"]);
        // 20 bytes hold "line 9998\nline 9999\n" exactly.
        assert_eq!(t.last_lines_within("a", Stream::Stdout, 5, 20), ["line 9998", "line 9999"]);
        // 15 bytes: "9998" is a part of a line, dropped.
        assert_eq!(t.last_lines_within("a", Stream::Stdout, 5, 15), ["line 9999"]);
        t.push("b", Stream::Stdout, b"one\ntwo\nthree", 100);
        assert_eq!(t.last_lines_within("b", Stream::Stdout, 10, 100), ["one", "two", "three"]);
        assert_eq!(t.last_lines_within("b", Stream::Stdout, 1, 100), ["three"]);
        assert_eq!(t.last_lines_within("b", Stream::Stdout, 0, 100), Vec::<String>::new());
    }

    #[test]
    fn the_last_lines_come_back_as_written_for_a_replay() {
        let mut t = Tails::default();
        t.push("a", Stream::Stdout, b"\x1b[1mone\r\ntwo\r\nthree", 100);
        assert_eq!(t.last_bytes("a", Stream::Stdout, 2), b"two\r\nthree");
        assert_eq!(t.last_bytes("a", Stream::Stdout, 9), b"\x1b[1mone\r\ntwo\r\nthree");
        assert_eq!(t.last_bytes("a", Stream::Stdout, 0), b"");
        t.push("b", Stream::Stdout, b"xxxx\nyy\nzz\n", 8);
        assert_eq!(
            t.last_bytes("b", Stream::Stdout, 5),
            b"yy\nzz\n",
            "the line cut at the front is left out"
        );
        assert_eq!(t.last_bytes("b", Stream::Stdout, 1), b"zz\n");
        assert!(t.last_bytes("c", Stream::Stdout, 5).is_empty());
    }

    #[test]
    fn one_write_larger_than_the_limit_keeps_its_end() {
        let mut t = Tails::default();
        let big: Vec<u8> = (0..1000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        t.push("a", Stream::Stdout, &big, 20);
        assert_eq!(t.last_lines("a", Stream::Stdout, 2), ["998", "999"]);
        assert!(t.rings[&("a".to_string(), Stream::Stdout)].bytes.len() <= 20);
    }
}
