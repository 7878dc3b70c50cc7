//! Every row of the state table (taskmaster(1), PROCESS STATES) through the real binary: tiny `sh
//! -c` children, states read over the socket, waits with deadlines.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::time::{Duration, Instant};

#[test]
fn stopped_to_starting_to_running_after_starttime() {
    let d = Daemon::start("  a:\n    cmd: sleep 1000\n    starttime: 0.3\n");
    let p = d.process("a");
    assert!(p["state"] == "STARTING" || p["state"] == "RUNNING", "{p}");
    let p = d.wait_state("a", "RUNNING");
    assert!(p["pid"].as_i64().is_some_and(|pid| pid > 0));
    assert!(p["description"].as_str().unwrap_or_default().starts_with("pid "), "{p}");
    d.wait_log("success: a entered RUNNING state, process has stayed up for > than 0.3 seconds (starttime)");
    d.wait_log(&format!("spawned: 'a' with pid {}", p["pid"]));
}

#[test]
fn a_start_that_never_stays_up_is_tried_startretries_plus_one_times_then_fatal() {
    let d = Daemon::start("  f:\n    cmd: sh -c 'exit 1'\n    startretries: 2\n");
    let p = d.wait_state("f", "FATAL");
    assert_eq!(p["description"], "Exited too quickly (process log may have details)");
    assert_eq!(d.count_log("spawned: 'f'"), 3, "startretries 2 means 3 attempts");
    assert_eq!(d.count_log("exited: f (exit status 1; not expected)"), 3);
    d.wait_log("gave up: f entered FATAL state, too many start retries too quickly");
    assert_eq!(p["exitstatus"], 1);
}

#[test]
fn a_process_in_backoff_is_shown_with_its_reason_and_retry_count() {
    let d = Daemon::start("  f:\n    cmd: sh -c 'exit 2'\n    startretries: 5\n");
    let p = d.wait_state("f", "BACKOFF");
    assert_eq!(p["description"], "Exited too quickly (process log may have details)");
    wait_until("a retry", || (d.process("f")["retries"].as_u64() >= Some(1)).then_some(()));
}

#[test]
fn spawn_errors_are_logged_and_lead_to_backoff_then_fatal() {
    let d = Daemon::start(
        "  nocmd:\n    cmd: /nonexistent/cmd\n    startretries: 1\n  \
           nodir:\n    cmd: ./bin/run.sh\n    workingdir: /nonexistent/dir\n    startretries: 0\n  \
           noexec:\n    cmd: /etc/passwd\n    startretries: 0\n",
    );
    assert_eq!(d.wait_state("nocmd", "FATAL")["description"], "can't find command '/nonexistent/cmd'");
    d.wait_log("spawnerr: can't find command '/nonexistent/cmd'");
    assert_eq!(d.count_log("spawnerr: can't find command '/nonexistent/cmd'"), 2);
    // Its relative command would be looked for in the folder: the folder is what is missing.
    let p = d.wait_state("nodir", "FATAL");
    assert_eq!(p["description"], "couldn't chdir to /nonexistent/dir: No such file or directory");
    d.wait_log("spawnerr: couldn't chdir to /nonexistent/dir: No such file or directory");
    assert_eq!(d.wait_state("noexec", "FATAL")["description"], "command at '/etc/passwd' is not executable");
}

