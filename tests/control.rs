//! The control socket, taskmasterctl, commands on stdin, and shutting down (taskmaster(1): OPTIONS,
//! COMMANDS, CONTROL PROTOCOL, SIGNALS).

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};

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
fn a_reload_gives_the_socket_its_new_mode_and_keeps_its_clients() {
    let d = Daemon::start(TWO);
    let mut kept = std::os::unix::net::UnixStream::connect(d.socket()).expect("connect");
    std::fs::write(&d.config, Daemon::yaml("  socket_mode: \"0660\"\n", TWO)).expect("write");
    assert_eq!(d.call("reload", &[])["ok"], true);
    let mode = std::fs::metadata(d.socket()).expect("socket").permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    d.wait_log(&format!("the socket {} has its new mode and owner", d.socket().display()));
    // The connection made before is still served.
    use std::io::{BufRead, Write};
    writeln!(kept, "{{\"command\":\"version\"}}").expect("send");
    let mut line = String::new();
    std::io::BufReader::new(kept).read_line(&mut line).expect("answer");
    assert!(line.contains("\"ok\":true"), "{line}");
    // Nothing of the way it was made is left beside it.
    let beside: Vec<String> = std::fs::read_dir(d.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".taskmaster"))
        .collect();
    assert!(beside.is_empty(), "{beside:?}");
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
    let mut child = Guarded(
        Command::new(TASKMASTER)
            .args(["--no-shell", "-q", "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .spawn()
            .expect("start"),
    );
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
fn the_pid_of_a_process_that_does_not_run_is_an_error_never_0() {
    let d = Daemon::start(TWO);
    let out = d.ctl(&["pid", "b"]);
    assert_eq!((out.status.code(), stdout(&out).trim()), (Some(1), "b: ERROR (not running)"));
    let a = d.wait_state("a", "RUNNING")["pid"].clone();
    let out = d.ctl(&["pid", "a"]);
    assert_eq!((out.status.code(), stdout(&out).trim().to_string()), (Some(0), a.to_string()));
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
    stdin.write_all(b"start b\nstatus b\nfrobnicate\n").expect("send");
    // A line far longer than any command is dropped (never kept whole), and reading goes on.
    stdin.write_all(&vec![b'x'; 1 << 20]).expect("send");
    stdin.write_all(b"\nshutdown\n").expect("send");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("b: started\n"), "{text}");
    assert!(text.contains("b                                RUNNING   pid "), "{text}");
    assert!(text.contains("unknown command `frobnicate`"), "{text}");
    assert!(text.contains("(a line longer than 65536 bytes: dropped up to its end)"), "{text}");
    assert!(!text.contains("xxxx"), "{text}");
    assert!(text.trim_end().ends_with("Shut down"), "{text}");
}

/// taskmasterctl with `input` on its stdin (no terminal): its status and output.
fn ctl_reading(d: &Daemon, input: &str) -> Output {
    ctl_reading_bytes(d, input.as_bytes())
}

fn ctl_reading_bytes(d: &Daemon, input: &[u8]) -> Output {
    let mut child = Command::new(TASKMASTERCTL)
        .arg("-s")
        .arg(d.socket())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start taskmasterctl");
    child.stdin.take().expect("stdin").write_all(input).expect("send");
    child.wait_with_output().expect("wait")
}

#[test]
fn taskmasterctl_reads_commands_on_stdin_until_quit() {
    let mut d = Daemon::start(TWO);
    d.wait_state("a", "RUNNING");
    let out = ctl_reading(&d, "start b\n\nfrobnicate\nstatus b\nquit\nstop a\n");
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("a ") && lines[1].starts_with("b "), "a status first: {text}");
    assert_eq!(lines[2], "b: started");
    assert!(lines[3].starts_with("unknown command `frobnicate`"), "{text}");
    assert!(lines.last().is_some_and(|l| l.starts_with("b ") && l.contains("RUNNING")), "{text}");
    assert_eq!(d.state("a"), "RUNNING", "nothing after quit is sent");

    // A line longer than any command is skipped, never kept whole, and the next one runs.
    let out = ctl_reading_bytes(&d, &[vec![b'x'; 1 << 24], b"\nstatus a\n".to_vec()].concat());
    let text = stdout(&out);
    assert!(text.contains("(a line longer than 65536 bytes: dropped up to its end)"), "{text}");
    assert!(text.lines().last().is_some_and(|l| l.starts_with("a ")), "{text}");
    // A line that is not UTF-8 is answered, not taken for the end of the input.
    let out = ctl_reading_bytes(&d, b"st\xffatus\nstatus a\n");
    let text = stdout(&out);
    assert!(text.contains("unknown command `st\u{fffd}atus`"), "{text}");
    assert!(text.lines().last().is_some_and(|l| l.starts_with("a ")), "{text}");

    let out = ctl_reading(&d, "stop b\nshutdown\nstatus\n");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).ends_with("b: stopped\nShut down\n"), "{}", stdout(&out));
    d.wait_exit();
}

