//! What `status` says about a process: the human line (supervisord's layout) and the JSON object of
//! taskmaster(1), CONTROL PROTOCOL.

use super::{Now, Process};
use crate::process::ProcState;
use chrono::{DateTime, Local};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

/// The state column's width.
pub const STATE_WIDTH: usize = 10;

/// The name column's width for these names: max(30, longest) + 3.
pub fn name_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(str::len).max().unwrap_or(0).max(30) + 3
}

/// `web:web_00                       RUNNING   pid 1234, uptime 0:01:02`
pub fn status_line(p: &Process, width: usize, now: &Now) -> String {
    let line =
        format!("{:width$}{:STATE_WIDTH$}{}", p.name, p.machine.state.name().as_str(), describe(p, now));
    line.trim_end().to_string()
}

/// The description column.
pub fn describe(p: &Process, now: &Now) -> String {
    match &p.machine.state {
        ProcState::Running { pid, since } => {
            format!("pid {pid}, uptime {}", format_uptime(now.mono.saturating_duration_since(*since)))
        }
        ProcState::Starting { pid, .. } | ProcState::Stopping { pid, .. } => format!("pid {pid}"),
        ProcState::Spawning { .. } => String::new(),
        ProcState::Backoff { reason, .. } | ProcState::Fatal { reason } => reason.clone(),
        ProcState::Exited { at, exit, .. } => format!("{exit}, {}", local_date(now.wall_of(*at))),
        ProcState::Stopped { since: None } => "Not started".to_string(),
        ProcState::Stopped { since: Some(at) } => local_date(now.wall_of(*at)),
    }
}

/// The `status` object of taskmaster(1), CONTROL PROTOCOL.
pub fn status_json(p: &Process, now: &Now) -> Value {
    let state = &p.machine.state;
    let uptime = match state {
        ProcState::Running { since, .. } | ProcState::Starting { since, .. } => {
            Some(now.mono.saturating_duration_since(*since).as_secs_f64())
        }
        ProcState::Stopped { .. }
        | ProcState::Spawning { .. }
        | ProcState::Backoff { .. }
        | ProcState::Stopping { .. }
        | ProcState::Exited { .. }
        | ProcState::Fatal { .. } => None,
    };
    let retries = match state {
        ProcState::Spawning { retries }
        | ProcState::Starting { retries, .. }
        | ProcState::Backoff { retries, .. } => *retries,
        ProcState::Stopped { .. }
        | ProcState::Running { .. }
        | ProcState::Stopping { .. }
        | ProcState::Exited { .. }
        | ProcState::Fatal { .. } => 0,
    };
    let expected = match state {
        ProcState::Exited { expected, .. } => Some(*expected),
        ProcState::Stopped { .. }
        | ProcState::Spawning { .. }
        | ProcState::Starting { .. }
        | ProcState::Running { .. }
        | ProcState::Backoff { .. }
        | ProcState::Stopping { .. }
        | ProcState::Fatal { .. } => None,
    };
    let last = p.machine.last_exit;
    json!({
        "name": p.name,
        "program": p.program,
        "state": state.name().as_str(),
        "pid": state.pid().map(|pid| pid.as_raw()),
        "uptime": uptime,
        "exitstatus": last.and_then(|e| e.code()),
        "signal": last.and_then(|e| e.signo()).map(crate::process::exit::signal_name),
        "retries": retries,
        "description": describe(p, now),
        "expected": expected,
    })
}

/// `0:01:02`, or `1 day, 2:03:04` past a day (supervisord's format).
pub fn format_uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match days {
        0 => format!("{h}:{m:02}:{sec:02}"),
        1 => format!("1 day, {h}:{m:02}:{sec:02}"),
        n => format!("{n} days, {h}:{m:02}:{sec:02}"),
    }
}

/// `Nov 26 05:32 AM`, in local time.
pub fn local_date(at: SystemTime) -> String {
    DateTime::<Local>::from(at).format("%b %d %I:%M %p").to_string()
}

/// Seconds as a person writes them: `5`, `0.5`, `1.25`.
pub fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    match s.fract() == 0.0 {
        true => format!("{s:.0}"),
        false => format!("{}", (s * 1000.0).round() / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_reads_like_supervisord() {
        assert_eq!(format_uptime(Duration::from_secs(62)), "0:01:02");
        assert_eq!(format_uptime(Duration::from_secs(3600 * 5 + 7)), "5:00:07");
        assert_eq!(format_uptime(Duration::from_secs(86_400 + 3723)), "1 day, 1:02:03");
        assert_eq!(format_uptime(Duration::from_secs(3 * 86_400)), "3 days, 0:00:00");
    }

    #[test]
    fn seconds_drop_needless_decimals() {
        assert_eq!(seconds(Duration::from_secs(5)), "5");
        assert_eq!(seconds(Duration::from_millis(500)), "0.5");
        assert_eq!(seconds(Duration::from_millis(1250)), "1.25");
    }

    #[test]
    fn the_name_column_is_at_least_33_wide() {
        assert_eq!(name_width(["a", "bb"].into_iter()), 33);
        assert_eq!(name_width(["x".repeat(40).as_str()].into_iter()), 43);
    }
}
