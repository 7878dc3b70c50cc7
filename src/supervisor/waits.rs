//! Commands that answer only when their processes get somewhere: `start` waits for RUNNING (or
//! the first failure), `stop` for a stopped state. Each pending command keeps one item per
//! process; the reply goes out when the last item is settled.

use super::{Action, ProcId, Requester};
use crate::control::protocol::Response;
use crate::process::ProcState;
use serde_json::json;

/// What an item waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    Started,
    Stopped,
}

/// One line of a command's answer: `NAME: started`, `NAME: ERROR (not running)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub name: String,
    /// The process and what it waits for; `None` once settled.
    pub pending: Option<(ProcId, Goal)>,
    pub ok: bool,
    pub message: String,
}

impl Item {
    pub fn settled(name: &str, ok: bool, message: &str) -> Item {
        Item { name: name.to_string(), pending: None, ok, message: message.to_string() }
    }

    pub fn waiting(name: &str, id: ProcId, goal: Goal) -> Item {
        Item { name: name.to_string(), pending: Some((id, goal)), ok: false, message: String::new() }
    }

    fn settle(&mut self, ok: bool, message: &str) {
        self.pending = None;
        self.ok = ok;
        self.message = message.to_string();
    }
}

pub const STARTED: &str = "started";
pub const STOPPED: &str = "stopped";
pub const SPAWN_ERROR: &str = "ERROR (spawn error)";
pub const ABNORMAL: &str = "ERROR (abnormal termination)";

/// How an item waiting for `goal` is settled by a move from `old` to `new`, if it is.
fn outcome(goal: Goal, old: &ProcState, new: &ProcState) -> Option<(bool, &'static str)> {
    match (goal, new) {
        (Goal::Started, ProcState::Running { .. }) => Some((true, STARTED)),
        (Goal::Started, ProcState::Backoff { .. } | ProcState::Fatal { .. }) => Some((false, SPAWN_ERROR)),
        (Goal::Started, ProcState::Stopped { .. } | ProcState::Exited { .. }) => Some((false, ABNORMAL)),
        (
            Goal::Started,
            ProcState::Spawning { .. } | ProcState::Starting { .. } | ProcState::Stopping { .. },
        ) => None,
        (Goal::Stopped, ProcState::Stopped { .. } | ProcState::Exited { .. } | ProcState::Fatal { .. }) => {
            Some((true, STOPPED))
        }
        // A start that came during the stop: the process did stop before it was started again.
        (
            Goal::Stopped,
            ProcState::Spawning { .. } | ProcState::Starting { .. } | ProcState::Running { .. },
        ) if matches!(old, ProcState::Stopping { .. }) => Some((true, STOPPED)),
        (
            Goal::Stopped,
            ProcState::Spawning { .. }
            | ProcState::Starting { .. }
            | ProcState::Running { .. }
            | ProcState::Backoff { .. }
            | ProcState::Stopping { .. },
        ) => None,
    }
}

/// Whether `state` already satisfies `goal` (for items registered after their inputs ran).
pub fn settled_now(goal: Goal, state: &ProcState) -> Option<(bool, &'static str)> {
    outcome(goal, state, state)
}

#[derive(Debug)]
struct Wait {
    from: Requester,
    items: Vec<Item>,
}

#[derive(Debug, Default)]
pub struct Waits {
    waits: Vec<Wait>,
}

impl Waits {
    /// Registers a command's items; answers at once if none is pending.
    pub fn add(&mut self, from: Requester, items: Vec<Item>) -> Option<Action> {
        let wait = Wait { from, items };
        match wait.items.iter().any(|i| i.pending.is_some()) {
            true => {
                self.waits.push(wait);
                None
            }
            false => Some(reply(wait)),
        }
    }

    /// Settles what a process's move settles; returns the replies that are now complete.
    pub fn observe(&mut self, id: ProcId, old: &ProcState, new: &ProcState) -> Vec<Action> {
        for wait in &mut self.waits {
            for item in &mut wait.items {
                if let Some((pid, goal)) = item.pending
                    && pid == id
                    && let Some((ok, message)) = outcome(goal, old, new)
                {
                    item.settle(ok, message);
                }
            }
        }
        self.take_complete()
    }

    /// The requester went away: its waits are dropped without a reply.
    pub fn forget(&mut self, from: Requester) {
        self.waits.retain(|w| w.from != from);
    }

    fn take_complete(&mut self) -> Vec<Action> {
        let (done, pending): (Vec<Wait>, Vec<Wait>) = std::mem::take(&mut self.waits)
            .into_iter()
            .partition(|w| w.items.iter().all(|i| i.pending.is_none()));
        self.waits = pending;
        done.into_iter().map(reply).collect()
    }
}

/// The answer of a start/stop/restart/signal command: one line per item.
pub fn response(items: &[Item]) -> Response {
    let output: Vec<String> = items.iter().map(|i| format!("{}: {}", i.name, i.message)).collect();
    let data: Vec<_> =
        items.iter().map(|i| json!({"name": i.name, "ok": i.ok, "message": i.message})).collect();
    Response { ok: items.iter().all(|i| i.ok), output: output.join("\n"), data: json!(data) }
}

fn reply(wait: Wait) -> Action {
    Action::Reply { to: wait.from, response: response(&wait.items) }
}
