//! The one place where answers become what people and programs read (taskmaster(1), COMMANDS
//! and CONTROL PROTOCOL): the text both shells print (in colour on a terminal), and the
//! protocol's response with its typed records. taskmasterctl decodes the same records and
//! prints them with the same functions.

use super::protocol::Response;
use super::reply::{
    Denial, Detail, HealthView, Outcome, Pids, ProcessView, ReloadOutcome, Reply, StatusReply, Verdict,
};
use crate::config::diff::Plan;
use crate::process::StateName;
use chrono::{DateTime, Local};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::time::{Duration, SystemTime};

/// One process in a `status` answer's `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StatusRecord {
    pub(crate) name: String,
    pub(crate) program: String,
    pub(crate) state: StateName,
    pub(crate) pid: Option<i32>,
    /// Seconds.
    pub(crate) uptime: Option<f64>,
    /// The exit code of its last run (null if a signal ended it, or it has not ended).
    pub(crate) exitstatus: Option<i32>,
    /// The signal that ended its last run, like `SIGKILL`.
    pub(crate) signal: Option<String>,
    pub(crate) retries: u32,
    pub(crate) description: String,
    /// For EXITED: whether the end was expected.
    pub(crate) expected: Option<bool>,
    /// Its last health check, when it has one (taskmaster(1), ORDER AND HEALTH).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) health: Option<HealthView>,
    /// The pids its main process left running when it ended.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) left: Vec<i32>,
}

/// One line of a `start`, `stop`, `restart` or `signal` answer's `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OutcomeRecord {
    pub(crate) name: String,
    pub(crate) ok: bool,
    pub(crate) message: String,
}

/// The protocol's response to a reply, as a client reads it.
#[cfg(test)]
pub(crate) fn response(reply: &Reply) -> Response {
    serde_json::from_slice(&response_line(reply)).expect("a response line is a response")
}

/// `response(reply).to_line()`, written straight from the records: a status of ten thousand
/// processes is not built as a JSON tree first, which took most of its time.
pub(crate) fn response_line(reply: &Reply) -> Vec<u8> {
    #[derive(Serialize)]
    struct Wire<'a, D: Serialize> {
        ok: bool,
        output: &'a str,
        data: D,
    }
    let ok = reply.ok();
    let line = match reply {
        Reply::Status(status) => {
            let records = records(&status.processes);
            let output = status_text(&records, &status_notes(status), false);
            serde_json::to_vec(&Wire { ok, output: &output, data: &records })
        }
        other => serde_json::to_vec(&Wire { ok, output: &text(other, false), data: data(other) }),
    };
    let mut line = line.unwrap_or_else(|_| Response::error("internal error").to_line());
    if line.last() != Some(&b'\n') {
        line.push(b'\n');
    }
    line
}

/// The answer to a command that applied to none of the processes it named.
const NOTHING_TO_DO: &str = "(nothing to do: no process named needed it)";

