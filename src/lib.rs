//! taskmaster: a single-threaded, event-driven job-control daemon, and taskmasterctl, its client.
//! The manual (`man/taskmaster.1`) says what they do; this says how the code is laid out.
//!
//! # Shape
//!
//! A functional core that reads no clock and makes no system call, and an imperative shell around
//! it. Every source (a signal, a dead child, child output, a client's request, a typed line, a
//! due deadline) becomes one `supervisor::Input`; the supervisor answers with `Action`s (spawn,
//! signal, log, reply, ...) as data, which the event loop carries out.
//!
//! # Modules
//!
//! The core:
//! - `config`: the YAML file, read into a tree that keeps positions (`node`), validated all at
//!   once into typed settings (`validate`, `spec`), printed back by `--check` (`render`), and
//!   compared for a reload (`diff`).
//! - `process`: one process's life: `state` is the table of every state × trigger, with the
//!   effects each move asks for; `exit` says how a run ended.
//! - `supervisor`: every program and process, the pid index, the deadline queue (`timers`), the
//!   commands that wait for their processes (`waits`); it runs orders (`commands`), reloads
//!   (`reload`), shutdowns (`shutdown`), tracks what programs leave running (`escapes`) and
//!   builds the views `status` shows (`status`) and the metrics count (`counters`).
//!   `Supervisor::run` is the one interpreter of its actions, through `Hands`.
//! - `metrics`: a snapshot of the processes and alert channels in the Prometheus text format,
//!   and the verdicts of the endpoint's little HTTP (`http`).
//! - `alerts`: what an alert says (`event`: JSON, email, syslog line), digests (`throttle`) and
//!   the delivery queue (`queue`: limits, attempts, retries), all with `now` passed in; and the
//!   hidden `taskmaster --deliver` mode (`deliver`, `email`) that sends one in a helper process.
//! - `control`: the vocabulary at the edges: `command` (the one table of commands; a line or a
//!   request is parsed there, once), `reply` (typed answers), `render` (the one place answers
//!   become text, colour and JSON), `protocol` (JSON lines).
//!
//! The shell:
//! - `startup`: `taskmaster` from its command line (`cli`) to the running loop.
//! - `event_loop`: the one `mio` loop (`mod`), and its hands (`io`): spawning, signalling,
//!   logging, answering, applying a reload's own settings; commands from where they come in
//!   (`commands`); alerts from a transition to a reaped helper (`alerting`); the metrics
//!   endpoint's listener and scrapers (`scraping`); reaping and the orphans a death hands over
//!   (`reaping`); what systemd is told (`notify`).
//! - `control::server` and `control::socket_file`: the socket's clients and its file.
//! - `output`: child output, from pipes to its destinations (`sinks`): files shared by path and
//!   rotated between lines (`files`, also the main log's), lines cut and stamped (`lines`),
//!   syslog (`syslog`); `append`: how every file taskmaster writes is opened; `logging`: the main
//!   log and its mirror on the console.
//! - `leftovers`: the record of process groups that lets a taskmaster clean up after one that
//!   was killed.
//! - `shell`: who types (`Typist`): the line editor stepped from the loop (`editor`), piped lines
//!   (`lines`), completion (`complete`), and the `session` both shells share.
//! - `client`: `taskmasterctl`: its command line, the connection, its shell.
//! - `preflight`: what `--check` can only tell on this machine.
//! - `sys`: the only module allowed raw system calls (denied everywhere else by the crate's lints):
//!   spawning (`clone`, used by `spawn` for programs and helpers), reaping, signals, limits, the
//!   terminal's modes (`tty`), output that never blocks (`outbox`), the terminal the line editor
//!   uses (`terminal`), memory files for helpers' jobs (`memfile`) and a helper's socket options
//!   (`nodelay`).
//!
//! # One event, followed: a child dies, and is started again
//!
//! 1. The kernel sends SIGCHLD; signal-hook's handler writes to its pipe, and `poll` in
//!    `event_loop::Daemon::run` wakes with the signals' token.
//! 2. `Daemon::reap` (`event_loop::reaping`): `sys::reap` looks at the dead child without
//!    reaping it, kills what is left of its process group while the zombie still holds the
//!    group's number (when it was being stopped), then reaps it; taskmaster's children are
//!    looked at for orphans it handed over (`Input::Left`); its pipes are drained (`output`) and
//!    the groups file notes it (`leftovers`).
//! 3. `Input::Reaped` goes to `Supervisor::run`, which finds the process by its pid and steps its
//!    machine: `process::step` moves RUNNING to EXITED and, by `autorestart`, on to a spawn (or
//!    arms a crash-loop delay in `timers`), with a log event.
//! 4. The effects become actions: the log line goes out (`Hands::log`), the spawn is done by
//!    `event_loop::io` (output files opened, `sys::spawn` clones and execs, pipes registered), and
//!    its result comes back as `Input::Spawned`: STARTING, with its `starttime` deadline armed.
//! 5. `poll`'s timeout is the next deadline: when `starttime` has passed, `Input::Tick` steps the
//!    process to RUNNING. An idle taskmaster has no deadline and sleeps.
//!
//! # Where new things go
//!
//! A command (`attach`, `tail`, `reopen`) is a row of `control::command`'s table and a variant of
//! its `Command`; its answer a `control::reply` variant, printed by `control::render`. Output kept
//! in memory belongs beside `output`; a pseudo-terminal in `sys::tty`; checks, like alerts, are
//! a pure part with its deadlines (folded into `poll`'s timeout) and helpers run as children,
//! their output read by `output`.

mod alerts;
mod append;
mod cli;
mod client;
mod config;
mod control;
mod event_loop;
mod import;
mod leftovers;
mod logging;
mod metrics;
mod output;
mod preflight;
mod process;
mod shell;
mod startup;
mod supervisor;
mod sys;
mod tail;
mod timers;

#[cfg(test)]
mod fuzz_tests;

/// `taskmaster` with the arguments after its name.
pub fn taskmaster(args: &[String]) -> std::process::ExitCode {
    // The hidden mode of the helpers that deliver alerts (taskmaster(1), ALERTS).
    if args.first().map(String::as_str) == Some(alerts::deliver::FLAG) {
        return alerts::deliver::main();
    }
    startup::main(args)
}

/// `taskmasterctl` with the arguments after its name.
pub fn taskmasterctl(args: &[String]) -> std::process::ExitCode {
    client::command_line::main(args)
}

/// What the manual documents, for the tests that hold it to the code.
pub mod vocabulary {
    pub use crate::cli::USAGE;
    pub use crate::client::{CtlExit, USAGE as CTL_USAGE};
    pub use crate::config::raw::{DAEMON_KEYS, PROGRAM_KEYS, TOP_KEYS};
    pub use crate::control::command::{COMMANDS, CommandSpec};
    pub use crate::process::StateName;
}

/// Exit statuses of `taskmaster` (taskmaster(1), EXIT STATUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A clean shutdown, or a valid `--check`.
    Clean = 0,
    /// A fatal error after start (socket already served, log not writable, ...).
    Fatal = 1,
    /// A usage or configuration error at start.
    Usage = 2,
    /// A shutdown that had to kill processes with SIGKILL (past their stoptime, or a second
    /// SIGTERM).
    Killed = 3,
}

impl Exit {
    pub const ALL: [Exit; 4] = [Exit::Clean, Exit::Fatal, Exit::Usage, Exit::Killed];
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
