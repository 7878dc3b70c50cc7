//! What a command gets back, as values: the supervisor answers with these, and `render` alone
//! turns them into the text a person reads and the JSON of the protocol (taskmaster(1),
//! COMMANDS and CONTROL PROTOCOL). Nothing here formats a date or writes JSON.

use crate::config::ConfigError;
use crate::config::diff::Plan;
use crate::process::{ExitKind, Reason, StateName};
use std::time::{Duration, SystemTime};

/// The answer to a command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reply {
    Status(StatusReply),
    /// One line per process for `start`, `stop`, `restart` and `signal`.
    Outcomes(Vec<Outcome>),
    Pids(Pids),
    Reload(ReloadOutcome),
    ShutDown,
    Version,
    Help(String),
    /// Taskmaster is shutting down: the command is not carried out.
    ShuttingDown,
    /// The command could not be carried out at all: the text says why.
    Refused(String),
    /// The client may not run the command (taskmaster(1), PRIVILEGES): nothing was done.
    Denied(Denial),
    Tail(TailReply),
    /// `alerts`; `None`: no alerts are configured.
    Alerts(Option<AlertsReport>),
    /// `alerts test`: one result per channel.
    AlertsTested(Vec<ChannelResult>),
    /// `attach`: what follows on the connection is the process's output (taskmaster(1), ATTACH).
    Attached(AttachReply),
    /// `reopen`: what could not be opened again (nothing: all went well).
    Reopened(Vec<String>),
}

/// The answer to `attach`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct AttachReply {
    pub(crate) name: String,
    pub(crate) pid: i32,
    /// It has a terminal (`tty: true`): keys go to it.
    pub(crate) tty: bool,
    /// `ctrl-]`.
    pub(crate) detach_key: String,
    /// Its terminal shows the alternate screen (a full-screen program): the client switches
    /// back when it leaves.
    pub(crate) alternate_screen: bool,
}

/// The answer to `alerts` (taskmaster(1), ALERTS).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct AlertsReport {
    pub(crate) channels: Vec<ChannelReport>,
    pub(crate) events: Vec<&'static str>,
    /// Seconds.
    pub(crate) min_interval: f64,
    /// Events waiting for their program's digest.
    pub(crate) waiting: usize,
    /// Deliveries waiting or under way.
    pub(crate) pending: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct ChannelReport {
    pub(crate) channel: &'static str,
    /// Where it sends, without secrets.
    pub(crate) target: String,
    pub(crate) sent: u64,
    pub(crate) failed: u64,
    pub(crate) last_failure: Option<String>,
}

/// How a test alert went through one channel.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct ChannelResult {
    pub(crate) channel: &'static str,
    pub(crate) ok: bool,
    pub(crate) message: String,
}

/// The answer to `tail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TailReply {
    pub(crate) name: String,
    pub(crate) stream: crate::tail::Stream,
    pub(crate) lines: Vec<String>,
    /// Its program keeps nothing (`tail_bytes: 0`).
    pub(crate) kept: bool,
    /// Its program has a terminal (`tty: true`): all it writes is on stdout.
    pub(crate) terminal: bool,
    /// Its stderr is its stdout pipe (`stderr: stdout`).
    pub(crate) merged: bool,
}

/// A refusal for lack of rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denial {
    /// The targets of the command, or the command itself: one `ERROR (permission denied)` each.
    pub(crate) names: Vec<String>,
    /// Who asked: `uid 1000 (alice)`.
    pub(crate) who: String,
}

