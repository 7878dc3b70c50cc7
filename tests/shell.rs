//! The interactive shell in a real terminal (tmux): prompt, status, completion, history, events
//! above a half-typed line, Ctrl-C, Ctrl-D, quit, and taskmasterctl's shell.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::tmux::Tmux;
use common::*;

const PROGRAMS: &str = "  worker:\n    cmd: sleep 1000\n    numprocs: 2\n    starttime: 0\n  \
                        solo:\n    cmd: sleep 1000\n    starttime: 0\n    autorestart: always\n";

/// taskmaster in a terminal; the pane reports how it ended and the terminal's modes after.
struct Session<'a> {
    dir: &'a TempDir,
    tmux: Tmux,
}

impl<'a> Session<'a> {
    fn start(dir: &'a TempDir, programs: &str) -> Session<'a> {
        Session::start_in(dir, programs, "")
    }

    fn start_in(dir: &'a TempDir, programs: &str, env: &str) -> Session<'a> {
        let settings = format!("  history: {}\n", dir.join("history").display());
        let yaml = Daemon::yaml(&settings, programs).replace("  history: null\n", "");
        let config = dir.write("taskmaster.yaml", &yaml);
        let command = format!(
            "set -m; cd {}; {env} {TASKMASTER} -c {}; echo \"EXIT $?\"; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?icanon\\|-\\?echo' | tr '\\n' ' '; exec sleep 1000",
            dir.path().display(),
            config.display()
        );
        let tmux = Tmux::start(&command);
        tmux.wait_for("taskmaster>");
        Session { dir, tmux }
    }

    fn log(&self) -> String {
        self.dir.read("tm.log")
    }

    fn pid_of(&self, name: &str) -> i32 {
        let log = self.log();
        let line =
            log.lines().rev().find(|l| l.contains(&format!("spawned: '{name}' with pid"))).expect("spawned");
        line.rsplit(' ').next().and_then(|p| p.parse().ok()).expect("a pid")
    }

    /// Ends the session with Ctrl-D and waits for taskmaster's exit line.
    fn quit(&self) -> String {
        self.tmux.keys(&["C-d"]);
        self.tmux.wait_for("EXIT ")
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- screen ----\n{}\n---- log ----\n{}", self.tmux.screen(), self.log());
        }
        let pids: Vec<i32> =
            self.log().lines().filter_map(|l| l.split("' with pid ").nth(1)?.trim().parse().ok()).collect();
        // An empty line first: Ctrl-D is the end of input only on an empty line.
        self.tmux.keys(&["C-g", "C-u", "C-d"]);
        let _ = wait_until_quiet(|| self.tmux.screen().contains("EXIT "));
        for pid in pids {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}

/// Like `wait_until`, without panicking (for clean-up).
fn wait_until_quiet(check: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < PATIENCE {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

#[test]
fn the_prompt_and_a_coloured_status() {
    let dir = TempDir::new("sh");
    let s = Session::start(&dir, PROGRAMS);
    wait_until("RUNNING", || s.log().contains("success: solo").then_some(()));
    s.tmux.text("status");
    s.tmux.keys(&["Enter"]);
    // The last row of the answer (the log named the worker already), then the prompt again.
    let screen = s.tmux.wait("the answer and the prompt", |screen| {
        screen.contains("worker:worker_01                 RUNNING")
            && screen.lines().last().is_some_and(|l| l.starts_with("taskmaster>"))
    });
    assert!(screen.contains("solo                             RUNNING   pid "), "{screen}");
    let coloured = s.tmux.screen_with(true);
    assert!(coloured.contains("\x1b[32mRUNNING"), "RUNNING is green:\n{coloured}");
}

#[test]
fn no_color_turns_colours_off() {
    let dir = TempDir::new("nc");
    let s = Session::start_in(&dir, PROGRAMS, "NO_COLOR=1");
    s.tmux.text("status solo");
    s.tmux.keys(&["Enter"]);
    s.tmux.wait_for("solo                             ");
    assert!(!s.tmux.screen_with(true).contains("\x1b[32m"));
}

#[test]
fn tab_completes_commands_and_program_names() {
    let dir = TempDir::new("sh");
    let s = Session::start(&dir, PROGRAMS);
    s.tmux.text("resta");
    s.tmux.keys(&["Tab"]);
    s.tmux.wait("the command completed", |screen| screen.contains("taskmaster> restart"));
    s.tmux.text("wor");
    s.tmux.keys(&["Tab"]);
    s.tmux.wait_for("taskmaster> restart worker");
    s.tmux.keys(&["C-u"]);
    s.tmux.text("signal US");
    s.tmux.keys(&["Tab", "Tab"]);
    let screen = s.tmux.wait_for("USR2");
    assert!(screen.contains("USR1"), "{screen}");
}

#[test]
fn history_survives_a_restart_without_duplicates_or_blanks() {
    let dir = TempDir::new("hist");
    {
        let s = Session::start(&dir, PROGRAMS);
        for line in ["pid", "status solo", "", "pid"] {
            s.tmux.text(line);
            s.tmux.keys(&["Enter"]);
        }
        s.tmux.wait("the answers", |screen| screen.matches("taskmaster>").count() >= 5);
        s.quit();
    }
    let saved = dir.read("history");
    let lines: Vec<&str> = saved.lines().collect();
    assert_eq!(lines, ["status solo", "pid"], "no duplicates, no blank lines");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("history")).expect("history").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the history is private");
    let s = Session::start(&dir, PROGRAMS);
    // Ctrl-R searches the history; Ctrl-G leaves the search.
    s.tmux.keys(&["C-r"]);
    s.tmux.text("sol");
    s.tmux.wait_for("`sol': status solo");
    s.tmux.keys(&["C-g"]);
    s.tmux.wait("the search to end", |screen| screen.lines().last() == Some("taskmaster>"));
    s.tmux.keys(&["Up"]);
    s.tmux.wait_for("taskmaster> pid");
    s.tmux.keys(&["Up"]);
    s.tmux.wait_for("taskmaster> status solo");
}

#[test]
fn an_event_above_a_half_typed_line_leaves_the_line_intact() {
    let dir = TempDir::new("sh");
    let s = Session::start(&dir, PROGRAMS);
    wait_until("solo running", || s.log().contains("success: solo").then_some(()));
    s.tmux.text("restart wor");
    s.tmux.wait_for("taskmaster> restart wor");
    let pid = s.pid_of("solo");
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
    let screen = s.tmux.wait_for("exited: solo (terminated by SIGKILL; not expected)");
    s.tmux.wait("the prompt redrawn", |screen| screen.lines().last() == Some("taskmaster> restart wor"));
    assert!(screen.lines().any(|l| l.contains("spawned: 'solo'")) || s.log().contains("spawned: 'solo'"));
    s.tmux.text("ker:worker_00");
    s.tmux.keys(&["Enter"]);
    s.tmux.wait_for("worker:worker_00: started");
}

#[test]
fn ctrl_c_clears_the_line_and_never_reaches_the_children() {
    let dir = TempDir::new("sh");
    let s = Session::start(&dir, PROGRAMS);
    wait_until("solo running", || s.log().contains("success: solo").then_some(()));
    let pids = [s.pid_of("solo"), s.pid_of("worker:worker_00")];
    s.tmux.text("stop all");
    s.tmux.keys(&["C-c"]);
    s.tmux.wait("the line cleared", |screen| screen.lines().last() == Some("taskmaster>"));
    s.tmux.text("pid solo");
    s.tmux.keys(&["Enter"]);
    s.tmux.wait_for(&pids[0].to_string());
    assert!(pids.iter().all(|p| alive(*p)), "children untouched");
    assert!(!s.log().contains("stopped:"));
}

#[test]
fn ctrl_c_abandons_a_wait_but_not_the_operation() {
    let dir = TempDir::new("sh");
    let s = Session::start(&dir, "  slow:\n    cmd: sleep 1000\n    autostart: false\n    starttime: 3\n");
    s.tmux.text("start slow");
    s.tmux.keys(&["Enter"]);
    wait_until("the spawn", || s.log().contains("spawned: 'slow'").then_some(()));
    s.tmux.keys(&["C-c"]);
    s.tmux.wait_for("no longer waiting");
    s.tmux.wait("a new prompt", |screen| screen.lines().last() == Some("taskmaster>"));
    wait_until("slow to get RUNNING all the same", || s.log().contains("success: slow").then_some(()));
}

#[test]
fn ctrl_d_shuts_down_and_restores_the_terminal() {
    let dir = TempDir::new("sh");
    let s = Session::start(&dir, PROGRAMS);
    wait_until("solo running", || s.log().contains("success: solo").then_some(()));
    let pids = [s.pid_of("solo"), s.pid_of("worker:worker_00"), s.pid_of("worker:worker_01")];
    let screen = s.quit();
    assert!(screen.contains("EXIT 0"), "{screen}");
    assert!(pids.iter().all(|p| !alive(*p)), "no process left behind");
    let modes = s.tmux.wait_for("icanon");
    let modes = modes.lines().last().unwrap_or_default();
    assert_eq!(modes.trim(), "icanon echo", "canonical mode and echo are back");
}

#[test]
fn quit_shuts_down_too() {
    let dir = TempDir::new("sh");
    let s = Session::start(&dir, PROGRAMS);
    wait_until("solo running", || s.log().contains("success: solo").then_some(()));
    let pid = s.pid_of("solo");
    s.tmux.text("quit");
    s.tmux.keys(&["Enter"]);
    s.tmux.wait_for("EXIT 0");
    assert!(!alive(pid));
    assert!(s.log().contains("shutdown complete"));
}

#[test]
fn a_resize_keeps_the_line() {
    let dir = TempDir::new("sh");
    let s = Session::start(&dir, PROGRAMS);
    s.tmux.text("status worker:worker_01");
    s.tmux.resize(60);
    s.tmux.wait("the line after a resize", |screen| {
        screen.lines().last() == Some("taskmaster> status worker:worker_01")
    });
    // Redrawn in place: no copy of the prompt is left behind.
    s.tmux.resize(100);
    let screen = s.tmux.wait("the line after a second resize", |screen| {
        screen.lines().last() == Some("taskmaster> status worker:worker_01")
    });
    assert_eq!(screen.matches("taskmaster>").count(), 1, "{screen}");
    s.tmux.keys(&["Enter"]);
    s.tmux.wait_for("worker:worker_01                 ");
}

#[test]
fn closing_the_terminal_shuts_taskmaster_down() {
    let dir = TempDir::new("hup");
    let yaml = Daemon::yaml("", PROGRAMS);
    let config = dir.write("taskmaster.yaml", &yaml);
    let tmux = Tmux::start(&format!("{TASKMASTER} -c {}", config.display()));
    tmux.wait_for("taskmaster>");
    wait_until("solo running", || dir.read("tm.log").contains("success: solo").then_some(()));
    drop(tmux);
    wait_until("shutdown", || dir.read("tm.log").contains("shutdown complete").then_some(()));
    let log = dir.read("tm.log");
    assert!(log.contains("received SIGHUP, shutting down"), "{log}");
    assert!(!log.contains("killing"), "gracefully: {log}");
}

/// The command that runs taskmasterctl's shell against `d` in a terminal, then says its status.
fn ctl_in_a_terminal(d: &Daemon) -> String {
    format!("{TASKMASTERCTL} -s {}; echo \"CTL $?\"; exec sleep 1000", d.socket().display())
}

#[test]
fn taskmasterctl_opens_the_same_shell_and_quit_leaves_only_the_client() {
    let mut d = Daemon::start(PROGRAMS);
    d.wait_state("solo", "RUNNING");
    let command = ctl_in_a_terminal(&d);
    let tmux = Tmux::start(&command);
    let screen = tmux.wait_for("taskmasterctl>");
    assert!(screen.contains("solo                             RUNNING"), "status first:\n{screen}");
    tmux.text("stop wor");
    tmux.keys(&["Tab"]);
    tmux.wait_for("taskmasterctl> stop worker");
    tmux.keys(&["Enter"]);
    tmux.wait_for("worker:worker_01: stopped");
    tmux.text("quit");
    tmux.keys(&["Enter"]);
    tmux.wait_for("CTL 0");
    assert_eq!(d.state("solo"), "RUNNING", "the daemon goes on");

    let tmux = Tmux::start(&command);
    tmux.wait_for("taskmasterctl>");
    d.signal(Signal::SIGTERM);
    d.wait_exit();
    let screen = tmux.wait_for("CTL 2");
    assert!(screen.contains("taskmaster went away"), "{screen}");
}

#[test]
fn shutdown_from_taskmasterctls_shell_is_answered_and_leaves_it_cleanly() {
    let mut d = Daemon::start(PROGRAMS);
    d.wait_state("solo", "RUNNING");
    let command = ctl_in_a_terminal(&d);
    let tmux = Tmux::start(&command);
    tmux.wait_for("taskmasterctl>");
    tmux.text("shutdown");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("CTL ");
    assert!(screen.contains("Shut down\nCTL 0"), "{screen}");
    assert!(!screen.contains("went away"), "{screen}");
    d.wait_exit();
}

#[test]
fn taskmasterctl_runs_lines_typed_ahead_in_order() {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("solo", "RUNNING");
    let command = ctl_in_a_terminal(&d);
    let tmux = Tmux::start(&command);
    tmux.wait_for("taskmasterctl>");
    // Three lines at once, the first of which waits for its answer.
    tmux.text("stop solo\rstatus solo\rquit\r");
    let screen = tmux.wait_for("CTL 0");
    let stopped = screen.find("solo: stopped").expect("the stop answered");
    let status = screen.find("solo                             STOPPED").expect("then the status");
    assert!(stopped < status, "{screen}");
}

#[test]
fn a_history_file_that_is_a_fifo_never_blocks_taskmaster() {
    let dir = TempDir::new("hfifo");
    nix::unistd::mkfifo(&dir.join("history"), nix::sys::stat::Mode::from_bits_truncate(0o600))
        .expect("mkfifo");
    // Started with it (reading it would block), then typed at (writing it would).
    let s = Session::start(&dir, PROGRAMS);
    s.tmux.text("pid");
    s.tmux.keys(&["Enter"]);
    s.tmux.wait_for("cannot save the history in");
    s.tmux.text("status solo");
    s.tmux.keys(&["Enter"]);
    s.tmux.wait_for("solo                             RUNNING");
    let screen = s.quit();
    assert!(screen.contains("EXIT 0"), "{screen}");
}

/// Continues a stopped process when dropped, so that a failing test leaves no terminal stopped.
struct Stopped(Pid);

impl Stopped {
    fn stop(pid: i32) -> Stopped {
        kill(Pid::from_raw(pid), Signal::SIGSTOP).expect("stop");
        Stopped(Pid::from_raw(pid))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGCONT);
    }
}

/// A command's answer over the socket, or a panic if none comes within the patience.
fn answer_within(socket: &std::path::Path, command: &str, args: &[&str]) -> serde_json::Value {
    use std::io::{BufRead, BufReader, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    writeln!(stream, "{}", serde_json::json!({"command": command, "args": args})).expect("send");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap_or_else(|e| panic!("no answer to {command}: {e}"));
    serde_json::from_str(&line).expect("json")
}

/// Once the 200 processes of `many` run, stops the terminal (as a stalled ssh session or Ctrl-S
/// would) while taskmaster has far more to print than it takes: every stop and start of them
/// is a line on the console. Every command must still be answered.
fn stop_and_start_while_stalled(tmux: &Tmux, socket: &std::path::Path) {
    wait_until("200 running", || {
        std::os::unix::net::UnixStream::connect(socket).ok()?;
        let status = answer_within(socket, "status", &[]);
        let running = status["data"].as_array()?.iter().filter(|p| p["state"] == "RUNNING").count();
        (running == 200).then_some(())
    });
    let _stopped = Stopped::stop(tmux.server_pid());
    for _ in 0..4 {
        assert_eq!(answer_within(socket, "stop", &["many"])["ok"], true);
        assert_eq!(answer_within(socket, "start", &["many"])["ok"], true);
    }
}

#[test]
fn a_terminal_that_stops_reading_never_stops_supervision() {
    let dir = TempDir::new("stalled");
    let s = Session::start(&dir, "  many:\n    cmd: sleep 1000\n    numprocs: 200\n    starttime: 0\n");
    stop_and_start_while_stalled(&s.tmux, &dir.join("tm.sock"));
    let log = s.log();
    assert!(log.matches("stopped: many:many_199").count() >= 4, "the log has it all");
    // The terminal catches up, and the shell works.
    s.tmux.text("status many:many_199");
    s.tmux.keys(&["Enter"]);
    s.tmux.wait_for("many:many_199                    RUNNING");
    let screen = s.quit();
    assert!(screen.contains("EXIT 0"), "{screen}");
}

/// taskmaster without its shell (`--no-shell`) in a terminal: the log on the console only.
struct Plain<'a> {
    dir: &'a TempDir,
    tmux: Tmux,
}

impl Plain<'_> {
    fn daemon_pid(&self) -> i32 {
        daemon_pid(self.dir)
    }
}

/// taskmaster's pid, from its log.
fn daemon_pid(dir: &TempDir) -> i32 {
    let log = dir.read("tm.log");
    let line = log.lines().find(|l| l.contains("taskmaster started with pid")).expect("started");
    line.rsplit(' ').next().and_then(|p| p.parse().ok()).expect("a pid")
}

impl Drop for Plain<'_> {
    fn drop(&mut self) {
        // SIGTERM stops every program, then taskmaster.
        let _ = kill(Pid::from_raw(self.daemon_pid()), Signal::SIGTERM);
        let _ = wait_until_quiet(|| self.tmux.screen().contains("EXIT "));
    }
}

#[test]
fn without_the_shell_a_terminal_that_stops_reading_never_stops_supervision() {
    let dir = TempDir::new("stalled-plain");
    let programs = "  many:\n    cmd: sleep 1000\n    numprocs: 200\n    starttime: 0\n";
    let config = dir.write("taskmaster.yaml", &Daemon::yaml("", programs));
    let command = format!(
        "cd {}; {TASKMASTER} --no-shell -c {}; echo \"EXIT $?\"; exec sleep 1000",
        dir.path().display(),
        config.display()
    );
    let plain = Plain { dir: &dir, tmux: Tmux::start(&command) };
    stop_and_start_while_stalled(&plain.tmux, &dir.join("tm.sock"));
    // The terminal catches up with every line.
    kill(Pid::from_raw(plain.daemon_pid()), Signal::SIGTERM).expect("term");
    let screen = plain.tmux.wait_for("EXIT 0");
    assert!(screen.contains("shutdown complete"), "{screen}");
}

#[test]
fn a_pasted_line_too_long_for_a_command_is_dropped_and_the_shell_goes_on() {
    let dir = TempDir::new("sh");
    let s = Session::start(&dir, PROGRAMS);
    // Long enough to hold taskmaster for minutes if the editor took it all.
    s.tmux.paste(format!("status {}\rstatus solo\r", "x".repeat(200_000)));
    s.tmux.wait_for("(a line longer than 4096 bytes: dropped up to its end)");
    s.tmux.wait_for("solo                             RUNNING");
    assert!(!s.tmux.screen().contains("xxxx"), "the long line is gone from the screen");
    assert!(!s.log().contains("xxxx"), "and nothing ran it");
    s.tmux.text("status worker:worker_01");
    s.tmux.keys(&["Enter"]);
    s.tmux.wait_for("worker:worker_01                 RUNNING");
    // Bytes that are not text (a Latin-1 paste, an 8-bit Meta key) are no reason to leave.
    s.tmux.paste(b"\xff\xfe st\xe9\r".as_slice());
    s.tmux.paste("status worker:worker_00\r");
    s.tmux.wait_for("worker:worker_00                 RUNNING");
    // Nor are yanks, which would make a line of gigabytes from a few keys: Ctrl-Y is off.
    s.tmux.paste("x".repeat(3000));
    s.tmux.keys(&["C-u"]);
    s.tmux.paste(format!("{}status solo\r", "\u{19}".repeat(4000)));
    s.tmux.wait("the answer after the yanks", |screen| {
        screen.rsplit("worker:worker_00").next().is_some_and(|after| after.contains("solo      "))
    });
    assert!(!s.log().contains("shutting down"), "{}", s.log());
}

#[test]
fn ctrl_z_does_not_suspend_and_a_stop_and_continue_gives_the_shell_its_mode_back() {
    let dir = TempDir::new("sh");
    let s = Session::start(&dir, PROGRAMS);
    let daemon = Pid::from_raw(daemon_pid(&dir));
    s.tmux.keys(&["C-z"]);
    s.tmux.text("status solo");
    s.tmux.keys(&["Enter"]);
    s.tmux.wait_for("solo                             RUNNING");
    assert_eq!(stat_fields(daemon.as_raw())[0], "S", "not stopped");

    // After a stop, the shell that ran taskmaster has put the terminal back in its own mode;
    // the SIGCONT that continues taskmaster is what it hears.
    let sane =
        std::process::Command::new("stty").args(["-F", &s.tmux.pane_tty(), "sane"]).status().expect("stty");
    assert!(sane.success());
    kill(daemon, Signal::SIGCONT).expect("continue");
    // No echo from the terminal (the line shows once) and keys reach the editor (Tab completes).
    s.tmux.text("status wor");
    s.tmux.keys(&["Tab"]);
    s.tmux.wait("the completed line", |screen| screen.lines().last() == Some("taskmaster> status worker"));
    s.tmux.keys(&["C-u"]);
    let screen = s.quit();
    assert!(!screen.contains("status wor\n"), "no echo of the typed keys: {screen}");
    assert!(screen.contains("EXIT 0"), "{screen}");
}

#[test]
fn taskmasterctls_tab_knows_the_programs_of_a_reload_made_elsewhere() {
    let d = Daemon::start(PROGRAMS);
    d.wait_state("solo", "RUNNING");
    let tmux = Tmux::start(&ctl_in_a_terminal(&d));
    tmux.wait_for("taskmasterctl>");
    let added =
        Daemon::yaml("", &format!("{PROGRAMS}  newcomer:\n    cmd: sleep 1000\n    autostart: false\n"));
    std::fs::write(&d.config, added).expect("edit the configuration");
    assert_eq!(d.call("reload", &[])["ok"], true);
    tmux.text("start newc");
    tmux.keys(&["Tab"]);
    tmux.wait_for("taskmasterctl> start newcomer");
    tmux.keys(&["C-u"]);
    tmux.text("quit");
    tmux.keys(&["Enter"]);
    tmux.wait_for("CTL 0");
}

#[test]
fn continued_in_the_background_taskmaster_supervises_and_fg_gives_its_shell_back() {
    let dir = TempDir::new("bg");
    let settings = format!("  history: {}\n", dir.join("history").display());
    let yaml = Daemon::yaml(&settings, PROGRAMS).replace("  history: null\n", "");
    let config = dir.write("taskmaster.yaml", &yaml);
    let (tmux, daemon, _ended) = stopped_in_bash(&dir, &config);
    // Continued, but the terminal stays the shell's.
    kill(daemon, Signal::SIGCONT).expect("continue");
    let socket = dir.join("tm.sock");
    assert_eq!(answer_within(&socket, "status", &["solo"])["ok"], true, "supervising in the background");
    assert_ne!(stat_fields(daemon.as_raw())[0], "T", "not stopped again");
    // A log line in the background comes as a plain line, with no prompt of its own.
    assert_eq!(answer_within(&socket, "stop", &["solo"])["ok"], true);
    let screen = tmux.wait_for("stopped: solo");
    let after_the_stop = screen.rsplit("Stopped").next().unwrap_or_default();
    assert!(!after_the_stop.contains("taskmaster>"), "{screen}");
    assert_eq!(answer_within(&socket, "start", &["solo"])["ok"], true);
    tmux.text("fg");
    tmux.keys(&["Enter"]);
    // Back in front: the prompt is drawn again, and keys reach the editor unechoed.
    tmux.wait("the prompt after fg", |screen| {
        screen.rsplit("fg\n").next().is_some_and(|a| a.contains("taskmaster>"))
    });
    tmux.text("status solo");
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("solo                             RUNNING");
    assert_eq!(screen.matches("status solo").count(), 1, "{screen}");
    tmux.keys(&["C-d"]);
    tmux.wait_for("shutdown complete");
}

#[test]
fn shut_down_in_the_background_taskmaster_ends_and_leaves_the_terminal_to_the_shell() {
    let dir = TempDir::new("bgend");
    let config = dir.write("taskmaster.yaml", &Daemon::yaml("", PROGRAMS));
    let (tmux, daemon, _ended) = stopped_in_bash(&dir, &config);
    tmux.text("bg");
    tmux.keys(&["Enter"]);
    tmux.wait_for("&");
    // The way out does not touch the terminal's mode, which would stop it (SIGTTOU) for good.
    assert_eq!(answer_within(&dir.join("tm.sock"), "shutdown", &[])["ok"], true);
    wait_until("taskmaster ended", || {
        (!std::path::Path::new(&format!("/proc/{daemon}")).exists()).then_some(())
    });
    // The shell, its mode intact, still echoes what is typed.
    tmux.text("echo back");
    tmux.keys(&["Enter"]);
    tmux.wait_for("\nback");
}

/// taskmaster on `config`, run from a shell with job control as a person runs it, then
/// stopped (the shell says so and takes its terminal back).
fn stopped_in_bash(dir: &TempDir, config: &std::path::Path) -> (Tmux, Pid, Ended) {
    let tmux = Tmux::start("PS1='$ ' exec bash --norc --noprofile -i");
    tmux.wait_for("$");
    tmux.text(&format!("cd {}; {TASKMASTER} -c {}", dir.path().display(), config.display()));
    tmux.keys(&["Enter"]);
    tmux.wait_for("taskmaster>");
    let daemon = Pid::from_raw(daemon_pid(dir));
    let ended = Ended(daemon);
    kill(daemon, Signal::SIGSTOP).expect("stop");
    tmux.wait_for("Stopped");
    (tmux, daemon, ended)
}

/// Ends taskmaster (and so its programs) however a test left it, stopped or not.
struct Ended(Pid);

impl Drop for Ended {
    fn drop(&mut self) {
        let _ = kill(self.0, Signal::SIGTERM);
        let _ = kill(self.0, Signal::SIGCONT);
        let _ = wait_until_quiet(|| !alive(self.0.as_raw()));
    }
}
