//! Crash tests: taskmaster outlives hostile children, hostile clients and a hostile machine.
//! Each runs the real binary and checks afterwards that status is true, no zombie exists,
//! nothing the test started is left, and taskmaster's descriptors and memory did not grow.
//! `make crash` (TASKMASTER_CRASH_HEAVY=1) runs the long variants.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

fn pick(light: u64, heavy_value: u64) -> u64 {
    if heavy() { heavy_value } else { light }
}

/// Prints a measured figure (seen with --nocapture, and in the CI log on failure).
fn report(scenario: &str, text: &str) {
    eprintln!("[crash] {scenario}: {text}");
}

#[test]
fn flapping_programs_are_throttled_and_shown_truly() {
    let seconds = pick(6, 20);
    let mut programs = String::new();
    for i in 0..25 {
        let _ = write!(programs, "  flap{i:02}:\n    cmd: sh -c 'exit 1'\n    startretries: 3\n");
        let _ =
            write!(programs, "  loop{i:02}:\n    cmd: 'true'\n    starttime: 0\n    autorestart: always\n");
    }
    let mut d = Daemon::start(&programs.replace("    cmd:", "    autostart: false\n    cmd:"));
    // Started by hand, so that the descriptors are counted before any child exists (sockets
    // aside: a client that just left may not be closed yet).
    let before = usage(d.pid());
    let files_before = descriptors_but_sockets(d.pid());
    let out = d.ctl(&["start", "all"]);
    assert_eq!(stdout(&out).lines().count(), 50, "{}", stdout(&out));
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(seconds) {
        d.assert_truthful();
        std::thread::sleep(Duration::from_millis(250));
    }
    let after = usage(d.pid());
    let cpu = (after.cpu_ticks - before.cpu_ticks) as f64 / TICKS_PER_SECOND as f64 / seconds as f64;
    let spawns = d.count_log("spawned: 'loop");
    report(
        "flapping",
        &format!(
            "50 programs for {seconds} s: {:.1}% CPU, {spawns} crash-loop spawns, fds {}→{}, RSS {}→{} KiB",
            cpu * 100.0,
            before.fds,
            after.fds,
            before.rss_kib,
            after.rss_kib
        ),
    );
    // A share of a core is a measure, not a behaviour: asserted only by `make crash`, on a
    // machine that runs nothing else.
    if heavy() {
        assert!(cpu < 0.5, "taskmaster used {:.0}% of a core", cpu * 100.0);
    }
    // Delays of 0.1, 0.2, 0.4 ... 5 s: about 7 spawns in 6 s, 10 in 20 s for each looper (a
    // slow machine spawns fewer, never more).
    let per_loop = spawns as f64 / 25.0;
    assert!(per_loop <= 6.0 + seconds as f64 / 5.0 + 2.0, "{per_loop} spawns per crash-looping program");
    for i in 0..25 {
        d.wait_state(&format!("flap{i:02}"), "FATAL");
        assert!(d.count_log(&format!("spawned: 'flap{i:02}'")) == 4, "startretries 3: four attempts");
    }
    d.assert_truthful();
    // Once every child is stopped and reaped, taskmaster holds what it held before any existed.
    assert_eq!(d.ctl(&["stop", "all"]).status.code(), Some(0));
    let files_after = descriptors_but_sockets(d.pid());
    assert_eq!(files_after, files_before, "descriptors leaked");
    d.shutdown_clean();
}

/// A process's descriptors that are not sockets: pipes, files, the event loop's own.
fn descriptors_but_sockets(pid: i32) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    let mut kinds: Vec<String> = dir
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| !target.starts_with("socket:"))
        .map(|target| match target.split_once(':') {
            // pipe:[123]: the kind, not the inode.
            Some((kind, _)) if target.ends_with(']') => kind.to_string(),
            _ => target,
        })
        .collect();
    kinds.sort();
    kinds
}

/// Every live process whose process group is `pgid`.
fn group_members(pgid: i32) -> Vec<i32> {
    all_pids().into_iter().filter(|p| pgrp(*p) == Some(pgid) && alive(*p)).collect()
}

