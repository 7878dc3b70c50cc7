//! The one loop: a single `mio::Poll` over the signal pipe, the control socket and its clients,
//! every child's output pipes and stdin, with the supervisor's next deadline as the timeout.
//! Each turn: poll → read the clock once → signals and reaping → I/O → due deadlines → actions.
//! With nothing due, `poll` sleeps until the next deadline: there is no periodic tick.

mod alerting;
mod attaching;
pub(crate) mod capacity;
mod commands;
mod io;
mod notify;
mod probing;
mod reaping;
mod scraping;

use crate::config::{self, Config, LogLevel};
use crate::control::access;
use crate::control::command::{Command, Order};
use crate::control::render;
use crate::control::reply::Reply;
use crate::control::server::{ClientEvent, Server};
use crate::logging::{Console, Logging};
use crate::output::{Capture, Drained};
use crate::shell::Typist;
use crate::shell::editor::Targets;
use crate::shell::session::{Next, Session};
use crate::supervisor::{Hands, Input, Now, Requester, Supervisor};
use crate::sys;
use io::Io;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;
pub(crate) use scraping::Scrapes;
use signal_hook::consts::{SIGCHLD, SIGCONT, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR2, SIGWINCH};
use signal_hook_mio::v1_0::Signals;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const SIGNALS: Token = Token(0);
const LISTENER: Token = Token(1);
const STDIN: Token = Token(2);
/// The console's terminal or pipe takes output again (see `Console::flush`).
const TERMINAL: Token = Token(3);
/// The metrics endpoint's listener (taskmaster(1), METRICS).
const METRICS: Token = Token(4);
/// Refused requests of one connection that are logged; the rest are not.
const LOGGED_REFUSALS: u32 = 10;
/// How often a shell sent to the background looks whether it is in front again.
const FOREGROUND_CHECK: Duration = Duration::from_millis(200);
/// Work is done for this long in a turn, at most, once the first source is served; signals
/// always.
const TURN_BUDGET: Duration = Duration::from_millis(20);
/// Tokens from here on are handed out to clients and pipes, never reused.
const FIRST_DYNAMIC: usize = 5;

/// What the loop needs beyond the configuration.
pub(crate) struct Setup {
    /// The file to re-read on reload.
    pub(crate) config_path: PathBuf,
    /// `-l LEVEL`: overrides `loglevel`, also after a reload.
    pub(crate) cli_level: Option<LogLevel>,
    /// The names Tab completes from, kept in line with the programs.
    pub(crate) targets: Option<Targets>,
    pub(crate) files: sys::limits::FileLimits,
    /// The record of the programs' process groups, for the next taskmaster if this one is killed.
    pub(crate) groups: crate::leftovers::Groups,
    /// From `watch_signals`, taken by the loop.
    pub(crate) signals: Option<Signals>,
    /// What systemd handed over (taskmaster(1), RUNNING AS A SERVICE).
    pub(crate) service: sys::service::ServiceEnv,
    /// The metrics endpoint, bound at start (see `bind_metrics`), taken by the loop.
    pub(crate) metrics: Scrapes,
}

/// Takes over the signals taskmaster handles and ignores the stray ones (taskmaster(1),
/// SIGNALS). Called before the socket is bound: once the socket is there, someone may send a
/// SIGHUP, and it must reload, not kill.
pub(crate) fn watch_signals() -> Result<Signals, String> {
    let signals = Signals::new([SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGWINCH, SIGUSR2, SIGCONT])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    sys::signals::ignore_stray_signals();
    Ok(signals)
}

/// Descriptors a spawn needs at its peak: two output files, two pipes (four ends) and
/// /dev/null; afterwards the process keeps a pipe end and a file per stream.
const SPAWN_FDS: usize = 7;
/// Descriptors kept free for the control socket and the log, so that taskmaster stays reachable
/// when its processes have used up the rest.
const RESERVED_FDS: usize = 16;

pub(crate) struct Daemon {
    sup: Supervisor,
    io: Io,
}

