//! The one loop: a single `mio::Poll` over the signal pipe, the control socket and its clients,
//! every child's output pipes and stdin, with the supervisor's next deadline as the timeout.
//! Each turn: poll → read the clock once → signals and reaping → I/O → due deadlines → actions.
//! With nothing due, `poll` sleeps until the next deadline: there is no periodic tick.

use crate::config::{self, Config, LogLevel};
use crate::control::protocol::{Request, Response};
use crate::control::server::{ClientEvent, Server};
use crate::logging::{Console, Logging};
use crate::output::{Drained, Outputs};
use crate::shell::complete::target_names;
use crate::shell::editor::{Targets, Typed};
use crate::shell::{self, Typist, render};
use crate::supervisor::{Action, Input, Now, ProcId, Requester, Supervisor};
use crate::sys;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::Signal;
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR2, SIGWINCH};
use signal_hook_mio::v1_0::Signals;
use std::collections::{HashMap, VecDeque};
use std::io::ErrorKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

const SIGNALS: Token = Token(0);
const LISTENER: Token = Token(1);
const STDIN: Token = Token(2);
/// Tokens from here on are handed out to clients and pipes, never reused.
const FIRST_DYNAMIC: usize = 16;
/// The console (taskmaster's own stdin/shell) as a requester.
const CONSOLE: Requester = Requester(0);

/// What the loop needs beyond the configuration.
pub struct Setup {
    /// The file to re-read on reload.
    pub config_path: PathBuf,
    /// `-l LEVEL`: overrides `loglevel`, also after a reload.
    pub cli_level: Option<LogLevel>,
    /// The names Tab completes from, kept in line with the programs.
    pub targets: Option<Targets>,
    pub files: sys::limits::FileLimits,
    /// The record of the programs' process groups, for the next taskmaster if this one is killed.
    pub groups: crate::leftovers::Groups,
    /// From `watch_signals`, taken by the loop.
    pub signals: Option<Signals>,
}

