//! Where each stream's bytes go, and the files they go to. A file is opened once however many
//! streams write to it (the processes of a program, stdout and stderr), so that its rotation
//! and its size are one. A file that cannot be opened or written is reported once, and again
//! only after a success in between; its output is dropped meanwhile, and the file is tried
//! again each second while there is output, and at every `reopen` (taskmaster(1), CHILD LOGS).

use super::files::{Rotating, Trouble};
use super::lines::Framer;
use super::syslog::{Syslog, Tag};
use crate::append::OpenError;
use crate::config::{LogFile, RunAs};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Renames the rotations of all files may cost in a turn of the loop (a few milliseconds).
const RENAMES_PER_TURN: u32 = 256;

/// How often a file that could not be opened is tried again while its output comes.
const RETRY: Duration = Duration::from_secs(1);

/// Where one stream's bytes go.
pub(crate) struct Sink {
    pub(super) to: To,
    /// Present when the destination takes whole lines (see `lines`).
    pub(super) framer: Option<Framer>,
}

pub(super) enum To {
    /// Not configured: read and dropped.
    Discard,
    /// A file of `Files`, by path.
    File(PathBuf),
    Syslog(Tag),
}

impl Sink {
    pub(crate) fn discard() -> Sink {
        Sink { to: To::Discard, framer: None }
    }

    /// The same, for the process `pid` (what a syslog line is tagged with).
    pub(crate) fn of_pid(mut self, pid: nix::unistd::Pid) -> Sink {
        if let To::Syslog(tag) = &mut self.to {
            tag.pid = pid.as_raw().unsigned_abs();
        }
        self
    }
}

/// One file and who writes to it.
struct Entry {
    file: Option<Rotating>,
    spec: LogFile,
    /// The user and group of the program that writes it: what is created is theirs
    /// (taskmaster(1), PRIVILEGES).
    owner: Option<RunAs>,
    /// Streams that write to it.
    users: usize,
    /// What was said of its failure, while it fails.
    failing: Option<String>,
    /// When a file that could not be opened is tried again.
    retry_at: Option<Instant>,
    /// What was said of its rotation's failure, until a rotation works.
    rotate_failing: Option<String>,
}

/// Every open output file, by path.
#[derive(Default)]
pub(super) struct Files {
    entries: HashMap<PathBuf, Entry>,
    /// What was said of files that failed when their last stream let them go: a program
    /// started again on a file that still fails is not said again.
    said: HashMap<PathBuf, String>,
    /// Recoveries, to be logged as such.
    pub(super) notes: Vec<String>,
    /// The turn of the loop files were last written in, and the renames it has left.
    turn: Option<Instant>,
    renames_left: u32,
}

impl Files {
    /// Takes `spec`'s file for one more stream, opening it if no other stream has; Ok: how many
    /// streams write to it now. Err: a path that must not be written to. A file that cannot be opened is reported in `problems`
    /// (once) and tried again later.
    pub(super) fn open(
        &mut self,
        name: &str,
        spec: &LogFile,
        owner: Option<&RunAs>,
        problems: &mut Vec<String>,
    ) -> Result<usize, String> {
        if let Some(entry) = self.entries.get_mut(&spec.path) {
            entry.users += 1;
            entry.spec = spec.clone();
            entry.owner = owner.cloned();
            if let Some(file) = &mut entry.file {
                file.retune(spec.maxbytes, spec.backups);
            }
            return Ok(entry.users);
        }
        let failing = self.said.remove(&spec.path);
        let mut entry = Entry {
            file: None,
            spec: spec.clone(),
            owner: owner.cloned(),
            users: 1,
            failing,
            retry_at: None,
            rotate_failing: None,
        };
        match entry.try_open(name, problems) {
            Err(OpenError::Refused(why)) => return Err(why),
            Ok(()) | Err(OpenError::Failed(_)) => {}
        }
        self.entries.insert(spec.path.clone(), entry);
        Ok(1)
    }

    /// How many streams write to `path`.
    pub(super) fn writers(&self, path: &Path) -> usize {
        self.entries.get(path).map_or(0, |e| e.users)
    }

    /// One stream fewer writes to `path`; the last one closes it.
    pub(super) fn release(&mut self, path: &Path) {
        if let Some(entry) = self.entries.get_mut(path) {
            entry.users -= 1;
            if entry.users == 0
                && let Some(Entry { failing: Some(said), .. }) = self.entries.remove(path)
            {
                self.said.insert(path.to_path_buf(), said);
            }
        }
    }

    /// New rotation settings for a file in use.
    pub(super) fn retune(&mut self, spec: &LogFile) {
        if let Some(entry) = self.entries.get_mut(&spec.path) {
            entry.spec = spec.clone();
            if let Some(file) = &mut entry.file {
                file.retune(spec.maxbytes, spec.backups);
            }
        }
    }

