//! Start order, readiness and health (taskmaster(1), ORDER AND HEALTH) through the real binary:
//! programs that write when they start and stop, probes against listeners the tests open, and
//! checks that fail on cue.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A program that writes `start NAME` when it starts and `stop NAME` when asked to stop.
fn tier(name: &str, depends: &str) -> String {
    format!(
        "  {name}:\n    cmd: sh -c 'echo start {name} >> events; trap \"echo stop {name} >> events; exit 0\" TERM; \
         while :; do sleep 0.05; done'\n    starttime: 0.3\n{depends}"
    )
}

fn three_tiers() -> String {
    [tier("db", ""), tier("cache", "    depends_on: db\n"), tier("app", "    depends_on: [cache, db]\n")]
        .concat()
}

fn events(d: &Daemon) -> Vec<String> {
    std::fs::read_to_string(d.dir.join("events")).unwrap_or_default().lines().map(str::to_string).collect()
}

/// Waits until the events file has `count` lines; returns the last `take` of them.
fn wait_events(d: &Daemon, count: usize, take: usize) -> Vec<String> {
    let all = wait_until(&format!("{count} events"), || Some(events(d)).filter(|e| e.len() >= count));
    assert_eq!(all.len(), count, "no more than that: {all:?}");
    all[count - take..].to_vec()
}

const STARTS: [&str; 3] = ["start db", "start cache", "start app"];
const STOPS: [&str; 3] = ["stop app", "stop cache", "stop db"];

fn all_running(d: &Daemon) {
    for name in ["db", "cache", "app"] {
        d.wait_state(name, "RUNNING");
    }
}

#[test]
fn the_order_holds_on_start_stop_reload_and_shutdown() {
    let mut d = Daemon::start(&three_tiers());
    all_running(&d);
    assert_eq!(wait_events(&d, 3, 3), STARTS, "autostart");
    let out = d.ctl(&["stop", "all"]);
    assert_eq!(stdout(&out), "app: stopped\ncache: stopped\ndb: stopped\n");
    assert_eq!(wait_events(&d, 6, 3), STOPS, "stop all");
    d.ctl(&["start", "all"]);
    assert_eq!(wait_events(&d, 9, 3), STARTS, "start all");
    all_running(&d);
    // A reload that changes all three restarts them in order.
    let changed = three_tiers().replace("starttime: 0.3", "starttime: 0.3\n    env: {V: '2'}");
    std::fs::write(&d.config, Daemon::yaml("", &changed)).expect("rewrite");
    let dry = stdout(&d.ctl(&["reload", "--dry-run"]));
    assert!(dry.contains("stop order: app, cache, db\nstart order: db, cache, app\n"), "{dry}");
    assert_eq!(events(&d).len(), 9, "a dry run changes nothing");
    d.ctl(&["reload"]);
    assert_eq!(wait_events(&d, 15, 6), [STOPS, STARTS].concat(), "reload");
    all_running(&d);
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
    assert_eq!(wait_events(&d, 18, 3), STOPS, "shutdown");
}

#[test]
fn starting_one_starts_its_dependencies_and_stopping_one_its_dependents() {
    let programs = three_tiers().replace("starttime: 0.3", "starttime: 0.3\n    autostart: false");
    let d = Daemon::start(&programs);
    let out = d.ctl(&["start", "app"]);
    assert_eq!(
        stdout(&out),
        "db: started (app depends on it)\ncache: started (app depends on it)\napp: started\n"
    );
    assert_eq!(wait_events(&d, 3, 3), STARTS);
    let out = d.ctl(&["stop", "db"]);
    assert_eq!(
        stdout(&out),
        "app: stopped (it depends on db)\ncache: stopped (it depends on db)\ndb: stopped\n"
    );
    assert_eq!(wait_events(&d, 6, 3), STOPS);
}

