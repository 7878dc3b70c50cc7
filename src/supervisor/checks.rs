//! When probes run and what their results do (taskmaster(1), ORDER AND HEALTH). A process
//! STARTING with a `ready` probe is probed at once, then again a quarter of a second after each
//! failure, until it passes (RUNNING) or its time is up (the state machine's deadline); a RUNNING
//! process with a `healthcheck` is probed every `interval`, and `retries` failures in a row
//! restart it. Running a probe is the event loop's work (`Action::Probe`); its timers are in the
//! supervisor's one deadline queue, so a configuration without probes never wakes up.

use super::{Action, Due, Now, ProcId, Supervisor};
use crate::config::alerts::EventKind;
use crate::config::{LogLevel, Probe, ProgramSpec};
use crate::control::reply::HealthView;
use crate::process::{self, ProcState};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A ready probe that failed is tried again this much later.
pub(crate) const READY_RETRY: Duration = Duration::from_millis(250);
/// One look of a ready probe takes this long at most (less when the ready time ends first).
pub(crate) const READY_LOOK: Duration = Duration::from_secs(5);

/// What a probe is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Ready,
    Health,
}

/// One probe for the event loop to run, and answer with `Input::Probed`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ProbeJob {
    pub(crate) probe: Probe,
    /// The process looked at (a `log` probe reads its output).
    pub(crate) pid: Pid,
    pub(crate) name: String,
    /// A `cmd` probe runs like the program: its user, folder and environment.
    pub(crate) spec: Arc<ProgramSpec>,
    /// Not answered by then: a failure, and a `cmd` probe is killed.
    pub(crate) limit: Instant,
    /// How long that is from the look's start, as its failure says it.
    pub(crate) allowed: Duration,
}

/// The probing of one process.
#[derive(Debug)]
pub(super) struct Check {
    purpose: Purpose,
    pid: Pid,
    /// The number of the look under way or last made: a late answer to an earlier one is
    /// ignored.
    seq: u64,
    running: bool,
    failures: u32,
    /// The last look's outcome: `None` before the first.
    last: Option<Result<(), String>>,
    /// A look that could not run was said.
    skip_said: bool,
}

#[derive(Debug, Default)]
pub(super) struct Checks {
    by_process: HashMap<ProcId, Check>,
    next_seq: u64,
}

impl Checks {
    /// What `status` says of a process's health.
    pub(super) fn health(&self, id: ProcId, spec: &ProgramSpec) -> Option<HealthView> {
        let check = self.by_process.get(&id).filter(|c| c.purpose == Purpose::Health)?;
        let last = check.last.as_ref()?;
        Some(HealthView {
            healthy: last.is_ok(),
            failures: check.failures,
            retries: spec.healthcheck.as_ref().map_or(0, |h| h.retries),
            why: last.as_ref().err().cloned(),
        })
    }
}

impl Supervisor {
    /// After a step: the probing a process's new state wants begins, or ends.
    pub(super) fn sync_checks(&mut self, id: ProcId, now: Now) {
        let Some(process) = self.procs.get(&id) else { return self.end_check(id) };
        // Its ready probe was removed (by a reload) while it waited for it: nothing to wait for.
        if matches!(process.machine.state, ProcState::Starting { ready_by: Some(_), .. })
            && process.spec.ready.is_none()
        {
            self.end_check(id);
            return self.step(id, &process::Trigger::Ready, now);
        }
        let wanted = match &process.machine.state {
            ProcState::Starting { pid, ready_by: Some(_), .. } if process.spec.ready.is_some() => {
                Some((Purpose::Ready, *pid))
            }
            ProcState::Running { pid, .. } if process.spec.healthcheck.is_some() => {
                Some((Purpose::Health, *pid))
            }
            ProcState::Stopped { .. }
            | ProcState::Spawning { .. }
            | ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Stopping { .. }
            | ProcState::Exited { .. }
            | ProcState::Fatal { .. } => None,
        };
        let current = self.checks.by_process.get(&id).map(|c| (c.purpose, c.pid));
        if current == wanted {
            return;
        }
        let interval = process.spec.healthcheck.as_ref().map_or(Duration::ZERO, |h| h.interval);
        self.end_check(id);
        let Some((purpose, pid)) = wanted else { return };
        self.checks.by_process.insert(
            id,
            Check { purpose, pid, seq: 0, running: false, failures: 0, last: None, skip_said: false },
        );
        match purpose {
            Purpose::Ready => self.look(id, now),
            Purpose::Health => self.timers.set(Due::Check(id), Some(now.mono + interval)),
        }
    }

    /// A process's probing ends: its timer is disarmed and a look under way called off.
    pub(super) fn end_check(&mut self, id: ProcId) {
        if let Some(check) = self.checks.by_process.remove(&id) {
            self.timers.set(Due::Check(id), None);
            if check.running {
                self.actions.push(Action::CancelProbe { id });
            }
            // Said when the time ran out: what the probe last found.
            let stopped = self.procs.get(&id).is_some_and(|p| {
                matches!(p.machine.state, ProcState::Stopping { then: process::Then::Retry { .. }, .. })
            });
            if check.purpose == Purpose::Ready && stopped {
                let name = self.procs.get(&id).map(|p| p.name.clone()).unwrap_or_default();
                let said = match &check.last {
                    Some(Err(why)) => format!("{name}: its ready probe last said: {why}"),
                    Some(Ok(())) | None => format!("{name}: its ready probe had not answered yet"),
                };
                self.log(LogLevel::Warn, said);
            }
        }
    }

