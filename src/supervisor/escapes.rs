//! What a program leaves running when its main process ends (taskmaster(1), PROGRAMS THAT
//! ESCAPE). taskmaster is a child subreaper: a descendant whose parent ended becomes its child.
//! The event loop looks for such orphans after each pass of reaping that took a program's
//! process (or something one left); each is put down to a process: the one whose session or
//! group it is in, else the one process whose end (or whose leftover's end) the pass saw. One
//! nothing can be put down to is a stray, killed at shutdown. What a process left is killed
//! when the process is stopped, started again or removed; what it leaves while it is being
//! stopped is killed at once. An orphan is taskmaster's child, unreaped while it is tracked:
//! its pid, and the group it leads or shares with it, cannot be taken by another process, so
//! killing them by number is safe.

use super::{Action, Due, Now, Phase, ProcId, Supervisor};
use crate::config::LogLevel;
use crate::process::{self, ExitKind, ProcState};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::{BTreeMap, BTreeSet};

/// The longest a spawn waits for what the last run left to be reaped after its SIGKILL.
const HELD_AT_MOST: std::time::Duration = std::time::Duration::from_secs(5);

/// A child of taskmaster's that it did not spawn, as /proc shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Orphan {
    pub(crate) pid: Pid,
    pub(crate) pgrp: Pid,
    pub(crate) session: Pid,
    /// `TASKMASTER_PROCESS_NAME` in the environment it was started with: every process a
    /// program starts inherits it, unless it clears its environment.
    pub(crate) from: Option<String>,
}

/// A process or leftover the pass of reaping took.
struct Ended {
    pid: Pid,
    owner: Owner,
    /// What it leaves is killed at once: it was being stopped, or was killed.
    doomed: bool,
    /// A process's main process, not a leftover.
    main: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Process(ProcId),
    Stray,
}

#[derive(Debug, Clone)]
struct Leftover {
    orphan: Orphan,
    owner: Owner,
    /// Killed: what it leaves in turn is killed too.
    doomed: bool,
}

/// Every orphan taskmaster tracks, by pid.
#[derive(Debug, Clone, Default)]
pub(crate) struct Escapes {
    left: BTreeMap<Pid, Leftover>,
    /// Processes whose leftovers were not said in the log yet (said after their exit's line).
    unsaid: BTreeSet<ProcId>,
    /// Processes whose spawn waits until what their last run left is gone (a port, a lock).
    held: BTreeSet<ProcId>,
}

impl Escapes {
    pub(crate) fn tracks(&self, pid: Pid) -> bool {
        self.left.contains_key(&pid)
    }

    fn any_of(&self, id: ProcId) -> bool {
        self.left.values().any(|l| l.owner == Owner::Process(id))
    }

    /// What `id` left that still runs and was not killed, for `status`.
    pub(crate) fn live_of(&self, id: ProcId) -> Vec<i32> {
        self.left
            .values()
            .filter(|l| l.owner == Owner::Process(id) && !l.doomed)
            .map(|l| l.orphan.pid.as_raw())
            .collect()
    }
}

/// Pids named in one log line at most: a program that leaves thousands is said in a line.
const LISTED: usize = 10;

/// `4243`, `4243, 4250 and 4251`, or the first ten and `and 990 more`.
pub(super) fn listed(pids: &[i32]) -> String {
    let words: Vec<String> = pids.iter().take(LISTED).map(i32::to_string).collect();
    if pids.len() > LISTED {
        return format!("{} and {} more", words.join(", "), pids.len() - LISTED);
    }
    match words.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => words.concat(),
    }
}

impl Supervisor {
    /// Whether the rest of the group of `pid`, which has ended, is killed before it is reaped:
    /// a process being stopped is stopped whole, and so is a leftover already killed.
    pub(crate) fn kills_group_at_death(&self, pid: Pid) -> bool {
        match self.by_pid.get(&pid).and_then(|id| self.procs.get(id)) {
            Some(p) => matches!(p.machine.state, ProcState::Stopping { .. }),
            None => self.escapes.left.get(&pid).is_some_and(|l| l.doomed && l.orphan.pgrp == pid),
        }
    }