#[test]
fn a_stubborn_sprawling_child_leaves_nothing_of_its_group_behind() {
    let d = Daemon::start(
        "  sprawl:\n    cmd: sh -c 'trap \"\" HUP INT QUIT TERM USR1 USR2 ALRM; \
         (trap \"\" TERM; sleep 1001 & sleep 1002 & wait) & \
         setsid sleep 1003 & echo $! > escaped.pid; echo ready; while :; do sleep 0.1; done'\n    \
         starttime: 0\n    stoptime: 0.5\n    stdout: sprawl.out\n",
    );
    let pid = d.wait_state("sprawl", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    wait_until("the family to be up", || {
        (group_members(pid).len() >= 5 && d.dir.read("sprawl.out").contains("ready")).then_some(())
    });
    let escaped: i32 = wait_until("the setsid pid", || d.dir.read("escaped.pid").trim().parse().ok());
    let members = group_members(pid);
    report(
        "sprawl",
        &format!("group {pid} had {} members; pid {escaped} left it with setsid", members.len()),
    );
    assert_eq!(stdout(&d.ctl(&["stop", "sprawl"])), "sprawl: stopped\n");
    wait_until("the group to be empty", || group_members(pid).is_empty().then_some(()));
    // A grandchild that made itself a session of its own has left the group, but it was
    // handed to taskmaster (a subreaper) when the shell died: killed, and reaped.
    let _guard = KillOnDrop(vec![escaped]);
    wait_until("the setsid grandchild to be killed and reaped", || gone(escaped).then_some(()));
    d.assert_truthful();
}

/// Checks that `text` holds the numbers 1, 2, 3... one per line with none missing; the run may
/// have been cut mid-line, so the last line may be a prefix of the next number. Returns the count.
fn check_numbered(text: &str) -> usize {
    let lines: Vec<&str> = text.split('\n').collect();
    let complete = &lines[..lines.len().saturating_sub(1)];
    for (i, line) in complete.iter().enumerate() {
        assert_eq!(*line, (i + 1).to_string(), "line {} out of order", i + 1);
    }
    complete.len()
}

#[test]
fn floods_of_output_lose_no_line_and_status_keeps_answering() {
    let lines = pick(200_000, 5_000_000);
    let mut programs = String::new();
    for i in 0..20 {
        let _ = write!(
            programs,
            "  flood{i:02}:\n    cmd: sh -c 'seq 1 {lines} & seq 1 {lines} >&2; wait'\n    starttime: 0\n    \
             autorestart: never\n    stdout: f{i:02}.out\n    stderr: f{i:02}.err\n"
        );
    }
    let mut d = Daemon::start(&programs);
    let mut slowest = Duration::ZERO;
    let mut answers = 0;
    wait_until("every flood to end", || {
        let asked = Instant::now();
        let status = d.status();
        slowest = slowest.max(asked.elapsed());
        answers += 1;
        status.iter().all(|p| p["state"] == "EXITED").then_some(())
    });
    report(
        "floods",
        &format!(
            "20 children x 2 streams x {lines} lines; {answers} status answers meanwhile, slowest {slowest:?}"
        ),
    );
    for i in 0..20 {
        for ext in ["out", "err"] {
            let text = d.dir.read(&format!("f{i:02}.{ext}"));
            assert_eq!(check_numbered(&text), lines as usize, "f{i:02}.{ext} lost lines");
        }
    }
    d.assert_truthful();
    d.shutdown_clean();
}

#[test]
fn binary_output_huge_lines_and_a_closed_stdout_are_handled() {
    let dir = TempDir::new("bin");
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let bytes: Vec<u8> = (0..3_000_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect();
    std::fs::write(dir.join("random.bin"), &bytes).expect("write");
    let mut d = Daemon::start(&format!(
        "  bin:\n    cmd: cat {}\n    starttime: 0\n    autorestart: never\n    stdout: bin.out\n  \
         long:\n    cmd: sh -c 'head -c 5000000 /dev/zero | tr \"\\\\000\" x'\n    starttime: 0\n    autorestart: never\n    \
         stdout: long.out\n  \
         closed:\n    cmd: sh -c 'exec >&-; exec sleep 1000'\n    starttime: 0\n",
        dir.join("random.bin").display()
    ));
    d.wait_state("bin", "EXITED");
    d.wait_state("long", "EXITED");
    assert!(
        std::fs::read(d.dir.join("bin.out")).expect("bin.out") == bytes,
        "binary output is copied byte for byte"
    );
    let long = std::fs::read(d.dir.join("long.out")).expect("long.out");
    assert_eq!(long.len(), 5_000_000);
    assert!(long.iter().all(|&b| b == b'x'));
    d.wait_state("closed", "RUNNING");
    // A pipe closed early is an end of file (the pipe is let go), not a busy loop.
    let closed = d.process("closed")["pid"].as_i64().expect("pid") as i32;
    let pipes = |pid: i32| -> usize {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return 0 };
        dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy().starts_with("pipe:"))
            .count()
    };
    assert_eq!(pipes(closed), 1, "the child keeps only its stderr pipe");
    if heavy() {
        let before = usage(d.pid());
        std::thread::sleep(Duration::from_secs(1));
        let after = usage(d.pid());
        report(
            "output",
            &format!("idle CPU with a closed stdout: {} ticks in 1 s", after.cpu_ticks - before.cpu_ticks),
        );
        assert!(after.cpu_ticks - before.cpu_ticks <= 5);
    }
    d.assert_truthful();
    d.shutdown_clean();
}

