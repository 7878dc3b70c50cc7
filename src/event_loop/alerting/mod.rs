//! Alerts in the event loop (taskmaster(1), ALERTS): the supervisor's transitions become alerts
//! (with the output the process printed last), digests and the delivery queue decide when each
//! goes out, and each delivery is a short-lived helper process: `taskmaster --deliver` for email,
//! webhook and syslog, the configured command for `command`. A helper gets its job in a memory
//! file; its output is read like a program's (`Capture`, its last lines kept), so however much it
//! prints it never waits; the loop starts it, kills it at its deadline and reaps it. Nothing here
//! waits for a server.

use super::take_token;
use words::{channel_spec, command_env, cut, failure_line, output_name, power_of_ten, rfc3339};
mod answers;
mod words;

use crate::alerts::deliver::{ChannelJob, FLAG, Job};
use crate::alerts::event::{Alert, Message};
use crate::alerts::queue::{ATTEMPT_LIMIT, Delivery, DeliveryId, MAX_WAITING, Outcome, Queue};
use crate::alerts::throttle::Throttle;
use crate::config::LogLevel;
use crate::config::alerts::{AlertsSpec, Channel, EventKind};
use crate::control::reply::{ChannelResult, Reply};
use crate::logging::Logging;
use crate::output::{Capture, Sink};
use crate::process::ExitKind;
use crate::supervisor::{Now, Requester, Transition};
use crate::sys;
use crate::tail::{Stream, Tails};
use mio::Registry;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long alerts still pending at shutdown may take.
pub(super) const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The most of each stream one alert carries: what a person reads in a mail, and what keeps a
/// queue of pending alerts small.
const ALERT_TAIL_BYTES: usize = 8 * 1024;
/// What is kept of a helper's output (its reason for failing is in its last lines).
const ANSWER_BYTES: usize = 8 * 1024;
/// How often a helper killed at its limit is killed again until it is reaped.
const KILL_AGAIN: Duration = Duration::from_secs(1);
/// Deliveries given up at shutdown that are logged one by one; the rest are counted.
const LOGGED_ABANDONED: usize = 20;
/// The most of a reason the log shows.
const REASON_CHARS: usize = 300;

pub(super) struct Alerting {
    spec: Option<AlertsSpec>,
    host: String,
    own_pid: u32,
    throttle: Throttle,
    queue: Queue,
    helpers: HashMap<Pid, Helper>,
    by_delivery: HashMap<DeliveryId, Pid>,
    tests: HashMap<u64, TestRun>,
    next_test: u64,
    /// Shutting down: when pending alerts stop being waited for.
    drain_until: Option<Instant>,
    /// Deliveries refused for want of room, not logged one by one.
    refused: u64,
}

struct Helper {
    delivery: DeliveryId,
    /// Its output's name in `Capture`'s tails (see `output_name`).
    name: String,
    killed: bool,
    /// The configured command, not taskmaster's own helper: its exit status means only
    /// success or failure, its reason is the last line of its stderr.
    command: bool,
    /// ` (HOST:PORT)`: where it was sending, for a reason the helper could not give.
    target: String,
}

/// Where a helper's output is read, like a program's.
pub(super) struct Output<'a> {
    pub(super) capture: &'a mut Capture,
    pub(super) registry: &'a Registry,
    pub(super) next_token: &'a mut usize,
    /// The record of process groups: a command's children outlive a taskmaster killed with
    /// SIGKILL, and the next one cleans them up, as it does a program's.
    pub(super) groups: &'a mut crate::leftovers::Groups,
}

/// An `alerts test` waiting for its channels.
struct TestRun {
    to: Requester,
    results: Vec<(Channel, Option<Result<(), String>>)>,
}

impl Alerting {
    pub(super) fn new(spec: Option<AlertsSpec>) -> Alerting {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".to_string());
        Alerting {
            spec,
            host,
            own_pid: std::process::id(),
            throttle: Throttle::default(),
            queue: Queue::default(),
            helpers: HashMap::new(),
            by_delivery: HashMap::new(),
            tests: HashMap::new(),
            next_test: 0,
            drain_until: None,
            refused: 0,
        }
    }

    /// A reload: what is sent from now on follows the new block. Events waiting for a digest
    /// that it no longer sends are dropped; a channel that changed starts its counts again.
    pub(super) fn reconfigure(&mut self, spec: Option<AlertsSpec>, log: &Logging) {
        let sent = |s: &Option<AlertsSpec>, a: &Alert| {
            s.as_ref().is_some_and(|s| EventKind::parse(&a.event).is_some_and(|k| s.sends(k)))
        };
        let dropped = self.throttle.retain(|a| sent(&spec, a));
        if dropped > 0 {
            let why =
                if spec.is_none() { "alerts were turned off" } else { "their events are no longer sent" };
            log.log(
                LogLevel::Info,
                &format!("alert: {dropped} events waiting for a digest were dropped: {why}"),
            );
        }
        for channel in [Channel::Email, Channel::Webhook, Channel::Syslog, Channel::Command] {
            if channel_spec(&self.spec, channel) != channel_spec(&spec, channel) {
                self.queue.counts.remove(&channel);
            }
        }
        self.spec = spec;
    }