    /// Whether taskmaster knows this child: a process's, or one left by one.
    pub(crate) fn knows_child(&self, pid: Pid) -> bool {
        self.by_pid.contains_key(&pid) || self.escapes.tracks(pid)
    }

    /// The orphans found after a pass of reaping that took `deaths`. Comes before that pass's
    /// `Reaped` inputs: a restart they cause kills what was left first.
    pub(super) fn on_left(&mut self, deaths: &[Pid], orphans: &[Orphan]) {
        let ended: Vec<Ended> = deaths.iter().filter_map(|&pid| self.ended(pid)).collect();
        let mut strays = Vec::new();
        for orphan in orphans {
            if self.knows_child(orphan.pid) {
                continue;
            }
            let here = |pid: Pid| orphan.pgrp == pid || orphan.session == pid;
            // The process it says it comes from (its environment), a running process whose
            // session or group it is in (a grandchild whose parent ended), an ended one's.
            let named = orphan.from.as_deref().and_then(|name| self.id_named(name));
            let running =
                self.by_pid.iter().find(|(pid, _)| here(**pid) && !deaths.contains(pid)).map(|(_, id)| *id);
            // Nothing else: an orphan with no name and in no session of theirs may be anyone's
            // (a `docker exec`, a process that cleared its environment): a stray.
            let by_place = ended.iter().find(|e| here(e.pid));
            let owner =
                named.or(running).map(Owner::Process).or(by_place.map(|e| e.owner)).unwrap_or(Owner::Stray);
            let end = ended.iter().find(|e| e.owner == owner && owner != Owner::Stray);
            let doomed = end.is_some_and(|e| e.doomed) || self.is_shutting_down();
            let leftover = Leftover { orphan: orphan.clone(), owner, doomed: false };
            self.escapes.left.insert(orphan.pid, leftover);
            match (owner, doomed) {
                (_, true) => self.kill_pids(&[orphan.pid], owner),
                (Owner::Stray, false) => strays.push(orphan.pid.as_raw()),
                // Said once its main process has exited (after that exit's line); what a tracked
                // leftover hands on is said with that leftover's end.
                (Owner::Process(id), false) => {
                    if running.is_none() && end.is_none_or(|e| e.main) {
                        self.escapes.unsaid.insert(id);
                    }
                }
            }
        }
        self.say_left_of_ended();
        if !strays.is_empty() {
            let message = format!(
                "{} {} left running by a process that ended, which taskmaster cannot tell: killed at shutdown",
                listed(&strays),
                if strays.len() == 1 { "was" } else { "were" }
            );
            self.log(LogLevel::Warn, message);
        }
    }

    /// The process of that name (a retiring one of the same name too).
    fn id_named(&self, name: &str) -> Option<ProcId> {
        self.procs.values().find(|p| p.name == name).map(|p| p.id)
    }

    /// Who an ended pid was, and whether what it leaves is killed at once.
    fn ended(&self, pid: Pid) -> Option<Ended> {
        if let Some(&id) = self.by_pid.get(&pid) {
            let stopping = matches!(self.procs.get(&id)?.machine.state, ProcState::Stopping { .. });
            return Some(Ended { pid, owner: Owner::Process(id), doomed: stopping, main: true });
        }
        let l = self.escapes.left.get(&pid)?;
        Some(Ended { pid, owner: l.owner, doomed: l.doomed, main: false })
    }

    /// Whether the spawn of `id` waits: what it left is killed, and it starts once that is
    /// reaped.
    pub(super) fn hold_spawn(&mut self, id: ProcId, now: Now) -> bool {
        self.kill_left(id, "it starts again");
        let held = self.escapes.any_of(id);
        if held {
            self.escapes.held.insert(id);
            self.timers.set(Due::Held(id), Some(now.mono + HELD_AT_MOST));
        }
        held
    }

