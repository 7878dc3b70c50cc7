//! Reaping (taskmaster(1), PROGRAMS THAT ESCAPE): every child that ended is reaped, the rest of
//! a stopped one's group killed first and its output drained; then what the ended ones left
//! running is looked for among taskmaster's children and handed to the supervisor.

use super::Daemon;
use crate::config::LogLevel;
use crate::supervisor::{Hands, Input, Now};
use crate::sys;
use nix::unistd::Pid;
use std::time::Duration;

/// An orphan whose environment could not be read is looked at again after this, ...
const ORPHAN_LOOK_AGAIN: Duration = Duration::from_millis(50);
/// ... this many times, then taken without a name.
const ORPHAN_LOOKS: u32 = 10;
impl Daemon {
    /// Reaps every dead child: the rest of a stopped one's group is killed first, its output
    /// drained; then what the ended ones left running is looked for (taskmaster(1), PROGRAMS
    /// THAT ESCAPE).
    pub(super) fn reap(&mut self, now: Now) {
        let mut reaped = Vec::new();
        let (sup, alerting, probes) = (&self.sup, &self.io.alerting, &self.io.probes);
        let kill_group = |pid| sup.kills_group_at_death(pid) || alerting.owns(pid) || probes.owns_pid(pid);
        sys::reap::reap_all(kill_group, |pid, exit| reaped.push((pid, exit)));
        // Any end but a probe's or an alert helper's may hand orphans over: a program's process,
        // a leftover, or a child of a program's that was itself handed over unseen.
        let (alerting, probes) = (&self.io.alerting, &self.io.probes);
        let deaths: Vec<Pid> = reaped
            .iter()
            .map(|(pid, _)| *pid)
            .filter(|&pid| !alerting.owns(pid) && !probes.owns_pid(pid))
            .collect();
        // Groups that ended first: an orphan may take its group's number on (a double fork).
        for (pid, _) in &reaped {
            if let Some(problem) = self.io.setup.groups.ended(pid.as_raw()) {
                self.io.log.log(LogLevel::Error, &problem);
            }
        }
        if !deaths.is_empty() {
            self.look_for_orphans(deaths, 0, now);
        }
        for (pid, exit) in reaped {
            let io = &mut self.io;
            let mut problems = Vec::new();
            io.capture.drain(io.poll.registry(), pid, now, &mut problems);
            self.pass_output();
            self.on_attached_exit(pid, exit);
            let io = &mut self.io;
            if io.probes.owns_pid(pid) {
                io.log_all(LogLevel::Error, problems);
                io.probes.on_reaped(pid, exit, &mut io.capture);
                continue;
            }
            if io.alerting.owns(pid) {
                io.log_all(LogLevel::Error, problems);
                for (to, reply) in io.alerting.on_reaped(pid, exit, now, &mut io.capture.tails, &io.log) {
                    io.reply(to, reply);
                }
                continue;
            }
            io.log_all(LogLevel::Error, problems);
            self.apply(Input::Reaped { pid, exit }, now);
            self.end_follows_of_removed();
        }
        if self.io.probes.has_answers() {
            self.apply(Input::Tick, now);
        }
    }

    /// Hands the supervisor the orphans the ends of `deaths` left (taskmaster(1), PROGRAMS THAT
    /// ESCAPE), and records them for the next taskmaster. One whose environment cannot be read
    /// yet (in the middle of an exec, or on its way out) is looked at again a moment later, a
    /// few times, then taken as it is.
    pub(super) fn look_for_orphans(&mut self, deaths: Vec<Pid>, attempt: u32, now: Now) {
        let (found, unsure) = self.orphans(&deaths, attempt >= ORPHAN_LOOKS);
        self.io.orphan_look = unsure.then_some((now.mono + ORPHAN_LOOK_AGAIN, attempt + 1));
        if found.is_empty() && deaths.is_empty() {
            return;
        }
        for (orphan, start) in &found {
            if let Some(problem) = self.io.setup.groups.adopted(orphan.pid.as_raw(), *start) {
                self.io.log.log(LogLevel::Error, &problem);
            }
        }
        let orphans = found.into_iter().map(|(orphan, _)| orphan).collect();
        self.apply(Input::Left { deaths, orphans }, now);
    }

    /// taskmaster's children that nothing of it spawned and that it does not track yet, with
    /// their start times; and whether some were left out for now (their environment unread),
    /// unless `last`.
    fn orphans(&self, deaths: &[Pid], last: bool) -> (Vec<(crate::supervisor::Orphan, u64)>, bool) {
        let Some(children) = sys::reap::children() else { return (Vec::new(), false) };
        let (sup, io) = (&self.sup, &self.io);
        let known = |pid| {
            sup.knows_child(pid) || io.alerting.owns(pid) || io.probes.owns_pid(pid) || deaths.contains(&pid)
        };
        let mut unsure = false;
        let found = children
            .into_iter()
            .filter(|&pid| !known(pid))
            .filter_map(|pid| {
                // A zombie is reaped in the next pass: it leaves nothing to track.
                let (info, _) = crate::leftovers::info(pid.as_raw()).filter(|(_, state)| *state != 'Z')?;
                let (pgrp, session) = (Pid::from_raw(info.pgrp), Pid::from_raw(info.session));
                let from = match (process_name_in_environ(pid), last) {
                    (Some(from), _) => from,
                    (None, true) => None,
                    (None, false) => {
                        unsure = true;
                        return None;
                    }
                };
                Some((crate::supervisor::Orphan { pid, pgrp, session, from }, info.start))
            })
            .collect();
        (found, unsure)
    }
}

/// `TASKMASTER_PROCESS_NAME` in the environment a process was started with, read from the first
/// 64 KiB of `/proc/PID/environ`; `None` while there is nothing to read: in the middle of an
/// exec, on its way out, or (rarely) an environment it emptied.
fn process_name_in_environ(pid: Pid) -> Option<Option<String>> {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(format!("/proc/{pid}/environ")) else { return None };
    let mut environ = Vec::new();
    if file.take(64 * 1024).read_to_end(&mut environ).is_err() || environ.is_empty() {
        return None;
    }
    Some(
        environ
            .split(|&b| b == 0)
            .find_map(|entry| entry.strip_prefix(b"TASKMASTER_PROCESS_NAME="))
            .map(|name| String::from_utf8_lossy(name).into_owned()),
    )
}
