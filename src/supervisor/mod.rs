//! The supervisor table: every program and process, the pid index and the deadline queue. It
//! routes each input to the processes it concerns, steps their machines, and turns what they ask
//! for into `Action`s for the event loop. Pure: no system call, no clock read.

mod alerting;
mod checks;
mod commands;
mod counters;
mod escapes;
mod hands;
mod log_lines;
mod order;
mod reload;
mod shutdown;
mod status;
mod targets;
mod waits;

use crate::config::{Config, ConfigError, LogLevel, ProgramSpec};
use crate::control::command::Order;
use crate::control::reply::Reply;
use crate::process::{self, Effect, ExitKind, Machine, ProcState, StateName};
use crate::timers::Timers;
pub(crate) use alerting::Transition;
pub(crate) use checks::ProbeJob;
pub(crate) use escapes::Orphan;
pub(crate) use hands::{Hands, SpawnPlan};
use log_lines::log_line;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
pub(crate) use order::Ranks;
use order::{Move, Queue};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use waits::Waits;

/// A process's identity; never reused, so a stale timer or reply cannot reach a newer process.
pub(crate) type ProcId = u64;

/// What a deadline of the one queue is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Due {
    /// The deadline of a process's state.
    State(ProcId),
    /// Its next probe (taskmaster(1), ORDER AND HEALTH).
    Check(ProcId),
    /// The longest its spawn waits for what its last run left to be gone (taskmaster(1),
    /// PROGRAMS THAT ESCAPE).
    Held(ProcId),
}

/// Who asked for something.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Requester {
    /// taskmaster's own shell (or its standard input).
    Console,
    /// A client of the socket, by its number in the event loop.
    Client(usize),
}

/// The time of the current turn: monotonic for deadlines, wall for what users read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Now {
    pub(crate) mono: Instant,
    pub(crate) wall: SystemTime,
}

impl Now {
    /// The wall-clock time of an earlier instant of this run.
    pub(crate) fn wall_of(&self, at: Instant) -> SystemTime {
        self.wall - self.mono.saturating_duration_since(at)
    }
}

/// Everything the event loop hands to the supervisor.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Input {
    /// Taskmaster has just started: start the autostart programs.
    Boot,
    /// A child was reaped.
    Reaped {
        pid: Pid,
        exit: ExitKind,
    },
    /// Children taskmaster did not spawn, found after a pass of reaping that took `deaths`;
    /// before that pass's `Reaped` inputs (taskmaster(1), PROGRAMS THAT ESCAPE).
    Left {
        deaths: Vec<Pid>,
        orphans: Vec<Orphan>,
    },
    /// The answer to `Action::Spawn`.
    Spawned {
        id: ProcId,
        result: Result<Pid, String>,
    },
    /// Deadlines may be due.
    Tick,
    /// The answer to `Action::Probe` number `seq`.
    Probed {
        id: ProcId,
        seq: u64,
        result: Result<(), String>,
    },
    /// `Action::Probe` number `seq` could not even begin (`why`): not a failure of the probe.
    ProbeSkipped {
        id: ProcId,
        seq: u64,
        why: String,
    },
    Order {
        from: Requester,
        order: Order,
    },
    /// The requester went away (client closed, Ctrl-C at the shell): forget what it waits for.
    Gone {
        from: Requester,
    },
    /// SIGTERM or SIGINT: shut down gracefully; the second one kills everything at once.
    Terminate(Signal),
    /// Re-read configuration (SIGHUP, or the `reload` command `from` a requester).
    Reload {
        from: Option<Requester>,
        loaded: Box<Result<Config, ConfigError>>,
        dry_run: bool,
    },
}

/// Everything the supervisor asks of the event loop.
#[derive(Debug, Clone, PartialEq)]
enum Action {
    /// Spawn this process, then answer with `Input::Spawned` before anything else.
    Spawn {
        id: ProcId,
    },
    Signal {
        pid: Pid,
        signal: Signal,
        group: bool,
    },
    Log {
        level: LogLevel,
        message: String,
    },
    Reply {
        to: Requester,
        reply: Reply,
    },
    /// A reload was applied: take the daemon's own settings from `config()` (log, socket...).
    Reconfigured,
    /// Something an alert may be about happened (taskmaster(1), ALERTS).
    Alert(Box<Transition>),
    /// A process goes by another name from now on (`web` ↔ `web:web_00`, when numprocs moves
    /// between 1 and more): what is kept by name (its output in memory, who follows it) follows.
    Renamed {
        from: String,
        to: String,
    },
    /// Every process is gone after a shutdown: exit.
    Exit,
    /// Run one probe of a process and answer with `Input::Probed`.
    Probe {
        id: ProcId,
        seq: u64,
        job: Box<ProbeJob>,
    },
    /// The probe under way for a process is no longer wanted: stop it, answer nothing.
    CancelProbe {
        id: ProcId,
    },
}

