//! The life of one process as a pure state machine (taskmaster(1), PROCESS STATES). `step` takes
//! the machine, one trigger, the program's spec and `now`, and returns the next machine and the
//! effects to carry out. It reads no clock and makes no system call; the event loop does both.

use super::exit::ExitKind;
pub use super::words::StateName;
pub(crate) use super::words::{BACKGROUNDED, Cancelled, Effect, Event, Reason};
use crate::config::{ProgramSpec, RestartPolicy};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::time::{Duration, Instant};

/// Where a process is. Each variant holds exactly what is true in it: a pid only where a process
/// exists, a deadline where one is armed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ProcState {
    /// Not running: never started (`since` is `None`) or stopped on request at `since`.
    Stopped {
        since: Option<Instant>,
    },
    /// A spawn was asked for; the loop answers with `Spawned` or `SpawnFailed` in the same turn.
    Spawning {
        retries: u32,
    },
    /// Up, but not yet for `starttime` (until `up_at`; `None` once it has been), or not yet
    /// ready (its `ready` probe has until `ready_by`; `None` once it passed, or without one).
    /// Never both `None`: that is RUNNING.
    Starting {
        pid: Pid,
        since: Instant,
        up_at: Option<Instant>,
        ready_by: Option<Instant>,
        retries: u32,
    },
    Running {
        pid: Pid,
        since: Instant,
    },
    /// A start failed; the next attempt is at `until`.
    Backoff {
        retries: u32,
        until: Instant,
        reason: Reason,
    },
    /// The stop signal was sent; SIGKILL follows at `kill_at` (`None` once it was sent).
    /// `then`: what comes once it is gone.
    Stopping {
        pid: Pid,
        kill_at: Option<Instant>,
        then: Then,
    },
    /// Left RUNNING on its own at `at`. `restart_at`: when autorestart will start it again.
    Exited {
        at: Instant,
        exit: ExitKind,
        expected: bool,
        restart_at: Option<Instant>,
    },
    /// Gave up after too many failed starts.
    Fatal {
        reason: Reason,
    },
}

/// What a STOPPING process does once it is gone.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Then {
    /// Nothing: STOPPED.
    Stay,
    /// Start again (a restart, or a start that came meanwhile).
    Start,
    /// It was stopped for not becoming ready in time: a failed start, tried again from BACKOFF
    /// (or FATAL once `startretries` are used).
    Retry { retries: u32, reason: Reason },
}

impl ProcState {
    pub(crate) fn name(&self) -> StateName {
        match self {
            ProcState::Stopped { .. } => StateName::Stopped,
            ProcState::Spawning { .. } | ProcState::Starting { .. } => StateName::Starting,
            ProcState::Running { .. } => StateName::Running,
            ProcState::Backoff { .. } => StateName::Backoff,
            ProcState::Stopping { .. } => StateName::Stopping,
            ProcState::Exited { .. } => StateName::Exited,
            ProcState::Fatal { .. } => StateName::Fatal,
        }
    }

    /// The pid of the live process, where there is one.
    pub(crate) fn pid(&self) -> Option<Pid> {
        match self {
            ProcState::Starting { pid, .. }
            | ProcState::Running { pid, .. }
            | ProcState::Stopping { pid, .. } => Some(*pid),
            ProcState::Stopped { .. }
            | ProcState::Spawning { .. }
            | ProcState::Backoff { .. }
            | ProcState::Exited { .. }
            | ProcState::Fatal { .. } => None,
        }
    }

    /// When this state wants to be woken, if ever.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            ProcState::Starting { up_at, ready_by, .. } => match (up_at, ready_by) {
                (Some(a), Some(b)) => Some(*a.min(b)),
                (Some(at), None) | (None, Some(at)) => Some(*at),
                (None, None) => None,
            },
            ProcState::Backoff { until, .. } => Some(*until),
            ProcState::Stopping { kill_at, .. } => *kill_at,
            ProcState::Exited { restart_at, .. } => *restart_at,
            ProcState::Stopped { .. }
            | ProcState::Spawning { .. }
            | ProcState::Running { .. }
            | ProcState::Fatal { .. } => None,
        }
    }
}

