//! Every configuration shown in the README and in the manual runs as written: each passes
//! `--check`, and each whose commands this machine has (no warning) is started for real until
//! all its processes are RUNNING, then shut down. The default socket goes to a folder of the
//! test's own (through XDG_RUNTIME_DIR), so nothing in an example is changed.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::process::{Command, Stdio};

/// The YAML blocks of the README.
fn readme_examples() -> Vec<String> {
    let text = std::fs::read_to_string("README.md").expect("README.md");
    text.split("```yaml\n")
        .skip(1)
        .map(|rest| rest.split("```").next().unwrap_or_default().to_string())
        .collect()
}

/// The literal blocks of the manual that are configurations.
fn manual_examples() -> Vec<String> {
    let text = std::fs::read_to_string("man/taskmaster.1").expect("the manual");
    text.split(".Bd -literal -offset indent\n")
        .skip(1)
        .map(|rest| rest.split("\n.Ed").next().unwrap_or_default().to_string())
        .filter(|block| block.starts_with("programs:") || block.starts_with("taskmaster:"))
        .map(|block| block.replace("\\(", "(").replace("\\&", "") + "\n")
        .collect()
}

/// Checks an example and, when this machine can run it, runs it.
fn try_example(name: &str, yaml: &str) {
    let dir = TempDir::new("ex");
    let config = dir.write("example.yaml", yaml);
    let taskmaster = |args: &[&str]| {
        let mut c = Command::new(TASKMASTER);
        c.args(args).arg("-c").arg(&config).current_dir(dir.path()).env("XDG_RUNTIME_DIR", dir.path());
        c
    };
    let out = taskmaster(&["--check"]).output().expect("run --check");
    // An example may name users and groups of the machine it is about (PRIVILEGES): where they
    // are missing, that is all that may be wrong with it.
    let said = stderr(&out);
    let problems: Vec<&str> =
        said.lines().filter(|l| l.contains(".yaml:") && !l.contains(" error")).collect();
    let missing = |l: &&str| l.contains("no group is named") || l.contains("no user is named");
    if out.status.code() == Some(2) && !problems.is_empty() && problems.iter().all(missing) {
        eprintln!("{name}: not run here (accounts this machine lacks)");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{name}:\n{yaml}\n{}", stderr(&out));
    if !stderr(&out).is_empty() {
        eprintln!("{name}: not run here ({})", stderr(&out).trim());
        return;
    }
    let mut child = Guarded(taskmaster(&["--no-shell", "-q"]).stdin(Stdio::null()).spawn().expect("start"));
    let socket = dir.join("taskmaster.sock");
    let ctl = |args: &[&str]| {
        let mut all = vec!["-s", socket.to_str().expect("utf-8")];
        all.extend_from_slice(args);
        run(TASKMASTERCTL, &all)
    };
    let status = wait_until(&format!("{name} to run"), || {
        let out = ctl(&["--json", "status"]);
        let answer: serde_json::Value = serde_json::from_str(&stdout(&out)).ok()?;
        let all = answer["data"].as_array()?.clone();
        let autostart = all.iter().filter(|p| p["description"] != "Not started");
        autostart.clone().all(|p| p["state"] == "RUNNING").then(|| all.clone())
    });
    assert!(!status.is_empty(), "{name}: no process");
    let pids: Vec<i32> = status.iter().filter_map(|p| p["pid"].as_i64()).map(|p| p as i32).collect();
    assert_eq!(stdout(&ctl(&["shutdown"])).trim(), "Shut down", "{name}");
    assert_eq!(child.wait().expect("wait").code(), Some(0), "{name}");
    assert!(pids.iter().all(|p| !alive(*p)), "{name}: a process outlived taskmaster");
}

#[test]
fn the_readme_examples_run_as_written() {
    let examples = readme_examples();
    assert!(!examples.is_empty(), "the README has a configuration");
    for (i, yaml) in examples.iter().enumerate() {
        try_example(&format!("README example {i}"), yaml);
    }
}

#[test]
fn the_manual_examples_run_as_written() {
    let examples = manual_examples();
    assert!(examples.len() >= 2, "the QUICK START and EXAMPLES configurations: {examples:?}");
    for (i, yaml) in examples.iter().enumerate() {
        try_example(&format!("manual example {i}"), yaml);
    }
}
