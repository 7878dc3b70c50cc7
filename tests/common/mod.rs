//! Shared by the integration tests: temporary folders, running the real binaries, and a daemon
//! harness that waits with deadlines, dumps the log when a test fails, and leaves no process
//! behind.
// Test helpers: each test crate uses some, and reads the clock to wait with deadlines.
#![allow(dead_code, unreachable_pub, clippy::disallowed_methods)]

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
pub fn wait_until<T>(what: &str, check: impl FnMut() -> Option<T>) -> T {
    wait_longer(what, PATIENCE, check)
}

/// `wait_until` with more patience, for work that is long by design (ten thousand processes).
pub fn wait_longer<T>(what: &str, patience: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        if start.elapsed() > patience {
            panic!("gave up waiting for {what} after {patience:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The fields of /proc/PID/stat after the command name: state, ppid, pgrp, ... (empty when the
/// process is gone).
pub fn stat_fields(pid: i32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')').next().unwrap_or_default().split_whitespace().map(str::to_string).collect()
}

/// Every process on the machine.
pub fn all_pids() -> Vec<i32> {
    std::fs::read_dir("/proc")
        .map(|d| d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect())
        .unwrap_or_default()
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    stat_fields(pid).first().is_some_and(|state| state != "Z")
}

/// Whether a process is gone for good: not even a zombie waiting to be reaped.
pub fn gone(pid: i32) -> bool {
    std::fs::metadata(format!("/proc/{pid}")).is_err()
}

/// Processes a test must end if it fails before they are (ones taskmaster does not own, or
/// ones it is expected to kill): SIGKILL on drop to those still alive.
pub struct KillOnDrop(pub Vec<i32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        for &pid in &self.0 {
            if alive(pid) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// A process's process group.
pub fn pgrp(pid: i32) -> Option<i32> {
    stat_fields(pid).get(2).and_then(|g| g.parse().ok())
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
        Daemon::launch("", settings, programs, args)
    }

    /// Starts taskmaster through `sh -c '<prefix> exec taskmaster ...'` (to set a ulimit, say).
    pub fn launch(prefix: &str, settings: &str, programs: &str, args: &[&str]) -> Daemon {
        let dir = TempDir::new("d");
        let config = dir.write("taskmaster.yaml", &Daemon::yaml(settings, programs));
        let line = format!("{prefix} exec {TASKMASTER} -c {} {}", config.display(), args.join(" "));
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(line);
        let daemon = Daemon::spawn_in(sh, dir, config);
        daemon.wait_answering();
        daemon
    }

    /// Waits until the socket is answered, not only bound: the loop is running.
    pub fn wait_answering(&self) {
        let socket = self.socket();
        wait_until("the control socket", || {
            let mut stream = UnixStream::connect(&socket).ok()?;
            stream.write_all(b"{\"command\":\"version\"}\n").ok()?;
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line).ok()?;
            line.contains("\"ok\":true").then_some(())
        });
    }

    /// Runs `command` (taskmaster, or something that runs it) in `dir`, its output on stderr
    /// kept for a failure's report; does not wait for it.
    pub fn spawn_in(mut command: Command, dir: TempDir, config: PathBuf) -> Daemon {
        let child = command
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start taskmaster");
        Daemon { dir, child: Some(child), config }
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
        self.call_within(command, args, PATIENCE)
    }

    /// `call`, for an answer that may take longer than `PATIENCE` (thousands of processes).
    pub fn call_within(&self, command: &str, args: &[&str], patience: Duration) -> Value {
        let mut stream = UnixStream::connect(self.socket()).expect("connect");
        // A taskmaster that hangs fails the test instead of hanging it.
        stream.set_read_timeout(Some(patience)).expect("timeout");
        let request = serde_json::json!({"command": command, "args": args});
        writeln!(stream, "{request}").expect("send");
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).expect("read the answer");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad answer {line:?}: {e}"))
    }

    /// Like `call`, for a wait: `None` when taskmaster does not answer it (yet).
    pub fn try_call(&self, command: &str, args: &[&str]) -> Option<Value> {
        let mut stream = UnixStream::connect(self.socket()).ok()?;
        let request = serde_json::json!({"command": command, "args": args});
        writeln!(stream, "{request}").ok()?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).ok()?;
        serde_json::from_str(&line).ok()
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

/// What /proc says about a process: open fds, resident memory (KiB), CPU time (clock ticks).
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub fds: usize,
    pub rss_kib: u64,
    pub cpu_ticks: u64,
}

pub fn usage(pid: i32) -> Usage {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let fields = stat_fields(pid);
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    Usage { fds, rss_kib, cpu_ticks: tick(11) + tick(12) }
}

/// Zombie children of `parent`.
pub fn zombies_of(parent: i32) -> Vec<i32> {
    let parent = parent.to_string();
    all_pids()
        .into_iter()
        .filter(|p| {
            let fields = stat_fields(*p);
            fields.first().is_some_and(|s| s == "Z") && fields.get(1) == Some(&parent)
        })
        .collect()
}

impl Daemon {
    /// Checks that what `status` says is true: every state that must have a pid has one, and a
    /// pid it shows is alive, or (a process may die just after the answer) stops being shown
    /// within moments: a death is noticed at once, never left standing.
    pub fn assert_truthful(&self) {
        for p in self.status() {
            let state = p["state"].as_str().unwrap_or_default().to_string();
            let name = p["name"].as_str().unwrap_or_default().to_string();
            match p["pid"].as_i64() {
                Some(pid) if !alive(pid as i32) => {
                    let start = Instant::now();
                    while self.process(&name)["pid"].as_i64() == Some(pid) {
                        assert!(
                            start.elapsed() < Duration::from_secs(2),
                            "{name} shows {state} with dead pid {pid}"
                        );
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
                Some(_) => {}
                None => assert!(
                    !matches!(state.as_str(), "RUNNING" | "STOPPING"),
                    "{name} shows {state} without a pid"
                ),
            }
        }
        // A child that just died is a zombie for the moment it takes to be reaped; one that
        // stays a zombie was forgotten. Its SIGCHLD is already pending: two requests answered
        // one after the other mean a whole turn of the loop went by after it was read.
        let first = zombies_of(self.pid());
        if !first.is_empty() {
            self.barrier();
            let lasting: Vec<i32> =
                zombies_of(self.pid()).into_iter().filter(|z| first.contains(z)).collect();
            assert!(lasting.is_empty(), "zombies left unreaped: {lasting:?}");
        }
    }

    /// Returns once taskmaster has finished the turn of its loop that was under way (with what
    /// was already pending for it), and one more.
    pub fn barrier(&self) {
        for _ in 0..2 {
            assert_eq!(self.call("pid", &[])["data"], self.pid());
        }
    }

    /// Shuts taskmaster down and checks that nothing it started is left.
    pub fn shutdown_clean(&mut self) {
        let pids = self.spawned_pids();
        let out = self.ctl(&["shutdown"]);
        assert_eq!(stdout(&out).trim(), "Shut down", "{}", stderr(&out));
        assert_eq!(self.wait_exit(), Some(0));
        let left: Vec<i32> = pids.into_iter().filter(|p| alive(*p)).collect();
        assert!(left.is_empty(), "still alive after shutdown: {left:?}");
    }
}

/// Clock ticks per second for CPU times in /proc (the kernel's USER_HZ, 100 on Linux).
pub const TICKS_PER_SECOND: u64 = 100;

/// The heavier crash-test variants run with TASKMASTER_CRASH_HEAVY=1 (`make crash`).
pub fn heavy() -> bool {
    std::env::var_os("TASKMASTER_CRASH_HEAVY").is_some_and(|v| v == "1")
}

/// A process a test started by hand, killed when dropped if it still runs: a failing test
/// leaves nothing behind.
pub struct Guarded(pub Child);

impl std::ops::Deref for Guarded {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Guarded {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
