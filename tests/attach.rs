//! `attach`, `tail -f` and `tty: true` (taskmaster(1), ATTACH), on real terminals (tmux) and over
//! the raw socket: keys in, output out, window sizes followed, the detach key, the process's exit,
//! a terminal always given back, and a follower that never reads holding nothing back.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::tmux::Tmux;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;

/// `echo` answers each line it reads; `shell` is an interactive sh; `ticker` writes a line a
/// tenth of a second on both streams, with no terminal.
const PROGRAMS: &str = "  echo:\n    cmd: sh -c 'while read -r l; do echo \"got $l\"; done'\n    tty: true\n  \
                        shell:\n    cmd: sh -i\n    tty: true\n    stopsignal: HUP\n    env: {PS1: 'sh$ '}\n  \
                        ticker:\n    cmd: sh -c 'i=0; while :; do i=$((i+1)); echo \"tick $i\"; echo \"err $i\" >&2; sleep 0.1; done'\n  \
                        quick:\n    cmd: sh -c 'read x; echo \"read $x\"; exit 3'\n    tty: true\n    autorestart: false\n    starttime: 0\n";

fn attach_line(d: &Daemon, name: &str) -> String {
    format!("{TASKMASTERCTL} -s {} attach {name}", d.socket().display())
}

/// The terminal's mode as `stty -a` shows it: whether it is back to line editing with echo.
fn cooked(stty: &str) -> bool {
    let words: Vec<&str> = stty.split([' ', ';', '\n']).collect();
    words.contains(&"icanon") && words.contains(&"echo") && words.contains(&"isig")
}

#[test]
fn keys_reach_a_terminal_program_and_the_detach_key_leaves_it_running() {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("echo", "RUNNING");
    let pid = d.pid_of("echo").expect("a pid");
    let tmux = Tmux::start("sh");
    tmux.text(&attach_line(&d, "echo"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("[attached to echo (pid");
    tmux.text("hello there");
    tmux.keys(&["Enter"]);
    tmux.wait_for("got hello there");
    tmux.keys(&["C-]"]);
    tmux.wait_for("[detached from echo]");
    assert_eq!(d.pid_of("echo"), Some(pid), "the same process");
    assert_eq!(d.state("echo"), "RUNNING");
    // The terminal is the shell's again, in its own mode.
    tmux.text("stty -a; echo END");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("END\n");
    assert!(cooked(&screen), "{screen}");
}

#[test]
fn the_window_size_follows_the_users_terminal() {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("shell", "RUNNING");
    let tmux = Tmux::start("sh");
    tmux.text(&attach_line(&d, "shell"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("[attached to shell");
    tmux.text("stty size");
    tmux.keys(&["Enter"]);
    tmux.wait_for("40 120");
    tmux.resize_to(100, 30);
    tmux.wait("the window to shrink", |s| s.lines().count() <= 30);
    tmux.text("stty size");
    tmux.keys(&["Enter"]);
    tmux.wait_for("30 100");
    // Ctrl-C is the program's: it interrupts what runs there, and the attachment stays.
    tmux.text("sleep 100");
    tmux.keys(&["Enter"]);
    // Ctrl-C only once sleep holds the terminal: sent earlier, the shell takes it and sleep runs on.
    let shell = d.pid_of("shell").expect("the shell's pid");
    wait_until("sleep in the terminal's foreground", || {
        all_pids().into_iter().find(|&p| {
            let stat = stat_fields(p);
            stat.get(1).is_some_and(|ppid| *ppid == shell.to_string())
                && stat.get(2).is_some_and(|pgrp| stat.get(5) == Some(pgrp))
                && std::fs::read(format!("/proc/{p}/cmdline")).is_ok_and(|c| c == b"sleep\x00100\x00")
        })
    });
    tmux.keys(&["C-c"]);
    tmux.text("echo still here");
    tmux.keys(&["Enter"]);
    tmux.wait_for("\nstill here");
    tmux.keys(&["C-]"]);
    tmux.wait_for("[detached from shell]");
}

/// Every process whose command line holds `needle`, found in /proc (to kill one by pid).
fn pids_with(needle: &str) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(needle))
        })
        .collect()
}