    /// A process moved: an alert, if its event is one that is sent and its program wants them.
    pub(super) fn on_transition(&mut self, t: Transition, tails: &Tails, log: &Logging) {
        let Some(spec) = &self.spec else { return };
        if !t.wanted || !(spec.sends(t.kind) || t.urgent) {
            return;
        }
        let lines = spec.tail_lines;
        let alert = Alert {
            event: t.kind.name().to_string(),
            name: t.name.clone(),
            program: t.program.clone(),
            from: t.from.as_str().to_string(),
            to: t.to.as_str().to_string(),
            pid: t.pid.map(Pid::as_raw),
            exitstatus: t.exit.and_then(ExitKind::code),
            signal: t.exit.and_then(ExitKind::signo).map(crate::process::exit::signal_name),
            retries: t.retries,
            time: rfc3339(t.now),
            host: self.host.clone(),
            reason: t.reason.clone(),
            urgent: t.urgent,
            stdout_tail: tails.last_lines_within(&t.name, Stream::Stdout, lines, ALERT_TAIL_BYTES),
            stderr_tail: tails.last_lines_within(&t.name, Stream::Stderr, lines, ALERT_TAIL_BYTES),
        };
        let interval = Duration::from_secs_f64(spec.min_interval);
        if let Some(message) = self.throttle.offer(alert, t.now.mono, interval, t.urgent) {
            self.enqueue(message, None, log);
        }
    }

    fn enqueue(&mut self, message: Message, test: Option<u64>, log: &Logging) {
        let Some(spec) = &self.spec else { return };
        let urgent = match &message {
            Message::One(a) => a.urgent,
            Message::Digest(_) => false,
        };
        let message = Arc::new(message);
        for channel in spec.channels() {
            if let Err(refused) = self.queue.push(message.clone(), channel, test, urgent) {
                // The first said, the rest counted (see `pump`), and the count said at each power
                // of ten: a storm does not fill the disk, nor goes unsaid.
                if self.refused == 0 {
                    log.log(LogLevel::Error, &failure_line(&refused, "too many alerts waiting"));
                }
                self.refused += 1;
                if power_of_ten(self.refused) {
                    self.say_refused(log);
                }
            }
        }
    }

    /// Starts what may start, kills what ran too long, sends the digests that are due.
    pub(super) fn pump(&mut self, now: Now, log: &Logging, mut output: Output) -> Vec<(Requester, Reply)> {
        for message in self.throttle.due(now.mono) {
            self.enqueue(message, None, log);
        }
        for id in self.queue.overdue(now.mono) {
            // Its end comes when it is reaped; killed again each second until then.
            self.queue.postpone(id, now.mono + KILL_AGAIN);
            let Some(pid) = self.by_delivery.get(&id).copied() else { continue };
            if let Some(helper) = self.helpers.get_mut(&pid) {
                helper.killed = true;
                let _ = sys::signals::send(pid, Signal::SIGKILL, true);
            }
        }
        let mut answers = Vec::new();
        // A delivery that cannot even start frees its place at once: go on until none is left
        // to start, or no place is.
        loop {
            let started = self.queue.start(now.mono);
            if started.is_empty() {
                break;
            }
            self.launch_all(started, now, log, &mut output, &mut answers);
        }
        if self.refused > 0 && self.queue.pending() < MAX_WAITING / 2 {
            self.say_refused(log);
            self.refused = 0;
        }
        answers
    }

    fn say_refused(&self, log: &Logging) {
        let line = format!("alert: {} alerts were refused while too many waited", self.refused);
        log.log(LogLevel::Error, &line);
    }

