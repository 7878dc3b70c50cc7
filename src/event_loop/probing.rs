//! Running probes in the loop (taskmaster(1), ORDER AND HEALTH), never waiting for one: a `tcp`
//! probe is a non-blocking connect watched for writability; an `http` probe the same, then a
//! GET written and the answer read as it comes, its head parsed by `httparse`; a `cmd` probe a
//! short-lived child (`sh -c`, run like the program), reaped like any other and killed at its
//! limit; a `log` probe looks at the program's output as it is read; a `file` probe is one
//! `stat`. Each answer goes back to the supervisor as `Input::Probed`.

use crate::config::Probe;
use crate::config::checks::HttpTarget;
use crate::output::{Capture, Sink};
use crate::process::ExitKind;
use crate::supervisor::{ProbeJob, ProcId};
use crate::sys;
use crate::tail::Stream;
use crate::timers::Timers;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::time::Instant;

/// The most of an HTTP answer read: its status line and headers are in there.
const MAX_ANSWER: usize = 64 * 1024;
/// The most of one line a `log` probe keeps while it waits for the line's end.
const MAX_LINE: usize = 64 * 1024;
/// What is kept of a `cmd` probe's output: its last line says why it failed.
const CMD_TAIL: usize = 4 * 1024;

/// One look under way.
struct Look {
    seq: u64,
    kind: Kind,
    /// How long it may take, for the reason it failed.
    allowed: std::time::Duration,
}

enum Kind {
    /// `tcp`, or `http` with its exchange.
    Connect {
        stream: TcpStream,
        token: Token,
        http: Option<Exchange>,
    },
    Cmd {
        pid: Pid,
    },
    /// The line so far of each stream (stdout, stderr): never one made of both.
    Log {
        pid: Pid,
        regex: regex::Regex,
        lines: [Vec<u8>; 2],
    },
}

struct Exchange {
    request: Vec<u8>,
    sent: usize,
    answer: Vec<u8>,
}

/// A probe's result: the supervisor's `Input::Probed`.
pub(super) type Answer = (ProcId, u64, Result<(), String>);

#[derive(Default)]
pub(super) struct Probes {
    looks: HashMap<ProcId, Look>,
    by_token: HashMap<Token, ProcId>,
    /// `cmd` probes' children, with the look they answer (`None`: called off, still to reap).
    children: HashMap<Pid, Option<ProcId>>,
    /// `log` probes, by the process whose output they read.
    listening: HashMap<Pid, ProcId>,
    limits: Timers<ProcId>,
    answers: Vec<Answer>,
    /// Looks that could not even begin, and why: not the probe's failure.
    skipped: Vec<(ProcId, u64, String)>,
}

/// What a probe needs of the loop.
pub(super) struct Hands<'a> {
    pub(super) registry: &'a Registry,
    pub(super) next_token: &'a mut usize,
    pub(super) capture: &'a mut Capture,
    pub(super) nofile: (u64, u64),
    /// What went wrong on the way, for the log.
    pub(super) problems: &'a mut Vec<String>,
    /// The record of process groups a next taskmaster cleans up if this one is killed.
    pub(super) groups: &'a mut crate::leftovers::Groups,
}

impl Probes {
    pub(super) fn owns(&self, token: Token) -> bool {
        self.by_token.contains_key(&token)
    }

    pub(super) fn owns_pid(&self, pid: Pid) -> bool {
        self.children.contains_key(&pid)
    }

    pub(super) fn has_answers(&self) -> bool {
        !self.answers.is_empty() || !self.skipped.is_empty()
    }

    pub(super) fn take_answers(&mut self) -> Vec<Answer> {
        std::mem::take(&mut self.answers)
    }

    pub(super) fn take_skipped(&mut self) -> Vec<(ProcId, u64, String)> {
        std::mem::take(&mut self.skipped)
    }

    /// A look that taskmaster cannot make now.
    pub(super) fn skip(&mut self, id: ProcId, seq: u64, why: String) {
        self.skipped.push((id, seq, why));
    }

    /// The connections of probes under way.
    pub(super) fn connections(&self) -> usize {
        self.by_token.len()
    }

    pub(super) fn next_deadline(&mut self) -> Option<Instant> {
        self.limits.earliest()
    }

