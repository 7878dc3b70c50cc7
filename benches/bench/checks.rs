//! The health check rows (taskmaster(1), ORDER AND HEALTH): what watching 100 processes costs
//! taskmaster while nothing else happens. supervisord has no health checks: these rows are
//! taskmaster's alone.
//!
//! - Idle, 100 sleeping children, no checks: wakeups (no deadline, so none).
//! - 100 `tcp` checks every 10 s against a listener of the bench's own (a thread here accepts,
//!   closes and counts), then 100 `cmd: "true"` checks: wakeups per second, taskmaster's CPU per
//!   check (/proc/PID/schedstat, to the nanosecond), and for `cmd` the commands' own CPU (the
//!   reaped children's ticks). A wakeup is a voluntary context switch (each sleep in epoll_wait
//!   ends in one); the involuntary ones, apart, are preemptions while at work (by the bench's
//!   accepting thread, on 2 cores), not wakeups. The idle row counts both, as the idle group
//!   does: none either way.
//! - Each twice: the processes started together, so that their checks fall due in the same
//!   turns (a batch of 100 every 10 s), then started 0.1 s apart, so that each check is a turn
//!   of its own (one every 0.1 s): the same load, at its most wakeups.
//!
//! The window opens once every process was checked (its status says `healthy`) and lasts whole
//! intervals, starting half a second after a batch: each process is checked once per interval
//! in it. The `tcp` checks in the window are counted by the listener; the `cmd` ones are what
//! the schedule gives (100 per interval), which the `tcp` counts confirm.

use super::daemons::{Daemon, Taskmaster, cpu_ms, usage};
use super::{Program, Row, TICKS_PER_SECOND};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PROCESSES: usize = 100;
/// Seconds between two checks of a process.
const INTERVAL: u64 = 10;

pub(crate) fn rows(quick: bool) -> Vec<Row> {
    let listener = Listener::start();
    let mut rows = vec![idle(if quick { 3 } else { 10 })];
    // Whole intervals measured: two, so that each process is checked twice in the window.
    let intervals = if quick { 1 } else { 2 };
    let probes = [
        ("tcp", format!("tcp: 127.0.0.1:{}", listener.port), Some(&*listener.accepted)),
        ("cmd: \"true\"", "cmd: \"true\"".to_string(), None),
    ];
    for (name, probe, counter) in &probes {
        // Spread starts take an interval more, and are left out of the quick run.
        for spread in [false, true].into_iter().filter(|s| !quick || !s) {
            rows.extend(measure(name, probe, *counter, spread, intervals));
        }
    }
    rows
}

/// No checks configured: no deadline, no wakeup.
fn idle(seconds: u64) -> Row {
    let d = Taskmaster::start(&[Program::sleepers("idle", PROCESSES)]);
    d.wait_running(PROCESSES);
    let wakeups = super::daemons::wakeups_per_second(d.pid(), seconds);
    Box::new(d).stop();
    let mut row =
        Row::new(format!("checks: idle, {PROCESSES} sleeping children, no health checks: wakeups"), "/s");
    row.taskmaster = Some(wakeups);
    row
}

/// 100 processes checked by `probe` every interval, for `intervals` intervals.
fn measure(name: &str, probe: &str, counter: Option<&AtomicU64>, spread: bool, intervals: u64) -> Vec<Row> {
    let mut extra = format!(
        "    healthcheck:\n      {probe}\n      interval: {INTERVAL}\n      timeout: 5\n      retries: 3\n"
    );
    let programs = match spread {
        true => {
            extra.push_str("    autostart: false\n");
            (0..PROCESSES).map(|i| Program::sleepers(&format!("c{i:03}"), 1)).collect()
        }
        false => vec![Program::sleepers("c", PROCESSES)],
    };
    let d = Taskmaster::start_with_extra("", &programs, &extra);
    if spread {
        let started = Instant::now();
        for (i, program) in programs.iter().enumerate() {
            let at = started + Duration::from_secs(INTERVAL) * i as u32 / PROCESSES as u32;
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            d.call("start", &[&program.name]);
        }
    }
    d.wait_running(PROCESSES);
    // Every process checked once (the first check is an interval after RUNNING), then half a
    // second: the window is whole intervals between two batches.
    let waited = Instant::now();
    while healthy(&d) < PROCESSES {
        assert!(waited.elapsed() < Duration::from_secs(3 * INTERVAL), "the first checks never all passed");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(500));
    let count = || counter.map_or(0, |c| c.load(Ordering::Relaxed));
    let (before, cpu0, checks0, t0) = (usage(d.pid()), cpu_ms(d.pid()), count(), Instant::now());
    std::thread::sleep(Duration::from_secs(INTERVAL * intervals));
    let (after, cpu1, checks1, seconds) =
        (usage(d.pid()), cpu_ms(d.pid()), count(), t0.elapsed().as_secs_f64());
    let still = healthy(&d);
    if still < PROCESSES {
        eprintln!("checks: only {still} of {PROCESSES} processes healthy after the `{name}` window");
    }
    Box::new(d).stop();
    let scheduled = PROCESSES as u64 * intervals;
    let (checks, how) = match counter {
        Some(_) => (checks1 - checks0, "counted by the listener"),
        None => (scheduled, "as scheduled"),
    };
    let started = if spread { "started 0.1 s apart" } else { "started together" };
    let scenario = format!(
        "checks: {PROCESSES} `{name}` health checks every {INTERVAL} s, {started}: wakeups (voluntary switches)"
    );
    let mut wakeups = Row::new(scenario, "/s");
    wakeups.taskmaster = Some((after.voluntary - before.voluntary) as f64 / seconds);
    let mut preempted = Row::new("  preempted while at work (involuntary switches)".to_string(), "/s");
    let involuntary = (after.switches - after.voluntary) - (before.switches - before.voluntary);
    preempted.taskmaster = Some(involuntary as f64 / seconds);
    let mut cpu =
        Row::new(format!("  taskmaster's CPU per check ({checks} checks in {seconds:.1} s, {how})"), "ms");
    cpu.taskmaster = Some((cpu1 - cpu0) / checks as f64);
    let mut rows = vec![wakeups, preempted, cpu];
    if counter.is_none() {
        let ticks = (after.children_ticks - before.children_ticks) as f64;
        let mut own = Row::new("  the check command's own CPU per check (`sh -c true`)".to_string(), "ms");
        own.taskmaster = Some(ticks * 1000.0 / TICKS_PER_SECOND / checks as f64);
        rows.push(own);
    }
    rows
}

/// How many processes a status call says are healthy.
fn healthy(d: &Taskmaster) -> usize {
    d.call("status", &[]).matches("\"healthy\":true").count()
}

/// A TCP listener of the bench's own that accepts every connection, closes it and counts it.
struct Listener {
    port: u16,
    accepted: Arc<AtomicU64>,
}

impl Listener {
    fn start() -> Listener {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a listener");
        let port = listener.local_addr().expect("its port").port();
        let accepted = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&accepted);
        // Dies with the bench.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stream.is_ok() {
                    count.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Listener { port, accepted }
    }
}