/// One process of a program.
#[derive(Debug, Clone)]
pub(crate) struct Process {
    pub(crate) id: ProcId,
    pub(crate) program: String,
    pub(crate) name: String,
    pub(crate) machine: Machine,
    /// The definition it runs with (or will stop with): taken from its program at each spawn, so
    /// a relaunched program's processes stop with the old settings and start with the new.
    pub(crate) spec: Arc<ProgramSpec>,
    /// Its program was removed or scaled down: it is stopped, then forgotten.
    pub(crate) retiring: bool,
    /// Its number in its program, from 0 (`web:web_03` is 3).
    pub(crate) number: u32,
    /// It failed since it last ran: its next RUNNING is a recovery (taskmaster(1), ALERTS).
    pub(crate) failing: bool,
    /// Why its last queued start could not come (a dependency is down), until it moves again.
    pub(crate) blocked: Option<String>,
}

#[derive(Debug, Clone)]
struct Program {
    spec: Arc<ProgramSpec>,
    /// In process-number order.
    procs: Vec<ProcId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Running,
    ShuttingDown,
    /// A second terminating signal came: everything was SIGKILLed.
    Forced,
    Done,
}

pub(crate) struct Supervisor {
    /// The configuration in force (the last one applied).
    config: Config,
    programs: BTreeMap<String, Program>,
    procs: BTreeMap<ProcId, Process>,
    by_pid: HashMap<Pid, ProcId>,
    timers: Timers<Due>,
    checks: checks::Checks,
    waits: Waits,
    next_id: ProcId,
    phase: Phase,
    /// Who asked for the shutdown and waits for its end.
    shutdown_waiters: Vec<Requester>,
    /// Taskmaster's own pid, for `pid`.
    own_pid: u32,
    actions: Vec<Action>,
    /// The `critical` program whose FATAL shut taskmaster down.
    critical: Option<String>,
    /// Moves waiting for their turn (taskmaster(1), ORDER AND HEALTH).
    queue: Queue,
    /// The order of the programs in force.
    ranks: Ranks,
    /// The order before the last reload, for the programs it removed while they stop.
    retired_ranks: Ranks,
    /// What programs left running (taskmaster(1), PROGRAMS THAT ESCAPE).
    escapes: escapes::Escapes,
    /// The processes a shutdown had to kill with SIGKILL: it was not clean (taskmaster(1),
    /// EXIT STATUS).
    killed_at_shutdown: Vec<String>,
    /// Restarts and unexpected exits of each process (taskmaster(1), METRICS).
    counters: counters::Counters,
}

impl Supervisor {
    pub(crate) fn new(config: &Config, own_pid: u32) -> Supervisor {
        let mut sup = Supervisor {
            config: config.clone(),
            programs: BTreeMap::new(),
            procs: BTreeMap::new(),
            by_pid: HashMap::new(),
            timers: Timers::new(),
            checks: checks::Checks::default(),
            waits: Waits::default(),
            next_id: 1,
            phase: Phase::Running,
            shutdown_waiters: Vec::new(),
            own_pid,
            actions: Vec::new(),
            critical: None,
            queue: Queue::default(),
            ranks: Ranks::of(&config.programs),
            retired_ranks: Ranks::default(),
            escapes: escapes::Escapes::default(),
            killed_at_shutdown: Vec::new(),
            counters: counters::Counters::default(),
        };
        for spec in config.programs.values() {
            sup.add_program(spec.clone());
        }
        sup
    }

    /// Creates a program and its processes (all STOPPED); returns their ids.
    fn add_program(&mut self, spec: ProgramSpec) -> Vec<ProcId> {
        let spec = Arc::new(spec);
        let procs: Vec<ProcId> = (0..spec.numprocs).map(|i| self.attach(&spec, i)).collect();
        self.programs.insert(spec.name.clone(), Program { spec, procs: procs.clone() });
        procs
    }

    /// The process number `index` of a program: a new one, or one of the same name that was
    /// still retiring (a program removed and added back), which is taken back as it is.
    fn attach(&mut self, spec: &Arc<ProgramSpec>, index: u32) -> ProcId {
        let name = crate::config::process_name(&spec.name, spec.numprocs, index);
        let retiring = self.procs.values_mut().find(|p| p.retiring && p.name == name);
        if let Some(process) = retiring {
            process.retiring = false;
            process.program = spec.name.clone();
            return process.id;
        }
        let id = self.next_id;
        self.next_id += 1;
        let process = Process {
            id,
            program: spec.name.clone(),
            name,
            machine: Machine::new(),
            spec: spec.clone(),
            retiring: false,
            number: index,
            failing: false,
            blocked: None,
        };
        self.procs.insert(id, process);
        id
    }