impl Reply {
    /// Whether everything asked for was done (`ok` in the protocol).
    pub(crate) fn ok(&self) -> bool {
        match self {
            Reply::Status(s) => s.unknown.is_empty(),
            Reply::Outcomes(outcomes) => outcomes.iter().all(|o| o.verdict.ok()),
            Reply::Pids(Pids::NoSuch(_)) => false,
            Reply::Pids(Pids::Daemon(_)) => true,
            Reply::Pids(Pids::Processes(pids)) => pids.iter().all(|(_, pid)| pid.is_some()),
            Reply::Reload(ReloadOutcome::Applied(plan)) => plan.problems.is_empty(),
            Reply::Reload(r) => !matches!(r, ReloadOutcome::Invalid(_) | ReloadOutcome::Ignored),
            Reply::ShutDown
            | Reply::Version
            | Reply::Help(_)
            | Reply::Tail(_)
            | Reply::Alerts(_)
            | Reply::Attached(_) => true,
            Reply::AlertsTested(results) => results.iter().all(|r| r.ok),
            Reply::Reopened(problems) => problems.is_empty(),
            Reply::ShuttingDown | Reply::Refused(_) | Reply::Denied(_) => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StatusReply {
    /// Sorted by name.
    pub(crate) processes: Vec<ProcessView>,
    /// Targets that name no process.
    pub(crate) unknown: Vec<String>,
    /// What is wrong with taskmaster's own files (the main log, output files): filled in where
    /// they are written (the event loop), not by the supervisor.
    pub(crate) warnings: Vec<String>,
}

/// One process as `status` shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProcessView {
    pub(crate) name: String,
    pub(crate) program: String,
    pub(crate) state: StateName,
    pub(crate) pid: Option<i32>,
    /// Since the spawn, for STARTING and RUNNING.
    pub(crate) uptime: Option<Duration>,
    /// How its last run ended.
    pub(crate) last_exit: Option<ExitKind>,
    pub(crate) retries: u32,
    /// For EXITED: whether the end was expected.
    pub(crate) expected: Option<bool>,
    pub(crate) detail: Detail,
    /// What its last health check found, once one ran in this run.
    pub(crate) health: Option<HealthView>,
    /// What a queued start or stop waits for (taskmaster(1), ORDER AND HEALTH).
    pub(crate) waiting: Option<String>,
    /// What its main process left running when it ended (taskmaster(1), PROGRAMS THAT ESCAPE).
    pub(crate) left: Vec<i32>,
}

/// The last health check of a RUNNING process.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct HealthView {
    pub(crate) healthy: bool,
    /// Failures in a row, and how many restart it.
    pub(crate) failures: u32,
    pub(crate) retries: u32,
    /// Why the last one failed.
    pub(crate) why: Option<String>,
}

/// What the description column says, by state.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Detail {
    /// RUNNING: `pid 1234, uptime 0:01:02`.
    Running {
        pid: i32,
        uptime: Duration,
    },
    /// STARTING, STOPPING: `pid 1234`.
    Pid(i32),
    /// BACKOFF, FATAL: why.
    Reason(Reason),
    /// EXITED: `exit status 3, Nov 26 05:32 AM`.
    Exited {
        exit: ExitKind,
        at: SystemTime,
    },
    NotStarted,
    /// STOPPED by a stop: when.
    StoppedAt(SystemTime),
    /// Being spawned: nothing to say yet.
    Nothing,
}

/// The answer for one process of a command.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Outcome {
    pub(crate) name: String,
    pub(crate) verdict: Verdict,
    /// Why, when it is not the obvious: `app depends on it`, `db is FATAL`.
    pub(crate) note: Option<String>,
}

impl Outcome {
    pub(crate) fn new(name: &str, verdict: Verdict) -> Outcome {
        Outcome { name: name.to_string(), verdict, note: None }
    }
}

/// How a command ended for one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Started,
    Stopped,
    Signalled,
    AlreadyStarted,
    NotRunning,
    /// It failed before RUNNING; retries go on in BACKOFF.
    SpawnError,
    /// A start still waiting when its process was stopped.
    Abnormal,
    /// A start that could not come: a program it depends on is down (the note says which).
    DependencyFailed,
    NoSuchProcess,
    ShuttingDown,
}

impl Verdict {
    pub(crate) fn ok(self) -> bool {
        match self {
            Verdict::Started | Verdict::Stopped | Verdict::Signalled => true,
            Verdict::AlreadyStarted
            | Verdict::NotRunning
            | Verdict::SpawnError
            | Verdict::Abnormal
            | Verdict::DependencyFailed
            | Verdict::NoSuchProcess
            | Verdict::ShuttingDown => false,
        }
    }
}

/// The answer to `pid`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pids {
    /// taskmaster's own.
    Daemon(u32),
    /// One per process of the target, by name; none for one that does not run.
    Processes(Vec<(String, Option<i32>)>),
    /// The target names no process.
    NoSuch(String),
}

/// The answer to `reload`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ReloadOutcome {
    Applied(Box<Plan>),
    DryRun(Box<Plan>),
    /// The file has errors: nothing changed.
    Invalid(ConfigError),
    /// Taskmaster is shutting down.
    Ignored,
}