    /// A spawn that waited for what the last run left goes on; or is refused and the process
    /// stopped, when its program was removed or taskmaster shuts down meanwhile.
    pub(super) fn release_spawn(&mut self, id: ProcId, now: Now) {
        self.timers.set(Due::Held(id), None);
        let Some(process) = self.procs.get(&id) else { return };
        if !matches!(process.machine.state, ProcState::Spawning { .. }) {
            return;
        }
        let refused = match (self.phase, process.retiring) {
            (Phase::Running, false) => None,
            (Phase::Running, true) => Some("its program was removed"),
            (Phase::ShuttingDown | Phase::Forced | Phase::Done, _) => Some("shutting down"),
        };
        match refused {
            None => {
                self.take_current_spec(id);
                self.actions.push(Action::Spawn { id });
            }
            Some(reason) => self.refuse_spawn(id, reason, now),
        }
    }

    /// A spawn that will not happen: counted as failed, and the retry called off.
    pub(super) fn refuse_spawn(&mut self, id: ProcId, reason: &str, now: Now) {
        self.step(id, &process::Trigger::SpawnFailed { reason: reason.to_string() }, now);
        self.step(id, &process::Trigger::Stop, now);
    }

    /// Spawns held when the shutdown began do not happen.
    pub(super) fn release_held(&mut self, now: Now) {
        for id in std::mem::take(&mut self.escapes.held) {
            self.release_spawn(id, now);
        }
    }

    /// `stop` of a process whose spawn waits: it does not happen. Whether there was one.
    pub(super) fn call_off_held(&mut self, id: ProcId, now: Now) -> bool {
        if !self.escapes.held.remove(&id) {
            return false;
        }
        self.timers.set(Due::Held(id), None);
        self.refuse_spawn(id, "stopped while what its last run left was still there", now);
        true
    }

    /// What the last run left outlived its SIGKILL (a process stuck in the kernel): the
    /// program starts anyway, and that is said.
    pub(super) fn on_held_too_long(&mut self, id: ProcId, now: Now) {
        if !self.escapes.held.remove(&id) {
            return;
        }
        let pids: Vec<i32> = self
            .escapes
            .left
            .values()
            .filter(|l| l.owner == Owner::Process(id))
            .map(|l| l.orphan.pid.as_raw())
            .collect();
        let name = self.procs.get(&id).map(|p| p.name.clone()).unwrap_or_default();
        let message = format!(
            "{} still there {} s after SIGKILL; {name} starts anyway",
            listed(&pids),
            HELD_AT_MOST.as_secs()
        );
        self.log(LogLevel::Warn, message);
        self.release_spawn(id, now);
    }

    /// A leftover was reaped: forgotten, and said unless taskmaster killed it; the spawn that
    /// waited for it goes on.
    pub(super) fn on_leftover_reaped(&mut self, pid: Pid, exit: ExitKind, now: Now) -> bool {
        let Some(leftover) = self.escapes.left.remove(&pid) else { return false };
        if let Owner::Process(id) = leftover.owner
            && !self.escapes.any_of(id)
            && self.escapes.held.remove(&id)
        {
            self.release_spawn(id, now);
        }
        // A daemon that ends on its own is news; one handing over to its child (the middle of a
        // double fork) says who runs on.
        let still = match leftover.owner {
            Owner::Process(id) => self.escapes.live_of(id),
            Owner::Stray => Vec::new(),
        };
        let level = match (leftover.doomed, still.is_empty()) {
            (true, _) => LogLevel::Debug,
            (false, true) => LogLevel::Warn,
            (false, false) => LogLevel::Info,
        };
        let message = match leftover.owner {
            Owner::Process(id) => match (self.procs.get(&id), still.is_empty()) {
                (Some(p), true) => format!("{}: {pid}, which it left running, exited ({exit})", p.name),
                (Some(p), false) => format!(
                    "{}: {pid}, which it left running, exited ({exit}); {} runs on",
                    p.name,
                    listed(&still)
                ),
                (None, _) => format!("{pid}, left running by a removed program, exited ({exit})"),
            },
            Owner::Stray => format!("{pid}, left running by a process that ended, exited ({exit})"),
        };
        self.log(level, message);
        true
    }

