//! Child output: each stdout and stderr pipe is read without blocking and appended to its file,
//! or read and dropped when the stream is not configured. Reads per turn are bounded so that one
//! flooding child cannot starve the others. A file that cannot be written is reported once, and
//! again only after a write has succeeded in between; the child keeps running either way. The
//! files are opened before the process is spawned (see `append` for what is refused), and again
//! on `reopen` (SIGUSR2, for an outside log rotation).

use crate::append::{OpenError, open_append_for};
use crate::config::RunAs;
use crate::config::describe_io;
use crate::tail::{self, Tails};
use mio::unix::pipe::Receiver;
use mio::{Interest, Registry, Token};
use nix::unistd::Pid;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// Bytes read at once: the kernel's pipe size. Larger pipes and buffers were measured to cost
/// more CPU per byte, not less: what a read brings in must still be in the CPU cache when the
/// write copies it out.
const CHUNK: usize = 64 * 1024;
/// Reads of one pipe per turn before the others get their turn.
const READS_PER_TURN: usize = 8;
/// When a process exits, at most this much more is read from its pipes (a grandchild that left
/// the group could otherwise keep the drain going for ever).
const DRAIN_LIMIT: usize = 16 * 1024 * 1024;

/// Where a stream's bytes go.
pub(crate) enum Sink {
    File {
        file: File,
        path: PathBuf,
    },
    /// Not configured, or the file could not be opened.
    Discard,
    /// The file could not be opened again by `reopen`: dropped, and tried again at the next.
    Lost {
        path: PathBuf,
    },
}

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
    /// Files whose last open or write failed, with what was said (once) about it.
    failing: HashMap<PathBuf, String>,
    /// Who a file is created for, by path: the user and group of the program that writes it
    /// (taskmaster(1), PRIVILEGES), also when `reopen` creates it again.
    owners: HashMap<PathBuf, RunAs>,
    /// The last output of every process, for `tail`.
    pub(crate) tails: Tails,
    /// Processes someone follows (`tail -f`, `attach`): what they write is also handed out in
    /// `fed`, for the loop to pass on.
    pub(crate) watched: HashSet<String>,
    pub(crate) fed: Vec<(String, tail::Stream, Vec<u8>)>,
    buf: Vec<u8>,
}

impl Capture {
    /// Opens the files a process's two streams go to, before it is spawned. Err: a path that
    /// must not be written to, a spawn error. A file that cannot be opened is reported (in
    /// `problems`, once) and its stream dropped. A file this creates belongs to `owner`.
    pub(crate) fn open(
        &mut self,
        name: &str,
        paths: [Option<&Path>; 2],
        owner: Option<&RunAs>,
        problems: &mut Vec<String>,
    ) -> Result<[Sink; 2], String> {
        let mut open = |path: Option<&Path>| match path {
            None => Ok(Sink::Discard),
            Some(path) => {
                match owner {
                    Some(owner) => self.owners.insert(path.to_path_buf(), owner.clone()),
                    None => self.owners.remove(path),
                };
                self.open_file(name, path, problems)
            }
        };
        Ok([open(paths[0])?, open(paths[1])?])
    }

