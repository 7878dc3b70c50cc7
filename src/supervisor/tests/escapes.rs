//! What programs leave running (taskmaster(1), PROGRAMS THAT ESCAPE).

use super::*;

const EXIT_0: ExitKind = ExitKind::Code(0);

/// An orphan with the name of the process that started it in its environment.
fn left_by(pid: i32, name: &str) -> Orphan {
    Orphan { from: Some(name.to_string()), ..orphan(pid, pid, pid) }
}

fn orphan(pid: i32, pgrp: i32, session: i32) -> Orphan {
    let p = Pid::from_raw;
    Orphan { pid: p(pid), pgrp: p(pgrp), session: p(session), from: None }
}

impl World {
    /// A pass of reaping: `names`' processes end, and taskmaster finds `orphans`.
    fn end_leaving(&mut self, names: &[&str], orphans: &[Orphan], exit: ExitKind) {
        let deaths: Vec<Pid> = names.iter().map(|n| Pid::from_raw(self.pid(n))).collect();
        self.feed(Input::Left { deaths: deaths.clone(), orphans: orphans.to_vec() });
        for pid in deaths {
            self.feed(Input::Reaped { pid, exit });
        }
    }

    fn kills(&self, pid: i32, group: bool) -> bool {
        self.signals.contains(&(pid, Signal::SIGKILL, group))
    }

    fn status_line(&mut self, name: &str) -> String {
        self.ask(&format!("status {name}"));
        self.reply().output
    }

    fn index_of(&self, text: &str) -> usize {
        self.logs
            .iter()
            .position(|l| l.contains(text))
            .unwrap_or_else(|| panic!("{text} not in {:?}", self.logs))
    }
}

const DAEMON: &str =
    "programs:\n  d: {cmd: d, starttime: 0, autorestart: false}\n  other: {cmd: o, starttime: 0}\n";

#[test]
fn a_daemon_is_said_after_its_exit_tracked_and_killed_by_stop() {
    let mut w = world(DAEMON);
    let main = w.pid("d");
    w.end_leaving(&["d"], &[left_by(500, "d")], EXIT_0);
    assert_eq!(w.state("d"), "EXITED");
    let warned = "d exited but left 500 running (it may have daemonized itself: run it in the foreground)";
    assert!(w.index_of("exited: d (exit status 0; expected)") < w.index_of(warned), "{:?}", w.logs);
    assert!(!w.signals.iter().any(|s| s.0 == 500), "not killed while nobody asks");
    assert!(w.status_line("d").ends_with("left 500 running"), "{}", w.status_line("d"));
    w.ask("stop d");
    let r = w.reply();
    assert_eq!((r.ok, r.output.as_str()), (true, "d: stopped (killed 500, which it left running)"));
    assert!(w.kills(500, false) && w.kills(500, true), "{:?}", w.signals);
    assert!(!w.kills(main, true), "the old group number is not the orphan's: left alone");
    w.feed(Input::Reaped { pid: Pid::from_raw(500), exit: KILLED });
    assert!(!w.status_line("d").contains("left"));
    assert!(!w.logged("reaped unknown pid 500"));
}

#[test]
fn a_restart_kills_what_the_last_run_left_before_spawning() {
    let mut w = world("programs:\n  d: {cmd: d, starttime: 0, autorestart: true}\n");
    w.end_leaving(&["d"], &[left_by(500, "d")], EXIT_0);
    assert!(!w.kills(500, false), "alive until the restart");
    w.advance(5000);
    assert!(w.kills(500, false));
    assert_eq!(w.logs.iter().filter(|l| l.starts_with("spawned: 'd'")).count(), 1, "waits until 500 is gone");
    w.feed(Input::Reaped { pid: Pid::from_raw(500), exit: KILLED });
    let spawns: Vec<usize> =
        w.logs.iter().enumerate().filter(|(_, l)| l.starts_with("spawned: 'd'")).map(|(i, _)| i).collect();
    assert_eq!(spawns.len(), 2, "{:?}", w.logs);
    let killing = w.index_of("d: killing 500, which it left running (it starts again)");
    assert!(w.index_of("d exited but left 500 running") < killing && killing < spawns[1], "{:?}", w.logs);
}

