//! The metrics endpoint (taskmaster(1), METRICS) through the real binary: what a scrape says,
//! the answers to bad requests, scrapers that do not play along, the port's life.

// Tests read the clock to wait with deadlines.
#![allow(clippy::disallowed_methods)]

mod common;

use common::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port()
}

fn settings(port: u16) -> String {
    format!("  metrics: 127.0.0.1:{port}\n")
}

/// One exchange: the status code, the head, the body.
fn exchange(port: u16, request: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the metrics");
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    stream.write_all(request).expect("send");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer to its end: the connection is closed");
    let answer = String::from_utf8(answer).expect("utf-8");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no head in {answer:?}"));
    let code = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{head}"));
    (code, head.to_string(), body.to_string())
}

/// A sample: its name and labels, as a map.
type Key = (String, BTreeMap<String, String>);

/// The exposition format's samples (HELP and TYPE lines checked on the way).
fn parse(text: &str) -> BTreeMap<Key, f64> {
    let mut samples = BTreeMap::new();
    let mut typed = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            typed.push(rest.split(' ').next().unwrap_or_default().to_string());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line:?}"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, labels_of(rest.strip_suffix('}').expect("labels end with }"))),
            None => (series, BTreeMap::new()),
        };
        assert!(name.starts_with("taskmaster_"), "{name}");
        assert!(typed.last().is_some_and(|t| t == name), "{name} follows its TYPE line");
        samples.insert((name.to_string(), labels), value.parse().unwrap_or_else(|_| panic!("{line}")));
    }
    samples
}

/// `a="x",b="y\"z"` as a map, escapes undone.
fn labels_of(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = text.chars();
    loop {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if key.is_empty() {
            return labels;
        }
        assert_eq!(chars.next(), Some('"'), "a quoted value");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => break,
                '\\' => value.push(match chars.next() {
                    Some('n') => '\n',
                    Some(other) => other,
                    None => panic!("a cut escape"),
                }),
                c => value.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_string(), value);
        if chars.clone().next() == Some(',') {
            chars.next();
        }
    }
}

fn scrape(port: u16) -> BTreeMap<Key, f64> {
    let (code, head, body) = exchange(port, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(code, 200, "{head}");
    parse(&body)
}

fn value(samples: &BTreeMap<Key, f64>, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    samples.get(&(name.to_string(), labels)).copied()
}

fn state(samples: &BTreeMap<Key, f64>, name: &str, state: &str) -> Option<f64> {
    value(samples, "taskmaster_process_state", &[("name", name), ("program", name), ("state", state)])
}

fn counter(samples: &BTreeMap<Key, f64>, metric: &str, name: &str) -> Option<f64> {
    value(samples, metric, &[("name", name), ("program", name)])
}

/// The TCP ports a process listens on, from its sockets and /proc/net/tcp.
fn listening_ports(pid: i32) -> Vec<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut ports = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        for line in std::fs::read_to_string(table).unwrap_or_default().lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" && inodes.iter().any(|i| i == f[9]) {
                let port = f[1].rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
                ports.extend(port);
            }
        }
    }
    ports
}

