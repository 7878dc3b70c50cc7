//! Child output (taskmaster(1), CHILD LOGS): each stdout and stderr pipe is read without blocking
//! and handed to its destination (see `sinks`): a file, rotated or not, stamped or not; syslog;
//! or nowhere when the stream is not configured. Reads per turn are bounded so that one flooding
//! child cannot starve the others. The child keeps running whatever happens to its output. The
//! files are opened before the process is spawned (see `append` for what is refused), and again
//! on `reopen` (SIGUSR2, for an outside log rotation).

mod files;
mod lines;
mod sinks;
mod syslog;

pub(crate) use files::{Rotating, Trouble};
pub(crate) use sinks::Sink;

use crate::config::alerts::SyslogAddress;
use crate::config::{Output, RunAs, describe_io};
use crate::supervisor::Now;
use crate::tail::{self, Tails};
use crate::timers::Timers;
use mio::unix::pipe::Receiver;
use mio::{Interest, Registry, Token};
use nix::unistd::Pid;
use sinks::{Files, To};
use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::time::Instant;

/// Bytes read at once: the kernel's pipe size. Larger pipes and buffers were measured to cost
/// more CPU per byte, not less: what a read brings in must still be in the CPU cache when the
/// write copies it out.
const CHUNK: usize = 64 * 1024;
/// Reads of one pipe per turn before the others get their turn.
const READS_PER_TURN: usize = 8;
/// When a process exits, at most this much more is read from its pipes (a grandchild that left
/// the group could otherwise keep the drain going for ever).
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

struct Stream {
    pid: Pid,
    name: String,
    pipe: Receiver,
    sink: Sink,
    which: tail::Stream,
    /// How much of it is kept in memory (see `tail`).
    tail_bytes: usize,
    /// A pseudo-terminal (`tty: true`), whose reads bring at most 4 KiB each: a short read does
    /// not mean it is empty.
    terminal: bool,
    /// Its program switched the terminal to the alternate screen (a full-screen program), as far
    /// as its output says: an attached terminal is switched back on leaving.
    alternate_screen: bool,
}

/// How a read pass over one pipe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drained {
    /// Nothing more for now; readiness will say when there is.
    Empty,
    /// The budget ran out with data left: read it again next turn.
    More,
    /// The writer side is closed; the stream is gone.
    Closed,
}

/// Every output stream, by token.
#[derive(Default)]
pub(crate) struct Capture {
    streams: HashMap<Token, Stream>,
    by_pid: HashMap<Pid, Vec<Token>>,
    files: Files,
    /// Made when a stream first goes to syslog, again when `syslog_address` changes.
    syslog: Option<syslog::Syslog>,
    /// Streams holding an unfinished line, by when it is to be written as it is.
    partial: Timers<Token>,
    /// What a framer made of a read, before it is written.
    out: Vec<u8>,
    /// The last output of every process, for `tail`.
    pub(crate) tails: Tails,
    /// Processes someone follows (`tail -f`, `attach`): what they write is also handed out in
    /// `fed`, for the loop to pass on.
    pub(crate) watched: HashSet<String>,
    pub(crate) fed: Vec<(String, tail::Stream, Vec<u8>)>,
    /// Processes a `log` probe reads (taskmaster(1), ORDER AND HEALTH): what they write is
    /// also handed out in `heard`.
    pub(crate) listened: HashSet<Pid>,
    pub(crate) heard: Vec<(Pid, tail::Stream, Vec<u8>)>,
    /// Bytes read of each process's stdout and stderr, by name (taskmaster(1), METRICS).
    pub(crate) written: HashMap<String, [u64; 2]>,
    buf: Vec<u8>,
}

