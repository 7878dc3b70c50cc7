//! `tail` (taskmaster(1), COMMANDS): the last lines of a process's output, kept in memory
//! (`tail_bytes`), whether the output goes to a file or is dropped.

mod common;

use common::*;

const PROGRAMS: &str = "  talk:\n    cmd: sh -c 'for i in $(seq 1 300); do echo \"line $i\"; done; echo oops >&2; exec sleep 1000'\n    \
                        starttime: 0\n  small:\n    cmd: sh -c 'for i in $(seq 1 300); do echo \"line $i\"; done; exec sleep 1000'\n    \
                        tail_bytes: 100\n    stdout: small.out\n  mute:\n    cmd: sleep 1000\n    tail_bytes: 0\n  \
                        many:\n    cmd: sleep 1000\n    numprocs: 2\n";

fn output(d: &Daemon, args: &[&str]) -> (Option<i32>, String) {
    let out = d.ctl(args);
    (out.status.code(), stdout(&out).trim_end().to_string())
}

#[test]
fn the_last_lines_of_a_process_come_from_memory() {
    let d = Daemon::start(PROGRAMS);
    wait_until("all of talk's output", || {
        output(&d, &["tail", "-n", "1", "talk"]).1.contains("line 300").then_some(())
    });
    let (code, text) = output(&d, &["tail", "talk"]);
    assert_eq!(code, Some(0));
    let wanted: Vec<String> = (291..=300).map(|i| format!("line {i}")).collect();
    assert_eq!(text.lines().collect::<Vec<_>>(), wanted, "ten lines by default");
    assert_eq!(output(&d, &["tail", "-n", "2", "talk"]).1, "line 299\nline 300");
    assert_eq!(output(&d, &["tail", "-n3", "talk", "stderr"]).1, "oops");
    // Written to a file too, and kept within its limit, whole lines only.
    wait_until("small's output", || d.dir.read("small.out").contains("line 300").then_some(()));
    let (_, kept) = output(&d, &["tail", "-n", "1000", "small"]);
    assert!(kept.len() <= 100 && kept.ends_with("line 300"), "{kept}");
    assert!(kept.lines().all(|l| l.starts_with("line ")), "{kept}");
}

#[test]
fn what_cannot_be_tailed_says_why() {
    let d = Daemon::start(PROGRAMS);
    assert_eq!(
        output(&d, &["tail", "mute"]),
        (Some(0), "(mute keeps no output in memory: its tail_bytes is 0)".into())
    );
    let (code, text) = output(&d, &["tail", "many"]);
    assert_eq!(
        (code, text.as_str()),
        (Some(1), "many names 2 processes: tail one of them (many:many_00, many:many_01)")
    );
    assert_eq!(output(&d, &["tail", "nope"]), (Some(1), "nope: ERROR (no such process)".into()));
    assert_eq!(output(&d, &["tail", "many:many_01"]).1, "(many:many_01: nothing on stdout yet)");
    let (code, _) = output(&d, &["tail", "talk", "stdin"]);
    assert_eq!(code, Some(2), "a usage error");
    let json = d.call("tail", &["-n", "1", "mute"]);
    assert_eq!(json["data"]["lines"], serde_json::json!([]));
}
