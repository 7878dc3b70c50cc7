//! What is counted of each process over its life in this taskmaster, for the metrics
//! (taskmaster(1), METRICS): how often it was started again, and how often it ended when it
//! should not have. Pure: counted from the log events of the steps of its machine, kept by
//! process id, so a process a reload keeps keeps its counts, and one the reload removes takes
//! them away with it. Nothing here reads the clock or talks to the system.

use super::{Now, ProcId, Supervisor};
use crate::metrics::ProcessSample;
use crate::process::{Effect, Event};
use std::collections::HashMap;
use std::time::Duration;

/// The counts of one process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Spawns that succeeded: the first start and every one after it.
    pub(crate) starts: u64,
    /// Ends it was not asked for and its `exitcodes` do not expect, or a death before `starttime`.
    pub(crate) unexpected_exits: u64,
}

impl Tally {
    /// Starts after the first, by taskmaster (autorestart, a retry) or by a command.
    pub(crate) fn restarts(&self) -> u64 {
        self.starts.saturating_sub(1)
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    by_id: HashMap<ProcId, Tally>,
}

impl Counters {
    /// Counts what one step of process `id` did.
    pub(super) fn observe(&mut self, id: ProcId, effects: &[Effect]) {
        for effect in effects {
            let Effect::Log(event) = effect else { continue };
            match event {
                Event::Spawned { .. } => self.by_id.entry(id).or_default().starts += 1,
                Event::Exited { expected: false, .. } => {
                    self.by_id.entry(id).or_default().unexpected_exits += 1;
                }
                _ => {}
            }
        }
    }

    /// A process is forgotten: its counts go with it.
    pub(super) fn forget(&mut self, id: ProcId) {
        self.by_id.remove(&id);
    }

    pub(crate) fn of(&self, id: ProcId) -> Tally {
        self.by_id.get(&id).copied().unwrap_or_default()
    }
}

impl Supervisor {
    /// Every process as the metrics show it at `now`: its state, how long it has run, its counts.
    /// The bytes of its output are the capture's to say (the event loop fills them in).
    pub(crate) fn samples(&self, now: &Now) -> Vec<ProcessSample> {
        self.procs
            .values()
            .map(|p| {
                let view = super::status::view(p, now);
                let tally = self.counters.of(p.id);
                ProcessSample {
                    name: p.name.clone(),
                    program: p.program.clone(),
                    state: view.state,
                    uptime: view.uptime.unwrap_or(Duration::ZERO),
                    restarts: tally.restarts(),
                    unexpected_exits: tally.unexpected_exits,
                    output_bytes: [0, 0],
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::ExitKind;
    use nix::unistd::Pid;

    #[test]
    fn starts_after_the_first_are_restarts_and_unexpected_ends_count() {
        let mut counters = Counters::default();
        let spawned = |pid| Effect::Log(Event::Spawned { pid: Pid::from_raw(pid) });
        let died = |expected| Effect::Log(Event::Exited { exit: ExitKind::Code(1), expected });
        counters.observe(7, &[spawned(10)]);
        assert_eq!(counters.of(7).restarts(), 0, "the first start is no restart");
        counters.observe(7, &[died(false), spawned(11)]);
        counters.observe(7, &[died(true)]);
        assert_eq!(counters.of(7), Tally { starts: 2, unexpected_exits: 1 });
        assert_eq!(counters.of(7).restarts(), 1);
        assert_eq!(counters.of(8), Tally::default());
        counters.forget(7);
        assert_eq!(counters.of(7), Tally::default());
    }
}
