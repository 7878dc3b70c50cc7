//! The control socket, taskmasterctl, commands on stdin, and shutting down (SPEC §1, §5, §6, §9).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

const TWO: &str =
    "  a:\n    cmd: sleep 1000\n    starttime: 0\n  b:\n    cmd: sleep 1000\n    autostart: false\n";

#[test]
fn the_socket_has_the_configured_mode() {
    let d = Daemon::start(TWO);
    let mode = std::fs::metadata(d.socket()).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let d = Daemon::start_with("  socket_mode: \"0660\"\n", TWO, &["--no-shell"]);
    let mode = std::fs::metadata(d.socket()).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn a_live_socket_refuses_a_second_taskmaster_and_a_stale_one_is_replaced() {
    let d = Daemon::start(TWO);
    let out = Command::new(TASKMASTER).args(["--no-shell", "-c"]).arg(&d.config).output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("another taskmaster is already serving"), "{}", stderr(&out));
    assert_eq!(d.state("a"), "RUNNING", "the first one is undisturbed");

    let dir = TempDir::new("stale");
    let stale = dir.join("tm.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    assert!(stale.exists(), "a socket file nobody listens on");
    let config = dir.write("t.yaml", &Daemon::yaml("", TWO));
    let mut child = Command::new(TASKMASTER)
        .args(["--no-shell", "-q", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .spawn()
        .expect("start");
    wait_until("the stale socket to be served", || UnixStream::connect(&stale).ok());
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("term");
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    assert!(!stale.exists(), "the socket is removed at exit");
}

#[test]
fn malformed_requests_are_answered_and_the_connection_stays_usable() {
    let d = Daemon::start(TWO);
    let stream = UnixStream::connect(d.socket()).expect("connect");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut ask = |line: &str| -> serde_json::Value {
        writer.write_all(line.as_bytes()).expect("send");
        let mut answer = String::new();
        reader.read_line(&mut answer).expect("answer");
        serde_json::from_str(&answer).expect("json")
    };
    let bad = ask("this is not json\n");
    assert_eq!((bad["ok"].as_bool(), bad["data"].is_null()), (Some(false), true));
    assert!(bad["output"].as_str().unwrap_or_default().starts_with("malformed request"));
    assert_eq!(ask("{\"command\": 42}\n")["ok"], false);
    assert!(
        ask("{\"command\": \"nope\"}\n")["output"].as_str().unwrap_or_default().contains("unknown command")
    );
    let ok = ask("\n\n{\"command\": \"status\", \"args\": [\"a\"]}\n");
    assert_eq!(ok["ok"], true, "empty lines are skipped, the connection still works");
    assert_eq!(ok["data"][0]["name"], "a");
}

#[test]
fn an_oversized_line_closes_only_that_connection() {
    let d = Daemon::start(TWO);
    let mut big = UnixStream::connect(d.socket()).expect("connect");
    let line = vec![b'x'; 100 * 1024];
    let _ = big.write_all(&line);
    let mut rest = Vec::new();
    let _ = big.read_to_end(&mut rest);
    assert!(rest.is_empty(), "closed without an answer");
    assert_eq!(d.call("status", &["a"])["ok"], true);
}

#[test]
fn many_requests_on_one_connection_and_many_clients_at_once() {
    let d = Daemon::start(TWO);
    let mut clients: Vec<UnixStream> =
        (0..50).map(|_| UnixStream::connect(d.socket()).expect("connect")).collect();
    for c in &mut clients {
        c.write_all(b"{\"command\":\"pid\"}\n{\"command\":\"version\"}\n").expect("send");
    }
    for c in clients {
        let mut lines = BufReader::new(c).lines();
        let pid: serde_json::Value =
            serde_json::from_str(&lines.next().expect("one").expect("read")).expect("json");
        let version: serde_json::Value =
            serde_json::from_str(&lines.next().expect("two").expect("read")).expect("json");
        assert_eq!(pid["data"], d.pid());
        assert_eq!(version["ok"], true);
    }
}

#[test]
fn taskmasterctl_exit_statuses() {
    let d = Daemon::start(TWO);
    d.wait_state("a", "RUNNING");
    assert_eq!(d.ctl(&["status", "a"]).status.code(), Some(0));
    assert_eq!(d.ctl(&["status"]).status.code(), Some(3), "b is STOPPED");
    assert_eq!(d.ctl(&["status", "nope"]).status.code(), Some(1));
    assert_eq!(d.ctl(&["stop", "b"]).status.code(), Some(1), "not running is an error for that target");
    assert_eq!(d.ctl(&["start", "b"]).status.code(), Some(0));
    let out = d.ctl(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown command `frobnicate`"));
    let out = run(TASKMASTERCTL, &["-s", "/nonexistent/tm.sock", "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is taskmaster running?"));
}

#[test]
fn taskmasterctl_json_prints_the_whole_answer() {
    let d = Daemon::start(TWO);
    d.wait_state("a", "RUNNING");
    let out = d.ctl(&["--json", "status", "a"]);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1);
    let answer: serde_json::Value = serde_json::from_str(&text).expect("json");
    let p = &answer["data"][0];
    for key in ["name", "program", "state", "pid", "uptime", "exitstatus", "signal", "retries", "description"]
    {
        assert!(p.get(key).is_some(), "{key} missing from {p}");
    }
    assert_eq!(answer["output"].as_str().map(|o| o.starts_with("a ")), Some(true));
    let out = d.ctl(&["--json", "stop", "a", "b"]);
    let answer: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(answer["ok"], false);
    assert_eq!(
        answer["data"],
        serde_json::json!([{"name": "b", "ok": false, "message": "ERROR (not running)"}, {"name": "a", "ok": true, "message": "stopped"}])
    );
}

#[test]
fn the_socket_path_can_come_from_the_config_file() {
    let d = Daemon::start(TWO);
    let out = run(TASKMASTERCTL, &["-c", d.config.to_str().expect("utf-8"), "pid"]);
    assert_eq!(stdout(&out).trim(), d.pid().to_string());
}

#[test]
fn commands_on_stdin_are_answered_on_stdout() {
    let dir = TempDir::new("stdin");
    let config = dir.write("t.yaml", &Daemon::yaml("", TWO));
    let mut child = Command::new(TASKMASTER)
        .args(["-q", "-c"])
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"start b\nstatus b\nfrobnicate\nshutdown\n").expect("send");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("b: started\n"), "{text}");
    assert!(text.contains("b                                RUNNING   pid "), "{text}");
    assert!(text.contains("unknown command `frobnicate`"), "{text}");
    assert!(text.trim_end().ends_with("Shut down"), "{text}");
}

#[test]
fn the_end_of_stdin_does_not_end_supervision() {
    let dir = TempDir::new("eof");
    let config = dir.write("t.yaml", &Daemon::yaml("", TWO));
    let mut child = Command::new(TASKMASTER)
        .args(["-q", "-c"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start");
    let socket = dir.join("tm.sock");
    wait_until("the socket", || UnixStream::connect(&socket).ok());
    assert!(child.try_wait().expect("try_wait").is_none(), "still running after EOF on stdin");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("term");
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn sigterm_stops_every_process_then_exits_0() {
    let mut d = Daemon::start("  a:\n    cmd: sleep 1000\n    numprocs: 3\n    starttime: 0\n");
    let pids: Vec<i32> = (0..3)
        .map(|i| d.wait_state(&format!("a:a_0{i}"), "RUNNING")["pid"].as_i64().expect("pid") as i32)
        .collect();
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
    assert!(pids.iter().all(|p| !alive(*p)));
    let log = d.log();
    assert!(log.contains("received SIGTERM, shutting down"));
    assert!(log.trim_end().ends_with("shutdown complete"), "{log}");
    assert!(!d.socket().exists());
}

#[test]
fn a_second_sigint_kills_what_is_still_stopping() {
    let mut d = Daemon::start(
        "  stubborn:\n    cmd: sh -c 'trap \"\" TERM; echo ready; while :; do sleep 0.1; done'\n    starttime: 0\n    \
           stoptime: 60\n    stdout: s.out\n",
    );
    let pid = d.wait_state("stubborn", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    wait_until("the trap to be set", || d.dir.read("s.out").contains("ready").then_some(()));
    d.signal(Signal::SIGINT);
    d.wait_log("waiting for stubborn to stop");
    d.signal(Signal::SIGINT);
    assert_eq!(d.wait_exit(), Some(0));
    assert!(!alive(pid));
    let log = d.log();
    assert!(log.contains("received SIGINT again, killing every process now"), "{log}");
    assert!(log.contains(&format!("killing 'stubborn' ({pid}) with SIGKILL")));
}

#[test]
fn shutdown_answers_once_everything_is_stopped() {
    let mut d = Daemon::start("  a:\n    cmd: sleep 1000\n    starttime: 0\n");
    let pid = d.wait_state("a", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    let out = d.ctl(&["shutdown"]);
    assert_eq!(stdout(&out), "Shut down\n");
    assert!(!alive(pid), "already gone when the answer came");
    assert_eq!(d.wait_exit(), Some(0));
}
