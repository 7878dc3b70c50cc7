use super::*;
use crate::config::{CommandLine, ProgramSpec};
use std::collections::BTreeMap;

fn spec() -> ProgramSpec {
    ProgramSpec {
        name: "p".into(),
        cmd: CommandLine { text: "p".into(), argv: vec!["p".into()] },
        numprocs: 1,
        umask: None,
        workingdir: None,
        autostart: true,
        autorestart: RestartPolicy::Unexpected,
        exitcodes: vec![0],
        startretries: 3,
        starttime: Duration::from_secs(1),
        stopsignal: Signal::SIGTERM,
        stoptime: Duration::from_secs(10),
        stopasgroup: false,
        stdout: None,
        stderr: None,
        env: BTreeMap::new(),
        run_as: None,
        tail_bytes: 0,
        tty: false,
        critical: false,
        alerts: true,
        priority: crate::config::checks::DEFAULT_PRIORITY,
        depends_on: Vec::new(),
        ready: None,
        healthcheck: None,
        backoff: crate::config::Backoff::default(),
        rlimits: BTreeMap::new(),
        env_file: None,
        origin: None,
        per_process: None,
    }
}

fn pid(n: i32) -> Pid {
    Pid::from_raw(n)
}

/// A short, comparable summary: the state name, then each effect.
fn summary(m: &Machine, effects: &[Effect]) -> String {
    let mut out = vec![m.state.name().as_str().to_string()];
    for e in effects {
        out.push(match e {
            Effect::Spawn => "spawn".to_string(),
            Effect::Signal { signal, group, .. } => {
                format!("sig:{}{}", &signal.as_str()[3..], if *group { "/g" } else { "" })
            }
            Effect::Log(event) => format!("log:{}", event_name(event)),
        });
    }
    out.join(" ")
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::Spawned { .. } => "spawned",
        Event::SpawnErr { .. } => "spawnerr",
        Event::Success { .. } => "success",
        Event::Exited { .. } => "exited",
        Event::GaveUp => "gaveup",
        Event::Waiting => "waiting",
        Event::Stopped { .. } => "stopped",
        Event::Killing { .. } => "killing",
        Event::Cancelled { .. } => "cancelled",
        Event::Hint(_) => "hint",
        Event::Ready { .. } => "ready",
        Event::NotReady { .. } => "notready",
    }
}

/// Every state with its deadline due at `now`.
fn states(now: Instant) -> Vec<(&'static str, ProcState)> {
    let s = Duration::from_secs;
    vec![
        ("STOPPED", ProcState::Stopped { since: None }),
        ("SPAWNING", ProcState::Spawning { retries: 0 }),
        (
            "STARTING",
            ProcState::Starting {
                pid: pid(10),
                since: now - s(2),
                up_at: Some(now - s(1)),
                ready_by: None,
                retries: 0,
            },
        ),
        (
            "STARTING+ready",
            ProcState::Starting {
                pid: pid(10),
                since: now - s(2),
                up_at: None,
                ready_by: Some(now),
                retries: 0,
            },
        ),
        ("RUNNING", ProcState::Running { pid: pid(10), since: now - s(5) }),
        ("BACKOFF", ProcState::Backoff { retries: 1, until: now, reason: Reason::TooQuick }),
        ("STOPPING", ProcState::Stopping { pid: pid(10), kill_at: Some(now - s(1)), then: Then::Stay }),
        (
            "STOPPING+retry",
            ProcState::Stopping {
                pid: pid(10),
                kill_at: Some(now - s(1)),
                then: Then::Retry { retries: 0, reason: Reason::NotReady(s(1)) },
            },
        ),
        (
            "EXITED+restart",
            ProcState::Exited {
                at: now - s(1),
                exit: ExitKind::Code(1),
                expected: false,
                restart_at: Some(now),
            },
        ),
        (
            "EXITED",
            ProcState::Exited { at: now - s(1), exit: ExitKind::Code(0), expected: true, restart_at: None },
        ),
        ("FATAL", ProcState::Fatal { reason: Reason::TooQuick }),
    ]
}

fn inputs() -> Vec<Trigger> {
    vec![
        Trigger::Start,
        Trigger::Stop,
        Trigger::Kill,
        Trigger::Spawned { pid: pid(11) },
        Trigger::SpawnFailed { reason: "boom".into() },
        Trigger::Exited { exit: ExitKind::Code(1) },
        Trigger::Deadline,
        Trigger::Ready,
    ]
}

