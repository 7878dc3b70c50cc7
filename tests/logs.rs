//! Child logs and the main log under an outside rotation (taskmaster(1), COMMANDS `reopen`,
//! SIGNALS SIGUSR2): after `mv`, `reopen` sends what comes next to a new file at the configured
//! path, and nothing is lost or written twice across the two.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;

const TALKER: &str = "  talker:\n    cmd: sh -c 'i=0; while :; do i=$((i+1)); echo \"line $i\"; sleep 0.01; done'\n    stdout: out.log\n";

/// The numbers of `line N`, in the order written.
fn numbers(text: &str) -> Vec<u64> {
    text.lines().filter_map(|l| l.strip_prefix("line ")?.parse().ok()).collect()
}

fn rotate_with(rotate: impl Fn(&Daemon)) {
    let d = Daemon::start(TALKER);
    wait_until("some lines", || (numbers(&d.dir.read("out.log")).len() > 20).then_some(()));
    std::fs::rename(d.dir.join("out.log"), d.dir.join("out.log.1")).expect("mv");
    std::fs::rename(d.dir.join("tm.log"), d.dir.join("tm.log.1")).expect("mv the main log");
    rotate(&d);
    wait_until("lines in the new file", || (numbers(&d.dir.read("out.log")).len() > 20).then_some(()));
    let stopped = d.ctl(&["stop", "talker"]);
    assert_eq!(stopped.status.code(), Some(0), "{}", stdout(&stopped));
    let all: Vec<u64> =
        numbers(&d.dir.read("out.log.1")).into_iter().chain(numbers(&d.dir.read("out.log"))).collect();
    let expected: Vec<u64> = (1..=all.len() as u64).collect();
    assert_eq!(all, expected, "every line once, in order, across the two files");
    // The main log goes on in a new file too.
    wait_until("the stop in the new main log", || {
        d.dir.read("tm.log").contains("stopped: talker").then_some(())
    });
    assert!(!d.dir.read("tm.log.1").contains("stopped: talker"));
}

