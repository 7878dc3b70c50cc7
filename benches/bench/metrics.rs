//! The metrics rows (taskmaster(1), METRICS): what a Prometheus scrape costs, and what the
//! endpoint costs when nobody scrapes. supervisord has no metrics endpoint: these rows are
//! taskmaster's alone.
//!
//! - A scrape of 1000 running processes: `GET /metrics` on a fresh connection, timed from the
//!   connect to the answer's last byte (the connection is closed after it), the median of 50,
//!   with the size of the answer.
//! - Idle, `metrics` on, 100 sleeping children and no scraper: wakeups per second (a wakeup is a
//!   context switch of the daemon; with no connection there is no deadline, so none).

use super::daemons::{Daemon, Taskmaster};
use super::{Program, Row, median};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

const PROCESSES: usize = 1000;

pub(crate) fn rows(quick: bool) -> Vec<Row> {
    let scrapes = if quick { 10 } else { 50 };
    let mut rows = scrape(scrapes);
    rows.push(idle(if quick { 3 } else { 10 }));
    rows
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_or(0, |a| a.port())
}

/// One scrape: its time in ms and the answer's size in bytes.
fn once(port: u16) -> (f64, usize) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics");
    let _ = stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n");
    let mut answer = Vec::with_capacity(1 << 20);
    let _ = stream.read_to_end(&mut answer);
    (started.elapsed().as_secs_f64() * 1000.0, answer.len())
}

fn scrape(scrapes: usize) -> Vec<Row> {
    let port = free_port();
    let d = Taskmaster::start_with(
        &format!("  metrics: 127.0.0.1:{port}\n"),
        &[Program::sleepers("many", PROCESSES)],
    );
    d.wait_running(PROCESSES);
    // The first scrape warms the caches and the allocator.
    let (_, size) = once(port);
    let mut times: Vec<f64> = (0..scrapes).map(|_| once(port).0).collect();
    Box::new(d).stop();
    let mut time = Row::new(format!("metrics: scrape {PROCESSES} processes, median of {scrapes}"), "ms");
    time.taskmaster = Some(median(&mut times));
    let mut bytes = Row::new(format!("metrics: size of a scrape of {PROCESSES} processes"), "KiB");
    bytes.taskmaster = Some(size as f64 / 1024.0);
    vec![time, bytes]
}

/// `metrics` on, nobody scraping: no deadline, no wakeup.
fn idle(seconds: u64) -> Row {
    let port = free_port();
    let d =
        Taskmaster::start_with(&format!("  metrics: 127.0.0.1:{port}\n"), &[Program::sleepers("idle", 100)]);
    d.wait_running(100);
    // One scrape first: a connection that came and went leaves no deadline behind.
    let _ = once(port);
    let wakeups = super::daemons::wakeups_per_second(d.pid(), seconds);
    Box::new(d).stop();
    let mut row =
        Row::new("metrics: idle, metrics on, 100 sleeping children, no scraper: wakeups".to_string(), "/s");
    row.taskmaster = Some(wakeups);
    row
}
