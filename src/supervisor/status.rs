//! What `status` says about a process, as values (taskmaster(1), COMMANDS): its state, its pid,
//! how long it has run, how it last ended, and the facts its description is made of. Turning
//! them into text and JSON is `control::render`'s work.

use super::{Now, Process};
use crate::control::reply::{Detail, ProcessView};
use crate::process::ProcState;
use std::time::Duration;

/// The view of one process at `now`.
pub(super) fn view(p: &Process, now: &Now) -> ProcessView {
    let state = &p.machine.state;
    let uptime = match state {
        ProcState::Running { since, .. } | ProcState::Starting { since, .. } => {
            Some(now.mono.saturating_duration_since(*since))
        }
        ProcState::Stopped { .. }
        | ProcState::Spawning { .. }
        | ProcState::Backoff { .. }
        | ProcState::Stopping { .. }
        | ProcState::Exited { .. }
        | ProcState::Fatal { .. } => None,
    };
    let retries = retries(state);
    let expected = match state {
        ProcState::Exited { expected, .. } => Some(*expected),
        ProcState::Stopped { .. }
        | ProcState::Spawning { .. }
        | ProcState::Starting { .. }
        | ProcState::Running { .. }
        | ProcState::Backoff { .. }
        | ProcState::Stopping { .. }
        | ProcState::Fatal { .. } => None,
    };
    let detail = match state {
        ProcState::Running { pid, since } => {
            Detail::Running { pid: pid.as_raw(), uptime: now.mono.saturating_duration_since(*since) }
        }
        ProcState::Starting { pid, .. } | ProcState::Stopping { pid, .. } => Detail::Pid(pid.as_raw()),
        ProcState::Spawning { .. } => Detail::Nothing,
        ProcState::Backoff { reason, .. } | ProcState::Fatal { reason } => Detail::Reason(reason.clone()),
        ProcState::Exited { at, exit, .. } => Detail::Exited { exit: *exit, at: now.wall_of(*at) },
        ProcState::Stopped { since: None } => Detail::NotStarted,
        ProcState::Stopped { since: Some(at) } => Detail::StoppedAt(now.wall_of(*at)),
    };
    ProcessView {
        name: p.name.clone(),
        program: p.program.clone(),
        state: state.name(),
        pid: state.pid().map(|pid| pid.as_raw()),
        uptime,
        last_exit: p.machine.last_exit,
        retries,
        expected,
        detail,
        health: None,
        waiting: None,
        left: Vec::new(),
    }
}

impl super::Supervisor {
    /// Nothing is on its way: no move waits in the queue, and no process is spawning,
    /// starting, waiting to retry or stopping (a reload's restart stops first) (taskmaster(1),
    /// RUNNING AS A SERVICE: when READY=1 is sent).
    pub(crate) fn settled(&self) -> bool {
        self.queue.is_empty()
            && self.procs.values().all(|p| match p.machine.state {
                ProcState::Spawning { .. }
                | ProcState::Starting { .. }
                | ProcState::Backoff { .. }
                | ProcState::Stopping { .. } => false,
                ProcState::Stopped { .. }
                | ProcState::Running { .. }
                | ProcState::Exited { .. }
                | ProcState::Fatal { .. } => true,
            })
    }

    /// How many processes are in each state, as `3 RUNNING, 1 FATAL`.
    pub(crate) fn summary(&self) -> String {
        let mut counts = std::collections::BTreeMap::new();
        for p in self.procs.values() {
            *counts.entry(p.machine.state.name().as_str()).or_insert(0) += 1;
        }
        match counts.is_empty() {
            true => "no programs".to_string(),
            false => counts.iter().map(|(state, n)| format!("{n} {state}")).collect::<Vec<_>>().join(", "),
        }
    }
}

/// Seconds as a person writes them: `5`, `0.5`, `1.25`.
pub(super) fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    match s.fract() == 0.0 {
        true => format!("{s:.0}"),
        false => format!("{}", (s * 1000.0).round() / 1000.0),
    }
}

/// The failed starts in a row a state counts (0 where it counts none).
pub(super) fn retries(state: &ProcState) -> u32 {
    match state {
        ProcState::Spawning { retries }
        | ProcState::Starting { retries, .. }
        | ProcState::Backoff { retries, .. } => *retries,
        ProcState::Stopped { .. }
        | ProcState::Running { .. }
        | ProcState::Stopping { .. }
        | ProcState::Exited { .. }
        | ProcState::Fatal { .. } => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_drop_needless_decimals() {
        assert_eq!(seconds(Duration::from_secs(5)), "5");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5");
        assert_eq!(seconds(Duration::from_millis(1250)), "1.25");
    }
}
