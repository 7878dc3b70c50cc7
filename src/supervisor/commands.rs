//! The commands (taskmaster(1), COMMANDS) as the supervisor runs them: which processes each
//! applies to, the inputs it feeds their machines, and the answer (at once, or when the processes
//! get there), as a typed `Reply`.

use super::status::view;
use super::targets::Selection;
use super::waits::{self, Goal, Item};
use super::{Action, Now, Phase, ProcId, Requester, Supervisor};
use crate::control::command::Order;
use crate::control::reply::{Outcome, Pids, Reply, StatusReply, Verdict};
use crate::process::{self, ProcState};
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
enum Move {
    /// Feed these triggers, then wait for the goal.
    Act(&'static [process::Trigger], Goal),
    /// Already where the verb would take it: an error when the process was named alone.
    Already(Verdict),
}

fn plan(verb: Verb, state: &ProcState) -> Move {
    use process::Trigger::{Start, Stop};
    match (verb, state) {
        (Verb::Start, ProcState::Stopped { .. } | ProcState::Exited { .. } | ProcState::Fatal { .. }) => {
            Move::Act(&[Start], Goal::Started)
        }
        // A start during a stop waits for the stop, then starts.
        (Verb::Start, ProcState::Stopping { .. }) => Move::Act(&[Start], Goal::Started),
        (
            Verb::Start,
            ProcState::Spawning { .. }
            | ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. },
        ) => Move::Already(Verdict::AlreadyStarted),
        (
            Verb::Stop,
            ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Stopping { .. }
            | ProcState::Exited { restart_at: Some(_), .. },
        ) => Move::Act(&[Stop], Goal::Stopped),
        (
            Verb::Stop,
            ProcState::Stopped { .. }
            | ProcState::Exited { restart_at: None, .. }
            | ProcState::Fatal { .. }
            | ProcState::Spawning { .. },
        ) => Move::Already(Verdict::NotRunning),
        // A restart stops what runs (or is about to run), then starts it.
        (
            Verb::Restart,
            ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Exited { restart_at: Some(_), .. },
        ) => Move::Act(&[Stop, Start], Goal::Started),
        (
            Verb::Restart,
            ProcState::Stopped { .. }
            | ProcState::Exited { restart_at: None, .. }
            | ProcState::Fatal { .. }
            | ProcState::Stopping { .. },
        ) => Move::Act(&[Start], Goal::Started),
        (Verb::Restart, ProcState::Spawning { .. }) => Move::Already(Verdict::AlreadyStarted),
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
                self.begin_shutdown(now);
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

    fn act(&mut self, from: Requester, verb: Verb, targets: &[String], now: Now) -> Option<Reply> {
        let (chosen, unknown) = self.resolve(targets);
        let mut items: Vec<Item> = unknown.iter().map(|t| Item::settled(t, Verdict::NoSuchProcess)).collect();
        let mut waiting = Vec::new();
        for (id, alone) in chosen {
            let name = self.procs[&id].name.clone();
            match plan(verb, &self.procs[&id].machine.state) {
                Move::Act(triggers, goal) => {
                    for trigger in triggers {
                        self.step(id, trigger, now);
                    }
                    waiting.push((id, name, goal));
                }
                Move::Already(verdict) if alone => items.push(Item::settled(&name, verdict)),
                Move::Already(_) => {}
            }
        }
        // Registered after the triggers ran, so a restart's own stop does not settle its start.
        for (id, name, goal) in waiting {
            let item = match waits::settled_now(goal, &self.procs[&id].machine.state) {
                Some(verdict) => Item::settled(&name, verdict),
                None => Item::waiting(&name, id, goal),
            };
            items.push(item);
        }
        if let Some(action) = self.waits.add(from, items) {
            self.actions.push(action);
        }
        None
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
        let processes = ids.iter().map(|id| view(&self.procs[id], now)).collect();
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