/// The text a person reads; `color` on a terminal.
pub(crate) fn text(reply: &Reply, color: bool) -> String {
    match reply {
        Reply::Status(status) => status_text(&records(&status.processes), &status_notes(status), color),
        // `start all` with everything started: said, so that silence is never the answer.
        Reply::Outcomes(outcomes) if outcomes.is_empty() => NOTHING_TO_DO.to_string(),
        Reply::Outcomes(outcomes) => outcomes.iter().map(outcome_line).collect::<Vec<_>>().join("\n"),
        Reply::Pids(Pids::Daemon(pid)) => pid.to_string(),
        // Never a 0 for a process that does not run: `kill -9 $(taskmasterctl pid web)` would
        // then kill the caller's own process group.
        Reply::Pids(Pids::Processes(pids)) => pids
            .iter()
            .map(|(name, pid)| pid.map_or_else(|| format!("{name}: ERROR (not running)"), |p| p.to_string()))
            .collect::<Vec<_>>()
            .join("\n"),
        Reply::Pids(Pids::NoSuch(target)) => format!("{target}: ERROR (no such process)"),
        Reply::Reload(ReloadOutcome::Applied(plan)) => plan_lines(plan).join("\n"),
        Reply::Reload(ReloadOutcome::DryRun(plan)) => {
            let mut lines = plan_lines(plan);
            // The order, where there is one to see (taskmaster(1), ORDER AND HEALTH).
            let unchanged = lines.pop();
            if plan.stop_order.len() > 1 {
                lines.push(format!("stop order: {}", plan.stop_order.join(", ")));
            }
            if plan.start_order.len() > 1 {
                lines.push(format!("start order: {}", plan.start_order.join(", ")));
            }
            lines.extend(unchanged);
            format!("dry run: nothing was changed\n{}", lines.join("\n"))
        }
        Reply::Reload(ReloadOutcome::Invalid(errors)) => {
            format!("the configuration has errors; nothing changed\n{errors}")
        }
        Reply::Reload(ReloadOutcome::Ignored) => "reload ignored: taskmaster is shutting down".to_string(),
        Reply::ShutDown => "Shut down".to_string(),
        Reply::ShuttingDown => {
            format!("{}: taskmaster is shutting down", verdict_text(Verdict::ShuttingDown))
        }
        Reply::Version => crate::VERSION.to_string(),
        Reply::Help(text) | Reply::Refused(text) => text.clone(),
        Reply::Tail(tail) if tail.lines.is_empty() => match (tail.kept, tail.terminal, tail.stream) {
            (_, true, crate::tail::Stream::Stderr) => {
                format!("({} has a terminal (tty: true): all it writes is on stdout)", tail.name)
            }
            (_, _, crate::tail::Stream::Stderr) if tail.merged => {
                format!(
                    "({} writes stderr into stdout (stderr: stdout): `tail {}` shows both)",
                    tail.name, tail.name
                )
            }
            (true, _, _) => format!("({}: nothing on {} yet)", tail.name, tail.stream.name()),
            (false, _, _) => format!("({} keeps no output in memory: its tail_bytes is 0)", tail.name),
        },
        // Shown, not played: a terminal program's escapes (the alternate screen, a cursor
        // query a terminal answers as if typed) would act on the reader's terminal.
        Reply::Tail(tail) => {
            tail.lines.iter().map(|l| super::stream::printable(l)).collect::<Vec<_>>().join("\n")
        }
        Reply::Attached(a) if a.tty => {
            format!("[attached to {} (pid {}): {} detaches]", a.name, a.pid, a.detach_key)
        }
        Reply::Attached(a) => format!(
            "[attached to {} (pid {}), output only: it has no terminal (tty: false); {} or ctrl-c detaches]",
            a.name, a.pid, a.detach_key
        ),
        Reply::Reopened(problems) if problems.is_empty() => "the log files were reopened".to_string(),
        Reply::Reopened(problems) => problems.join("\n"),
        Reply::Alerts(None) => NO_ALERTS.to_string(),
        Reply::Alerts(Some(report)) => alerts_text(report),
        Reply::AlertsTested(results) => {
            results.iter().map(|r| format!("{}: {}", r.channel, r.message)).collect::<Vec<_>>().join("\n")
        }
        Reply::Denied(denial) => {
            let mut lines: Vec<String> = denial.names.iter().map(|n| format!("{n}: {DENIED}")).collect();
            lines.push(format!(
                "{} is not an admin of taskmaster: it may run {}",
                denial.who,
                super::access::READER_COMMANDS
            ));
            lines.join("\n")
        }
    }
}

pub(crate) const NO_ALERTS: &str =
    "no alerts are configured (see `alerts` in the taskmaster section, taskmaster(1) ALERTS)";

/// One line per channel, then what is sent and what waits.
fn alerts_text(report: &super::reply::AlertsReport) -> String {
    let width = report.channels.iter().map(|c| c.target.len()).max().unwrap_or(0);
    let mut lines: Vec<String> = report
        .channels
        .iter()
        .map(|c| {
            let last = c.last_failure.as_ref().map(|w| format!(" (last: {w})")).unwrap_or_default();
            format!("{:8} {:width$}  sent {}, failed {}{last}", c.channel, c.target, c.sent, c.failed)
        })
        .collect();
    let events = if report.events.is_empty() { "none".to_string() } else { report.events.join(", ") };
    lines.push(format!(
        "events: {events}; digests after {} s; {} waiting for a digest, {} being delivered",
        report.min_interval, report.waiting, report.pending
    ));
    lines.join("\n")
}

