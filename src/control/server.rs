//! The control socket's server side: the listener, one buffer pair per client, partial reads and
//! writes. Every socket is non-blocking; a client that sends too much, or reads too little, is
//! held back or dropped, never waited for.

use super::protocol::{Framed, LineBuffer, Request, Response};
use crate::config::{Mode, describe_io};
use mio::net::{UnixListener, UnixStream};
use mio::{Interest, Registry, Token};
use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Stop reading a client's requests while this much of its answers is still unsent.
const BACKLOG_PAUSE: usize = 1024 * 1024;
/// Drop a client whose unsent answers exceed this.
const BACKLOG_LIMIT: usize = 16 * 1024 * 1024;
/// Bytes read from one client per turn.
const READ_BUDGET: usize = 256 * 1024;

struct Client {
    stream: UnixStream,
    input: LineBuffer,
    output: Vec<u8>,
    /// The interest currently registered, to re-register only on change.
    interest: Interest,
}

/// What happened on a client connection.
#[derive(Debug, PartialEq)]
pub enum ClientEvent {
    Request(Token, Request),
    /// A line that is not a request: answer the error, keep the connection.
    Malformed(Token, String),
    Closed(Token),
}

pub struct Server {
    listener: UnixListener,
    path: PathBuf,
    clients: HashMap<Token, Client>,
}

impl Server {
    /// Binds the socket: a stale file (nobody answers) is replaced, a live daemon is refused.
    pub fn bind(path: &Path, mode: Mode) -> Result<Server, String> {
        let shown = path.display();
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(format!("{shown} exists and is not a socket; not replacing it"));
            }
            Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
                Ok(_) => return Err(format!("another taskmaster is already serving {shown}")),
                Err(_) => {
                    std::fs::remove_file(path).map_err(|e| {
                        format!("cannot replace the stale socket {shown}: {}", describe_io(&e))
                    })?;
                }
            },
            Err(_) => {}
        }
        // Created with no permission for others, then opened up to `socket_mode`, so there is no
        // moment when a wider mode applies. The daemon has one thread: the umask change is safe.
        let old = nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o177));
        let bound = UnixListener::bind(path);
        nix::sys::stat::umask(old);
        let listener = bound.map_err(|e| format!("cannot listen on {shown}: {}", describe_io(&e)))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode.0))
            .map_err(|e| format!("cannot set the mode of {shown}: {}", describe_io(&e)))?;
        Ok(Server { listener, path: path.to_path_buf(), clients: HashMap::new() })
    }

    /// Moves the listener to `path` (a reload changed it) and applies `mode`; clients already
    /// connected stay. On failure nothing changes.
    pub fn rebind(
        &mut self,
        registry: &Registry,
        token: Token,
        path: &Path,
        mode: Mode,
    ) -> Result<(), String> {
        if path == self.path {
            return std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode.0))
                .map_err(|e| format!("cannot set the mode of {}: {}", path.display(), describe_io(&e)));
        }
        let mut fresh = Server::bind(path, mode)?;
        fresh.register(registry, token).map_err(|e| format!("cannot watch {}: {e}", path.display()))?;
        let _ = registry.deregister(&mut self.listener);
        std::mem::swap(&mut self.listener, &mut fresh.listener);
        std::mem::swap(&mut self.path, &mut fresh.path);
        // `fresh` now holds the old listener and path: dropping it removes the old socket file.
        Ok(())
    }

    pub fn register(&mut self, registry: &Registry, token: Token) -> std::io::Result<()> {
        registry.register(&mut self.listener, token, Interest::READABLE)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn owns(&self, token: Token) -> bool {
        self.clients.contains_key(&token)
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Accepts every pending connection.
    pub fn accept(&mut self, registry: &Registry, mut next_token: impl FnMut() -> Token) {
        loop {
            match self.listener.accept() {
                Ok((mut stream, _)) => {
                    let token = next_token();
                    if registry.register(&mut stream, token, Interest::READABLE).is_ok() {
                        let client = Client {
                            stream,
                            input: LineBuffer::default(),
                            output: Vec::new(),
                            interest: Interest::READABLE,
                        };
                        self.clients.insert(token, client);
                    }
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // WouldBlock: all taken. Anything else (EMFILE...): try again on the next event.
                Err(_) => return,
            }
        }
    }

    /// Handles readiness on a client: reads requests, flushes answers. Returns true when the
    /// read budget ran out with input possibly left: call again next turn (readiness is
    /// edge-triggered and will not say so again).
    pub fn ready(&mut self, registry: &Registry, token: Token, events: &mut Vec<ClientEvent>) -> bool {
        let Some(client) = self.clients.get_mut(&token) else { return false };
        let mut closed = flush(client).is_err();
        let mut budget = READ_BUDGET;
        let mut buf = [0u8; 16 * 1024];
        while !closed && budget > 0 && client.output.len() < BACKLOG_PAUSE {
            match client.stream.read(&mut buf) {
                Ok(0) => closed = true,
                Ok(n) => {
                    budget = budget.saturating_sub(n);
                    for framed in client.input.push(&buf[..n]) {
                        match framed {
                            Framed::Line(line) => match Request::from_line(&line) {
                                Ok(request) => events.push(ClientEvent::Request(token, request)),
                                Err(why) => events.push(ClientEvent::Malformed(token, why)),
                            },
                            Framed::TooLong => closed = true,
                        }
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => closed = true,
            }
        }
        if closed {
            self.drop_client(registry, token);
            events.push(ClientEvent::Closed(token));
            return false;
        }
        self.update_interest(registry, token);
        budget == 0
    }

    /// Queues an answer and sends what the socket takes now. Returns false if the client is gone.
    pub fn reply(&mut self, registry: &Registry, token: Token, response: &Response) -> bool {
        let Some(client) = self.clients.get_mut(&token) else { return false };
        client.output.extend_from_slice(&response.to_line());
        if flush(client).is_err() || client.output.len() > BACKLOG_LIMIT {
            self.drop_client(registry, token);
            return false;
        }
        self.update_interest(registry, token);
        true
    }

    /// Sends what is still queued, for a last time before exit.
    pub fn flush_all(&mut self) {
        for client in self.clients.values_mut() {
            let _ = flush(client);
        }
    }

    /// Asks for WRITABLE only while answers wait, and stops reading while too many wait.
    fn update_interest(&mut self, registry: &Registry, token: Token) {
        let Some(client) = self.clients.get_mut(&token) else { return };
        let wanted = match (client.output.is_empty(), client.output.len() < BACKLOG_PAUSE) {
            (true, _) => Interest::READABLE,
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
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
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
    Ok(())
}
