//! The commands (taskmaster(1), COMMANDS) as the supervisor runs them: which processes each
//! applies to, the inputs it feeds their machines, and the answer (at once, or when the processes
//! get there), as a typed `Reply`.

use super::order::Move;
use super::status::view;
use super::targets::Selection;
use super::waits::{Goal, Item};
use super::{Action, Now, Phase, ProcId, Requester, Supervisor};
use crate::control::command::Order;
use crate::control::reply::{Outcome, Pids, Reply, StatusReply, Verdict};
use crate::process::ProcState;
use nix::sys::signal::Signal;
use std::collections::{HashMap, HashSet};

/// What a command does to one process in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Start,
    Stop,
    Restart,
}

/// How a verb meets a process's state.
enum Fit {
    /// Queue this move, and answer when it is done.
    Queue(Move),
    /// Already where the verb would take it: an error when the process was named alone.
    Already(Verdict),
}

fn plan(verb: Verb, state: &ProcState) -> Fit {
    match (verb, state) {
        (Verb::Start, ProcState::Stopped { .. } | ProcState::Exited { .. } | ProcState::Fatal { .. }) => {
            Fit::Queue(Move::Start)
        }
        // A start during a stop waits for the stop, then starts.
        (Verb::Start, ProcState::Stopping { .. }) => Fit::Queue(Move::Start),
        (
            Verb::Start,
            ProcState::Spawning { .. }
            | ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. },
        ) => Fit::Already(Verdict::AlreadyStarted),
        (
            Verb::Stop,
            ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Stopping { .. }
            | ProcState::Exited { restart_at: Some(_), .. },
        ) => Fit::Queue(Move::Stop),
        (
            Verb::Stop,
            ProcState::Stopped { .. }
            | ProcState::Exited { restart_at: None, .. }
            | ProcState::Fatal { .. }
            | ProcState::Spawning { .. },
        ) => Fit::Already(Verdict::NotRunning),
        // A restart stops what runs (or is about to run), then starts it.
        (
            Verb::Restart,
            ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Exited { restart_at: Some(_), .. },
        ) => Fit::Queue(Move::StopThenStart),
        (
            Verb::Restart,
            ProcState::Stopped { .. }
            | ProcState::Exited { restart_at: None, .. }
            | ProcState::Fatal { .. }
            | ProcState::Stopping { .. },
        ) => Fit::Queue(Move::Start),
        (Verb::Restart, ProcState::Spawning { .. }) => Fit::Already(Verdict::AlreadyStarted),
    }
}

impl Supervisor {
    pub(super) fn on_order(&mut self, from: Requester, order: Order, now: Now) {
        if let Some(reply) = self.carry_out(from, order, now) {
            self.actions.push(Action::Reply { to: from, reply });
        }
    }

    /// Carries out an order; `None` when the answer will come later.
    fn carry_out(&mut self, from: Requester, order: Order, now: Now) -> Option<Reply> {
        let busy = self.phase != Phase::Running;
        match order {
            Order::Status(targets) => Some(self.status(&targets, &now)),
            Order::Pid(target) => Some(self.pid(target.as_deref())),
            Order::Shutdown if busy => {
                self.shutdown_waiters.push(from);
                None
            }
            Order::Shutdown => {
                self.log(crate::config::LogLevel::Info, "shutdown requested, stopping every process".into());
                self.shutdown_waiters.push(from);
                self.begin_shutdown();
                None
            }
            Order::Start(_) | Order::Stop(_) | Order::Restart(_) | Order::Signal(..) if busy => {
                Some(Reply::ShuttingDown)
            }
            Order::Start(targets) => self.act(from, Verb::Start, &targets, now),
            Order::Stop(targets) => self.act(from, Verb::Stop, &targets, now),
            Order::Restart(targets) => self.act(from, Verb::Restart, &targets, now),
            Order::Signal(signal, targets) => Some(self.signal(signal, &targets)),
        }
    }

    /// The processes named by `targets`, each once, with whether it was named alone, and the
    /// targets that name none. Linear in the targets and the processes they name: a target
    /// given twice is looked at once.
    fn resolve(&self, targets: &[String]) -> (Vec<(ProcId, bool)>, Vec<String>) {
        let mut chosen: Vec<(ProcId, bool)> = Vec::new();
        let mut index: HashMap<ProcId, usize> = HashMap::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut unknown = Vec::new();
        for target in targets {
            if !seen.insert(target.as_str()) {
                continue;
            }
            let found = match self.select(target) {
                Some(Selection::One(id)) => vec![(id, true)],
                Some(Selection::Group(ids)) => ids.into_iter().map(|id| (id, false)).collect(),
                None => {
                    unknown.push(target.clone());
                    continue;
                }
            };
            for (id, alone) in found {
                match index.get(&id) {
                    Some(&at) => chosen[at].1 |= alone,
                    None => {
                        index.insert(id, chosen.len());
                        chosen.push((id, alone));
                    }
                }
            }
        }
        (chosen, unknown)
    }