/// The whole (state × input) table; the man page's PROCESS STATES section says the same.
/// Columns: Start, Stop, Kill, Spawned, SpawnFailed, Exited (code 1), Deadline (due), Ready.
const TABLE: &[(&str, [&str; 8])] = &[
    (
        "STOPPED",
        ["STARTING spawn", "STOPPED", "STOPPED", "STOPPED", "STOPPED", "STOPPED", "STOPPED", "STOPPED"],
    ),
    (
        "SPAWNING",
        [
            "STARTING",
            "STARTING",
            "STARTING",
            "STARTING log:spawned",
            "BACKOFF log:spawnerr",
            "STARTING",
            "STARTING",
            "STARTING",
        ],
    ),
    (
        "STARTING",
        [
            "STARTING",
            "STOPPING sig:TERM log:waiting",
            "STOPPING log:killing sig:KILL/g",
            "STARTING",
            "STARTING",
            "BACKOFF log:exited",
            "RUNNING log:success",
            "STARTING",
        ],
    ),
    (
        "STARTING+ready",
        [
            "STARTING",
            "STOPPING sig:TERM log:waiting",
            "STOPPING log:killing sig:KILL/g",
            "STARTING",
            "STARTING",
            "BACKOFF log:exited",
            "STOPPING log:notready sig:TERM",
            "RUNNING log:ready",
        ],
    ),
    (
        "RUNNING",
        [
            "RUNNING",
            "STOPPING sig:TERM log:waiting",
            "STOPPING log:killing sig:KILL/g",
            "RUNNING",
            "RUNNING",
            "STARTING log:exited spawn",
            "RUNNING",
            "RUNNING",
        ],
    ),
    (
        "BACKOFF",
        [
            "BACKOFF",
            "STOPPED log:cancelled",
            "STOPPED log:cancelled",
            "BACKOFF",
            "BACKOFF",
            "BACKOFF",
            "STARTING spawn",
            "BACKOFF",
        ],
    ),
    (
        "STOPPING",
        [
            "STOPPING",
            "STOPPING",
            "STOPPING log:killing sig:KILL/g",
            "STOPPING",
            "STOPPING",
            "STOPPED log:stopped",
            "STOPPING log:killing sig:KILL/g",
            "STOPPING",
        ],
    ),
    (
        "STOPPING+retry",
        [
            "STOPPING",
            "STOPPING",
            "STOPPING log:killing sig:KILL/g",
            "STOPPING",
            "STOPPING",
            "BACKOFF log:stopped",
            "STOPPING log:killing sig:KILL/g",
            "STOPPING",
        ],
    ),
    (
        "EXITED+restart",
        [
            "STARTING spawn",
            "STOPPED log:cancelled",
            "STOPPED log:cancelled",
            "EXITED",
            "EXITED",
            "EXITED",
            "STARTING spawn",
            "EXITED",
        ],
    ),
    ("EXITED", ["STARTING spawn", "EXITED", "EXITED", "EXITED", "EXITED", "EXITED", "EXITED", "EXITED"]),
    ("FATAL", ["STARTING spawn", "FATAL", "FATAL", "FATAL", "FATAL", "FATAL", "FATAL", "FATAL"]),
];

#[test]
fn every_state_and_input_pair_follows_the_table() {
    let now = Instant::now() + Duration::from_secs(100);
    let spec = spec();
    let states = states(now);
    assert_eq!(states.len(), TABLE.len());
    for ((label, state), (row_label, row)) in states.into_iter().zip(TABLE) {
        assert_eq!(label, *row_label);
        for (input, wanted) in inputs().iter().zip(row) {
            let m = Machine { state: state.clone(), streak: 0, last_exit: None };
            let (next, effects) = step(&m, input, &spec, now);
            assert_eq!(summary(&next, &effects), *wanted, "{label} + {input:?}");
        }
    }
}

/// Drives a machine through inputs, checking the summary after each.
fn walk(spec: &ProgramSpec, start: Instant, script: &[(u64, Trigger, &str)]) -> Machine {
    let mut m = Machine::new();
    for (at_ms, input, wanted) in script {
        let now = start + Duration::from_millis(*at_ms);
        let (next, effects) = step(&m, input, spec, now);
        assert_eq!(summary(&next, &effects), *wanted, "at {at_ms} ms, {input:?}");
        m = next;
    }
    m
}