#[test]
fn the_terminal_comes_back_when_the_attached_client_is_killed() {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("shell", "RUNNING");
    let after = d.dir.join("stty.after");
    let tmux =
        Tmux::start(&format!("{}; stty -a > {}; exec sleep 1000", attach_line(&d, "shell"), after.display()));
    tmux.wait_for("[attached to shell");
    let needle = "attach shell";
    let client = wait_until("the attached client", || {
        pids_with(needle).into_iter().find(|p| {
            std::fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| e.ends_with("taskmasterctl"))
        })
    });
    kill(Pid::from_raw(client), Signal::SIGKILL).expect("kill the client");
    let stty = wait_until("stty after the client", || {
        std::fs::read_to_string(&after).ok().filter(|s| !s.is_empty())
    });
    assert!(cooked(&stty), "the terminal was left raw: {stty}");
    assert_eq!(d.state("shell"), "RUNNING", "the process is untouched");
}

/// Sends a request on a new connection and reads its answer; the connection is the stream after.
fn open_stream(d: &Daemon, command: &str, args: &[&str]) -> (serde_json::Value, BufReader<UnixStream>) {
    let mut stream = UnixStream::connect(d.socket()).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    writeln!(stream, "{}", serde_json::json!({"command": command, "args": args})).expect("send");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).expect("the answer");
    (serde_json::from_str(&line).expect("JSON"), reader)
}

/// Reads the stream until `text` has come; returns all read.
fn read_until(reader: &mut BufReader<UnixStream>, text: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let start = std::time::Instant::now();
    while !String::from_utf8_lossy(&seen).contains(text) {
        assert!(start.elapsed() < PATIENCE, "no `{text}` in time: {}", last(&seen));
        match reader.read(&mut buf) {
            Ok(0) => panic!("the stream ended before `{text}`: {}", last(&seen)),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
            Err(e) => panic!("no `{text}` in time ({e}): {}", last(&seen)),
        }
    }
    String::from_utf8_lossy(&seen).into_owned()
}

