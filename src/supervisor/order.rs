//! Start and stop order (taskmaster(1), ORDER AND HEALTH). What acts on several processes at
//! once (`start all`, autostart, `stop all`, shutdown, reload, and a start or stop that pulls in
//! dependencies) queues its moves as one batch; each move waits at its gate and goes when it
//! opens:
//! - a start waits until every process of the programs it `depends_on` is RUNNING (it fails
//!   when one of them is down for good: STOPPED, EXITED, FATAL), and until the batch's processes
//!   of lower `priority` have left STARTING;
//! - a stop waits until the processes of its batch that depend on it, and those of higher
//!   priority, are gone.
//!
//! Pure, like the rest of the supervisor: the gates are looked at after every input.

use super::{Now, ProcId, Supervisor};
use crate::config::LogLevel;
use crate::control::reply::Verdict;
use crate::process::{self, ProcState, Then};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// The order of the programs of a configuration: each one's priority as the queue uses it (its
/// own, or lower when something that depends on it starts earlier: a dependency never waits
/// for its dependent), what depends on each, and how deep each is in its dependencies.
#[derive(Debug, Default)]
pub(crate) struct Ranks {
    priority: HashMap<String, i32>,
    dependents: HashMap<String, Vec<String>>,
    depth: HashMap<String, usize>,
}

impl Ranks {
    pub(crate) fn of(programs: &BTreeMap<String, crate::config::ProgramSpec>) -> Ranks {
        let mut dependents: HashMap<String, Vec<String>> = HashMap::new();
        for (name, spec) in programs {
            for dep in &spec.depends_on {
                dependents.entry(dep.clone()).or_default().push(name.clone());
            }
        }
        let mut ranks = Ranks { priority: HashMap::new(), dependents, depth: HashMap::new() };
        for name in programs.keys() {
            let mut lowest = programs[name].priority;
            let mut stack = vec![name.as_str()];
            let mut seen = BTreeSet::from([name.as_str()]);
            while let Some(n) = stack.pop() {
                for d in ranks.dependents.get(n).into_iter().flatten() {
                    if seen.insert(d) {
                        lowest = lowest.min(programs.get(d).map_or(lowest, |s| s.priority));
                        stack.push(d);
                    }
                }
            }
            ranks.priority.insert(name.clone(), lowest);
        }
        for name in programs.keys() {
            let depth = depth_of(programs, name, &mut ranks.depth, 0);
            ranks.depth.insert(name.clone(), depth);
        }
        ranks
    }

    /// `names` in the order they start: priority, then dependencies first, then by name.
    pub(crate) fn start_order(&self, names: &[String]) -> Vec<String> {
        let mut sorted = names.to_vec();
        sorted.sort_by_key(|n| {
            (self.priority.get(n).copied().unwrap_or(0), self.depth.get(n).copied().unwrap_or(0), n.clone())
        });
        sorted.dedup();
        sorted
    }

    /// `names` in the order they stop: the start order reversed.
    pub(crate) fn stop_order(&self, names: &[String]) -> Vec<String> {
        let mut sorted = self.start_order(names);
        sorted.reverse();
        sorted
    }

    /// The stop order of a reload's `names`: those `kept` by the `new` order, the others (removed)
    /// by the `old` one they ran under.
    pub(crate) fn stop_order_across(
        old: &Ranks,
        new: &Ranks,
        names: &[String],
        kept: &dyn Fn(&str) -> bool,
    ) -> Vec<String> {
        let key = |n: &String| {
            let ranks = if kept(n) { new } else { old };
            (ranks.priority.get(n).copied().unwrap_or(0), ranks.depth.get(n).copied().unwrap_or(0), n.clone())
        };
        let mut sorted = names.to_vec();
        sorted.sort_by_key(key);
        sorted.dedup();
        sorted.reverse();
        sorted
    }
}

/// The longest chain of dependencies under a program (0: it depends on nothing). Configurations
/// have no cycles; `guard` bounds the walk all the same.
fn depth_of(
    programs: &BTreeMap<String, crate::config::ProgramSpec>,
    name: &str,
    known: &mut HashMap<String, usize>,
    guard: usize,
) -> usize {
    if let Some(depth) = known.get(name) {
        return *depth;
    }
    let Some(spec) = programs.get(name).filter(|_| guard < programs.len()) else { return 0 };
    let depth =
        spec.depends_on.iter().map(|d| depth_of(programs, d, known, guard + 1) + 1).max().unwrap_or(0);
    known.insert(name.to_string(), depth);
    depth
}

