//! `taskmaster --check` through the real binary: every example config, broken inputs, and the
//! command line around it.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;

fn check(path: &str) -> std::process::Output {
    run(TASKMASTER, &["--check", "-c", path])
}

#[test]
fn every_example_config_is_valid() {
    let mut seen = 0;
    for entry in std::fs::read_dir("conf").expect("conf/ exists") {
        let path = entry.expect("a dir entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !name.ends_with(".yaml") || name == "broken.yaml" {
            continue;
        }
        let out = check(path.to_str().expect("utf-8 path"));
        // Other users than one's own need a root taskmaster: a warning to anyone else.
        if name == "privileges.yaml" && !nix::unistd::geteuid().is_root() {
            assert!(stderr(&out).contains("needs taskmaster to run as root"), "{}", stderr(&out));
        }
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
        assert!(stdout(&out).contains("programs:"), "{name}");
        seen += 1;
    }
    assert!(seen >= 2, "the example configs were not found");
}

#[test]
fn the_subject_example_is_normalised() {
    let out = check("conf/subject.yaml");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let nginx = &text[text.find("  nginx:").expect("nginx")..text.find("  vogsphere:").expect("vogsphere")];
    let vogsphere = &text[text.find("  vogsphere:").expect("vogsphere")..];
    for wanted in ["umask: '0022'", "exitcodes:\n    - 0\n    - 2\n", "ANSWER: '42'", "stopsignal: TERM"] {
        assert!(nginx.contains(wanted), "nginx lacks {wanted}:\n{nginx}");
    }
    for wanted in
        ["umask: '0077'", "exitcodes:\n    - 0\n    startretries", "stopsignal: USR1", "numprocs: 8"]
    {
        assert!(vogsphere.contains(wanted), "vogsphere lacks {wanted}:\n{vogsphere}");
    }
}

#[test]
fn the_broken_example_lists_every_mistake_with_its_line() {
    let out = check("conf/broken.yaml");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for wanted in [
        "conf/broken.yaml:4:3: taskmaster: loglevel:",
        "conf/broken.yaml:5:3: taskmaster: socket_mode:",
        "conf/broken.yaml:8:5: program 'web': cmd: has an unterminated quote",
        "conf/broken.yaml:9:5: program 'web': numprocs:",
        "conf/broken.yaml:10:5: program 'web': umask: is octal",
        "conf/broken.yaml:11:5: program 'web': unknown key `stoptim` (did you mean `stoptime`?)",
        "conf/broken.yaml:12:5: program 'web': stopsignal: KILL",
        "conf/broken.yaml:14:5: program 'worker': unknown key `command`",
        "conf/broken.yaml:15:5: program 'worker': exitcodes:",
        "conf/broken.yaml:16:5: program 'worker': autorestart:",
        "conf/broken.yaml:17:5: program 'worker': starttime:",
        "conf/broken.yaml:18:3: program 'bad:name'",
        "conf/broken.yaml:20:3: program 'web': is defined twice",
        "conf/broken.yaml: 14 errors",
    ] {
        assert!(err.contains(wanted), "missing `{wanted}` in:\n{err}");
    }
    assert!(stdout(&out).is_empty(), "nothing is printed on stdout for an invalid config");
}

#[test]
fn broken_inputs_exit_2_naming_line_and_key() {
    let dir = TempDir::new("check");
    let cases = [
        ("syntax.yaml", "programs:\n  a: [1\n", "syntax.yaml:3:1", "did not find expected"),
        ("unknown.yaml", "programs:\n  a:\n    cmd: a\n    numprocz: 2\n", "unknown.yaml:4:5", "numprocs"),
        ("umask.yaml", "programs:\n  a:\n    cmd: a\n    umask: 8\n", "umask.yaml:4:5", "umask"),
        ("empty.yaml", "", "empty.yaml", "empty"),
        ("binary.yaml", "\u{0}\u{1}programs", "binary.yaml:1:1", "control characters"),
    ];
    for (name, text, place, word) in cases {
        let path = dir.write(name, text);
        let out = check(path.to_str().expect("utf-8"));
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = stderr(&out);
        assert!(err.contains(place) && err.contains(word), "{name}: {err}");
    }
    let invalid_utf8 = dir.join("latin1.yaml");
    std::fs::write(&invalid_utf8, b"programs:\n  caf\xe9: {cmd: a}\n").expect("write");
    let out = check(invalid_utf8.to_str().expect("utf-8"));
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("UTF-8"), "{}", stderr(&out));
}