#[test]
fn a_thousand_processes_and_thousands_of_kill_restart_cycles() {
    // Heavy: ten thousand processes, each killed once. Each sends stderr to stdout (one pipe), so
    // that they fit in a hard limit of 20 000 descriptors that cannot be raised.
    let (programs, rounds) = (pick(1, 10) as usize, pick(2, 1));
    let total = programs * 1000;
    let config: String = (0..programs)
        .map(|i| {
            format!(
                "  many{i}:\n    cmd: sleep 100000\n    numprocs: 1000\n    starttime: 0\n    \
                 autorestart: unexpected\n    stderr: stdout\n"
            )
        })
        .collect();
    let mut d = Daemon::start(&config);
    let running = |d: &Daemon| {
        let status = d.status();
        (status.len() == total && status.iter().all(|p| p["state"] == "RUNNING"))
            .then(|| status.iter().map(|p| p["pid"].as_i64().unwrap_or(0) as i32).collect::<Vec<i32>>())
    };
    let started = Instant::now();
    let patience = Duration::from_secs(pick(20, 180));
    wait_longer("all RUNNING", patience, || running(&d));
    let first_start = started.elapsed();
    assert_eq!(stdout(&d.ctl(&["stop", "all"])).lines().count(), total);
    assert!(d.status().iter().all(|p| p["state"] == "STOPPED"));
    assert_eq!(stdout(&d.ctl(&["start", "all"])).lines().filter(|l| l.ends_with(": started")).count(), total);
    let mut pids = wait_longer("all RUNNING again", patience, || running(&d));
    let before = usage(d.pid());
    let cycles = Instant::now();
    for _ in 0..rounds {
        for pid in &pids {
            kill(Pid::from_raw(*pid), Signal::SIGKILL).expect("kill");
        }
        // The quick deaths wait for the crash-loop delay; a manual start skips it.
        d.call_within("start", &["all"], patience);
        let old = pids.clone();
        pids = wait_longer("all replaced", patience, || {
            running(&d).filter(|now| now.iter().zip(&old).all(|(a, b)| a != b))
        });
    }
    let after = usage(d.pid());
    report(
        "scale",
        &format!(
            "{total} RUNNING in {first_start:?}; {} kill/restart cycles in {:?}; fds {}→{}, RSS {}→{} KiB",
            rounds as usize * total,
            cycles.elapsed(),
            before.fds,
            after.fds,
            before.rss_kib,
            after.rss_kib
        ),
    );
    assert_eq!(after.fds, before.fds, "descriptors leaked");
    assert!(
        after.rss_kib < before.rss_kib + 4096,
        "memory grew from {} to {} KiB",
        before.rss_kib,
        after.rss_kib
    );
    d.assert_truthful();
    d.shutdown_clean();
}