#[test]
fn a_cycle_fails_the_check_and_names_it() {
    let dir = TempDir::new("cycle");
    let config = dir.write(
        "t.yaml",
        "programs:\n  db: {cmd: a, depends_on: cache}\n  cache: {cmd: a, depends_on: [db]}\n  web: {cmd: a, depends_on: dbb}\n",
    );
    let out = run(TASKMASTER, &["--check", "-c", config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("`dbb`, which is not a program (did you mean `db`?)"), "{text}");
    let fixed = "programs:\n  db: {cmd: a, depends_on: cache}\n  cache: {cmd: a, depends_on: [db]}\n";
    std::fs::write(&config, fixed).expect("write");
    let text = stderr(&run(TASKMASTER, &["--check", "-c", config.to_str().expect("utf-8")]));
    assert!(text.contains("depends_on: is a cycle: cache -> db -> cache"), "{text}");
}

#[test]
fn a_log_probe_keeps_it_starting_until_the_line() {
    let d = Daemon::start(
        "  srv:\n    cmd: sh -c 'echo warming up; touch began; while [ ! -e go ]; do sleep 0.05; done; echo now ready to serve; exec sleep 1000'\n    \
         starttime: 0\n    ready: {log: 'ready to (serve|accept)'}\n",
    );
    wait_until("the program began", || d.dir.join("began").exists().then_some(()));
    // It printed, and runs, but is not ready: STARTING, whatever the time.
    d.wait_log("spawned: 'srv'");
    assert_eq!(d.state("srv"), "STARTING");
    std::fs::write(d.dir.join("go"), "").expect("go");
    d.wait_state("srv", "RUNNING");
    d.wait_log("success: srv entered RUNNING state, it is ready (log ready to (serve|accept))");
}

/// A port nothing listens on (yet).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a port")
}

#[test]
fn a_tcp_probe_waits_for_a_listener_opened_late() {
    let port = free_port();
    let d = Daemon::start(&format!(
        "  db:\n    cmd: sleep 1000\n    starttime: 0\n    ready: {{tcp: 127.0.0.1:{port}, timeout: 60}}\n  \
         app:\n    cmd: sleep 1001\n    starttime: 0\n    depends_on: db\n"
    ));
    d.wait_log("spawned: 'db'");
    assert_eq!(d.state("db"), "STARTING");
    let status = stdout(&d.ctl(&["status", "app"]));
    assert!(status.contains("waiting for db to be RUNNING"), "{status}");
    let _listener = TcpListener::bind(("127.0.0.1", port)).expect("listen");
    d.wait_state("db", "RUNNING");
    d.wait_state("app", "RUNNING");
}

#[test]
fn not_ready_in_time_is_a_failed_start_then_fatal() {
    let d = Daemon::start(
        "  slow:\n    cmd: sleep 1000\n    starttime: 0\n    startretries: 1\n    ready: {file: never.there, timeout: 0.5}\n",
    );
    let fatal = d.wait_state("slow", "FATAL");
    assert_eq!(fatal["description"], "Not ready within 0.5 seconds");
    assert_eq!(d.count_log("not ready: slow did not pass its ready probe within 0.5 seconds"), 2);
    assert!(d.log().contains("slow: its ready probe last said: "), "{}", d.log());
    assert!(d.log().contains("never.there: No such file or directory"), "{}", d.log());
    // Each attempt's process is gone.
    for pid in d.spawned_pids() {
        wait_until("the attempt gone", || (!alive(pid)).then_some(()));
    }
}

/// A tiny HTTP server on its own thread that answers 200 while `healthy`, 503 after.
fn http_server(healthy: Arc<AtomicBool>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = listener.local_addr().expect("an address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 1024];
            let _ = stream.read(&mut buf);
            let answer: &[u8] = match healthy.load(Ordering::SeqCst) {
                true => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                false => b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
            };
            let _ = stream.write_all(answer);
        }
    });
    port
}

#[test]
fn a_failing_http_check_restarts_the_program_with_the_unhealthy_line() {
    let healthy = Arc::new(AtomicBool::new(true));
    let port = http_server(healthy.clone());
    let d = Daemon::start(&format!(
        "  web:\n    cmd: sleep 1000\n    starttime: 0\n    \
         healthcheck: {{http: 'http://127.0.0.1:{port}/health', interval: 0.2, timeout: 2, retries: 2}}\n"
    ));
    let first = d.wait_state("web", "RUNNING")["pid"].as_i64().expect("a pid") as i32;
    let status = wait_until("healthy in status", || {
        let line = stdout(&d.ctl(&["status", "web"]));
        line.contains(", healthy").then_some(line)
    });
    assert!(status.contains(&format!("pid {first}")), "{status}");
    assert_eq!(d.process("web")["health"]["healthy"], true);
    healthy.store(false, Ordering::SeqCst);
    d.wait_log("health check of web failed (1 of 2): HTTP 503 Service Unavailable");
    d.wait_log("unhealthy: web (HTTP 503 Service Unavailable)");
    let second = d.wait_new_pid("web", first);
    wait_until("the first one gone", || (!alive(first)).then_some(()));
    healthy.store(true, Ordering::SeqCst);
    wait_until("healthy again", || stdout(&d.ctl(&["status", "web"])).contains(", healthy").then_some(()));
    assert_eq!(d.pid_of("web"), Some(second), "no more restarts once healthy");
}

