//! Start and stop order through the queue (taskmaster(1), ORDER AND HEALTH).

use super::*;

/// db ← cache ← app, each RUNNING one second after its spawn.
const TIERS: &str = "programs:\n  app: {cmd: app, depends_on: [cache]}\n  \
                     cache: {cmd: cache, depends_on: db}\n  db: {cmd: db}\n";

/// The `spawned:` lines, in order, by name.
fn spawned(w: &World) -> Vec<String> {
    w.logs
        .iter()
        .filter_map(|l| l.strip_prefix("spawned: '").and_then(|r| r.split('\'').next()))
        .map(str::to_string)
        .collect()
}

/// Three turns of a second: each tier RUNNING in turn.
fn up(w: &mut World) {
    for _ in 0..3 {
        w.advance(1000);
    }
}

#[test]
fn autostart_waits_for_each_dependency_to_be_running() {
    let mut w = world(TIERS);
    assert_eq!(spawned(&w), ["db"], "only what depends on nothing starts at once");
    assert_eq!(w.state("app"), "STOPPED");
    w.ask("status app");
    assert!(w.reply().output.contains("waiting for cache to be RUNNING"));
    w.advance(1000);
    assert_eq!(spawned(&w), ["db", "cache"]);
    w.advance(1000);
    assert_eq!(spawned(&w), ["db", "cache", "app"]);
    w.advance(1000);
    assert_eq!(w.state("app"), "RUNNING");
}

#[test]
fn stop_all_and_shutdown_stop_dependents_first() {
    let mut w = world(TIERS);
    up(&mut w);
    let pids = [w.pid("app"), w.pid("cache"), w.pid("db")];
    w.ask("stop all");
    assert_eq!(w.signals.iter().map(|s| s.0).collect::<Vec<_>>(), [pids[0]], "app first");
    w.reap("app", TERMED);
    assert_eq!(w.signals.iter().map(|s| s.0).collect::<Vec<_>>(), [pids[0], pids[1]]);
    w.reap("cache", TERMED);
    w.reap("db", TERMED);
    assert_eq!(w.reply().output, "app: stopped\ncache: stopped\ndb: stopped");
    // Shutdown: the same order.
    let mut w = world(TIERS);
    up(&mut w);
    w.feed(Input::Terminate(Signal::SIGTERM));
    assert_eq!(w.signals.len(), 1);
    w.reap("app", TERMED);
    w.reap("cache", TERMED);
    assert_eq!(w.signals.len(), 3);
    w.reap("db", TERMED);
    assert!(w.exited);
}

#[test]
fn starting_one_starts_what_it_depends_on_and_says_so() {
    let yaml = TIERS
        .replace("{cmd: db}", "{cmd: db, autostart: false}")
        .replace("cmd: cache,", "cmd: cache, autostart: false,")
        .replace("cmd: app,", "cmd: app, autostart: false,");
    let mut w = world(&yaml);
    assert!(spawned(&w).is_empty());
    w.ask("start app");
    assert_eq!(spawned(&w), ["db"]);
    w.advance(1000);
    w.advance(1000);
    w.advance(1000);
    assert_eq!(
        w.reply().output,
        "db: started (cache depends on it)\ncache: started (app depends on it)\napp: started"
    );
}

#[test]
fn stopping_one_stops_what_depends_on_it_first_and_says_so() {
    let mut w = world(TIERS);
    up(&mut w);
    w.ask("stop db");
    assert_eq!(w.signals.len(), 1, "app first: {:?}", w.signals);
    w.reap("app", TERMED);
    w.reap("cache", TERMED);
    w.reap("db", TERMED);
    assert_eq!(
        w.reply().output,
        "app: stopped (it depends on cache)\ncache: stopped (it depends on db)\ndb: stopped"
    );
}

#[test]
fn restarting_a_dependency_restarts_its_dependents_around_it() {
    let mut w = world(TIERS);
    up(&mut w);
    let before = spawned(&w).len();
    w.ask("restart db");
    w.reap("app", TERMED);
    w.reap("cache", TERMED);
    w.reap("db", TERMED);
    assert_eq!(spawned(&w)[before..], ["db"]);
    w.advance(1000);
    w.advance(1000);
    w.advance(1000);
    assert_eq!(spawned(&w)[before..], ["db", "cache", "app"]);
    let out = w.reply().output;
    assert_eq!(out, "db: started\ncache: started (it depends on db)\napp: started (it depends on cache)");
}

