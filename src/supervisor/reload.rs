//! Applying a reload plan (taskmaster(1), RELOAD): only what changed is touched. Removed programs
//! and the processes a scale-down drops are stopped with their own settings, then forgotten; added
//! programs and new instances start by autostart; a program whose process definition changed is
//! restarted (stopped with the old settings, started with the new); supervision settings apply in
//! place. Deadlines already armed keep their time: new values apply from the next transition. Then
//! every process of a changed program that is not running is brought to where its new configuration
//! wants it, as if it had always had it (taskmaster(1), RELOAD).

use super::order::{Move, Ranks};
use super::{Action, Now, ProcId, Requester, Supervisor};
use crate::config::diff::{self, Plan};
use crate::config::{Config, ConfigError, LogLevel, ProgramSpec, process_name};
use crate::control::reply::{ReloadOutcome, Reply};
use crate::process::{self, ProcState, Then};
use std::sync::Arc;

/// Whether a process is meant to be running: it runs, is about to, or is waiting to try again.
pub(super) fn wanted(state: &ProcState) -> bool {
    match state {
        ProcState::Spawning { .. }
        | ProcState::Starting { .. }
        | ProcState::Running { .. }
        | ProcState::Backoff { .. }
        | ProcState::Exited { restart_at: Some(_), .. }
        | ProcState::Stopping { then: Then::Start | Then::Retry { .. }, .. } => true,
        ProcState::Stopped { .. }
        | ProcState::Exited { restart_at: None, .. }
        | ProcState::Fatal { .. }
        | ProcState::Stopping { then: Then::Stay, .. } => false,
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
                // A dry run only asked: the answer says it all.
                if !dry_run {
                    self.log(
                        LogLevel::Error,
                        "reload failed: the configuration has errors; nothing changed".into(),
                    );
                    for line in errors.lines() {
                        self.log(LogLevel::Error, line);
                    }
                }
                reply(self, ReloadOutcome::Invalid(errors));
                return;
            }
        };
        let mut plan = diff::plan(&self.config, &config);
        let starts = self.brought_up(&plan, &config);
        plan.started = starts.iter().filter_map(|id| self.procs.get(id)).map(|p| p.name.clone()).collect();
        let new_ranks = Ranks::of(&config.programs);
        self.order_plan(&mut plan, &config, &starts, &new_ranks);
        if dry_run {
            reply(self, ReloadOutcome::DryRun(Box::new(plan)));
            return;
        }
        // The daemon's own settings first, so the summary goes to the (re)opened log file, and
        // the summary before the stops and starts it causes.
        self.actions.push(Action::Reconfigured);
        self.log(LogLevel::Info, plan.log_line());
        // Every stop and start of the reload is one batch, in order (taskmaster(1), ORDER AND
        // HEALTH); what a start depends on and is down starts too.
        let mut moves = Vec::new();
        self.retired_ranks = std::mem::replace(&mut self.ranks, new_ranks);
        self.apply(&plan, &config, &mut moves);
        // A probe added or removed in place begins or ends now.
        for name in &plan.updated {
            let ids = self.programs.get(name).map(|p| p.procs.clone()).unwrap_or_default();
            for id in ids {
                self.sync_checks(id, now);
            }
        }
        moves.extend(starts.into_iter().map(|id| (id, Move::Start)));
        self.pull_dependencies(&mut moves);
        self.enqueue(moves);
        self.config = config;
        reply(self, ReloadOutcome::Applied(Box::new(plan)));
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

    /// The order the plan stops and starts programs in, as `--dry-run` shows it: what stops
    /// (removed, restarted, scaled down) by the order in force, what starts by the new one.
    fn order_plan(&self, plan: &mut Plan, config: &Config, starts: &[ProcId], new_ranks: &Ranks) {
        let scaled_down = plan.scaled.iter().filter(|s| s.to < s.from).map(|s| s.program.clone());
        let stops: Vec<String> =
            plan.removed.iter().chain(&plan.restarted).cloned().chain(scaled_down).collect();
        // As the queue orders them: a removed program by the order it ran under, a kept one by
        // the new.
        let kept = |name: &str| config.programs.contains_key(name);
        plan.stop_order = Ranks::stop_order_across(&self.ranks, new_ranks, &stops, &kept);
        let added = plan.added.iter().filter(|n| config.programs[*n].autostart).cloned();
        let scaled_up = plan.scaled.iter().filter(|s| s.to > s.from).map(|s| s.program.clone());
        let brought = starts.iter().filter_map(|id| self.procs.get(id)).map(|p| p.program.clone());
        let restarted = plan.restarted.iter().filter(|n| {
            let running = self.programs.get(*n).is_some_and(|p| {
                p.procs.iter().any(|id| self.procs.get(id).is_some_and(|q| wanted(&q.machine.state)))
            });
            running || config.programs[*n].autostart
        });
        let starting: Vec<String> = added.chain(restarted.cloned()).chain(scaled_up).chain(brought).collect();
        plan.start_order = new_ranks.start_order(&starting);
    }

    fn apply(&mut self, plan: &Plan, config: &Config, moves: &mut Vec<(ProcId, Move)>) {
        for name in &plan.removed {
            if let Some(program) = self.programs.remove(name) {
                for id in program.procs {
                    self.retire(id, moves);
                }
            }
        }
        for name in &plan.added {
            let ids = self.add_program(config.programs[name].clone());
            if config.programs[name].autostart {
                moves.extend(ids.into_iter().map(|id| (id, Move::Start)));
            }
        }
        for scale in &plan.scaled {
            self.rescale(&config.programs[&scale.program], moves);
        }
        for name in &plan.updated {
            self.retune(&config.programs[name]);
        }
        for name in &plan.restarted {
            self.relaunch(&config.programs[name], moves);
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
    fn retire(&mut self, id: ProcId, moves: &mut Vec<(ProcId, Move)>) {
        if let Some(process) = self.procs.get_mut(&id) {
            process.retiring = true;
        }
        self.queue.forget(id);
        moves.push((id, Move::Stop));
    }

    /// Adds or drops the highest-numbered processes; the others keep running, renamed when the
    /// names change (`web` ↔ `web:web_00`).
    fn rescale(&mut self, spec: &ProgramSpec, moves: &mut Vec<(ProcId, Move)>) {
        let Some((spec, procs)) = self.redefine(spec) else { return };
        let keep = (spec.numprocs as usize).min(procs.len());
        let siblings_run =
            procs.iter().any(|id| self.procs.get(id).is_some_and(|p| wanted(&p.machine.state)));
        for id in &procs[keep..] {
            self.retire(*id, moves);
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
            moves.extend(added.into_iter().map(|id| (id, Move::Start)));
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
    fn relaunch(&mut self, spec: &ProgramSpec, moves: &mut Vec<(ProcId, Move)>) {
        let Some((_, ids)) = self.redefine(spec) else { return };
        for id in ids {
            let Some(process) = self.procs.get(&id) else { continue };
            match process.machine.state {
                ProcState::Starting { .. }
                | ProcState::Running { .. }
                | ProcState::Backoff { .. }
                | ProcState::Exited { restart_at: Some(_), .. } => {
                    // A stop a person asked for, still waiting for its turn, stays a stop.
                    match self.queue.move_of(id) {
                        Some(Move::Stop) => self.take_current_spec(id),
                        Some(Move::Start | Move::StopThenStart) | None => {
                            self.queue.forget(id);
                            moves.push((id, Move::StopThenStart));
                        }
                    }
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