#[test]
fn the_end_of_stdin_does_not_end_supervision() {
    let dir = TempDir::new("eof");
    let config = dir.write("t.yaml", &Daemon::yaml("", TWO));
    let mut child = Guarded(
        Command::new(TASKMASTER)
            .args(["-q", "-c"])
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start"),
    );
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
    assert_eq!(d.wait_exit(), Some(3), "a shutdown that had to kill is not clean");
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

/// Sends `lines`, closes the writing side (as `nc -N` and socat do), and reads every answer.
fn ask_and_half_close(socket: &std::path::Path, lines: &str) -> Vec<serde_json::Value> {
    let mut stream = UnixStream::connect(socket).expect("connect");
    stream.write_all(lines.as_bytes()).expect("send");
    stream.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read to the end");
    text.lines().map(|l| serde_json::from_str(l).expect("json")).collect()
}

#[test]
fn a_client_that_half_closes_after_its_requests_gets_every_answer() {
    let d = Daemon::start(TWO);
    d.wait_state("a", "RUNNING");
    // The last request without its newline: the end of the input ends it (`printf | nc -N`).
    let answers =
        ask_and_half_close(&d.socket(), "{\"command\":\"pid\"}\n{\"command\":\"status\",\"args\":[\"a\"]}");
    assert_eq!(answers.len(), 2);
    assert_eq!(answers[0]["data"], d.pid());
    assert_eq!(answers[1]["data"][0]["state"], "RUNNING");
    // A command that answers later: the connection stays until it has its answer.
    let answers = ask_and_half_close(&d.socket(), "{\"command\":\"stop\",\"args\":[\"a\"]}\n");
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0]["output"], "a: stopped");
    assert_eq!(d.state("a"), "STOPPED");
}

#[test]
fn a_deleted_socket_is_bound_again_by_a_reload() {
    let d = Daemon::start(TWO);
    std::fs::remove_file(d.socket()).expect("remove the socket");
    d.signal(Signal::SIGHUP);
    d.wait_log("was gone: it is bound again");
    assert_eq!(d.call("pid", &[])["data"], d.pid());
    assert!(!d.log().contains("the socket stays at"), "{}", d.log());
}

#[test]
fn an_exiting_taskmaster_removes_only_its_own_socket() {
    let mut d = Daemon::start(TWO);
    // Someone replaces its socket file with another socket at the same path.
    std::fs::remove_file(d.socket()).expect("remove");
    let other = std::os::unix::net::UnixListener::bind(d.socket()).expect("bind another socket");
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
    assert!(d.socket().exists(), "the other socket stays");
    UnixStream::connect(d.socket()).expect("and still answers");
    drop(other);
}

#[test]
fn clients_past_the_limit_are_told_why_and_the_rest_are_served() {
    let d = Daemon::start(TWO);
    // Connections are opened, each proven accepted by an answer, until one is refused (a client
    // of the harness that has just left may still hold a place for a moment).
    let mut held = Vec::new();
    let refusal = loop {
        assert!(held.len() <= 256, "more than 256 clients were accepted");
        let mut s = UnixStream::connect(d.socket()).expect("connect");
        let _ = s.write_all(b"{\"command\":\"version\"}\n");
        let mut line = String::new();
        BufReader::new(s.try_clone().expect("clone")).read_line(&mut line).expect("answer");
        let answer: serde_json::Value = serde_json::from_str(&line).expect("json");
        if answer["ok"] == false {
            break answer;
        }
        held.push(s);
    };
    assert!(held.len() >= 250, "only {} accepted", held.len());
    assert_eq!(refusal["output"], "too many clients (256); try again later");
    drop(held);
    wait_until("a place again", || (d.try_call("version", &[])?["ok"] == true).then_some(()));
}

