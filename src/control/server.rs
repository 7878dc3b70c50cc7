//! The control socket's server side: the listener, one buffer pair per client, partial reads and
//! writes. Every socket is non-blocking; a client that sends too much, reads too little, or
//! leaves a line unfinished is held back or dropped, never waited for. Every request gets its
//! answer, also when the client closed its writing side right after sending it.

use super::access::Peer;
use super::protocol::{Framed, LineBuffer, ProtocolError, Request, Response};
use super::socket_file::{self, Access, SocketFile};
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// Stop reading and handling a client's requests while this much of its answers is unsent.
const BACKLOG_PAUSE: usize = 256 * 1024;
/// Drop a client whose unsent answers exceed this.
const BACKLOG_LIMIT: usize = 16 * 1024 * 1024;
/// Bytes read from one client per turn.
const READ_BUDGET: usize = 256 * 1024;
/// Complete requests read ahead of the one being handled, in bytes: past this, the rest stays
/// in the socket until these are answered.
const READ_AHEAD: usize = 64 * 1024;
/// Clients connected at once; more are answered with an error and closed.
const MAX_CLIENTS: usize = 256;
/// Clients of one user at once, but root and taskmaster's own: no one else can take every place
/// and lock the admins out.
const MAX_CLIENTS_PER_USER: usize = MAX_CLIENTS / 4;
/// A client that leaves a line unfinished for this long is dropped.
const PARTIAL_TIMEOUT: Duration = Duration::from_secs(60);

struct Client {
    stream: UnixStream,
    /// Who connected, from the kernel; `None` when it could not say.
    peer: Option<Peer>,
    /// Requests refused for lack of rights so far.
    refusals: u32,
    input: LineBuffer,
    /// Complete lines read but not handed to the loop yet: one request at a time is, so that
    /// answers come in the order of their requests.
    lines: VecDeque<Vec<u8>>,
    output: Vec<u8>,
    /// The interest currently registered, to re-register only on change.
    interest: Interest,
    /// A request was handed to the loop and is not answered yet.
    unanswered: bool,
    /// The client has closed its writing side: it is answered, then closed.
    done_sending: bool,
    /// Since when its input holds an unfinished line.
    partial_since: Option<Instant>,
    /// After `attach` or `tail -f` was answered: a stream (see `control::stream`).
    streaming: Option<streaming::Streaming>,
}

impl Client {
    fn new(stream: UnixStream, peer: Option<Peer>) -> Client {
        Client {
            stream,
            peer,
            refusals: 0,
            input: LineBuffer::default(),
            lines: VecDeque::new(),
            output: Vec::new(),
            interest: Interest::READABLE,
            unanswered: false,
            done_sending: false,
            partial_since: None,
            streaming: None,
        }
    }

    /// Nothing more will come from it and nothing more is owed to it.
    fn finished(&self) -> bool {
        match &self.streaming {
            Some(stream) => stream.ending && self.output.is_empty(),
            None => self.done_sending && !self.unanswered && self.lines.is_empty() && self.output.is_empty(),
        }
    }
}

/// What happened on a client connection.
#[derive(Debug, PartialEq)]
pub(crate) enum ClientEvent {
    Request(Token, Request),
    /// A line that is not a request: answer the error, keep the connection.
    Malformed(Token, ProtocolError),
    Closed(Token),
    /// Keys typed at an attached client.
    Keys(Token, Vec<u8>),
    /// An attached client's window changed size.
    Resize(Token, crate::sys::pty::WindowSize),
}

pub(crate) struct Server {
    listener: UnixListener,
    file: SocketFile,
    clients: HashMap<Token, Client>,
    /// A descriptor kept open to be given up when the process has none left, so that a
    /// connection can still be accepted and told why it is refused (instead of waiting unseen).
    spare: Option<File>,
    /// User names by uid, looked up once each (the name service is not asked on every connect).
    names: HashMap<u32, Option<String>>,
    /// Streaming clients whose socket failed while output was sent to them: closed at the end
    /// of the turn, where the loop hears of it.
    broken: Vec<Token>,
}

impl Server {
    /// Binds the socket (see `socket_file::bind` for what it checks first).
    pub(crate) fn bind(path: &Path, access: Access) -> Result<Server, String> {
        let (listener, file) = socket_file::bind(path, access)?;
        Ok(Server {
            listener,
            file,
            clients: HashMap::new(),
            spare: spare(),
            names: HashMap::new(),
            broken: Vec::new(),
        })
    }

