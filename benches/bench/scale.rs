//! The scale rows: ten thousand processes (10 programs of 1000), and 100 programs writing lines
//! at once.
//!
//! - 10 000: taskmaster only. Each process costs a supervisor at least one descriptor (its
//!   output pipe); this machine's hard limit is 20 000 and, without CAP_SYS_RESOURCE, cannot be
//!   raised, so the programs send stderr to stdout (`stderr: stdout`, one pipe). supervisord
//!   keeps two per process even then (stdin and stdout), and cannot hold 10 000 here.
//! - Spawned: from the launch until the daemon has 10 000 children (read from /proc every 50 ms,
//!   not asked over the socket: a status of 10 000 is work for the daemon), then until a status
//!   says all RUNNING.
//! - The physical limits here: std's `Command` (posix_spawn) starting 10 000 `sleep` in a loop,
//!   output to /dev/null, no supervisor; then SIGTERM to each and a wait for each.
//! - Restart after kill -9 with 10 000 running: as the 1-process row (`kill_one_and_time`,
//!   which watches the pid counter for the new child, not the daemon's list of children).
//! - Lines: 100 programs each writing 100-byte lines, one write per line, into its own file;
//!   the daemon's CPU per million lines captured, for both daemons.

use super::daemons::{Daemon, Supervisord, Taskmaster, children, scratch, usage};
use super::{Kind, Program, Row, TICKS_PER_SECOND, kill_one_and_time, median};
use std::time::{Duration, Instant};

const PROGRAMS: usize = 10;
const EACH: usize = 1000;

pub(crate) fn rows(quick: bool, supervisord: Option<&Supervisord>) -> Vec<Row> {
    let mut rows = ten_thousand(if quick { 5 } else { 20 });
    rows.extend(physical(PROGRAMS * EACH));
    rows.extend(lines(supervisord, if quick { 2 } else { 5 }));
    rows
}

