//! Reload through the real binary (taskmaster(1), RELOAD): pids compared before and after, for
//! every kind of change, by command and by SIGHUP.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::collections::BTreeMap;

const BASE: &str = "  keep:\n    cmd: sleep 1000\n    starttime: 0\n  \
                    web:\n    cmd: sleep 1001\n    numprocs: 2\n    starttime: 0\n  \
                    gone:\n    cmd: sleep 1002\n    starttime: 0\n  \
                    tune:\n    cmd: sleep 1003\n    starttime: 0\n  \
                    redo:\n    cmd: sleep 1004\n    starttime: 0\n";

/// Every process's pid, by name.
fn pids(d: &Daemon) -> BTreeMap<String, Option<i64>> {
    d.status()
        .iter()
        .map(|p| (p["name"].as_str().unwrap_or_default().to_string(), p["pid"].as_i64()))
        .collect()
}

fn rewrite(d: &Daemon, programs: &str) {
    std::fs::write(&d.config, Daemon::yaml("", programs)).expect("rewrite the config");
}

fn all_running(d: &Daemon) -> BTreeMap<String, Option<i64>> {
    wait_until("every process running", || {
        let status = d.status();
        status.iter().all(|p| p["state"] == "RUNNING").then(|| pids(d))
    })
}

#[test]
fn each_kind_of_change_touches_exactly_what_it_should() {
    let d = Daemon::start(BASE);
    let before = all_running(&d);
    let changed = BASE
        .replace(
            "  gone:\n    cmd: sleep 1002\n    starttime: 0\n",
            "  fresh:\n    cmd: sleep 1005\n    starttime: 0\n",
        )
        .replace("numprocs: 2", "numprocs: 3")
        .replace(
            "cmd: sleep 1003\n    starttime: 0",
            "cmd: sleep 1003\n    starttime: 0\n    stoptime: 3\n    autorestart: always",
        )
        .replace("cmd: sleep 1004", "cmd: sleep 1006");
    rewrite(&d, &changed);
    let out = d.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out),
        "added: fresh\nremoved: gone\nrestarted: redo\nupdated: tune\nscaled: web 2→3\nunchanged: 1\n"
    );
    let after = all_running(&d);
    assert_eq!(after["keep"], before["keep"], "unchanged: same pid");
    assert_eq!(after["tune"], before["tune"], "updated in place: same pid");
    assert_eq!(after["web:web_00"], before["web:web_00"], "scaled up: the old ones stay");
    assert_eq!(after["web:web_01"], before["web:web_01"]);
    assert!(after.contains_key("web:web_02"));
    assert_ne!(after["redo"], before["redo"], "restarted: a new pid");
    assert!(!after.contains_key("gone"), "removed and forgotten");
    assert!(after.contains_key("fresh"));
    let gone = before["gone"].expect("pid") as i32;
    assert!(!alive(gone));
    d.wait_log(
        "reload: added [fresh] removed [gone] restarted [redo] updated [tune] scaled [web 2→3] started [] unchanged 1, settings []",
    );
}

#[test]
fn scaling_down_stops_only_the_highest_numbered() {
    let d = Daemon::start("  web:\n    cmd: sleep 1000\n    numprocs: 4\n    starttime: 0\n");
    let before = all_running(&d);
    rewrite(&d, "  web:\n    cmd: sleep 1000\n    numprocs: 2\n    starttime: 0\n");
    assert_eq!(stdout(&d.ctl(&["reload"])), "scaled: web 4→2\nunchanged: 0\n");
    let after = wait_until("two left", || (pids(&d).len() == 2).then(|| pids(&d)));
    assert_eq!(after["web:web_00"], before["web:web_00"]);
    assert_eq!(after["web:web_01"], before["web:web_01"]);
    for name in ["web:web_02", "web:web_03"] {
        assert!(!alive(before[name].expect("pid") as i32), "{name} stopped");
    }
}

#[test]
fn one_process_to_several_and_back_renames_without_restarting() {
    let d = Daemon::start("  web:\n    cmd: sleep 1000\n    starttime: 0\n");
    let pid = all_running(&d)["web"];
    rewrite(&d, "  web:\n    cmd: sleep 1000\n    numprocs: 2\n    starttime: 0\n");
    d.ctl(&["reload"]);
    assert_eq!(all_running(&d)["web:web_00"], pid);
    rewrite(&d, "  web:\n    cmd: sleep 1000\n    starttime: 0\n");
    d.ctl(&["reload"]);
    let after = wait_until("one left", || (pids(&d).len() == 1).then(|| pids(&d)));
    assert_eq!(after["web"], pid);
}

#[test]
fn an_invalid_file_changes_nothing_and_says_why() {
    let d = Daemon::start(BASE);
    let before = all_running(&d);
    std::fs::write(&d.config, Daemon::yaml("", "  keep:\n    cmd: sleep 1000\n    numprocs: 0\n"))
        .expect("write");
    let out = d.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.starts_with("the configuration has errors; nothing changed"), "{text}");
    assert!(text.contains("taskmaster.yaml:8:5: program 'keep': numprocs:"), "{text}");
    assert_eq!(pids(&d), before);
    d.wait_log("reload failed: the configuration has errors; nothing changed");
    d.signal(Signal::SIGHUP);
    wait_until("the second failure logged", || (d.count_log("reload failed") == 2).then_some(()));
    assert_eq!(pids(&d), before);
}