impl Capture {
    /// Opens the files a process's two streams go to, before it is spawned. Err: a path that
    /// must not be written to. A file that cannot be opened is reported (in `problems`, once)
    /// and tried again later. A file this creates belongs to `owner`.
    pub(crate) fn open(
        &mut self,
        name: &str,
        outputs: [Option<&Output>; 2],
        (owner, syslog_address, now): (Option<&RunAs>, &SyslogAddress, Instant),
        problems: &mut Vec<String>,
    ) -> Result<[Sink; 2], String> {
        let mut sinks = Vec::new();
        for (output, severity) in
            outputs.into_iter().zip([::syslog::Severity::LOG_INFO, ::syslog::Severity::LOG_WARNING])
        {
            let sink = match output {
                None | Some(Output::Stdout) => Ok(Sink::discard()),
                Some(Output::File(spec)) => self.files.open(name, spec, owner, problems).map(|writers| {
                    if writers == 2 {
                        self.frame_writers_of(&spec.path);
                    }
                    let framer =
                        (spec.timestamps || writers > 1).then(|| lines::Framer::new(spec.timestamps));
                    Sink { to: To::File(spec.path.clone()), framer }
                }),
                Some(Output::Syslog) => {
                    // Made again when its address changed, or when it could not be made (a host
                    // name that could not be looked up: a minute later, since it waits).
                    let again = |s: &syslog::Syslog| !s.usable() && now >= s.made_at + syslog::RETRY;
                    if self.syslog.as_ref().is_none_or(|s| s.address() != syslog_address || again(s)) {
                        self.syslog = Some(syslog::Syslog::new(syslog_address, now));
                    }
                    let tag = syslog::Tag { name: name.to_string(), pid: 0, severity };
                    Ok(Sink { to: To::Syslog(tag), framer: Some(lines::Framer::new(false)) })
                }
            };
            match sink {
                Ok(sink) => sinks.push(sink),
                Err(why) => {
                    self.release(sinks);
                    return Err(why);
                }
            }
        }
        let [out, err]: [Sink; 2] = sinks.try_into().map_err(|_| "two streams".to_string())?;
        Ok([out, err])
    }

    /// A file gets a second writer: from now on each stream writing it writes whole lines, so
    /// that one's unfinished line is not continued by another's.
    fn frame_writers_of(&mut self, path: &std::path::Path) {
        for stream in self.streams.values_mut() {
            if matches!(&stream.sink.to, To::File(p) if p == path) && stream.sink.framer.is_none() {
                stream.sink.framer = Some(lines::Framer::new(false));
            }
        }
    }

    /// Sinks `open` gave for a process that did not start after all.
    pub(crate) fn release(&mut self, sinks: impl IntoIterator<Item = Sink>) {
        for sink in sinks {
            if let To::File(path) = &sink.to {
                self.files.release(path);
            }
        }
    }

    /// Takes the pipes of a new process (or its `terminal`, as its stdout), with the sinks `open`
    /// gave, keeping `tail_bytes` of each in memory. Returns the log lines of pipes that could not
    /// be watched.
    pub(crate) fn add(
        &mut self,
        registry: &Registry,
        mut next_token: impl FnMut() -> Token,
        (pid, name): (Pid, &str),
        pipes: Vec<(OwnedFd, Sink, tail::Stream)>,
        (tail_bytes, terminal): (usize, bool),
    ) -> Vec<String> {
        let mut problems = Vec::new();
        for (fd, mut sink, which) in pipes {
            // A file with another writer (the process's other stream, opened with this one)
            // takes whole lines from each.
            if let To::File(path) = &sink.to
                && sink.framer.is_none()
                && self.files.writers(path) > 1
            {
                sink.framer = Some(lines::Framer::new(false));
            }
            let mut pipe = Receiver::from(fd);
            let token = next_token();
            let registered = pipe
                .set_nonblocking(true)
                .and_then(|()| registry.register(&mut pipe, token, Interest::READABLE));
            if let Err(e) = registered {
                problems.push(unwatched(name, &e));
                self.release([sink]);
                continue;
            }
            let stream = Stream {
                pid,
                name: name.to_string(),
                pipe,
                sink,
                which,
                tail_bytes,
                terminal,
                alternate_screen: false,
            };
            self.streams.insert(token, stream);
            self.by_pid.entry(pid).or_default().push(token);
        }
        problems
    }

    /// Closes and opens again every output file (after an outside rotation moved them), so
    /// that output goes to the file at the configured path from now on; a file that could not
    /// be opened is tried again. `problems`: files that cannot be opened; `notes`: files found
    /// deleted, created again.
    pub(crate) fn reopen(&mut self, problems: &mut Vec<String>, notes: &mut Vec<String>) {
        let names = self
            .streams
            .values()
            .filter_map(|s| match &s.sink.to {
                To::File(path) => Some((path.clone(), s.name.clone())),
                To::Discard | To::Syslog(_) => None,
            })
            .collect();
        self.files.reopen(&names, problems, notes);
    }

