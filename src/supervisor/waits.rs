//! Commands that answer only when their processes get somewhere: `start` waits for RUNNING (or
//! the first failure), `stop` for a stopped state. Each pending command keeps one item per
//! process; the reply goes out when the last item is settled.

use super::{Action, ProcId, Requester};
use crate::control::reply::{Outcome, Reply, Verdict};
use crate::process::ProcState;
use std::collections::HashMap;

/// What an item waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Goal {
    Started,
    Stopped,
}

/// One line of a command's answer: `NAME: started`, `NAME: ERROR (not running)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub(crate) name: String,
    /// The process and what it waits for; `None` once settled.
    pub(crate) pending: Option<(ProcId, Goal)>,
    /// Meaningful once settled.
    pub(crate) verdict: Verdict,
    /// Why it is in the answer, or why it failed.
    pub(crate) note: Option<String>,
}

impl Item {
    pub(crate) fn settled(name: &str, verdict: Verdict) -> Item {
        Item { name: name.to_string(), pending: None, verdict, note: None }
    }

    pub(crate) fn waiting(name: &str, id: ProcId, goal: Goal) -> Item {
        Item { name: name.to_string(), pending: Some((id, goal)), verdict: Verdict::Abnormal, note: None }
    }

    pub(crate) fn with_note(mut self, note: Option<String>) -> Item {
        self.note = note;
        self
    }

    fn settle(&mut self, verdict: Verdict) {
        self.pending = None;
        self.verdict = verdict;
    }
}

/// How an item waiting for `goal` is settled by a move from `old` to `new`, if it is.
fn outcome(goal: Goal, old: &ProcState, new: &ProcState) -> Option<Verdict> {
    match (goal, new) {
        (Goal::Started, ProcState::Running { .. }) => Some(Verdict::Started),
        (Goal::Started, ProcState::Backoff { .. } | ProcState::Fatal { .. }) => Some(Verdict::SpawnError),
        (Goal::Started, ProcState::Stopped { .. } | ProcState::Exited { .. }) => Some(Verdict::Abnormal),
        (
            Goal::Started,
            ProcState::Spawning { .. } | ProcState::Starting { .. } | ProcState::Stopping { .. },
        ) => None,
        (Goal::Stopped, ProcState::Stopped { .. } | ProcState::Exited { .. } | ProcState::Fatal { .. }) => {
            Some(Verdict::Stopped)
        }
        // A start that came during the stop: the process did stop before it was started again.
        (
            Goal::Stopped,
            ProcState::Spawning { .. } | ProcState::Starting { .. } | ProcState::Running { .. },
        ) if matches!(old, ProcState::Stopping { .. }) => Some(Verdict::Stopped),
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

#[derive(Debug)]
struct Wait {
    from: Requester,
    items: Vec<Item>,
    /// Items not settled yet.
    pending: usize,
}

/// The commands waiting for their processes, indexed by process and by requester, so that a
/// state change looks only at the waits that concern its process.
#[derive(Debug, Default)]
pub(crate) struct Waits {
    waits: HashMap<u64, Wait>,
    /// For each process, the waits with an item pending on it and that item's place (a stop of
    /// ten thousand must not look through ten thousand items at each death).
    by_process: HashMap<ProcId, Vec<(u64, usize)>>,
    by_requester: HashMap<Requester, Vec<u64>>,
    next: u64,
}

impl Waits {
    /// Registers a command's items; answers at once if none is pending.
    pub(crate) fn add(&mut self, from: Requester, items: Vec<Item>) -> Option<Action> {
        let pending = items.iter().filter(|i| i.pending.is_some()).count();
        let wait = Wait { from, items, pending };
        if pending == 0 {
            return Some(reply(wait));
        }
        let key = self.next;
        self.next += 1;
        for (at, item) in wait.items.iter().enumerate() {
            if let Some((id, _)) = item.pending {
                self.by_process.entry(id).or_default().push((key, at));
            }
        }
        self.by_requester.entry(from).or_default().push(key);
        self.waits.insert(key, wait);
        None
    }

    /// Settles what a process's move settles; returns the replies that are now complete.
    pub(crate) fn observe(&mut self, id: ProcId, old: &ProcState, new: &ProcState) -> Vec<Action> {
        let Some(keys) = self.by_process.remove(&id) else { return Vec::new() };
        let mut still = Vec::new();
        let mut complete = Vec::new();
        for (key, at) in keys {
            let Some(wait) = self.waits.get_mut(&key) else { continue };
            let Some(item) = wait.items.get_mut(at) else { continue };
            if let Some((pid, goal)) = item.pending
                && pid == id
            {
                match outcome(goal, old, new) {
                    Some(verdict) => {
                        item.settle(verdict);
                        wait.pending -= 1;
                    }
                    None => still.push((key, at)),
                }
            }
            if wait.pending == 0 {
                complete.push(key);
            }
        }
        if !still.is_empty() {
            self.by_process.insert(id, still);
        }
        complete.into_iter().filter_map(|key| self.take(key)).map(reply).collect()
    }

    /// Settles every item pending on a process with `verdict` (a queued move that will not
    /// come); returns the replies that are now complete.
    pub(crate) fn settle(&mut self, id: ProcId, verdict: Verdict, note: Option<String>) -> Vec<Action> {
        let Some(keys) = self.by_process.remove(&id) else { return Vec::new() };
        let mut complete = Vec::new();
        for (key, at) in keys {
            let Some(wait) = self.waits.get_mut(&key) else { continue };
            let item = wait.items.get_mut(at).filter(|i| i.pending.is_some_and(|(p, _)| p == id));
            if let Some(item) = item {
                item.settle(verdict);
                if note.is_some() {
                    item.note = note.clone();
                }
                wait.pending -= 1;
            }
            if wait.pending == 0 {
                complete.push(key);
            }
        }
        complete.into_iter().filter_map(|key| self.take(key)).map(reply).collect()
    }

    /// The requester went away: its waits are dropped without a reply.
    pub(crate) fn forget(&mut self, from: Requester) {
        for key in self.by_requester.get(&from).cloned().unwrap_or_default() {
            if let Some(wait) = self.take(key) {
                for (id, _) in wait.items.iter().filter_map(|i| i.pending) {
                    if let Some(keys) = self.by_process.get_mut(&id) {
                        keys.retain(|(k, _)| *k != key);
                        if keys.is_empty() {
                            self.by_process.remove(&id);
                        }
                    }
                }
            }
        }
    }

    /// Removes a wait from the table and from its requester's list.
    fn take(&mut self, key: u64) -> Option<Wait> {
        let wait = self.waits.remove(&key)?;
        if let Some(keys) = self.by_requester.get_mut(&wait.from) {
            keys.retain(|k| *k != key);
            if keys.is_empty() {
                self.by_requester.remove(&wait.from);
            }
        }
        Some(wait)
    }
}

fn reply(wait: Wait) -> Action {
    let outcomes =
        wait.items.into_iter().map(|i| Outcome { name: i.name, verdict: i.verdict, note: i.note }).collect();
    Action::Reply { to: wait.from, reply: Reply::Outcomes(outcomes) }
}