/// What a refused command says for each of its targets.
const DENIED: &str = "ERROR (permission denied)";

fn denied_records(denial: &Denial) -> Vec<OutcomeRecord> {
    let record = |name: &String| OutcomeRecord { name: name.clone(), ok: false, message: DENIED.to_string() };
    denial.names.iter().map(record).collect()
}

fn data(reply: &Reply) -> Value {
    match reply {
        Reply::Status(status) => json!(records(&status.processes)),
        Reply::Outcomes(outcomes) => json!(outcomes.iter().map(outcome_record).collect::<Vec<_>>()),
        Reply::Pids(Pids::Daemon(pid)) => json!(pid),
        Reply::Pids(Pids::Processes(pids)) => match pids.as_slice() {
            [(_, one)] => json!(one),
            many => json!(many.iter().map(|(_, pid)| pid).collect::<Vec<_>>()),
        },
        Reply::Reload(ReloadOutcome::Applied(plan) | ReloadOutcome::DryRun(plan)) => json!(plan),
        Reply::Version => json!(crate::VERSION),
        Reply::Denied(denial) => json!(denied_records(denial)),
        Reply::Tail(tail) => json!({"name": tail.name, "stream": tail.stream.name(), "lines": tail.lines}),
        Reply::Alerts(report) => json!(report),
        Reply::AlertsTested(results) => json!(results),
        Reply::Attached(attached) => json!(attached),
        Reply::Reopened(problems) => json!(problems),
        Reply::Pids(Pids::NoSuch(_))
        | Reply::Reload(ReloadOutcome::Invalid(_) | ReloadOutcome::Ignored)
        | Reply::ShutDown
        | Reply::ShuttingDown
        | Reply::Help(_)
        | Reply::Refused(_) => Value::Null,
    }
}

fn outcome_line(o: &Outcome) -> String {
    format!("{}: {}", o.name, outcome_message(o))
}

fn outcome_record(o: &Outcome) -> OutcomeRecord {
    OutcomeRecord { name: o.name.clone(), ok: o.verdict.ok(), message: outcome_message(o) }
}

/// What follows `NAME: `: the verdict, and why when there is a note (`started (app depends on
/// it)`, `ERROR (it depends on db, which is FATAL)`).
fn outcome_message(o: &Outcome) -> String {
    let text = verdict_text(o.verdict);
    match (&o.note, o.verdict) {
        (None, _) => text.to_string(),
        (Some(note), Verdict::DependencyFailed) => format!("ERROR ({note})"),
        // One pair of parentheses: `ERROR (spawn error; app depends on it)`.
        (Some(note), _) if text.ends_with(')') => format!("{}; {note})", &text[..text.len() - 1]),
        (Some(note), _) => format!("{text} ({note})"),
    }
}

/// What an outcome's line says after `NAME: ` (supervisord's words).
fn verdict_text(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::Started => "started",
        Verdict::Stopped => "stopped",
        Verdict::Signalled => "signalled",
        Verdict::AlreadyStarted => "ERROR (already started)",
        Verdict::NotRunning => "ERROR (not running)",
        Verdict::SpawnError => "ERROR (spawn error)",
        Verdict::Abnormal => "ERROR (abnormal termination)",
        Verdict::DependencyFailed => "ERROR (a dependency is not running)",
        Verdict::NoSuchProcess => "ERROR (no such process)",
        Verdict::ShuttingDown => "ERROR (shutting down)",
    }
}