/// The end of what a stream brought, for a failure's message.
fn last(seen: &[u8]) -> String {
    format!("({} bytes) ...{}", seen.len(), String::from_utf8_lossy(&seen[seen.len().saturating_sub(600)..]))
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

#[test]
fn tail_f_over_the_socket_follows_one_stream_across_a_restart() {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("ticker", "RUNNING");
    wait_until("some ticks", || {
        d.call("tail", &["ticker"])["data"]["lines"].as_array().filter(|l| l.len() >= 3).map(|_| ())
    });
    let (answer, mut stream) = open_stream(&d, "tail", &["-f", "-n", "2", "ticker", "stderr"]);
    assert_eq!(answer["ok"], true, "{answer}");
    let lines = answer["data"]["lines"].as_array().expect("lines").clone();
    assert_eq!(lines.len(), 2, "{answer}");
    assert!(lines.iter().all(|l| l.as_str().is_some_and(|l| l.starts_with("err "))), "{answer}");
    let seen = read_until(&mut stream, "\n");
    assert!(!seen.contains("tick"), "stderr only: {seen}");
    // The follower stays through a restart, as `tail -f` stays on a log file.
    let pid = d.pid_of("ticker").expect("a pid");
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
    d.wait_new_pid("ticker", pid);
    read_until(&mut stream, "err 1\n");
    // taskmasterctl's own tail -f prints the same, until it is stopped.
    let mut ctl = Guarded(
        std::process::Command::new(TASKMASTERCTL)
            .args(["-s", d.socket().to_str().expect("utf-8"), "tail", "-f", "ticker"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("taskmasterctl tail -f"),
    );
    let mut out = BufReader::new(ctl.stdout.take().expect("stdout"));
    let mut first = String::new();
    for _ in 0..15 {
        first.clear();
        out.read_line(&mut first).expect("a line");
        assert!(first.starts_with("tick "), "{first:?}");
    }
    kill(Pid::from_raw(ctl.id() as i32), Signal::SIGINT).expect("Ctrl-C");
    assert_eq!(ctl.wait().expect("ends").code(), Some(0), "Ctrl-C ends tail -f quietly");
}

#[test]
fn keys_as_frames_and_the_exit_said_at_the_end_of_the_stream() {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("quick", "RUNNING");
    let (answer, mut stream) = open_stream(&d, "attach", &["quick"]);
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["data"]["tty"], true);
    assert_eq!(answer["data"]["detach_key"], "ctrl-]");
    stream.get_mut().write_all(&frame(2, &[0, 50, 0, 132])).expect("a size");
    stream.get_mut().write_all(&frame(1, b"word\r")).expect("keys");
    let seen = read_until(&mut stream, "[quick exited: exit status 3]");
    assert!(seen.contains("read word"), "{seen}");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("closed after the exit");
    // A frame of an unknown kind closes that connection, and only it.
    d.wait_state("echo", "RUNNING");
    let (_, mut bad) = open_stream(&d, "attach", &["echo"]);
    bad.get_mut().write_all(&frame(9, b"??")).expect("a bad frame");
    let mut rest = Vec::new();
    bad.read_to_end(&mut rest).expect("closed");
    assert_eq!(d.state("echo"), "RUNNING");
    assert_eq!(d.call("status", &[])["ok"], true);
}

#[test]
fn what_cannot_be_attached_says_why() {
    let d = Daemon::start(&format!(
        "{PROGRAMS}  idle:\n    cmd: sleep 1000\n    autostart: false\n  pair:\n    cmd: sleep 1000\n    numprocs: 2\n"
    ));
    d.wait_state("echo", "RUNNING");
    let refused = |args: &[&str]| {
        let out = d.ctl(args);
        (out.status.code(), format!("{}{}", stdout(&out), stderr(&out)).trim_end().to_string())
    };
    let (code, text) = refused(&["attach", "echo"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("attach needs a terminal") && text.contains("tail -f"), "{text}");
    let tmux = Tmux::start("sh");
    let idle = attach_line(&d, "idle");
    tmux.text(&format!("{idle}; echo \"rc=$?\""));
    tmux.keys(&["Enter"]);
    tmux.wait_for("idle is not running (STOPPED): start it first");
    tmux.wait_for("rc=1");
    assert_eq!(
        d.call("attach", &["pair"])["output"],
        "pair names 2 processes: attach to one of them (pair:pair_00, pair:pair_01)"
    );
    assert_eq!(
        d.call("fg", &["pair:*"])["output"],
        "pair:* names 2 processes: attach to one of them (pair:pair_00, pair:pair_01)"
    );
    assert_eq!(d.call("attach", &["nope"])["output"], "nope: ERROR (no such process)");
    assert_eq!(
        d.call("tail", &["echo", "stderr"])["output"],
        "(echo has a terminal (tty: true): all it writes is on stdout)"
    );
    assert_eq!(d.call("tail", &["-f", "nope"])["output"], "nope: ERROR (no such process)");
    // taskmasterctl reading commands from a pipe cannot give its connection away.
    let mut piped = std::process::Command::new(TASKMASTERCTL)
        .args(["-s", d.socket().to_str().expect("utf-8")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("taskmasterctl");
    piped.stdin.take().expect("stdin").write_all(b"tail -f ticker\npid echo\n").expect("commands");
    let out = piped.wait_with_output().expect("ends");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("attach and tail -f run alone"), "{text}");
    assert!(text.contains(&d.pid_of("echo").expect("pid").to_string()), "the next command ran: {text}");
}

#[test]
fn a_follower_that_never_reads_holds_nothing_back() {
    let flood = "  flood:\n    cmd: sh -c 'sleep 1; head -c 100000000 /dev/zero | tr \"\\\\0\" x; echo; echo done; exec sleep 1000'\n    starttime: 0\n";
    let d = Daemon::start(flood);
    d.wait_state("flood", "RUNNING");
    // Attached and following, and reading nothing.
    let (answer, mut stalled) = open_stream(&d, "attach", &["flood"]);
    assert_eq!(answer["ok"], true, "{answer}");
    let (_, _also_stalled) = open_stream(&d, "tail", &["-f", "flood"]);
    let mut answered = 0;
    while !d.call("tail", &["-n", "1", "flood"])["data"]["lines"].to_string().contains("done") {
        assert_eq!(d.call("status", &[])["ok"], true);
        answered += 1;
    }
    assert!(answered > 0);
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).expect("status");
    let peak: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    assert!(peak < 64 * 1024, "taskmaster grew to {peak} KiB for 100 MB nobody read");
    // Once it reads again, it is told what it missed.
    let seen = read_until(&mut stalled, "bytes of output dropped: this client did not keep up]");
    assert!(seen.len() < 100_000_000);
}

#[test]
fn taskmasters_own_shell_attaches_and_shows_what_was_logged_meanwhile_after() {
    let dir = TempDir::new("own");
    let config = dir.write("taskmaster.yaml", &Daemon::yaml("", PROGRAMS));
    let tmux = Tmux::start(&format!(
        "cd {}; {TASKMASTER} -c {}; exec sleep 1000",
        dir.path().display(),
        config.display()
    ));
    tmux.wait_for("taskmaster>");
    wait_until("shell to run", || dir.read("tm.log").contains("success: shell").then_some(()));
    tmux.text("attach shell");
    tmux.keys(&["Enter"]);
    tmux.wait_for("[attached to shell");
    tmux.text("echo $((6*7))");
    tmux.keys(&["Enter"]);
    tmux.wait_for("\n42");
    // An event while attached waits for the prompt.
    let log = dir.read("tm.log");
    let ticker: i32 = log
        .lines()
        .find_map(|l| l.split("spawned: 'ticker' with pid ").nth(1))
        .and_then(|p| p.trim().parse().ok())
        .expect("ticker's pid");
    kill(Pid::from_raw(ticker), Signal::SIGKILL).expect("kill ticker");
    wait_until("the restart in the log", || dir.read("tm.log").contains("exited: ticker").then_some(()));
    assert!(!tmux.screen().contains("exited: ticker"), "shown while attached:\n{}", tmux.screen());
    tmux.keys(&["C-]"]);
    let screen = tmux.wait_for("exited: ticker");
    let detached = screen.find("[detached from shell]").expect("the note");
    assert!(
        detached < screen.find("exited: ticker").expect("the event"),
        "the note, then the events:\n{screen}"
    );
    tmux.wait("the prompt", |s| s.lines().last().is_some_and(|l| l.starts_with("taskmaster>")));
    // tail -f until Ctrl-C, which leaves the process alone.
    tmux.text("tail -f ticker");
    tmux.keys(&["Enter"]);
    tmux.wait_for("[following stdout of ticker: Ctrl-C stops]");
    tmux.wait_for("tick 12\n");
    tmux.keys(&["C-c"]);
    tmux.wait("the prompt", |s| s.lines().last().is_some_and(|l| l.starts_with("taskmaster>")));
    tmux.text("attach quick");
    tmux.keys(&["Enter"]);
    tmux.wait_for("[attached to quick");
    tmux.text("bye");
    tmux.keys(&["Enter"]);
    tmux.wait_for("[quick exited: exit status 3]");
    tmux.wait("the prompt", |s| s.lines().last().is_some_and(|l| l.starts_with("taskmaster>")));
    // Ctrl-\\ at the prompt is no key that quits (it would stop every program).
    tmux.keys(&["C-\\"]);
    tmux.text("status ticker");
    tmux.keys(&["Enter"]);
    tmux.wait_for("RUNNING   pid");
    tmux.text("shutdown");
    tmux.keys(&["Enter"]);
    wait_until("the shutdown", || dir.read("tm.log").contains("shutdown complete").then_some(()));
}

#[test]
fn a_follower_of_a_program_a_reload_removed_is_let_go() {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("ticker", "RUNNING");
    let (answer, mut stream) = open_stream(&d, "tail", &["-f", "ticker"]);
    assert_eq!(answer["ok"], true, "{answer}");
    read_until(&mut stream, "tick");
    let without = PROGRAMS.split("  ticker:").next().expect("the others").to_string()
        + "  quick:\n    cmd: sh -c 'read x; echo \"read $x\"; exit 3'\n    tty: true\n    autorestart: false\n    starttime: 0\n";
    std::fs::write(&d.config, Daemon::yaml("", &without)).expect("the new file");
    assert_eq!(d.call("reload", &[])["ok"], true);
    let seen = read_until(&mut stream, "[ticker is no longer in the configuration]");
    assert!(seen.contains("tick"), "{seen}");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("closed");
}

#[test]
fn commands_piped_to_taskmaster_cannot_attach_and_go_on() {
    let dir = TempDir::new("piped");
    let config =
        dir.write("taskmaster.yaml", &Daemon::yaml("", "  idle:\n    cmd: sleep 1000\n    stoptime: 0.5\n"));
    let mut child = std::process::Command::new(TASKMASTER)
        .args(["-c", config.to_str().expect("utf-8")])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("taskmaster");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"attach idle\ntail -f idle\nversion\nshutdown\n")
        .expect("commands");
    let out = child.wait_with_output().expect("ends");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("attach needs taskmaster's shell on a terminal"), "{text}");
    assert!(text.contains("tail -f needs taskmaster's shell on a terminal"), "{text}");
    assert!(text.contains(env!("CARGO_PKG_VERSION")), "the commands after ran: {text}");
}

#[test]
fn a_client_done_sending_still_follows_and_frames_may_come_with_the_request() {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("ticker", "RUNNING");
    // As `nc -N` and socat do: the request, then the end of what it sends.
    let mut stream = UnixStream::connect(d.socket()).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream.write_all(b"{\"command\":\"tail\",\"args\":[\"-f\",\"-n\",\"1\",\"ticker\"]}\n").expect("send");
    stream.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer).expect("the answer");
    assert!(answer.contains("\"ok\":true"), "{answer}");
    let first = read_until(&mut reader, "tick");
    let more = read_until(&mut reader, "\n");
    assert!(format!("{first}{more}").matches("tick").count() >= 1);
    // Frames in the same write as the request, a newline byte among them, are the stream's.
    d.wait_state("quick", "RUNNING");
    let mut stream = UnixStream::connect(d.socket()).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut bytes = b"{\"command\":\"attach\",\"args\":[\"quick\"]}\n".to_vec();
    bytes.extend(frame(2, &[0, 10, 0, 10]));
    bytes.extend(frame(1, b"early\r"));
    stream.write_all(&bytes).expect("send");
    let mut reader = BufReader::new(stream);
    let seen = read_until(&mut reader, "[quick exited: exit status 3]");
    assert!(seen.contains("read early"), "{seen}");
}