    /// Starts a look; a file probe, or one that cannot even begin, is answered at once.
    pub(super) fn start(&mut self, id: ProcId, seq: u64, job: ProbeJob, hands: Hands) {
        self.cancel(id, hands.registry, hands.capture);
        let started = match &job.probe {
            Probe::File(path) => {
                let found = std::fs::metadata(path)
                    .map(|_| ())
                    .map_err(|e| format!("{}: {}", path.display(), crate::config::describe_io(&e)));
                return self.answers.push((id, seq, found));
            }
            Probe::Tcp(address) => connect(address.addr, None, hands),
            Probe::Http(target) => connect(target.addr, Some(request(target)), hands),
            Probe::Cmd(text) => run(&job, text, hands).map(|pid| {
                self.children.insert(pid, Some(id));
                Kind::Cmd { pid }
            }),
            Probe::Log(pattern) => {
                hands.capture.listened.insert(job.pid);
                self.listening.insert(job.pid, id);
                Ok(Kind::Log { pid: job.pid, regex: pattern.regex.clone(), lines: [Vec::new(), Vec::new()] })
            }
        };
        match started {
            Ok(kind) => {
                if let Kind::Connect { token, .. } = &kind {
                    self.by_token.insert(*token, id);
                }
                // A log probe has no limit of its own: the ready time is the state's deadline.
                if !matches!(kind, Kind::Log { .. }) {
                    self.limits.set(id, Some(job.limit));
                }
                self.looks.insert(id, Look { seq, kind, allowed: job.allowed });
            }
            Err(why) => self.answers.push((id, seq, Err(why))),
        }
    }

    /// A look no longer wanted: its socket closed, its child killed (and reaped later).
    pub(super) fn cancel(&mut self, id: ProcId, registry: &Registry, capture: &mut Capture) {
        let Some(look) = self.looks.remove(&id) else { return };
        self.limits.set(id, None);
        match look.kind {
            Kind::Connect { mut stream, token, .. } => {
                self.by_token.remove(&token);
                let _ = registry.deregister(&mut stream);
            }
            Kind::Cmd { pid } => {
                let _ = sys::signals::send(pid, Signal::SIGKILL, true);
                self.children.insert(pid, None);
            }
            Kind::Log { pid, .. } => {
                self.listening.remove(&pid);
                capture.listened.remove(&pid);
            }
        }
    }

    /// The looks whose limit passed fail.
    pub(super) fn expire(&mut self, now: Instant, registry: &Registry, capture: &mut Capture) {
        for id in self.limits.due(now) {
            let Some(look) = self.looks.get(&id) else { continue };
            let seq = look.seq;
            let within = crate::process::in_seconds(look.allowed);
            let why = match &look.kind {
                Kind::Cmd { .. } => format!("it did not finish within {within}: killed"),
                Kind::Connect { .. } | Kind::Log { .. } => format!("no answer within {within}"),
            };
            self.cancel(id, registry, capture);
            self.answers.push((id, seq, Err(why)));
        }
    }

    /// A connection moved: connected, refused, or an answer came.
    pub(super) fn on_ready(&mut self, token: Token, registry: &Registry, capture: &mut Capture) {
        let Some(&id) = self.by_token.get(&token) else { return };
        let Some(look) = self.looks.get_mut(&id) else { return };
        let Kind::Connect { stream, http, .. } = &mut look.kind else { return };
        let result = match progress(stream, http) {
            Progress::Waiting => return,
            Progress::Done(result) => result,
        };
        let seq = look.seq;
        self.cancel(id, registry, capture);
        self.answers.push((id, seq, result));
    }

