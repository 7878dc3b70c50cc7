//! What a child gets (taskmaster(1), PROCESS STATES) and the effect of every program key, through
//! the real binary.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::collections::BTreeSet;

/// A field of /proc/PID/status, like `SigBlk`.
fn proc_status(pid: i32, field: &str) -> String {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

fn fds(pid: i32) -> BTreeSet<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read fds")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect()
}

#[test]
fn a_child_has_its_own_group_fds_0_1_2_only_and_clean_signals() {
    let d = Daemon::start("  c:\n    cmd: sleep 1000\n    starttime: 0\n");
    let pid = d.wait_state("c", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    assert_eq!(pgrp(pid), Some(pid), "own process group");
    // The program's own start (the dynamic loader opening its libraries) may hold a descriptor
    // for a moment: what it inherited is what stays.
    let standard: BTreeSet<String> = ["0", "1", "2"].iter().map(|s| s.to_string()).collect();
    wait_until("only descriptors 0, 1 and 2", || (fds(pid) == standard).then_some(()));
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/fd/0")).expect("fd 0").to_str(), Some("/dev/null"));
    assert!(
        std::fs::read_link(format!("/proc/{pid}/fd/1")).expect("fd 1").to_string_lossy().starts_with("pipe:")
    );
    assert_eq!(proc_status(pid, "SigBlk"), "0000000000000000", "empty signal mask");
    assert_eq!(proc_status(pid, "SigIgn"), "0000000000000000", "no signal ignored");
    assert_eq!(proc_status(pid, "SigCgt"), "0000000000000000", "no handler inherited");
}

#[test]
fn taskmaster_has_exactly_one_thread() {
    let d = Daemon::start("  a:\n    cmd: sleep 1000\n    numprocs: 5\n    starttime: 0\n");
    d.wait_state("a:a_04", "RUNNING");
    let tasks = std::fs::read_dir(format!("/proc/{}/task", d.pid())).expect("tasks").count();
    assert_eq!(tasks, 1);
}

#[test]
fn umask_workingdir_and_env_are_applied() {
    let d = Daemon::start(
        "  e:\n    cmd: sh -c 'echo \"$GREETING $ANSWER $(pwd) $(umask)\"; touch made; exec sleep 1000'\n    \
           workingdir: work\n    umask: 027\n    starttime: 0\n    stdout: e.out\n    \
           env:\n      GREETING: hello\n      ANSWER: 42\n",
    );
    std::fs::create_dir_all(d.dir.join("work")).expect("mkdir");
    // The folder did not exist at the first attempt; a restart finds it.
    d.ctl(&["start", "e"]);
    d.wait_state("e", "RUNNING");
    let line = wait_until("the program's line", || {
        let text = d.dir.read("e.out");
        text.lines().last().map(str::to_string).filter(|l| !l.is_empty())
    });
    let work = d.dir.join("work");
    assert_eq!(line, format!("hello 42 {} 0027", work.display()));
    let made = wait_until("the file it makes", || std::fs::metadata(work.join("made")).ok());
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&made.permissions()) & 0o777, 0o640);
}

#[test]
fn the_environment_is_taskmasters_plus_env() {
    let d = Daemon::start(
        "  e:\n    cmd: sh -c 'echo \"$HOME|$TM_X|$PATH\"; exec sleep 1000'\n    starttime: 0\n    stdout: e.out\n    \
           env: {TM_X: 'a b'}\n",
    );
    let line = wait_until("output", || d.dir.read("e.out").lines().next().map(str::to_string));
    let home = std::env::var("HOME").unwrap_or_default();
    assert!(line.starts_with(&format!("{home}|a b|")), "{line}");
}

#[test]
fn stdout_and_stderr_are_appended_to_their_files_and_drained_at_exit() {
    let d = Daemon::start(
        "  o:\n    cmd: sh -c 'echo out; echo err >&2; seq 1 5000'\n    starttime: 0\n    autorestart: never\n    \
           autostart: false\n    stdout: logs.out\n    stderr: logs.err\n",
    );
    d.dir.write("logs.out", "before\n");
    for run in 1..=2 {
        d.ctl(&["start", "o"]);
        wait_until("the run to end", || {
            (d.count_log("exited: o (exit status 0; expected)") == run).then_some(())
        });
    }
    let out = d.dir.read("logs.out");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.iter().filter(|l| **l == "out").count(), 2, "both runs appended");
    assert!(lines.contains(&"before"), "appended, not truncated");
    assert_eq!(lines.iter().filter(|l| **l == "5000").count(), 2, "everything drained at exit");
    assert_eq!(d.dir.read("logs.err"), "err\nerr\n");
}