#[test]
fn a_program_that_leaves_its_terminal_runs_on_and_is_read_when_it_comes_back() {
    // One moves its output elsewhere and runs on; one comes back to its terminal through
    // /dev/tty after closing it. Neither is hung up, and neither waits for ever to write.
    let programs = "  redirector:\n    cmd: sh -c 'echo hello; exec >/dev/null 2>&1 </dev/null; sleep 1.5; exit 7'\n    tty: true\n    autorestart: false\n  \
                    closer:\n    cmd: sh -c 'echo first; exec </dev/null >/dev/null 2>&1; sleep 0.5; seq 1 100000 > /dev/tty; exit 4'\n    tty: true\n    autorestart: false\n    starttime: 0\n";
    let d = Daemon::start(programs);
    d.wait_log("exited: closer");
    assert!(d.log().contains("exited: closer (exit status 4"), "{}", d.log());
    assert_eq!(d.call("tail", &["-n", "1", "closer"])["data"]["lines"], serde_json::json!(["100000"]));
    let cpu = |pid: i32| usage(pid).cpu_ticks;
    let before = cpu(d.pid());
    d.wait_log("exited: redirector");
    assert!(d.log().contains("exited: redirector (exit status 7"), "not hung up: {}", d.log());
    assert!(cpu(d.pid()) - before < 20, "a closed terminal is no busy loop");
}