#[test]
fn a_process_that_never_stays_up_is_spawned_startretries_plus_one_times_then_fatal() {
    let spec = spec();
    let t0 = Instant::now();
    let exit = || Trigger::Exited { exit: ExitKind::Code(1) };
    let m = walk(
        &spec,
        t0,
        &[
            (0, Trigger::Start, "STARTING spawn"),
            (0, Trigger::Spawned { pid: pid(1) }, "STARTING log:spawned"),
            (10, exit(), "BACKOFF log:exited"),
            (500, Trigger::Deadline, "BACKOFF"),
            (1010, Trigger::Deadline, "STARTING spawn"),
            (1010, Trigger::Spawned { pid: pid(2) }, "STARTING log:spawned"),
            (1020, exit(), "BACKOFF log:exited"),
            (3020, Trigger::Deadline, "STARTING spawn"),
            (3020, Trigger::Spawned { pid: pid(3) }, "STARTING log:spawned"),
            (3030, exit(), "BACKOFF log:exited"),
            (6030, Trigger::Deadline, "STARTING spawn"),
            (6030, Trigger::Spawned { pid: pid(4) }, "STARTING log:spawned"),
            (6040, exit(), "FATAL log:exited log:gaveup"),
        ],
    );
    assert_eq!(m.state, ProcState::Fatal { reason: Reason::TooQuick });
    assert_eq!(m.last_exit, Some(ExitKind::Code(1)));
}

#[test]
fn backoff_delays_grow_by_base_up_to_max() {
    let plain = crate::config::Backoff::default();
    assert_eq!(plain.delay(0), Duration::from_secs(1));
    assert_eq!(plain.delay(2), Duration::from_secs(3), "supervisord's 1, 2, 3 s by default");
    let capped =
        crate::config::Backoff { base: Duration::from_millis(500), max: Some(Duration::from_secs(1)) };
    let delays: Vec<Duration> = (0..4).map(|k| capped.delay(k)).collect();
    assert_eq!(delays, [500, 1000, 1000, 1000].map(Duration::from_millis));
    assert!(plain.delay(u32::MAX) >= plain.delay(1000), "no overflow");
}

#[test]
fn backoff_waits_what_the_program_says() {
    let backoff = crate::config::Backoff { base: Duration::from_secs(2), max: Some(Duration::from_secs(3)) };
    let spec = ProgramSpec { backoff, startretries: 5, ..spec() };
    let t0 = Instant::now();
    let (m, _) = step(&Machine::new(), &Trigger::Start, &spec, t0);
    let (m, _) = step(&m, &Trigger::Spawned { pid: pid(10) }, &spec, t0);
    let (m, _) = step(&m, &Trigger::Exited { exit: ExitKind::Code(1) }, &spec, t0);
    assert!(
        matches!(m.state, ProcState::Backoff { until, .. } if until == t0 + Duration::from_secs(2)),
        "{m:?}"
    );
}

#[test]
fn a_spawn_error_counts_as_an_attempt_and_zero_retries_means_fatal_at_once() {
    let spec = ProgramSpec { startretries: 0, ..spec() };
    walk(
        &spec,
        Instant::now(),
        &[
            (0, Trigger::Start, "STARTING spawn"),
            (
                0,
                Trigger::SpawnFailed { reason: "can't find command 'x'".into() },
                "FATAL log:spawnerr log:gaveup",
            ),
        ],
    );
}

#[test]
fn a_manual_start_resets_the_counter_even_from_fatal() {
    let spec = ProgramSpec { startretries: 1, ..spec() };
    let t0 = Instant::now();
    let failed = || Trigger::SpawnFailed { reason: "no".into() };
    walk(
        &spec,
        t0,
        &[
            (0, Trigger::Start, "STARTING spawn"),
            (0, failed(), "BACKOFF log:spawnerr"),
            (1000, Trigger::Deadline, "STARTING spawn"),
            (1000, failed(), "FATAL log:spawnerr log:gaveup"),
            (2000, Trigger::Start, "STARTING spawn"),
            (2000, failed(), "BACKOFF log:spawnerr"),
        ],
    );
}