#[test]
fn a_dependency_that_gives_up_fails_what_waits_for_it() {
    let yaml = "programs:\n  db: {cmd: missing, startretries: 0, autostart: false}\n  app: {cmd: app, depends_on: db, autostart: false}\n";
    let mut w = world(yaml);
    w.ask("start app");
    let out = w.reply().output;
    assert_eq!(
        out,
        "db: ERROR (spawn error; app depends on it)\napp: ERROR (it depends on db, which is FATAL)"
    );
    assert!(w.logged("not starting app: it depends on db, which is FATAL"));
    assert_eq!(w.state("app"), "STOPPED");
    w.ask("status app");
    assert!(
        w.reply().output.ends_with("Not started, it depends on db, which is FATAL"),
        "said until it moves"
    );
}

#[test]
fn priorities_start_in_waves_and_stop_in_reverse() {
    let yaml = "programs:\n  late: {cmd: l, priority: 20}\n  early: {cmd: e, priority: 10}\n  also: {cmd: a, priority: 10}\n";
    let mut w = world(yaml);
    assert_eq!(spawned(&w), ["also", "early"], "ties together, the later one waits");
    w.advance(1000);
    assert_eq!(spawned(&w), ["also", "early", "late"]);
    w.advance(1000);
    w.feed(Input::Terminate(Signal::SIGTERM));
    assert_eq!(w.signals.iter().map(|s| s.0).collect::<Vec<_>>(), [w.pid("late")]);
    w.reap("late", TERMED);
    assert_eq!(w.signals.len(), 3, "then both at once");
}

#[test]
fn a_priority_never_makes_a_dependency_wait_for_its_dependent() {
    let yaml = "programs:\n  app: {cmd: a, priority: 1, depends_on: db}\n  db: {cmd: d, priority: 500}\n  other: {cmd: o, priority: 100}\n";
    let mut w = world(yaml);
    assert_eq!(spawned(&w), ["db"], "db goes with app's priority, before other");
    w.advance(1000);
    assert_eq!(spawned(&w), ["db", "app"]);
    w.advance(1000);
    assert_eq!(spawned(&w), ["db", "app", "other"]);
}

#[test]
fn a_stop_calls_off_a_queued_start() {
    let mut w = world(TIERS);
    w.ask("stop app");
    assert_eq!(w.reply().output, "app: stopped");
    w.advance(1000);
    w.advance(1000);
    assert!(!spawned(&w).contains(&"app".to_string()));
}

#[test]
fn dry_run_shows_the_order() {
    let mut w = world(TIERS);
    up(&mut w);
    w.feed(Input::Reload {
        from: Some(ME),
        loaded: Box::new(Ok(parse(&TIERS.replace("cmd: db", "cmd: db2").replace("cmd: app", "cmd: app2")))),
        dry_run: true,
    });
    let out = w.reply().output;
    assert!(out.contains("stop order: app, db") && out.contains("start order: db, app"), "{out}");
}

#[test]
fn a_restart_keeps_the_priorities_both_ways() {
    let yaml = "programs:\n  low: {cmd: l, priority: 1, starttime: 0}\n  high: {cmd: h, priority: 2, starttime: 0}\n";
    let mut w = world(yaml);
    let before = spawned(&w).len();
    w.ask("restart all");
    assert_eq!(w.signals.iter().map(|s| s.0).collect::<Vec<_>>(), [w.pid("high")], "the higher stops first");
    w.reap("high", TERMED);
    assert_eq!(spawned(&w).len(), before, "nothing starts before the lower one stopped and started");
    w.reap("low", TERMED);
    assert_eq!(spawned(&w)[before..], ["low", "high"]);
    assert_eq!(w.reply().output, "high: started\nlow: started");
}

#[test]
fn a_process_removed_while_queued_still_gets_its_answer() {
    let yaml = "programs:\n  slow: {cmd: s, starttime: 0, priority: 1000}\n  w: {cmd: w, numprocs: 2, autostart: false, starttime: 5}\n";
    // w:w_01 is queued to stop behind `slow` (both removed), and dies on its own meanwhile.
    let yaml2 = "programs:\n  w: {cmd: w, numprocs: 1, autostart: false, starttime: 5}\n";
    let mut w = world(yaml);
    w.ask("start w");
    w.feed(Input::Reload {
        from: Some(Requester::Console),
        loaded: Box::new(Ok(parse(yaml2))),
        dry_run: false,
    });
    w.rec.replies.retain(|(to, _)| *to != Requester::Console);
    assert_eq!(w.state("slow"), "STOPPING", "the higher priority stops first");
    w.reap("w:w_01", ExitKind::Code(3));
    assert!(!w.sup.processes().any(|p| p.name == "w:w_01"), "forgotten");
    w.reap("slow", TERMED);
    w.advance(5000);
    let out = w.reply().output;
    assert!(out.contains("w:w_01: ERROR"), "answered for the one forgotten: {out}");
}