/// A reload's answer: one line per kind of change, then the count of unchanged programs.
fn plan_lines(plan: &Plan) -> Vec<String> {
    let mut lines = Vec::new();
    for (label, names) in [
        ("added", &plan.added),
        ("removed", &plan.removed),
        ("restarted", &plan.restarted),
        ("updated", &plan.updated),
    ] {
        if !names.is_empty() {
            lines.push(format!("{label}: {}", names.join(", ")));
        }
    }
    if !plan.scaled.is_empty() {
        let scaled: Vec<String> =
            plan.scaled.iter().map(|s| format!("{} {}→{}", s.program, s.from, s.to)).collect();
        lines.push(format!("scaled: {}", scaled.join(", ")));
    }
    if !plan.started.is_empty() {
        lines.push(format!("started: {}", plan.started.join(", ")));
    }
    if !plan.settings.is_empty() {
        lines.push(format!("settings: {}", plan.settings.join(", ")));
    }

    lines.push(format!("unchanged: {}", plan.unchanged));
    lines.extend(plan.problems.iter().map(|p| format!("ERROR: {p}")));
    lines
}

/// The lines after the processes: unknown targets, then warnings.
fn status_notes(status: &StatusReply) -> Vec<String> {
    let unknown = status.unknown.iter().map(|t| format!("{t}: ERROR (no such process)"));
    unknown.chain(status.warnings.iter().map(|w| format!("warning: {w}"))).collect()
}

/// The records of `status`, with their descriptions.
fn records(processes: &[ProcessView]) -> Vec<StatusRecord> {
    processes
        .iter()
        .map(|p| StatusRecord {
            name: p.name.clone(),
            program: p.program.clone(),
            state: p.state,
            pid: p.pid,
            uptime: p.uptime.map(|u| u.as_secs_f64()),
            exitstatus: p.last_exit.and_then(|e| e.code()),
            signal: p.last_exit.and_then(|e| e.signo()).map(crate::process::exit::signal_name),
            retries: p.retries,
            description: describe_all(p),
            health: p.health.clone(),
            left: p.left.clone(),
            expected: p.expected,
        })
        .collect()
}

/// `status` as text: one line per process (supervisord's layout, the state coloured when
/// `color`), then `notes` (unknown targets, warnings). Written into one string: ten thousand
/// lines are a megabyte.
fn status_text(records: &[StatusRecord], notes: &[String], color: bool) -> String {
    let width = name_width(records.iter().map(|r| r.name.as_str()));
    let mut out = String::with_capacity(records.len() * (width + STATE_WIDTH + 32));
    for r in records {
        status_line(&mut out, r, width, color);
        out.push('\n');
    }
    for note in notes {
        out.push_str(note);
        out.push('\n');
    }
    out.pop();
    out
}

/// The state column's width.
const STATE_WIDTH: usize = 10;

/// The name column's width for these names: max(30, longest) + 3.
fn name_width<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.map(str::len).max().unwrap_or(0).max(30) + 3
}

/// `web:web_00                       RUNNING   pid 1234, uptime 0:01:02`, appended to `out`.
fn status_line(out: &mut String, r: &StatusRecord, width: usize, color: bool) {
    use std::fmt::Write as _;
    let start = out.len();
    let state = r.state.as_str();
    let _ = write!(out, "{:width$}", r.name);
    match color.then(|| color_of(r)).flatten() {
        Some(code) => {
            let _ = write!(
                out,
                "\x1b[{code}m{state}\x1b[0m{:pad$}",
                "",
                pad = STATE_WIDTH.saturating_sub(state.len())
            );
        }
        None => {
            let _ = write!(out, "{state:STATE_WIDTH$}");
        }
    }
    out.push_str(&r.description);
    let kept = out[start..].trim_end().len();
    out.truncate(start + kept);
}

/// RUNNING green; STARTING, STOPPING, BACKOFF yellow; FATAL and an unexpected EXITED red.
fn color_of(r: &StatusRecord) -> Option<&'static str> {
    match r.state {
        StateName::Running => Some("32"),
        StateName::Starting | StateName::Stopping | StateName::Backoff => Some("33"),
        StateName::Fatal => Some("31"),
        StateName::Exited if r.expected == Some(false) => Some("31"),
        StateName::Exited | StateName::Stopped => None,
    }
}

