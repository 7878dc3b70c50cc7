//! The alert rows (taskmaster(1), ALERTS): what a delivery costs supervision. supervisord has no
//! alerts of its own (superlance's crashmail is a separate listener that pipes to sendmail), so
//! these rows are taskmaster's alone.
//!
//! - A restart after kill -9 while a tarpit (accepts, never answers) holds every email delivery:
//!   the same figure as the plain restart, since no delivery runs in the loop.
//! - Alert latency: from the FATAL (the answer to `start` of a program that cannot run) to the
//!   message written by a local SMTP server (aiosmtpd, as the tests use).
//! - The daemon's own CPU per alert: the cost of starting and reaping one helper.

use super::daemons::{Daemon, Taskmaster, children, cpu_ms};
use super::{Program, Row, comm, median};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn rows(quick: bool) -> Vec<Row> {
    let mut rows = vec![idle(if quick { 3 } else { 10 })];
    rows.extend(tarpit_restart(if quick { 5 } else { 20 }));
    match SmtpSink::start() {
        Some(sink) => rows.extend(latency(&sink, if quick { 10 } else { 100 })),
        None => eprintln!("no aiosmtpd (python3-aiosmtpd): the alert latency rows are left out"),
    }
    rows
}

/// Alerts configured, nothing happening: no deadline, no wakeup.
fn idle(seconds: u64) -> Row {
    let settings = "  alerts:\n    email: {to: [ops@example.com], smtp: \"127.0.0.1:1\"}\n";
    let d = Taskmaster::start_with(settings, &[Program::sleepers("idle", 100)]);
    d.wait_running(100);
    let wakeups = super::daemons::wakeups_per_second(d.pid(), seconds);
    Box::new(d).stop();
    let mut row = Row::new("idle with alerts configured, 100 sleeping children: wakeups".to_string(), "/s");
    row.taskmaster = Some(wakeups);
    row
}

fn tarpit_restart(kills: usize) -> Vec<Row> {
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").expect("a tarpit");
    let port = tarpit.local_addr().expect("its port").port();
    // Accepts and holds every connection, never answering; dies with the bench.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((stream, _)) = tarpit.accept() {
            held.push(stream);
        }
    });
    let settings = format!(
        "  alerts:\n    events: [exited_unexpected]\n    min_interval: 0\n    email: {{to: [ops@example.com], smtp: \"127.0.0.1:{port}\"}}\n"
    );
    let d = Taskmaster::start_with(&settings, &[Program::sleepers("victim", 1)]);
    d.wait_running(1);
    let mut times = Vec::new();
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(1100));
        times.push(kill_sleeper_and_time(d.pid()));
    }
    let helpers = children(d.pid()).iter().filter(|p| comm(**p) != "sleep").count();
    Box::new(d).stop();
    let mut row = Row::new(
        format!(
            "restart after kill -9 while an SMTP tarpit holds every alert ({helpers} helpers waiting), median of {kills}"
        ),
        "ms",
    );
    row.taskmaster = Some(median(&mut times));
    vec![row]
}

/// Kills the daemon's `sleep` child and times until another `sleep` runs (alert helpers, also
/// its children, do not count).
fn kill_sleeper_and_time(daemon: i32) -> f64 {
    let sleepers = || children(daemon).into_iter().filter(|p| comm(*p) == "sleep").collect::<Vec<_>>();
    let Some(&victim) = sleepers().first() else { return f64::NAN };
    let started = Instant::now();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(victim), nix::sys::signal::Signal::SIGKILL);
    loop {
        if sleepers().iter().any(|p| *p != victim) {
            return started.elapsed().as_secs_f64() * 1000.0;
        }
        if started.elapsed() > Duration::from_secs(10) {
            return f64::NAN;
        }
    }
}

/// aiosmtpd through the tests' server script, writing each message to a file.
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl SmtpSink {
    fn start() -> Option<SmtpSink> {
        let dir = super::daemons::scratch("smtp");
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/alert_servers.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(script)
            .args(["smtp", &port.to_string()])
            .arg(&dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take()?).read_line(&mut line).ok()?;
        if !line.starts_with("ready") {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(SmtpSink { child, port, dir })
    }

    fn count(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|d| {
                d.filter_map(Result::ok).filter(|e| e.path().extension().is_some_and(|x| x == "eml")).count()
            })
            .unwrap_or(0)
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn latency(sink: &SmtpSink, rounds: usize) -> Vec<Row> {
    let settings = format!(
        "  alerts:\n    events: [fatal]\n    min_interval: 0\n    email: {{to: [ops@example.com], smtp: \"127.0.0.1:{}\"}}\n",
        sink.port
    );
    let mut times = Vec::new();
    let mut cpu = [0.0; 2];
    // The same failed starts without alerts, then with: the difference is a helper's cost.
    for (i, settings) in ["", settings.as_str()].into_iter().enumerate() {
        let failing = Program { command: "/bin/false".to_string(), ..Program::sleepers("doomed", 1) };
        let extra = "    autostart: false\n    startretries: 0\n    starttime: 1\n";
        let d = Taskmaster::start_with_extra(settings, &[failing], extra);
        let before = cpu_ms(d.pid());
        for _ in 0..rounds {
            let had = sink.count();
            d.call("start", &["doomed"]);
            let fatal = Instant::now();
            if i == 1 {
                while sink.count() == had && fatal.elapsed() < Duration::from_secs(10) {
                    std::thread::sleep(Duration::from_micros(200));
                }
                times.push(fatal.elapsed().as_secs_f64() * 1000.0);
            }
        }
        // Its last helper reaped.
        std::thread::sleep(Duration::from_millis(100));
        cpu[i] = (cpu_ms(d.pid()) - before) / rounds as f64;
        Box::new(d).stop();
    }
    let mut latency = Row::new(
        format!("alert latency: FATAL to mail received by a local SMTP server, median of {rounds}"),
        "ms",
    );
    latency.taskmaster = Some(median(&mut times));
    let mut plain = Row::new("daemon CPU per failed start to FATAL, no alerts".to_string(), "ms");
    plain.taskmaster = Some(cpu[0]);
    let mut cost = Row::new("daemon CPU per failed start to FATAL, with its email alert".to_string(), "ms");
    cost.taskmaster = Some(cpu[1]);
    vec![latency, plain, cost]
}
