//! Which moves of a process are alert events (taskmaster(1), ALERTS): pure, from the machine
//! before and after one step and the log events of that step. Sending them is the event loop's
//! concern; the supervisor only says what happened.

use super::{Action, Now, Phase, ProcId, Process, Supervisor};
use crate::config::LogLevel;
use crate::config::alerts::EventKind;
use crate::process::{Effect, Event, ExitKind, Machine, ProcState, StateName};
use nix::unistd::Pid;

/// A move of a process that an alert may be about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Transition {
    pub(crate) kind: EventKind,
    pub(crate) name: String,
    pub(crate) program: String,
    pub(crate) from: StateName,
    pub(crate) to: StateName,
    pub(crate) pid: Option<Pid>,
    pub(crate) exit: Option<ExitKind>,
    pub(crate) retries: u32,
    pub(crate) reason: Option<String>,
    /// Its program's `alerts` key.
    pub(crate) wanted: bool,
    /// A critical program's end: sent at once, whatever `events` and `min_interval` say.
    pub(crate) urgent: bool,
    pub(crate) now: Now,
}

impl Supervisor {
    /// Says what an alert may be about, and remembers a failure for the recovery after it.
    pub(super) fn alert(&mut self, id: ProcId, old: &Machine, effects: &[Effect], now: Now) {
        let Some(process) = self.procs.get(&id) else { return };
        let events: Vec<&Event> = effects
            .iter()
            .filter_map(|e| if let Effect::Log(event) = e { Some(event) } else { None })
            .collect();
        let new = &process.machine;
        let Some(kind) = event_of(old, new, &events, process.failing) else { return };
        let transition = transition(process, kind, old, new, now);
        if let Some(process) = self.procs.get_mut(&id) {
            process.failing = match kind {
                k if k.is_failure() => true,
                EventKind::Recovered | EventKind::Started => false,
                _ => process.failing,
            };
        }
        self.actions.push(Action::Alert(Box::new(transition)));
    }

    /// A `critical` program that gave up takes the whole service down (taskmaster(1), PROCESS
    /// STATES): everything is stopped, then taskmaster exits with status 1.
    pub(super) fn on_fatal(&mut self, id: ProcId) {
        let Some(process) = self.procs.get(&id).filter(|p| p.spec.critical) else { return };
        if self.phase != Phase::Running {
            return;
        }
        let program = process.program.clone();
        self.log(LogLevel::Error, format!("critical program {program} entered FATAL: shutting down"));
        self.critical = Some(program);
        self.begin_shutdown();
    }

    /// The `critical` program whose FATAL shut taskmaster down, if one did.
    pub(crate) fn critical_failure(&self) -> Option<&str> {
        self.critical.as_deref()
    }
}

/// The event of one step, if it is one: a failure wins over what follows from it (a spawn error
/// that leads to BACKOFF is a `spawn_error`; the last one, to FATAL, is `fatal`).
pub(crate) fn event_of(old: &Machine, new: &Machine, events: &[&Event], failing: bool) -> Option<EventKind> {
    let (from, to) = (old.state.name(), new.state.name());
    let moved = from != to;
    let spawn_error = events.iter().any(|e| matches!(e, Event::SpawnErr { .. }));
    let died_running = matches!(old.state, ProcState::Running { .. })
        && events.iter().any(|e| matches!(e, Event::Exited { expected: false, .. }));
    // A restart goes from STOPPING to STARTING in one step: it stopped all the same.
    let stopped = events.iter().any(|e| matches!(e, Event::Stopped { .. }));
    if moved && to == StateName::Fatal {
        Some(EventKind::Fatal)
    } else if spawn_error {
        Some(EventKind::SpawnError)
    } else if died_running {
        Some(EventKind::ExitedUnexpected)
    } else if moved && to == StateName::Backoff {
        Some(EventKind::Backoff)
    } else if moved && to == StateName::Running {
        Some(if failing { EventKind::Recovered } else { EventKind::Started })
    } else if stopped || (moved && to == StateName::Stopped) {
        Some(EventKind::Stopped)
    } else {
        None
    }
}

/// The facts of `kind` for `process`, whose machine went from `old` to `new`.
pub(crate) fn transition(
    process: &Process,
    kind: EventKind,
    old: &Machine,
    new: &Machine,
    now: Now,
) -> Transition {
    let reason = [&new.state, &old.state].into_iter().find_map(|s| match s {
        ProcState::Backoff { reason, .. } | ProcState::Fatal { reason } => Some(reason.to_string()),
        _ => None,
    });
    let ended = !matches!(kind, EventKind::Started | EventKind::Recovered | EventKind::SpawnError);
    Transition {
        kind,
        name: process.name.clone(),
        program: process.program.clone(),
        from: old.state.name(),
        // A restart may follow in the same step: the event is about the end.
        to: match kind {
            EventKind::ExitedUnexpected => StateName::Exited,
            EventKind::Stopped => StateName::Stopped,
            _ => new.state.name(),
        },
        pid: new.state.pid().or(old.state.pid()),
        exit: new.last_exit.filter(|_| ended),
        retries: super::status::retries(&new.state).max(super::status::retries(&old.state)),
        reason: reason.filter(|_| kind != EventKind::Stopped),
        wanted: process.spec.alerts,
        urgent: kind == EventKind::Fatal && process.spec.critical,
        now,
    }
}