#[test]
fn reopen_after_mv_loses_nothing() {
    rotate_with(|d| {
        let out = d.ctl(&["reopen"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(stdout(&out).trim(), "the log files were reopened");
    });
}

#[test]
fn sigusr2_after_mv_loses_nothing() {
    rotate_with(|d| d.signal(Signal::SIGUSR2));
}

#[test]
fn a_file_that_cannot_be_opened_again_is_named() {
    let d = Daemon::start(TALKER);
    d.wait_state("talker", "RUNNING");
    let pid = d.pid_of("talker");
    // A folder where the file was: it cannot be opened for appending.
    std::fs::remove_file(d.dir.join("out.log")).expect("rm");
    std::fs::create_dir(d.dir.join("out.log")).expect("a folder in its place");
    let out = d.ctl(&["reopen"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("out.log"), "{}", stdout(&out));
    assert_eq!((d.state("talker").as_str(), d.pid_of("talker")), ("RUNNING", pid), "the program runs on");
}

/// The files of a rotated log, oldest first: `out.log.N` … `out.log.1`, `out.log`.
fn rotated(d: &Daemon, name: &str, backups: u32) -> Vec<(String, String)> {
    let mut files: Vec<String> = (1..=backups).rev().map(|n| format!("{name}.{n}")).collect();
    files.push(name.to_string());
    files
        .into_iter()
        .filter(|f| d.dir.join(f).exists())
        .map(|f| (d.dir.read(&f), f))
        .map(|(t, f)| (f, t))
        .collect()
}

/// A program that writes `line 1` … `line N` as fast as a pipe takes them, then exits.
fn counter(n: u32, stdout: &str) -> String {
    format!(
        "  counter:\n    cmd: seq -f 'line %.0f' {n}\n    autorestart: never\n    starttime: 0\n    stdout:\n{stdout}"
    )
}

/// Every file holds whole lines, within `maxbytes` (a line longer gets a file of its own), and
/// together they hold the last lines written, each once and in order, up to `last`.
fn assert_rotated_whole(
    files: &[(String, String)],
    maxbytes: usize,
    last: u64,
    line_of: impl Fn(&str) -> Option<u64>,
) {
    let mut numbers = Vec::new();
    for (file, text) in files {
        assert!(text.len() <= maxbytes, "{file} holds {} bytes, more than {maxbytes}", text.len());
        assert!(text.is_empty() || text.ends_with('\n'), "{file} ends inside a line");
        for line in text.lines() {
            numbers.push(line_of(line).unwrap_or_else(|| panic!("{file}: `{line}` is not a whole line")));
        }
    }
    let first = last + 1 - numbers.len() as u64;
    let expected: Vec<u64> = (first..=last).collect();
    assert_eq!(numbers, expected, "the last lines, each once, in order");
}

fn number_of(line: &str) -> Option<u64> {
    line.strip_prefix("line ")?.parse().ok()
}

#[test]
fn rotation_keeps_whole_lines_and_the_backups_asked() {
    let d = Daemon::start(&counter(200_000, "      path: out.log\n      maxbytes: 64KB\n      backups: 3\n"));
    d.wait_state("counter", "EXITED");
    let files = rotated(&d, "out.log", 5);
    assert_eq!(
        files.len(),
        4,
        "the file and 3 backups: {:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert_rotated_whole(&files, 64_000, 200_000, number_of);
}

#[test]
fn rotation_with_timestamps_stamps_every_line_once() {
    let settings = "      path: out.log\n      maxbytes: 64KB\n      backups: 3\n      timestamps: true\n";
    let d = Daemon::start(&counter(100_000, settings));
    d.wait_state("counter", "EXITED");
    let files = rotated(&d, "out.log", 5);
    assert_eq!(files.len(), 4);
    let stamped = |line: &str| {
        let (stamp, rest) = line.split_at_checked(25)?;
        let b = stamp.as_bytes();
        let shape = b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && &stamp[23..] == "Z ";
        let digits = [0..4, 5..7, 8..10, 11..13, 14..16, 17..19, 20..23]
            .into_iter()
            .all(|r| b[r].iter().all(u8::is_ascii_digit));
        (shape && digits).then(|| number_of(rest))?
    };
    assert_rotated_whole(&files, 64_000, 100_000, stamped);
}

#[test]
fn stderr_to_stdout_keeps_the_order_of_the_two() {
    let cmd = "sh -c 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo \"out $i\"; echo \"err $i\" >&2; done'";
    let d = Daemon::start(&format!(
        "  both:\n    cmd: {cmd}\n    autorestart: never\n    starttime: 0\n    stdout: both.log\n    stderr: stdout\n"
    ));
    d.wait_state("both", "EXITED");
    let expected: Vec<String> = (1..=3000).flat_map(|i| [format!("out {i}"), format!("err {i}")]).collect();
    assert_eq!(d.dir.read("both.log").lines().collect::<Vec<_>>(), expected);
    // One pipe: what `tail` shows of stdout has both.
    let tail = d.call("tail", &["both", "stdout"]);
    assert!(tail.to_string().contains("err 3000"), "{tail}");
}

#[test]
fn syslog_gets_each_line_tagged_at_its_severity() {
    let dir = TempDir::new("syslog");
    let socket = dir.join("log.sock");
    let listener = std::os::unix::net::UnixDatagram::bind(&socket).expect("a syslog socket");
    listener.set_read_timeout(Some(std::time::Duration::from_millis(200))).expect("timeout");
    let settings = format!("  syslog_address: {}\n", socket.display());
    let cmd = "sh -c 'echo hello out; echo hello err >&2; printf \"no end\"; exec sleep 1000'";
    let d = Daemon::start_with(
        &settings,
        &format!("  chatty:\n    cmd: {cmd}\n    stdout: syslog\n    stderr: syslog\n"),
        &["--no-shell"],
    );
    let pid = d.wait_state("chatty", "RUNNING")["pid"].as_i64().expect("pid");
    let mut got = Vec::new();
    wait_until("three syslog messages", || {
        let mut buf = [0u8; 4096];
        if let Ok(n) = listener.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        (got.len() >= 3).then_some(())
    });
    let find =
        |text: &str| got.iter().find(|m| m.ends_with(text)).unwrap_or_else(|| panic!("{text} in {got:?}"));
    // daemon (3) × 8 + info (6) = 30; + warning (4) = 28.
    let out = find(&format!("chatty[{pid}]: hello out"));
    assert!(out.starts_with("<30>"), "{out}");
    assert!(find(&format!("chatty[{pid}]: hello err")).starts_with("<28>"));
    // The line without an end goes after its second of waiting.
    assert!(find(&format!("chatty[{pid}]: no end")).starts_with("<30>"));
}

#[test]
fn the_main_log_rotates_between_lines() {
    let d = Daemon::start_with(
        "  logfile_maxbytes: 1KB\n  logfile_backups: 2\n",
        "  blink:\n    cmd: 'true'\n    numprocs: 40\n    starttime: 0\n    autorestart: always\n",
        &["--no-shell"],
    );
    wait_until("two backups of the main log", || d.dir.join("tm.log.2").exists().then_some(()));
    let stop = d.ctl(&["stop", "blink"]);
    assert_eq!(stop.status.code(), Some(0), "{}", stdout(&stop));
    assert!(!d.dir.join("tm.log.3").exists(), "at most 2 backups");
    for file in ["tm.log.2", "tm.log.1", "tm.log"] {
        let text = d.dir.read(file);
        assert!(text.len() <= 1000 && text.ends_with('\n'), "{file}: {} bytes", text.len());
        for line in text.lines() {
            let shape = line.as_bytes().get(19) == Some(&b',') && line.as_bytes()[4] == b'-';
            assert!(shape, "{file}: `{line}` is not a whole log line");
        }
    }
}

#[test]
fn a_partial_line_is_written_after_a_second_with_its_stamp() {
    let cmd = "sh -c 'printf \"Login> \"; sleep 1000'";
    let d = Daemon::start(&format!(
        "  prompt:\n    cmd: {cmd}\n    stdout: {{path: out.log, timestamps: true}}\n"
    ));
    let text = wait_until("the prompt in the file", || {
        let text = d.dir.read("out.log");
        (!text.is_empty()).then_some(text)
    });
    assert!(text.len() == 25 + "Login> ".len() && text.ends_with("Z Login> "), "{text:?}");
    // And at exit, what is left is written as it is.
    let d = Daemon::start(
        "  last:\n    cmd: printf 'bye'\n    autorestart: never\n    starttime: 0\n    stdout: {path: out.log, maxbytes: 1KB}\n",
    );
    d.wait_state("last", "EXITED");
    assert_eq!(d.dir.read("out.log"), "bye");
}

#[test]
fn a_deleted_file_is_noticed_at_reopen_and_created_again() {
    let d = Daemon::start(TALKER);
    wait_until("some lines", || (numbers(&d.dir.read("out.log")).len() > 5).then_some(()));
    std::fs::remove_file(d.dir.join("out.log")).expect("rm");
    let out = d.ctl(&["reopen"]);
    assert_eq!(out.status.code(), Some(0), "created again: the reopen did its job: {}", stdout(&out));
    d.wait_log("couldn't write output of talker to");
    assert!(d.log().contains("it had been deleted"), "{}", d.log());
    wait_until("lines in the new file", || (numbers(&d.dir.read("out.log")).len() > 5).then_some(()));
}

#[test]
fn a_removed_folder_is_said_and_the_file_comes_back_with_it() {
    let outer = TempDir::new("folder");
    let logs = outer.join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let file = logs.join("out.log");
    let d = Daemon::start(&TALKER.replace("stdout: out.log", &format!("stdout: {}", file.display())));
    let pid = d.wait_state("talker", "RUNNING")["pid"].as_i64();
    let lines = || numbers(&std::fs::read_to_string(&file).unwrap_or_default()).len();
    wait_until("some lines", || (lines() > 5).then_some(()));
    std::fs::remove_dir_all(&logs).expect("rm -r");
    let out = d.ctl(&["reopen"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let said = stdout(&out);
    assert!(
        said.contains("couldn't write output of talker to") && said.contains("cannot be created again"),
        "{said}"
    );
    let status = stdout(&d.ctl(&["status"]));
    assert!(status.contains("out.log"), "status says what is wrong: {status}");
    // Once the folder is back, the file is, within a second or so, without a reopen.
    std::fs::create_dir(&logs).expect("mkdir again");
    wait_until("lines in the file again", || (lines() > 5).then_some(()));
    assert_eq!(d.wait_state("talker", "RUNNING")["pid"].as_i64(), pid, "the program ran on");
}

#[test]
fn a_reload_that_only_tunes_a_file_keeps_the_process() {
    let d = Daemon::start(TALKER);
    let pid = d.wait_state("talker", "RUNNING")["pid"].as_i64();
    wait_until("some lines", || (numbers(&d.dir.read("out.log")).len() > 3).then_some(()));
    let tuned = TALKER.replace("stdout: out.log", "stdout: {path: out.log, timestamps: true, maxbytes: 1MB}");
    d.dir.write("taskmaster.yaml", &Daemon::yaml("", &tuned));
    let out = d.ctl(&["reload"]);
    assert!(stdout(&out).contains("updated: talker"), "{}", stdout(&out));
    wait_until("stamped lines", || {
        let text = d.dir.read("out.log");
        (text.lines().filter(|l| l.contains("Z line ")).count() > 3).then_some(())
    });
    assert_eq!(d.wait_state("talker", "RUNNING")["pid"].as_i64(), pid, "not restarted");
    // Every line once, stamped or not.
    let text = d.dir.read("out.log");
    let all: Vec<u64> =
        text.lines().filter_map(|l| number_of(l.split_once("Z ").map_or(l, |(_, rest)| rest))).collect();
    assert_eq!(all, (1..=all.len() as u64).collect::<Vec<_>>());
}

#[test]
fn the_main_log_comes_back_with_its_folder() {
    let d = Daemon::start_with("", "  a:\n    cmd: sleep 1000\n", &["--no-shell"]);
    // Moved under a folder of its own by a reload, so that the folder can go.
    std::fs::create_dir(d.dir.join("logs")).expect("mkdir");
    let yaml =
        Daemon::yaml("", "  a:\n    cmd: sleep 1000\n").replace("logfile: tm.log", "logfile: logs/main.log");
    d.dir.write("taskmaster.yaml", &yaml);
    assert_eq!(d.ctl(&["reload"]).status.code(), Some(0));
    wait_until("the new main log", || d.dir.join("logs/main.log").exists().then_some(()));
    std::fs::remove_dir_all(d.dir.join("logs")).expect("rm -r");
    let out = d.ctl(&["reopen"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("log lines are lost until it can be"), "{}", stdout(&out));
    assert!(stdout(&d.ctl(&["status"])).contains("warning: cannot open the log file"));
    std::fs::create_dir(d.dir.join("logs")).expect("mkdir again");
    assert_eq!(d.ctl(&["restart", "a"]).status.code(), Some(0));
    wait_until("lines in the main log again", || {
        d.dir.read("logs/main.log").contains("spawned: 'a'").then_some(())
    });
    assert!(!stdout(&d.ctl(&["status"])).contains("warning"), "the warning is gone");
}

#[test]
fn syslog_coming_back_is_said_with_what_was_lost() {
    let dir = TempDir::new("syslog2");
    let socket = dir.join("log.sock");
    let bind = || {
        let s = std::os::unix::net::UnixDatagram::bind(&socket).expect("a syslog socket");
        s.set_read_timeout(Some(std::time::Duration::from_millis(200))).expect("timeout");
        s
    };
    let listener = bind();
    let settings = format!("  syslog_address: {}\n", socket.display());
    let cmd = "sh -c 'i=0; while :; do i=$((i+1)); echo \"line $i\"; sleep 0.05; done'";
    let d = Daemon::start_with(
        &settings,
        &format!("  talk:\n    cmd: {cmd}\n    stdout: syslog\n"),
        &["--no-shell"],
    );
    let mut buf = [0u8; 4096];
    wait_until("a message", || listener.recv(&mut buf).ok());
    drop(listener);
    std::fs::remove_file(&socket).expect("rm the socket");
    d.wait_log("couldn't write output of talk to syslog at");
    let listener = bind();
    d.wait_log("can be reached again;");
    wait_until("messages again", || listener.recv(&mut buf).ok());
    assert!(d.log().contains("lines of output were lost meanwhile"), "{}", d.log());
}

#[test]
fn processes_sharing_a_file_write_whole_lines() {
    // Each line in two writes: without care, one process's half line gets another's after it.
    let cmd =
        "sh -c 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); printf \"p$$$$ line \"; printf \"$i\\n\"; done'";
    let d = Daemon::start(&format!(
        "  halves:\n    cmd: {cmd}\n    numprocs: 3\n    autorestart: never\n    starttime: 0\n    \
         stdout: {{path: out.log, maxbytes: 64KB, backups: 100}}\n"
    ));
    for n in 0..3 {
        d.wait_state(&format!("halves:halves_0{n}"), "EXITED");
    }
    let mut by_pid: std::collections::BTreeMap<String, Vec<u64>> = Default::default();
    for (file, text) in rotated(&d, "out.log", 100) {
        for line in text.lines() {
            let (pid, n) = line.split_once(" line ").unwrap_or_else(|| panic!("{file}: `{line}` is spliced"));
            let n = n.parse().unwrap_or_else(|_| panic!("{file}: `{line}` is spliced"));
            assert!(pid.starts_with('p') && pid[1..].bytes().all(|b| b.is_ascii_digit()), "{file}: `{line}`");
            by_pid.entry(pid.to_string()).or_default().push(n);
        }
    }
    assert_eq!(by_pid.len(), 3);
    for numbers in by_pid.values() {
        assert_eq!(*numbers, (1..=3000).collect::<Vec<u64>>(), "each line once, in order");
    }
}

#[test]
fn the_two_streams_of_one_process_in_one_file_write_whole_lines() {
    let cmd = "sh -c 'i=0; while [ $i -lt 500 ]; do i=$((i+1)); printf \"OUT-$i-a-\"; echo \"ERR-$i\" >&2; printf \"b\\n\"; done'";
    let d = Daemon::start(&format!(
        "  two:\n    cmd: {cmd}\n    autorestart: never\n    starttime: 0\n    stdout: both.log\n    stderr: both.log\n"
    ));
    d.wait_state("two", "EXITED");
    let text = d.dir.read("both.log");
    let (outs, errs): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with("OUT-"));
    let expected: Vec<String> = (1..=500).map(|i| format!("OUT-{i}-a-b")).collect();
    assert_eq!(outs, expected, "stdout's lines whole");
    assert_eq!(errs, (1..=500).map(|i| format!("ERR-{i}")).collect::<Vec<_>>(), "stderr's lines whole");
}