    /// Output of a process some `log` probe listens to.
    pub(super) fn on_output(
        &mut self,
        pid: Pid,
        stream: Stream,
        bytes: &[u8],
        registry: &Registry,
        capture: &mut Capture,
    ) {
        let Some(&id) = self.listening.get(&pid) else { return };
        let Some(look) = self.looks.get_mut(&id) else { return };
        let Kind::Log { regex, lines, .. } = &mut look.kind else { return };
        let line = &mut lines[usize::from(stream == Stream::Stderr)];
        let mut found = false;
        for piece in bytes.split_inclusive(|b| *b == b'\n') {
            if line.len() < MAX_LINE {
                line.extend_from_slice(&piece[..piece.len().min(MAX_LINE - line.len())]);
            }
            let text = String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(line));
            // The line so far counts too: a program may say it is ready without a newline.
            found |= regex.is_match(&text);
            if piece.ends_with(b"\n") {
                line.clear();
            }
        }
        if found {
            let seq = look.seq;
            self.cancel(id, registry, capture);
            self.answers.push((id, seq, Ok(())));
        }
    }

    /// A `cmd` probe's child ended (its output drained into `tails`).
    pub(super) fn on_reaped(&mut self, pid: Pid, exit: ExitKind, capture: &mut Capture) {
        let name = output_name(pid);
        let last = capture.tails.last_lines(&name, Stream::Stdout, 1);
        capture.tails.remove(&name);
        let Some(Some(id)) = self.children.remove(&pid) else { return };
        let Some(look) = self.looks.remove(&id) else { return };
        self.limits.set(id, None);
        let result = match exit {
            ExitKind::Code(0) => Ok(()),
            other => Err(match last.first().map(|l| l.trim()).filter(|l| !l.is_empty()) {
                Some(line) => format!("{other}: {line}"),
                None => other.to_string(),
            }),
        };
        self.answers.push((id, look.seq, result));
    }
}

/// Where a `cmd` probe's output is kept, by its pid.
fn output_name(pid: Pid) -> String {
    format!("probe {pid}")
}

fn connect(addr: std::net::SocketAddr, http: Option<Vec<u8>>, hands: Hands) -> Result<Kind, String> {
    let mut stream =
        TcpStream::connect(addr).map_err(|e| format!("{addr}: {}", crate::config::describe_io(&e)))?;
    let token = super::take_token(hands.next_token);
    let interest = match http {
        Some(_) => Interest::WRITABLE | Interest::READABLE,
        None => Interest::WRITABLE,
    };
    hands
        .registry
        .register(&mut stream, token, interest)
        .map_err(|e| format!("cannot watch a connection: {e}"))?;
    let http = http.map(|request| Exchange { request, sent: 0, answer: Vec::new() });
    Ok(Kind::Connect { stream, token, http })
}

/// `GET PATH HTTP/1.1` with the headers a server needs, and nothing kept open.
fn request(target: &HttpTarget) -> Vec<u8> {
    format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: taskmaster/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        target.path,
        target.host,
        env!("CARGO_PKG_VERSION")
    )
    .into_bytes()
}

enum Progress {
    Waiting,
    Done(Result<(), String>),
}

/// What a connection's readiness means: for `tcp`, connected or not; for `http`, the next part
/// of the exchange.
fn progress(stream: &mut TcpStream, http: &mut Option<Exchange>) -> Progress {
    if let Ok(Some(e)) | Err(e) = stream.take_error() {
        return Progress::Done(Err(crate::config::describe_io(&e)));
    }
    match stream.peer_addr() {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::NotConnected => return Progress::Waiting,
        Err(e) => return Progress::Done(Err(crate::config::describe_io(&e))),
    }
    let Some(exchange) = http else { return Progress::Done(Ok(())) };
    while exchange.sent < exchange.request.len() {
        match stream.write(&exchange.request[exchange.sent..]) {
            Ok(n) => exchange.sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Waiting,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Progress::Done(Err(crate::config::describe_io(&e))),
        }
    }
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Progress::Done(verdict(&exchange.answer, true)),
            Ok(n) => {
                let room = MAX_ANSWER.saturating_sub(exchange.answer.len());
                exchange.answer.extend_from_slice(&buf[..n.min(room)]);
                match verdict(&exchange.answer, false) {
                    Ok(()) => return Progress::Done(Ok(())),
                    Err(why) if !why.is_empty() => return Progress::Done(Err(why)),
                    Err(_) if room <= n => {
                        return Progress::Done(Err("the head of the answer is over 64 KiB".to_string()));
                    }
                    Err(_) => {}
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Progress::Waiting,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Progress::Done(Err(crate::config::describe_io(&e))),
        }
    }
}