    /// Hands an input over and carries out, with `hands`, what it asks, in order, including the
    /// inputs that follow from it (a spawn's result) before anything else: the one interpreter of
    /// actions, used by the event loop and by the tests' world alike.
    pub(crate) fn run(&mut self, input: Input, now: Now, hands: &mut impl Hands) {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            let spawned = if let Input::Spawned { id, .. } = &input { Some(*id) } else { None };
            // A process's time starts when it was spawned, not when the turn began: a turn that
            // spawns hundreds takes a while, and `starttime` must be true of the last one too.
            let now = match spawned {
                Some(_) => hands.now().unwrap_or(now),
                None => now,
            };
            for action in self.handle(input, now) {
                match action {
                    Action::Spawn { id } => {
                        let result = match self.spawn_plan(id) {
                            Some(plan) => hands.spawn(id, plan),
                            None => Err("no such process".to_string()),
                        };
                        queue.push_back(Input::Spawned { id, result });
                    }
                    Action::Signal { pid, signal, group } => hands.signal(pid, signal, group),
                    Action::Log { level, message } => hands.log(level, message),
                    Action::Reply { to, reply } => hands.reply(to, reply),
                    Action::Reconfigured => hands.reconfigured(&self.config),
                    Action::Alert(transition) => hands.alert(*transition),
                    Action::Renamed { from, to } => hands.renamed(&from, &to),
                    Action::Exit => hands.exit(),
                    Action::Probe { id, seq, job } => hands.probe(id, seq, *job),
                    Action::CancelProbe { id } => hands.cancel_probe(id),
                }
            }
            if let Some(id) = spawned {
                hands.after_spawn(id);
            }
        }
    }

    /// Handles one input; returns what must be done, in order.
    fn handle(&mut self, input: Input, now: Now) -> Vec<Action> {
        match input {
            Input::Boot => self.boot(),
            Input::Reaped { pid, exit } => self.on_reaped(pid, exit, now),
            Input::Left { deaths, orphans } => self.on_left(&deaths, &orphans),
            Input::Spawned { id, result } => self.on_spawned(id, result, now),
            Input::Tick => self.on_tick(now),
            Input::Probed { id, seq, result } => self.on_probed(id, seq, result, now),
            Input::ProbeSkipped { id, seq, why } => self.on_probe_skipped(id, seq, &why, now),
            Input::Order { from, order } => self.on_order(from, order, now),
            Input::Gone { from } => {
                self.waits.forget(from);
                self.shutdown_waiters.retain(|&w| w != from);
            }
            Input::Terminate(signal) => self.on_terminate(signal, now),
            Input::Reload { from, loaded, dry_run } => self.on_reload(from, *loaded, dry_run, now),
        }
        if self.phase != Phase::Running {
            self.release_held(now);
        }
        self.advance(now);
        self.check_done();
        std::mem::take(&mut self.actions)
    }

    /// When `poll` must wake up at the latest.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.timers.earliest()
    }

    /// What the event loop needs to spawn a process.
    fn spawn_plan(&self, id: ProcId) -> Option<SpawnPlan> {
        let p = self.procs.get(&id)?;
        Some(SpawnPlan { spec: p.spec.clone(), name: p.name.clone(), number: p.number })
    }

    pub(crate) fn processes(&self) -> impl Iterator<Item = &Process> {
        self.procs.values()
    }

    /// The autostart programs start, in order, with what they depend on.
    fn boot(&mut self) {
        let autostart: Vec<(ProcId, Move)> = self
            .programs
            .values()
            .filter(|p| p.spec.autostart)
            .flat_map(|p| p.procs.iter().map(|id| (*id, Move::Start)))
            .collect();
        let mut moves = autostart;
        self.pull_dependencies(&mut moves);
        self.enqueue(moves);
    }

    fn on_reaped(&mut self, pid: Pid, exit: ExitKind, now: Now) {
        match self.by_pid.get(&pid).copied() {
            Some(id) => {
                self.step(id, &process::Trigger::Exited { exit }, now);
                self.say_left(id);
            }
            None if self.on_leftover_reaped(pid, exit, now) => {}
            None => self.log(LogLevel::Debug, format!("reaped unknown pid {pid} ({exit})")),
        }
        self.say_left_of_ended();
    }

    fn on_spawned(&mut self, id: ProcId, result: Result<Pid, String>, now: Now) {
        let input = match result {
            Ok(pid) => process::Trigger::Spawned { pid },
            Err(reason) => process::Trigger::SpawnFailed { reason },
        };
        self.step(id, &input, now);
    }

    fn on_tick(&mut self, now: Now) {
        for due in self.timers.due(now.mono) {
            match due {
                Due::State(id) => self.step(id, &process::Trigger::Deadline, now),
                Due::Check(id) => self.on_check_due(id, now),
                Due::Held(id) => self.on_held_too_long(id, now),
            }
        }
    }

    /// Steps one process and keeps the pid index, the deadline and the waits in line with it.
    fn step(&mut self, id: ProcId, input: &process::Trigger, now: Now) {
        let Some(process) = self.procs.get(&id) else { return };
        let (next, effects) = process::step(&process.machine, input, &process.spec, now.mono);
        let name = process.name.clone();
        let old = std::mem::replace(&mut self.procs.get_mut(&id).expect("looked up above").machine, next);
        let new = &self.procs[&id].machine;
        if old.state.pid() != new.state.pid() {
            if let Some(pid) = old.state.pid() {
                self.by_pid.remove(&pid);
            }
            if let Some(pid) = new.state.pid() {
                self.by_pid.insert(pid, id);
            }
        }
        self.timers.set(Due::State(id), new.state.deadline());
        let (from, to) = (old.state.name(), new.state.name());
        // Spawned while a shutdown began (a critical program gave up in the same turn): stopped.
        let late = self.phase != Phase::Running
            && matches!(old.state, ProcState::Spawning { .. })
            && new.state.pid().is_some();
        // A queued process's answer waits for its move (a restart's stop settles nothing).
        let resolved = match self.queue.holds(id) {
            true => Vec::new(),
            false => self.waits.observe(id, &old.state, &new.state),
        };
        self.alert(id, &old, &effects, now);
        self.counters.observe(id, &effects);
        for effect in effects {
            match effect {
                Effect::Spawn if self.phase != Phase::Running => {
                    // Nothing new starts while shutting down: the spawn is refused as a failure.
                    self.step(id, &process::Trigger::SpawnFailed { reason: "shutting down".into() }, now);
                }
                // What its last run left must be gone before the new one meets it.
                Effect::Spawn if self.hold_spawn(id, now) => {}
                Effect::Spawn => {
                    self.take_current_spec(id);
                    self.actions.push(Action::Spawn { id });
                }
                Effect::Signal { pid, signal, group } => {
                    self.actions.push(Action::Signal { pid, signal, group })
                }
                Effect::Log(event) => {
                    if matches!(event, process::Event::Killing { .. }) && self.phase != Phase::Running {
                        self.killed_at_shutdown.push(name.clone());
                    }
                    let (level, message) = log_line(&name, &event);
                    self.log(level, message);
                }
            }
        }
        if from != to {
            self.log(LogLevel::Debug, format!("{name}: {} → {}", from.as_str(), to.as_str()));
            if let Some(process) = self.procs.get_mut(&id) {
                process.blocked = None;
            }
        }
        // Stopped from BACKOFF (a retry called off) or after a run: what its last run left goes.
        if to == StateName::Stopped && from != to {
            self.kill_left(id, "it is stopped");
        }
        self.sync_checks(id, now);
        // Answers go after the log lines of what settled them, so they read in order.
        self.actions.extend(resolved);
        self.forget_if_retired(id);
        if to == StateName::Fatal && from != to {
            self.on_fatal(id);
        }
        if late {
            self.step(id, &process::Trigger::Stop, now);
        }
    }

    /// A process about to be spawned runs its program's current definition.
    fn take_current_spec(&mut self, id: ProcId) {
        let Some(process) = self.procs.get(&id) else { return };
        if let Some(program) = self.programs.get(&process.program).filter(|_| !process.retiring) {
            let spec = program.spec.clone();
            if let Some(process) = self.procs.get_mut(&id) {
                process.spec = spec;
            }
        }
    }

    /// A retiring process is forgotten once nothing of it runs.
    fn forget_if_retired(&mut self, id: ProcId) {
        let done = self.procs.get(&id).is_some_and(|p| {
            p.retiring
                && p.machine.state.pid().is_none()
                && !matches!(p.machine.state, ProcState::Spawning { .. })
        });
        if done {
            // Whoever waits for it is answered as its state says (a queued move it never made
            // too): nothing is left to wait for.
            if let Some(process) = self.procs.get(&id) {
                let state = process.machine.state.clone();
                let replies = self.waits.observe(id, &state, &state);
                self.actions.extend(replies);
                let replies = self.waits.settle(id, crate::control::reply::Verdict::Abnormal, None);
                self.actions.extend(replies);
            }
            self.kill_left(id, "its program was removed");
            self.procs.remove(&id);
            self.counters.forget(id);
            self.timers.set(Due::State(id), None);
            self.queue.forget(id);
            self.end_check(id);
        }
    }

    fn log(&mut self, level: LogLevel, message: String) {
        self.actions.push(Action::Log { level, message });
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests;