    /// Applies a reload's socket settings: moves the listener to `path` when it changed, binds
    /// it again when the socket file was removed or replaced, and sets `mode`. Clients already
    /// connected stay. On failure nothing changes. Returns what was done, for the log.
    pub(crate) fn rebind(
        &mut self,
        registry: &Registry,
        token: Token,
        path: &Path,
        access: Access,
    ) -> Result<Option<String>, String> {
        let again = path == self.file.path();
        let in_place = again && self.file.is_in_place();
        if in_place && self.file.access() == access {
            return Ok(None);
        }
        let (mut listener, file) = match in_place {
            true => socket_file::replace(path, access)?,
            false => socket_file::bind(path, access)?,
        };
        registry
            .register(&mut listener, token, Interest::READABLE)
            .map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
        let _ = registry.deregister(&mut self.listener);
        self.listener = listener;
        // The old file is removed when it drops, if it is still the one this server made.
        let old = std::mem::replace(&mut self.file, file);
        // A new mode or owner takes a new socket file (see `socket_file`): it replaces the old.
        let done = match (again, in_place) {
            (true, true) => format!("the socket {} has its new mode and owner", path.display()),
            (true, false) => format!("the socket {} was gone: it is bound again", path.display()),
            (false, _) => format!("the socket moved from {} to {}", old.path().display(), path.display()),
        };
        Ok(Some(done))
    }

    pub(crate) fn register(&mut self, registry: &Registry, token: Token) -> std::io::Result<()> {
        registry.register(&mut self.listener, token, Interest::READABLE)
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }

    /// Whether the socket file at the path is still the one this server listens on.
    pub(crate) fn is_in_place(&self) -> bool {
        self.file.is_in_place()
    }

    pub(crate) fn owns(&self, token: Token) -> bool {
        self.clients.contains_key(&token)
    }

