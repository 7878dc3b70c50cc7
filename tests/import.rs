//! `taskmaster --import` against supervisord itself: each configuration is imported, checked,
//! and run by both; program by program, the processes must have the same names, commands,
//! working directories, environments and umasks (taskmaster(1), SWITCHING FROM SUPERVISORD).

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// supervisord 4.3.0 from PyPI, installed by `make test-deps`.
fn venv() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/supervisor-venv");
    assert!(venv.join("bin/supervisord").exists(), "supervisord is not installed: run `make test-deps`");
    venv
}

/// supervisord's own sample configuration, as its package ships it.
fn sample() -> String {
    let lib = venv().join("lib");
    let python = std::fs::read_dir(&lib)
        .expect("lib")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with("python"));
    let path = python.expect("python3.x").path().join("site-packages/supervisor/skel/sample.conf");
    std::fs::read_to_string(path).expect("sample.conf")
}

/// What one process is, as /proc shows it.
#[derive(Debug, PartialEq)]
struct Seen {
    cmdline: Vec<String>,
    cwd: PathBuf,
    umask: String,
    env: BTreeMap<String, String>,
}

fn seen(pid: i32) -> Seen {
    let split = |bytes: Vec<u8>| -> Vec<String> {
        bytes
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    };
    let cmdline = split(std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default());
    let env = split(std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default())
        .into_iter()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
        // Each tells its processes who they are in its own words.
        .filter(|(k, _)| !k.starts_with("SUPERVISOR_") && !k.starts_with("TASKMASTER_"))
        .collect();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let umask = status.lines().find_map(|l| l.strip_prefix("Umask:")).unwrap_or("").trim().to_string();
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
    Seen { cmdline, cwd, umask, env }
}

/// What each process is once a shell it started with has run what it execs.
fn settled(pids: &BTreeMap<String, i32>) -> BTreeMap<String, Seen> {
    wait_until("each shell's exec", || {
        let view: BTreeMap<String, Seen> = pids.iter().map(|(n, p)| (n.clone(), seen(*p))).collect();
        view.values().all(|s| s.cmdline.first().is_some_and(|c| !c.ends_with("sh"))).then_some(view)
    })
}

/// Kills `child` (a daemon) with SIGTERM and waits for it and every pid in `pids` to be gone.
fn stop(mut child: Child, pids: &[i32]) {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let _ = child.wait();
    for pid in pids {
        wait_until(&format!("{pid} gone"), || gone(*pid).then_some(()));
    }
}

/// `name → pid` from a status listing of lines `NAME STATE pid N, ...`; a name without what
/// comes before a `:` (supervisord's group, which taskmaster has not: `queue:worker_00` and
/// `worker:worker_00` are both `worker_00`).
fn running(listing: &str) -> BTreeMap<String, i32> {
    listing
        .lines()
        .filter(|l| l.contains(" RUNNING "))
        .filter_map(|l| {
            let name = l.split_whitespace().next()?.rsplit(':').next()?.to_string();
            let pid = l.split("pid ").nth(1)?.split(',').next()?.trim().parse().ok()?;
            Some((name, pid))
        })
        .collect()
}

