//! Everything of the event loop but the supervisor: the sources it polls and the hands that
//! carry out the supervisor's actions (`Hands`): spawning with the output files and pipes,
//! signalling, logging, answering the console or a client, applying a reload's own settings.

use super::{LISTENER, METRICS, RESERVED_FDS, SPAWN_FDS, Setup, take_token};
use crate::config::{Config, DaemonSpec, LogLevel};
use crate::control::render;
use crate::control::reply::Reply;
use crate::control::server::Server;
use crate::control::socket_file::Access;
use crate::logging::{Console, Logging};
use crate::output::Capture;
use crate::shell::Typist;
use crate::shell::complete::target_names;
use crate::shell::session::Session;
use crate::supervisor::{Hands, ProbeJob, ProcId, Requester, SpawnPlan};
use crate::sys;
use crate::sys::spawn::ChildOutput;
use crate::tail::Stream::{Stderr, Stdout};
use mio::{Poll, Token};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use signal_hook_mio::v1_0::Signals;
use std::collections::HashMap;
use std::sync::Arc;

pub(super) struct Io {
    pub(super) setup: Setup,
    /// The daemon's own settings in force (log file, socket, history).
    pub(super) daemon: DaemonSpec,
    pub(super) poll: Poll,
    pub(super) signals: Signals,
    pub(super) server: Server,
    pub(super) capture: Capture,
    pub(super) alerting: super::alerting::Alerting,
    /// Who follows or is attached to which process, and the processes' terminals.
    pub(super) attach: super::attaching::Attachments,
    pub(super) log: Logging,
    pub(super) typist: Typist,
    /// What is typed at taskmaster's own shell (or piped to it) and its answers.
    pub(super) session: Session,
    /// Where the log and the answers are shown, flushed when the terminal takes more.
    pub(super) console: Arc<dyn Console>,
    /// Colour the answers printed on the console.
    pub(super) color: bool,
    /// Standard input cannot be watched (a regular file, /dev/zero): it is read a budget a turn.
    pub(super) stdin_unwatched: bool,
    /// Descriptors open once set up, before any process or client.
    pub(super) baseline_fds: usize,
    pub(super) next_token: usize,
    /// Sources whose read budget ran out: read them again next turn.
    pub(super) hot: Vec<Token>,
    /// Sources a long turn had no time for: first in the next.
    pub(super) deferred: Vec<Token>,
    /// stdin was not read when it had input, since lines read before still waited to run.
    pub(super) stdin_unread: bool,
    /// The shell runs in the background: when to look whether its terminal is back.
    pub(super) foreground_check: Option<std::time::Instant>,
    /// Log lines of the spawns under way, for after their `spawned:` lines.
    pub(super) spawn_problems: HashMap<ProcId, Vec<String>>,
    /// Ready and health probes under way (taskmaster(1), ORDER AND HEALTH).
    pub(super) probes: super::probing::Probes,
    /// When to look again for orphans whose environment could not be read, and how many looks
    /// were made (taskmaster(1), PROGRAMS THAT ESCAPE).
    pub(super) orphan_look: Option<(std::time::Instant, u32)>,
    /// What of the last reload's settings could not be bound, for its answer.
    pub(super) reload_problems: Vec<String>,
    /// Each process's output settings since the last reload, by name: a process renamed after
    /// it (by scaling) takes its new name's.
    pub(super) outputs: HashMap<String, [Option<crate::config::Output>; 2]>,
    /// sd_notify (taskmaster(1), RUNNING AS A SERVICE).
    pub(super) notifier: super::notify::Notifier,
    /// The metrics endpoint and its scrapers (taskmaster(1), METRICS).
    pub(super) scrapes: super::scraping::Scrapes,
    /// The console got an answer: the next typed command may run.
    pub(super) answered: bool,
    pub(super) exiting: bool,
}