#[test]
fn sighup_does_what_the_command_does() {
    let d = Daemon::start(BASE);
    let before = all_running(&d);
    rewrite(&d, &BASE.replace("numprocs: 2", "numprocs: 3").replace("cmd: sleep 1004", "cmd: sleep 1006"));
    d.signal(Signal::SIGHUP);
    d.wait_log("received SIGHUP, reloading configuration");
    d.wait_log(
        "reload: added [] removed [] restarted [redo] updated [] scaled [web 2→3] started [] unchanged 3, settings []",
    );
    let after = all_running(&d);
    assert_eq!(after["keep"], before["keep"]);
    assert_ne!(after["redo"], before["redo"]);
    assert!(after.contains_key("web:web_02"));
}

#[test]
fn a_burst_of_sighups_never_restarts_an_unchanged_process() {
    let d = Daemon::start(BASE);
    let before = all_running(&d);
    for _ in 0..20 {
        d.signal(Signal::SIGHUP);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    wait_until("the reloads", || (d.count_log("reload: ") >= 1).then_some(()));
    // A last reload after the burst, to know every earlier one is done.
    assert_eq!(stdout(&d.ctl(&["reload"])), "unchanged: 5\n");
    assert_eq!(pids(&d), before);
    assert_eq!(d.count_log("spawned:"), 6, "no process was started again");
}

#[test]
fn dry_run_and_json_show_the_plan_without_applying_it() {
    let d = Daemon::start(BASE);
    let before = all_running(&d);
    rewrite(&d, &BASE.replace("numprocs: 2", "numprocs: 5"));
    let out = d.ctl(&["reload", "--dry-run"]);
    assert_eq!(stdout(&out), "dry run: nothing was changed\nscaled: web 2→5\nunchanged: 4\n");
    assert_eq!(pids(&d), before);
    let out = d.ctl(&["--json", "reload"]);
    let answer: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(answer["data"]["scaled"], serde_json::json!([{"program": "web", "from": 2, "to": 5}]));
    assert_eq!(answer["data"]["unchanged"], 4);
    wait_until("five web processes", || (pids(&d).len() == 9).then_some(()));
}

#[test]
fn the_taskmaster_section_is_applied_too() {
    let d = Daemon::start("  a:\n    cmd: sleep 1000\n    starttime: 0\n");
    // An outside rotation: the old file is moved away, the reload reopens the configured path.
    std::fs::rename(d.dir.join("tm.log"), d.dir.join("tm.log.1")).expect("rotate");
    let settings = "  loglevel: debug\n";
    let yaml = Daemon::yaml(settings, "  a:\n    cmd: sleep 1000\n    starttime: 0\n")
        .replace("socket: tm.sock", "socket: new.sock");
    std::fs::write(&d.config, yaml).expect("write");
    let out = d.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let new_socket = d.dir.join("new.sock");
    wait_until("the new socket", || new_socket.exists().then_some(()));
    assert!(!d.socket().exists(), "the old socket is removed");
    let out = run(TASKMASTERCTL, &["-s", new_socket.to_str().expect("utf-8"), "pid"]);
    assert_eq!(stdout(&out).trim(), d.pid().to_string());
    assert!(d.log().contains("reload: "), "written to the reopened file");
    run(TASKMASTERCTL, &["-s", new_socket.to_str().expect("utf-8"), "stop", "a"]);
    d.wait_log("DEBG a: STOPPING → STOPPED");
}

#[test]
fn reload_brings_processes_to_what_the_new_configuration_asks_for() {
    let quick = "  x:\n    cmd: sh -c 'sleep 0.3; exit 1'\n    starttime: 0.1\n    autorestart: never\n  \
                 f:\n    cmd: sh -c 'exit 1'\n    startretries: 0\n  \
                 s:\n    cmd: sleep 1000\n    starttime: 0\n";
    let d = Daemon::start(quick);
    d.wait_state("x", "EXITED");
    d.wait_state("f", "FATAL");
    assert_eq!(stdout(&d.ctl(&["stop", "s"])), "s: stopped\n");
    rewrite(
        &d,
        &quick
            .replace("autorestart: never", "autorestart: always\n    exitcodes: [0, 1]\n    startretries: 5")
            .replace("startretries: 0", "startretries: 2")
            .replace("cmd: sleep 1000", "cmd: sleep 1001"),
    );
    let out = d.ctl(&["reload"]);
    assert_eq!(stdout(&out), "restarted: s\nupdated: f, x\nstarted: f, x\nunchanged: 0\n");
    wait_until("x to run again", || (d.count_log("spawned: 'x'") >= 2).then_some(()));
    wait_until("f to be tried again", || (d.count_log("spawned: 'f'") >= 2).then_some(()));
    assert_eq!(d.state("s"), "STOPPED", "what a person stopped stays stopped");
}

#[test]
fn an_env_file_change_restarts_only_its_program() {
    let dir = TempDir::new("envf");
    let env = dir.write("a.env", "GREETING=hello\n");
    let programs = format!(
        "  a:\n    cmd: sleep 1000\n    starttime: 0\n    env_file: {}\n  b:\n    cmd: sleep 1000\n    starttime: 0\n",
        env.display()
    );
    let d = Daemon::start(&programs);
    let a = d.wait_state("a", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    let b = d.wait_state("b", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    let environ = |pid: i32| {
        String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default())
            .into_owned()
    };
    assert!(environ(a).contains("GREETING=hello"));
    // The same file again: nothing to do.
    assert!(stdout(&d.ctl(&["reload"])).contains("unchanged: 2"));
    dir.write("a.env", "GREETING=bonjour\n");
    let out = stdout(&d.ctl(&["reload"]));
    assert!(out.contains("restarted: a"), "{out}");
    let new = d.wait_new_pid("a", a);
    wait_until("the new value", || environ(new).contains("GREETING=bonjour").then_some(()));
    assert_eq!(d.pid_of("b"), Some(b), "b untouched");
}
