//! Reload applied to the supervisor table: only what changed is touched.

use super::*;

impl World {
    pub(super) fn reload(&mut self, yaml: &str) -> crate::control::protocol::Response {
        let loaded = Box::new(Ok(parse(yaml)));
        self.feed(Input::Reload { from: Some(ME), loaded, dry_run: false });
        self.reply()
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.sup.processes().map(|p| p.name.clone()).collect();
        names.sort();
        names
    }
}

const BASE: &str = "programs:\n  keep: {cmd: k, starttime: 0}\n  web: {cmd: w, numprocs: 2, starttime: 0}\n";

#[test]
fn an_unchanged_file_touches_nothing() {
    let mut w = world(BASE);
    let pids = (w.pid("keep"), w.pid("web:web_00"));
    let r = w.reload(BASE);
    assert_eq!(r.output, "unchanged: 2");
    assert_eq!((w.pid("keep"), w.pid("web:web_00")), pids);
    assert!(w.signals.is_empty());
    assert_eq!(w.reconfigured, 1);
}

#[test]
fn an_invalid_file_changes_nothing() {
    let mut w = world(BASE);
    let errors = validate("programs: {}", "t.yaml", &Context::for_tests("/"));
    w.feed(Input::Reload { from: Some(ME), loaded: Box::new(errors), dry_run: false });
    let r = w.reply();
    assert!(!r.ok && r.output.starts_with("the configuration has errors; nothing changed"), "{}", r.output);
    assert_eq!(w.reconfigured, 0);
    assert!(w.logged("reload failed"));
    // A dry run of it answers the same and logs nothing: nothing was tried.
    let before = w.logs.len();
    let errors = validate("programs: {}", "t.yaml", &Context::for_tests("/"));
    w.feed(Input::Reload { from: Some(ME), loaded: Box::new(errors), dry_run: true });
    assert!(w.reply().output.starts_with("the configuration has errors; nothing changed"));
    assert_eq!(w.logs.len(), before);
}

#[test]
fn scaling_up_adds_only_the_new_instances_and_down_stops_the_highest() {
    let mut w = world(BASE);
    let first = w.pid("web:web_00");
    let r = w.reload(&BASE.replace("numprocs: 2", "numprocs: 4"));
    assert_eq!(r.output, "scaled: web 2→4\nunchanged: 1");
    assert_eq!(w.state("web:web_03"), "RUNNING");
    assert_eq!(w.pid("web:web_00"), first);
    let third = w.pid("web:web_02");
    w.reload(&BASE.replace("numprocs: 2", "numprocs: 3"));
    assert_eq!(w.state("web:web_03"), "STOPPING", "the highest is stopped");
    assert_eq!((w.pid("web:web_00"), w.pid("web:web_02")), (first, third));
    w.reap("web:web_03", KILLED);
    assert_eq!(w.names(), ["keep", "web:web_00", "web:web_01", "web:web_02"], "then forgotten");
}

#[test]
fn one_to_many_renames_the_first_process_without_restarting_it() {
    let mut w = world(BASE);
    let pid = w.pid("keep");
    w.reload("programs:\n  keep: {cmd: k, starttime: 0, numprocs: 2}\n  web: {cmd: w, numprocs: 2, starttime: 0}\n");
    assert_eq!(w.pid("keep:keep_00"), pid);
    w.reload(BASE);
    w.reap("keep:keep_01", TERMED);
    assert_eq!(w.pid("keep"), pid);
}

#[test]
fn a_defining_change_restarts_with_the_old_stop_settings_and_the_new_definition() {
    let mut w = world("programs:\n  a: {cmd: old, starttime: 0, stopsignal: INT}\n");
    let pid = w.pid("a");
    let r = w.reload("programs:\n  a: {cmd: new, starttime: 0, stopsignal: USR1}\n");
    assert_eq!(r.output, "restarted: a\nunchanged: 0");
    assert_eq!(w.signals, vec![(pid, Signal::SIGINT, false)], "stopped with the old signal");
    w.reap("a", ExitKind::killed_by(Signal::SIGINT));
    assert_ne!(w.pid("a"), pid);
    assert_eq!(w.process("a").spec.cmd.program(), "new");
    w.ask("stop a");
    assert_eq!(w.signals.last().map(|s| s.1), Some(Signal::SIGUSR1), "and stops with the new one after");
}