#[test]
fn output_of_an_unconfigured_stream_is_read_and_dropped() {
    let d = Daemon::start("  noisy:\n    cmd: sh -c 'seq 1 200000; exec sleep 1000'\n    starttime: 0\n");
    let pid = d.wait_state("noisy", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    // 200k lines are far more than a pipe holds: the child got past them only if they were read.
    wait_until("the child to reach sleep", || {
        std::fs::read_to_string(format!("/proc/{pid}/cmdline")).ok().filter(|c| c.starts_with("sleep"))
    });
}

#[test]
fn numprocs_names_processes_and_autostart_false_leaves_them_stopped() {
    let d = Daemon::start(
        "  w:\n    cmd: sleep 1000\n    numprocs: 3\n    starttime: 0\n  m:\n    cmd: sleep 1000\n    autostart: false\n",
    );
    let names: Vec<String> =
        d.status().iter().map(|p| p["name"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(names, ["m", "w:w_00", "w:w_01", "w:w_02"]);
    assert_eq!(d.process("m")["description"], "Not started");
    assert_eq!(d.state("m"), "STOPPED");
    d.wait_state("w:w_02", "RUNNING");
    assert_eq!(d.process("w:w_01")["program"], "w");
}

#[test]
fn the_stop_signal_is_the_configured_one() {
    let d = Daemon::start(
        "  u:\n    cmd: sh -c 'trap \"echo got USR1; exit 0\" USR1; echo ready; while :; do sleep 0.05; done'\n    \
           starttime: 0\n    stopsignal: USR1\n    stdout: u.out\n",
    );
    wait_until("the trap to be set", || d.dir.read("u.out").contains("ready").then_some(()));
    assert_eq!(stdout(&d.ctl(&["stop", "u"])), "u: stopped\n");
    assert_eq!(d.dir.read("u.out"), "ready\ngot USR1\n");
    d.wait_log("stopped: u (exit status 0)");
}

#[test]
fn an_output_file_that_cannot_be_opened_is_reported_tried_again_and_the_child_runs() {
    let d = Daemon::start(
        "  x:\n    cmd: sh -c 'while :; do echo tick; sleep 0.05; done'\n    starttime: 0\n    stdout: later/x.out\n",
    );
    d.wait_state("x", "RUNNING");
    let why = format!(
        "couldn't open {}/later/x.out for the output of x: No such file or directory",
        d.dir.path().display()
    );
    d.wait_log(&why);
    let status = stdout(&d.ctl(&["status"]));
    assert!(status.contains(&format!("warning: {why}")), "status says the output is lost:\n{status}");
    // Once the folder exists, SIGUSR2 (or a reload) opens the file.
    std::fs::create_dir(d.dir.join("later")).expect("mkdir");
    d.signal(Signal::SIGUSR2);
    wait_until("output in the file", || d.dir.read("later/x.out").contains("tick").then_some(()));
    assert!(!stdout(&d.ctl(&["status"])).contains("warning"), "and the warning is gone");
    assert_eq!(d.count_log("couldn't open"), 1, "said once");
}

#[test]
fn no_zombie_is_left_after_many_kill_and_restart_cycles() {
    // 50 processes killed 4 times each: 200 cycles, each restarted by autorestart (with the
    // crash-loop delays a quick death earns, 0.1 s to 0.8 s).
    let d = Daemon::start(
        "  r:\n    cmd: sleep 1000\n    numprocs: 50\n    starttime: 0\n    autorestart: always\n",
    );
    let pids =
        || -> Vec<Option<i32>> { d.status().iter().map(|p| p["pid"].as_i64().map(|p| p as i32)).collect() };
    let mut current: Vec<i32> =
        wait_until("all running", || pids().into_iter().collect::<Option<Vec<i32>>>());
    for _ in 0..4 {
        for pid in &current {
            kill(Pid::from_raw(*pid), Signal::SIGKILL).expect("kill");
        }
        current = wait_until("all replaced", || {
            let now: Option<Vec<i32>> = pids().into_iter().collect();
            now.filter(|n| n.iter().zip(&current).all(|(a, b)| a != b))
        });
    }
    let zombies = zombies_of(d.pid());
    assert!(zombies.is_empty(), "zombies of taskmaster: {zombies:?}");
    assert_eq!(d.count_log("spawned: 'r:"), 250);
    let fd_count = std::fs::read_dir(format!("/proc/{}/fd", d.pid())).expect("fds").count();
    assert!(fd_count < 120, "taskmaster holds {fd_count} fds for 50 processes after 200 restarts");
}

#[test]
fn a_fifo_as_output_is_a_spawn_error_and_never_blocks_taskmaster() {
    let outside = TempDir::new("fifo");
    let fifo = outside.join("out.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).expect("mkfifo");
    let mut d = Daemon::start(&format!(
        "  f:\n    cmd: sleep 1000\n    starttime: 0\n    startretries: 0\n    stdout: {}\n  \
         g:\n    cmd: sleep 1000\n    starttime: 0\n",
        fifo.display()
    ));
    let p = d.wait_state("f", "FATAL");
    let reason = p["description"].as_str().unwrap_or_default().to_string();
    assert!(reason.contains("out.fifo is a FIFO"), "{reason}");
    d.wait_log("spawnerr: ");
    assert_eq!(d.state("g"), "RUNNING", "the others run");
    assert_eq!(d.count_log("spawned: 'f'"), 0, "nothing ran without its output");
    // Someone now reads the FIFO: still refused (a slow reader would block every write).
    let _reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open the reader");
    assert_eq!(stdout(&d.ctl(&["start", "f"])), "f: ERROR (spawn error)\n");
    d.shutdown_clean();
}

use std::os::unix::fs::OpenOptionsExt;

#[test]
fn sigusr2_reopens_the_output_files_after_an_outside_rotation() {
    let d = Daemon::start(
        "  w:\n    cmd: sh -c 'while :; do echo tick; sleep 0.05; done'\n    starttime: 0\n    stdout: w.out\n",
    );
    wait_until("output", || d.dir.read("w.out").contains("tick").then_some(()));
    std::fs::rename(d.dir.join("w.out"), d.dir.join("w.out.1")).expect("rotate");
    std::fs::rename(d.dir.join("tm.log"), d.dir.join("tm.log.1")).expect("rotate");
    d.signal(Signal::SIGUSR2);
    // Said in the new file, so that it starts with it.
    d.wait_log("received SIGUSR2: the log files were reopened");
    wait_until("output in the new file", || d.dir.read("w.out").contains("tick").then_some(()));
    let rotated = d.dir.read("w.out.1").len();
    // A barrier: once the new file has grown more, nothing more went to the rotated one.
    let grown = d.dir.read("w.out").len();
    wait_until("more output", || (d.dir.read("w.out").len() > grown).then_some(()));
    assert_eq!(d.dir.read("w.out.1").len(), rotated);
    assert_eq!(stdout(&d.ctl(&["stop", "w"])), "w: stopped\n");
    d.wait_log("stopped: w");
    assert!(!d.dir.read("tm.log.1").contains("stopped: w"));
}

#[test]
fn each_process_knows_its_name_program_and_number() {
    let d = Daemon::start(
        "  w:\n    cmd: sh -c 'echo \"$TASKMASTER_PROCESS_NAME $TASKMASTER_PROGRAM $TASKMASTER_PROCESS_NUM\"; exec sleep 1000'\n    \
           numprocs: 2\n    starttime: 0\n    stdout: w.out\n  \
         solo:\n    cmd: sh -c 'echo \"$TASKMASTER_PROCESS_NAME $TASKMASTER_PROGRAM $TASKMASTER_PROCESS_NUM\"; exec sleep 1000'\n    \
           starttime: 0\n    stdout: solo.out\n    env:\n      TASKMASTER_PROGRAM: mine\n",
    );
    let lines = wait_until("both lines", || {
        let mut lines: Vec<String> = d.dir.read("w.out").lines().map(str::to_string).collect();
        lines.sort();
        (lines.len() == 2).then_some(lines)
    });
    assert_eq!(lines, ["w:w_00 w 0", "w:w_01 w 1"]);
    wait_until("solo's line", || (d.dir.read("solo.out") == "solo mine 0\n").then_some(()));
}

/// `Max open files   512   512   files` → (soft, hard), as /proc/PID/limits says.
fn limit_of(pid: i32, name: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} in {limits}"));
    let words: Vec<&str> = line[name.len()..].split_whitespace().collect();
    (words[0].to_string(), words[1].to_string())
}

/// Whether this process may raise a hard limit (CAP_SYS_RESOURCE, bit 24): root in a container
/// may not.
fn may_raise_hard_limits() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let caps = status.lines().find_map(|l| l.strip_prefix("CapEff:")).expect("CapEff");
    u64::from_str_radix(caps.trim(), 16).is_ok_and(|c| c & (1 << 24) != 0)
}

#[test]
fn rlimits_are_set_in_the_child() {
    let d = Daemon::launch(
        "ulimit -n 2048;",
        "",
        "  limited:\n    cmd: sleep 1000\n    starttime: 0\n    rlimits: {nofile: 512, core: 0, stack: 4MiB}\n  \
         plain:\n    cmd: sleep 1000\n    starttime: 0\n",
        &["--no-shell"],
    );
    let limited = d.wait_state("limited", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    let plain = d.wait_state("plain", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    assert_eq!(limit_of(limited, "Max open files"), ("512".into(), "512".into()));
    assert_eq!(limit_of(limited, "Max core file size"), ("0".into(), "0".into()));
    assert_eq!(limit_of(limited, "Max stack size"), ("4194304".into(), "4194304".into()));
    assert_eq!(limit_of(plain, "Max open files"), ("2048".into(), "2048".into()), "what taskmaster had");
}

#[test]
fn root_raises_a_hard_limit_for_its_program_or_says_why_it_cannot() {
    assert!(nix::unistd::geteuid().is_root(), "the tests run as root (make test, CI)");
    // taskmaster's own hard limit of files is 2048 here.
    let d = Daemon::launch(
        "ulimit -n 2048;",
        "",
        "  more:\n    cmd: sleep 1000\n    starttime: 0\n    startretries: 0\n    rlimits: {nofile: 4096}\n",
        &["--no-shell"],
    );
    match may_raise_hard_limits() {
        true => {
            let pid = d.wait_state("more", "RUNNING")["pid"].as_i64().expect("pid") as i32;
            assert_eq!(limit_of(pid, "Max open files"), ("4096".into(), "4096".into()));
        }
        false => {
            d.wait_state("more", "FATAL");
            assert!(
                d.log().contains("couldn't set rlimits nofile to 4096: above the hard limit, which only a root taskmaster with CAP_SYS_RESOURCE can raise"),
                "{}",
                d.log()
            );
        }
    }
}

#[test]
fn a_configuration_larger_than_the_open_file_limit_is_said_once_or_the_limit_raised() {
    let programs = |n: u32| format!("  w:\n    cmd: sleep 1000\n    numprocs: {n}\n    starttime: 0\n");
    let d = Daemon::launch("ulimit -n 64;", "", &programs(40), &["--no-shell"]);
    let limit = |pid: i32| {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
        let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or_default().to_string();
        line.split_whitespace().nth(3).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0)
    };
    let taskmaster = d.pid();
    if may_raise_hard_limits() {
        // Root raises its own limit to what 40 processes need, as supervisord's minfds.
        for n in 0..40 {
            d.wait_state(&format!("w:w_{n:02}"), "RUNNING");
        }
        assert!(limit(taskmaster) > 64);
        assert!(!d.log().contains("open files:"), "{}", d.log());
    } else {
        d.wait_log("open files: the 40 processes of this configuration need about");
        assert!(d.log().contains("but taskmaster may open 64: about"), "{}", d.log());
        assert_eq!(limit(taskmaster), 64);
    }
    // A reload to fewer processes says nothing more.
    let said = d.count_log("open files:");
    std::fs::write(&d.config, Daemon::yaml("", &programs(5))).expect("rewrite");
    assert_eq!(d.ctl(&["reload"]).status.code(), Some(0));
    assert_eq!(d.count_log("open files:"), said);
}