/// a ← b ← d, d slow to stop.
const SLOW_TOP: &str = "programs:\n  a: {cmd: a, starttime: 0}\n  b: {cmd: b, starttime: 0, depends_on: a}\n  \
                        d: {cmd: d, starttime: 0, depends_on: b}\n";

#[test]
fn a_start_during_a_queued_stop_keeps_what_it_depends_on() {
    let mut w = world(SLOW_TOP);
    w.ask_as(Requester::Client(1), "stop a");
    assert_eq!(w.state("d"), "STOPPING");
    w.ask_as(Requester::Client(2), "start b");
    w.reap("d", TERMED);
    assert_eq!((w.state("a"), w.state("b")), ("RUNNING", "RUNNING"), "b runs, and what it needs too");
    let answers: Vec<String> = w.rec.replies.iter().map(|(_, r)| r.output.clone()).collect();
    assert!(answers.contains(&"b: ERROR (already started)".to_string()), "{answers:?}");
    assert!(
        answers.iter().any(|a| a.contains("a: ERROR (abnormal termination)")),
        "the stop called off: {answers:?}"
    );
}

#[test]
fn a_reload_keeps_a_stop_a_person_asked_for() {
    let mut w = world(SLOW_TOP);
    w.ask("stop a");
    w.reload(&SLOW_TOP.replace("{cmd: a,", "{cmd: a2,"));
    w.rec.replies.clear();
    w.reap("d", TERMED);
    w.reap("b", TERMED);
    w.reap("a", TERMED);
    assert_eq!(w.state("a"), "STOPPED", "not started again by the reload");
    assert_eq!(w.process("a").spec.cmd.program(), "a2", "it takes the new definition");
}

#[test]
fn a_start_waiting_for_a_failing_dependency_holds_no_priority_back() {
    let yaml = "programs:\n  db: {cmd: db, starttime: 5, startretries: 100, priority: 1}\n  \
                app: {cmd: app, depends_on: db, priority: 1}\n  x: {cmd: x, priority: 5}\n";
    let mut w = world(yaml);
    assert_eq!(spawned(&w), ["db"]);
    w.reap("db", ExitKind::Code(1));
    assert_eq!(w.state("db"), "BACKOFF");
    assert_eq!(spawned(&w), ["db", "x"], "x goes while app waits for a db that keeps failing");
    assert_eq!(w.state("app"), "STOPPED");
}

#[test]
fn a_reload_stops_removed_programs_in_the_order_they_ran_under() {
    let yaml = "programs:\n  a: {cmd: a, starttime: 0}\n  b: {cmd: b, starttime: 0, depends_on: a}\n  keep: {cmd: k, starttime: 0}\n";
    let mut w = world(yaml);
    w.reload("programs:\n  keep: {cmd: k, starttime: 0}\n");
    assert_eq!(w.signals.iter().map(|s| s.0).collect::<Vec<_>>(), [w.pid("b")], "b first: it depended on a");
    w.reap("b", TERMED);
    assert_eq!(w.signals.len(), 2, "then a");
}

#[test]
fn priorities_that_cross_at_a_reload_never_jam_the_stops() {
    // r (removed) ran depending on k with priority 1; k, restarted, now has priority 500.
    let yaml =
        "programs:\n  k: {cmd: k, starttime: 0}\n  r: {cmd: r, starttime: 0, depends_on: k, priority: 1}\n";
    let mut w = world(yaml);
    w.reload("programs:\n  k: {cmd: k2, starttime: 0, priority: 500}\n");
    assert_eq!(w.signals.iter().map(|s| s.0).collect::<Vec<_>>(), [w.pid("r")], "what depended on k first");
    w.reap("r", TERMED);
    assert_eq!(w.state("k"), "STOPPING");
    w.reap("k", TERMED);
    assert_eq!(w.state("k"), "RUNNING");
}

#[test]
fn the_dry_run_orders_stops_as_the_reload_does() {
    let yaml =
        "programs:\n  y: {cmd: y, starttime: 0, priority: 10}\n  z: {cmd: z, starttime: 0, priority: 50}\n";
    let changed = "programs:\n  z: {cmd: z2, starttime: 0, priority: 3}\n";
    let mut w = world(yaml);
    w.feed(Input::Reload { from: Some(ME), loaded: Box::new(Ok(parse(changed))), dry_run: true });
    let out = w.reply().output;
    assert!(out.contains("stop order: y, z"), "y (removed, 10) before z (kept, now 3): {out}");
    w.reload(changed);
    assert_eq!(w.signals.iter().map(|s| s.0).collect::<Vec<_>>(), [w.pid("y")], "and so does the reload");
}