#[test]
fn stray_signals_do_not_end_taskmaster_nor_touch_its_programs() {
    let d = Daemon::start(TWO);
    let pid = d.wait_state("a", "RUNNING")["pid"].as_i64().expect("pid");
    let rt = nix::libc::SIGRTMIN();
    let numbers = [
        nix::libc::SIGUSR1,
        nix::libc::SIGUSR2,
        nix::libc::SIGALRM,
        nix::libc::SIGPIPE,
        nix::libc::SIGVTALRM,
        nix::libc::SIGPROF,
        nix::libc::SIGIO,
        nix::libc::SIGPWR,
        nix::libc::SIGSTKFLT,
        nix::libc::SIGXCPU,
        nix::libc::SIGXFSZ,
        rt,
        rt + 5,
        nix::libc::SIGRTMAX(),
    ];
    for signo in numbers {
        // The shell's kill, since realtime signals have no `Signal` value.
        let sent = Command::new("sh").arg("-c").arg(format!("kill -{signo} {}", d.pid())).status();
        assert!(sent.expect("run kill").success(), "send {signo}");
        // A request answered after each signal: it was handled (or ignored), not fatal.
        assert_eq!(d.call("pid", &[])["data"], d.pid(), "after signal {signo}");
    }
    assert_eq!(d.process("a")["pid"].as_i64(), Some(pid));
    d.wait_log("received SIGUSR2: the log files were reopened");
}