/// A process's state plus what it remembers across states.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Machine {
    pub(crate) state: ProcState,
    /// Runs in a row shorter than `QUICK_RUN` (the crash-loop counter of taskmaster(1),
    /// PROCESS STATES).
    pub(crate) streak: u32,
    /// How its last run ended.
    pub(crate) last_exit: Option<ExitKind>,
}

impl Machine {
    pub(crate) fn new() -> Machine {
        Machine { state: ProcState::Stopped { since: None }, streak: 0, last_exit: None }
    }
}

impl Default for Machine {
    fn default() -> Self {
        Machine::new()
    }
}

/// What can happen to a process.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Trigger {
    /// Start it (a command, autostart or reload): the retry counter starts from 0.
    Start,
    /// Stop it gracefully.
    Stop,
    /// Stop it now: SIGKILL to its group (a second SIGTERM during shutdown).
    Kill,
    Spawned {
        pid: Pid,
    },
    SpawnFailed {
        reason: String,
    },
    /// Its main process ended, at `now`.
    Exited {
        exit: ExitKind,
    },
    /// The state's deadline has come (an early or stale one is ignored).
    Deadline,
    /// Its `ready` probe passed.
    Ready,
}

/// A run shorter than this counts towards the crash-loop delay.
pub(crate) const QUICK_RUN: Duration = Duration::from_secs(1);
/// The longest crash-loop delay.
pub(crate) const MAX_CRASH_DELAY: Duration = Duration::from_secs(5);
/// The delay before restarting after `streak` quick runs in a row: 0.1 s, 0.2 s, 0.4 s, ...
/// up to 5 s.
pub(crate) fn crash_delay(streak: u32) -> Duration {
    match streak {
        0 => Duration::ZERO,
        k => Duration::from_millis(100).saturating_mul(1 << (k - 1).min(16)).min(MAX_CRASH_DELAY),
    }
}

/// Whether an exit from RUNNING was expected (its code is one of `exitcodes`; a signal never
/// is), and whether `autorestart` then starts the process again.
pub(crate) fn restarts_after(spec: &ProgramSpec, exit: ExitKind) -> (bool, bool) {
    let expected = exit.code().is_some_and(|c| spec.expects(c));
    let restart = match spec.autorestart {
        RestartPolicy::Always => true,
        RestartPolicy::Never => false,
        RestartPolicy::Unexpected => !expected,
    };
    (expected, restart)
}