/// What a queued process is to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Move {
    Start,
    Stop,
    /// A restart: stop (after its dependents), then start (after its dependencies).
    StopThenStart,
}

#[derive(Debug, Clone, Copy)]
struct Queued {
    step: Move,
    batch: u64,
}

/// The moves waiting at their gates, and the batches' moves under way.
#[derive(Debug, Default)]
pub(super) struct Queue {
    queued: BTreeMap<ProcId, Queued>,
    /// Per batch, the processes released whose move is not over (still STARTING, still alive).
    released: HashMap<u64, HashSet<ProcId>>,
    next_batch: u64,
}

impl Queue {
    pub(super) fn holds(&self, id: ProcId) -> bool {
        self.queued.contains_key(&id)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queued.is_empty()
    }

    pub(super) fn move_of(&self, id: ProcId) -> Option<Move> {
        self.queued.get(&id).map(|q| q.step)
    }

    pub(super) fn forget(&mut self, id: ProcId) {
        self.queued.remove(&id);
        for members in self.released.values_mut() {
            members.remove(&id);
        }
    }

    pub(super) fn clear(&mut self) {
        self.queued.clear();
        self.released.clear();
    }
}

/// Per batch, what its gates compare with (computed once per pass over the queue).
#[derive(Debug, Clone, Copy)]
struct Summary {
    /// The lowest priority of a member that is still to start, or still STARTING.
    min_start: i32,
    /// The highest priority of a member that is still to stop, or not gone yet.
    max_stop: i32,
}

/// One pass over the queue: the batches' summaries, and the (batch, program) pairs that some
/// member still to stop depends on.
struct Pass {
    summaries: HashMap<u64, Summary>,
    held: HashSet<(u64, String)>,
}

/// Whether a move may go.
enum Gate {
    Go,
    Wait,
    /// A start that can never come: a dependency is down for good (the text says which).
    Fail(String),
}

/// A process alive, or about to be.
fn alive(state: &ProcState) -> bool {
    state.pid().is_some() || matches!(state, ProcState::Spawning { .. })
}

/// Every program reached from `names` by `next` (not among them), each with the one it was
/// reached from.
fn reach(names: &BTreeSet<String>, next: impl Fn(&str) -> Vec<String>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack: Vec<String> = names.iter().cloned().collect();
    let mut seen: BTreeSet<String> = names.clone();
    while let Some(name) = stack.pop() {
        for other in next(&name) {
            if seen.insert(other.clone()) {
                found.push((other.clone(), name.clone()));
                stack.push(other);
            }
        }
    }
    found
}

/// Down for good: nothing will start it again on its own.
fn down(state: &ProcState) -> bool {
    matches!(
        state,
        ProcState::Stopped { .. }
            | ProcState::Exited { restart_at: None, .. }
            | ProcState::Fatal { .. }
            | ProcState::Stopping { then: Then::Stay, .. }
    )
}

/// A move released is over: the process has left STARTING, or is gone after a stop.
fn settled(state: &ProcState) -> bool {
    !matches!(state, ProcState::Spawning { .. } | ProcState::Starting { .. } | ProcState::Stopping { .. })
}

impl Supervisor {
    /// Queues `moves` as one batch; they go as their gates open (see the module comment).
    pub(super) fn enqueue(&mut self, moves: Vec<(ProcId, Move)>) {
        let batch = self.queue.next_batch;
        self.queue.next_batch += 1;
        for (id, step) in moves {
            self.queue.queued.insert(id, Queued { step, batch });
            if let Some(process) = self.procs.get_mut(&id) {
                process.blocked = None;
            }
        }
    }

    /// Lets go every move whose gate is open, and fails the starts that never can go; again
    /// until nothing moves (a stop of a process already down opens the next gate at once).
    pub(super) fn advance(&mut self, now: Now) {
        while !self.queue.queued.is_empty() {
            let ids: Vec<ProcId> = self.queue.queued.keys().copied().collect();
            let pass = self.pass();
            let mut moved = false;
            for id in ids {
                let Some(queued) = self.queue.queued.get(&id).copied() else { continue };
                match self.gate(id, queued, &pass) {
                    Gate::Wait => continue,
                    Gate::Go => self.release(id, queued, now),
                    Gate::Fail(why) => self.fail(id, &why),
                }
                moved = true;
            }
            let procs = &self.procs;
            for members in self.queue.released.values_mut() {
                members.retain(|id| procs.get(id).is_some_and(|p| !settled(&p.machine.state)));
            }
            self.queue.released.retain(|_, members| !members.is_empty());
            if !moved && !self.unjam(&pass, now) {
                break;
            }
        }
    }

