//! The metrics endpoint's sockets (taskmaster(1), METRICS): a TCP listener in the loop and its
//! scrapers' connections, each read until its request's head is whole, answered once, and
//! closed. Nothing here waits: a scraper that sends nothing, or does not read its answer, keeps
//! its place until its deadline (one of the loop's), then is dropped; past `MAX_CONNECTIONS` a
//! new one is told so and closed. With no scraper connected there is no deadline at all. What
//! an answer holds is the loop's to say (`Scrapes::ready` hands out who wants the metrics).

use super::Daemon;
use crate::config::checks::Address;
use crate::control::reply::Reply;
use crate::metrics::http::{self, MAX_HEAD, Verdict};
use crate::metrics::{ChannelSample, Snapshot};
use crate::supervisor::Now;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::time::{Duration, Instant};

/// Scrapers connected at once; more are answered 503 and closed.
pub(super) const MAX_CONNECTIONS: usize = 16;
/// How long a connection may take, from its accept to its answer's last byte.
pub(super) const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);

struct Connection {
    stream: TcpStream,
    /// The request so far, at most `MAX_HEAD` and one more byte.
    input: Vec<u8>,
    /// The answer, once there is one, and how much of it is sent.
    output: Vec<u8>,
    sent: usize,
    answered: bool,
    deadline: Instant,
}

/// The listener (when `metrics` is set) and its connections.
#[derive(Default)]
pub(crate) struct Scrapes {
    listener: Option<(TcpListener, Address)>,
    connections: HashMap<Token, Connection>,
}

impl Scrapes {
    /// Listens on `address` (at start: a failure ends taskmaster).
    pub(crate) fn bind(address: &Address) -> Result<Scrapes, String> {
        let listener = listen(address)?;
        Ok(Scrapes { listener: Some((listener, address.clone())), connections: HashMap::new() })
    }

    pub(super) fn register(&mut self, registry: &Registry, token: Token) -> std::io::Result<()> {
        match &mut self.listener {
            Some((listener, _)) => registry.register(listener, token, Interest::READABLE),
            None => Ok(()),
        }
    }

    /// A reload's `metrics`: listens on the new address, or stops listening. When the new
    /// address cannot be bound the old listener stays. Returns what was done, for the log.
    pub(super) fn rebind(
        &mut self,
        registry: &Registry,
        token: Token,
        wanted: Option<&Address>,
    ) -> Result<Option<String>, String> {
        let current = self.listener.as_ref().map(|(_, a)| a);
        if current.map(|a| a.addr) == wanted.map(|a| a.addr) {
            return Ok(None);
        }
        let old = current.map(|a| a.text.clone());
        let Some(address) = wanted else {
            if let Some((mut listener, _)) = self.listener.take() {
                let _ = registry.deregister(&mut listener);
            }
            return Ok(Some(format!("metrics: no longer served on {}", old.unwrap_or_default())));
        };
        let kept = match &old {
            Some(old) => format!("; metrics are still served on {old}"),
            None => String::new(),
        };
        let mut listener = match listen(address) {
            Ok(listener) => listener,
            // The old listener holds the port (127.0.0.1:P to 0.0.0.0:P): it goes first, and
            // comes back if the new address still cannot be had.
            Err(_) if current.is_some_and(|a| a.addr.port() == address.addr.port()) => {
                let (mut old_listener, old_address) = self.listener.take().expect("looked at above");
                let _ = registry.deregister(&mut old_listener);
                drop(old_listener);
                match listen(address) {
                    Ok(listener) => listener,
                    Err(e) => {
                        let back = listen(&old_address).and_then(|mut l| {
                            registry
                                .register(&mut l, token, Interest::READABLE)
                                .map_err(|e| e.to_string())?;
                            Ok(l)
                        });
                        return match back {
                            Ok(l) => {
                                self.listener = Some((l, old_address));
                                Err(format!("{e}{kept}"))
                            }
                            Err(_) => Err(format!("{e}; metrics are no longer served")),
                        };
                    }
                }
            }
            Err(e) => return Err(format!("{e}{kept}")),
        };
        registry
            .register(&mut listener, token, Interest::READABLE)
            .map_err(|e| format!("metrics: cannot watch {}: {e}{kept}", address.text))?;
        if let Some((mut listener, _)) = self.listener.replace((listener, address.clone())) {
            let _ = registry.deregister(&mut listener);
        }
        Ok(Some(format!("metrics: served on {}", address.text)))
    }

    pub(super) fn owns(&self, token: Token) -> bool {
        self.connections.contains_key(&token)
    }