    /// The check timer of a process is due: the next look.
    pub(super) fn on_check_due(&mut self, id: ProcId, now: Now) {
        if self.checks.by_process.get(&id).is_some_and(|c| !c.running) {
            self.look(id, now);
        }
    }

    /// Asks the loop for one look.
    fn look(&mut self, id: ProcId, now: Now) {
        let Some(process) = self.procs.get(&id) else { return };
        // Its own probe where the target names the process (taskmaster(1), VARIABLES).
        let spec = process.spec.for_process(process.number).map_or_else(|| process.spec.clone(), Arc::new);
        let (probe, limit) = match (&process.machine.state, &spec.ready, &spec.healthcheck) {
            (ProcState::Starting { ready_by: Some(by), .. }, Some(ready), _) => {
                (ready.probe.clone(), (now.mono + READY_LOOK).min(*by))
            }
            (ProcState::Running { .. }, _, Some(health)) => (health.probe.clone(), now.mono + health.timeout),
            _ => return,
        };
        let name = process.name.clone();
        self.checks.next_seq += 1;
        let seq = self.checks.next_seq;
        let Some(check) = self.checks.by_process.get_mut(&id) else { return };
        check.seq = seq;
        check.running = true;
        let allowed = limit.saturating_duration_since(now.mono);
        let job = ProbeJob { probe, pid: check.pid, name, spec, limit, allowed };
        self.actions.push(Action::Probe { id, seq, job: Box::new(job) });
    }

    /// The answer of a look.
    pub(super) fn on_probed(&mut self, id: ProcId, seq: u64, result: Result<(), String>, now: Now) {
        let Some(check) = self.checks.by_process.get_mut(&id).filter(|c| c.seq == seq && c.running) else {
            return;
        };
        check.running = false;
        let recovered = result.is_ok() && check.failures > 0;
        check.failures = match &result {
            Ok(()) => 0,
            Err(_) => check.failures + 1,
        };
        check.last = Some(result.clone());
        let (purpose, failures) = (check.purpose, check.failures);
        let Some(process) = self.procs.get(&id) else { return };
        let (name, spec) = (process.name.clone(), process.spec.clone());
        match (purpose, result) {
            (Purpose::Ready, Ok(())) => self.step(id, &process::Trigger::Ready, now),
            (Purpose::Ready, Err(_)) => self.timers.set(Due::Check(id), Some(now.mono + READY_RETRY)),
            (Purpose::Health, result) => {
                let Some(health) = &spec.healthcheck else { return };
                match result {
                    Err(why) if failures >= health.retries => return self.unhealthy(id, &why, now),
                    Err(why) => self.log(
                        LogLevel::Info,
                        format!("health check of {name} failed ({failures} of {}): {why}", health.retries),
                    ),
                    Ok(()) if recovered => {
                        self.log(LogLevel::Info, format!("health check of {name} passes again"))
                    }
                    Ok(()) => {}
                }
                self.timers.set(Due::Check(id), Some(now.mono + health.interval));
            }
        }
    }

    /// A look could not begin (taskmaster is short of descriptors): said once per process's
    /// probing, neither passed nor failed, tried again at its next time.
    pub(super) fn on_probe_skipped(&mut self, id: ProcId, seq: u64, why: &str, now: Now) {
        let Some(check) = self.checks.by_process.get_mut(&id).filter(|c| c.seq == seq && c.running) else {
            return;
        };
        check.running = false;
        let (purpose, said) = (check.purpose, std::mem::replace(&mut check.skip_said, true));
        let Some(process) = self.procs.get(&id) else { return };
        let (name, spec) = (process.name.clone(), process.spec.clone());
        if !said {
            self.log(
                LogLevel::Warn,
                format!("{name}: a probe could not run: {why}; it is tried again later"),
            );
        }
        let next = match (purpose, &spec.healthcheck) {
            (Purpose::Health, Some(health)) => health.interval,
            (Purpose::Ready, _) | (Purpose::Health, None) => READY_RETRY,
        };
        self.timers.set(Due::Check(id), Some(now.mono + next));
    }

    /// `retries` health checks failed in a row: said, alerted, and the process restarted.
    fn unhealthy(&mut self, id: ProcId, why: &str, now: Now) {
        let Some(process) = self.procs.get(&id) else { return };
        let name = process.name.clone();
        let mut transition = super::alerting::transition(
            process,
            EventKind::Unhealthy,
            &process.machine,
            &process.machine,
            now,
        );
        transition.reason = Some(why.to_string());
        self.log(LogLevel::Warn, format!("unhealthy: {name} ({why})"));
        self.actions.push(Action::Alert(Box::new(transition)));
        // Its next RUNNING is a recovery.
        if let Some(process) = self.procs.get_mut(&id) {
            process.failing = true;
        }
        self.step(id, &process::Trigger::Stop, now);
        self.step(id, &process::Trigger::Start, now);
    }
}