#[test]
fn a_killed_running_process_is_replaced_at_once() {
    let d = Daemon::start("  v:\n    cmd: sleep 1000\n    starttime: 0.2\n    autorestart: always\n");
    let old = d.wait_state("v", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    let killed = Instant::now();
    kill(Pid::from_raw(old), Signal::SIGKILL).expect("kill -9");
    let new = d.wait_new_pid("v", old);
    eprintln!("kill -9 to a new pid, seen from outside through the socket: {:?}", killed.elapsed());
    assert!(alive(new));
    d.wait_log("exited: v (terminated by SIGKILL; not expected)");
    let p = d.process("v");
    assert_eq!((p["signal"].as_str(), p["exitstatus"].is_null()), (Some("SIGKILL"), true));
}

#[test]
fn autorestart_follows_policy_and_exitcodes() {
    let d = Daemon::start(
        "  never:\n    cmd: sh -c 'sleep 0.3; exit 1'\n    starttime: 0.1\n    autorestart: never\n  \
           expected:\n    cmd: sh -c 'sleep 0.3; exit 2'\n    starttime: 0.1\n    exitcodes: [0, 2]\n  \
           unexpected:\n    cmd: sh -c 'sleep 0.3; exit 3'\n    starttime: 0.1\n    exitcodes: [0, 2]\n  \
           always:\n    cmd: sh -c 'sleep 0.3; exit 0'\n    starttime: 0.1\n    autorestart: always\n",
    );
    let p = d.wait_state("never", "EXITED");
    assert!(p["description"].as_str().unwrap_or_default().starts_with("exit status 1, "), "{p}");
    d.wait_log("exited: never (exit status 1; not expected)");
    d.wait_state("expected", "EXITED");
    d.wait_log("exited: expected (exit status 2; expected)");
    wait_until("unexpected to be restarted", || (d.count_log("spawned: 'unexpected'") >= 2).then_some(()));
    d.wait_log("exited: unexpected (exit status 3; not expected)");
    wait_until("always to be restarted", || (d.count_log("spawned: 'always'") >= 2).then_some(()));
    d.wait_log("exited: always (exit status 0; expected)");
    assert_eq!(d.count_log("spawned: 'never'"), 1);
    assert_eq!(d.count_log("spawned: 'expected'"), 1);
}

/// The time of day of a log line, in milliseconds.
fn stamp_ms(line: &str) -> u64 {
    let time = line.split_whitespace().nth(1).expect("a time");
    let (hms, ms) = time.split_once(',').expect("milliseconds");
    let parts: Vec<u64> = hms.split(':').map(|p| p.parse().expect("a number")).collect();
    ((parts[0] * 60 + parts[1]) * 60 + parts[2]) * 1000 + ms.parse::<u64>().expect("ms")
}

#[test]
fn a_crash_loop_is_slowed_down_not_spun() {
    let d = Daemon::start("  crash:\n    cmd: 'true'\n    starttime: 0\n    autorestart: always\n");
    wait_until("five spawns", || (d.count_log("spawned: 'crash'") >= 5).then_some(()));
    let log = d.log();
    let spawns: Vec<u64> = log.lines().filter(|l| l.contains("spawned: 'crash'")).map(stamp_ms).collect();
    // Each quick run in a row waits twice as long as the one before: 0.1 s, 0.2 s, 0.4 s, 0.8 s
    // (a slow machine only makes the gaps longer).
    for (k, pair) in spawns.windows(2).take(4).enumerate() {
        let gap = pair[1].saturating_sub(pair[0]);
        assert!(gap + 1 >= 100 << k, "gap {k} is {gap} ms:\n{log}");
    }
}

#[test]
fn stop_sends_the_stop_signal_and_waits_for_the_end() {
    let d = Daemon::start("  t:\n    cmd: sleep 1000\n    starttime: 0\n    stopsignal: TERM\n");
    let pid = d.wait_state("t", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    let out = d.ctl(&["stop", "t"]);
    assert_eq!(stdout(&out), "t: stopped\n");
    assert_eq!(out.status.code(), Some(0));
    assert!(!alive(pid));
    d.wait_log("waiting for t to stop");
    d.wait_log("stopped: t (terminated by SIGTERM)");
    let p = d.process("t");
    assert_eq!(p["state"], "STOPPED");
    assert!(!p["description"].as_str().unwrap_or("Not started").contains("Not started"));
}

#[test]
fn a_process_ignoring_its_stop_signal_is_killed_after_stoptime() {
    let d = Daemon::start(
        "  stubborn:\n    cmd: sh -c 'trap \"\" TERM; echo ready; while :; do sleep 0.1; done'\n    starttime: 0\n    \
           stoptime: 0.5\n    stdout: s.out\n",
    );
    let pid = d.wait_state("stubborn", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    wait_until("the trap to be set", || d.dir.read("s.out").contains("ready").then_some(()));
    let out = d.ctl(&["stop", "stubborn"]);
    assert_eq!(stdout(&out), "stubborn: stopped\n");
    d.wait_log(&format!("killing 'stubborn' ({pid}) with SIGKILL"));
    d.wait_log("stopped: stubborn (terminated by SIGKILL)");
    assert!(!alive(pid));
}

/// A program that ignores SIGTERM, so that every stop of it ends with SIGKILL.
const SLOWSTOP: &str = "  slowstop:\n    cmd: sh -c 'trap \"\" TERM; echo ready; while :; do sleep 0.1; done'\n    \
                        starttime: 0\n    stoptime: 0.5\n    stdout: s.out\n";

#[test]
fn a_restart_that_needs_sigkill_still_starts_the_process_again() {
    let d = Daemon::start(SLOWSTOP);
    let pid = d.wait_state("slowstop", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    wait_until("the trap to be set", || d.dir.read("s.out").contains("ready").then_some(()));
    let out = d.ctl(&["restart", "slowstop"]);
    assert_eq!(stdout(&out), "slowstop: started\n", "{}", d.log());
    d.wait_log(&format!("killing 'slowstop' ({pid}) with SIGKILL"));
    let p = d.process("slowstop");
    assert_eq!(p["state"], "RUNNING");
    assert_ne!(p["pid"].as_i64(), Some(i64::from(pid)));
}

#[test]
fn a_start_during_a_stop_that_needs_sigkill_starts_it_after_the_kill() {
    let d = Daemon::start(SLOWSTOP);
    let pid = d.wait_state("slowstop", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    wait_until("the trap to be set", || d.dir.read("s.out").contains("ready").then_some(()));
    let mut stopper = std::os::unix::net::UnixStream::connect(d.socket()).expect("connect");
    use std::io::Write;
    stopper.write_all(b"{\"command\":\"stop\",\"args\":[\"slowstop\"]}\n").expect("send");
    d.wait_state("slowstop", "STOPPING");
    assert_eq!(d.call("start", &["slowstop"])["output"], "slowstop: started");
    d.wait_log(&format!("killing 'slowstop' ({pid}) with SIGKILL"));
    assert_eq!(d.state("slowstop"), "RUNNING");
}

#[test]
fn stopasgroup_signals_the_whole_group_and_nothing_of_the_group_survives() {
    // Each program prints its grandchild's pid, then waits.
    let d = Daemon::start(
        "  group:\n    cmd: sh -c 'sleep 1001 & echo $!; wait'\n    starttime: 0\n    stopasgroup: true\n    \
           stdout: group.out\n  \
         single:\n    cmd: sh -c 'sleep 1002 & echo $!; wait'\n    starttime: 0\n    stdout: single.out\n",
    );
    let grandchild =
        |file: &str| wait_until("a grandchild pid", || d.dir.read(file).trim().parse::<i32>().ok());
    let (g1, g2) = (grandchild("group.out"), grandchild("single.out"));
    assert!(alive(g1) && alive(g2));
    assert_eq!(stdout(&d.ctl(&["stop", "group", "single"])), "group: stopped\nsingle: stopped\n");
    // With stopasgroup the TERM reached the sleep; without, the sleep was killed with the rest
    // of the group once its parent had exited.
    wait_until("no grandchild left", || (!alive(g1) && !alive(g2)).then_some(()));
}

#[test]
fn stopping_a_backoff_process_stops_it_at_once() {
    let d = Daemon::start("  b:\n    cmd: sh -c 'exit 1'\n    startretries: 10\n");
    d.wait_state("b", "BACKOFF");
    assert_eq!(stdout(&d.ctl(&["stop", "b"])), "b: stopped\n");
    assert_eq!(d.state("b"), "STOPPED");
}

#[test]
fn a_manual_start_resets_the_retry_counter_even_from_fatal() {
    let d = Daemon::start("  f:\n    cmd: sh -c 'exit 1'\n    startretries: 1\n");
    d.wait_state("f", "FATAL");
    assert_eq!(d.count_log("spawned: 'f'"), 2);
    let out = d.ctl(&["start", "f"]);
    assert_eq!(stdout(&out), "f: ERROR (spawn error)\n");
    assert_eq!(out.status.code(), Some(1));
    d.wait_state("f", "FATAL");
    wait_until("two more attempts", || (d.count_log("spawned: 'f'") == 4).then_some(()));
}

#[test]
fn starttime_zero_is_running_at_once_and_exits_go_to_exited() {
    let d = Daemon::start("  z:\n    cmd: sh -c 'sleep 0.2'\n    starttime: 0\n    autorestart: never\n");
    d.wait_log("success: z entered RUNNING state, process has stayed up for > than 0 seconds (starttime)");
    let p = d.wait_state("z", "EXITED");
    assert_eq!(p["exitstatus"], 0);
    d.wait_log("exited: z (exit status 0; expected)");
}

#[test]
fn stopping_a_process_that_waits_to_restart_cancels_the_restart() {
    let d = Daemon::start(
        "  q:\n    cmd: 'true'\n    starttime: 0\n    autorestart: always\n  \
         marker:\n    cmd: sleep 1000\n    autostart: false\n    starttime: 5.2\n",
    );
    wait_until("a crash-loop delay", || {
        let p = d.process("q");
        (p["state"] == "EXITED").then_some(())
    });
    assert_eq!(stdout(&d.ctl(&["stop", "q"])), "q: stopped\n");
    let spawned = d.count_log("spawned: 'q'");
    // A barrier on taskmaster's own clock: `marker` is RUNNING only after 5.2 s, later than
    // the longest crash-loop delay, so the cancelled restart would have come before.
    assert_eq!(stdout(&d.ctl(&["start", "marker"])), "marker: started\n");
    assert_eq!(d.state("q"), "STOPPED");
    assert_eq!(d.count_log("spawned: 'q'"), spawned);
}

#[test]
fn a_stop_signal_right_after_the_spawn_is_not_lost() {
    // The program would take 5 s to count as started; the stop comes in the same instant as the
    // start. If the TERM were lost, only the SIGKILL after stoptime would end it.
    let d = Daemon::start(
        "  s:\n    cmd: sleep 1000\n    autostart: false\n    starttime: 5\n    stoptime: 30\n",
    );
    for _ in 0..10 {
        let mut stream = std::os::unix::net::UnixStream::connect(d.socket()).expect("connect");
        use std::io::Write;
        stream.write_all(b"{\"command\":\"start\",\"args\":[\"s\"]}\n").expect("send");
        let stop = d.call("stop", &["s"]);
        assert_eq!(stop["output"], "s: stopped");
    }
    assert_eq!(d.count_log("killing 's'"), 0, "every TERM arrived");
    assert_eq!(d.count_log("stopped: s (terminated by SIGTERM)"), 10);
}

#[test]
fn a_start_still_waiting_when_its_process_is_stopped_is_an_abnormal_termination() {
    let d = Daemon::start("  slow:\n    cmd: sleep 1000\n    autostart: false\n    starttime: 30\n");
    let socket = d.socket();
    let starter = std::thread::spawn(move || {
        let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("connect");
        use std::io::{BufRead, Write};
        stream.write_all(b"{\"command\":\"start\",\"args\":[\"slow\"]}\n").expect("send");
        let mut line = String::new();
        std::io::BufReader::new(stream).read_line(&mut line).expect("answer");
        line
    });
    d.wait_state("slow", "STARTING");
    assert_eq!(d.call("stop", &["slow"])["output"], "slow: stopped");
    let answer: serde_json::Value = serde_json::from_str(&starter.join().expect("join")).expect("json");
    assert_eq!(answer["output"], "slow: ERROR (abnormal termination)");
    assert_eq!(answer["ok"], false);
}

#[test]
fn a_death_found_with_a_due_starttime_is_a_failed_start_even_after_a_pause() {
    // taskmaster is paused (SIGSTOP) across both the child's death and its starttime deadline:
    // when it resumes, the death must be seen first, so the start counts as failed.
    let mut d = Daemon::start(
        "  quick:\n    cmd: sh -c 'sleep 0.3; exit 0'\n    starttime: 1\n    startretries: 1\n",
    );
    let pid = d.wait_state("quick", "STARTING")["pid"].as_i64().expect("pid") as i32;
    let spawned = Instant::now();
    d.signal(Signal::SIGSTOP);
    wait_until("the child to die and its starttime to pass", || {
        let dead = stat_fields(pid).first().is_none_or(|s| s == "Z");
        (dead && spawned.elapsed() > Duration::from_millis(1500)).then_some(())
    });
    d.signal(Signal::SIGCONT);
    d.wait_log("exited: quick (exit status 0; not expected)");
    wait_until("the retry", || (d.count_log("spawned: 'quick'") >= 2).then_some(()));
    assert!(!d.log().contains("success: quick"), "{}", d.log());
    d.wait_state("quick", "FATAL");
    d.shutdown_clean();
}

#[test]
fn a_program_that_puts_itself_in_the_background_is_told_so() {
    let d = Daemon::start(
        "  bg:\n    cmd: sh -c 'setsid sleep 1000 & echo $! >> bg.pids; exit 0'\n    startretries: 1\n",
    );
    d.wait_state("bg", "FATAL");
    let pids: Vec<i32> = d.dir.read("bg.pids").lines().filter_map(|l| l.trim().parse().ok()).collect();
    let _guard = KillOnDrop(pids.clone());
    // What it left is tracked (taskmaster(1), PROGRAMS THAT ESCAPE): the last run's, in status.
    // Found at the end, or a moment later when the orphan was still in its exec then.
    let last = pids.last().expect("a pid");
    let wanted = format!(
        "Exited with status 0 before starttime: does it put itself in the background? Run it in the \
         foreground, left {last} running"
    );
    wait_until("the leftover in the status", || {
        (d.process("bg")["description"] == wanted.as_str()).then_some(())
    });
    assert!(pids[..pids.len() - 1].iter().all(|p| !alive(*p)), "each retry killed what the last run left");
    d.wait_log("WARN bg: exited with status 0 before starttime: does it put itself in the background? run it in the foreground");
}

#[test]
fn a_critical_program_that_gives_up_stops_everything_and_taskmaster_exits_1() {
    let programs = "  db:\n    cmd: sh -c 'exit 1'\n    critical: true\n    startretries: 1\n  \
                    web:\n    cmd: sleep 1000\n    starttime: 0\n";
    let mut d = Daemon::start(programs);
    assert_eq!(d.wait_exit(), Some(1));
    let log = d.log();
    assert!(log.contains("critical program db entered FATAL: shutting down"), "{log}");
    assert!(log.contains("stopped: web (terminated by SIGTERM)"), "{log}");
    assert!(log.contains("shutdown complete"), "{log}");
    let web = d.spawned_pids().into_iter().filter(|p| alive(*p)).collect::<Vec<_>>();
    assert!(web.is_empty(), "nothing left running: {web:?}");
}

/// The time of a log line, in milliseconds of the day: `2026-11-30 20:55:06,089 INFO ...`.
fn log_millis(line: &str) -> Option<u64> {
    let time = line.split_whitespace().nth(1)?;
    let (hms, ms) = time.split_once(',')?;
    let parts: Vec<u64> = hms.split(':').filter_map(|p| p.parse().ok()).collect();
    let [h, m, s] = parts.as_slice() else { return None };
    Some(((h * 60 + m) * 60 + s) * 1000 + ms.parse::<u64>().ok()?)
}

#[test]
fn backoff_waits_base_times_the_attempt_up_to_max() {
    let mut d = Daemon::start(
        "  b:\n    cmd: sh -c 'exit 1'\n    starttime: 1\n    startretries: 3\n    backoff: {base: 0.3, max: 0.5}\n",
    );
    d.wait_state("b", "FATAL");
    let log = d.log();
    let spawns: Vec<u64> =
        log.lines().filter(|l| l.contains("spawned: 'b'")).filter_map(log_millis).collect();
    assert_eq!(spawns.len(), 4, "{log}");
    let gaps: Vec<u64> = spawns.windows(2).map(|w| w[1] - w[0]).collect();
    // min(0.5, 0.3 × k): 0.3 s, then 0.5 s twice. Never sooner; later only by the machine's delays.
    for (gap, wanted) in gaps.iter().zip([300, 500, 500]) {
        assert!(*gap >= wanted && *gap < wanted + 400, "gaps {gaps:?}, wanted {wanted} ms:\n{log}");
    }
    d.shutdown_clean();
}