    /// A reload changed how files are rotated or stamped (`outputs`, by process name): the
    /// streams writing to them follow from now on. A change of place restarts the process
    /// instead (see `config::diff`).
    pub(crate) fn retune(
        &mut self,
        outputs: &HashMap<String, [Option<Output>; 2]>,
        now: Now,
        problems: &mut Vec<String>,
    ) {
        for stream in self.streams.values_mut() {
            let Some(outputs) = outputs.get(&stream.name) else { continue };
            let output = match stream.which {
                tail::Stream::Stdout => outputs[0].as_ref(),
                tail::Stream::Stderr => outputs[1].as_ref(),
            };
            let (To::File(path), Some(Output::File(spec))) = (&stream.sink.to, output) else { continue };
            if *path != spec.path {
                continue;
            }
            self.files.retune(spec);
            let framed = spec.timestamps || self.files.writers(path) > 1;
            match (&mut stream.sink.framer, framed) {
                (Some(framer), true) => framer.stamp(spec.timestamps),
                (None, true) => stream.sink.framer = Some(lines::Framer::new(spec.timestamps)),
                (Some(_), false) => {
                    let_go(stream, (&mut self.files, &mut self.syslog, &mut self.out), now.mono, problems);
                    stream.sink.framer = None;
                }
                (None, false) => {}
            }
        }
    }

    /// What came back (a file that can be opened again, syslog that can be reached), to be
    /// logged as news, not as errors.
    pub(crate) fn take_notes(&mut self) -> Vec<String> {
        let mut notes = std::mem::take(&mut self.files.notes);
        if let Some(syslog) = &mut self.syslog {
            notes.append(&mut syslog.notes);
        }
        notes
    }

    /// What is wrong now with the output of live processes, one line each (for `status`).
    pub(crate) fn failures(&self) -> Vec<String> {
        let to_syslog = self.streams.values().any(|s| matches!(s.sink.to, To::Syslog(_)));
        let syslog = self.syslog.as_ref().filter(|_| to_syslog).and_then(|s| s.failing.as_ref());
        let mut lines: Vec<String> = self.files.failures().chain(syslog).cloned().collect();
        lines.sort();
        lines
    }

    /// The descriptors the streams hold: each pipe, each open file, the syslog socket.
    pub(crate) fn descriptors(&self) -> usize {
        self.streams.len() + self.files.descriptors() + usize::from(self.syslog.is_some())
    }

    /// A process goes by another name: its streams and its output in memory follow.
    pub(crate) fn rename(&mut self, from: &str, to: &str) {
        for stream in self.streams.values_mut().filter(|s| s.name == from) {
            stream.name = to.to_string();
            if let To::Syslog(tag) = &mut stream.sink.to {
                tag.name = to.to_string();
            }
        }
        self.tails.rename(from, to);
        // Its byte counts go with it (taskmaster(1), METRICS: a reload keeps a process's counts).
        if let Some(counts) = self.written.remove(from) {
            self.written.insert(to.to_string(), counts);
        }
    }

    /// The names of the processes whose output is read now.
    pub(crate) fn live_names(&self) -> HashSet<String> {
        self.streams.values().map(|s| s.name.clone()).collect()
    }

    /// Whether the process's terminal shows the alternate screen (see `Stream`).
    pub(crate) fn on_alternate_screen(&self, pid: Pid) -> bool {
        let tokens = self.by_pid.get(&pid).map_or(&[][..], Vec::as_slice);
        tokens.iter().any(|t| self.streams.get(t).is_some_and(|s| s.alternate_screen))
    }

    pub(crate) fn owns(&self, token: Token) -> bool {
        self.streams.contains_key(&token)
    }