#[test]
fn a_scrape_shows_states_restarts_and_output_bytes() {
    let port = free_port();
    let d = Daemon::start_with(
        &settings(port),
        "  run:\n    cmd: sleep 1000\n    starttime: 0\n  idle:\n    cmd: sleep 1000\n    autostart: false\n  \
         talk:\n    cmd: sh -c 'head -c 12345 /dev/zero; exec sleep 1000'\n    starttime: 0\n",
        &["--no-shell"],
    );
    assert_eq!(listening_ports(d.pid()), [port]);
    let pid = d.wait_state("run", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    let samples = scrape(port);
    assert_eq!(state(&samples, "run", "RUNNING"), Some(1.0));
    assert_eq!(state(&samples, "run", "STOPPED"), Some(0.0));
    assert_eq!(state(&samples, "idle", "STOPPED"), Some(1.0));
    assert_eq!(state(&samples, "idle", "RUNNING"), Some(0.0));
    assert_eq!(counter(&samples, "taskmaster_process_restarts_total", "run"), Some(0.0));
    assert_eq!(counter(&samples, "taskmaster_process_unexpected_exits_total", "run"), Some(0.0));
    assert_eq!(counter(&samples, "taskmaster_process_uptime_seconds", "idle"), Some(0.0));

    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the child");
    d.wait_new_pid("run", pid);
    wait_until("the restart counted", || {
        let samples = scrape(port);
        (counter(&samples, "taskmaster_process_restarts_total", "run") == Some(1.0)).then_some(samples)
    });
    let samples = scrape(port);
    assert_eq!(counter(&samples, "taskmaster_process_unexpected_exits_total", "run"), Some(1.0));

    let talk = [("name", "talk"), ("program", "talk"), ("stream", "stdout")];
    wait_until("12345 bytes of stdout counted", || {
        (value(&scrape(port), "taskmaster_process_output_bytes_total", &talk) == Some(12345.0)).then_some(())
    });
    let err = [("name", "talk"), ("program", "talk"), ("stream", "stderr")];
    assert_eq!(value(&scrape(port), "taskmaster_process_output_bytes_total", &err), Some(0.0));

    // HEAD: the same head, no body.
    let (code, head, body) = exchange(port, b"HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!((code, body.as_str()), (200, ""), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "{head}");
    assert!(head.contains("Connection: close"), "{head}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|n| n.parse().ok())
        .expect("Content-Length");
    assert!(length > 1000, "{head}");
}

#[test]
fn bad_requests_get_their_status_and_the_connection_is_closed() {
    let port = free_port();
    let d = Daemon::start_with(
        &settings(port),
        "  a:\n    cmd: sleep 1000\n    autostart: false\n",
        &["--no-shell"],
    );
    let cases: [(&[u8], u16); 5] = [
        (b"GET / HTTP/1.1\r\n\r\n", 404),
        (b"GET /metric HTTP/1.1\r\n\r\n", 404),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 400),
        (b"GET /metrics HTTP/1.1\r\n", 0),
    ];
    for (request, code) in &cases[..4] {
        let (got, head, _) = exchange(port, request);
        assert_eq!(got, *code, "{head}");
    }
    // A head larger than 8 KiB, still unfinished.
    let long = [cases[4].0, format!("X-Long: {}\r\n", "a".repeat(9000)).as_bytes()].concat();
    let (got, head, _) = exchange(port, &long);
    assert_eq!(got, 431, "{head}");
    assert_eq!(d.state("a"), "STOPPED", "taskmaster is well");
}

#[test]
fn scrapers_that_do_not_play_along_stall_nothing() {
    let port = free_port();
    // A thousand processes with long names make an answer of about 6 MB: more than the kernel
    // takes of a connection that is not read (about 4 MB on loopback).
    let many = "m".repeat(150);
    let d = Daemon::start_with(
        &settings(port),
        &format!(
            "  {many}:\n    cmd: sleep 1000\n    numprocs: 1000\n    starttime: 0\n  \
             victim:\n    cmd: sleep 1000\n    starttime: 0\n"
        ),
        &["--no-shell"],
    );
    let pid = d.wait_state("victim", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    wait_until("a thousand running", || {
        let status = d.status();
        (status.iter().filter(|p| p["state"] == "RUNNING").count() == 1001).then_some(())
    });
    // Half say nothing; the others ask and never read.
    let mut hostile = Vec::new();
    for i in 0..16 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        if i % 2 == 1 {
            stream.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").expect("send");
        }
        hostile.push(stream);
    }
    // The seventeenth is turned away (once the sixteen are taken in).
    wait_until("the seventeenth refused", || {
        let mut extra = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        extra.set_read_timeout(Some(Duration::from_millis(500))).expect("timeout");
        let mut answer = String::new();
        let _ = extra.read_to_string(&mut answer);
        answer.starts_with("HTTP/1.1 503 ").then_some(())
    });
    let started = Instant::now();
    let out = d.ctl(&["status", "victim"]);
    assert!(stdout(&out).contains("RUNNING"), "{}", stdout(&out));
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "status took {took:?} with stalled scrapers");
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the victim");
    d.wait_new_pid("victim", pid);
    // The silent ones are dropped at their deadline: the connection ends (a read gets EOF).
    let mut silent = hostile.swap_remove(0);
    silent.set_read_timeout(Some(PATIENCE)).expect("timeout");
    let mut buf = [0u8; 64];
    let begun = Instant::now();
    let read = silent.read(&mut buf);
    assert!(matches!(read, Ok(0)), "{read:?}");
    assert!(begun.elapsed() < Duration::from_secs(12), "dropped at its deadline");
    // All dropped by now: places are free again, and a scrape that reads gets all of it.
    drop(hostile);
    wait_until("a whole scrape", || {
        let (code, _, body) = exchange(port, b"GET /metrics HTTP/1.1\r\n\r\n");
        (code == 200).then(|| assert_eq!(parse(&body).len(), 1001 * 12))
    });
}

#[test]
fn no_port_is_opened_without_metrics() {
    let d = Daemon::start("  a:\n    cmd: sleep 1000\n    starttime: 0\n");
    d.wait_state("a", "RUNNING");
    assert_eq!(listening_ports(d.pid()), Vec::<u16>::new());
}

#[test]
fn a_bad_address_is_refused_by_check_where_it_is_written() {
    let dir = TempDir::new("metbad");
    for (address, said) in [
        ("metrics.example:9101", "host `metrics.example`: write its IP address (or localhost)"),
        ("'127.0.0.1:99999'", "is not a port"),
    ] {
        let config = dir.write(
            "t.yaml",
            &format!(
                "taskmaster:\n  loglevel: info\n  metrics: {address}\nprograms:\n  a: {{cmd: sleep 1}}\n"
            ),
        );
        let out = run(TASKMASTER, &["--check", "-c", config.to_str().expect("utf-8 path")]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let text = stderr(&out);
        assert!(text.contains("t.yaml:3:3: taskmaster: metrics: "), "{text}");
        assert!(text.contains(said), "{text}");
    }
    let config =
        dir.write("t.yaml", "taskmaster:\n  metrics: localhost:9101\nprograms:\n  a: {cmd: sleep 1}\n");
    let out = run(TASKMASTER, &["--check", "-c", config.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("metrics: 127.0.0.1:9101"), "{}", stdout(&out));
}

#[test]
fn a_port_in_use_is_a_startup_error() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port();
    let dir = TempDir::new("metuse");
    let config = dir
        .write("t.yaml", &Daemon::yaml(&settings(port), "  a:\n    cmd: sleep 1000\n    autostart: false\n"));
    let mut child = std::process::Command::new(TASKMASTER)
        .args(["--no-shell", "-c", config.to_str().expect("utf-8 path")])
        .current_dir(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start taskmaster");
    let guard_pid = child.id() as i32;
    let status = wait_until("taskmaster to give up", || child.try_wait().ok().flatten());
    let mut said = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut said).expect("read stderr");
    if status.code().is_none() {
        let _ = kill(Pid::from_raw(guard_pid), Signal::SIGKILL);
    }
    assert_ne!(status.code(), Some(0));
    assert!(said.contains(&format!("metrics: cannot listen on 127.0.0.1:{port}: ")), "{said}");
}

#[test]
fn a_reload_moves_the_port_or_keeps_it_when_the_new_one_is_taken() {
    let (first, second) = (free_port(), free_port());
    let programs = "  a:\n    cmd: sleep 1000\n    starttime: 0\n";
    let d = Daemon::start_with(&settings(first), programs, &["--no-shell"]);
    let pid = d.wait_state("a", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill");
    d.wait_new_pid("a", pid);
    wait_until("the restart counted", || {
        (counter(&scrape(first), "taskmaster_process_restarts_total", "a") == Some(1.0)).then_some(())
    });
    std::fs::write(&d.config, Daemon::yaml(&settings(second), programs)).expect("write");
    d.ctl(&["reload"]);
    d.wait_log(&format!("metrics: served on 127.0.0.1:{second}"));
    assert_eq!(listening_ports(d.pid()), [second]);
    let samples = scrape(second);
    assert_eq!(
        counter(&samples, "taskmaster_process_restarts_total", "a"),
        Some(1.0),
        "kept over the reload"
    );
    // A port in use: the old listener stays, the log says why.
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let busy = taken.local_addr().expect("address").port();
    std::fs::write(&d.config, Daemon::yaml(&settings(busy), programs)).expect("write");
    let out = d.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(1), "the answer says it: {}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("ERROR: metrics: cannot listen on 127.0.0.1:{busy}")),
        "{}",
        stdout(&out)
    );
    d.wait_log(&format!("metrics: cannot listen on 127.0.0.1:{busy}"));
    assert!(d.log().contains(&format!("metrics are still served on 127.0.0.1:{second}")), "{}", d.log());
    assert_eq!(listening_ports(d.pid()), [second]);
    // Another address of the same port: the old listener lets it go.
    std::fs::write(&d.config, Daemon::yaml(&format!("  metrics: 0.0.0.0:{second}\n"), programs))
        .expect("write");
    let out = d.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    d.wait_log(&format!("metrics: served on 0.0.0.0:{second}"));
    assert_eq!(counter(&scrape(second), "taskmaster_process_restarts_total", "a"), Some(1.0));
    // Off: the port is closed.
    std::fs::write(&d.config, Daemon::yaml("", programs)).expect("write");
    d.ctl(&["reload"]);
    d.wait_log("metrics: no longer served");
    assert_eq!(listening_ports(d.pid()), Vec::<u16>::new());
}

#[test]
fn scrapers_never_take_the_descriptors_a_restart_needs() {
    let port = free_port();
    let d = Daemon::launch(
        "ulimit -n 45;",
        &settings(port),
        "  victim:\n    cmd: sleep 1000\n    starttime: 0\n    autorestart: true\n",
        &["--no-shell"],
    );
    let pid = d.wait_state("victim", "RUNNING")["pid"].as_i64().expect("pid") as i32;
    // Sixteen scrapers that never finish their request: as many as the endpoint serves.
    let held: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.write_all(b"GET /met").expect("send a part");
            s
        })
        .collect();
    d.barrier();
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the victim");
    let new = d.wait_new_pid("victim", pid);
    assert!(alive(new));
    assert_eq!(d.state("victim"), "RUNNING", "{}", d.log());
    assert!(!d.log().contains("too many open files"), "{}", d.log());
    drop(held);
}
