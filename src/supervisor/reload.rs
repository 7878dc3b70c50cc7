//! Applying a reload plan (taskmaster(1), RELOAD): only what changed is touched. Removed programs
//! and the processes a scale-down drops are stopped with their own settings, then forgotten; added
//! programs and new instances start by autostart; a program whose process definition changed is
//! restarted (stopped with the old settings, started with the new); supervision settings apply in
//! place. Deadlines already armed keep their time: new values apply from the next transition. Then
//! every process of a changed program that is not running is brought to where its new configuration
//! wants it, as if it had always had it (taskmaster(1), RELOAD).

use super::{Action, Now, ProcId, Requester, Supervisor};
use crate::config::diff::{self, Plan};
use crate::config::{Config, ConfigError, LogLevel, ProgramSpec, process_name};
use crate::control::reply::{ReloadOutcome, Reply};
use crate::process::{self, ProcState};
use std::sync::Arc;

/// Whether a process is meant to be running: it runs, is about to, or is waiting to try again.
fn wanted(state: &ProcState) -> bool {
    match state {
        ProcState::Spawning { .. }
        | ProcState::Starting { .. }
        | ProcState::Running { .. }
        | ProcState::Backoff { .. }
        | ProcState::Exited { restart_at: Some(_), .. }
        | ProcState::Stopping { then_start: true, .. } => true,
        ProcState::Stopped { .. }
        | ProcState::Exited { restart_at: None, .. }
        | ProcState::Fatal { .. }
        | ProcState::Stopping { then_start: false, .. } => false,
    }
}

/// Whether a process that is not meant to be running must start so that it is where its new
/// definition `new` wants it: as if it had always had it. `old` is the definition it has now;
/// `relaunch`: a field that defines the process changed.
fn brought_up(state: &ProcState, old: &ProgramSpec, new: &ProgramSpec, relaunch: bool) -> bool {
    let worth_retrying =
        old.startretries != new.startretries || old.starttime != new.starttime || old.cmd != new.cmd;
    match state {
        // Never started, nor stopped by a command ("Not started").
        ProcState::Stopped { since: None } => new.autostart,
        // A person stopped it: it stays stopped.
        ProcState::Stopped { since: Some(_) } => false,
        ProcState::Exited { restart_at: None, exit, .. } => {
            process::restarts_after(new, *exit).1 || (relaunch && new.autostart)
        }
        ProcState::Fatal { .. } => worth_retrying || (relaunch && new.autostart),
        // Running, about to, or being stopped: the plan itself deals with these.
        ProcState::Spawning { .. }
        | ProcState::Starting { .. }
        | ProcState::Running { .. }
        | ProcState::Backoff { .. }
        | ProcState::Exited { restart_at: Some(_), .. }
        | ProcState::Stopping { .. } => false,
    }
}

impl Supervisor {
    /// A reload was asked for (`from` a command, or by SIGHUP): `loaded` is the file as read.
    pub(super) fn on_reload(
        &mut self,
        from: Option<Requester>,
        loaded: Result<Config, ConfigError>,
        dry_run: bool,
        now: Now,
    ) {
        let reply = |sup: &mut Supervisor, outcome: ReloadOutcome| {
            if let Some(to) = from {
                sup.actions.push(Action::Reply { to, reply: Reply::Reload(outcome) });
            }
        };
        if self.is_shutting_down() {
            self.log(LogLevel::Warn, "reload ignored: taskmaster is shutting down".into());
            reply(self, ReloadOutcome::Ignored);
            return;
        }
        let config = match loaded {
            Ok(config) => config,
            Err(errors) => {
                self.log(
                    LogLevel::Error,
                    "reload failed: the configuration has errors; nothing changed".into(),
                );
                for line in errors.lines() {
                    self.log(LogLevel::Error, line);
                }
                reply(self, ReloadOutcome::Invalid(errors));
                return;
            }
        };
        let mut plan = diff::plan(&self.config, &config);
        let starts = self.brought_up(&plan, &config);
        plan.started = starts.iter().filter_map(|id| self.procs.get(id)).map(|p| p.name.clone()).collect();
        if dry_run {
            reply(self, ReloadOutcome::DryRun(plan));
            return;
        }
        // The daemon's own settings first, so the summary goes to the (re)opened log file, and
        // the summary before the stops and starts it causes.
        self.actions.push(Action::Reconfigured);
        self.log(LogLevel::Info, plan.log_line());
        self.apply(&plan, &config, now);
        for id in starts {
            self.step(id, &process::Trigger::Start, now);
        }
        self.config = config;
        reply(self, ReloadOutcome::Applied(plan));
    }

