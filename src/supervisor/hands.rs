//! The supervisor's edge: what carries out its actions (`Hands`: the event loop, or the tests'
//! world) and what a spawn is handed.

use super::{Now, ProbeJob, ProcId, Requester, Transition};
use crate::config::{Config, LogLevel, ProgramSpec};
use crate::control::reply::Reply;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::sync::Arc;

/// What carries out the supervisor's actions (see `Supervisor::run`): the event loop, or the
/// tests' world in memory.
pub(crate) trait Hands {
    /// Starts the process `id` as `plan` says; its pid, or why it could not start.
    fn spawn(&mut self, id: ProcId, plan: SpawnPlan) -> Result<Pid, String>;
    fn signal(&mut self, pid: Pid, signal: Signal, group: bool);
    fn log(&mut self, level: LogLevel, message: String);
    fn reply(&mut self, to: Requester, reply: Reply);
    /// A reload was applied: `config` is now in force.
    fn reconfigured(&mut self, config: &Config);
    /// Every process is gone after a shutdown.
    fn exit(&mut self);
    /// The result of the spawn of `id` was handled (its `spawned:` line is logged).
    fn after_spawn(&mut self, _id: ProcId) {}
    /// A process moved in a way an alert may be about.
    fn alert(&mut self, _transition: Transition) {}

    /// Runs probe number `seq` of process `id` (taskmaster(1), ORDER AND HEALTH); its result
    /// comes back as `Input::Probed`.
    fn probe(&mut self, id: ProcId, seq: u64, job: ProbeJob);
    /// The probe under way for `id` is no longer wanted.
    fn cancel_probe(&mut self, id: ProcId);

    /// A process goes by another name from now on (see `Action::Renamed`).
    fn renamed(&mut self, _from: &str, _to: &str) {}
    /// The time now, read again within a turn (after a spawn); `None`: the turn's.
    fn now(&mut self) -> Option<Now> {
        None
    }
}

/// What the event loop needs to spawn a process.
#[derive(Debug, Clone)]
pub(crate) struct SpawnPlan {
    pub(crate) spec: Arc<ProgramSpec>,
    pub(crate) name: String,
    pub(crate) number: u32,
}

impl SpawnPlan {
    /// The variables that tell a process who it is (taskmaster(1), PROCESS STATES): so that
    /// the processes of one program can tell themselves apart, say to pick a port each.
    pub(crate) fn identity(&self) -> [(&'static str, String); 3] {
        [
            ("TASKMASTER_PROCESS_NAME", self.name.clone()),
            ("TASKMASTER_PROGRAM", self.spec.name.clone()),
            ("TASKMASTER_PROCESS_NUM", self.number.to_string()),
        ]
    }
}