#[test]
fn running_out_of_descriptors_is_a_spawn_error_and_recovers() {
    // Each process holds two pipes and two files: far more than 64 descriptors are asked for.
    let programs = "  many:\n    cmd: sleep 100000\n    numprocs: 100\n    starttime: 0\n    startretries: 1\n    \
                    stdout: out.log\n    stderr: err.log\n";
    let d = Daemon::launch("ulimit -n 64 &&", "", programs, &["--no-shell", "-q"]);
    let fatal = wait_until("some to give up", || {
        let s = d.status();
        let fatal: Vec<String> = s
            .iter()
            .filter(|p| p["state"] == "FATAL")
            .map(|p| p["name"].as_str().unwrap_or_default().to_string())
            .collect();
        (!fatal.is_empty() && s.iter().all(|p| p["state"] == "FATAL" || p["state"] == "RUNNING"))
            .then_some(fatal)
    });
    let reason =
        d.status().into_iter().find(|p| p["state"] == "FATAL").expect("a fatal one")["description"].clone();
    report("fds", &format!("ulimit -n 64: {} of 100 processes could not start: {reason}", fatal.len()));
    assert!(reason.as_str().unwrap_or_default().starts_with("too many open files"), "{reason}");
    assert!(!d.log().contains("Too many open files"), "the reserve held: {}", d.log());
    // Clients past what the descriptors allow are told so, never left hanging.
    let clients: Vec<UnixStream> =
        (0..40).map(|_| UnixStream::connect(d.socket()).expect("connect")).collect();
    let mut refused = 0;
    for c in &clients {
        let mut c = c.try_clone().expect("clone");
        c.set_read_timeout(Some(PATIENCE)).expect("timeout");
        let _ = c.write_all(b"{\"command\":\"version\"}\n");
        let mut line = String::new();
        BufReader::new(c).read_line(&mut line).expect("an answer, not a hang");
        let answer: serde_json::Value = serde_json::from_str(&line).expect("json");
        if answer["ok"] == false {
            assert_eq!(answer["output"], "taskmaster has no file descriptor left; try again later");
            refused += 1;
        }
    }
    report("fds", &format!("40 clients at once: {refused} refused with a reason"));
    drop(clients);
    wait_until("the socket to answer again", || (d.try_call("version", &[])?["ok"] == true).then_some(()));
    d.assert_truthful();
    // Stopping the others frees descriptors: the ones that gave up can start.
    assert_eq!(d.ctl(&["stop", "all"]).status.code(), Some(0));
    let mut start = vec!["start"];
    let some: Vec<&str> = fatal.iter().take(4).map(String::as_str).collect();
    start.extend(&some);
    let out = d.ctl(&start);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(stdout(&out).lines().count(), some.len());
    d.assert_truthful();
}

#[test]
fn an_unwritable_output_file_is_reported_once_and_the_child_runs_on() {
    let d = Daemon::start(
        "  full:\n    cmd: sh -c 'while :; do echo x; echo y >&2; sleep 0.02; done'\n    starttime: 0\n    \
         stdout: /dev/full\n    stderr: full.err\n  \
         moved:\n    cmd: sh -c 'echo hi; exec sleep 1000'\n    starttime: 0\n    stdout: sub/out.log\n",
    );
    d.wait_log("couldn't write output of full to /dev/full: No space left on device");
    // Twenty more lines on stderr: as many more writes to stdout were tried meanwhile.
    let seen = d.dir.read("full.err").lines().count();
    wait_until("more output", || (d.dir.read("full.err").lines().count() >= seen + 20).then_some(()));
    assert_eq!(d.count_log("couldn't write output of full"), 1, "once, not once per write");
    assert_eq!(d.state("full"), "RUNNING");
    // The folder of an output file disappears: the next starts cannot open it.
    let _ = std::fs::remove_dir_all(d.dir.join("sub"));
    for _ in 0..3 {
        assert_eq!(stdout(&d.ctl(&["restart", "moved"])), "moved: started\n");
    }
    d.wait_log("for the output of moved: No such file or directory");
    assert_eq!(d.count_log("for the output of moved"), 1, "once, not once per start");
    d.assert_truthful();
}