impl Daemon {
    pub(crate) fn new(
        config: &Config,
        log: Logging,
        console: Arc<dyn Console>,
        mut server: Server,
        typist: Typist,
        mut setup: Setup,
    ) -> Result<Daemon, String> {
        let poll = Poll::new().map_err(|e| format!("cannot create the event loop: {e}"))?;
        let mut signals = setup.signals.take().ok_or("the signals were not set up")?;
        poll.registry()
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(|e| format!("cannot watch signals: {e}"))?;
        server.register(poll.registry(), LISTENER).map_err(|e| format!("cannot watch the socket: {e}"))?;
        let mut scrapes = std::mem::take(&mut setup.metrics);
        scrapes.register(poll.registry(), METRICS).map_err(|e| format!("cannot watch metrics: {e}"))?;
        // A regular file or a device like /dev/zero cannot be watched: it is read a budget a
        // turn from the start (see `run`).
        let stdin_unwatched = typist.is_reading()
            && poll.registry().register(&mut SourceFd(&0), STDIN, Interest::READABLE).is_err();
        if let Some(fd) = console.output_fd() {
            poll.registry()
                .register(&mut SourceFd(&fd), TERMINAL, Interest::WRITABLE)
                .map_err(|e| format!("cannot watch the terminal: {e}"))?;
        }
        let color = typist.is_interactive() && render::color_wanted();
        let (notifier, problem) = notify::Notifier::new(&setup.service, now().mono);
        for problem in setup.service.problems.iter().chain(&problem) {
            log.log(LogLevel::Warn, problem);
        }
        let io = Io {
            baseline_fds: sys::limits::open_files(),
            daemon: config.daemon.clone(),
            setup,
            poll,
            signals,
            server,
            capture: Capture::default(),
            alerting: alerting::Alerting::new(config.daemon.alerts.clone()),
            attach: attaching::Attachments::default(),
            log,
            session: Session::new(console.clone()),
            console,
            typist,
            color,
            next_token: FIRST_DYNAMIC,
            hot: Vec::new(),
            deferred: Vec::new(),
            stdin_unread: false,
            foreground_check: None,
            spawn_problems: HashMap::new(),
            probes: probing::Probes::default(),
            notifier,
            reload_problems: Vec::new(),
            outputs: HashMap::new(),
            orphan_look: None,
            scrapes,
            stdin_unwatched,
            answered: false,
            exiting: false,
        };
        Ok(Daemon { sup: Supervisor::new(config, std::process::id()), io })
    }

