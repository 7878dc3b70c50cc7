//! Running as a service (taskmaster(1), RUNNING AS A SERVICE): sd_notify messages received on a
//! datagram socket the test binds, as systemd would; taskmaster as PID 1 of a PID namespace
//! (`unshare`); the exit status of a shutdown that was not clean; the unit file `make` installs.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::process::Command;
use std::time::Duration;

/// A socket standing for systemd's: what taskmaster sends, one datagram per message.
struct Manager(UnixDatagram);

impl Manager {
    fn bind(path: &std::path::Path) -> Manager {
        let socket = UnixDatagram::bind(path).expect("bind the notify socket");
        socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        Manager(socket)
    }

    fn bind_abstract(name: &str) -> Manager {
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract name");
        let socket = UnixDatagram::bind_addr(&addr).expect("bind the abstract notify socket");
        socket.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
        Manager(socket)
    }

    /// The next message, waited for with a deadline.
    fn next(&self) -> String {
        wait_until("an sd_notify message", || {
            let mut buf = [0u8; 4096];
            let n = self.0.recv(&mut buf).ok()?;
            Some(String::from_utf8_lossy(&buf[..n]).into_owned())
        })
    }

    /// The next message that is not WATCHDOG=1.
    fn next_news(&self) -> String {
        loop {
            let message = self.next();
            if message != "WATCHDOG=1" {
                return message;
            }
        }
    }
}

const PROGRAMS: &str =
    "  slow:\n    cmd: sleep 1000\n    starttime: 1\n  quick:\n    cmd: sleep 1000\n    starttime: 0\n";

#[test]
fn systemd_hears_ready_reloading_stopping_and_the_watchdog() {
    let dir = TempDir::new("n");
    let socket = dir.join("notify");
    let manager = Manager::bind(&socket);
    let mut d = Daemon::launch(
        &format!("NOTIFY_SOCKET={} WATCHDOG_USEC=200000", socket.display()),
        "",
        PROGRAMS,
        &["--no-shell"],
    );
    let ready = manager.next_news();
    assert_eq!(ready, "READY=1\nSTATUS=2 RUNNING", "ready once every autostart program is RUNNING");
    assert!(d.log().contains("success: slow entered RUNNING state"), "not before slow's starttime");
    // Programs do not inherit the variables: they cannot speak to systemd for taskmaster.
    let pid = d.pid_of("slow").expect("slow runs");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    let environ = String::from_utf8_lossy(&environ);
    assert!(!environ.contains("NOTIFY_SOCKET") && !environ.contains("WATCHDOG_USEC"), "{environ}");
    // WATCHDOG_USEC=200000: fed every 0.1 s.
    for _ in 0..3 {
        assert_eq!(manager.next(), "WATCHDOG=1");
    }
    std::fs::write(
        &d.config,
        Daemon::yaml("", &format!("{PROGRAMS}  added:\n    cmd: sleep 1000\n    starttime: 1\n")),
    )
    .expect("edit the config");
    d.signal(Signal::SIGHUP);
    let reloading = manager.next_news();
    let usec = reloading.strip_prefix("RELOADING=1\nMONOTONIC_USEC=").expect(&reloading);
    assert!(usec.split('\n').next().expect("a number").parse::<u64>().is_ok_and(|u| u > 0), "{reloading}");
    assert_eq!(manager.next_news(), "READY=1\nSTATUS=3 RUNNING", "after the added program is up");
    // A reload that restarts slow: ready once the new slow is RUNNING, not while it stops.
    std::fs::write(
        &d.config,
        Daemon::yaml(
            "",
            &format!(
                "{}  added:\n    cmd: sleep 1000\n    starttime: 1\n",
                PROGRAMS.replace("sleep 1000\n    starttime: 1", "sleep 1001\n    starttime: 1")
            ),
        ),
    )
    .expect("edit the config");
    d.signal(Signal::SIGHUP);
    assert!(manager.next_news().starts_with("RELOADING=1"));
    assert_eq!(manager.next_news(), "READY=1\nSTATUS=3 RUNNING");
    let log = d.log();
    let restarted = log.rfind("success: slow entered RUNNING state").expect("slow restarted");
    assert!(log[..restarted].contains("reload:"), "READY came after the restarted slow was up");
    d.signal(Signal::SIGTERM);
    assert_eq!(manager.next_news(), "STOPPING=1\nSTATUS=shutting down");
    assert_eq!(d.wait_exit(), Some(0));
}

#[test]
fn an_abstract_notify_socket_is_used_and_ready_comes_when_starts_failed() {
    let name = format!("taskmaster-test-{}", std::process::id());
    let manager = Manager::bind_abstract(&name);
    let d = Daemon::launch(
        &format!("NOTIFY_SOCKET=@{name}"),
        "",
        "  broken:\n    cmd: \"false\"\n    startretries: 1\n  quick:\n    cmd: sleep 1000\n    starttime: 0\n",
        &["--no-shell"],
    );
    assert_eq!(manager.next_news(), "READY=1\nSTATUS=1 FATAL, 1 RUNNING");
    assert_eq!(d.state("broken"), "FATAL");
}