impl Hands for Io {
    /// Starts a process and takes its output pipes, unless taskmaster is short of descriptors.
    fn spawn(&mut self, id: ProcId, plan: SpawnPlan) -> Result<Pid, String> {
        // Its own values where they name the process (taskmaster(1), VARIABLES).
        let own = plan.spec.for_process(plan.number);
        let (spec, name) = (own.as_ref().unwrap_or(&plan.spec), &plan.name);
        let in_use = self.descriptors_in_use();
        let limit = self.setup.files.current as usize;
        if in_use + SPAWN_FDS + RESERVED_FDS > limit {
            return Err(format!(
                "too many open files ({in_use} of {limit} in use, {RESERVED_FDS} kept for control)"
            ));
        }
        let mut problems = Vec::new();
        let owner = spec.run_as.as_ref();
        let outputs = [spec.stdout.as_ref(), spec.stderr.as_ref()];
        let to = (owner, &self.daemon.syslog_address, super::now().mono);
        let sinks = self.capture.open(name, outputs, to, &mut problems);
        self.spawn_problems.insert(id, problems);
        let [out, err] = sinks?;
        let child = match sys::spawn::spawn(spec, &plan.identity(), self.setup.files.inherited) {
            Ok(child) => child,
            Err(e) => {
                self.capture.release([out, err]);
                return Err(e.to_string());
            }
        };
        let (out, err) = (out.of_pid(child.pid), err.of_pid(child.pid));
        let pipes = match child.output {
            ChildOutput::Pipes { stdout, stderr: Some(stderr) } => {
                vec![(stdout, out, Stdout), (stderr, err, Stderr)]
            }
            ChildOutput::Pipes { stdout, stderr: None } => {
                self.capture.release([err]);
                vec![(stdout, out, Stdout)]
            }
            ChildOutput::Terminal(master) => {
                // A second descriptor of the terminal, for the keys of whoever attaches.
                match master.try_clone() {
                    Ok(keys) => self.attach.terminals.add(child.pid, keys),
                    Err(e) => self.log.log(
                        LogLevel::Warn,
                        &format!("{name} gets no keys from `attach`: {}", crate::config::describe_io(&e)),
                    ),
                }
                self.capture.release([err]);
                vec![(master, out, Stdout)]
            }
        };
        let next = &mut self.next_token;
        let problems = self.capture.add(
            self.poll.registry(),
            || take_token(next),
            (child.pid, name),
            pipes,
            (spec.tail_bytes, spec.tty),
        );
        self.log_all(LogLevel::Error, problems);
        self.setup.groups.started(child.pid.as_raw());
        Ok(child.pid)
    }

    fn signal(&mut self, pid: Pid, signal: Signal, group: bool) {
        if let Err(e) = sys::signals::send(pid, signal, group) {
            let target = if group { "group" } else { "process" };
            let message = format!("couldn't send {} to {target} {pid}: {}", signal.as_str(), e.desc());
            self.log.log(LogLevel::Warn, &message);
        }
    }

    fn log(&mut self, level: LogLevel, message: String) {
        self.log.log(level, &message);
    }

    /// An answer to whoever asked: printed on the console, or sent to the client.
    fn reply(&mut self, to: Requester, mut reply: Reply) {
        // What is wrong with taskmaster's own files is known here, not to the supervisor; so is
        // what of a reload's settings could not be bound.
        match &mut reply {
            Reply::Status(status) => status.warnings = self.warnings(),
            Reply::Reload(crate::control::reply::ReloadOutcome::Applied(plan)) => {
                plan.problems = std::mem::take(&mut self.reload_problems);
            }
            _ => {}
        }
        match to {
            Requester::Console => {
                self.session.answer(&render::text(&reply, self.color));
                self.answered = true;
            }
            Requester::Client(token) => {
                if self.server.reply(self.poll.registry(), Token(token), render::response_line(&reply)) {
                    self.hot.push(Token(token));
                }
            }
        }
    }

    /// A reload was applied: the daemon's own settings follow the new configuration. The log
    /// files are reopened even when their paths are the same (after an outside rotation).
    fn reconfigured(&mut self, config: &Config) {
        // Root is given up once, at start (taskmaster(1), PRIVILEGES).
        if config.daemon.user != self.daemon.user {
            let now = nix::unistd::geteuid();
            let message = format!(
                "taskmaster's `user` changed: it applies at the next start (taskmaster runs as uid {now})"
            );
            self.log.log(LogLevel::Warn, &message);
        }
        self.daemon = config.daemon.clone();
        self.alerting.reconfigure(config.daemon.alerts.clone(), &self.log);
        // The output kept of processes no longer in the file goes with them.
        let names: std::collections::HashSet<String> =
            config.programs.values().flat_map(|p| p.process_names()).collect();
        // Kept too: what runs on under a name a reload is about to change (see `renamed`).
        let live = self.capture.live_names();
        self.capture
            .tails
            .retain(|name| name.starts_with('#') || names.contains(name) || live.contains(name));
        self.capture.written.retain(|name, _| names.contains(name) || live.contains(name));
        self.log.set_level(self.setup.cli_level.unwrap_or(self.daemon.loglevel));
        let outputs =
            config.programs.values().flat_map(|p| p.process_names().into_iter().zip(p.outputs())).collect();
        let mut problems = Vec::new();
        self.capture.retune(&outputs, super::now(), &mut problems);
        self.outputs = outputs;
        // More processes than the open-file limit holds: raised if it may be, else said.
        let wanted = super::capacity::needed(config, self.baseline_fds) as u64;
        self.setup.files.current = sys::limits::raise_hard(self.setup.files.current, wanted);
        if let Some(short) = super::capacity::shortfall(config, self.baseline_fds, self.setup.files.current) {
            self.log.log(LogLevel::Warn, &short);
        }
        self.log_all(LogLevel::Error, problems);
        let _ = self.reopen_logs();
        let daemon = &self.daemon;
        let access = Access { mode: daemon.socket_mode, owner: daemon.socket_chown() };
        match self.server.rebind(self.poll.registry(), LISTENER, &daemon.socket, access) {
            Ok(None) => {}
            Ok(Some(done)) => {
                self.log.log(LogLevel::Info, &done);
                let moved = self.setup.groups.move_to(crate::leftovers::path_for(self.server.path()));
                self.log_all(LogLevel::Warn, moved.into_iter().collect());
            }
            Err(e) if self.server.is_in_place() => {
                let path = self.server.path().display();
                let message = format!("{e}; the socket stays at {path}");
                self.log.log(LogLevel::Error, &message);
                self.reload_problems.push(message);
            }
            Err(e) => {
                let path = self.server.path().display();
                let message = format!("{e}; {path} is gone, so taskmasterctl cannot reach taskmaster");
                self.log.log(LogLevel::Error, &message);
            }
        }
        match self.scrapes.rebind(self.poll.registry(), METRICS, self.daemon.metrics.as_ref()) {
            Ok(None) => {}
            Ok(Some(done)) => self.log.log(LogLevel::Info, &done),
            Err(e) => {
                self.log.log(LogLevel::Error, &e);
                self.reload_problems.push(e);
            }
        }
        self.typist.set_history(self.daemon.history.clone());
        if let Some(targets) = &self.setup.targets {
            let names = target_names(config.programs.iter().map(|(n, p)| (n.as_str(), p.process_names())));
            if let Ok(mut t) = targets.lock() {
                *t = names;
            }
        }
    }

