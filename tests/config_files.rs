//! A configuration that grows (taskmaster(1), INCLUDED FILES and VARIABLES): a `conf.d/` whose
//! files come and go between reloads, and `${...}` filled in for each process.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::collections::BTreeMap;
use std::process::Command;

const MAIN: &str = "  include: conf.d/*.yaml\n";

fn program(name: &str) -> String {
    format!("programs:\n  {name}:\n    cmd: sleep 1000\n    starttime: 0\n")
}

/// taskmaster on `dir`'s taskmaster.yaml, whose files are written already.
fn start_in(dir: TempDir) -> Daemon {
    let config = dir.join("taskmaster.yaml");
    let mut command = Command::new(TASKMASTER);
    command.arg("-c").arg(&config).arg("--no-shell");
    let d = Daemon::spawn_in(command, dir, config);
    d.wait_answering();
    d
}

fn pids(d: &Daemon) -> BTreeMap<String, i64> {
    wait_until("every process running", || {
        let status = d.status();
        let running = status.iter().all(|p| p["state"] == "RUNNING");
        running.then(|| {
            status
                .iter()
                .map(|p| (p["name"].as_str().unwrap_or("").to_string(), p["pid"].as_i64().unwrap_or(0)))
                .collect()
        })
    })
}

#[test]
fn a_conf_d_of_three_files_follows_its_files_at_reload() {
    let dir = TempDir::new("confd");
    std::fs::create_dir(dir.join("conf.d")).expect("conf.d");
    dir.write("taskmaster.yaml", &Daemon::yaml(MAIN, "  main:\n    cmd: sleep 1000\n    starttime: 0\n"));
    for name in ["a", "b", "c"] {
        dir.write(&format!("conf.d/{name}.yaml"), &program(name));
    }
    let d = start_in(dir);
    let before = pids(&d);
    assert_eq!(before.keys().collect::<Vec<_>>(), ["a", "b", "c", "main"]);

    // One file added, one removed: the plan says so before anything moves.
    d.dir.write("conf.d/d.yaml", &program("d"));
    std::fs::remove_file(d.dir.join("conf.d/b.yaml")).expect("remove b");
    let out = d.ctl(&["reload", "--dry-run"]);
    assert_eq!(stdout(&out), "dry run: nothing was changed\nadded: d\nremoved: b\nunchanged: 3\n");
    assert_eq!(pids(&d), before);
    let out = d.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let after = wait_until("d up, b gone", || {
        let now = pids(&d);
        (now.contains_key("d") && !now.contains_key("b")).then_some(now)
    });
    for name in ["a", "c", "main"] {
        assert_eq!(after[name], before[name], "{name} was not touched");
    }
    assert!(gone(before["b"] as i32), "b's process was stopped");

    // A program defined in two files: refused, naming both, and nothing moves.
    d.dir.write("conf.d/e.yaml", "programs:\n  e: {cmd: sleep 1000}\n  a: {cmd: sleep 5}\n");
    let out = d.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1));
    let said = stdout(&out) + &stderr(&out);
    assert!(
        said.contains("conf.d/e.yaml:3:3: program 'a': is defined twice (first at ")
            && said.contains("conf.d/a.yaml:2:3)"),
        "{said}"
    );
    assert_eq!(pids(&d), after);

    // A broken included file is named with its line and column.
    d.dir.write("conf.d/e.yaml", "programs:\n  e:\n    cmd: sleep 1000\n    numprocs: lots\n");
    let said = stdout(&d.ctl(&["reload"])) + &stderr(&d.ctl(&["reload"]));
    assert!(said.contains("conf.d/e.yaml:4:5: program 'e': numprocs:"), "{said}");
    assert_eq!(pids(&d), after);
}

#[test]
fn check_shows_where_each_program_comes_from() {
    let dir = TempDir::new("origin");
    std::fs::create_dir(dir.join("conf.d")).expect("conf.d");
    let main = dir.write("taskmaster.yaml", &Daemon::yaml(MAIN, ""));
    dir.write("conf.d/web.yaml", &program("web"));
    dir.write("conf.d/db.yaml", &program("db"));
    let out = run(TASKMASTER, &["--check", "-c", main.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let web = format!("  # from {}\n  web:\n", dir.join("conf.d/web.yaml").display());
    assert!(text.contains(&web), "{text}");
    assert!(text.contains(&format!("  # from {}\n  db:\n", dir.join("conf.d/db.yaml").display())), "{text}");
}

#[test]
fn each_process_listens_on_the_port_its_number_picks() {
    let base = 30_000 + std::process::id() % 3000 * 10;
    let prefix = base / 10;
    // web_02 does not listen: the test does, in its place, once the others are up.
    let d = Daemon::start(&format!(
        "  web:\n    cmd: sh -c 'test ${{TASKMASTER_PROCESS_NUM}} = 2 && exec sleep 1000; \
         exec python3 -m http.server --bind 127.0.0.1 ${{PREFIX}}${{TASKMASTER_PROCESS_NUM}}'\n    \
         numprocs: 3\n    env: {{PREFIX: '{prefix}'}}\n    \
         ready: {{tcp: '127.0.0.1:${{PREFIX}}${{TASKMASTER_PROCESS_NUM}}', timeout: 60}}\n    \
         stderr: web-${{TASKMASTER_PROCESS_NUM}}.log\n"
    ));
    for n in 0..2u32 {
        let name = format!("web:web_0{n}");
        d.wait_state(&name, "RUNNING");
        let port = base + n;
        let pid = d.pid_of(&name).expect("a pid");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(cmdline.ends_with(format!("\0{port}\0").as_bytes()), "{}", String::from_utf8_lossy(&cmdline));
        // Its own log file: http.server logs each request on stderr.
        wait_until(&format!("{name}'s own log"), || {
            if d.dir.read(&format!("web-{n}.log")).contains("GET / ") {
                return Some(());
            }
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port as u16)) {
                use std::io::Write;
                let _ = s.write_all(b"GET / HTTP/1.0\r\n\r\n");
            }
            None
        });
    }
    // Its probe looks at its own port, where nothing listens yet.
    assert_eq!(d.state("web:web_02"), "STARTING");
    let _listener =
        std::net::TcpListener::bind(("127.0.0.1", (base + 2) as u16)).expect("bind web_02's port");
    d.wait_state("web:web_02", "RUNNING");
}

#[test]
fn a_process_renamed_by_scaling_takes_its_files_new_rotation() {
    let program = |numprocs: u32, maxbytes: &str| {
        format!(
            "  w:\n    cmd: sh -c 'while :; do echo 0123456789012345678901234567890123456789; sleep 0.02; done'\n    \
             numprocs: {numprocs}\n    starttime: 0\n    \
             stdout: {{path: 'w-${{TASKMASTER_PROCESS_NUM}}.log', maxbytes: {maxbytes}, backups: 1}}\n"
        )
    };
    let d = Daemon::start(&program(1, "100KB"));
    d.wait_state("w", "RUNNING");
    std::fs::write(&d.config, Daemon::yaml("", &program(2, "300B"))).expect("rewrite");
    let out = d.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // `w` is now `w:w_00`: its file rotates at 300 bytes like its new sibling's.
    wait_until("w-0.log rotated", || d.dir.join("w-0.log.1").exists().then_some(()));
    wait_until("w-1.log rotated", || d.dir.join("w-1.log.1").exists().then_some(()));
    assert!(std::fs::metadata(d.dir.join("w-0.log.1")).expect("w-0.log.1").len() <= 300);
}