    /// Runs until shutdown is complete; whether it was clean.
    pub(crate) fn run(mut self) -> Result<crate::Exit, String> {
        self.apply(Input::Boot, now());
        match self.io.stdin_unwatched {
            true => self.on_stdin(now()),
            false => self.run_typed(now()),
        }
        let mut events = Events::with_capacity(1024);
        loop {
            let timeout = match self.io.hot.is_empty() && self.io.deferred.is_empty() {
                true => self.next_deadline().map(|at| at.saturating_duration_since(now().mono)),
                false => Some(Duration::ZERO),
            };
            if let Some(problem) = self.io.setup.groups.flush() {
                self.io.log.log(crate::config::LogLevel::Warn, &problem);
            }
            match self.io.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("the event loop failed: {e}")),
            }
            let now = now();
            let tokens = events.iter().map(|e| e.token());
            let hot = std::mem::take(&mut self.io.hot);
            let deferred = std::mem::take(&mut self.io.deferred);
            // What the last turn had no time for goes first in this one; each source once.
            let mut seen = std::collections::HashSet::new();
            let mut turn: Vec<Token> =
                deferred.into_iter().chain(tokens).chain(hot).filter(|t| seen.insert(*t)).collect();
            // Deaths and signals before all: a turn busy with clients must not delay them.
            turn.sort_by_key(|&t| t != SIGNALS);
            for token in turn {
                // A long turn leaves the rest of its work to the next, which hears signals
                // (deaths) first.
                if token != SIGNALS && elapsed_since(now.mono) > TURN_BUDGET {
                    self.io.deferred.push(token);
                    continue;
                }
                self.dispatch(token, now);
            }
            // A death must be seen before a deadline it makes moot: after a pause (SIGSTOP, a
            // suspended machine) the SIGCHLD may not have been read yet, and a child found dead
            // when its starttime is due did not stay up for starttime.
            if self.sup.next_deadline().is_some_and(|at| at <= now.mono) {
                self.reap(now);
            }
            if self.io.foreground_check.is_some_and(|at| at <= now.mono) {
                self.on_continued(now);
            }
            if let Some((at, attempt)) = self.io.orphan_look
                && at <= now.mono
            {
                self.look_for_orphans(Vec::new(), attempt, now);
            }
            if self.io.probes.next_deadline().is_some_and(|at| at <= now.mono) {
                let io = &mut self.io;
                io.probes.expire(now.mono, io.poll.registry(), &mut io.capture);
            }
            self.apply(Input::Tick, now);
            self.flush_partial_lines(now);
            let notes = self.io.log.end_turn();
            self.io.log_all(LogLevel::Warn, notes);
            self.end_follows_at_shutdown();
            self.pump_alerts(now);
            self.notify(now);
            if self.io.exiting {
                // Alerts still pending get a few seconds to go out (taskmaster(1), ALERTS).
                self.io.alerting.begin_drain(now, &self.io.log);
                self.pump_alerts(now);
                if self.io.alerting.drained(now, &self.io.log) {
                    break;
                }
            }
            let mut expired = Vec::new();
            self.io.server.expire(self.io.poll.registry(), now.mono, &mut expired);
            self.on_client_events(expired, now);
            self.io.scrapes.expire(self.io.poll.registry(), now.mono);
            if std::mem::take(&mut self.io.answered) {
                self.run_typed(now);
            }
        }
        // Whatever held the shell's terminal lets it go, and what was held is shown.
        self.leave_console("");
        self.io.server.flush_all();
        // Every process was stopped and reaped: nothing is left for a next taskmaster to clean.
        self.io.setup.groups.remove();
        match (self.sup.critical_failure(), self.sup.shutdown_was_forced()) {
            (Some(program), _) => Err(format!("critical program {program} entered FATAL")),
            (None, true) => Ok(crate::Exit::Killed),
            (None, false) => Ok(crate::Exit::Clean),
        }
    }

    /// Hands an input to the supervisor, whose actions the loop's hands carry out; then the
    /// answers of the probes that came meanwhile.
    fn apply(&mut self, input: Input, now: Now) {
        self.sup.run(input, now, &mut self.io);
        while self.io.probes.has_answers() {
            for (id, seq, result) in self.io.probes.take_answers() {
                self.sup.run(Input::Probed { id, seq, result }, now, &mut self.io);
            }
            for (id, seq, why) in self.io.probes.take_skipped() {
                self.sup.run(Input::ProbeSkipped { id, seq, why }, now, &mut self.io);
            }
        }
    }

    /// Output some `log` probe waits for, and connections of probes that moved.
    fn pass_heard(&mut self, now: Now) {
        let io = &mut self.io;
        for (pid, stream, bytes) in std::mem::take(&mut io.capture.heard) {
            io.probes.on_output(pid, stream, &bytes, io.poll.registry(), &mut io.capture);
        }
        if self.io.probes.has_answers() {
            self.apply(Input::Tick, now);
        }
    }

    fn dispatch(&mut self, token: Token, now: Now) {
        let io = &mut self.io;
        match token {
            SIGNALS => self.on_signals(now),
            LISTENER => {
                let next = &mut io.next_token;
                io.server.accept(io.poll.registry(), || take_token(next));
            }
            METRICS => {
                // A scraper never takes what a spawn or the control socket needs.
                let room = io.spare_descriptors();
                let next = &mut io.next_token;
                io.scrapes.accept(io.poll.registry(), now.mono, room, || take_token(next));
            }
            t if io.scrapes.owns(t) => self.on_scraper(t, now),
            STDIN => self.on_stdin(now),
            TERMINAL => io.console.flush(),
            t if io.capture.owns(t) => {
                let mut problems = Vec::new();
                if io.capture.read(io.poll.registry(), t, now, &mut problems) == Drained::More {
                    io.hot.push(t);
                }
                io.log_all(LogLevel::Error, problems);
                let notes = io.capture.take_notes();
                io.log_all(LogLevel::Info, notes);
                if !io.capture.fed.is_empty() {
                    self.pass_output();
                }
                if !self.io.capture.heard.is_empty() {
                    self.pass_heard(now);
                }
            }
            t if io.probes.owns(t) => {
                io.probes.on_ready(t, io.poll.registry(), &mut io.capture);
                if self.io.probes.has_answers() {
                    self.apply(Input::Tick, now);
                }
            }
            t if io.server.owns(t) => {
                let mut events = Vec::new();
                if io.server.ready(io.poll.registry(), t, now.mono, &mut events) {
                    io.hot.push(t);
                }
                self.on_client_events(events, now);
            }
            // A source that closed earlier in this turn.
            _ => {}
        }
    }

    /// Lines without an end that waited long enough are written as they are.
    fn flush_partial_lines(&mut self, now: Now) {
        if self.io.capture.next_deadline().is_some_and(|at| at <= now.mono) {
            let mut problems = Vec::new();
            self.io.capture.flush_due(now, &mut problems);
            self.io.log_all(LogLevel::Error, problems);
        }
    }

    /// What systemd is told after a turn (taskmaster(1), RUNNING AS A SERVICE).
    fn notify(&mut self, now: Now) {
        let (sup, io) = (&self.sup, &mut self.io);
        let said =
            io.notifier.after_turn(|| sup.settled(), sup.is_shutting_down(), || sup.summary(), now.mono);
        if let Some(problem) = said {
            io.log.log(LogLevel::Warn, &problem);
        }
    }

    /// Digests due, deliveries to start or to kill; tests that are answered.
    fn pump_alerts(&mut self, now: Now) {
        let io = &mut self.io;
        let output = alerting::Output {
            capture: &mut io.capture,
            registry: io.poll.registry(),
            next_token: &mut io.next_token,
            groups: &mut io.setup.groups,
        };
        for (to, reply) in io.alerting.pump(now, &io.log, output) {
            io.reply(to, reply);
        }
    }

    /// A requester went away: nothing it waited for is answered.
    fn gone(&mut self, from: Requester, now: Now) {
        self.io.alerting.gone(from);
        self.unwatch(from);
        self.apply(Input::Gone { from }, now);
    }

    fn on_client_events(&mut self, events: Vec<ClientEvent>, now: Now) {
        for event in events {
            match event {
                ClientEvent::Request(t, request) => self.on_request(t, request, now),
                ClientEvent::Malformed(t, why) => {
                    self.io.reply(Requester::Client(t.0), Reply::Refused(why.to_string()));
                }
                ClientEvent::Closed(t) => self.gone(Requester::Client(t.0), now),
                ClientEvent::Keys(t, keys) => self.on_keys(t, &keys),
                ClientEvent::Resize(t, size) => self.on_resize(t, size),
            }
        }
    }

    /// When `poll` must wake up at the latest: the supervisor's next deadline, a client's
    /// unfinished line timing out, or a look at the terminal from the background.
    fn next_deadline(&mut self) -> Option<Instant> {
        let sources = [
            self.sup.next_deadline(),
            self.io.server.next_deadline(),
            self.io.foreground_check,
            self.io.alerting.next_deadline(),
            self.io.capture.next_deadline(),
            self.io.probes.next_deadline(),
            self.io.notifier.next_deadline(),
            self.io.orphan_look.map(|(at, _)| at),
            self.io.scrapes.next_deadline(),
        ];
        sources.into_iter().flatten().min()
    }

    /// The shell's terminal may be handed back: continued, or looked at again while taskmaster
    /// runs in the background (a shell's `fg` of a running job sends no signal), five times
    /// a second until it is in front.
    fn on_continued(&mut self, now: Now) {
        self.io.foreground_check = None;
        if self.io.attach.console_attached() {
            if !self.console_continued() {
                self.io.foreground_check = Some(now.mono + FOREGROUND_CHECK);
            }
            return;
        }
        let typed = self.io.typist.continued();
        if self.io.typist.in_background() {
            self.io.foreground_check = Some(now.mono + FOREGROUND_CHECK);
        }
        self.io.session.take(typed);
        self.run_typed(now);
    }

    fn on_signals(&mut self, now: Now) {
        let pending: Vec<i32> = self.io.signals.pending().collect();
        for signo in pending {
            match signo {
                SIGCHLD => self.reap(now),
                SIGINT if self.io.typist.is_interactive() => self.on_interrupt(now),
                SIGHUP if self.io.typist.is_interactive() && sys::tty::is_gone() => self.on_hang_up(now),
                SIGTERM | SIGINT | SIGQUIT => {
                    self.io.alerting.hurry(now);
                    let signal = Signal::try_from(signo).unwrap_or(Signal::SIGTERM);
                    self.apply(Input::Terminate(signal), now);
                }
                SIGHUP => {
                    self.io.log.log(LogLevel::Info, "received SIGHUP, reloading configuration");
                    self.reload(None, false, now);
                }
                SIGWINCH if self.io.attach.console_attached() => self.console_resized(),
                SIGWINCH => {
                    let typed = self.io.typist.resized();
                    self.io.session.take(typed);
                    self.run_typed(now);
                }
                SIGCONT => self.on_continued(now),
                SIGUSR2 => {
                    // Said after, so that the new files start with it.
                    let _ = self.io.reopen_logs();
                    self.io.log.log(LogLevel::Info, "received SIGUSR2: the log files were reopened");
                }
                _ => {}
            }
        }
    }

    /// Ctrl-C at the shell: abandons a command's wait (the operation goes on), or clears the line.
    /// It never reaches a supervised process: they have process groups of their own.
    fn on_interrupt(&mut self, now: Now) {
        if self.io.attach.console_attached() {
            return self.console_interrupted();
        }
        match self.io.session.interrupt() {
            true => {
                self.gone(Requester::Console, now);
                self.io.answered = true;
            }
            false => self.io.typist.clear_line(),
        }
    }

    fn on_stdin(&mut self, now: Now) {
        if self.io.attach.console_attached() {
            return self.on_console_keys();
        }
        // Lines still waiting to run are enough: more are read once they have (see `run_typed`).
        self.io.stdin_unread = self.io.session.has_pending();
        if !self.io.stdin_unread {
            let typed = self.io.typist.on_readable();
            self.io.session.take(typed);
        }
        if self.io.typist.has_more() {
            self.io.hot.push(STDIN);
        }
        if !self.io.typist.is_reading() {
            // End of commands: supervision goes on, stdin is no longer read.
            let _ = self.io.poll.registry().deregister(&mut SourceFd(&0));
        }
        self.run_typed(now);
    }

    /// The terminal was closed: nobody is left to type, so taskmaster ends (gracefully, even if
    /// the lost terminal asks twice).
    fn on_hang_up(&mut self, now: Now) {
        self.io.typist.hang_up();
        let _ = self.io.poll.registry().deregister(&mut SourceFd(&0));
        if !self.sup.is_shutting_down() {
            self.apply(Input::Terminate(Signal::SIGHUP), now);
        }
    }

    /// Runs what was typed at taskmaster's own shell, one command at a time (see `Session`).
    /// There, `quit`, `exit` and Ctrl-D end taskmaster.
    fn run_typed(&mut self, now: Now) {
        while !self.io.exiting {
            // Commands piped in a stream share the turn with the clients: the rest wait for
            // the next one.
            if self.io.session.has_pending() && elapsed_since(now.mono) > TURN_BUDGET {
                self.io.hot.push(STDIN);
                return;
            }
            let typist = &mut self.io.typist;
            let Some(next) = self.io.session.next(|| typist.prompt()) else {
                // Every line read has run: read what was left waiting.
                if !self.io.session.is_busy() && std::mem::take(&mut self.io.stdin_unread) {
                    self.io.hot.push(STDIN);
                }
                return;
            };
            match next {
                Next::Run(_, Command::Quit) | Next::Leave => {
                    let what = if matches!(next, Next::Leave) { "end of input" } else { "quit" };
                    self.io.log.log(LogLevel::Info, &format!("{what} by the shell"));
                    self.apply(Input::Order { from: Requester::Console, order: Order::Shutdown }, now);
                }
                Next::Run(words, command) => {
                    if access::changes(&command) {
                        self.io.log.log(LogLevel::Info, &format!("{} by the shell", words.join(" ")));
                    }
                    self.command(Requester::Console, command, now);
                }
                Next::HangUp => self.on_hang_up(now),
            }
        }
    }

    /// Re-reads the configuration file and hands it to the supervisor, valid or not.
    fn reload(&mut self, from: Option<Requester>, dry_run: bool, now: Now) {
        if !dry_run && let Some(problem) = self.io.notifier.reloading() {
            self.io.log.log(LogLevel::Warn, &problem);
        }
        let loaded = config::load(&self.io.setup.config_path);
        self.apply(Input::Reload { from, loaded: Box::new(loaded), dry_run }, now);
        self.end_follows_of_removed();
    }
}

fn take_token(next: &mut usize) -> Token {
    let token = Token(*next);
    *next += 1;
    token
}

/// The clock, read here only: once per turn, and handed down to everything else.
#[allow(clippy::disallowed_methods)]
fn now() -> Now {
    Now { mono: Instant::now(), wall: SystemTime::now() }
}

/// How long the turn that started at `start` has run: for the loop's own pacing, never
/// handed down.
#[allow(clippy::disallowed_methods)]
fn elapsed_since(start: Instant) -> Duration {
    start.elapsed()
}