    fn open_file(&mut self, name: &str, path: &Path, problems: &mut Vec<String>) -> Result<Sink, String> {
        match open_append_for(path, self.owners.get(path)) {
            Ok(file) => {
                self.failing.remove(path);
                Ok(Sink::File { file, path: path.to_path_buf() })
            }
            Err(OpenError::Refused(why)) => Err(why),
            Err(OpenError::Failed(why)) => {
                problems.extend(fail(&mut self.failing, path, open_failure(name, path, &why)));
                // Kept, so that the next reopen (SIGUSR2, reload) tries the path again.
                Ok(Sink::Lost { path: path.to_path_buf() })
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
        for (fd, sink, which) in pipes {
            let mut pipe = Receiver::from(fd);
            let token = next_token();
            let registered = pipe
                .set_nonblocking(true)
                .and_then(|()| registry.register(&mut pipe, token, Interest::READABLE));
            if let Err(e) = registered {
                problems.push(format!("couldn't watch the output of {name}: {}", describe_io(&e)));
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

    /// Closes and opens again every output file (after an outside rotation moved them), so that
    /// output goes to the file at the configured path from now on; a file that could not be
    /// opened is tried again.
    pub(crate) fn reopen(&mut self, problems: &mut Vec<String>) {
        let streams: Vec<Token> = self.streams.keys().copied().collect();
        for token in streams {
            let Some(stream) = self.streams.get(&token) else { continue };
            let (Sink::File { path, .. } | Sink::Lost { path }) = &stream.sink else { continue };
            let (path, name) = (path.clone(), stream.name.clone());
            let sink = match open_append_for(&path, self.owners.get(&path)) {
                Ok(file) => {
                    self.failing.remove(&path);
                    Sink::File { file, path }
                }
                Err(e) => {
                    problems.extend(fail(&mut self.failing, &path, open_failure(&name, &path, e.message())));
                    Sink::Lost { path }
                }
            };
            if let Some(stream) = self.streams.get_mut(&token) {
                stream.sink = sink;
            }
        }
    }

    /// What is wrong now with the output of live processes, one line each (for `status`).
    pub(crate) fn failures(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .streams
            .values()
            .filter_map(|s| match &s.sink {
                Sink::File { path, .. } | Sink::Lost { path } => self.failing.get(path).cloned(),
                Sink::Discard => None,
            })
            .collect();
        lines.sort();
        lines.dedup();
        lines
    }

    /// The descriptors the streams hold: each pipe, and each open file.
    pub(crate) fn descriptors(&self) -> usize {
        let files = self.streams.values().filter(|s| matches!(s.sink, Sink::File { .. })).count();
        self.streams.len() + files
    }

    /// A process goes by another name: its streams and its output in memory follow.
    pub(crate) fn rename(&mut self, from: &str, to: &str) {
        for stream in self.streams.values_mut().filter(|s| s.name == from) {
            stream.name = to.to_string();
        }
        self.tails.rename(from, to);
    }

    /// The names of the processes whose output is read now.
    pub(crate) fn live_names(&self) -> std::collections::HashSet<String> {
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

    /// Reads what is ready on one pipe, within the per-turn budget. Log lines of write failures
    /// are pushed to `problems`.
    pub(crate) fn read(&mut self, registry: &Registry, token: Token, problems: &mut Vec<String>) -> Drained {
        self.pump(registry, token, READS_PER_TURN, false, problems)
    }

    /// A process ended: reads what is left in its pipes and closes them.
    pub(crate) fn drain(&mut self, registry: &Registry, pid: Pid, problems: &mut Vec<String>) {
        for token in self.by_pid.remove(&pid).unwrap_or_default() {
            let _ = self.pump(registry, token, DRAIN_LIMIT / CHUNK, true, problems);
            self.close(registry, token);
        }
    }

    /// Reads up to `reads` times. A short read means the pipe is empty: the next write wakes the
    /// loop again, so it stops there, unless `to_the_end` (a process that exited: what is left is
    /// read until the pipe is empty or closed).
    fn pump(
        &mut self,
        registry: &Registry,
        token: Token,
        reads: usize,
        to_the_end: bool,
        problems: &mut Vec<String>,
    ) -> Drained {
        let Some(stream) = self.streams.get_mut(&token) else { return Drained::Closed };
        self.buf.resize(CHUNK, 0);
        for _ in 0..reads {
            match stream.pipe.read(&mut self.buf) {
                Ok(0) => {
                    self.close(registry, token);
                    return Drained::Closed;
                }
                Ok(n) => {
                    self.tails.push(&stream.name, stream.which, &self.buf[..n], stream.tail_bytes);
                    if stream.terminal
                        && let Some(on) = crate::control::stream::screen_switch(&self.buf[..n])
                    {
                        stream.alternate_screen = on;
                    }
                    if self.watched.contains(&stream.name) {
                        self.fed.push((stream.name.clone(), stream.which, self.buf[..n].to_vec()));
                    }
                    if let Some(line) = deliver(stream, &self.buf[..n], &mut self.failing) {
                        problems.push(line);
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
                    self.close(registry, token);
                    return Drained::Closed;
                }
            }
        }
        Drained::More
    }

    fn close(&mut self, registry: &Registry, token: Token) {
        if let Some(mut stream) = self.streams.remove(&token) {
            let _ = registry.deregister(&mut stream.pipe);
            if let Some(tokens) = self.by_pid.get_mut(&stream.pid) {
                tokens.retain(|t| *t != token);
            }
        }
    }
}

/// Appends bytes to the stream's file. Returns a log line when the file starts failing.
fn deliver(stream: &mut Stream, bytes: &[u8], failing: &mut HashMap<PathBuf, String>) -> Option<String> {
    let Sink::File { file, path } = &mut stream.sink else { return None };
    match write_all(file, bytes) {
        Ok(()) => {
            failing.remove(path.as_path());
            None
        }
        Err(e) => fail(failing, path, write_failure(&stream.name, path, &describe_io(&e))),
    }
}

/// Records that `path` fails; returns the line to log if it was not failing already (a failure
/// is said once, and again only after a success in between).
fn fail(failing: &mut HashMap<PathBuf, String>, path: &Path, line: String) -> Option<String> {
    match failing.contains_key(path) {
        true => None,
        false => {
            failing.insert(path.to_path_buf(), line.clone());
            Some(line)
        }
    }
}

fn open_failure(name: &str, path: &Path, why: &str) -> String {
    format!(
        "couldn't open {} for the output of {name}: {why}; the output is dropped until it can be \
         (SIGUSR2 or a reload tries again)",
        path.display()
    )
}

/// Writes all of `bytes`. The file is non-blocking: a device that cannot take more now (a
/// terminal that is scrolled back, say) loses the rest rather than stopping taskmaster.
fn write_all(file: &mut File, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match file.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn write_failure(name: &str, path: &Path, why: &str) -> String {
    format!("couldn't write output of {name} to {}: {why}", path.display())
}