const STUBBORN: &str = "  stubborn:\n    cmd: sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'\n    starttime: 0\n    stoptime: 0.2\n";

#[test]
fn a_shutdown_that_must_kill_exits_3() {
    let mut d = Daemon::start(STUBBORN);
    d.wait_state("stubborn", "RUNNING");
    wait_ignoring_term(d.pid_of("stubborn").expect("its pid"));
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(), Some(3));
    assert!(
        d.log().contains("shutdown complete, not clean: stubborn had to be killed with SIGKILL"),
        "{}",
        d.log()
    );
}

/// Waits until `pid` ignores SIGTERM: its shell's `trap` has run (RUNNING comes at the spawn,
/// with `starttime: 0`), so a SIGTERM now cannot end it.
fn wait_ignoring_term(pid: i32) {
    wait_until("the program's trap", || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let mask = status.lines().find_map(|l| l.strip_prefix("SigIgn:"))?.trim();
        let bit = 1u64 << (Signal::SIGTERM as i32 - 1);
        (u64::from_str_radix(mask, 16).ok()? & bit != 0).then_some(())
    });
}

/// taskmaster's pid as its parent's namespace sees it: unshare's only child.
fn inner_taskmaster(unshare: i32) -> i32 {
    wait_until("taskmaster under unshare", || {
        let children = std::fs::read_to_string(format!("/proc/{unshare}/task/{unshare}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    })
}

/// `unshare --pid --fork --mount-proc taskmaster ...`: PID 1 of a namespace of its own.
fn as_init(programs: &str) -> (Daemon, i32) {
    let dir = TempDir::new("pid1");
    let config = dir.write("taskmaster.yaml", &Daemon::yaml("", programs));
    let mut command = Command::new("unshare");
    command.args(["--pid", "--fork", "--mount-proc", "--kill-child"]).arg(TASKMASTER).arg("-c").arg(&config);
    command.arg("--no-shell");
    let d = Daemon::spawn_in(command, dir, config);
    d.wait_answering();
    let inner = inner_taskmaster(d.pid());
    (d, inner)
}

#[test]
fn as_pid_1_it_reaps_every_orphan_and_shuts_down_cleanly_on_sigterm() {
    let (mut d, inner) = as_init(
        "  orphans:\n    cmd: sh -c 'for i in 1 2 3; do (setsid sh -c \"sleep 0.2\" &); done; exec sleep 1000'\n    \
         starttime: 0\n  daemon:\n    cmd: busybox httpd -p 127.0.0.1:0 -h /\n    starttime: 0\n    autorestart: false\n",
    );
    assert_eq!(d.call("pid", &[])["data"], 1, "taskmaster is PID 1 in its namespace");
    d.wait_state("orphans", "RUNNING");
    d.wait_log("daemon exited but left");
    // The setsid'd sleeps are nobody's children once their subshells end: init's, here
    // taskmaster's, to reap.
    wait_until("the orphans reaped", || {
        let children = std::fs::read_to_string(format!("/proc/{inner}/task/{inner}/children")).ok()?;
        (children.split_whitespace().count() == 2 && zombies_of(inner).is_empty()).then_some(())
    });
    kill(Pid::from_raw(inner), Signal::SIGTERM).expect("SIGTERM to PID 1");
    assert_eq!(d.wait_exit(), Some(0), "unshare exits with taskmaster's status: a clean shutdown");
    assert!(d.log().contains("daemon: killing"), "{}", d.log());
    assert!(d.log().contains("shutdown complete"));
}

#[test]
fn as_pid_1_a_shutdown_that_was_not_clean_says_so_in_its_status() {
    let (mut d, inner) = as_init(STUBBORN);
    d.wait_state("stubborn", "RUNNING");
    let stubborn = wait_until("stubborn seen from outside", || {
        let children = std::fs::read_to_string(format!("/proc/{inner}/task/{inner}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    });
    wait_ignoring_term(stubborn);
    kill(Pid::from_raw(inner), Signal::SIGTERM).expect("SIGTERM to PID 1");
    assert_eq!(d.wait_exit(), Some(3));
}

#[test]
fn make_install_writes_a_notify_unit_for_the_installed_binary() {
    let root = TempDir::new("unit");
    let out = Command::new("make")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["-s", "install-unit", "PREFIX=/opt/tm"])
        .arg(format!("DESTDIR={}", root.path().display()))
        .output()
        .expect("run make");
    assert!(out.status.success(), "{}", stderr(&out));
    let unit =
        std::fs::read_to_string(root.join("opt/tm/lib/systemd/system/taskmaster.service")).expect("the unit");
    let keys: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#') && l.contains('=')).collect();
    for wanted in [
        "Type=notify",
        "ExecStart=/opt/tm/bin/taskmaster --no-shell -c /etc/taskmaster/taskmaster.yaml",
        "ExecReload=/opt/tm/bin/taskmasterctl -c /etc/taskmaster/taskmaster.yaml reload",
        "RuntimeDirectory=taskmaster",
        "KillMode=mixed",
        "WatchdogSec=30",
    ] {
        assert!(keys.contains(&wanted), "{wanted} not in\n{unit}");
    }
    assert!(!unit.contains("@BINDIR@"));
}