    pub(crate) fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Accepts every pending connection. Past `MAX_CLIENTS`, or with no descriptor left, a
    /// connection is accepted only to be told why it is refused, then closed.
    pub(crate) fn accept(&mut self, registry: &Registry, mut next_token: impl FnMut() -> Token) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) if self.clients.len() >= MAX_CLIENTS => {
                    refuse(stream, &format!("too many clients ({MAX_CLIENTS}); try again later"));
                }
                Ok((mut stream, _)) => {
                    let peer = self.peer_of(&stream);
                    if let Some(uid) = peer.as_ref().map(|p| p.uid).filter(|uid| self.crowded(*uid)) {
                        refuse(
                            stream,
                            &format!(
                                "too many connections of uid {uid} ({MAX_CLIENTS_PER_USER}); close some"
                            ),
                        );
                        continue;
                    }
                    let token = next_token();
                    if registry.register(&mut stream, token, Interest::READABLE).is_ok() {
                        self.clients.insert(token, Client::new(stream, peer));
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if is_out_of_descriptors(&e) && self.spare.is_some() => {
                    // The listener is edge-triggered: a connection left in the backlog would not
                    // be reported again. Give up the spare to take it and say why.
                    // accept says EMFILE whether a connection waits or not: stop once none does.
                    self.spare = None;
                    let waiting = match self.listener.accept() {
                        Ok((stream, _)) => {
                            refuse(stream, "taskmaster has no file descriptor left; try again later");
                            true
                        }
                        Err(_) => false,
                    };
                    self.spare = spare();
                    if !waiting || self.spare.is_none() {
                        return;
                    }
                }
                // WouldBlock: all taken.
                Err(_) => return,
            }
        }
    }

    /// Whether `uid` has all the connections one user may have.
    fn crowded(&self, uid: u32) -> bool {
        let privileged = uid == 0 || uid == nix::unistd::geteuid().as_raw();
        !privileged
            && self.clients.values().filter(|c| c.peer.as_ref().is_some_and(|p| p.uid == uid)).count()
                >= MAX_CLIENTS_PER_USER
    }

    /// Who is at the other end of a new connection.
    fn peer_of(&mut self, stream: &UnixStream) -> Option<Peer> {
        let cred = crate::sys::peer::credentials(stream).ok()?;
        let name = self
            .names
            .entry(cred.uid)
            .or_insert_with(|| nix::unistd::User::from_uid(cred.uid.into()).ok().flatten().map(|u| u.name))
            .clone();
        Some(Peer { uid: cred.uid, gid: cred.gid, groups: cred.groups, name })
    }

    /// Counts a refusal of a request of `token`; how many there were on it.
    pub(crate) fn refused(&mut self, token: Token) -> u32 {
        self.clients.get_mut(&token).map_or(0, |c| {
            c.refusals = c.refusals.saturating_add(1);
            c.refusals
        })
    }

    /// Who sent the requests of `token`; `None` when the kernel could not say (then the client is
    /// no admin).
    pub(crate) fn peer(&self, token: Token) -> Option<&Peer> {
        self.clients.get(&token).and_then(|c| c.peer.as_ref())
    }

    /// Handles readiness on a client: reads requests, flushes answers, and hands the next request
    /// to the loop once the one before is answered. Returns true when it must be called again
    /// next turn (input left that readiness, being edge-triggered, will not announce again).
    pub(crate) fn ready(
        &mut self,
        registry: &Registry,
        token: Token,
        now: Instant,
        events: &mut Vec<ClientEvent>,
    ) -> bool {
        let Some(client) = self.clients.get_mut(&token) else { return false };
        if client.streaming.is_some() {
            return self.ready_stream(registry, token, events);
        }
        let mut closed = flush(client).is_err();
        let mut budget = READ_BUDGET;
        // Whether the socket was read until it had nothing more (readiness is edge-triggered:
        // what is left unread now is not announced again).
        let mut drained = client.done_sending;
        let mut buf = [0u8; 16 * 1024];
        while !closed
            && !drained
            && budget > 0
            && client.lines.iter().map(Vec::len).sum::<usize>() < READ_AHEAD
            && client.output.len() < BACKLOG_PAUSE
        {
            match client.stream.read(&mut buf) {
                // The end of its input: gone altogether, or only done sending (`nc -N`, socat).
                Ok(0) => match peer_gone(&client.stream) {
                    true => closed = true,
                    false => {
                        client.done_sending = true;
                        drained = true;
                        client.lines.extend(client.input.finish());
                    }
                },
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    for framed in client.input.push(&buf[..n]) {
                        match framed {
                            Framed::Line(line) => {
                                client.lines.push_back(line);
                                // A line came whole: the one now unfinished starts its own time.
                                client.partial_since = None;
                            }
                            Framed::TooLong => closed = true,
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => drained = true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => closed = true,
            }
        }
        if closed {
            self.drop_client(registry, token);
            events.push(ClientEvent::Closed(token));
            return false;
        }
        // One request at a time, and one per turn: a client that sends many is served in turns
        // with the others and the supervision.
        // Blank lines are no requests (kept until now for a stream's sake: see `stream`).
        while client.lines.front().is_some_and(|l| l.iter().all(u8::is_ascii_whitespace)) {
            client.lines.pop_front();
        }
        if !client.unanswered
            && client.output.len() < BACKLOG_PAUSE
            && let Some(line) = client.lines.pop_front()
        {
            client.unanswered = true;
            events.push(match Request::from_line(&line) {
                Ok(request) => ClientEvent::Request(token, request),
                Err(why) => ClientEvent::Malformed(token, why),
            });
        }
        // A line is unfinished by the client's doing only when all it sent was read: reading
        // paused (requests queued, answers unsent) holds the rest of its line in the socket.
        client.partial_since = match client.input.has_partial() && drained {
            true => client.partial_since.or(Some(now)),
            false => None,
        };
        // More to do next turn. While a request waits for its answer, the answer says when (see
        // `reply`); while answers wait to be sent, the socket's WRITABLE does.
        let more = !client.unanswered
            && (!client.lines.is_empty() || !drained)
            && client.output.len() < BACKLOG_PAUSE;
        if client.finished() {
            self.drop_client(registry, token);
            return false;
        }
        self.update_interest(registry, token);
        more
    }

    /// Queues the answer to the client's request and sends what the socket takes now. Returns
    /// true when the client must be handled again next turn: its next request is due.
    /// Sends `line` (a response, newline included) to the client: taken as the client's output
    /// when it has nothing else queued (a status of ten thousand is megabytes, not copied).
    pub(crate) fn reply(&mut self, registry: &Registry, token: Token, line: Vec<u8>) -> bool {
        Server::after_large(line.len());
        let Some(client) = self.clients.get_mut(&token) else { return false };
        client.unanswered = false;
        match client.output.is_empty() {
            true => client.output = line,
            false => client.output.extend_from_slice(&line),
        }
        if flush(client).is_err() || client.output.len() > BACKLOG_LIMIT {
            self.drop_client(registry, token);
            return false;
        }
        if client.finished() {
            self.drop_client(registry, token);
            return false;
        }
        self.update_interest(registry, token);
        true
    }

    /// When the next unfinished line times out, if any.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.clients.values().filter_map(|c| c.partial_since).min().map(|since| since + PARTIAL_TIMEOUT)
    }

    /// Drops the clients that left a line unfinished for `PARTIAL_TIMEOUT`.
    pub(crate) fn expire(&mut self, registry: &Registry, now: Instant, events: &mut Vec<ClientEvent>) {
        let late: Vec<Token> = self
            .clients
            .iter()
            .filter(|(_, c)| c.partial_since.is_some_and(|since| since + PARTIAL_TIMEOUT <= now))
            .map(|(t, _)| *t)
            .collect();
        for token in late {
            self.drop_client(registry, token);
            events.push(ClientEvent::Closed(token));
        }
        // Streams found broken while output was sent to them.
        for token in std::mem::take(&mut self.broken) {
            self.drop_client(registry, token);
            events.push(ClientEvent::Closed(token));
        }
    }

    /// Sends what is still queued, for a last time before exit: a second at most, for clients
    /// that read (a follower's last note), never for one that does not.
    pub(crate) fn flush_all(&mut self) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        for _ in 0..10 {
            let mut waiting: Vec<&mut Client> = Vec::new();
            for client in self.clients.values_mut() {
                if flush(client).is_ok() && !client.output.is_empty() {
                    waiting.push(client);
                }
            }
            if waiting.is_empty() {
                return;
            }
            let mut fds: Vec<PollFd> =
                waiting.iter().map(|c| PollFd::new(c.stream.as_fd(), PollFlags::POLLOUT)).collect();
            if !matches!(poll(&mut fds, PollTimeout::from(100u8)), Ok(n) if n > 0) {
                return;
            }
        }
    }

    /// Asks for WRITABLE only while answers wait, and stops reading while too many wait.
    fn update_interest(&mut self, registry: &Registry, token: Token) {
        let Some(client) = self.clients.get_mut(&token) else { return };
        let wanted = match (client.output.is_empty(), client.output.len() < BACKLOG_PAUSE) {
            (true, _) => Interest::READABLE,
            // A stream's output is bounded by dropping, never by not reading its keys.
            (false, _) if client.streaming.is_some() => Interest::READABLE | Interest::WRITABLE,
            (false, true) => Interest::READABLE | Interest::WRITABLE,
            (false, false) => Interest::WRITABLE,
        };
        if wanted != client.interest && registry.reregister(&mut client.stream, token, wanted).is_ok() {
            client.interest = wanted;
        }
    }

    fn drop_client(&mut self, registry: &Registry, token: Token) {
        if let Some(mut client) = self.clients.remove(&token) {
            let _ = registry.deregister(&mut client.stream);
        }
    }

    /// Gives back what building a large answer took, once it is built.
    fn after_large(line_len: usize) {
        if line_len >= crate::sys::heap::LARGE {
            crate::sys::heap::give_back();
        }
    }
}

/// Writes as much queued output as the socket takes. Err: the peer is gone.
fn flush(client: &mut Client) -> Result<(), ()> {
    let mut sent = 0;
    while sent < client.output.len() {
        match client.stream.write(&client.output[sent..]) {
            Ok(0) => return Err(()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Err(()),
        }
    }
    client.output.drain(..sent);
    if client.output.is_empty() {
        // A large answer must not keep its memory once sent.
        client.output.shrink_to(4096);
    }
    Ok(())
}

/// After the end of a client's input: whether it closed the connection altogether (hang-up)
/// rather than only its writing side.
pub(super) fn peer_gone(stream: &UnixStream) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0].revents().is_none_or(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
        Err(_) => true,
    }
}

/// Tells a connection it is refused (one error answer, if the socket takes it now) and closes it.
fn refuse(mut stream: UnixStream, why: &str) {
    let _ = stream.write(&Response::error(why).to_line());
}

fn is_out_of_descriptors(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// The spare descriptor (see `Server::spare`).
fn spare() -> Option<File> {
    File::open("/dev/null").ok()
}

mod streaming;

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests;
