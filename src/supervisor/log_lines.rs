//! The main log's line for each event of a process (taskmaster(1), LOG): supervisord's words,
//! which scripts grep for.

use super::status;
use crate::config::LogLevel;
use crate::process::{Cancelled, Event};

/// The log line of an event (taskmaster(1), LOG), with its level as supervisord gives it.
pub(super) fn log_line(name: &str, event: &Event) -> (LogLevel, String) {
    use LogLevel::{Info, Warn};
    match event {
        Event::Spawned { pid } => (Info, format!("spawned: '{name}' with pid {pid}")),
        Event::SpawnErr { reason } => (Info, format!("spawnerr: {reason} (process '{name}')")),
        Event::Success { starttime } => (
            Info,
            format!(
                "success: {name} entered RUNNING state, process has stayed up for > than {} seconds (starttime)",
                status::seconds(*starttime)
            ),
        ),
        Event::Ready { probe } if probe.is_empty() => {
            (Info, format!("success: {name} entered RUNNING state, its ready probe was removed"))
        }
        Event::Ready { probe } => {
            (Info, format!("success: {name} entered RUNNING state, it is ready ({probe})"))
        }
        Event::NotReady { timeout } => (
            Warn,
            format!(
                "not ready: {name} did not pass its ready probe within {}; stopping it, the start failed",
                crate::process::in_seconds(*timeout)
            ),
        ),
        Event::Exited { exit, expected: true } => (Info, format!("exited: {name} ({exit}; expected)")),
        Event::Exited { exit, expected: false } => (Warn, format!("exited: {name} ({exit}; not expected)")),
        Event::GaveUp => {
            (Info, format!("gave up: {name} entered FATAL state, too many start retries too quickly"))
        }
        Event::Waiting => (Info, format!("waiting for {name} to stop")),
        Event::Stopped { exit, expected: true } => (Info, format!("stopped: {name} ({exit})")),
        Event::Stopped { exit, expected: false } => (Warn, format!("stopped: {name} ({exit})")),
        Event::Killing { pid } => (Warn, format!("killing '{name}' ({pid}) with SIGKILL")),
        Event::Hint(hint) => (Warn, format!("{name}: {}", hint.to_lowercase())),
        Event::Cancelled { from: Cancelled::Retry } => {
            (Info, format!("stopped: {name} (the retry was cancelled)"))
        }
        Event::Cancelled { from: Cancelled::Restart } => {
            (Info, format!("stopped: {name} (the restart was cancelled)"))
        }
    }
}