    /// Accepts every pending connection; one too many is told so and closed.
    pub(super) fn accept(
        &mut self,
        registry: &Registry,
        now: Instant,
        mut room: usize,
        mut next_token: impl FnMut() -> Token,
    ) {
        let Some((listener, _)) = &self.listener else { return };
        loop {
            match listener.accept() {
                // Past the cap, or short of descriptors (`room`: what a spawn and the control
                // socket do not need): told so and closed at once.
                Ok((mut stream, _)) if self.connections.len() >= MAX_CONNECTIONS || room == 0 => {
                    // What it sent already is read away: closed unread, it would be reset.
                    let _ = stream.read(&mut [0u8; 1024]);
                    let _ = stream.write(&http::busy());
                    let _ = stream.shutdown(Shutdown::Write);
                }
                Ok((mut stream, _)) => {
                    room -= 1;
                    let token = next_token();
                    if registry.register(&mut stream, token, Interest::READABLE).is_ok() {
                        let connection = Connection {
                            stream,
                            input: Vec::new(),
                            output: Vec::new(),
                            sent: 0,
                            answered: false,
                            deadline: now + CONNECTION_DEADLINE,
                        };
                        self.connections.insert(token, connection);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // WouldBlock: all taken; anything else (no descriptor left): the next turn.
                Err(_) => return,
            }
        }
    }

    /// Readiness on a connection: reads its request, or sends more of its answer. Returns the
    /// verdict when the request is now whole and waits for `answer`.
    pub(super) fn ready(&mut self, registry: &Registry, token: Token) -> Option<Verdict> {
        let connection = self.connections.get_mut(&token)?;
        if connection.answered {
            self.send(registry, token);
            return None;
        }
        let mut buf = [0u8; 4096];
        loop {
            let room = (MAX_HEAD + 1).saturating_sub(connection.input.len()).min(buf.len());
            if room == 0 {
                break;
            }
            match connection.stream.read(&mut buf[..room]) {
                Ok(0) => {
                    // Gone before its request was whole: nothing to answer.
                    let verdict = http::judge(&connection.input);
                    if verdict == Verdict::Incomplete {
                        self.close(registry, token);
                        return None;
                    }
                    break;
                }
                Ok(n) => connection.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => {
                    self.close(registry, token);
                    return None;
                }
            }
        }
        match http::judge(&connection.input) {
            Verdict::Incomplete => None,
            verdict => Some(verdict),
        }
    }

    /// Queues the answer of a connection whose request is whole, and sends what the socket takes.
    pub(super) fn answer(&mut self, registry: &Registry, token: Token, response: Vec<u8>) {
        let Some(connection) = self.connections.get_mut(&token) else { return };
        connection.answered = true;
        connection.output = response;
        connection.input = Vec::new();
        self.send(registry, token);
    }

    /// Sends what the socket takes; asks for WRITABLE while some is left; closes when all is sent.
    fn send(&mut self, registry: &Registry, token: Token) {
        let Some(connection) = self.connections.get_mut(&token) else { return };
        while connection.sent < connection.output.len() {
            match connection.stream.write(&connection.output[connection.sent..]) {
                Ok(0) => return self.close(registry, token),
                Ok(n) => connection.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    let _ = registry.reregister(&mut connection.stream, token, Interest::WRITABLE);
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return self.close(registry, token),
            }
        }
        // All sent. What the scraper sent beyond its head is read away first: a socket closed
        // with unread input is reset, and a reset can overtake the answer on its way. A little
        // only: one that keeps sending is not worth the loop's time.
        let mut sink = [0u8; 16 * 1024];
        for _ in 0..4 {
            if !matches!(connection.stream.read(&mut sink), Ok(n) if n > 0) {
                break;
            }
        }
        let _ = connection.stream.shutdown(Shutdown::Write);
        self.close(registry, token);
    }

    /// When the first connection's time is up; `None` when none is open.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.connections.values().map(|c| c.deadline).min()
    }

    /// Drops the connections whose time is up, answered or not.
    pub(super) fn expire(&mut self, registry: &Registry, now: Instant) {
        let late: Vec<Token> =
            self.connections.iter().filter(|(_, c)| c.deadline <= now).map(|(t, _)| *t).collect();
        for token in late {
            self.close(registry, token);
        }
    }

    pub(super) fn connection_count(&self) -> usize {
        self.connections.len()
    }

    fn close(&mut self, registry: &Registry, token: Token) {
        if let Some(mut connection) = self.connections.remove(&token) {
            let _ = registry.deregister(&mut connection.stream);
        }
    }
}

/// A non-blocking, close-on-exec listener (mio's own: `SO_REUSEADDR`, so a restarted taskmaster
/// is not refused its port for the old one's closing connections).
fn listen(address: &Address) -> Result<TcpListener, String> {
    TcpListener::bind(address.addr).map_err(|e| {
        format!("metrics: cannot listen on {}: {}", address.text, crate::config::describe_io(&e))
    })
}

impl Daemon {
    /// Readiness on a scraper's connection; a whole request is answered at once.
    pub(super) fn on_scraper(&mut self, token: Token, now: Now) {
        let Some(verdict) = self.io.scrapes.ready(self.io.poll.registry(), token) else { return };
        let body = match verdict {
            // HEAD says how long the answer would be: it is made all the same.
            Verdict::Metrics { .. } => crate::metrics::encode(self.snapshot(&now)),
            Verdict::Incomplete
            | Verdict::NotFound { .. }
            | Verdict::MethodNotAllowed
            | Verdict::BadRequest
            | Verdict::HeadTooLarge => String::new(),
        };
        let response = http::respond(verdict, &body);
        self.io.scrapes.answer(self.io.poll.registry(), token, response);
    }

    /// What the metrics show now: the supervisor's processes with the bytes the capture read of
    /// them, and the alert channels' counts as `alerts` shows them.
    fn snapshot(&self, now: &Now) -> Snapshot {
        let mut processes = self.sup.samples(now);
        for p in &mut processes {
            if let Some(bytes) = self.io.capture.written.get(&p.name) {
                p.output_bytes = *bytes;
            }
        }
        let channels = match self.io.alerting.report() {
            Reply::Alerts(Some(report)) => report
                .channels
                .into_iter()
                .map(|c| ChannelSample { channel: c.channel, sent: c.sent, failed: c.failed })
                .collect(),
            _ => Vec::new(),
        };
        Snapshot { processes, channels }
    }
}