fn ten_thousand(kills: usize) -> Vec<Row> {
    let n = PROGRAMS * EACH;
    let programs: Vec<Program> = (0..PROGRAMS).map(|i| Program::sleepers(&format!("p{i}"), EACH)).collect();
    let kind = Kind::Taskmaster;
    let started = Instant::now();
    let d = Taskmaster::start_with_extra("", &programs, "    stderr: stdout\n");
    while children(d.pid()).len() < n {
        assert!(started.elapsed() < Duration::from_secs(300), "{n} processes never all spawned");
        std::thread::sleep(Duration::from_millis(50));
    }
    let spawned = started.elapsed().as_secs_f64();
    while d.status_count() < n {
        assert!(started.elapsed() < Duration::from_secs(300), "{n} processes never all ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    let running = started.elapsed().as_secs_f64();
    let mut rows = vec![
        Row::new(format!("scale: spawn {n} processes, until the daemon has them all as children"), "s"),
        Row::new(format!("scale: spawn {n} processes to RUNNING (a status says so)"), "s"),
        Row::new(format!("scale: daemon RSS with {n} processes"), "MiB"),
        Row::new(format!("scale: status of {n} processes, round trip, median of 20"), "ms"),
        Row::new(format!("scale: idle with {n} sleeping children: wakeups"), "/s"),
        Row::new(format!("scale: restart after kill -9 with {n} running, median of {kills}"), "ms"),
        Row::new(format!("scale: stop all of {n} (TERM obeyed), until no child is left"), "ms"),
    ];
    rows[0].set(&kind, spawned);
    rows[1].set(&kind, running);
    rows[2].set(&kind, usage(d.pid()).rss_kib as f64 / 1024.0);
    let mut times: Vec<f64> = (0..20)
        .map(|_| {
            let t = Instant::now();
            d.status_count();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    rows[3].set(&kind, median(&mut times));
    std::thread::sleep(Duration::from_millis(500));
    let before = usage(d.pid());
    std::thread::sleep(Duration::from_secs(5));
    rows[4].set(&kind, (usage(d.pid()).switches - before.switches) as f64 / 5.0);
    let mut times: Vec<f64> = (0..kills)
        .map(|_| {
            // Runs of a second or more: no crash-loop delay applies.
            std::thread::sleep(Duration::from_millis(1100));
            kill_one_and_time(d.pid())
        })
        .collect();
    rows[5].set(&kind, median(&mut times));
    let t = Instant::now();
    d.stop_all();
    while !children(d.pid()).is_empty() {
        std::thread::sleep(Duration::from_millis(1));
    }
    rows[6].set(&kind, t.elapsed().as_secs_f64() * 1000.0);
    Box::new(d).stop();
    rows
}

/// The cost of spawning and stopping itself on this machine: a loop of std's `Command`, which is
/// posix_spawn here, with no supervisor and no descriptor kept; then SIGTERM to each and a wait
/// for each.
fn physical(n: usize) -> Vec<Row> {
    let mut spawn =
        Row::new(format!("scale: physical limit: posix_spawn loop of {n} `sleep`, no supervisor"), "s");
    let mut stop = Row::new(
        format!("scale: physical limit: SIGTERM to {n} `sleep` and wait for each, no supervisor"),
        "ms",
    );
    let sleep = ["/usr/bin/sleep", "/bin/sleep"].into_iter().find(|p| std::path::Path::new(p).exists());
    let Some(sleep) = sleep else { return vec![spawn, stop] };
    let started = Instant::now();
    let mut spawned = Vec::with_capacity(n);
    for _ in 0..n {
        let child = std::process::Command::new(sleep)
            .arg("100000")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match child {
            Ok(child) => spawned.push(child),
            Err(_) => break,
        }
    }
    if spawned.len() == n {
        spawn.set(&Kind::Taskmaster, started.elapsed().as_secs_f64());
    }
    let started = Instant::now();
    for child in &spawned {
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
    for mut child in spawned {
        let _ = child.wait();
    }
    stop.set(&Kind::Taskmaster, started.elapsed().as_secs_f64() * 1000.0);
    vec![spawn, stop]
}

/// 100 programs writing 100-byte lines, one write each: the daemon's CPU per million lines.
fn lines(supervisord: Option<&Supervisord>, seconds: u64) -> Vec<Row> {
    const WRITERS: usize = 100;
    let line = "x".repeat(99);
    let mut cpu = Row::new(
        format!("lines: {WRITERS} programs writing 100-byte lines: daemon CPU per million lines"),
        "s",
    );
    let mut rate = Row::new(
        format!("lines: {WRITERS} programs writing 100-byte lines: lines captured per second"),
        "k/s",
    );
    let kinds = [Some(Kind::Taskmaster), supervisord.map(|_| Kind::Supervisord)];
    for kind in kinds.into_iter().flatten() {
        let dir = scratch("lines");
        let programs: Vec<Program> = (0..WRITERS)
            .map(|i| Program {
                stdout: Some(dir.join(format!("w{i}.log"))),
                command: format!("awk 'BEGIN{{while(1){{print \"{line}\"; fflush()}}}}'"),
                ..Program::sleepers(&format!("w{i}"), 1)
            })
            .collect();
        let d: Box<dyn Daemon> = match (kind, supervisord) {
            (Kind::Supervisord, Some(s)) => Box::new(s.start(&programs)),
            _ => Box::new(Taskmaster::start(&programs)),
        };
        d.wait_running(WRITERS);
        std::thread::sleep(Duration::from_millis(500));
        let bytes = || {
            programs
                .iter()
                .filter_map(|p| std::fs::metadata(p.stdout.as_ref()?).ok())
                .map(|m| m.len())
                .sum::<u64>()
        };
        let (b0, c0, t0) = (bytes(), usage(d.pid()).cpu_ticks, Instant::now());
        std::thread::sleep(Duration::from_secs(seconds));
        let (b1, c1, elapsed) = (bytes(), usage(d.pid()).cpu_ticks, t0.elapsed().as_secs_f64());
        let lines = b1.saturating_sub(b0) as f64 / 100.0;
        cpu.set(&kind, (c1 - c0) as f64 / TICKS_PER_SECOND / (lines / 1e6));
        rate.set(&kind, lines / elapsed / 1000.0);
        d.stop();
        let _ = std::fs::remove_dir_all(&dir);
    }
    vec![cpu, rate]
}