    /// Appends `bytes` of `name`'s output to `path`. Log lines go to `problems`.
    pub(super) fn write(
        &mut self,
        path: &Path,
        name: &str,
        bytes: &[u8],
        now: Instant,
        problems: &mut Vec<String>,
    ) {
        let Some(entry) = self.entries.get_mut(path) else { return };
        if entry.file.is_none() {
            if entry.retry_at.is_some_and(|at| at > now) {
                return;
            }
            entry.retry_at = Some(now + RETRY);
            if entry.try_open(name, problems).is_err() {
                return;
            }
            self.notes.push(format!("the output of {name} goes to {} again", path.display()));
        }
        let Some(file) = &mut entry.file else { return };
        // The rotations of all files in a turn are bounded by the renames they cost, so that a
        // tiny `maxbytes` makes larger files rather than a loop busy renaming.
        if self.turn != Some(now) {
            self.turn = Some(now);
            self.renames_left = RENAMES_PER_TURN;
        }
        let cost = file.rotation_cost();
        let mut rotations = self.renames_left / cost;
        let before = rotations;
        let result = file.append(bytes, entry.owner.as_ref(), &mut rotations);
        self.renames_left -= (before - rotations) * cost;
        if rotations < before && result.is_ok() {
            entry.rotate_failing = None;
        }
        match result {
            Ok(()) => entry.failing = None,
            Err(Trouble::Write(why)) => entry.fail(problems, write_failure(name, path, &why)),
            // Said once: it is tried again after each `maxbytes` more.
            Err(Trouble::Rotate(why)) => {
                entry.failing = None;
                let line =
                    format!("couldn't rotate {} (output of {name}): {why}; it grows on", path.display());
                if entry.rotate_failing.as_ref() != Some(&line) {
                    problems.push(line.clone());
                    entry.rotate_failing = Some(line);
                }
            }
            Err(Trouble::Deleted) => {
                entry.failing = None;
                problems.push(write_failure(name, path, DELETED));
            }
            Err(Trouble::Gone(why)) => {
                entry.file = None;
                entry.retry_at = Some(now + RETRY);
                let why = format!("couldn't start a new file after rotating it: {why}; {DROPPED}");
                entry.fail(problems, write_failure(name, path, &why));
            }
        }
    }

    /// Closes and opens again every file, at its path (after an outside rotation moved it).
    /// What could not be opened goes to `problems`; a file deleted meanwhile, created again,
    /// to `notes`.
    pub(super) fn reopen(
        &mut self,
        names: &HashMap<PathBuf, String>,
        problems: &mut Vec<String>,
        notes: &mut Vec<String>,
    ) {
        for (path, entry) in &mut self.entries {
            let name = names.get(path).map_or("a program", String::as_str);
            let deleted = entry.file.as_ref().is_some_and(Rotating::deleted);
            entry.file = None;
            entry.retry_at = None;
            let mut why = Vec::new();
            match (entry.try_open(name, &mut why), deleted) {
                (Ok(()), true) => notes.push(write_failure(name, path, DELETED)),
                (Ok(()), false) => {}
                (Err(e), true) => {
                    let line = format!("{GONE}, and cannot be created again: {}; {DROPPED}", e.message());
                    let line = write_failure(name, path, &line);
                    entry.failing = Some(line.clone());
                    problems.push(line);
                }
                (Err(_), false) => problems.extend(why),
            }
        }
    }

    /// The failures of files in use, one line each.
    pub(super) fn failures(&self) -> impl Iterator<Item = &String> {
        self.entries.values().flat_map(|e| e.failing.iter().chain(&e.rotate_failing))
    }

    /// The descriptors the files hold.
    pub(super) fn descriptors(&self) -> usize {
        self.entries.values().filter(|e| e.file.is_some()).count()
    }
}

const GONE: &str = "it had been deleted (what was written to it since is lost)";
const DELETED: &str = "it had been deleted (what was written to it since is lost); it is created again";
const DROPPED: &str = "the output is dropped until it can be (tried again each second, and at `reopen`)";

impl Entry {
    fn try_open(&mut self, name: &str, problems: &mut Vec<String>) -> Result<(), OpenError> {
        let (path, spec) = (&self.spec.path, &self.spec);
        match Rotating::open(path, spec.maxbytes, spec.backups, self.owner.as_ref()) {
            Ok(file) => {
                self.file = Some(file);
                self.failing = None;
                Ok(())
            }
            Err(e) => {
                let line = format!(
                    "couldn't open {} for the output of {name}: {}; {DROPPED}",
                    path.display(),
                    e.message()
                );
                self.fail(problems, line);
                Err(e)
            }
        }
    }

    /// Said once, and again only after a success in between.
    fn fail(&mut self, problems: &mut Vec<String>, line: String) {
        if self.failing.is_none() {
            problems.push(line.clone());
            self.failing = Some(line);
        }
    }
}

fn write_failure(name: &str, path: &Path, why: &str) -> String {
    format!("couldn't write output of {name} to {}: {why}", path.display())
}

/// Hands what a stream read to its destination: through its framer if it has one.
pub(super) fn deliver(
    (sink, name): (&mut Sink, &str),
    (files, syslog): (&mut Files, &mut Option<Syslog>),
    bytes: &[u8],
    now: crate::supervisor::Now,
    out: &mut Vec<u8>,
    problems: &mut Vec<String>,
) {
    let bytes = match &mut sink.framer {
        None => bytes,
        Some(framer) => {
            out.clear();
            framer.feed(bytes, now, out);
            out.as_slice()
        }
    };
    put((&sink.to, name), (files, syslog), bytes, now.mono, problems);
}

/// Lets a stream's unfinished line go as it is.
pub(super) fn flush(
    (sink, name): (&mut Sink, &str),
    (files, syslog): (&mut Files, &mut Option<Syslog>),
    now: Instant,
    out: &mut Vec<u8>,
    problems: &mut Vec<String>,
) {
    if let Some(framer) = &mut sink.framer {
        out.clear();
        framer.flush(out);
        put((&sink.to, name), (files, syslog), out, now, problems);
    }
}

fn put(
    (to, name): (&To, &str),
    (files, syslog): (&mut Files, &mut Option<Syslog>),
    bytes: &[u8],
    now: Instant,
    problems: &mut Vec<String>,
) {
    if bytes.is_empty() {
        return;
    }
    match to {
        To::Discard => {}
        To::File(path) => files.write(path, name, bytes, now, problems),
        To::Syslog(tag) => {
            if let Some(syslog) = syslog {
                problems.extend(syslog.send(tag, bytes));
            }
        }
    }
}