    /// Starts, stops or restarts through the queue (taskmaster(1), ORDER AND HEALTH): what the
    /// targets depend on starts first, what depends on them stops first, each said in the answer
    /// with why it is there.
    fn act(&mut self, from: Requester, verb: Verb, targets: &[String], now: Now) -> Option<Reply> {
        let (chosen, unknown) = self.resolve(targets);
        let mut items: Vec<Item> = unknown.iter().map(|t| Item::settled(t, Verdict::NoSuchProcess)).collect();
        let mut moves: Vec<(ProcId, Move)> = Vec::new();
        let chosen_programs: std::collections::BTreeSet<String> =
            chosen.iter().filter_map(|(id, _)| self.procs.get(id)).map(|p| p.program.clone()).collect();
        for (id, alone) in chosen {
            let called_off = self.call_off(id, verb);
            let name = self.procs[&id].name.clone();
            // A spawn waiting for what the last run left to be gone does not happen.
            if verb == Verb::Stop && self.call_off_held(id, now) {
                items.push(Item::settled(&name, Verdict::Stopped));
                continue;
            }
            match plan(verb, &self.procs[&id].machine.state) {
                Fit::Queue(step) => moves.push((id, step)),
                // A start still waiting for its turn is stopped by being called off.
                Fit::Already(_) if called_off && verb == Verb::Stop => {
                    items.push(Item::settled(&name, Verdict::Stopped));
                }
                // Not running, but what it left is: stopping it kills that.
                Fit::Already(_) if verb == Verb::Stop && !self.escapes.live_of(id).is_empty() => {
                    let killed = self.kill_left(id, "it is stopped");
                    let note = format!("killed {}, which it left running", super::escapes::listed(&killed));
                    items.push(Item::settled(&name, Verdict::Stopped).with_note(Some(note)));
                }
                Fit::Already(verdict) if alone => items.push(Item::settled(&name, verdict)),
                Fit::Already(_) => {}
            }
        }
        if verb != Verb::Stop {
            let programs = chosen_programs.iter().cloned().collect();
            self.keep_dependencies(&programs);
        }
        let named = moves.len();
        let mut pulled = match verb {
            Verb::Start => Vec::new(),
            Verb::Stop => self.pull_dependents(&mut moves, false),
            Verb::Restart => self.pull_dependents(&mut moves, true),
        };
        let dependents = moves.len();
        if verb != Verb::Stop {
            pulled.extend(self.pull_dependencies(&mut moves));
        }
        let notes: HashMap<ProcId, String> = pulled.into_iter().collect();
        // The answer reads in the order things happen: what the targets depend on, the targets,
        // and what depends on them (stopped first; started last, after a restart).
        let order: Vec<usize> = match verb {
            Verb::Restart => {
                (dependents..moves.len()).chain(0..named).chain((named..dependents).rev()).collect()
            }
            Verb::Start | Verb::Stop => (named..moves.len()).chain(0..named).collect(),
        };
        for index in order {
            let (id, step) = moves[index];
            let goal = match step {
                Move::Stop => Goal::Stopped,
                Move::Start | Move::StopThenStart => Goal::Started,
            };
            let name = self.procs[&id].name.clone();
            items.push(Item::waiting(&name, id, goal).with_note(notes.get(&id).cloned()));
        }
        self.enqueue(moves);
        if let Some(action) = self.waits.add(from, items) {
            self.actions.push(action);
        }
        None
    }

    /// A queued move that the command undoes is called off, and what waited for it answered;
    /// whether there was one.
    fn call_off(&mut self, id: ProcId, verb: Verb) -> bool {
        let conflicts = match (verb, self.queue.move_of(id)) {
            (_, None) => false,
            (Verb::Start, Some(queued)) => queued == Move::Stop,
            (Verb::Stop, Some(queued)) => queued != Move::Stop,
            (Verb::Restart, Some(_)) => true,
        };
        if conflicts {
            self.queue.forget(id);
            let replies = self.waits.settle(id, Verdict::Abnormal, None);
            self.actions.extend(replies);
        }
        conflicts
    }

    fn signal(&mut self, signal: Signal, targets: &[String]) -> Reply {
        let (chosen, unknown) = self.resolve(targets);
        let mut outcomes: Vec<Outcome> =
            unknown.iter().map(|t| Outcome::new(t, Verdict::NoSuchProcess)).collect();
        for (id, alone) in chosen {
            let process = &self.procs[&id];
            match process.machine.state.pid() {
                Some(pid) => {
                    outcomes.push(Outcome::new(&process.name, Verdict::Signalled));
                    self.actions.push(Action::Signal { pid, signal, group: false });
                }
                None if alone => outcomes.push(Outcome::new(&process.name, Verdict::NotRunning)),
                None => {}
            }
        }
        Reply::Outcomes(outcomes)
    }

    fn status(&self, targets: &[String], now: &Now) -> Reply {
        // Without targets: every process, those still retiring after a reload included.
        let (ids, unknown) = match targets.is_empty() {
            true => (self.ids_by_name(self.procs.keys().copied()), Vec::new()),
            false => {
                let (chosen, unknown) = self.resolve(targets);
                (self.ids_by_name(chosen.into_iter().map(|(id, _)| id)), unknown)
            }
        };
        let processes = ids
            .iter()
            .map(|id| {
                let process = &self.procs[id];
                let mut view = view(process, now);
                view.waiting = self.queue_note(*id).or_else(|| process.blocked.clone());
                view.health = self.checks.health(*id, &process.spec);
                view.left = self.escapes.live_of(*id);
                view
            })
            .collect();
        Reply::Status(StatusReply { processes, unknown, warnings: Vec::new() })
    }

    fn pid(&self, target: Option<&str>) -> Reply {
        let Some(target) = target else { return Reply::Pids(Pids::Daemon(self.own_pid)) };
        let ids = match self.select(target) {
            Some(Selection::One(id)) => vec![id],
            Some(Selection::Group(ids)) => ids,
            None => return Reply::Pids(Pids::NoSuch(target.to_string())),
        };
        let pid = |id: &ProcId| {
            let process = &self.procs[id];
            (process.name.clone(), process.machine.state.pid().map(|p| p.as_raw()))
        };
        Reply::Pids(Pids::Processes(ids.iter().map(pid).collect()))
    }
}