    fn exit(&mut self) {
        self.exiting = true;
    }

    fn now(&mut self) -> Option<crate::supervisor::Now> {
        Some(super::now())
    }

    fn alert(&mut self, transition: crate::supervisor::Transition) {
        self.alerting.on_transition(transition, &self.capture.tails, &self.log);
    }

    /// Output in memory and followers go with the new name.
    fn renamed(&mut self, from: &str, to: &str) {
        self.capture.rename(from, to);
        self.attach.rename(from, to);
        self.capture.watched = self.attach.watched();
        // The reload retuned the files by the names it gave: this one had not taken its own yet.
        if let Some(outputs) = self.outputs.get(to) {
            let mut problems = Vec::new();
            let one = HashMap::from([(to.to_string(), outputs.clone())]);
            self.capture.retune(&one, super::now(), &mut problems);
            self.log_all(LogLevel::Error, problems);
        }
    }

    /// What a spawn had to say about its output files, said after the spawn's own line.
    fn after_spawn(&mut self, id: ProcId) {
        let said = self.spawn_problems.remove(&id).unwrap_or_default();
        self.log_all(LogLevel::Error, said);
    }

    fn probe(&mut self, id: ProcId, seq: u64, job: ProbeJob) {
        // A probe never takes what a spawn or the control socket needs: it waits its next turn.
        let limit = self.setup.files.current as usize;
        if self.spare_descriptors() == 0 {
            return self.probes.skip(
                id,
                seq,
                format!("taskmaster is short of descriptors ({limit} at most)"),
            );
        }
        let mut problems = Vec::new();
        let hands = super::probing::Hands {
            registry: self.poll.registry(),
            next_token: &mut self.next_token,
            capture: &mut self.capture,
            nofile: self.setup.files.inherited,
            problems: &mut problems,
            groups: &mut self.setup.groups,
        };
        self.probes.start(id, seq, job, hands);
        self.log_all(LogLevel::Error, problems);
    }

    fn cancel_probe(&mut self, id: ProcId) {
        self.probes.cancel(id, self.poll.registry(), &mut self.capture);
    }
}

impl Io {
    /// Descriptors a probe or a scraper may take: what is left beyond one more spawn and the
    /// control socket's reserve.
    pub(super) fn spare_descriptors(&self) -> usize {
        let limit = self.setup.files.current as usize;
        limit.saturating_sub(self.descriptors_in_use() + SPAWN_FDS + RESERVED_FDS)
    }

    /// The descriptors taskmaster holds: its own, the programs' pipes and files, terminals,
    /// clients and probes' connections.
    fn descriptors_in_use(&self) -> usize {
        self.baseline_fds
            + self.capture.descriptors()
            + self.attach.terminals.len()
            + self.server.client_count()
            + self.probes.connections()
            + self.scrapes.connection_count()
    }

    /// Closes and opens again the main log and every output file (after an outside rotation);
    /// on failure the previous main log stays in use.
    /// Returns what could not be opened, as logged.
    pub(super) fn reopen_logs(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let rotation = (self.daemon.logfile_maxbytes, self.daemon.logfile_backups);
        let mut notes = Vec::new();
        match self.log.reopen(self.daemon.logfile.as_deref(), rotation) {
            Ok(note) => notes.extend(note),
            Err(e) => problems.push(e),
        }
        self.capture.reopen(&mut problems, &mut notes);
        self.log_all(LogLevel::Error, notes);
        self.log_all(LogLevel::Error, problems.clone());
        problems
    }

    pub(super) fn log_all(&self, level: LogLevel, lines: Vec<String>) {
        for line in lines {
            self.log.log(level, &line);
        }
    }

    /// What is wrong with the files taskmaster writes, for `status`.
    pub(super) fn warnings(&self) -> Vec<String> {
        self.log.failure().into_iter().chain(self.capture.failures()).collect()
    }
}