    fn launch_all(
        &mut self,
        started: Vec<Delivery>,
        now: Now,
        log: &Logging,
        output: &mut Output,
        answers: &mut Vec<(Requester, Reply)>,
    ) {
        for delivery in started {
            match self.launch(&delivery) {
                Ok((pid, [out, err])) => {
                    let name = output_name(delivery.id);
                    let pipes =
                        vec![(out, Sink::discard(), Stream::Stdout), (err, Sink::discard(), Stream::Stderr)];
                    let next = &mut *output.next_token;
                    let problems = output.capture.add(
                        output.registry,
                        || take_token(next),
                        (pid, &name),
                        pipes,
                        (ANSWER_BYTES, false),
                    );
                    for problem in problems {
                        log.log(LogLevel::Error, &problem);
                    }
                    output.groups.started(pid.as_raw());
                    self.by_delivery.insert(delivery.id, pid);
                    let command = delivery.channel == Channel::Command;
                    let target = self.target(delivery.channel).map(|t| format!(" ({t})")).unwrap_or_default();
                    let helper = Helper { delivery: delivery.id, name, killed: false, command, target };
                    self.helpers.insert(pid, helper);
                }
                // Trying again would not help: the configuration took the channel away.
                Err(Launch::Gone(why)) => answers.extend(self.finish(delivery.id, Err(why), now, log, false)),
                Err(Launch::Failed(why)) => {
                    answers.extend(self.finish(delivery.id, Err(why), now, log, true))
                }
            }
        }
    }

    /// Starts the helper of one delivery: its pid and its output pipes (stdout, stderr).
    fn launch(&self, delivery: &Delivery) -> Result<(Pid, [OwnedFd; 2]), Launch> {
        let spec = self.spec.as_ref().ok_or(Launch::Gone("alerts were turned off by a reload".into()))?;
        let gone =
            || Launch::Gone(format!("the {} channel was removed by a reload", delivery.channel.name()));
        let failed = |e: &dyn std::fmt::Display| Launch::Failed(e.to_string());
        let message = (*delivery.message).clone();
        let job =
            |channel| Job { channel, message: message.clone(), pid: self.own_pid, host: self.host.clone() };
        let (program, argv, env, input) = match delivery.channel {
            Channel::Command => {
                let command = spec.command.as_ref().ok_or_else(gone)?;
                let path_var = std::env::var_os("PATH");
                let program = sys::lookup::resolve(&command.argv[0], path_var.as_deref(), None)
                    .map_err(|e| failed(&e))?;
                (program, command.argv.clone(), command_env(&message, &self.host), message.json())
            }
            channel => {
                let job = match channel {
                    Channel::Email => job(ChannelJob::Email(spec.email.clone().ok_or_else(gone)?)),
                    Channel::Webhook => job(ChannelJob::Webhook(spec.webhook.clone().ok_or_else(gone)?)),
                    Channel::Syslog | Channel::Command => {
                        job(ChannelJob::Syslog(spec.syslog.clone().ok_or_else(gone)?))
                    }
                };
                let input = serde_json::to_string(&job).map_err(|e| failed(&e))?;
                let argv = vec!["taskmaster".to_string(), FLAG.to_string()];
                (Path::new("/proc/self/exe").to_path_buf(), argv, Vec::new(), input)
            }
        };
        let input: OwnedFd =
            sys::memfile::with("taskmaster-alert", input.as_bytes()).map_err(|e| failed(&e))?.into();
        // Read in the loop like a program's output, its last lines kept: however much it
        // prints, it never waits and memory stays bounded.
        let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| failed(&e));
        let ((out_r, out_w), (err_r, err_w)) = (pipe()?, pipe()?);
        let pid = sys::spawn::spawn_helper(&program, &argv, &env, [&input, &out_w, &err_w])
            .map_err(|e| failed(&e))?;
        Ok((pid, [out_r, err_r]))
    }

    pub(super) fn owns(&self, pid: Pid) -> bool {
        self.helpers.contains_key(&pid)
    }

    /// A helper ended (its output drained into `tails`): its delivery succeeded, or failed with
    /// the reason it wrote.
    pub(super) fn on_reaped(
        &mut self,
        pid: Pid,
        exit: ExitKind,
        now: Now,
        tails: &mut Tails,
        log: &Logging,
    ) -> Vec<(Requester, Reply)> {
        let Some(helper) = self.helpers.remove(&pid) else { return Vec::new() };
        self.by_delivery.remove(&helper.delivery);
        let stream = if helper.command { Stream::Stderr } else { Stream::Stdout };
        let said = tails.last_lines(&helper.name, stream, 20);
        tails.remove(&helper.name);
        let line = match helper.command {
            true => said.iter().rev().find(|l| !l.trim().is_empty()),
            false => said.first(),
        };
        let result = match (exit, helper.killed, line) {
            (_, true, _) => Err(format!("no answer within {} s{}", ATTEMPT_LIMIT.as_secs(), helper.target)),
            (ExitKind::Code(0), false, _) => Ok(()),
            (exit, false, None) => Err(exit.to_string()),
            (exit, false, Some(line)) if helper.command => Err(format!("{exit}: {}", line.trim())),
            (_, false, Some(line)) => Err(line.to_string()),
        };
        let refused = !helper.command && exit == ExitKind::Code(i32::from(crate::alerts::deliver::REFUSED));
        self.finish(helper.delivery, result, now, log, !refused)
    }

    /// An attempt ended; `again`: whether a failure may be tried again.
    fn finish(
        &mut self,
        id: DeliveryId,
        result: Result<(), String>,
        now: Now,
        log: &Logging,
        again: bool,
    ) -> Vec<(Requester, Reply)> {
        let result = result.map_err(|why| cut(&why));
        let Some(outcome) = self.queue.finished(id, result.clone(), now.mono, again) else {
            return Vec::new();
        };
        let delivery = match &outcome {
            Outcome::Delivered(d) => {
                let line = format!(
                    "alert: sent '{}' for {} by {}",
                    d.message.event(),
                    d.message.about(),
                    d.channel.name()
                );
                log.log(LogLevel::Info, &line);
                d
            }
            Outcome::Retry(d, why, at) => {
                let wait = at.saturating_duration_since(now.mono).as_secs();
                let line = format!(
                    "alert: '{}' for {} by {} failed (attempt {} of {}): {why}; trying again in {wait} s",
                    d.message.event(),
                    d.message.about(),
                    d.channel.name(),
                    d.attempt,
                    d.attempts
                );
                log.log(LogLevel::Warn, &line);
                d
            }
            Outcome::Failed(d, why) => {
                log.log(LogLevel::Error, &failure_line(d, why));
                d
            }
        };
        let Some(test) = delivery.test else { return Vec::new() };
        let channel = delivery.channel;
        self.answer_test(test, channel, result)
    }

    fn answer_test(
        &mut self,
        test: u64,
        channel: Channel,
        result: Result<(), String>,
    ) -> Vec<(Requester, Reply)> {
        let Some(run) = self.tests.get_mut(&test) else { return Vec::new() };
        if let Some(slot) = run.results.iter_mut().find(|(c, r)| *c == channel && r.is_none()) {
            slot.1 = Some(result);
        }
        if run.results.iter().any(|(_, r)| r.is_none()) {
            return Vec::new();
        }
        let Some(run) = self.tests.remove(&test) else { return Vec::new() };
        let results = run
            .results
            .into_iter()
            .map(|(channel, r)| match r.unwrap_or_else(|| Err("no answer".to_string())) {
                Ok(()) => ChannelResult { channel: channel.name(), ok: true, message: "delivered".into() },
                Err(why) => {
                    ChannelResult { channel: channel.name(), ok: false, message: format!("ERROR ({why})") }
                }
            })
            .collect();
        vec![(run.to, Reply::AlertsTested(results))]
    }
}

