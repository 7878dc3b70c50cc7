//! Probes as the supervisor schedules them and acts on their answers (taskmaster(1), ORDER AND
//! HEALTH); the recorder stands for the loop that runs them.

use super::*;

const CHECKED: &str = "programs:\n  w: {cmd: w, starttime: 0, healthcheck: {cmd: check, interval: 10, timeout: 2, retries: 2}}\n";

/// Answers the last probe asked for.
fn answer(w: &mut World, result: Result<(), String>) {
    let (id, seq, _) = w.probes.last().cloned().expect("a probe was asked for");
    w.feed(Input::Probed { id, seq, result });
}

#[test]
fn a_health_check_runs_every_interval_and_restarts_after_retries_failures() {
    let mut w = world(CHECKED);
    assert_eq!(w.state("w"), "RUNNING");
    assert!(w.probes.is_empty(), "the first look is one interval after RUNNING");
    assert_eq!(
        w.sup.next_deadline(),
        Some(w.now.mono + Duration::from_secs(10)),
        "its timer is in the one queue"
    );
    w.advance(10_000);
    assert_eq!(w.probes.len(), 1);
    let (_, _, job) = &w.probes[0];
    assert_eq!(job.limit, w.now.mono + Duration::from_secs(2), "limited by its timeout");
    answer(&mut w, Ok(()));
    w.ask("status w");
    assert!(w.reply().output.ends_with(", healthy"));
    let first = w.pid("w");
    w.advance(10_000);
    answer(&mut w, Err("refused".into()));
    assert!(w.logged("health check of w failed (1 of 2): refused"));
    w.ask("status w");
    assert!(w.reply().output.ends_with("health check failed 1 of 2: refused"));
    w.advance(10_000);
    answer(&mut w, Err("refused".into()));
    assert!(w.logged("unhealthy: w (refused)"));
    assert_eq!(w.alerts.last().map(|a| a.kind), Some(crate::config::alerts::EventKind::Unhealthy));
    assert_eq!(w.state("w"), "STOPPING");
    w.reap("w", TERMED);
    assert_ne!(w.pid("w"), first, "started again");
}

#[test]
fn a_late_answer_is_ignored_and_a_stop_calls_the_look_off() {
    let mut w = world(CHECKED);
    w.advance(10_000);
    let (id, seq, _) = w.probes[0].clone();
    w.feed(Input::Probed { id, seq: seq + 7, result: Err("stale".into()) });
    assert!(!w.logged("stale"), "not the look under way");
    w.ask("stop w");
    assert_eq!(w.cancelled, [id], "the look under way is called off");
    w.feed(Input::Probed { id, seq, result: Err("late".into()) });
    assert!(!w.logged("late"));
    w.reap("w", TERMED);
    assert_eq!(w.sup.next_deadline(), None, "nothing left to wake up for");
}

#[test]
fn a_ready_probe_is_tried_again_until_it_passes() {
    let mut w = world("programs:\n  db: {cmd: db, starttime: 0, ready: {tcp: 5432, timeout: 10}}\n");
    assert_eq!(w.state("db"), "STARTING");
    assert_eq!(w.probes.len(), 1, "tried at once");
    answer(&mut w, Err("refused".into()));
    w.advance(249);
    assert_eq!(w.probes.len(), 1);
    w.advance(1);
    assert_eq!(w.probes.len(), 2, "again a quarter of a second later");
    answer(&mut w, Ok(()));
    assert_eq!(w.state("db"), "RUNNING");
    assert!(w.logged("success: db entered RUNNING state, it is ready (tcp 127.0.0.1:5432)"));
}

#[test]
fn a_health_check_added_by_reload_begins_at_once_and_one_removed_ends() {
    let mut w = world("programs:\n  w: {cmd: w, starttime: 0}\n");
    assert_eq!(w.sup.next_deadline(), None);
    let r = w.reload(CHECKED);
    assert_eq!(r.output, "updated: w\nunchanged: 0");
    assert_eq!(w.sup.next_deadline(), Some(w.now.mono + Duration::from_secs(10)));
    w.reload("programs:\n  w: {cmd: w, starttime: 0}\n");
    assert_eq!(w.sup.next_deadline(), None, "no probe, no wakeup");
}

#[test]
fn a_ready_probe_removed_by_reload_lets_the_process_run() {
    let ready = "programs:\n  db: {cmd: db, starttime: 0, ready: {file: /nonexistent, timeout: 4}}\n";
    let mut w = world(ready);
    assert_eq!(w.state("db"), "STARTING");
    let pid = w.pid("db");
    w.reload("programs:\n  db: {cmd: db, starttime: 0}\n");
    assert_eq!(w.state("db"), "RUNNING");
    assert_eq!(w.pid("db"), pid, "the same process");
    assert!(w.logged("success: db entered RUNNING state, its ready probe was removed"));
    w.advance(5000);
    assert_eq!(w.state("db"), "RUNNING", "the old deadline is gone with its state");
}

#[test]
fn a_look_that_could_not_run_is_no_failure() {
    let mut w = world(CHECKED);
    w.advance(10_000);
    let (id, seq, _) = w.probes[0].clone();
    w.feed(Input::ProbeSkipped { id, seq, why: "short of descriptors".into() });
    assert!(w.logged("w: a probe could not run: short of descriptors; it is tried again later"));
    assert!(!w.logged("failed"), "not a failure");
    w.advance(10_000);
    let (id, seq, _) = w.probes[1].clone();
    w.feed(Input::ProbeSkipped { id, seq, why: "short of descriptors".into() });
    assert_eq!(w.logs.iter().filter(|l| l.contains("could not run")).count(), 1, "said once");
    w.advance(10_000);
    answer(&mut w, Err("refused".into()));
    assert!(
        w.logged("health check of w failed (1 of 2): refused"),
        "the count starts from the first real failure"
    );
}
