//! `user`, `group`, `taskmaster: user:`, `socket_owner` and `admins` (taskmaster(1), PRIVILEGES),
//! with throwaway users and groups made for each test and removed after it. Switching users
//! takes root: run as anyone else, these tests say so and check nothing.

mod common;

use common::*;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};

/// Whether the tests can run; says why not otherwise.
fn as_root() -> bool {
    let root = nix::unistd::geteuid().is_root();
    if !root {
        eprintln!("skipped: switching users needs root (CI runs as root)");
    }
    root
}

/// A name no one else uses: `tm` + this test process + a tag.
fn unique(tag: &str) -> String {
    format!("tm{}{tag}", std::process::id())
}

fn must(program: &str, args: &[&str]) {
    let out = run(program, args);
    assert!(out.status.success(), "{program} {args:?}: {}", stderr(&out));
}

/// A group of its own, removed when dropped.
struct TmpGroup {
    name: String,
    gid: u32,
}

impl TmpGroup {
    fn new(tag: &str) -> TmpGroup {
        let name = unique(tag);
        must("groupadd", &[&name]);
        let gid = stdout(&run("getent", &["group", &name])).split(':').nth(2).and_then(|g| g.parse().ok());
        TmpGroup { name, gid: gid.expect("the new group's gid") }
    }
}

impl Drop for TmpGroup {
    fn drop(&mut self) {
        let _ = run("groupdel", &[&self.name]);
    }
}

/// A user with a group of its own and no home folder, removed when dropped.
struct TmpUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TmpUser {
    fn new(tag: &str, groups: &[&TmpGroup]) -> TmpUser {
        let name = unique(tag);
        let home = format!("/home/{name}");
        let mut args = vec!["-M", "-U", "-s", "/bin/sh", "-d", &home];
        let list = groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(",");
        if !groups.is_empty() {
            args.extend(["-G", &list]);
        }
        args.push(&name);
        must("useradd", &args);
        let id = |flag| stdout(&run("id", &[flag, &name])).trim().parse::<u32>().expect("an id");
        TmpUser { uid: id("-u"), gid: id("-g"), name }
    }

    /// `program` run as this user, with its groups (as login would give them).
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("setpriv");
        let (uid, gid) = (self.uid.to_string(), self.gid.to_string());
        command.args(["--reuid", &uid, "--regid", &gid, "--init-groups", program]);
        command
    }
}

impl Drop for TmpUser {
    fn drop(&mut self) {
        let _ = run("userdel", &[&self.name]);
    }
}

/// The `Uid:`, `Gid:` and `Groups:` lines of a process.
fn ids(pid: i32) -> (String, String, String) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_default()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    (line("Uid:"), line("Gid:"), line("Groups:"))
}

/// Starts taskmaster on `config` (in `dir`) through `command` (taskmaster itself, or a wrapper
/// such as setpriv or unshare that runs it).
fn launch(mut command: Command, dir: TempDir, config: std::path::PathBuf) -> Daemon {
    command.arg("--no-shell").arg("-c").arg(&config);
    Daemon::spawn_in(command, dir, config)
}

/// A process's environment; read again until it can be (a read that meets the process in the
/// middle of its exec fails).
fn environment(pid: i32) -> Vec<String> {
    let raw = wait_until(&format!("the environment of {pid}"), || {
        std::fs::read(format!("/proc/{pid}/environ")).ok().filter(|raw| !raw.is_empty())
    });
    raw.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect()
}