    /// When an unfinished line is next to be written as it is.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.partial.earliest()
    }

    /// Writes as they are the unfinished lines that waited long enough (see `lines`).
    pub(crate) fn flush_due(&mut self, now: Now, problems: &mut Vec<String>) {
        for token in self.partial.due(now.mono) {
            let Some(stream) = self.streams.get_mut(&token) else { continue };
            match stream.sink.framer.as_ref().and_then(lines::Framer::deadline) {
                Some(at) if at > now.mono => self.partial.set(token, Some(at)),
                Some(_) => {
                    let_go(stream, (&mut self.files, &mut self.syslog, &mut self.out), now.mono, problems);
                }
                None => {}
            }
        }
    }

    /// Reads what is ready on one pipe, within the per-turn budget. Log lines of write failures
    /// are pushed to `problems`.
    pub(crate) fn read(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Now,
        problems: &mut Vec<String>,
    ) -> Drained {
        self.pump(registry, token, (READS_PER_TURN, false), now, problems)
    }

    /// A process ended: reads what is left in its pipes and closes them.
    pub(crate) fn drain(&mut self, registry: &Registry, pid: Pid, now: Now, problems: &mut Vec<String>) {
        for token in self.by_pid.remove(&pid).unwrap_or_default() {
            let _ = self.pump(registry, token, (DRAIN_LIMIT / CHUNK, true), now, problems);
            self.close(registry, token, now, problems);
        }
    }

    /// Reads up to `reads` times. A short read means the pipe is empty: the next write wakes the
    /// loop again, so it stops there, unless `to_the_end` (a process that exited: what is left is
    /// read until the pipe is empty or closed).
    fn pump(
        &mut self,
        registry: &Registry,
        token: Token,
        (reads, to_the_end): (usize, bool),
        now: Now,
        problems: &mut Vec<String>,
    ) -> Drained {
        let Some(stream) = self.streams.get_mut(&token) else { return Drained::Closed };
        self.buf.resize(CHUNK, 0);
        for _ in 0..reads {
            match stream.pipe.read(&mut self.buf) {
                Ok(0) => {
                    self.close(registry, token, now, problems);
                    return Drained::Closed;
                }
                Ok(n) => {
                    let bytes = &self.buf[..n];
                    count(&mut self.written, &stream.name, stream.which, n);
                    self.tails.push(&stream.name, stream.which, bytes, stream.tail_bytes);
                    if stream.terminal
                        && let Some(on) = crate::control::stream::screen_switch(bytes)
                    {
                        stream.alternate_screen = on;
                    }
                    if self.watched.contains(&stream.name) {
                        self.fed.push((stream.name.clone(), stream.which, bytes.to_vec()));
                    }
                    if self.listened.contains(&stream.pid) {
                        self.heard.push((stream.pid, stream.which, bytes.to_vec()));
                    }
                    let destinations = (&mut self.files, &mut self.syslog);
                    sinks::deliver(
                        (&mut stream.sink, &stream.name),
                        destinations,
                        bytes,
                        now,
                        &mut self.out,
                        problems,
                    );
                    if let Some(at) = stream.sink.framer.as_ref().and_then(lines::Framer::deadline)
                        && !self.partial.is_armed(token)
                    {
                        self.partial.set(token, Some(at));
                    }
                    if n < self.buf.len() && !to_the_end && !stream.terminal {
                        return Drained::Empty;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Drained::Empty,
                // A terminal its program has closed on its side (it may open it again, as
                // /dev/tty): nothing to read now. Closing it would hang it up, and the program
                // with it (SIGHUP); keeping it unread would block the program's next write.
                Err(e) if stream.terminal && !to_the_end && e.raw_os_error() == Some(libc::EIO) => {
                    return Drained::Empty;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(registry, token, now, problems);
                    return Drained::Closed;
                }
            }
        }
        Drained::More
    }

    /// A stream ends: its unfinished line is written as it is, its file let go.
    fn close(&mut self, registry: &Registry, token: Token, now: Now, problems: &mut Vec<String>) {
        if let Some(mut stream) = self.streams.remove(&token) {
            let _ = registry.deregister(&mut stream.pipe);
            if let Some(tokens) = self.by_pid.get_mut(&stream.pid) {
                tokens.retain(|t| *t != token);
            }
            self.partial.set(token, None);
            let_go(&mut stream, (&mut self.files, &mut self.syslog, &mut self.out), now.mono, problems);
            self.release([stream.sink]);
        }
    }
}

/// Lets a stream's unfinished line go as it is (its wait is over, its stream ended, its
/// file no longer needs whole lines).
fn let_go(
    stream: &mut Stream,
    (files, syslog, out): (&mut Files, &mut Option<syslog::Syslog>, &mut Vec<u8>),
    now: Instant,
    problems: &mut Vec<String>,
) {
    sinks::flush((&mut stream.sink, &stream.name), (files, syslog), now, out, problems);
}

/// Why the output of a process cannot be watched, as logged.
fn unwatched(name: &str, e: &std::io::Error) -> String {
    format!("couldn't watch the output of {name}: {}", describe_io(e))
}

/// Adds `n` bytes to what a process wrote to one of its streams.
fn count(written: &mut HashMap<String, [u64; 2]>, name: &str, which: tail::Stream, n: usize) {
    let index = match which {
        tail::Stream::Stdout => 0,
        tail::Stream::Stderr => 1,
    };
    let n = n as u64;
    match written.get_mut(name) {
        Some(counts) => counts[index] += n,
        None => {
            let mut counts = [0, 0];
            counts[index] = n;
            written.insert(name.to_string(), counts);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renamed_process_keeps_its_byte_counts() {
        let mut capture = Capture::default();
        capture.written.insert("web".to_string(), [32, 5]);
        capture.rename("web", "web:web_00");
        assert_eq!(capture.written.get("web:web_00"), Some(&[32, 5]));
        assert!(!capture.written.contains_key("web"));
    }
}