impl Alerting {
    /// Shutdown: every digest goes out now, and pending alerts get `SHUTDOWN_GRACE`.
    pub(super) fn begin_drain(&mut self, now: Now, log: &Logging) {
        if self.drain_until.is_none() {
            for message in self.throttle.flush(now.mono) {
                self.enqueue(message, None, log);
            }
            self.drain_until = Some(now.mono + SHUTDOWN_GRACE);
            let pending = self.queue.pending();
            if pending > 0 {
                let line =
                    format!("waiting up to {} s for {pending} alert deliveries", SHUTDOWN_GRACE.as_secs());
                log.log(LogLevel::Info, &line);
            }
        }
    }

    /// Whether taskmaster may exit: nothing left to send, or the grace is over (what is left is
    /// then given up, logged, its helpers killed).
    pub(super) fn drained(&mut self, now: Now, log: &Logging) -> bool {
        if self.queue.is_idle() {
            return true;
        }
        if self.drain_until.is_some_and(|until| now.mono < until) {
            return false;
        }
        for (pid, _) in self.helpers.drain() {
            let _ = sys::signals::send(pid, Signal::SIGKILL, true);
        }
        self.by_delivery.clear();
        if self.refused > 0 {
            self.say_refused(log);
        }
        let abandoned = self.queue.abandon();
        for d in abandoned.iter().take(LOGGED_ABANDONED) {
            log.log(LogLevel::Error, &failure_line(d, "taskmaster shut down first"));
        }
        if abandoned.len() > LOGGED_ABANDONED {
            let more = abandoned.len() - LOGGED_ABANDONED;
            log.log(
                LogLevel::Error,
                &format!("alert: {more} more deliveries were given up: taskmaster shut down first"),
            );
        }
        true
    }

    /// A terminating signal while pending alerts are waited for: they are given up now.
    pub(super) fn hurry(&mut self, now: Now) {
        if self.drain_until.is_some() {
            self.drain_until = Some(now.mono);
        }
    }

    pub(super) fn next_deadline(&self) -> Option<Instant> {
        [self.throttle.next_deadline(), self.queue.next_deadline(), self.drain_until]
            .into_iter()
            .flatten()
            .min()
    }
}

/// Why a helper did not start.
enum Launch {
    /// Its channel is no longer configured: not worth another attempt.
    Gone(String),
    Failed(String),
}