/// Takes over the signals taskmaster handles and ignores the stray ones (taskmaster(1),
/// SIGNALS). Called before the socket is bound: once the socket is there, someone may send a
/// SIGHUP, and it must reload, not kill.
pub fn watch_signals() -> Result<Signals, String> {
    let signals = Signals::new([SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGWINCH, SIGUSR2])
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

pub struct Daemon {
    setup: Setup,
    poll: Poll,
    signals: Signals,
    server: Server,
    outputs: Outputs,
    sup: Supervisor,
    log: Logging,
    console: Arc<dyn Console>,
    typist: Typist,
    /// stdin cannot be watched (a regular file): read it all at once.
    stdin_unpollable: bool,
    /// Colour the answers printed on the console.
    color: bool,
    /// Descriptors open once set up, before any process or client.
    baseline_fds: usize,
    next_token: usize,
    /// Sources whose read budget ran out: read them again next turn.
    hot: Vec<Token>,
    /// Log lines of the spawns under way, for after their `spawned:` lines.
    spawn_problems: HashMap<ProcId, Vec<String>>,
    /// Commands typed (or piped) and not run yet.
    typed: VecDeque<String>,
    /// A typed command waits for its answer.
    console_busy: bool,
    /// The console got an answer this turn: run the next typed command.
    answered: bool,
    exiting: bool,
}

impl Daemon {
    pub fn new(
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
        let mut stdin_unpollable = false;
        if typist.is_reading() {
            let registered = poll.registry().register(&mut SourceFd(&0), STDIN, Interest::READABLE);
            stdin_unpollable = registered.is_err();
        }
        let color = typist.is_interactive() && render::color_wanted();
        let sup = Supervisor::new(config, std::process::id());
        let baseline_fds = sys::limits::open_files();
        Ok(Daemon {
            baseline_fds,
            setup,
            poll,
            signals,
            server,
            outputs: Outputs::default(),
            sup,
            log,
            console,
            typist,
            stdin_unpollable,
            color,
            next_token: FIRST_DYNAMIC,
            hot: Vec::new(),
            spawn_problems: HashMap::new(),
            typed: VecDeque::new(),
            console_busy: false,
            answered: false,
            exiting: false,
        })
    }

    /// Runs until shutdown is complete.
    pub fn run(mut self) -> Result<(), String> {
        self.apply(Input::Boot, now());
        match self.stdin_unpollable {
            true => self.on_stdin(true, now()),
            false => self.next_typed(now()),
        }
        let mut events = Events::with_capacity(1024);
        while !self.exiting {
            let timeout = match self.hot.is_empty() {
                true => self.next_deadline().map(|at| at.saturating_duration_since(Instant::now())),
                false => Some(Duration::ZERO),
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("the event loop failed: {e}")),
            }
            let now = now();
            let tokens: Vec<Token> = events.iter().map(|e| e.token()).collect();
            let hot = std::mem::take(&mut self.hot);
            for token in tokens.into_iter().chain(hot) {
                self.dispatch(token, now);
            }
            // A death must be seen before a deadline it makes moot: after a pause (SIGSTOP, a
            // suspended machine) the SIGCHLD may not have been read yet, and a child found dead
            // when its starttime is due did not stay up for starttime.
            if self.sup.next_deadline().is_some_and(|at| at <= now.mono) {
                self.reap(now);
            }
            self.apply(Input::Tick, now);
            let mut expired = Vec::new();
            self.server.expire(self.poll.registry(), now.mono, &mut expired);
            self.on_client_events(expired, now);
            if std::mem::take(&mut self.answered) {
                self.next_typed(now);
            }
        }
        self.server.flush_all();
        // Every process was stopped and reaped: nothing is left for a next taskmaster to clean.
        self.setup.groups.remove();
        Ok(())
    }

    fn dispatch(&mut self, token: Token, now: Now) {
        match token {
            SIGNALS => self.on_signals(now),
            LISTENER => {
                let next = &mut self.next_token;
                self.server.accept(self.poll.registry(), || take_token(next));
            }
            STDIN => self.on_stdin(false, now),
            t if self.outputs.owns(t) => {
                let mut problems = Vec::new();
                if self.outputs.read(self.poll.registry(), t, &mut problems) == Drained::More {
                    self.hot.push(t);
                }
                self.log_all(LogLevel::Error, problems);
            }
            t if self.server.owns(t) => {
                let mut events = Vec::new();
                if self.server.ready(self.poll.registry(), t, now.mono, &mut events) {
                    self.hot.push(t);
                }
                self.on_client_events(events, now);
            }
            // A source that closed earlier in this turn.
            _ => {}
        }
    }

    fn on_client_events(&mut self, events: Vec<ClientEvent>, now: Now) {
        for event in events {
            match event {
                ClientEvent::Request(t, request) => self.request(requester(t), request, now),
                ClientEvent::Malformed(t, why) => {
                    self.server.reply(self.poll.registry(), t, &Response::error(why));
                }
                ClientEvent::Closed(t) => self.apply(Input::Gone { from: requester(t) }, now),
            }
        }
    }

    /// When `poll` must wake up at the latest: the supervisor's next deadline, or a client's
    /// unfinished line timing out.
    fn next_deadline(&mut self) -> Option<Instant> {
        match (self.sup.next_deadline(), self.server.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn on_signals(&mut self, now: Now) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signo in pending {
            match signo {
                SIGCHLD => self.reap(now),
                SIGINT if self.typist.is_interactive() => self.on_interrupt(now),
                SIGHUP if self.typist.is_interactive() && sys::tty::is_gone() => self.on_hang_up(now),
                SIGTERM | SIGINT | SIGQUIT => {
                    let signal = Signal::try_from(signo).unwrap_or(Signal::SIGTERM);
                    self.apply(Input::Terminate(signal), now);
                }
                SIGHUP => {
                    self.log.log(LogLevel::Info, "received SIGHUP, reloading configuration");
                    self.reload(None, false, now);
                }
                SIGWINCH => self.typist.resized(),
                SIGUSR2 => {
                    // Said after, so that the new files start with it.
                    self.reopen_logs();
                    self.log.log(LogLevel::Info, "received SIGUSR2: the log files were reopened");
                }
                _ => {}
            }
        }
    }

    /// Ctrl-C at the shell: abandons a command's wait (the operation goes on), or clears the line.
    /// It never reaches a supervised process: they have process groups of their own.
    fn on_interrupt(&mut self, now: Now) {
        match self.console_busy {
            true => {
                self.apply(Input::Gone { from: CONSOLE }, now);
                self.console_busy = false;
                self.console.line("(no longer waiting; the command goes on: see `status`)");
                self.answered = true;
            }
            false => self.typist.clear_line(),
        }
    }

    /// Reaps every dead child: the rest of its group is killed first, its output drained.
    fn reap(&mut self, now: Now) {
        let mut reaped = Vec::new();
        let sup = &self.sup;
        sys::reap::reap_all(|pid| sup.name_of_pid(pid).is_some(), |pid, exit| reaped.push((pid, exit)));
        for (pid, exit) in reaped {
            let mut problems = Vec::new();
            problems.extend(self.setup.groups.ended(pid.as_raw()));
            self.outputs.drain(self.poll.registry(), pid, &mut problems);
            self.log_all(LogLevel::Error, problems);
            self.apply(Input::Reaped { pid, exit }, now);
        }
    }

    fn on_stdin(&mut self, all: bool, now: Now) {
        let typed = self.typist.on_readable(all);
        self.take_typed(typed, now);
        if !self.typist.is_reading() {
            // End of commands: supervision goes on, stdin is no longer read.
            let _ = self.poll.registry().deregister(&mut SourceFd(&0));
        }
        self.next_typed(now);
    }

    fn take_typed(&mut self, typed: Vec<Typed>, now: Now) {
        for t in typed {
            match t {
                Typed::Line(line) => self.typed.push_back(line),
                Typed::Eof => self.typed.push_back("quit".to_string()),
                Typed::Interrupt => {}
                Typed::HangUp => self.on_hang_up(now),
            }
        }
    }

    /// The terminal was closed: nobody is left to type, so taskmaster ends (gracefully, even if
    /// the lost terminal asks twice).
    fn on_hang_up(&mut self, now: Now) {
        self.typist.hang_up();
        let _ = self.poll.registry().deregister(&mut SourceFd(&0));
        if !self.sup.is_shutting_down() {
            self.apply(Input::Terminate(Signal::SIGHUP), now);
        }
    }

    /// Runs the typed commands one after another, each once the one before it has its answer
    /// (as a person at a shell waits, and as a script of commands expects); then shows the
    /// prompt.
    fn next_typed(&mut self, now: Now) {
        loop {
            while !self.console_busy && !self.exiting {
                let Some(line) = self.typed.pop_front() else { break };
                match shell::request_of(&line) {
                    Ok(Some(request)) => {
                        self.console_busy = true;
                        self.request(CONSOLE, own_shell(request), now);
                    }
                    Ok(None) => {}
                    Err(why) => self.console.line(&why),
                }
            }
            if self.console_busy || self.exiting || !self.typed.is_empty() {
                return;
            }
            let more = self.typist.prompt();
            if more.is_empty() {
                return;
            }
            self.take_typed(more, now);
        }
    }

    /// Hands an input to the supervisor and carries out what it asks, including the inputs that
    /// follow from it (a spawn's result), before anything else happens.
    fn apply(&mut self, input: Input, now: Now) {
        let mut queue = VecDeque::from([input]);
        while let Some(input) = queue.pop_front() {
            // What a spawn had to say about its output files, said after the spawn's own line.
            let said = match &input {
                Input::Spawned { id, .. } => self.spawn_problems.remove(id).unwrap_or_default(),
                _ => Vec::new(),
            };
            for action in self.sup.handle(input, now) {
                match action {
                    Action::Spawn { id } => {
                        let result = self.spawn(id);
                        queue.push_back(Input::Spawned { id, result });
                    }
                    Action::Signal { pid, signal, group } => {
                        if let Err(e) = sys::signals::send(pid, signal, group) {
                            let target = if group { "group" } else { "process" };
                            let message =
                                format!("couldn't send {} to {target} {pid}: {}", signal.as_str(), e.desc());
                            self.log.log(LogLevel::Warn, &message);
                        }
                    }
                    Action::Log { level, message } => self.log.log(level, &message),
                    Action::Reply { to, response } => self.deliver(to, &response),
                    Action::Reconfigured => self.reconfigure(),
                    Action::Exit => self.exiting = true,
                }
            }
            self.log_all(LogLevel::Error, said);
        }
    }

    /// Starts a process and takes its output pipes, unless taskmaster is short of descriptors.
    fn spawn(&mut self, id: ProcId) -> Result<nix::unistd::Pid, String> {
        let plan = self.sup.spawn_plan(id).ok_or("no such process")?;
        let (spec, name) = (&plan.spec, &plan.name);
        let in_use = self.baseline_fds + self.outputs.descriptors() + self.server.client_count();
        let limit = self.setup.files.current as usize;
        if in_use + SPAWN_FDS + RESERVED_FDS > limit {
            return Err(format!(
                "too many open files ({in_use} of {limit} in use, {RESERVED_FDS} kept for control)"
            ));
        }
        let mut problems = Vec::new();
        let sinks = self.outputs.open(name, [spec.stdout.as_deref(), spec.stderr.as_deref()], &mut problems);
        self.spawn_problems.insert(id, problems);
        let [out, err] = sinks?;
        let child = sys::spawn::spawn(spec, &plan.identity(), self.setup.files.inherited)?;
        let next = &mut self.next_token;
        let problems = self.outputs.add(
            self.poll.registry(),
            || take_token(next),
            child.pid,
            name,
            [(child.stdout, out), (child.stderr, err)],
        );
        self.log_all(LogLevel::Error, problems);
        if let Some(problem) = self.setup.groups.started(child.pid.as_raw()) {
            self.log.log(LogLevel::Warn, &problem);
        }
        Ok(child.pid)
    }

    /// A request from a client or the console. `reload` is read here, where files are read.
    fn request(&mut self, from: Requester, request: Request, now: Now) {
        let warnings = self.log.failure().into_iter().chain(self.outputs.failures()).collect();
        self.sup.set_warnings(warnings);
        match crate::command::parse(&request.command, &request.args) {
            Ok(crate::command::Command::Reload { dry_run }) => self.reload(Some(from), dry_run, now),
            _ => self.apply(Input::Request { from, request }, now),
        }
    }

    /// Re-reads the configuration file and hands it to the supervisor, valid or not.
    fn reload(&mut self, from: Option<Requester>, dry_run: bool, now: Now) {
        let loaded = config::load(&self.setup.config_path);
        self.apply(Input::Reload { from, loaded: Box::new(loaded), dry_run }, now);
    }

    /// Closes and opens again the main log and every output file (after an outside rotation).
    fn reopen_logs(&mut self) {
        self.reopen_main_log();
        let mut problems = Vec::new();
        self.outputs.reopen(&mut problems);
        self.log_all(LogLevel::Error, problems);
    }

    /// Opens the configured main log (again); on failure the previous file stays in use.
    fn reopen_main_log(&mut self) {
        let path = self.sup.config().daemon.logfile.clone();
        if let Err(e) = self.log.reopen(path.as_deref()) {
            self.log.log(LogLevel::Error, &format!("{e}; logging goes on to the previous file"));
        }
    }

    /// A reload was applied: the daemon's own settings follow the new configuration. The log
    /// files are reopened even when their paths are the same (after an outside rotation).
    fn reconfigure(&mut self) {
        let daemon = self.sup.config().daemon.clone();
        self.log.set_level(self.setup.cli_level.unwrap_or(daemon.loglevel));
        self.reopen_logs();
        match self.server.rebind(self.poll.registry(), LISTENER, &daemon.socket, daemon.socket_mode) {
            Ok(None) => {}
            Ok(Some(done)) => {
                self.log.log(LogLevel::Info, &done);
                let moved = self.setup.groups.move_to(crate::leftovers::path_for(self.server.path()));
                self.log_all(LogLevel::Warn, moved.into_iter().collect());
            }
            Err(e) if self.server.is_in_place() => {
                let path = self.server.path().display();
                self.log.log(LogLevel::Error, &format!("{e}; the socket stays at {path}"));
            }
            Err(e) => {
                let path = self.server.path().display();
                let message = format!("{e}; {path} is gone, so taskmasterctl cannot reach taskmaster");
                self.log.log(LogLevel::Error, &message);
            }
        }
        self.typist.set_history(daemon.history.clone());
        if let Some(targets) = &self.setup.targets {
            let programs = &self.sup.config().programs;
            let names = target_names(programs.iter().map(|(n, p)| (n.as_str(), p.process_names())));
            if let Ok(mut t) = targets.lock() {
                *t = names;
            }
        }
    }

    fn deliver(&mut self, to: Requester, response: &Response) {
        match to {
            CONSOLE => {
                if !response.output.is_empty() {
                    self.console.line(&render::answer(response, self.color));
                }
                self.console_busy = false;
                self.answered = true;
            }
            Requester(token) => {
                self.server.reply(self.poll.registry(), Token(token as usize), response);
            }
        }
    }

    fn log_all(&self, level: LogLevel, lines: Vec<String>) {
        for line in lines {
            self.log.log(level, &line);
        }
    }
}

/// In taskmaster's own shell, `quit` and `exit` end taskmaster.
fn own_shell(request: Request) -> Request {
    match request.command.as_str() {
        "quit" | "exit" => Request::new("shutdown", &[]),
        _ => request,
    }
}

fn requester(token: Token) -> Requester {
    Requester(token.0 as u64)
}

fn take_token(next: &mut usize) -> Token {
    let token = Token(*next);
    *next += 1;
    token
}

fn now() -> Now {
    Now { mono: Instant::now(), wall: SystemTime::now() }
}
