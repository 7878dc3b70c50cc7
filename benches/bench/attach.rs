//! The attach rows (taskmaster(1), ATTACH): what a person attached to a `tty: true` program
//! waits for each key, and what a terminal costs taskmaster against pipes. supervisord's `fg`
//! goes through its XML-RPC tail, a poll a second; these rows are taskmaster's alone.
//!
//! - Round trip: a key sent as a frame over the socket, written to the program's terminal,
//!   echoed by the terminal's own line discipline, read back in the loop and sent to the client;
//!   the median of many keys, one at a time.
//! - `yes` on a terminal with a client attached (and reading) against `yes` on pipes with the
//!   same client: taskmaster's CPU per GB written to the output file.

use super::daemons::{Daemon, Taskmaster};
use super::{Program, Row, measure_writer, median};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

pub(crate) fn rows(quick: bool) -> Vec<Row> {
    let mut rows = vec![round_trip(if quick { 100 } else { 1000 })];
    let seconds = if quick { 2 } else { 5 };
    let tty = cpu_per_gb(true, seconds);
    let pipes = cpu_per_gb(false, seconds);
    let mut row = Row::new(format!("`yes` for {seconds} s, attached: CPU per GB, on a terminal"), "s");
    row.taskmaster = Some(tty);
    rows.push(row);
    let mut row = Row::new("  the same on pipes".to_string(), "s");
    row.taskmaster = Some(pipes);
    rows.push(row);
    if let Some(limit) = script_per_gb(seconds) {
        let mut row = Row::new("  (script(1) reading `yes` on a terminal, no supervisor)".to_string(), "s");
        row.taskmaster = Some(limit);
        rows.push(row);
    }
    rows
}

/// The physical limit of reading a terminal on this machine: script(1) (util-linux) copying
/// `yes` from a pseudo-terminal to a file, its own CPU per GB.
fn script_per_gb(seconds: u64) -> Option<f64> {
    let dir = super::daemons::scratch("script");
    let file = dir.join("script.out");
    let mut child = std::process::Command::new("script")
        .args(["-qc", "yes", "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&file).ok()?)
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    std::thread::sleep(Duration::from_millis(500));
    let (_, per_gb) = measure_writer(&file, child.id() as i32, seconds);
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    Some(per_gb)
}

/// Attaches to `name` and returns the stream (the answer read).
fn attach(d: &Taskmaster, name: &str) -> BufReader<UnixStream> {
    let mut stream = UnixStream::connect(d.socket()).expect("connect");
    writeln!(stream, "{}", serde_json::json!({"command": "attach", "args": [name]})).expect("send");
    let mut reader = BufReader::new(stream);
    let mut answer = String::new();
    reader.read_line(&mut answer).expect("the answer");
    assert!(answer.contains("\"ok\":true"), "attach refused: {answer}");
    reader
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut bytes = vec![kind];
    bytes.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    bytes.extend_from_slice(payload);
    bytes
}

fn round_trip(keys: usize) -> Row {
    let cat = Program { command: "cat".into(), ..Program::sleepers("cat", 1) };
    let d = Taskmaster::start_with_extra("", &[cat], "    tty: true\n");
    std::thread::sleep(Duration::from_millis(300));
    let mut stream = attach(&d, "cat");
    stream.get_ref().set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut times = Vec::new();
    let mut buf = [0u8; 256];
    for i in 0..keys {
        let key = [b'a' + (i % 26) as u8];
        let started = Instant::now();
        stream.get_mut().write_all(&frame(1, &key)).expect("a key");
        // The terminal echoes the key at once (cat itself answers only at the end of a line).
        loop {
            let n = stream.read(&mut buf).expect("the echo");
            if buf[..n].contains(&key[0]) {
                break;
            }
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        if i % 64 == 63 {
            // A line now and then, so that the terminal's line buffer never fills.
            stream.get_mut().write_all(&frame(1, b"\r")).expect("a return");
            std::thread::sleep(Duration::from_millis(5));
            while stream.get_ref().set_nonblocking(true).is_ok() && stream.read(&mut buf).is_ok_and(|n| n > 0)
            {
            }
            stream.get_ref().set_nonblocking(false).expect("blocking");
        }
    }
    Box::new(d).stop();
    let mut row = Row::new(format!("attach: key to echo round trip over the socket, median of {keys}"), "ms");
    row.taskmaster = Some(median(&mut times));
    row
}

/// taskmaster's CPU seconds per GB of `yes` captured to a file while a client is attached.
fn cpu_per_gb(tty: bool, seconds: u64) -> f64 {
    let dir = super::daemons::scratch("attach");
    let file = dir.join("yes.out");
    let yes = Program::yes(&file);
    let extra = if tty { "    tty: true\n" } else { "" };
    let d = Taskmaster::start_with_extra("", &[yes], extra);
    let mut stream = attach(&d, "yes");
    let drain = std::thread::spawn(move || {
        let mut buf = vec![0u8; 256 * 1024];
        while stream.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    std::thread::sleep(Duration::from_millis(500));
    let (_, per_gb) = measure_writer(&file, d.pid(), seconds);
    Box::new(d).stop();
    let _ = drain.join();
    let _ = std::fs::remove_dir_all(&dir);
    per_gb
}
