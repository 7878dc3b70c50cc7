//! Where a program's output goes (taskmaster(1), CHILD LOGS): a file, rotated by size or not,
//! with timestamps or not; syslog; or, for stderr, the stdout pipe itself.

use serde::Serialize;
use std::path::PathBuf;

/// Backups kept when `backups` is not given: supervisord's number.
pub(crate) const DEFAULT_BACKUPS: u32 = 10;
pub(crate) const MAX_BACKUPS: u32 = 1000;

/// One stream's destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Output {
    File(LogFile),
    /// Each line a syslog message (at `syslog_address`), tagged with the process name.
    Syslog,
    /// `stderr: stdout`: stderr is the stdout pipe, so the order between the two is kept.
    Stdout,
}

/// A log file and how it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogFile {
    pub(crate) path: PathBuf,
    /// The file is rotated when a write would make it larger; 0: never.
    pub(crate) maxbytes: u64,
    /// How many rotated files (`PATH.1` … `PATH.N`) are kept.
    pub(crate) backups: u32,
    /// Each line starts with the UTC time taskmaster read it.
    pub(crate) timestamps: bool,
}

impl LogFile {
    /// The scalar form: appended to for ever, no timestamps.
    pub(crate) fn plain(path: PathBuf) -> LogFile {
        LogFile { path, maxbytes: 0, backups: DEFAULT_BACKUPS, timestamps: false }
    }

    /// Whether the scalar form would not say it all.
    pub(crate) fn tuned(&self) -> bool {
        self.maxbytes > 0 || self.timestamps
    }
}

/// Whether two destinations are the same place (nothing, syslog, the stdout pipe, or the
/// same file): a change of place restarts a process at reload, a change of how a file is
/// rotated or stamped applies in place.
pub(crate) fn same_place(a: &Option<Output>, b: &Option<Output>) -> bool {
    match (a, b) {
        (Some(Output::File(a)), Some(Output::File(b))) => a.path == b.path,
        (a, b) => a.as_ref().map(std::mem::discriminant) == b.as_ref().map(std::mem::discriminant),
    }
}

impl Output {
    /// The file it writes, if any.
    pub(crate) fn file(&self) -> Option<&LogFile> {
        match self {
            Output::File(file) => Some(file),
            Output::Syslog | Output::Stdout => None,
        }
    }
}

/// How `--check` prints a destination: the scalar form when it says everything.
#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum OutputView {
    Text(String),
    File { path: String, maxbytes: u64, backups: u32, timestamps: bool },
}

impl From<&Output> for OutputView {
    fn from(output: &Output) -> Self {
        match output {
            Output::File(f) if !f.tuned() => OutputView::Text(f.path.to_string_lossy().into_owned()),
            Output::File(f) => OutputView::File {
                path: f.path.to_string_lossy().into_owned(),
                maxbytes: f.maxbytes,
                backups: f.backups,
                timestamps: f.timestamps,
            },
            Output::Syslog => OutputView::Text("syslog".into()),
            Output::Stdout => OutputView::Text("stdout".into()),
        }
    }
}