#[test]
fn a_cmd_check_that_hangs_is_killed_at_its_timeout() {
    let d = Daemon::start(
        "  w:\n    cmd: sleep 1000\n    starttime: 0\n    \
         healthcheck: {cmd: 'echo $$ >> probes; exec sleep 1000', interval: 0.2, timeout: 0.5, retries: 100}\n",
    );
    d.wait_log("health check of w failed (1 of 100): it did not finish within 0.5 seconds: killed");
    let first: i32 = wait_until("the probe's pid", || {
        d.dir.read("probes").lines().next().and_then(|l| l.trim().parse().ok())
    });
    wait_until("the hung probe gone", || (!alive(first)).then_some(()));
    let status = stdout(&d.ctl(&["status", "w"]));
    assert!(
        status.contains("health check failed 1 of 100: it did not finish within 0.5 seconds"),
        "{status}"
    );
}

#[test]
fn a_tcp_check_says_what_refused_it() {
    let port = free_port();
    let d = Daemon::start(&format!(
        "  w:\n    cmd: sleep 1000\n    starttime: 0\n    healthcheck: {{tcp: {port}, interval: 0.2, retries: 1}}\n"
    ));
    d.wait_log("unhealthy: w (Connection refused)");
}

#[test]
fn priorities_start_in_waves_and_stop_in_reverse() {
    let programs = [
        tier("late", "    priority: 20\n"),
        tier("early", "    priority: 10\n"),
        tier("also", "    priority: 10\n"),
    ]
    .concat();
    let mut d = Daemon::start(&programs);
    let started = wait_events(&d, 3, 3);
    assert_eq!(started[2], "start late", "the higher priority after both of the lower: {started:?}");
    for name in ["late", "early", "also"] {
        d.wait_state(name, "RUNNING");
    }
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
    let stopped = wait_events(&d, 6, 3);
    assert_eq!(stopped[0], "stop late", "the higher priority first: {stopped:?}");
}

#[test]
fn a_server_that_never_answers_holds_up_nothing() {
    // Accepts connections (the kernel's backlog) and never reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").expect("listen");
    let port = silent.local_addr().expect("an address").port();
    let d = Daemon::start(&format!(
        "  w:\n    cmd: sleep 1000\n    starttime: 0\n    \
         healthcheck: {{http: 'http://127.0.0.1:{port}/', interval: 0.1, timeout: 1, retries: 3}}\n  \
         other:\n    cmd: sleep 1001\n    starttime: 0\n    autostart: false\n"
    ));
    d.wait_state("w", "RUNNING");
    // While the look waits for its answer, taskmaster answers and supervises as ever.
    for _ in 0..5 {
        let out = d.ctl(&["start", "other"]);
        assert_eq!(stdout(&out), "other: started\n");
        let out = d.ctl(&["stop", "other"]);
        assert_eq!(stdout(&out), "other: stopped\n");
    }
    d.wait_log("health check of w failed (1 of 3): no answer within 1 second");
    drop(silent);
}

#[test]
fn a_log_probe_never_reads_a_line_made_of_both_streams() {
    let d = Daemon::start(
        "  a:\n    cmd: sh -c 'printf warn_ >&2; sleep 0.2; echo listening on 80; exec sleep 1000'\n    \
         starttime: 0\n    ready: {log: '^listening'}\n  \
         b:\n    cmd: sh -c 'printf rea >&2; sleep 0.2; echo dy; exec sleep 1000'\n    \
         starttime: 0\n    startretries: 0\n    ready: {log: '^ready$', timeout: 1}\n",
    );
    d.wait_state("a", "RUNNING");
    d.wait_state("b", "FATAL");
}