    /// The processes of changed programs that the new configuration wants started (see
    /// `brought_up`), judged on their states before anything is applied.
    fn brought_up(&self, plan: &Plan, config: &Config) -> Vec<ProcId> {
        let changed = plan.updated.iter().map(|n| (n, false)).chain(plan.restarted.iter().map(|n| (n, true)));
        let mut starts = Vec::new();
        for (name, relaunch) in changed {
            let (Some(program), Some(new)) = (self.programs.get(name), config.programs.get(name)) else {
                continue;
            };
            // Those a scale-down drops are stopped, not started.
            for id in program.procs.iter().take(new.numprocs as usize) {
                if let Some(p) = self.procs.get(id)
                    && brought_up(&p.machine.state, &p.spec, new, relaunch)
                {
                    starts.push(*id);
                }
            }
        }
        starts
    }

    fn apply(&mut self, plan: &Plan, config: &Config, now: Now) {
        for name in &plan.removed {
            if let Some(program) = self.programs.remove(name) {
                for id in program.procs {
                    self.retire(id, now);
                }
            }
        }
        for name in &plan.added {
            let ids = self.add_program(config.programs[name].clone());
            if config.programs[name].autostart {
                for id in ids {
                    self.step(id, &process::Trigger::Start, now);
                }
            }
        }
        for scale in &plan.scaled {
            self.rescale(&config.programs[&scale.program], now);
        }
        for name in &plan.updated {
            self.retune(&config.programs[name]);
        }
        for name in &plan.restarted {
            self.relaunch(&config.programs[name], now);
        }
    }

    /// Gives a program its new definition (processes take it at their next spawn); returns it
    /// with the program's processes.
    fn redefine(&mut self, spec: &ProgramSpec) -> Option<(Arc<ProgramSpec>, Vec<ProcId>)> {
        let spec = Arc::new(spec.clone());
        let program = self.programs.get_mut(&spec.name)?;
        program.spec = spec.clone();
        Some((spec, program.procs.clone()))
    }

    /// Stops a process that no longer belongs to a program; it is forgotten once stopped.
    fn retire(&mut self, id: ProcId, now: Now) {
        if let Some(process) = self.procs.get_mut(&id) {
            process.retiring = true;
        }
        self.step(id, &process::Trigger::Stop, now);
        self.forget_if_retired(id);
    }

    /// Adds or drops the highest-numbered processes; the others keep running, renamed when the
    /// names change (`web` ↔ `web:web_00`).
    fn rescale(&mut self, spec: &ProgramSpec, now: Now) {
        let Some((spec, procs)) = self.redefine(spec) else { return };
        let keep = (spec.numprocs as usize).min(procs.len());
        let siblings_run =
            procs.iter().any(|id| self.procs.get(id).is_some_and(|p| wanted(&p.machine.state)));
        for id in &procs[keep..] {
            self.retire(*id, now);
        }
        let mut kept: Vec<ProcId> = procs[..keep].to_vec();
        for (index, id) in kept.iter().enumerate() {
            if let Some(process) = self.procs.get_mut(id) {
                let name = process_name(&spec.name, spec.numprocs, index as u32);
                if name != process.name {
                    let from = std::mem::replace(&mut process.name, name.clone());
                    self.actions.push(Action::Renamed { from, to: name });
                }
            }
        }
        let added: Vec<ProcId> = (keep as u32..spec.numprocs).map(|i| self.attach(&spec, i)).collect();
        kept.extend(&added);
        if let Some(program) = self.programs.get_mut(&spec.name) {
            program.procs = kept;
        }
        // New instances start by autostart, or because the ones already there are running.
        if spec.autostart || siblings_run {
            for id in added {
                self.step(id, &process::Trigger::Start, now);
            }
        }
    }

    /// Supervision settings change in place: no process is stopped or started here.
    fn retune(&mut self, spec: &ProgramSpec) {
        let Some((spec, ids)) = self.redefine(spec) else { return };
        for id in ids {
            if let Some(process) = self.procs.get_mut(&id) {
                process.spec = spec.clone();
            }
        }
    }

    /// The process definition changed: what runs is stopped (with its old settings) and started
    /// again with the new one; what does not run takes the new definition as it is.
    fn relaunch(&mut self, spec: &ProgramSpec, now: Now) {
        let Some((_, ids)) = self.redefine(spec) else { return };
        for id in ids {
            let Some(process) = self.procs.get(&id) else { continue };
            match process.machine.state {
                ProcState::Starting { .. }
                | ProcState::Running { .. }
                | ProcState::Backoff { .. }
                | ProcState::Exited { restart_at: Some(_), .. } => {
                    self.step(id, &process::Trigger::Stop, now);
                    self.take_current_spec(id);
                    self.step(id, &process::Trigger::Start, now);
                }
                // It takes the new definition when it spawns again, if it does.
                ProcState::Stopping { .. } => {}
                ProcState::Stopped { .. }
                | ProcState::Exited { restart_at: None, .. }
                | ProcState::Fatal { .. }
                | ProcState::Spawning { .. } => self.take_current_spec(id),
            }
        }
    }
}