#[test]
fn starttime_zero_is_running_at_once() {
    let spec = ProgramSpec { starttime: Duration::ZERO, ..spec() };
    walk(
        &spec,
        Instant::now(),
        &[
            (0, Trigger::Start, "STARTING spawn"),
            (0, Trigger::Spawned { pid: pid(1) }, "RUNNING log:spawned log:success"),
        ],
    );
}

#[test]
fn autorestart_follows_the_policy_and_exitcodes() {
    let cases = [
        (RestartPolicy::Always, ExitKind::Code(0), "STARTING log:exited spawn"),
        (RestartPolicy::Never, ExitKind::Code(1), "EXITED log:exited"),
        (RestartPolicy::Unexpected, ExitKind::Code(0), "EXITED log:exited"),
        (RestartPolicy::Unexpected, ExitKind::Code(2), "EXITED log:exited"),
        (RestartPolicy::Unexpected, ExitKind::Code(1), "STARTING log:exited spawn"),
        (RestartPolicy::Unexpected, ExitKind::killed_by(Signal::SIGKILL), "STARTING log:exited spawn"),
    ];
    let t0 = Instant::now();
    for (policy, exit, wanted) in cases {
        let spec = ProgramSpec { autorestart: policy, exitcodes: vec![0, 2], ..spec() };
        let m = Machine { state: ProcState::Running { pid: pid(1), since: t0 }, ..Machine::new() };
        let (next, effects) = step(&m, &Trigger::Exited { exit }, &spec, t0 + Duration::from_secs(3));
        assert_eq!(summary(&next, &effects), wanted, "{policy:?} {exit:?}");
        if let ProcState::Exited { expected, .. } = next.state {
            assert_eq!(expected, exit.code().is_some_and(|c| c == 0 || c == 2), "{policy:?} {exit:?}");
        }
    }
}

#[test]
fn quick_crashes_in_a_row_wait_longer_and_longer() {
    assert_eq!(crash_delay(1), Duration::from_millis(100));
    assert_eq!(crash_delay(2), Duration::from_millis(200));
    assert_eq!(crash_delay(4), Duration::from_millis(800));
    assert_eq!(crash_delay(7), Duration::from_secs(5));
    assert_eq!(crash_delay(1000), Duration::from_secs(5));
    let spec = ProgramSpec { starttime: Duration::ZERO, autorestart: RestartPolicy::Always, ..spec() };
    let t0 = Instant::now();
    let mut m = Machine::new();
    let mut now = t0;
    let mut restarts = Vec::new();
    (m, _) = step(&m, &Trigger::Start, &spec, now);
    for n in 0..4 {
        (m, _) = step(&m, &Trigger::Spawned { pid: pid(n + 1) }, &spec, now);
        now += Duration::from_millis(10);
        (m, _) = step(&m, &Trigger::Exited { exit: ExitKind::Code(0) }, &spec, now);
        let ProcState::Exited { restart_at: Some(at), .. } = m.state else { panic!("{:?}", m.state) };
        restarts.push(at - now);
        now = at;
        (m, _) = step(&m, &Trigger::Deadline, &spec, now);
        assert_eq!(m.state, ProcState::Spawning { retries: 0 });
    }
    let ms: Vec<_> = restarts.iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms, [100, 200, 400, 800]);
}

#[test]
fn a_run_of_a_second_or_more_resets_the_crash_streak() {
    let spec = ProgramSpec { autorestart: RestartPolicy::Always, ..spec() };
    let t0 = Instant::now();
    let m = Machine { state: ProcState::Running { pid: pid(1), since: t0 }, streak: 5, last_exit: None };
    let (next, _) =
        step(&m, &Trigger::Exited { exit: ExitKind::Code(0) }, &spec, t0 + Duration::from_secs(1));
    assert_eq!((next.streak, next.state), (0, ProcState::Spawning { retries: 0 }));
}

