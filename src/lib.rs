//! taskmaster: a single-threaded, event-driven job-control daemon.
//!
//! The crate is a functional core (config, state machine, supervisor table, protocol) and an
//! imperative shell (the event loop, `sys`, sockets, files, the terminal). See the architecture overview below.

pub mod append;
pub mod capture;
pub mod cli;
pub mod client;
pub mod config;
pub mod control;
pub mod event_loop;
pub mod leftovers;
pub mod logging;
pub mod preflight;
pub mod process;
pub mod shell;
pub mod supervisor;
pub mod sys;
pub mod timers;

/// Exit statuses of `taskmaster` (taskmaster(1), EXIT STATUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// A clean shutdown, or a valid `--check`.
    Clean = 0,
    /// A fatal error after start (socket already served, log not writable, ...).
    Fatal = 1,
    /// A usage or configuration error at start.
    Usage = 2,
}

impl Exit {
    pub const ALL: [Exit; 3] = [Exit::Clean, Exit::Fatal, Exit::Usage];
}

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