/// One transition. See the module comment and taskmaster(1), PROCESS STATES; every arm says
/// FROM → TO and why.
pub(crate) fn step(
    m: &Machine,
    trigger: &Trigger,
    spec: &ProgramSpec,
    now: Instant,
) -> (Machine, Vec<Effect>) {
    let mut t = Transition { m: m.clone(), effects: Vec::new(), spec, now };
    match (&m.state, trigger) {
        // STOPPED/EXITED/FATAL → STARTING: a start resets the retry counter and the crash streak.
        (ProcState::Stopped { .. } | ProcState::Exited { .. } | ProcState::Fatal { .. }, Trigger::Start) => {
            t.m.streak = 0;
            t.spawn(0);
        }
        // STARTING/RUNNING/BACKOFF/SPAWNING → same: already started.
        (
            ProcState::Spawning { .. }
            | ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. },
            Trigger::Start,
        ) => {}
        // STOPPING → STOPPING: start again once it is gone (a retry becomes a fresh start).
        (ProcState::Stopping { pid, kill_at, .. }, Trigger::Start) => {
            t.m.state = ProcState::Stopping { pid: *pid, kill_at: *kill_at, then: Then::Start };
        }

        // STARTING/RUNNING → STOPPING: the stop signal is sent, SIGKILL armed for stoptime.
        (ProcState::Starting { pid, .. } | ProcState::Running { pid, .. }, Trigger::Stop) => {
            let (pid, group) = (*pid, spec.stopasgroup);
            t.signal(pid, spec.stopsignal, group);
            t.log(Event::Waiting);
            t.m.state = ProcState::Stopping { pid, kill_at: Some(now + spec.stoptime), then: Then::Stay };
        }
        // STOPPING → STOPPING: already stopping; a start or retry that was waiting is called off.
        (ProcState::Stopping { pid, kill_at, .. }, Trigger::Stop) => {
            t.m.state = ProcState::Stopping { pid: *pid, kill_at: *kill_at, then: Then::Stay };
        }
        // BACKOFF → STOPPED: the pending retry is cancelled, nothing to signal.
        (ProcState::Backoff { .. }, Trigger::Stop | Trigger::Kill) => {
            t.log(Event::Cancelled { from: Cancelled::Retry });
            t.m.state = ProcState::Stopped { since: Some(now) };
        }
        // EXITED (restart pending) → STOPPED: the restart is cancelled.
        (ProcState::Exited { restart_at: Some(_), .. }, Trigger::Stop | Trigger::Kill) => {
            t.log(Event::Cancelled { from: Cancelled::Restart });
            t.m.state = ProcState::Stopped { since: Some(now) };
        }
        // STOPPED/EXITED/FATAL → same: not running. SPAWNING → same: the spawn result comes first.
        (
            ProcState::Stopped { .. }
            | ProcState::Exited { restart_at: None, .. }
            | ProcState::Fatal { .. }
            | ProcState::Spawning { .. },
            Trigger::Stop | Trigger::Kill,
        ) => {}

        // STARTING/RUNNING → STOPPING: SIGKILL to the whole group at once.
        (ProcState::Starting { pid, .. } | ProcState::Running { pid, .. }, Trigger::Kill) => {
            t.kill(*pid, Then::Stay);
        }
        // STOPPING → STOPPING: escalate to SIGKILL now (unless it was already sent); a kill means
        // nothing starts again.
        (ProcState::Stopping { pid, kill_at, .. }, Trigger::Kill) => match kill_at {
            Some(_) => t.kill(*pid, Then::Stay),
            None => t.m.state = ProcState::Stopping { pid: *pid, kill_at: None, then: Then::Stay },
        },

        // SPAWNING → STARTING: the process exists; RUNNING at once when starttime is 0 and no
        // `ready` probe is to pass.
        (ProcState::Spawning { retries }, Trigger::Spawned { pid }) => {
            t.log(Event::Spawned { pid: *pid });
            let up_at = (!spec.starttime.is_zero()).then(|| now + spec.starttime);
            let ready_by = spec.ready.as_ref().map(|r| now + r.timeout);
            match (up_at, ready_by) {
                (None, None) => t.running(*pid, now),
                _ => {
                    let (pid, retries) = (*pid, *retries);
                    t.m.state = ProcState::Starting { pid, since: now, up_at, ready_by, retries };
                }
            }
        }
        // SPAWNING → BACKOFF (or FATAL): the spawn itself failed; it counts as an attempt.
        (ProcState::Spawning { retries }, Trigger::SpawnFailed { reason }) => {
            t.log(Event::SpawnErr { reason: reason.clone() });
            t.backoff(*retries, Reason::SpawnError(reason.clone()));
        }
        // Anything else → same: a spawn result belongs to a SPAWNING process only.
        (
            ProcState::Stopped { .. }
            | ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Stopping { .. }
            | ProcState::Exited { .. }
            | ProcState::Fatal { .. },
            Trigger::Spawned { .. } | Trigger::SpawnFailed { .. },
        ) => {}

        // STARTING → BACKOFF (or FATAL): it died before starttime, whatever its exit status. A
        // clean exit that early is most often a program that went into the background.
        (ProcState::Starting { retries, .. }, Trigger::Exited { exit }) => {
            t.exited(*exit);
            t.log(Event::Exited { exit: *exit, expected: false });
            let reason = match exit {
                ExitKind::Code(0) => Reason::Backgrounded,
                ExitKind::Code(_) | ExitKind::Signal { .. } => Reason::TooQuick,
            };
            t.backoff(*retries, reason);
        }
        // RUNNING → EXITED, then STARTING per autorestart (after the crash-loop delay, if any).
        (ProcState::Running { since, .. }, Trigger::Exited { exit }) => {
            let (expected, restart) = restarts_after(spec, *exit);
            t.exited(*exit);
            t.log(Event::Exited { exit: *exit, expected });
            t.m.streak = match now.saturating_duration_since(*since) < QUICK_RUN {
                true => t.m.streak.saturating_add(1),
                false => 0,
            };
            let restart_at = restart.then(|| now + crash_delay(t.m.streak));
            match restart_at {
                Some(at) if at <= now => t.spawn(0),
                _ => t.m.state = ProcState::Exited { at: now, exit: *exit, expected, restart_at },
            }
        }
        // STOPPING → STOPPED, STARTING when a start came meanwhile, BACKOFF (or FATAL) when it
        // was stopped for not becoming ready.
        (ProcState::Stopping { then, .. }, Trigger::Exited { exit }) => {
            let expected =
                exit.code().is_some_and(|c| spec.expects(c)) || exit.signo() == Some(spec.stopsignal as i32);
            t.exited(*exit);
            t.log(Event::Stopped { exit: *exit, expected });
            match then {
                Then::Start => {
                    t.m.streak = 0;
                    t.spawn(0);
                }
                Then::Retry { retries, reason } => t.backoff(*retries, reason.clone()),
                Then::Stay => t.m.state = ProcState::Stopped { since: Some(now) },
            }
        }
        // Anything else → same: only a state with a live process can see it exit.
        (
            ProcState::Stopped { .. }
            | ProcState::Spawning { .. }
            | ProcState::Backoff { .. }
            | ProcState::Exited { .. }
            | ProcState::Fatal { .. },
            Trigger::Exited { .. },
        ) => {}

        // STARTING → STOPPING, then BACKOFF: not ready in time, a failed start.
        (ProcState::Starting { pid, ready_by: Some(by), retries, .. }, Trigger::Deadline) if *by <= now => {
            let timeout = spec.ready.as_ref().map_or(Duration::ZERO, |r| r.timeout);
            t.log(Event::NotReady { timeout });
            let (pid, retries) = (*pid, *retries);
            t.signal(pid, spec.stopsignal, spec.stopasgroup);
            let then = Then::Retry { retries, reason: Reason::NotReady(timeout) };
            t.m.state = ProcState::Stopping { pid, kill_at: Some(now + spec.stoptime), then };
        }
        // STARTING → RUNNING: it stayed up for starttime (and is ready, if it must be); else
        // STARTING until it is.
        (ProcState::Starting { pid, since, up_at: Some(at), ready_by, retries }, Trigger::Deadline)
            if *at <= now =>
        {
            match ready_by {
                None => t.running(*pid, *since),
                Some(_) => {
                    let (pid, since, ready_by, retries) = (*pid, *since, *ready_by, *retries);
                    t.m.state = ProcState::Starting { pid, since, up_at: None, ready_by, retries };
                }
            }
        }
        // BACKOFF → STARTING: the delay is over; one more retry used.
        (ProcState::Backoff { retries, until, .. }, Trigger::Deadline) if *until <= now => {
            t.spawn(retries + 1);
        }
        // STOPPING → STOPPING: stoptime passed; SIGKILL to the whole group. What waits for the
        // stop (a restart's start, a retry) still comes once the process is gone.
        (ProcState::Stopping { pid, kill_at: Some(at), then }, Trigger::Deadline) if *at <= now => {
            t.kill(*pid, then.clone());
        }
        // EXITED → STARTING: the crash-loop delay is over.
        (ProcState::Exited { restart_at: Some(at), .. }, Trigger::Deadline) if *at <= now => {
            t.spawn(0);
        }
        // Anything else → same: an early or stale deadline is ignored.
        (
            ProcState::Stopped { .. }
            | ProcState::Spawning { .. }
            | ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Stopping { .. }
            | ProcState::Exited { .. }
            | ProcState::Fatal { .. },
            Trigger::Deadline,
        ) => {}

        // STARTING → RUNNING: ready, and up for starttime; else STARTING until starttime.
        (ProcState::Starting { pid, since, up_at, ready_by: Some(_), retries }, Trigger::Ready) => {
            match up_at {
                None => {
                    let probe = spec.ready.as_ref().map(|r| r.probe.to_string()).unwrap_or_default();
                    t.log(Event::Ready { probe });
                    t.m.state = ProcState::Running { pid: *pid, since: *since };
                }
                Some(_) => {
                    let (pid, since, up_at, retries) = (*pid, *since, *up_at, *retries);
                    t.m.state = ProcState::Starting { pid, since, up_at, ready_by: None, retries };
                }
            }
        }
        // Anything else → same: only a process waiting to be ready can become ready.
        (
            ProcState::Stopped { .. }
            | ProcState::Spawning { .. }
            | ProcState::Starting { ready_by: None, .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Stopping { .. }
            | ProcState::Exited { .. }
            | ProcState::Fatal { .. },
            Trigger::Ready,
        ) => {}
    }
    (t.m, t.effects)
}

