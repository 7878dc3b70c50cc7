//! The reload rows: a configuration of 1000 programs (one process each) in which one program's
//! command changed between reloads. taskmaster's alone: supervisord's `update` is a reread and
//! a restart through supervisorctl, not the same operation.
//!
//! - Reload: the `reload` request over the socket, sent to answered, which is the loop's time to
//!   read, check and compare the file and apply the change; the median of 9, with the count of
//!   the 999 others whose pid changed (0 expected).
//! - Check: `taskmaster --check -c FILE` of the same file, launch to exit, the median of 9.

use super::daemons::{Daemon, Taskmaster};
use super::{Kind, Program, Row, median};
use std::time::Instant;

const PROGRAMS: usize = 1000;

pub(crate) fn rows(quick: bool) -> Vec<Row> {
    let rounds = if quick { 3 } else { 9 };
    let programs: Vec<Program> = (0..PROGRAMS).map(|i| Program::sleepers(&format!("p{i:04}"), 1)).collect();
    let d = Taskmaster::start(&programs);
    d.wait_running(PROGRAMS);
    let config = d.config();
    let text = std::fs::read_to_string(&config).expect("the configuration");
    let pids = |d: &Taskmaster| -> Vec<i64> {
        let status: serde_json::Value =
            serde_json::from_str(&d.call("status", &[])).unwrap_or(serde_json::Value::Null);
        let records = status["data"].as_array().cloned().unwrap_or_default();
        records.iter().filter(|r| r["name"] != "p0000").map(|r| r["pid"].as_i64().unwrap_or(0)).collect()
    };
    let before = pids(&d);
    let mut times = Vec::new();
    for round in 0..rounds {
        // p0000's command alternates: a change each time.
        let changed = text.replacen("cmd: sleep 100000", &format!("cmd: sleep {}", 200_000 + round), 1);
        std::fs::write(&config, changed).expect("write the configuration");
        let started = Instant::now();
        let answer = d.call("reload", &[]);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(answer.contains("\"ok\":true"), "the reload failed: {answer}");
    }
    d.wait_running(PROGRAMS);
    let touched = before.iter().zip(pids(&d)).filter(|(a, b)| *a != b).count();
    let mut reload = Row::new(
        format!(
            "reload: {PROGRAMS} programs, one changed, request to answer, median of {rounds} ({touched} others touched)"
        ),
        "ms",
    );
    reload.set(&Kind::Taskmaster, median(&mut times));
    let mut times: Vec<f64> = (0..rounds)
        .map(|_| {
            let started = Instant::now();
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_taskmaster"))
                .arg("--check")
                .arg("-c")
                .arg(&config)
                .output()
                .expect("taskmaster --check");
            assert!(out.status.success(), "--check failed: {}", String::from_utf8_lossy(&out.stderr));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let mut check =
        Row::new(format!("reload: --check of the {PROGRAMS}-program file, median of {rounds}"), "ms");
    check.set(&Kind::Taskmaster, median(&mut times));
    Box::new(d).stop();
    vec![reload, check]
}