#[test]
fn a_stopped_program_is_restarted_only_by_autostart() {
    let mut w =
        world("programs:\n  a: {cmd: a, starttime: 0, autostart: false}\n  b: {cmd: b, starttime: 0}\n");
    w.ask("stop b");
    w.reap("b", TERMED);
    w.replies.clear();
    w.reload("programs:\n  a: {cmd: a2, starttime: 0, autostart: false}\n  b: {cmd: b2, starttime: 0, autostart: false}\n");
    assert_eq!((w.state("a"), w.state("b")), ("STOPPED", "STOPPED"));
}

#[test]
fn a_supervision_change_applies_in_place() {
    let mut w = world(BASE);
    let pid = w.pid("keep");
    let r = w.reload(&BASE.replace(
        "keep: {cmd: k, starttime: 0}",
        "keep: {cmd: k, starttime: 0, stopsignal: HUP, autorestart: never}",
    ));
    assert_eq!(r.output, "updated: keep\nunchanged: 1");
    assert_eq!(w.pid("keep"), pid);
    assert!(w.signals.is_empty());
    w.ask("stop keep");
    assert_eq!(w.signals, vec![(pid, Signal::SIGHUP, false)]);
}

#[test]
fn removed_programs_are_stopped_then_forgotten_and_can_come_back_while_stopping() {
    let mut w = world(BASE);
    let pid = w.pid("keep");
    let r = w.reload("programs:\n  web: {cmd: w, numprocs: 2, starttime: 0}\n");
    assert_eq!(r.output, "removed: keep\nunchanged: 1");
    assert_eq!(w.state("keep"), "STOPPING", "shown while it stops");
    w.ask("start keep");
    assert_eq!(w.reply().output, "keep: ERROR (no such process)");
    w.reload(BASE);
    assert_eq!(w.state("keep"), "STOPPING", "taken back, still stopping");
    w.reap("keep", TERMED);
    assert_eq!(w.state("keep"), "RUNNING", "then started with the definition it came back with");
    assert_ne!(w.pid("keep"), pid);
    assert_eq!(w.names(), ["keep", "web:web_00", "web:web_01"]);
}

#[test]
fn a_reload_during_shutdown_is_ignored() {
    let mut w = world(BASE);
    w.feed(Input::Terminate(Signal::SIGTERM));
    let r = w.reload(&BASE.replace("numprocs: 2", "numprocs: 4"));
    assert!(!r.ok && r.output.contains("shutting down"));
    assert_eq!(w.names().len(), 3);
}

#[test]
fn dry_run_only_shows_the_plan() {
    let mut w = world(BASE);
    w.feed(Input::Reload {
        from: Some(ME),
        loaded: Box::new(Ok(parse("programs:\n  x: {cmd: x}\n"))),
        dry_run: true,
    });
    let r = w.reply();
    assert_eq!(
        r.output,
        "dry run: nothing was changed\nadded: x\nremoved: keep, web\nstop order: web, keep\nunchanged: 0"
    );
    assert_eq!(r.data["added"], json!(["x"]));
    assert_eq!(w.names().len(), 3);
    assert_eq!(w.reconfigured, 0);
}

#[test]
fn an_exited_process_the_new_policy_would_restart_is_started() {
    let old = "programs:\n  x: {cmd: x, starttime: 1, autorestart: never}\n";
    let mut w = world(old);
    w.advance(1000);
    w.advance(1000);
    w.reap("x", ExitKind::Code(1));
    assert_eq!(w.state("x"), "EXITED");
    let new =
        "programs:\n  x: {cmd: x, starttime: 1, autorestart: always, exitcodes: [0, 1], startretries: 5}\n";
    let r = w.reload(new);
    assert_eq!(r.output, "updated: x\nstarted: x\nunchanged: 0");
    assert_eq!(r.data["started"], json!(["x"]));
    assert_eq!(w.state("x"), "STARTING");
    assert!(w.logged(
        "reload: added [] removed [] restarted [] updated [x] scaled [] started [x] unchanged 0, settings []"
    ));
}