#[test]
fn what_a_stopping_process_leaves_is_killed_at_once() {
    let mut w = world(DAEMON);
    let main = w.pid("d");
    w.ask("stop d");
    w.end_leaving(&["d"], &[orphan(600, main, main)], TERMED);
    assert!(w.kills(600, false), "{:?}", w.signals);
    assert!(!w.kills(main, true), "a group it only joined is not its own to kill");
    assert!(!w.logged("exited but left"), "{:?}", w.logs);
}

#[test]
fn what_a_leftover_leaves_belongs_to_the_same_program() {
    let mut w = world(DAEMON);
    w.end_leaving(&["d"], &[left_by(500, "d")], EXIT_0);
    // The middle process of a double fork ends; its child is handed over.
    w.feed(Input::Left { deaths: vec![Pid::from_raw(500)], orphans: vec![orphan(501, 500, 500)] });
    w.feed(Input::Reaped { pid: Pid::from_raw(500), exit: EXIT_0 });
    assert!(w.logged("d: 500, which it left running, exited (exit status 0); 501 runs on"));
    assert!(w.status_line("d").ends_with("left 501 running"));
    w.ask("restart d");
    assert!(w.kills(501, false), "{:?}", w.signals);
}

#[test]
fn an_orphan_nobody_can_claim_is_a_stray_killed_at_shutdown() {
    let mut w = world(DAEMON);
    w.end_leaving(&["d", "other"], &[orphan(800, 800, 800)], EXIT_0);
    assert!(w.logged(
        "800 was left running by a process that ended, which taskmaster cannot tell: killed at shutdown"
    ));
    assert!(!w.logged("exited but left"));
    w.feed(Input::Terminate(Signal::SIGTERM));
    assert!(w.logged("killing 800, left running by processes that ended"));
    assert!(w.kills(800, false));
}

#[test]
fn an_orphan_in_a_running_programs_session_is_its_own() {
    let mut w = world(DAEMON);
    let other = w.pid("other");
    w.end_leaving(&["d"], &[orphan(700, other, other)], EXIT_0);
    assert!(!w.logged("exited but left"), "700 is other's, not d's: {:?}", w.logs);
    assert!(w.status_line("other").ends_with("left 700 running"));
    w.reload("programs:\n  d: {cmd: d, starttime: 0, autorestart: false}\n");
    w.reap("other", TERMED);
    assert!(w.logged("other: killing 700, which it left running"), "{:?}", w.logs);
    assert!(w.kills(700, false));
}

#[test]
fn a_spawn_held_for_leftovers_is_refused_at_shutdown() {
    let mut w = world("programs:\n  d: {cmd: d, starttime: 0, autorestart: false}\n");
    w.end_leaving(&["d"], &[left_by(500, "d")], EXIT_0);
    w.ask("start d");
    assert_eq!(w.state("d"), "STARTING", "{:?}", w.logs);
    w.feed(Input::Terminate(Signal::SIGTERM));
    assert!(w.exited, "the held spawn is refused at once: {:?}", w.logs);
    assert!(w.logged("spawnerr: shutting down"));
    assert_eq!(w.logs.iter().filter(|l| l.starts_with("spawned: 'd'")).count(), 1);
}

#[test]
fn a_stop_that_calls_off_a_retry_kills_what_the_last_run_left() {
    let mut w = world("programs:\n  f: {cmd: f, starttime: 0, autorestart: true}\n");
    w.end_leaving(&["f"], &[left_by(500, "f")], ExitKind::Code(3));
    assert!(!w.kills(500, false), "the restart waits its delay");
    w.ask("stop f");
    assert_eq!(w.reply().output, "f: stopped");
    assert_eq!(w.state("f"), "STOPPED");
    assert!(w.kills(500, false), "{:?}", w.logs);
    assert!(w.logged("f: killing 500, which it left running (it is stopped)"));
}

