//! Shared by the integration tests: temporary folders, running the real binaries, and a daemon
//! harness that waits with deadlines, dumps the log when a test fails, and leaves no process
//! behind.
#![allow(dead_code)]

pub mod tmux;

pub use nix::sys::signal::{Signal, kill, killpg};
pub use nix::unistd::Pid;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const TASKMASTER: &str = env!("CARGO_BIN_EXE_taskmaster");
pub const TASKMASTERCTL: &str = env!("CARGO_BIN_EXE_taskmasterctl");

/// Generous: CI machines are slow and busy; a wait ends as soon as its condition holds.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A folder of its own for one test, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        // Short, because UNIX socket paths inside it must stay under 108 bytes.
        let dir = std::env::temp_dir().join(format!("tm-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, text).expect("write a file");
        path
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.join(name)).unwrap_or_default()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs a binary to completion with `args`.
pub fn run(binary: &str, args: &[&str]) -> Output {
    Command::new(binary).args(args).output().expect("run the binary")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls `check` until it gives a value, or panics with `what` after `PATIENCE`.
pub fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        if start.elapsed() > PATIENCE {
            panic!("gave up waiting for {what} after {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().next()) != Some("Z"),
        Err(_) => false,
    }
}

/// A taskmaster running `--no-shell` in its own folder with its own socket and log.
pub struct Daemon {
    pub dir: TempDir,
    pub child: Option<Child>,
    pub config: PathBuf,
}

impl Daemon {
    /// Starts taskmaster with `programs` (the YAML under `programs:`), and waits for its socket.
    pub fn start(programs: &str) -> Daemon {
        Daemon::start_with("", programs, &["--no-shell"])
    }

    /// Starts taskmaster with extra `taskmaster:` settings and command-line arguments.
    pub fn start_with(settings: &str, programs: &str, args: &[&str]) -> Daemon {
        let dir = TempDir::new("d");
        let config = dir.write("taskmaster.yaml", &Daemon::yaml(settings, programs));
        let child = Command::new(TASKMASTER)
            .arg("-c")
            .arg(&config)
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start taskmaster");
        let daemon = Daemon { dir, child: Some(child), config };
        let socket = daemon.socket();
        wait_until("the control socket", || UnixStream::connect(&socket).ok());
        daemon
    }

    pub fn yaml(settings: &str, programs: &str) -> String {
        format!(
            "taskmaster:\n  socket: tm.sock\n  logfile: tm.log\n  history: null\n{settings}programs:\n{programs}"
        )
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("tm.sock")
    }

    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Runs taskmasterctl against this daemon.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let socket = self.socket();
        let mut all = vec!["-s", socket.to_str().expect("utf-8 path")];
        all.extend_from_slice(args);
        run(TASKMASTERCTL, &all)
    }

    /// A command's whole answer, through the protocol.
    pub fn call(&self, command: &str, args: &[&str]) -> Value {
        let mut stream = UnixStream::connect(self.socket()).expect("connect");
        let request = serde_json::json!({"command": command, "args": args});
        writeln!(stream, "{request}").expect("send");
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).expect("read the answer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad answer {line:?}: {e}"))
    }

    /// The status objects of every process.
    pub fn status(&self) -> Vec<Value> {
        self.call("status", &[])["data"].as_array().cloned().unwrap_or_default()
    }

    pub fn process(&self, name: &str) -> Value {
        self.status().into_iter().find(|p| p["name"] == name).unwrap_or_else(|| panic!("no process {name}"))
    }

    pub fn state(&self, name: &str) -> String {
        self.process(name)["state"].as_str().unwrap_or_default().to_string()
    }

    pub fn pid_of(&self, name: &str) -> Option<i32> {
        self.process(name)["pid"].as_i64().map(|p| p as i32)
    }

    /// Waits until `name` is in `state`; returns its status object.
    pub fn wait_state(&self, name: &str, state: &str) -> Value {
        wait_until(&format!("{name} to be {state}"), || {
            let p = self.process(name);
            (p["state"] == state).then_some(p)
        })
    }

    /// Waits until `name` runs with a pid other than `old`.
    pub fn wait_new_pid(&self, name: &str, old: i32) -> i32 {
        wait_until(&format!("a new pid for {name}"), || self.pid_of(name).filter(|p| *p != old))
    }

    pub fn log(&self) -> String {
        self.dir.read("tm.log")
    }

    pub fn wait_log(&self, text: &str) {
        wait_until(&format!("`{text}` in the log"), || self.log().contains(text).then_some(()));
    }

    pub fn count_log(&self, text: &str) -> usize {
        self.log().matches(text).count()
    }

    /// Every pid the log says was spawned.
    pub fn spawned_pids(&self) -> Vec<i32> {
        self.log()
            .lines()
            .filter_map(|l| l.split("' with pid ").nth(1))
            .filter_map(|p| p.trim().parse().ok())
            .collect()
    }

    /// Sends a signal to taskmaster itself.
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid()), signal).expect("signal taskmaster");
    }

    /// Waits for taskmaster to exit; returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let child = self.child.as_mut()?;
        let code = wait_until("taskmaster to exit", || child.try_wait().ok().flatten());
        self.child = None;
        code.code()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let pids = self.spawned_pids();
        let mut stderr_text = String::new();
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < PATIENCE && child.try_wait().ok().flatten().is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
            // Only now: the pipe ends when taskmaster does.
            if let Some(mut err) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut err, &mut stderr_text);
            }
        }
        if std::thread::panicking() {
            eprintln!("---- taskmaster log ----\n{}\n---- taskmaster stderr ----\n{stderr_text}", self.log());
        }
        // Whatever is still there of the processes it started, by process group.
        for pid in pids {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
}
