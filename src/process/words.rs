//! The words of the state machine (taskmaster(1), PROCESS STATES): the state names users see,
//! why a start failed, and what a step asks the world to do, the log events among it. Values
//! only; `state` decides when each is said.

use super::exit::ExitKind;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::time::Duration;

/// Why a process that died before `starttime` is in BACKOFF.
pub(super) const EXITED_TOO_QUICKLY: &str = "Exited too quickly (process log may have details)";
/// Why one that exited with status 0 before `starttime` is: what probably happened.
pub(crate) const BACKGROUNDED: &str =
    "Exited with status 0 before starttime: does it put itself in the background? Run it in the foreground";

/// Why a start failed: what BACKOFF and FATAL say after their name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    /// It died before `starttime`.
    TooQuick,
    /// It exited with status 0 before `starttime`: most often, it put itself in the background.
    Backgrounded,
    /// It could not be spawned; the text says why.
    SpawnError(String),
    /// Its `ready` probe did not pass within its timeout.
    NotReady(Duration),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Reason::TooQuick => f.write_str(EXITED_TOO_QUICKLY),
            Reason::Backgrounded => f.write_str(BACKGROUNDED),
            Reason::SpawnError(why) => f.write_str(why),
            Reason::NotReady(timeout) => write!(f, "Not ready within {}", in_seconds(*timeout)),
        }
    }
}

/// The state names users see (`status`, logs, JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum StateName {
    Stopped,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
}

impl StateName {
    pub const ALL: [StateName; 7] = [
        StateName::Stopped,
        StateName::Starting,
        StateName::Running,
        StateName::Backoff,
        StateName::Stopping,
        StateName::Exited,
        StateName::Fatal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Stopped => "STOPPED",
            StateName::Starting => "STARTING",
            StateName::Running => "RUNNING",
            StateName::Backoff => "BACKOFF",
            StateName::Stopping => "STOPPING",
            StateName::Exited => "EXITED",
            StateName::Fatal => "FATAL",
        }
    }
}

/// What `step` asks the world to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Effect {
    /// Spawn the process and answer with `Spawned` or `SpawnFailed`.
    Spawn,
    /// Send `signal` to `pid`, or to its whole process group.
    Signal {
        pid: Pid,
        signal: Signal,
        group: bool,
    },
    Log(Event),
}

/// Something worth a line in the log (taskmaster(1), LOG).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Event {
    Spawned {
        pid: Pid,
    },
    SpawnErr {
        reason: String,
    },
    Success {
        starttime: Duration,
    },
    /// RUNNING because its `ready` probe passed (`probe`: which, as a person reads it).
    Ready {
        probe: String,
    },
    /// Its `ready` probe did not pass in time: it is stopped, and the start counts as failed.
    NotReady {
        timeout: Duration,
    },
    Exited {
        exit: ExitKind,
        expected: bool,
    },
    GaveUp,
    Waiting,
    Stopped {
        exit: ExitKind,
        expected: bool,
    },
    Killing {
        pid: Pid,
    },
    /// A pending retry or restart was called off by a stop.
    Cancelled {
        from: Cancelled,
    },
    /// What probably went wrong, for the person reading the log.
    Hint(&'static str),
}

/// What a stop called off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cancelled {
    /// The next attempt of a BACKOFF.
    Retry,
    /// The restart of an EXITED process.
    Restart,
}

/// A time as a person says it: `1 second`, `0.5 seconds`, `30 seconds`.
pub(crate) fn in_seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    let number = match s.fract() == 0.0 {
        true => format!("{s:.0}"),
        false => format!("{}", (s * 1000.0).round() / 1000.0),
    };
    match number.as_str() {
        "1" => "1 second".to_string(),
        _ => format!("{number} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_said() {
        assert_eq!(in_seconds(Duration::from_secs(1)), "1 second");
        assert_eq!(in_seconds(Duration::from_millis(500)), "0.5 seconds");
        assert_eq!(in_seconds(Duration::from_secs(30)), "30 seconds");
        assert_eq!(in_seconds(Duration::from_millis(1250)), "1.25 seconds");
    }
}