    /// The warnings not said yet of processes whose main process has ended (one handed over
    /// later, by a child of theirs that taskmaster never tracked).
    pub(super) fn say_left_of_ended(&mut self) {
        let ended: Vec<ProcId> = self
            .escapes
            .unsaid
            .iter()
            .copied()
            .filter(|id| self.procs.get(id).is_some_and(|p| p.machine.state.pid().is_none()))
            .collect();
        for id in ended {
            self.say_left(id);
        }
    }

    /// The warning for what `id` left when its main process ended, after its exit's line.
    pub(super) fn say_left(&mut self, id: ProcId) {
        if !self.escapes.unsaid.remove(&id) {
            return;
        }
        let pids = self.escapes.live_of(id);
        if let (Some(p), false) = (self.procs.get(&id), pids.is_empty()) {
            let message = format!(
                "{} exited but left {} running (it may have daemonized itself: run it in the foreground)",
                p.name,
                listed(&pids)
            );
            self.log(LogLevel::Warn, message);
        }
    }

    /// Kills what `id` left running (it is stopped, started again or removed), saying `why`;
    /// the pids killed.
    pub(super) fn kill_left(&mut self, id: ProcId, why: &str) -> Vec<i32> {
        self.say_left(id);
        let pids = self.escapes.live_of(id);
        if !pids.is_empty() {
            let name = self.procs.get(&id).map(|p| p.name.clone()).unwrap_or_default();
            self.log(
                LogLevel::Info,
                format!("{name}: killing {}, which it left running ({why})", listed(&pids)),
            );
            let pids: Vec<Pid> = pids.iter().map(|&p| Pid::from_raw(p)).collect();
            self.kill_pids(&pids, Owner::Process(id));
        }
        pids
    }

    /// At shutdown: everything left running, strays too.
    pub(super) fn kill_all_left(&mut self) {
        let owners: BTreeSet<ProcId> = self
            .escapes
            .left
            .values()
            .filter_map(|l| match (l.owner, l.doomed) {
                (Owner::Process(id), false) => Some(id),
                _ => None,
            })
            .collect();
        for id in owners {
            self.kill_left(id, "shutting down");
        }
        let strays: Vec<Pid> = self
            .escapes
            .left
            .values()
            .filter(|l| l.owner == Owner::Stray && !l.doomed)
            .map(|l| l.orphan.pid)
            .collect();
        if !strays.is_empty() {
            let raw: Vec<i32> = strays.iter().map(|p| p.as_raw()).collect();
            self.log(
                LogLevel::Info,
                format!("killing {}, left running by processes that ended", listed(&raw)),
            );
            self.kill_pids(&strays, Owner::Stray);
        }
    }

    /// SIGKILL to these leftovers, and to the groups they lead: what they started in them. What
    /// they leave otherwise is handed over when they die, and killed then.
    fn kill_pids(&mut self, pids: &[Pid], owner: Owner) {
        let mut groups = BTreeSet::new();
        for pid in pids {
            let Some(leftover) = self.escapes.left.get_mut(pid) else { continue };
            leftover.doomed = true;
            leftover.owner = owner;
            let o = leftover.orphan.clone();
            // The group it leads is its own (no other process can have that number while it
            // is unreaped); one it only joined may since be anyone's.
            if o.pgrp == o.pid {
                groups.insert(o.pgrp);
            }
            self.actions.push(Action::Signal { pid: o.pid, signal: Signal::SIGKILL, group: false });
        }
        for group in groups {
            self.actions.push(Action::Signal { pid: group, signal: Signal::SIGKILL, group: true });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::listed;

    #[test]
    fn pids_are_listed_as_a_person_writes_them() {
        assert_eq!(listed(&[4243]), "4243");
        assert_eq!(listed(&[1, 2]), "1 and 2");
        assert_eq!(listed(&[1, 2, 3]), "1, 2 and 3");
        let many: Vec<i32> = (1..=25).collect();
        assert_eq!(listed(&many), "1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 15 more");
    }
}
