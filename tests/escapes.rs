//! Programs that escape (taskmaster(1), PROGRAMS THAT ESCAPE): what a program leaves running
//! when its main process ends is seen, said, and killed with the program; orphans are reaped.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// Forks twice with a setsid between, as daemons do; the grandchild writes its pid to
/// `daemon.pid` and sleeps; both parents exit 0.
const DOUBLE_FORK: &str = "python3 -c 'import os,time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        open(\"daemon.pid.tmp\",\"w\").write(str(os.getpid()))\n        os.rename(\"daemon.pid.tmp\",\"daemon.pid\")\n        time.sleep(1000)\n    os._exit(0)\nos._exit(0)'";

/// taskmaster with program `d` the double fork; the daemon's pid, killed by the guard if the
/// test fails first.
fn double_fork() -> (Daemon, i32, KillOnDrop) {
    let d = Daemon::start(&format!(
        "  d:\n    cmd: {}\n    starttime: 0\n    autorestart: false\n",
        serde_json::to_string(DOUBLE_FORK).expect("json is yaml")
    ));
    let daemon: i32 = wait_until("the daemon's pid", || d.dir.read("daemon.pid").trim().parse().ok());
    (d, daemon, KillOnDrop(vec![daemon]))
}

fn ppid(pid: i32) -> Option<i32> {
    stat_fields(pid).get(1).and_then(|p| p.parse().ok())
}