/// Whether to colour what goes to standard output: a terminal, and no `NO_COLOR`.
pub(crate) fn color_wanted() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// The description column: the state's, then health, then what a queued move waits for.
fn describe_all(p: &ProcessView) -> String {
    let health = p.health.as_ref().map(|h| match (h.healthy, &h.why) {
        (true, _) => "healthy".to_string(),
        (false, why) => format!(
            "health check failed {} of {}{}",
            h.failures,
            h.retries,
            why.as_deref().map(|w| format!(": {w}")).unwrap_or_default()
        ),
    });
    let left = match p.left.as_slice() {
        [] => None,
        [one] => Some(format!("left {one} running")),
        many => Some(format!("left {} processes running", many.len())),
    };
    let parts: Vec<String> = [Some(describe(&p.detail)), health, left, p.waiting.clone()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    parts.join(", ")
}

/// The description column.
fn describe(detail: &Detail) -> String {
    match detail {
        Detail::Running { pid, uptime } => format!("pid {pid}, uptime {}", format_uptime(*uptime)),
        Detail::Pid(pid) => format!("pid {pid}"),
        Detail::Reason(reason) => reason.to_string(),
        Detail::Exited { exit, at } => format!("{exit}, {}", local_date(*at)),
        Detail::NotStarted => "Not started".to_string(),
        Detail::StoppedAt(at) => local_date(*at),
        Detail::Nothing => String::new(),
    }
}

/// `0:01:02`, or `1 day, 2:03:04` past a day (supervisord's format).
fn format_uptime(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    match days {
        0 => format!("{h}:{m:02}:{sec:02}"),
        1 => format!("1 day, {h}:{m:02}:{sec:02}"),
        n => format!("{n} days, {h}:{m:02}:{sec:02}"),
    }
}

/// `Nov 26 05:32 AM`, in local time.
fn local_date(at: SystemTime) -> String {
    DateTime::<Local>::from(at).format("%b %d %I:%M %p").to_string()
}

/// The text of a response taskmasterctl received: a status answer is printed again from its
/// records, in colour when `color`; any other, or one whose text is not the records' (another
/// version's), as it came.
pub(crate) fn response_text(response: &Response, color: bool) -> String {
    if !color {
        return response.output.clone();
    }
    let Ok(records) = serde_json::from_value::<Vec<StatusRecord>>(response.data.clone()) else {
        return response.output.clone();
    };
    let plain = status_text(&records, &[], false);
    match response.output.strip_prefix(&plain) {
        Some(rest) if !records.is_empty() => {
            let notes: Vec<String> = rest.lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
            status_text(&records, &notes, true)
        }
        _ => response.output.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;
    use crate::control::reply::ProcessView;
    use crate::process::ExitKind;

    fn view(name: &str, state: StateName, detail: Detail, expected: Option<bool>) -> ProcessView {
        ProcessView {
            name: name.into(),
            program: name.into(),
            state,
            pid: None,
            uptime: None,
            last_exit: None,
            retries: 0,
            expected,
            detail,
            health: None,
            waiting: None,
            left: Vec::new(),
        }
    }

    #[test]
    fn uptime_reads_like_supervisord() {
        assert_eq!(format_uptime(Duration::from_secs(62)), "0:01:02");
        assert_eq!(format_uptime(Duration::from_secs(3600 * 5 + 7)), "5:00:07");
        assert_eq!(format_uptime(Duration::from_secs(86_400 + 3723)), "1 day, 1:02:03");
        assert_eq!(format_uptime(Duration::from_secs(3 * 86_400)), "3 days, 0:00:00");
    }

    #[test]
    fn the_name_column_is_at_least_33_wide() {
        assert_eq!(name_width(["a", "bb"].into_iter()), 33);
        assert_eq!(name_width(["x".repeat(40).as_str()].into_iter()), 43);
    }

    #[test]
    fn states_are_coloured_in_place_and_the_text_is_the_same_without() {
        let status = Reply::Status(StatusReply {
            processes: vec![
                view(
                    "web",
                    StateName::Running,
                    Detail::Running { pid: 1, uptime: Duration::from_secs(62) },
                    None,
                ),
                view(
                    "fix",
                    StateName::Exited,
                    Detail::Exited { exit: ExitKind::Code(3), at: SystemTime::now() },
                    Some(false),
                ),
                view(
                    "ok",
                    StateName::Exited,
                    Detail::Exited { exit: ExitKind::Code(0), at: SystemTime::now() },
                    Some(true),
                ),
                view("z", StateName::Stopped, Detail::NotStarted, None),
            ],
            unknown: vec!["nope".into()],
            warnings: vec![],
        });
        let plain = text(&status, false);
        let lines: Vec<&str> = plain.lines().collect();
        assert_eq!(lines[0], format!("{:33}RUNNING   pid 1, uptime 0:01:02", "web"));
        assert_eq!(lines[3], format!("{:33}STOPPED   Not started", "z"));
        assert_eq!(lines[4], "nope: ERROR (no such process)");
        let coloured = text(&status, true);
        let lines: Vec<&str> = coloured.lines().collect();
        assert!(lines[0].contains("\x1b[32mRUNNING\x1b[0m   pid 1"), "{}", lines[0]);
        assert!(lines[1].contains("\x1b[31mEXITED\x1b[0m    exit status 3"));
        assert!(!lines[2].contains('\x1b'), "an expected exit is not red");
        // taskmasterctl prints the records it decodes the same way.
        let wire = response(&status);
        assert_eq!(wire.data, data(&status), "the records written straight are the tree's");
        assert!(wire.data[0]["state"] == "RUNNING" && wire.data.as_array().map(Vec::len) == Some(4));
        assert!(!wire.ok);
        assert_eq!(response_text(&wire, true), coloured);
        assert_eq!(response_text(&wire, false), plain);
    }

    #[test]
    fn outcomes_are_lines_and_records() {
        let reply = Reply::Outcomes(vec![
            Outcome::new("b", Verdict::NotRunning),
            Outcome::new("a", Verdict::Stopped),
        ]);
        let wire = response(&reply);
        assert_eq!(wire.output, "b: ERROR (not running)\na: stopped");
        let none = response(&Reply::Outcomes(Vec::new()));
        assert_eq!((none.ok, none.output.as_str(), none.data), (true, NOTHING_TO_DO, json!([])));
        assert!(!wire.ok);
        assert_eq!(
            wire.data,
            json!([{"name": "b", "ok": false, "message": "ERROR (not running)"}, {"name": "a", "ok": true, "message": "stopped"}])
        );
    }

    #[test]
    fn a_reload_says_each_kind_of_change_then_the_unchanged() {
        use crate::config::diff::Scale;
        let plan = Plan {
            restarted: vec!["c".into()],
            updated: vec!["b".into()],
            scaled: vec![
                Scale { program: "a".into(), from: 1, to: 3 },
                Scale { program: "b".into(), from: 2, to: 1 },
            ],
            ..Plan::default()
        };
        assert_eq!(plan_lines(&plan), ["restarted: c", "updated: b", "scaled: a 1→3, b 2→1", "unchanged: 0"]);
        assert_eq!(plan_lines(&Plan { unchanged: 3, ..Plan::default() }), ["unchanged: 3"]);
        let dry = text(&Reply::Reload(ReloadOutcome::DryRun(Box::new(plan))), false);
        assert!(dry.starts_with("dry run: nothing was changed\nrestarted: c\n"), "{dry}");
    }

    #[test]
    fn a_status_whose_text_is_not_its_records_is_printed_as_it_came() {
        let wire = Response {
            ok: true,
            output: "something else".into(),
            data: json!([{"name": "a", "program": "a", "state": "RUNNING", "pid": 1, "uptime": 1.0,
                          "exitstatus": null, "signal": null, "retries": 0, "description": "pid 1",
                          "expected": null}]),
        };
        assert_eq!(response_text(&wire, true), "something else");
    }
}