/// The machine being changed by one step, and what the step asks for.
struct Transition<'a> {
    m: Machine,
    effects: Vec<Effect>,
    spec: &'a ProgramSpec,
    now: Instant,
}

impl Transition<'_> {
    fn log(&mut self, event: Event) {
        self.effects.push(Effect::Log(event));
    }

    fn signal(&mut self, pid: Pid, signal: Signal, group: bool) {
        self.effects.push(Effect::Signal { pid, signal, group });
    }

    fn spawn(&mut self, retries: u32) {
        self.m.state = ProcState::Spawning { retries };
        self.effects.push(Effect::Spawn);
    }

    /// → RUNNING, said as what made it so: its ready probe passed, or it stayed up starttime.
    fn running(&mut self, pid: Pid, since: Instant) {
        let event = match &self.spec.ready {
            Some(ready) => Event::Ready { probe: ready.probe.to_string() },
            None => Event::Success { starttime: self.spec.starttime },
        };
        self.log(event);
        self.m.state = ProcState::Running { pid, since };
    }

    fn exited(&mut self, exit: ExitKind) {
        self.m.last_exit = Some(exit);
    }

    /// SIGKILL to the group, and no more deadline: the reap ends it (and starts it again when
    /// `then_start`).
    fn kill(&mut self, pid: Pid, then: Then) {
        self.log(Event::Killing { pid });
        self.signal(pid, Signal::SIGKILL, true);
        self.m.state = ProcState::Stopping { pid, kill_at: None, then };
    }

    /// → BACKOFF, or FATAL once `startretries` retries are used.
    fn backoff(&mut self, retries: u32, reason: Reason) {
        match retries >= self.spec.startretries {
            true => {
                self.log(Event::GaveUp);
                if reason == Reason::Backgrounded {
                    self.log(Event::Hint(BACKGROUNDED));
                }
                self.m.state = ProcState::Fatal { reason };
            }
            false => {
                let until = self.now + self.spec.backoff.delay(retries);
                self.m.state = ProcState::Backoff { retries, until, reason };
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
#[path = "state_tests.rs"]
mod tests;