#[test]
fn hostile_clients_do_not_stop_the_well_behaved_one() {
    let d = Daemon::start("  a:\n    cmd: sleep 1000\n    numprocs: 50\n    starttime: 0\n");
    d.wait_state("a:a_49", "RUNNING");
    let before = usage(d.pid());
    let mut hostile = Vec::new();
    for i in 0..200 {
        let mut s = UnixStream::connect(d.socket()).expect("connect");
        match i % 4 {
            0 => {}
            1 => {
                let _ = s.write_all(b"\x00\xff garbage {{{ not json\n");
            }
            2 => {
                let _ = s.write_all(b"{\"command\": \"sta");
            }
            _ => {
                let _ = s.write_all(b"{\"command\":\"status\"}\n{\"command\":\"status\"}\n");
            }
        }
        hostile.push(s);
    }
    let mut big = UnixStream::connect(d.socket()).expect("connect");
    let chunk = vec![b'y'; 1024 * 1024];
    for _ in 0..10 {
        if big.write_all(&chunk).is_err() {
            break;
        }
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let asked = Instant::now();
        let mut s = UnixStream::connect(d.socket()).expect("connect");
        s.write_all(b"{\"command\":\"status\"}\n").expect("send");
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).expect("answer");
        slowest = slowest.max(asked.elapsed());
        assert!(line.starts_with("{\"ok\":true"), "{line}");
    }
    // The ones that asked and leave without reading the answer.
    drop(hostile);
    drop(big);
    let after = wait_until("the clients to be gone", || {
        let u = usage(d.pid());
        (u.fds <= before.fds).then_some(u)
    });
    report(
        "clients",
        &format!(
            "200 hostile clients and a 10 MB line; slowest status {slowest:?}; fds {}→{}",
            before.fds, after.fds
        ),
    );
    assert_eq!(d.call("status", &["a:a_00"])["ok"], true);
    d.assert_truthful();
}

#[test]
fn a_storm_of_signals_changes_no_pid() {
    let mut d = Daemon::start("  a:\n    cmd: sleep 1000\n    numprocs: 5\n    starttime: 0\n");
    d.wait_state("a:a_04", "RUNNING");
    let pids: Vec<_> = d.status().iter().map(|p| p["pid"].clone()).collect();
    let start = Instant::now();
    for _ in 0..100 {
        d.signal(Signal::SIGHUP);
        std::thread::sleep(Duration::from_millis(10));
    }
    report(
        "storm",
        &format!("100 SIGHUPs in {:?}; {} reloads ran", start.elapsed(), d.count_log("reload: ")),
    );
    assert_eq!(stdout(&d.ctl(&["reload"])), "unchanged: 1\n");
    assert_eq!(d.status().iter().map(|p| p["pid"].clone()).collect::<Vec<_>>(), pids);
    // A SIGTERM right behind a SIGHUP: the reload finishes, then the shutdown.
    d.signal(Signal::SIGHUP);
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
    assert!(d.log().trim_end().ends_with("shutdown complete"));
}

