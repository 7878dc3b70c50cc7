//! Shutting down (taskmaster(1), SIGNALS and EXIT STATUS): every process stops in order, a
//! second terminating signal kills what is left, and the end says whether it was clean.

use super::order::Move;
use super::{Action, LogLevel, Now, Phase, ProcId, Process, Supervisor};
use crate::control::reply::Reply;
use crate::process::{self, ProcState};
use nix::sys::signal::Signal;

impl Supervisor {
    /// Whether the shutdown had to kill a process with SIGKILL.
    pub(crate) fn shutdown_was_forced(&self) -> bool {
        !self.killed_at_shutdown.is_empty()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.phase != Phase::Running
    }

    pub(super) fn on_terminate(&mut self, signal: Signal, now: Now) {
        let name = signal.as_str();
        match self.phase {
            Phase::Running => {
                self.log(LogLevel::Info, format!("received {name}, shutting down"));
                self.begin_shutdown();
            }
            Phase::ShuttingDown => {
                self.log(LogLevel::Warn, format!("received {name} again, killing every process now"));
                self.phase = Phase::Forced;
                self.drop_queue();
                self.kill_all_left();
                self.for_each(&process::Trigger::Kill, now);
            }
            Phase::Forced | Phase::Done => {}
        }
    }

    /// Every process stops, in order: what depends on others and higher priorities first.
    pub(super) fn begin_shutdown(&mut self) {
        self.phase = Phase::ShuttingDown;
        self.drop_queue();
        self.kill_all_left();
        let all: Vec<(ProcId, Move)> = self.procs.keys().map(|id| (*id, Move::Stop)).collect();
        self.enqueue(all);
    }

    fn for_each(&mut self, input: &process::Trigger, now: Now) {
        let ids: Vec<ProcId> = self.procs.keys().copied().collect();
        for id in ids {
            self.step(id, input, now);
        }
    }

    /// After a shutdown, once nothing is alive: exit (answering who asked for it).
    pub(super) fn check_done(&mut self) {
        let idle = |p: &Process| {
            p.machine.state.pid().is_none() && !matches!(p.machine.state, ProcState::Spawning { .. })
        };
        if matches!(self.phase, Phase::ShuttingDown | Phase::Forced) && self.procs.values().all(idle) {
            self.phase = Phase::Done;
            match self.killed_at_shutdown.as_slice() {
                [] => self.log(LogLevel::Info, "shutdown complete".to_string()),
                killed => {
                    let message = format!(
                        "shutdown complete, not clean: {} had to be killed with SIGKILL",
                        killed.join(", ")
                    );
                    self.log(LogLevel::Warn, message);
                }
            }
            for to in std::mem::take(&mut self.shutdown_waiters) {
                self.actions.push(Action::Reply { to, reply: Reply::ShutDown });
            }
            self.actions.push(Action::Exit);
        }
    }
}