/// An answer's head: 2xx passes, anything else says its status. `Err("")`: not all of the
/// head yet (an error once `over`: the connection ended, or the answer is too large).
fn verdict(answer: &[u8], over: bool) -> Result<(), String> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(answer) {
        Ok(httparse::Status::Complete(head)) => match response.code {
            Some(code) if (200..300).contains(&code) => Ok(()),
            // `100 Continue` and the like come before the answer itself.
            Some(code) if (100..200).contains(&code) => verdict(&answer[head..], over),
            Some(code) => Err(format!("HTTP {code} {}", response.reason.unwrap_or_default())),
            None => Err("an answer without a status".to_string()),
        },
        Ok(httparse::Status::Partial) if over => Err(match answer.is_empty() {
            true => "the connection closed without an answer".to_string(),
            false => "the connection closed before the whole head of the answer".to_string(),
        }),
        Ok(httparse::Status::Partial) => Err(String::new()),
        Err(e) => Err(format!("not an HTTP answer ({e})")),
    }
}

/// `sh -c TEXT` as the program would run: its user, working folder, umask and environment, its
/// output kept (a little) for the reason it failed.
fn run(job: &ProbeJob, text: &str, hands: Hands) -> Result<Pid, String> {
    // `web:web_02` is process 2 of `web`.
    let number = match job.spec.numprocs {
        1 => 0,
        _ => job.name.rsplit('_').next().and_then(|n| n.parse().ok()).unwrap_or(0),
    };
    // Its values are the process's own already (see `Supervisor::look`).
    let mut spec = (*job.spec).clone();
    spec.cmd = crate::config::CommandLine {
        text: text.to_string(),
        argv: vec!["/bin/sh".to_string(), "-c".to_string(), text.to_string()],
    };
    spec.stdout = None;
    spec.stderr = Some(crate::config::Output::Stdout);
    spec.tty = false;
    let identity = [
        ("TASKMASTER_PROCESS_NAME", job.name.clone()),
        ("TASKMASTER_PROCESS_NUM", number.to_string()),
        ("TASKMASTER_PROBE", "1".to_string()),
    ];
    let child =
        sys::spawn::spawn(&spec, &identity, hands.nofile).map_err(|e| format!("cannot run it: {e}"))?;
    if let sys::spawn::ChildOutput::Pipes { stdout, .. } = child.output {
        let next = hands.next_token;
        let problems = hands.capture.add(
            hands.registry,
            || super::take_token(next),
            (child.pid, &output_name(child.pid)),
            vec![(stdout, Sink::discard(), Stream::Stdout)],
            (CMD_TAIL, false),
        );
        hands.problems.extend(problems);
    }
    hands.groups.started(child.pid.as_raw());
    Ok(child.pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_passes_on_2xx_and_says_its_status_otherwise() {
        assert_eq!(verdict(b"HTTP/1.1 204 No Content\r\n\r\n", false), Ok(()));
        assert_eq!(verdict(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", false), Ok(()));
        assert_eq!(
            verdict(b"HTTP/1.1 503 Service Unavailable\r\n\r\n", false),
            Err("HTTP 503 Service Unavailable".into())
        );
        assert_eq!(verdict(b"HTTP/1.1 200 OK\r\nX: y\r\n", false), Err(String::new()), "not all yet");
        assert!(
            verdict(b"HTTP/1.1 200 OK\r\nX: y\r\n", true).is_err_and(|e| e.contains("before the whole head"))
        );
        assert!(verdict(b"", true).is_err_and(|e| e.contains("without an answer")));
        assert!(verdict(b"SSH-2.0-OpenSSH\r\n\r\n", false).is_err_and(|e| e.contains("not an HTTP answer")));
        assert_eq!(verdict(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", false), Ok(()));
        assert_eq!(
            verdict(b"HTTP/1.1 100 Continue\r\n\r\n", false),
            Err(String::new()),
            "the answer is still to come"
        );
    }

    #[test]
    fn the_request_names_the_host_and_closes() {
        let target = HttpTarget {
            text: "http://localhost:8080/health?x=1".into(),
            addr: "127.0.0.1:8080".parse().expect("an address"),
            host: "localhost:8080".into(),
            path: "/health?x=1".into(),
        };
        let text = String::from_utf8(request(&target)).expect("text");
        assert!(text.starts_with("GET /health?x=1 HTTP/1.1\r\nHost: localhost:8080\r\n"), "{text}");
        assert!(text.ends_with("Connection: close\r\n\r\n"));
    }
}