#[test]
fn a_log_file_that_cannot_be_written_is_said_once_and_shown_by_status() {
    let dir = TempDir::new("full");
    let config = dir.write(
        "t.yaml",
        &Daemon::yaml("", "  a:\n    cmd: sleep 1000\n    starttime: 0\n")
            .replace("logfile: tm.log", "logfile: /dev/full"),
    );
    let out = std::fs::File::create(dir.join("stdout")).expect("stdout file");
    let mut child = Guarded(
        Command::new(TASKMASTER)
            .args(["--no-shell", "-c"])
            .arg(&config)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(out)
            .spawn()
            .expect("start"),
    );
    let socket = dir.join("tm.sock");
    wait_until("the socket", || UnixStream::connect(&socket).ok());
    let ctl = |args: &[&str]| {
        let mut all = vec!["-s", socket.to_str().expect("utf-8")];
        all.extend_from_slice(args);
        run(TASKMASTERCTL, &all)
    };
    for _ in 0..3 {
        assert_eq!(stdout(&ctl(&["restart", "a"])), "a: started\n");
    }
    let status = stdout(&ctl(&["status"]));
    assert!(
        status.ends_with("warning: couldn't write the log file /dev/full: No space left on device\n"),
        "{status}"
    );
    let console = dir.read("stdout");
    assert_eq!(console.matches("couldn't write the log file /dev/full").count(), 1, "{console}");
    assert!(console.contains("spawned: 'a'"), "the console still shows the events: {console}");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("term");
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn taskmasterctl_refuses_an_endless_answer() {
    let dir = TempDir::new("huge");
    let path = dir.join("fake.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut request = String::new();
        BufReader::new(stream.try_clone().expect("clone")).read_line(&mut request).expect("request");
        // 20 MiB without an end of line, as a hostile or broken server would send.
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..20 {
            if stream.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let out = run(TASKMASTERCTL, &["-s", path.to_str().expect("utf-8"), "status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("an answer longer than 16777216 bytes"), "{}", stderr(&out));
    server.join().expect("join");
}

#[test]
fn taskmasterctl_ends_quietly_when_its_reader_goes_away() {
    let d = Daemon::start(
        "  a:\n    cmd: sleep 1000\n    numprocs: 1000\n    autostart: false\n  \
         b:\n    cmd: sleep 1000\n    numprocs: 1000\n    autostart: false\n",
    );
    // `taskmasterctl status | head -3`, with an answer far bigger than a pipe holds.
    let mut child = Command::new(TASKMASTERCTL)
        .args(["-s", d.socket().to_str().expect("utf-8"), "status"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start taskmasterctl");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    for _ in 0..3 {
        assert!(lines.next().expect("a line").expect("read").starts_with("a:a_"));
    }
    drop(lines);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(stderr(&out), "", "no panic, no complaint");
    assert_eq!(out.status.code(), Some(141), "the status of a filter that lost its reader");
}

#[test]
fn a_broken_config_is_a_warning_for_the_client_except_for_reload_which_lists_the_errors() {
    let d = Daemon::start(TWO);
    d.wait_state("a", "RUNNING");
    let config = d.config.to_str().expect("utf-8").to_string();
    std::fs::write(
        &d.config,
        Daemon::yaml("", TWO).replace("cmd: sleep 1000\n    starttime", "cmd: ''\n    starttime"),
    )
    .expect("break the file");
    let out = run(TASKMASTERCTL, &["-c", &config, "status", "a"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("has an error (`taskmaster --check -c"), "{}", stderr(&out));
    let out = run(TASKMASTERCTL, &["-c", &config, "reload"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "", "said once, by the answer");
    assert!(stdout(&out).starts_with("the configuration has errors; nothing changed"), "{}", stdout(&out));
    assert_eq!(d.state("a"), "RUNNING");
}

#[test]
fn a_command_too_long_to_send_is_refused_by_taskmasterctl_and_the_daemon_keeps_serving() {
    let d = Daemon::start(TWO);
    d.wait_state("a", "RUNNING");
    let names: Vec<String> = (0..4000).map(|i| format!("no-such-program-number-{i:05}")).collect();
    let mut args = vec!["status"];
    args.extend(names.iter().map(String::as_str));
    let out = d.ctl(&args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("too long to send"), "{}", stderr(&out));

    // In a session the refusal is an answer, and the next command is sent. (A line that short
    // is longer as a request: a control character is six bytes in JSON.)
    let out = ctl_reading(&d, &format!("status {}\nstatus a\n", "\u{1}".repeat(15_000)));
    let text = stdout(&out);
    assert!(text.contains("too long to send"), "{text}");
    assert!(text.lines().last().is_some_and(|l| l.starts_with("a ") && l.contains("RUNNING")), "{text}");
}

#[test]
fn a_pipe_nobody_reads_never_stops_supervision_and_gets_everything_once_read() {
    let dir = TempDir::new("pipe");
    let programs = "  many:\n    cmd: sleep 1000\n    numprocs: 200\n    starttime: 0\n";
    let config = dir.write("t.yaml", &Daemon::yaml("", programs));
    let child = Command::new(TASKMASTER)
        .args(["--no-shell", "-c"])
        .arg(&config)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start");
    let mut d = Daemon { dir, child: Some(child), config };
    wait_until("200 running", || {
        let status = d.try_call("status", &[])?;
        let running = status["data"].as_array()?.iter().filter(|p| p["state"] == "RUNNING").count();
        (running == 200).then_some(())
    });
    // Far more lines than the pipe holds, while nobody reads it.
    for _ in 0..4 {
        assert_eq!(d.call("stop", &["many"])["ok"], true);
        assert_eq!(d.call("start", &["many"])["ok"], true);
    }
    let child = d.child.take().expect("taskmaster");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("term");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("stopped: many:many_199").count(), 5, "every line, once read");
    assert!(text.trim_end().ends_with("shutdown complete"), "{}", &text[text.len().saturating_sub(300)..]);
}

#[test]
fn an_endless_stdin_that_cannot_be_watched_never_keeps_taskmaster_from_supervising() {
    let dir = TempDir::new("zero");
    let config = dir.write("t.yaml", &Daemon::yaml("", TWO));
    let child = Command::new(TASKMASTER)
        .args(["-q", "-c"])
        .arg(&config)
        .current_dir(dir.path())
        .stdin(std::fs::File::open("/dev/zero").expect("/dev/zero"))
        .stdout(Stdio::null())
        .spawn()
        .expect("start");
    let mut d = Daemon { dir, child: Some(child), config };
    wait_until("the control socket", || d.try_call("version", &[]));
    d.wait_state("a", "RUNNING");
    let before = usage(d.pid()).rss_kib;
    assert_eq!(d.call("start", &["b"])["ok"], true);
    assert!(usage(d.pid()).rss_kib < before + 10 * 1024, "what it reads is not kept");
    d.signal(Signal::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
}

#[test]
fn commands_in_a_file_on_stdin_are_run_in_turn() {
    let dir = TempDir::new("file");
    let config = dir.write("t.yaml", &Daemon::yaml("", TWO));
    let commands = dir.write("commands", "start b\nstatus b\nshutdown\n");
    let out = Command::new(TASKMASTER)
        .args(["-q", "-c"])
        .arg(&config)
        .current_dir(dir.path())
        .stdin(std::fs::File::open(commands).expect("commands"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("b: started\nb "), "{text}");
    assert!(text.ends_with("Shut down\n"), "{text}");
}

#[test]
fn a_stream_of_piped_commands_shares_taskmaster_with_the_socket() {
    let dir = TempDir::new("yes");
    let config = dir.write("t.yaml", &Daemon::yaml("", TWO));
    let mut yes = Guarded(Command::new("yes").arg("status").stdout(Stdio::piped()).spawn().expect("yes"));
    let lines = yes.stdout.take().expect("yes's output");
    let child = Command::new(TASKMASTER)
        .args(["-q", "-c"])
        .arg(&config)
        .current_dir(dir.path())
        .stdin(lines)
        .stdout(Stdio::null())
        .spawn()
        .expect("start");
    let d = Daemon { dir, child: Some(child), config };
    wait_until("the control socket", || d.try_call("version", &[]));
    for _ in 0..5 {
        assert_eq!(d.call("status", &["a"])["ok"], true, "answered while the pipe keeps coming");
    }
    drop(yes);
}