#[test]
fn an_exited_process_the_new_policy_would_leave_stays_exited() {
    let mut w = world("programs:\n  x: {cmd: x, starttime: 0, autorestart: never}\n");
    w.reap("x", ExitKind::Code(3));
    let r = w.reload("programs:\n  x: {cmd: x, starttime: 0, autorestart: unexpected, exitcodes: [3]}\n");
    assert_eq!(r.output, "updated: x\nunchanged: 0");
    assert_eq!(w.state("x"), "EXITED");
}

#[test]
fn a_fatal_process_starts_again_when_its_retries_or_command_change() {
    let fatal = |w: &mut World| {
        for _ in 0..2 {
            w.reap("x", ExitKind::Code(1));
            w.advance(5000);
        }
        assert_eq!(w.state("x"), "FATAL");
    };
    let mut w = world("programs:\n  x: {cmd: x, starttime: 1, startretries: 1}\n");
    fatal(&mut w);
    let r = w.reload("programs:\n  x: {cmd: x, starttime: 1, startretries: 1, stoptime: 3}\n");
    assert_eq!(r.output, "updated: x\nunchanged: 0", "a change that gives no new chance");
    assert_eq!(w.state("x"), "FATAL");
    let r = w.reload("programs:\n  x: {cmd: x, starttime: 1, startretries: 4, stoptime: 3}\n");
    assert_eq!(r.output, "updated: x\nstarted: x\nunchanged: 0");
    assert_eq!(w.state("x"), "STARTING");
    assert_eq!(w.process("x").spec.startretries, 4);

    let mut w =
        world("programs:\n  x: {cmd: x, starttime: 1, startretries: 1, autostart: false}\n  y: {cmd: y}\n");
    w.ask("start x");
    fatal(&mut w);
    w.replies.clear();
    let r = w.reload(
        "programs:\n  x: {cmd: x2, starttime: 1, startretries: 1, autostart: false}\n  y: {cmd: y}\n",
    );
    assert_eq!(r.output, "restarted: x\nstarted: x\nunchanged: 1");
    assert_eq!(w.state("x"), "STARTING");
    assert_eq!(w.process("x").spec.cmd.program(), "x2");
}

#[test]
fn autostart_turned_on_starts_what_never_ran_but_not_what_a_person_stopped() {
    let mut w = world("programs:\n  a: {cmd: a, starttime: 0, autostart: false, numprocs: 2}\n");
    w.ask("start a:a_01");
    w.ask("stop a:a_01");
    w.reap("a:a_01", TERMED);
    w.replies.clear();
    let r = w.reload("programs:\n  a: {cmd: a, starttime: 0, numprocs: 2}\n");
    assert_eq!(r.output, "updated: a\nstarted: a:a_00\nunchanged: 0");
    assert_eq!((w.state("a:a_00"), w.state("a:a_01")), ("RUNNING", "STOPPED"));
    // A changed definition does not start what a person stopped either.
    let r = w.reload("programs:\n  a: {cmd: a2, starttime: 0, numprocs: 2}\n");
    assert_eq!(r.output, "restarted: a\nunchanged: 0");
    assert_eq!(w.state("a:a_01"), "STOPPED");
}

#[test]
fn dry_run_names_what_would_be_started() {
    let mut w = world("programs:\n  a: {cmd: a, starttime: 0, autostart: false}\n");
    w.feed(Input::Reload {
        from: Some(ME),
        loaded: Box::new(Ok(parse("programs:\n  a: {cmd: a, starttime: 0}\n"))),
        dry_run: true,
    });
    assert_eq!(w.reply().output, "dry run: nothing was changed\nupdated: a\nstarted: a\nunchanged: 0");
    assert_eq!(w.state("a"), "STOPPED");
}