#[test]
fn a_program_runs_as_its_user_with_its_groups_its_environment_and_its_files() {
    if !as_root() {
        return;
    }
    let extra = TmpGroup::new("x");
    let user = TmpUser::new("u", &[&extra]);
    let programs = format!(
        "  web:\n    cmd: sh -c 'echo out; exec sleep 1000'\n    user: {u}\n    starttime: 0\n    stdout: web.out\n\
         \x20 own:\n    cmd: sleep 1000\n    user: {uid}\n    group: {g}\n    starttime: 0\n    env:\n      HOME: /elsewhere\n",
        u = user.name,
        uid = user.uid,
        g = extra.name,
    );
    let d = Daemon::start(&programs);
    let web = d.wait_state("web", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    let (uid, gid) = (user.uid, user.gid);
    assert_eq!(
        ids(web),
        (format!("{uid} {uid} {uid} {uid}"), format!("{gid} {gid} {gid} {gid}"), {
            let mut groups = [gid, extra.gid];
            groups.sort_unstable();
            format!("{} {}", groups[0], groups[1])
        })
    );
    // Once `sh` has exec'd `sleep` (during the exec, /proc shows no environment).
    wait_until("the output", || d.dir.read("web.out").contains("out").then_some(()));
    let env = wait_until("the environment", || Some(environment(web)).filter(|e| e.len() > 1));
    for wanted in [
        format!("HOME=/home/{}", user.name),
        format!("USER={}", user.name),
        format!("LOGNAME={}", user.name),
        "SHELL=/bin/sh".to_string(),
    ] {
        assert!(env.contains(&wanted), "{wanted} in {env:?}");
    }
    // The output file taskmaster made is the program's user's.
    let meta = std::fs::metadata(d.dir.join("web.out")).expect("web.out");
    assert_eq!((meta.uid(), meta.gid()), (uid, gid));
    // A group named: that is the process's group; `env` wins over the passwd entry.
    let own = d.wait_state("own", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    assert_eq!(ids(own).1, format!("{0} {0} {0} {0}", extra.gid));
    assert!(environment(own).contains(&"HOME=/elsewhere".to_string()));
    let ps = run("ps", &["-o", "user=,group=", "-p", &web.to_string()]);
    assert_eq!(stdout(&ps).split_whitespace().collect::<Vec<_>>(), [user.name.as_str(), user.name.as_str()]);
}

#[test]
fn a_reader_may_look_but_not_touch_and_an_admin_group_may() {
    if !as_root() {
        return;
    }
    let ops = TmpGroup::new("o");
    let admin = TmpUser::new("a", &[&ops]);
    let reader = TmpUser::new("r", &[]);
    let settings = format!("  socket_mode: \"0666\"\n  admins: [\"@{}\"]\n", ops.name);
    let d = Daemon::start_with(&settings, "  web:\n    cmd: sleep 1000\n    starttime: 0\n", &["--no-shell"]);
    let pid = d.wait_state("web", "RUNNING")["pid"].clone();
    let socket = d.socket();
    let ctl = |who: &TmpUser, args: &[&str]| {
        who.command(TASKMASTERCTL)
            .arg("-s")
            .arg(&socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("taskmasterctl")
    };
    let refused = ctl(&reader, &["stop", "web"]);
    assert_eq!(refused.status.code(), Some(1));
    let said = stdout(&refused);
    assert!(said.contains("web: ERROR (permission denied)"), "{said}");
    assert!(said.contains(&format!("uid {} ({})", reader.uid, reader.name)), "{said}");
    for command in [&["shutdown"][..], &["reload"], &["signal", "HUP", "web"], &["restart", "all"]] {
        assert!(stdout(&ctl(&reader, command)).contains("ERROR (permission denied)"), "{command:?}");
    }
    assert_eq!(d.process("web")["pid"], pid, "nothing was touched");
    let status = ctl(&reader, &["status"]);
    assert_eq!(status.status.code(), Some(0), "a reader reads");
    assert_eq!(ctl(&reader, &["tail", "web"]).status.code(), Some(0), "and tails");
    assert!(stdout(&status).contains("RUNNING"));
    d.wait_log(&format!("stop web by uid {} ({}): permission denied", reader.uid, reader.name));

    // A reader that keeps trying on one connection is logged a few times only.
    let before = d.count_log("permission denied");
    let mut shell = reader.command(TASKMASTERCTL);
    shell.arg("-s").arg(&socket).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
    let mut shell = shell.spawn().expect("a shell");
    std::io::Write::write_all(shell.stdin.as_mut().expect("stdin"), "stop web\n".repeat(30).as_bytes())
        .expect("send");
    drop(shell.stdin.take());
    let said = shell.wait_with_output().expect("the shell");
    assert_eq!(String::from_utf8_lossy(&said.stdout).matches("permission denied").count(), 30);
    d.wait_log("(more on this connection go unlogged)");
    assert_eq!(d.count_log("permission denied") - before, 10);

    let done = ctl(&admin, &["stop", "web"]);
    assert_eq!(stdout(&done).trim(), "web: stopped", "{}", stderr(&done));
    d.wait_log(&format!("stop web by uid {} ({})", admin.uid, admin.name));
    assert!(!d.log().contains(&format!("status by uid {}", reader.uid)), "reading is not logged");
}

#[test]
fn a_taskmaster_without_root_refuses_other_users_at_start_and_at_reload() {
    if !as_root() {
        return;
    }
    let somebody = TmpUser::new("s", &[]);
    let runner = TmpUser::new("n", &[]);
    let dir = TempDir::new("nr");
    nix::unistd::chown(dir.path(), Some(runner.uid.into()), Some(runner.gid.into())).expect("chown");
    let other = format!("  web:\n    cmd: sleep 1000\n    user: {}\n", somebody.name);
    let config = dir.write("taskmaster.yaml", &Daemon::yaml("", &other));
    let out = runner.command(TASKMASTER).arg("-c").arg(&config).arg("--no-shell").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains(&format!("program 'web': user '{}' needs taskmaster to run as root", somebody.name)),
        "{}",
        stderr(&out)
    );

    // Running as that user, a reload that names another is refused and changes nothing.
    let own = "  web:\n    cmd: sleep 1000\n    starttime: 0\n";
    std::fs::write(&config, Daemon::yaml("", own)).expect("write");
    let d = launch(runner.command(TASKMASTER), dir, config);
    let pid = wait_until("web running", || d.try_call("status", &[])?["data"][0]["pid"].as_i64());
    assert_eq!(ids(d.pid()).0.split(' ').next(), Some(runner.uid.to_string().as_str()));
    std::fs::write(&d.config, Daemon::yaml("", &other)).expect("write");
    let answer = d.call("reload", &[]);
    assert_eq!(answer["ok"], false);
    assert!(
        answer["output"].as_str().unwrap_or_default().contains("needs taskmaster to run as root"),
        "{answer}"
    );
    assert_eq!(d.process("web")["pid"].as_i64(), Some(pid));
}

#[test]
fn taskmaster_gives_root_up_after_opening_its_socket_and_log() {
    if !as_root() {
        return;
    }
    let user = TmpUser::new("d", &[]);
    let settings = format!("  user: {}\n", user.name);
    let d = Daemon::start_with(&settings, "  web:\n    cmd: sleep 1000\n    starttime: 0\n", &["--no-shell"]);
    let web = d.wait_state("web", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    let uid = user.uid;
    assert_eq!(ids(d.pid()).0, format!("{uid} {uid} {uid} {uid}"), "taskmaster itself");
    assert_eq!(ids(web).0, format!("{uid} {uid} {uid} {uid}"), "its program");
    d.wait_log(&format!("running as user '{}' (uid {uid})", user.name));
    // Its socket and the log it made are the user's: it can still reopen them.
    for file in ["tm.sock", "tm.log"] {
        assert_eq!(std::fs::metadata(d.dir.join(file)).expect(file).uid(), uid, "{file}");
    }
    assert_eq!(d.call("status", &[])["ok"], true, "root may still talk to it");
    // Programs that name no user are that user's, HOME and all.
    let env = environment(web);
    assert!(env.contains(&format!("USER={}", user.name)), "{env:?}");
    // Its user finds the socket through the same file, whose `user` only root could use.
    let out =
        user.command(TASKMASTERCTL).arg("-c").arg(&d.config).arg("stop").arg("web").output().expect("ctl");
    assert_eq!(stdout(&out).trim(), "web: stopped", "{}", stderr(&out));
}

#[test]
fn a_change_of_user_restarts_the_program_at_reload() {
    if !as_root() {
        return;
    }
    let first = TmpUser::new("f", &[]);
    let second = TmpUser::new("g", &[]);
    let program =
        |user: &TmpUser| format!("  web:\n    cmd: sleep 1000\n    starttime: 0\n    user: {}\n", user.name);
    let d = Daemon::start(&program(&first));
    let old = d.wait_state("web", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    std::fs::write(&d.config, Daemon::yaml("", &program(&second))).expect("write");
    let answer = d.call("reload", &[]);
    assert!(answer["output"].as_str().unwrap_or_default().contains("restarted: web"), "{answer}");
    let new = d.wait_new_pid("web", old);
    assert_eq!(ids(new).0.split(' ').next(), Some(second.uid.to_string().as_str()));
}

#[test]
fn an_unknown_user_is_an_error_at_check_with_its_line() {
    let dir = TempDir::new("uu");
    let config = dir.write(
        "t.yaml",
        "programs:\n  web:\n    cmd: sleep 1\n    user: no-such-user-tm\n    group: no-such-group-tm\n",
    );
    let out = run(TASKMASTER, &["--check", "-c", config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let said = stderr(&out);
    assert!(said.contains(":4:5: program 'web': user: no user is named `no-such-user-tm`"), "{said}");
    assert!(said.contains(":5:5: program 'web': group: no group is named `no-such-group-tm`"), "{said}");
}

#[test]
fn giving_root_up_waits_for_the_next_start() {
    if !as_root() {
        return;
    }
    let user = TmpUser::new("l", &[]);
    let program = "  web:\n    cmd: sleep 1000\n    starttime: 0\n";
    let d = Daemon::start(program);
    d.wait_state("web", "RUNNING");
    std::fs::write(&d.config, Daemon::yaml(&format!("  user: {}\n", user.name), program)).expect("write");
    assert_eq!(d.call("reload", &[])["ok"], true);
    d.wait_log("taskmaster's `user` changed: it applies at the next start (taskmaster runs as uid 0)");
    assert_eq!(ids(d.pid()).0, "0 0 0 0", "still root");
}

#[test]
fn a_user_that_cannot_be_taken_is_a_spawn_error_naming_the_step() {
    // In a user namespace of its own, taskmaster is root but may not set groups: the first step.
    let works = Command::new("unshare").args(["--user", "--map-root-user", "true"]).status();
    if !works.is_ok_and(|s| s.success()) {
        eprintln!("skipped: this machine allows no user namespace");
        return;
    }
    let dir = TempDir::new("ns");
    let program = "  web:\n    cmd: sleep 1000\n    user: nobody\n    startretries: 0\n    starttime: 0\n";
    let config = dir.write("taskmaster.yaml", &Daemon::yaml("", program));
    let mut unshare = Command::new("unshare");
    unshare.args(["--user", "--map-root-user", TASKMASTER]);
    let d = launch(unshare, dir, config);
    let fatal = wait_until("web to give up", || {
        let web = d.try_call("status", &["web"])?["data"][0].clone();
        (web["state"] == "FATAL").then_some(web)
    });
    let why = "couldn't become user 'nobody' (setgroups): Operation not permitted";
    d.wait_log(&format!("spawnerr: {why}"));
    assert_eq!(fatal["description"], why, "status says why");
    assert!(d.spawned_pids().is_empty(), "it never ran");
}

#[test]
fn the_path_is_searched_for_a_command_the_user_can_run() {
    if !as_root() {
        return;
    }
    let user = TmpUser::new("p", &[]);
    let d = {
        // A folder only root may enter, first in PATH, as root's own tools often are.
        let dir = TempDir::new("pv");
        std::fs::create_dir(dir.join("private")).expect("mkdir");
        std::os::unix::fs::symlink("/bin/sleep", dir.join("private/sleep")).expect("link");
        let private = dir.join("private");
        let private = private.display();
        let programs = format!(
            "  found:\n    cmd: sleep 1000\n    user: {u}\n    starttime: 0\n    env:\n      PATH: {private}:/usr/bin:/bin\n\
             \x20 hidden:\n    cmd: sleep 1000\n    user: {u}\n    startretries: 0\n    env:\n      PATH: {private}\n",
            u = user.name
        );
        std::fs::set_permissions(dir.join("private"), std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("chmod");
        let config = dir.write("taskmaster.yaml", &Daemon::yaml("", &programs));
        let d = launch(Command::new(TASKMASTER), dir, config);
        wait_until("the socket", || d.try_call("version", &[]));
        d
    };
    d.wait_state("found", "RUNNING");
    let hidden = d.wait_state("hidden", "FATAL");
    let why = format!(
        "command at '{}/private/sleep' is not executable by user '{}'",
        d.dir.path().display(),
        user.name
    );
    assert_eq!(hidden["description"], why.as_str());
}

#[test]
fn the_shell_of_taskmasterctl_works_on_a_terminal_of_another_user() {
    if !as_root() {
        return;
    }
    // As after `su`: the terminal is root's, and another user may not open it again.
    let reader = TmpUser::new("t", &[]);
    let d = Daemon::start_with("  socket_mode: \"0666\"\n", "  web:\n    cmd: sleep 1000\n", &["--no-shell"]);
    let line = format!(
        "setpriv --reuid {} --regid {} --init-groups {TASKMASTERCTL} -s {}; echo CTL $?",
        reader.uid,
        reader.gid,
        d.socket().display()
    );
    let tmux = common::tmux::Tmux::start(&format!("sh -c '{line}; sleep 1000'"));
    tmux.wait_for("taskmasterctl>");
    tmux.text("status web");
    tmux.keys(&["Enter"]);
    tmux.wait_for("web        ");
    tmux.text("stop web");
    tmux.keys(&["Enter"]);
    tmux.wait_for("web: ERROR (permission denied)");
    tmux.text("quit");
    tmux.keys(&["Enter"]);
    tmux.wait_for("CTL 0");
}

#[test]
fn a_folder_the_user_may_not_enter_is_warned_about_and_named_with_the_user() {
    if !as_root() {
        return;
    }
    let user = TmpUser::new("w", &[]);
    let dir = TempDir::new("wd");
    std::fs::create_dir(dir.join("closed")).expect("mkdir");
    std::fs::set_permissions(dir.join("closed"), std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let closed = dir.join("closed");
    let program = format!(
        "  web:\n    cmd: /bin/sleep 1000\n    user: {}\n    workingdir: {}\n    startretries: 0\n",
        user.name,
        closed.display()
    );
    let config = dir.write("taskmaster.yaml", &Daemon::yaml("", &program));
    let out = run(TASKMASTER, &["--check", "-c", config.to_str().expect("utf-8")]);
    let said = stderr(&out);
    assert!(
        said.contains(&format!("workingdir: {} cannot be entered by user '{}'", closed.display(), user.name)),
        "{said}"
    );
    let d = launch(Command::new(TASKMASTER), dir, config);
    let fatal = wait_until("web to give up", || {
        let web = d.try_call("status", &["web"])?["data"][0].clone();
        (web["state"] == "FATAL").then_some(web)
    });
    let why = format!("couldn't chdir to {}: Permission denied (as user '{}')", closed.display(), user.name);
    assert_eq!(fatal["description"], why.as_str());
}

/// A file only root may read or write, with known content.
fn root_only(dir: &TempDir, name: &str) -> std::path::PathBuf {
    let path = dir.write(name, "root's\n");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    path
}

#[test]
fn links_a_programs_user_plants_lead_nowhere_it_may_not_write() {
    if !as_root() {
        return;
    }
    let user = TmpUser::new("k", &[]);
    let secrets = TempDir::new("sec");
    std::fs::set_permissions(secrets.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let victim = root_only(&secrets, "victim");
    // The user's own folders: its output file is a link to the victim, its error folder a link to
    // the root-only folder.
    let home = TempDir::new("own");
    nix::unistd::chown(home.path(), Some(user.uid.into()), Some(user.gid.into())).expect("chown");
    std::os::unix::fs::symlink(&victim, home.join("out")).expect("link");
    std::os::unix::fs::symlink(secrets.path(), home.join("logs")).expect("link");
    let programs = format!(
        "  web:\n    cmd: sh -c 'echo planted; echo err >&2; exec sleep 1000'\n    user: {}\n    starttime: 0\n    \
         stdout: {}\n    stderr: {}\n",
        user.name,
        home.join("out").display(),
        home.join("logs/web.err").display()
    );
    let d = Daemon::start(&programs);
    d.wait_state("web", "RUNNING");
    d.wait_log(&format!("couldn't open {}", home.join("out").display()));
    d.wait_log(&format!("couldn't open {}", home.join("logs/web.err").display()));
    // SIGUSR2 reopens them: the same refusal.
    d.signal(nix::sys::signal::Signal::SIGUSR2);
    d.wait_log("the log files were reopened");
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "root's\n", "not written");
    let meta = std::fs::metadata(&victim).expect("victim");
    assert_eq!((meta.uid(), meta.mode() & 0o777), (0, 0o600), "not given away");
    assert!(!secrets.join("web.err").exists(), "nothing created in the root-only folder");
}

#[test]
fn a_link_root_made_to_a_users_folder_leads_root_nowhere_the_user_turns_it() {
    if !as_root() {
        return;
    }
    let user = TmpUser::new("m", &[]);
    // A root-only folder with a root file of the name the program writes to.
    let secrets = TempDir::new("vic");
    let victim = secrets.write("out.log", "root's\n");
    // Root links its log folder to the user's; the user then turns its folder into a link to
    // the root-only one.
    let home = TempDir::new("uh");
    nix::unistd::chown(home.path(), Some(user.uid.into()), Some(user.gid.into())).expect("chown");
    std::os::unix::fs::symlink(secrets.path(), home.join("logs")).expect("the user's link");
    let root = TempDir::new("rl");
    std::os::unix::fs::symlink(home.join("logs"), root.join("log")).expect("root's link");
    let programs = format!(
        "  web:\n    cmd: sh -c 'echo injected; exec sleep 1000'\n    user: {}\n    starttime: 0\n    \
         stdout: {}\n    stderr: {}\n",
        user.name,
        root.join("log/out.log").display(),
        root.join("log/new.log").display()
    );
    let d = Daemon::start(&programs);
    d.wait_state("web", "RUNNING");
    d.wait_log(&format!("couldn't open {}", root.join("log/out.log").display()));
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "root's\n", "not written");
    assert!(!secrets.join("new.log").exists(), "nothing created in the root-only folder");
}

#[test]
fn a_program_cannot_write_to_taskmasters_terminal_through_dev_tty() {
    if !as_root() {
        return;
    }
    let user = TmpUser::new("y", &[]);
    let home = TempDir::new("ty");
    nix::unistd::chown(home.path(), Some(user.uid.into()), Some(user.gid.into())).expect("chown");
    std::os::unix::fs::symlink("/dev/tty", home.join("tty.log")).expect("link");
    let dir = TempDir::new("tyd");
    let program = format!(
        "  web:\n    cmd: sh -c 'echo FROM-THE-PROGRAM; exec sleep 1000'\n    user: {}\n    stdout: {}\n    startretries: 0\n",
        user.name,
        home.join("tty.log").display()
    );
    let config = dir.write("taskmaster.yaml", &Daemon::yaml("", &program));
    let tmux = common::tmux::Tmux::start(&format!("{TASKMASTER} -c {}", config.display()));
    let screen = tmux.wait_for("is a terminal");
    assert!(!screen.contains("FROM-THE-PROGRAM"), "{screen}");
    tmux.keys(&["C-d"]);
    wait_until("shutdown", || dir.read("tm.log").contains("shutdown complete").then_some(()));
}

#[test]
fn programs_have_no_controlling_terminal() {
    // Run from a terminal, as a person does: the program is a session of its own, without it.
    let dir = TempDir::new("tty");
    let config =
        dir.write("taskmaster.yaml", &Daemon::yaml("", "  web:\n    cmd: sleep 1000\n    starttime: 0\n"));
    let tmux = common::tmux::Tmux::start(&format!("{TASKMASTER} -c {}", config.display()));
    tmux.wait_for("entered RUNNING");
    let log = dir.read("tm.log");
    let pid: i32 = log
        .split("'web' with pid ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
        .expect("pid");
    let fields = stat_fields(pid);
    tmux.keys(&["C-d"]);
    wait_until("shutdown", || dir.read("tm.log").contains("shutdown complete").then_some(()));
    // After `)`: state, ppid, pgrp, session, tty_nr.
    assert_eq!(fields[2..5], [pid.to_string(), pid.to_string(), "0".to_string()], "{fields:?}");
}

#[test]
fn the_socket_is_given_to_its_owner_before_it_is_in_place() {
    if !as_root() {
        return;
    }
    let group = TmpGroup::new("sg");
    let user = TmpUser::new("su", &[]);
    let settings = format!("  socket_mode: \"0660\"\n  socket_owner: {}:{}\n", user.name, group.name);
    let d = Daemon::start_with(&settings, "  web:\n    cmd: sleep 1000\n", &["--no-shell"]);
    let meta = std::fs::symlink_metadata(d.socket()).expect("socket");
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o777), (user.uid, group.gid, 0o660));
    let names: Vec<String> = std::fs::read_dir(d.dir.path())
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert!(!names.iter().any(|n| n.starts_with(".taskmaster")), "made aside, nothing left: {names:?}");
}

#[test]
fn one_user_cannot_take_every_connection_from_the_admins() {
    if !as_root() {
        return;
    }
    let hog = TmpUser::new("h", &[]);
    let d = Daemon::start_with("  socket_mode: \"0666\"\n", "  web:\n    cmd: sleep 1000\n", &["--no-shell"]);
    let socket = d.socket();
    // One process of the user holds as many connections as one user may have.
    let hold = "import socket, sys, time\n\
                held = [socket.socket(socket.AF_UNIX) for _ in range(64)]\n\
                for s in held: s.connect(sys.argv[1])\n\
                print('held', flush=True)\n\
                time.sleep(600)\n";
    // Not through root's PATH, which may lead where the user cannot go.
    let python =
        ["/usr/bin/python3", "/usr/local/bin/python3"].into_iter().find(|p| std::path::Path::new(p).exists());
    let mut holder = hog.command(python.expect("python3 (`make test-deps` installs it)"));
    holder.arg("-c").arg(hold).arg(&socket).stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut holder = Guarded(holder.spawn().expect("python3 holds the connections"));
    let mut said = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.0.stdout.as_mut().expect("stdout")),
        &mut said,
    )
    .expect("the holder says");
    assert_eq!(said.trim(), "held");
    let refused = hog.command(TASKMASTERCTL).arg("-s").arg(&socket).arg("status").output().expect("ctl");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused).contains("too many connections of uid"),
        "{}{}",
        stdout(&refused),
        stderr(&refused)
    );
    assert_eq!(d.call("status", &[])["ok"], true, "root is still served");
    drop(holder);
}

#[test]
fn a_client_trusts_the_user_its_file_makes_taskmaster_run_as() {
    if !as_root() {
        return;
    }
    let user = TmpUser::new("c", &[]);
    let dir = TempDir::new("tr");
    // A folder the daemon's user may bind a new socket in, once it is no longer root.
    std::fs::create_dir(dir.join("run")).expect("mkdir");
    nix::unistd::chown(&dir.join("run"), Some(user.uid.into()), Some(user.gid.into())).expect("chown");
    let yaml = |socket: &str| {
        format!(
            "taskmaster:\n  socket: run/{socket}\n  logfile: tm.log\n  history: null\n  user: {}\nprograms:\n  web:\n    cmd: sleep 1000\n",
            user.name
        )
    };
    let config = dir.write("taskmaster.yaml", &yaml("a.sock"));
    let d = launch(Command::new(TASKMASTER), dir, config);
    let ctl = |args: &[&str]| {
        let mut all = vec!["-c", d.config.to_str().expect("utf-8")];
        all.extend_from_slice(args);
        run(TASKMASTERCTL, &all)
    };
    wait_until("taskmaster", || ctl(&["status"]).status.success().then_some(()));
    // Moved by a reload: the new socket is bound by the daemon's user, not root.
    std::fs::write(&d.config, yaml("b.sock")).expect("write");
    let first = d.dir.join("run/a.sock");
    let reload = run(TASKMASTERCTL, &["-s", first.to_str().expect("utf-8"), "reload"]);
    assert!(stdout(&reload).contains("unchanged"), "{} {}", stdout(&reload), stderr(&reload));
    d.wait_log("the socket moved");
    let out = ctl(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Without the file, that user is a stranger.
    let out = run(TASKMASTERCTL, &["-s", d.dir.join("run/b.sock").to_str().expect("utf-8"), "status"]);
    assert!(stderr(&out).contains("not by you or root"), "{}", stderr(&out));
    assert_eq!(ctl(&["shutdown"]).status.code(), Some(0));
}

#[test]
fn a_program_cannot_reach_into_taskmaster_through_proc_self() {
    if !as_root() {
        return;
    }
    let user = TmpUser::new("q", &[]);
    let home = TempDir::new("pq");
    nix::unistd::chown(home.path(), Some(user.uid.into()), Some(user.gid.into())).expect("chown");
    // /proc/self is whoever opens: taskmaster.
    std::os::unix::fs::symlink("/proc/self/timerslack_ns", home.join("slack.log")).expect("link");
    let program = format!(
        "  web:\n    cmd: sh -c 'printf 30000000000; exec sleep 1000'\n    user: {}\n    stdout: {}\n    startretries: 0\n",
        user.name,
        home.join("slack.log").display()
    );
    let d = Daemon::start(&program);
    let slack = || std::fs::read_to_string(format!("/proc/{}/timerslack_ns", d.pid())).unwrap_or_default();
    let before = slack();
    d.wait_log("is in /proc");
    assert_eq!(slack(), before, "taskmaster's timer slack is its own");
}

#[test]
fn the_socket_is_given_its_owner_in_a_setgid_folder_and_through_a_linked_one() {
    if !as_root() {
        return;
    }
    let group = TmpGroup::new("gs");
    let dir = TempDir::new("sg");
    let real = dir.join("real");
    std::fs::create_dir(&real).expect("mkdir");
    nix::unistd::chown(&real, None, Some(group.gid.into())).expect("chgrp");
    std::fs::set_permissions(&real, std::os::unix::fs::PermissionsExt::from_mode(0o2755)).expect("setgid");
    std::os::unix::fs::symlink(&real, dir.join("run")).expect("a /var/run-like link");
    let socket = dir.join("run/tm.sock");
    let yaml = format!(
        "taskmaster:\n  socket: {}\n  logfile: tm.log\n  history: null\n  socket_mode: \"0660\"\n  \
         socket_owner: \":{}\"\nprograms:\n  web:\n    cmd: sleep 1000\n",
        socket.display(),
        group.name
    );
    let config = dir.write("taskmaster.yaml", &yaml);
    let mut d = launch(Command::new(TASKMASTER), dir, config);
    wait_until("the socket", || std::fs::symlink_metadata(&socket).ok().filter(|m| m.gid() == group.gid));
    let names: Vec<String> = std::fs::read_dir(&real)
        .expect("dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(".taskmaster"))
        .collect();
    assert!(names.is_empty(), "nothing left beside it: {names:?}");
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(d.wait_exit(), Some(0));
}