    /// Priorities of programs removed by a reload (the order they ran under) and of those kept
    /// (the new order) may cross where they depend on each other, and each stop then waits for
    /// the other. Where a batch has nothing under way and no stop may go, the one that nothing
    /// in it depends on goes: dependencies win over priorities. Whether one went.
    fn unjam(&mut self, pass: &Pass, now: Now) -> bool {
        let stuck = self
            .queue
            .queued
            .iter()
            .find(|(_, q)| q.step != Move::Start && !self.queue.released.contains_key(&q.batch));
        let free = self.queue.queued.iter().find(|(id, q)| {
            q.step != Move::Start
                && Some(q.batch) == stuck.map(|(_, s)| s.batch)
                && self.procs.get(id).is_some_and(|p| !pass.held.contains(&(q.batch, p.program.clone())))
        });
        match free.map(|(id, q)| (*id, *q)) {
            Some((id, queued)) => {
                self.release(id, queued, now);
                true
            }
            None => false,
        }
    }

    fn release(&mut self, id: ProcId, queued: Queued, now: Now) {
        self.queue.queued.remove(&id);
        self.queue.released.entry(queued.batch).or_default().insert(id);
        match queued.step {
            Move::Start => self.step(id, &process::Trigger::Start, now),
            Move::Stop => self.step(id, &process::Trigger::Stop, now),
            Move::StopThenStart => {
                // Queued again to start: until then its answer waits (see `waits`).
                self.queue.queued.insert(id, Queued { step: Move::Start, batch: queued.batch });
                self.step(id, &process::Trigger::Stop, now);
                self.take_current_spec(id);
            }
        }
    }

    /// Every queued move is called off (a shutdown begins): what waited for one is answered.
    pub(super) fn drop_queue(&mut self) {
        let ids: Vec<ProcId> = self.queue.queued.keys().copied().collect();
        self.queue.clear();
        for id in ids {
            let replies = self.waits.settle(id, Verdict::Abnormal, None);
            self.actions.extend(replies);
        }
    }

    /// Adds to `moves` the starts of what their starts depend on and is down, each with the
    /// program that needs it; returns those (process, note) for the answer.
    pub(super) fn pull_dependencies(&mut self, moves: &mut Vec<(ProcId, Move)>) -> Vec<(ProcId, String)> {
        let starting: BTreeSet<String> = moves
            .iter()
            .filter(|(_, m)| *m != Move::Stop)
            .filter_map(|(id, _)| self.procs.get(id).map(|p| p.program.clone()))
            .collect();
        let mut pulled = Vec::new();
        for (dep, needed_by) in self.dependencies_of(&starting) {
            let note = format!("{needed_by} depends on it");
            for id in self.programs.get(&dep).map(|p| p.procs.clone()).unwrap_or_default() {
                let down = self.procs.get(&id).is_some_and(|p| down(&p.machine.state));
                if down && !self.queue.holds(id) && !moves.iter().any(|(m, _)| *m == id) {
                    moves.push((id, Move::Start));
                    pulled.push((id, note.clone()));
                }
            }
        }
        pulled
    }

    /// A start of `programs` calls off the queued stops of what they depend on: what a running
    /// program needs is not stopped under it. Those stops are answered as called off.
    pub(super) fn keep_dependencies(&mut self, programs: &BTreeSet<String>) {
        for (dep, _) in self.dependencies_of(programs) {
            for id in self.programs.get(&dep).map(|p| p.procs.clone()).unwrap_or_default() {
                if self.queue.move_of(id) == Some(Move::Stop) {
                    self.queue.forget(id);
                    let replies = self.waits.settle(id, Verdict::Abnormal, None);
                    self.actions.extend(replies);
                }
            }
        }
    }