#[test]
fn after_a_sigkill_the_next_taskmaster_starts_cleanly_on_the_same_socket() {
    // `a` leaves two grandchildren in its group, and one that made a session of its own.
    let mut d = Daemon::start(
        "  a:\n    cmd: sh -c 'sleep 1001 & sleep 1002 & setsid sleep 1003 & echo $! > escaped.pid; wait'\n    \
         starttime: 0\n",
    );
    let pid = d.wait_state("a", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    let escaped = wait_until("the escaped pid", || d.dir.read("escaped.pid").trim().parse::<i32>().ok());
    let members = wait_until("the grandchildren", || {
        let m: Vec<i32> = group_members(pid).into_iter().filter(|p| *p != pid).collect();
        (m.len() == 2).then_some(m)
    });
    d.signal(Signal::SIGKILL);
    d.wait_exit();
    wait_until("its child to die with it", || (!alive(pid)).then_some(()));
    assert!(members.iter().all(|p| alive(*p)), "the grandchildren outlive a SIGKILLed taskmaster");
    assert!(d.socket().exists(), "the socket file is left behind");
    let mut next = Guarded(
        std::process::Command::new(TASKMASTER)
            .args(["--no-shell", "-q", "-c"])
            .arg(&d.config)
            .current_dir(d.dir.path())
            .spawn()
            .expect("start again"),
    );
    wait_until("the new taskmaster to answer", || {
        let mut s = UnixStream::connect(d.socket()).ok()?;
        s.write_all(b"{\"command\":\"pid\"}\n").ok()?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).ok()?;
        line.contains(&next.id().to_string()).then_some(())
    });
    // The new one killed what the old one left in its groups, and said so; the process that
    // left the group (its own session) is not taskmaster's to kill.
    assert!(members.iter().all(|p| !alive(*p)), "{}", d.log());
    d.wait_log("killed 2 processes left running by the previous taskmaster");
    assert!(alive(escaped));
    let _ = kill(Pid::from_raw(escaped), Signal::SIGKILL);
    kill(Pid::from_raw(next.id() as i32), Signal::SIGTERM).expect("term");
    assert_eq!(next.wait().expect("wait").code(), Some(0));
    assert!(!leftovers_file(&d).exists(), "a clean exit leaves no groups file");
    for p in d.spawned_pids() {
        let _ = killpg(Pid::from_raw(p), Signal::SIGKILL);
    }
}

fn leftovers_file(d: &Daemon) -> std::path::PathBuf {
    d.dir.join("tm.sock.groups")
}

#[test]
fn heavy_requests_pipelined_by_one_client_do_not_hold_up_another() {
    let d = Daemon::start("  many:\n    cmd: sleep 1000\n    numprocs: 1000\n    autostart: false\n");
    // Each line names every process, and 2500 that do not exist.
    let mut targets: Vec<String> = (0..1000).map(|i| format!("\"many:many_{i:03}\"")).collect();
    targets.extend((0..2500).map(|i| format!("\"x{i}\"")));
    let line = format!("{{\"command\":\"status\",\"args\":[{}]}}\n", targets.join(","));
    assert!(line.len() < 64 * 1024);
    let heavy = UnixStream::connect(d.socket()).expect("connect");
    let started = Instant::now();
    // Written while the answers are read (as `nc` would): they are bigger than the socket's buffer.
    let mut writer = heavy.try_clone().expect("clone");
    let sender = std::thread::spawn(move || writer.write_all(line.repeat(8).as_bytes()));
    let light = d.call("status", &["many:many_007"]);
    let light_after = started.elapsed();
    assert_eq!(light["data"][0]["name"], "many:many_007");
    let mut answers = BufReader::new(heavy).lines();
    for _ in 0..8 {
        let answer: serde_json::Value =
            serde_json::from_str(&answers.next().expect("an answer").expect("read")).expect("json");
        assert_eq!(answer["ok"], false, "unknown targets are errors");
        assert_eq!(answer["data"].as_array().map(Vec::len), Some(1000), "each process once");
        let output = answer["output"].as_str().unwrap_or_default();
        assert_eq!(output.lines().count(), 3500);
    }
    sender.join().expect("join").expect("send");
    report(
        "targets",
        &format!(
            "8 pipelined status lines of 3500 targets: the other client answered after {light_after:?}, all 8 after {:?}",
            started.elapsed()
        ),
    );
    let mut too_many = vec!["all"; 4097];
    too_many.insert(0, "status");
    let out = d.ctl(&too_many);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("too many arguments (4097; at most 4096)"), "{}", stderr(&out));
}