#[test]
fn a_stop_escalates_to_sigkill_after_stoptime() {
    let spec = ProgramSpec { stopasgroup: true, stopsignal: Signal::SIGUSR1, ..spec() };
    let t0 = Instant::now();
    let m = walk(
        &spec,
        t0,
        &[
            (0, Trigger::Start, "STARTING spawn"),
            (0, Trigger::Spawned { pid: pid(7) }, "STARTING log:spawned"),
            (1000, Trigger::Deadline, "RUNNING log:success"),
            (2000, Trigger::Stop, "STOPPING sig:USR1/g log:waiting"),
            (11_999, Trigger::Deadline, "STOPPING"),
            (12_000, Trigger::Deadline, "STOPPING log:killing sig:KILL/g"),
            (12_000, Trigger::Deadline, "STOPPING"),
            (12_001, Trigger::Exited { exit: ExitKind::killed_by(Signal::SIGKILL) }, "STOPPED log:stopped"),
        ],
    );
    assert_eq!(m.state.deadline(), None);
}

#[test]
fn a_start_during_a_stop_starts_again_once_it_is_gone() {
    let spec = spec();
    let t0 = Instant::now();
    let m = Machine { state: ProcState::Running { pid: pid(1), since: t0 }, streak: 3, last_exit: None };
    let (m, _) = step(&m, &Trigger::Stop, &spec, t0);
    let (m, _) = step(&m, &Trigger::Start, &spec, t0);
    let (m, effects) = step(&m, &Trigger::Exited { exit: ExitKind::Code(0) }, &spec, t0);
    assert_eq!(summary(&m, &effects), "STARTING log:stopped spawn");
    assert_eq!(m.streak, 0);
    let (m, _) = step(
        &Machine { state: ProcState::Stopping { pid: pid(1), kill_at: None, then: Then::Start }, ..m },
        &Trigger::Stop,
        &spec,
        t0,
    );
    assert_eq!(m.state, ProcState::Stopping { pid: pid(1), kill_at: None, then: Then::Stay });
}

#[test]
fn a_start_waiting_for_a_stop_survives_the_sigkill() {
    let spec = ProgramSpec { stoptime: Duration::from_secs(3), ..spec() };
    let t0 = Instant::now();
    let m = Machine { state: ProcState::Running { pid: pid(1), since: t0 }, ..Machine::new() };
    let (m, _) = step(&m, &Trigger::Stop, &spec, t0);
    let (m, _) = step(&m, &Trigger::Start, &spec, t0);
    let (m, effects) = step(&m, &Trigger::Deadline, &spec, t0 + Duration::from_secs(3));
    assert_eq!(summary(&m, &effects), "STOPPING log:killing sig:KILL/g");
    let (m, effects) = step(&m, &Trigger::Exited { exit: ExitKind::killed_by(Signal::SIGKILL) }, &spec, t0);
    assert_eq!(summary(&m, &effects), "STARTING log:stopped spawn", "the restart is not lost");
    // A kill asked for (a second SIGTERM at shutdown) calls the start off.
    let stopping = Machine {
        state: ProcState::Stopping { pid: pid(1), kill_at: Some(t0), then: Then::Start },
        ..Machine::new()
    };
    let (m, _) = step(&stopping, &Trigger::Kill, &spec, t0);
    assert_eq!(m.state, ProcState::Stopping { pid: pid(1), kill_at: None, then: Then::Stay });
}

#[test]
fn an_early_deadline_is_ignored() {
    let spec = spec();
    let t0 = Instant::now();
    let m = Machine {
        state: ProcState::Starting {
            pid: pid(1),
            since: t0,
            up_at: Some(t0 + Duration::from_secs(1)),
            ready_by: None,
            retries: 0,
        },
        ..Machine::new()
    };
    let (next, effects) = step(&m, &Trigger::Deadline, &spec, t0 + Duration::from_millis(999));
    assert_eq!((next.state, effects), (m.state.clone(), vec![]));
}

#[test]
fn stopped_logs_say_whether_the_end_was_expected() {
    let spec = spec();
    let t0 = Instant::now();
    let stopping = Machine {
        state: ProcState::Stopping { pid: pid(1), kill_at: None, then: Then::Stay },
        ..Machine::new()
    };
    let cases = [
        (ExitKind::killed_by(Signal::SIGTERM), true),
        (ExitKind::Code(0), true),
        (ExitKind::Code(3), false),
        (ExitKind::killed_by(Signal::SIGKILL), false),
    ];
    for (exit, expected) in cases {
        let (_, effects) = step(&stopping, &Trigger::Exited { exit }, &spec, t0);
        assert_eq!(effects, vec![Effect::Log(Event::Stopped { exit, expected })]);
    }
}