#[test]
fn taskmasterctl_leaves_at_once_while_output_floods_a_slow_reader() {
    let flood = "  flood:\n    cmd: yes\n";
    let d = Daemon::start(flood);
    d.wait_state("flood", "RUNNING");
    let mut ctl = Guarded(
        std::process::Command::new(TASKMASTERCTL)
            .args(["-s", d.socket().to_str().expect("utf-8"), "tail", "-f", "flood"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("taskmasterctl tail -f"),
    );
    // A reader that takes a little now and then.
    let mut out = ctl.stdout.take().expect("stdout");
    let mut buf = [0u8; 1024];
    out.read_exact(&mut buf).expect("some output");
    kill(Pid::from_raw(ctl.id() as i32), Signal::SIGTERM).expect("TERM");
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        for _ in 0..64 {
            if out.read(&mut buf).map_or(true, |n| n == 0) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    wait_until("taskmasterctl to end", || ctl.try_wait().ok().flatten());
    let _ = reader.join();
}

#[test]
fn leaving_a_full_screen_program_gives_the_terminal_back_as_it_was() {
    let full = "  full:\n    cmd: sh -c 'printf \"\\\\033[?1049h\\\\033[?1000h\\\\033[?2004hFULL SCREEN\"; exec cat'\n    tty: true\n";
    let d = Daemon::start(full);
    d.wait_state("full", "RUNNING");
    let tmux = Tmux::start("sh");
    tmux.text(&attach_line(&d, "full"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("FULL SCREEN");
    assert_eq!(tmux.format("#{alternate_on}"), "1", "the program's own screen");
    assert_eq!(tmux.format("#{mouse_any_flag}"), "1");
    tmux.keys(&["C-]"]);
    tmux.wait_for("[detached from full]");
    assert_eq!(tmux.format("#{alternate_on}"), "0", "back on the normal screen");
    assert_eq!(tmux.format("#{mouse_any_flag}"), "0", "mouse reports off");
    // Attached again, later: taskmaster knew the program was on its alternate screen.
    tmux.text(&attach_line(&d, "full"));
    tmux.keys(&["Enter"]);
    wait_until("the alternate screen again", || (tmux.format("#{alternate_on}") == "1").then_some(()));
    tmux.keys(&["C-]"]);
    tmux.wait("the second detach", |s| s.matches("[detached from full]").count() == 2);
    assert_eq!(tmux.format("#{alternate_on}"), "0");
}

#[test]
fn the_terminal_takes_the_size_of_the_last_attached_still_there() {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("shell", "RUNNING");
    let (_, mut first) = open_stream(&d, "attach", &["shell"]);
    first.get_mut().write_all(&frame(2, &[0, 30, 0, 100])).expect("a size");
    let (_, mut second) = open_stream(&d, "attach", &["shell"]);
    second.get_mut().write_all(&frame(2, &[0, 41, 0, 121])).expect("a size");
    first.get_mut().write_all(&frame(1, b"stty size\r")).expect("keys");
    read_until(&mut first, "41 121");
    drop(second);
    // Asked until the second's leaving has been seen.
    wait_until("the first one's size again", || {
        first.get_mut().write_all(&frame(1, b"stty size\r")).expect("keys");
        let seen = read_until(&mut first, "sh$ ");
        seen.contains("30 100").then_some(())
    });
}

#[test]
fn taskmasterctl_says_when_taskmaster_goes_away_mid_stream() {
    let mut d = Daemon::start(PROGRAMS);
    d.wait_state("ticker", "RUNNING");
    let ctl = std::process::Command::new(TASKMASTERCTL)
        .args(["-s", d.socket().to_str().expect("utf-8"), "tail", "-f", "ticker"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("taskmasterctl tail -f");
    let mut ctl = Guarded(ctl);
    let mut out = BufReader::new(ctl.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("a line");
    d.signal(Signal::SIGKILL);
    d.wait_exit();
    let _ = std::io::copy(&mut out, &mut std::io::sink());
    let mut err = String::new();
    ctl.stderr.take().expect("stderr").read_to_string(&mut err).expect("stderr");
    assert_eq!(ctl.wait().expect("ends").code(), Some(2), "{err}");
    assert!(err.contains("taskmaster went away"), "{err}");
}

#[test]
fn a_client_that_half_closes_then_leaves_is_let_go() {
    // Quiet after its first line: no failed write tells taskmaster the client is gone.
    let d = Daemon::start("  quiet:\n    cmd: sh -c 'echo once; exec sleep 1000'\n");
    d.wait_state("quiet", "RUNNING");
    let baseline = usage(d.pid()).fds;
    for _ in 0..30 {
        let mut stream = UnixStream::connect(d.socket()).expect("connect");
        stream.write_all(b"{\"command\":\"tail\",\"args\":[\"-f\",\"quiet\"]}\n").expect("send");
        stream.shutdown(std::net::Shutdown::Write).expect("half-close");
        let mut reader = BufReader::new(stream);
        let mut answer = String::new();
        reader.read_line(&mut answer).expect("the answer");
        assert!(answer.contains("once"), "{answer}");
    }
    wait_until("every connection closed", || (usage(d.pid()).fds <= baseline).then_some(()));
}

#[test]
fn a_replay_asks_nothing_and_puts_a_full_screen_program_on_its_screen() {
    let programs = "  asker:\n    cmd: sh -c 'printf \"before\\\\033[6nafter\\\\n\"; exec cat'\n    tty: true\n  \
                    full:\n    cmd: sh -c 'printf \"\\\\033[?1049h\"; seq 1 50; exec cat'\n    tty: true\n";
    let d = Daemon::start(programs);
    d.wait_state("asker", "RUNNING");
    wait_until("asker's line", || {
        d.call("tail", &["asker"])["output"].as_str()?.contains("after").then_some(())
    });
    let (_, mut stream) = open_stream(&d, "attach", &["asker"]);
    let seen = read_until(&mut stream, "after");
    assert!(seen.contains("beforeafter") && !seen.contains("\u{1b}[6n"), "{seen:?}");
    wait_until("full's lines", || {
        d.call("tail", &["-n", "1", "full"])["output"].as_str()?.contains("50").then_some(())
    });
    let (answer, mut stream) = open_stream(&d, "attach", &["full"]);
    assert_eq!(answer["data"]["alternate_screen"], true, "{answer}");
    let seen = read_until(&mut stream, "50");
    assert!(seen.starts_with("\u{1b}[?1049h"), "the viewer goes to the alternate screen first: {seen:?}");
}

#[test]
fn a_process_renamed_by_a_reload_keeps_its_output_and_its_followers() {
    let web = |n: u32| {
        format!(
            "  web:\n    cmd: sh -c 'i=0; while :; do i=$((i+1)); echo \"line $i\"; sleep 0.1; done'\n    numprocs: {n}\n"
        )
    };
    let d = Daemon::start(&web(1));
    d.wait_state("web", "RUNNING");
    let (_, mut stream) = open_stream(&d, "tail", &["-f", "web"]);
    read_until(&mut stream, "line");
    std::fs::write(&d.config, Daemon::yaml("", &web(2))).expect("the new file");
    assert_eq!(d.call("reload", &[])["ok"], true);
    // `web` is now `web:web_00`, the same process: its tail and its follower went with it.
    let mut seen = String::new();
    while seen.matches("line").count() < 20 {
        seen.push_str(&read_until(&mut stream, "\n"));
    }
    assert!(!seen.contains("no longer"), "{}", last(seen.as_bytes()));
    let lines = d.call("tail", &["-n", "40", "web:web_00"])["data"]["lines"].clone();
    assert!(lines.as_array().is_some_and(|l| l.iter().any(|l| l == "line 2")), "{lines}");
}