#[test]
fn a_client_streaming_commands_that_wait_gets_its_answers_in_order_and_others_are_served() {
    let d = Daemon::start(
        "  stubborn:\n    cmd: sh -c 'trap \"\" TERM; echo ready; while :; do sleep 0.1; done'\n    starttime: 0\n    \
           stoptime: 3600\n    stdout: s.out\n",
    );
    d.wait_state("stubborn", "RUNNING");
    wait_until("the trap to be set", || d.dir.read("s.out").contains("ready").then_some(()));
    let before = usage(d.pid());
    let mut streamer = UnixStream::connect(d.socket()).expect("connect");
    let stop = b"{\"command\":\"stop\",\"args\":[\"stubborn\"]}\n";
    let status = b"{\"command\":\"status\",\"args\":[\"stubborn\"]}\n";
    streamer.write_all(&[&stop[..], &status.repeat(3), &stop.repeat(2000)].concat()).expect("send");
    // The first stop waits for the process: the requests after it wait for their turn.
    d.wait_state("stubborn", "STOPPING");
    assert_eq!(d.call("status", &["stubborn"])["data"][0]["state"], "STOPPING", "another client is served");
    let after = usage(d.pid());
    report("waits", &format!("2000 streamed stops: RSS {} → {} KiB", before.rss_kib, after.rss_kib));
    assert_eq!(stdout(&d.ctl(&["signal", "KILL", "stubborn"])), "stubborn: signalled\n");
    let mut answers = BufReader::new(streamer.try_clone().expect("clone")).lines();
    let mut next = || -> serde_json::Value {
        serde_json::from_str(&answers.next().expect("an answer").expect("read")).expect("json")
    };
    assert_eq!(next()["output"], "stubborn: stopped", "the first answer is the first request's");
    for _ in 0..3 {
        let answer = next();
        assert_eq!(answer["data"][0]["state"], "STOPPED", "the statuses come after the stop: {answer}");
    }
    for _ in 0..2000 {
        assert_eq!(next()["output"], "stubborn: ERROR (not running)");
    }
}

#[test]
fn a_second_taskmaster_never_cleans_up_after_one_that_still_runs() {
    // Someone removes the socket of a running taskmaster, then starts another on the same file.
    let d = Daemon::start("  g:\n    cmd: sh -c 'sleep 1001 & wait'\n    starttime: 0\n");
    let pid = d.wait_state("g", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    std::fs::remove_file(d.socket()).expect("remove the socket");
    let out = std::process::Command::new(TASKMASTER)
        .args(["--no-shell", "-q", "-c"])
        .arg(&d.config)
        .current_dir(d.dir.path())
        .output()
        .expect("run a second taskmaster");
    assert_eq!(out.status.code(), Some(1));
    let why = stderr(&out);
    assert!(
        why.contains(&format!("another taskmaster (pid {}) still runs the programs recorded in", d.pid())),
        "{why}"
    );
    assert!(alive(pid) && group_members(pid).len() == 2, "the first one's program is untouched");
    assert!(leftovers_file(&d).exists(), "and its groups file stays");
    d.signal(Signal::SIGHUP);
    d.wait_log("was gone: it is bound again");
    assert_eq!(d.process("g")["pid"].as_i64(), Some(i64::from(pid)));
}

#[test]
fn a_taskmaster_killed_and_not_yet_reaped_does_not_hold_up_the_next() {
    let mut d = Daemon::start("  g:\n    cmd: sleep 1001\n    starttime: 0\n");
    d.wait_state("g", "RUNNING");
    // Killed; its parent (this test) has not reaped it yet: a zombie that runs nothing.
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(d.pid()), Signal::SIGKILL).expect("kill");
    wait_until("a zombie", || (stat_fields(d.pid()).first().map(String::as_str) == Some("Z")).then_some(()));
    let mut next = Guarded(
        std::process::Command::new(TASKMASTER)
            .args(["--no-shell", "-q", "-c"])
            .arg(&d.config)
            .current_dir(d.dir.path())
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the next taskmaster"),
    );
    let answered = wait_until("the next taskmaster's socket", || {
        if let Ok(Some(status)) = next.try_wait() {
            return Some(Err(status));
        }
        d.try_call("version", &[]).map(|_| Ok(()))
    });
    assert!(answered.is_ok(), "it refused to start beside a zombie: {answered:?}");
    assert_eq!(d.ctl(&["shutdown"]).status.code(), Some(0));
    assert_eq!(next.wait().expect("wait").code(), Some(0));
    assert_eq!(d.wait_exit(), None, "the zombie is reaped: killed");
}