    /// Adds to `moves` the stops (or, with `restart`, the restarts) of what depends on the
    /// programs they stop and is running or about to; returns those (process, note).
    pub(super) fn pull_dependents(
        &mut self,
        moves: &mut Vec<(ProcId, Move)>,
        restart: bool,
    ) -> Vec<(ProcId, String)> {
        let stopping: BTreeSet<String> = moves
            .iter()
            .filter(|(_, m)| *m != Move::Start)
            .filter_map(|(id, _)| self.procs.get(id).map(|p| p.program.clone()))
            .collect();
        let mut pulled = Vec::new();
        for (other, on) in self.dependents_of(&stopping) {
            let Some(program) = self.programs.get(&other) else { continue };
            let note = format!("it depends on {on}");
            for id in program.procs.clone() {
                let up = self.procs.get(&id).is_some_and(|p| super::reload::wanted(&p.machine.state));
                if up && !moves.iter().any(|(m, _)| *m == id) {
                    self.queue.forget(id);
                    moves.push((id, if restart { Move::StopThenStart } else { Move::Stop }));
                    pulled.push((id, note.clone()));
                }
            }
        }
        pulled
    }

    fn fail(&mut self, id: ProcId, why: &str) {
        self.queue.queued.remove(&id);
        let Some(process) = self.procs.get_mut(&id) else { return };
        process.blocked = Some(why.to_string());
        let name = process.name.clone();
        self.log(LogLevel::Warn, format!("not starting {name}: {why}"));
        let replies = self.waits.settle(id, Verdict::DependencyFailed, Some(why.to_string()));
        self.actions.extend(replies);
    }

    /// What the gates of one pass compare with.
    fn pass(&self) -> Pass {
        let mut summaries: HashMap<u64, Summary> = HashMap::new();
        let mut held: HashSet<(u64, String)> = HashSet::new();
        // What a member still to stop, or still alive after its stop, depends on, by the
        // definition it runs with (a removed program's too): those stop after it.
        let mut hold = |batch: u64, id: ProcId| {
            for dep in self.procs.get(&id).map_or(&[][..], |p| &p.spec.depends_on[..]) {
                held.insert((batch, dep.clone()));
            }
        };
        let mut add = |batch: u64, priority: i32, start: bool, stop: bool| {
            let s = summaries.entry(batch).or_insert(Summary { min_start: i32::MAX, max_stop: i32::MIN });
            if start {
                s.min_start = s.min_start.min(priority);
            }
            if stop {
                s.max_stop = s.max_stop.max(priority);
            }
        };
        // A restart still to come is a start to come as well as a stop. A start that waits for
        // its dependencies holds no one back: one of them may be failing for a long while.
        for (id, q) in &self.queue.queued {
            let start = q.step != Move::Stop && self.dependencies_up(*id);
            add(q.batch, self.priority_of(*id), start, q.step != Move::Start);
            if q.step != Move::Start {
                hold(q.batch, *id);
            }
        }
        for (batch, members) in &self.queue.released {
            for id in members {
                let Some(p) = self.procs.get(id) else { continue };
                let state = &p.machine.state;
                let starting = matches!(
                    state,
                    ProcState::Spawning { .. }
                        | ProcState::Starting { .. }
                        | ProcState::Stopping { then: Then::Start | Then::Retry { .. }, .. }
                );
                add(*batch, self.priority_of(*id), starting, alive(state) && !starting);
                if alive(state) && !starting {
                    hold(*batch, *id);
                }
            }
        }
        Pass { summaries, held }
    }