#[test]
fn a_missing_file_is_a_clear_error() {
    let out = check("/nonexistent/taskmaster.yaml");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("/nonexistent/taskmaster.yaml: cannot read the file: No such file or directory")
    );
}

#[test]
fn without_c_the_config_is_looked_up_in_the_working_directory() {
    let dir = TempDir::new("default");
    dir.write("taskmaster.yaml", "programs:\n  here: {cmd: /bin/true}\n");
    let out =
        std::process::Command::new(TASKMASTER).arg("--check").current_dir(dir.path()).output().expect("run");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("  here:"), "{text}");
    let log = dir.join("taskmaster.log");
    assert!(text.contains(&format!("logfile: {}", log.display())), "relative to the config folder: {text}");
}

#[test]
fn help_version_and_usage_errors() {
    let out = run(TASKMASTER, &["-h"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("usage: taskmaster [-c FILE]"));
    let out = run(TASKMASTER, &["-V"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).starts_with("taskmaster "));
    let out = run(TASKMASTER, &["--frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "taskmaster: unknown option `--frobnicate`\nusage: taskmaster [-c FILE] [--no-shell] [--check [--strict]] \
         [-q] [-l LEVEL] [-h] [-V]\n       taskmaster --import SUPERVISORD.conf [-o OUT.yaml]\n\
         (`taskmaster --help` lists the options)\n",
        "short, and says where the rest is"
    );
}

#[test]
fn every_key_appears_in_some_example() {
    use taskmaster::vocabulary::{DAEMON_KEYS, PROGRAM_KEYS};
    let texts: Vec<String> = std::fs::read_dir("conf")
        .expect("conf/")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .collect();
    for key in PROGRAM_KEYS.iter().chain(DAEMON_KEYS) {
        let pattern = format!("\n    {key}:");
        let daemon = format!("\n  {key}:");
        assert!(
            texts.iter().any(|t| t.contains(&pattern) || t.contains(&daemon)),
            "no example in conf/ uses `{key}`"
        );
    }
}

#[test]
fn what_cannot_run_on_this_machine_is_a_warning_and_strict_makes_it_fail() {
    let dir = TempDir::new("warn");
    let file = dir.write(
        "t.yaml",
        "programs:\n  a:\n    cmd: ./run.sh\n    stdout: logs/a.out\n  b:\n    cmd: sleep 1\n    workingdir: gone\n",
    );
    dir.write("run.sh", "#!/bin/sh\necho hi\n");
    let path = file.to_str().expect("utf-8");
    let out = check(path);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("programs:"), "the configuration is printed all the same");
    let warnings: Vec<String> =
        stderr(&out).lines().map(|l| l.replace(&format!("{}/", dir.path().display()), "")).collect();
    assert_eq!(
        warnings,
        [
            "t.yaml:3:5: warning: program 'a': cmd: command at 'run.sh' is not executable",
            "t.yaml:4:5: warning: program 'a': stdout: the folder logs does not exist",
            "t.yaml:7:5: warning: program 'b': workingdir: gone does not exist",
            "3 warnings",
        ]
    );
    let out = run(TASKMASTER, &["--check", "--strict", "-c", path]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout(&out), "", "a failed check prints its problems alone");
    assert!(stderr(&out).ends_with("3 warnings\n"), "{}", stderr(&out));
}

#[test]
fn alert_channels_that_cannot_work_here_are_warnings() {
    let dir = TempDir::new("chkal");
    let config = dir.write(
        "t.yaml",
        "taskmaster:\n  syslog_address: /nonexistent/log\n  alerts:\n    events: []\n    email: {to: a@b.c, username: u, password_file: smtp.pass}\n    command: notify-nowhere --now\n    syslog: true\nprograms:\n  a: {cmd: sleep 1}\n",
    );
    let out = check(config.to_str().expect("utf-8 path"));
    assert_eq!(out.status.code(), Some(0), "warnings only: {}", stderr(&out));
    let said = stderr(&out);
    for expected in [
        "t.yaml:3:3: warning: taskmaster: alerts: events is empty",
        "alerts: command: can't find command 'notify-nowhere'",
        "alerts: email: password_file: can't read ",
        "alerts: syslog: /nonexistent/log is not a socket here",
    ] {
        assert!(said.contains(expected), "{expected:?} in\n{said}");
    }
    dir.write("smtp.pass", "secret\n");
    let out = run(TASKMASTER, &["--check", "--strict", "-c", config.to_str().expect("utf-8 path")]);
    assert!(!stderr(&out).contains("password_file"), "{}", stderr(&out));
    assert_ne!(out.status.code(), Some(0), "--strict fails on the others");
}
