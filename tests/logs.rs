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