    fn gate(&self, id: ProcId, queued: Queued, pass: &Pass) -> Gate {
        let Some(summary) = pass.summaries.get(&queued.batch).copied() else { return Gate::Wait };
        let Some(process) = self.procs.get(&id) else { return Gate::Go };
        let priority = self.priority_of(id);
        match queued.step {
            Move::Start => {
                for dep in &self.spec_of(id).depends_on {
                    for q in self.programs.get(dep).map_or(&[][..], |p| &p.procs[..]) {
                        let Some(other) = self.procs.get(q) else { continue };
                        match &other.machine.state {
                            // A dependency that is itself to move (restarted, say) first moves.
                            _ if self.queue.holds(*q) => return Gate::Wait,
                            ProcState::Running { .. } => {}
                            ProcState::Spawning { .. }
                            | ProcState::Starting { .. }
                            | ProcState::Backoff { .. }
                            | ProcState::Exited { restart_at: Some(_), .. }
                            | ProcState::Stopping { then: Then::Start | Then::Retry { .. }, .. } => {
                                return Gate::Wait;
                            }
                            state @ (ProcState::Stopped { .. }
                            | ProcState::Exited { restart_at: None, .. }
                            | ProcState::Fatal { .. }
                            | ProcState::Stopping { then: Then::Stay, .. }) => {
                                let state = state.name().as_str();
                                return Gate::Fail(match other.name == *dep {
                                    true => format!("it depends on {dep}, which is {state}"),
                                    false => format!("it depends on {dep}, whose {} is {state}", other.name),
                                });
                            }
                        }
                    }
                }
                match summary.min_start < priority {
                    true => Gate::Wait,
                    false => Gate::Go,
                }
            }
            Move::Stop | Move::StopThenStart => {
                let held = pass.held.contains(&(queued.batch, process.program.clone()));
                match held || summary.max_stop > priority {
                    true => Gate::Wait,
                    false => Gate::Go,
                }
            }
        }
    }

    /// Whether every process of every program `id` depends on is RUNNING, with no move to come.
    fn dependencies_up(&self, id: ProcId) -> bool {
        self.spec_of(id).depends_on.iter().all(|dep| {
            self.programs.get(dep).is_none_or(|p| {
                p.procs.iter().all(|q| {
                    !self.queue.holds(*q)
                        && self
                            .procs
                            .get(q)
                            .is_none_or(|o| matches!(o.machine.state, ProcState::Running { .. }))
                })
            })
        })
    }

    /// The definition that orders a process: its program's, or its own once removed.
    fn spec_of(&self, id: ProcId) -> &crate::config::ProgramSpec {
        let process = &self.procs[&id];
        match self.programs.get(&process.program).filter(|_| !process.retiring) {
            Some(program) => &program.spec,
            None => &process.spec,
        }
    }

    /// The priority the queue orders a process by (see `Ranks`); a removed program's is the one
    /// it ran under.
    fn priority_of(&self, id: ProcId) -> i32 {
        let Some(process) = self.procs.get(&id) else { return 0 };
        let ranks = match process.retiring {
            true => &self.retired_ranks,
            false => &self.ranks,
        };
        ranks.priority.get(&process.program).copied().unwrap_or(process.spec.priority)
    }

    /// The programs `names` depend on, directly or not, that are not among them, each with the
    /// program that needs it, in the order they start (dependencies first).
    pub(super) fn dependencies_of(&self, names: &BTreeSet<String>) -> Vec<(String, String)> {
        let next =
            |name: &str| self.programs.get(name).map(|p| p.spec.depends_on.clone()).unwrap_or_default();
        let mut found = reach(names, next);
        let order = self.ranks.start_order(&found.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>());
        found.sort_by_key(|(d, _)| order.iter().position(|o| o == d));
        found
    }

    /// The programs that depend on `names`, directly or not, that are not among them, each with
    /// the one it depends on, in the order they stop (dependents first).
    pub(super) fn dependents_of(&self, names: &BTreeSet<String>) -> Vec<(String, String)> {
        let next = |name: &str| self.ranks.dependents.get(name).cloned().unwrap_or_default();
        let mut found = reach(names, next);
        let order = self.ranks.stop_order(&found.iter().map(|(d, _)| d.clone()).collect::<Vec<_>>());
        found.sort_by_key(|(d, _)| order.iter().position(|o| o == d));
        found
    }

    /// What a queued process waits for, as `status` says it.
    pub(super) fn queue_note(&self, id: ProcId) -> Option<String> {
        let queued = self.queue.queued.get(&id)?;
        let note = match queued.step {
            Move::Start => {
                let waiting_for = self.spec_of(id).depends_on.iter().find(|dep| {
                    self.programs.get(*dep).is_some_and(|p| {
                        p.procs.iter().any(|q| {
                            self.procs
                                .get(q)
                                .is_some_and(|o| !matches!(o.machine.state, ProcState::Running { .. }))
                        })
                    })
                });
                match waiting_for {
                    Some(dep) => format!("waiting for {dep} to be RUNNING"),
                    None => "waiting for lower priorities to start".to_string(),
                }
            }
            Move::Stop | Move::StopThenStart => "waiting for what depends on it to stop".to_string(),
        };
        Some(note)
    }
}
