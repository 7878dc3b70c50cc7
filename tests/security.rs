//! Other users of the same machine: a socket or a folder put where taskmaster's would go, a
//! link planted in a shared folder (taskmaster(1), FILES). Acting as another user (`nobody`)
//! needs root, as in CI; run as anyone else, these tests say so and check nothing.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

const NOBODY: u32 = 65534;

fn root() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("not root: this test needs another user and checks nothing");
        return false;
    }
    true
}

/// A folder anyone may write in, sticky like /tmp.
fn shared(tag: &str) -> TempDir {
    let dir = TempDir::new(tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    dir
}

/// taskmaster run as `nobody` on `config`, in `dir`, without XDG_RUNTIME_DIR.
fn as_nobody(dir: &Path, config: &Path) -> Guarded {
    std::fs::set_permissions(config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    Guarded(
        Command::new(TASKMASTER)
            .args(["--no-shell", "-q", "-c"])
            .arg(config)
            .current_dir(dir)
            .env_remove("XDG_RUNTIME_DIR")
            .uid(NOBODY)
            .gid(NOBODY)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start taskmaster as nobody"),
    )
}

fn stop(mut child: Guarded) {
    let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
    let _ = child.wait();
}

const SLEEPER: &str = "programs:\n  a:\n    cmd: sleep 1000\n    starttime: 0\n";

#[test]
fn a_socket_another_user_serves_is_neither_taken_nor_talked_to() {
    if !root() {
        return;
    }
    let dir = shared("squat");
    let socket = dir.join("tm.sock");
    let squatter_config =
        dir.write("squat.yaml", &format!("taskmaster:\n  socket: tm.sock\n  logfile: squat.log\n{SLEEPER}"));
    let squatter = as_nobody(dir.path(), &squatter_config);
    wait_until("the squatter's socket", || std::os::unix::net::UnixStream::connect(&socket).ok());

    let mine =
        dir.write("mine.yaml", &format!("taskmaster:\n  socket: tm.sock\n  logfile: mine.log\n{SLEEPER}"));
    let out = run(TASKMASTER, &["--no-shell", "-q", "-c", mine.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is served by a program of uid 65534 (nobody), not yours; refusing to use it"),
        "{}",
        stderr(&out)
    );

    let out = run(TASKMASTERCTL, &["-s", socket.to_str().expect("utf-8"), "stop", "all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("is served by a program of uid 65534 (nobody), not by you or root"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "", "no forged answer is printed");
    stop(squatter);
}

#[test]
fn the_default_socket_lives_in_a_folder_only_its_user_can_enter() {
    if !root() {
        return;
    }
    let folder = Path::new("/tmp/taskmaster-65534");
    let _ = std::fs::remove_dir_all(folder);
    let dir = shared("private");
    let config = dir.write("t.yaml", &format!("taskmaster:\n  logfile: tm.log\n{SLEEPER}"));
    let child = as_nobody(dir.path(), &config);
    let socket = folder.join("taskmaster.sock");
    wait_until("the default socket", || std::os::unix::net::UnixStream::connect(&socket).ok());
    let meta = std::fs::symlink_metadata(folder).expect("the folder");
    assert!(meta.is_dir());
    assert_eq!((meta.uid(), meta.mode() & 0o777), (NOBODY, 0o700));
    stop(child);
    std::fs::remove_dir_all(folder).expect("clean up");

    // Someone else made the folder first: taskmaster will not put its socket there.
    std::fs::create_dir(folder).expect("squat the folder");
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let mut child = as_nobody(dir.path(), &config);
    let status = wait_until("taskmaster to refuse", || child.try_wait().ok().flatten());
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut text).expect("read");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("the socket folder /tmp/taskmaster-65534 belongs to uid 0 (root), not to you"),
        "{text}"
    );
    std::fs::remove_dir_all(folder).expect("clean up");
}

#[test]
fn a_link_another_user_planted_in_a_shared_folder_is_not_followed() {
    if !root() {
        return;
    }
    let dir = shared("link");
    let victim = dir.write("victim", "precious\n");
    let link = dir.join("out.log");
    std::os::unix::fs::symlink(&victim, &link).expect("plant the link");
    let owned = Command::new("chown").args(["-h", "65534:65534"]).arg(&link).status().expect("chown");
    assert!(owned.success());
    let d = Daemon::start(&format!(
        "  w:\n    cmd: sh -c 'echo overwritten; exec sleep 1000'\n    starttime: 0\n    startretries: 0\n    \
         stdout: {}\n",
        link.display()
    ));
    let p = d.wait_state("w", "FATAL");
    let reason = p["description"].as_str().unwrap_or_default();
    assert!(reason.contains("is a symbolic link of uid 65534 in the shared folder"), "{reason}");
    assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious\n");
}

#[test]
fn a_socket_one_may_not_open_gets_the_right_hint() {
    if !root() {
        return;
    }
    let d = Daemon::start(SLEEPER.trim_start_matches("programs:\n"));
    // The socket is 0600, root's: `nobody` may not connect, and is told why.
    let out = Command::new(TASKMASTERCTL)
        .args(["-s", d.socket().to_str().expect("utf-8"), "status"])
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("run taskmasterctl as nobody");
    assert_eq!(out.status.code(), Some(2));
    let text = stderr(&out);
    assert!(text.contains("Permission denied (taskmaster's socket_mode does not let you in)"), "{text}");
}
