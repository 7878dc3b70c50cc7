//! STARTING with a `ready` probe: RUNNING means ready and up for starttime; not ready in time is
//! a failed start.

use super::*;

fn ready_spec(timeout: u64) -> ProgramSpec {
    let probe = crate::config::Probe::Cmd("true".into());
    let ready = crate::config::Readiness { probe, timeout: Duration::from_secs(timeout) };
    ProgramSpec { ready: Some(ready), startretries: 1, ..spec() }
}

#[test]
fn with_a_ready_probe_running_means_ready_and_up_for_starttime() {
    let spec = ready_spec(30);
    let t0 = Instant::now();
    // Ready before starttime: RUNNING when starttime has passed.
    let m = walk(
        &spec,
        t0,
        &[
            (0, Trigger::Start, "STARTING spawn"),
            (0, Trigger::Spawned { pid: pid(1) }, "STARTING log:spawned"),
            (300, Trigger::Ready, "STARTING"),
            (1000, Trigger::Deadline, "RUNNING log:ready"),
        ],
    );
    assert!(matches!(m.state, ProcState::Running { .. }));
    // Up for starttime first: STARTING until ready, whatever the time.
    let m = walk(
        &spec,
        t0,
        &[
            (0, Trigger::Start, "STARTING spawn"),
            (0, Trigger::Spawned { pid: pid(1) }, "STARTING log:spawned"),
            (1000, Trigger::Deadline, "STARTING"),
            (5000, Trigger::Deadline, "STARTING"),
            (7000, Trigger::Ready, "RUNNING log:ready"),
        ],
    );
    assert_eq!(m.state, ProcState::Running { pid: pid(1), since: t0 });
    // With starttime 0, the probe alone decides.
    let spec = ProgramSpec { starttime: Duration::ZERO, ..ready_spec(30) };
    walk(
        &spec,
        t0,
        &[
            (0, Trigger::Start, "STARTING spawn"),
            (0, Trigger::Spawned { pid: pid(1) }, "STARTING log:spawned"),
            (10, Trigger::Ready, "RUNNING log:ready"),
        ],
    );
}

#[test]
fn not_ready_in_time_is_a_failed_start_once_the_process_is_gone() {
    let spec = ready_spec(5);
    let t0 = Instant::now();
    let m = walk(
        &spec,
        t0,
        &[
            (0, Trigger::Start, "STARTING spawn"),
            (0, Trigger::Spawned { pid: pid(1) }, "STARTING log:spawned"),
            (1000, Trigger::Deadline, "STARTING"),
            (4999, Trigger::Deadline, "STARTING"),
            (5000, Trigger::Deadline, "STOPPING log:notready sig:TERM"),
            (5010, Trigger::Exited { exit: ExitKind::killed_by(Signal::SIGTERM) }, "BACKOFF log:stopped"),
            (6010, Trigger::Deadline, "STARTING spawn"),
            (6010, Trigger::Spawned { pid: pid(2) }, "STARTING log:spawned"),
            (11010, Trigger::Deadline, "STOPPING log:notready sig:TERM"),
            (11020, Trigger::Exited { exit: ExitKind::Code(0) }, "FATAL log:stopped log:gaveup"),
        ],
    );
    assert_eq!(m.state, ProcState::Fatal { reason: Reason::NotReady(Duration::from_secs(5)) });
    // A stop during that stop calls the retry off.
    let stopping = Machine {
        state: ProcState::Stopping {
            pid: pid(1),
            kill_at: Some(t0),
            then: Then::Retry { retries: 0, reason: Reason::NotReady(Duration::from_secs(5)) },
        },
        ..Machine::new()
    };
    let (m, _) = step(&stopping, &Trigger::Stop, &spec, t0);
    let (m, _) = step(&m, &Trigger::Exited { exit: ExitKind::Code(0) }, &spec, t0);
    assert!(matches!(m.state, ProcState::Stopped { .. }), "{:?}", m.state);
}