#[test]
fn a_clean_exit_before_starttime_says_it_may_have_gone_to_the_background() {
    let spec = ProgramSpec { startretries: 0, ..spec() };
    let t0 = Instant::now();
    let m = Machine {
        state: ProcState::Starting { pid: pid(1), since: t0, up_at: Some(t0), ready_by: None, retries: 0 },
        ..Machine::new()
    };
    let (next, effects) = step(&m, &Trigger::Exited { exit: ExitKind::Code(0) }, &spec, t0);
    assert_eq!(summary(&next, &effects), "FATAL log:exited log:gaveup log:hint");
    assert_eq!(next.state, ProcState::Fatal { reason: Reason::Backgrounded });
    let (next, _) = step(&m, &Trigger::Exited { exit: ExitKind::Code(1) }, &spec, t0);
    assert_eq!(next.state, ProcState::Fatal { reason: Reason::TooQuick });
}

/// A cell of the manual's table without its mdoc macros (`up for Ic starttime`).
fn plain_cell(cell: &str) -> String {
    cell.split_whitespace()
        .filter(|w| !matches!(*w, "Ic" | "No"))
        .collect::<Vec<_>>()
        .join(" ")
        .replace(" )", ")")
}

#[test]
fn the_manuals_state_table_is_the_machines() {
    let page = include_str!("../../man/taskmaster.1");
    let at = page.find("The transitions, one row per state and event").expect("the table's introduction");
    let rest = &page[at..];
    let table = &rest[rest.find(".Bl -column").expect("the table")..rest.find("\n.El").expect("its end")];
    let now = Instant::now() + Duration::from_secs(100);
    let states = states(now);
    let machine = |label: &str| {
        let state =
            states.iter().find(|(l, _)| *l == label).unwrap_or_else(|| panic!("no state {label}")).1.clone();
        Machine { state, streak: 0, last_exit: None }
    };
    let mut seen: Vec<(String, String)> = Vec::new();
    for line in table.lines().filter_map(|l| l.strip_prefix(".It ")).skip(1) {
        let cells: Vec<String> = line.split(" Ta ").map(plain_cell).collect();
        let [from, event, to] = cells.as_slice() else { panic!("a row of three cells: {line}") };
        if from == "any" {
            continue;
        }
        let trigger = match event.as_str() {
            "start" => Trigger::Start,
            "stop" => Trigger::Stop,
            "exits" => Trigger::Exited { exit: ExitKind::Code(1) },
            "the spawn fails" => Trigger::SpawnFailed { reason: "r".into() },
            "up for starttime" | "delay over" | "stoptime passed" | "restart delay over"
            | "not ready in time" => Trigger::Deadline,
            "ready" => Trigger::Ready,
            other => panic!("the manual names an event the machine does not have: {other}"),
        };
        // The state in which the event can happen (the spawn fails while STARTING's spawn runs;
        // EXITED has a restart to call off or to come).
        let label = match (from.as_str(), event.as_str()) {
            ("STARTING", "the spawn fails") => "SPAWNING",
            ("EXITED", "stop" | "restart delay over") => "EXITED+restart",
            ("STARTING", "ready" | "not ready in time") => "STARTING+ready",
            (state, _) => state,
        };
        let m = machine(label);
        let (next, _) = step(&m, &trigger, &spec(), now);
        let named: Vec<&str> = StateName::ALL.iter().map(|s| s.as_str()).filter(|n| to.contains(n)).collect();
        let result = next.state.name().as_str();
        match named.is_empty() || to.starts_with("unchanged") {
            true => assert_eq!(result, m.state.name().as_str(), "{from} + {event}: the manual says {to}"),
            false => assert!(
                named.contains(&result),
                "{from} + {event}: the machine gives {result}, the manual {to}"
            ),
        }
        if to.ends_with("else unchanged") {
            let (next, _) = step(&machine(from), &trigger, &spec(), now);
            assert_eq!(next.state.name().as_str(), from.as_str(), "{from} + {event}, nothing pending");
        }
        seen.push((from.clone(), event.clone()));
    }
    for state in StateName::ALL {
        for event in ["start", "stop"] {
            let row = (state.as_str().to_string(), event.to_string());
            assert!(seen.contains(&row), "the manual's table has no row for {} + {event}", state.as_str());
        }
    }
}

#[path = "ready_tests.rs"]
mod ready;