/// Runs `conf` (supervisord's INI, in `dir`) with supervisord, then its import with taskmaster,
/// and compares what each started. `expected`: how many processes run.
fn compare(dir: &TempDir, conf: &Path, expected: usize) {
    let yaml = dir.join("imported.yaml");
    let out =
        run(TASKMASTER, &["--import", conf.to_str().expect("utf-8"), "-o", yaml.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let checked = run(TASKMASTER, &["--check", "-c", yaml.to_str().expect("utf-8")]);
    assert_eq!(
        checked.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&checked),
        std::fs::read_to_string(&yaml).unwrap_or_default()
    );

    let venv = venv();
    let supervisord = Command::new(venv.join("bin/supervisord"))
        .args(["-n", "-c"])
        .arg(conf)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("supervisord");
    let theirs = wait_until("supervisord's processes", || {
        let out =
            Command::new(venv.join("bin/supervisorctl")).arg("-c").arg(conf).arg("status").output().ok()?;
        let up = running(&String::from_utf8_lossy(&out.stdout));
        (up.len() == expected).then_some(up)
    });
    let their_view = settled(&theirs);
    stop(supervisord, &theirs.values().copied().collect::<Vec<_>>());

    let mut taskmaster = Command::new(TASKMASTER);
    taskmaster.arg("-c").arg(&yaml).arg("--no-shell").arg("-q").current_dir(dir.path());
    let taskmaster = taskmaster
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("taskmaster");
    let ours = wait_until("taskmaster's processes", || {
        let out = Command::new(TASKMASTERCTL).arg("-c").arg(&yaml).arg("status").output().ok()?;
        let up = running(&String::from_utf8_lossy(&out.stdout));
        (up.len() == expected).then_some(up)
    });
    let our_view = settled(&ours);
    stop(taskmaster, &ours.values().copied().collect::<Vec<_>>());

    assert_eq!(our_view.keys().collect::<Vec<_>>(), their_view.keys().collect::<Vec<_>>(), "the same names");
    for (name, theirs) in &their_view {
        let ours = &our_view[name];
        let env_diff: Vec<String> = theirs
            .env
            .keys()
            .chain(ours.env.keys())
            .filter(|k| theirs.env.get(*k) != ours.env.get(*k))
            .map(|k| format!("{k}: supervisord {:?}, taskmaster {:?}", theirs.env.get(k), ours.env.get(k)))
            .collect();
        assert!(env_diff.is_empty(), "{name}: environments differ: {env_diff:#?}");
        assert_eq!(
            (&ours.cmdline, &ours.cwd, &ours.umask),
            (&theirs.cmdline, &theirs.cwd, &theirs.umask),
            "{name}"
        );
    }
}

/// The `[supervisord]` and socket sections every configuration here starts with.
fn head(dir: &TempDir) -> String {
    let d = dir.path().display();
    format!(
        "[unix_http_server]\nfile={d}/run.sock   ; the socket\n\n[supervisord]\nlogfile={d}/sv.log\n\
         pidfile={d}/sv.pid\nchildlogdir={d}\nnodaemon=true\nuser=root\n\n[rpcinterface:supervisor]\n\
         supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n\
         [supervisorctl]\nserverurl=unix://{d}/run.sock\n\n"
    )
}

#[test]
fn supervisords_own_sample_imports_and_lists_what_it_leaves() {
    let dir = TempDir::new("sample");
    let conf = dir.write("supervisord.conf", &sample());
    let out = run(TASKMASTER, &["--import", conf.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let said = stderr(&out);
    // Each key without an equivalent, with its section and line, on stderr and in the output.
    for key in [
        "[supervisord] pidfile",
        "[supervisord] minfds",
        "[rpcinterface:supervisor]",
        "[supervisorctl] serverurl",
    ] {
        assert!(said.contains(key), "{key}: {said}");
        assert!(stdout(&out).contains(key), "{key}: {}", stdout(&out));
    }
    assert!(said.contains("supervisord.conf:49: [supervisord] pidfile"), "{said}");
    assert!(said.contains("defines no program"), "{said}");

    // Its commented-out program and group, as a user would uncomment them, run by both.
    let mut on = false;
    let mut text = String::new();
    for line in sample().lines() {
        on = (on || line.starts_with(";[program:")) && !line.is_empty();
        let line = if on { line.trim_start_matches(';') } else { line };
        if !(line.starts_with("user=")
            || line.starts_with("stdout_logfile=")
            || line.starts_with("stderr_logfile="))
        {
            text.push_str(line);
            text.push('\n');
        }
    }
    let text = text
        .replace("file=/tmp/supervisor.sock", &format!("file={}/run.sock", dir.path().display()))
        .replace(
            "serverurl=unix:///tmp/supervisor.sock",
            &format!("serverurl=unix://{}/run.sock", dir.path().display()),
        )
        .replace(
            "logfile=/tmp/supervisord.log",
            &format!("logfile={}/sv.log\nchildlogdir={}", dir.path().display(), dir.path().display()),
        )
        .replace(
            "pidfile=/tmp/supervisord.pid",
            &format!("pidfile={}/sv.pid\nuser=root", dir.path().display()),
        )
        .replace("command=/bin/cat", "command=/bin/sleep 1000");
    let conf = dir.write("uncommented.conf", &text);
    compare(&dir, &conf, 1);
}

#[test]
fn a_web_app_with_a_port_per_process() {
    let dir = TempDir::new("web");
    std::fs::create_dir(dir.join("www")).expect("www");
    let base = 40 + std::process::id() % 20;
    let text = head(&dir)
        + &format!(
            "[program:web]\ncommand=python3 -m http.server --bind 127.0.0.1 {base}0%(process_num)02d\n\
             process_name=%(program_name)s_%(process_num)02d\nnumprocs=3\ndirectory=%(here)s/www\n\
             environment=APP_ENV=\"production\",APP_HOME=\"%(here)s\",GREETING='hello, world'\n\
             umask=027\nstdout_logfile=%(here)s/web-%(process_num)02d.log\nredirect_stderr=true\n\
             stopsignal=INT\nstopwaitsecs=5\n"
        );
    let conf = dir.write("supervisord.conf", &text);
    compare(&dir, &conf, 3);
}

#[test]
fn a_queue_worker_pool() {
    let dir = TempDir::new("queue");
    let text = head(&dir)
        + "[supervisord]\nenvironment=QUEUE_URL=\"redis://localhost:6379/0\"\numask=002\n\n\
           [program:worker]\ncommand=/bin/sh -c 'exec sleep 100%(process_num)d'\nnumprocs=4\n\
           process_name=%(program_name)s_%(process_num)02d\nenvironment=QUEUE=\"jobs\",CONCURRENCY=\"2\",\n    WORKER_HOME=%(ENV_HOME)s,POOL=%(group_name)s,QUEUE_URL=\"override\"\n\
           directory=/tmp\nautorestart=true\nstopasgroup=true\nkillasgroup=true\nstartsecs=0_0\nautostart=Yes\n\
           stdout_logfile=NONE\nstderr_logfile=NONE\n\n\
           [program:scheduler]\ncommand=sleep 2000  ; runs the cron-like jobs\npriority=10\n\
           stdout_logfile=AUTO\n\n[group:queue]\nprograms=worker,scheduler\n";
    let conf = dir.write("supervisord.conf", &text);
    compare(&dir, &conf, 5);
}

#[test]
fn a_conf_d_of_included_files() {
    let dir = TempDir::new("incl");
    std::fs::create_dir(dir.join("conf.d")).expect("conf.d");
    std::fs::create_dir(dir.join("extra")).expect("extra");
    // `**` is `*` to supervisord's glob, which skips names with a leading dot: an editor's lock
    // link (dangling) and a hidden file are not read by either.
    let text = head(&dir) + "[include]\nfiles = ./conf.d/*.conf extra/**.conf\n";
    let conf = dir.write("supervisord.conf", &text);
    dir.write(
        "conf.d/api.conf",
        "[program:api]\ncommand=sleep 3000\ndirectory=%(here)s\nenvironment=ROLE=api\n",
    );
    dir.write("conf.d/mail.conf", "[program:mail]\ncommand=sleep 4000\numask=077\nautostart=true\n");
    dir.write("conf.d/.hidden.conf", "[program:hidden]\ncommand=sleep 4100\n");
    std::os::unix::fs::symlink("/nonexistent/lock", dir.join("conf.d/.#api.conf")).expect("lock link");
    dir.write(
        "extra/tool.conf",
        "[program:tool]\ncommand=python3 -c \"import time; time.sleep(5000)\" \"\\$HOME\" 100%%\n",
    );
    let out = run(TASKMASTER, &["--import", conf.to_str().expect("utf-8")]);
    assert!(stdout(&out).contains("  # from "), "{}", stdout(&out));
    assert!(!stdout(&out).contains("hidden"), "{}", stdout(&out));
    compare(&dir, &conf, 3);
    // A section written again in a later file is merged into the first, its keys winning, as
    // supervisord's parser does.
    dir.write("conf.d/zz.conf", "[program:api]\ncommand=sleep 3001\nenvironment=ROLE=override\n");
    compare(&dir, &conf, 3);
}

#[test]
fn what_cannot_be_read_is_said_and_exits_2() {
    let dir = TempDir::new("bad");
    let conf = dir.write("bad.conf", "[program:x]\ncommand=sleep 1\nthis line has no value\n");
    let out = run(TASKMASTER, &["--import", conf.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.conf:3: `this line has no value` is not `key = value`"),
        "{}",
        stderr(&out)
    );
    let good = dir.write("good.conf", "[program:x]\ncommand=sleep 1\n");
    let out =
        run(TASKMASTER, &["--import", good.to_str().expect("utf-8"), "-o", good.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("is the file imported"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&good).ok().as_deref(),
        Some("[program:x]\ncommand=sleep 1\n"),
        "untouched"
    );
    let out = run(TASKMASTER, &["--import", "/nonexistent.conf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent.conf: No such file or directory"), "{}", stderr(&out));
}
