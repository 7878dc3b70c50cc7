//! The two daemons under measurement, driven the same way: a configuration for the same
//! programs, the status call over each one's own socket (taskmaster's JSON lines, supervisord's
//! XML-RPC over HTTP), and /proc for everything else.

#![allow(clippy::disallowed_methods)]

use super::Program;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) trait Daemon: Sync {
    fn pid(&self) -> i32;
    /// How many processes are RUNNING, by one status call over the socket.
    fn status_count(&self) -> usize;
    /// Stops every process; returns when the call does.
    fn stop_all(&self);
    /// Ends the daemon and whatever is left of its children.
    fn stop(self: Box<Self>);

    fn wait_running(&self, n: usize) {
        let start = Instant::now();
        while self.status_count() < n {
            assert!(start.elapsed() < Duration::from_secs(120), "{n} processes never all ran");
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A folder of its own under target/.
pub(crate) fn scratch(tag: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("bench")
        .join(format!("{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    dir
}

/// The direct children of a process.
pub(crate) fn children(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

pub(crate) struct Usage {
    pub(crate) rss_kib: u64,
    pub(crate) cpu_ticks: u64,
    /// The CPU ticks of its reaped children (cutime + cstime).
    pub(crate) children_ticks: u64,
    /// Context switches, voluntary and not: each wakeup of a sleeping daemon is one.
    pub(crate) switches: u64,
    /// Of which voluntary: the times it went to sleep (in epoll_wait, or a vfork's wait).
    pub(crate) voluntary: u64,
}

/// Wakeups per second of an idle daemon: its context switches over `seconds`, after half a
/// second to settle.
pub(crate) fn wakeups_per_second(pid: i32, seconds: u64) -> f64 {
    std::thread::sleep(std::time::Duration::from_millis(500));
    let before = usage(pid).switches;
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    (usage(pid).switches - before) as f64 / seconds as f64
}

pub(crate) fn usage(pid: i32) -> Usage {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Usage {
        rss_kib: field("VmRSS:"),
        cpu_ticks: tick(11) + tick(12),
        children_ticks: tick(13) + tick(14),
        switches: field("voluntary_ctxt_switches:") + field("nonvoluntary_ctxt_switches:"),
        voluntary: field("voluntary_ctxt_switches:"),
    }
}

/// The CPU time a (single-threaded) process has used, in ms, to the nanosecond
/// (/proc/PID/schedstat), where /proc/PID/stat counts in 10 ms ticks.
pub(crate) fn cpu_ms(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap_or_default();
    stat.split_whitespace().next().and_then(|ns| ns.parse::<f64>().ok()).unwrap_or(f64::NAN) / 1e6
}

fn wait_socket(path: &Path, child: &mut Child) {
    let start = Instant::now();
    while UnixStream::connect(path).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the daemon exited at start: {status}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no socket at {}", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Ends a daemon: the polite signal, then SIGKILL for it and its children's groups.
fn end(child: &mut Child, signal: nix::sys::signal::Signal) {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::Pid;
    let pid = child.id() as i32;
    let left = children(pid);
    let _ = kill(Pid::from_raw(pid), signal);
    let start = Instant::now();
    while child.try_wait().ok().flatten().is_none() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    for p in &left {
        let _ = killpg(Pid::from_raw(*p), Signal::SIGKILL);
    }
    // The next scenario starts on a quiet machine: every child gone, not just signalled.
    let gone = |p: &i32| std::fs::metadata(format!("/proc/{p}")).is_err();
    while !left.iter().all(gone) && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
}

pub(crate) struct Taskmaster {
    child: Child,
    socket: PathBuf,
    dir: PathBuf,
}

impl Taskmaster {
    pub(crate) fn start(programs: &[Program]) -> Taskmaster {
        Taskmaster::start_with_extra("", programs, "")
    }

    /// With more `taskmaster:` settings.
    pub(crate) fn start_with(settings: &str, programs: &[Program]) -> Taskmaster {
        Taskmaster::start_with_extra(settings, programs, "")
    }

    /// With more `taskmaster:` settings, and `extra` keys for every program.
    pub(crate) fn start_with_extra(settings: &str, programs: &[Program], extra: &str) -> Taskmaster {
        let dir = scratch("tm");
        let mut yaml = format!(
            "taskmaster:\n  socket: {}/tm.sock\n  logfile: {}/tm.log\n  history: null\n{settings}programs:\n",
            dir.display(),
            dir.display()
        );
        for p in programs {
            let stdout = p.stdout.as_ref().map_or("null".to_string(), |f| f.display().to_string());
            let base = [
                format!("    cmd: {}\n", p.command),
                format!("    numprocs: {}\n", p.numprocs),
                "    starttime: 0\n".to_string(),
                "    autorestart: always\n".to_string(),
                format!("    stdout: {stdout}\n"),
            ];
            yaml.push_str(&format!("  {}:\n", p.name));
            // `extra` replaces a key rather than repeating it (taskmaster refuses duplicates).
            // A key of the program's own level: `cmd:` of a nested `healthcheck:` is not `cmd:`.
            let replaced = |line: &String| {
                line.split(':').next().is_some_and(|k| extra.lines().any(|e| e.starts_with(&format!("{k}:"))))
            };
            yaml.extend(base.iter().filter(|l| !replaced(l)).map(String::as_str));
            if let Some(user) = &p.user {
                yaml.push_str(&format!("    user: {user}\n"));
            }
            yaml.push_str(extra);
        }
        std::fs::write(dir.join("tm.yaml"), yaml).expect("write the config");
        let mut child = Command::new(env!("CARGO_BIN_EXE_taskmaster"))
            .args(["--no-shell", "-q", "-c"])
            .arg(dir.join("tm.yaml"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start taskmaster");
        let socket = dir.join("tm.sock");
        wait_socket(&socket, &mut child);
        Taskmaster { child, socket, dir }
    }

    /// Its configuration file.
    pub(crate) fn config(&self) -> PathBuf {
        self.dir.join("tm.yaml")
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    /// One request; the answer's line as received (not parsed: the round trip is the daemon's
    /// time, as for supervisord, whose answers are not parsed either).
    pub(crate) fn call(&self, command: &str, args: &[&str]) -> String {
        let mut stream = UnixStream::connect(&self.socket).expect("connect");
        let request = serde_json::json!({"command": command, "args": args});
        let _ = writeln!(stream, "{request}");
        let mut line = String::new();
        let _ = BufReader::new(stream).read_line(&mut line);
        line
    }
}

impl Daemon for Taskmaster {
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn status_count(&self) -> usize {
        self.call("status", &[]).matches("\"state\":\"RUNNING\"").count()
    }

    fn stop_all(&self) {
        self.call("stop", &["all"]);
    }

    fn stop(mut self: Box<Self>) {
        end(&mut self.child, nix::sys::signal::Signal::SIGTERM);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// supervisord from PyPI, in a virtualenv under target/.
pub(crate) struct Supervisord {
    binary: PathBuf,
}

pub(crate) struct SupervisordRun {
    child: Child,
    socket: PathBuf,
    dir: PathBuf,
}

impl Supervisord {
    /// Installs supervisor once (or finds it installed); `None` when that is not possible.
    pub(crate) fn install() -> Option<Supervisord> {
        if std::env::var_os("BENCH_NO_SUPERVISORD").is_some() {
            return None;
        }
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("bench-venv");
        let binary = venv.join("bin").join("supervisord");
        if !binary.exists() {
            eprintln!("installing supervisor from PyPI into {} ...", venv.display());
            let made = Command::new("python3").arg("-m").arg("venv").arg(&venv).status().ok()?.success();
            let pip = venv.join("bin").join("pip");
            let installed = made
                && Command::new(pip).args(["install", "-q", "supervisor==4.3.0"]).status().ok()?.success();
            if !installed {
                return None;
            }
        }
        binary.exists().then_some(Supervisord { binary })
    }

    pub(crate) fn start(&self, programs: &[Program]) -> SupervisordRun {
        let dir = scratch("sv");
        let d = dir.display();
        let mut ini = format!(
            "[unix_http_server]\nfile={d}/sv.sock\n\n[supervisord]\nlogfile={d}/sv.log\npidfile={d}/sv.pid\n\
             childlogdir={d}\nnodaemon=true\nuser=root\n\n[rpcinterface:supervisor]\n\
             supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n"
        );
        for p in programs {
            ini.push_str(&format!(
                "[program:{}]\ncommand={}\nnumprocs={}\nprocess_name=%(program_name)s_%(process_num)04d\n\
                 startsecs=0\nautorestart=true\nstdout_logfile={}\nstdout_logfile_maxbytes=0\nstderr_logfile=NONE\n\n",
                p.name,
                p.command,
                p.numprocs,
                p.stdout.as_ref().map_or("NONE".to_string(), |f| f.display().to_string())
            ));
            if let Some(user) = &p.user {
                ini.push_str(&format!("user={user}\n\n"));
            }
        }
        std::fs::write(dir.join("sv.conf"), ini).expect("write the config");
        let mut child = Command::new(&self.binary)
            .arg("-c")
            .arg(dir.join("sv.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start supervisord");
        let socket = dir.join("sv.sock");
        wait_socket(&socket, &mut child);
        SupervisordRun { child, socket, dir }
    }
}

impl SupervisordRun {
    /// One XML-RPC call over HTTP/1.0 on the UNIX socket; the response body.
    fn call(&self, method: &str, params: &str) -> String {
        let body = format!(
            "<?xml version=\"1.0\"?><methodCall><methodName>{method}</methodName><params>{params}</params></methodCall>"
        );
        let Ok(mut stream) = UnixStream::connect(&self.socket) else { return String::new() };
        let request = format!(
            "POST /RPC2 HTTP/1.0\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(request.as_bytes());
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response
    }
}

impl Daemon for SupervisordRun {
    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn status_count(&self) -> usize {
        self.call("supervisor.getAllProcessInfo", "").matches("<string>RUNNING</string>").count()
    }

    fn stop_all(&self) {
        self.call("supervisor.stopAllProcesses", "<param><value><boolean>1</boolean></value></param>");
    }

    fn stop(mut self: Box<Self>) {
        end(&mut self.child, nix::sys::signal::Signal::SIGTERM);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