#[test]
fn a_leftover_that_outlives_its_sigkill_holds_the_spawn_five_seconds_at_most() {
    let mut w = world("programs:\n  d: {cmd: d, starttime: 0, autorestart: false}\n");
    w.end_leaving(&["d"], &[left_by(500, "d")], EXIT_0);
    w.ask("start d");
    w.advance(4999);
    assert_eq!(w.logs.iter().filter(|l| l.starts_with("spawned: 'd'")).count(), 1);
    w.advance(1);
    assert!(w.logged("500 still there 5 s after SIGKILL; d starts anyway"), "{:?}", w.logs);
    assert_eq!(w.logs.iter().filter(|l| l.starts_with("spawned: 'd'")).count(), 2);
    assert_eq!(w.reply().output, "d: started");
    // Reaped at last: nothing more happens.
    w.feed(Input::Reaped { pid: Pid::from_raw(500), exit: KILLED });
    assert_eq!(w.logs.iter().filter(|l| l.starts_with("spawned: 'd'")).count(), 2);
}

#[test]
fn orphans_of_programs_that_end_together_go_by_the_name_in_their_environment() {
    let mut w = world(
        "programs:\n  a: {cmd: a, starttime: 0, autorestart: false}\n  b: {cmd: b, starttime: 0, autorestart: false}\n",
    );
    let named = |pid: i32, from: &str| Orphan { from: Some(from.to_string()), ..orphan(pid, pid, pid) };
    w.end_leaving(&["a", "b"], &[named(600, "b"), named(601, "a"), orphan(602, 602, 602)], EXIT_0);
    assert!(w.logged("a exited but left 601 running"), "{:?}", w.logs);
    assert!(w.logged("b exited but left 600 running"));
    assert!(w.logged("602 was left running by a process that ended, which taskmaster cannot tell"));
    w.ask("stop a");
    assert_eq!(w.reply().output, "a: stopped (killed 601, which it left running)");
    assert!(!w.kills(600, false));
}

#[test]
fn a_reload_that_restarts_is_not_settled_until_the_new_process_is_up() {
    let mut w = world("programs:\n  s: {cmd: s, starttime: 1}\n");
    w.advance(1000);
    assert!(w.sup.settled());
    w.reload("programs:\n  s: {cmd: s2, starttime: 1}\n");
    assert_eq!(w.state("s"), "STOPPING");
    assert!(!w.sup.settled(), "stopping to restart");
    w.reap("s", TERMED);
    assert!(!w.sup.settled(), "starting");
    w.advance(1000);
    assert!(w.sup.settled());
}

#[test]
fn an_orphan_with_no_name_and_no_session_of_theirs_is_nobodys() {
    let mut w = world(DAEMON);
    w.end_leaving(&["d"], &[orphan(900, 900, 900)], EXIT_0);
    assert!(w.logged("900 was left running by a process that ended, which taskmaster cannot tell"));
    assert!(!w.logged("d exited but left"), "a `docker exec` is not d's: {:?}", w.logs);
    w.ask("start d");
    assert!(!w.kills(900, false));
}

#[test]
fn a_stop_calls_off_a_held_spawn_and_a_removed_program_is_not_spawned() {
    let mut w = world(DAEMON);
    w.end_leaving(&["d"], &[left_by(500, "d")], EXIT_0);
    w.ask("start d");
    w.ask_as(Requester::Client(8), "stop d");
    let stopped = w.replies.iter().find(|(to, _)| *to == Requester::Client(8)).expect("stop answered");
    assert_eq!(stopped.1.output, "d: stopped");
    assert_eq!(w.state("d"), "STOPPED");
    w.advance(5000);
    w.feed(Input::Reaped { pid: Pid::from_raw(500), exit: KILLED });
    assert_eq!(w.logs.iter().filter(|l| l.starts_with("spawned: 'd'")).count(), 1, "{:?}", w.logs);
    // Held again, then removed by a reload: never spawned, and forgotten.
    w.rec.replies.clear();
    let other = w.pid("other");
    w.feed(Input::Left { deaths: vec![Pid::from_raw(other)], orphans: vec![left_by(700, "other")] });
    w.feed(Input::Reaped { pid: Pid::from_raw(other), exit: ExitKind::Code(1) });
    assert_eq!(w.state("other"), "STARTING", "held: {:?}", w.logs);
    w.reload("programs:\n  d: {cmd: d, starttime: 0, autorestart: false}\n");
    w.feed(Input::Reaped { pid: Pid::from_raw(700), exit: KILLED });
    assert!(w.sup.processes().all(|p| p.name != "other"), "{:?}", w.logs);
    assert_eq!(w.logs.iter().filter(|l| l.starts_with("spawned: 'other'")).count(), 1);
}