fn description(d: &Daemon, name: &str) -> String {
    d.process(name)["description"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_double_fork_is_said_tracked_and_killed_by_stop() {
    let (d, daemon, _guard) = double_fork();
    d.wait_log("d exited but left");
    d.wait_log("(it may have daemonized itself: run it in the foreground)");
    // The middle process ends; its child is taskmaster's now (a subreaper) and still d's.
    wait_until("the daemon handed to taskmaster", || (ppid(daemon) == Some(d.pid())).then_some(()));
    let left = format!("left {daemon} running");
    wait_until("status to name the daemon", || description(&d, "d").contains(&left).then_some(()));
    assert_eq!(d.state("d"), "EXITED");
    assert!(alive(daemon), "nobody asked to stop it yet");
    let out = d.ctl(&["stop", "d"]);
    assert_eq!(stdout(&out), format!("d: stopped (killed {daemon}, which it left running)\n"));
    wait_until("the daemon killed and reaped", || gone(daemon).then_some(()));
    assert!(!description(&d, "d").contains("left"), "{}", description(&d, "d"));
    assert!(zombies_of(d.pid()).is_empty());
}

fn get(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(PATIENCE)).ok()?;
    stream.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

fn left_pid(d: &Daemon, name: &str) -> i32 {
    wait_until("the pid it left", || {
        let text = description(d, name);
        text.split("left ").nth(1)?.split(' ').next()?.parse().ok()
    })
}

/// busybox httpd forks to the background unless given -f: a real daemon started without its
/// foreground flag.
#[test]
fn a_real_daemon_is_restarted_and_stopped_with_its_program() {
    let port =
        TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a port");
    let dir = TempDir::new("www");
    dir.write("index.html", "hello from busybox\n");
    let d = Daemon::start(&format!(
        "  web:\n    cmd: busybox httpd -p 127.0.0.1:{port} -h {}\n    starttime: 0\n    autorestart: false\n",
        dir.path().display()
    ));
    let first = left_pid(&d, "web");
    let mut guard = KillOnDrop(vec![first]);
    d.wait_log(&format!("web exited but left {first} running"));
    let answer = wait_until("httpd to answer", || get(port));
    assert!(answer.contains("hello from busybox"), "{answer}");
    // A restart kills the old daemon and starts the new one once the old is gone: the port is
    // free for it.
    assert_eq!(stdout(&d.ctl(&["restart", "web"])), "web: started\n");
    let second = wait_until("a new daemon", || Some(left_pid(&d, "web")).filter(|&p| p != first));
    guard.0.push(second);
    assert!(gone(first), "killed and reaped before the new one started");
    d.wait_log(&format!("web: killing {first}, which it left running (it starts again)"));
    assert!(wait_until("the new httpd to answer", || get(port)).contains("hello from busybox"));
    assert_eq!(
        stdout(&d.ctl(&["stop", "web"])),
        format!("web: stopped (killed {second}, which it left running)\n")
    );
    wait_until("the port closed", || TcpStream::connect(("127.0.0.1", port)).is_err().then_some(()));
    wait_until("the daemon reaped", || gone(second).then_some(()));
}

#[test]
fn shutdown_kills_what_programs_left_and_orphans_are_reaped() {
    let mut d = Daemon::start(&format!(
        "  d:\n    cmd: {}\n    starttime: 0\n    autorestart: false\n  \
         orphans:\n    cmd: sh -c '(sleep 0.2 &); (setsid sleep 0.3 &); exec sleep 1000'\n    starttime: 0\n",
        serde_json::to_string(DOUBLE_FORK).expect("json is yaml")
    ));
    let daemon: i32 = wait_until("the daemon's pid", || d.dir.read("daemon.pid").trim().parse().ok());
    let _guard = KillOnDrop(vec![daemon]);
    d.wait_log("d exited but left");
    d.wait_state("orphans", "RUNNING");
    // The sleeps whose parents ended are taskmaster's to reap: no zombie stays.
    wait_until("the orphans reaped", || {
        let children = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", d.pid())).ok()?;
        let zombies = zombies_of(d.pid());
        (children.split_whitespace().count() == 2 && zombies.is_empty()).then_some(())
    });
    d.shutdown_clean();
    wait_until("the daemon killed at shutdown", || (!alive(daemon)).then_some(()));
    assert!(d.log().contains(&format!("d: killing {daemon}, which it left running (shutting down)")));
}

#[test]
fn what_a_program_left_is_killed_by_the_next_taskmaster_if_this_one_is_killed() {
    let (d, daemon, _guard) = double_fork();
    let left = format!("left {daemon} running");
    wait_until("status to name the daemon", || description(&d, "d").contains(&left).then_some(()));
    d.signal(Signal::SIGKILL);
    let mut d = d;
    d.wait_exit();
    assert!(alive(daemon), "no parent-death signal reaches a daemon");
    let config = d.config.clone();
    let mut next = std::process::Command::new(TASKMASTER);
    next.arg("-c").arg(&config).arg("--no-shell");
    let dir = std::mem::replace(&mut d.dir, TempDir::new("unused"));
    let next = Daemon::spawn_in(next, dir, config);
    next.wait_answering();
    wait_until("the daemon killed by the next taskmaster", || (!alive(daemon)).then_some(()));
    assert!(next.log().contains("left running by the previous taskmaster"), "{}", next.log());
}

#[test]
fn daemons_of_programs_that_end_together_each_stay_with_their_program() {
    let mut programs = String::new();
    for name in ["a", "b", "c", "d"] {
        programs.push_str(&format!(
            "  {name}:\n    cmd: sh -c 'setsid sleep 1000 & echo $! > {name}.pid; exit 0'\n    starttime: 0\n    \
             autorestart: false\n"
        ));
    }
    let d = Daemon::start(&programs);
    let pids: Vec<(String, i32)> = ["a", "b", "c", "d"]
        .iter()
        .map(|n| {
            (
                n.to_string(),
                wait_until("a daemon's pid", || d.dir.read(&format!("{n}.pid")).trim().parse().ok()),
            )
        })
        .collect();
    let _guard = KillOnDrop(pids.iter().map(|(_, p)| *p).collect());
    for (name, pid) in &pids {
        let left = format!("left {pid} running");
        wait_until("each program to own its daemon", || description(&d, name).contains(&left).then_some(()));
    }
    assert!(!d.log().contains("cannot tell"), "{}", d.log());
    assert_eq!(
        stdout(&d.ctl(&["stop", "a"])),
        format!("a: stopped (killed {}, which it left running)\n", pids[0].1)
    );
    wait_until("a's daemon gone", || gone(pids[0].1).then_some(()));
    assert!(pids[1..].iter().all(|(_, p)| alive(*p)), "the others' daemons are theirs");
}
