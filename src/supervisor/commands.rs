//! The commands (taskmaster(1), COMMANDS) as the supervisor runs them: which processes each
//! applies to, the inputs it feeds their machines, and the answer (at once, or when the processes
//! get there).

use super::status::{name_width, status_json, status_line};
use super::targets::{NO_SUCH_PROCESS, Selection};
use super::waits::{self, Goal, Item};
use super::{Action, Now, Phase, ProcId, Requester, Supervisor};
use crate::command::{self, Command};
use crate::control::protocol::{Request, Response};
use crate::process::{self, ProcState};
use nix::sys::signal::Signal;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// What a command does to one process in a given state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Start,
    Stop,
    Restart,
}

/// How a verb meets a process's state.
enum Plan {
    /// Feed these inputs, then wait for the goal.
    Act(&'static [process::Input], Goal),
    /// Already where the verb would take it: an error when the process was named alone.
    Already(&'static str),
}

const ALREADY_STARTED: &str = "ERROR (already started)";
const NOT_RUNNING: &str = "ERROR (not running)";
const SHUTTING_DOWN: &str = "ERROR (shutting down)";

fn plan(verb: Verb, state: &ProcState) -> Plan {
    use process::Input::{Start, Stop};
    match (verb, state) {
        (Verb::Start, ProcState::Stopped { .. } | ProcState::Exited { .. } | ProcState::Fatal { .. }) => {
            Plan::Act(&[Start], Goal::Started)
        }
        // A start during a stop waits for the stop, then starts.
        (Verb::Start, ProcState::Stopping { .. }) => Plan::Act(&[Start], Goal::Started),
        (
            Verb::Start,
            ProcState::Spawning { .. }
            | ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. },
        ) => Plan::Already(ALREADY_STARTED),
        (
            Verb::Stop,
            ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Stopping { .. }
            | ProcState::Exited { restart_at: Some(_), .. },
        ) => Plan::Act(&[Stop], Goal::Stopped),
        (
            Verb::Stop,
            ProcState::Stopped { .. }
            | ProcState::Exited { restart_at: None, .. }
            | ProcState::Fatal { .. }
            | ProcState::Spawning { .. },
        ) => Plan::Already(NOT_RUNNING),
        // A restart stops what runs (or is about to run), then starts it.
        (
            Verb::Restart,
            ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Exited { restart_at: Some(_), .. },
        ) => Plan::Act(&[Stop, Start], Goal::Started),
        (
            Verb::Restart,
            ProcState::Stopped { .. }
            | ProcState::Exited { restart_at: None, .. }
            | ProcState::Fatal { .. }
            | ProcState::Stopping { .. },
        ) => Plan::Act(&[Start], Goal::Started),
        (Verb::Restart, ProcState::Spawning { .. }) => Plan::Already(ALREADY_STARTED),
    }
}

impl Supervisor {
    pub(super) fn on_request(&mut self, from: Requester, request: Request, now: Now) {
        let reply = match command::parse(&request.command, &request.args) {
            Err(message) => Some(Response::error(message)),
            Ok(command) => self.run(from, command, now),
        };
        if let Some(response) = reply {
            self.actions.push(Action::Reply { to: from, response });
        }
    }

    /// Runs a command; `None` when the answer will come later.
    fn run(&mut self, from: Requester, command: Command, now: Now) -> Option<Response> {
        let busy = self.phase != Phase::Running;
        match command {
            Command::Status(targets) => Some(self.status(&targets, &now)),
            Command::Pid(target) => Some(self.pid(target.as_deref())),
            Command::Version => Some(Response::ok(crate::VERSION, json!(crate::VERSION))),
            Command::Help(topic) => Some(match command::help(topic.as_deref()) {
                Ok(text) => Response::ok(text, Value::Null),
                Err(e) => Response::error(e),
            }),
            Command::Quit => Some(Response::error("quit leaves a shell; to stop taskmaster, use shutdown")),
            // The event loop reads the file and hands it over as `Input::Reload`.
            Command::Reload { .. } => Some(Response::error("reload must come with the configuration file")),
            Command::Shutdown if busy => {
                self.shutdown_waiters.push(from);
                None
            }
            Command::Shutdown => {
                self.log(crate::config::LogLevel::Info, "shutdown requested, stopping every process".into());
                self.shutdown_waiters.push(from);
                self.begin_shutdown(now);
                None
            }
            Command::Start(_) | Command::Stop(_) | Command::Restart(_) | Command::Signal(..) if busy => {
                Some(Response::error(format!("{SHUTTING_DOWN}: taskmaster is shutting down")))
            }
            Command::Start(targets) => self.act(from, Verb::Start, &targets, now),
            Command::Stop(targets) => self.act(from, Verb::Stop, &targets, now),
            Command::Restart(targets) => self.act(from, Verb::Restart, &targets, now),
            Command::Signal(signal, targets) => Some(self.signal(signal, &targets)),
        }
    }

