//! A program's `stdout` and `stderr` (taskmaster(1), CHILD LOGS): a path, `syslog`, `stdout` (for
//! stderr), or the mapping form with rotation and timestamps; and the main log's rotation keys.

use super::super::node::Node;
use super::super::output::{DEFAULT_BACKUPS, LogFile, MAX_BACKUPS, Output};
use super::super::raw::{STREAM_FILE_KEYS, read_bool, read_bytes, read_count, read_path};
use super::super::spec::{DaemonSpec, ProgramSpec};
use super::{Here, Validator};
use std::collections::BTreeMap;

type Entries<'n> = BTreeMap<String, (Here, &'n Node)>;

/// 1 TB: beyond, a size is a mistake.
pub(super) const MAX_LOG_BYTES: usize = 1 << 40;

/// Which stream a destination is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Which {
    Stdout,
    Stderr,
}

impl Which {
    fn key(self) -> &'static str {
        match self {
            Which::Stdout => "stdout",
            Which::Stderr => "stderr",
        }
    }
}

impl Validator<'_> {
    /// `stdout` or `stderr` of a program; `Some(None)`: not configured (read and dropped).
    pub(super) fn output(&mut self, e: &Entries, which: Which) -> Option<Option<Output>> {
        let key = which.key();
        let Some((at, node)) = e.get(key) else { return Some(None) };
        let (dir, home) = (self.dir(at), self.ctx.home.clone());
        let path = |n: &Node| read_path(n, &dir, home.as_deref());
        match node {
            Node::Null => Some(None),
            Node::Str(s) if s.trim().eq_ignore_ascii_case("syslog") => Some(Some(Output::Syslog)),
            Node::Str(s) if s.trim().eq_ignore_ascii_case("stdout") && which == Which::Stderr => {
                Some(Some(Output::Stdout))
            }
            Node::Str(s) if matches!(s.trim().to_ascii_lowercase().as_str(), "stdout" | "stderr") => {
                let msg = format!(
                    "`{}` is not a destination for stdout (`stderr: stdout` sends stderr to stdout's \
                     file; a file of that name is written `./{}`)",
                    s.trim(),
                    s.trim()
                );
                self.problem(at, Some(key), msg);
                None
            }
            Node::Map(pairs) => {
                let inner = self.entries(at, pairs, STREAM_FILE_KEYS);
                let file = match inner.get("path") {
                    Some(_) => self.key(&inner, "path", |n| path(n).map(Some), None),
                    None => {
                        let msg = "needs `path`: the file the output goes to".to_string();
                        self.problem(at, Some(key), msg);
                        None
                    }
                };
                let maxbytes = self.key(&inner, "maxbytes", |n| read_bytes(n, MAX_LOG_BYTES), 0);
                let backups = self.key(&inner, "backups", |n| read_count(n, 0, MAX_BACKUPS), DEFAULT_BACKUPS);
                let timestamps = self.key(&inner, "timestamps", read_bool, false);
                Some(Some(Output::File(LogFile {
                    path: file??,
                    maxbytes: maxbytes? as u64,
                    backups: backups?,
                    timestamps: timestamps?,
                })))
            }
            Node::Str(_) => match path(node) {
                Ok(p) => Some(Some(Output::File(LogFile::plain(p)))),
                Err(msg) => {
                    self.problem(at, Some(key), msg);
                    None
                }
            },
            other => {
                let msg = format!(
                    "expected a path, `syslog`{}, or a mapping with `path` (and `maxbytes`, \
                         `backups`, `timestamps`), found {}",
                    if which == Which::Stderr { ", `stdout`" } else { "" },
                    other.kind()
                );
                self.problem(at, Some(key), msg);
                None
            }
        }
    }

    /// Streams that write one file share its rotation and its owner: they must agree on them.
    /// Each process's own file counts where its path names the process.
    pub(super) fn check_shared_files(&mut self, at: &Here, programs: &BTreeMap<String, ProgramSpec>) {
        let mut streams = Vec::new();
        for (name, spec) in programs {
            let user = spec.run_as.as_ref().map(|r| r.user.as_str());
            let own = spec.per_process.as_ref().is_some_and(|h| h.stdout.is_some() || h.stderr.is_some());
            let outputs = match own {
                true => spec.outputs(),
                false => vec![[spec.stdout.clone(), spec.stderr.clone()]],
            };
            for [stdout, stderr] in outputs {
                for (key, output) in [("stdout", stdout), ("stderr", stderr)] {
                    if let Some(Output::File(file)) = output {
                        streams.push((name.as_str(), key, file, user));
                    }
                }
            }
        }
        let mut seen: BTreeMap<&std::path::Path, (&str, &str, &LogFile)> = BTreeMap::new();
        let mut users: BTreeMap<&std::path::Path, (&str, Option<&str>)> = BTreeMap::new();
        for (name, key, file, user) in &streams {
            match users.get(file.path.as_path()) {
                Some((other, theirs)) if theirs != user => {
                    let who = |u: Option<&str>| {
                        u.map_or("taskmaster's own user".to_string(), |u| format!("user '{u}'"))
                    };
                    let msg = format!(
                        "writes {} like program '{other}', but as {} where '{other}' runs as {}: \
                         a file is created and rotated with one user's rights, give both the same",
                        file.path.display(),
                        who(*user),
                        who(*theirs)
                    );
                    let here = self.place(at, name).key(key, 0);
                    self.problem(
                        &Here { section: format!("program '{name}'").into(), ..here },
                        Some(key),
                        msg,
                    );
                    continue;
                }
                Some(_) => {}
                None => {
                    users.insert(&file.path, (name, *user));
                }
            }
            match seen.get(file.path.as_path()) {
                None => {
                    seen.insert(&file.path, (name, key, file));
                }
                Some((other, other_key, first))
                    if (first.maxbytes, first.backups) != (file.maxbytes, file.backups) =>
                {
                    let msg = format!(
                        "writes {} like the {other_key} of program '{other}', but rotated otherwise \
                         (maxbytes {} and backups {} there, {} and {} here): one file has one rotation, \
                         give both the same",
                        file.path.display(),
                        first.maxbytes,
                        first.backups,
                        file.maxbytes,
                        file.backups
                    );
                    let here = self.place(at, name).key(key, 0);
                    let here = Here { section: format!("program '{name}'").into(), ..here };
                    self.problem(&here, Some(key), msg);
                }
                Some(_) => {}
            }
        }
    }

    /// A program's output is not the main log: their rotations would move each other's file.
    pub(super) fn check_main_log(
        &mut self,
        at: &Here,
        daemon: &DaemonSpec,
        programs: &BTreeMap<String, ProgramSpec>,
    ) {
        let Some(logfile) = &daemon.logfile else { return };
        for (name, spec) in programs {
            let outputs = match spec.per_process.is_some() {
                true => spec.outputs(),
                false => vec![[spec.stdout.clone(), spec.stderr.clone()]],
            };
            let writes = |key: usize| {
                outputs.iter().any(|o| matches!(&o[key], Some(Output::File(file)) if file.path == *logfile))
            };
            for (n, key) in ["stdout", "stderr"].into_iter().enumerate() {
                if writes(n) {
                    let msg = format!(
                        "writes {}, taskmaster's own log (logfile): give the program a file of its own",
                        logfile.display()
                    );
                    let here = self.place(at, name).key(key, 0);
                    self.problem(
                        &Here { section: format!("program '{name}'").into(), ..here },
                        Some(key),
                        msg,
                    );
                }
            }
        }
    }

    /// The main log's `logfile_maxbytes` and `logfile_backups`.
    pub(super) fn main_log_rotation(&mut self, e: &Entries) -> Option<(u64, u32)> {
        let maxbytes = self.key(e, "logfile_maxbytes", |n| read_bytes(n, MAX_LOG_BYTES), 0);
        let backups = self.key(e, "logfile_backups", |n| read_count(n, 0, MAX_BACKUPS), DEFAULT_BACKUPS);
        Some((maxbytes? as u64, backups?))
    }
}
