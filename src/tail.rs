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

    /// The last `count` lines (a line cut by the limit at the front is dropped; an unfinished
    /// one at the end is kept).
    fn last_lines(&self, count: usize) -> Vec<String> {
        let (front, back) = self.bytes.as_slices();
        let all = [front, back].concat();
        let text = String::from_utf8_lossy(&all);
        let mut lines: Vec<&str> = text.split_terminator('\n').collect();
        if self.cut && !lines.is_empty() {
            lines.remove(0);
        }
        let skip = lines.len().saturating_sub(count);
        lines[skip..].iter().map(|l| l.trim_end_matches('\r').to_string()).collect()
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
        self.rings.get(&(name.to_string(), stream)).map_or_else(Vec::new, |ring| ring.last_lines(count))
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
    fn one_write_larger_than_the_limit_keeps_its_end() {
        let mut t = Tails::default();
        let big: Vec<u8> = (0..1000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        t.push("a", Stream::Stdout, &big, 20);
        assert_eq!(t.last_lines("a", Stream::Stdout, 2), ["998", "999"]);
        assert!(t.rings[&("a".to_string(), Stream::Stdout)].bytes.len() <= 20);
    }
}