    /// The processes named by `targets`, each once, with whether it was named alone; unknown
    /// targets become error items. Linear in the targets and the processes they name: a target
    /// given twice is looked at once.
    fn resolve(&self, targets: &[String]) -> (Vec<(ProcId, bool)>, Vec<Item>) {
        let mut chosen: Vec<(ProcId, bool)> = Vec::new();
        let mut index: HashMap<ProcId, usize> = HashMap::new();
        let mut seen: HashSet<&str> = HashSet::new();
        let mut errors = Vec::new();
        for target in targets {
            if !seen.insert(target.as_str()) {
                continue;
            }
            let found = match self.select(target) {
                Ok(Selection::One(id)) => vec![(id, true)],
                Ok(Selection::Group(ids)) => ids.into_iter().map(|id| (id, false)).collect(),
                Err(message) => {
                    errors.push(Item::settled(target, false, message));
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
        (chosen, errors)
    }

    fn act(&mut self, from: Requester, verb: Verb, targets: &[String], now: Now) -> Option<Response> {
        if self.waits.count(from) >= waits::MAX_WAITS {
            return Some(Response::error(format!(
                "too many commands waiting for their answers on this connection (at most {}); \
                 wait for some of them to finish",
                waits::MAX_WAITS
            )));
        }
        let (chosen, mut items) = self.resolve(targets);
        let mut waiting = Vec::new();
        for (id, alone) in chosen {
            let name = self.procs[&id].name.clone();
            match plan(verb, &self.procs[&id].machine.state) {
                Plan::Act(inputs, goal) => {
                    for input in inputs {
                        self.step(id, input, now);
                    }
                    waiting.push((id, name, goal));
                }
                Plan::Already(message) if alone => items.push(Item::settled(&name, false, message)),
                Plan::Already(_) => {}
            }
        }
        // Registered after the inputs ran, so a restart's own stop does not settle its start.
        for (id, name, goal) in waiting {
            let item = match waits::settled_now(goal, &self.procs[&id].machine.state) {
                Some((ok, message)) => Item::settled(&name, ok, message),
                None => Item::waiting(&name, id, goal),
            };
            items.push(item);
        }
        match self.waits.add(from, items) {
            Some(action) => {
                self.actions.push(action);
                None
            }
            None => None,
        }
    }

    fn signal(&mut self, signal: Signal, targets: &[String]) -> Response {
        let (chosen, mut items) = self.resolve(targets);
        for (id, alone) in chosen {
            let process = &self.procs[&id];
            match process.machine.state.pid() {
                Some(pid) => {
                    items.push(Item::settled(&process.name, true, "signalled"));
                    self.actions.push(Action::Signal { pid, signal, group: false });
                }
                None if alone => items.push(Item::settled(&process.name, false, NOT_RUNNING)),
                None => {}
            }
        }
        waits::response(&items)
    }

    fn status(&self, targets: &[String], now: &Now) -> Response {
        // Without targets: every process, those still retiring after a reload included.
        let (ids, errors) = match targets.is_empty() {
            true => (self.ids_by_name(self.procs.keys().copied()), Vec::new()),
            false => {
                let (chosen, errors) = self.resolve(targets);
                (self.ids_by_name(chosen.into_iter().map(|(id, _)| id)), errors)
            }
        };
        let width = name_width(self.procs.values().map(|p| p.name.as_str()));
        let mut lines: Vec<String> = ids.iter().map(|id| status_line(&self.procs[id], width, now)).collect();
        lines.extend(errors.iter().map(|e| format!("{}: {}", e.name, e.message)));
        lines.extend(self.warnings.iter().map(|w| format!("warning: {w}")));
        let data: Vec<Value> = ids.iter().map(|id| status_json(&self.procs[id], now)).collect();
        Response { ok: errors.is_empty(), output: lines.join("\n"), data: json!(data) }
    }

    fn pid(&self, target: Option<&str>) -> Response {
        let Some(target) = target else {
            return Response::ok(self.own_pid.to_string(), json!(self.own_pid));
        };
        match self.select(target) {
            Ok(Selection::One(id)) => self.pids(&[id]),
            Ok(Selection::Group(ids)) => self.pids(&ids),
            Err(_) => Response::error(format!("{target}: {NO_SUCH_PROCESS}")),
        }
    }

    /// One pid per process (0 when it is not running), as supervisorctl prints them.
    fn pids(&self, ids: &[ProcId]) -> Response {
        let pids: Vec<i32> =
            ids.iter().map(|id| self.procs[id].machine.state.pid().map_or(0, |p| p.as_raw())).collect();
        let text: Vec<String> = pids.iter().map(i32::to_string).collect();
        let data = match pids.as_slice() {
            [one] => json!(one),
            many => json!(many),
        };
        Response::ok(text.join("\n"), data)
    }
}
